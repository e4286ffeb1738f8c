package cluster

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/manager/selector"
	"github.com/nagare-video/nagare/internal/manager/store"
	"github.com/nagare-video/nagare/internal/nodeapi"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func rulesAt(d time.Duration) Rules {
	return Rules{Now: t0.Add(d), ReportInterval: 2 * time.Second, NodeTimeout: 10 * time.Second, PersistEvery: 10 * time.Second}
}

// commitTo applies c to t as the shell does after the writes succeeded.
func commitTo(t Table, c Change) Table {
	next := make(Table, len(t))
	for id, e := range t {
		next[id] = e
	}
	for _, e := range c.Put {
		next[e.Node.ID] = e
	}
	for _, id := range c.Remove {
		delete(next, id)
	}
	return next
}

// writeKinds names the writes of c, e.g. "transition:n1→inservice", "stream:live/a".
func writeKinds(c Change) []string {
	var out []string
	for _, w := range c.Writes {
		switch w := w.(type) {
		case WriteCreate:
			out = append(out, "create:"+w.Node.ID)
		case WriteInfo:
			out = append(out, "info:"+w.Node.ID)
		case WriteTransition:
			out = append(out, fmt.Sprintf("transition:%s→%s", w.ID, w.To))
		case WriteReport:
			out = append(out, "report:"+w.ID)
		case WriteStream:
			out = append(out, "stream:"+w.Record.Name)
		case WriteStreamGone:
			out = append(out, "stream-gone:"+w.Name)
		case WriteParent:
			out = append(out, fmt.Sprintf("parent:%s=%s", w.ID, w.Parent))
		default:
			out = append(out, reflect.TypeOf(w).Name())
		}
	}
	return out
}

func register(id string, role nodemodel.Role, http string) Registered {
	return Registered{ID: id, Req: nodeapi.RegisterRequest{ID: id, Role: role, Version: "v1", Group: "g",
		Addresses: nodemodel.Addresses{HTTP: http}}}
}

func report(id string, streams ...string) Reported {
	req := nodeapi.ReportRequest{ID: id, Stats: nodemodel.Load{Connections: 1}}
	for _, s := range streams {
		req.Streams = append(req.Streams, nodemodel.StreamLoad{Name: s, Protocol: "rtmp"})
	}
	return Reported{Req: req}
}

func drainReport(id string) Reported {
	r := report(id)
	r.Req.Drain = true
	return r
}

func stored(id string, role nodemodel.Role, state nodemodel.State) *store.Node {
	return &store.Node{ID: id, Role: role, State: state, Group: "g"}
}

