package steering

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
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

// decideCase is one decision of TestDecide and TestDecideWithStorage: the cluster, the question, and the
// answer expected.
type decideCase struct {
	name     string
	nodes    []selector.Node
	req      Request
	priority []string
	clones   []Clone
	reason   string
}

// checkDecisions runs Decide on each case, with the storage pathway storage ("" for none).
func checkDecisions(t *testing.T, storage string, cases []decideCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			snap := selector.Snapshot{Nodes: tc.nodes, Now: now, StaleAfter: 10 * time.Second}
			req := tc.req
			req.Storage = storage
			d := Decide(snap, req, selector.DefaultWeights())
			assert.Equal(t, tc.priority, d.Priority)
			assert.Equal(t, tc.clones, d.Clones)
			assert.Equal(t, tc.reason, d.Reason)
			assert.Equal(t, len(tc.priority) > 0 && tc.priority[0] != tc.req.Pathway, d.Moved)
		})
	}
}

func TestDecide(t *testing.T) {
	checkDecisions(t, "", []decideCase{{
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
	}})
}

// TestDecideWithStorage: with a storage pathway (the storage push's copy in a bucket or CDN), every answer
// names it last; a player whose edge cannot keep it while no edge can take it goes there, and comes back
// to an edge (by a clone of its home) as soon as one can take it.
func TestDecideWithStorage(t *testing.T) {
	const cdn = "cdn"
	stale := func(n *selector.Node) { n.LastReport = now.Add(-time.Minute) }
	checkDecisions(t, cdn, []decideCase{{
		name:     "an edge that serves keeps its players: storage after the fallback edge",
		nodes:    []selector.Node{origin(), edge("e1", "a.example:8080"), edge("e2", "b.example:8080")},
		req:      Request{Path: "live/cam1", Pathway: "e1", Port: "8080"},
		priority: []string{"e1", "e2", cdn},
		clones:   []Clone{{BaseID: "e1", ID: "e2", URIReplacement: Replacement{Host: "b.example"}}},
		reason:   "stay",
	}, {
		name:     "the only edge: storage is its fallback",
		nodes:    []selector.Node{origin(), edge("e1", "a.example:8080")},
		req:      Request{Path: "live/cam1", Pathway: "e1", Port: "8080"},
		priority: []string{"e1", cdn}, reason: "stay",
	}, {
		name:     "the only edge drains: to storage, the draining edge second",
		nodes:    []selector.Node{origin(), edge("e1", "a.example:8080", state(nodemodel.StateDraining))},
		req:      Request{Path: "live/cam1", Pathway: "e1", Port: "8080"},
		priority: []string{cdn, "e1"}, reason: "draining; to storage",
	}, {
		name:     "the only edge is dead: to storage alone",
		nodes:    []selector.Node{origin(), edge("e1", "a.example:8080", stale)},
		req:      Request{Path: "live/cam1", Pathway: "e1", Port: "8080"},
		priority: []string{cdn}, reason: "stale; to storage",
	}, {
		name:     "an edge the manager no longer knows, and no other: to storage",
		nodes:    []selector.Node{origin(), edge("e2", "b.example:9090")},
		req:      Request{Path: "live/cam1", Pathway: "e1", Port: "8080"},
		priority: []string{cdn}, reason: "gone; to storage",
	}, {
		name: "a draining edge with another that can take the players: that edge, then the draining one, then storage",
		nodes: []selector.Node{origin(), edge("e1", "a.example:8080", state(nodemodel.StateDraining)),
			edge("e2", "b.example:8080")},
		req:      Request{Path: "live/cam1", Pathway: "e1", Port: "8080"},
		priority: []string{"e2", "e1", cdn},
		clones:   []Clone{{BaseID: "e1", ID: "e2", URIReplacement: Replacement{Host: "b.example"}}},
		reason:   "draining",
	}, {
		name:     "on storage with no edge: stays there",
		nodes:    []selector.Node{origin(), edge("e1", "a.example:8080", state(nodemodel.StateDraining))},
		req:      Request{Path: "live/cam1", Pathway: cdn, Port: "8080", Home: "e1"},
		priority: []string{cdn}, reason: "on storage; no edge",
	}, {
		name:     "on storage when an edge can take the player: back, by a clone of its home",
		nodes:    []selector.Node{origin(), edge("e2", "b.example:8080")},
		req:      Request{Path: "live/cam1", Pathway: cdn, Port: "8080", Home: "e1"},
		priority: []string{"e2", cdn},
		clones:   []Clone{{BaseID: "e1", ID: "e2", URIReplacement: Replacement{Host: "b.example"}}},
		reason:   "back from storage",
	}, {
		name:     "on storage when its home edge serves again: back to it, no clone needed",
		nodes:    []selector.Node{origin(), edge("e1", "a.example:8080")},
		req:      Request{Path: "live/cam1", Pathway: cdn, Port: "8080", Home: "e1"},
		priority: []string{"e1", cdn}, reason: "back from storage",
	}, {
		name:     "on storage without a home to clone: stays there",
		nodes:    []selector.Node{origin(), edge("e2", "b.example:8080")},
		req:      Request{Path: "live/cam1", Pathway: cdn, Port: "8080"},
		priority: []string{cdn}, reason: "on storage; no edge",
	}, {
		name:     "a node with the storage pathway's ID is never a pathway",
		nodes:    []selector.Node{origin(), edge("e1", "a.example:8080", state(nodemodel.StateDraining)), edge(cdn, "b.example:8080")},
		req:      Request{Path: "live/cam1", Pathway: "e1", Port: "8080"},
		priority: []string{cdn, "e1"}, reason: "draining; to storage",
	}, {
		name:     "a stream no origin publishes: nobody moves, storage is not named",
		nodes:    []selector.Node{origin(), edge("e1", "a.example:8080", state(nodemodel.StateDraining))},
		req:      Request{Path: "live/other", Pathway: "e1", Port: "8080"},
		priority: []string{"e1"}, reason: "stream not live",
	}})
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

func TestValidPlayer(t *testing.T) {
	for tok, ok := range map[string]bool{"5c0ffee5c0ffee00": true, "a.b_c-D": true, "": false, "a b": false,
		"a&b": false, "a=b": false, string(make([]byte, 65)): false} {
		assert.Equal(t, ok, ValidPlayer(tok), "%q", tok)
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
	// e0500 stays (no viewer), e0000 drains, e0049 is 49 % full beside empty edges: a rebalance moves some
	// of its players (this one stays)
	for _, pathway := range []string{"e0500", "e0000", "e0049"} {
		b.Run(pathway, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Decide(snap, Request{Path: "live/cam1", Pathway: pathway, Port: "8080", Player: "5c0ffee5c0ffee00"}, selector.DefaultWeights())
			}
		})
	}
}

