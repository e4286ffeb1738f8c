// Package node is the composition root of a media node: it builds the ingest servers, the stream
// registry, the HLS server and the HTTP endpoints, and runs them.
package node

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/http1"
	"github.com/nagare-video/nagare/internal/media/accesslog"
	"github.com/nagare-video/nagare/internal/media/hls"
	"github.com/nagare-video/nagare/internal/media/hlshttp"
	"github.com/nagare-video/nagare/internal/media/ingest"
	"github.com/nagare-video/nagare/internal/media/mediametrics"
	"github.com/nagare-video/nagare/internal/media/pubauth"
	"github.com/nagare-video/nagare/internal/media/relay"
	"github.com/nagare-video/nagare/internal/media/stream"
	"github.com/nagare-video/nagare/internal/media/transcode"
	"github.com/nagare-video/nagare/internal/media/viewers"
	"github.com/nagare-video/nagare/internal/media/webrtc"
	"github.com/nagare-video/nagare/internal/netguard"
	"github.com/nagare-video/nagare/internal/nodeagent"
	"github.com/nagare-video/nagare/internal/nodeapi"
	"github.com/nagare-video/nagare/internal/nodestats"
	"github.com/nagare-video/nagare/internal/objstore"
	"github.com/nagare-video/nagare/internal/tlsconf"
	"github.com/nagare-video/nagare/internal/version"
	"github.com/nagare-video/nagare/internal/vod/ladder"
)

// Node is a running media node.
type Node struct {
	cfg      config.Config
	log      *slog.Logger
	registry *stream.Registry
	hls      viewerServer  // the origin's muxers, or the edge's cache
	muxers   *hls.Server   // the origin's muxers (nil on other roles)
	edge     *relay.Server // nil on an origin
	parent   atomic.Value  // string: the edge's parent base URL
	asker    *parentAsker  // an edge's calls for a parent while it has none (nil: never asks)
	// locator asks the manager where a stream its parent lacks is live (edges and relays in a cluster)
	locator  atomic.Pointer[streamLocator]
	steering atomic.Pointer[relay.Steering] // an edge's part in content steering (nil: off)
	metrics  *mediametrics.Metrics
	rtmp     *ingest.RTMPServer
	srt      *ingest.SRTServer
	webrtc   *webrtc.Server // nil when webrtc.enabled is off
	// webrtcMoved: this drain's WHEP sessions have been ended (see moveWebRTCViewers)
	webrtcMoved atomic.Bool
	httpLn      net.Listener
	http        *http.Server // the HTTP server: net/http's alone with TLS, else http1's fallback
	serveHTTP   httpServer   // what serves n.httpLn: n.http, or an http1.Server in front of it
	started     time.Time
	cpu         nodestats.CPUMeter
	agent       *nodeagent.Agent // nil when the node runs without a manager
	fresh       freshConns
	segDir      string         // this node's segment files (hls.storage disk), removed when it stops
	access      *accesslog.Log // nil without node.accessLog
	push        *storagePush   // nil on edges and relays
	// transcoder makes the adaptive ladder of the streams published here (nil without transcode.enabled),
	// or on a transcoder node of the streams of its jobs
	transcoder *transcode.Transcoder
	// cluster is the transport of the calls to the cluster's servers (its TLS trusts tls.caFile)
	cluster  *http.Transport
	cert     *tlsconf.Certificate // tls.certFile's, nil without
	rtmps    *ingest.RTMPServer   // RTMP inside TLS (rtmps.enabled)
	overload overload             // whether the transcoding keeps up, from one load report to the next
	remote   *remoteJobs          // a transcoder node's jobs (nil on other roles)
	secret   nodeapi.Secret       // the cluster secret, for the calls the manager makes to the node
	bitrates bitrates             // each stream's bit rate, from one load report to the next
}

