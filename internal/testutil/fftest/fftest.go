// Package fftest holds the ffmpeg and ffprobe helpers of tests, for packages that cannot import testutil
// (testutil starts nodes, and nodes import the media packages).
package fftest

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Require skips in -short mode and fails when ffmpeg or ffprobe is missing (scripts/deps.sh installs
// them; a silent skip would hide a broken CI).
func Require(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs ffmpeg (skipped with -short)")
	}
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: run scripts/deps.sh", tool)
		}
	}
}

// FrameSizes decodes the first video stream of url (a file or a playlist) and counts its frames by size
// ("640x360"). A decoding error fails the test.
func FrameSizes(t testing.TB, url string) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-select_streams", "v:0",
		"-show_entries", "frame=width,height", "-of", "csv=p=0", url)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "ffprobe %s: %s", url, stderr.String())
	require.Empty(t, stderr.String(), "decoding errors")
	sizes := map[string]int{}
	for _, line := range strings.Fields(string(out)) {
		f := strings.Split(line, ",") // a frame with side data has more fields
		require.GreaterOrEqual(t, len(f), 2, line)
		sizes[f[0]+"x"+f[1]]++
	}
	return sizes
}

// ClipFPS is the frame rate of EncodeClip's clips.
const ClipFPS = 25

// EncodeClip encodes frames of test pattern at w x h in codec ("h264" or "hevc"), 25 fps with a keyframe
// every second and no B-frames, with AAC audio, to an MPEG-TS file in a temporary directory of t.
func EncodeClip(t testing.TB, codec string, w, h, frames int) string {
	t.Helper()
	Require(t)
	video := []string{"-c:v", "libx264", "-preset", "veryfast", "-profile:v", "main", "-pix_fmt", "yuv420p",
		"-g", "25", "-keyint_min", "25", "-sc_threshold", "0", "-bf", "0"}
	if codec == "hevc" {
		video = []string{"-c:v", "libx265", "-preset", "ultrafast",
			"-x265-params", "keyint=25:min-keyint=25:scenecut=0:bframes=0:log-level=error"}
	}
	clip := filepath.Join(t.TempDir(), fmt.Sprintf("%s-%dx%d.ts", codec, w, h))
	args := []string{"-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=%d", w, h, ClipFPS),
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-frames:v", strconv.Itoa(frames),
		"-t", strconv.FormatFloat(float64(frames)/ClipFPS, 'f', 2, 64)}
	args = append(append(args, video...), "-c:a", "aac", "-b:a", "64k", "-ac", "2", "-f", "mpegts", clip)
	out, err := exec.Command("ffmpeg", args...).CombinedOutput()
	require.NoError(t, err, "encoding: %s", out)
	return clip
}
