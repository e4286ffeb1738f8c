package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nagare-video/nagare/internal/manager/selector"
	"github.com/nagare-video/nagare/internal/manager/store"
	"github.com/nagare-video/nagare/internal/nodeapi"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

// nodeStore is what the registry needs of the store.
type nodeStore interface {
	ListNodes(ctx context.Context, f store.NodeFilter) ([]store.Node, error)
	GetNode(ctx context.Context, id string) (store.Node, error)
	CreateNode(ctx context.Context, n store.Node, cause string) (store.Node, error)
	UpdateNodeInfo(ctx context.Context, n store.Node) error
	SetParent(ctx context.Context, id, parent string) error
	SaveReport(ctx context.Context, id string, st store.NodeStats, at time.Time) error
	Transition(ctx context.Context, id string, to nodemodel.State, cause string, from ...nodemodel.State) (store.Node, error)
	GetGroup(ctx context.Context, nameOrID string) (store.NodeGroup, error)
	GetLaunchConfig(ctx context.Context, name string) (store.LaunchConfig, error)
	PutStream(ctx context.Context, r store.StreamRecord) error
	DeleteStream(ctx context.Context, name, nodeID string) error
	ListStreams(ctx context.Context) ([]store.StreamRecord, error)
}

// Registry tracks every node of the cluster.
type Registry struct {
	Store nodeStore
	Log   *slog.Logger
	// ReportInterval is how often nodes report (1–30 s).
	ReportInterval time.Duration
	// NodeTimeout marks a node dead when it has not reported for this long.
	NodeTimeout time.Duration
	// PersistEvery bounds how often a node's load report is written to the store; the registry's
	// memory always holds the latest.
	PersistEvery time.Duration
	// SyncEvery, when set, reads the store back this often: several managers share the store, and each
	// learns of the nodes that report to the others (with PersistEvery at 0, every report is stored).
	SyncEvery time.Duration
	Now       func() time.Time
	// Admit, when set, decides whether a running node that the autoscaler launched may enter service
	// (health check, software version).
	// It is asked on each report until it says yes; an error wrapping ErrRejected terminates the node, any
	// other error leaves it running until the next report.
	Admit func(ctx context.Context, n store.Node) error

	mu    sync.RWMutex
	nodes map[string]*entry
	// gen counts the changes this manager made to its memory, so that Sync (which reads the store, then
	// takes the lock) never undoes one that came after its read; forgotten holds the nodes deleted from
	// memory since the oldest Sync in progress began, with their change number.
	gen       uint64
	forgotten map[string]uint64
	snap      atomic.Pointer[selector.Snapshot]
	snapDirty atomic.Bool
	snapMu    sync.Mutex
}

type entry struct {
	node        store.Node
	persistedAt time.Time
	streams     map[string]time.Time // live stream → when the manager learned of it
	reports     int
	parentID    string // the node n.Parent points at
	// deadFrom is the state a node was in when it was found dead (silent, or gone from the cloud), until
	// the autoscaler has acknowledged it; "" otherwise.
	deadFrom nodemodel.State
	deadAt   time.Time
	// launched: a cloud controller started this node for the autoscaler, so it must pass admission
	// (health check, software version) before it serves; a node that joined by itself does not.
	launched bool
	// changed is the registry's gen at this manager's latest change of the entry
	changed uint64
}

// touch notes a change of e made here; r.mu must be held.
func (r *Registry) touch(e *entry) {
	r.gen++
	e.changed = r.gen
}

// forget deletes a node from memory; r.mu must be held.
func (r *Registry) forget(id string) {
	delete(r.nodes, id)
	r.gen++
	if r.forgotten == nil {
		r.forgotten = map[string]uint64{}
	}
	r.forgotten[id] = r.gen
}

// Member is a node of a group as the autoscaler sees it: dead nodes it has not acknowledged included.
type Member struct {
	store.Node
	// DeadFrom is the state the node died in ("" for a node that is not dead).
	DeadFrom nodemodel.State
}

// ErrRejected marks an admission refusal that is final (wrong software version): the node is terminated.
var ErrRejected = errors.New("node rejected")

var _ nodeapi.Backend = (*Registry)(nil)

