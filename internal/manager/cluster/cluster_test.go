package cluster_test

import (
	"context"
	"errors"
	"fmt"
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
	_, err = r.Parent(ctx, nodeapi.ParentRequest{ID: "edge-1"})
	require.ErrorIs(t, err, nodeapi.ErrUnavailable, "an edge asking at once gets none either")

	join("origin-1", "origin", "g", "10.0.0.1:8080")
	// asked at once, before the edge's next report, the parent is given and stored
	p, err := r.Parent(ctx, nodeapi.ParentRequest{ID: "edge-1"})
	require.NoError(t, err)
	require.Equal(t, "http://10.0.0.1:8080", p.Parent)
	n1, err := s.GetNode(ctx, "edge-1")
	require.NoError(t, err)
	require.Equal(t, "http://10.0.0.1:8080", n1.Parent, "the parent asked for is stored")
	_, err = r.Parent(ctx, nodeapi.ParentRequest{ID: "origin-1"})
	require.ErrorIs(t, err, nodeapi.ErrInvalid, "an origin has no parent")
	c.Add(2 * time.Second)
	require.Equal(t, "http://10.0.0.1:8080", report("edge-1").Parent, "the next report keeps it")

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

// TestSharedStoreBatchedReports: with FlushEvery, a manager writes the reports it gathered together. The
// other manager sharing the store sees a node's new load once they are flushed, its state change at once;
// a flush the store refuses loses nothing (the reports are written by the next one), and the reports
// still waiting are written when Run returns.
func TestSharedStoreBatchedReports(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "shared.db")
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	open := func() (*cluster.Registry, *store.SQL) {
		s, err := store.Open(ctx, store.SQLite, path)
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		_, err = s.Migrate(ctx)
		require.NoError(t, err)
		s.Now = c.Now
		r := &cluster.Registry{Store: s, Log: slog.New(slog.DiscardHandler), ReportInterval: 2 * time.Second,
			NodeTimeout: 10 * time.Second, PersistEvery: 0, SyncEvery: 2 * time.Second, FlushEvery: 500 * time.Millisecond, Now: c.Now}
		require.NoError(t, r.Load(ctx))
		return r, s
	}
	a, sa := open()
	b, _ := open()
	fs := &failingStore{SQL: sa}
	a.Store = fs
	var ids []string
	for i := range 3 {
		res, err := a.Register(ctx, nodeapi.RegisterRequest{Role: "edge", Version: "v1", Addresses: nodemodel.Addresses{HTTP: fmt.Sprintf("10.0.0.%d:8080", i+1)}})
		require.NoError(t, err)
		ids = append(ids, res.ID)
	}
	report := func(conns int) {
		for _, id := range ids {
			_, err := a.Report(ctx, nodeapi.ReportRequest{ID: id, Stats: nodemodel.Load{Connections: conns}})
			require.NoError(t, err)
		}
	}
	conns := func() []int {
		var out []int
		for _, id := range ids {
			n, ok := b.Node(id)
			require.True(t, ok, "the second manager knows node %s", id)
			out = append(out, n.Stats.Connections)
		}
		return out
	}
	report(3)
	require.NoError(t, b.Sync(ctx))
	for _, id := range ids {
		n, _ := b.Node(id)
		require.Equal(t, nodemodel.StateInService, n.State, "a state change is written at once")
	}
	require.Equal(t, []int{0, 0, 0}, conns(), "the load waits for the flush")
	require.NoError(t, a.FlushReports(ctx))
	require.NoError(t, b.Sync(ctx))
	require.Equal(t, []int{3, 3, 3}, conns())

	// the store refuses a flush: the reports wait for the next one, newer ones replacing them
	c.Add(2 * time.Second)
	report(4)
	fs.set("SaveReports", true)
	require.ErrorIs(t, a.FlushReports(ctx), errStoreDown)
	c.Add(2 * time.Second)
	_, err := a.Report(ctx, nodeapi.ReportRequest{ID: ids[0], Stats: nodemodel.Load{Connections: 5}})
	require.NoError(t, err)
	fs.set("SaveReports", false)
	require.NoError(t, a.FlushReports(ctx))
	require.NoError(t, b.Sync(ctx))
	require.Equal(t, []int{5, 4, 4}, conns(), "no report lost, none older written over a newer one")

	// what is left when the manager stops is written
	c.Add(2 * time.Second)
	report(6)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- a.Run(runCtx) }()
	stop()
	require.NoError(t, <-done)
	require.NoError(t, b.Sync(ctx))
	require.Equal(t, []int{6, 6, 6}, conns())
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

