// Package managertest runs a real stream manager for tests: StartNode's twin for the control plane, in a
// package of its own because testutil is imported by tests of packages the manager itself imports.
package managertest

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/app/manager"
	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/testutil"
)

// Credentials of a manager started with no others.
const (
	AdminToken    = "managertest-admin-token-0123456789"
	ClusterSecret = "managertest-cluster-secret-0123456789"
)

// Start runs a manager on 127.0.0.1:0 with a SQLite store of its own (mutate may change anything, the store
// included) until the test ends, and returns its base URL and its log, which is printed if the test fails.
func Start(t testing.TB, mutate func(*config.Config)) (string, *testutil.LogBuffer) {
	t.Helper()
	cfg := config.Default()
	cfg.Manager.Address = "127.0.0.1:0"
	cfg.Manager.StoreEngine, cfg.Manager.StoreDSN = "sqlite", filepath.Join(t.TempDir(), "manager.db")
	cfg.Manager.AdminToken, cfg.Cluster.Secret = AdminToken, ClusterSecret
	if mutate != nil {
		mutate(&cfg)
	}
	logs := &testutil.LogBuffer{}
	m, err := manager.New(context.Background(), cfg, slog.New(slog.NewTextHandler(logs, nil)))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
		if t.Failed() {
			t.Logf("--- manager %s log ---\n%s", m.Addr(), logs.String())
		}
	})
	if cfg.TLS.Enabled() {
		return "https://" + m.Addr(), logs
	}
	return "http://" + m.Addr(), logs
}
