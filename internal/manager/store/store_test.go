package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/manager/store"
	"github.com/nagare-video/nagare/internal/nodemodel"
	"github.com/nagare-video/nagare/internal/testutil"
)

// engines runs fn once per engine on a fresh, migrated store.
func engines(t *testing.T, fn func(t *testing.T, s *store.SQL)) {
	for _, engine := range []string{store.SQLite, store.MySQL} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			fn(t, open(t, engine))
		})
	}
}

func open(t *testing.T, engine string) *store.SQL {
	t.Helper()
	dsn := filepath.Join(t.TempDir(), "nagare.db")
	if engine == store.MySQL {
		if testing.Short() {
			t.Skip("MySQL store tests need MariaDB (skipped with -short)")
		}
		dsn = testutil.MySQLDSN(t)
	}
	ctx := context.Background()
	s, err := store.Open(ctx, engine, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	v, err := s.Migrate(ctx)
	require.NoError(t, err)
	require.Positive(t, v)
	return s
}

func policy(name string) store.ScalePolicy {
	return store.ScalePolicy{Name: name, Description: "d", Targets: []store.RoleLimits{
		{Role: "edge", MinLimit: 1, MaxLimit: 2, ScaleAdjustment: 1},
		{Role: "origin", MinLimit: 1, MaxLimit: 1, ScaleAdjustment: 1},
	}, WarmUp: 150 * time.Second, CoolDown: 3 * time.Minute}
}

func launchConfig(name string) store.LaunchConfig {
	return store.LaunchConfig{Name: name, Image: "nagare", Version: "0.0.3", Targets: []store.LaunchTarget{
		{Role: "origin", InstanceType: "t2.medium", ConnectionCapacity: 2000},
		{Role: "edge", InstanceType: "t2.medium", ConnectionCapacity: 1},
	}, Metadata: []store.KV{{Key: "environment", Value: "tutorial"}}}
}

func TestPoliciesAndConfigs(t *testing.T) {
	engines(t, func(t *testing.T, s *store.SQL) {
		ctx := context.Background()
		p, err := s.CreatePolicy(ctx, policy("scale1"))
		require.NoError(t, err)
		require.False(t, p.CreatedAt.IsZero())
		_, err = s.CreatePolicy(ctx, policy("scale1"))
		require.ErrorIs(t, err, store.ErrExists)

		got, err := s.GetPolicy(ctx, "scale1")
		require.NoError(t, err)
		require.Equal(t, p.Targets, got.Targets)
		require.Equal(t, 150*time.Second, got.WarmUp)
		_, err = s.GetPolicy(ctx, "nope")
		require.ErrorIs(t, err, store.ErrNotFound)

		p.Description = "changed"
		p.Targets[0].MaxLimit = 5
		_, err = s.UpdatePolicy(ctx, p)
		require.NoError(t, err)
		got, _ = s.GetPolicy(ctx, "scale1")
		require.Equal(t, "changed", got.Description)
		require.Equal(t, 5, got.Targets[0].MaxLimit)
		_, err = s.UpdatePolicy(ctx, policy("missing"))
		require.ErrorIs(t, err, store.ErrNotFound)

		c, err := s.CreateLaunchConfig(ctx, launchConfig("lc1"))
		require.NoError(t, err)
		gotc, err := s.GetLaunchConfig(ctx, "lc1")
		require.NoError(t, err)
		require.Equal(t, c.Targets, gotc.Targets)
		require.Equal(t, c.Metadata, gotc.Metadata)
		require.Equal(t, []store.KV{}, gotc.Properties)
		_, err = s.CreateLaunchConfig(ctx, launchConfig("lc1"))
		require.ErrorIs(t, err, store.ErrExists)

		ps, err := s.ListPolicies(ctx)
		require.NoError(t, err)
		require.Len(t, ps, 1)
		cs, err := s.ListLaunchConfigs(ctx)
		require.NoError(t, err)
		require.Len(t, cs, 1)
	})
}

func TestGroups(t *testing.T) {
	engines(t, func(t *testing.T, s *store.SQL) {
		ctx := context.Background()
		_, err := s.CreateGroup(ctx, store.NodeGroup{Name: "g", LaunchConfig: "lc1", ScalePolicy: "scale1"})
		require.ErrorIs(t, err, store.ErrReference, "a group naming a missing config")
		groups, _ := s.ListGroups(ctx)
		require.Empty(t, groups, "nothing half-written")

		_, err = s.CreatePolicy(ctx, policy("scale1"))
		require.NoError(t, err)
		_, err = s.CreateLaunchConfig(ctx, launchConfig("lc1"))
		require.NoError(t, err)
		g, err := s.CreateGroup(ctx, store.NodeGroup{Name: "group-a", Regions: []string{"eu"}, LaunchConfig: "lc1", ScalePolicy: "scale1"})
		require.NoError(t, err)
		require.Positive(t, g.ID)
		_, err = s.CreateGroup(ctx, store.NodeGroup{Name: "group-a", LaunchConfig: "lc1", ScalePolicy: "scale1"})
		require.ErrorIs(t, err, store.ErrExists)

		byID, err := s.GetGroup(ctx, "1")
		require.NoError(t, err)
		require.Equal(t, "group-a", byID.Name)
		require.Equal(t, []string{"eu"}, byID.Regions)

		require.ErrorIs(t, s.DeletePolicy(ctx, "scale1"), store.ErrInUse)
		require.ErrorIs(t, s.DeleteLaunchConfig(ctx, "lc1"), store.ErrInUse)

		_, err = s.CreateNode(ctx, store.Node{ID: "n1", Group: "group-a", Role: "origin"}, "launched")
		require.NoError(t, err)
		require.ErrorIs(t, s.DeleteGroup(ctx, "group-a"), store.ErrInUse, "a group with live nodes")
		_, err = s.Transition(ctx, "n1", nodemodel.StateTerminated, "test")
		require.NoError(t, err)
		require.NoError(t, s.DeleteGroup(ctx, "group-a"))
		require.ErrorIs(t, s.DeleteGroup(ctx, "group-a"), store.ErrNotFound)
		require.NoError(t, s.DeletePolicy(ctx, "scale1"))
		require.NoError(t, s.DeleteLaunchConfig(ctx, "lc1"))
	})
}

func TestNodesEventsStreams(t *testing.T) {
	engines(t, func(t *testing.T, s *store.SQL) {
		ctx := context.Background()
		n, err := s.CreateNode(ctx, store.Node{ID: "n1", Role: "origin", Capacity: 100,
			Addresses: nodemodel.Addresses{RTMP: "10.0.0.1:1935", HTTP: "10.0.0.1:8080"}}, "registered")
		require.NoError(t, err)
		require.Equal(t, nodemodel.StatePending, n.State)
		_, err = s.CreateNode(ctx, store.Node{ID: "n1", Role: "origin"}, "again")
		require.ErrorIs(t, err, store.ErrExists)

		_, err = s.Transition(ctx, "n1", nodemodel.StateInService, "bad", nodemodel.StateRunning)
		require.ErrorIs(t, err, store.ErrStateConflict)
		n, err = s.Transition(ctx, "n1", nodemodel.StateRunning, "instance up", nodemodel.StatePending)
		require.NoError(t, err)
		require.Equal(t, nodemodel.StateRunning, n.State)
		_, err = s.Transition(ctx, "n1", nodemodel.StateInService, "health ok", nodemodel.StateRunning)
		require.NoError(t, err)
		_, err = s.Transition(ctx, "nope", nodemodel.StateRunning, "x")
		require.ErrorIs(t, err, store.ErrNotFound)

		evs, err := s.NodeEvents(ctx, "n1", 10)
		require.NoError(t, err)
		require.Len(t, evs, 3)
		require.Equal(t, []nodemodel.State{"", "pending", "running"}, []nodemodel.State{evs[0].From, evs[1].From, evs[2].From})
		require.Equal(t, "health ok", evs[2].Cause)

		at := time.Now().UTC().Truncate(time.Millisecond)
		st := store.NodeStats{Load: nodemodel.Load{Connections: 5, Subscribers: 4, Publishers: 1}, Streams: []string{"live/a"}}
		require.NoError(t, s.SaveReport(ctx, "n1", st, at))
		require.ErrorIs(t, s.SaveReport(ctx, "ghost", st, at), store.ErrNotFound)
		n, err = s.GetNode(ctx, "n1")
		require.NoError(t, err)
		require.Equal(t, st, n.Stats)
		require.True(t, at.Equal(n.LastReport))
		require.Equal(t, "10.0.0.1:1935", n.Addresses.RTMP)

		require.NoError(t, s.PutStream(ctx, store.StreamRecord{Name: "live/a", NodeID: "n1", Protocol: "rtmp", StartedAt: at}))
		require.NoError(t, s.PutStream(ctx, store.StreamRecord{Name: "live/a", NodeID: "n1", Protocol: "srt", StartedAt: at}))
		rec, err := s.GetStream(ctx, "live/a")
		require.NoError(t, err)
		require.Equal(t, "srt", rec.Protocol)
		require.NoError(t, s.DeleteStream(ctx, "live/a", "other-node"))
		_, err = s.GetStream(ctx, "live/a")
		require.NoError(t, err, "an unpublish from another node leaves the record")
		_, err = s.Transition(ctx, "n1", nodemodel.StateTerminated, "gone")
		require.NoError(t, err)
		_, err = s.GetStream(ctx, "live/a")
		require.ErrorIs(t, err, store.ErrNotFound, "a terminated node carries no stream")

		live, err := s.ListNodes(ctx, store.NodeFilter{})
		require.NoError(t, err)
		require.Empty(t, live)
		all, err := s.ListNodes(ctx, store.NodeFilter{IncludeTerminated: true})
		require.NoError(t, err)
		require.Len(t, all, 1)
	})
}

func TestAlarmThresholds(t *testing.T) {
	engines(t, func(t *testing.T, s *store.SQL) {
		ctx := context.Background()
		th, err := s.AlarmThresholds(ctx)
		require.NoError(t, err)
		require.Len(t, th, 4)
		for _, a := range th {
			require.Equal(t, store.DefaultAlarmThreshold, a.Threshold)
		}
		require.NoError(t, s.SetAlarmThreshold(ctx, "edge", 75))
		require.NoError(t, s.SetAlarmThreshold(ctx, "edge", 80))
		th, _ = s.AlarmThresholds(ctx)
		require.Equal(t, store.AlarmThreshold{Role: "edge", Threshold: 80}, th[2])
	})
}

// TestConcurrentTransitions: of many concurrent attempts to take a node out of one state, exactly one wins.
func TestConcurrentTransitions(t *testing.T) {
	engines(t, func(t *testing.T, s *store.SQL) {
		ctx := context.Background()
		_, err := s.CreateNode(ctx, store.Node{ID: "n1", Role: "edge", State: nodemodel.StateInService}, "test")
		require.NoError(t, err)
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := s.Transition(ctx, "n1", nodemodel.StateDraining, "scale-in", nodemodel.StateInService); err == nil {
					mu.Lock()
					wins++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		require.Equal(t, 1, wins)
		evs, err := s.NodeEvents(ctx, "n1", 100)
		require.NoError(t, err)
		require.Len(t, evs, 2)
	})
}

// TestReopenKeepsEverything: a manager restart loses nothing.
func TestReopenKeepsEverything(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "nagare.db")
	s, err := store.Open(ctx, store.SQLite, path)
	require.NoError(t, err)
	_, err = s.Migrate(ctx)
	require.NoError(t, err)
	_, err = s.CreatePolicy(ctx, policy("scale1"))
	require.NoError(t, err)
	_, err = s.CreateNode(ctx, store.Node{ID: "n1", Role: "origin", State: nodemodel.StateInService}, "x")
	require.NoError(t, err)
	require.NoError(t, s.PutStream(ctx, store.StreamRecord{Name: "live/a", NodeID: "n1", Protocol: "rtmp"}))
	require.NoError(t, s.Close())

	s, err = store.Open(ctx, store.SQLite, path)
	require.NoError(t, err)
	defer s.Close()
	_, err = s.Migrate(ctx)
	require.NoError(t, err)
	_, err = s.GetPolicy(ctx, "scale1")
	require.NoError(t, err)
	n, err := s.GetNode(ctx, "n1")
	require.NoError(t, err)
	require.Equal(t, nodemodel.StateInService, n.State)
	_, err = s.GetStream(ctx, "live/a")
	require.NoError(t, err)
}

// TestSaveReports: a batch of load reports, larger than one statement carries, reaches every node it
// names and no other; a node the store does not have is skipped; a report the store would refuse is
// refused when it is encoded.
func TestSaveReports(t *testing.T) {
	engines(t, func(t *testing.T, s *store.SQL) {
		ctx := context.Background()
		const n = 600 // more than one statement's worth
		for i := range n + 1 {
			_, err := s.CreateNode(ctx, store.Node{ID: fmt.Sprintf("n%04d", i), Role: "edge", State: nodemodel.StateRunning}, "test")
			require.NoError(t, err)
		}
		at := time.Now().UTC().Truncate(time.Millisecond)
		var reports []store.Report
		for i := range n {
			rep, err := store.EncodeReport(fmt.Sprintf("n%04d", i), store.NodeStats{Load: nodemodel.Load{Connections: i}}, at.Add(time.Duration(i)*time.Millisecond))
			require.NoError(t, err)
			reports = append(reports, rep)
		}
		ghost, err := store.EncodeReport("ghost", store.NodeStats{}, at)
		require.NoError(t, err)
		require.NoError(t, s.SaveReports(ctx, append(reports, ghost)))

		nodes, err := s.ListNodes(ctx, store.NodeFilter{})
		require.NoError(t, err)
		require.Len(t, nodes, n+1)
		for i, node := range nodes[:n] {
			require.Equal(t, i, node.Stats.Connections, node.ID)
			require.True(t, at.Add(time.Duration(i)*time.Millisecond).Equal(node.LastReport), node.ID)
		}
		require.True(t, nodes[n].LastReport.IsZero(), "a node without a report in the batch is left alone")

		_, err = store.EncodeReport("n0000", store.NodeStats{Streams: []string{strings.Repeat("s", store.MaxJSON)}}, at)
		require.ErrorIs(t, err, store.ErrInvalid)
	})
}
