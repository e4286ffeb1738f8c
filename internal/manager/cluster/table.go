package cluster

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/nagare-video/nagare/internal/manager/selector"
	"github.com/nagare-video/nagare/internal/manager/store"
	"github.com/nagare-video/nagare/internal/nodeapi"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

// The node table is the registry's memory as a pure state machine: apply(table, event) returns the
// change the event makes (entries to put and remove), the store writes that must succeed before memory
// may change, and the reasons, in words. The Registry is the shell around it: it gathers what an event
// needs from the store, calls apply, makes the writes, and only then commits the change to memory.

// Entry is one node as the manager holds it in memory. Entries in a Table are never modified: a change
// builds new ones.
type Entry struct {
	Node store.Node
	// Streams are the live streams of an origin, each with the time the manager learned of it.
	Streams map[string]time.Time
	// Launched: a cloud controller started this node for the autoscaler, so it must pass admission (health
	// check, software version) before it serves; a node that joined by itself does not.
	Launched bool
	// Admitted: a launched node passed admission.
	Admitted bool
	// ParentID is the node an edge or relay pulls from ("" for none).
	ParentID string
	// DeadFrom is the state a node was in when it was found dead (silent, or gone from the cloud), until
	// the autoscaler has acknowledged it; "" otherwise.
	DeadFrom nodemodel.State
	DeadAt   time.Time
	// PersistedAt is when the node's load report was last written to the store.
	PersistedAt time.Time
	Reports     int
	// Gen is the shell's change counter at the entry's last change made by this manager.
	Gen uint64
}

func (e *Entry) clone() *Entry {
	c := *e
	c.Streams = maps.Clone(e.Streams)
	if c.Streams == nil {
		c.Streams = map[string]time.Time{}
	}
	return &c
}

// dead reports whether the node is terminated but its death not yet acknowledged by the autoscaler.
func (e *Entry) dead() bool { return e.Node.State == nodemodel.StateTerminated && e.DeadFrom != "" }

// Table is every node the manager holds in memory, by id.
type Table map[string]*Entry

// Rules are the settings and the instant that the table's rules depend on.
type Rules struct {
	Now            time.Time
	ReportInterval time.Duration
	NodeTimeout    time.Duration
	PersistEvery   time.Duration
	// SyncEvery is how often managers sharing the store read it back (0: not shared).
	SyncEvery time.Duration
	// Admits: launched nodes must pass an admission check before they serve.
	Admits bool
}

// Change is what an event does to the table and the store.
type Change struct {
	Put    []*Entry
	Remove []string
	// Writes must all succeed, in order, before Put and Remove reach memory.
	Writes []Write
	// Reasons say what happened, for the log.
	Reasons []string
	// Admit names a launched running node whose admission check should run now.
	Admit string
	// Assignment is the answer to the node for register and report events.
	Assignment nodeapi.Assignment
}

func (c *Change) put(e *Entry)               { c.Put = append(c.Put, e) }
func (c *Change) write(w Write)              { c.Writes = append(c.Writes, w) }
func (c *Change) because(f string, a ...any) { c.Reasons = append(c.Reasons, fmt.Sprintf(f, a...)) }
func (c *Change) answer(n store.Node)        { c.Assignment = assignment(n) }

func assignment(n store.Node) nodeapi.Assignment {
	return nodeapi.Assignment{State: n.State, Parent: n.Parent, Drain: n.State == nodemodel.StateDraining}
}

// Event is something that happens to the table.
type Event interface {
	apply(t Table, r Rules) (Change, error)
}

// Apply returns the change ev makes to t under r. It neither reads the clock nor touches the store.
func Apply(t Table, r Rules, ev Event) (Change, error) { return ev.apply(t, r) }

// Registered: a node registered. Stored is the node as the store holds it (nil if unknown), Capacity the
// connection capacity its launch configuration gives its role.
type Registered struct {
	Req      nodeapi.RegisterRequest
	ID       string
	Stored   *store.Node
	Capacity int
}