// uploadAccessLog closes the access log and copies it to object storage: a node the autoscaler terminates
// takes nothing with it.
func (n *Node) uploadAccessLog() {
	if err := n.access.Close(); err != nil {
		n.log.Warn("closing access log", "cause", err)
	}
	id := n.cfg.Cluster.NodeID
	if n.agent != nil && n.agent.ID() != "" {
		id = n.agent.ID()
	}
	if id == "" {
		id, _ = os.Hostname()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := objstore.Open(ctx, StorageConfig(n.cfg.Storage))
	if err != nil {
		n.log.Warn("access log not uploaded", "cause", err)
		return
	}
	key := accesslog.Key(n.cfg.Cluster.Group, id, time.Now())
	if err := accesslog.Upload(ctx, st, n.access.Path(), key); err != nil {
		n.log.Warn("access log not uploaded", "cause", err)
		return
	}
	n.log.Info("access log uploaded", "key", key, "backend", n.cfg.Storage.Backend)
}

// storageConfig maps the storage settings onto the object store's.
// StorageConfig is the object storage configuration of cfg (the VOD service uses the nodes' storage).
func StorageConfig(s config.Storage) objstore.Config {
	return objstore.Config{Backend: s.Backend, Directory: s.Directory, S3: objstore.S3Config{
		Endpoint: s.Endpoint, Region: s.Region, Bucket: s.Bucket, PathStyle: s.PathStyle,
		AccessKey: s.AccessKeyID, SecretKey: s.SecretAccessKey,
	}}
}

// viewerServer serves HLS to viewers and counts them.
type viewerServer interface {
	http.Handler
	Viewers(p *stream.Path) int
	ViewersByStream() map[stream.Path]int
	BytesOut() uint64
}

// New builds a node from cfg and binds its ports, so that its addresses are known before Run.
func New(cfg config.Config, log *slog.Logger) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, log: log, registry: &stream.Registry{Takeover: cfg.Publish.Takeover}, started: time.Now(),
		secret: nodeapi.NewSecret(cfg.Cluster.Secret)}
	// the cluster's HTTPS servers (the manager, the parent, origins) are trusted by tls.caFile (or the
	// system's roots)
	cluster, err := tlsconf.Transport(cfg.TLS.CAFile)
	if err != nil {
		return nil, err
	}
	n.cluster = cluster
	if cfg.TLS.Enabled() {
		if n.cert, err = tlsconf.Load(cfg.TLS.CertFile, cfg.TLS.KeyFile, log.With("component", "tls")); err != nil {
			return nil, err
		}
	}
	n.metrics = mediametrics.New(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "nagare_streams", Help: "Live streams on this node."},
			func() float64 { return float64(len(n.registry.List())) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "nagare_publishers", Help: "Connected publishers."},
			func() float64 { return float64(publishers(n.registry.List())) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "nagare_viewers", Help: "Distinct HLS viewer sessions."},
			func() float64 { return float64(n.hls.Viewers(nil)) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "nagare_webrtc_viewers", Help: "WHEP sessions."},
			func() float64 { return float64(n.webrtcViewers(nil)) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "nagare_webrtc_publishers", Help: "WHIP sessions."},
			func() float64 {
				return n.webrtcCount(func(c *webrtc.Counts) uint64 { return uint64(c.Publishers.Load()) })
			}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "nagare_webrtc_refused_total",
			Help: "WHIP and WHEP requests refused (bad offer, credentials, limits, unknown stream or session)."},
			func() float64 { return n.webrtcCount(func(c *webrtc.Counts) uint64 { return c.Rejected.Load() }) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "nagare_webrtc_ice_timeouts_total",
			Help: "WebRTC sessions reaped because ICE did not connect within webrtc.connectTimeout."},
			func() float64 { return n.webrtcCount(func(c *webrtc.Counts) uint64 { return c.ICETimeouts.Load() }) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "nagare_webrtc_keyframe_requests_total",
			Help: "Keyframe requests (PLI) sent to WHIP publishers."},
			func() float64 { return n.webrtcCount(func(c *webrtc.Counts) uint64 { return c.KeyframeAsks.Load() }) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "nagare_webrtc_packets_out_total",
			Help: "RTP packets sent to WHEP viewers."},
			func() float64 { return n.webrtcCount(func(c *webrtc.Counts) uint64 { return c.PacketsOut.Load() }) }),
	)
	if n.pulls() {
		return n.newEdge(cfg, log)
	}
	if cfg.Node.Role == "transcoder" {
		return n.newTranscoderNode(cfg, log)
	}
	segDir := ""
	if cfg.HLS.Storage == "disk" {
		base := cfg.HLS.Directory
		if base == "" {
			base = os.TempDir()
		}
		dir, err := os.MkdirTemp(base, "nagare-hls-")
		if err != nil {
			return nil, fmt.Errorf("hls.directory: %w", err)
		}
		segDir, n.segDir = dir, dir
	}
	n.push = n.newPusher(cfg)
	hs := &hls.Server{
		Config: hls.Config{
			Variant: cfg.HLS.Variant, SegmentDuration: cfg.HLS.SegmentDuration,
			PartDuration: cfg.HLS.PartDuration, SegmentCount: cfg.HLS.SegmentCount, Directory: segDir,
			HideSource: cfg.Transcode.Enabled && !cfg.Transcode.Passthrough,
		},
		Metrics: n.metrics,
		Log:     log.With("component", "hls"),
	}
	if n.push != nil {
		hs.Config.Observe = n.push.Observer // every segment, part and playlist goes to storage as it is made
	}
	if cfg.Cluster.Secret != "" {
		hs.SetSessionKey(viewers.ClusterKey(cfg.Cluster.Secret))
	}
	n.hls, n.muxers = hs, hs
	n.registry.AddListener(hs)
	if cfg.Transcode.Enabled { // origins only: edges and relays return above
		// after the muxers: a source's muxer exists before the first of its renditions is published
		tc, err := transcode.New(transcode.Config{
			Streams: cfg.Transcode.Streams, Ladder: cfg.Transcode.Ladder(), FFmpeg: cfg.Transcode.FFmpeg,
			Preset: cfg.Transcode.Preset, Log: log.With("component", "transcode"), LadderOf: n.provisionedLadder,
		}, n.registry)
		if err != nil {
			return nil, fmt.Errorf("transcode: %w", err)
		}
		n.transcoder = tc
		n.registry.AddListener(ownLadders{tc})
		n.metrics.Registry.MustRegister(tc)
	}

	auth := publishAuth(cfg, log)
	if err := n.listenIngest(cfg, log, auth); err != nil {
		return nil, err
	}
	if err := n.listenWebRTC(cfg, auth); err != nil {
		n.closeListeners()
		return nil, err
	}
	return n.serveAndJoin(cfg, log)
}

