package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/manager/api"
	"github.com/nagare-video/nagare/internal/manager/steering"
)

// TestSteering asks the steering endpoint as hls.js does: a player stays on its edge while it serves
// (the other edge second, its fallback), is moved (with a clone of its pathway) once the edge drains, and hostile parameters get 400.
func TestSteering(t *testing.T) {
	e := newEnv(t)
	e.group("g", 100)
	e.join(fixtureNode{id: "origin-1", role: "origin", group: "g", http: "10.0.0.9:8080"})
	e.report("origin-1", 0, "live/s")
	e.join(fixtureNode{id: "edge-a", role: "edge", group: "g", http: "10.0.0.1:8080"})
	e.join(fixtureNode{id: "edge-b", role: "edge", group: "g", http: "10.0.0.2:8080"})
	e.report("edge-a", 5)

	ask := "/steering/v1/live/s?port=8080&_HLS_pathway=edge-a&_HLS_throughput=5000000"
	var m steering.Manifest
	res := e.do("GET", ask, authNone, "")
	res.must(t, http.StatusOK, &m)
	assert.Equal(t, steering.Manifest{Version: 1, TTL: 5, PathwayPriority: []string{"edge-a", "edge-b"},
		PathwayClones: []steering.Clone{{BaseID: "edge-a", ID: "edge-b", URIReplacement: steering.Replacement{Host: "10.0.0.2"}}}},
		m, "an edge in service keeps its player, with the other edge as its fallback")
	assert.Equal(t, "no-store", res.header.Get("Cache-Control"))
	assert.Equal(t, "*", res.header.Get("Access-Control-Allow-Origin"), "players ask from pages of any origin")

	e.native("POST", "/nodes/edge-a/drain", "").must(t, http.StatusOK, nil)
	e.settle()
	m = steering.Manifest{}
	e.do("GET", ask, authNone, "").must(t, http.StatusOK, &m)
	assert.Equal(t, []string{"edge-b", "edge-a"}, m.PathwayPriority)
	assert.Equal(t, []steering.Clone{{BaseID: "edge-a", ID: "edge-b", URIReplacement: steering.Replacement{Host: "10.0.0.2"}}}, m.PathwayClones)

	for _, bad := range []struct{ query, msg string }{
		{"/steering/v1/live/s?_HLS_pathway=" + "a%22b", "_HLS_pathway"},
		{"/steering/v1/live/s?_HLS_pathway=edge-a&port=99999", "port"},
		{"/steering/v1/live/s?_HLS_pathway=edge-a&port=x", "port"},
		{"/steering/v1/live/s?_HLS_pathway=edge-a&player=a%26b", "player"},
		{"/steering/v1/live/s?_HLS_pathway=edge-a&player=" + strings.Repeat("a", 65), "player"},
		{"/steering/v1/live/s?_HLS_pathway=edge-a&player=abc&home=a%2Cb", "home"},
		{"/steering/v1/live/..%2Fx?_HLS_pathway=edge-a", ""},
	} {
		res := e.do("GET", bad.query, authNone, "")
		require.Equal(t, http.StatusBadRequest, res.status, "%s: %s", bad.query, res.body)
		requireNativeError(t, res, bad.msg)
	}
}

