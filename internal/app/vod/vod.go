// Package vod is the composition root of the VOD service: the library's store, object storage, the gRPC
// server (VideoService, health, reflection), HTTP playback and /metrics, the processing worker and the
// recordings importer.
package vod

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/nagare-video/nagare/internal/app/node"
	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/netaddr"
	"github.com/nagare-video/nagare/internal/netguard"
	"github.com/nagare-video/nagare/internal/objstore"
	"github.com/nagare-video/nagare/internal/objstore/blockcache"
	"github.com/nagare-video/nagare/internal/tlsconf"
	"github.com/nagare-video/nagare/internal/vod/ladder"
	"github.com/nagare-video/nagare/internal/vod/playback"
	"github.com/nagare-video/nagare/internal/vod/processing"
	"github.com/nagare-video/nagare/internal/vod/recordings"
	"github.com/nagare-video/nagare/internal/vod/service"
	"github.com/nagare-video/nagare/internal/vod/store"
	"github.com/nagare-video/nagare/internal/vod/vodmetrics"
	"github.com/nagare-video/nagare/internal/vod/vodv1"
)

// Server is a running VOD service.
type Server struct {
	log      *slog.Logger
	store    *store.SQL
	service  *service.Service
	health   *service.Health
	worker   *processing.Worker
	importer *recordings.Importer
	cache    *blockcache.Cache // nil: playback reads storage directly
	grpc     *grpc.Server
	grpcLn   net.Listener
	http     *http.Server
	httpLn   net.Listener
}

// HealthEvery is how often the health of the dependencies is checked; tests shorten it.
var HealthEvery = 2 * time.Second

// RecordingsEvery is how often storage is scanned for new recordings; tests shorten it.
var RecordingsEvery = 30 * time.Second

// New opens the store and binds the ports, so that the addresses are known before Run.
func New(ctx context.Context, cfg config.Config, log *slog.Logger) (*Server, error) {
	if err := cfg.ValidateVOD(); err != nil {
		return nil, err
	}
	v := cfg.VOD
	engine, dsn := v.StoreEngine, v.StoreDSN
	if engine == "" {
		engine, dsn = cfg.Manager.StoreEngine, cfg.Manager.StoreDSN
	}
	st, err := store.Open(ctx, engine, dsn)
	if err != nil {
		return nil, fmt.Errorf("vod store: %w", err)
	}
	if cfg.Manager.StoreTimeout > 0 {
		st.CallTimeout = cfg.Manager.StoreTimeout
	}
	s := &Server{log: log, store: st}
	if err := s.build(ctx, cfg); err != nil {
		st.Close()
		return nil, err
	}
	return s, nil
}

