// Package selector chooses media nodes for publishers and viewers as pure functions over a snapshot of the cluster.
package selector

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/nagare-video/nagare/internal/nodemodel"
)

const percentFullScale = 100.0

// Node is what selection knows of one media node: its identity and its last reported load.
type Node struct {
	ID     string
	Group  string
	Role   nodemodel.Role
	State  nodemodel.State
	Region string
	// HTTP is the host:port of the node's HTTP server ("" when it has none): where children pull from.
	HTTP string

	// Capacity is the number of connections that count as 100 % load (from the launch config).
	// 0 means unknown: the node is never full and its connection and subscriber load count as 0.
	Capacity    int
	Connections int // publishers + subscribers, as last reported
	Subscribers int
	Streams     int // streams the node carries: published on an origin, pulled by an edge or relay
	Restreamers int // relays and edges pulling from this node
	// MemoryUsedPercent is in 0..100.
	MemoryUsedPercent float64
	// Overloaded: the node reports it cannot keep up (nodemodel.Load.Overloaded); it takes nothing new.
	Overloaded bool
	LastReport time.Time
	// LiveStreams are the "<app>/<stream>" paths published on this node (origins).
	LiveStreams []string
}

// carries reports whether path is live on n.
func (n *Node) carries(path string) bool {
	return path != "" && slices.Contains(n.LiveStreams, path)
}

// Snapshot is the cluster as selection sees it at one instant.
type Snapshot struct {
	Nodes []Node
	// Now is the instant of the decision; selection never reads the clock.
	Now time.Time
	// StaleAfter is how old a node's last report may be before the node is never chosen.
	// Zero or negative turns the check off.
	StaleAfter time.Duration
}

// Weights are the relative importance of each load metric when edges are compared.
type Weights struct {
	Streams, Connections, Subscribers, Memory, Restreamer float64
}

// DefaultWeights returns Red5 Pro Stream Manager's default "best node" weights.
func DefaultWeights() Weights {
	return Weights{Streams: 30, Connections: 15, Subscribers: 60, Memory: 20, Restreamer: 35}
}

// refusal says why a node cannot take a client; refusedNone means it can.
type refusal uint8

const (
	refusedNone refusal = iota
	refusedState
	refusedStale
	refusedFull
)

func check(s *Snapshot, n *Node) refusal {
	switch {
	case n.State != nodemodel.StateInService:
		return refusedState
	case s.StaleAfter > 0 && s.Now.Sub(n.LastReport) > s.StaleAfter:
		return refusedStale
	case n.Overloaded || n.Capacity > 0 && n.Connections >= n.Capacity:
		return refusedFull
	}
	return refusedNone
}

// Eligible reports whether n can take a new client now and, if not, a short reason why.
// The node must be in service (draining, pending, running and terminating nodes are refused), must have
// reported within s.StaleAfter of s.Now, and must not be full (Capacity > 0 && Connections >= Capacity).
func Eligible(s Snapshot, n Node) (bool, string) {
	switch check(&s, &n) {
	case refusedState:
		return false, fmt.Sprintf("state %q is not inservice", n.State)
	case refusedStale:
		if n.LastReport.IsZero() {
			return false, "stale: never reported"
		}
		return false, fmt.Sprintf("stale: last report %s ago, limit %s", s.Now.Sub(n.LastReport), s.StaleAfter)
	case refusedFull:
		if n.Overloaded {
			return false, "overloaded: it reports it cannot keep up"
		}
		return false, fmt.Sprintf("full: %d of %d connections", n.Connections, n.Capacity)
	}
	return true, ""
}

// inGroup reports whether n belongs to group; "" matches every group.
func inGroup(n *Node, group string) bool {
	return group == "" || n.Group == group
}

