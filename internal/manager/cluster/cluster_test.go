package cluster_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/manager/cluster"
	"github.com/nagare-video/nagare/internal/manager/store"
	"github.com/nagare-video/nagare/internal/nodeapi"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

func TestCanTransition(t *testing.T) {
	cases := []struct {
		from, to nodemodel.State
		ok       bool
	}{
		{nodemodel.StatePending, nodemodel.StateRunning, true},
		{nodemodel.StatePending, nodemodel.StateInService, false},
		{nodemodel.StateRunning, nodemodel.StateInService, true},
		{nodemodel.StateInService, nodemodel.StateDraining, true},
		{nodemodel.StateDraining, nodemodel.StateInService, true},
		{nodemodel.StateDraining, nodemodel.StateTerminating, true},
		{nodemodel.StateTerminating, nodemodel.StateInService, false},
		{nodemodel.StateTerminating, nodemodel.StateTerminated, true},
		{nodemodel.StateTerminated, nodemodel.StateRunning, true},
		{nodemodel.StateTerminated, nodemodel.StateInService, false},
		{nodemodel.StateInService, nodemodel.StatePending, false},
	}
	for _, tc := range cases {
		require.Equal(t, tc.ok, cluster.CanTransition(tc.from, tc.to), "%s → %s", tc.from, tc.to)
	}
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newRegistry(t *testing.T) (*cluster.Registry, *store.SQL, *clock) {
	t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, store.SQLite, filepath.Join(t.TempDir(), "m.db"))
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	_, err = s.Migrate(ctx)
	require.NoError(t, err)
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s.Now = c.Now
	r := &cluster.Registry{Store: s, Log: slog.New(slog.DiscardHandler), ReportInterval: 2 * time.Second,
		NodeTimeout: 10 * time.Second, PersistEvery: 10 * time.Second, Now: c.Now}
	require.NoError(t, r.Load(ctx))
	return r, s, c
}

// newGroup makes group g with an edge policy (min 1, max 2) and a launch configuration of target.
func newGroup(t *testing.T, s *store.SQL, target store.LaunchTarget) {
	t.Helper()
	ctx := context.Background()
	_, err := s.CreatePolicy(ctx, store.ScalePolicy{Name: "p", Targets: []store.RoleLimits{{Role: "edge", MinLimit: 1, MaxLimit: 2, ScaleAdjustment: 1}}})
	require.NoError(t, err)
	_, err = s.CreateLaunchConfig(ctx, store.LaunchConfig{Name: "lc", Targets: []store.LaunchTarget{target}})
	require.NoError(t, err)
	_, err = s.CreateGroup(ctx, store.NodeGroup{Name: "g", LaunchConfig: "lc", ScalePolicy: "p"})
	require.NoError(t, err)
}

