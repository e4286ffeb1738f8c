package store_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/objstore"
	"github.com/nagare-video/nagare/internal/testutil"
	"github.com/nagare-video/nagare/internal/vod/store"
)

func openStores(t *testing.T) map[string]*store.SQL {
	t.Helper()
	ctx := context.Background()
	out := map[string]*store.SQL{}
	lite, err := store.Open(ctx, "sqlite", filepath.Join(t.TempDir(), "vod.db"))
	require.NoError(t, err)
	t.Cleanup(func() { lite.Close() })
	out["sqlite"] = lite
	if !testing.Short() {
		my, err := store.Open(ctx, "mysql", testutil.MySQLDSN(t))
		require.NoError(t, err)
		t.Cleanup(func() { my.Close() })
		out["mysql"] = my
	}
	return out
}

func TestUploadLifecycle(t *testing.T) {
	for engine, s := range openStores(t) {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			v := store.Video{ID: "v1", Owner: "alice", Title: "Holiday", Visibility: store.Private, Source: store.FromUpload,
				FileName: "a.mp4", Size: 12 << 20, SourceKey: "vod/v1/source"}
			u := store.Upload{ID: "v1", ObjectKey: "vod/v1/source", MultipartID: "mp-1", Size: 12 << 20,
				HashState: []byte{1, 2}, ExpiresAt: time.Now().Add(time.Hour)}
			require.NoError(t, s.CreateUpload(ctx, v, u))
			require.ErrorIs(t, s.CreateUpload(ctx, v, u), store.ErrExists)

			got, err := s.Video(ctx, "v1")
			require.NoError(t, err)
			require.Equal(t, store.Uploading, got.Status)
			require.Equal(t, "Holiday", got.Title)

			p1 := objstore.Part{Number: 1, Size: 8 << 20, ETag: "e1"}
			require.NoError(t, s.CommitPart(ctx, "v1", 0, p1, []byte("state1"), time.Now().Add(time.Hour)))
			// a second writer that still thinks the upload is at 0 loses
			require.ErrorIs(t, s.CommitPart(ctx, "v1", 0, p1, []byte("x"), time.Now()), store.ErrConflict)
			up, err := s.Upload(ctx, "v1")
			require.NoError(t, err)
			require.Equal(t, int64(8<<20), up.Committed)
			require.Equal(t, []byte("state1"), up.HashState)
			require.Equal(t, []objstore.Part{p1}, up.Parts)

			usage, err := s.OwnerUsage(ctx, "alice")
			require.NoError(t, err)
			require.Equal(t, int64(12<<20), usage)

			done, err := s.CompleteUpload(ctx, "v1", "abc")
			require.NoError(t, err)
			require.Equal(t, store.Processing, done.Status)
			require.Equal(t, "abc", done.SHA256)
			_, err = s.Upload(ctx, "v1")
			require.ErrorIs(t, err, store.ErrNotFound)
			_, err = s.CompleteUpload(ctx, "v1", "abc")
			require.ErrorIs(t, err, store.ErrNotFound)

			// the job: claimed once, a second worker finds nothing while the lease holds
			j, ok, err := s.ClaimJob(ctx, "w1", time.Minute)
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, "v1", j.VideoID)
			require.Equal(t, 1, j.Attempts)
			_, ok, err = s.ClaimJob(ctx, "w2", time.Minute)
			require.NoError(t, err)
			require.False(t, ok)
			require.ErrorIs(t, s.RenewJob(ctx, "v1", "w2", time.Minute), store.ErrConflict)
			require.NoError(t, s.RenewJob(ctx, "v1", "w1", time.Minute))

			// w1 dies: its lease runs out and w2 takes the job over
			s.Now = func() time.Time { return time.Now().Add(2 * time.Minute) }
			defer func() { s.Now = time.Now }()
			j, ok, err = s.ClaimJob(ctx, "w2", time.Minute)
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, 2, j.Attempts)
			require.ErrorIs(t, s.EndJob(ctx, "v1", "w1", store.JobDone, "", time.Time{}), store.ErrConflict)
			require.NoError(t, s.EndJob(ctx, "v1", "w2", store.JobFailed, "boom", s.Now().Add(time.Second)))
			j, err = s.Job(ctx, "v1")
			require.NoError(t, err)
			require.Equal(t, store.JobQueued, j.State)

			v2, err := s.UpdateVideo(ctx, "v1", "", func(v *store.Video) error {
				v.Status, v.Renditions = store.Ready, []store.Rendition{{Name: "720p", Width: 1280, Height: 720, Bandwidth: 3_000_000}}
				return nil
			})
			require.NoError(t, err)
			require.Equal(t, store.Ready, v2.Status)
			ev, err := s.Events(ctx, "v1")
			require.NoError(t, err)
			require.Equal(t, []store.Status{store.Uploading, store.Processing, store.Ready}, []store.Status{ev[0].Status, ev[1].Status, ev[2].Status})

			require.NoError(t, s.DeleteVideo(ctx, "v1"))
			require.ErrorIs(t, s.DeleteVideo(ctx, "v1"), store.ErrNotFound)
			_, err = s.Video(ctx, "v1")
			require.ErrorIs(t, err, store.ErrNotFound)
		})
	}
}

