// Package autoscaler decides, as a pure function of one snapshot, how a node group's role grows, shrinks and heals.
package autoscaler

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/nagare-video/nagare/internal/manager/store"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

// NodeLoad is what the decision knows of one node of the role.
type NodeLoad struct {
	ID          string
	State       nodemodel.State
	Connections int // as last reported; only in-service nodes count towards load
	LaunchedAt  time.Time
	// Dead is set by the caller when the node went silent past nodeTimeout or the cloud reported it gone.
	Dead bool
	// Pinned nodes are never drained: the cloud controller did not launch them, so it could not stop them.
	Pinned bool
	// Overloaded nodes report that they cannot keep up (their transcoding falls behind real time): each
	// counts as full, whatever its connections.
	Overloaded bool
	// Outdated nodes run other software than their launch configuration now asks for (its nagare.version
	// property or its image): a rolling upgrade replaces them.
	Outdated bool
}

// Sample is one past measurement of the role's demand, in nodes' worth of capacity (connections ÷ the
// capacity of one node: 2.5 = two and a half nodes full), so that a trend holds while nodes come and go.
type Sample struct {
	At   time.Time
	Load float64
}

// State is the decider's memory for one group and role. The zero value is a fresh start; the caller keeps the
// State returned in Decision and passes it in on the next call.
type State struct {
	// LastLaunch is when nodes were last launched (scale-out, minimum or replacement).
	LastLaunch time.Time
	// Expected is how many nodes should be in service once that launch has completed; while fewer are,
	// and WarmUp has not passed since LastLaunch, further alarms are ignored.
	Expected int
	// LowSince is when the scale-in condition started to hold without a break; zero when it does not hold.
	LowSince time.Time
	// Surge is how many nodes a rolling upgrade launched ahead of the outdated nodes they replace: once
	// they are in service, as many outdated nodes are drained.
	Surge int
}

// Input is one role of one group at one instant.
type Input struct {
	Now       time.Time
	Role      nodemodel.Role
	Limits    store.RoleLimits // ScaleAdjustment 0 means 1
	Capacity  int              // connections per node from the launch config; must be > 0
	Threshold float64          // scale-out alarm as a fraction, e.g. 0.60
	LowWater  float64          // scale-in threshold as a fraction, e.g. 0.30; must be below Threshold
	WarmUp    time.Duration
	CoolDown  time.Duration
	Nodes     []NodeLoad // this role's nodes in this group
	// Demand is viewers the manager could not place on a node of the role since the last decision (every
	// node was full): load that has arrived but has no capacity to land on.
	Demand int
	// History is the recent load, oldest first, for the predictive trend; the current load may be included.
	History    []Sample
	State      State
	Predictive bool
	// MaxSurge bounds the nodes a rolling upgrade launches ahead at once (0 means 1), and so the nodes it
	// has out of service at once.
	MaxSurge int
}

// Decision is what to do now. The caller launches Launch+len(Replace) nodes, terminates the Replace nodes and
// sets the Drain nodes draining.
type Decision struct {
	Launch  int
	Drain   []string
	Replace []string
	// Reason is one human line, e.g. "scale-out edge: load 72 % > 60 %, +1 → 3 nodes".
	Reason string
	// Load is the measured load of the in-service nodes; Projected is Load projected over WarmUp by the trend
	// of the demand (equal to Load when not predictive or without a usable trend).
	Load, Projected float64
	// Demand is the load in nodes' worth of capacity: what the caller keeps in History.
	Demand float64
	State  State
	// Upgrade: the launches and drains are a rolling upgrade's step.
	Upgrade bool
}

func validate(in *Input) error {
	switch {
	case in.Capacity <= 0:
		return fmt.Errorf("capacity %d must be > 0: %w", in.Capacity, ErrInvalidInput)
	case in.Limits.MinLimit < 0:
		return fmt.Errorf("minLimit %d must be >= 0: %w", in.Limits.MinLimit, ErrInvalidInput)
	case in.Limits.MaxLimit < in.Limits.MinLimit:
		return fmt.Errorf("maxLimit %d is below minLimit %d: %w", in.Limits.MaxLimit, in.Limits.MinLimit, ErrInvalidInput)
	case in.Limits.ScaleAdjustment < 0:
		return fmt.Errorf("scaleAdjustment %d must be >= 0: %w", in.Limits.ScaleAdjustment, ErrInvalidInput)
	case in.Threshold <= 0:
		return fmt.Errorf("threshold %v must be > 0: %w", in.Threshold, ErrInvalidInput)
	case in.LowWater < 0 || in.LowWater >= in.Threshold:
		return fmt.Errorf("lowWater %v must be in [0, threshold %v): %w", in.LowWater, in.Threshold, ErrInvalidInput)
	case in.WarmUp < 0 || in.CoolDown < 0:
		return fmt.Errorf("warmUp %s and coolDown %s must be >= 0: %w", in.WarmUp, in.CoolDown, ErrInvalidInput)
	}
	return nil
}

