// Package cli implements the nagare subcommands.
package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/nagare-video/nagare/internal/app/manager"
	"github.com/nagare-video/nagare/internal/app/node"
	"github.com/nagare-video/nagare/internal/app/vod"
	"github.com/nagare-video/nagare/internal/bench"
	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/ctl"
	"github.com/nagare-video/nagare/internal/exepages"
	"github.com/nagare-video/nagare/internal/manager/store"
	"github.com/nagare-video/nagare/internal/media/pubauth"
	"github.com/nagare-video/nagare/internal/media/stream"
	"github.com/nagare-video/nagare/internal/netaddr"
	"github.com/nagare-video/nagare/internal/netguard"
	"github.com/nagare-video/nagare/internal/procs"
	"github.com/nagare-video/nagare/internal/version"
	"github.com/nagare-video/nagare/internal/vod/service"
)

const usage = `nagare: self-hosted live streaming that scales itself

Usage:
  nagare all     [flags]   run everything on this machine: a stream manager and an origin
  nagare manager [flags]   run the stream manager (REST API, Red5 3.1 API, node registry, routing)
  nagare node    [flags]   run a media node: --role origin|relay|edge, --parent URL, --manager URL
  nagare vod     [flags]   run the VOD service: gRPC uploads and library (:9090), HTTP playback (:8090)
  nagare migrate [flags]   apply the store's schema migrations (-status to list them)
  nagare ctl     [flags]   manage a stream manager from the shell (nagare ctl help)
  nagare token   [flags]   sign a publish token, or a VOD upload token (-vod-owner)
  nagare bucket  [flags]   setup or check the storage push's bucket for players ('nagare bucket -h')
  nagare bench   [flags]   measure a node (and peers) under load; see 'nagare bench -h'
  nagare health  [flags]   check that a nagare process serves (the container HEALTHCHECK; -url URL)
  nagare loadtest [flags]  an audience of virtual LL-HLS players on a stream ('nagare loadtest -h')
  nagare version           print the version

Run 'nagare <command> -h' for the flags of a command.
`

// Main runs the command in args (without the program name) and returns the process exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch args[0] {
	case "node":
		err = runNode(ctx, args[1:], stderr)
	case "manager":
		err = runManager(ctx, args[1:], stderr)
	case "vod":
		err = runVOD(ctx, args[1:], stderr)
	case "migrate":
		err = runMigrate(ctx, args[1:], stdout, stderr)
	case "all":
		err = runAll(ctx, args[1:], stdout, stderr)
	case "token":
		err = runToken(args[1:], stdout, stderr)
	case "bucket":
		err = runBucket(ctx, args[1:], stdout, stderr)
	case "bench":
		return bench.Main(ctx, args[1:], stdout, stderr)
	case "ctl":
		return ctl.Main(ctx, args[1:], stdout, stderr)
	case "health":
		err = runHealth(ctx, args[1:], stdout, stderr)
	case "loadtest":
		err = runLoadtest(ctx, args[1:], stdout, stderr)
	case "version", "-v", "--version":
		fmt.Fprintln(stdout, "nagare", version.Version)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "nagare: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "nagare:", err)
		return 1
	}
	return 0
}

func newLogger(cfg config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// watchHangup keeps a serving process alive on SIGHUP (a closed terminal, `systemctl reload`), which would
// otherwise end it: certificates are read again by themselves when their files change, and other settings
// need a restart, which the log line says.
func watchHangup(ctx context.Context, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				log.Info("SIGHUP: nothing to reload by hand (certificate files are read again when they change; other settings need a restart)")
			}
		}
	}()
}

// loadConfig reads the configuration: defaults, the YAML file, the environment.
func loadConfig(fs *flag.FlagSet, args []string, extra func(*config.Config)) (config.Config, error) {
	return loadConfigFrom(fs, args, os.Environ(), extra)
}