// failingStore is the real store with writes that fail on demand.
type failingStore struct {
	*store.SQL
	mu   sync.Mutex
	fail map[string]bool // method name → fail
}

var errStoreDown = errors.New("store down")

func (f *failingStore) set(method string, fail bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail == nil {
		f.fail = map[string]bool{}
	}
	f.fail[method] = fail
}

func (f *failingStore) check(method string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail[method] {
		return fmt.Errorf("%s: %w", method, errStoreDown)
	}
	return nil
}

func (f *failingStore) PutStream(ctx context.Context, r store.StreamRecord) error {
	if err := f.check("PutStream"); err != nil {
		return err
	}
	return f.SQL.PutStream(ctx, r)
}

func (f *failingStore) SaveReports(ctx context.Context, reports []store.Report) error {
	if err := f.check("SaveReports"); err != nil {
		return err
	}
	return f.SQL.SaveReports(ctx, reports)
}

func (f *failingStore) Transition(ctx context.Context, id string, to nodemodel.State, cause string, from ...nodemodel.State) (store.Node, error) {
	if err := f.check("Transition"); err != nil {
		return store.Node{}, err
	}
	return f.SQL.Transition(ctx, id, to, cause, from...)
}

// TestStoreFirst: when a store write fails, memory stays as it was, the error reaches the caller, and the
// next report does the work again.
func TestStoreFirst(t *testing.T) {
	r, s, clk := newRegistry(t)
	fs := &failingStore{SQL: s}
	r.Store = fs
	ctx := context.Background()
	_, err := r.Register(ctx, nodeapi.RegisterRequest{ID: "o1", Role: "origin", Version: "v1"})
	require.NoError(t, err)
	_, err = r.Report(ctx, nodeapi.ReportRequest{ID: "o1"})
	require.NoError(t, err)

	fs.set("PutStream", true)
	err = r.StreamEvent(ctx, nodeapi.StreamEvent{ID: "o1", Stream: "live/a", Action: nodeapi.ActionPublish, Protocol: "rtmp"})
	require.ErrorIs(t, err, errStoreDown)
	require.Empty(t, r.FreshSnapshot().Nodes[0].LiveStreams, "memory did not move ahead of the store")

	clk.Add(2 * time.Second)
	before, _ := r.Node("o1")
	_, err = r.Report(ctx, nodeapi.ReportRequest{ID: "o1", Stats: nodemodel.Load{Connections: 1, Publishers: 1},
		Streams: []nodemodel.StreamLoad{{Name: "live/a", Protocol: "rtmp"}}})
	require.ErrorIs(t, err, errStoreDown)
	after, _ := r.Node("o1")
	require.Equal(t, before, after, "a report whose writes failed changes nothing")
	recs, err := s.ListStreams(ctx)
	require.NoError(t, err)
	require.Empty(t, recs)

	fs.set("PutStream", false)
	_, err = r.Report(ctx, nodeapi.ReportRequest{ID: "o1", Stats: nodemodel.Load{Connections: 1, Publishers: 1},
		Streams: []nodemodel.StreamLoad{{Name: "live/a", Protocol: "rtmp"}}})
	require.NoError(t, err, "the retried report is not throttled: the failed one did not count")
	recs, err = s.ListStreams(ctx)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	require.Equal(t, []string{"live/a"}, r.FreshSnapshot().Nodes[0].LiveStreams)

	// reaping: a node whose death could not be stored stays as it was, and is reaped once the store answers
	fs.set("Transition", true)
	clk.Add(time.Minute)
	r.ReapSilent(ctx)
	n, ok := r.Node("o1")
	require.True(t, ok)
	require.Equal(t, nodemodel.StateInService, n.State)
	require.Len(t, r.FreshSnapshot().Nodes[0].LiveStreams, 1)
	fs.set("Transition", false)
	r.ReapSilent(ctx)
	n, _ = r.Node("o1")
	require.Equal(t, nodemodel.StateTerminated, n.State)
	stored, err := s.GetNode(ctx, "o1")
	require.NoError(t, err)
	require.Equal(t, nodemodel.StateTerminated, stored.State)
}

