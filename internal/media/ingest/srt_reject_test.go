package ingest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/media/mediametrics"
	"github.com/nagare-video/nagare/internal/media/pubauth"
	"github.com/nagare-video/nagare/internal/media/stream"
)

// buildSRTClient compiles testdata/srtreject.c against libsrt (Debian's libsrt-openssl-dev), the library
// srt-live-transmit, ffmpeg and OBS dial with, so that the test sees the reason exactly as they do.
func buildSRTClient(t *testing.T) string {
	t.Helper()
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Skip("no C compiler to build the libsrt client")
	}
	bin := filepath.Join(t.TempDir(), "srtreject")
	out, err := exec.Command(cc, "-o", bin, filepath.Join("testdata", "srtreject.c"), "-lsrt").CombinedOutput()
	if err != nil && (strings.Contains(string(out), "srt/srt.h") || strings.Contains(string(out), "-lsrt")) {
		t.Skipf("libsrt is not installed (apt-get install libsrt-openssl-dev): %s", out)
	}
	require.NoError(t, err, "building the libsrt client:\n%s", out)
	return bin
}

// TestSRTRefusalsSayWhy dials nagare's SRT listener with libsrt and checks the rejection reason libsrt
// reports for every kind of refusal. Before, gosrt put the bare access-control code on the wire, which
// libsrt read as "Unknown or erroneous" (reason 401, not 1401), and publishers retried forever.
func TestSRTRefusalsSayWhy(t *testing.T) {
	client := buildSRTClient(t)

	reg := &stream.Registry{}
	busy, err := stream.ParsePath("live/busy")
	require.NoError(t, err)
	_, err = reg.Publish(stream.PublishRequest{Path: busy, Tracks: []*stream.Track{{Codec: &stream.H264{}}}, Protocol: "rtmp", Close: func() {}})
	require.NoError(t, err)

	s := &SRTServer{
		Address:  "127.0.0.1:0",
		Registry: reg,
		Auth:     &pubauth.Authorizer{Keys: map[string]string{"live/s": "right", "live/busy": "busykey"}},
		Metrics:  mediametrics.New(),
		Log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	require.NoError(t, s.Listen())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	host, port, err := net.SplitHostPort(s.Addr().String())
	require.NoError(t, err)

	for _, tc := range []struct {
		name, streamID, want string
	}{
		{"no key", "publish:live/s", "rejected 1401"},
		{"no key, access-control form", "#!::r=live/s,m=publish", "rejected 1401"},
		{"wrong key", "publish:live/s?key=wrong", "rejected 1403"},
		{"wrong key, access-control form", "#!::r=live/s,m=publish,key=wrong", "rejected 1403"},
		{"bad token", "publish:live/s?token=v1.1.AAAA", "rejected 1403"},
		{"hostile name", "publish:../../etc/passwd?key=right", "rejected 1400"},
		{"malformed stream id", "garbage", "rejected 1400"},
		{"no stream id", "#!::m=publish", "rejected 1400"},
		{"play mode", "#!::r=live/s,m=request", "rejected 1405"},
		{"read mode", "read:live/s", "rejected 1405"},
		{"name already published", "publish:live/busy?key=busykey", "rejected 1409"},
		// the right key is let in: the client and the server agree on what a refusal is
		{"right key", "publish:live/s?key=right", "connected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := exec.Command(client, host, port, tc.streamID).CombinedOutput()
			require.NoError(t, err, "%s", out)
			got := strings.TrimSpace(string(out))
			if tc.want == "connected" {
				require.Equal(t, "connected", got)
				return
			}
			require.True(t, strings.HasPrefix(got, tc.want+" "), "libsrt reported %q, want %q", got, tc.want)
			require.NotContains(t, got, "Unknown or erroneous")
		})
	}
}
