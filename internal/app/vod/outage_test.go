package vod_test

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nagare-video/nagare/internal/testutil"
	"github.com/nagare-video/nagare/internal/vod/service"
	"github.com/nagare-video/nagare/internal/vod/vodv1"
)

// TestStorageDownMidUpload: object storage goes away in the middle of an upload. The client gets
// UNAVAILABLE, the parts stored before stay committed, the video is not listed as ready meanwhile, and once
// storage is back the client continues from the committed size to a complete, byte-identical upload.
func TestStorageDownMidUpload(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	g := testutil.StartS3Gateway(t)
	r := startVOD(t, s3Storage(t, g))
	ctx := as(context.Background(), adminToken)
	data := make([]byte, 23<<20)
	_, _ = rand.Read(data)
	copy(data, "\x00\x00\x00\x20ftypisom") // an MP4's first box: passes the sniff (processing will fail: not a video)

	stream, err := r.client.Upload(ctx)
	require.NoError(t, err)
	require.NoError(t, send(t, stream, &vodv1.UploadStart{FileName: "big.mp4", Size: int64(len(data)), Sha256: sha(data)},
		data[:11<<20], 1<<20))
	hdr, err := stream.Header()
	require.NoError(t, err)
	id := first(hdr, service.HeaderUploadID)
	require.Eventually(t, func() bool {
		st, err := r.client.QueryUpload(ctx, &vodv1.QueryUploadRequest{UploadId: id})
		require.NoError(t, err)
		return st.CommittedSize == 10<<20
	}, 20*time.Second, 20*time.Millisecond, "two parts stored before the outage")

	g.Stop()
	// the next part cannot be stored: the stream ends with UNAVAILABLE
	for off := 11 << 20; off < len(data); off += 1 << 20 {
		if err = stream.Send(&vodv1.UploadRequest{Data: &vodv1.UploadRequest_Chunk{Chunk: data[off : off+(1<<20)]}}); err != nil {
			break
		}
	}
	_, err = stream.CloseAndRecv()
	require.Equal(t, codes.Unavailable, status.Code(err), "%v", err)

	v, err := r.client.GetVideo(ctx, &vodv1.GetVideoRequest{Id: id})
	require.NoError(t, err)
	require.Equal(t, vodv1.Status_STATUS_UPLOADING, v.Status, "nothing half-written is listed as ready")
	st, err := r.client.QueryUpload(ctx, &vodv1.QueryUploadRequest{UploadId: id})
	require.NoError(t, err)
	require.GreaterOrEqual(t, st.CommittedSize, int64(10<<20), "what was stored before the outage stays committed")

	g.Restart()
	res, _, err := upload(t, ctx, r, &vodv1.UploadStart{UploadId: id, WriteOffset: st.CommittedSize}, data[st.CommittedSize:], 1<<20)
	require.NoError(t, err)
	require.True(t, res.Complete)
	require.Equal(t, sha(data), res.Video.Sha256)
}
