package selector

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/nagare-video/nagare/internal/nodemodel"
	"github.com/stretchr/testify/require"
)

var now = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

const staleAfter = 15 * time.Second

func snap(nodes ...Node) Snapshot {
	return Snapshot{Nodes: nodes, Now: now, StaleAfter: staleAfter}
}

// origin and edge build healthy in-service nodes of group g1; options adjust them.
func origin(id string, opts ...func(*Node)) Node {
	return build(Node{ID: id, Group: "g1", Role: "origin", State: "inservice", Region: "eu", Capacity: 100, LastReport: now}, opts)
}

func edge(id string, opts ...func(*Node)) Node {
	return build(Node{ID: id, Group: "g1", Role: "edge", State: "inservice", Region: "eu", Capacity: 100, LastReport: now}, opts)
}

func build(n Node, opts []func(*Node)) Node {
	for _, o := range opts {
		o(&n)
	}
	return n
}

func state(st nodemodel.State) func(*Node) { return func(n *Node) { n.State = st } }
func group(g string) func(*Node)           { return func(n *Node) { n.Group = g } }
func region(r string) func(*Node)          { return func(n *Node) { n.Region = r } }
func role(r nodemodel.Role) func(*Node)    { return func(n *Node) { n.Role = r } }
func live(paths ...string) func(*Node)     { return func(n *Node) { n.LiveStreams = paths } }
func stale() func(*Node)                   { return func(n *Node) { n.LastReport = now.Add(-time.Minute) } }
func full() func(*Node)                    { return func(n *Node) { n.Connections = n.Capacity } }

func load(conns, subs int) func(*Node) {
	return func(n *Node) { n.Connections, n.Subscribers = conns, subs }
}

func TestDefaultWeights(t *testing.T) {
	require.Equal(t, Weights{Streams: 30, Connections: 15, Subscribers: 60, Memory: 20, Restreamer: 35}, DefaultWeights())
}

func TestEligible(t *testing.T) {
	for _, tc := range []struct {
		name       string
		node       Node
		staleAfter time.Duration
		ok         bool
		reason     string // substring of the reason
	}{
		{name: "in service", node: edge("e"), ok: true},
		{name: "draining", node: edge("e", state("draining")), reason: `"draining"`},
		{name: "pending", node: edge("e", state("pending")), reason: `"pending"`},
		{name: "running", node: edge("e", state("running")), reason: `"running"`},
		{name: "terminating", node: edge("e", state("terminating")), reason: `"terminating"`},
		{name: "terminated", node: edge("e", state("terminated")), reason: `"terminated"`},
		{name: "unknown state", node: edge("e", state("")), reason: "not inservice"},
		{name: "stale", node: edge("e", stale()), reason: "stale: last report 1m0s ago"},
		{name: "overloaded", node: edge("e", func(n *Node) { n.Overloaded = true }), reason: "overloaded"},
		{name: "never reported", node: edge("e", func(n *Node) { n.LastReport = time.Time{} }), reason: "never reported"},
		{
			name: "report exactly StaleAfter old",
			node: edge("e", func(n *Node) { n.LastReport = now.Add(-staleAfter) }),
			ok:   true,
		},
		{
			name:   "report just over StaleAfter old",
			node:   edge("e", func(n *Node) { n.LastReport = now.Add(-staleAfter - time.Millisecond) }),
			reason: "stale",
		},
		{name: "report from the future (clock skew)", node: edge("e", func(n *Node) { n.LastReport = now.Add(time.Second) }), ok: true},
		{name: "StaleAfter zero turns the check off", node: edge("e", stale()), staleAfter: -1, ok: true},
		{name: "full", node: edge("e", full()), reason: "full: 100 of 100 connections"},
		{name: "over capacity", node: edge("e", load(150, 140)), reason: "full: 150 of 100"},
		{name: "one below capacity", node: edge("e", load(99, 99)), ok: true},
		{
			name: "unknown capacity is never full",
			node: edge("e", func(n *Node) { n.Capacity, n.Connections = 0, 1_000_000 }),
			ok:   true,
		},
		{name: "draining wins over stale as the reason", node: edge("e", state("draining"), stale()), reason: "draining"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := snap()
			switch {
			case tc.staleAfter < 0:
				s.StaleAfter = 0
			case tc.staleAfter > 0:
				s.StaleAfter = tc.staleAfter
			}
			ok, reason := Eligible(s, tc.node)
			require.Equal(t, tc.ok, ok)
			if tc.ok {
				require.Empty(t, reason)
			} else {
				require.Contains(t, reason, tc.reason)
			}
		})
	}
}

