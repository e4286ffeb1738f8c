package autoscaler

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
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
type Loop struct {
	Store    loopStore
	Registry registry
	Cloud    cloud.Controller
	Log      *slog.Logger
	// Holder names this manager in leases and events (host:port, pid …).
	Holder string
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

	mu          sync.Mutex
	roles       map[roleKey]*roleMemory
	drainSince  map[string]time.Time
	terminating map[string]bool
	lastEvent   map[roleKey]string
	leaseUntil  map[string]time.Time // group → when this manager's lease on it runs out
	wg          sync.WaitGroup

	// viewers turned away, counted apart from the tick's lock: routing must never wait for a tick
	dmu       sync.Mutex
	demand    map[roleKey]int
	anyDemand map[nodemodel.Role]int // role → viewers turned away with no group named
	canGrow   map[roleKey]bool // as of the last tick: the role is below its maxLimit
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
	}
}

// Run ticks until ctx is cancelled, then waits for terminations in flight.
func (l *Loop) Run(ctx context.Context) error {
	t := time.NewTicker(l.Interval)
	defer t.Stop()
	defer l.wg.Wait()
	for {
		if err := l.Tick(ctx); err != nil && ctx.Err() == nil {
			l.Log.Warn("autoscaler tick", "cause", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
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
	l.mu.Lock()
	defer l.mu.Unlock()
	l.init()
	defer func() {
		if l.Metrics != nil {
			l.Metrics.TickSeconds.Observe(time.Since(start).Seconds())
		}
	}()
	groups, err := l.Store.ListGroups(ctx)
	if err != nil {
		return fmt.Errorf("listing groups: %w", err)
	}
	insts, err := l.Cloud.List(ctx)
	if err != nil {
		return fmt.Errorf("listing %s instances: %w", l.Cloud.Name(), err)
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
		ok, err := l.lease(ctx, g.Name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !ok {
			continue // another manager acts on this group
		}
		if err := l.tickGroup(ctx, g, byNode, thresholds, demand, anyDemand); err != nil {
			errs = append(errs, fmt.Errorf("group %s: %w", g.Name, err))
		}
	}
	return errors.Join(errs...)
}

// lease reports whether this manager holds the group's lease, renewing it (a write to the store) only once
// half of it has run out.
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

func (l *Loop) tickGroup(ctx context.Context, g store.NodeGroup, insts map[string]cloud.Instance,
	thresholds map[nodemodel.Role]float64, demand map[roleKey]int, anyDemand map[nodemodel.Role]int) error {
	policy, err := l.Store.GetPolicy(ctx, g.ScalePolicy)
	if err != nil {
		return err
	}
	lc, err := l.Store.GetLaunchConfig(ctx, g.LaunchConfig)
	if err != nil {
		return err
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
		return l.retire(ctx, g, members)
	}
	l.finishDrains(ctx, members, now)

	for _, lim := range policy.Targets {
		key := roleKey{g.Name, lim.Role}
		mem := l.roles[key]
		if mem == nil {
			mem = &roleMemory{}
			l.roles[key] = mem
		}
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
			Demand: demand[key] + anyDemand[lim.Role],
		}
		var dead []string
		for _, m := range members {
			if m.Role != lim.Role {
				continue
			}
			nl := NodeLoad{ID: m.ID, State: m.State, Connections: m.Stats.Connections, LaunchedAt: m.CreatedAt}
			if _, managed := insts[m.ID]; !managed {
				nl.Pinned = true
			}
			if m.DeadFrom != "" {
				nl.State, nl.Dead = m.DeadFrom, true
				dead = append(dead, m.ID)
			}
			in.Nodes = append(in.Nodes, nl)
		}
		d, err := Decide(in)
		if err != nil {
			return err
		}
		mem.state = d.State
		if !math.IsInf(d.Load, 1) {
			mem.history = append(mem.history, Sample{At: now, Load: d.Load})
			if len(mem.history) > historyLen {
				mem.history = mem.history[len(mem.history)-historyLen:]
			}
			// only the trend over the warm-up matters for the projection
			for len(mem.history) > 2 && now.Sub(mem.history[0].At) > warmUp {
				mem.history = mem.history[1:]
			}
		}
		if l.Metrics != nil {
			l.Metrics.observe(g.Name, lim.Role, d, countLive(in.Nodes))
		}
		// a viewer with no room may wait when a node of the role is on its way or may still be launched
		l.setCanGrow(key, countLive(in.Nodes)+d.Launch+len(d.Replace) < lim.MaxLimit || d.Launch+len(d.Replace) > 0 || launching(in.Nodes))
		launchFailed := false
		if err := l.carryOut(ctx, g, lc, lim.Role, d); err != nil {
			l.Log.Warn("autoscaler action failed", "group", g.Name, "role", lim.Role, "cause", err)
			launchFailed = errors.Is(err, errLaunch)
		}
		for _, id := range dead {
			if launchFailed && slices.Contains(d.Replace, id) {
				continue // not replaced yet: the next tick tries again
			}
			l.stopInstance(ctx, id)
			l.Registry.AckDead(id)
		}
	}
	return nil
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
	for _, m := range l.Registry.Members(g.Name) {
		if m.State == nodemodel.StateTerminating {
			// terminated by a drain, or rejected at admission (then it is also dead, and replaced)
			action := ""
			if m.DeadFrom != "" && !l.terminating[m.ID] {
				action = "rejected"
			}
			l.terminate(ctx, m.Node, action, fmt.Sprintf("node %s failed admission (see its events) and is terminated", m.ID))
			continue
		}
		if m.DeadFrom != "" {
			continue
		}
		inst, managed := insts[m.ID]
		switch {
		case !managed:
			// a node started by hand, or one whose launch the controller forgot (manager restart)
			if m.State == nodemodel.StatePending && now.Sub(m.CreatedAt) > giveUp {
				l.gone(ctx, m.Node, "launch lost: the cloud controller does not know the instance")
			}
		case inst.State == nodemodel.StateTerminated:
			reason := "the cloud reports the instance gone"
			if inst.Reason != "" {
				reason += ": " + inst.Reason
			}
			l.gone(ctx, m.Node, reason)
		case m.State == nodemodel.StatePending && inst.State == nodemodel.StateRunning:
			if _, err := l.Registry.Transition(ctx, m.ID, nodemodel.StateRunning, "instance running ("+l.Cloud.Name()+" "+inst.ID+")"); err != nil {
				l.Log.Debug("pending → running", "node", m.ID, "cause", err)
			}
		case (m.State == nodemodel.StatePending || m.State == nodemodel.StateRunning) && now.Sub(m.CreatedAt) > giveUp:
			l.event(ctx, g.Name, m.Role, "launch-timeout", fmt.Sprintf("node %s not in service %s after launch: terminated",
				m.ID, now.Sub(m.CreatedAt).Round(time.Second)), 0, 0, []string{m.ID})
			l.gone(ctx, m.Node, "not in service within "+giveUp.String())
			// dead now: its instance is stopped when the death is handled
		}
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
// recording action/reason as an event when action is set.
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
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		err := l.Cloud.Terminate(tctx, n.ID)
		if err != nil {
			// the node stays terminating: the next tick tries again, rather than leave a paid-for instance
			// (or a process that would register again) behind
			l.Log.Warn("terminating instance failed; retrying at the next tick", "node", n.ID, "controller", l.Cloud.Name(), "cause", err)
		} else {
			sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			if _, err := l.Registry.Transition(sctx, n.ID, nodemodel.StateTerminated, "terminated by the autoscaler through "+l.Cloud.Name()); err != nil {
				l.Log.Warn("marking node terminated", "node", n.ID, "cause", err)
			}
			scancel()
		}
		l.mu.Lock()
		delete(l.terminating, n.ID)
		l.mu.Unlock()
	}()
}

// carryOut launches, replaces and drains as d says, and records the decision.
func (l *Loop) carryOut(ctx context.Context, g store.NodeGroup, lc store.LaunchConfig, role nodemodel.Role, d Decision) error {
	key := roleKey{g.Name, role}
	acted := d.Launch > 0 || len(d.Replace) > 0 || len(d.Drain) > 0
	if !acted {
		// held-back and steady decisions (with the load and its projection) are logged when they change
		if l.lastEvent[key] != d.Reason {
			l.Log.Info("autoscaler", "group", g.Name, "role", role, "decision", d.Reason,
				"load", pct(d.Load), "predicted", pct(d.Projected))
		}
		l.lastEvent[key] = d.Reason
		return nil
	}
	l.lastEvent[key] = d.Reason
	var errs []error
	var launched []string
	for i := 0; i < d.Launch+len(d.Replace); i++ {
		id, err := l.launch(ctx, g, lc, role, "autoscaler: "+d.Reason)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: %w", errLaunch, err))
			continue
		}
		launched = append(launched, id)
	}
	for _, id := range d.Drain {
		if _, err := l.Registry.Transition(ctx, id, nodemodel.StateDraining, "autoscaler: "+d.Reason); err != nil {
			errs = append(errs, err)
			continue
		}
		l.drainSince[id] = l.now()
	}
	action := actionOf(d)
	nodes := append(append(launched, d.Replace...), d.Drain...)
	l.event(ctx, g.Name, role, action, d.Reason, d.Load, d.Projected, nodes)
	return errors.Join(errs...)
}

func actionOf(d Decision) string {
	switch {
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
// It returns the new node's id.
func (l *Loop) Launch(ctx context.Context, group string, role nodemodel.Role) (store.Node, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.init()
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
		if newest.ID != "" {
			// the autoscaler got there first (it keeps every role at its minimum): that launch, still on its
			// way into service, answers the call
			return newest, nil
		}
		return store.Node{}, fmt.Errorf("%w: %s is at its maxLimit of %d nodes in group %s", ErrAtMax, role, lim.MaxLimit, g.Name)
	}
	reason := fmt.Sprintf("launch %s requested through the API: %d → %d nodes", role, live, live+1)
	id, err := l.launch(ctx, g, lc, role, reason)
	if err != nil {
		return store.Node{}, err
	}
	key := roleKey{g.Name, role}
	mem := l.roles[key]
	if mem == nil {
		mem = &roleMemory{}
		l.roles[key] = mem
	}
	mem.state.LastLaunch, mem.state.Expected = l.now(), live+1
	l.event(ctx, g.Name, role, "launch", reason, 0, 0, []string{id})
	for _, m := range l.Registry.Members(g.Name) {
		if m.ID == id {
			return m.Node, nil
		}
	}
	return store.Node{ID: id, Group: g.Name, Role: role, State: nodemodel.StatePending}, nil
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
	if err := l.Store.DeleteGroup(ctx, g.Name); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	l.Log.Info("node group deleted", "group", g.Name)
	return nil
}

// ErrAtMax is returned when a launch would pass the role's maxLimit.
var ErrAtMax = errors.New("role at its maximum")

func (l *Loop) launch(ctx context.Context, g store.NodeGroup, lc store.LaunchConfig, role nodemodel.Role, cause string) (string, error) {
	id := newNodeID(role)
	target, _ := lc.Target(role)
	region := ""
	if len(g.Regions) > 0 {
		region = g.Regions[0]
	}
	n := store.Node{ID: id, Group: g.Name, Role: role, Region: region, Capacity: target.ConnectionCapacity}
	if _, err := l.Registry.AddPending(ctx, n, cause); err != nil {
		return "", fmt.Errorf("recording node %s: %w", id, err)
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
	inst, err := l.Cloud.Launch(ctx, spec)
	if err != nil {
		_ = l.Registry.MarkGone(ctx, id, "launch failed: "+err.Error())
		l.Registry.AckDead(id)
		l.event(ctx, g.Name, role, "launch-failed", fmt.Sprintf("launching %s through %s: %v", id, l.Cloud.Name(), err), 0, 0, []string{id})
		return "", fmt.Errorf("launching %s: %w", id, err)
	}
	l.Log.Info("node launched", "node", id, "group", g.Name, "role", role, "controller", l.Cloud.Name(), "instance", inst.ID)
	if inst.State == nodemodel.StateRunning {
		if _, err := l.Registry.Transition(ctx, id, nodemodel.StateRunning, "instance running ("+l.Cloud.Name()+" "+inst.ID+")"); err != nil {
			l.Log.Debug("pending → running", "node", id, "cause", err)
		}
	}
	return id, nil
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
