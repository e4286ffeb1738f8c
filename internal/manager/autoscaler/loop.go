package autoscaler

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nagare-video/nagare/internal/cloud"
	"github.com/nagare-video/nagare/internal/manager/cluster"
	"github.com/nagare-video/nagare/internal/manager/store"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

// loopStore is what the loop reads and writes in the store.
type loopStore interface {
	ListGroups(ctx context.Context) ([]store.NodeGroup, error)
	GetGroup(ctx context.Context, nameOrID string) (store.NodeGroup, error)
	GetPolicy(ctx context.Context, name string) (store.ScalePolicy, error)
	GetLaunchConfig(ctx context.Context, name string) (store.LaunchConfig, error)
	AlarmThresholds(ctx context.Context) ([]store.AlarmThreshold, error)
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	AddScaleEvent(ctx context.Context, e store.ScaleEvent) (store.ScaleEvent, error)
	DeleteGroup(ctx context.Context, name string) error
	MarkGroupDeleting(ctx context.Context, name string) error
	AddTraceSamples(ctx context.Context, samples []store.TraceSample) error
	DeleteTraceSamples(ctx context.Context, before time.Time) error
}

// registry is what the loop needs of the node registry.
type registry interface {
	Members(group string) []cluster.Member
	AddPending(ctx context.Context, n store.Node, cause string) (store.Node, error)
	Transition(ctx context.Context, id string, to nodemodel.State, cause string) (store.Node, error)
	MarkGone(ctx context.Context, id, cause string) error
	AckDead(id string)
}

// Loop runs the scaling decisions of every node group on a timer and carries them out through a cloud
// controller. Only the manager holding a group's lease acts on it.
//
// Decisions are taken under one mutex; calls to the cloud (List, Launch, Terminate), which may take
// seconds, are made outside it, so that the API's Launch and DeleteGroup never wait behind a slow cloud. A
// launch is reserved under the mutex before the cloud is asked — the node is recorded pending in the
// registry and marked in flight — so that a concurrent tick or API call counts it and does not launch the
// same node twice.
type Loop struct {
	Store    loopStore
	Registry registry
	Cloud    cloud.Controller
	Log      *slog.Logger
	// Holder names this manager in leases and events (host:port, pid …).
	Holder string
	// Version is the software version nodes must run when their launch configuration names none (the
	// manager's own): nodes that run another are replaced by a rolling upgrade.
	Version string
	// NodeEnv returns the settings a launched node gets (manager URL, cluster secret, group, role, id).
	NodeEnv func(group string, role nodemodel.Role, nodeID string) map[string]string

	Interval     time.Duration
	LeaseTTL     time.Duration
	Predictive   bool
	LowWater     float64       // fraction, e.g. 0.30
	WarmUp       time.Duration // when the policy sets none
	CoolDown     time.Duration // when the policy sets none
	DrainTimeout time.Duration
	Now          func() time.Time
	Metrics      *Metrics
	// Trace keeps the recent decisions' inputs for the console (nil: not kept). Run writes its samples to
	// the store every TraceEvery (2 s when zero), for every manager's console, and deletes those older than
	// its window about once a minute.
	Trace      *Trace
	TraceEvery time.Duration

	mu          sync.Mutex
	roles       map[roleKey]*roleMemory
	drainSince  map[string]time.Time
	terminating map[string]bool
	lastEvent   map[roleKey]string
	leaseUntil  map[string]time.Time // group → when this manager's lease on it runs out
	// inFlight are the nodes whose Cloud.Launch has not returned yet; stop is set when the node was
	// terminated meanwhile, so that its instance is stopped once it exists.
	inFlight map[string]*inFlight
	// replacing are the dead nodes whose replacements are being launched: the decisions leave them out
	// (their replacements count instead) until the launch has succeeded (they are acknowledged) or failed
	// (they are replaced again).
	replacing map[string]bool
	wg        sync.WaitGroup
	cloudDown bool // the last tick's Cloud.List failed

	// viewers turned away, counted apart from the tick's lock: routing must never wait for a tick
	dmu       sync.Mutex
	demand    map[roleKey]int
	anyDemand map[nodemodel.Role]int // role → viewers turned away with no group named
	canGrow   map[roleKey]bool       // as of the last tick: the role is below its maxLimit
}

type roleKey struct {
	group string
	role  nodemodel.Role
}

// roleMemory is what the loop remembers of one group's role between ticks.
type roleMemory struct {
	state   State
	history []Sample
}

type inFlight struct {
	stop bool
}

// historyLen bounds the load samples kept for the trend.
const historyLen = 120

