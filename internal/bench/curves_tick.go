package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"github.com/nagare-video/nagare/internal/cloud/sim"
	"github.com/nagare-video/nagare/internal/manager/autoscaler"
	"github.com/nagare-video/nagare/internal/manager/cluster"
	"github.com/nagare-video/nagare/internal/manager/store"
	"github.com/nagare-video/nagare/internal/nodeapi"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

// TickPoint is the autoscaler's tick with a number of simulated in-service nodes.
type TickPoint struct {
	Nodes int `json:"nodes"`
	Ticks int `json:"ticks"`
	// MedianMs and P95Ms are over the ticks timed.
	MedianMs float64 `json:"medianMs"`
	P95Ms    float64 `json:"p95Ms"`
	// AllocBytes and Allocs are per tick; GCs is how many collections ran during the timed ticks.
	AllocBytes float64 `json:"allocBytes"`
	Allocs     float64 `json:"allocs"`
	GCs        uint32  `json:"gcs"`
	// SetupS is how long making the cluster took (launching, registering and reporting every node).
	SetupS float64 `json:"setupS"`
}

// measureTick builds, in this process, what the manager's autoscaler works on — the SQLite store, the node
// registry and the sim cloud controller, on a simulated clock — with one origin and nodes-1 edges in
// service that have reported their load, then times ticks of autoscaler.Loop, every node reporting between
// two ticks as the clock moves 2 s (the reports are not timed). It is BenchmarkTick of
// internal/manager/autoscaler at any size.
func measureTick(ctx context.Context, nodes, ticks int) (TickPoint, error) {
	pt := TickPoint{Nodes: nodes, Ticks: ticks}
	t0 := time.Now()
	// on tmpfs where there is one: the setup writes every node to the store, and the disk's syncs are not
	// what is measured
	base := ""
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		base = "/dev/shm"
	}
	dir, err := os.MkdirTemp(base, "nagare-bench-tick")
	if err != nil {
		return pt, err
	}
	defer os.RemoveAll(dir)
	clock := sim.NewClock(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	st, err := store.Open(ctx, store.SQLite, filepath.Join(dir, "nagare.db"))
	if err != nil {
		return pt, err
	}
	defer st.Close()
	st.Now = clock.Now
	if _, err := st.Migrate(ctx); err != nil {
		return pt, err
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg := &cluster.Registry{Store: st, Log: quiet, ReportInterval: 2 * time.Second, NodeTimeout: 10 * time.Second,
		PersistEvery: 30 * time.Second, Now: clock.Now}
	if err := reg.Load(ctx); err != nil {
		return pt, err
	}
	loop := &autoscaler.Loop{
		Store: st, Registry: reg, Cloud: sim.New(sim.Options{Now: clock.Now}), Holder: "bench", Log: quiet,
		NodeEnv: func(_ string, _ nodemodel.Role, id string) map[string]string {
			return map[string]string{"NAGARE_CLUSTER_NODE_ID": id}
		},
		Interval: time.Second, LeaseTTL: 15 * time.Second, LowWater: 0.30, WarmUp: 30 * time.Second,
		CoolDown: 60 * time.Second, DrainTimeout: 5 * time.Minute, Now: clock.Now,
	}
	if _, err := st.CreatePolicy(ctx, store.ScalePolicy{Name: "p", Targets: []store.RoleLimits{
		{Role: nodemodel.RoleOrigin, MinLimit: 1, MaxLimit: 1, ScaleAdjustment: 1},
		{Role: nodemodel.RoleEdge, MinLimit: nodes - 1, MaxLimit: nodes + nodes/10, ScaleAdjustment: 1},
	}, WarmUp: 30 * time.Second, CoolDown: 60 * time.Second}); err != nil {
		return pt, err
	}
	if _, err := st.CreateLaunchConfig(ctx, store.LaunchConfig{Name: "lc", Image: "nagare", Targets: []store.LaunchTarget{
		{Role: nodemodel.RoleOrigin, InstanceType: "small", ConnectionCapacity: 100},
		{Role: nodemodel.RoleEdge, InstanceType: "small", ConnectionCapacity: 1000},
	}}); err != nil {
		return pt, err
	}
	if _, err := st.CreateGroup(ctx, store.NodeGroup{Name: "g", Regions: []string{"local"}, LaunchConfig: "lc", ScalePolicy: "p"}); err != nil {
		return pt, err
	}
	if err := loop.Tick(ctx); err != nil { // launches the minimum: every node
		return pt, err
	}
	conns := map[string]int{}
	report := func(id string) error {
		_, err := reg.Report(ctx, nodeapi.ReportRequest{ID: id, Stats: nodemodel.Load{Connections: conns[id], Subscribers: conns[id]}})
		return err
	}
	for i, m := range reg.Members("g") {
		if m.State != nodemodel.StateRunning {
			continue
		}
		if _, err := reg.Register(ctx, nodeapi.RegisterRequest{ID: m.ID, Role: m.Role, Version: "dev", Group: "g",
			Addresses: nodemodel.Addresses{HTTP: "127.0.0.1:1"}}); err != nil {
			return pt, err
		}
		if m.Role == nodemodel.RoleEdge {
			conns[m.ID] = 100 + i%50
		}
		if err := report(m.ID); err != nil {
			return pt, err
		}
	}
	step := func() error {
		clock.Advance(2 * time.Second)
		for _, m := range reg.Members("g") {
			if m.State == nodemodel.StateInService || m.State == nodemodel.StateDraining {
				if err := report(m.ID); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := step(); err != nil {
		return pt, err
	}
	if err := loop.Tick(ctx); err != nil {
		return pt, err
	}
	inService := 0
	for _, m := range reg.Members("g") {
		if m.State == nodemodel.StateInService {
			inService++
		}
	}
	if inService != nodes {
		return pt, fmt.Errorf("%d nodes in service of %d", inService, nodes)
	}
	pt.SetupS = time.Since(t0).Seconds()

	var took []float64
	var before, after runtime.MemStats
	var allocBytes, allocs uint64
	var gcs uint32
	for range ticks {
		if err := step(); err != nil {
			return pt, err
		}
		runtime.ReadMemStats(&before)
		start := time.Now()
		err := loop.Tick(ctx)
		el := time.Since(start)
		runtime.ReadMemStats(&after)
		if err != nil {
			return pt, err
		}
		took = append(took, ms(el))
		allocBytes += after.TotalAlloc - before.TotalAlloc
		allocs += after.Mallocs - before.Mallocs
		gcs += after.NumGC - before.NumGC
	}
	slices.Sort(took)
	pt.MedianMs, pt.P95Ms = Percentile(took, 50), Percentile(took, 95)
	pt.AllocBytes, pt.Allocs, pt.GCs = float64(allocBytes)/float64(ticks), float64(allocs)/float64(ticks), gcs
	return pt, nil
}
