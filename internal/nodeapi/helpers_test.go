package nodeapi_test

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/nagare-video/nagare/internal/nodeapi"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

const secret = "cluster-secret-7f3a9c"

// fakeBackend answers with its func fields, or with a plain success when a field is nil, and counts
// the calls that reached it.
type fakeBackend struct {
	register    func(context.Context, nodeapi.RegisterRequest) (nodeapi.RegisterResponse, error)
	report      func(context.Context, nodeapi.ReportRequest) (nodeapi.ReportResponse, error)
	streamEvent func(context.Context, nodeapi.StreamEvent) error
	ladder      func(context.Context, nodeapi.LadderRequest) (nodeapi.LadderResponse, error)
	origin      func(context.Context, nodeapi.OriginRequest) (nodeapi.OriginResponse, error)
	parent      func(context.Context, nodeapi.ParentRequest) (nodeapi.ParentResponse, error)

	mu    sync.Mutex
	calls int
}

func (f *fakeBackend) count() {
	f.mu.Lock()
	f.calls++
	f.mu.Unlock()
}

func (f *fakeBackend) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func (f *fakeBackend) Register(ctx context.Context, req nodeapi.RegisterRequest) (nodeapi.RegisterResponse, error) {
	f.count()
	if f.register != nil {
		return f.register(ctx, req)
	}
	return nodeapi.RegisterResponse{ID: "node-1", ReportIntervalMS: 5000, Assignment: nodeapi.Assignment{State: nodemodel.StatePending}}, nil
}

func (f *fakeBackend) Report(ctx context.Context, req nodeapi.ReportRequest) (nodeapi.ReportResponse, error) {
	f.count()
	if f.report != nil {
		return f.report(ctx, req)
	}
	return nodeapi.ReportResponse{ReportIntervalMS: 5000, Assignment: nodeapi.Assignment{State: nodemodel.StateInService}}, nil
}

func (f *fakeBackend) StreamEvent(ctx context.Context, ev nodeapi.StreamEvent) error {
	f.count()
	if f.streamEvent != nil {
		return f.streamEvent(ctx, ev)
	}
	return nil
}

func (f *fakeBackend) Ladder(ctx context.Context, req nodeapi.LadderRequest) (nodeapi.LadderResponse, error) {
	f.count()
	if f.ladder != nil {
		return f.ladder(ctx, req)
	}
	return nodeapi.LadderResponse{}, nil
}

func (f *fakeBackend) Origin(ctx context.Context, req nodeapi.OriginRequest) (nodeapi.OriginResponse, error) {
	f.count()
	if f.origin != nil {
		return f.origin(ctx, req)
	}
	return nodeapi.OriginResponse{}, nil
}

func (f *fakeBackend) Parent(ctx context.Context, req nodeapi.ParentRequest) (nodeapi.ParentResponse, error) {
	f.count()
	if f.parent != nil {
		return f.parent(ctx, req)
	}
	return nodeapi.ParentResponse{}, nil
}

var _ nodeapi.Backend = (*fakeBackend)(nil)

// syncBuffer is a bytes.Buffer that a server's goroutines may log to.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func testLogger() (*slog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

func goodRegister() nodeapi.RegisterRequest {
	return nodeapi.RegisterRequest{
		Role: nodemodel.RoleEdge, Version: "v1.4.0", Group: "eu-edges", Region: "eu-west-1", Zone: "eu-west-1a",
		Addresses: nodemodel.Addresses{RTMP: "10.0.0.7:1935", SRT: "10.0.0.7:8890", HTTP: "edge-7.example.net:8080"},
	}
}

func goodReport() nodeapi.ReportRequest {
	return nodeapi.ReportRequest{
		ID: "node-1",
		Stats: nodemodel.Load{
			Connections: 12, Publishers: 2, Subscribers: 10, BytesIn: 1 << 30, BytesOut: 1 << 34,
			CPUPercent: 37.5, MemoryBytes: 512 << 20, MemoryUsedPercent: 12.25, UptimeSeconds: 3600.5,
		},
		Streams: []nodemodel.StreamLoad{
			{Name: "live/stream1", Protocol: "rtmp", Subscribers: 7, BytesIn: 1 << 29, Codecs: "avc1.64001f,mp4a.40.2",
				Width: 1280, Height: 720, Bitrate: 2_500_000, HLSViewers: 5, WebRTCViewers: 2, Recording: true,
				Renditions: []string{"live/stream1_360p", "live/stream1_480p"}},
			{Name: "live/stream_2-b", Protocol: "srt", Subscribers: 3, BytesIn: 1 << 28},
		},
	}
}

func goodAssignment() nodeapi.Assignment {
	return nodeapi.Assignment{
		State: nodemodel.StateDraining, Parent: "http://10.0.0.2:8080", Drain: true,
		DrainDeadline: time.Date(2025, 3, 1, 12, 30, 0, 0, time.UTC),
	}
}
