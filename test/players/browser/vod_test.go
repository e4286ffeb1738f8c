package browser

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/metadata"

	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/testutil"
	"github.com/nagare-video/nagare/internal/testutil/vodtest"
	"github.com/nagare-video/nagare/internal/vod/vodv1"
)

const (
	vodTokenSecret = "players-vod-secret-0123456789"
	vodSeconds     = 12 // of the uploaded clip, at testutil.ClipFPS
	// the run ends when the video does; this bounds it when it never ends
	vodPlayFor = 15 * time.Second
)

// the ladder docs/vod.md promises for a 720p source: every rung up to the source's height, none above
var vodLadder = []int{360, 480, 720}

// TestBrowserPlaysVOD uploads a 12 s 720p H.264/AAC clip to a real VOD service over gRPC, waits for its
// adaptive ladder (720p, 480p, 360p), and plays /vod/<id>/index.m3u8 to the end in hls.js in headless
// Chromium, from a page on another origin: first as a private video through the signed URL PlaybackURLs
// returns (every playlist is rewritten so that what the player follows stays signed), then, made public,
// by its plain URL. hls.js starts on 360p and is switched to 720p two seconds in. For each run: playback
// starts, reaches the end, decodes 90 % of the clip's frames with no stall, gap or player error; hls.js
// parsed three renditions with CODECS and RESOLUTION, loaded fragments of 360p and 720p and showed both;
// and every playlist was accepted by a strict parser and carried CORS headers, with no failed request.
func TestBrowserPlaysVOD(t *testing.T) {
	root, modules := requirePlayers(t)
	trace := os.Getenv("NAGARE_PLAYERS_TRACE")
	srv := startVOD(t)
	client := srv.Client
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+adminToken)

	id := upload(ctx, t, client, vodClip(t), vodv1.Visibility_VISIBILITY_PRIVATE)
	var v *vodv1.Video
	require.Eventually(t, func() bool {
		var err error
		v, err = client.GetVideo(ctx, &vodv1.GetVideoRequest{Id: id})
		require.NoError(t, err)
		require.NotEqual(t, vodv1.Status_STATUS_FAILED, v.Status, v.Failure)
		return v.Status == vodv1.Status_STATUS_READY
	}, 5*time.Minute, 250*time.Millisecond, "the video was not processed")
	var heights []int
	for _, rd := range v.Renditions {
		heights = append(heights, int(rd.Height))
	}
	slices.Sort(heights)
	require.Equal(t, vodLadder, heights, "the ladder of a 720p source")

	pb, err := client.PlaybackURLs(ctx, &vodv1.PlaybackURLsRequest{Id: id, TtlSeconds: 600})
	require.NoError(t, err)
	require.Contains(t, pb.Hls, "sig=", "a private video plays through signed URLs")
	plain := "http://" + srv.HTTPAddr() + "/vod/" + id + "/index.m3u8"
	require.Equal(t, http.StatusForbidden, status(t, plain), "the private video's unsigned playlist")

	// the page and hls.js come from another origin than the VOD service's
	pages := pageServer(root, modules)
	defer pages.Close()
	play := func(t *testing.T, name, src string) {
		_, results := drive(t, root, modules, pages.URL, trace, vodPlayFor, []runPlayer{{
			Name: "hlsjs-vod/" + name, Player: "hlsjs", Src: src, Debug: trace != "",
			Configure: map[string]any{"startLevel": 0}, // the lowest rung: hls.js sorts its levels by height
			SwitchTo:  &switchTo{AfterMs: 2000, Height: vodLadder[len(vodLadder)-1]},
		}})
		r := results[0]
		t.Logf("%s\n%s", table(results), vodDetails(&r))
		checkVOD(t, &r)
	}
	t.Run("private", func(t *testing.T) { play(t, "private", pb.Hls) })

	_, err = client.UpdateVideo(ctx, &vodv1.UpdateVideoRequest{Id: id, Visibility: vodv1.Visibility_VISIBILITY_PUBLIC})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status(t, plain), "the public video's playlist")
	t.Run("public", func(t *testing.T) { play(t, "public", plain) })
}

