package vod_test

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nagare-video/nagare/internal/testutil"
	"github.com/nagare-video/nagare/internal/vod/vodv1"
)

// TestMetrics: /metrics on the VOD HTTP port counts what the service did. A real clip is uploaded and
// processed to ready, a file that only looks like an MP4 is uploaded and fails processing, a text file and
// an upload with a wrong checksum are refused; the MP4 and the playlist are played, and an unsigned URL of
// the private video is refused. Every counter then holds exactly what happened, and the library's gauges
// the videos by status with an empty queue.
func TestMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	r := startVOD(t)
	ctx := as(context.Background(), adminToken)

	before := scrape(t, r)
	for _, s := range []string{
		`nagare_vod_uploads_started_total`, `nagare_vod_uploads_completed_total`, `nagare_vod_upload_received_bytes_total`,
		`nagare_vod_processing_jobs_total{outcome="ready"}`, `nagare_vod_processing_jobs_total{outcome="failed"}`,
		`nagare_vod_processing_jobs_total{outcome="retry"}`, `nagare_vod_jobs{state="queued"}`, `nagare_vod_jobs{state="running"}`,
		`nagare_vod_videos{status="ready"}`, `nagare_vod_videos{status="failed"}`, `nagare_vod_processing_duration_seconds_count`,
	} {
		v, ok := before[s]
		require.True(t, ok, "%s is exported before anything happened", s)
		require.Zero(t, v, s)
	}

	clipData := smallClip(t, "2")
	res, id, err := upload(t, ctx, r, &vodv1.UploadStart{FileName: "clip.mp4", Size: int64(len(clipData)), Sha256: sha(clipData)}, clipData, 64<<10)
	require.NoError(t, err)
	require.True(t, res.Complete)
	fake := make([]byte, 64<<10)
	copy(fake, "\x00\x00\x00\x20ftypisom") // an MP4's first box: passes the sniff; processing fails
	res, fakeID, err := upload(t, ctx, r, &vodv1.UploadStart{FileName: "fake.mp4", Size: int64(len(fake))}, fake, 64<<10)
	require.NoError(t, err)
	require.True(t, res.Complete)
	text := bytes.Repeat([]byte("hello world\n"), 1000)
	_, _, err = upload(t, ctx, r, &vodv1.UploadStart{FileName: "notes.txt", Size: int64(len(text))}, text, 64<<10)
	require.Equal(t, codes.InvalidArgument, status.Code(err), "%v", err)
	_, _, err = upload(t, ctx, r, &vodv1.UploadStart{FileName: "bad.mp4", Size: int64(len(clipData)), Sha256: sha(text)}, clipData, 64<<10)
	require.Equal(t, codes.DataLoss, status.Code(err), "%v", err)

	require.Equal(t, vodv1.Status_STATUS_READY, waitFinal(t, r, id, 2*time.Minute).Status)
	require.Equal(t, vodv1.Status_STATUS_FAILED, waitFinal(t, r, fakeID, time.Minute).Status)

	pb, err := r.client.PlaybackURLs(ctx, &vodv1.PlaybackURLsRequest{Id: id, TtlSeconds: 600})
	require.NoError(t, err)
	code, mp4 := testutil.Get(t, pb.Mp4)
	require.Equal(t, http.StatusOK, code)
	code, playlist := testutil.Get(t, pb.Hls)
	require.Equal(t, http.StatusOK, code)
	code, refusal := testutil.Get(t, strings.Split(pb.Mp4, "?")[0])
	require.Equal(t, http.StatusForbidden, code)

	// The worker counts a job after it marked the video: the counters may lag the status by a moment.
	var m map[string]float64
	require.Eventually(t, func() bool {
		m = scrape(t, r)
		return m[`nagare_vod_processing_jobs_total{outcome="ready"}`] == 1 && m[`nagare_vod_processing_jobs_total{outcome="failed"}`] == 1
	}, 10*time.Second, 50*time.Millisecond, "the job outcomes were not counted")

	// every chunk sent, the refused ones included (the text went in one chunk, before the sniff refused it)
	received := float64(len(clipData) + len(fake) + len(text) + len(clipData))
	for name, want := range map[string]float64{
		`nagare_vod_uploads_started_total`:                          4,
		`nagare_vod_uploads_completed_total`:                        2,
		`nagare_vod_uploads_failed_total{code="InvalidArgument"}`:   1,
		`nagare_vod_uploads_failed_total{code="DataLoss"}`:          1,
		`nagare_vod_processing_jobs_total{outcome="retry"}`:         0,
		`nagare_vod_processing_duration_seconds_count`:              1,
		`nagare_vod_processing_speed_ratio_count`:                   1,
		`nagare_vod_jobs{state="queued"}`:                           0,
		`nagare_vod_jobs{state="running"}`:                          0,
		`nagare_vod_videos{status="ready"}`:                         1,
		`nagare_vod_videos{status="failed"}`:                        1,
		`nagare_vod_videos{status="uploading"}`:                     0,
		`nagare_vod_videos{status="processing"}`:                    0,
		`nagare_vod_playback_requests_total{code="200",kind="mp4"}`: 1,
		`nagare_vod_playback_requests_total{code="200",kind="hls"}`: 1,
		`nagare_vod_playback_requests_total{code="403",kind="mp4"}`: 1,
		`nagare_vod_playback_sent_bytes_total{kind="mp4"}`:          float64(len(mp4) + len(refusal)), // error bodies count too
		`nagare_vod_playback_sent_bytes_total{kind="hls"}`:          float64(len(playlist)),
	} {
		require.Equal(t, want, m[name], name)
	}
	require.Equal(t, received, m[`nagare_vod_upload_received_bytes_total`])
	took := m[`nagare_vod_processing_duration_seconds_sum`]
	require.Greater(t, took, 0.0)
	// the 2 s clip took took seconds: the ratio's one observation is their quotient
	require.InDelta(t, took/2, m[`nagare_vod_processing_speed_ratio_sum`], 0.05*took)
}

// scrape reads the VOD service's /metrics: the value of each sample by its name and labels as written
// (labels sorted by name).
func scrape(t *testing.T, r *rig) map[string]float64 {
	t.Helper()
	code, body := testutil.Get(t, "http://"+r.srv.HTTPAddr()+"/metrics")
	require.Equal(t, http.StatusOK, code, "%s", body)
	out := map[string]float64{}
	for line := range strings.Lines(string(body)) {
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		require.Positive(t, i, line)
		v, err := strconv.ParseFloat(strings.TrimSpace(line[i+1:]), 64)
		require.NoError(t, err, line)
		out[line[:i]] = v
	}
	return out
}