func (r *Registry) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Load reads the nodes and stream records from the store; call it once before serving.
func (r *Registry) Load(ctx context.Context) error {
	nodes, err := r.Store.ListNodes(ctx, store.NodeFilter{})
	if err != nil {
		return fmt.Errorf("loading nodes: %w", err)
	}
	streams, err := r.Store.ListStreams(ctx)
	if err != nil {
		return fmt.Errorf("loading streams: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nodes = make(map[string]*entry, len(nodes))
	now := r.now()
	for _, n := range nodes {
		persisted := n.LastReport
		// the manager was away, not the nodes: give each a full node timeout to report again
		n.LastReport = now
		r.nodes[n.ID] = &entry{node: n, persistedAt: persisted, streams: map[string]time.Time{}}
	}
	for _, s := range streams {
		if e := r.nodes[s.NodeID]; e != nil {
			e.streams[s.Name] = s.StartedAt
		}
	}
	r.snapDirty.Store(true)
	return nil
}

func newID(role nodemodel.Role) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "node-" + string(role) + "-" + hex.EncodeToString(b)
}

func (r *Registry) assignment(n store.Node) nodeapi.Assignment {
	return nodeapi.Assignment{State: n.State, Parent: n.Parent, Drain: n.State == nodemodel.StateDraining}
}

func (r *Registry) intervalMS() int { return int(r.ReportInterval / time.Millisecond) }

// Register adds a node that started, or takes back one the manager knows (it restarted or was marked
// dead). A registered node is running; its first report puts it in service.
func (r *Registry) Register(ctx context.Context, req nodeapi.RegisterRequest) (nodeapi.RegisterResponse, error) {
	id := req.ID
	if id == "" {
		id = newID(req.Role)
	}
	capacity := 0
	if req.Group != "" {
		g, err := r.Store.GetGroup(ctx, req.Group)
		if err != nil {
			return nodeapi.RegisterResponse{}, fmt.Errorf("%w: node group %q does not exist", nodeapi.ErrInvalid, req.Group)
		}
		if lc, err := r.Store.GetLaunchConfig(ctx, g.LaunchConfig); err == nil {
			if t, ok := lc.Target(req.Role); ok {
				capacity = t.ConnectionCapacity
			}
		}
	}
	info := store.Node{
		ID: id, Group: req.Group, Role: req.Role, Region: req.Region, Zone: req.Zone, Version: req.Version,
		Capacity: capacity, State: nodemodel.StateRunning,
		Addresses: nodemodel.Addresses{RTMP: req.Addresses.RTMP, SRT: req.Addresses.SRT, HTTP: req.Addresses.HTTP},
	}

	n, err := r.Store.GetNode(ctx, id)
	launched := err == nil && n.State == nodemodel.StatePending // recorded by AddPending before the launch
	switch {
	case errors.Is(err, store.ErrNotFound):
		n, err = r.Store.CreateNode(ctx, info, "registered")
		if errors.Is(err, store.ErrExists) {
			return nodeapi.RegisterResponse{}, fmt.Errorf("%w: node %s registered twice at once", nodeapi.ErrConflict, id)
		}
		if err != nil {
			return nodeapi.RegisterResponse{}, err
		}
	case err != nil:
		return nodeapi.RegisterResponse{}, err
	default:
		if n.Role != req.Role {
			return nodeapi.RegisterResponse{}, fmt.Errorf("%w: node %s is registered as %s, not %s", nodeapi.ErrConflict, id, n.Role, req.Role)
		}
		n.Addresses, n.Version, n.Region, n.Zone = info.Addresses, info.Version, info.Region, info.Zone
		if err := r.Store.UpdateNodeInfo(ctx, n); err != nil {
			return nodeapi.RegisterResponse{}, err
		}
		switch n.State {
		case nodemodel.StatePending, nodemodel.StateTerminated:
			cause := "registered"
			if n.State == nodemodel.StateTerminated {
				cause = "registered again after being marked dead"
			}
			if n, err = r.Store.Transition(ctx, id, nodemodel.StateRunning, cause, n.State); err != nil {
				return nodeapi.RegisterResponse{}, err
			}
		case nodemodel.StateTerminating:
			return nodeapi.RegisterResponse{}, fmt.Errorf("%w: node %s is being terminated", nodeapi.ErrConflict, id)
		}
	}
	r.mu.Lock()
	if r.nodes == nil {
		r.nodes = map[string]*entry{}
	}
	old := r.nodes[id]
	// a node that registers is alive: it must not be reaped on a report time from before it came back
	n.LastReport = r.now()
	e := &entry{node: n, streams: map[string]time.Time{}, launched: launched}
	if old != nil {
		e.streams = old.streams
		e.launched = e.launched || old.launched
	}
	r.nodes[id] = e
	r.touch(e)
	r.mu.Unlock()
	r.snapDirty.Store(true)
	r.Log.Info("node registered", "node", id, "role", n.Role, "group", n.Group, "state", n.State, "version", n.Version)
	return nodeapi.RegisterResponse{ID: id, ReportIntervalMS: r.intervalMS(), Assignment: r.assignment(n)}, nil
}

// Report takes a node's load report, reconciles its stream records, and answers with its assignment.
func (r *Registry) Report(ctx context.Context, req nodeapi.ReportRequest) (nodeapi.ReportResponse, error) {
	now := r.now()
	r.mu.Lock()
	e := r.nodes[req.ID]
	if e == nil || e.node.State == nodemodel.StateTerminated {
		r.mu.Unlock()
		return nodeapi.ReportResponse{}, fmt.Errorf("%w: %s (register again)", nodeapi.ErrUnknownNode, req.ID)
	}
	if e.reports > 0 && now.Sub(e.node.LastReport) < r.ReportInterval/2 {
		r.mu.Unlock()
		return nodeapi.ReportResponse{}, &nodeapi.ThrottleError{RetryAfter: r.ReportInterval}
	}
	e.reports++
	launched := e.launched
	e.node.LastReport = now
	names := make([]string, len(req.Streams))
	for i, s := range req.Streams {
		names[i] = s.Name
	}
	sort.Strings(names)
	e.node.Stats = store.NodeStats{Load: req.Stats, Streams: names}
	persist := now.Sub(e.persistedAt) >= r.PersistEvery
	if persist {
		e.persistedAt = now
	}
	var added []nodemodel.StreamLoad
	var removed []string
	reported := map[string]bool{}
	if e.node.Role != nodemodel.RoleOrigin {
		// edges and relays report the streams they pull: load, not publications
		req.Streams = nil
	}
	for _, s := range req.Streams {
		reported[s.Name] = true
		if _, ok := e.streams[s.Name]; !ok {
			added = append(added, s)
			e.streams[s.Name] = now
		}
	}
	for name, since := range e.streams {
		// a report gathered before a publish event can arrive after it: a stream the manager learned of
		// less than an interval ago is not dropped for missing from it
		if !reported[name] && now.Sub(since) >= r.ReportInterval {
			removed = append(removed, name)
			delete(e.streams, name)
		}
	}
	n := e.node
	r.mu.Unlock()
	r.snapDirty.Store(true)

	for _, s := range added {
		if err := r.Store.PutStream(ctx, store.StreamRecord{Name: s.Name, NodeID: n.ID, Protocol: s.Protocol, StartedAt: now}); err != nil {
			return nodeapi.ReportResponse{}, err
		}
	}
	for _, name := range removed {
		if err := r.Store.DeleteStream(ctx, name, n.ID); err != nil {
			return nodeapi.ReportResponse{}, err
		}
	}
	if persist {
		if err := r.Store.SaveReport(ctx, n.ID, n.Stats, now); err != nil {
			return nodeapi.ReportResponse{}, err
		}
	}
	if n.State == nodemodel.StateRunning && r.Admit != nil && launched {
		if err := r.Admit(ctx, n); errors.Is(err, ErrRejected) {
			cause := fmt.Sprintf("rejected: %v", err)
			updated, terr := r.Store.Transition(ctx, n.ID, nodemodel.StateTerminating, cause, nodemodel.StateRunning)
			if terr != nil {
				return nodeapi.ReportResponse{}, fmt.Errorf("terminating rejected node %s: %w", n.ID, terr)
			}
			r.setState(n.ID, updated.State)
			r.mu.Lock()
			if e := r.nodes[n.ID]; e != nil {
				e.deadFrom, e.deadAt = nodemodel.StateRunning, now // it never served: the autoscaler replaces it
			}
			r.mu.Unlock()
			r.Log.Warn("node rejected", "node", n.ID, "role", n.Role, "cause", err)
			return nodeapi.ReportResponse{ReportIntervalMS: r.intervalMS(), Assignment: r.assignment(updated)}, nil
		} else if err != nil {
			r.Log.Info("node not in service yet", "node", n.ID, "role", n.Role, "cause", err)
			return nodeapi.ReportResponse{ReportIntervalMS: r.intervalMS(), Assignment: r.assignment(n)}, nil
		}
	}
	if n.State == nodemodel.StateRunning {
		updated, err := r.Store.Transition(ctx, n.ID, nodemodel.StateInService, "first load report", nodemodel.StateRunning)
		if err == nil {
			n = updated
			r.setState(n.ID, n.State)
			r.Log.Info("node in service", "node", n.ID, "role", n.Role)
		} else if !errors.Is(err, store.ErrStateConflict) {
			return nodeapi.ReportResponse{}, err
		}
	}
	n, err := r.assignParent(ctx, n)
	if err != nil {
		return nodeapi.ReportResponse{}, err
	}
	return nodeapi.ReportResponse{ReportIntervalMS: r.intervalMS(), Assignment: r.assignment(n)}, nil
}

// assignParent links an edge to a relay (or, without one, an origin) and a relay to an origin, of its
// group, keeping the current parent while it stays in service.
func (r *Registry) assignParent(ctx context.Context, n store.Node) (store.Node, error) {
	var want []nodemodel.Role
	switch n.Role {
	case nodemodel.RoleEdge:
		want = []nodemodel.Role{nodemodel.RoleRelay, nodemodel.RoleOrigin}
	case nodemodel.RoleRelay:
		want = []nodemodel.Role{nodemodel.RoleOrigin}
	default:
		return n, nil
	}
	// the common case, on every report: the parent is still in service
	r.mu.RLock()
	if e := r.nodes[n.ID]; e != nil && e.parentID != "" {
		if p := r.nodes[e.parentID]; p != nil && p.node.State == nodemodel.StateInService && "http://"+p.node.Addresses.HTTP == n.Parent {
			r.mu.RUnlock()
			return n, nil
		}
	}
	r.mu.RUnlock()
	// keep the current parent if it is still in service; otherwise take the least-loaded in-service node
	// of the first wanted role that has one (ties: lowest ID), from the node's group
	best := make([]*store.Node, len(want))
	var current *store.Node
	r.mu.RLock()
	for _, e := range r.nodes {
		c := &e.node
		i := slices.Index(want, c.Role)
		if i < 0 || c.ID == n.ID || c.State != nodemodel.StateInService || c.Addresses.HTTP == "" || c.Group != n.Group {
			continue
		}
		if n.Parent != "" && "http://"+c.Addresses.HTTP == n.Parent {
			current = c
		}
		if b := best[i]; b == nil || c.Stats.Subscribers < b.Stats.Subscribers ||
			c.Stats.Subscribers == b.Stats.Subscribers && c.ID < b.ID {
			best[i] = c
		}
	}
	if current != nil {
		best = []*store.Node{current}
	}
	parent, parentID := "", ""
	for _, b := range best {
		if b != nil {
			parent, parentID = "http://"+b.Addresses.HTTP, b.ID
			break
		}
	}
	r.mu.RUnlock()
	r.mu.Lock()
	if e := r.nodes[n.ID]; e != nil {
		e.parentID = parentID
	}
	r.mu.Unlock()
	if parent == n.Parent {
		return n, nil
	}
	if err := r.Store.SetParent(ctx, n.ID, parent); err != nil {
		return n, err
	}
	n.Parent = parent
	r.mu.Lock()
	if e := r.nodes[n.ID]; e != nil {
		e.node.Parent = parent
	}
	r.mu.Unlock()
	if parent == "" {
		r.Log.Warn("no parent available", "node", n.ID, "role", n.Role, "group", n.Group)
	} else {
		r.Log.Info("parent assigned", "node", n.ID, "role", n.Role, "parent", parent)
	}
	return n, nil
}

func (r *Registry) setState(id string, state nodemodel.State) {
	r.mu.Lock()
	if e := r.nodes[id]; e != nil {
		e.node.State = state
		r.touch(e)
	}
	r.mu.Unlock()
	r.snapDirty.Store(true)
}

// StreamEvent records a publish or unpublish at once, ahead of the next report.
func (r *Registry) StreamEvent(ctx context.Context, ev nodeapi.StreamEvent) error {
	r.mu.Lock()
	e := r.nodes[ev.ID]
	if e == nil || e.node.State == nodemodel.StateTerminated {
		r.mu.Unlock()
		return fmt.Errorf("%w: %s", nodeapi.ErrUnknownNode, ev.ID)
	}
	if ev.Action == nodeapi.ActionPublish {
		e.streams[ev.Stream] = r.now()
	} else {
		delete(e.streams, ev.Stream)
	}
	r.mu.Unlock()
	r.snapDirty.Store(true)
	if ev.Action == nodeapi.ActionPublish {
		r.Log.Info("stream published", "stream", ev.Stream, "node", ev.ID, "protocol", ev.Protocol)
		return r.Store.PutStream(ctx, store.StreamRecord{Name: ev.Stream, NodeID: ev.ID, Protocol: ev.Protocol, StartedAt: r.now()})
	}
	r.Log.Info("stream unpublished", "stream", ev.Stream, "node", ev.ID)
	return r.Store.DeleteStream(ctx, ev.Stream, ev.ID)
}

// Transition moves a node to another state, if the lifecycle allows it, and records why.
func (r *Registry) Transition(ctx context.Context, id string, to nodemodel.State, cause string) (store.Node, error) {
	from := sourcesOf(to)
	if len(from) == 0 {
		return store.Node{}, &ErrTransition{From: "any state", To: to}
	}
	n, err := r.Store.Transition(ctx, id, to, cause, from...)
	if errors.Is(err, store.ErrStateConflict) {
		cur, gerr := r.Store.GetNode(ctx, id)
		if gerr == nil {
			return cur, &ErrTransition{From: cur.State, To: to}
		}
	}
	if err != nil {
		return n, err
	}
	r.setState(id, n.State)
	if to == nodemodel.StateTerminated {
		// the store keeps its history; memory keeps only what routing and the autoscaler still need
		r.mu.Lock()
		if e := r.nodes[id]; e != nil && e.deadFrom == "" {
			r.forget(id)
		}
		r.mu.Unlock()
	}
	r.Log.Info("node state changed", "node", id, "state", to, "cause", cause)
	return n, nil
}

// Run marks nodes dead when they fall silent (and, with SyncEvery, reads back what other managers
// stored), until ctx is cancelled.
func (r *Registry) Run(ctx context.Context) error {
	t := time.NewTicker(r.NodeTimeout / 4)
	defer t.Stop()
	var sync <-chan time.Time
	if r.SyncEvery > 0 {
		st := time.NewTicker(r.SyncEvery)
		defer st.Stop()
		sync = st.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sync:
			if err := r.Sync(ctx); err != nil && ctx.Err() == nil {
				r.Log.Warn("reading the node registry back from the store", "cause", err)
			}
		case <-t.C:
			r.ReapSilent(ctx)
		}
	}
}

