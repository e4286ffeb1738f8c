package autoscaler

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/nodemodel"
)

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
	tick(0, "g2", 0.1, 0.1, 1)
	tick(0, "g1", 0.35, 0.48, 2)
	tick(30*time.Second, "g1", math.Inf(1), math.Inf(1), 0)
	tick(90*time.Second, "g1", 0.72345, 0.8, 3)

	got := tr.Roles()
	require.Len(t, got, 2)
	require.Equal(t, "g1", got[0].Group, "ordered by group")
	require.Equal(t, 60.0, got[0].High)
	require.Equal(t, 20.0, got[0].Low)
	// the first sample is past the window and is gone; an infinite load is the capped stand-in JSON can carry
	require.Equal(t, []TracePoint{
		{At: t0.Add(30 * time.Second), Load: traceInfinite, Predicted: traceInfinite, Nodes: 0},
		{At: t0.Add(90 * time.Second), Load: 72.3, Predicted: 80, Nodes: 3},
	}, got[0].Samples)

	got[0].Samples[0].Nodes = 99
	require.Equal(t, 0, tr.Roles()[0].Samples[0].Nodes, "Roles returns copies")

	tr.forget("g1")
	got = tr.Roles()
	require.Len(t, got, 1)
	require.Equal(t, "g2", got[0].Group)
}
