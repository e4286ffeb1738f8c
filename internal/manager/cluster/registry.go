package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nagare-video/nagare/internal/manager/selector"
	"github.com/nagare-video/nagare/internal/manager/steering"
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
	SaveReports(ctx context.Context, reports []store.Report) error
	Transition(ctx context.Context, id string, to nodemodel.State, cause string, from ...nodemodel.State) (store.Node, error)
	GetGroup(ctx context.Context, nameOrID string) (store.NodeGroup, error)
	GetLaunchConfig(ctx context.Context, name string) (store.LaunchConfig, error)
	PutStream(ctx context.Context, r store.StreamRecord) error
	DeleteStream(ctx context.Context, name, nodeID string) error
	ListStreams(ctx context.Context) ([]store.StreamRecord, error)
	GetLadder(ctx context.Context, stream string) (store.Ladder, error)
	ListLadders(ctx context.Context) ([]store.Ladder, error)
}

// Registry tracks every node of the cluster: the shell around the node table (see Apply). Each event is
// applied to the table, the store writes it needs are made, and memory changes only when they succeeded,
// so that the store (and the managers sharing it) never miss what this manager's memory holds.
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
	// FlushEvery, when set, gathers the load reports to store and writes them together this often (and
	// when Run returns), one statement for many, instead of one write per report: with SyncEvery, a
	// report reaches the other managers within FlushEvery + SyncEvery. A report the store would refuse is
	// still refused when it arrives; a batch the store does not take is tried again on the next flush.
	FlushEvery time.Duration
	Now        func() time.Time
	// Admit, when set, decides whether a running node that the autoscaler launched may enter service
	// (health check, software version). It runs beside the node's reports, never inside one: a report
	// answers at once, and the result reaches the node with a later report. An error wrapping ErrRejected
	// terminates the node; any other error leaves it running, to be asked again on a later report.
	Admit func(ctx context.Context, n store.Node) error
	// AdmitTimeout bounds one admission check (default 10 s).
	AdmitTimeout time.Duration
	// Steering, when set, is the steering server's base URL that edges name in their multivariant
	// playlists (HLS Content Steering, with the edge's ID as its pathway).
	Steering string
	// SteeringStorage and SteeringStoragePlaylist, when set, give edges the storage pathway (see
	// nodeapi.Steering).
	SteeringStorage, SteeringStoragePlaylist string
	// TranscodeStreams selects the live streams given to transcoders even without a provisioned ladder
	// ("app/stream", "app/*" or "*"; none: only the provisioned ones): their job carries no ladder, and
	// the transcoder makes its own.
	TranscodeStreams []string

	// mu guards table, gen and forgotten. Events on one node are serialised by its stripe of nodeMu,
	// which is held across the store writes; mu is held only to read the table and to commit a change.
	mu    sync.RWMutex
	table Table
	// gen counts the changes committed here, so that Sync (which reads the store, then commits) never
	// undoes one that came after its read; forgotten holds the nodes removed since, with their gen.
	gen       uint64
	forgotten map[string]uint64

	nodeMu [64]sync.Mutex
	seed   maphash.Seed
	once   sync.Once

	admitMu   sync.Mutex
	admitting map[string]bool
	admits    sync.WaitGroup

	// pending are the load reports waiting for the next flush (FlushEvery), by node: the latest only
	pendMu  sync.Mutex
	pending map[string]store.Report

	// synced is when the store was last read back (Load or Sync), in Unix nanoseconds
	synced atomic.Int64

	jobs       transcodeJobs // which transcoder makes the ladder of which stream
	originPick atomic.Uint64 // spreads the streams published on transcoders over the origins
	// Unserved, if set, hears of a stream waiting for a transcoder when every transcoder of its group is
	// full: demand for the role, as a viewer turned away is for edges (the autoscaler's Unserved)
	Unserved  func(group string, role nodemodel.Role)
	snap      atomic.Pointer[selector.Snapshot]
	snapDirty atomic.Bool
	snapMu    sync.Mutex
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