// Decide returns what to do for one role of one group now. It never reads the clock and never acts.
//
// Rules, in order:
//   - Counting: pending, running and in-service nodes that are not Dead exist; only in-service ones carry
//     load. Draining, terminating and terminated nodes neither exist nor carry load.
//   - Replacement: every Dead node that was pending, running or in service is replaced (lowest IDs first)
//     as long as the role stays within MaxLimit; a dead draining node was leaving anyway and is not replaced.
//   - Minimum: a role below MinLimit launches the shortfall at once, even during warm-up.
//   - Scale-out: load > Threshold, or in predictive mode the projection over WarmUp > Threshold, launches
//     ScaleAdjustment nodes, capped at MaxLimit, unless a warm-up is running: a warm-up starts with every
//     launch and ends when State.Expected nodes are in service or WarmUp has passed.
//   - Scale-in: when the load spread over one in-service node fewer is < LowWater, the role has more than
//     MinLimit nodes, and that has held continuously for CoolDown, the least-loaded in-service node (ties:
//     lowest ID) is drained, outdated nodes first. Never in a warm-up, never while a node of the role is still
//     draining or a rolling upgrade waits for its replacements, never in a decision that launches; each drain
//     restarts the cool-down.
//   - Rolling upgrade, when nothing above acted and outdated nodes are in service: one step at a time,
//     launch up to MaxSurge new nodes (within MaxLimit) ahead of the outdated ones, wait until they are in
//     service, then drain as many outdated nodes (fewest connections first), wait until those drains are
//     over, and go on. A role at MaxLimit drains one outdated node and launches its replacement together.
func Decide(in Input) (Decision, error) {
	if err := validate(&in); err != nil {
		return Decision{}, fmt.Errorf("deciding for role %q: %w", in.Role, err)
	}
	adj := in.Limits.ScaleAdjustment
	if adj == 0 {
		adj = 1
	}

	var (
		inService, drainable []NodeLoad
		pending, drained     int
		dead                 []string
		conns, overloaded    int
	)
	for _, n := range in.Nodes {
		live := n.State == nodemodel.StatePending || n.State == nodemodel.StateRunning || n.State == nodemodel.StateInService
		switch {
		case n.Dead:
			if live {
				dead = append(dead, n.ID)
			}
		case n.State == nodemodel.StateInService:
			inService = append(inService, n)
			if !n.Pinned {
				drainable = append(drainable, n)
			}
			if n.Overloaded {
				overloaded++
				conns += max(n.Connections, in.Capacity)
			} else {
				conns += n.Connections
			}
		case live:
			pending++
		case n.State == nodemodel.StateDraining:
			drained++
		}
	}
	slices.Sort(dead)
	conns += max(0, in.Demand)

	d := Decision{State: in.State}
	d.Load = load(conns, len(inService), in.Capacity)
	d.Demand = float64(conns) / float64(in.Capacity)
	d.Projected = d.Load
	if in.Predictive && len(inService) > 0 {
		// the trend of the demand, spread over the nodes in service now: a node that joined does not read
		// as a falling load, nor one that left as a rise
		d.Projected = project(d.Demand, in.History, in.WarmUp) / float64(len(inService))
	}

	var reasons []string
	existing := len(inService) + pending
	maxL, minL := in.Limits.MaxLimit, in.Limits.MinLimit

	// Replacement.
	if len(dead) > 0 {
		room := max(0, maxL-existing)
		if n := min(room, len(dead)); n > 0 {
			d.Replace = dead[:n:n]
		}
		existing += len(d.Replace)
		r := fmt.Sprintf("replace dead %s: %s", in.Role, strings.Join(d.Replace, ", "))
		if len(d.Replace) == 0 {
			r = fmt.Sprintf("dead %s not replaced: %s, at max %d nodes", in.Role, strings.Join(dead, ", "), maxL)
		} else if len(d.Replace) < len(dead) {
			r += fmt.Sprintf("; not replaced, at max %d nodes: %s", maxL, strings.Join(dead[len(d.Replace):], ", "))
		}
		reasons = append(reasons, r)
	}

	warming := !in.State.LastLaunch.IsZero() && len(inService) < in.State.Expected &&
		in.Now.Before(in.State.LastLaunch.Add(in.WarmUp))

	// Minimum, then scale-out.
	alarm := d.Load > in.Threshold || (in.Predictive && d.Projected > in.Threshold)
	switch {
	case existing < minL:
		d.Launch = minL - existing
		reasons = append(reasons, fmt.Sprintf("minimum %s: %d < %d nodes, +%d → %d nodes",
			in.Role, existing, minL, d.Launch, existing+d.Launch))
	case alarm:
		what := fmt.Sprintf("load %s > %s", pct(d.Load), pct(in.Threshold))
		if overloaded > 0 {
			what += fmt.Sprintf(" (%d overloaded node(s) counted full)", overloaded)
		}
		if d.Load <= in.Threshold {
			what = fmt.Sprintf("predicted load %s > %s in %s (now %s)",
				pct(d.Projected), pct(in.Threshold), in.WarmUp, pct(d.Load))
		}
		switch n := min(adj, maxL-existing); {
		case warming:
			reasons = append(reasons, fmt.Sprintf("scale-out %s ignored during warm-up: %s, %d of %d nodes in service",
				in.Role, what, len(inService), in.State.Expected))
		case n <= 0:
			reasons = append(reasons, fmt.Sprintf("scale-out %s blocked: %s, at max %d nodes", in.Role, what, maxL))
		default:
			d.Launch = n
			reasons = append(reasons, fmt.Sprintf("scale-out %s: %s, +%d → %d nodes", in.Role, what, n, existing+n))
		}
	}

	launched := d.Launch + len(d.Replace)
	if launched > 0 {
		d.State.LastLaunch = in.Now
		d.State.Expected = existing + d.Launch
	}

	// Scale-in.
	after := load(conns, len(inService)-1, in.Capacity)
	if len(inService) > 0 && existing > minL && after < in.LowWater && !alarm && overloaded == 0 {
		if d.State.LowSince.IsZero() {
			d.State.LowSince = in.Now
		}
		low := in.Now.Sub(d.State.LowSince)
		switch {
		case launched > 0:
		case d.State.Surge > 0: // a rolling upgrade drains for it (its reason says so)
		case warming:
			reasons = append(reasons, fmt.Sprintf("scale-in %s held during warm-up", in.Role))
		case drained > 0:
			reasons = append(reasons, fmt.Sprintf("scale-in %s held: %d node(s) still draining", in.Role, drained))
		case len(drainable) == 0:
			reasons = append(reasons, fmt.Sprintf("scale-in %s held: no node of the role was launched by the cloud controller", in.Role))
		case low < in.CoolDown:
			reasons = append(reasons, fmt.Sprintf("scale-in %s pending: load with one node fewer %s < %s for %s of %s",
				in.Role, pct(after), pct(in.LowWater), low, in.CoolDown))
		default:
			victim := slices.MinFunc(drainable, drainFirst)
			d.Drain = []string{victim.ID}
			d.State.LowSince = time.Time{}
			reasons = append(reasons, fmt.Sprintf("scale-in %s: load with one node fewer %s < %s for %s, drain %s → %d nodes",
				in.Role, pct(after), pct(in.LowWater), low, victim.ID, existing-1))
		}
	} else {
		d.State.LowSince = time.Time{}
	}

	if r := upgrade(in, &d, drainable, existing, pending, drained); r != "" {
		reasons = append(reasons, r)
	}

	if len(reasons) == 0 {
		r := fmt.Sprintf("steady %s: load %s, %d nodes", in.Role, pct(d.Load), existing)
		if in.Predictive && d.Projected != d.Load {
			r += fmt.Sprintf(", predicted %s in %s", pct(d.Projected), in.WarmUp)
		}
		reasons = append(reasons, r)
	}
	d.Reason = strings.Join(reasons, "; ")
	return d, nil
}