// originFixture has three eligible g1 origins, listed out of ID order, and one of each kind that must be skipped.
func originFixture() []Node {
	return []Node{
		origin("o3"),
		origin("o0-draining", state("draining")),
		origin("o1"),
		origin("o0-stale", stale()),
		origin("o0-full", full()),
		origin("o0-pending", state("pending")),
		origin("o0-running", state("running")),
		origin("o0-other-group", group("g2")),
		edge("e0"),
		origin("o0-relay", role("relay")),
		origin("o2"),
	}
}

func TestPickOriginRoundRobin(t *testing.T) {
	for _, tc := range []struct {
		name    string
		group   string
		nodes   []Node
		counter []uint64
		want    []string
	}{
		{
			name:    "cycles through eligible origins in ID order",
			group:   "g1",
			nodes:   originFixture(),
			counter: []uint64{0, 1, 2, 3, 4, 5, 6},
			want:    []string{"o1", "o2", "o3", "o1", "o2", "o3", "o1"},
		},
		{
			name:    "any group includes other groups",
			group:   "",
			nodes:   originFixture(),
			counter: []uint64{0, 1, 2, 3, 4},
			want:    []string{"o0-other-group", "o1", "o2", "o3", "o0-other-group"},
		},
		{
			name:    "other group only",
			group:   "g2",
			nodes:   originFixture(),
			counter: []uint64{0, 1, 7},
			want:    []string{"o0-other-group", "o0-other-group", "o0-other-group"},
		},
		{
			name:    "single origin",
			group:   "g1",
			nodes:   []Node{origin("solo")},
			counter: []uint64{0, 1, 99},
			want:    []string{"solo", "solo", "solo"},
		},
		{
			name:    "counter wraps at the top of uint64",
			group:   "g1",
			nodes:   originFixture(),
			counter: []uint64{math.MaxUint64, 0}, // MaxUint64 % 3 == 0
			want:    []string{"o1", "o1"},
		},
		{
			name:    "unknown capacity is never full",
			group:   "g1",
			nodes:   []Node{origin("o1", func(n *Node) { n.Capacity, n.Connections = 0, 5000 }), origin("o2")},
			counter: []uint64{0, 1},
			want:    []string{"o1", "o2"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, c := range tc.counter {
				n, err := PickOrigin(snap(tc.nodes...), tc.group, "live/new", c)
				require.NoError(t, err)
				got = append(got, n.ID)
			}
			require.Equal(t, tc.want, got)
		})
	}
}

func TestPickOriginStreamStaysLive(t *testing.T) {
	const path = "live/stream1"
	for _, tc := range []struct {
		name    string
		nodes   []Node
		counter uint64
		want    string
	}{
		{
			name:    "stays on its origin although round robin says o1",
			nodes:   []Node{origin("o1"), origin("o2", live("live/other", path)), origin("o3")},
			counter: 0,
			want:    "o2",
		},
		{
			name:    "moves when its origin drains",
			nodes:   []Node{origin("o1"), origin("o2", live(path), state("draining")), origin("o3")},
			counter: 1,
			want:    "o3", // eligible = [o1 o3]
		},
		{
			name:    "moves when its origin is stale",
			nodes:   []Node{origin("o1"), origin("o2", live(path), stale())},
			counter: 5,
			want:    "o1",
		},
		{
			name:    "moves when its origin is full",
			nodes:   []Node{origin("o1"), origin("o2", live(path), full())},
			counter: 0,
			want:    "o1",
		},
		{
			name:    "ignores an origin of another group",
			nodes:   []Node{origin("o1"), origin("o2", live(path), group("g2"))},
			counter: 0,
			want:    "o1",
		},
		{
			name:    "a node that is not an origin does not hold the stream",
			nodes:   []Node{origin("o1"), edge("e1", live(path)), origin("o2")},
			counter: 0,
			want:    "o1",
		},
		{
			name:    "live on two origins: the lower ID, whatever the order",
			nodes:   []Node{origin("o1"), origin("o3", live(path)), origin("o2", live(path))},
			counter: 0,
			want:    "o2",
		},
		{
			name:    "a different path with the same prefix does not stick",
			nodes:   []Node{origin("o1"), origin("o2", live("live/stream10"))},
			counter: 0,
			want:    "o1",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := PickOrigin(snap(tc.nodes...), "g1", path, tc.counter)
			require.NoError(t, err)
			require.Equal(t, tc.want, n.ID)
		})
	}

	t.Run("empty path never sticks", func(t *testing.T) {
		n, err := PickOrigin(snap(origin("o1"), origin("o2", live(""))), "g1", "", 0)
		require.NoError(t, err)
		require.Equal(t, "o1", n.ID)
	})
}