// Sync merges what the store holds into memory, for managers that share it: nodes registered with another
// manager, reports newer than the ones received here, states and parents another manager set, and the
// stream records of nodes that report elsewhere. Nodes that are no longer live in the store are forgotten.
func (r *Registry) Sync(ctx context.Context) error {
	r.mu.RLock()
	since := r.gen // what changed here after this is newer than what the store is about to say
	r.mu.RUnlock()
	nodes, err := r.Store.ListNodes(ctx, store.NodeFilter{})
	if err != nil {
		return fmt.Errorf("listing nodes: %w", err)
	}
	records, err := r.Store.ListStreams(ctx)
	if err != nil {
		return fmt.Errorf("listing streams: %w", err)
	}
	streams := map[string]map[string]time.Time{}
	for _, rec := range records {
		if streams[rec.NodeID] == nil {
			streams[rec.NodeID] = map[string]time.Time{}
		}
		streams[rec.NodeID][rec.Name] = rec.StartedAt
	}
	live := make(map[string]bool, len(nodes))
	r.mu.Lock()
	if r.nodes == nil {
		r.nodes = map[string]*entry{}
	}
	for _, n := range nodes {
		live[n.ID] = true
		e := r.nodes[n.ID]
		if e == nil {
			if r.forgotten[n.ID] > since {
				continue // terminated here after the store was read
			}
			r.nodes[n.ID] = &entry{node: n, persistedAt: n.LastReport, streams: orEmpty(streams[n.ID]),
				launched: n.State == nodemodel.StatePending}
			continue
		}
		if e.node.State == nodemodel.StateTerminated {
			continue // found dead here; the store catches up through the transition
		}
		if e.changed <= since {
			e.node.State, e.node.Parent, e.node.Addresses, e.node.Version = n.State, n.Parent, n.Addresses, n.Version
		}
		if n.LastReport.After(e.node.LastReport) {
			// the node reports to another manager
			e.node.Stats, e.node.LastReport = n.Stats, n.LastReport
			e.streams = orEmpty(streams[n.ID])
		}
	}
	now := r.now()
	for id, e := range r.nodes {
		switch {
		case e.changed > since:
			// registered, launched or changed here after the store was read
		case !live[id] && e.node.State != nodemodel.StateTerminated && e.node.State != nodemodel.StatePending:
			// terminated by another manager
			e.node.State = nodemodel.StateTerminated
			if e.deadFrom == "" {
				delete(r.nodes, id)
			}
		case e.deadFrom != "" && now.Sub(e.deadAt) > r.NodeTimeout+2*r.SyncEvery:
			// a death the manager acting on the group (holding its lease) has long handled
			delete(r.nodes, id)
		}
	}
	for id, g := range r.forgotten {
		if g <= since {
			delete(r.forgotten, id) // the store said so already when it was read (state first, memory after)
		}
	}
	r.mu.Unlock()
	r.snapDirty.Store(true)
	return nil
}

