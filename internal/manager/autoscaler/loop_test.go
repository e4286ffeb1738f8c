package autoscaler_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/cloud/sim"
	"github.com/nagare-video/nagare/internal/manager/autoscaler"
	"github.com/nagare-video/nagare/internal/manager/cluster"
	"github.com/nagare-video/nagare/internal/manager/store"
	"github.com/nagare-video/nagare/internal/nodeapi"
	"github.com/nagare-video/nagare/internal/nodemodel"
	"github.com/nagare-video/nagare/internal/testutil"
)

// rig is a manager's autoscaling half over a real SQLite store and a simulated cloud, on a fake clock.
type rig struct {
	t     testing.TB
	ctx   context.Context
	clock *sim.Clock
	st    *store.SQL
	reg   *cluster.Registry
	cloud *sim.Cloud
	loop  *autoscaler.Loop
	logs  *testutil.LogBuffer
	conns map[string]int // what each in-service node reports
	// version is what nodes that join run ("dev" when unset)
	version string
}

type rigOptions struct {
	edgeMin, edgeMax int
	edgeCapacity     int
	predictive       bool
	bootTime         time.Duration
	nodes            int // origin max for the big benchmark group
}

func newRig(t testing.TB, o rigOptions) *rig {
	ctx := context.Background()
	clock := sim.NewClock(time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC))
	st, err := store.Open(ctx, store.SQLite, filepath.Join(t.TempDir(), "nagare.db"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	st.Now = clock.Now
	_, err = st.Migrate(ctx)
	require.NoError(t, err)
	logs := &testutil.LogBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	reg := &cluster.Registry{Store: st, Log: log, ReportInterval: 2 * time.Second, NodeTimeout: 10 * time.Second,
		PersistEvery: 30 * time.Second, Now: clock.Now}
	require.NoError(t, reg.Load(ctx))
	c := sim.New(sim.Options{BootTime: o.bootTime, Now: clock.Now})
	r := &rig{t: t, ctx: ctx, clock: clock, st: st, reg: reg, cloud: c, logs: logs, conns: map[string]int{}}
	r.loop = r.newLoop("manager-1", o.predictive)

	_, err = st.CreatePolicy(ctx, store.ScalePolicy{Name: "p", Targets: []store.RoleLimits{
		{Role: "origin", MinLimit: 1, MaxLimit: max(1, o.nodes), ScaleAdjustment: 1},
		{Role: "edge", MinLimit: o.edgeMin, MaxLimit: o.edgeMax, ScaleAdjustment: 1},
	}, WarmUp: 30 * time.Second, CoolDown: 60 * time.Second})
	require.NoError(t, err)
	_, err = st.CreateLaunchConfig(ctx, store.LaunchConfig{Name: "lc", Image: "nagare", Targets: []store.LaunchTarget{
		{Role: "origin", InstanceType: "small", ConnectionCapacity: 100},
		{Role: "edge", InstanceType: "small", ConnectionCapacity: o.edgeCapacity},
	}})
	require.NoError(t, err)
	_, err = st.CreateGroup(ctx, store.NodeGroup{Name: "g", Regions: []string{"local"}, LaunchConfig: "lc", ScalePolicy: "p"})
	require.NoError(t, err)
	return r
}

func (r *rig) newLoop(holder string, predictive bool) *autoscaler.Loop {
	return &autoscaler.Loop{
		Store: r.st, Registry: r.reg, Cloud: r.cloud, Holder: holder,
		Log: slog.New(slog.NewTextHandler(r.logs, nil)).With("manager", holder),
		NodeEnv: func(group string, role nodemodel.Role, id string) map[string]string {
			return map[string]string{"NAGARE_CLUSTER_NODE_ID": id}
		},
		Interval: time.Second, LeaseTTL: 15 * time.Second, Predictive: predictive, LowWater: 0.30,
		WarmUp: 30 * time.Second, CoolDown: 60 * time.Second, DrainTimeout: 5 * time.Minute, Now: r.clock.Now,
	}
}

func (r *rig) tick() {
	r.t.Helper()
	require.NoError(r.t, r.loop.Tick(r.ctx))
}

// members returns the group's nodes of role in state ("" = any live state).
func (r *rig) members(role nodemodel.Role, state nodemodel.State) []string {
	var out []string
	for _, m := range r.reg.Members("g") {
		if m.Role == role && m.DeadFrom == "" && (state == "" && m.State != nodemodel.StateTerminated || m.State == state) {
			out = append(out, m.ID)
		}
	}
	return out
}

// join registers every running node (as a node would once its instance is up) and sends its first report.
func (r *rig) join() {
	r.t.Helper()
	for _, m := range r.reg.Members("g") {
		if m.State != nodemodel.StateRunning {
			continue
		}
		v := r.version
		if v == "" {
			v = "dev"
		}
		_, err := r.reg.Register(r.ctx, nodeapi.RegisterRequest{ID: m.ID, Role: m.Role, Version: v, Group: "g",
			Addresses: nodemodel.Addresses{HTTP: "127.0.0.1:1"}})
		require.NoError(r.t, err)
		r.report(m.ID)
	}
}

func (r *rig) report(id string) {
	r.t.Helper()
	_, err := r.reg.Report(r.ctx, nodeapi.ReportRequest{ID: id, Stats: nodemodel.Load{Connections: r.conns[id], Subscribers: r.conns[id]}})
	require.NoError(r.t, err)
}

// step lets d pass, has every in-service or draining node report, and ticks.
func (r *rig) step(d time.Duration) {
	r.t.Helper()
	r.clock.Advance(d)
	for _, m := range r.reg.Members("g") {
		if m.State == nodemodel.StateInService || m.State == nodemodel.StateDraining {
			r.report(m.ID)
		}
	}
	r.tick()
}

func (r *rig) events() []store.ScaleEvent {
	evs, err := r.st.ScaleEvents(r.ctx, "g", 1000)
	require.NoError(r.t, err)
	return evs
}

func (r *rig) lastEvent() store.ScaleEvent {
	evs := r.events()
	require.NotEmpty(r.t, evs)
	return evs[len(evs)-1]
}

func (r *rig) waitState(id string, state nodemodel.State) {
	r.t.Helper()
	require.Eventually(r.t, func() bool {
		n, err := r.st.GetNode(r.ctx, id)
		if err != nil || n.State != state {
			return false
		}
		// the registry's memory follows the store a moment later (and forgets terminated nodes): the next
		// tick reads the registry
		m, ok := r.reg.Node(id)
		return m.State == state || !ok && state == nodemodel.StateTerminated
	}, 5*time.Second, 5*time.Millisecond, "node %s never became %s", id, state)
}

func TestLoopLifecycle(t *testing.T) {
	r := newRig(t, rigOptions{edgeMin: 1, edgeMax: 3, edgeCapacity: 10, bootTime: 5 * time.Second})

	// a new group is brought to its minimum
	r.tick()
	require.Len(t, r.members("origin", nodemodel.StatePending), 1)
	require.Len(t, r.members("edge", nodemodel.StatePending), 1)
	require.Equal(t, 2, r.cloud.Counts().Launched)
	evs := r.events()
	require.Len(t, evs, 2)
	for _, e := range evs {
		require.Equal(t, "minimum", e.Action)
		require.Contains(t, e.Reason, "0 < 1 nodes, +1 → 1 nodes")
	}
	r.tick()
	require.Equal(t, 2, r.cloud.Counts().Launched, "pending nodes count: no second launch")

	// instances boot → running; registered and reported → in service
	r.clock.Advance(5 * time.Second)
	r.tick()
	require.Len(t, r.members("edge", nodemodel.StateRunning), 1)
	r.join()
	edge1 := r.members("edge", nodemodel.StateInService)
	require.Len(t, edge1, 1)
	require.Len(t, r.members("origin", nodemodel.StateInService), 1)

	// load 80 % > 60 % → one more edge
	r.conns[edge1[0]] = 8
	r.step(2 * time.Second)
	ev := r.lastEvent()
	require.Equal(t, "scale-out", ev.Action)
	require.Equal(t, "scale-out edge: load 80 % > 60 %, +1 → 2 nodes", ev.Reason)
	require.InDelta(t, 80, ev.Load, 0.01)
	require.Len(t, r.members("edge", ""), 2)
	require.Contains(t, r.logs.String(), "scale-out edge: load 80 % > 60 %, +1 → 2 nodes")

	// further alarms are ignored while the new edge warms up
	r.step(2 * time.Second)
	r.step(2 * time.Second)
	require.Len(t, r.members("edge", ""), 2)
	require.Contains(t, r.logs.String(), "scale-out edge ignored during warm-up")

	// the new edge boots and enters service: load 40 %, steady
	r.clock.Advance(5 * time.Second)
	r.tick()
	r.join()
	edges := r.members("edge", nodemodel.StateInService)
	require.Len(t, edges, 2)
	r.step(2 * time.Second)
	require.Len(t, r.members("edge", ""), 2)

	// the audience leaves: after the cool-down the least-loaded edge drains
	r.conns[edge1[0]] = 1
	r.step(2 * time.Second)
	require.Contains(t, r.logs.String(), "scale-in edge pending")
	for range 40 {
		if r.step(2 * time.Second); r.lastEvent().Action == "scale-in" {
			break
		}
	}
	ev = r.lastEvent()
	require.Equal(t, "scale-in", ev.Action, ev.Reason)
	drained := ev.Nodes[0]
	require.NotEqual(t, edge1[0], drained, "the least-loaded edge drains")
	require.Len(t, r.members("edge", nodemodel.StateDraining), 1)
	n, _ := r.reg.Node(drained)
	require.Equal(t, nodemodel.StateDraining, n.State)

	// its next report shows no viewer: it is terminated
	r.step(2 * time.Second)
	r.waitState(drained, nodemodel.StateTerminated)
	require.Equal(t, "drained", r.lastEvent().Action)
	inst, ok := r.cloud.Get(drained)
	require.True(t, ok)
	require.Equal(t, nodemodel.StateTerminated, inst.State)

	// the cloud loses the last edge: it is replaced
	require.NoError(t, r.cloud.Kill(edge1[0]))
	r.step(2 * time.Second)
	ev = r.lastEvent()
	require.Equal(t, "replace", ev.Action)
	require.Contains(t, ev.Reason, "replace dead edge: "+edge1[0])
	require.Len(t, r.members("edge", nodemodel.StatePending), 1)
	nodeEvents, err := r.st.NodeEvents(r.ctx, edge1[0], 10)
	require.NoError(t, err)
	require.Contains(t, nodeEvents[len(nodeEvents)-1].Cause, "the cloud reports the instance gone: killed")
}

// TestRollingUpgrade: a launch configuration's new nagare.version replaces every node of the group one step
// at a time — a new node launched and in service before an old one drains, the old one terminated once its
// viewers left — and the origin, at its maximum of one, is replaced in place.
func TestRollingUpgrade(t *testing.T) {
	r := newRig(t, rigOptions{edgeMin: 2, edgeMax: 3, edgeCapacity: 10})
	r.tick()
	r.tick()
	r.join()
	olds := r.members("edge", nodemodel.StateInService)
	require.Len(t, olds, 2)
	for _, id := range olds {
		r.conns[id] = 2
	}
	r.step(2 * time.Second)
	require.Equal(t, "minimum", r.lastEvent().Action, "nothing to upgrade yet")

	lc, err := r.st.GetLaunchConfig(r.ctx, "lc")
	require.NoError(t, err)
	lc.Properties = append(lc.Properties, store.KV{Key: autoscaler.VersionProperty, Value: "2.0.0"})
	_, err = r.st.UpdateLaunchConfig(r.ctx, lc)
	require.NoError(t, err)
	r.version = "2.0.0"

	var inService []int // edges in service at each step
	for range 40 {
		r.step(2 * time.Second)
		r.join()
		for _, m := range r.reg.Members("g") {
			if m.State == nodemodel.StateDraining {
				r.conns[m.ID] = 0 // its viewers were steered away
			}
		}
		inService = append(inService, len(r.members("edge", nodemodel.StateInService)))
		done := true
		for _, m := range r.reg.Members("g") {
			if m.State != nodemodel.StateTerminated && m.Version != "2.0.0" {
				done = false
			}
		}
		if done {
			break
		}
	}
	for _, m := range r.reg.Members("g") {
		if m.State != nodemodel.StateTerminated {
			require.Equal(t, "2.0.0", m.Version, "node %s (%s) was not upgraded", m.ID, m.State)
		}
	}
	require.Len(t, r.members("edge", nodemodel.StateInService), 2)
	require.Len(t, r.members("origin", nodemodel.StateInService), 1)
	require.GreaterOrEqual(t, slices.Min(inService), 2, "edges in service never fell below the two there were: %v", inService)

	var upgrades, drained []string
	for _, e := range r.events() {
		switch e.Action {
		case "rolling-upgrade":
			upgrades = append(upgrades, e.Reason)
		case "drained":
			drained = append(drained, e.Nodes...)
		}
	}
	t.Logf("rolling upgrade events: %q", upgrades)
	for _, id := range olds {
		require.Contains(t, drained, id, "old edge %s was not drained", id)
	}
	require.Contains(t, upgrades, "rolling upgrade edge: 2 of 2 node(s) outdated, +1 ahead of draining them")
	require.Contains(t, strings.Join(upgrades, "\n"), "rolling upgrade origin at max 1 nodes: drain")
}

func TestSilentNodeIsReplaced(t *testing.T) {
	r := newRig(t, rigOptions{edgeMin: 2, edgeMax: 2, edgeCapacity: 10})
	r.tick()
	r.tick()
	r.join()
	edges := r.members("edge", nodemodel.StateInService)
	require.Len(t, edges, 2)
	// edges[0] stops reporting; the others go on
	for range 6 {
		r.clock.Advance(2 * time.Second)
		for _, m := range r.reg.Members("g") {
			if m.State == nodemodel.StateInService && m.ID != edges[0] {
				r.report(m.ID)
			}
		}
		r.reg.ReapSilent(r.ctx)
		r.tick()
	}
	ev := r.lastEvent()
	require.Equal(t, "replace", ev.Action)
	require.Equal(t, "replace dead edge: "+edges[0], ev.Reason)
	require.Len(t, r.members("edge", ""), 2, "one survivor and one replacement, not two")
}

func TestPredictiveScaleOut(t *testing.T) {
	r := newRig(t, rigOptions{edgeMin: 1, edgeMax: 3, edgeCapacity: 100, predictive: true})
	r.tick()
	r.tick()
	r.join()
	edge := r.members("edge", nodemodel.StateInService)[0]
	for i := range 10 {
		r.conns[edge] = 10 + 4*i // +2 % a second: 30 s of warm-up adds 60 %
		r.step(2 * time.Second)
		if len(r.members("edge", "")) > 1 {
			break
		}
	}
	ev := r.lastEvent()
	require.Equal(t, "scale-out", ev.Action)
	require.Contains(t, ev.Reason, "scale-out edge: predicted load")
	require.Less(t, ev.Load, 60.0, "it fired before the measured load crossed the threshold")
	require.Greater(t, ev.Predicted, 60.0)
}

func TestUnservedViewersScaleOut(t *testing.T) {
	r := newRig(t, rigOptions{edgeMin: 1, edgeMax: 2, edgeCapacity: 1})
	r.tick()
	r.tick()
	r.join()
	// threshold 100 %: one viewer on a capacity-1 edge is not an alarm, a second one that finds no room is
	require.NoError(t, r.st.SetAlarmThreshold(r.ctx, "edge", 100))
	edge := r.members("edge", nodemodel.StateInService)[0]
	r.conns[edge] = 1
	r.step(2 * time.Second)
	require.Len(t, r.members("edge", ""), 1)
	require.True(t, r.loop.Unserved("", "edge"), "an edge can still be launched")
	r.step(2 * time.Second)
	ev := r.lastEvent()
	require.Equal(t, "scale-out", ev.Action)
	require.Equal(t, "scale-out edge: load 200 % > 100 %, +1 → 2 nodes", ev.Reason)
	require.True(t, r.loop.Unserved("g", "edge"), "the new edge is on its way: the viewer may wait for it")
	r.join()
	r.step(2 * time.Second)
	require.False(t, r.loop.Unserved("g", "edge"), "at max with every edge in service: nothing more is coming")
}

func TestLaunchThroughAPI(t *testing.T) {
	r := newRig(t, rigOptions{edgeMin: 0, edgeMax: 2, edgeCapacity: 10})
	n, err := r.loop.Launch(r.ctx, "g", "edge")
	require.NoError(t, err)
	require.Equal(t, nodemodel.StateRunning, n.State, "the simulated instance runs at once")
	require.Equal(t, "launch", r.lastEvent().Action)
	// the origin's minimum is launched by the loop; asking for one more at max answers with that one
	r.tick()
	origin := r.members("origin", "")
	require.Len(t, origin, 1)
	n, err = r.loop.Launch(r.ctx, "g", "origin")
	require.NoError(t, err)
	require.Equal(t, origin[0], n.ID)
	_, err = r.loop.Launch(r.ctx, "g", "edge")
	require.NoError(t, err)
	r.join()
	_, err = r.loop.Launch(r.ctx, "g", "edge")
	require.ErrorIs(t, err, autoscaler.ErrAtMax, "every edge is in service: nothing to hand back")
	_, err = r.loop.Launch(r.ctx, "g", "relay")
	require.ErrorIs(t, err, autoscaler.ErrInvalidInput)
	_, err = r.loop.Launch(r.ctx, "nope", "edge")
	require.ErrorIs(t, err, store.ErrNotFound)
}

func TestLeaseKeepsOneManagerActing(t *testing.T) {
	r := newRig(t, rigOptions{edgeMin: 1, edgeMax: 2, edgeCapacity: 10})
	other := r.newLoop("manager-2", false)
	r.tick()
	require.NoError(t, other.Tick(r.ctx))
	require.Equal(t, 2, r.cloud.Counts().Launched, "the second manager does not launch the minimum again")
	for _, e := range r.events() {
		require.Equal(t, "manager-1", e.Manager)
	}
	// manager-1 stops; once its lease expires manager-2 takes over and replaces a lost node
	r.clock.Advance(16 * time.Second)
	r.tick2(other)
	id := r.members("edge", "")[0]
	require.NoError(t, r.cloud.Kill(id))
	r.tick2(other)
	ev := r.lastEvent()
	require.Equal(t, "manager-2", ev.Manager)
	require.Equal(t, "replace", ev.Action)
}

func (r *rig) tick2(l *autoscaler.Loop) {
	r.t.Helper()
	require.NoError(r.t, l.Tick(r.ctx))
}

func TestDrainDeadline(t *testing.T) {
	r := newRig(t, rigOptions{edgeMin: 1, edgeMax: 2, edgeCapacity: 10})
	r.tick()
	r.tick()
	r.join()
	id := r.members("edge", nodemodel.StateInService)[0]
	r.conns[id] = 3
	_, err := r.reg.Transition(r.ctx, id, nodemodel.StateDraining, "drained through the API")
	require.NoError(t, err)
	r.step(2 * time.Second)
	n, _ := r.reg.Node(id)
	require.Equal(t, nodemodel.StateDraining, n.State, "viewers are not cut off before the deadline")
	r.step(5 * time.Minute)
	r.waitState(id, nodemodel.StateTerminated)
	ev := r.events()
	require.True(t, slices.ContainsFunc(ev, func(e store.ScaleEvent) bool {
		return e.Action == "drain-deadline" && strings.Contains(e.Reason, "with 3 connections")
	}), "%v", ev)
}

// BenchmarkTick measures one autoscaler round over 1,000 in-service simulated nodes.
func BenchmarkTick(b *testing.B) {
	const nodes = 1000
	r := newRig(b, rigOptions{edgeMin: nodes - 1, edgeMax: nodes + 100, edgeCapacity: 1000, nodes: 1})
	r.tick()
	r.join()
	require.Len(b, r.members("edge", nodemodel.StateInService), nodes-1)
	for i, id := range r.members("edge", "") {
		r.conns[id] = 100 + i%50
	}
	r.step(2 * time.Second)
	b.ResetTimer()
	for range b.N {
		if err := r.loop.Tick(r.ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(nodes), "nodes")
	_ = fmt.Sprint()
}

func TestWrongVersionIsTerminatedAndReplaced(t *testing.T) {
	r := newRig(t, rigOptions{edgeMin: 1, edgeMax: 2, edgeCapacity: 10})
	r.reg.Admit = func(_ context.Context, n store.Node) error {
		if n.Version != "dev" {
			return fmt.Errorf("%w: it runs version %q, launch configuration lc expects %q", cluster.ErrRejected, n.Version, "dev")
		}
		return nil
	}
	r.tick()
	r.tick()
	edge := r.members("edge", nodemodel.StateRunning)[0]
	_, err := r.reg.Register(r.ctx, nodeapi.RegisterRequest{ID: edge, Role: "edge", Version: "0.9.0", Group: "g"})
	require.NoError(t, err)
	res, err := r.reg.Report(r.ctx, nodeapi.ReportRequest{ID: edge})
	require.NoError(t, err)
	require.Equal(t, nodemodel.StateRunning, res.Assignment.State, "the report is answered before the admission check")
	require.Eventually(t, func() bool {
		n, _ := r.reg.Node(edge)
		return n.State == nodemodel.StateTerminating
	}, 5*time.Second, 5*time.Millisecond, "the check runs beside the report")
	r.clock.Advance(2 * time.Second)
	res, err = r.reg.Report(r.ctx, nodeapi.ReportRequest{ID: edge})
	require.NoError(t, err)
	require.Equal(t, nodemodel.StateTerminating, res.Assignment.State, "a node with the wrong version never enters service")
	r.tick()
	r.waitState(edge, nodemodel.StateTerminated)
	evs, err := r.st.NodeEvents(r.ctx, edge, 10)
	require.NoError(t, err)
	require.Contains(t, evs[len(evs)-2].Cause, `rejected: node rejected: it runs version "0.9.0"`)
	actions := []string{}
	for _, e := range r.events() {
		actions = append(actions, e.Action)
	}
	require.Contains(t, actions, "rejected")
	require.Equal(t, "replace", r.lastEvent().Action)
	require.Len(t, r.members("edge", ""), 1, "a replacement is on its way")
	require.NotEqual(t, edge, r.members("edge", "")[0])
}

func TestDeleteGroupTerminatesItsNodes(t *testing.T) {
	r := newRig(t, rigOptions{edgeMin: 2, edgeMax: 2, edgeCapacity: 10})
	r.tick()
	r.join()
	nodes := append(r.members("edge", ""), r.members("origin", "")...)
	require.Len(t, nodes, 3)
	ids, err := r.loop.DeleteGroup(r.ctx, "g")
	require.NoError(t, err)
	require.ElementsMatch(t, nodes, ids)
	for _, id := range ids {
		r.waitState(id, nodemodel.StateTerminated)
	}
	r.tick()
	_, err = r.st.GetGroup(r.ctx, "g")
	require.ErrorIs(t, err, store.ErrNotFound, "the group goes with its last node")
	require.Equal(t, 3, r.cloud.Counts().Launched, "nothing relaunched")
	_, err = r.loop.DeleteGroup(r.ctx, "g")
	require.ErrorIs(t, err, store.ErrNotFound)
}

// TestGroupDeletionSurvivesManagers: a deletion asked of a manager that does not hold the group's lease
// is carried out by the one that does, and by a restarted manager.
func TestGroupDeletionSurvivesManagers(t *testing.T) {
	r := newRig(t, rigOptions{edgeMin: 1, edgeMax: 2, edgeCapacity: 10})
	r.tick()
	r.join()
	other := r.newLoop("manager-2", false)
	ids, err := other.DeleteGroup(r.ctx, "g")
	require.NoError(t, err)
	require.Len(t, ids, 2)
	_, err = r.loop.Launch(r.ctx, "g", "edge")
	require.ErrorIs(t, err, store.ErrInUse, "nothing is launched for a group being deleted")

	restarted := r.newLoop("manager-1", false) // the lease holder, after a restart
	require.NoError(t, restarted.Tick(r.ctx))
	for _, id := range ids {
		r.waitState(id, nodemodel.StateTerminated)
	}
	require.NoError(t, restarted.Tick(r.ctx))
	_, err = r.st.GetGroup(r.ctx, "g")
	require.ErrorIs(t, err, store.ErrNotFound)
	require.Equal(t, 2, r.cloud.Counts().Launched)
}