func TestPickOriginNone(t *testing.T) {
	for _, tc := range []struct {
		name  string
		group string
		nodes []Node
	}{
		{name: "empty snapshot", group: "", nodes: nil},
		{name: "only edges", group: "", nodes: []Node{edge("e1"), edge("e2")}},
		{
			name:  "every origin ineligible",
			group: "g1",
			nodes: []Node{
				origin("o1", state("draining")), origin("o2", stale()), origin("o3", full()),
				origin("o4", state("pending")), origin("o5", state("terminating")),
			},
		},
		{name: "no origin in the group", group: "g9", nodes: originFixture()},
		{name: "the stream's origin is draining and no other", group: "g1", nodes: []Node{origin("o1", live("live/a"), state("draining"))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := PickOrigin(snap(tc.nodes...), tc.group, "live/a", 3)
			require.ErrorIs(t, err, ErrNoOrigin)
			require.Zero(t, n.ID)
			require.Contains(t, err.Error(), "no in-service origin available")
		})
	}
}

func TestPickEdge(t *testing.T) {
	const path = "live/stream1"
	carrier := origin("o1", live(path))
	for _, tc := range []struct {
		name   string
		nodes  []Node
		any    bool // pick in any group rather than g1
		region string
		w      *Weights // nil = DefaultWeights
		want   string
	}{
		{
			name:  "the less loaded edge wins",
			nodes: []Node{edge("e1", load(50, 50)), edge("e2", load(10, 10)), edge("e3", load(30, 30)), carrier},
			want:  "e2",
		},
		{
			name: "subscribers weigh more than connections",
			// e1: 20 conns, 20 subs → (15·.20 + 60·.20)/160; e2: 35 conns, 10 subs → (15·.35 + 60·.10)/160.
			nodes: []Node{edge("e1", load(20, 20)), edge("e2", load(35, 10))},
			want:  "e2",
		},
		{
			name:  "same nodes with equal weights: fewer connections wins",
			nodes: []Node{edge("e1", load(20, 20)), edge("e2", load(35, 10))},
			w:     &Weights{Connections: 1, Subscribers: 1},
			want:  "e1",
		},
		{
			name: "memory counts",
			nodes: []Node{
				edge("e1", load(10, 10), func(n *Node) { n.MemoryUsedPercent = 95 }),
				edge("e2", load(12, 12), func(n *Node) { n.MemoryUsedPercent = 20 }),
			},
			want: "e2",
		},
		{
			name: "restreamers count",
			nodes: []Node{
				edge("e1", func(n *Node) { n.Restreamers = 8 }),
				edge("e2", func(n *Node) { n.Restreamers = 2 }),
			},
			want: "e2",
		},
		{
			name: "streams count",
			nodes: []Node{
				edge("e1", func(n *Node) { n.Streams = 1 }),
				edge("e2", func(n *Node) { n.Streams = 4 }),
			},
			want: "e1",
		},
		{
			name: "load is relative to capacity",
			nodes: []Node{
				edge("e1", load(40, 40)), // 40 %
				edge("e2", load(60, 60), func(n *Node) { n.Capacity = 1000 }), // 6 %
			},
			want: "e2",
		},
		{
			name:   "region preferred even when busier",
			nodes:  []Node{edge("e1", load(0, 0), region("us")), edge("e2", load(80, 80), region("eu")), edge("e3", load(90, 90), region("eu"))},
			region: "eu",
			want:   "e2",
		},
		{
			name:   "region fallback when no edge is there",
			nodes:  []Node{edge("e1", load(30, 30), region("us")), edge("e2", load(10, 10), region("ap"))},
			region: "eu",
			want:   "e2",
		},
		{
			name: "region fallback when its edges are ineligible",
			nodes: []Node{
				edge("e1", region("eu"), state("draining")), edge("e2", region("eu"), full()),
				edge("e3", load(50, 50), region("us")),
			},
			region: "eu",
			want:   "e3",
		},
		{
			name:   "no region: all compete",
			nodes:  []Node{edge("e1", load(30, 30), region("eu")), edge("e2", load(10, 10), region("us"))},
			region: "",
			want:   "e2",
		},
		{
			name: "draining, full, stale, pending, terminating edges never chosen, however idle",
			nodes: []Node{
				edge("e1", state("draining")), edge("e2", full()), edge("e3", stale()), edge("e4", state("pending")),
				edge("e5", state("terminating")), edge("e6", state("running")), edge("e9", load(99, 99)),
			},
			want: "e9",
		},
		{
			name:  "relays and transcoders are not edges",
			nodes: []Node{edge("r1", role("relay")), edge("t1", role("transcoder")), edge("e9", load(90, 90))},
			want:  "e9",
		},
		{
			name:  "group filter",
			nodes: []Node{edge("e1", group("g2")), edge("e2", load(90, 90))},
			want:  "e2",
		},
		{
			name:  "any group",
			nodes: []Node{edge("e1", group("g2")), edge("e2", load(90, 90))},
			any:   true,
			want:  "e1",
		},
		{
			name:  "tie breaks by lower ID whatever the order",
			nodes: []Node{edge("e3", load(10, 10)), edge("e1", load(10, 10)), edge("e2", load(10, 10))},
			want:  "e1",
		},
		{
			name:  "tie among idle edges",
			nodes: []Node{edge("b"), edge("c"), edge("a")},
			want:  "a",
		},
		{
			name:  "no edge: the origin carrying the stream",
			nodes: []Node{origin("o0"), carrier, origin("o2", live("live/other"))},
			want:  "o1",
		},
		{
			name:  "no eligible edge: the origin carrying the stream",
			nodes: []Node{edge("e1", state("draining")), edge("e2", stale()), carrier},
			want:  "o1",
		},
		{
			name:   "origin fallback prefers the viewer's region, then the lower ID",
			nodes:  []Node{origin("o1", live(path), region("us")), origin("o3", live(path), region("eu")), origin("o2", live(path), region("eu"))},
			region: "eu",
			want:   "o2",
		},
		{
			name:  "origin fallback respects the group",
			nodes: []Node{origin("o1", live(path), group("g2")), origin("o2", live(path))},
			want:  "o2",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := DefaultWeights()
			if tc.w != nil {
				w = *tc.w
			}
			g := "g1"
			if tc.any {
				g = ""
			}
			n, err := PickEdge(snap(tc.nodes...), g, path, tc.region, w)
			require.NoError(t, err)
			require.Equal(t, tc.want, n.ID)
		})
	}
}