func orEmpty(m map[string]time.Time) map[string]time.Time {
	if m == nil {
		return map[string]time.Time{}
	}
	return m
}

// ReapSilent marks dead every node that has not reported for NodeTimeout.
func (r *Registry) ReapSilent(ctx context.Context) {
	now := r.now()
	var dead []store.Node
	r.mu.RLock()
	for _, e := range r.nodes {
		n := e.node
		switch n.State {
		case nodemodel.StateRunning, nodemodel.StateInService, nodemodel.StateDraining:
		default:
			continue // a terminating node is being stopped: falling silent is what it is meant to do
		}
		last := n.LastReport
		if last.IsZero() {
			last = n.UpdatedAt
		}
		if now.Sub(last) > r.NodeTimeout {
			dead = append(dead, n)
		}
	}
	r.mu.RUnlock()
	for _, n := range dead {
		// check again under the lock: a report may have arrived since; from here on, reports are refused
		r.mu.Lock()
		e := r.nodes[n.ID]
		if e == nil || e.node.State != n.State || !e.node.LastReport.Equal(n.LastReport) {
			r.mu.Unlock()
			continue
		}
		e.node.State = nodemodel.StateTerminated
		e.streams = map[string]time.Time{}
		e.deadFrom, e.deadAt = n.State, now
		r.mu.Unlock()
		cause := fmt.Sprintf("dead: no report for %s", r.NodeTimeout)
		if _, err := r.Store.Transition(ctx, n.ID, nodemodel.StateTerminated, cause, n.State); err != nil {
			r.Log.Warn("marking node dead", "node", n.ID, "cause", err)
			continue
		}
		r.snapDirty.Store(true)
		r.Log.Warn("node marked dead", "node", n.ID, "role", n.Role, "silentFor", now.Sub(n.LastReport).Round(time.Millisecond).String())
	}
}