// TestSteeringToStorage: with a storage pathway, the players of the only edge have it as their fallback,
// go there when that edge drains, the drained edge second, and are sent back by a clone of their home
// when an edge joins; the answers for players on storage of different homes are their own.
func TestSteeringToStorage(t *testing.T) {
	e := newEnv(t, func(s *api.Server) { s.SteeringStorage = "cdn" })
	e.group("g", 100)
	e.join(fixtureNode{id: "origin-1", role: "origin", group: "g", http: "10.0.0.9:8080"})
	e.report("origin-1", 0, "live/s")
	e.join(fixtureNode{id: "edge-a", role: "edge", group: "g", http: "10.0.0.1:8080"})
	ask := func(pathway, home string) steering.Manifest {
		t.Helper()
		var m steering.Manifest
		e.do("GET", "/steering/v1/live/s?port=8080&player=0123456789abcdef&home="+home+"&_HLS_pathway="+pathway, authNone, "").
			must(t, http.StatusOK, &m)
		return m
	}
	assert.Equal(t, []string{"edge-a", "cdn"}, ask("edge-a", "edge-a").PathwayPriority, "storage as the only edge's fallback")

	e.native("POST", "/nodes/edge-a/drain", "").must(t, http.StatusOK, nil)
	e.settle()
	m := ask("edge-a", "edge-a")
	assert.Equal(t, []string{"cdn", "edge-a"}, m.PathwayPriority, "the only edge drains: to storage")
	assert.Empty(t, m.PathwayClones)
	assert.Equal(t, []string{"cdn"}, ask("cdn", "edge-a").PathwayPriority, "on storage, no edge to go back to")

	e.join(fixtureNode{id: "edge-b", role: "edge", group: "g", http: "10.0.0.2:8080"})
	e.settle()
	m = ask("cdn", "edge-a")
	assert.Equal(t, []string{"edge-b", "cdn"}, m.PathwayPriority, "back from storage")
	assert.Equal(t, []steering.Clone{{BaseID: "edge-a", ID: "edge-b", URIReplacement: steering.Replacement{Host: "10.0.0.2"}}}, m.PathwayClones)
	m = ask("cdn", "edge-z")
	assert.Equal(t, []steering.Clone{{BaseID: "edge-z", ID: "edge-b", URIReplacement: steering.Replacement{Host: "10.0.0.2"}}}, m.PathwayClones,
		"the clone of another home: not the remembered answer of the first")
}

// TestSteeringRebalance: when an empty edge joins beside one at 80 % of its capacity, about half the
// players of the full one (those the token in their steering URL chooses) are moved to it, each time they
// ask, and the others stay; a player without a token, one that started on another edge, and the players
// of the emptier edge stay; once the edges report similar loads, nobody is moved.
func TestSteeringRebalance(t *testing.T) {
	e := newEnv(t)
	e.group("g", 10)
	e.join(fixtureNode{id: "origin-1", role: "origin", group: "g", http: "10.0.0.9:8080"})
	e.report("origin-1", 0, "live/s")
	e.join(fixtureNode{id: "edge-a", role: "edge", group: "g", http: "10.0.0.1:8080"})
	e.report("edge-a", 8)
	e.join(fixtureNode{id: "edge-b", role: "edge", group: "g", http: "10.0.0.2:8080"})

	ask := func(pathway, player string) steering.Manifest {
		t.Helper()
		var m steering.Manifest
		e.do("GET", "/steering/v1/live/s?port=8080&player="+player+"&home="+pathway+"&_HLS_pathway="+pathway+"&_HLS_throughput=5000000",
			authNone, "").must(t, http.StatusOK, &m)
		return m
	}
	moved := map[string]bool{}
	for i := range 100 {
		player := fmt.Sprintf("%016x", uint64(i)*0x9e3779b97f4a7c15)
		m := ask("edge-a", player)
		switch m.PathwayPriority[0] {
		case "edge-b":
			moved[player] = true
			assert.Equal(t, []string{"edge-b", "edge-a"}, m.PathwayPriority, "moved, its old edge as the fallback")
			assert.Equal(t, []steering.Clone{{BaseID: "edge-a", ID: "edge-b", URIReplacement: steering.Replacement{Host: "10.0.0.2"}}}, m.PathwayClones)
		case "edge-a":
		default:
			t.Fatalf("steered to %v", m.PathwayPriority)
		}
		assert.Equal(t, moved[player], ask("edge-a", player).PathwayPriority[0] == "edge-b", "player %s: another answer the second time", player)
		assert.Equal(t, "edge-b", ask("edge-b", player).PathwayPriority[0], "a player of the emptier edge moved")
	}
	assert.InDelta(t, 50, len(moved), 25, "players moved off the full edge")
	assert.Equal(t, "edge-a", ask("edge-a", "").PathwayPriority[0], "a player without a token moved")
	for player := range moved {
		var m steering.Manifest
		e.do("GET", "/steering/v1/live/s?port=8080&player="+player+"&home=edge-c&_HLS_pathway=edge-a", authNone, "").must(t, http.StatusOK, &m)
		assert.Equal(t, "edge-a", m.PathwayPriority[0], "a player that started on another edge was rebalanced")
	}

	e.report("edge-a", 5)
	e.report("edge-b", 3)
	for player := range moved {
		assert.Equal(t, []string{"edge-a", "edge-b"}, ask("edge-a", player).PathwayPriority, "moved although the edges are within the margin")
	}
}

