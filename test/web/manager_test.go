package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/app/manager"
	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/testutil"
	"github.com/nagare-video/nagare/internal/testutil/managertest"
)

// managers runs the test's manager and starts it again, on the same address with the same store, when
// run.mjs asks (its restart step): the console must see it go and come back.
//
// The console, the origin and the test reach the manager through front, a TCP relay standing for the
// manager's socket as its clients see it: stopped, it refuses connections and drops the open ones, as the
// kernel does when a manager's process exits. Cancelling Manager.Run alone does not do that: its graceful
// shutdown leaves the console's watch stream (GET /api/v1/watch) open, so the console would never learn
// that the manager went away (the stream outlives Run, which returns after 10 s with "context deadline
// exceeded").
type managers struct {
	t     testing.TB
	cfg   config.Config // the address and the store fixed at the first start
	front *front
	logs  *testutil.LogBuffer

	mu      sync.Mutex
	cancel  context.CancelFunc // of the running manager's Run; nil while stopped
	done    chan error
	stopped []error // what each stopped manager's Run returned
}

// startManagers runs a manager with a SQLite store of its own on 127.0.0.1:0 behind a front on
// 127.0.0.1:0 until the test ends; mutate may change its configuration.
func startManagers(t testing.TB, mutate func(*config.Config)) *managers {
	t.Helper()
	cfg := config.Default()
	cfg.Manager.Address = "127.0.0.1:0"
	cfg.Manager.StoreEngine, cfg.Manager.StoreDSN = "sqlite", filepath.Join(t.TempDir(), "manager.db")
	cfg.Manager.AdminToken, cfg.Cluster.Secret = managertest.AdminToken, managertest.ClusterSecret
	if mutate != nil {
		mutate(&cfg)
	}
	m := &managers{t: t, cfg: cfg, logs: &testutil.LogBuffer{}, front: &front{addr: "127.0.0.1:0"}}
	t.Cleanup(func() {
		m.front.close()
		if err := m.stop(); err != nil {
			t.Errorf("stopping the manager: %v", err)
		}
		if t.Failed() {
			t.Logf("--- manager log ---\n%s", m.logs.String())
		}
	})
	require.NoError(t, m.start())
	return m
}

// url is the manager's base URL, its front's.
func (m *managers) url() string { return "http://" + m.front.addr }

// start runs a manager (on the first one's address after the first) and opens the front to it.
func (m *managers) start() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cancel != nil {
		return errors.New("the manager is running")
	}
	mgr, err := manager.New(context.Background(), m.cfg, slog.New(slog.NewTextHandler(m.logs, nil)))
	if err != nil {
		return fmt.Errorf("starting the manager: %w", err)
	}
	m.cfg.Manager.Address = mgr.Addr() // the next one listens here too
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel, m.done = cancel, make(chan error, 1)
	go func(done chan<- error) { done <- mgr.Run(ctx) }(m.done)
	m.front.backend = mgr.Addr()
	return m.front.open()
}

// stop closes the front (its clients see the manager gone at once), then stops the manager and returns
// what its Run returned. Stopping a stopped manager does nothing.
func (m *managers) stop() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cancel == nil {
		return nil
	}
	m.front.close()
	m.cancel()
	m.cancel = nil
	var err error
	select {
	case err = <-m.done:
	case <-time.After(30 * time.Second):
		err = errors.New("the manager's Run has not returned 30 s after its context was cancelled")
	}
	m.stopped = append(m.stopped, err)
	return err
}

// control is what run.mjs calls to stop and start the manager: POST /manager/stop, POST /manager/start
// (204, or 500 with the error).
func (m *managers) control(t testing.TB) string {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /manager/stop", func(w http.ResponseWriter, r *http.Request) { answer(w, m.stop()) })
	mux.HandleFunc("POST /manager/start", func(w http.ResponseWriter, r *http.Request) { answer(w, m.start()) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

func answer(w http.ResponseWriter, err error) {
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// stops is what the stopped managers' Runs returned.
func (m *managers) stops() []error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]error(nil), m.stopped...)
}

// front relays TCP connections from addr to backend while open.
type front struct {
	addr    string // 127.0.0.1:0 until the first open, then the address it listens on every time
	backend string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
}

func (f *front) open() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return fmt.Errorf("the manager's front: %w", err)
	}
	f.addr, f.ln, f.conns = ln.Addr().String(), ln, map[net.Conn]struct{}{}
	go f.serve(ln, f.backend)
	return nil
}

func (f *front) serve(ln net.Listener, backend string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return // closed
		}
		go f.relay(c, backend)
	}
}

func (f *front) relay(c net.Conn, backend string) {
	b, err := net.DialTimeout("tcp", backend, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	f.mu.Lock()
	if f.conns == nil { // closed meanwhile
		f.mu.Unlock()
		c.Close()
		b.Close()
		return
	}
	f.conns[c], f.conns[b] = struct{}{}, struct{}{}
	f.mu.Unlock()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go pipe(b, c)
	go pipe(c, b)
	<-done
	c.Close()
	b.Close()
	<-done
	f.mu.Lock()
	delete(f.conns, c)
	delete(f.conns, b)
	f.mu.Unlock()
}

// close stops listening and drops every connection (idempotent).
func (f *front) close() {
	f.mu.Lock()
	ln, conns := f.ln, f.conns
	f.ln, f.conns = nil, nil
	f.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	for c := range conns {
		c.Close()
	}
}
