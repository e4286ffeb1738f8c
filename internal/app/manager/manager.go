// Package manager is the composition root of the stream manager: it opens the store, loads the node
// registry, and serves the native and Red5-compatible APIs, the viewer entry point, the node protocol and
// /metrics on one HTTP port.
package manager

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/nagare-video/nagare/internal/cloud"
	_ "github.com/nagare-video/nagare/internal/cloud/all" // every controller, chosen by configuration
	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/http1"
	"github.com/nagare-video/nagare/internal/manager/api"
	"github.com/nagare-video/nagare/internal/manager/autoscaler"
	"github.com/nagare-video/nagare/internal/manager/cluster"
	"github.com/nagare-video/nagare/internal/manager/selector"
	"github.com/nagare-video/nagare/internal/manager/store"
	"github.com/nagare-video/nagare/internal/media/pubauth"
	"github.com/nagare-video/nagare/internal/media/stream"
	"github.com/nagare-video/nagare/internal/netaddr"
	"github.com/nagare-video/nagare/internal/netguard"
	"github.com/nagare-video/nagare/internal/nodeapi"
	"github.com/nagare-video/nagare/internal/nodemodel"
	"github.com/nagare-video/nagare/internal/objstore"
	"github.com/nagare-video/nagare/internal/tlsconf"
	"github.com/nagare-video/nagare/internal/version"
	"github.com/nagare-video/nagare/internal/vod/vodv1"
	"github.com/nagare-video/nagare/internal/webui"
	"github.com/nagare-video/nagare/internal/webui/library"
)