// TestSteeringFlood: one address asking far more often than players do is answered up to its burst,
// then gets 429 with Retry-After and a JSON error.
func TestSteeringFlood(t *testing.T) {
	e := newEnv(t)
	ask := "/steering/v1/live/s?_HLS_pathway=edge-a"
	limited := 0
	for range 1000 {
		res := e.do("GET", ask, authNone, "")
		if res.status == http.StatusTooManyRequests {
			limited++
			assert.Equal(t, "2", res.header.Get("Retry-After"))
			requireNativeError(t, res, "too many requests")
		} else {
			require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
		}
	}
	assert.Positive(t, limited, "a flood of steering requests was never limited")
	assert.Less(t, limited, 1000, "nothing was answered")
}

// TestNewViewersSpillToStorage: with the storage push's copy configured, a new HLS viewer whom no edge of
// the group can take (every edge full) goes to the copy rather than loading the stream's origin, without
// a sticky cookie; a viewer already on a full edge stays there; once an edge has room, new viewers go to it
// again; the routing calls of other players (Red5's subscribe, the native route) still name the origin; a
// group without edges keeps playing from its origin, and a stream live nowhere is still refused.
func TestNewViewersSpillToStorage(t *testing.T) {
	const storage = "https://cdn.example.com/live-copy"
	sc := &unserved{coming: true}
	e := newEnv(t, func(s *api.Server) { s.StorageURL, s.StoragePlaylist, s.Scaler = storage, "index_ll.m3u8", sc })
	entry := func(cookies ...*http.Cookie) response {
		t.Helper()
		res := e.do("GET", "/live/s/index.m3u8", authNone, "", cookies...)
		require.Equal(t, http.StatusFound, res.status, "body: %s", res.body)
		return res
	}

	e.group("g", 10)
	e.join(fixtureNode{id: "origin-1", role: "origin", group: "g", http: "10.0.0.9:8080"})
	e.report("origin-1", 0, "live/s")
	sc.coming = false
	assert.Equal(t, "http://10.0.0.9:8080/live/s/index.m3u8", entry().header.Get("Location"), "no edges: the origin serves")
	sc.coming = true

	e.join(fixtureNode{id: "edge-a", role: "edge", group: "g", http: "10.0.0.1:8080"})
	e.report("edge-a", 3)
	assert.Equal(t, "http://10.0.0.1:8080/live/s/index.m3u8", entry().header.Get("Location"), "an edge with room")

	e.report("edge-a", 10)
	sc.groups = nil
	res := entry()
	assert.Equal(t, storage+"/live/s/index_ll.m3u8", res.header.Get("Location"),
		"the only edge is full, another is being launched: to storage meanwhile, not 503")
	assert.Equal(t, "no-store", res.header.Get("Cache-Control"))
	assert.Empty(t, res.header.Values("Set-Cookie"), "no sticky cookie to storage")
	assert.Equal(t, []string{"g"}, sc.groups, "the autoscaler heard of the viewer")
	sc.coming = false
	assert.Equal(t, storage+"/live/s/index_ll.m3u8", entry().header.Get("Location"), "no edge coming: to storage too")
	assert.Equal(t, "http://10.0.0.1:8080/live/s/index.m3u8",
		entry(&http.Cookie{Name: "nagare_node", Value: "edge-a"}).header.Get("Location"), "a viewer of the full edge stays")

	var ev struct {
		ServerAddress string `json:"serverAddress"`
	}
	e.do("GET", "/streammanager/api/3.1/event/live/s?action=subscribe", authNone, "").must(t, http.StatusOK, &ev)
	assert.Equal(t, "10.0.0.9", ev.ServerAddress, "Red5's subscribers are not HLS players: the origin")

	e.report("edge-a", 9)
	assert.Equal(t, "http://10.0.0.1:8080/live/s/index.m3u8", entry().header.Get("Location"), "room again: back to the edge")

	e.report("edge-a", 10)
	res = e.do("GET", "/live/nowhere/index.m3u8", authNone, "")
	assert.Equal(t, http.StatusServiceUnavailable, res.status, "a stream live nowhere is not sent to storage: %s", res.body)
}