// loadConfigFrom is loadConfig with the environment given (nagare health reads another process's).
func loadConfigFrom(fs *flag.FlagSet, args, environ []string, extra func(*config.Config)) (config.Config, error) {
	cfgFile := ""
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, "NAGARE_CONFIG="); ok {
			cfgFile = v
		}
	}
	cfgPath := fs.String("config", cfgFile, "YAML configuration file (env NAGARE_CONFIG)")
	var overrides []func(*config.Config)
	str := func(name, usage string, dst func(*config.Config) *string) {
		v := fs.String(name, "", usage)
		overrides = append(overrides, func(c *config.Config) {
			if *v != "" {
				*dst(c) = *v
			}
		})
	}
	str("role", "node role: origin, relay or edge", func(c *config.Config) *string { return &c.Node.Role })
	str("rtmp", "RTMP listen address (rtmp.address)", func(c *config.Config) *string { return &c.RTMP.Address })
	str("srt", "SRT listen address (srt.address)", func(c *config.Config) *string { return &c.SRT.Address })
	str("http", "HTTP (HLS, WHIP/WHEP, metrics, stats) listen address (http.address)", func(c *config.Config) *string { return &c.HTTP.Address })
	str("webrtc", "WebRTC media port, UDP and ICE-TCP (webrtc.address)", func(c *config.Config) *string { return &c.WebRTC.Address })
	str("parent", "parent URL an edge or relay pulls from (node.parent)", func(c *config.Config) *string { return &c.Node.Parent })
	str("manager", "stream manager URL to register with (cluster.managerURL)", func(c *config.Config) *string { return &c.Cluster.ManagerURL })
	str("manager-address", "stream manager listen address (manager.address)", func(c *config.Config) *string { return &c.Manager.Address })
	if err := fs.Parse(args); err != nil {
		return config.Config{}, err
	}
	if fs.NArg() > 0 {
		return config.Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cfg, err := config.Load(*cfgPath, environ)
	if err != nil {
		return cfg, err
	}
	for _, o := range overrides {
		o(&cfg)
	}
	if extra != nil {
		extra(&cfg)
	}
	return cfg, nil
}

// startupPages is how long after start a process of a long-running role unmaps the executable's pages it
// touched while starting (internal/exepages): its listeners are bound by then, its servers started.
const startupPages = time.Second

// startRole sets up the process of a long-running role (node, manager, VOD, all): its logger, SIGHUP
// kept from ending it, the open-file limit raised, its start-up pages unmapped once it has started.
func startRole(ctx context.Context, cfg config.Log, stderr io.Writer) *slog.Logger {
	log := newLogger(cfg, stderr)
	watchHangup(ctx, log)
	netguard.RaiseFileLimit(log)
	go exepages.Later(ctx, startupPages, log)
	return log
}

func runNode(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("node", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, err := loadConfig(fs, args, nil)
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	log := startRole(ctx, cfg.Log, stderr)
	n, err := node.New(cfg, log)
	if err != nil {
		return err
	}
	if cfg.Node.AdaptiveProcs && procs.Enabled() {
		go (&procs.Governor{Log: log.With("component", "procs")}).Run(ctx)
	}
	return n.Run(ctx)
}

func runManager(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, err := loadConfig(fs, args, nil)
	if err != nil {
		return err
	}
	if err := cfg.ValidateManager(); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	log := startRole(ctx, cfg.Log, stderr)
	m, err := manager.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	return m.Run(ctx)
}

func runVOD(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("vod", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, err := loadConfig(fs, args, nil)
	if err != nil {
		return err
	}
	if err := cfg.ValidateVOD(); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	log := startRole(ctx, cfg.Log, stderr)
	v, err := vod.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	return v.Run(ctx)
}

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	status := fs.Bool("status", false, "list the migrations and whether each is applied, change nothing")
	cfg, err := loadConfig(fs, args, nil)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, cfg.Manager.StoreEngine, cfg.Manager.StoreDSN)
	if err != nil {
		return err
	}
	defer st.Close()
	if !*status {
		v, err := st.Migrate(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s store at schema version %d\n", st.Engine(), v)
	}
	lines, err := st.MigrationStatus(ctx)
	if err != nil {
		return err
	}
	for _, l := range lines {
		fmt.Fprintln(stdout, l)
	}
	return nil
}

// secrets are generated once by `nagare all` and kept in its data directory.
type secrets struct {
	AdminToken         string `json:"adminToken"`
	ClusterSecret      string `json:"clusterSecret"`
	PublishTokenSecret string `json:"publishTokenSecret"`
	VODTokenSecret     string `json:"vodTokenSecret"`
}

// loadSecrets reads the data directory's secrets, generating (and reporting) the missing ones.
func loadSecrets(dir string) (secrets, bool, error) {
	path := filepath.Join(dir, "secrets.json")
	var s secrets
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &s); err != nil {
			return s, false, fmt.Errorf("%s: %w", path, err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return s, false, err
	}
	generated := false
	for _, f := range []*string{&s.AdminToken, &s.ClusterSecret, &s.PublishTokenSecret, &s.VODTokenSecret} {
		if *f == "" {
			*f = randomSecret()
			generated = true
		}
	}
	if generated {
		b, _ := json.MarshalIndent(s, "", "  ")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return s, false, fmt.Errorf("saving generated secrets: %w", err)
		}
	}
	return s, generated, nil
}