// tokens are n player tokens as edges make them (16 hex digits of a hash of a session id).
func tokens(n int) []string {
	out := make([]string, n)
	for i := range out {
		sum := sha256.Sum256([]byte(fmt.Sprintf("session-%d", i)))
		out[i] = hex.EncodeToString(sum[:8])
	}
	return out
}

func capacity(c int) func(*selector.Node) { return func(n *selector.Node) { n.Capacity = c } }

// TestRebalance asks for 1,000 players of one edge with a token each and counts those a rebalance moves.
func TestRebalance(t *testing.T) {
	players := tokens(1000)
	for _, tc := range []struct {
		name    string
		nodes   []selector.Node
		pathway string
		region  string
		moved   float64 // the share of the players expected to move, within 0.05
		to      string  // where they go
	}{{
		name:    "edges of similar load: nobody moves",
		nodes:   []selector.Node{origin(), edge("e1", "a.example:8080", load(80)), edge("e2", "b.example:8080", load(60))},
		pathway: "e1",
	}, {
		name:    "a new empty edge beside a loaded one: half the players move, the loads meet at 40 %",
		nodes:   []selector.Node{origin(), edge("e1", "a.example:8080", load(80)), edge("e2", "b.example:8080")},
		pathway: "e1", moved: 0.5, to: "e2",
	}, {
		name:    "a full edge too (it keeps its players otherwise)",
		nodes:   []selector.Node{origin(), edge("e1", "a.example:8080", load(100)), edge("e2", "b.example:8080", load(20))},
		pathway: "e1", moved: 0.4, to: "e2",
	}, {
		name:    "an imbalance below the margin: nobody moves",
		nodes:   []selector.Node{origin(), edge("e1", "a.example:8080", load(34)), edge("e2", "b.example:8080", load(10))},
		pathway: "e1",
	}, {
		name:    "at the margin: the players above the level move",
		nodes:   []selector.Node{origin(), edge("e1", "a.example:8080", load(35)), edge("e2", "b.example:8080", load(10))},
		pathway: "e1", moved: 12.5 / 35, to: "e2",
	}, {
		name:    "the emptier edge's players never move to the fuller one",
		nodes:   []selector.Node{origin(), edge("e1", "a.example:8080", load(80)), edge("e2", "b.example:8080")},
		pathway: "e2",
	}, {
		name: "three loaded edges and a new one: each sends a quarter of its players, the new one gets to their level, no further",
		nodes: []selector.Node{origin(), edge("e1", "a.example:8080", load(80)), edge("e2", "b.example:8080", load(80)),
			edge("e3", "c.example:8080", load(80)), edge("e4", "d.example:8080")},
		pathway: "e1", moved: 0.25, to: "e4",
	}, {
		name: "two new edges: the first gets no more than its room below the level (the second takes the rest later)",
		nodes: []selector.Node{origin(), edge("e1", "a.example:8080", load(90)), edge("e2", "b.example:8080"),
			edge("e3", "c.example:8080", load(1))},
		pathway: "e1", moved: 30.0 / 90, to: "e2",
	}, {
		name:    "capacities differ: the bigger new edge takes most of a small edge's players",
		nodes:   []selector.Node{origin(), edge("e1", "a.example:8080", load(8), capacity(10)), edge("e2", "b.example:8080", capacity(100))},
		pathway: "e1", moved: (8 - 80.0/110) / 8, to: "e2",
	}, {
		name:    "an edge of unknown capacity is never rebalanced",
		nodes:   []selector.Node{origin(), edge("e1", "a.example:8080", load(80), capacity(0)), edge("e2", "b.example:8080")},
		pathway: "e1",
	}, {
		name: "an empty edge on another port cannot take the players (a clone keeps the port)",
		nodes: []selector.Node{origin(), edge("e1", "a.example:8080", load(80)), edge("e2", "b.example:9090"),
			edge("e3", "c.example:8080", load(70))},
		pathway: "e1",
	}, {
		name: "draining and dead edges neither take players nor count in the level",
		nodes: []selector.Node{origin(), edge("e1", "a.example:8080", load(80)), edge("e2", "b.example:8080"),
			edge("e3", "c.example:8080", load(100), state(nodemodel.StateDraining)),
			edge("e4", "d.example:8080", load(100), func(n *selector.Node) { n.LastReport = now.Add(-time.Minute) })},
		pathway: "e1", moved: 0.5, to: "e2",
	}, {
		name: "the player's region first: the level is that of its region's edges",
		nodes: []selector.Node{origin(), edge("e1", "a.example:8080", load(80), region("eu")), edge("e2", "b.example:8080", load(20), region("eu")),
			edge("e3", "c.example:8080"), edge("e4", "d.example:8080")},
		pathway: "e1", region: "eu", moved: 0.375, to: "e2",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			snap := selector.Snapshot{Nodes: tc.nodes, Now: now, StaleAfter: 10 * time.Second}
			moved := 0
			for _, p := range players {
				req := Request{Path: "live/cam1", Pathway: tc.pathway, Port: "8080", Region: tc.region, Player: p, Home: tc.pathway}
				d := Decide(snap, req, selector.DefaultWeights())
				require.Equal(t, d, Decide(snap, req, selector.DefaultWeights()), "the same player, the same answer")
				anyone := req
				anyone.Player, anyone.Home = "", ""
				require.Equal(t, d, Decide(snap, anyone, selector.DefaultWeights()).For(req), "the answer for the pathway's players, then for this one")
				away := req
				away.Home = "e9"
				require.False(t, Decide(snap, away, selector.DefaultWeights()).Moved, "a player no longer on its home edge was rebalanced")
				if !d.Moved {
					assert.Equal(t, "stay", d.Reason)
					assert.Equal(t, tc.pathway, d.Priority[0])
					continue
				}
				moved++
				require.Equal(t, "rebalance", d.Reason)
				require.Equal(t, []string{tc.to, tc.pathway}, d.Priority, "moved, with its old edge as the fallback")
				require.Len(t, d.Clones, 1)
				assert.Equal(t, Clone{BaseID: tc.pathway, ID: tc.to, URIReplacement: d.Clones[0].URIReplacement}, d.Clones[0])
			}
			assert.InDelta(t, tc.moved, float64(moved)/float64(len(players)), 0.05, "%d of %d moved", moved, len(players))
			if tc.moved == 0 {
				assert.Zero(t, moved)
			}
			d := Decide(snap, Request{Path: "live/cam1", Pathway: tc.pathway, Port: "8080", Region: tc.region, Home: tc.pathway}, selector.DefaultWeights())
			assert.False(t, d.Moved, "a player without a token is never rebalanced")
		})
	}
}