func TestPickEdgeNone(t *testing.T) {
	const path = "live/stream1"
	for _, tc := range []struct {
		name  string
		nodes []Node
	}{
		{name: "empty snapshot", nodes: nil},
		{name: "origin not carrying the stream", nodes: []Node{origin("o1", live("live/other"))}},
		{name: "carrying origin draining", nodes: []Node{origin("o1", live(path), state("draining"))}},
		{name: "carrying origin stale", nodes: []Node{origin("o1", live(path), stale())}},
		{name: "carrying origin full", nodes: []Node{origin("o1", live(path), full())}},
		{name: "carrying origin in another group", nodes: []Node{origin("o1", live(path), group("g2"))}},
		{name: "carrying node is a relay", nodes: []Node{origin("r1", live(path), role("relay"))}},
		{
			name:  "dead edges and no origin",
			nodes: []Node{edge("e1", state("draining")), edge("e2", full()), edge("e3", stale()), edge("e4", state("terminated"))},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := PickEdge(snap(tc.nodes...), "g1", path, "eu", DefaultWeights())
			require.ErrorIs(t, err, ErrNoEdge)
			require.True(t, errors.Is(err, ErrNoEdge))
			require.NotErrorIs(t, err, ErrNoOrigin)
			require.Zero(t, n.ID)
		})
	}
}