// serveAndJoin binds the HTTP port and, in a cluster, joins the manager: the last steps of building a
// node that takes publishers or pulls from a parent.
func (n *Node) serveAndJoin(cfg config.Config, log *slog.Logger) (*Node, error) {
	if err := n.listenHTTP(cfg, log); err != nil {
		n.closeListeners()
		return nil, err
	}
	if cfg.Cluster.ManagerURL != "" {
		n.agent = n.newAgent(cfg)
		if n.edge != nil && cfg.Node.Parent == "" {
			n.asker = &parentAsker{ask: n.agent.Parent, set: n.setParentIfNone, log: log.With("component", "parent")}
		}
		if n.edge != nil {
			n.locator.Store(newStreamLocator(n.agent.Origin, log.With("component", "locate")))
		}
	}
	return n, nil
}

// publishAuth checks publishers' stream keys and tokens.
func publishAuth(cfg config.Config, log *slog.Logger) *pubauth.Authorizer {
	auth := &pubauth.Authorizer{
		Keys: cfg.Publish.Keys, TokenSecret: []byte(cfg.Publish.TokenSecret),
		AllowUnauthenticated: cfg.Publish.AllowUnauthenticated,
	}
	if auth.AllowUnauthenticated {
		log.Warn("publishing without credentials is allowed (publish.allowUnauthenticated)")
	} else if len(auth.Keys) == 0 && len(auth.TokenSecret) == 0 {
		log.Warn("no stream keys and no token secret: every publish will be refused")
	}
	return auth
}