func (r *Registry) rules() Rules {
	return Rules{Now: r.now(), ReportInterval: r.ReportInterval, NodeTimeout: r.NodeTimeout,
		PersistEvery: r.PersistEvery, SyncEvery: r.SyncEvery, Admits: r.Admit != nil}
}

// lockNode serialises the events of one node; it returns the unlock.
func (r *Registry) lockNode(id string) func() {
	r.once.Do(func() { r.seed = maphash.MakeSeed() })
	m := &r.nodeMu[maphash.String(r.seed, id)%uint64(len(r.nodeMu))]
	m.Lock()
	return m.Unlock
}

// do applies ev to the table, makes its store writes and, when they all succeeded, commits it to memory.
// The caller holds the stripe lock of every node ev changes.
func (r *Registry) do(ctx context.Context, ev Event) (Change, error) {
	r.mu.RLock()
	c, err := Apply(r.table, r.rules(), ev)
	r.mu.RUnlock()
	if err != nil {
		return c, err
	}
	var queued []store.Report
	for _, w := range c.Writes {
		if wr, ok := w.(WriteReport); ok && r.FlushEvery > 0 {
			rep, err := store.EncodeReport(wr.ID, wr.Stats, wr.At)
			if err != nil {
				return c, nodeError(err)
			}
			queued = append(queued, rep)
			continue
		}
		if err := w.write(ctx, r.Store); err != nil {
			return c, nodeError(err)
		}
	}
	r.commit(c, nil)
	if len(queued) > 0 {
		r.pendMu.Lock()
		if r.pending == nil {
			r.pending = map[string]store.Report{}
		}
		for _, rep := range queued {
			r.pending[rep.ID] = rep
		}
		r.pendMu.Unlock()
	}
	return c, nil
}

// FlushReports writes the load reports gathered since the last flush (see FlushEvery). Those the store
// did not take are kept for the next flush, unless a newer report of the node has come meanwhile.
func (r *Registry) FlushReports(ctx context.Context) error {
	r.pendMu.Lock()
	batch := r.pending
	r.pending = nil
	r.pendMu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	reports := make([]store.Report, 0, len(batch))
	for _, rep := range batch {
		reports = append(reports, rep)
	}
	// in one order, so that managers writing the same rows at once take their locks alike
	sort.Slice(reports, func(i, j int) bool { return reports[i].ID < reports[j].ID })
	err := r.Store.SaveReports(ctx, reports)
	if err != nil {
		r.pendMu.Lock()
		if r.pending == nil {
			r.pending = map[string]store.Report{}
		}
		for _, rep := range reports {
			if _, newer := r.pending[rep.ID]; !newer {
				r.pending[rep.ID] = rep
			}
		}
		r.pendMu.Unlock()
	}
	return err
}

// commit puts c into memory. With base set (Sync), an entry is only replaced if it is still the one
// base holds: a node event committed in the meantime is newer than what the store said.
func (r *Registry) commit(c Change, base Table) {
	if len(c.Put) == 0 && len(c.Remove) == 0 {
		return
	}
	r.mu.Lock()
	if r.table == nil {
		r.table = Table{}
	}
	for _, e := range c.Put {
		if base != nil && r.table[e.Node.ID] != base[e.Node.ID] {
			continue
		}
		r.gen++
		if base == nil {
			e.Gen = r.gen
		}
		r.table[e.Node.ID] = e
	}
	for _, id := range c.Remove {
		if base != nil && r.table[id] != base[id] {
			continue
		}
		delete(r.table, id)
		r.gen++
		if r.forgotten == nil {
			r.forgotten = map[string]uint64{}
		}
		r.forgotten[id] = r.gen
	}
	r.mu.Unlock()
	r.snapDirty.Store(true)
}

// nodeError gives a store error the nodeapi meaning a node can act on: a store that does not answer is
// "try again later" (503), a value the store refuses is an invalid request (400).
func nodeError(err error) error {
	switch {
	case errors.Is(err, store.ErrUnavailable):
		return fmt.Errorf("%w: %w", nodeapi.ErrUnavailable, err)
	case errors.Is(err, store.ErrInvalid):
		return fmt.Errorf("%w: %w", nodeapi.ErrInvalid, err)
	}
	return err
}

