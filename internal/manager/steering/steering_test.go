package steering

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/manager/selector"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

var now = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

func edge(id, http string, mut ...func(*selector.Node)) selector.Node {
	n := selector.Node{ID: id, Role: nodemodel.RoleEdge, State: nodemodel.StateInService, HTTP: http,
		Capacity: 100, LastReport: now.Add(-time.Second)}
	for _, m := range mut {
		m(&n)
	}
	return n
}

func origin() selector.Node {
	return selector.Node{ID: "origin-1", Role: nodemodel.RoleOrigin, State: nodemodel.StateInService,
		HTTP: "10.0.0.1:8080", LastReport: now, LiveStreams: []string{"live/cam1"}}
}

func state(s nodemodel.State) func(*selector.Node) { return func(n *selector.Node) { n.State = s } }
func load(c int) func(*selector.Node)              { return func(n *selector.Node) { n.Connections = c } }

func TestDecide(t *testing.T) {
	for _, tc := range []struct {
		name     string
		nodes    []selector.Node
		req      Request
		priority []string
		clones   []Clone
		reason   string
	}{{
		name:     "an edge in service keeps its players, even with a less loaded edge beside it, which is their fallback",
		nodes:    []selector.Node{origin(), edge("e1", "a.example:8080", load(90)), edge("e2", "b.example:8080")},
		req:      Request{Path: "live/cam1", Pathway: "e1", Port: "8080"},
		priority: []string{"e1", "e2"},
		clones:   []Clone{{BaseID: "e1", ID: "e2", URIReplacement: Replacement{Host: "b.example"}}},
		reason:   "stay",
	}, {
		name:     "a full edge keeps the players it has; a full fallback is none",
		nodes:    []selector.Node{origin(), edge("e1", "a.example:8080", load(100)), edge("e2", "b.example:8080", load(100))},
		req:      Request{Path: "live/cam1", Pathway: "e1", Port: "8080"},
		priority: []string{"e1"}, reason: "stay",
	}, {
		name: "a draining edge's players go to the least loaded edge, the draining one second",
		nodes: []selector.Node{origin(), edge("e1", "a.example:8080", state(nodemodel.StateDraining)),
			edge("e2", "b.example:8080", load(50)), edge("e3", "c.example:8080", load(10))},
		req:      Request{Path: "live/cam1", Pathway: "e1", Port: "8080"},
		priority: []string{"e3", "e1"},
		clones:   []Clone{{BaseID: "e1", ID: "e3", URIReplacement: Replacement{Host: "c.example"}}},
		reason:   "draining",
	}, {
		name:     "a dead edge (no report for too long) is not named at all",
		nodes:    []selector.Node{origin(), edge("e1", "a.example:8080", func(n *selector.Node) { n.LastReport = now.Add(-time.Minute) }), edge("e2", "b.example:8080")},
		req:      Request{Path: "live/cam1", Pathway: "e1", Port: "8080"},
		priority: []string{"e2"},
		clones:   []Clone{{BaseID: "e1", ID: "e2", URIReplacement: Replacement{Host: "b.example"}}},
		reason:   "stale",
	}, {
		name:     "an edge the manager no longer knows: moved, cloned from the player's pathway",
		nodes:    []selector.Node{origin(), edge("e2", "b.example:8080")},
		req:      Request{Path: "live/cam1", Pathway: "e9", Port: "8080"},
		priority: []string{"e2"},
		clones:   []Clone{{BaseID: "e9", ID: "e2", URIReplacement: Replacement{Host: "b.example"}}},
		reason:   "gone",
	}, {
		name:     "an overloaded edge sheds its players",
		nodes:    []selector.Node{origin(), edge("e1", "a.example:8080", func(n *selector.Node) { n.Overloaded = true }), edge("e2", "b.example:8080")},
		req:      Request{Path: "live/cam1", Pathway: "e1", Port: "8080"},
		priority: []string{"e2", "e1"},
		clones:   []Clone{{BaseID: "e1", ID: "e2", URIReplacement: Replacement{Host: "b.example"}}},
		reason:   "overloaded",
	}, {
		name: "only edges on the player's port: a clone replaces the host name, not the port",
		nodes: []selector.Node{origin(), edge("e1", "a.example:8080", state(nodemodel.StateDraining)),
			edge("e2", "b.example:9090"), edge("e3", "c.example:8080", load(80))},
		req:      Request{Path: "live/cam1", Pathway: "e1", Port: "8080"},
		priority: []string{"e3", "e1"},
		clones:   []Clone{{BaseID: "e1", ID: "e3", URIReplacement: Replacement{Host: "c.example"}}},
		reason:   "draining",
	}, {
		name: "no other edge can take them: the players stay",
		nodes: []selector.Node{origin(), edge("e1", "a.example:8080", state(nodemodel.StateDraining)),
			edge("e2", "b.example:8080", load(100)), edge("e3", "c.example:8080", state(nodemodel.StatePending))},
		req:      Request{Path: "live/cam1", Pathway: "e1", Port: "8080"},
		priority: []string{"e1"}, reason: "draining; no other edge",
	}, {
		name:     "the region the player asked for comes first",
		nodes:    []selector.Node{origin(), edge("e1", "a.example:8080", state(nodemodel.StateDraining)), edge("e2", "b.example:8080"), edge("e3", "c.example:8080", load(60), func(n *selector.Node) { n.Region = "eu" })},
		req:      Request{Path: "live/cam1", Pathway: "e1", Port: "8080", Region: "eu"},
		priority: []string{"e3", "e1"},
		clones:   []Clone{{BaseID: "e1", ID: "e3", URIReplacement: Replacement{Host: "c.example"}}},
		reason:   "draining",
	}, {
		name:     "a stream no origin publishes: nobody moves",
		nodes:    []selector.Node{origin(), edge("e1", "a.example:8080", state(nodemodel.StateDraining)), edge("e2", "b.example:8080")},
		req:      Request{Path: "live/other", Pathway: "e1", Port: "8080"},
		priority: []string{"e1"}, reason: "stream not live",
	}, {
		name:     "no pathway yet: an empty priority, never a null",
		nodes:    []selector.Node{origin()},
		req:      Request{Path: "live/other"},
		priority: []string{}, reason: "stream not live",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			snap := selector.Snapshot{Nodes: tc.nodes, Now: now, StaleAfter: 10 * time.Second}
			d := Decide(snap, tc.req, selector.DefaultWeights())
			assert.Equal(t, tc.priority, d.Priority)
			assert.Equal(t, tc.clones, d.Clones)
			assert.Equal(t, tc.reason, d.Reason)
			assert.Equal(t, len(tc.priority) > 0 && tc.priority[0] != tc.req.Pathway, d.Moved)
		})
	}
}

