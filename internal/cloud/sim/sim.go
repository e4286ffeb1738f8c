// Package sim is an in-memory simulated cloud controller, for fast and reproducible tests of the
// autoscaler with hundreds of nodes: instances boot, fail and stop on a clock the test controls.
package sim

import (
	"container/heap"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/nagare-video/nagare/internal/cloud"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

// Name is the controller's registered name.
const Name = "sim"

// Reasons a simulated instance ends with.
const (
	ReasonBootFailure = "simulated boot failure"
	ReasonKilled      = "killed"
	ReasonTerminated  = "terminated on request"
)

func init() {
	cloud.Register(Name, func(s cloud.Settings, o cloud.Options) (cloud.Controller, error) {
		opts, err := parseSettings(s)
		if err != nil {
			return nil, err
		}
		opts.Log = o.Log
		return New(opts), nil
	})
}

var _ cloud.Controller = (*Cloud)(nil)

// Options shape a simulated cloud.
type Options struct {
	// BootTime is how long a launched instance stays pending before it runs (or fails to boot).
	BootTime time.Duration
	// StopTime is how long a terminated instance stays terminating.
	StopTime time.Duration
	// FailureRate is the share of launches, 0 to 1, that fail to boot: they end terminated with
	// ReasonBootFailure when their boot time is up.
	FailureRate float64
	// Seed makes the failures reproducible: the same seed and the same launches fail the same instances.
	Seed uint64
	// Now is the clock the states advance by; time.Now when nil.
	Now func() time.Time
	// KeepTerminated is how many terminated instances stay listed, newest kept; 1000 when zero.
	KeepTerminated int
	// Log is where launches, stops (debug), boot failures and kills (info) are logged, scoped with
	// cloud.Logger; nowhere when nil.
	Log *slog.Logger
}

func parseSettings(s cloud.Settings) (Options, error) {
	var o Options
	var err error
	if o.BootTime, err = s.Duration("bootTime", 0); err != nil {
		return o, err
	}
	if o.StopTime, err = s.Duration("stopTime", 0); err != nil {
		return o, err
	}
	v := s.Get("failureRate", "0")
	if o.FailureRate, err = strconv.ParseFloat(v, 64); err != nil || o.FailureRate < 0 || o.FailureRate > 1 {
		return o, fmt.Errorf("%w: failureRate=%q is not a number from 0 to 1", cloud.ErrSettings, v)
	}
	v = s.Get("seed", "0")
	if o.Seed, err = strconv.ParseUint(v, 10, 64); err != nil {
		return o, fmt.Errorf("%w: seed=%q is not a non-negative integer", cloud.ErrSettings, v)
	}
	return o, nil
}

// Counts are what happened in a simulated cloud so far.
type Counts struct {
	Launched   int // successful Launch calls
	Terminated int // instances stopped by Terminate (a repeated Terminate is not counted)
	Killed     int // instances stopped by Kill
	Failed     int // instances that failed to boot
}

// Cloud is a simulated cloud. Instance states advance when it is called (Launch, Terminate, List, Kill,
// Instances, Get), by the clock: no goroutines, no timers.
type Cloud struct {
	opts Options
	now  func() time.Time
	log  *slog.Logger

	mu     sync.Mutex
	rng    *rand.Rand
	byNode map[string]*entry
	order  []*entry // launch order; nil where an entry was forgotten
	holes  int      // nils in order
	queue  dueQueue // pending and terminating entries by when their state ends
	gone   []*entry // terminated entries, oldest first; forgotten ones are skipped
	live   int      // entries in gone not yet forgotten
	ids    uint64   // instances launched, for their ids and addresses
	seq    uint64   // items queued, to order those due at the same time
	counts Counts
}

type entry struct {
	inst      cloud.Instance
	fails     bool
	slot      int    // index in Cloud.order
	gen       uint64 // bumped on every state change, so that stale queue items are ignored
	forgotten bool
}

// New makes a simulated cloud. It panics on options out of range, a programming error.
func New(opts Options) *Cloud {
	if opts.BootTime < 0 || opts.StopTime < 0 || opts.FailureRate < 0 || opts.FailureRate > 1 || opts.KeepTerminated < 0 {
		panic(fmt.Sprintf("sim: options out of range: %+v", opts))
	}
	if opts.KeepTerminated == 0 {
		opts.KeepTerminated = 1000
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &Cloud{
		opts: opts, now: now, log: cloud.Logger(opts.Log, Name),
		rng:    rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
		byNode: map[string]*entry{},
	}
}

// Name implements cloud.Controller.
func (c *Cloud) Name() string { return Name }

// Launch adds an instance, pending for the boot time (running at once when it is zero). A node id
// whose instance has terminated may be launched again; the old instance is then forgotten.
func (c *Cloud) Launch(ctx context.Context, spec cloud.Spec) (cloud.Instance, error) {
	if err := ctx.Err(); err != nil {
		return cloud.Instance{}, err
	}
	if err := spec.Validate(); err != nil {
		return cloud.Instance{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	c.advance(now)
	if old := c.byNode[spec.NodeID]; old != nil {
		if old.inst.State != nodemodel.StateTerminated {
			return cloud.Instance{}, fmt.Errorf("%w: node %s already has instance %s (%s)", cloud.ErrInvalidSpec, spec.NodeID, old.inst.ID, old.inst.State)
		}
		c.forget(old)
	}
	c.ids++
	e := &entry{
		inst: cloud.Instance{
			ID: fmt.Sprintf("sim-%06d", c.ids), NodeID: spec.NodeID, Group: spec.Group, Role: spec.Role,
			State:      nodemodel.StatePending,
			Address:    fmt.Sprintf("10.%d.%d.%d", byte(c.ids>>16), byte(c.ids>>8), byte(c.ids)),
			LaunchedAt: now,
		},
		// drawn for every launch, so that a seed picks the same instances whatever the rate
		fails: c.rng.Float64() < c.opts.FailureRate,
		slot:  len(c.order),
	}
	c.order = append(c.order, e)
	c.byNode[spec.NodeID] = e
	c.counts.Launched++
	c.schedule(e, now.Add(c.opts.BootTime))
	c.log.Debug("instance launched", "node", spec.NodeID, "instance", e.inst.ID, "group", spec.Group, "role", spec.Role)
	c.advance(now)
	return e.inst, nil
}

// Terminate moves the node's instance to terminating, and to terminated after the stop time. An
// unknown, terminating or terminated instance is left as it is.
func (c *Cloud) Terminate(ctx context.Context, nodeID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	c.advance(now)
	e := c.byNode[nodeID]
	if e == nil || e.inst.State == nodemodel.StateTerminating || e.inst.State == nodemodel.StateTerminated {
		return nil
	}
	e.inst.State = nodemodel.StateTerminating
	c.counts.Terminated++
	c.log.Debug("instance terminating", "node", nodeID, "instance", e.inst.ID)
	c.schedule(e, now.Add(c.opts.StopTime))
	c.advance(now)
	return nil
}

// Kill ends the node's instance at once, as a cloud that lost it would report: terminated with
// ReasonKilled. Killing a terminated instance does nothing; an unknown one is cloud.ErrNotFound.
func (c *Cloud) Kill(nodeID string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.advance(c.now())
	e := c.byNode[nodeID]
	if e == nil {
		return fmt.Errorf("killing node %s: %w", nodeID, cloud.ErrNotFound)
	}
	if e.inst.State != nodemodel.StateTerminated {
		c.counts.Killed++
		c.log.Info("instance killed", "node", nodeID, "instance", e.inst.ID)
		c.end(e, ReasonKilled)
	}
	return nil
}

// List returns the instances in launch order, terminated ones still kept included.
func (c *Cloud) List(ctx context.Context) ([]cloud.Instance, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c.Instances(), nil
}

// Instances is List for tests: the instances in launch order.
func (c *Cloud) Instances() []cloud.Instance {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.advance(c.now())
	out := make([]cloud.Instance, 0, len(c.order)-c.holes)
	for _, e := range c.order {
		if e != nil {
			out = append(out, e.inst)
		}
	}
	return out
}

// Get returns the node's instance, if the cloud knows it.
func (c *Cloud) Get(nodeID string) (cloud.Instance, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.advance(c.now())
	if e := c.byNode[nodeID]; e != nil {
		return e.inst, true
	}
	return cloud.Instance{}, false
}

// Counts returns what happened so far.
func (c *Cloud) Counts() Counts {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.advance(c.now())
	return c.counts
}

// schedule queues the end of e's current state (pending or terminating).
func (c *Cloud) schedule(e *entry, at time.Time) {
	e.gen++
	c.seq++
	heap.Push(&c.queue, dueItem{at: at, seq: c.seq, e: e, gen: e.gen})
}

// advance ends every pending and terminating state due by now.
func (c *Cloud) advance(now time.Time) {
	for len(c.queue) > 0 && !c.queue[0].at.After(now) {
		it := heap.Pop(&c.queue).(dueItem)
		e := it.e
		if it.gen != e.gen || e.forgotten {
			continue // its state changed since
		}
		switch {
		case e.inst.State == nodemodel.StatePending && e.fails:
			c.counts.Failed++
			c.log.Info("instance failed to boot", "node", e.inst.NodeID, "instance", e.inst.ID)
			c.end(e, ReasonBootFailure)
		case e.inst.State == nodemodel.StatePending:
			e.gen++
			e.inst.State = nodemodel.StateRunning
		case e.inst.State == nodemodel.StateTerminating:
			c.end(e, ReasonTerminated)
		}
	}
}

// end makes e terminated and forgets the oldest terminated entries past the limit.
func (c *Cloud) end(e *entry, reason string) {
	e.gen++
	e.inst.State, e.inst.Reason = nodemodel.StateTerminated, reason
	c.gone = append(c.gone, e)
	c.live++
	for c.live > c.opts.KeepTerminated {
		old := c.gone[0]
		c.gone[0] = nil
		c.gone = c.gone[1:]
		if !old.forgotten {
			c.forget(old)
		}
	}
}

// forget drops a terminated entry.
func (c *Cloud) forget(e *entry) {
	e.forgotten = true
	c.live--
	if c.byNode[e.inst.NodeID] == e {
		delete(c.byNode, e.inst.NodeID)
	}
	c.order[e.slot] = nil
	c.holes++
	if c.holes > 64 && c.holes > len(c.order)/2 {
		kept := c.order[:0]
		for _, x := range c.order {
			if x != nil {
				x.slot = len(kept)
				kept = append(kept, x)
			}
		}
		clear(c.order[len(kept):])
		c.order, c.holes = kept, 0
	}
}

type dueItem struct {
	at  time.Time
	seq uint64
	e   *entry
	gen uint64
}

// dueQueue is a min-heap of dueItems by (at, seq).
type dueQueue []dueItem

func (q dueQueue) Len() int { return len(q) }
func (q dueQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q dueQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *dueQueue) Push(x any)   { *q = append(*q, x.(dueItem)) }
func (q *dueQueue) Pop() any {
	old := *q
	it := old[len(old)-1]
	old[len(old)-1] = dueItem{}
	*q = old[:len(old)-1]
	return it
}

// Clock is a clock for tests that moves only when told: pass its Now as Options.Now.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock set to t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
