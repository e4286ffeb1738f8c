package store_test

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/manager/store"
)

func TestLease(t *testing.T) {
	engines(t, func(t *testing.T, s *store.SQL) {
		ctx := context.Background()
		now := time.Now()
		s.Now = func() time.Time { return now }

		ok, err := s.AcquireLease(ctx, "autoscaler/g1", "manager-a", 10*time.Second)
		require.NoError(t, err)
		require.True(t, ok, "a free lease is taken")
		ok, err = s.AcquireLease(ctx, "autoscaler/g1", "manager-b", 10*time.Second)
		require.NoError(t, err)
		require.False(t, ok, "another manager's live lease is refused")
		ok, err = s.AcquireLease(ctx, "autoscaler/g1", "manager-a", 10*time.Second)
		require.NoError(t, err)
		require.True(t, ok, "the holder renews")
		ok, err = s.AcquireLease(ctx, "autoscaler/g2", "manager-b", 10*time.Second)
		require.NoError(t, err)
		require.True(t, ok, "leases are per name")

		now = now.Add(11 * time.Second)
		ok, err = s.AcquireLease(ctx, "autoscaler/g1", "manager-b", 10*time.Second)
		require.NoError(t, err)
		require.True(t, ok, "an expired lease passes to another manager")
		ok, err = s.AcquireLease(ctx, "autoscaler/g1", "manager-a", 10*time.Second)
		require.NoError(t, err)
		require.False(t, ok)

		require.NoError(t, s.ReleaseLease(ctx, "autoscaler/g1", "manager-a"), "releasing someone else's lease is a no-op")
		ok, _ = s.AcquireLease(ctx, "autoscaler/g1", "manager-a", 10*time.Second)
		require.False(t, ok)
		require.NoError(t, s.ReleaseLease(ctx, "autoscaler/g1", "manager-b"))
		ok, _ = s.AcquireLease(ctx, "autoscaler/g1", "manager-a", 10*time.Second)
		require.True(t, ok, "a released lease is free")
	})
}

func TestLeaseRace(t *testing.T) {
	engines(t, func(t *testing.T, s *store.SQL) {
		ctx := context.Background()
		var winners atomic.Int32
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := s.AcquireLease(ctx, "autoscaler/race", string(rune('a'+i)), time.Minute)
				if err == nil && ok {
					winners.Add(1)
				}
			}()
		}
		wg.Wait()
		require.EqualValues(t, 1, winners.Load(), "exactly one manager holds a contested lease")
	})
}

func TestScaleEvents(t *testing.T) {
	engines(t, func(t *testing.T, s *store.SQL) {
		ctx := context.Background()
		for i, a := range []string{"minimum", "scale-out", "drain"} {
			_, err := s.AddScaleEvent(ctx, store.ScaleEvent{Group: "g1", Role: "edge", Action: a, Reason: a + " reason",
				Load: float64(10 * i), Predicted: math.Inf(1), Nodes: []string{"node-edge-1", "node-edge-2"}, Manager: "m"})
			require.NoError(t, err)
		}
		_, err := s.AddScaleEvent(ctx, store.ScaleEvent{Group: "g2", Role: "origin", Action: "minimum", Reason: "r"})
		require.NoError(t, err)

		evs, err := s.ScaleEvents(ctx, "g1", 2)
		require.NoError(t, err)
		require.Len(t, evs, 2)
		require.Equal(t, "scale-out", evs[0].Action, "oldest first among the latest")
		require.Equal(t, "drain", evs[1].Action)
		require.Equal(t, []string{"node-edge-1", "node-edge-2"}, evs[1].Nodes)
		require.Equal(t, 1e9, evs[1].Predicted, "an infinite projection is stored capped")
		all, err := s.ScaleEvents(ctx, "", 100)
		require.NoError(t, err)
		require.Len(t, all, 4)
		require.Equal(t, []string{}, all[3].Nodes)
	})
}