func (r *Registry) logChange(c Change, id string, attrs ...any) {
	for _, reason := range c.Reasons {
		r.Log.Info(reason, append([]any{"node", id}, attrs...)...)
	}
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
	t := Loaded(nodes, streams, r.now())
	r.synced.Store(r.now().UnixNano())
	r.mu.Lock()
	r.table = t
	r.mu.Unlock()
	r.snapDirty.Store(true)
	return nil
}

func newID(role nodemodel.Role) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "node-" + string(role) + "-" + hex.EncodeToString(b)
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
		if errors.Is(err, store.ErrNotFound) {
			return nodeapi.RegisterResponse{}, fmt.Errorf("%w: node group %q does not exist", nodeapi.ErrInvalid, req.Group)
		}
		if err != nil {
			return nodeapi.RegisterResponse{}, nodeError(fmt.Errorf("reading node group %q: %w", req.Group, err))
		}
		if lc, err := r.Store.GetLaunchConfig(ctx, g.LaunchConfig); err == nil {
			if t, ok := lc.Target(req.Role); ok {
				capacity = t.ConnectionCapacity
			}
		}
	}
	defer r.lockNode(id)()
	ev := Registered{Req: req, ID: id, Capacity: capacity}
	n, err := r.Store.GetNode(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return nodeapi.RegisterResponse{}, nodeError(err)
	default:
		ev.Stored = &n
	}
	c, err := r.do(ctx, ev)
	if err != nil {
		return nodeapi.RegisterResponse{}, err
	}
	r.logChange(c, id, "role", req.Role, "group", req.Group, "version", req.Version)
	c.Assignment.Steering = r.steeringOf(id, req.Role)
	return nodeapi.RegisterResponse{ID: id, ReportIntervalMS: r.intervalMS(), Assignment: c.Assignment}, nil
}

// Report takes a node's load report, reconciles its stream records, and answers with its assignment at
// once; a launched node's admission check is started beside it.
func (r *Registry) Report(ctx context.Context, req nodeapi.ReportRequest) (nodeapi.ReportResponse, error) {
	unlock := r.lockNode(req.ID)
	c, err := r.do(ctx, Reported{Req: req})
	unlock()
	if err != nil {
		return nodeapi.ReportResponse{}, err
	}
	r.logChange(c, req.ID)
	if c.Admit != "" {
		r.admit(ctx, c.Admit)
	}
	if n, ok := r.Node(req.ID); ok {
		if n.Role == nodemodel.RoleTranscoder {
			c.Assignment.Transcode = r.transcodeJobsOf(ctx, n)
		}
		c.Assignment.Steering = r.steeringOf(n.ID, n.Role)
	}
	return nodeapi.ReportResponse{ReportIntervalMS: r.intervalMS(), Assignment: c.Assignment}, nil
}

// steeringOf is an edge's part in content steering (nil for other roles, with steering off, or for an
// ID that cannot be a PATHWAY-ID).
func (r *Registry) steeringOf(id string, role nodemodel.Role) *nodeapi.Steering {
	if r.Steering == "" || role != nodemodel.RoleEdge || !steering.ValidPathway(id) || id == nodeapi.StoragePathway {
		return nil
	}
	st := &nodeapi.Steering{ServerURI: r.Steering, Pathway: id}
	if r.SteeringStorage != "" {
		st.Storage, st.StoragePlaylist = r.SteeringStorage, r.SteeringStoragePlaylist
	}
	return st
}

// admit runs the admission check of node id beside its reports, one at a time per node.
func (r *Registry) admit(ctx context.Context, id string) {
	r.admitMu.Lock()
	if r.admitting[id] {
		r.admitMu.Unlock()
		return
	}
	if r.admitting == nil {
		r.admitting = map[string]bool{}
	}
	r.admitting[id] = true
	r.admitMu.Unlock()
	n, ok := r.Node(id)
	if !ok {
		r.admitDone(id)
		return
	}
	timeout := r.AdmitTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	r.admits.Add(1)
	go func() {
		defer r.admits.Done()
		defer r.admitDone(id)
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		defer cancel()
		r.applyAdmission(actx, Admission{ID: id, Err: r.Admit(actx, n)})
	}()
}