// AddPending records a node a cloud controller is about to launch: it is pending until it registers.
func (r *Registry) AddPending(ctx context.Context, n store.Node, cause string) (store.Node, error) {
	n.State = nodemodel.StatePending
	n, err := r.Store.CreateNode(ctx, n, cause)
	if err != nil {
		return n, err
	}
	r.mu.Lock()
	if r.nodes == nil {
		r.nodes = map[string]*entry{}
	}
	e := &entry{node: n, streams: map[string]time.Time{}, launched: true}
	r.nodes[n.ID] = e
	r.touch(e)
	r.mu.Unlock()
	r.snapDirty.Store(true)
	return n, nil
}

// MarkGone records that a node's instance is gone (the cloud says so, or its launch failed or timed out):
// the node is terminated and, if it was meant to be serving, counted dead until AckDead.
func (r *Registry) MarkGone(ctx context.Context, id, cause string) error {
	r.mu.Lock()
	e := r.nodes[id]
	if e == nil || e.node.State == nodemodel.StateTerminated {
		r.mu.Unlock()
		return nil
	}
	from := e.node.State
	e.node.State = nodemodel.StateTerminated
	e.streams = map[string]time.Time{}
	r.touch(e)
	if from != nodemodel.StateTerminating {
		e.deadFrom, e.deadAt = from, r.now()
	}
	r.mu.Unlock()
	r.snapDirty.Store(true)
	if _, err := r.Store.Transition(ctx, id, nodemodel.StateTerminated, cause); err != nil {
		return fmt.Errorf("marking node %s gone: %w", id, err)
	}
	r.Log.Warn("node gone", "node", id, "was", from, "cause", cause)
	return nil
}