func TestScore(t *testing.T) {
	peers := []Node{edge("p1", func(n *Node) { n.Streams, n.Restreamers = 10, 4 })}
	for _, tc := range []struct {
		name       string
		node       Node
		candidates []Node
		w          Weights
		want       float64
	}{
		{name: "idle", node: edge("e"), candidates: peers, w: DefaultWeights(), want: 0},
		{name: "idle alone", node: edge("e"), w: DefaultWeights(), want: 0},
		{
			name:       "everything at its maximum",
			node:       edge("e", load(100, 100), func(n *Node) { n.Streams, n.Restreamers, n.MemoryUsedPercent = 10, 4, 100 }),
			candidates: peers, w: DefaultWeights(), want: 1,
		},
		{
			name:       "over capacity and memory over 100 clamp",
			node:       edge("e", load(500, 400), func(n *Node) { n.Streams, n.Restreamers, n.MemoryUsedPercent = 10, 4, 250 }),
			candidates: peers, w: DefaultWeights(), want: 1,
		},
		{
			// (15·0.5 + 60·0.25 + 30·5/10 + 20·0.4 + 35·1/4) / 160
			name:       "hand-computed mix",
			node:       edge("e", load(50, 25), func(n *Node) { n.Streams, n.Restreamers, n.MemoryUsedPercent = 5, 1, 40 }),
			candidates: peers, w: DefaultWeights(),
			want: (7.5 + 15 + 15 + 8 + 8.75) / 160,
		},
		{
			name:       "the node itself sets the maxima when it is the busiest",
			node:       edge("e", func(n *Node) { n.Streams, n.Restreamers = 20, 8 }),
			candidates: peers, w: Weights{Streams: 1, Restreamer: 1}, want: 1,
		},
		{
			name: "unknown capacity: connections and subscribers count 0",
			node: edge("e", load(5000, 5000), func(n *Node) { n.Capacity, n.MemoryUsedPercent = 0, 50 }),
			w:    Weights{Connections: 1, Subscribers: 1, Memory: 2}, want: 2 * 0.5 / 4,
		},
		{name: "all weights zero", node: edge("e", load(90, 90)), w: Weights{}, want: 0},
		{
			name: "negative and NaN weights count as zero",
			node: edge("e", load(90, 90), func(n *Node) { n.MemoryUsedPercent = 30 }),
			w:    Weights{Connections: -5, Subscribers: math.NaN(), Memory: 1, Streams: math.Inf(1)}, want: 0.3,
		},
		{
			name:       "negative counts and NaN memory count as zero",
			node:       edge("e", load(-5, -5), func(n *Node) { n.Streams, n.Restreamers, n.MemoryUsedPercent = -1, -1, math.NaN() }),
			candidates: peers, w: DefaultWeights(), want: 0,
		},
		{
			name: "no streams or restreamers anywhere: no division by zero",
			node: edge("e", load(10, 0)), w: Weights{Streams: 1, Restreamer: 1, Connections: 2}, want: 0.1 * 2 / 4,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Score(tc.node, tc.candidates, tc.w)
			require.InDelta(t, tc.want, got, 1e-12)
		})
	}
}

func TestScoreAlwaysInUnitInterval(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	nodes := make([]Node, 200)
	for i := range nodes {
		nodes[i] = Node{
			ID:                fmt.Sprintf("n%03d", i),
			Capacity:          r.IntN(300) - 50,
			Connections:       r.IntN(500) - 50,
			Subscribers:       r.IntN(500) - 50,
			Streams:           r.IntN(40) - 5,
			Restreamers:       r.IntN(20) - 5,
			MemoryUsedPercent: r.Float64()*150 - 20,
		}
	}
	weights := []Weights{
		DefaultWeights(), {}, {Memory: 1}, {Streams: 1e300, Connections: 1e300, Subscribers: 1e300},
		{Streams: r.Float64(), Connections: r.Float64(), Subscribers: r.Float64(), Memory: r.Float64(), Restreamer: r.Float64()},
	}
	for _, w := range weights {
		for _, n := range nodes {
			sc := Score(n, nodes, w)
			require.False(t, math.IsNaN(sc), "node %s weights %+v", n.ID, w)
			require.GreaterOrEqual(t, sc, 0.0, "node %s weights %+v", n.ID, w)
			require.LessOrEqual(t, sc, 1.0, "node %s weights %+v", n.ID, w)
		}
	}
}

