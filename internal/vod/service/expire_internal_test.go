package service

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/objstore"
	"github.com/nagare-video/nagare/internal/vod/store"
	"github.com/nagare-video/nagare/internal/vod/vodv1"
)

// TestAbandonedUploadsExpire: an upload that makes no progress for UploadExpiry is removed with its parts;
// one that is still being written is left alone.
func TestAbandonedUploadsExpire(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, "sqlite", filepath.Join(dir, "vod.db"))
	require.NoError(t, err)
	defer st.Close()
	objs, err := objstore.NewLocal(filepath.Join(dir, "objects"))
	require.NoError(t, err)
	s := New(Config{UploadExpiry: time.Hour}, st, objs, slog.New(slog.DiscardHandler))

	admin := principal{admin: true}
	mk := func() store.Upload {
		up, err := s.createUpload(ctx, admin, &vodv1.UploadStart{FileName: "a.mp4", Size: 10 << 20})
		require.NoError(t, err)
		_, err = objs.UploadPart(ctx, up.ObjectKey, up.MultipartID, 1, bytesOf(objstore.MinPartSize), objstore.MinPartSize)
		require.NoError(t, err)
		return up
	}
	abandoned, busy := mk(), mk()
	require.True(t, s.claim(busy.ID)) // a stream is writing it

	s.expire(ctx) // nothing is old yet
	_, err = st.Upload(ctx, abandoned.ID)
	require.NoError(t, err)

	st.Now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	s.expire(ctx)
	_, err = st.Video(ctx, abandoned.ID)
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = objs.UploadPart(ctx, abandoned.ObjectKey, abandoned.MultipartID, 2, bytesOf(1), 1)
	require.ErrorIs(t, err, objstore.ErrNoSuchUpload, "the abandoned upload's parts are aborted")
	_, err = st.Upload(ctx, busy.ID)
	require.NoError(t, err, "an upload being written is not expired under its writer")
	entries, err := os.ReadDir(filepath.Join(dir, "objects", ".multipart"))
	require.NoError(t, err)
	require.Len(t, entries, 1, "only the busy upload's parts are left")

	s.release(busy.ID)
	s.expire(ctx)
	_, err = st.Video(ctx, busy.ID)
	require.ErrorIs(t, err, store.ErrNotFound)
}

func bytesOf(n int) *bytes.Reader { return bytes.NewReader(make([]byte, n)) }