// TestApply runs scripted event sequences through the node table: after each event, the state of the
// nodes, the store writes the event needs, the answer to the node and the reasons.
func TestApply(t *testing.T) {
	type step struct {
		at     time.Duration
		rules  func(*Rules)
		ev     Event
		err    error    // errors.Is
		writes []string // exact, in order
		none   bool     // no writes at all
		states map[string]nodemodel.State
		absent []string
		answer nodemodel.State // the assignment's state, for register and report
		parent map[string]string
		admit  string
		reason string // a substring of one reason
		check  func(t *testing.T, tab Table)
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"an origin registers, reports into service, publishes and unpublishes", []step{
			{ev: register("o1", nodemodel.RoleOrigin, "10.0.0.1:8080"), writes: []string{"create:o1"},
				states: map[string]nodemodel.State{"o1": nodemodel.StateRunning}, answer: nodemodel.StateRunning, reason: "node registered"},
			{at: time.Second, ev: report("o1", "live/a"),
				writes: []string{"stream:live/a", "report:o1", "transition:o1→inservice"},
				states: map[string]nodemodel.State{"o1": nodemodel.StateInService}, answer: nodemodel.StateInService},
			{at: 1500 * time.Millisecond, ev: report("o1"), err: nodeapi.ErrTooManyReports},
			{at: 3 * time.Second, ev: StreamChanged{Event: nodeapi.StreamEvent{ID: "o1", Stream: "live/b", Action: nodeapi.ActionPublish, Protocol: "srt"}},
				writes: []string{"stream:live/b"}},
			// live/b is younger than a report interval: a report gathered before its publish keeps it
			{at: 4 * time.Second, ev: report("o1", "live/a"), none: true, check: func(t *testing.T, tab Table) {
				require.Contains(t, tab["o1"].Streams, "live/b")
			}},
			{at: 6 * time.Second, ev: report("o1", "live/a"), writes: []string{"stream-gone:live/b"}},
			// a list cut short (it counts 3 streams, lists 1) drops nothing
			{at: 8 * time.Second, ev: Reported{Req: nodeapi.ReportRequest{ID: "o1", Stats: nodemodel.Load{Streams: 3},
				Streams: []nodemodel.StreamLoad{{Name: "live/c", Protocol: "rtmp"}}}}, writes: []string{"stream:live/c"}},
			{at: 11 * time.Second, ev: report("o1"), writes: []string{"stream-gone:live/a", "stream-gone:live/c", "report:o1"}, check: func(t *testing.T, tab Table) {
				require.Empty(t, tab["o1"].Streams)
			}},
		}},
		{"an edge gets the relay of its group, then the origin when the relay leaves", []step{
			{ev: register("o1", nodemodel.RoleOrigin, "10.0.0.1:8080")},
			{at: time.Second, ev: report("o1")},
			{ev: register("r1", nodemodel.RoleRelay, "10.0.0.2:8080")},
			{at: time.Second, ev: report("r1"), writes: []string{"report:r1", "transition:r1→inservice", "parent:r1=http://10.0.0.1:8080"},
				parent: map[string]string{"r1": "http://10.0.0.1:8080"}},
			{ev: register("e1", nodemodel.RoleEdge, "10.0.0.3:8080")},
			{at: time.Second, ev: report("e1"), parent: map[string]string{"e1": "http://10.0.0.2:8080"}},
			{at: 2 * time.Second, ev: Transitioned{ID: "r1", To: nodemodel.StateDraining, Cause: "scale-in"},
				writes: []string{"transition:r1→draining"}, states: map[string]nodemodel.State{"r1": nodemodel.StateDraining}},
			{at: 4 * time.Second, ev: report("e1"), writes: []string{"parent:e1=http://10.0.0.1:8080"},
				parent: map[string]string{"e1": "http://10.0.0.1:8080"}, reason: "parent o1 assigned"},
			{at: 5 * time.Second, ev: Transitioned{ID: "o1", To: nodemodel.StateTerminated, Cause: "test"}, absent: []string{"o1"}},
			{at: 6 * time.Second, ev: report("e1"), writes: []string{"parent:e1="}, parent: map[string]string{"e1": ""},
				reason: "no parent available"},
		}},
		{"an edge that entered service before any origin asks for its parent at once", []step{
			{ev: register("e1", nodemodel.RoleEdge, "10.0.0.3:8080")},
			{at: time.Second, ev: report("e1"), parent: map[string]string{"e1": ""}},
			{at: 1100 * time.Millisecond, ev: ParentAsked{ID: "e1"}, none: true, parent: map[string]string{"e1": ""}},
			{at: 1200 * time.Millisecond, ev: register("o1", nodemodel.RoleOrigin, "10.0.0.1:8080")},
			// running, not in service yet: no parent
			{at: 1300 * time.Millisecond, ev: ParentAsked{ID: "e1"}, none: true},
			{at: 1400 * time.Millisecond, ev: report("o1", "live/a")},
			{at: 1500 * time.Millisecond, ev: ParentAsked{ID: "e1"}, writes: []string{"parent:e1=http://10.0.0.1:8080"},
				parent: map[string]string{"e1": "http://10.0.0.1:8080"}, reason: "parent o1 assigned",
				check: func(t *testing.T, tab Table) { require.Equal(t, "o1", tab["e1"].ParentID) }},
			// asked again (a second viewer), and at the next report: the same parent, nothing written
			{at: 1600 * time.Millisecond, ev: ParentAsked{ID: "e1"}, none: true},
			{at: 3 * time.Second, ev: report("e1"), none: true, parent: map[string]string{"e1": "http://10.0.0.1:8080"}},
			{ev: ParentAsked{ID: "o1"}, err: nodeapi.ErrInvalid},
			{ev: ParentAsked{ID: "ghost"}, err: nodeapi.ErrUnknownNode},
		}},
		{"a launched node is admitted beside its reports", []step{
			{ev: Pending{Node: store.Node{ID: "e1", Role: nodemodel.RoleEdge, Group: "g"}, Cause: "scale-out"},
				writes: []string{"create:e1"}, states: map[string]nodemodel.State{"e1": nodemodel.StatePending}},
			{at: time.Second, ev: Registered{ID: "e1", Req: nodeapi.RegisterRequest{ID: "e1", Role: nodemodel.RoleEdge, Version: "v1", Group: "g"},
				Stored: stored("e1", nodemodel.RoleEdge, nodemodel.StatePending)},
				writes: []string{"info:e1", "transition:e1→running"}, answer: nodemodel.StateRunning},
			{at: 2 * time.Second, rules: admits, ev: report("e1"), writes: []string{"report:e1"}, answer: nodemodel.StateRunning, admit: "e1"},
			{at: 3 * time.Second, ev: Admission{ID: "e1", Err: errors.New("health check: connection refused")},
				none: true, states: map[string]nodemodel.State{"e1": nodemodel.StateRunning}, reason: "not in service yet"},
			{at: 5 * time.Second, rules: admits, ev: report("e1"), answer: nodemodel.StateRunning, admit: "e1"},
			{at: 6 * time.Second, ev: Admission{ID: "e1"}, writes: []string{"transition:e1→inservice"},
				states: map[string]nodemodel.State{"e1": nodemodel.StateInService}},
			{at: 8 * time.Second, rules: admits, ev: report("e1"), answer: nodemodel.StateInService, admit: ""},
		}},
		{"a launched node with the wrong version is rejected and counted dead", []step{
			{ev: Pending{Node: store.Node{ID: "e1", Role: nodemodel.RoleEdge, Group: "g"}, Cause: "scale-out"}},
			{ev: Registered{ID: "e1", Req: nodeapi.RegisterRequest{ID: "e1", Role: nodemodel.RoleEdge, Version: "v0", Group: "g"},
				Stored: stored("e1", nodemodel.RoleEdge, nodemodel.StatePending)}},
			{at: time.Second, rules: admits, ev: report("e1"), admit: "e1"},
			{at: 2 * time.Second, ev: Admission{ID: "e1", Err: fmt.Errorf("%w: runs v0", ErrRejected)},
				writes: []string{"transition:e1→terminating"}, states: map[string]nodemodel.State{"e1": nodemodel.StateTerminating},
				check: func(t *testing.T, tab Table) { require.Equal(t, nodemodel.StateRunning, tab["e1"].DeadFrom) }},
			{at: 4 * time.Second, rules: admits, ev: report("e1"), answer: nodemodel.StateTerminating, admit: ""},
		}},
		{"a silent node is marked dead, acknowledged, and comes back", []step{
			{ev: register("e1", nodemodel.RoleEdge, "")},
			{at: time.Second, ev: report("e1")},
			{at: 10 * time.Second, ev: Silent{ID: "e1"}, none: true, states: map[string]nodemodel.State{"e1": nodemodel.StateInService}},
			{at: 12 * time.Second, ev: Silent{ID: "e1"}, writes: []string{"transition:e1→terminated"},
				states: map[string]nodemodel.State{"e1": nodemodel.StateTerminated}, reason: "silent for 11s"},
			{at: 13 * time.Second, ev: report("e1"), err: nodeapi.ErrUnknownNode},
			{at: 14 * time.Second, ev: DeathAcknowledged{ID: "e1"}, absent: []string{"e1"}},
			{at: 15 * time.Second, ev: Registered{ID: "e1", Req: nodeapi.RegisterRequest{ID: "e1", Role: nodemodel.RoleEdge, Version: "v1", Group: "g"},
				Stored: stored("e1", nodemodel.RoleEdge, nodemodel.StateTerminated)},
				writes: []string{"info:e1", "transition:e1→running"}, reason: "registered again after being marked dead"},
			// registering made it alive: it is not reaped on its report time from before
			{at: 24 * time.Second, ev: Silent{ID: "e1"}, none: true, states: map[string]nodemodel.State{"e1": nodemodel.StateRunning}},
		}},
		{"a terminating node falling silent is not dead; gone from the cloud it is terminated without a death", []step{
			{ev: register("e1", nodemodel.RoleEdge, "")},
			{at: time.Second, ev: report("e1")},
			{at: 2 * time.Second, ev: Transitioned{ID: "e1", To: nodemodel.StateTerminating, Cause: "scale-in"}},
			{at: time.Minute, ev: Silent{ID: "e1"}, none: true},
			{at: time.Minute, ev: Gone{ID: "e1", Cause: "instance stopped"}, writes: []string{"transition:e1→terminated"},
				check: func(t *testing.T, tab Table) { require.Empty(t, tab["e1"].DeadFrom) }},
		}},
		{"a serving node gone from the cloud is dead until acknowledged", []step{
			{ev: register("o1", nodemodel.RoleOrigin, "")},
			{at: time.Second, ev: report("o1", "live/a")},
			{at: 2 * time.Second, ev: Gone{ID: "o1", Cause: "instance terminated"}, writes: []string{"transition:o1→terminated"},
				check: func(t *testing.T, tab Table) {
					require.Equal(t, nodemodel.StateInService, tab["o1"].DeadFrom)
					require.Empty(t, tab["o1"].Streams)
				}},
			{at: 3 * time.Second, ev: Gone{ID: "o1", Cause: "again"}, none: true},
		}},
		{"a node being stopped asks to be drained in its report, once", []step{
			{ev: register("e1", nodemodel.RoleEdge, "")},
			{at: time.Second, ev: report("e1"), states: map[string]nodemodel.State{"e1": nodemodel.StateInService}},
			{at: 3 * time.Second, ev: drainReport("e1"), writes: []string{"transition:e1→draining"},
				states: map[string]nodemodel.State{"e1": nodemodel.StateDraining}, answer: nodemodel.StateDraining,
				reason: "draining at its own request"},
			{at: 5 * time.Second, ev: drainReport("e1"), none: true, states: map[string]nodemodel.State{"e1": nodemodel.StateDraining}},
			// a node whose first report asks to be drained never enters service
			{ev: register("e2", nodemodel.RoleEdge, "")},
			{at: time.Second, ev: drainReport("e2"), writes: []string{"report:e2", "transition:e2→draining"},
				states: map[string]nodemodel.State{"e2": nodemodel.StateDraining}},
		}},
		{"the lifecycle refuses what it does not allow; registering twice under another role conflicts", []step{
			{ev: Transitioned{ID: "x", To: nodemodel.StatePending, Cause: "nonsense"}, err: &ErrTransition{}},
			{ev: Registered{ID: "o1", Req: nodeapi.RegisterRequest{ID: "o1", Role: nodemodel.RoleEdge, Version: "v1"},
				Stored: stored("o1", nodemodel.RoleOrigin, nodemodel.StateInService)}, err: nodeapi.ErrConflict},
			{ev: Registered{ID: "o1", Req: nodeapi.RegisterRequest{ID: "o1", Role: nodemodel.RoleOrigin, Version: "v1"},
				Stored: stored("o1", nodemodel.RoleOrigin, nodemodel.StateTerminating)}, err: nodeapi.ErrConflict},
			{ev: StreamChanged{Event: nodeapi.StreamEvent{ID: "ghost", Stream: "live/a", Action: nodeapi.ActionPublish}}, err: nodeapi.ErrUnknownNode},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab := Table{}
			for i, s := range tc.steps {
				r := rulesAt(s.at)
				if s.rules != nil {
					s.rules(&r)
				}
				c, err := Apply(tab, r, s.ev)
				if s.err != nil {
					var te *ErrTransition
					if errors.As(s.err, &te) {
						require.ErrorAs(t, err, &te, "step %d", i)
					} else {
						require.ErrorIs(t, err, s.err, "step %d", i)
					}
					continue
				}
				require.NoError(t, err, "step %d", i)
				if s.writes != nil {
					require.Equal(t, s.writes, writeKinds(c), "step %d: writes", i)
				}
				if s.none {
					require.Empty(t, c.Writes, "step %d: writes", i)
				}
				tab = commitTo(tab, c)
				for id, want := range s.states {
					require.Contains(t, tab, id, "step %d", i)
					require.Equal(t, want, tab[id].Node.State, "step %d: state of %s", i, id)
				}
				for _, id := range s.absent {
					require.NotContains(t, tab, id, "step %d", i)
				}
				if s.answer != "" {
					require.Equal(t, s.answer, c.Assignment.State, "step %d: answer", i)
				}
				for id, want := range s.parent {
					require.Equal(t, want, tab[id].Node.Parent, "step %d: parent of %s", i, id)
				}
				if _, isReport := s.ev.(Reported); isReport {
					require.Equal(t, s.admit, c.Admit, "step %d: admission", i)
				}
				if s.reason != "" {
					require.Contains(t, strings.Join(c.Reasons, "\n"), s.reason, "step %d: reasons", i)
				}
				if s.check != nil {
					s.check(t, tab)
				}
			}
		})
	}
}