// PickOrigin chooses the origin for a publisher of path in group ("" = any group).
//
// A stream already live on an eligible origin stays there, so a reconnecting publisher finds its viewers.
// Otherwise it is round robin: eligible origins sorted by ID, and the caller's monotonically increasing
// counter picks eligible[counter % len].
func PickOrigin(s Snapshot, group, path string, counter uint64) (Node, error) {
	var (
		eligible []*Node
		sticky   *Node
	)
	for i := range s.Nodes {
		n := &s.Nodes[i]
		if n.Role != nodemodel.RoleOrigin || !inGroup(n, group) || check(&s, n) != refusedNone {
			continue
		}
		eligible = append(eligible, n)
		// Several origins claiming one stream should not happen; if it does, the lowest ID wins so the
		// answer does not depend on snapshot order.
		if n.carries(path) && (sticky == nil || n.ID < sticky.ID) {
			sticky = n
		}
	}
	if sticky != nil {
		return *sticky, nil
	}
	if len(eligible) == 0 {
		return Node{}, fmt.Errorf("picking origin in group %q: %w", group, ErrNoOrigin)
	}
	slices.SortStableFunc(eligible, func(a, b *Node) int { return strings.Compare(a.ID, b.ID) })
	return *eligible[counter%uint64(len(eligible))], nil
}

// PickTranscoder chooses the transcoder node of group ("" = any group) that a publisher of a stream to
// transcode publishes to (Red5's broadcast with transcode=true): among the eligible ones, one transcoding
// the fewest streams; the caller's monotonically increasing counter spreads the ties.
func PickTranscoder(s Snapshot, group string, counter uint64) (Node, error) {
	var least []*Node
	for i := range s.Nodes {
		n := &s.Nodes[i]
		if n.Role != nodemodel.RoleTranscoder || !inGroup(n, group) || check(&s, n) != refusedNone {
			continue
		}
		if len(least) > 0 && n.Streams > least[0].Streams {
			continue
		}
		if len(least) > 0 && n.Streams < least[0].Streams {
			least = least[:0]
		}
		least = append(least, n)
	}
	if len(least) == 0 {
		return Node{}, fmt.Errorf("picking transcoder in group %q: %w", group, ErrNoTranscoder)
	}
	slices.SortStableFunc(least, func(a, b *Node) int { return strings.Compare(a.ID, b.ID) })
	return *least[counter%uint64(len(least))], nil
}

// SpillHome chooses the edge of group ("" = any group) that a viewer no edge can take is counted on while
// it plays from the storage push's copy: its home, which its multivariant playlist comes from and to
// which (or to an edge cloned from it) the steering server brings it back once an edge has room. It is
// an edge in service that reports on time, full or overloaded (a spill happens when none has room), in
// region when one there qualifies, the least loaded (connections per capacity, overloaded edges last),
// ties broken by the lower ID; false when the group has none: then the group does not scale out through
// edges, and its viewers may load its origins.
func SpillHome(s Snapshot, group, region string) (Node, bool) {
	var best *Node
	load := func(n *Node) float64 {
		switch {
		case n.Overloaded:
			return math.Inf(1)
		case n.Capacity <= 0:
			return 0
		}
		return float64(n.Connections) / float64(n.Capacity)
	}
	better := func(n, than *Node) bool {
		if than == nil {
			return true
		}
		if region != "" && (n.Region == region) != (than.Region == region) {
			return n.Region == region
		}
		if ln, lt := load(n), load(than); ln != lt {
			return ln < lt
		}
		return n.ID < than.ID
	}
	for i := range s.Nodes {
		n := &s.Nodes[i]
		if n.Role != nodemodel.RoleEdge || !inGroup(n, group) {
			continue
		}
		if r := check(&s, n); r != refusedNone && r != refusedFull {
			continue
		}
		if better(n, best) {
			best = n
		}
	}
	if best == nil {
		return Node{}, false
	}
	return *best, true
}

// PickEdge chooses where a viewer of path plays: the eligible edge of group ("" = any group) with the lowest
// Score, ties broken by the lower ID. If region is set and any eligible edge is in it, only those compete;
// otherwise every eligible edge does. With no eligible edge, the eligible origin carrying path serves the viewer.
func PickEdge(s Snapshot, group, path, region string, w Weights) (Node, error) {
	return PickEdgeWhere(s, group, path, region, w, nil)
}

