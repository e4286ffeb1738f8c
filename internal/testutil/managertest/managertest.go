// Package managertest runs a real stream manager for tests: StartNode's twin for the control plane, in a
// package of its own because testutil is imported by tests of packages the manager itself imports.
package managertest

import (
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
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
	var base string
	_, logs := start(t, mutate, &base)
	return base, logs
}

// StartStoppable is Start with a stop that ends the manager before the test does (idempotent).
func StartStoppable(t testing.TB, mutate func(*config.Config)) (stop func(), logs *testutil.LogBuffer) {
	t.Helper()
	var base string
	return start(t, mutate, &base)
}

// StartRestartable is Start with a restart: the manager stops, stays down for down, and starts again on the
// same address with the same store, as a restarted process would (restart may be called from any
// goroutine: it returns why the manager could not start again). logs is the first run's log; each run's
// log is printed if the test fails.
func StartRestartable(t testing.TB, mutate func(*config.Config)) (base string, restart func(down time.Duration) error, logs *testutil.LogBuffer) {
	t.Helper()
	var cfg config.Config
	stop, logs, err := startConfig(t, mutate, &base, &cfg)
	require.NoError(t, err)
	restart = func(down time.Duration) error {
		stop()
		time.Sleep(down)
		again := cfg
		var err error
		stop, _, err = startConfig(t, func(c *config.Config) { *c = again }, &base, &cfg)
		return err
	}
	return base, restart, logs
}

func start(t testing.TB, mutate func(*config.Config), base *string) (func(), *testutil.LogBuffer) {
	t.Helper()
	var cfg config.Config
	stop, logs, err := startConfig(t, mutate, base, &cfg)
	require.NoError(t, err)
	return stop, logs
}

// startConfig is start, and leaves the configuration the manager runs with in used (its bound address in
// place of a :0 one).
func startConfig(t testing.TB, mutate func(*config.Config), base *string, used *config.Config) (func(), *testutil.LogBuffer, error) {
	cfg := config.Default()
	cfg.Manager.Address = "127.0.0.1:0"
	cfg.Manager.StoreEngine, cfg.Manager.StoreDSN = "sqlite", filepath.Join(t.TempDir(), "manager.db")
	cfg.Manager.AdminToken, cfg.Cluster.Secret = AdminToken, ClusterSecret
	if mutate != nil {
		mutate(&cfg)
	}
	logs := &testutil.LogBuffer{}
	m, err := manager.New(context.Background(), cfg, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			assert.NoError(t, <-done, "the manager's Run") // not require: a restart stops it from another goroutine
		})
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("--- manager %s log ---\n%s", m.Addr(), logs.String())
		}
	})
	*used = cfg
	used.Manager.Address = m.Addr()
	*base = "http://" + m.Addr()
	if cfg.TLS.Serving() {
		*base = "https://" + m.Addr()
	}
	return stop, logs, nil
}

// WaitOrigin waits until the manager at base routes publishers of stream (<app>/<name>) to an origin: one
// has registered and is in service.
func WaitOrigin(t testing.TB, base, stream string) {
	t.Helper()
	require.Eventually(t, func() bool {
		res, err := http.Get(base + "/api/v1/route/publish/" + stream)
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	}, 20*time.Second, 100*time.Millisecond, "the manager never put an origin in service")
}
