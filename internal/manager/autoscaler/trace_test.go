package autoscaler

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/manager/store"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

// TestTrace: a tick's sample counts the nodes in service only (not one still starting, nor a dead one),
// rounds the load to a tenth of a percent and caps an infinite one at the stand-in JSON can carry, carries
// the thresholds in percent; samples past the window are not kept, and a forgotten group's are dropped.
func TestTrace(t *testing.T) {
	tr := &Trace{Window: time.Minute}
	t0 := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	// live nodes: the first `inService` in service, one more still starting, and a dead one
	tick := func(at time.Duration, group string, load, projected float64, inService int) {
		in := Input{Now: t0.Add(at), Threshold: 0.6, LowWater: 0.2}
		for i := 0; i < inService; i++ {
			in.Nodes = append(in.Nodes, NodeLoad{ID: fmt.Sprint("e", i), State: nodemodel.StateInService})
		}
		in.Nodes = append(in.Nodes, NodeLoad{ID: "starting", State: nodemodel.StateRunning},
			NodeLoad{ID: "dead", State: nodemodel.StateInService, Dead: true})
		tr.record(group, nodemodel.RoleEdge, in, Decision{Load: load, Projected: projected})
	}
	tick(0, "g1", 0.35, 0.48, 2)
	tick(30*time.Second, "g1", math.Inf(1), math.Inf(1), 0)
	tick(90*time.Second, "g2", 0.1, 0.1, 1)
	tick(90*time.Second, "g1", 0.72345, 0.8, 3)
	tr.forget("g2")

	var written []store.TraceSample
	st := traceStoreFunc(func(_ context.Context, s []store.TraceSample) error {
		written = append(written, s...)
		return nil
	})
	require.NoError(t, tr.write(context.Background(), st, t0.Add(90*time.Second)))
	edge := nodemodel.RoleEdge
	// the first sample is past the window and is gone; an infinite load is the capped stand-in
	require.Equal(t, []store.TraceSample{
		{Group: "g1", Role: edge, At: t0.Add(30 * time.Second), Load: traceInfinite, Predicted: traceInfinite, Nodes: 0, High: 60, Low: 20},
		{Group: "g1", Role: edge, At: t0.Add(90 * time.Second), Load: 72.3, Predicted: 80, Nodes: 3, High: 60, Low: 20},
	}, written)
}

// traceStoreFunc is a store whose writes fail while fail is set.
type traceStoreFunc func(ctx context.Context, samples []store.TraceSample) error

func (f traceStoreFunc) AddTraceSamples(ctx context.Context, samples []store.TraceSample) error {
	return f(ctx, samples)
}

// TestTraceWrite: the samples recorded are written once; those a failing store refused are written with
// the next batch, in order, unless they are out of the window by then; a group forgotten has none left.
func TestTraceWrite(t *testing.T) {
	tr := &Trace{Window: time.Minute}
	t0 := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	tick := func(at time.Duration, group string) {
		tr.record(group, nodemodel.RoleEdge, Input{Now: t0.Add(at), Threshold: 0.6, LowWater: 0.2}, Decision{Load: 0.5})
	}
	var written []store.TraceSample
	fail := errors.New("store down")
	var failing bool
	st := traceStoreFunc(func(_ context.Context, s []store.TraceSample) error {
		if failing {
			return fail
		}
		written = append(written, s...)
		return nil
	})
	ctx := context.Background()
	ats := func() []time.Duration {
		var out []time.Duration
		for _, s := range written {
			out = append(out, s.At.Sub(t0))
		}
		written = nil
		return out
	}

	tick(0, "g1")
	require.NoError(t, tr.write(ctx, st, t0))
	require.Equal(t, []store.TraceSample{{Group: "g1", Role: nodemodel.RoleEdge, At: t0, Load: 50, Predicted: 0, High: 60, Low: 20}}, written)
	written = nil
	require.NoError(t, tr.write(ctx, st, t0))
	require.Empty(t, written, "written once")

	failing = true
	tick(10*time.Second, "g1")
	require.ErrorIs(t, tr.write(ctx, st, t0.Add(10*time.Second)), fail)
	tick(50*time.Second, "g1")
	tick(70*time.Second, "g1")
	require.ErrorIs(t, tr.write(ctx, st, t0.Add(70*time.Second)), fail)
	failing = false
	tick(80*time.Second, "g1")
	require.NoError(t, tr.write(ctx, st, t0.Add(80*time.Second)))
	require.Equal(t, []time.Duration{50 * time.Second, 70 * time.Second, 80 * time.Second}, ats(),
		"kept while the store was down, in order, but not beyond the window")

	tick(90*time.Second, "g1")
	tick(90*time.Second, "g2")
	tr.forget("g1")
	require.NoError(t, tr.write(ctx, st, t0.Add(90*time.Second)))
	require.Len(t, written, 1)
	require.Equal(t, "g2", written[0].Group, "a forgotten group's samples are not written")
}