func TestRegisterReportLifecycle(t *testing.T) {
	ctx := context.Background()
	r, s, c := newRegistry(t)
	newGroup(t, s, store.LaunchTarget{Role: "origin", ConnectionCapacity: 500})

	_, err := r.Register(ctx, nodeapi.RegisterRequest{Role: "origin", Group: "missing"})
	require.ErrorIs(t, err, nodeapi.ErrInvalid)

	reg, err := r.Register(ctx, nodeapi.RegisterRequest{Role: "origin", Group: "g", Version: "v1",
		Addresses: nodemodel.Addresses{RTMP: "127.0.0.1:1935", HTTP: "127.0.0.1:8080"}})
	require.NoError(t, err)
	require.NotEmpty(t, reg.ID)
	require.Equal(t, nodemodel.StateRunning, reg.Assignment.State)
	require.Equal(t, 2000, reg.ReportIntervalMS)
	n, _ := r.Node(reg.ID)
	require.Equal(t, 500, n.Capacity, "capacity from the group's launch config")

	c.Add(2 * time.Second)
	rep, err := r.Report(ctx, nodeapi.ReportRequest{ID: reg.ID, Stats: nodemodel.Load{Connections: 3, Publishers: 1, Subscribers: 2},
		Streams: []nodemodel.StreamLoad{{Name: "live/a", Protocol: "rtmp"}}})
	require.NoError(t, err)
	require.Equal(t, nodemodel.StateInService, rep.Assignment.State)
	rec, err := s.GetStream(ctx, "live/a")
	require.NoError(t, err)
	require.Equal(t, reg.ID, rec.NodeID)

	// a report flood is refused
	c.Add(100 * time.Millisecond)
	_, err = r.Report(ctx, nodeapi.ReportRequest{ID: reg.ID})
	require.ErrorIs(t, err, nodeapi.ErrTooManyReports)

	// the stream list of a report is the truth: live/a ended
	c.Add(2 * time.Second)
	_, err = r.Report(ctx, nodeapi.ReportRequest{ID: reg.ID})
	require.NoError(t, err)
	_, err = s.GetStream(ctx, "live/a")
	require.ErrorIs(t, err, store.ErrNotFound)

	_, err = r.Report(ctx, nodeapi.ReportRequest{ID: "ghost"})
	require.ErrorIs(t, err, nodeapi.ErrUnknownNode)

	// draining shows in the assignment
	_, err = r.Transition(ctx, reg.ID, nodemodel.StateDraining, "scale-in")
	require.NoError(t, err)
	c.Add(2 * time.Second)
	rep, err = r.Report(ctx, nodeapi.ReportRequest{ID: reg.ID})
	require.NoError(t, err)
	require.True(t, rep.Assignment.Drain)
	_, err = r.Transition(ctx, reg.ID, nodemodel.StatePending, "nonsense")
	var te *cluster.ErrTransition
	require.ErrorAs(t, err, &te)

	evs, err := s.NodeEvents(ctx, reg.ID, 10)
	require.NoError(t, err)
	var causes []string
	for _, e := range evs {
		causes = append(causes, string(e.To)+": "+e.Cause)
	}
	require.Equal(t, []string{"running: registered", "inservice: first load report", "draining: scale-in"}, causes)
}

func TestSilentNodeIsMarkedDeadAndCanReturn(t *testing.T) {
	ctx := context.Background()
	r, s, c := newRegistry(t)
	reg, err := r.Register(ctx, nodeapi.RegisterRequest{Role: "edge"})
	require.NoError(t, err)
	_, err = r.Report(ctx, nodeapi.ReportRequest{ID: reg.ID})
	require.NoError(t, err)
	require.Len(t, r.FreshSnapshot().Nodes, 1)

	c.Add(11 * time.Second)
	r.ReapSilent(ctx)
	n, err := s.GetNode(ctx, reg.ID)
	require.NoError(t, err)
	require.Equal(t, nodemodel.StateTerminated, n.State)
	c.Add(time.Second)
	require.Empty(t, r.FreshSnapshot().Nodes)
	_, err = r.Report(ctx, nodeapi.ReportRequest{ID: reg.ID})
	require.ErrorIs(t, err, nodeapi.ErrUnknownNode, "a dead node must register again")

	again, err := r.Register(ctx, nodeapi.RegisterRequest{ID: reg.ID, Role: "edge"})
	require.NoError(t, err)
	require.Equal(t, reg.ID, again.ID)
	require.Equal(t, nodemodel.StateRunning, again.Assignment.State)
}

// TestRestartKeepsNodes: a new registry over the same store knows the nodes and streams.
func TestRestartKeepsNodes(t *testing.T) {
	ctx := context.Background()
	r, s, c := newRegistry(t)
	reg, err := r.Register(ctx, nodeapi.RegisterRequest{Role: "origin"})
	require.NoError(t, err)
	require.NoError(t, r.StreamEvent(ctx, nodeapi.StreamEvent{ID: reg.ID, Stream: "live/x", Action: nodeapi.ActionPublish, Protocol: "srt"}))

	r2 := &cluster.Registry{Store: s, Log: slog.New(slog.DiscardHandler), ReportInterval: 2 * time.Second,
		NodeTimeout: 10 * time.Second, Now: c.Now}
	require.NoError(t, r2.Load(ctx))
	n, ok := r2.Node(reg.ID)
	require.True(t, ok)
	require.Equal(t, nodemodel.StateRunning, n.State)
	snap := r2.FreshSnapshot()
	require.Len(t, snap.Nodes, 1)
	require.Equal(t, []string{"live/x"}, snap.Nodes[0].LiveStreams)
}