// Manager is a running stream manager.
type Manager struct {
	cfg      config.Config
	log      *slog.Logger
	store    *store.SQL
	registry *cluster.Registry
	cloud    cloud.Controller // nil without manager.autoscale.controller
	scaler   *autoscaler.Loop // nil without a controller
	recorder *nodeapi.Recorder
	ln       net.Listener
	http     *http.Server // net/http's server: alone with TLS, else behind serve as its fallback
	serve    interface {  // what serves ln: http, or an http1.Server in front of it
		Serve(net.Listener) error
		Shutdown(context.Context) error
	}
	// acme obtains the certificate (tls.acme); challenges answers its HTTP-01 challenges on challengeLn
	acme        *tlsconf.ACME
	challenges  *http.Server
	challengeLn net.Listener
	// closers are closed when Run returns (the VOD service's gRPC connection)
	closers []func() error
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
	st.CallTimeout = cfg.Manager.StoreTimeout
	v, err := st.Migrate(ctx)
	if err != nil {
		st.Close()
		return nil, err
	}
	log.Info("store ready", "engine", st.Engine(), "schemaVersion", v)
	reg := &cluster.Registry{
		Store: st, Log: log.With("component", "cluster"), ReportInterval: cfg.Manager.ReportInterval,
		NodeTimeout: cfg.Manager.NodeTimeout, PersistEvery: 15 * cfg.Manager.ReportInterval,
		// the reports to store go in batches, a statement for many rather than one each
		FlushEvery:       cfg.Manager.ReportInterval / 4,
		TranscodeStreams: cfg.Manager.TranscodeStreams,
	}
	if cfg.Manager.SharedStore {
		// the other managers must see every report, and this one theirs: within about one interval
		reg.PersistEvery, reg.SyncEvery = 0, cfg.Manager.ReportInterval
	}
	if err := reg.Load(ctx); err != nil {
		st.Close()
		return nil, err
	}
	// the nodes' HTTPS servers are trusted by tls.caFile (or the system's roots)
	nodes, err := tlsconf.Transport(cfg.TLS.CAFile)
	if err != nil {
		st.Close()
		return nil, err
	}
	m := &Manager{cfg: cfg, log: log, store: st, registry: reg,
		recorder: &nodeapi.Recorder{Secret: cfg.Cluster.Secret, HTTP: &http.Client{Transport: nodes}}}
	reg.Admit = (&autoscaler.Admission{Store: st, Version: version.Version,
		Client: &http.Client{Transport: nodes, Timeout: 2 * time.Second}}).Check
	metricsReg := m.metrics()
	if name := cfg.Manager.Autoscale.Controller; name != "" && name != "none" {
		c, err := cloud.New(name, cloud.Settings(cfg.Manager.Autoscale.Settings), cloud.Options{Log: log})
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("manager.autoscale.controller: %w", err)
		}
		m.cloud = c
	}
	srv := &api.Server{
		Store: st, Cluster: reg, Version: version.Version, AdminToken: cfg.Manager.AdminToken, ClusterSecret: cfg.Cluster.Secret,
		Log: log.With("component", "api"), NodeTransport: nodes,
		Weights: selector.Weights{
			Streams: cfg.Manager.WeightStreams, Connections: cfg.Manager.WeightConnections,
			Subscribers: cfg.Manager.WeightSubscribers, Memory: cfg.Manager.WeightMemory,
			Restreamer: cfg.Manager.WeightRestreamer,
		},
	}
	mux := http.NewServeMux()
	mux.Handle("/nodeapi/", nodeapi.NewHandler(cfg.Cluster.Secret, reg, log.With("component", "nodeapi")))
	mux.Handle("GET /metrics", promhttp.HandlerFor(metricsReg, promhttp.HandlerOpts{}))
	// the publisher and subscriber pages (/{app}/proxy-*.html) and their assets (/webui/); a /{app}/ pattern
	// beside /nodeapi/ would conflict in one ServeMux, so the pages sit in front of the API's catch-all
	site := cfg.Manager.Site
	if site.Enabled {
		hls, err := webui.HLSLiveConfig()
		if err != nil {
			st.Close()
			return nil, err
		}
		srv.Site = &api.SiteConfig{SiteName: site.Name, HLS: hls}
	}
	if secret := cfg.Manager.PublishTokenSecret; secret != "" {
		srv.PublishToken = publishTokens([]byte(secret))
	}
	if err := m.mountLibrary(mux, srv); err != nil {
		st.Close()
		return nil, err
	}
	mux.Handle("/", webui.Mount(srv.Handler(), webui.Options{Site: site.Enabled}))

	ln, err := net.Listen("tcp", cfg.Manager.Address)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("manager listen on %s: %w", cfg.Manager.Address, err)
	}
	m.ln = netguard.New(ln, cfg.Manager.MaxConnections, log.With("component", "http"))
	if st := cfg.Manager.Steering; st.Enabled {
		reg.Steering = m.publicURL() + api.SteeringPrefix
		srv.SteeringTTL = st.TTL
		if st.CDN.URL != "" {
			reg.SteeringStorage, reg.SteeringStoragePlaylist = strings.TrimRight(st.CDN.URL, "/"), st.CDN.Playlist
			srv.SteeringStorage = nodeapi.StoragePathway
			srv.StorageURL, srv.StoragePlaylist = reg.SteeringStorage, st.CDN.Playlist
		}
	}
	srv.Record = m.record
	srv.Health = m.healthz // answers for the store too
	// from the store, where the manager ticking each group writes it: every manager shows every group's
	// chart, with an autoscaler loop of its own or not
	srv.Trace = (&autoscaler.TraceReader{Store: st}).Roles
	if m.cloud != nil {
		m.scaler = m.newLoop(metricsReg)
		srv.Scaler = m.scaler
		reg.Unserved = func(group string, role nodemodel.Role) { m.scaler.Unserved(group, role) }
		srv.Instances = m.cloud.List
		srv.CloudController = m.cloud.Name()
	}
	// only the API's writes take a body; the read timeout bounds how long one may take to arrive
	guarded := netguard.BodyGuard{Takes: netguard.WriteMethods}.Handler(mux)
	m.http = &http.Server{
		Handler: instrument(guarded, metricsReg), ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: cfg.Manager.ReadTimeout, IdleTimeout: 60 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	// the console's live updates are requests that never end by themselves
	m.http.RegisterOnShutdown(srv.CloseWatchers)
	if cfg.TLS.Enabled() {
		cert, err := tlsconf.Load(cfg.TLS.CertFile, cfg.TLS.KeyFile, log.With("component", "tls"))
		if err != nil {
			m.ln.Close()
			st.Close()
			return nil, err
		}
		m.ln = tlsconf.Wrap(m.http, m.ln, cert, log.With("component", "http"))
	}
	if a := cfg.TLS.ACME; len(a.Domains) > 0 {
		if err := m.listenACME(a, log); err != nil {
			m.ln.Close()
			st.Close()
			return nil, err
		}
	}
	m.serve = m.http
	if !cfg.TLS.Enabled() && len(cfg.TLS.ACME.Domains) == 0 {
		// plain HTTP/1.1: viewers' and publishers' routing calls go through http1 (less work per
		// request than net/http); API writes, event streams and anything unusual go on to m.http
		m.serve = &http1.Server{Handler: m.http.Handler, Fallback: m.http, ReadHeaderTimeout: m.http.ReadHeaderTimeout,
			IdleTimeout: m.http.IdleTimeout, Log: log.With("component", "http")}
	}
	return m, nil
}

