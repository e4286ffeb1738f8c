package node_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/testutil"
	"github.com/nagare-video/nagare/internal/testutil/fftest"
)

// TestResolutionChangeMidStream: a publisher whose encoder changes resolution without reconnecting. The
// node starts a new init section behind a discontinuity; the bucket's playlists only ever name objects
// that are there (both init sections); the recording plays through the change with every frame of both
// halves decoded.
func TestResolutionChangeMidStream(t *testing.T) {
	testutil.RequireFFmpeg(t)
	dir := t.TempDir()
	var list strings.Builder
	for _, size := range [][2]int{{320, 240}, {640, 360}} {
		fmt.Fprintf(&list, "file '%s'\n", fftest.EncodeClip(t, "h264", size[0], size[1], 4*fftest.ClipFPS))
	}
	listFile := filepath.Join(dir, "list.txt")
	require.NoError(t, os.WriteFile(listFile, []byte(list.String()), 0o644))

	var b bucket
	n, _ := testutil.StartNode(t, func(cfg *config.Config) {
		pushConfig(cfg)
		b = localBucket(t, cfg)
	})
	prefix := "hls/live/resize"
	stopWatch := watchBucket(t, b, prefix)
	// the concat demuxer keeps the timestamps running; the second clip's new SPS/PPS arrive in-band
	pub := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-f", "concat", "-safe", "0",
		"-i", listFile, "-c", "copy", "-f", "flv", rtmpURL(n, "live/resize"))
	out := &testutil.LogBuffer{}
	pub.Stdout, pub.Stderr = out, out
	require.NoError(t, pub.Start())
	t.Cleanup(func() { _ = pub.Process.Kill(); _ = pub.Wait() })

	// the node's own playlist marks the change
	media := strings.Replace(hlsURL(n, "live/resize"), "index.m3u8", "video1_stream.m3u8", 1)
	require.Eventually(t, func() bool {
		_, body := testutil.Get(t, media)
		return strings.Contains(string(body), "#EXT-X-DISCONTINUITY\n")
	}, 30*time.Second, 100*time.Millisecond, "no discontinuity at the resolution change")
	_, body := testutil.Get(t, media)
	inits := testutil.ParseMediaPlaylist(body).Inits
	require.Len(t, inits, 2, "%s", body)
	for _, init := range inits {
		code, _ := testutil.Get(t, testutil.Resolve(t, media, init))
		require.Equal(t, 200, code, init)
	}

	require.NoError(t, pub.Wait(), "%s", out.String())
	m := waitManifest(t, b, prefix, 20*time.Second, false)
	violations, checked := stopWatch()
	require.Empty(t, violations, "the bucket's playlist named objects that were not there")
	require.Positive(t, checked)
	require.Empty(t, m.MP4, "one MP4 holds one init section")
	_, vod := testutil.Get(t, b.baseURL+"/"+m.Playlist)
	require.Equal(t, 1, strings.Count(string(vod), "#EXT-X-DISCONTINUITY\n"), "%s", vod)
	require.Len(t, testutil.ParseMediaPlaylist(vod).Inits, 2, "%s", vod)

	count := fftest.FrameSizes(t, b.baseURL+"/"+m.Playlist)
	// each half is 4 s at 25 fps; the recording leaves out what precedes the first keyframe and follows
	// the last complete segment
	require.InDelta(t, 100, count["320x240"], 30, "%v", count)
	require.InDelta(t, 100, count["640x360"], 30, "%v", count)
	require.Len(t, count, 2, "%v", count)
}