// TestParentAssignment: edges get a relay of their group (else its origin), keep a parent while it is in
// service, and move when it dies.
func TestParentAssignment(t *testing.T) {
	ctx := context.Background()
	r, s, c := newRegistry(t)
	_, err := s.CreatePolicy(ctx, store.ScalePolicy{Name: "p", Targets: []store.RoleLimits{{Role: "edge", MinLimit: 1, MaxLimit: 2, ScaleAdjustment: 1}}})
	require.NoError(t, err)
	_, err = s.CreateLaunchConfig(ctx, store.LaunchConfig{Name: "lc", Targets: []store.LaunchTarget{{Role: "edge", ConnectionCapacity: 10}}})
	require.NoError(t, err)
	for _, g := range []string{"g", "other"} {
		_, err = s.CreateGroup(ctx, store.NodeGroup{Name: g, LaunchConfig: "lc", ScalePolicy: "p"})
		require.NoError(t, err)
	}
	join := func(id, role, group, http string) {
		t.Helper()
		_, err := r.Register(ctx, nodeapi.RegisterRequest{ID: id, Role: nodemodel.Role(role), Group: group, Addresses: nodemodel.Addresses{HTTP: http}})
		require.NoError(t, err)
		_, err = r.Report(ctx, nodeapi.ReportRequest{ID: id})
		require.NoError(t, err)
	}
	report := func(id string) nodeapi.Assignment {
		t.Helper()
		res, err := r.Report(ctx, nodeapi.ReportRequest{ID: id})
		require.NoError(t, err)
		return res.Assignment
	}
	join("origin-other", "origin", "other", "10.0.9.1:8080")
	join("edge-1", "edge", "g", "10.0.0.2:8080")
	n0, _ := r.Node("edge-1")
	require.Empty(t, n0.Parent, "no parent in the group yet; another group's origin is not one")

	join("origin-1", "origin", "g", "10.0.0.1:8080")
	c.Add(2 * time.Second)
	require.Equal(t, "http://10.0.0.1:8080", report("edge-1").Parent)

	join("relay-1", "relay", "g", "10.0.0.3:8080")
	c.Add(2 * time.Second)
	require.Equal(t, "http://10.0.0.1:8080", report("edge-1").Parent, "a working parent is kept")
	require.Equal(t, "http://10.0.0.1:8080", report("relay-1").Parent)

	// the origin falls silent and is marked dead: the edge moves to the relay
	c.Add(11 * time.Second)
	_, err = r.Report(ctx, nodeapi.ReportRequest{ID: "relay-1"})
	require.NoError(t, err)
	_, err = r.Report(ctx, nodeapi.ReportRequest{ID: "edge-1"})
	require.NoError(t, err)
	c.Add(time.Second)
	_, err = r.Transition(ctx, "origin-1", nodemodel.StateTerminated, "test: dead")
	require.NoError(t, err)
	c.Add(2 * time.Second)
	require.Equal(t, "http://10.0.0.3:8080", report("edge-1").Parent)
	n, err := s.GetNode(ctx, "edge-1")
	require.NoError(t, err)
	require.Equal(t, "http://10.0.0.3:8080", n.Parent, "the parent is stored")
}