func admits(r *Rules) { r.Admits = true }

// TestApplyIsPure: applying an event never changes the table it was given.
func TestApplyIsPure(t *testing.T) {
	tab := Table{}
	for _, ev := range []Event{register("o1", nodemodel.RoleOrigin, "10.0.0.1:8080"), report("o1", "live/a")} {
		c, err := Apply(tab, rulesAt(time.Second), ev)
		require.NoError(t, err)
		tab = commitTo(tab, c)
	}
	before := *tab["o1"]
	streams := len(tab["o1"].Streams)
	for _, ev := range []Event{
		report("o1", "live/b"),
		StreamChanged{Event: nodeapi.StreamEvent{ID: "o1", Stream: "live/c", Action: nodeapi.ActionPublish}},
		Silent{ID: "o1"}, Gone{ID: "o1", Cause: "x"}, Transitioned{ID: "o1", To: nodemodel.StateDraining},
	} {
		_, err := Apply(tab, rulesAt(time.Hour), ev)
		require.NoError(t, err)
	}
	require.Equal(t, before.Node, tab["o1"].Node)
	require.Len(t, tab["o1"].Streams, streams)
}

// TestSnapshotFillsEveryWeight: the selection inputs come from the reports and the topology.
func TestSnapshotFillsEveryWeight(t *testing.T) {
	tab := Table{}
	steps := []Event{
		register("o1", nodemodel.RoleOrigin, "10.0.0.1:8080"),
		register("e1", nodemodel.RoleEdge, "10.0.0.2:8080"),
		register("e2", nodemodel.RoleEdge, "10.0.0.3:8080"),
		Reported{Req: nodeapi.ReportRequest{ID: "o1", Stats: nodemodel.Load{Connections: 3, MemoryUsedPercent: 40},
			Streams: []nodemodel.StreamLoad{{Name: "live/a", Protocol: "rtmp"}, {Name: "live/b", Protocol: "srt"}}}},
		Reported{Req: nodeapi.ReportRequest{ID: "e1", Stats: nodemodel.Load{Connections: 7, Subscribers: 7, Streams: 2, MemoryUsedPercent: 55}}},
		Reported{Req: nodeapi.ReportRequest{ID: "e2", Stats: nodemodel.Load{Streams: 1}}},
	}
	for _, ev := range steps {
		c, err := Apply(tab, rulesAt(time.Second), ev)
		require.NoError(t, err)
		tab = commitTo(tab, c)
	}
	s := Snapshot(tab, t0.Add(time.Second), 10*time.Second)
	require.Len(t, s.Nodes, 3)
	byID := map[string]int{}
	for i, n := range s.Nodes {
		byID[n.ID] = i
	}
	o, e1 := s.Nodes[byID["o1"]], s.Nodes[byID["e1"]]
	require.Equal(t, 2, o.Streams)
	require.Equal(t, []string{"live/a", "live/b"}, o.LiveStreams)
	require.Equal(t, 2, o.Restreamers, "two edges pull from the origin")
	require.InDelta(t, 40, o.MemoryUsedPercent, 0.01)
	require.Equal(t, 2, e1.Streams, "an edge's pulled streams count")
	require.InDelta(t, 55, e1.MemoryUsedPercent, 0.01)
	require.Equal(t, 7, e1.Subscribers)
}