// listenIngest binds the RTMP and SRT ports that publishers publish to (origins, transcoders).
func (n *Node) listenIngest(cfg config.Config, log *slog.Logger, auth *pubauth.Authorizer) error {
	rtmp := func(address, component string, tc *tls.Config) *ingest.RTMPServer {
		return &ingest.RTMPServer{
			Address: address, ReadTimeout: cfg.Node.ReadTimeout, MaxConns: cfg.Node.MaxConnections,
			Registry: n.registry, Auth: auth, Takeover: cfg.Publish.Takeover, Metrics: n.metrics,
			Log: log.With("component", component), TLS: tc,
		}
	}
	if cfg.RTMP.Enabled {
		n.rtmp = rtmp(cfg.RTMP.Address, "rtmp", nil)
		if err := n.rtmp.Listen(); err != nil {
			return err
		}
	}
	if cfg.RTMPS.Enabled {
		n.rtmps = rtmp(cfg.RTMPS.Address, "rtmps", n.cert.ServerConfig())
		if err := n.rtmps.Listen(); err != nil {
			n.closeListeners()
			return err
		}
	}
	if cfg.SRT.Enabled {
		n.srt = &ingest.SRTServer{
			Address: cfg.SRT.Address, ReadTimeout: cfg.Node.ReadTimeout, Registry: n.registry, Auth: auth,
			Takeover: cfg.Publish.Takeover, Metrics: n.metrics, Log: log.With("component", "srt"),
			Passphrase: cfg.SRT.Passphrase,
		}
		if err := n.srt.Listen(); err != nil {
			n.closeListeners()
			return err
		}
	}
	return nil
}

// listenWebRTC binds the WebRTC port: WHIP and WHEP on an origin (auth checks publishers), WHEP pulled
// from the parent on an edge or relay (auth nil).
func (n *Node) listenWebRTC(cfg config.Config, auth *pubauth.Authorizer) error {
	w := cfg.WebRTC
	if !w.Enabled || !cfg.HTTP.Enabled { // WHIP and WHEP are served on the HTTP port
		return nil
	}
	public := w.PublicIPs
	if host, _, err := net.SplitHostPort(cfg.Cluster.AdvertiseHTTP); len(public) == 0 && err == nil {
		if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
			public = []string{host}
		}
	}
	var ice []webrtc.ICEServer
	for _, u := range w.ICEServers {
		s := webrtc.ICEServer{URL: u}
		if strings.HasPrefix(u, "turn") {
			s.Username, s.Credential = w.ICEUsername, w.ICECredential
		}
		ice = append(ice, s)
	}
	n.webrtc = &webrtc.Server{
		Config: webrtc.Config{Address: w.Address, PublicIPs: public, ICEServers: ice, ConnectTimeout: w.ConnectTimeout,
			MaxSessions: w.MaxSessions, OffersPerMinute: w.OffersPerMinute, FFmpeg: w.FFmpeg, HLSAudio: w.HLSAudio},
		Takeover: cfg.Publish.Takeover, Parent: n.parentFor, Locate: n.locate, ParentTransport: n.cluster, Log: n.log.With("component", "webrtc"),
		// the manager's proxy mode names the client it forwards an offer for, signed with the cluster secret
		ClientIP: func(r *http.Request) string { return nodeapi.ClientIP(r, cfg.Cluster.Secret) },
	}
	if auth != nil {
		n.webrtc.Registry, n.webrtc.Auth = n.registry, auth
	}
	if err := n.webrtc.Listen(); err != nil {
		n.webrtc = nil
		return err
	}
	return nil
}

// webrtcCount reads one of the WebRTC server's counts (0 without WebRTC).
func (n *Node) webrtcCount(get func(*webrtc.Counts) uint64) float64 {
	if n.webrtc == nil {
		return 0
	}
	return float64(get(n.webrtc.Counts()))
}

// webrtcViewers counts the WHEP sessions of p (of every stream when p is nil).
func (n *Node) webrtcViewers(p *stream.Path) int {
	if n.webrtc == nil {
		return 0
	}
	return n.webrtc.ViewersOf(p)
}

// webrtcViewersByStream counts the WHEP sessions of every stream that has some (none without WebRTC).
func (n *Node) webrtcViewersByStream() map[stream.Path]int {
	if n.webrtc == nil {
		return nil
	}
	return n.webrtc.ViewersByStream()
}

// bytesOut is what the node sent viewers, over HLS and WebRTC.
func (n *Node) bytesOut() uint64 {
	b := n.hls.BytesOut()
	if n.webrtc != nil {
		b += n.webrtc.Counts().BytesOut.Load()
	}
	return b
}

