// Package steering decides HLS Content Steering (RFC 8216bis §4.4.6.6 and §7) for the stream manager:
// which pathway — which edge — a player should load a live stream from, and how to reach an edge its
// multivariant playlist does not name (a pathway clone with URI-REPLACEMENT HOST).
//
// A pathway is a node: its ID is the node's ID, and an edge names itself in the multivariant playlists it
// serves (PATHWAY-ID), with the manager as the steering server. Every edge serves the same objects under
// the same names (they relay the origin's), so a player moved to another edge goes on with the next part.
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
}

// Decision is where a player goes: PATHWAY-PRIORITY and the clones it needs, and why.
type Decision struct {
	Priority []string
	Clones   []Clone
	// Reason says why the player stays or moves: "stay", or what is wrong with its pathway.
	Reason string
	// Moved reports whether the first pathway is another than the player's.
	Moved bool
}

// ValidPathway reports whether id can be a PATHWAY-ID: 1 to 64 of the characters RFC 8216bis allows
// ([A-Za-z0-9._-]). A node whose ID cannot is never steered.
func ValidPathway(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// Decide steers one player. A player stays on its pathway while that node serves it (in service,
// reporting, keeping up; a full node keeps the viewers it has), so nobody is moved back and forth
// between edges of similar load; the edge selector.PickEdge would pick for a new viewer (among those on
// the player's port) comes second, where the player goes by itself if its requests fail. Otherwise the
// player is sent to that edge, with its own pathway second while that node still runs (it falls back
// there if the new edge fails). When no other edge can take it, it stays.
func Decide(s selector.Snapshot, req Request, w selector.Weights) Decision {
	var cur *selector.Node
	for i := range s.Nodes {
		if s.Nodes[i].ID == req.Pathway {
			cur = &s.Nodes[i]
			break
		}
	}
	stay := func(reason string) Decision {
		d := Decision{Priority: []string{}, Reason: reason}
		if req.Pathway != "" {
			d.Priority = append(d.Priority, req.Pathway)
		}
		return d
	}
	if !live(&s, req.Path) {
		// nothing to move to: an edge serves only what an origin publishes
		return stay("stream not live")
	}
	// the edge a new viewer would get, among those a HOST clone of the player's URIs reaches
	best, err := selector.PickEdgeWhere(s, req.Group, req.Path, req.Region, w, func(n *selector.Node) bool {
		// this runs three times per edge for every decision: the cheap tests first, nothing allocated
		i := strings.LastIndexByte(n.HTTP, ':')
		return n.ID != req.Pathway && i > 0 && (req.Port == "" || n.HTTP[i+1:] == req.Port) && ValidPathway(n.ID)
	})
	found := err == nil && best.Role == nodemodel.RoleEdge
	clone := func() []Clone {
		host, _, _ := net.SplitHostPort(best.HTTP)
		return []Clone{{BaseID: req.Pathway, ID: best.ID, URIReplacement: Replacement{Host: host}}}
	}

	reason := problem(&s, cur)
	switch {
	case reason == "":
		// the player stays, with that edge second: a player whose requests fail moves there by itself
		// (hls.js does on errors) before its next steering request
		d := stay("stay")
		if found && req.Pathway != "" {
			d.Priority, d.Clones = append(d.Priority, best.ID), clone()
		}
		return d
	case !found:
		// nowhere better: the player keeps its pathway
		return stay(reason + "; no other edge")
	}
	d := Decision{Priority: []string{best.ID}, Reason: reason, Moved: true}
	if req.Pathway != "" {
		d.Clones = clone()
		if cur != nil && reason != "stale" {
			// a draining or overloaded edge still serves: the player falls back to it if the new one fails
			d.Priority = append(d.Priority, req.Pathway)
		}
	}
	return d
}

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
