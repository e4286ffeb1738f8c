package vod_test

import (
	"context"
	"crypto/rand"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/sqldb"
	"github.com/nagare-video/nagare/internal/vod/service"
	"github.com/nagare-video/nagare/internal/vod/store"
	"github.com/nagare-video/nagare/internal/vod/vodv1"
)

// TestProcessingResumesAfterRestart: a video whose processing is cut short by a shutdown is processed by
// the next start of the service, on the same database and storage, to READY and playable.
func TestProcessingResumesAfterRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	// veryslow keeps ffmpeg busy for far longer than the test waits before stopping the service.
	r := startVOD(t, func(c *config.Config) { c.VOD.Preset = "veryslow" })
	ctx := as(context.Background(), adminToken)
	data := readFile(t, clip(t, 3, 14))
	res, id, err := upload(t, ctx, r, &vodv1.UploadStart{FileName: "long.mp4", Size: int64(len(data)), Sha256: sha(data)}, data, 1<<20)
	require.NoError(t, err)
	require.True(t, res.Complete)

	// Stop while ffmpeg is transcoding.
	require.Eventually(t, func() bool {
		v, err := r.client.GetVideo(ctx, &vodv1.GetVideoRequest{Id: id})
		require.NoError(t, err)
		require.Equal(t, vodv1.Status_STATUS_PROCESSING, v.Status, "processing must not be over before the stop")
		return v.Progress > 0
	}, 30*time.Second, 50*time.Millisecond)
	r.stop()
	require.Contains(t, r.log.String(), "processing interrupted by shutdown; requeued")

	// The same database and storage, new ports, a faster preset: the job is picked up again.
	cfg := r.cfg
	cfg.VOD.Preset = "ultrafast"
	r2 := runVOD(t, cfg)
	v, err := r2.client.GetVideo(ctx, &vodv1.GetVideoRequest{Id: id})
	require.NoError(t, err)
	require.Equal(t, vodv1.Status_STATUS_PROCESSING, v.Status)
	v = waitFinal(t, r2, id, 2*time.Minute)
	require.Equal(t, vodv1.Status_STATUS_READY, v.Status, v.Failure)
	require.Equal(t, int32(100), v.Progress)
	require.InDelta(t, 3, v.DurationSeconds, 0.2)
	require.NotEmpty(t, v.Renditions)
	require.Contains(t, r2.log.String(), "attempt=2", "the second start resumed the job the first one began")

	// Every frame is in the result, not only what the first start got to.
	pb, err := r2.client.PlaybackURLs(ctx, &vodv1.PlaybackURLsRequest{Id: id})
	require.NoError(t, err)
	for _, u := range []string{pb.Hls, pb.Mp4} {
		out, err := exec.Command("ffprobe", "-v", "error", "-count_packets", "-select_streams", "v:0",
			"-show_entries", "stream=nb_read_packets", "-of", "default=nw=1", u).CombinedOutput()
		require.NoError(t, err, "%s: %s", u, out)
		require.Contains(t, string(out), "nb_read_packets=75", "%s: %s", u, out)
	}
}

// TestAbandonedUploadExpires: an upload that made no progress for vod.uploadExpiry is removed when the
// service next looks (at its start, then every minute): its video, its state and the parts it stored; an
// upload that has not expired is left as it was. The expiry (at least a minute) is reached by dating the
// upload back in the database while the service is stopped, as a long downtime would.
func TestAbandonedUploadExpires(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	r := startVOD(t)
	ctx := as(context.Background(), adminToken)
	data := make([]byte, 8<<20)
	_, _ = rand.Read(data)
	copy(data, "\x00\x00\x00\x20ftypisom") // passes the sniff as MP4

	// Two uploads with one part stored each; their clients went away.
	var ids []string
	for range 2 {
		sctx, cancel := context.WithCancel(ctx)
		stream, err := r.client.Upload(sctx)
		require.NoError(t, err)
		require.NoError(t, send(t, stream, &vodv1.UploadStart{FileName: "gone.mp4", Size: int64(len(data))}, data[:6<<20], 1<<20))
		hdr, err := stream.Header()
		require.NoError(t, err)
		id := first(hdr, service.HeaderUploadID)
		require.Eventually(t, func() bool {
			st, err := r.client.QueryUpload(ctx, &vodv1.QueryUploadRequest{UploadId: id})
			require.NoError(t, err)
			return st.CommittedSize == 5<<20 // one part; the MiB after it is less than a part and is lost
		}, 10*time.Second, 20*time.Millisecond)
		cancel()
		ids = append(ids, id)
	}
	expired, kept := ids[0], ids[1]
	require.Len(t, openMultiparts(t, r), 2)
	r.stop()

	st, err := store.Open(context.Background(), "sqlite", r.cfg.VOD.StoreDSN)
	require.NoError(t, err)
	res, err := st.Exec(context.Background(), `UPDATE vod_uploads SET expires_at = ? WHERE id = ?`,
		sqldb.MS(time.Now().Add(-time.Second)), expired)
	require.NoError(t, err)
	n, err := res.RowsAffected()
	require.NoError(t, err)
	require.Equal(t, int64(1), n)
	require.NoError(t, st.Close())

	r2 := runVOD(t, r.cfg)
	require.Eventually(t, func() bool {
		_, err := r2.client.GetVideo(ctx, &vodv1.GetVideoRequest{Id: expired})
		return status.Code(err) == codes.NotFound
	}, 10*time.Second, 20*time.Millisecond, "the expired upload is still there")
	_, err = r2.client.QueryUpload(ctx, &vodv1.QueryUploadRequest{UploadId: expired})
	require.Equal(t, codes.NotFound, status.Code(err))
	require.Len(t, openMultiparts(t, r2), 1, "the expired upload's parts are aborted, the other's kept")
	require.Contains(t, r2.log.String(), "upload expired: its parts are aborted")
	require.NotContains(t, strings.Join(videoIDs(t, r2), " "), expired)

	// The upload that had not expired goes on where it stopped, to the end.
	qs, err := r2.client.QueryUpload(ctx, &vodv1.QueryUploadRequest{UploadId: kept})
	require.NoError(t, err)
	require.Equal(t, int64(5<<20), qs.CommittedSize)
	resumed, _, err := upload(t, ctx, r2, &vodv1.UploadStart{UploadId: kept, WriteOffset: qs.CommittedSize}, data[qs.CommittedSize:], 1<<20)
	require.NoError(t, err)
	require.True(t, resumed.Complete)
	require.Equal(t, sha(data), resumed.Video.Sha256)
	require.Empty(t, openMultiparts(t, r2))
}
