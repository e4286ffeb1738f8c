package service

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/nagare-video/nagare/internal/objstore"
	"github.com/nagare-video/nagare/internal/vod/vodv1"
)

// Health sets the gRPC health of the VOD service from its dependencies: nagare.vod.v1.VideoService is
// SERVING while the store and object storage answer and NOT_SERVING while either does not (readiness);
// the server as a whole (service "") is SERVING while it runs (liveness: a restart mends no database).
// Check and Watch are grpc-go's health server; Run feeds it.
type Health struct {
	Server  *health.Server
	Service *Service
	// Every is how often the dependencies are checked (default 2 s).
	Every time.Duration
	// Changed, if set, is told each status change (for tests and logs).
	Changed func(serving bool, cause error)
}

// Run checks the dependencies until ctx ends, then reports NOT_SERVING (the server is going away).
func (h *Health) Run(ctx context.Context) error {
	every := h.Every
	if every <= 0 {
		every = 2 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	h.Server.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	defer h.Server.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	first, last := true, false
	for {
		err := h.check(ctx)
		if ctx.Err() != nil {
			h.set(healthpb.HealthCheckResponse_NOT_SERVING)
			return nil
		}
		serving := err == nil
		if first || serving != last {
			if serving {
				h.set(healthpb.HealthCheckResponse_SERVING)
				h.Service.log.Info("vod service healthy")
			} else {
				h.set(healthpb.HealthCheckResponse_NOT_SERVING)
				h.Service.log.Warn("vod service not serving", "cause", err)
			}
			if h.Changed != nil {
				h.Changed(serving, err)
			}
			first, last = false, serving
		}
		select {
		case <-ctx.Done():
			h.set(healthpb.HealthCheckResponse_NOT_SERVING)
			return nil
		case <-t.C:
		}
	}
}

func (h *Health) set(st healthpb.HealthCheckResponse_ServingStatus) {
	h.Server.SetServingStatus(vodv1.VideoService_ServiceDesc.ServiceName, st)
}

// check asks the store and the object storage one cheap question each.
func (h *Health) check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	s := h.Service
	if err := s.store.Ping(ctx); err != nil {
		return err
	}
	_, err := s.objects.Head(ctx, s.cfg.Prefix+"/health-probe")
	if err != nil && !errors.Is(err, objstore.ErrNotFound) {
		return err
	}
	return nil
}