// PickEdge's own scoring must agree with the exported Score over the same candidates.
func TestPickEdgeAgreesWithScore(t *testing.T) {
	nodes := fleet(300)
	s := snap(nodes...)
	w := DefaultWeights()
	got, err := PickEdge(s, "g1", "live/s0", "eu", w)
	require.NoError(t, err)

	var candidates []Node
	for _, n := range nodes {
		if ok, _ := Eligible(s, n); ok && n.Role == "edge" && n.Group == "g1" && n.Region == "eu" {
			candidates = append(candidates, n)
		}
	}
	require.NotEmpty(t, candidates)
	slices.SortFunc(candidates, func(a, b Node) int {
		if d := Score(a, candidates, w) - Score(b, candidates, w); d != 0 {
			if d < 0 {
				return -1
			}
			return 1
		}
		if a.ID < b.ID {
			return -1
		}
		return 1
	})
	require.Equal(t, candidates[0].ID, got.ID)
}

func TestPickDoesNotReorderSnapshot(t *testing.T) {
	nodes := originFixture()
	before := slices.Clone(nodes)
	s := snap(nodes...)
	_, err := PickOrigin(s, "g1", "live/a", 1)
	require.NoError(t, err)
	_, err = PickEdge(s, "g1", "live/a", "eu", DefaultWeights())
	require.NoError(t, err)
	require.Equal(t, before, nodes)
}

// fleet builds n nodes: 1 in 10 an origin, the rest edges over three regions and two groups, some of them
// draining, stale or full, with varied load.
func fleet(n int) []Node {
	r := rand.New(rand.NewPCG(7, 11))
	regions := []string{"eu", "us", "ap"}
	nodes := make([]Node, n)
	for i := range nodes {
		nd := Node{
			ID:                fmt.Sprintf("node-%04d", i),
			Group:             []string{"g1", "g2"}[i%2],
			Role:              "edge",
			State:             "inservice",
			Region:            regions[i%len(regions)],
			Capacity:          1000,
			Connections:       r.IntN(1000),
			Streams:           r.IntN(20),
			Restreamers:       r.IntN(10),
			MemoryUsedPercent: r.Float64() * 90,
			LastReport:        now.Add(-time.Duration(r.IntN(10)) * time.Second),
		}
		nd.Subscribers = nd.Connections - nd.Restreamers
		switch {
		case i%10 == 0:
			nd.Role = "origin"
			nd.LiveStreams = []string{fmt.Sprintf("live/s%d", i)}
		case i%17 == 0:
			nd.State = "draining"
		case i%23 == 0:
			nd.LastReport = now.Add(-time.Hour)
		case i%29 == 0:
			nd.Connections = nd.Capacity
		}
		nodes[i] = nd
	}
	return nodes
}