func (s *Server) build(ctx context.Context, cfg config.Config) error {
	v := cfg.VOD
	objs, err := objstore.Open(ctx, node.StorageConfig(cfg.Storage))
	if err != nil {
		return fmt.Errorf("vod storage: %w", err)
	}
	objects, ok := objs.(interface {
		objstore.Store
		objstore.Multipart
	})
	if !ok {
		return fmt.Errorf("vod storage: backend %q has no multipart uploads", cfg.Storage.Backend)
	}
	s.grpcLn, err = net.Listen("tcp", v.GRPCAddress)
	if err != nil {
		return fmt.Errorf("vod grpc listen on %s: %w", v.GRPCAddress, err)
	}
	ln, err := net.Listen("tcp", v.HTTPAddress)
	if err != nil {
		s.grpcLn.Close()
		return fmt.Errorf("vod http listen on %s: %w", v.HTTPAddress, err)
	}
	s.httpLn = netguard.New(ln, cfg.Manager.MaxConnections, s.log.With("component", "vod-http"))
	var cert *tlsconf.Certificate
	if cfg.TLS.Enabled() {
		if cert, err = tlsconf.Load(cfg.TLS.CertFile, cfg.TLS.KeyFile, s.log.With("component", "tls")); err != nil {
			s.grpcLn.Close()
			s.httpLn.Close()
			return err
		}
	}
	public := v.PublicURL
	if public == "" {
		scheme := "http://"
		if cert != nil {
			scheme = "https://"
		}
		public = scheme + netaddr.Loopback(s.httpLn.Addr().String())
	}
	metrics := vodmetrics.New(s.store, s.log.With("component", "vod-metrics"))
	s.service = service.New(service.Config{
		AdminToken: cfg.Manager.AdminToken, Secret: []byte(v.TokenSecret), PublicURL: public,
		MaxSize: v.MaxUploadSize, Quota: v.Quota, PartSize: v.PartSize, UploadExpiry: v.UploadExpiry, Prefix: v.Prefix,
	}, s.store, objects, s.log.With("component", "vod"))
	s.service.Metrics = metrics
	s.worker = &processing.Worker{
		Store: s.store, Objects: objects, Prefix: v.Prefix, WorkDir: v.WorkDir, Concurrency: v.Workers,
		Log: s.log.With("component", "vod-processing"), Metrics: metrics,
	}
	s.worker.Transcode.FFmpeg, s.worker.Transcode.FFprobe = v.FFmpeg, v.FFprobe
	s.worker.Transcode.Preset, s.worker.Transcode.SegmentDuration = v.Preset, v.SegmentDuration
	s.worker.Transcode.Ladder = ladder.Default()
	s.service.Processing = s.worker.Wake
	if v.Recordings {
		vis := map[string]store.Visibility{"private": store.Private, "unlisted": store.Unlisted, "public": store.Public}
		s.importer = &recordings.Importer{
			Store: s.store, Objects: objects, Prefix: cfg.Push.Prefix, Owner: v.RecordingsOwner,
			Visibility: vis[v.RecordingsVisibility], Every: RecordingsEvery, Log: s.log.With("component", "vod-recordings"),
		}
	}

	hs := health.NewServer()
	s.health = &service.Health{Server: hs, Service: s.service, Every: HealthEvery}
	opts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(s.service.UnaryAuth),
		grpc.ChainStreamInterceptor(s.service.StreamAuth),
		grpc.MaxRecvMsgSize(service.MaxChunk + service.MaxMessageOverhead),
		grpc.ForceServerCodecV2(service.Codec),
	}
	if cert != nil {
		tc := cert.ServerConfig()
		tc.NextProtos = []string{"h2"} // gRPC is HTTP/2 only
		opts = append(opts, grpc.Creds(credentials.NewTLS(tc)))
	}
	s.grpc = grpc.NewServer(opts...)
	vodv1.RegisterVideoServiceServer(s.grpc, s.service)
	healthpb.RegisterHealthServer(s.grpc, hs)
	reflection.Register(s.grpc)

	// Only playback reads through the cache: uploads and processing write and read each object once.
	var playObjects playback.Objects = objects
	if v.CacheSize > 0 {
		s.cache = blockcache.New(objects, blockcache.Config{Size: v.CacheSize})
		playObjects = s.cache
	}
	mux := http.NewServeMux()
	mux.Handle("/vod/", &playback.Handler{Library: s.service, Objects: playObjects, Secret: []byte(v.TokenSecret),
		Log: s.log.With("component", "vod-playback"), Metrics: metrics})
	mux.Handle("GET /metrics", promhttp.HandlerFor(metrics.Registry, promhttp.HandlerOpts{}))
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 60 * time.Second,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)}
	if cert != nil {
		s.httpLn = tlsconf.Wrap(s.http, s.httpLn, cert, s.log.With("component", "vod-http"))
	}
	return nil
}

// GRPCAddr and HTTPAddr are the bound addresses.
func (s *Server) GRPCAddr() string { return s.grpcLn.Addr().String() }
func (s *Server) HTTPAddr() string { return s.httpLn.Addr().String() }

// Run serves until ctx ends, then stops gracefully: uploads in progress keep what they stored.
func (s *Server) Run(ctx context.Context) error {
	defer s.store.Close()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.service.Run(gctx) })
	g.Go(func() error { return s.health.Run(gctx) })
	g.Go(func() error { return s.worker.Run(gctx) })
	if s.importer != nil {
		g.Go(func() error { return s.importer.Run(gctx) })
	}
	g.Go(func() error {
		if err := s.grpc.Serve(s.grpcLn); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			return fmt.Errorf("vod grpc: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		if err := s.http.Serve(s.httpLn); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("vod http: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		stopped := make(chan struct{})
		go func() { s.grpc.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(10 * time.Second):
			s.grpc.Stop()
		}
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return s.http.Shutdown(sctx)
	})
	s.log.Info("vod service running", "grpc", s.GRPCAddr(), "http", s.HTTPAddr(), "store", s.store.Engine())
	err := g.Wait()
	if s.cache != nil {
		st := s.cache.Stats()
		s.log.Info("vod playback cache", "hits", st.Hits, "misses", st.Misses, "waits", st.Waits,
			"hitRatio", st.HitRatio(), "fetches", st.Fetches, "fetchedBytes", st.FetchedBytes, "bypasses", st.Bypasses,
			"headHits", st.HeadHits, "headMisses", st.HeadMisses, "evictions", st.Evictions, "bytes", st.Bytes)
	}
	return err
}