func (l *Loop) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func (l *Loop) init() {
	if l.roles == nil {
		l.roles = map[roleKey]*roleMemory{}
		l.drainSince = map[string]time.Time{}
		l.terminating = map[string]bool{}
		l.lastEvent = map[roleKey]string{}
		l.leaseUntil = map[string]time.Time{}
		l.inFlight = map[string]*inFlight{}
		l.replacing = map[string]bool{}
	}
}

func (l *Loop) memory(key roleKey) *roleMemory {
	mem := l.roles[key]
	if mem == nil {
		mem = &roleMemory{}
		l.roles[key] = mem
	}
	return mem
}

// Run ticks until ctx is cancelled, then waits for terminations in flight.
func (l *Loop) Run(ctx context.Context) error {
	t := time.NewTicker(l.Interval)
	defer t.Stop()
	defer l.wg.Wait()
	if l.Trace != nil {
		done := make(chan struct{})
		go func() {
			defer close(done)
			l.keepTrace(ctx)
		}()
		defer func() { <-done }()
	}
	for {
		if err := l.Tick(ctx); err != nil && ctx.Err() == nil && !errors.Is(err, ErrCloudDown) {
			l.Log.Warn("autoscaler tick", "cause", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// traceCleanEvery is how often the samples older than the trace's window are deleted from the store.
const traceCleanEvery = time.Minute

// keepTrace writes the trace's samples to the store in batches, apart from the ticks (a tick waiting on a
// slow cloud does not hold them back), and deletes the old ones. A failing store is logged once until it
// recovers; the decisions go on without it. The samples left when ctx is cancelled are written last.
func (l *Loop) keepTrace(ctx context.Context) {
	every := l.TraceEvery
	if every <= 0 {
		every = 2 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	failing := false
	var cleaned time.Time
	step := func(ctx context.Context) {
		now := l.now()
		err := l.Trace.write(ctx, l.Store, now)
		if err == nil && now.Sub(cleaned) >= traceCleanEvery {
			if err = l.Store.DeleteTraceSamples(ctx, now.Add(-l.Trace.window())); err == nil {
				cleaned = now
			}
		}
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			l.Log.Warn("the autoscaling trace is not kept in the store: other managers' consoles miss it", "cause", err)
		case err == nil && failing:
			l.Log.Info("the autoscaling trace is kept in the store again")
		}
		failing = err != nil
	}
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := l.Trace.write(final, l.Store, l.now()); err != nil {
				l.Log.Warn("the last autoscaling trace samples were not stored", "cause", err)
			}
			return
		case <-t.C:
			step(ctx)
		}
	}
}

// Unserved records a viewer the manager could not place on a node of role in group ("" = whichever group
// needs it) and reports whether more of that role may be launched there (as of the last tick), so the
// caller can ask the viewer to retry instead of settling for a fallback. It is cheap: viewers call it.
func (l *Loop) Unserved(group string, role nodemodel.Role) bool {
	l.dmu.Lock()
	defer l.dmu.Unlock()
	if l.demand == nil {
		l.demand, l.anyDemand, l.canGrow = map[roleKey]int{}, map[nodemodel.Role]int{}, map[roleKey]bool{}
	}
	if group != "" {
		l.demand[roleKey{group, role}]++
		return l.canGrow[roleKey{group, role}]
	}
	l.anyDemand[role]++
	for k, ok := range l.canGrow {
		if ok && k.role == role {
			return true
		}
	}
	return false
}

// takeDemand returns the viewers turned away since the last tick and starts counting afresh.
func (l *Loop) takeDemand() (map[roleKey]int, map[nodemodel.Role]int) {
	l.dmu.Lock()
	defer l.dmu.Unlock()
	d, a := l.demand, l.anyDemand
	l.demand, l.anyDemand = map[roleKey]int{}, map[nodemodel.Role]int{}
	if l.canGrow == nil {
		l.canGrow = map[roleKey]bool{}
	}
	return d, a
}

func (l *Loop) setCanGrow(k roleKey, ok bool) {
	l.dmu.Lock()
	l.canGrow[k] = ok
	l.dmu.Unlock()
}

func isLive(state nodemodel.State) bool {
	return state == nodemodel.StatePending || state == nodemodel.StateRunning || state == nodemodel.StateInService
}

// Tick makes one round of decisions for every group whose lease this manager holds.
func (l *Loop) Tick(ctx context.Context) error {
	start := time.Now()
	defer func() {
		if l.Metrics != nil {
			l.Metrics.TickSeconds.Observe(time.Since(start).Seconds())
		}
	}()
	groups, err := l.Store.ListGroups(ctx)
	if err != nil {
		return fmt.Errorf("listing groups: %w", err)
	}
	// outside the lock: a slow cloud must not hold up the API. A launch reserved after this list was taken
	// is in flight, or recorded pending and unknown to the list: both are left alone by syncCloud.
	insts, err := l.Cloud.List(ctx)
	if err := l.cloudAnswered(ctx, err); err != nil {
		return err
	}
	byNode := make(map[string]cloud.Instance, len(insts))
	for _, in := range insts {
		if prev, ok := byNode[in.NodeID]; !ok || prev.State == nodemodel.StateTerminated {
			byNode[in.NodeID] = in
		}
	}
	thresholds := map[nodemodel.Role]float64{}
	if ts, err := l.Store.AlarmThresholds(ctx); err == nil {
		for _, t := range ts {
			thresholds[t.Role] = float64(t.Threshold) / 100
		}
	}
	demand, anyDemand := l.takeDemand()
	var errs []error
	for _, g := range groups {
		work, err := l.decideGroup(ctx, g, byNode, thresholds, demand, anyDemand)
		if err != nil {
			errs = append(errs, fmt.Errorf("group %s: %w", g.Name, err))
		}
		for _, w := range work {
			l.carryOut(ctx, w)
		}
	}
	return errors.Join(errs...)
}

// cloudAnswered records whether the controller answered the tick's List (listErr nil) and logs when that
// changes: a controller that is down (a Docker Engine or Kubernetes API unreachable, a cloud API failing)
// gets one error line, not one per tick, and the tick decides nothing. It returns the tick's error.
func (l *Loop) cloudAnswered(ctx context.Context, listErr error) error {
	name := l.Cloud.Name()
	if l.Metrics != nil {
		up := 1.0
		if listErr != nil {
			up = 0
		}
		l.Metrics.CloudUp.WithLabelValues(name).Set(up)
	}
	l.mu.Lock()
	was := l.cloudDown
	l.cloudDown = listErr != nil && ctx.Err() == nil
	l.mu.Unlock()
	switch {
	case listErr == nil && was:
		l.Log.Info("cloud controller answers again: the autoscaler acts again", "controller", name)
	case listErr != nil && !was && ctx.Err() == nil:
		l.Log.Error("cloud controller down: nothing is launched or terminated until it answers", "controller", name, "cause", listErr)
	}
	if listErr != nil {
		return fmt.Errorf("%w: listing %s instances: %w", ErrCloudDown, name, listErr)
	}
	return nil
}

// lease reports whether this manager holds the group's lease, renewing it (a write to the store) only once
// half of it has run out. The caller holds l.mu.
func (l *Loop) lease(ctx context.Context, group string) (bool, error) {
	now := l.now()
	if until, ok := l.leaseUntil[group]; ok && now.Before(until.Add(-l.LeaseTTL/2)) {
		return true, nil
	}
	ok, err := l.Store.AcquireLease(ctx, "autoscaler/"+group, l.Holder, l.LeaseTTL)
	if err != nil || !ok {
		delete(l.leaseUntil, group)
		return false, err
	}
	l.leaseUntil[group] = now.Add(l.LeaseTTL)
	return true, nil
}

// roleWork is what one role's decision leaves to be done outside the lock: launches already reserved, and
// the decision to record once they are made.
type roleWork struct {
	group   string
	role    nodemodel.Role
	d       Decision
	launch  []launchJob
	errs    []error  // reservations and drains that failed
	replace []string // dead nodes replaced by d (marked in l.replacing)
}

// decideGroup decides for every role of g under the lock and reserves the launches the decisions call for.
func (l *Loop) decideGroup(ctx context.Context, g store.NodeGroup, insts map[string]cloud.Instance,
	thresholds map[nodemodel.Role]float64, demand map[roleKey]int, anyDemand map[nodemodel.Role]int,
) ([]roleWork, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.init()
	ok, err := l.lease(ctx, g.Name)
	if err != nil || !ok {
		return nil, err // !ok: another manager acts on this group
	}
	// the list is older than the lock: the group may have been marked for deletion, or deleted, since
	g, err = l.Store.GetGroup(ctx, g.Name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	policy, err := l.Store.GetPolicy(ctx, g.ScalePolicy)
	if err != nil {
		return nil, err
	}
	lc, err := l.Store.GetLaunchConfig(ctx, g.LaunchConfig)
	if err != nil {
		return nil, err
	}
	now := l.now()
	warmUp, coolDown := policy.WarmUp, policy.CoolDown
	if warmUp <= 0 {
		warmUp = l.WarmUp
	}
	if coolDown <= 0 {
		coolDown = l.CoolDown
	}

	members := l.syncCloud(ctx, g, insts, warmUp, now)
	if g.Deleting {
		for _, lim := range policy.Targets {
			l.setCanGrow(roleKey{g.Name, lim.Role}, false)
		}
		return nil, l.retire(ctx, g, members)
	}
	l.finishDrains(ctx, members, now)

	var work []roleWork
	for _, lim := range policy.Targets {
		key := roleKey{g.Name, lim.Role}
		mem := l.memory(key)
		target, _ := lc.Target(lim.Role)
		capacity := target.ConnectionCapacity
		if capacity <= 0 {
			capacity = 1 << 30 // no capacity given: the role only keeps its minimum and replaces the dead
		}
		threshold := thresholds[lim.Role]
		if threshold <= 0 {
			threshold = float64(store.DefaultAlarmThreshold) / 100
		}
		in := Input{
			Now: now, Role: lim.Role, Limits: lim, Capacity: capacity, Threshold: threshold,
			LowWater: min(l.LowWater, threshold*0.99), WarmUp: warmUp, CoolDown: coolDown,
			History: mem.history, State: mem.state, Predictive: l.Predictive,
			Demand: demand[key] + anyDemand[lim.Role], MaxSurge: maxSurge(lc),
		}
		for _, m := range members {
			if m.Role != lim.Role || l.replacing[m.ID] {
				continue // a dead node being replaced: its replacement counts
			}
			nl := NodeLoad{ID: m.ID, State: m.State, Connections: m.Stats.Connections, LaunchedAt: m.CreatedAt,
				Overloaded: m.Stats.Overloaded != "", Outdated: Outdated(m.Node, insts[m.ID], lc, l.Version)}
			if _, managed := insts[m.ID]; !managed && l.inFlight[m.ID] == nil {
				nl.Pinned = true
			}
			if m.DeadFrom != "" {
				nl.State, nl.Dead = m.DeadFrom, true
			}
			in.Nodes = append(in.Nodes, nl)
		}
		d, err := Decide(in)
		if err != nil {
			return work, err
		}
		mem.state = d.State
		mem.history = append(mem.history, Sample{At: now, Load: d.Demand})
		if len(mem.history) > historyLen {
			mem.history = mem.history[len(mem.history)-historyLen:]
		}
		// only the trend over the warm-up matters for the projection
		for len(mem.history) > 2 && now.Sub(mem.history[0].At) > warmUp {
			mem.history = mem.history[1:]
		}
		if l.Metrics != nil {
			l.Metrics.observe(g.Name, lim.Role, in, d, countLive(in.Nodes))
		}
		if l.Trace != nil {
			l.Trace.record(g.Name, lim.Role, in, d)
		}
		// a viewer with no room may wait when a node of the role is on its way or may still be launched
		l.setCanGrow(key, countLive(in.Nodes)+d.Launch+len(d.Replace) < lim.MaxLimit || d.Launch+len(d.Replace) > 0 || launching(in.Nodes))

		w := roleWork{group: g.Name, role: lim.Role, d: d, replace: d.Replace}
		for _, n := range in.Nodes {
			if n.Dead && !slices.Contains(d.Replace, n.ID) {
				// not replaced (at max): its death is handled
				l.stopInstance(ctx, n.ID)
				l.Registry.AckDead(n.ID)
			}
		}
		if !l.decided(g.Name, lim.Role, d) {
			continue
		}
		for i := 0; i < d.Launch+len(d.Replace); i++ {
			job, err := l.reserve(ctx, g, lc, lim.Role, "autoscaler: "+d.Reason)
			if err != nil {
				w.errs = append(w.errs, fmt.Errorf("%w: %w", errLaunch, err))
				continue
			}
			w.launch = append(w.launch, job)
		}
		for _, id := range d.Replace {
			l.replacing[id] = true
		}
		for _, id := range d.Drain {
			if _, err := l.Registry.Transition(ctx, id, nodemodel.StateDraining, "autoscaler: "+d.Reason); err != nil {
				w.errs = append(w.errs, err)
				continue
			}
			l.drainSince[id] = l.now()
		}
		work = append(work, w)
	}
	return work, nil
}

// decided notes the decision for role and reports whether it acts; decisions that hold back or hold steady
// are logged (with the load and its projection) when they change. The caller holds l.mu.
func (l *Loop) decided(group string, role nodemodel.Role, d Decision) bool {
	key := roleKey{group, role}
	acted := d.Launch > 0 || len(d.Replace) > 0 || len(d.Drain) > 0
	if !acted && l.lastEvent[key] != d.Reason {
		l.Log.Info("autoscaler", "group", group, "role", role, "decision", d.Reason,
			"load", pct(d.Load), "predicted", pct(d.Projected))
	}
	l.lastEvent[key] = d.Reason
	return acted
}

// carryOut asks the cloud for the launches w reserved, outside the lock, records the decision, and settles
// the dead nodes it replaced: acknowledged when every launch succeeded, replaced again at the next tick
// when one failed.
func (l *Loop) carryOut(ctx context.Context, w roleWork) {
	errs := w.errs
	var launched []string
	for _, job := range w.launch {
		if err := l.start(ctx, job); err != nil {
			errs = append(errs, fmt.Errorf("%w: %w", errLaunch, err))
			continue
		}
		launched = append(launched, job.node.ID)
	}
	nodes := append(append(launched, w.d.Replace...), w.d.Drain...)
	l.event(ctx, w.group, w.role, actionOf(w.d), w.d.Reason, w.d.Load, w.d.Projected, nodes)
	err := errors.Join(errs...)
	if err != nil {
		l.Log.Warn("autoscaler action failed", "group", w.group, "role", w.role, "cause", err)
	}
	launchFailed := errors.Is(err, errLaunch)
	if !launchFailed {
		for _, id := range w.replace {
			l.stopInstance(ctx, id)
			l.Registry.AckDead(id)
		}
	}
	if len(w.replace) > 0 {
		l.mu.Lock()
		for _, id := range w.replace {
			delete(l.replacing, id) // failed: still dead, so the next tick replaces it again
		}
		l.mu.Unlock()
	}
}

// errLaunch marks a failed launch in carryOut's error.
var errLaunch = errors.New("launch failed")

// stopInstance makes sure a dead node's instance is gone (a hung VM or container would go on costing).
func (l *Loop) stopInstance(ctx context.Context, id string) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		if err := l.Cloud.Terminate(tctx, id); err != nil && !errors.Is(err, cloud.ErrNotFound) {
			l.Log.Warn("terminating a dead node's instance", "node", id, "cause", err)
		}
	}()
}

// launching reports whether a node is on its way into service.
func launching(nodes []NodeLoad) bool {
	return slices.ContainsFunc(nodes, func(n NodeLoad) bool {
		return !n.Dead && (n.State == nodemodel.StatePending || n.State == nodemodel.StateRunning)
	})
}

func countLive(nodes []NodeLoad) int {
	n := 0
	for _, x := range nodes {
		if !x.Dead && isLive(x.State) {
			n++
		}
	}
	return n
}

// syncCloud reconciles the group's nodes with what the cloud says: launched instances that run move from
// pending to running, instances that are gone make their nodes dead, and launches that never came up
// within twice the warm-up are given up. It returns the members after reconciliation.
func (l *Loop) syncCloud(ctx context.Context, g store.NodeGroup, insts map[string]cloud.Instance, warmUp time.Duration, now time.Time) []cluster.Member {
	giveUp := 2*warmUp + 30*time.Second
	members := l.Registry.Members(g.Name)
	changed := false // by this reconciliation: then the members are read again
	for _, m := range members {
		if m.State == nodemodel.StateTerminating {
			changed = true
			// terminated by a drain, or rejected at admission (then it is also dead, and replaced)
			action := ""
			if m.DeadFrom != "" && !l.terminating[m.ID] {
				action = "rejected"
			}
			l.terminate(ctx, m.Node, action, fmt.Sprintf("node %s failed admission (see its events) and is terminated", m.ID))
			continue
		}
		if m.DeadFrom != "" || l.inFlight[m.ID] != nil {
			continue // dead: handled by the decision; in flight: the cloud has not answered yet
		}
		inst, managed := insts[m.ID]
		switch {
		case !managed:
			// a node started by hand, or one whose launch the controller forgot (manager restart)
			if m.State == nodemodel.StatePending && now.Sub(m.CreatedAt) > giveUp {
				l.gone(ctx, m.Node, "launch lost: the cloud controller does not know the instance")
				changed = true
			}
		case inst.State == nodemodel.StateTerminated:
			changed = true
			reason := "the cloud reports the instance gone"
			if inst.Reason != "" {
				reason += ": " + inst.Reason
			}
			l.gone(ctx, m.Node, reason)
		case m.State == nodemodel.StatePending && inst.State == nodemodel.StateRunning:
			changed = true
			if _, err := l.Registry.Transition(ctx, m.ID, nodemodel.StateRunning, "instance running ("+l.Cloud.Name()+" "+inst.ID+")"); err != nil {
				l.Log.Debug("pending → running", "node", m.ID, "cause", err)
			}
		case (m.State == nodemodel.StatePending || m.State == nodemodel.StateRunning) && now.Sub(m.CreatedAt) > giveUp:
			changed = true
			l.event(ctx, g.Name, m.Role, "launch-timeout", fmt.Sprintf("node %s not in service %s after launch: terminated",
				m.ID, now.Sub(m.CreatedAt).Round(time.Second)), 0, 0, []string{m.ID})
			l.gone(ctx, m.Node, "not in service within "+giveUp.String())
			// dead now: its instance is stopped when the death is handled
		}
	}
	if !changed {
		return members
	}
	return l.Registry.Members(g.Name)
}

func (l *Loop) gone(ctx context.Context, n store.Node, cause string) {
	if err := l.Registry.MarkGone(ctx, n.ID, cause); err != nil {
		l.Log.Warn("marking node gone", "node", n.ID, "cause", err)
	}
}

// finishDrains terminates draining nodes whose last viewer left, or whose drain deadline passed.
func (l *Loop) finishDrains(ctx context.Context, members []cluster.Member, now time.Time) {
	for _, m := range members {
		if m.State != nodemodel.StateDraining || m.DeadFrom != "" {
			delete(l.drainSince, m.ID)
			continue
		}
		since, ok := l.drainSince[m.ID]
		if !ok {
			since = m.UpdatedAt // drained by an earlier manager (or before a restart)
			l.drainSince[m.ID] = since
		}
		switch {
		case m.Stats.Connections == 0 && m.LastReport.After(since):
			l.terminate(ctx, m.Node, "drained", fmt.Sprintf("drained %s: last viewer left after %s", m.ID, now.Sub(since).Round(time.Second)))
		case now.Sub(since) >= l.DrainTimeout:
			l.terminate(ctx, m.Node, "drain-deadline", fmt.Sprintf("drain deadline of %s passed for %s with %d connections",
				l.DrainTimeout, m.ID, m.Stats.Connections))
		}
	}
}

// terminate moves n to terminating (unless it is already) and stops its instance in the background,
// recording action/reason as an event when action is set. A node whose launch is in flight is stopped once
// the cloud has answered. The caller holds l.mu.
func (l *Loop) terminate(ctx context.Context, n store.Node, action, reason string) {
	if l.terminating[n.ID] {
		return
	}
	if n.State != nodemodel.StateTerminating {
		if _, err := l.Registry.Transition(ctx, n.ID, nodemodel.StateTerminating, reason); err != nil {
			l.Log.Warn("terminating node", "node", n.ID, "cause", err)
			return
		}
	}
	if action != "" {
		l.event(ctx, n.Group, n.Role, action, reason, 0, 0, []string{n.ID})
	}
	l.terminating[n.ID] = true
	if f := l.inFlight[n.ID]; f != nil {
		f.stop = true // Terminate now could run before the instance exists, and leave it running
		return
	}
	l.stopAsync(ctx, n.ID)
}

// stopAsync terminates the node's instance in the background, then marks the node terminated. The node is
// in l.terminating until it is done.
func (l *Loop) stopAsync(ctx context.Context, id string) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		err := l.Cloud.Terminate(tctx, id)
		if err != nil {
			// the node stays terminating: the next tick tries again, rather than leave a paid-for instance
			// (or a process that would register again) behind
			l.Log.Warn("terminating instance failed; retrying at the next tick", "node", id, "controller", l.Cloud.Name(), "cause", err)
		} else {
			sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			if _, err := l.Registry.Transition(sctx, id, nodemodel.StateTerminated, "terminated by the autoscaler through "+l.Cloud.Name()); err != nil {
				l.Log.Warn("marking node terminated", "node", id, "cause", err)
			}
			scancel()
		}
		l.mu.Lock()
		delete(l.terminating, id)
		l.mu.Unlock()
	}()
}