func BenchmarkPickEdge1000(b *testing.B) {
	s := snap(fleet(1000)...)
	w := DefaultWeights()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := PickEdge(s, "g1", "live/s0", "eu", w); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPickOrigin1000(b *testing.B) {
	s := snap(fleet(1000)...)
	b.ReportAllocs()
	var counter uint64
	for b.Loop() {
		counter++
		if _, err := PickOrigin(s, "g1", "live/new", counter); err != nil {
			b.Fatal(err)
		}
	}
}

func relay(id string, opts ...func(*Node)) Node {
	return build(Node{ID: id, Group: "g1", Role: nodemodel.RoleRelay, State: nodemodel.StateInService, HTTP: id + ":8080", LastReport: now}, opts)
}

func withHTTP(addr string) func(*Node) { return func(n *Node) { n.HTTP = addr } }

func TestPickParent(t *testing.T) {
	o1, o2 := origin("o1", withHTTP("o1:8080")), origin("o2", withHTTP("o2:8080"), load(0, 5))
	for _, tc := range []struct {
		name       string
		candidates []Node
		child      Node
		current    string
		want       string // "" = none
	}{
		{"an edge prefers a relay to an origin", []Node{o1, relay("r1", load(0, 50))}, edge("e1"), "", "r1"},
		{"the least-subscribed relay, then the lowest id", []Node{relay("r2", load(0, 3)), relay("r1", load(0, 3)), relay("r3", load(0, 9))}, edge("e1"), "", "r1"},
		{"without a relay, an origin", []Node{o2, o1}, edge("e1"), "", "o1"},
		{"a relay pulls from origins only", []Node{relay("r2"), o2}, relay("r1"), "", "o2"},
		{"the current parent is kept while it fits, however loaded", []Node{relay("r1", load(0, 90)), relay("r2")}, edge("e1"), "r1", "r1"},
		{"a draining parent is replaced", []Node{relay("r1", state(nodemodel.StateDraining)), relay("r2")}, edge("e1"), "r1", "r2"},
		{"another group does not count", []Node{relay("r1", group("g2")), o1}, edge("e1"), "", "o1"},
		{"a node of no group serves a group without its own", []Node{origin("o0", withHTTP("o0:8080"), group(""))}, edge("e1"), "", "o0"},
		{"the group's own origin before one of no group", []Node{origin("o0", withHTTP("o0:8080"), group("")), o2}, edge("e1"), "", "o2"},
		{"the group's own origin before a relay of no group", []Node{relay("r0", group("")), o2}, edge("e1"), "", "o2"},
		{"no HTTP address, no parent", []Node{origin("o3")}, edge("e1"), "", ""},
		{"origins and transcoders pull from nobody", []Node{o1}, origin("o9"), "", ""},
		{"an edge never pulls from an edge", []Node{edge("e2", withHTTP("e2:8080"))}, edge("e1"), "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := PickParent(tc.candidates, tc.child, tc.current)
			require.Equal(t, tc.want != "", ok)
			require.Equal(t, tc.want, got.ID)
		})
	}
}

// TestStreamSource: an edge or relay whose parent lacks a stream pulls it from the origin carrying it.
func TestStreamSource(t *testing.T) {
	h := withHTTP
	for _, tc := range []struct {
		name  string
		nodes []Node
		child Node
		want  string // "" = none
	}{
		{"the origin carrying the stream", []Node{origin("o1", h("o1:80"), live("live/a")), origin("o2", h("o2:80"), live("live/b"))}, edge("e1"), "o2"},
		{"a relay asks too", []Node{origin("o1", h("o1:80"), live("live/a")), origin("o2", h("o2:80"), live("live/b"))}, relay("r1"), "o2"},
		{"nobody carries it", []Node{origin("o1", h("o1:80"), live("live/a"))}, edge("e1"), ""},
		{"a draining origin still serves its streams", []Node{origin("o2", h("o2:80"), live("live/b"), state(nodemodel.StateDraining))}, edge("e1"), "o2"},
		{"nor a stale one", []Node{origin("o2", h("o2:80"), live("live/b"), stale())}, edge("e1"), ""},
		{"a terminating one does not", []Node{origin("o2", h("o2:80"), live("live/b"), state(nodemodel.StateTerminating))}, edge("e1"), ""},
		{"another group's origin does not count", []Node{origin("o2", h("o2:80"), live("live/b"), group("g2"))}, edge("e1"), ""},
		{"an origin of no group does", []Node{origin("o0", h("o0:80"), live("live/b"), group(""))}, edge("e1"), "o0"},
		{"the child's group before no group", []Node{origin("o0", h("o0:80"), live("live/b"), group("")), origin("o9", h("o9:80"), live("live/b"))}, edge("e1"), "o9"},
		{"then the lower id", []Node{origin("o3", h("o3:80"), live("live/b")), origin("o2", h("o2:80"), live("live/b"))}, edge("e1"), "o2"},
		{"no HTTP address, no source", []Node{origin("o2", live("live/b"))}, edge("e1"), ""},
		{"relays and edges are not sources", []Node{relay("r2", h("r2:80"), live("live/b")), edge("e2", h("e2:80"), live("live/b"))}, edge("e1"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := StreamSource(snap(tc.nodes...), tc.child, "live/b")
			require.Equal(t, tc.want != "", ok)
			require.Equal(t, tc.want, got.ID)
		})
	}
}

