// Package vodtest runs a real VOD service for tests (managertest's twin for the VOD service), in a package
// of its own because testutil is imported by tests of packages the service itself imports.
package vodtest

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/nagare-video/nagare/internal/app/vod"
	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/testutil"
	"github.com/nagare-video/nagare/internal/tlsconf"
	"github.com/nagare-video/nagare/internal/vod/vodv1"
)

// Credentials of a service configured by Config; callers may set others.
const (
	AdminToken  = "vodtest-admin-token-0123456789"
	TokenSecret = "vodtest-token-secret-0123456789"
)

// Config is a VOD service's configuration for a test: loopback ports chosen by the system, a SQLite store
// and local storage in a temp directory, 5 MiB parts (an upload of a few MiB spans parts), libx264's
// fastest preset, no recordings import.
func Config(t testing.TB) config.Config {
	dir := t.TempDir()
	cfg := config.Default()
	cfg.Manager.AdminToken = AdminToken
	cfg.VOD.TokenSecret = TokenSecret
	cfg.VOD.GRPCAddress, cfg.VOD.HTTPAddress = "127.0.0.1:0", "127.0.0.1:0"
	cfg.VOD.StoreEngine, cfg.VOD.StoreDSN = "sqlite", filepath.Join(dir, "vod.db")
	cfg.VOD.PartSize = 5 << 20
	cfg.VOD.Preset = "ultrafast"
	cfg.VOD.Recordings = false
	cfg.Storage = config.Storage{Backend: "local", Directory: filepath.Join(dir, "objects")}
	return cfg
}

// Server is a running VOD service with a gRPC client connected to it.
type Server struct {
	*vod.Server
	Cfg    config.Config
	Log    *testutil.LogBuffer
	Conn   *grpc.ClientConn
	Client vodv1.VideoServiceClient
	// Stop stops the service (once; the test's end calls it too) and checks that Run returned no error.
	Stop func()
}

// Start runs a service configured by Config as mutate changes it.
func Start(t testing.TB, mutate ...func(*config.Config)) *Server {
	t.Helper()
	cfg := Config(t)
	for _, m := range mutate {
		m(&cfg)
	}
	return Run(t, cfg)
}

// Run runs a service with cfg until the test ends (or Stop); its log is printed if the test failed.
func Run(t testing.TB, cfg config.Config) *Server {
	t.Helper()
	logs := &testutil.LogBuffer{}
	srv, err := vod.New(context.Background(), cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	creds := insecure.NewCredentials()
	if cfg.TLS.Enabled() {
		tc, err := tlsconf.ClientConfig(cfg.TLS.CAFile)
		require.NoError(t, err)
		creds = credentials.NewTLS(tc)
	}
	conn, err := grpc.NewClient(srv.GRPCAddr(), grpc.WithTransportCredentials(creds))
	require.NoError(t, err)
	s := &Server{Server: srv, Cfg: cfg, Log: logs, Conn: conn, Client: vodv1.NewVideoServiceClient(conn)}
	stopped := false
	s.Stop = func() {
		if stopped {
			return
		}
		stopped = true
		conn.Close()
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err, "the VOD service stopped")
		case <-time.After(30 * time.Second):
			t.Fatalf("the VOD service did not stop")
		}
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("vod log:\n%s", logs.String())
		}
	})
	return s
}