// drainFirst orders nodes for draining: outdated before current, then fewest connections, then lowest ID.
func drainFirst(a, b NodeLoad) int {
	outdated := func(n NodeLoad) int {
		if n.Outdated {
			return 0
		}
		return 1
	}
	return cmp.Or(cmp.Compare(outdated(a), outdated(b)), cmp.Compare(a.Connections, b.Connections), strings.Compare(a.ID, b.ID))
}

// upgrade takes a rolling upgrade's next step into d when nothing else acted, and returns its reason ("" when
// there is nothing to upgrade). existing counts pending and in-service nodes, drained the draining ones.
func upgrade(in Input, d *Decision, drainable []NodeLoad, existing, pending, drained int) string {
	var outdated []NodeLoad
	for _, n := range drainable {
		if n.Outdated {
			outdated = append(outdated, n)
		}
	}
	if len(outdated) == 0 {
		d.State.Surge = 0
		return ""
	}
	if d.Launch > 0 || len(d.Replace) > 0 || len(d.Drain) > 0 {
		return "" // scaling or healing first; the upgrade goes on at the next decision
	}
	slices.SortFunc(outdated, drainFirst)
	ids := func(ns []NodeLoad) string {
		s := make([]string, len(ns))
		for i, n := range ns {
			s[i] = n.ID
		}
		return strings.Join(s, ", ")
	}
	drain := func(ns []NodeLoad) {
		for _, n := range ns {
			d.Drain = append(d.Drain, n.ID)
		}
	}
	launch := func(n int) {
		d.Launch = n
		d.State.LastLaunch, d.State.Expected = in.Now, existing+n
	}
	role := in.Role
	switch {
	case d.State.Surge > 0 && pending > 0:
		return fmt.Sprintf("rolling upgrade %s: waiting for %d new node(s) to enter service; %d outdated", role, pending, len(outdated))
	case d.State.Surge > 0:
		k := min(d.State.Surge, len(outdated))
		drain(outdated[:k])
		d.State.Surge, d.Upgrade = 0, true
		return fmt.Sprintf("rolling upgrade %s: new node(s) in service, drain %s; %d outdated left", role, ids(outdated[:k]), len(outdated)-k)
	case pending > 0 || drained > 0:
		return fmt.Sprintf("rolling upgrade %s held: %d node(s) launching, %d draining; %d outdated", role, pending, drained, len(outdated))
	case existing >= in.Limits.MaxLimit:
		// no room to launch ahead: replace in place, one node at a time
		drain(outdated[:1])
		launch(1)
		d.Upgrade = true
		return fmt.Sprintf("rolling upgrade %s at max %d nodes: drain %s and launch its replacement; %d outdated left",
			role, in.Limits.MaxLimit, outdated[0].ID, len(outdated)-1)
	default:
		k := min(max(1, in.MaxSurge), len(outdated), in.Limits.MaxLimit-existing)
		launch(k)
		d.State.Surge, d.Upgrade = k, true
		return fmt.Sprintf("rolling upgrade %s: %d of %d node(s) outdated, +%d ahead of draining them", role, len(outdated), existing, k)
	}
}