// TestPickTranscoder: the eligible transcoder of the group with the fewest streams; ties take turns.
func TestPickTranscoder(t *testing.T) {
	tr := func(id string, streams int, opts ...func(*Node)) Node {
		n := Node{ID: id, Group: "g1", Role: nodemodel.RoleTranscoder, State: "inservice", Capacity: 4, Streams: streams,
			Connections: streams, LastReport: now}
		return build(n, opts)
	}
	for _, tc := range []struct {
		name  string
		nodes []Node
		group string
		want  []string // for counters 0, 1, 2 …
	}{
		{"fewest streams", []Node{tr("t1", 2), tr("t2", 1), tr("t3", 3)}, "g1", []string{"t2", "t2"}},
		{"ties take turns", []Node{tr("t2", 1), tr("t1", 1), tr("t3", 2)}, "", []string{"t1", "t2", "t1"}},
		{"full, stale, draining and other roles left out", []Node{
			tr("t1", 4), tr("t2", 0, stale()), tr("t3", 0, state(nodemodel.StateDraining)), origin("o1"), tr("t4", 3),
		}, "g1", []string{"t4"}},
		{"other group left out", []Node{tr("t1", 0, group("g2")), tr("t2", 2)}, "g1", []string{"t2"}},
		{"overloaded left out", []Node{tr("t1", 0, func(n *Node) { n.Overloaded = true }), tr("t2", 2)}, "g1", []string{"t2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i, want := range tc.want {
				n, err := PickTranscoder(snap(tc.nodes...), tc.group, uint64(i))
				require.NoError(t, err)
				require.Equal(t, want, n.ID, "counter %d", i)
			}
		})
	}
	_, err := PickTranscoder(snap(origin("o1"), tr("t1", 4)), "", 0)
	require.ErrorIs(t, err, ErrNoTranscoder)
}

// TestHasEdges: SpillHome finds a home in a group that has an edge in service reporting on time, full or
// not (a group that scales out through edges), and in no other.
func TestHasEdges(t *testing.T) {
	for _, tc := range []struct {
		name  string
		group string
		nodes []Node
		want  bool
	}{
		{name: "no nodes", group: "g1"},
		{name: "origins only", group: "g1", nodes: []Node{origin("o1")}},
		{name: "an edge with room", group: "g1", nodes: []Node{origin("o1"), edge("e1")}, want: true},
		{name: "a full edge", group: "g1", nodes: []Node{edge("e1", full())}, want: true},
		{name: "a draining edge", group: "g1", nodes: []Node{edge("e1", state("draining"))}},
		{name: "a stale edge", group: "g1", nodes: []Node{edge("e1", stale())}},
		{name: "an edge of another group", group: "g1", nodes: []Node{edge("e1", group("g2"))}},
		{name: "any group", group: "", nodes: []Node{edge("e1", group("g2"))}, want: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ok := SpillHome(snap(tc.nodes...), tc.group, "")
			require.Equal(t, tc.want, ok)
		})
	}
}

func TestSpillHome(t *testing.T) {
	over := func(n *Node) { n.Connections = n.Capacity + 20 }
	overloaded := func(n *Node) { n.Overloaded = true }
	for _, tc := range []struct {
		name   string
		region string
		nodes  []Node
		want   string // "" for none
	}{
		{name: "no edge", nodes: []Node{origin("o1")}},
		{name: "the only full edge", nodes: []Node{origin("o1"), edge("e1", full())}, want: "e1"},
		{name: "the least loaded", nodes: []Node{edge("e1", over), edge("e2", full())}, want: "e2"},
		{name: "overloaded last", nodes: []Node{edge("e1", full(), overloaded), edge("e2", over)}, want: "e2"},
		{name: "ties: the lower ID", nodes: []Node{edge("e2", full()), edge("e1", full())}, want: "e1"},
		{name: "the region first", region: "us", nodes: []Node{edge("e1", full()), edge("e2", over, region("us"))}, want: "e2"},
		{name: "no edge in the region", region: "ap", nodes: []Node{edge("e1", over), edge("e2", full())}, want: "e2"},
		{name: "not a draining edge", nodes: []Node{edge("e1", full(), state("draining")), edge("e2", over)}, want: "e2"},
		{name: "not a stale edge", nodes: []Node{edge("e1", full(), stale())}},
		{name: "not another group's", nodes: []Node{edge("e1", full(), group("g2"))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, ok := SpillHome(snap(tc.nodes...), "g1", tc.region)
			require.Equal(t, tc.want != "", ok)
			require.Equal(t, tc.want, n.ID)
		})
	}
}
