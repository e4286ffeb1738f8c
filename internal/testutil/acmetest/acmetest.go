// Package acmetest runs Let's Encrypt's ACME test server, pebble (Debian's package; scripts/deps.sh
// installs it), with pebble-challtestsrv as its DNS, so that tests obtain certificates by ACME for real:
// pebble validates the challenges by connecting to the server under test.
package acmetest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/testutil"
	"github.com/nagare-video/nagare/internal/testutil/tlstest"
	"github.com/nagare-video/nagare/internal/tlsconf"
)

// Pebble is a running ACME server.
type Pebble struct {
	Directory  string // the ACME directory URL
	Management string // base URL of the management interface (roots, intermediates)
	client     *http.Client
	cmd        *exec.Cmd
}

// FreePort returns a TCP port free on 127.0.0.1 now, and never one it returned before in this process:
// the kernel may hand a port just closed out again, and a test that asks for several (pebble's, the
// manager's challenge port) would then get the same twice.
func FreePort(t testing.TB) int {
	t.Helper()
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if _, taken := portsGiven.LoadOrStore(port, true); !taken {
			return port
		}
	}
}

var portsGiven sync.Map // int → true: the ports FreePort returned

// Start runs pebble until the test ends: its HTTPS certificate from ca, every name resolving to
// 127.0.0.1, and the challenges validated on tlsPort (TLS-ALPN-01) and httpPort (HTTP-01) of 127.0.0.1.
func Start(t testing.TB, ca *tlstest.CA, tlsPort, httpPort int) *Pebble {
	t.Helper()
	return StartWith(t, ca, Options{TLSPort: tlsPort, HTTPPort: httpPort})
}

// Options are how a test's pebble differs from the default one.
type Options struct {
	TLSPort, HTTPPort int // where the challenges are validated on 127.0.0.1
	// Port is where the ACME directory listens on 127.0.0.1 (0: a free port): a pebble started again on
	// the same port has the same Directory URL (but none of the accounts, orders or roots of the first).
	Port int
	// Validity is the lifetime of the certificates pebble issues, whole seconds (0: pebble's 5 years).
	Validity time.Duration
}

// StartWith is Start with options.
func StartWith(t testing.TB, ca *tlstest.CA, o Options) *Pebble {
	t.Helper()
	for _, bin := range []string{"pebble", "pebble-challtestsrv"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s not found: scripts/deps.sh installs Debian's pebble", bin)
		}
	}
	tlsPort, httpPort := o.TLSPort, o.HTTPPort
	dns, dnsMgmt := FreePort(t), FreePort(t)
	dir := t.TempDir()
	logs := &testutil.LogBuffer{}
	chall := exec.Command("pebble-challtestsrv", "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
		"-dns01", fmt.Sprintf("127.0.0.1:%d", dns), "-http01", "", "-https01", "", "-tlsalpn01", "",
		"-management", fmt.Sprintf("127.0.0.1:%d", dnsMgmt))
	chall.Stdout, chall.Stderr = logs, logs
	require.NoError(t, chall.Start())
	t.Cleanup(func() { _ = chall.Process.Kill(); _ = chall.Wait() })

	cert, key := ca.Issue(t, "pebble", time.Time{}, time.Time{})
	listen, mgmt := o.Port, FreePort(t)
	if listen == 0 {
		listen = FreePort(t)
	}
	peb := map[string]any{
		"listenAddress": fmt.Sprintf("127.0.0.1:%d", listen), "managementListenAddress": fmt.Sprintf("127.0.0.1:%d", mgmt),
		"certificate": cert, "privateKey": key, "httpPort": httpPort, "tlsPort": tlsPort,
		"ocspResponderURL": "", "externalAccountBindingRequired": false,
	}
	if o.Validity > 0 {
		// seconds; pebble 2.4 (Debian 12) knows the key, and its certificates end a second early
		peb["certificateValidityPeriod"] = uint64(o.Validity / time.Second)
	}
	cfg := map[string]any{"pebble": peb}
	b, err := json.Marshal(cfg)
	require.NoError(t, err)
	cfgFile := filepath.Join(dir, "pebble.json")
	require.NoError(t, os.WriteFile(cfgFile, b, 0o600))
	cmd := exec.Command("pebble", "-config", cfgFile, "-dnsserver", fmt.Sprintf("127.0.0.1:%d", dns))
	// no random sleeps before validations, no nonces refused at random
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0")
	cmd.Stdout, cmd.Stderr = logs, logs
	require.NoError(t, cmd.Start())
	p := &Pebble{Directory: fmt.Sprintf("https://127.0.0.1:%d/dir", listen), Management: fmt.Sprintf("https://127.0.0.1:%d", mgmt), cmd: cmd}
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("--- pebble log ---\n%s", logs.String())
		}
	})
	tc, err := tlsconf.ClientConfig(ca.File)
	require.NoError(t, err)
	p.client = &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 5 * time.Second}
	require.Eventually(t, func() bool {
		resp, err := p.client.Get(p.Directory)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 10*time.Second, 50*time.Millisecond, "pebble never answered")
	return p
}

// Stop ends pebble (the authority goes away).
func (p *Pebble) Stop() {
	if p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	}
}

// Root returns the PEM of pebble's root certificate of this run (it signs what pebble issues).
func (p *Pebble) Root(t testing.TB) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.Management+"/roots/0", nil)
	require.NoError(t, err)
	resp, err := p.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", b)
	return b
}

// ClientFor returns an HTTPS client that trusts pebble's root and reaches name on 127.0.0.1.
func (p *Pebble) ClientFor(t testing.TB, name string) *http.Client {
	t.Helper()
	pool, err := x509Pool(p.Root(t))
	require.NoError(t, err)
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: name},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			_, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			return dialer.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
		},
	}}
}

func x509Pool(pem []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("pebble's root is not PEM")
	}
	return pool, nil
}