// mountLibrary serves the console's VOD library (/api/v1/vod/) and the public site's videos
// (/site/api/videos) from the VOD service named by manager.vod.address; without one, both answer 503
// saying what to set.
func (m *Manager) mountLibrary(mux *http.ServeMux, srv *api.Server) error {
	v := m.cfg.Manager.VOD
	if v.Address == "" {
		none := func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"error": "no VOD service: set manager.vod.address to the VOD service's gRPC address"}`+"\n")
		}
		mux.HandleFunc(library.AdminPrefix, func(w http.ResponseWriter, r *http.Request) {
			if srv.Authorize(w, r) {
				none(w, r)
			}
		})
		mux.HandleFunc(library.SitePrefix+"videos", none)
		mux.HandleFunc(library.SitePrefix+"videos/", none)
		return nil
	}
	creds := insecure.NewCredentials()
	if v.TLS {
		tc, err := tlsconf.ClientConfig(m.cfg.TLS.CAFile)
		if err != nil {
			return fmt.Errorf("manager.vod.tls: %w", err)
		}
		creds = credentials.NewTLS(tc)
	}
	// gRPC connects on the first call and again after a failure: the VOD service may start later
	conn, err := grpc.NewClient(v.Address, grpc.WithTransportCredentials(creds))
	if err != nil {
		return fmt.Errorf("manager.vod.address: %w", err)
	}
	m.closers = append(m.closers, conn.Close)
	client := vodv1.NewVideoServiceClient(conn)
	token := v.Token
	if token == "" {
		token = m.cfg.Manager.AdminToken
	}
	log := m.log.With("component", "library")
	// the console makes the links to private videos that the site takes
	share := srv.DerivedKey("nagare site share links v1")
	admin := library.NewAdmin(client, token, srv, log)
	admin.MaxSize = m.cfg.VOD.MaxUploadSize
	admin.ShareSecret = share
	mux.Handle(library.AdminPrefix, admin)
	if m.cfg.Manager.Site.Enabled {
		site := library.NewSite(client, token, share, log)
		mux.Handle(library.SitePrefix+"videos", site)
		mux.Handle(library.SitePrefix+"videos/", site)
	}
	return nil
}

// publishTokens signs publish tokens for the console's WHIP publisher, as `nagare token` does.
func publishTokens(secret []byte) func(string, time.Duration) (string, time.Time, error) {
	return func(name string, ttl time.Duration) (string, time.Time, error) {
		p, err := stream.ParsePath(name)
		if err != nil {
			return "", time.Time{}, err
		}
		exp := time.Now().Add(ttl).Truncate(time.Second)
		return pubauth.Sign(secret, p, exp), exp, nil
	}
}

// listenACME serves TLS with certificates from an ACME authority: TLS-ALPN-01 on the manager's port and,
// with a.HTTPAddress, HTTP-01 (and a redirect to https) on that port.
func (m *Manager) listenACME(a config.ACME, log *slog.Logger) error {
	acme, err := tlsconf.NewACME(tlsconf.ACMEConfig{Domains: a.Domains, Email: a.Email, DirectoryURL: a.DirectoryURL,
		CacheDir: a.CacheDir, CAFile: a.CAFile}, log.With("component", "acme"))
	if err != nil {
		return err
	}
	if a.HTTPAddress != "" {
		ln, err := net.Listen("tcp", a.HTTPAddress)
		if err != nil {
			return fmt.Errorf("tls.acme.httpAddress: listen on %s: %w", a.HTTPAddress, err)
		}
		m.challengeLn = ln
		m.challenges = &http.Server{Handler: acme.HTTPHandler(), ReadHeaderTimeout: 5 * time.Second,
			IdleTimeout: 30 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	}
	m.acme = acme
	m.ln = tlsconf.WrapConfig(m.http, m.ln, acme.ServerConfig(), log.With("component", "http"))
	return nil
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
	defer func() {
		for _, c := range m.closers {
			_ = c()
		}
	}()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return m.registry.Run(gctx) })
	if m.scaler != nil {
		g.Go(func() error { return m.scaler.Run(gctx) })
	}
	g.Go(func() error {
		if err := m.serve.Serve(m.ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("manager http: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if m.challenges != nil {
			_ = m.challenges.Shutdown(sctx)
		}
		return m.serve.Shutdown(sctx)
	})
	if m.challenges != nil {
		g.Go(func() error {
			if err := m.challenges.Serve(m.challengeLn); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("manager acme http-01: %w", err)
			}
			return nil
		})
	}
	if m.acme != nil {
		// the certificates now rather than on the first client's handshake
		for _, d := range m.cfg.TLS.ACME.Domains {
			go func() {
				octx, cancel := context.WithTimeout(gctx, 2*time.Minute)
				defer cancel()
				if c, err := m.acme.Obtain(octx, d); err != nil {
					m.log.Error("acme: certificate not obtained (retried on the next handshake)", "name", d, "cause", err)
				} else {
					m.log.Info("acme: certificate ready", "name", d, "notAfter", c.Leaf.NotAfter.UTC().Format(time.RFC3339))
				}
			}()
		}
	}
	m.log.Info("manager running", "address", m.Addr(), "store", m.store.Engine())
	err := g.Wait()
	// local node processes would outlive the manager that started them; cloud instances are left running
	if c, ok := m.cloud.(cloud.Closer); ok {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if cerr := c.Close(sctx); cerr != nil {
			m.log.Warn("closing the cloud controller", "controller", m.cloud.Name(), "cause", cerr)
		}
		cancel()
	}
	m.log.Info("manager stopped")
	return err
}

// record asks every in-service origin to record (or stop recording) stream, live now and next publications,
// through nodeapi's recording command: all origins in parallel, within one deadline. It returns the origins
// that agreed.
func (m *Manager) record(ctx context.Context, stream string, on bool) ([]string, error) {
	var targets []nodeapi.Target
	for _, n := range m.registry.Nodes("") {
		if n.Role == nodemodel.RoleOrigin && n.State == nodemodel.StateInService && n.Addresses.HTTP != "" {
			targets = append(targets, nodeapi.Target{ID: n.ID, URL: n.Addresses.HTTPURL()})
		}
	}
	var agreed []string
	var errs []error
	for _, res := range m.recorder.SetRecording(ctx, targets, stream, on, 5*time.Second) {
		if res.Err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", res.NodeID, res.Err))
			continue
		}
		agreed = append(agreed, res.NodeID)
	}
	if len(errs) > 0 {
		m.log.Warn("recording request not taken by every origin", "stream", stream, "on", on, "cause", errors.Join(errs...))
	}
	if len(agreed) == 0 {
		return nil, fmt.Errorf("recording %s: %w (%v)", stream, api.ErrNoOriginToRecord, errors.Join(errs...))
	}
	m.log.Info("recording requested", "stream", stream, "on", on, "origins", strings.Join(agreed, ","))
	return agreed, nil
}

// publicURL is the manager's URL as players reach it: manager.steering.publicURL, else
// manager.autoscale.managerURL, else the bound address (https under TLS).
func (m *Manager) publicURL() string {
	for _, u := range []string{m.cfg.Manager.Steering.PublicURL, m.cfg.Manager.Autoscale.ManagerURL} {
		if u != "" {
			return strings.TrimSuffix(u, "/")
		}
	}
	addr := netaddr.Loopback(m.Addr())
	if d := m.cfg.TLS.ACME.Domains; len(d) > 0 {
		// the certificate names the domain, not the address
		if _, port, err := net.SplitHostPort(addr); err == nil && port != "443" {
			return "https://" + net.JoinHostPort(d[0], port)
		}
		return "https://" + d[0]
	}
	if m.cfg.TLS.Enabled() {
		return "https://" + addr
	}
	return "http://" + addr
}

// Cloud is the cloud controller (nil without one).
func (m *Manager) Cloud() cloud.Controller { return m.cloud }

// newLoop builds the autoscaler over the cloud controller.
func (m *Manager) newLoop(reg prometheus.Registerer) *autoscaler.Loop {
	a := m.cfg.Manager.Autoscale
	managerURL := a.ManagerURL
	if managerURL == "" {
		managerURL = "http://" + netaddr.Loopback(m.Addr())
	}
	host, _ := os.Hostname()
	return &autoscaler.Loop{
		Version: version.Version,
		Store:   m.store, Registry: m.registry, Cloud: m.cloud, Log: m.log.With("component", "autoscaler"),
		Holder: fmt.Sprintf("%s:%s/%d", host, m.Addr(), os.Getpid()),
		NodeEnv: func(group string, role nodemodel.Role, nodeID string) map[string]string {
			return m.nodeEnv(managerURL, group, role, nodeID)
		},
		Interval: a.Interval, LeaseTTL: a.LeaseTTL, Predictive: a.Predictive, LowWater: float64(a.LowWater) / 100,
		WarmUp: a.WarmUp, CoolDown: a.CoolDown, DrainTimeout: a.DrainTimeout,
		Metrics: autoscaler.NewMetrics(reg),
		Trace:   &autoscaler.Trace{},
	}
}

// nodeEnv is what a launched node is told: where the manager is, the cluster secret, who it is, where its
// objects go, and where it keeps its access log (uploaded when it stops).
func (m *Manager) nodeEnv(managerURL, group string, role nodemodel.Role, nodeID string) map[string]string {
	c := m.cfg
	st := c.Storage
	if st.Backend == objstore.BackendLocal && st.Directory != "" {
		if abs, err := filepath.Abs(st.Directory); err == nil {
			st.Directory = abs
		}
	}
	env := map[string]string{
		cloud.EnvRole: string(role), cloud.EnvManagerURL: managerURL, cloud.EnvClusterSecret: c.Cluster.Secret,
		cloud.EnvNodeID: nodeID, cloud.EnvGroup: group,
		config.EnvName("log.level"): c.Log.Level, config.EnvName("log.format"): c.Log.Format,
		config.EnvName("node.accessLog"):  filepath.Join("access-logs", nodeID+".log"),
		config.EnvName("storage.backend"): st.Backend, config.EnvName("storage.directory"): st.Directory,
		config.EnvName("storage.endpoint"): st.Endpoint, config.EnvName("storage.region"): st.Region,
		config.EnvName("storage.bucket"): st.Bucket, config.EnvName("storage.pathStyle"): strconv.FormatBool(st.PathStyle),
		config.EnvName("storage.accessKeyID"): st.AccessKeyID, config.EnvName("storage.secretAccessKey"): st.SecretAccessKey,
	}
	if c.Publish.TokenSecret != "" {
		env[config.EnvName("publish.tokenSecret")] = c.Publish.TokenSecret
	}
	if c.Publish.AllowUnauthenticated {
		env[config.EnvName("publish.allowUnauthenticated")] = "true"
	}
	if len(c.Publish.Keys) > 0 {
		keys := make([]string, 0, len(c.Publish.Keys))
		for k, v := range c.Publish.Keys {
			keys = append(keys, k+"="+v)
		}
		sort.Strings(keys)
		env[config.EnvName("publish.keys")] = strings.Join(keys, ",")
	}
	return env
}

func (m *Manager) metrics() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, state := range nodemodel.States[:len(nodemodel.States)-1] {
		state := state
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "nagare_manager_nodes", Help: "Nodes by lifecycle state.", ConstLabels: prometheus.Labels{"state": string(state)},
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
	// the counter of each (api, code) pair, found once: looking it up by its labels hashes them and
	// formats the code on every request
	type labels struct {
		api  string
		code int
	}
	var mu sync.RWMutex
	counters := map[labels]prometheus.Counter{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(sw, r)
		l := labels{apiOf(r.URL.Path), sw.code}
		mu.RLock()
		c := counters[l]
		mu.RUnlock()
		if c == nil {
			c = requests.WithLabelValues(l.api, strconv.Itoa(l.code))
			mu.Lock()
			counters[l] = c
			mu.Unlock()
		}
		c.Inc()
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

// Unwrap lets http.ResponseController reach the connection (read deadlines, flushing).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