func TestManifestJSON(t *testing.T) {
	d := Decision{Priority: []string{"e2", "e1"}, Clones: []Clone{{BaseID: "e1", ID: "e2", URIReplacement: Replacement{Host: "b.example"}}}}
	b, err := json.Marshal(d.Manifest(5, ""))
	require.NoError(t, err)
	assert.JSONEq(t, `{"VERSION":1,"TTL":5,"PATHWAY-PRIORITY":["e2","e1"],
		"PATHWAY-CLONES":[{"BASE-ID":"e1","ID":"e2","URI-REPLACEMENT":{"HOST":"b.example"}}]}`, string(b))
}

func TestValidPathway(t *testing.T) {
	for id, ok := range map[string]bool{"edge-1": true, "e.2_x": true, "": false, "a b": false, `a"b`: false,
		"a,b": false, string(make([]byte, 65)): false} {
		assert.Equal(t, ok, ValidPathway(id), "%q", id)
	}
}

// BenchmarkDecide1000 decides for a player with 1,000 edges, without the manager's memo (as after every
// change of the cluster's snapshot).
func BenchmarkDecide1000(b *testing.B) {
	nodes := []selector.Node{origin()}
	for i := range 1000 {
		nodes = append(nodes, edge(fmt.Sprintf("e%04d", i), fmt.Sprintf("10.0.%d.%d:8080", i/250, i%250+1), load(i%50)))
	}
	nodes[1].State = nodemodel.StateDraining
	snap := selector.Snapshot{Nodes: nodes, Now: now, StaleAfter: 10 * time.Second}
	for _, pathway := range []string{"e0500", "e0000"} {
		b.Run(pathway, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Decide(snap, Request{Path: "live/cam1", Pathway: pathway, Port: "8080"}, selector.DefaultWeights())
			}
		})
	}
}