func TestListPages(t *testing.T) {
	for engine, s := range openStores(t) {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			base := time.Now().Truncate(time.Millisecond)
			for i, owner := range []string{"a", "b", "a", "a", "b"} {
				at := base.Add(time.Duration(i/2) * time.Second) // pairs share a creation time
				require.NoError(t, s.CreateVideo(ctx, store.Video{ID: "v" + string(rune('0'+i)), Owner: owner,
					Status: store.Ready, Visibility: store.Public, CreatedAt: at}))
			}
			var ids []string
			f := store.Filter{Limit: 2}
			for {
				page, err := s.Videos(ctx, f)
				require.NoError(t, err)
				for _, v := range page {
					ids = append(ids, v.ID)
				}
				if len(page) < f.Limit {
					break
				}
				f.AfterTime, f.AfterID = page[len(page)-1].CreatedAt, page[len(page)-1].ID
			}
			require.Equal(t, []string{"v4", "v3", "v2", "v1", "v0"}, ids)
			own, err := s.Videos(ctx, store.Filter{Owner: "b"})
			require.NoError(t, err)
			require.Len(t, own, 2)
		})
	}
}

// TestCounts checks the library-wide counts the VOD service's metrics read, on both engines.
func TestCounts(t *testing.T) {
	for engine, s := range openStores(t) {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			queued, running, err := s.JobCounts(ctx)
			require.NoError(t, err)
			require.Zero(t, queued+running)
			for _, id := range []string{"c1", "c2", "c3"} {
				v := store.Video{ID: id, Owner: "o", Visibility: store.Private, Source: store.FromUpload, Size: 1, SourceKey: "vod/" + id}
				require.NoError(t, s.CreateUpload(ctx, v, store.Upload{ID: id, ObjectKey: "vod/" + id, Size: 1, HashState: []byte{0}, ExpiresAt: time.Now().Add(time.Hour)}))
			}
			for _, id := range []string{"c1", "c2"} {
				_, err := s.CompleteUpload(ctx, id, "00")
				require.NoError(t, err)
			}
			_, ok, err := s.ClaimJob(ctx, "w1", time.Minute)
			require.NoError(t, err)
			require.True(t, ok)

			queued, running, err = s.JobCounts(ctx)
			require.NoError(t, err)
			require.Equal(t, 1, queued)
			require.Equal(t, 1, running)
			counts, err := s.StatusCounts(ctx)
			require.NoError(t, err)
			require.Equal(t, map[store.Status]int{store.Uploading: 1, store.Processing: 2}, counts)
		})
	}
}