// AckDead forgets that a dead node still needs handling (the autoscaler replaced it or chose not to).
func (r *Registry) AckDead(id string) {
	r.mu.Lock()
	if e := r.nodes[id]; e != nil {
		e.deadFrom = ""
		if e.node.State == nodemodel.StateTerminated {
			r.forget(id)
		}
	}
	r.mu.Unlock()
}

// Members returns the nodes of group that are not terminated, plus the dead ones not yet acknowledged.
func (r *Registry) Members(group string) []Member {
	r.mu.RLock()
	out := make([]Member, 0, 8)
	for _, e := range r.nodes {
		if e.node.Group == group && (e.node.State != nodemodel.StateTerminated || e.deadFrom != "") {
			out = append(out, Member{Node: e.node, DeadFrom: e.deadFrom})
		}
	}
	r.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Nodes returns the live nodes (not terminated) of group ("" for all), with their latest reports.
func (r *Registry) Nodes(group string) []store.Node {
	r.mu.RLock()
	out := make([]store.Node, 0, len(r.nodes))
	for _, e := range r.nodes {
		if e.node.State != nodemodel.StateTerminated && (group == "" || e.node.Group == group) {
			out = append(out, e.node)
		}
	}
	r.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Node returns one node as the registry sees it.
func (r *Registry) Node(id string) (store.Node, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e := r.nodes[id]
	if e == nil {
		return store.Node{}, false
	}
	return e.node, true
}

// snapshotMaxAge bounds how stale the routing snapshot may be after a change.
const snapshotMaxAge = 200 * time.Millisecond

// Snapshot returns the cluster for selection. It is rebuilt at most every 200 ms after a change, so
// routing stays cheap however often nodes report.
func (r *Registry) Snapshot() *selector.Snapshot {
	now := r.now()
	s := r.snap.Load()
	if s != nil && (!r.snapDirty.Load() || now.Sub(s.Now) < snapshotMaxAge) {
		return s
	}
	r.snapMu.Lock()
	defer r.snapMu.Unlock()
	if s = r.snap.Load(); s != nil && (!r.snapDirty.Load() || now.Sub(s.Now) < snapshotMaxAge) {
		return s
	}
	r.snapDirty.Store(false)
	s = &selector.Snapshot{Now: now, StaleAfter: r.NodeTimeout}
	r.mu.RLock()
	for _, e := range r.nodes {
		n := e.node
		if n.State == nodemodel.StateTerminated {
			continue
		}
		live := make([]string, 0, len(e.streams))
		for name := range e.streams {
			live = append(live, name)
		}
		slices.Sort(live)
		s.Nodes = append(s.Nodes, selector.Node{
			ID: n.ID, Group: n.Group, Role: n.Role, State: n.State, Region: n.Region, Capacity: n.Capacity,
			Connections: n.Stats.Connections, Subscribers: n.Stats.Subscribers, Streams: len(live),
			MemoryUsedPercent: n.Stats.MemoryUsedPercent, LastReport: n.LastReport, LiveStreams: live,
		})
	}
	r.mu.RUnlock()
	sort.Slice(s.Nodes, func(i, j int) bool { return s.Nodes[i].ID < s.Nodes[j].ID })
	r.snap.Store(s)
	return s
}

// FreshSnapshot returns the snapshot with Now set to the present, so that selection judges staleness at
// request time even when the snapshot itself is a little older.
func (r *Registry) FreshSnapshot() selector.Snapshot {
	snap := *r.Snapshot()
	snap.Now = r.now()
	return snap
}
