package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/nagare-video/nagare/internal/manager/cluster"
	"github.com/nagare-video/nagare/internal/manager/selector"
	"github.com/nagare-video/nagare/internal/manager/store"
	"github.com/nagare-video/nagare/internal/nodeapi"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

// BenchmarkViewerEntry1000 routes viewers with 1,000 in-service nodes, without the network.
func BenchmarkViewerEntry1000(b *testing.B) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.SQLite, filepath.Join(b.TempDir(), "m.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	reg := &cluster.Registry{Store: st, Log: slog.New(slog.DiscardHandler), ReportInterval: time.Second,
		NodeTimeout: time.Hour, PersistEvery: time.Hour}
	if err := reg.Load(ctx); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 1000; i++ {
		role := nodemodel.RoleEdge
		if i == 0 {
			role = nodemodel.RoleOrigin
		}
		res, err := reg.Register(ctx, nodeapi.RegisterRequest{ID: fmt.Sprintf("n%04d", i), Role: role,
			Addresses: nodemodel.Addresses{HTTP: fmt.Sprintf("10.0.%d.%d:8080", i/250, i%250+1)}})
		if err != nil {
			b.Fatal(err)
		}
		req := nodeapi.ReportRequest{ID: res.ID, Stats: nodemodel.Load{Connections: i % 50, Subscribers: i % 50}}
		if i == 0 {
			req.Streams = []nodemodel.StreamLoad{{Name: "live/bench", Protocol: "rtmp"}}
		}
		if _, err := reg.Report(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
	s := &Server{Store: st, Cluster: reg, AdminToken: "x", Weights: selector.DefaultWeights(), Log: slog.New(slog.DiscardHandler)}
	h := s.Handler()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/live/bench/index.m3u8", nil))
			if w.Code != http.StatusFound {
				b.Fatalf("status %d", w.Code)
			}
		}
	})
}