// viewers counts p's viewers over HLS and WebRTC (every stream's when p is nil).
func (n *Node) viewers(p *stream.Path) int { return n.hls.Viewers(p) + n.webrtcViewers(p) }

func (n *Node) closeListeners() {
	if n.segDir != "" {
		os.RemoveAll(n.segDir)
	}
	if n.rtmp != nil {
		n.rtmp.Close()
	}
	if n.rtmps != nil {
		n.rtmps.Close()
	}
	if n.srt != nil {
		n.srt.Close()
	}
	if n.webrtc != nil {
		n.webrtc.Close()
	}
}

func (n *Node) listenHTTP(cfg config.Config, log *slog.Logger) error {
	if !cfg.HTTP.Enabled {
		return nil
	}
	ln, err := net.Listen("tcp", cfg.HTTP.Address)
	if err != nil {
		return fmt.Errorf("http listen on %s: %w", cfg.HTTP.Address, err)
	}
	n.httpLn = netguard.New(ln, cfg.Node.MaxConnections, log.With("component", "http"))
	// no endpoint of a node reads a request body but WHIP's and WHEP's (an SDP offer, a trickle
	// fragment) and an origin's rendition endpoint (a transcoder's MPEG-TS): refuse one before it is read
	handler := netguard.BodyGuard{Takes: func(r *http.Request) bool {
		return webrtc.TakesBody(r) || (r.Method == http.MethodPost &&
			(strings.HasPrefix(r.URL.Path, nodeapi.PathRenditions) || strings.HasPrefix(r.URL.Path, nodeapi.PathSources)))
	}}.Handler(n.routes())
	if cfg.Node.AccessLog != "" {
		al, err := accesslog.Open(cfg.Node.AccessLog)
		if err != nil {
			ln.Close()
			return err
		}
		n.access = al
		handler = al.Middleware(handler)
	}
	// With no body read, ReadTimeout bounds only the headers. It does not reach blocking playlist requests
	// (net/http lifts the read deadline once a request is read); a WriteTimeout would cut them off.
	n.http = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		ConnState:         n.fresh.track,
		ConnContext:       hlshttp.ConnContext,
	}
	n.serveHTTP = n.http
	if n.cert != nil {
		n.httpLn = tlsconf.Wrap(n.http, n.httpLn, n.cert, log.With("component", "http"))
		return nil
	}
	// plain HTTP/1.1: players' GETs go through http1, with less work per request than net/http's;
	// anything else (a body, an upgrade, HTTP/1.0, an error to answer) goes on to n.http
	n.serveHTTP = &http1.Server{
		Handler:           handler,
		Fallback:          n.http,
		ReadHeaderTimeout: n.http.ReadHeaderTimeout,
		IdleTimeout:       n.http.IdleTimeout,
		ConnState:         n.http.ConnState,
		Log:               log.With("component", "http"),
	}
	return nil
}

// httpServer is what serves the node's HTTP listener: an *http.Server or an *http1.Server.
type httpServer interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
	Close() error
	RegisterOnShutdown(func())
}

// freshConns tracks connections that have not sent a request yet. Shutdown waits up to 5 s for such a
// connection (a client's spare dial, say) before calling it idle; closing them at once lets a node stop
// promptly while every request in flight still finishes.
type freshConns struct {
	mu sync.Mutex
	m  map[net.Conn]struct{}
}

func (f *freshConns) track(c net.Conn, state http.ConnState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[net.Conn]struct{}{}
	}
	if state == http.StateNew {
		f.m[c] = struct{}{}
	} else {
		delete(f.m, c)
	}
}

func (f *freshConns) closeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for c := range f.m {
		c.Close()
	}
}

// pulls reports whether the node serves streams pulled from a parent (edge, relay) rather than
// published to it (origin).
func (n *Node) pulls() bool {
	return n.cfg.Node.Role == "edge" || n.cfg.Node.Role == "relay"
}

