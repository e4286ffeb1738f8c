package loadtest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/app/node"
	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/media/pubauth"
	"github.com/nagare-video/nagare/internal/media/stream"
	"github.com/nagare-video/nagare/internal/testutil"
)

// publishLive publishes a test stream at path (app/stream) to the node with an ffmpeg publisher and waits
// until it plays; it returns the stream's HLS entry on the node.
func publishLive(t *testing.T, n *node.Node, path string) string {
	t.Helper()
	p, err := stream.ParsePath(path)
	require.NoError(t, err)
	testutil.Publish(t, fmt.Sprintf("rtmp://%s/%s?token=%s", n.RTMPAddr(), path,
		pubauth.Sign([]byte(testutil.TokenSecret), p, time.Now().Add(time.Hour))), "flv")
	entry := "http://" + n.HTTPAddr() + "/" + path + "/index.m3u8"
	testutil.WaitLive(t, entry, 20*time.Second)
	return entry
}

// TestAudienceOnALiveStream plays a live stream of a real node (publishing a real ffmpeg) with a small
// audience, LL-HLS and classic HLS: every viewer starts, loads without an error, and measures a latency
// behind live; what the report sums up is what the viewers saw.
func TestAudienceOnALiveStream(t *testing.T) {
	testutil.RequireFFmpeg(t)
	for _, variant := range []string{"lowlatency", "fmp4"} {
		t.Run(variant, func(t *testing.T) {
			n, _ := testutil.StartNode(t, func(c *config.Config) { c.HLS.Variant = variant })
			entry := publishLive(t, n, "live/audience")

			rep, err := Run(context.Background(), Config{URL: entry, Viewers: 6, Ramp: time.Second, Hold: 8 * time.Second})
			require.NoError(t, err)
			tot := rep.Totals
			t.Logf("%+v", tot)
			assert.Equal(t, 6, tot.Viewers)
			assert.Equal(t, 6, tot.Started, "viewers that never started: %+v", rep.Viewers)
			assert.Zero(t, tot.Errors, "errors: %+v", rep.Viewers)
			assert.Positive(t, tot.LatencyP50Ms, "latency behind live")
			assert.Less(t, tot.LatencyP95Ms, 30_000.0, "latency behind live: the viewers are not following the live edge")
			assert.Less(t, tot.LongestStallMs, 5_000.0, "a viewer stuck for good")
			assert.Equal(t, 6*1, len(rep.Viewers))
			for _, v := range rep.Viewers {
				assert.Positive(t, v.Requests, "viewer %d", v.ID)
				assert.Positive(t, v.Bytes, "viewer %d", v.ID)
				assert.Equal(t, v.Requests, v.Hosts[n.HTTPAddr()], "viewer %d asked only the node", v.ID)
			}
			assert.NotEmpty(t, rep.Timeline, "one tick a second")
		})
	}
}

// TestAudienceAgainstGarbage points viewers at a server that answers nonsense: nobody starts, every
// failure is counted with its cause, and the run ends on time.
func TestAudienceAgainstGarbage(t *testing.T) {
	for name, h := range map[string]http.HandlerFunc{
		"not a playlist": func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "hello\n") },
		"500":            func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "boom", http.StatusInternalServerError) },
		"a variant nowhere": func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/live/x/index.m3u8" {
				fmt.Fprint(w, "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nmissing.m3u8\n")
				return
			}
			http.NotFound(w, r)
		},
		"a media playlist that never grows": func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprint(w, "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:5\n")
		},
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(h)
			defer srv.Close()
			rep, err := Run(context.Background(), Config{URL: srv.URL + "/live/x/index.m3u8", Viewers: 3, Hold: 2 * time.Second})
			require.NoError(t, err)
			assert.Zero(t, rep.Totals.Started)
			if name != "a media playlist that never grows" {
				assert.Positive(t, rep.Totals.Errors)
				for _, v := range rep.Viewers {
					assert.NotEmpty(t, v.LastError, "viewer %d", v.ID)
				}
			}
			assert.Less(t, rep.Duration, 10.0, "the run outlived its hold")
		})
	}
}

func TestRunRefuses(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{URL: "http://192.0.2.1/live/s/index.m3u8", Viewers: 1}, "-allow-remote"},
		{Config{URL: "ftp://127.0.0.1/x", Viewers: 1}, "http(s)"},
		{Config{URL: "http://127.0.0.1/live/s/index.m3u8", Viewers: 0}, "viewers"},
		{Config{URL: "http://127.0.0.1/live/s/index.m3u8", Viewers: 1, Hold: -time.Second}, "negative"},
	} {
		_, err := Run(context.Background(), tc.cfg)
		require.Error(t, err, "%+v", tc.cfg)
		assert.Contains(t, err.Error(), tc.want)
	}
	_, err := Run(context.Background(), Config{URL: "http://192.0.2.1/live/s/index.m3u8", Viewers: 1})
	assert.True(t, errors.Is(err, errRemote))
}
