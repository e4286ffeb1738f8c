package autoscaler

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/nagare-video/nagare/internal/manager/store"
)

// traceLag is how far behind the newest sample read the next read starts again. The managers write their
// samples in batches every few seconds, so a sample may reach the store after a newer one of another
// manager was read: reading again from a little earlier, and skipping the samples already held, misses none.
const traceLag = 30 * time.Second

// traceSource is where a TraceReader reads the samples.
type traceSource interface {
	TraceSamples(ctx context.Context, since time.Time) ([]store.TraceSample, error)
}

// roleTrace is what a TraceReader holds of one group's role: its samples in time order and the newest
// one's thresholds.
type roleTrace struct {
	high, low float64
	points    []TracePoint
}

// TraceReader gives every manager the trace of every group, as the managers holding the groups' leases
// wrote it to the store. It keeps the last Window of each group's role in memory and reads only the samples
// newer than those it has: one indexed query per call.
type TraceReader struct {
	Store traceSource
	// Window is how far back samples are kept (15 minutes when zero).
	Window time.Duration
	Now    func() time.Time

	mu     sync.Mutex
	roles  map[roleKey]*roleTrace
	newest time.Time // of the samples read
}

func (r *TraceReader) window() time.Duration {
	if r.Window > 0 {
		return r.Window
	}
	return 15 * time.Minute
}

// Roles reads the samples written since the last call and returns every group's role with a sample in the
// window, ordered by group and role, oldest sample first.
func (r *TraceReader) Roles(ctx context.Context) ([]RoleTrace, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if r.Now != nil {
		now = r.Now()
	}
	from := now.Add(-r.window())
	since := from
	if again := r.newest.Add(-traceLag); again.After(since) {
		since = again
	}
	samples, err := r.Store.TraceSamples(ctx, since)
	if err != nil {
		return nil, err
	}
	if r.roles == nil {
		r.roles = map[roleKey]*roleTrace{}
	}
	for _, s := range samples {
		r.add(s)
		if s.At.After(r.newest) {
			r.newest = s.At
		}
	}
	out := make([]RoleTrace, 0, len(r.roles))
	for k, rt := range r.roles {
		cut, _ := slices.BinarySearchFunc(rt.points, from, func(p TracePoint, t time.Time) int { return p.At.Compare(t) })
		if cut == len(rt.points) {
			delete(r.roles, k) // nothing in the window: the group is gone, or no longer ticked
			continue
		}
		if cut > 0 {
			rt.points = append(rt.points[:0], rt.points[cut:]...)
		}
		out = append(out, RoleTrace{Group: k.group, Role: k.role, High: rt.high, Low: rt.low, Samples: slices.Clone(rt.points)})
	}
	slices.SortFunc(out, func(a, b RoleTrace) int {
		return cmp.Or(cmp.Compare(a.Group, b.Group), cmp.Compare(a.Role, b.Role))
	})
	return out, nil
}

// add puts s in its role's trace in time order, unless the trace has it already. The caller holds r.mu.
func (r *TraceReader) add(s store.TraceSample) {
	key := roleKey{s.Group, s.Role}
	rt := r.roles[key]
	if rt == nil {
		rt = &roleTrace{}
		r.roles[key] = rt
	}
	i, found := slices.BinarySearchFunc(rt.points, s.At, func(p TracePoint, t time.Time) int { return p.At.Compare(t) })
	if found {
		return
	}
	rt.points = slices.Insert(rt.points, i, TracePoint{At: s.At, Load: s.Load, Predicted: s.Predicted, Nodes: s.Nodes})
	if i == len(rt.points)-1 {
		rt.high, rt.low = s.High, s.Low // the newest sample's thresholds
	}
}