// PickEdgeWhere is PickEdge among the edges for which also(n) is true (nil: every edge); the origin it
// falls back to is not asked.
func PickEdgeWhere(s Snapshot, group, path, region string, w Weights, also func(n *Node) bool) (Node, error) {
	// Three passes over the nodes instead of building a candidate list: this runs for every viewer request
	// and must not allocate.
	usable := func(n *Node) bool {
		return n.Role == nodemodel.RoleEdge && inGroup(n, group) && check(&s, n) == refusedNone && (also == nil || also(n))
	}
	regional := false
	if region != "" {
		for i := range s.Nodes {
			if n := &s.Nodes[i]; n.Region == region && usable(n) {
				regional = true
				break
			}
		}
	}
	competes := func(n *Node) bool {
		return usable(n) && (!regional || n.Region == region)
	}

	var m maxima
	for i := range s.Nodes {
		if n := &s.Nodes[i]; competes(n) {
			m.add(n)
		}
	}
	ws := w.sanitized()
	var (
		best      *Node
		bestScore float64
	)
	for i := range s.Nodes {
		n := &s.Nodes[i]
		if !competes(n) {
			continue
		}
		sc := score(n, m, ws)
		if best == nil || sc < bestScore || (sc == bestScore && n.ID < best.ID) {
			best, bestScore = n, sc
		}
	}
	if best != nil {
		return *best, nil
	}

	if origin := originCarrying(&s, group, path, region); origin != nil {
		return *origin, nil
	}
	return Node{}, fmt.Errorf("picking edge for %q in group %q: %w", path, group, ErrNoEdge)
}

// originCarrying returns the eligible origin of group on which path is live, preferring one in region and
// then the lowest ID, or nil.
func originCarrying(s *Snapshot, group, path, region string) *Node {
	var best *Node
	for i := range s.Nodes {
		n := &s.Nodes[i]
		if n.Role != nodemodel.RoleOrigin || !inGroup(n, group) || !n.carries(path) || check(s, n) != refusedNone {
			continue
		}
		if best == nil {
			best = n
			continue
		}
		inRegion, bestInRegion := region != "" && n.Region == region, region != "" && best.Region == region
		if (inRegion && !bestInRegion) || (inRegion == bestInRegion && n.ID < best.ID) {
			best = n
		}
	}
	return best
}

// maxima holds the largest stream and restreamer counts among candidates, the scale those metrics are
// measured against since they have no fixed capacity.
type maxima struct {
	streams, restreamers int
}

func (m *maxima) add(n *Node) {
	m.streams = max(m.streams, n.Streams)
	m.restreamers = max(m.restreamers, n.Restreamers)
}

// Score returns the weighted load of n among candidates, in [0,1], lower is better: the weighted mean of
// connections/capacity, subscribers/capacity, streams/max streams of the candidates, memory/100 and
// restreamers/max restreamers of the candidates. n itself counts as a candidate for the maxima.
// Negative or non-finite weights count as 0; if no weight is left the score is 0.
func Score(n Node, candidates []Node, w Weights) float64 {
	var m maxima
	m.add(&n)
	for i := range candidates {
		m.add(&candidates[i])
	}
	return score(&n, m, w.sanitized())
}

// sanitized returns w with every weight that is negative, NaN or infinite set to 0, so a bad
// configuration can neither push scores out of [0,1] nor make them NaN.
func (w Weights) sanitized() Weights {
	clean := func(x float64) float64 {
		if !(x > 0) || math.IsInf(x, 1) {
			return 0
		}
		return x
	}
	return Weights{
		Streams:     clean(w.Streams),
		Connections: clean(w.Connections),
		Subscribers: clean(w.Subscribers),
		Memory:      clean(w.Memory),
		Restreamer:  clean(w.Restreamer),
	}
}

// score expects sanitized weights.
func score(n *Node, m maxima, w Weights) float64 {
	total := w.Streams + w.Connections + w.Subscribers + w.Memory + w.Restreamer
	if total == 0 || math.IsInf(total, 1) {
		return 0
	}
	sum := w.Connections*ratio(float64(n.Connections), float64(n.Capacity)) +
		w.Subscribers*ratio(float64(n.Subscribers), float64(n.Capacity)) +
		w.Streams*ratio(float64(n.Streams), float64(m.streams)) +
		w.Memory*ratio(n.MemoryUsedPercent, percentFullScale) +
		w.Restreamer*ratio(float64(n.Restreamers), float64(m.restreamers))
	return clamp01(sum / total)
}