func (r *Registry) admitDone(id string) {
	r.admitMu.Lock()
	delete(r.admitting, id)
	r.admitMu.Unlock()
}

func (r *Registry) applyAdmission(ctx context.Context, ev Admission) {
	defer r.lockNode(ev.ID)()
	c, err := r.do(ctx, ev)
	if err != nil {
		r.Log.Warn("recording the admission of a node", "node", ev.ID, "cause", err)
		return
	}
	for _, reason := range c.Reasons {
		level := slog.LevelInfo
		if errors.Is(ev.Err, ErrRejected) {
			level = slog.LevelWarn
		}
		r.Log.Log(ctx, level, reason, "node", ev.ID)
	}
}

// StreamEvent records a publish or unpublish at once, ahead of the next report.
func (r *Registry) StreamEvent(ctx context.Context, ev nodeapi.StreamEvent) error {
	defer r.lockNode(ev.ID)()
	c, err := r.do(ctx, StreamChanged{Event: ev})
	if err != nil {
		return err
	}
	r.logChange(c, ev.ID)
	return nil
}

// Parent answers an edge or relay that has no parent (its last assignment named none: it entered service
// before any parent) with the one a report would assign now, and records it. ErrUnavailable: none fits.
func (r *Registry) Parent(ctx context.Context, req nodeapi.ParentRequest) (nodeapi.ParentResponse, error) {
	unlock := r.lockNode(req.ID)
	c, err := r.do(ctx, ParentAsked{ID: req.ID})
	unlock()
	if err != nil {
		return nodeapi.ParentResponse{}, err
	}
	r.logChange(c, req.ID)
	if c.Assignment.Parent == "" {
		return nodeapi.ParentResponse{}, fmt.Errorf("%w: no parent in service for node %s", nodeapi.ErrUnavailable, req.ID)
	}
	return nodeapi.ParentResponse{Parent: c.Assignment.Parent}, nil
}

// Ladder answers an origin that asks for the ladder provisioned for a stream it is about to transcode.
func (r *Registry) Ladder(ctx context.Context, req nodeapi.LadderRequest) (nodeapi.LadderResponse, error) {
	if _, ok := r.Node(req.ID); !ok {
		return nodeapi.LadderResponse{}, fmt.Errorf("node %q: %w", req.ID, nodeapi.ErrUnknownNode)
	}
	l, err := r.Store.GetLadder(ctx, req.Stream)
	if errors.Is(err, store.ErrNotFound) {
		return nodeapi.LadderResponse{}, nil
	}
	if err != nil {
		return nodeapi.LadderResponse{}, err
	}
	return ladderResponse(l), nil
}

// Transition moves a node to another state, if the lifecycle allows it, and records why.
func (r *Registry) Transition(ctx context.Context, id string, to nodemodel.State, cause string) (store.Node, error) {
	defer r.lockNode(id)()
	c, err := r.do(ctx, Transitioned{ID: id, To: to, Cause: cause})
	if errors.Is(err, store.ErrStateConflict) {
		if cur, gerr := r.Store.GetNode(ctx, id); gerr == nil {
			return cur, &ErrTransition{From: cur.State, To: to}
		}
	}
	if err != nil {
		return store.Node{}, err
	}
	r.logChange(c, id)
	return r.Store.GetNode(ctx, id)
}

