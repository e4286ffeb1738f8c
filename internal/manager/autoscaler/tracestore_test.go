package autoscaler_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/manager/autoscaler"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

// TestLoopStoresTrace: the samples of the loop's ticks reach the store, where every manager reads them,
// and those older than the window are deleted.
func TestLoopStoresTrace(t *testing.T) {
	r := newRig(t, rigOptions{edgeMin: 1, edgeMax: 2, edgeCapacity: 10})
	r.loop.Trace = &autoscaler.Trace{}
	r.loop.TraceEvery = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.loop.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})

	start := r.clock.Now()
	stored := func() map[nodemodel.Role]int {
		samples, err := r.st.TraceSamples(context.Background(), time.Time{})
		require.NoError(t, err)
		roles := map[nodemodel.Role]int{}
		for _, s := range samples {
			require.Equal(t, "g", s.Group)
			roles[s.Role]++
			if s.At.Before(r.clock.Now().Add(-15 * time.Minute)) {
				roles["old"]++
			}
		}
		return roles
	}
	require.Eventually(t, func() bool {
		roles := stored()
		return roles[nodemodel.RoleOrigin] > 0 && roles[nodemodel.RoleEdge] > 0
	}, 5*time.Second, 10*time.Millisecond, "the first tick's samples are stored")
	samples, err := r.st.TraceSamples(context.Background(), time.Time{})
	require.NoError(t, err)
	require.Equal(t, start.UTC(), samples[0].At)
	read, err := (&autoscaler.TraceReader{Store: r.st, Now: r.clock.Now}).Roles(context.Background())
	require.NoError(t, err)
	require.Len(t, read, 2, "a reader finds both roles")
	require.Equal(t, read[0].High, samples[0].High)

	// a quarter of an hour later the first samples are deleted, the new ones kept
	r.clock.Advance(15*time.Minute + time.Second)
	require.Eventually(t, func() bool {
		roles := stored()
		return roles["old"] == 0 && roles[nodemodel.RoleEdge] > 0
	}, 5*time.Second, 10*time.Millisecond, "the samples out of the window are deleted")
}
