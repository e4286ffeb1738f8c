package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/manager/store"
	"github.com/nagare-video/nagare/internal/nodemodel"
	"github.com/nagare-video/nagare/internal/testutil"
)

// TestFrozenDatabase: with MariaDB stopped (SIGSTOP), every kind of store call — a read of one row, a list,
// a statement, a transaction, a ping — fails with ErrUnavailable within its deadline instead of hanging;
// once MariaDB runs again, calls succeed. Before, the calls waited for as long as MariaDB was stopped.
func TestFrozenDatabase(t *testing.T) {
	db := testutil.StartMariaDB(t)
	ctx := context.Background()
	s, err := store.Open(ctx, store.MySQL, db.DSN(t, "nagare"))
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	_, err = s.Migrate(ctx)
	require.NoError(t, err)
	s.CallTimeout = 500 * time.Millisecond
	_, err = s.CreatePolicy(ctx, policy("p"))
	require.NoError(t, err)
	_, err = s.CreateNode(ctx, store.Node{ID: "n1", Role: nodemodel.RoleEdge, State: nodemodel.StateInService}, "test")
	require.NoError(t, err)

	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"one row", func(ctx context.Context) error { _, err := s.GetPolicy(ctx, "p"); return err }},
		{"list", func(ctx context.Context) error { _, err := s.ListNodes(ctx, store.NodeFilter{}); return err }},
		{"statement", func(ctx context.Context) error { return s.SetParent(ctx, "n1", "n0") }},
		{"transaction", func(ctx context.Context) error {
			_, err := s.Transition(ctx, "n1", nodemodel.StateDraining, "test", nodemodel.StateInService)
			return err
		}},
		{"ping", s.Ping},
	}

	db.Freeze(t)
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			err := c.call(ctx)
			require.ErrorIs(t, err, store.ErrUnavailable)
			require.Less(t, time.Since(start), 5*time.Second, "a generous bound over the 0.5 s deadline")
		})
	}
	t.Run("caller gone", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		time.AfterFunc(100*time.Millisecond, cancel)
		_, err := s.ListPolicies(cctx)
		require.ErrorIs(t, err, context.Canceled, "a caller that gave up is told so")
		require.False(t, errors.Is(err, store.ErrUnavailable), "and not that the store is down")
	})
	db.Thaw(t)

	// MariaDB takes the closed connections' leftovers first; calls succeed again once it has
	require.Eventually(t, func() bool { return s.Ping(ctx) == nil }, 10*time.Second, 50*time.Millisecond)
	for _, c := range calls {
		require.NoError(t, c.call(ctx), c.name)
	}
	n, err := s.GetNode(ctx, "n1")
	require.NoError(t, err)
	require.Equal(t, nodemodel.StateDraining, n.State)
}