func (ev Registered) apply(t Table, r Rules) (Change, error) {
	var c Change
	req := ev.Req
	info := store.Node{
		ID: ev.ID, Group: req.Group, Role: req.Role, Region: req.Region, Zone: req.Zone, Version: req.Version,
		Capacity: ev.Capacity, State: nodemodel.StateRunning, Addresses: req.Addresses,
		CreatedAt: r.Now, UpdatedAt: r.Now,
	}
	e := &Entry{Streams: map[string]time.Time{}}
	if old := t[ev.ID]; old != nil {
		e.Streams, e.Launched, e.Admitted = maps.Clone(old.Streams), old.Launched, old.Admitted
	}
	n := info
	if ev.Stored == nil {
		c.write(WriteCreate{Node: info, Cause: "registered"})
		c.because("node registered")
	} else {
		n = *ev.Stored
		if n.Role != req.Role {
			return c, fmt.Errorf("%w: node %s is registered as %s, not %s", nodeapi.ErrConflict, ev.ID, n.Role, req.Role)
		}
		if n.State == nodemodel.StateTerminating {
			return c, fmt.Errorf("%w: node %s is being terminated", nodeapi.ErrConflict, ev.ID)
		}
		// recorded by the autoscaler before the launch: it must pass admission
		e.Launched = e.Launched || n.State == nodemodel.StatePending
		n.Addresses, n.Version, n.Region, n.Zone = info.Addresses, info.Version, info.Region, info.Zone
		c.write(WriteInfo{Node: n})
		switch n.State {
		case nodemodel.StatePending, nodemodel.StateTerminated:
			cause := "registered"
			if n.State == nodemodel.StateTerminated {
				cause = "registered again after being marked dead"
				e.Admitted = false
			}
			c.write(WriteTransition{ID: ev.ID, To: nodemodel.StateRunning, Cause: cause, From: []nodemodel.State{n.State}})
			c.because("node %s", cause)
			n.State, n.UpdatedAt = nodemodel.StateRunning, r.Now
		default:
			c.because("node registered again in state %s", n.State)
		}
	}
	// a node that registers is alive: it must not be reaped on a report time from before it came back
	n.LastReport = r.Now
	e.Node = n
	c.put(e)
	c.answer(n)
	return c, nil
}

// Reported: a node sent its load report.
type Reported struct{ Req nodeapi.ReportRequest }

func (ev Reported) apply(t Table, r Rules) (Change, error) {
	var c Change
	req := ev.Req
	old := t[req.ID]
	if old == nil || old.Node.State == nodemodel.StateTerminated {
		return c, fmt.Errorf("%w: %s (register again)", nodeapi.ErrUnknownNode, req.ID)
	}
	if old.Reports > 0 && r.Now.Sub(old.Node.LastReport) < r.ReportInterval/2 {
		return c, &nodeapi.ThrottleError{RetryAfter: r.ReportInterval}
	}
	e := old.clone()
	e.Reports++
	e.Node.LastReport = r.Now
	stats := store.NodeStats{Load: req.Stats, Loads: req.Streams}
	if e.Node.Role == nodemodel.RoleOrigin {
		// an origin's streams are publications: the routing of publishers and viewers depends on them
		// a node lists at most a bounded number of streams and counts them all: a list shorter than the
		// count is the head of a longer one, so what is missing from it has not ended
		complete := req.Stats.Streams <= len(req.Streams)
		reconcileStreams(&c, e, req.Streams, complete, r)
		stats.Streams = slices.Sorted(maps.Keys(e.Streams))
		stats.Load.Streams = max(stats.Load.Streams, len(e.Streams))
	}
	e.Node.Stats = stats
	if r.Now.Sub(e.PersistedAt) >= r.PersistEvery {
		e.PersistedAt = r.Now
		c.write(WriteReport{ID: e.Node.ID, Stats: stats, At: r.Now})
	}
	switch {
	case req.Drain && (e.Node.State == nodemodel.StateRunning || e.Node.State == nodemodel.StateInService):
		// first: a node that is being stopped must not enter service
		c.write(WriteTransition{ID: e.Node.ID, To: nodemodel.StateDraining, Cause: "the node asked to be drained: it is being stopped",
			From: []nodemodel.State{nodemodel.StateRunning, nodemodel.StateInService}})
		c.because("node draining at its own request")
		e.Node.State, e.Node.UpdatedAt = nodemodel.StateDraining, r.Now
	case e.Node.State == nodemodel.StateRunning:
		if r.Admits && e.Launched && !e.Admitted {
			c.Admit = e.Node.ID
		} else {
			c.write(WriteTransition{ID: e.Node.ID, To: nodemodel.StateInService, Cause: "first load report", From: []nodemodel.State{nodemodel.StateRunning}})
			c.because("node in service")
			e.Node.State, e.Node.UpdatedAt = nodemodel.StateInService, r.Now
		}
	}
	assignParent(&c, t, e)
	c.put(e)
	c.answer(e.Node)
	return c, nil
}