// checkVOD asserts what one hls.js run over the whole video must show: a video on demand has every segment
// ready, so there is no excuse for a stall, a gap or an error.
func checkVOD(t *testing.T, r *result) {
	assert.Empty(t, r.Errors, "player errors")
	if !assert.NotNil(t, r.StartupMs, "no frame on screen within %s", startupBound) {
		return
	}
	assert.LessOrEqual(t, time.Duration(*r.StartupMs*float64(time.Millisecond)), startupBound, "startup")
	assert.True(t, r.Ended, "the video did not end within %s of playback (playhead at %.3fs)", vodPlayFor, r.CurrentTime)
	assert.InDelta(t, vodSeconds, r.CurrentTime, 0.5, "the playhead at the end")
	assert.GreaterOrEqual(t, r.Frames, int(minFrameRatio*vodSeconds*testutil.ClipFPS), "frames decoded of the %d s clip", vodSeconds)
	assert.LessOrEqual(t, r.longestStall(), maxStall, "longest stall (stalls: %+v; 'waiting' events: %d)", r.Stalls, r.Waiting)
	assert.Zero(t, r.GapJumps, "gaps jumped: media the player skipped over")
	assert.Zero(t, r.StallSignals, "stalls hls.js reported")
	checkDelivery(t, r)

	// the multivariant playlist lists the ladder, and hls.js can pick from it by codec and resolution
	var parsed []int
	for _, l := range r.Levels {
		parsed = append(parsed, l.Height)
		assert.Contains(t, l.Codecs, "avc1.", "CODECS of the %dp rendition", l.Height)
		assert.Contains(t, l.Codecs, "mp4a.", "CODECS of the %dp rendition", l.Height)
		assert.Equal(t, fmt.Sprintf("%dx%d", l.Width, l.Height), l.Resolution, "RESOLUTION of the %dp rendition", l.Height)
		assert.InDelta(t, testutil.ClipFPS, l.FrameRate, 0.01, "FRAME-RATE of the %dp rendition", l.Height)
	}
	assert.Equal(t, vodLadder, parsed, "the renditions hls.js parsed, in its order")

	// it started on the lowest rung and played the highest after the switch: fragments of both were loaded
	// and both were on screen
	lowest, highest := vodLadder[0], vodLadder[len(vodLadder)-1]
	assert.Subset(t, r.LevelsLoaded, []int{lowest, highest}, "the renditions hls.js loaded fragments of")
	if assert.NotNil(t, r.LevelSwitch, "the switch to %dp was not made", highest) {
		assert.GreaterOrEqual(t, r.LevelSwitch.Level, 0, "the %dp rendition hls.js was switched to", highest)
	}
	if assert.NotEmpty(t, r.Resolutions, "the video element never had a size") {
		assert.Equal(t, lowest, r.Resolutions[0].Height, "the height of the first frames on screen")
		assert.Equal(t, highest, r.Resolutions[len(r.Resolutions)-1].Height, "the height of the last frames on screen")
	}
}

// vodDetails renders what table does not show: the renditions, what was loaded and what was on screen.
func vodDetails(r *result) string {
	var b strings.Builder
	for _, l := range r.Levels {
		fmt.Fprintf(&b, "level %dx%d %d bit/s %.3g fps CODECS=%q RESOLUTION=%s\n", l.Width, l.Height, l.Bitrate, l.FrameRate, l.Codecs, l.Resolution)
	}
	fmt.Fprintf(&b, "fragments of heights %v; ", r.LevelsLoaded)
	if s := r.LevelSwitch; s != nil {
		fmt.Fprintf(&b, "switched to %dp (level %d) at %.0f ms, media %.3fs; ", s.Height, s.Level, s.AtMs, s.Media)
	}
	for _, rs := range r.Resolutions {
		fmt.Fprintf(&b, "%dx%d on screen at media %.3fs; ", rs.Width, rs.Height, rs.Media)
	}
	fmt.Fprintf(&b, "ended=%v at %.3fs, %d frames (%d dropped), %d seeks, %d playlists validated, playlist statuses %v",
		r.Ended, r.CurrentTime, r.Frames, r.DroppedFrames, r.Seeks, r.Playlists.Validated, r.Playlists.Statuses)
	return b.String()
}

// startVOD runs a real VOD service (vodtest's, with this package's credentials and a work directory of its
// own) and stops it at the end of the test.
func startVOD(t *testing.T) *vodtest.Server {
	t.Helper()
	return vodtest.Start(t, func(c *config.Config) {
		c.Manager.AdminToken, c.VOD.TokenSecret = adminToken, vodTokenSecret
		c.VOD.WorkDir = t.TempDir()
	})
}

// vodClip makes a 1280x720 H.264/AAC MP4 of vodSeconds at testutil.ClipFPS: a source tall enough for a
// ladder of three rungs.
func vodClip(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "clip.mp4")
	cmd := exec.Command("ffmpeg", "-v", "error", "-y",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=1280x720:rate=%d", testutil.ClipFPS),
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", fmt.Sprint(vodSeconds),
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "50",
		"-c:a", "aac", "-b:a", "128k", "-shortest", out)
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", b)
	return out
}

// upload sends the file over gRPC in 1 MiB chunks and returns the video's id.
func upload(ctx context.Context, t *testing.T, client vodv1.VideoServiceClient, file string, vis vodv1.Visibility) string {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	stream, err := client.Upload(ctx)
	require.NoError(t, err)
	start := &vodv1.UploadStart{Title: "Players", FileName: filepath.Base(file), Size: int64(len(data)), Visibility: vis}
	require.NoError(t, stream.Send(&vodv1.UploadRequest{Data: &vodv1.UploadRequest_Start{Start: start}}))
	for off := 0; off < len(data); off += 1 << 20 {
		chunk := data[off:min(off+1<<20, len(data))]
		require.NoError(t, stream.Send(&vodv1.UploadRequest{Data: &vodv1.UploadRequest_Chunk{Chunk: chunk}}))
	}
	res, err := stream.CloseAndRecv()
	require.NoError(t, err)
	require.True(t, res.Complete, "the upload is complete")
	return res.Video.Id
}

func status(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}