// ratio is part/whole clamped to [0,1]; an unknown (zero or negative) whole gives 0.
func ratio(part, whole float64) float64 {
	if !(whole > 0) {
		return 0
	}
	return clamp01(part / whole)
}

// clamp01 also maps NaN to 0.
func clamp01(x float64) float64 {
	switch {
	case !(x > 0):
		return 0
	case x > 1:
		return 1
	}
	return x
}

// upstream lists, per role that pulls, the roles it may pull from, in order of preference.
var upstream = map[nodemodel.Role][]nodemodel.Role{
	nodemodel.RoleEdge:  {nodemodel.RoleRelay, nodemodel.RoleOrigin},
	nodemodel.RoleRelay: {nodemodel.RoleOrigin},
}

// ParentFit reports whether parent can serve as child's parent: it is of a role child pulls from, in the
// child's group or in none (a node started by hand, such as `nagare all`'s origin, serves every group), in
// service, and has an HTTP address. Load does not matter: a parent is kept while it fits, so that an edge's
// cache is not thrown away for a slightly less loaded one.
func ParentFit(child, parent Node) bool {
	return parent.ID != child.ID && slices.Contains(upstream[child.Role], parent.Role) &&
		(parent.Group == child.Group || parent.Group == "") && parent.State == nodemodel.StateInService && parent.HTTP != ""
}

// PickParent chooses where child pulls from: the node with ID current while it fits (see ParentFit),
// otherwise the fitting node of the first role in child's upstream order that has one (edges: relay, then
// origin; relays: origin), of child's own group before one of no group, with the fewest subscribers, ties
// broken by the lower ID. It reports false when nothing fits, or when child's role pulls from nobody.
func PickParent(candidates []Node, child Node, current string) (Node, bool) {
	prefs := upstream[child.Role]
	var best *Node
	bestRank := 2 * len(prefs)
	for i := range candidates {
		c := &candidates[i]
		if !ParentFit(child, *c) {
			continue
		}
		if current != "" && c.ID == current {
			return *c, true
		}
		rank := slices.Index(prefs, c.Role)
		if c.Group != child.Group {
			rank += len(prefs) // a node of no group only when the child's own group has none
		}
		if best == nil || rank < bestRank ||
			rank == bestRank && (c.Subscribers < best.Subscribers || c.Subscribers == best.Subscribers && c.ID < best.ID) {
			best, bestRank = c, rank
		}
	}
	if best == nil {
		return Node{}, false
	}
	return *best, true
}

// StreamSource chooses where child (an edge or relay) pulls path from when its parent does not carry it:
// with several origins in a group and no relay in front of them, each origin has its own streams and a
// child has one parent. It is the origin on which path is live, of child's group or of none (as
// ParentFit), in service or draining (a draining origin keeps its publishers until they leave), reporting
// (not stale), with an HTTP address; child's own group first, then the lower ID. It reports false when no origin carries path.
func StreamSource(s Snapshot, child Node, path string) (Node, bool) {
	var best *Node
	for i := range s.Nodes {
		n := &s.Nodes[i]
		if n.ID == child.ID || n.Role != nodemodel.RoleOrigin || !n.carries(path) || n.HTTP == "" ||
			(n.Group != child.Group && n.Group != "") ||
			(n.State != nodemodel.StateInService && n.State != nodemodel.StateDraining) ||
			s.StaleAfter > 0 && s.Now.Sub(n.LastReport) > s.StaleAfter {
			continue
		}
		if best == nil || (n.Group == child.Group) != (best.Group == child.Group) && n.Group == child.Group ||
			(n.Group == child.Group) == (best.Group == child.Group) && n.ID < best.ID {
			best = n
		}
	}
	if best == nil {
		return Node{}, false
	}
	return *best, true
}
