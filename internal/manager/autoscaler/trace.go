package autoscaler

import (
	"context"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/nagare-video/nagare/internal/manager/store"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

// Trace records what the loop saw of each group's role at every tick: the load, its projection, the nodes
// in service and the thresholds they were held against. The operator console draws it (load against the
// alarm and low-water lines, with the scale events on the same time axis). Only the manager holding a
// group's lease ticks it; the loop writes the samples to the store (see Loop.TraceEvery), where every
// manager's TraceReader finds them.
type Trace struct {
	// Window is how far back samples are kept, in the store and while the store does not take them (15
	// minutes when zero).
	Window time.Duration

	// wmu is held while samples are written, so that forget waits for a write that may carry the group's
	wmu sync.Mutex
	mu  sync.Mutex
	// pending are the samples recorded and not yet written to the store
	pending []store.TraceSample
}

// TracePoint is one tick of one group's role. Load and Predicted are percentages of the in-service
// capacity (as in scale events); Nodes counts the nodes in service.
type TracePoint struct {
	At        time.Time `json:"at"`
	Load      float64   `json:"load"`
	Predicted float64   `json:"predicted"`
	Nodes     int       `json:"nodes"`
}

// RoleTrace is the trace of one group's role, oldest sample first. High is the scale-out alarm and Low
// the scale-in low-water mark of the latest tick, in percent.
type RoleTrace struct {
	Group   string         `json:"group"`
	Role    nodemodel.Role `json:"role"`
	High    float64        `json:"high"`
	Low     float64        `json:"low"`
	Samples []TracePoint   `json:"samples"`
}

func (t *Trace) window() time.Duration {
	if t.Window > 0 {
		return t.Window
	}
	return 15 * time.Minute
}

// record adds one tick of group's role: the load is over the nodes in service, and so is the count.
func (t *Trace) record(group string, role nodemodel.Role, in Input, d Decision) {
	inService := 0
	for _, n := range in.Nodes {
		if n.State == nodemodel.StateInService && !n.Dead {
			inService++
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pending = append(t.pending, store.TraceSample{Group: group, Role: role, At: in.Now, Load: percent(d.Load),
		Predicted: percent(d.Projected), Nodes: inService, High: percent(in.Threshold), Low: percent(in.LowWater)})
	t.prunePending(in.Now)
}

// forget drops the samples not written yet of a group that is going. Called before the group and its stored
// samples are deleted, it leaves none to be written after.
func (t *Trace) forget(group string) {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pending = slices.DeleteFunc(t.pending, func(s store.TraceSample) bool { return s.Group == group })
}

// traceStore is where the trace's samples are written.
type traceStore interface {
	AddTraceSamples(ctx context.Context, samples []store.TraceSample) error
}

// write stores the samples recorded since the last write, in one batch. Samples that could not be written
// are kept for the next attempt, but never beyond the window (a store down for long costs no memory).
func (t *Trace) write(ctx context.Context, st traceStore, now time.Time) error {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	t.mu.Lock()
	batch := t.pending
	t.pending = nil
	t.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	err := st.AddTraceSamples(ctx, batch)
	if err != nil {
		t.mu.Lock()
		t.pending = append(batch, t.pending...)
		t.prunePending(now)
		t.mu.Unlock()
	}
	return err
}

// prunePending drops the pending samples older than the window. The caller holds t.mu.
func (t *Trace) prunePending(now time.Time) {
	cut := 0
	for cut < len(t.pending) && now.Sub(t.pending[cut].At) > t.window() {
		cut++
	}
	if cut > 0 {
		t.pending = append(t.pending[:0], t.pending[cut:]...)
	}
}

// traceInfinite stands for an infinite load (demand with no node in service), as apitypes.InfiniteLoad
// does in scale events: JSON has no infinity.
const traceInfinite = 1e9

// percent turns a fraction into a percentage with one decimal.
func percent(f float64) float64 {
	if math.IsInf(f, 1) || f*100 > traceInfinite {
		return traceInfinite
	}
	return math.Round(f*1000) / 10
}