// pullTransport is the transport of an edge's HLS pulls from its parent: many streams at once.
func (n *Node) pullTransport() *http.Transport {
	t := n.cluster.Clone()
	t.MaxIdleConnsPerHost, t.IdleConnTimeout = 64, 90*time.Second
	// plain playlists inside the cluster: compressing them at the parent and inflating them here would
	// cost both ends CPU for bytes on a link that is not the narrow one (viewers' playlists are compressed)
	t.DisableCompression = true
	return t
}

// newEdge finishes building an edge or relay: no ingest, HLS pulled from the parent.
func (n *Node) newEdge(cfg config.Config, log *slog.Logger) (*Node, error) {
	n.parent.Store(strings.TrimRight(cfg.Node.Parent, "/"))
	n.edge = &relay.Server{
		Parent:      n.parentFor,
		Locate:      n.locate,
		Client:      &http.Client{Transport: n.pullTransport()},
		Metrics:     n.metrics,
		Log:         log.With("component", n.cfg.Node.Role),
		NotFoundTTL: cfg.Node.NotFoundTTL,
		Steering:    n.steering.Load,
	}
	if cfg.Cluster.Secret != "" {
		// one key in the cluster: a player steered here from another edge keeps its session
		n.edge.SetSessionKey(viewers.ClusterKey(cfg.Cluster.Secret))
	}
	n.hls = n.edge
	if err := n.listenWebRTC(cfg, nil); err != nil {
		return nil, err
	}
	return n.serveAndJoin(cfg, log)
}

// Parent returns the base URL an edge or relay pulls from ("" when none is assigned yet).
func (n *Node) Parent() string {
	p, _ := n.parent.Load().(string)
	return p
}

// parentFor is the parent a request needs now: the assigned one or, for an edge or relay that has none
// yet in a cluster (it entered service before any parent did), the one its manager names when asked.
func (n *Node) parentFor(ctx context.Context) string {
	if p := n.Parent(); p != "" || n.asker == nil {
		return p
	}
	return n.asker.get(ctx)
}

// locate names the origin where a stream the parent lacks is live, for an edge or relay in a cluster
// ("" otherwise, or when the manager knows none).
func (n *Node) locate(ctx context.Context, p stream.Path) string {
	if l := n.locator.Load(); l != nil {
		return l.locate(ctx, p)
	}
	return ""
}

// setParentIfNone records the parent the manager named when asked, unless an assignment came meanwhile.
func (n *Node) setParentIfNone(url string) {
	url = strings.TrimRight(url, "/")
	if n.parent.CompareAndSwap("", url) {
		n.log.Info("parent changed", "parent", url)
	}
}

// SetParent changes where an edge or relay pulls from; the next upstream request goes there.
func (n *Node) SetParent(url string) {
	url = strings.TrimRight(url, "/")
	if url != n.Parent() {
		n.parent.Store(url)
		n.log.Info("parent changed", "parent", url)
	}
}

// RTMPSAddr, RTMPAddr, SRTAddr and HTTPAddr return the bound addresses ("" when disabled).
func (n *Node) RTMPSAddr() string {
	if n.rtmps == nil {
		return ""
	}
	return n.rtmps.Addr().String()
}

func (n *Node) RTMPAddr() string {
	if n.rtmp == nil {
		return ""
	}
	return n.rtmp.Addr().String()
}

func (n *Node) SRTAddr() string {
	if n.srt == nil {
		return ""
	}
	return n.srt.Addr().String()
}

// WebRTCAddr is the bound UDP address of WebRTC ("" when disabled).
func (n *Node) WebRTCAddr() string {
	if n.webrtc == nil {
		return ""
	}
	return n.webrtc.Addr().String()
}

func (n *Node) HTTPAddr() string {
	if n.httpLn == nil {
		return ""
	}
	return n.httpLn.Addr().String()
}

// Registry exposes the node's live streams.
func (n *Node) Registry() *stream.Registry { return n.registry }

