package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/nagare-video/nagare/internal/netaddr"
)

// runHealth is the container HEALTHCHECK (and a probe for any supervisor): it checks the listener of the
// role that a nagare process runs, found from that process's command line and environment (PID 1 in a
// container), or a URL given with -url. It exits 0 when the listener answers healthy.
func runHealth(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("health", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "", "check this URL instead (healthy: 200)")
	pid := fs.Int("pid", 1, "the nagare process whose role and settings to check (its /proc entry is read)")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if *url != "" {
		return checkHTTP(ctx, *url, "")
	}
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(*pid) + "/cmdline")
	if err != nil {
		return fmt.Errorf("reading the command of process %d: %w", *pid, err)
	}
	environ, err := os.ReadFile("/proc/" + strconv.Itoa(*pid) + "/environ")
	if err != nil {
		return fmt.Errorf("reading the environment of process %d: %w", *pid, err)
	}
	target, err := healthTarget(splitNUL(cmdline), splitNUL(environ))
	if err != nil {
		return fmt.Errorf("process %d: %w", *pid, err)
	}
	if target.grpc {
		err = checkGRPC(ctx, target.addr, target.tls)
	} else {
		err = checkHTTP(ctx, target.url(), target.serverName)
	}
	if err == nil {
		fmt.Fprintln(stdout, "healthy:", target)
	}
	return err
}

// probe is the one listener that tells whether a role is up.
type probe struct {
	addr       string // host:port, loopback for an unspecified host
	tls        bool
	serverName string // the name to ask for in the TLS handshake (ACME serves only its domains)
	grpc       bool   // the gRPC health service rather than GET /healthz
}

func (p probe) url() string {
	scheme := "http://"
	if p.tls {
		scheme = "https://"
	}
	return scheme + p.addr + "/healthz"
}

func (p probe) String() string {
	if p.grpc {
		return "grpc health on " + p.addr
	}
	return p.url()
}

// healthTarget reads a nagare command line (program name first) and environment as the process itself did,
// and names the listener to check: the manager's for manager and all (the entry point), the node's HTTP
// listener for node, the VOD service's gRPC health for vod.
func healthTarget(cmdline, environ []string) (probe, error) {
	if len(cmdline) < 2 {
		return probe{}, errors.New("not a nagare command line (no subcommand)")
	}
	cmd, args := cmdline[1], cmdline[2:]
	switch cmd {
	case "manager", "all", "node", "vod":
	default:
		return probe{}, fmt.Errorf("%q is not a serving nagare command", cmd)
	}
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if cmd == "all" {
		fs.String("data", "", "")
	}
	cfg, err := loadConfigFrom(fs, args, environ, nil)
	if err != nil {
		return probe{}, fmt.Errorf("reading its settings: %w", err)
	}
	p := probe{tls: cfg.TLS.Serving()}
	if len(cfg.TLS.ACME.Domains) > 0 {
		p.serverName = cfg.TLS.ACME.Domains[0]
	}
	switch cmd {
	case "manager", "all":
		p.addr = cfg.Manager.Address
	case "node":
		p.addr, p.serverName = cfg.HTTP.Address, ""
	case "vod":
		p.addr, p.grpc, p.serverName = cfg.VOD.GRPCAddress, true, ""
	}
	p.addr = netaddr.Loopback(p.addr)
	return p, nil
}

func splitNUL(b []byte) []string {
	var out []string
	for _, f := range bytes.Split(bytes.TrimRight(b, "\x00"), []byte{0}) {
		out = append(out, string(f))
	}
	return out
}

// probeTLS is the TLS of a probe on this host's own listener: it checks that the listener is up and answers,
// not who it is, so the certificate is not verified (the probe sends nothing secret).
func probeTLS(serverName string) *tls.Config {
	return &tls.Config{ServerName: serverName, InsecureSkipVerify: true} //nolint:gosec // see above
}

func checkHTTP(ctx context.Context, url, serverName string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: probeTLS(serverName)}}
	res, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("unhealthy: %w", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 512))
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("unhealthy: %s answered %s: %s", url, res.Status, bytes.TrimSpace(body))
	}
	return nil
}

func checkGRPC(ctx context.Context, addr string, useTLS bool) error {
	creds := insecure.NewCredentials()
	if useTLS {
		creds = credentials.NewTLS(probeTLS(""))
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return err
	}
	defer conn.Close()
	res, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return fmt.Errorf("unhealthy: grpc health on %s: %w", addr, err)
	}
	if res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("unhealthy: grpc health on %s: %s", addr, res.GetStatus())
	}
	return nil
}