// TestSnapshotOrdered: the snapshot holds the live nodes ordered by ID (a sticky viewer's node is found
// by binary search), each with the relays and edges pulling from it.
func TestSnapshotOrdered(t *testing.T) {
	tb := Table{}
	for _, id := range []string{"e3", "o1", "e1", "gone", "e2"} {
		e := &Entry{Node: store.Node{ID: id, Role: nodemodel.RoleEdge, State: nodemodel.StateInService}, ParentID: "o1"}
		if id == "o1" {
			e.Node.Role, e.ParentID = nodemodel.RoleOrigin, ""
		}
		if id == "gone" {
			e.Node.State = nodemodel.StateTerminated
		}
		tb[id] = e
	}
	s := Snapshot(tb, t0, time.Second)
	var ids []string
	for _, n := range s.Nodes {
		ids = append(ids, n.ID)
	}
	require.Equal(t, []string{"e1", "e2", "e3", "o1"}, ids)
	require.Equal(t, 3, s.Nodes[3].Restreamers, "a terminated edge pulls from nobody")
}

// TestSnapshotRebuiltBesideRouting: while one caller rebuilds a stale snapshot, the others are given the
// previous one at once instead of waiting; the next call after the rebuild gets the new one.
func TestSnapshotRebuiltBesideRouting(t *testing.T) {
	now := t0
	r := &Registry{NodeTimeout: 10 * time.Second, Now: func() time.Time { return now }}
	r.commit(Change{Put: []*Entry{{Node: store.Node{ID: "e1", State: nodemodel.StateInService}}}}, nil)
	first := r.Snapshot()
	require.Len(t, first.Nodes, 1)

	r.commit(Change{Put: []*Entry{{Node: store.Node{ID: "e2", State: nodemodel.StateInService}}}}, nil)
	now = now.Add(time.Second)
	r.snapMu.Lock() // another caller is rebuilding it
	done := make(chan *selector.Snapshot, 1)
	go func() { done <- r.Snapshot() }()
	select {
	case got := <-done:
		require.Same(t, first, got, "the previous snapshot, while the new one is built")
	case <-time.After(5 * time.Second):
		t.Fatal("a caller waited for another's rebuild")
	}
	r.snapMu.Unlock()
	require.Len(t, r.Snapshot().Nodes, 2)
}

func TestSortByID(t *testing.T) {
	type item struct {
		id  string
		pad [64]byte // moved whole, as a node is
	}
	tests := map[string][]string{
		"empty":      {},
		"one":        {"a"},
		"sorted":     {"a", "b", "c", "d"},
		"reversed":   {"e", "d", "c", "b", "a"},
		"one cycle":  {"b", "c", "d", "a"},
		"two cycles": {"b", "a", "d", "c", "e"},
		"mixed":      {"n-07", "n-10", "n-01", "n-03", "n-09", "n-02", "n-08", "n-05", "n-04", "n-06"},
	}
	for name, ids := range tests {
		t.Run(name, func(t *testing.T) {
			items := make([]item, len(ids))
			for i, id := range ids {
				items[i].id = id
				items[i].pad[0] = id[len(id)-1] // travels with its id
			}
			sortByID(items, func(it *item) string { return it.id })
			want := append([]string{}, slices.Sorted(slices.Values(ids))...)
			got := make([]string, len(items))
			for i, it := range items {
				got[i] = it.id
				require.Equal(t, it.id[len(it.id)-1], it.pad[0], "the rest of %s moved with it", it.id)
			}
			require.Equal(t, want, got)
		})
	}
}