// runAll runs the manager and an origin registered with it on this machine, with a SQLite store and
// generated secrets in the data directory.
func runAll(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("all", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data", "nagare-data", "directory for the SQLite store and the generated secrets")
	cfg, err := loadConfig(fs, args, nil)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*dataDir, 0o700); err != nil {
		return err
	}
	sec, generated, err := loadSecrets(*dataDir)
	if err != nil {
		return err
	}
	if cfg.Manager.AdminToken == "" {
		cfg.Manager.AdminToken = sec.AdminToken
	}
	if cfg.Cluster.Secret == "" {
		cfg.Cluster.Secret = sec.ClusterSecret
	}
	if cfg.Publish.TokenSecret == "" && len(cfg.Publish.Keys) == 0 && !cfg.Publish.AllowUnauthenticated {
		cfg.Publish.TokenSecret = sec.PublishTokenSecret
	}
	if cfg.Manager.StoreEngine == "sqlite" && cfg.Manager.StoreDSN == config.Default().Manager.StoreDSN {
		cfg.Manager.StoreDSN = filepath.Join(*dataDir, "nagare.db")
	}
	if cfg.VOD.TokenSecret == "" {
		cfg.VOD.TokenSecret = sec.VODTokenSecret
	}
	if cfg.VOD.StoreEngine == "" && cfg.Manager.StoreEngine == "sqlite" {
		// a file of its own: two writers on one SQLite file would wait for each other
		cfg.VOD.StoreEngine, cfg.VOD.StoreDSN = "sqlite", filepath.Join(*dataDir, "vod.db")
	}
	if err := allDefaults(&cfg, *dataDir); err != nil {
		return err
	}
	log := startRole(ctx, cfg.Log, stderr)
	// the VOD service first: the manager's console and site reach its library on loopback
	v, err := vod.New(ctx, cfg, log.With("part", "vod"))
	if err != nil {
		return err
	}
	if cfg.Manager.VOD.Address == "" {
		cfg.Manager.VOD.Address = netaddr.Loopback(v.GRPCAddr())
		cfg.Manager.VOD.TLS = cfg.TLS.Enabled()
	}
	if cfg.Manager.PublishTokenSecret == "" {
		cfg.Manager.PublishTokenSecret = cfg.Publish.TokenSecret // the console's WHIP publisher
	}
	m, err := manager.New(ctx, cfg, log.With("part", "manager"))
	if err != nil {
		return err
	}
	if cfg.Cluster.ManagerURL == "" {
		// the in-process node reaches the manager on loopback; with TLS, a certificate that does not name
		// 127.0.0.1 needs cluster.managerURL set to a name it does
		cfg.Cluster.ManagerURL = httpScheme(cfg) + netaddr.Loopback(m.Addr())
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	n, err := node.New(cfg, log.With("part", "origin"))
	if err != nil {
		return err
	}
	printWelcome(stdout, m, n, v, cfg, sec, generated, *dataDir)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return m.Run(gctx) })
	g.Go(func() error { return n.Run(gctx) })
	g.Go(func() error { return v.Run(gctx) })
	return g.Wait()
}

// allDefaults makes `nagare all` self-contained: nodes the autoscaler launches are local processes, and
// objects (access logs, HLS, recordings) go to a directory in the data directory.
func allDefaults(cfg *config.Config, dataDir string) error {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return err
	}
	a := &cfg.Manager.Autoscale
	if a.Controller == "" {
		a.Controller = "process"
	}
	if a.Controller == "process" {
		if a.Settings == nil {
			a.Settings = map[string]string{}
		}
		if a.Settings["workDir"] == "" {
			a.Settings["workDir"] = filepath.Join(abs, "nodes")
		}
		if a.Settings["logDir"] == "" {
			a.Settings["logDir"] = filepath.Join(abs, "nodes")
		}
		if err := os.MkdirAll(a.Settings["workDir"], 0o700); err != nil {
			return err
		}
	}
	if cfg.Storage.Backend == "local" && cfg.Storage.Directory == config.Default().Storage.Directory {
		cfg.Storage.Directory = filepath.Join(abs, "objects")
	}
	return nil
}

func randomSecret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// httpScheme is the scheme of the process's HTTP listeners: https:// with TLS (files or ACME).
func httpScheme(cfg config.Config) string {
	if cfg.TLS.Serving() {
		return "https://"
	}
	return "http://"
}

