package vod_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/nagare-video/nagare/internal/testutil"
	"github.com/nagare-video/nagare/internal/vod/service"
	"github.com/nagare-video/nagare/internal/vod/vodv1"
)

// TestUploadResumeProcessPlay: a real clip is uploaded over gRPC into versitygw; the connection is cut at
// 40 %; the client asks how much is stored and continues from there (a wrong offset is refused with the
// committed size); the stored object is byte-identical; the video is processed to ready; its HLS ladder
// and MP4 play in ffprobe through the signed URLs of a private video; Download returns the file's bytes;
// DeleteVideo removes every object.
func TestUploadResumeProcessPlay(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	g := testutil.StartS3Gateway(t)
	r := startVOD(t, s3Storage(t, g))
	data := readFile(t, clip(t, 6, 14))
	require.Greater(t, len(data), 12<<20, "the clip must span several 5 MiB parts")
	sum := sha(data)
	ctx := as(context.Background(), adminToken)

	// First connection: 40 % of the file, then the client goes away.
	cut := len(data) * 40 / 100
	sctx, cancel := context.WithCancel(ctx)
	stream, err := r.client.Upload(sctx)
	require.NoError(t, err)
	start := &vodv1.UploadStart{Title: "Noise", FileName: "noise.mp4", Size: int64(len(data)), Sha256: sum}
	require.NoError(t, send(t, stream, start, data[:cut], 256<<10))
	hdr, err := stream.Header()
	require.NoError(t, err)
	id := first(hdr, service.HeaderUploadID)
	require.NotEmpty(t, id, "the upload id arrives in the header before the upload ends")
	// The server keeps the parts that arrived whole: with 5 MiB parts, every whole part of the 40 %. Send
	// returns once a message is buffered, not once the server has it: the client goes away only when the
	// server has stored them (a loaded machine once cut the stream with one part still in flight).
	whole := int64(cut) / (5 << 20) * (5 << 20)
	var committed int64
	storedWhole := func() bool {
		st, err := r.client.QueryUpload(ctx, &vodv1.QueryUploadRequest{UploadId: id})
		require.NoError(t, err)
		committed = st.CommittedSize
		return committed == whole
	}
	require.Eventually(t, storedWhole, 10*time.Second, 50*time.Millisecond,
		"committed %d while streaming, want the %d bytes of whole parts", committed, whole)
	cancel()

	// The cut loses none of them, and the partial part after them is not counted.
	require.Eventually(t, storedWhole, 10*time.Second, 50*time.Millisecond, "committed %d, want the %d bytes of whole parts", committed, whole)

	// A wrong offset is refused with the committed size.
	stream, err = r.client.Upload(ctx)
	require.NoError(t, err)
	_ = send(t, stream, &vodv1.UploadStart{UploadId: id, WriteOffset: committed + 1}, nil, 1)
	_, err = stream.CloseAndRecv()
	require.Equal(t, codes.FailedPrecondition, status.Code(err), "%v", err)
	require.Contains(t, err.Error(), strconv.FormatInt(committed, 10))

	// The rest, from the committed size.
	stream, err = r.client.Upload(ctx)
	require.NoError(t, err)
	require.NoError(t, send(t, stream, &vodv1.UploadStart{UploadId: id, WriteOffset: committed}, data[committed:], 1<<20))
	res, err := stream.CloseAndRecv()
	require.NoError(t, err)
	require.True(t, res.Complete)
	require.Equal(t, int64(len(data)), res.CommittedSize)
	require.Equal(t, vodv1.Status_STATUS_PROCESSING, res.Video.Status)
	require.Equal(t, sum, res.Video.Sha256)

	// The stored object is the file, byte for byte.
	dl, err := r.client.Download(ctx, &vodv1.DownloadRequest{Id: id})
	require.NoError(t, err)
	h := sha256.New()
	for {
		m, err := dl.Recv()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		h.Write(m.Chunk)
	}
	require.Equal(t, sum, hex.EncodeToString(h.Sum(nil)))
	part, err := r.client.Download(ctx, &vodv1.DownloadRequest{Id: id, Offset: 1000, Length: 5000})
	require.NoError(t, err)
	m, err := part.Recv()
	require.NoError(t, err)
	require.Equal(t, data[1000:6000], m.Chunk)

	// Processing: ready with a ladder that never upscales (the source is 360p).
	var v *vodv1.Video
	require.Eventually(t, func() bool {
		v, err = r.client.GetVideo(ctx, &vodv1.GetVideoRequest{Id: id})
		require.NoError(t, err)
		require.NotEqual(t, vodv1.Status_STATUS_FAILED, v.Status, v.Failure)
		return v.Status == vodv1.Status_STATUS_READY
	}, 3*time.Minute, 200*time.Millisecond)
	require.Equal(t, int32(100), v.Progress)
	require.InDelta(t, 6, v.DurationSeconds, 0.3)
	require.Equal(t, "h264", v.VideoCodec)
	require.NotEmpty(t, v.Renditions)
	for _, rd := range v.Renditions {
		require.LessOrEqual(t, rd.Height, int32(360))
	}
	require.True(t, v.HasMp4)

	// The video is private: its URLs are signed; unsigned ones are refused.
	pb, err := r.client.PlaybackURLs(ctx, &vodv1.PlaybackURLsRequest{Id: id, TtlSeconds: 600})
	require.NoError(t, err)
	require.Contains(t, pb.Hls, "sig=")
	resp, err := http.Get(strings.Split(pb.Mp4, "?")[0])
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	for _, u := range []string{pb.Hls, pb.Mp4} {
		out, err := exec.Command("ffprobe", "-v", "error", "-count_packets", "-select_streams", "v:0",
			"-show_entries", "stream=nb_read_packets:format=duration", "-of", "default=nw=1", u).CombinedOutput()
		require.NoError(t, err, "%s: %s", u, out)
		require.Contains(t, string(out), "nb_read_packets=150", "%s: %s", u, out)
	}

	// Deleting removes the entry and every object.
	_, err = r.client.DeleteVideo(ctx, &vodv1.DeleteVideoRequest{Id: id})
	require.NoError(t, err)
	_, err = r.client.GetVideo(ctx, &vodv1.GetVideoRequest{Id: id})
	require.Equal(t, codes.NotFound, status.Code(err))
	resp, err = http.Get(pb.Mp4)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func first(md metadata.MD, key string) string {
	if v := md.Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}