// load is conns over n nodes of capacity each; with no node it is 0 when there are no connections to carry
// and +Inf otherwise.
func load(conns, n, capacity int) float64 {
	if n <= 0 {
		if conns == 0 {
			return 0
		}
		return math.Inf(1)
	}
	return float64(conns) / float64(n*capacity)
}

// project extends current by the least-squares slope of history over horizon. Fewer than two samples, or
// samples all at one instant, give no trend. The projection is never below zero.
func project(current float64, history []Sample, horizon time.Duration) float64 {
	// a trend needs samples over a quarter of the horizon at least: two samples a second apart, projected
	// over a minute, would turn any first viewers into a scale-out
	if len(history) < 2 || history[len(history)-1].At.Sub(history[0].At) < horizon/4 {
		return current
	}
	t0 := history[0].At
	var sx, sy, sxx, sxy float64
	for _, s := range history {
		x := s.At.Sub(t0).Seconds()
		sx += x
		sy += s.Load
		sxx += x * x
		sxy += x * s.Load
	}
	n := float64(len(history))
	den := n*sxx - sx*sx
	if den == 0 {
		return current
	}
	slope := (n*sxy - sx*sy) / den // load per second
	return max(0, current+slope*horizon.Seconds())
}

// pct formats a load fraction as a whole percentage, "72 %".
func pct(f float64) string {
	if math.IsInf(f, 1) {
		return "∞ %"
	}
	return fmt.Sprintf("%.0f %%", f*100)
}