// TestRebalanceOnlyFromHome: a rebalance that moved too many players (the draw of a small audience, or an
// edge that counted its departed viewers for a while) leaves the new edge the fuller one; its players came
// from the other edge and stay, while the new edge's own players may still be moved.
func TestRebalanceOnlyFromHome(t *testing.T) {
	snap := selector.Snapshot{Nodes: []selector.Node{origin(), edge("e1", "a.example:8080", load(5), capacity(25)),
		edge("e2", "b.example:8080", load(15), capacity(25))}, Now: now, StaleAfter: 10 * time.Second}
	fromE1, ownE2 := 0, 0
	for _, p := range tokens(1000) {
		if Decide(snap, Request{Path: "live/cam1", Pathway: "e2", Port: "8080", Player: p, Home: "e1"}, selector.DefaultWeights()).Moved {
			fromE1++
		}
		if Decide(snap, Request{Path: "live/cam1", Pathway: "e2", Port: "8080", Player: p, Home: "e2"}, selector.DefaultWeights()).Moved {
			ownE2++
		}
	}
	assert.Zero(t, fromE1, "players moved back")
	assert.InDelta(t, 1000/3, ownE2, 50, "the new edge's own players")
}

func region(r string) func(*selector.Node) { return func(n *selector.Node) { n.Region = r } }

