package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nagare-video/nagare/internal/manager/cluster"
	"github.com/nagare-video/nagare/internal/manager/selector"
	"github.com/nagare-video/nagare/internal/manager/store"
	"github.com/nagare-video/nagare/internal/nodeapi"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

// cluster1000 is the API of a manager with 1,000 in-service nodes (an origin publishing live/bench, and
// edges 10.0.x.y:8080 with up to 49 viewers each).
func cluster1000(b *testing.B) http.Handler {
	b.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, store.SQLite, filepath.Join(b.TempDir(), "m.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
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
	return s.Handler()
}

// BenchmarkViewerEntry1000 routes viewers with 1,000 in-service nodes, without the network.
func BenchmarkViewerEntry1000(b *testing.B) {
	h := cluster1000(b)
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

// BenchmarkRed5Subscribe1000 answers Red5's subscribe call with 1,000 in-service nodes, without the
// network.
func BenchmarkRed5Subscribe1000(b *testing.B) {
	h := cluster1000(b)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/streammanager/api/3.1/event/live/bench?action=subscribe", nil))
			if w.Code != http.StatusOK {
				b.Fatalf("status %d", w.Code)
			}
		}
	})
}

// BenchmarkSteering1000 answers steering requests with 1,000 in-service nodes, without the network: a
// player whose edge serves it (stay, with a fallback), and one whose edge is gone (moved).
func BenchmarkSteering1000(b *testing.B) {
	h := cluster1000(b)
	for _, pathway := range []string{"n0500", "gone"} {
		b.Run(pathway, func(b *testing.B) {
			var n atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					req := httptest.NewRequest(http.MethodGet, "/steering/v1/live/bench?port=8080&_HLS_pathway="+pathway, nil)
					req.RemoteAddr = fmt.Sprintf("10.%d.%d.%d:1", i>>16&255, i>>8&255, i&255) // every player its own address
					w := httptest.NewRecorder()
					h.ServeHTTP(w, req)
					if w.Code != http.StatusOK {
						b.Fatalf("status %d: %s", w.Code, w.Body)
					}
				}
			})
		})
	}
}