// reconcileStreams adds the reported streams e did not know and, when the list is complete, drops those
// missing from it, with the store writes that follow.
func reconcileStreams(c *Change, e *Entry, reported []nodemodel.StreamLoad, complete bool, r Rules) {
	seen := make(map[string]bool, len(reported))
	for _, s := range reported {
		seen[s.Name] = true
		if _, ok := e.Streams[s.Name]; !ok {
			e.Streams[s.Name] = r.Now
			c.write(WriteStream{Record: store.StreamRecord{Name: s.Name, NodeID: e.Node.ID, Protocol: s.Protocol, StartedAt: r.Now}})
			c.because("stream %s found in a report", s.Name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(e.Streams)) {
		if !complete {
			break
		}
		// a report gathered before a publish event can arrive after it: a stream the manager learned of
		// less than an interval ago is not dropped for missing from it
		if !seen[name] && r.Now.Sub(e.Streams[name]) >= r.ReportInterval {
			delete(e.Streams, name)
			c.write(WriteStreamGone{Name: name, NodeID: e.Node.ID})
			c.because("stream %s missing from a report", name)
		}
	}
}

// assignParent links an edge or relay to the parent selector.PickParent chooses among the table's nodes.
func assignParent(c *Change, t Table, e *Entry) {
	if !e.Node.Role.Pulls() {
		return
	}
	child := selectorNode(e)
	// the common case, on every report: the parent still fits
	if p := t[e.ParentID]; p != nil && selector.ParentFit(child, selectorNode(p)) && parentURL(p) == e.Node.Parent {
		return
	}
	var candidates []selector.Node
	current := e.ParentID
	for _, x := range t {
		if x.Node.Role == nodemodel.RoleOrigin || x.Node.Role == nodemodel.RoleRelay {
			candidates = append(candidates, selectorNode(x))
			if current == "" && e.Node.Parent != "" && parentURL(x) == e.Node.Parent {
				current = x.Node.ID // known by its URL only (after a restart or a registration)
			}
		}
	}
	parent, ok := selector.PickParent(candidates, child, current)
	url := ""
	e.ParentID = ""
	if ok {
		url, e.ParentID = parentURL(t[parent.ID]), parent.ID
	}
	if url == e.Node.Parent {
		return
	}
	e.Node.Parent = url
	c.write(WriteParent{ID: e.Node.ID, Parent: url})
	if ok {
		c.because("parent %s assigned", parent.ID)
	} else {
		c.because("no parent available in group %q", e.Node.Group)
	}
}

func parentURL(p *Entry) string { return p.Node.Addresses.HTTPURL() }

// ParentAsked: an edge or relay with no parent asked for one at once (a viewer waits), rather than at its
// next report. The parent is chosen, recorded and kept exactly as a report would.
type ParentAsked struct{ ID string }

func (ev ParentAsked) apply(t Table, _ Rules) (Change, error) {
	var c Change
	old := t[ev.ID]
	if old == nil || old.Node.State == nodemodel.StateTerminated {
		return c, fmt.Errorf("%w: %s (register again)", nodeapi.ErrUnknownNode, ev.ID)
	}
	if !old.Node.Role.Pulls() {
		return c, fmt.Errorf("%w: node %s is a %s, which pulls from no parent", nodeapi.ErrInvalid, ev.ID, old.Node.Role)
	}
	e := old.clone()
	assignParent(&c, t, e)
	if len(c.Writes) > 0 {
		c.put(e)
	}
	c.answer(e.Node)
	return c, nil
}

// StreamChanged: a node said at once that a stream started or ended on it.
type StreamChanged struct{ Event nodeapi.StreamEvent }

func (ev StreamChanged) apply(t Table, r Rules) (Change, error) {
	var c Change
	se := ev.Event
	old := t[se.ID]
	if old == nil || old.Node.State == nodemodel.StateTerminated {
		return c, fmt.Errorf("%w: %s", nodeapi.ErrUnknownNode, se.ID)
	}
	e := old.clone()
	if se.Action == nodeapi.ActionPublish {
		e.Streams[se.Stream] = r.Now
		c.write(WriteStream{Record: store.StreamRecord{Name: se.Stream, NodeID: se.ID, Protocol: se.Protocol, StartedAt: r.Now}})
		c.because("stream %s published over %s", se.Stream, se.Protocol)
	} else {
		delete(e.Streams, se.Stream)
		c.write(WriteStreamGone{Name: se.Stream, NodeID: se.ID})
		c.because("stream %s unpublished", se.Stream)
	}
	c.put(e)
	return c, nil
}

// Admission: the admission check of a launched node finished; Err is nil when it passed, wraps
// ErrRejected when the node must go, and is anything else when it should be asked again later.
type Admission struct {
	ID  string
	Err error
}

func (ev Admission) apply(t Table, r Rules) (Change, error) {
	var c Change
	old := t[ev.ID]
	if old == nil || old.Node.State != nodemodel.StateRunning {
		return c, nil // it left running while the check ran: nothing to do
	}
	e := old.clone()
	switch {
	case ev.Err == nil:
		e.Admitted = true
		e.Node.State, e.Node.UpdatedAt = nodemodel.StateInService, r.Now
		c.write(WriteTransition{ID: ev.ID, To: nodemodel.StateInService, Cause: "admitted: health and version checked", From: []nodemodel.State{nodemodel.StateRunning}})
		c.because("node admitted")
	case errors.Is(ev.Err, ErrRejected):
		e.Node.State, e.Node.UpdatedAt = nodemodel.StateTerminating, r.Now
		e.DeadFrom, e.DeadAt = nodemodel.StateRunning, r.Now // it never served: the autoscaler replaces it
		c.write(WriteTransition{ID: ev.ID, To: nodemodel.StateTerminating, Cause: fmt.Sprintf("rejected: %v", ev.Err), From: []nodemodel.State{nodemodel.StateRunning}})
		c.because("node rejected: %v", ev.Err)
	default:
		c.because("node not in service yet: %v", ev.Err)
		return c, nil
	}
	c.put(e)
	return c, nil
}

// Silent: the node has not reported for the node timeout (checked again here, at r.Now).
type Silent struct{ ID string }

func (ev Silent) apply(t Table, r Rules) (Change, error) {
	var c Change
	old := t[ev.ID]
	if old == nil || !silent(old, r) {
		return c, nil
	}
	e := old.clone()
	cause := fmt.Sprintf("dead: no report for %s", r.NodeTimeout)
	c.write(WriteTransition{ID: ev.ID, To: nodemodel.StateTerminated, Cause: cause, From: []nodemodel.State{old.Node.State}})
	e.DeadFrom, e.DeadAt = old.Node.State, r.Now
	e.Node.State, e.Node.UpdatedAt = nodemodel.StateTerminated, r.Now
	e.Streams = map[string]time.Time{}
	c.because("node marked dead: silent for %s", r.Now.Sub(old.Node.LastReport).Round(time.Millisecond))
	c.put(e)
	return c, nil
}

// silent reports whether a node that should report has not for the node timeout. A terminating node is
// being stopped: falling silent is what it is meant to do.
func silent(e *Entry, r Rules) bool {
	switch e.Node.State {
	case nodemodel.StateRunning, nodemodel.StateInService, nodemodel.StateDraining:
	default:
		return false
	}
	last := e.Node.LastReport
	if last.IsZero() {
		last = e.Node.UpdatedAt
	}
	return r.Now.Sub(last) > r.NodeTimeout
}

// SilentNodes lists the nodes of t that Silent would mark dead at r.Now.
func SilentNodes(t Table, r Rules) []string {
	var out []string
	for id, e := range t {
		if silent(e, r) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// Gone: the node's instance is gone (the cloud says so, or its launch failed or timed out).
type Gone struct{ ID, Cause string }

func (ev Gone) apply(t Table, r Rules) (Change, error) {
	var c Change
	old := t[ev.ID]
	if old == nil || old.Node.State == nodemodel.StateTerminated {
		return c, nil
	}
	e := old.clone()
	c.write(WriteTransition{ID: ev.ID, To: nodemodel.StateTerminated, Cause: ev.Cause})
	if old.Node.State != nodemodel.StateTerminating {
		// it was meant to be serving: counted dead until the autoscaler acknowledges it
		e.DeadFrom, e.DeadAt = old.Node.State, r.Now
	}
	e.Node.State, e.Node.UpdatedAt = nodemodel.StateTerminated, r.Now
	e.Streams = map[string]time.Time{}
	c.because("node gone (was %s): %s", old.Node.State, ev.Cause)
	c.put(e)
	return c, nil
}

// Transitioned: an operator or the autoscaler moves a node to another state (drain, terminate …). The
// store checks the state it is in, so that managers sharing it agree.
type Transitioned struct {
	ID    string
	To    nodemodel.State
	Cause string
}

func (ev Transitioned) apply(t Table, r Rules) (Change, error) {
	var c Change
	from := sourcesOf(ev.To)
	if len(from) == 0 {
		return c, &ErrTransition{From: "any state", To: ev.To}
	}
	c.write(WriteTransition{ID: ev.ID, To: ev.To, Cause: ev.Cause, From: from})
	c.because("node state changed to %s: %s", ev.To, ev.Cause)
	old := t[ev.ID]
	if old == nil {
		return c, nil
	}
	if ev.To == nodemodel.StateTerminated && old.DeadFrom == "" {
		// the store keeps its history; memory keeps only what routing and the autoscaler still need
		c.Remove = append(c.Remove, ev.ID)
		return c, nil
	}
	e := old.clone()
	e.Node.State, e.Node.UpdatedAt = ev.To, r.Now
	if ev.To == nodemodel.StateTerminated {
		e.Streams = map[string]time.Time{}
	}
	c.put(e)
	return c, nil
}

// Pending: the autoscaler is about to launch a node; it is pending until it registers.
type Pending struct {
	Node  store.Node
	Cause string
}

func (ev Pending) apply(t Table, r Rules) (Change, error) {
	var c Change
	n := ev.Node
	n.State, n.CreatedAt, n.UpdatedAt = nodemodel.StatePending, r.Now, r.Now
	c.write(WriteCreate{Node: n, Cause: ev.Cause})
	c.because("node pending: %s", ev.Cause)
	c.put(&Entry{Node: n, Streams: map[string]time.Time{}, Launched: true})
	return c, nil
}

// DeathAcknowledged: the autoscaler replaced a dead node or chose not to.
type DeathAcknowledged struct{ ID string }

func (ev DeathAcknowledged) apply(t Table, r Rules) (Change, error) {
	var c Change
	old := t[ev.ID]
	if old == nil {
		return c, nil
	}
	if old.Node.State == nodemodel.StateTerminated {
		c.Remove = append(c.Remove, ev.ID)
		return c, nil
	}
	e := old.clone()
	e.DeadFrom = ""
	c.put(e)
	return c, nil
}

// Synced: the store was read back, for managers that share it. Since is the shell's change counter when
// the read began: entries changed here after it are newer than what the store said, and Forgotten holds
// the nodes removed here, with the counter at their removal.
type Synced struct {
	Nodes     []store.Node
	Streams   []store.StreamRecord
	Since     uint64
	Forgotten map[string]uint64
}

func (ev Synced) apply(t Table, r Rules) (Change, error) {
	var c Change
	streams := map[string]map[string]time.Time{}
	for _, rec := range ev.Streams {
		if streams[rec.NodeID] == nil {
			streams[rec.NodeID] = map[string]time.Time{}
		}
		streams[rec.NodeID][rec.Name] = rec.StartedAt
	}
	live := make(map[string]bool, len(ev.Nodes))
	for _, n := range ev.Nodes {
		live[n.ID] = true
		old := t[n.ID]
		if old == nil {
			if ev.Forgotten[n.ID] > ev.Since {
				continue // terminated here after the store was read
			}
			c.put(&Entry{Node: n, PersistedAt: n.LastReport, Streams: orEmpty(streams[n.ID]), Launched: n.State == nodemodel.StatePending})
			continue
		}
		if old.Node.State == nodemodel.StateTerminated || old.Gen > ev.Since {
			continue // found dead here (the store catches up), or changed here after the read
		}
		newer := n.LastReport.After(old.Node.LastReport)
		if !newer && old.Node.State == n.State && old.Node.Parent == n.Parent && old.Node.Addresses == n.Addresses &&
			old.Node.Version == n.Version {
			continue // the store says what memory holds: nothing to copy
		}
		e := old.clone()
		e.Node.State, e.Node.Parent, e.Node.Addresses, e.Node.Version = n.State, n.Parent, n.Addresses, n.Version
		if newer {
			// the node reports to another manager
			e.Node.Stats, e.Node.LastReport = n.Stats, n.LastReport
			e.Streams = orEmpty(streams[n.ID])
		}
		c.put(e)
	}
	for _, id := range slices.Sorted(maps.Keys(t)) {
		e := t[id]
		switch {
		case e.Gen > ev.Since:
			// registered, launched or changed here after the store was read
		case !live[id] && e.Node.State != nodemodel.StateTerminated && e.Node.State != nodemodel.StatePending:
			// terminated by another manager
			if e.DeadFrom == "" {
				c.Remove = append(c.Remove, id)
			} else {
				x := e.clone()
				x.Node.State = nodemodel.StateTerminated
				c.put(x)
			}
			c.because("node %s terminated by another manager", id)
		case e.DeadFrom != "" && r.Now.Sub(e.DeadAt) > r.NodeTimeout+2*r.SyncEvery:
			// a death the manager acting on the group (holding its lease) has long handled
			c.Remove = append(c.Remove, id)
		}
	}
	return c, nil
}

func orEmpty(m map[string]time.Time) map[string]time.Time {
	if m == nil {
		return map[string]time.Time{}
	}
	return m
}

// Loaded builds the table from what the store holds, when the manager starts. The manager was away, not
// the nodes: each gets a full node timeout to report again.
func Loaded(nodes []store.Node, streams []store.StreamRecord, now time.Time) Table {
	t := make(Table, len(nodes))
	for _, n := range nodes {
		persisted := n.LastReport
		n.LastReport = now
		t[n.ID] = &Entry{Node: n, PersistedAt: persisted, Streams: map[string]time.Time{}}
	}
	for _, s := range streams {
		if e := t[s.NodeID]; e != nil {
			e.Streams[s.Name] = s.StartedAt
		}
	}
	return t
}

// selectorNode is what selection sees of an entry.
func selectorNode(e *Entry) selector.Node {
	n := &e.Node
	streams := n.Stats.Load.Streams
	if n.Role == nodemodel.RoleOrigin {
		streams = len(e.Streams)
	}
	return selector.Node{
		ID: n.ID, Group: n.Group, Role: n.Role, State: n.State, Region: n.Region, HTTP: n.Addresses.HTTP,
		Capacity: n.Capacity, Connections: n.Stats.Connections, Subscribers: n.Stats.Subscribers, Streams: streams,
		MemoryUsedPercent: n.Stats.MemoryUsedPercent, LastReport: n.LastReport, Overloaded: n.Stats.Overloaded != "",
	}
}

// Snapshot is the table as selection sees it at now: live nodes only, ordered by id, each with the number
// of relays and edges pulling from it (its restreamers) and, for origins, the streams live on it.
func Snapshot(t Table, now time.Time, staleAfter time.Duration) selector.Snapshot {
	children := map[string]int{}
	live := make([]*Entry, 0, len(t))
	for _, e := range t {
		if e.Node.State == nodemodel.StateTerminated {
			continue
		}
		live = append(live, e)
		if e.ParentID != "" {
			children[e.ParentID]++
		}
	}
	// ordered as pointers: a selector.Node is ten times larger to move
	slices.SortFunc(live, func(a, b *Entry) int { return strings.Compare(a.Node.ID, b.Node.ID) })
	s := selector.Snapshot{Now: now, StaleAfter: staleAfter, Nodes: make([]selector.Node, len(live))}
	for i, e := range live {
		n := &s.Nodes[i]
		*n = selectorNode(e)
		n.Restreamers = children[e.Node.ID]
		if len(e.Streams) > 0 {
			n.LiveStreams = slices.Sorted(maps.Keys(e.Streams))
		}
	}
	return s
}