// TestRebalanceSettles plays the steering requests of the players of loaded edges (800 viewers of 1,000
// each) when a new, empty edge joins: every round (a report interval) a quarter of the players ask (each
// asks every fourth round: the TTL), and the edges report between rounds. The players a rebalance moves
// are moved once, to the new edge, never back; the new edge ends within the margin of the others and no
// fuller; and within a few TTLs nobody moves any more. With exact reports, and with an edge counting a
// player that left it for `lag` rounds more (an edge counts a viewer for a while after its last request).
func TestRebalanceSettles(t *testing.T) {
	for _, tc := range []struct{ loaded, lag int }{{1, 0}, {1, 2}, {1, 8}, {3, 0}, {3, 2}, {3, 8}} {
		t.Run(fmt.Sprintf("%d loaded edges, lag %d", tc.loaded, tc.lag), func(t *testing.T) {
			players := tokens(800 * tc.loaded)
			ids := []string{"new"}
			on, home := map[string]string{}, map[string]string{} // player → edge
			for i, p := range players {
				on[p] = fmt.Sprintf("e%d", 1+i%tc.loaded)
				home[p] = on[p]
				if i < tc.loaded {
					ids = append(ids, on[p])
				}
			}
			type left struct {
				edge  string
				round int
			}
			var leavers []left
			moves := map[string]int{}
			lastMove := -1
			var history []map[string]int
			for round := range 32 {
				reported := map[string]int{}
				for _, e := range on {
					reported[e]++
				}
				history = append(history, maps.Clone(reported))
				for _, l := range leavers {
					if round-l.round <= tc.lag {
						reported[l.edge]++
					}
				}
				nodes := []selector.Node{origin()}
				for _, id := range ids {
					nodes = append(nodes, edge(id, id+".example:8080", capacity(1000), load(reported[id])))
				}
				snap := selector.Snapshot{Nodes: nodes, Now: now, StaleAfter: 10 * time.Second}
				for i, p := range players {
					if i%4 != round%4 {
						continue
					}
					d := Decide(snap, Request{Path: "live/cam1", Pathway: on[p], Port: "8080", Player: p, Home: home[p]}, selector.DefaultWeights())
					if d.Moved {
						require.Equal(t, "rebalance", d.Reason)
						require.Equal(t, "new", d.Priority[0], "round %d: a player moved elsewhere than to the new edge", round)
						leavers = append(leavers, left{on[p], round})
						on[p] = d.Priority[0]
						moves[p]++
						lastMove = round
					}
				}
			}
			t.Logf("loads per round: %v", history[:lastMove+2])
			for p, n := range moves {
				require.Equal(t, 1, n, "player %s moved %d times", p, n)
			}
			assert.Less(t, lastMove, 4*4+tc.lag, "players still moving after 4 TTLs and the lag")
			last := history[len(history)-1]
			even := 800 * tc.loaded / (tc.loaded + 1)
			assert.Greater(t, last["new"], even/2, "the new edge got less than half its share: %v", last)
			for _, id := range ids[1:] {
				assert.GreaterOrEqual(t, last[id]+30, last["new"], "the new edge got more than its share: %v", last)
			}
		})
	}
}
