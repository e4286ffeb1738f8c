package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/manager/store"
)

// TestLadders provisions, replaces, lists and deletes stream ladders on both engines.
func TestLadders(t *testing.T) {
	engines(t, func(t *testing.T, s *store.SQL) {
		ctx := context.Background()
		_, err := s.GetLadder(ctx, "live/none")
		require.ErrorIs(t, err, store.ErrNotFound)
		require.ErrorIs(t, s.DeleteLadder(ctx, "live/none"), store.ErrNotFound)

		at := time.UnixMilli(1_700_000_000_123).UTC()
		l := store.Ladder{Stream: "live/stream1", AudioBitrate: 96_000, UpdatedAt: at, Rungs: []store.LadderRung{
			{Name: "1", Level: 1, Width: 1280, Height: 720, VideoBitrate: 2_000_000},
			{Name: "2", Level: 2, Width: 640, Height: 360, VideoBitrate: 600_000, MaxRate: 800_000},
		}}
		require.NoError(t, s.PutLadder(ctx, l))
		got, err := s.GetLadder(ctx, "live/stream1")
		require.NoError(t, err)
		require.Equal(t, l, got)

		l.Rungs = l.Rungs[1:]
		require.NoError(t, s.PutLadder(ctx, l), "a second provision replaces the first")
		require.NoError(t, s.PutLadder(ctx, store.Ladder{Stream: "live/a", Rungs: []store.LadderRung{{Name: "x", Height: 240, VideoBitrate: 1}}, UpdatedAt: at}))
		all, err := s.ListLadders(ctx)
		require.NoError(t, err)
		require.Len(t, all, 2)
		require.Equal(t, "live/a", all[0].Stream)
		require.Equal(t, l, all[1])

		require.NoError(t, s.DeleteLadder(ctx, "live/stream1"))
		_, err = s.GetLadder(ctx, "live/stream1")
		require.ErrorIs(t, err, store.ErrNotFound)
	})
}