// TestReturningNodeIsNotReapedAtOnce: a node that registers again after being marked dead (or after a
// manager restart) gets a full node timeout to report, not a verdict based on its old report time.
func TestReturningNodeIsNotReapedAtOnce(t *testing.T) {
	ctx := context.Background()
	r, s, c := newRegistry(t)
	reg, err := r.Register(ctx, nodeapi.RegisterRequest{ID: "e1", Role: "edge"})
	require.NoError(t, err)
	_, err = r.Report(ctx, nodeapi.ReportRequest{ID: reg.ID})
	require.NoError(t, err)
	c.Add(11 * time.Second)
	r.ReapSilent(ctx)
	n, _ := s.GetNode(ctx, "e1")
	require.Equal(t, nodemodel.StateTerminated, n.State)

	_, err = r.Register(ctx, nodeapi.RegisterRequest{ID: "e1", Role: "edge"})
	require.NoError(t, err)
	c.Add(100 * time.Millisecond)
	r.ReapSilent(ctx)
	n, _ = s.GetNode(ctx, "e1")
	require.Equal(t, nodemodel.StateRunning, n.State, "reaped on the report time from before it died")

	// a manager restart: the loaded nodes get a grace period too
	r2 := &cluster.Registry{Store: s, Log: slog.New(slog.DiscardHandler), ReportInterval: 2 * time.Second,
		NodeTimeout: 10 * time.Second, Now: c.Now}
	c.Add(time.Hour)
	require.NoError(t, r2.Load(ctx))
	r2.ReapSilent(ctx)
	n, _ = s.GetNode(ctx, "e1")
	require.Equal(t, nodemodel.StateRunning, n.State, "a restarted manager reaped every node at once")
}

// TestReportRacingAPublishKeepsTheStream: a report gathered just before a publish event, processed
// just after it, does not drop the new stream; a later report without it does.
func TestReportRacingAPublishKeepsTheStream(t *testing.T) {
	ctx := context.Background()
	r, s, c := newRegistry(t)
	_, err := r.Register(ctx, nodeapi.RegisterRequest{ID: "o1", Role: "origin"})
	require.NoError(t, err)
	_, err = r.Report(ctx, nodeapi.ReportRequest{ID: "o1"})
	require.NoError(t, err)
	require.NoError(t, r.StreamEvent(ctx, nodeapi.StreamEvent{ID: "o1", Stream: "live/new", Action: nodeapi.ActionPublish, Protocol: "rtmp"}))
	c.Add(1500 * time.Millisecond)
	_, err = r.Report(ctx, nodeapi.ReportRequest{ID: "o1"}) // gathered before the publish
	require.NoError(t, err)
	_, err = s.GetStream(ctx, "live/new")
	require.NoError(t, err, "a stale report dropped a stream published a moment ago")
	c.Add(2 * time.Second)
	_, err = r.Report(ctx, nodeapi.ReportRequest{ID: "o1"})
	require.NoError(t, err)
	_, err = s.GetStream(ctx, "live/new")
	require.ErrorIs(t, err, store.ErrNotFound)
}

// TestSharedStore: two managers on one store, a node reporting to the first only. The second learns of it,
// its load and its streams, and does not find it dead; when it stops reporting, both do.
func TestSharedStore(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "shared.db")
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	open := func() *cluster.Registry {
		s, err := store.Open(ctx, store.SQLite, path)
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		_, err = s.Migrate(ctx)
		require.NoError(t, err)
		s.Now = c.Now
		r := &cluster.Registry{Store: s, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), ReportInterval: 2 * time.Second,
			NodeTimeout: 10 * time.Second, PersistEvery: 0, SyncEvery: 2 * time.Second, Now: c.Now}
		require.NoError(t, r.Load(ctx))
		return r
	}
	a, b := open(), open()
	res, err := a.Register(ctx, nodeapi.RegisterRequest{Role: "origin", Version: "v1", Addresses: nodemodel.Addresses{HTTP: "10.0.0.1:8080"}})
	require.NoError(t, err)
	id := res.ID
	report := func(conns int) {
		_, err := a.Report(ctx, nodeapi.ReportRequest{ID: id, Stats: nodemodel.Load{Connections: conns},
			Streams: []nodemodel.StreamLoad{{Name: "live/cam", Protocol: "rtmp"}}})
		require.NoError(t, err)
	}
	report(3)
	require.NoError(t, b.Sync(ctx))
	n, ok := b.Node(id)
	require.True(t, ok, "the second manager learns of a node registered with the first")
	require.Equal(t, nodemodel.StateInService, n.State)
	require.Equal(t, 3, n.Stats.Connections)
	require.Equal(t, []string{"live/cam"}, b.Snapshot().Nodes[0].LiveStreams)

	for range 10 { // 20 s of reports to a only
		c.Add(2 * time.Second)
		report(5)
		require.NoError(t, b.Sync(ctx))
		b.ReapSilent(ctx)
		a.ReapSilent(ctx)
	}
	n, _ = b.Node(id)
	require.Equal(t, nodemodel.StateInService, n.State, "not dead: it reports, to the other manager")
	require.Equal(t, 5, n.Stats.Connections)

	c.Add(11 * time.Second) // it stops reporting
	require.NoError(t, b.Sync(ctx))
	b.ReapSilent(ctx)
	a.ReapSilent(ctx)
	require.NoError(t, a.Sync(ctx))
	require.Empty(t, a.Nodes(""))
	require.Empty(t, b.Nodes(""))
}

