package cluster_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/nagare-video/nagare/internal/manager/cluster"
	"github.com/nagare-video/nagare/internal/manager/store"
	"github.com/nagare-video/nagare/internal/nodeapi"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

// BenchmarkReport1000 is the registry's share of one node report with 1,000 nodes (SQLite store).
func BenchmarkReport1000(b *testing.B) { benchReport(b, nil) }

// BenchmarkReport1000Streams is BenchmarkReport1000 with the streams nodes list: the origin its 20
// publications, each edge the 3 streams its viewers watch, each with what the operator console shows.
func BenchmarkReport1000Streams(b *testing.B) {
	benchReport(b, func(origin bool) []nodemodel.StreamLoad {
		n := 3
		if origin {
			n = 20
		}
		out := make([]nodemodel.StreamLoad, n)
		for i := range out {
			out[i] = benchStream(fmt.Sprintf("live/stream%02d", i), origin)
		}
		return out
	})
}

func benchReport(b *testing.B, streams func(origin bool) []nodemodel.StreamLoad) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.SQLite, filepath.Join(b.TempDir(), "m.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	clock := func() time.Time { return now }
	reg := &cluster.Registry{Store: st, Log: slog.New(slog.DiscardHandler), ReportInterval: 2 * time.Second,
		NodeTimeout: time.Hour, PersistEvery: 10 * time.Second, Now: clock}
	if err := reg.Load(ctx); err != nil {
		b.Fatal(err)
	}
	ids := make([]string, 1000)
	for i := range ids {
		role := nodemodel.RoleEdge
		if i == 0 {
			role = nodemodel.RoleOrigin
		}
		res, err := reg.Register(ctx, nodeapi.RegisterRequest{ID: fmt.Sprintf("n%04d", i), Role: role,
			Addresses: nodemodel.Addresses{HTTP: fmt.Sprintf("10.0.%d.%d:8080", i/250, i%250+1)}})
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = res.ID
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%len(ids) == 0 {
			now = now.Add(2 * time.Second) // one report per node per interval
		}
		req := nodeapi.ReportRequest{ID: ids[i%len(ids)], Stats: nodemodel.Load{Connections: 3}}
		if streams != nil {
			req.Streams = streams(i%len(ids) == 0)
			req.Stats.Streams = len(req.Streams)
		}
		if _, err := reg.Report(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// benchStream is one stream of a report.
func benchStream(name string, origin bool) nodemodel.StreamLoad {
	if !origin {
		return nodemodel.StreamLoad{Name: name, Subscribers: 12, HLSViewers: 10, WebRTCViewers: 2}
	}
	return nodemodel.StreamLoad{Name: name, Protocol: "rtmp", Subscribers: 3, BytesIn: 123456789,
		Codecs: "avc1.64001f,mp4a.40.2", Width: 1280, Height: 720, Bitrate: 2_500_000, HLSViewers: 2, WebRTCViewers: 1,
		Recording: true, Renditions: []string{name + "_480p", name + "_360p"}}
}
