package e2e

import (
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/media/pubauth"
	"github.com/nagare-video/nagare/internal/media/stream"
	"github.com/nagare-video/nagare/internal/testutil"
)

// TestTranscoderWalkthrough is the walk-through with a transcoder role: the process cloud controller
// launches the group's origin, edge and transcoder as real `nagare node` processes; a stream provisioned
// with Red5's event/meta call and published through the broadcast call is given to the transcoder, whose
// renditions the edge serves beside the source; the transcoder killed with -9 is replaced, and the
// renditions come back from the new one.
func TestTranscoderWalkthrough(t *testing.T) {
	c := startGroup(t, groupOptions{transcoders: true})
	sm, q := c.sm, c.q
	transcoder1 := c.nodesIn("transcoder", "inservice")[0]["identifier"].(string)

	provision := `{"meta": {"stream": [
		{"name": "stream1_1", "level": 1, "properties": {"videoBR": 200000, "videoWidth": 240, "videoHeight": 180}},
		{"name": "stream1_2", "level": 2, "properties": {"videoBR": 100000, "videoWidth": 160, "videoHeight": 120}}]}}`
	require.Equal(t, http.StatusOK, call(t, "POST", sm+"/admin/event/meta/live/stream1"+q, provision, nil))

	var ev map[string]any
	require.Equal(t, http.StatusOK, call(t, "GET", sm+"/event/live/stream1?action=broadcast&transcode=true", "", &ev))
	tok := pubauth.Sign([]byte(publishSecret), stream.Path{App: "live", Name: "stream1"}, time.Now().Add(time.Hour))
	testutil.Publish(t, ev["rtmpUrl"].(string)+"?token="+tok, "flv")

	var sub map[string]any
	require.Equal(t, http.StatusOK, call(t, "GET", sm+"/event/live/stream1?action=subscribe", "", &sub))
	hls := sub["hlsUrl"].(string)
	renditions := func() []string {
		code, body := testutil.Get(t, hls)
		if code != http.StatusOK {
			return nil
		}
		return testutil.Renditions(body)
	}
	ladder := func() bool {
		r := renditions() // the source's video, two rungs and the audio rendition they share
		if len(r) != 4 {
			return false
		}
		for _, u := range r {
			code, body := testutil.Get(t, testutil.Resolve(t, hls, u))
			if code != http.StatusOK || !strings.Contains(string(body), "#EXT-X-PART:") {
				return false
			}
		}
		return true
	}
	require.Eventually(t, ladder, 60*time.Second, 250*time.Millisecond, "the edge never served the ladder: %v", renditions())
	require.Contains(t, strings.Join(renditions(), " "), "../stream1_2/video1_stream.m3u8")

	// kill -9 of the transcoder: it is replaced, and the ladder comes back from the new one
	var insts []instance
	require.True(t, callAuth(t, c.base+"/api/v1/instances", &insts))
	pid := 0
	for _, in := range insts {
		if in.NodeID == transcoder1 && in.State == "running" {
			pid, _ = strconv.Atoi(in.ID)
		}
	}
	require.NotZero(t, pid, "%+v", insts)
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	require.Eventually(t, func() bool { return c.has("replace", "transcoder") }, 30*time.Second, 250*time.Millisecond,
		"the killed transcoder was not replaced: %+v", c.events())
	require.Eventually(t, func() bool {
		in := c.nodesIn("transcoder", "inservice")
		for _, n := range in {
			if n["identifier"] == transcoder1 {
				return false
			}
		}
		// (the predictive autoscaler may have added a second transcoder for the trend of the load)
		return len(in) >= 1
	}, 60*time.Second, 250*time.Millisecond, "the replacement never entered service")
	require.Eventually(t, ladder, 60*time.Second, 250*time.Millisecond, "the ladder never came back: %v", renditions())
}