// slowList is a store whose node list is read just before a change made here: Sync must not undo it.
type slowList struct {
	*store.SQL
	after func()
}

func (s *slowList) ListNodes(ctx context.Context, f store.NodeFilter) ([]store.Node, error) {
	nodes, err := s.SQL.ListNodes(ctx, f)
	if s.after != nil {
		s.after()
		s.after = nil
	}
	return nodes, err
}

// TestSyncNeverUndoesANewerChange: a node set draining, or terminated, by this manager between the moment
// Sync read the store and the moment it merges what it read keeps its new state; one registered meanwhile
// is kept.
func TestSyncNeverUndoesANewerChange(t *testing.T) {
	ctx := context.Background()
	r, s, c := newRegistry(t)
	newGroup(t, s, store.LaunchTarget{Role: "edge", ConnectionCapacity: 10})
	var ids []string
	for range 2 {
		reg, err := r.Register(ctx, nodeapi.RegisterRequest{Role: "edge", Group: "g", Version: "v1",
			Addresses: nodemodel.Addresses{HTTP: "127.0.0.1:8080"}})
		require.NoError(t, err)
		_, err = r.Report(ctx, nodeapi.ReportRequest{ID: reg.ID})
		require.NoError(t, err)
		ids = append(ids, reg.ID)
	}
	slow := &slowList{SQL: s}
	r.Store = slow
	var late string
	slow.after = func() {
		_, err := r.Transition(ctx, ids[0], nodemodel.StateDraining, "scale-in")
		require.NoError(t, err)
		_, err = r.Transition(ctx, ids[1], nodemodel.StateTerminating, "group deleted")
		require.NoError(t, err)
		_, err = r.Transition(ctx, ids[1], nodemodel.StateTerminated, "terminated")
		require.NoError(t, err)
		reg, err := r.Register(ctx, nodeapi.RegisterRequest{Role: "edge", Group: "g", Version: "v1",
			Addresses: nodemodel.Addresses{HTTP: "127.0.0.1:8081"}})
		require.NoError(t, err)
		late = reg.ID
	}
	c.Add(2 * time.Second)
	require.NoError(t, r.Sync(ctx))
	n, ok := r.Node(ids[0])
	require.True(t, ok)
	require.Equal(t, nodemodel.StateDraining, n.State, "the draining node would get new viewers")
	_, ok = r.Node(ids[1])
	require.False(t, ok, "a terminated node comes back as a ghost")
	_, ok = r.Node(late)
	require.True(t, ok, "a node registered meanwhile is forgotten")

	// the next Sync reads the store after those changes and agrees with them
	require.NoError(t, r.Sync(ctx))
	n, _ = r.Node(ids[0])
	require.Equal(t, nodemodel.StateDraining, n.State)
	_, ok = r.Node(ids[1])
	require.False(t, ok)
}