// Run serves until ctx is cancelled, then stops gracefully: publishers are closed, HLS responses in
// flight finish (within node.shutdownTimeout).
func (n *Node) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	pushed := n.runPush(gctx) // beside the group: it ends with the access log's upload, below
	ingestDone := make(chan struct{})
	ig, ictx := errgroup.WithContext(gctx)
	if n.rtmp != nil {
		ig.Go(func() error { return n.rtmp.Run(ictx) })
	}
	if n.rtmps != nil {
		ig.Go(func() error { return n.rtmps.Run(ictx) })
	}
	if n.srt != nil {
		ig.Go(func() error { return n.srt.Run(ictx) })
	}
	g.Go(func() error {
		defer close(ingestDone)
		return ig.Wait()
	})
	if n.http != nil {
		g.Go(func() error {
			err := n.serveHTTP.Serve(n.httpLn)
			if errors.Is(err, http.ErrServerClosed) {
				return nil
			}
			return fmt.Errorf("http: %w", err)
		})
		g.Go(func() error {
			<-gctx.Done()
			<-ingestDone // streams have ended, so blocked playlist requests are released
			sctx, cancel := context.WithTimeout(context.Background(), n.cfg.Node.ShutdownTimeout)
			defer cancel()
			stopped := make(chan struct{})
			defer close(stopped)
			go func() {
				// while Shutdown waits for requests in flight, close connections that never sent one
				t := time.NewTicker(50 * time.Millisecond)
				defer t.Stop()
				for {
					select {
					case <-stopped:
						return
					case <-t.C:
						n.fresh.closeAll()
					}
				}
			}()
			if err := n.serveHTTP.Shutdown(sctx); err != nil {
				n.serveHTTP.Close()
				return fmt.Errorf("http shutdown: %w", err)
			}
			return nil
		})
	}
	if n.agent != nil {
		g.Go(func() error { return n.agent.Run(gctx) })
	}
	if n.edge != nil {
		ectx := gctx
		if n.http != nil {
			// the pulls stop once the HTTP server has closed its listener: a player whose blocking reload
			// they release (with the latest playlist, the connection closed after it) then finds the node
			// gone, rather than a 503 that hls.js retries on this node a second later, and moves to another
			// pathway within the buffer it holds
			var stop context.CancelFunc
			ectx, stop = context.WithCancel(context.Background())
			n.serveHTTP.RegisterOnShutdown(stop)
		}
		g.Go(func() error { return n.edge.Run(ectx) })
	}
	if n.webrtc != nil {
		g.Go(func() error { return n.webrtc.Run(gctx) })
	}
	n.log.Info("node running", "role", n.cfg.Node.Role, "version", version.Version,
		"rtmp", n.RTMPAddr(), "srt", n.SRTAddr(), "http", n.HTTPAddr(), "webrtc", n.WebRTCAddr(), "hls", n.cfg.HLS.Variant)
	err := g.Wait()
	if n.remote != nil {
		n.remote.stopAll()
	}
	if n.transcoder != nil {
		n.transcoder.Close()
	}
	if n.segDir != "" {
		os.RemoveAll(n.segDir)
	}
	// the access log goes to storage while the last segments, playlists and recordings do: a node being
	// terminated has one stop timeout for both
	uploaded := make(chan struct{})
	go func() {
		defer close(uploaded)
		if n.access != nil {
			n.uploadAccessLog()
		}
	}()
	<-pushed // within node.shutdownTimeout
	<-uploaded
	n.log.Info("node stopped")
	return err
}

func (n *Node) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(n.metrics.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	mux.HandleFunc("GET /api/v1/stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-cache")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(n.Stats())
	})
	if n.cfg.Node.Pprof {
		// GET only: a pattern for every method would overlap WHIP's POST /{app}/{stream}/whip
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	for _, m := range []string{"GET", "PUT", "DELETE"} {
		mux.HandleFunc(m+" "+nodeapi.PathRecordings+"{app}/{stream}", n.recordingAPI)
	}
	mux.HandleFunc("DELETE "+nodeapi.PathPublishers+"{app}/{stream}", n.publisherAPI)
	if n.edge == nil {
		mux.HandleFunc("GET "+nodeapi.PathSources+"{app}/{stream}", n.sourceAPI)
		mux.HandleFunc("POST "+nodeapi.PathRenditions+"{app}/{stream}", n.renditionAPI)
		mux.HandleFunc("POST "+nodeapi.PathSources+"{app}/{stream}", n.sourcePushAPI)
	}
	mux.HandleFunc("GET "+nodeapi.PathDrain, n.drainAPI)
	if n.webrtc != nil {
		n.webrtc.Routes(mux)
	}
	mux.Handle("/", n.hls)
	return hlsFirst{hls: n.hls, mux: mux}
}