// TestAdmissionBesideReports: a launched node's report is answered at once while its admission check
// runs; the check's result reaches the node with a later report.
func TestAdmissionBesideReports(t *testing.T) {
	r, s, clk := newRegistry(t)
	ctx := context.Background()
	release := make(chan error)
	asked := make(chan struct{}, 10)
	r.Admit = func(ctx context.Context, n store.Node) error {
		asked <- struct{}{}
		select {
		case err := <-release:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	_, err := r.AddPending(ctx, store.Node{ID: "e1", Role: "edge"}, "scale-out")
	require.NoError(t, err)
	_, err = r.Register(ctx, nodeapi.RegisterRequest{ID: "e1", Role: "edge", Version: "v1"})
	require.NoError(t, err)
	res, err := r.Report(ctx, nodeapi.ReportRequest{ID: "e1"})
	require.NoError(t, err, "the report does not wait for the check")
	require.Equal(t, nodemodel.StateRunning, res.Assignment.State)
	<-asked
	clk.Add(2 * time.Second)
	res, err = r.Report(ctx, nodeapi.ReportRequest{ID: "e1"})
	require.NoError(t, err)
	require.Equal(t, nodemodel.StateRunning, res.Assignment.State, "one check at a time: still running")
	require.Empty(t, asked, "no second check while one runs")

	release <- nil
	require.Eventually(t, func() bool {
		n, _ := r.Node("e1")
		return n.State == nodemodel.StateInService
	}, 5*time.Second, 5*time.Millisecond)
	clk.Add(2 * time.Second)
	res, err = r.Report(ctx, nodeapi.ReportRequest{ID: "e1"})
	require.NoError(t, err)
	require.Equal(t, nodemodel.StateInService, res.Assignment.State)
	evs, err := s.NodeEvents(ctx, "e1", 10)
	require.NoError(t, err)
	require.Equal(t, "admitted: health and version checked", evs[len(evs)-1].Cause)
}

// TestSteeringAssignment: with steering on, an edge is told the steering server and its pathway (its
// ID) when it registers and with every report, with the storage pathway when there is one; other roles,
// and IDs that cannot be a PATHWAY-ID or are the storage pathway's, are not.
func TestSteeringAssignment(t *testing.T) {
	r, _, c := newRegistry(t)
	r.Steering = "http://manager:5080/steering/v1"
	r.SteeringStorage, r.SteeringStoragePlaylist = "https://cdn.example/hls", "index_ll.m3u8"
	ctx := context.Background()
	for _, tc := range []struct {
		id   string
		role nodemodel.Role
		want *nodeapi.Steering
	}{
		{"edge-1", nodemodel.RoleEdge, &nodeapi.Steering{ServerURI: "http://manager:5080/steering/v1", Pathway: "edge-1",
			Storage: "https://cdn.example/hls", StoragePlaylist: "index_ll.m3u8"}},
		{"origin-1", nodemodel.RoleOrigin, nil},
		{"relay-1", nodemodel.RoleRelay, nil},
		{"edge 2", nodemodel.RoleEdge, nil},
		{nodeapi.StoragePathway, nodemodel.RoleEdge, nil}, // the storage pathway's ID
	} {
		reg, err := r.Register(ctx, nodeapi.RegisterRequest{ID: tc.id, Role: tc.role, Version: "test"})
		require.NoError(t, err)
		require.Equal(t, tc.want, reg.Assignment.Steering, "register %s", tc.id)
		c.Add(3 * time.Second)
		rep, err := r.Report(ctx, nodeapi.ReportRequest{ID: tc.id})
		require.NoError(t, err)
		require.Equal(t, tc.want, rep.Assignment.Steering, "report %s", tc.id)
	}
}