// TestSpilledViewersComeBackThroughTheirHome: when edges offer the storage pathway, a new HLS viewer whom no
// edge can take is sent to the multivariant playlist of the least loaded full edge, asking it to start the
// viewer on storage (so the viewer's playlist carries the steering tag, with that edge as its home), still
// without a sticky cookie; while every edge is full the steering server keeps it on storage, and once an
// edge has room it brings the viewer there by a clone of its home.
func TestSpilledViewersComeBackThroughTheirHome(t *testing.T) {
	const storage = "https://cdn.example.com/live-copy"
	e := newEnv(t, func(s *api.Server) {
		s.StorageURL, s.StoragePlaylist, s.SteeringStorage = storage, "index_ll.m3u8", "cdn"
	})
	e.group("g", 10)
	e.join(fixtureNode{id: "origin-1", role: "origin", group: "g", http: "10.0.0.9:8080"})
	e.report("origin-1", 0, "live/s")
	e.join(fixtureNode{id: "edge-a", role: "edge", group: "g", http: "10.0.0.1:8080"})
	e.join(fixtureNode{id: "edge-b", role: "edge", group: "g", http: "10.0.0.2:8080"})
	e.report("edge-a", 12)
	e.report("edge-b", 10)

	res := e.do("GET", "/live/s/index.m3u8", authNone, "")
	require.Equal(t, http.StatusFound, res.status, "body: %s", res.body)
	assert.Equal(t, "http://10.0.0.2:8080/live/s/index.m3u8?pathway=cdn", res.header.Get("Location"),
		"the least loaded full edge's playlist, starting on storage")
	assert.Equal(t, "no-store", res.header.Get("Cache-Control"))
	assert.Empty(t, res.header.Values("Set-Cookie"), "no sticky cookie: the viewer is not on that edge")

	ask := func() steering.Manifest {
		t.Helper()
		var m steering.Manifest
		e.do("GET", "/steering/v1/live/s?port=8080&player=0123456789abcdef&home=edge-b&_HLS_pathway=cdn", authNone, "").
			must(t, http.StatusOK, &m)
		return m
	}
	assert.Equal(t, []string{"cdn"}, ask().PathwayPriority, "every edge full: it stays on storage")
	e.report("edge-a", 4)
	e.settle()
	m := ask()
	assert.Equal(t, []string{"edge-a", "cdn"}, m.PathwayPriority, "an edge has room: back to it")
	assert.Equal(t, []steering.Clone{{BaseID: "edge-b", ID: "edge-a", URIReplacement: steering.Replacement{Host: "10.0.0.1"}}}, m.PathwayClones)

	e.report("edge-a", 10)
	e.settle()
	e.native("POST", "/nodes/edge-b/drain", "").must(t, http.StatusOK, nil)
	e.settle()
	assert.Equal(t, "http://10.0.0.1:8080/live/s/index.m3u8?pathway=cdn", e.do("GET", "/live/s/index.m3u8", authNone, "").header.Get("Location"),
		"a draining edge is nobody's home")
}
