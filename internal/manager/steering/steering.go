// Package steering decides HLS Content Steering (RFC 8216bis §4.4.6.6 and §7) for the stream manager:
// which pathway — which edge — a player should load a live stream from, and how to reach an edge its
// multivariant playlist does not name (a pathway clone with URI-REPLACEMENT HOST).
//
// A pathway is a node: its ID is the node's ID, and an edge names itself in the multivariant playlists it
// serves (PATHWAY-ID), with the manager as the steering server. Every edge serves the same objects under
// the same names (they relay the origin's), so a player moved to another edge goes on with the next part.
//
// A player stays on an edge that serves it, except that when a much emptier edge appears (the autoscaler
// added one), part of the players of a fuller edge are moved to it: those whose token (Request.Player)
// falls in the share to move, so the same players are chosen every time while the imbalance lasts and the
// others stay, and only players still on the edge they started on, so that none is moved twice (see
// Decide).
//
// Decide is pure: it reads a cluster snapshot and never the clock, so the decisions are table-tested.
package steering

import (
	"net"
	"slices"
	"strings"

	"github.com/nagare-video/nagare/internal/manager/selector"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

// Manifest is the steering manifest (RFC 8216bis §7.1), the JSON a player fetches every TTL seconds.
type Manifest struct {
	Version         int      `json:"VERSION"`
	TTL             int      `json:"TTL"`
	ReloadURI       string   `json:"RELOAD-URI,omitempty"`
	PathwayPriority []string `json:"PATHWAY-PRIORITY"`
	PathwayClones   []Clone  `json:"PATHWAY-CLONES,omitempty"`
}

// Clone defines a pathway from another (§7.2): the same URIs with the host name replaced.
type Clone struct {
	BaseID         string      `json:"BASE-ID"`
	ID             string      `json:"ID"`
	URIReplacement Replacement `json:"URI-REPLACEMENT"`
}

// Replacement is a clone's URI-REPLACEMENT. HOST replaces the host name only: a player keeps the port
// (hls.js sets URL.hostname), so a clone reaches only an edge listening on the same port.
type Replacement struct {
	Host string `json:"HOST,omitempty"`
}

// Request is one steering request.
type Request struct {
	Path    string // "<app>/<stream>"
	Pathway string // _HLS_pathway: the pathway the player loads from now ("" for none yet)
	Port    string // the HTTP port of the player's pathways (from the edge's SERVER-URI)
	Group   string // the group the player was routed in ("" = any)
	Region  string
	// Player is the player's token (from its SERVER-URI: the same at every request of one player, see
	// ValidPlayer), "" for none. It decides only whether a rebalance moves this player; a player without
	// one is moved only off an edge that cannot keep it.
	Player string
	// Home is the pathway of the edge whose multivariant playlist the player loaded (from its SERVER-URI,
	// which a player keeps when it changes pathways), "" for none. A rebalance moves only players still on
	// their home edge: each at most once, so that none is ever moved back, whatever the loads do next.
	// A player on the storage pathway is moved back to an edge by a clone of its home.
	Home string
	// Storage is the storage pathway's ID when the edges offer one (the storage push's copy of the
	// streams, in the bucket or a CDN in front of it), "" when they do not. See Decide.
	Storage string
}

// Decision is where a player goes: PATHWAY-PRIORITY and the clones it needs, and why.
type Decision struct {
	Priority []string
	Clones   []Clone
	// Reason says why the player stays or moves: "stay", "rebalance", or what is wrong with its pathway.
	Reason string
	// Moved reports whether the first pathway is another than the player's.
	Moved bool

	// rebalance, on a decision to stay, is where the players a rebalance moves go, and share how many of
	// the pathway's players in 10,000 it moves (see For).
	rebalance *Decision
	share     int
}

// RebalanceMargin is how much fuller, in percent of capacity, a player's edge must be than the edge a new
// viewer would get before a rebalance moves some of its players there. Between edges within the margin of
// each other nobody moves, so a rebalance stops once it has brought the edges within the margin. (That a
// player it moved is never sent back is For's doing: it moves players only off their home edge.)
const RebalanceMargin = 25

// shareScale is what a rebalance's share is counted in: players moved per 10,000.
const shareScale = 10000

// For is d for the player that asks req: where it goes if it is one of the players a rebalance moves, d
// otherwise. A rebalance moves only players on their home edge (req.Pathway == req.Home) with a token,
// and among them those for which an FNV-1a hash of the token and of the edge the rebalance moves to,
// modulo 10,000, is below the share: the same players each time while the imbalance lasts (a smaller
// share chooses among the same ones), so however late the edges' reports show the players that have
// moved, no more move than the largest share computed. Decide applies For to its request; a caller that
// remembers decisions asks Decide without the player's token and home (the answer is then the same for
// all the players of a pathway) and applies For to each player's request.
func (d Decision) For(req Request) Decision {
	if d.rebalance == nil || req.Player == "" || req.Home != req.Pathway || bucket(req.Player, d.rebalance.Priority[0]) >= d.share {
		return d
	}
	return *d.rebalance
}

// bucket is the FNV-1a hash (32 bits) of player, a zero byte and to, modulo shareScale. It allocates
// nothing (hash/fnv would take a []byte copy of the strings).
func bucket(player, to string) int {
	const offset, prime = 2166136261, 16777619
	h := uint32(offset)
	for i := 0; i < len(player); i++ {
		h = (h ^ uint32(player[i])) * prime
	}
	h *= prime // the zero byte: "ab"+"c" and "a"+"bc" differ
	for i := 0; i < len(to); i++ {
		h = (h ^ uint32(to[i])) * prime
	}
	return int(h % shareScale)
}

// ValidPathway reports whether id can be a PATHWAY-ID: 1 to 64 of the characters RFC 8216bis allows
// ([A-Za-z0-9._-]). A node whose ID cannot is never steered.
func ValidPathway(id string) bool { return token(id) }

// ValidPlayer reports whether tok can be a player token: 1 to 64 of [A-Za-z0-9._-]. Edges send a hash
// of the player's viewer session id (never the id itself), but the manager needs no more than a string
// that stays the same for one player.
func ValidPlayer(tok string) bool { return token(tok) }

// token reports whether s is 1 to 64 of [A-Za-z0-9._-].
func token(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// Decide steers one player. A player stays on its pathway while that node serves it (in service,
// reporting, keeping up; a full node keeps the viewers it has); the edge selector.PickEdge would pick for
// a new viewer (among those on the player's port) comes second, where the player goes by itself if its
// requests fail. Otherwise the player is sent to that edge, with its own pathway second while that node
// still runs (it falls back there if the new edge fails). When no other edge can take it, it stays.
//
// The one exception to staying is a rebalance: when the player's edge is fuller than that other edge by
// RebalanceMargin of its capacity or more, a share of its players (chosen by token among those whose
// home it is, see For) is moved there, its own pathway second: as many as bring both to the level all the comparable edges would be at
// with the viewers spread evenly, and no more than the other edge has room for below that level (several
// full edges share one new edge). Edges within the margin of each other keep their players, so nobody
// is moved back and forth.
//
// With a storage pathway (req.Storage), every answer names it last, where a player whose edges all fail
// goes by itself; a player whose edge cannot keep it while no other edge can take it is sent there (its
// edge second while that still runs), and a player on it is sent back to the edge a new viewer would
// get, by a clone of its home edge's pathway, as soon as there is one.
func Decide(s selector.Snapshot, req Request, w selector.Weights) Decision {
	return decide(s, req, w).For(req)
}

func decide(s selector.Snapshot, req Request, w selector.Weights) Decision {
	onStorage := req.Storage != "" && req.Pathway == req.Storage
	// base is the pathway a clone for this player is made from: one its multivariant playlist has
	base := req.Pathway
	var cur *selector.Node
	if onStorage {
		base = ""
		if req.Home != req.Storage && ValidPathway(req.Home) {
			base = req.Home
		}
	} else {
		for i := range s.Nodes {
			if s.Nodes[i].ID == req.Pathway {
				cur = &s.Nodes[i]
				break
			}
		}
	}
	stay := func(reason string) Decision {
		d := Decision{Priority: make([]string, 0, 3), Reason: reason}
		if req.Pathway != "" {
			d.Priority = append(d.Priority, req.Pathway)
		}
		return d
	}
	if !live(&s, req.Path) {
		// nothing to move to: an edge serves only what an origin publishes, and storage holds its copy
		return stay("stream not live")
	}
	// the edge a new viewer would get, among those a HOST clone of the player's URIs reaches
	best, err := selector.PickEdgeWhere(s, req.Group, req.Path, req.Region, w, func(n *selector.Node) bool {
		// this runs three times per edge for every decision: the cheap tests first, nothing allocated
		return n.ID != req.Pathway && onPort(n, req.Port) && n.ID != req.Storage && ValidPathway(n.ID)
	})
	found := err == nil && best.Role == nodemodel.RoleEdge
	clone := func() []Clone {
		if base == "" || base == best.ID {
			return nil // the player's playlist names that edge itself (its home), or a clone cannot be made
		}
		host, _, _ := net.SplitHostPort(best.HTTP)
		return []Clone{{BaseID: base, ID: best.ID, URIReplacement: Replacement{Host: host}}}
	}
	withStorage := func(d Decision) Decision {
		if req.Storage != "" && len(d.Priority) > 0 && !slices.Contains(d.Priority, req.Storage) {
			d.Priority = append(d.Priority, req.Storage)
		}
		return d
	}

	if onStorage {
		if !found || base == "" && req.Home != best.ID {
			return stay("on storage; no edge") // no edge, or none the player can be sent to
		}
		return Decision{Priority: []string{best.ID, req.Storage}, Clones: clone(), Reason: "back from storage", Moved: true}
	}
	reason := problem(&s, cur)
	switch {
	case reason == "":
		// the player stays, with that edge second: a player whose requests fail moves there by itself
		// (hls.js does on errors) before its next steering request
		d := stay("stay")
		if found && req.Pathway != "" {
			d.Priority, d.Clones = append(d.Priority, best.ID), clone()
			if share := rebalanceShare(&s, cur, &best, req); share > 0 {
				r := withStorage(Decision{Priority: []string{best.ID, req.Pathway}, Clones: d.Clones, Reason: "rebalance", Moved: true})
				d.rebalance = &r
				d.share = share
			}
		}
		return withStorage(d)
	case !found && req.Storage != "" && req.Pathway != "":
		// no edge can take the player: the storage pathway can, its edge second while that still serves
		d := Decision{Priority: []string{req.Storage}, Reason: reason + "; to storage", Moved: true}
		if cur != nil && reason != "stale" {
			d.Priority = append(d.Priority, req.Pathway)
		}
		return d
	case !found:
		// nowhere better: the player keeps its pathway
		return withStorage(stay(reason + "; no other edge"))
	}
	d := Decision{Priority: append(make([]string, 0, 3), best.ID), Reason: reason, Moved: true}
	if req.Pathway != "" {
		d.Clones = clone()
		if cur != nil && reason != "stale" {
			// a draining or overloaded edge still serves: the player falls back to it if the new one fails
			d.Priority = append(d.Priority, req.Pathway)
		}
	}
	return withStorage(d)
}

// rebalanceShare is how many in 10,000 of cur's players should move to best, an emptier edge (see
// Decide); 0 when the loads (connections per capacity) are within RebalanceMargin of each other or a
// capacity is unknown.
func rebalanceShare(s *selector.Snapshot, cur, best *selector.Node, req Request) int {
	if cur.Capacity <= 0 || best.Capacity <= 0 || cur.Connections <= 0 {
		return 0
	}
	// cur.Connections/cur.Capacity - best.Connections/best.Capacity < RebalanceMargin/100, without a
	// rounding error at the margin
	if 100*(cur.Connections*best.Capacity-best.Connections*cur.Capacity) < RebalanceMargin*cur.Capacity*best.Capacity {
		return 0 // the common case, the stay path of every edge that is not much fuller: nothing more to do
	}
	// the level the edges that share the load would be at with their viewers spread evenly
	regional := req.Region != "" && best.Region == req.Region
	var conns, capacity int
	for i := range s.Nodes {
		if n := &s.Nodes[i]; n == cur || sharesLoad(s, n, req, regional) {
			conns, capacity = conns+n.Connections, capacity+n.Capacity
		}
	}
	level := float64(conns) / float64(capacity)
	// cur's players above the level, but no more than best has room for below it
	moved := min((loadOf(cur)-level)*float64(cur.Capacity), (level-loadOf(best))*float64(best.Capacity))
	if moved <= 0 {
		return 0
	}
	return min(int(moved/float64(cur.Connections)*shareScale), shareScale)
}

// sharesLoad reports whether n is one of the edges whose level a rebalance evens out: an edge of known
// capacity in service and reporting (full or overloaded: theirs is load too) on the player's port, of
// the player's group, and in the player's region when the edge to move to is (as the selector compares
// the edges).
func sharesLoad(s *selector.Snapshot, n *selector.Node, req Request, regional bool) bool {
	if n.Role != nodemodel.RoleEdge || n.Capacity <= 0 || req.Group != "" && n.Group != req.Group ||
		regional && n.Region != req.Region || !onPort(n, req.Port) {
		return false
	}
	p := problem(s, n)
	return p == "" || p == "overloaded"
}

// onPort reports whether n's HTTP server listens on port ("" = any): whether a HOST clone of a player's
// URIs reaches it.
func onPort(n *selector.Node, port string) bool {
	i := strings.LastIndexByte(n.HTTP, ':')
	return i > 0 && (port == "" || n.HTTP[i+1:] == port)
}

// loadOf is n's connections per capacity (which must be known).
func loadOf(n *selector.Node) float64 { return float64(n.Connections) / float64(n.Capacity) }

// live reports whether an origin in s publishes path.
func live(s *selector.Snapshot, path string) bool {
	for i := range s.Nodes {
		if n := &s.Nodes[i]; n.Role == nodemodel.RoleOrigin && slices.Contains(n.LiveStreams, path) {
			return true
		}
	}
	return false
}

// problem says why cur cannot keep its viewers ("" when it can).
func problem(s *selector.Snapshot, cur *selector.Node) string {
	switch {
	case cur == nil:
		return "gone"
	case cur.State != nodemodel.StateInService:
		return string(cur.State)
	case s.StaleAfter > 0 && s.Now.Sub(cur.LastReport) > s.StaleAfter:
		return "stale"
	case cur.Overloaded:
		return "overloaded"
	}
	return ""
}

// Manifest renders d as a steering manifest with ttl (seconds) and the URI the next request goes to.
func (d Decision) Manifest(ttl int, reload string) Manifest {
	return Manifest{Version: 1, TTL: ttl, ReloadURI: reload, PathwayPriority: d.Priority, PathwayClones: d.Clones}
}
