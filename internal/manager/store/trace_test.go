package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/manager/store"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

func TestTraceSamples(t *testing.T) {
	engines(t, func(t *testing.T, s *store.SQL) {
		ctx := context.Background()
		t0 := time.UnixMilli(1_800_000_000_000).UTC()
		sample := func(group string, role string, sec int, load float64) store.TraceSample {
			return store.TraceSample{Group: group, Role: nodemodel.Role(role), At: t0.Add(time.Duration(sec) * time.Second),
				Load: load, Predicted: load + 1, Nodes: sec, High: 80, Low: 30}
		}

		require.NoError(t, s.AddTraceSamples(ctx, nil), "an empty batch writes nothing")
		// written out of order, and by two managers: read back by time
		require.NoError(t, s.AddTraceSamples(ctx, []store.TraceSample{sample("g1", "edge", 10, 50), sample("g1", "origin", 0, 20)}))
		require.NoError(t, s.AddTraceSamples(ctx, []store.TraceSample{sample("g2", "edge", 5, 1e12), sample("g1", "edge", 20, 60.5)}))

		got, err := s.TraceSamples(ctx, time.Time{})
		require.NoError(t, err)
		inf := sample("g2", "edge", 5, 1e9)
		inf.Predicted = 1e9 // infinite loads are kept as the ceiling
		require.Equal(t, []store.TraceSample{sample("g1", "origin", 0, 20), inf, sample("g1", "edge", 10, 50), sample("g1", "edge", 20, 60.5)}, got)

		got, err = s.TraceSamples(ctx, t0.Add(5*time.Second))
		require.NoError(t, err)
		require.Equal(t, []store.TraceSample{sample("g1", "edge", 10, 50), sample("g1", "edge", 20, 60.5)}, got, "only the samples after since")

		require.NoError(t, s.DeleteTraceSamples(ctx, t0.Add(10*time.Second)))
		got, err = s.TraceSamples(ctx, time.Time{})
		require.NoError(t, err)
		require.Equal(t, []store.TraceSample{sample("g1", "edge", 10, 50), sample("g1", "edge", 20, 60.5)}, got, "the samples before are gone")

		var fe *store.FieldError
		require.ErrorAs(t, s.AddTraceSamples(ctx, []store.TraceSample{sample(strings.Repeat("g", store.MaxName+1), "edge", 30, 1)}), &fe)

		// a batch larger than one INSERT holds
		big := make([]store.TraceSample, 2500)
		for i := range big {
			big[i] = sample("g3", "edge", 100+i, float64(i))
		}
		require.NoError(t, s.AddTraceSamples(ctx, big))
		got, err = s.TraceSamples(ctx, t0.Add(99*time.Second))
		require.NoError(t, err)
		require.Equal(t, big, got)
	})
}

func TestDeleteGroupDeletesItsTrace(t *testing.T) {
	engines(t, func(t *testing.T, s *store.SQL) {
		ctx := context.Background()
		_, err := s.CreatePolicy(ctx, policy("scale1"))
		require.NoError(t, err)
		_, err = s.CreateLaunchConfig(ctx, launchConfig("lc1"))
		require.NoError(t, err)
		_, err = s.CreateGroup(ctx, store.NodeGroup{Name: "gone", LaunchConfig: "lc1", ScalePolicy: "scale1"})
		require.NoError(t, err)
		now := time.Now().UTC().Truncate(time.Millisecond)
		require.NoError(t, s.AddTraceSamples(ctx, []store.TraceSample{
			{Group: "gone", Role: "edge", At: now, Load: 10},
			{Group: "kept", Role: "edge", At: now, Load: 20},
		}))
		require.NoError(t, s.DeleteGroup(ctx, "gone"))
		got, err := s.TraceSamples(ctx, time.Time{})
		require.NoError(t, err)
		require.Equal(t, []store.TraceSample{{Group: "kept", Role: "edge", At: now, Load: 20}}, got)
	})
}