// ActionTerminate is the scale event of a node terminated through the API.
const ActionTerminate = "terminate"

// Terminate ends a node now (the API's "terminate node" call): it leaves routing at once and its instance
// is stopped through the cloud controller, whatever its viewers (drain first to let them leave). A node
// that is gone already is an error.
func (l *Loop) Terminate(ctx context.Context, n store.Node, cause string) error {
	if n.State == nodemodel.StateTerminated {
		return fmt.Errorf("node %s: %w", n.ID, store.ErrStateConflict)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.init()
	l.terminate(ctx, n, ActionTerminate, cause)
	return nil
}

func actionOf(d Decision) string {
	switch {
	case d.Upgrade:
		return ActionRollingUpgrade
	case len(d.Replace) > 0:
		return "replace"
	case len(d.Drain) > 0:
		return "scale-in"
	case strings.HasPrefix(d.Reason, "minimum"):
		return "minimum"
	default:
		return "scale-out"
	}
}

// Launch starts one node of role in group now (the API's "launch node" call), within the role's maxLimit.
// It returns the new node.
func (l *Loop) Launch(ctx context.Context, group string, role nodemodel.Role) (store.Node, error) {
	g, err := l.Store.GetGroup(ctx, group)
	if err != nil {
		return store.Node{}, err
	}
	if g.Deleting {
		return store.Node{}, fmt.Errorf("group %s is being deleted: %w", g.Name, store.ErrInUse)
	}
	policy, err := l.Store.GetPolicy(ctx, g.ScalePolicy)
	if err != nil {
		return store.Node{}, err
	}
	lc, err := l.Store.GetLaunchConfig(ctx, g.LaunchConfig)
	if err != nil {
		return store.Node{}, err
	}
	lim, ok := policy.Limits(role)
	if !ok {
		return store.Node{}, fmt.Errorf("%w: scale policy %s has no %s target", ErrInvalidInput, policy.Name, role)
	}

	l.mu.Lock()
	l.init()
	live := 0
	var newest store.Node
	for _, m := range l.Registry.Members(g.Name) {
		if m.Role == role && m.DeadFrom == "" && isLive(m.State) {
			live++
			if m.State != nodemodel.StateInService && (newest.ID == "" || m.CreatedAt.After(newest.CreatedAt)) {
				newest = m.Node
			}
		}
	}
	if live >= lim.MaxLimit {
		l.mu.Unlock()
		if newest.ID != "" {
			// the autoscaler got there first (it keeps every role at its minimum): that launch, still on its
			// way into service, answers the call
			return newest, nil
		}
		return store.Node{}, fmt.Errorf("%w: %s is at its maxLimit of %d nodes in group %s", ErrAtMax, role, lim.MaxLimit, g.Name)
	}
	reason := fmt.Sprintf("launch %s requested through the API: %d → %d nodes", role, live, live+1)
	job, err := l.reserve(ctx, g, lc, role, reason)
	if err != nil {
		l.mu.Unlock()
		return store.Node{}, err
	}
	mem := l.memory(roleKey{g.Name, role})
	before := mem.state
	mem.state.LastLaunch, mem.state.Expected = l.now(), live+1
	after := mem.state
	l.mu.Unlock()

	if err := l.start(ctx, job); err != nil {
		l.mu.Lock()
		if mem.state.LastLaunch.Equal(after.LastLaunch) && mem.state.Expected == after.Expected {
			mem.state.LastLaunch, mem.state.Expected = before.LastLaunch, before.Expected // no warm-up for a launch that failed
		}
		l.mu.Unlock()
		return store.Node{}, err
	}
	l.event(ctx, g.Name, role, "launch", reason, 0, 0, []string{job.node.ID})
	for _, m := range l.Registry.Members(g.Name) {
		if m.ID == job.node.ID {
			return m.Node, nil
		}
	}
	return job.node, nil
}

// DeleteGroup marks group for deletion (in the store, so that whichever manager holds its lease, now or
// after a restart, carries it out): its nodes are terminated at once (deleting a group is the operator's
// explicit call) and the group is deleted with the last of them. It returns the nodes being terminated.
func (l *Loop) DeleteGroup(ctx context.Context, group string) ([]string, error) {
	g, err := l.Store.GetGroup(ctx, group)
	if err != nil {
		return nil, err
	}
	if err := l.Store.MarkGroupDeleting(ctx, g.Name); err != nil {
		return nil, err
	}
	g.Deleting = true
	l.mu.Lock()
	defer l.mu.Unlock()
	l.init()
	l.event(ctx, g.Name, "", "delete-group", fmt.Sprintf("group %s deleted through the API: terminating its nodes", g.Name), 0, 0, nil)
	var ids []string
	for _, m := range l.Registry.Members(g.Name) {
		if m.State != nodemodel.StateTerminated {
			ids = append(ids, m.ID)
		}
	}
	if ok, err := l.lease(ctx, g.Name); err == nil && ok {
		// this manager acts on the group: start now rather than at the next tick
		return ids, l.retire(ctx, g, l.Registry.Members(g.Name))
	}
	return ids, nil
}

// retire terminates the nodes of a group being deleted and deletes it when none is left.
func (l *Loop) retire(ctx context.Context, g store.NodeGroup, members []cluster.Member) error {
	left := 0
	for _, m := range members {
		if m.DeadFrom != "" {
			l.Registry.AckDead(m.ID)
		}
		if m.State == nodemodel.StateTerminated {
			continue
		}
		left++
		l.terminate(ctx, m.Node, "", "group "+g.Name+" deleted")
	}
	if left > 0 {
		return nil
	}
	if l.Trace != nil {
		// before the group (and its stored samples) goes, so that no sample of it is written after
		l.Trace.forget(g.Name)
	}
	if err := l.Store.DeleteGroup(ctx, g.Name); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	l.Log.Info("node group deleted", "group", g.Name)
	return nil
}

// ErrAtMax is returned when a launch would pass the role's maxLimit.
var ErrAtMax = errors.New("role at its maximum")

// launchJob is a launch reserved under the lock — its node recorded pending and marked in flight — that
// start carries out outside it.
type launchJob struct {
	node store.Node
	spec cloud.Spec
}

// reserve records a new node of role pending and marks it in flight. The caller holds l.mu and must call
// start with the job.
func (l *Loop) reserve(ctx context.Context, g store.NodeGroup, lc store.LaunchConfig, role nodemodel.Role, cause string) (launchJob, error) {
	id := newNodeID(role)
	target, _ := lc.Target(role)
	region := ""
	if len(g.Regions) > 0 {
		region = g.Regions[0]
	}
	n, err := l.Registry.AddPending(ctx, store.Node{ID: id, Group: g.Name, Role: role, Region: region, Capacity: target.ConnectionCapacity}, cause)
	if err != nil {
		return launchJob{}, fmt.Errorf("recording node %s: %w", id, err)
	}
	spec := cloud.Spec{
		NodeID: id, Group: g.Name, Role: role, Region: region, Image: lc.Image, InstanceType: target.InstanceType,
		Properties: map[string]string{},
	}
	for _, p := range lc.Properties {
		spec.Properties[p.Key] = p.Value
	}
	if l.NodeEnv != nil {
		spec.Env = l.NodeEnv(g.Name, role, id)
	}
	l.inFlight[id] = &inFlight{}
	return launchJob{node: n, spec: spec}, nil
}

// start asks the cloud for the reserved node's instance. It must be called without l.mu: the call may take
// seconds.
func (l *Loop) start(ctx context.Context, job launchJob) error {
	id, g, role := job.node.ID, job.node.Group, job.node.Role
	inst, err := l.Cloud.Launch(ctx, job.spec)
	if err != nil {
		_ = l.Registry.MarkGone(ctx, id, "launch failed: "+err.Error())
		l.Registry.AckDead(id)
		l.event(ctx, g, role, "launch-failed", fmt.Sprintf("launching %s through %s: %v", id, l.Cloud.Name(), err), 0, 0, []string{id})
	} else {
		l.Log.Info("node launched", "node", id, "group", g, "role", role, "controller", l.Cloud.Name(), "instance", inst.ID)
		if inst.State == nodemodel.StateRunning {
			if _, terr := l.Registry.Transition(ctx, id, nodemodel.StateRunning, "instance running ("+l.Cloud.Name()+" "+inst.ID+")"); terr != nil {
				l.Log.Debug("pending → running", "node", id, "cause", terr)
			}
		}
	}
	l.mu.Lock()
	f := l.inFlight[id]
	delete(l.inFlight, id)
	if f != nil && f.stop {
		// terminated while the cloud launched it (its group was deleted)
		if err == nil {
			l.stopAsync(ctx, id)
		} else {
			delete(l.terminating, id)
		}
	}
	l.mu.Unlock()
	if err != nil {
		return fmt.Errorf("launching %s: %w", id, err)
	}
	return nil
}

func newNodeID(role nodemodel.Role) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "node-" + string(role) + "-" + hex.EncodeToString(b)
}

// event stores one decision and logs it with its reason.
func (l *Loop) event(ctx context.Context, group string, role nodemodel.Role, action, reason string, load, predicted float64, nodes []string) {
	l.Log.Info("autoscaler "+action, "group", group, "role", role, "reason", reason, "nodes", strings.Join(nodes, ","))
	if l.Metrics != nil {
		l.Metrics.Decisions.WithLabelValues(action).Inc()
	}
	_, err := l.Store.AddScaleEvent(ctx, store.ScaleEvent{
		Group: group, Role: role, Action: action, Reason: reason, Load: load * 100, Predicted: predicted * 100,
		Nodes: nodes, Manager: l.Holder, At: l.now(),
	})
	if err != nil {
		l.Log.Warn("storing scale event", "cause", err)
	}
}