// Run marks nodes dead when they fall silent (and, with SyncEvery, reads back what other managers
// stored; with FlushEvery, writes the gathered load reports), until ctx is cancelled; it returns once the
// admission checks under way have finished and the last reports are written.
func (r *Registry) Run(ctx context.Context) error {
	defer r.admits.Wait()
	t := time.NewTicker(r.NodeTimeout / 4)
	defer t.Stop()
	var sync, flush <-chan time.Time
	if r.SyncEvery > 0 {
		st := time.NewTicker(r.SyncEvery)
		defer st.Stop()
		sync = st.C
	}
	if r.FlushEvery > 0 {
		ft := time.NewTicker(r.FlushEvery)
		defer ft.Stop()
		flush = ft.C
		defer func() {
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if err := r.FlushReports(fctx); err != nil {
				r.Log.Warn("writing the last load reports to the store", "cause", err)
			}
		}()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-flush:
			if err := r.FlushReports(ctx); err != nil && ctx.Err() == nil {
				r.Log.Warn("writing load reports to the store (tried again on the next flush)", "cause", err)
			}
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
	since := r.gen
	r.mu.RUnlock()
	nodes, err := r.Store.ListNodes(ctx, store.NodeFilter{})
	if err != nil {
		return fmt.Errorf("listing nodes: %w", err)
	}
	records, err := r.Store.ListStreams(ctx)
	if err != nil {
		return fmt.Errorf("listing streams: %w", err)
	}
	r.mu.Lock()
	base := r.table
	forgotten := make(map[string]uint64, len(r.forgotten))
	for id, g := range r.forgotten {
		if g > since {
			forgotten[id] = g
		} else {
			delete(r.forgotten, id) // the store said so already when it was read (state first, memory after)
		}
	}
	// a copy of the map (not of the entries) so that commit can tell which entries changed meanwhile
	snapshot := make(Table, len(base))
	for id, e := range base {
		snapshot[id] = e
	}
	r.mu.Unlock()
	c, err := Apply(snapshot, r.rules(), Synced{Nodes: nodes, Streams: records, Since: since, Forgotten: forgotten})
	if err != nil {
		return err
	}
	r.commit(c, snapshot)
	r.synced.Store(r.now().UnixNano())
	for _, reason := range c.Reasons {
		r.Log.Info(reason)
	}
	return nil
}

// ReapSilent marks dead every node that has not reported for NodeTimeout. A manager sharing the store
// learns of most reports by reading it back: while it cannot (the store is slow or down), what it knows
// is old, and it marks nobody dead on it.
func (r *Registry) ReapSilent(ctx context.Context) {
	rules := r.rules()
	if last := time.Unix(0, r.synced.Load()); r.SyncEvery > 0 && rules.Now.Sub(last) > 2*r.SyncEvery {
		r.Log.Warn("not marking silent nodes dead: the store was not read back", "since", rules.Now.Sub(last).Round(time.Millisecond).String())
		return
	}
	r.mu.RLock()
	ids := SilentNodes(r.table, rules)
	r.mu.RUnlock()
	for _, id := range ids {
		// checked again under the node's lock: a report may have arrived since
		unlock := r.lockNode(id)
		c, err := r.do(ctx, Silent{ID: id})
		unlock()
		if err != nil {
			r.Log.Warn("marking node dead", "node", id, "cause", err)
			continue
		}
		for _, reason := range c.Reasons {
			r.Log.Warn(reason, "node", id)
		}
	}
}

// AddPending records a node a cloud controller is about to launch: it is pending until it registers.
func (r *Registry) AddPending(ctx context.Context, n store.Node, cause string) (store.Node, error) {
	defer r.lockNode(n.ID)()
	c, err := r.do(ctx, Pending{Node: n, Cause: cause})
	if err != nil {
		return n, err
	}
	return c.Put[0].Node, nil
}

// MarkGone records that a node's instance is gone (the cloud says so, or its launch failed or timed out):
// the node is terminated and, if it was meant to be serving, counted dead until AckDead.
func (r *Registry) MarkGone(ctx context.Context, id, cause string) error {
	defer r.lockNode(id)()
	c, err := r.do(ctx, Gone{ID: id, Cause: cause})
	if err != nil {
		return fmt.Errorf("marking node %s gone: %w", id, err)
	}
	for _, reason := range c.Reasons {
		r.Log.Warn(reason, "node", id)
	}
	return nil
}

// AckDead forgets that a dead node still needs handling (the autoscaler replaced it or chose not to).
func (r *Registry) AckDead(id string) {
	defer r.lockNode(id)()
	_, _ = r.do(context.Background(), DeathAcknowledged{ID: id}) // no store write: it cannot fail
}

// Members returns the nodes of group that are not terminated, plus the dead ones not yet acknowledged.
func (r *Registry) Members(group string) []Member {
	member := func(e *Entry) bool {
		return e.Node.Group == group && (e.Node.State != nodemodel.StateTerminated || e.DeadFrom != "")
	}
	r.mu.RLock()
	n := 0
	for _, e := range r.table {
		if member(e) {
			n++
		}
	}
	out := make([]Member, 0, n)
	for _, e := range r.table {
		if member(e) {
			out = append(out, Member{Node: e.Node, DeadFrom: e.DeadFrom})
		}
	}
	r.mu.RUnlock()
	sortByID(out, func(m *Member) string { return m.ID })
	return out
}

// Nodes returns the live nodes (not terminated) of group ("" for all), with their latest reports.
func (r *Registry) Nodes(group string) []store.Node {
	r.mu.RLock()
	out := make([]store.Node, 0, len(r.table))
	for _, e := range r.table {
		if e.Node.State != nodemodel.StateTerminated && (group == "" || e.Node.Group == group) {
			out = append(out, e.Node)
		}
	}
	r.mu.RUnlock()
	sortByID(out, func(n *store.Node) string { return n.ID })
	return out
}

// sortByID orders s by id. The elements are large (a node with its report, about 1 kB) and a
// registry has up to thousands of them: they are sorted by index and then each moved once, following the
// cycles of the permutation, rather than swapped by a sort over and over (at 10,000 nodes the swaps were
// a third of Members' time).
func sortByID[T any](s []T, id func(*T) string) {
	idx := make([]int32, len(s))
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortFunc(idx, func(a, b int32) int { return strings.Compare(id(&s[a]), id(&s[b])) })
	// idx[k] is the element that belongs at k; a position is marked done by idx[k] = k
	for i := range s {
		if idx[i] == int32(i) {
			continue
		}
		tmp := s[i]
		k := i
		for {
			j := int(idx[k])
			idx[k] = int32(k)
			if j == i {
				s[k] = tmp
				break
			}
			s[k] = s[j]
			k = j
		}
	}
}

// Node returns one node as the registry sees it.
func (r *Registry) Node(id string) (store.Node, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e := r.table[id]
	if e == nil {
		return store.Node{}, false
	}
	return e.Node, true
}

// snapshotMaxAge bounds how stale the routing snapshot may be after a change.
const snapshotMaxAge = 200 * time.Millisecond

// Snapshot returns the cluster for selection. It is rebuilt at most every 200 ms after a change, so
// routing stays cheap however often nodes report, and while one caller rebuilds it the others go on with
// the one before rather than wait (a rebuild with 1,000 nodes takes a fraction of a millisecond, more
// when its goroutine is descheduled: every request arriving meanwhile would wait as long).
func (r *Registry) Snapshot() *selector.Snapshot {
	now := r.now()
	s := r.snap.Load()
	if s != nil && (!r.snapDirty.Load() || now.Sub(s.Now) < snapshotMaxAge) {
		return s
	}
	if s != nil {
		if !r.snapMu.TryLock() {
			return s
		}
	} else {
		r.snapMu.Lock()
	}
	defer r.snapMu.Unlock()
	if s = r.snap.Load(); s != nil && (!r.snapDirty.Load() || now.Sub(s.Now) < snapshotMaxAge) {
		return s
	}
	r.snapDirty.Store(false)
	r.mu.RLock()
	snap := Snapshot(r.table, now, r.NodeTimeout)
	r.mu.RUnlock()
	r.snap.Store(&snap)
	return &snap
}

// FreshSnapshot returns the snapshot with Now set to the present, so that selection judges staleness at
// request time even when the snapshot itself is a little older.
func (r *Registry) FreshSnapshot() selector.Snapshot {
	snap := *r.Snapshot()
	snap.Now = r.now()
	return snap
}
