// Package manager is the composition root of the stream manager: it opens the store, loads the node
// registry, and serves the native and Red5-compatible APIs, the viewer entry point, the node protocol and
// /metrics on one HTTP port.
package manager

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/manager/api"
	"github.com/nagare-video/nagare/internal/manager/cluster"
	"github.com/nagare-video/nagare/internal/manager/selector"
	"github.com/nagare-video/nagare/internal/manager/store"
	"github.com/nagare-video/nagare/internal/nodeapi"
)

// Manager is a running stream manager.
type Manager struct {
	cfg      config.Config
	log      *slog.Logger
	store    *store.SQL
	registry *cluster.Registry
	ln       net.Listener
	http     *http.Server
}

// New opens and migrates the store, loads the registry and binds the port.
func New(ctx context.Context, cfg config.Config, log *slog.Logger) (*Manager, error) {
	if err := cfg.ValidateManager(); err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, cfg.Manager.StoreEngine, cfg.Manager.StoreDSN)
	if err != nil {
		return nil, err
	}
	v, err := st.Migrate(ctx)
	if err != nil {
		st.Close()
		return nil, err
	}
	log.Info("store ready", "engine", st.Engine(), "schemaVersion", v)
	reg := &cluster.Registry{
		Store: st, Log: log.With("component", "cluster"), ReportInterval: cfg.Manager.ReportInterval,
		NodeTimeout: cfg.Manager.NodeTimeout, PersistEvery: 15 * cfg.Manager.ReportInterval,
	}
	if err := reg.Load(ctx); err != nil {
		st.Close()
		return nil, err
	}
	m := &Manager{cfg: cfg, log: log, store: st, registry: reg}
	srv := &api.Server{
		Store: st, Cluster: reg, AdminToken: cfg.Manager.AdminToken, Log: log.With("component", "api"),
		Weights: selector.Weights{
			Streams: cfg.Manager.WeightStreams, Connections: cfg.Manager.WeightConnections,
			Subscribers: cfg.Manager.WeightSubscribers, Memory: cfg.Manager.WeightMemory,
			Restreamer: cfg.Manager.WeightRestreamer,
		},
	}
	metricsReg := m.metrics()
	mux := http.NewServeMux()
	mux.Handle("/nodeapi/", nodeapi.NewHandler(cfg.Cluster.Secret, reg, log.With("component", "nodeapi")))
	mux.Handle("GET /metrics", promhttp.HandlerFor(metricsReg, promhttp.HandlerOpts{}))
	mux.Handle("/", srv.Handler())

	ln, err := net.Listen("tcp", cfg.Manager.Address)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("manager listen on %s: %w", cfg.Manager.Address, err)
	}
	m.ln = ln
	m.http = &http.Server{
		Handler: instrument(mux, metricsReg), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 60 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	return m, nil
}

// Addr is the bound HTTP address.
func (m *Manager) Addr() string { return m.ln.Addr().String() }

// Registry exposes the node registry (tests, nagare all).
func (m *Manager) Registry() *cluster.Registry { return m.registry }

// Store exposes the store.
func (m *Manager) Store() *store.SQL { return m.store }

// Run serves until ctx is cancelled, then shuts down gracefully and closes the store.
func (m *Manager) Run(ctx context.Context) error {
	defer m.store.Close()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return m.registry.Run(gctx) })
	g.Go(func() error {
		if err := m.http.Serve(m.ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("manager http: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return m.http.Shutdown(sctx)
	})
	m.log.Info("manager running", "address", m.Addr(), "store", m.store.Engine())
	err := g.Wait()
	m.log.Info("manager stopped")
	return err
}

func (m *Manager) metrics() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, state := range store.States[:len(store.States)-1] {
		state := state
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "nagare_manager_nodes", Help: "Nodes by lifecycle state.", ConstLabels: prometheus.Labels{"state": state},
		}, func() float64 {
			n := 0
			for _, node := range m.registry.Nodes("") {
				if node.State == state {
					n++
				}
			}
			return float64(n)
		}))
	}
	return reg
}

// instrument counts requests by route kind and status.
func instrument(next http.Handler, reg *prometheus.Registry) http.Handler {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "nagare_manager_http_requests_total", Help: "Manager HTTP requests by API and status code.",
	}, []string{"api", "code"})
	reg.MustRegister(requests)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(sw, r)
		requests.WithLabelValues(apiOf(r.URL.Path), strconv.Itoa(sw.code)).Inc()
	})
}

func apiOf(path string) string {
	for _, p := range []struct{ prefix, name string }{
		{"/api/v1/route/", "route"}, {"/api/v1/", "native"}, {"/streammanager/", "red5"}, {"/nodeapi/", "nodeapi"},
		{"/metrics", "metrics"}, {"/healthz", "health"},
	} {
		if len(path) >= len(p.prefix) && path[:len(p.prefix)] == p.prefix {
			return p.name
		}
	}
	return "viewer"
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}