// printWelcome tells the operator where to publish and play. The admin token is shown once, when it was
// generated; the publish token secret never, only a token for one stream, as a publisher would be handed.
func printWelcome(w io.Writer, m *manager.Manager, n *node.Node, v *vod.Server, cfg config.Config, sec secrets, generated bool, dataDir string) {
	p := stream.Path{App: "live", Name: "demo"}
	cred := ""
	if cfg.Publish.TokenSecret != "" {
		cred = "?token=" + pubauth.Sign([]byte(cfg.Publish.TokenSecret), p, time.Now().Add(24*time.Hour))
	}
	mgr := httpScheme(cfg) + netaddr.Loopback(m.Addr())
	fmt.Fprintln(w, "nagare is running: a stream manager, an origin and the VOD service on this machine.")
	fmt.Fprintf(w, "  manager:        %s   (Red5 3.1 API under %s/streammanager/api/3.1)\n", mgr, mgr)
	if generated {
		fmt.Fprintf(w, "  admin token:    %s   (generated; kept in %s)\n", sec.AdminToken, filepath.Join(dataDir, "secrets.json"))
	} else {
		fmt.Fprintf(w, "  admin token:    in %s\n", filepath.Join(dataDir, "secrets.json"))
	}
	if n.RTMPAddr() != "" {
		fmt.Fprintf(w, "  publish (RTMP): rtmp://%s/%s%s\n", netaddr.Loopback(n.RTMPAddr()), p, cred)
	}
	if n.SRTAddr() != "" {
		fmt.Fprintf(w, "  publish (SRT):  srt://%s?streamid=publish:%s%s\n", netaddr.Loopback(n.SRTAddr()), p, cred)
	}
	fmt.Fprintf(w, "  play (HLS):     %s/%s/index.m3u8   (the manager redirects to the best node)\n", mgr, p)
	fmt.Fprintf(w, "  console:        %s/console   (sign in with the admin token)\n", mgr)
	if cfg.Manager.Site.Enabled {
		fmt.Fprintf(w, "  public site:    %s/   watch live: %s/live/%s\n", mgr, mgr, p)
	}
	if n.WebRTCAddr() != "" {
		fmt.Fprintf(w, "  publish (WHIP): %s/%s/whip%s   play (WHEP): %s/%s/whep\n", mgr, p, cred, mgr, p)
		fmt.Fprintf(w, "  browser pages:  %s/%s/proxy-publisher.html?streamName=%s   %s/%s/proxy-subscriber.html?streamName=%s\n",
			mgr, p.App, p.Name, mgr, p.App, p.Name)
	}
	if n.HTTPAddr() != "" {
		fmt.Fprintf(w, "  origin stats:   http://%s/api/v1/stats   metrics: http://%s/metrics\n", netaddr.Loopback(n.HTTPAddr()), netaddr.Loopback(n.HTTPAddr()))
	}
	fmt.Fprintf(w, "  VOD (gRPC):     %s   playback: http://%s/vod/<id>.mp4 and /vod/<id>/index.m3u8\n",
		netaddr.Loopback(v.GRPCAddr()), netaddr.Loopback(v.HTTPAddr()))
	fmt.Fprintf(w, "  nagare ctl --manager %s --token <admin token> nodes\n", mgr)
	fmt.Fprintf(w, "  nagare ctl --vod %s --token <admin token> vod upload FILE\n", netaddr.Loopback(v.GRPCAddr()))
}

func runToken(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("stream", "", "stream to publish, <app>/<stream>")
	owner := fs.String("vod-owner", "", "make a VOD upload token for this owner instead (signed with "+config.EnvName("vod.tokenSecret")+")")
	ttl := fs.Duration("ttl", time.Hour, "how long the token is valid")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *owner != "" {
		secret := os.Getenv(config.EnvName("vod.tokenSecret"))
		if len(secret) < 16 {
			return fmt.Errorf("set %s (at least 16 characters) to the VOD service's vod.tokenSecret", config.EnvName("vod.tokenSecret"))
		}
		if !service.ValidOwner(*owner) {
			return fmt.Errorf("-vod-owner must be 1 to %d of [A-Za-z0-9._-]", service.MaxOwner)
		}
		if *ttl <= 0 {
			return errors.New("-ttl must be positive")
		}
		fmt.Fprintln(stdout, service.SignUploadToken([]byte(secret), *owner, time.Now().Add(*ttl)))
		return nil
	}
	secret := os.Getenv(config.EnvName("publish.tokenSecret"))
	if len(secret) < 16 {
		return fmt.Errorf("set %s (at least 16 characters) to the node's publish.tokenSecret", config.EnvName("publish.tokenSecret"))
	}
	p, err := stream.ParsePath(*path)
	if err != nil {
		return fmt.Errorf("-stream: %w", err)
	}
	if *ttl <= 0 {
		return errors.New("-ttl must be positive")
	}
	fmt.Fprintln(stdout, pubauth.Sign([]byte(secret), p, time.Now().Add(*ttl)))
	return nil
}
