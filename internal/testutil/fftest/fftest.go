// Package fftest holds the ffmpeg and ffprobe helpers of tests, for packages that cannot import testutil
// (testutil starts nodes, and nodes import the media packages).
package fftest

import (
	"bytes"
	"context"
	"os/exec"
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