// StreamStats describes one live stream.
type StreamStats struct {
	Name         string    `json:"name"`
	Protocol     string    `json:"protocol"`
	Tracks       []string  `json:"tracks"`
	Since        time.Time `json:"since"`
	BytesIn      uint64    `json:"bytesIn"`
	Subscribers  int       `json:"subscribers"`
	DroppedUnits uint64    `json:"droppedUnits"`
	// RenditionOf names the stream this one is a rendition of (a rung of its ladder)
	RenditionOf string `json:"renditionOf,omitempty"`
}

// Stats is the load report of a node: what a stream manager needs to place publishers and viewers.
type Stats struct {
	Role          string        `json:"role"`
	Version       string        `json:"version"`
	UptimeSeconds float64       `json:"uptimeSeconds"`
	Connections   int           `json:"connections"`
	Publishers    int           `json:"publishers"`
	Subscribers   int           `json:"subscribers"`
	BytesIn       uint64        `json:"bytesIn"`
	BytesOut      uint64        `json:"bytesOut"`
	CPUPercent    float64       `json:"cpuPercent"`
	CPUSeconds    float64       `json:"cpuSeconds"`
	MemoryBytes   uint64        `json:"memoryBytes"`
	Streams       []StreamStats `json:"streams"`
	// Transcode is what the transcoding of each source is doing (transcode.enabled)
	Transcode []transcode.JobStats `json:"transcode,omitempty"`
	// Overloaded is why the node last told its manager it cannot keep up ("" it can)
	Overloaded string `json:"overloaded,omitempty"`
}

// Stats returns the node's current load.
func (n *Node) Stats() Stats {
	live := n.registry.List()
	st := Stats{
		Role: n.cfg.Node.Role, Version: version.Version, UptimeSeconds: time.Since(n.started).Seconds(),
		Publishers: publishers(live), Subscribers: n.viewers(nil),
		BytesIn: n.registry.BytesIn(), BytesOut: n.bytesOut(), CPUPercent: n.cpu.Percent(),
		Streams: []StreamStats{},
	}
	st.Connections = st.Publishers + st.Subscribers
	st.CPUSeconds, st.MemoryBytes, _ = nodestats.Process(0)
	if n.edge != nil {
		for _, p := range n.edge.Streams() {
			st.Streams = append(st.Streams, StreamStats{Name: p.String(), Protocol: "hls", Tracks: []string{}, Subscribers: n.viewers(&p)})
		}
		sort.Slice(st.Streams, func(i, j int) bool { return st.Streams[i].Name < st.Streams[j].Name })
	}
	for _, s := range live {
		p := s.Path
		tracks := make([]string, len(s.Tracks))
		for i, t := range s.Tracks {
			tracks[i] = t.Codec.String()
		}
		ss := StreamStats{
			Name: p.String(), Protocol: s.Protocol, Tracks: tracks, Since: s.StartedAt,
			BytesIn: s.BytesIn(), Subscribers: n.viewers(&p), DroppedUnits: s.Dropped(),
		}
		if s.Rendition != nil {
			ss.RenditionOf = s.Rendition.Of.String()
		}
		st.Streams = append(st.Streams, ss)
	}
	if n.transcoder != nil {
		st.Transcode = n.transcoder.Stats()
		st.Overloaded = n.overload.now()
	}
	return st
}

// provisionedLadder asks the manager for the ladder provisioned for p (Red5's event/meta call or the
// native API); a standalone node has none.
func (n *Node) provisionedLadder(ctx context.Context, p stream.Path) (ladder.Ladder, bool, error) {
	if n.agent == nil {
		return ladder.Ladder{}, false, nil
	}
	resp, err := n.agent.Ladder(ctx, p.String())
	if err != nil || !resp.Found {
		return ladder.Ladder{}, false, err
	}
	return ladderOf(resp), true, nil
}

// publishers counts the streams of live that have a publisher of their own (not renditions).
func publishers(live []*stream.Stream) int {
	n := 0
	for _, s := range live {
		if s.Rendition == nil {
			n++
		}
	}
	return n
}
