package node_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/manager/api/apitypes"
	"github.com/nagare-video/nagare/internal/media/stream"
	"github.com/nagare-video/nagare/internal/nodeapi"
	"github.com/nagare-video/nagare/internal/testutil"
	"github.com/nagare-video/nagare/internal/testutil/managertest"
)

// call sends one request with a Bearer token and returns the answer's status and body.
func call(t *testing.T, method, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// liveStream returns the manager's view of a live stream (GET /api/v1/streams), false when it does not
// list it.
func liveStream(t *testing.T, mgr, name string) (apitypes.Stream, bool) {
	t.Helper()
	code, body := call(t, http.MethodGet, mgr+"/api/v1/streams", managertest.AdminToken)
	require.Equal(t, http.StatusOK, code, body)
	var ss []apitypes.Stream
	require.NoError(t, json.Unmarshal([]byte(body), &ss), body)
	for _, s := range ss {
		if s.Name == name {
			return s, true
		}
	}
	return apitypes.Stream{}, false
}

// TestStopPublisherOnTheNode: the publisher endpoint takes only the cluster secret, closes a live RTMP
// publisher's connection (ffmpeg sees it and exits) with a log line naming the cause, answers once the
// stream has ended, and knows no stream that is not live; the publisher may come back.
func TestStopPublisherOnTheNode(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	const secret = "stop-cluster-secret-0123456789"
	origin, logs := testutil.StartNode(t, func(c *config.Config) { c.Cluster.Secret = secret })
	p := stream.Path{App: "live", Name: "stop"}
	pub := testutil.Publish(t, rtmpURL(origin, p.String()), "flv")
	require.Eventually(t, func() bool { return origin.Registry().Get(p) != nil }, 15*time.Second, 20*time.Millisecond)

	url := "http://" + origin.HTTPAddr() + nodeapi.PathPublishers
	for _, tc := range []struct {
		name, stream, token string
		status              int
		msg                 string
	}{
		{"no token", "live/stop", "", http.StatusUnauthorized, "missing bearer token"},
		{"wrong secret", "live/stop", "not-the-cluster-secret-0123", http.StatusForbidden, "wrong token"},
		{"not live", "live/other", secret, http.StatusNotFound, "stream live/other is not published on this node"},
		{"hostile name", "live/a.b", secret, http.StatusBadRequest, ""},
	} {
		code, body := call(t, http.MethodDelete, url+tc.stream, tc.token)
		require.Equal(t, tc.status, code, "%s: %s", tc.name, body)
		require.Contains(t, body, tc.msg, tc.name)
	}
	require.NotNil(t, origin.Registry().Get(p), "a refused call stopped the publisher")

	code, body := call(t, http.MethodDelete, url+p.String(), secret)
	require.Equal(t, http.StatusNoContent, code, body)
	require.Nil(t, origin.Registry().Get(p), "the stream has ended when the answer comes")
	require.Contains(t, logs.String(), `msg="publisher stopped" stream=live/stop protocol=rtmp`)
	require.Contains(t, logs.String(), `cause="stopped by the operator"`)
	exited, out := pub.Exited(10 * time.Second)
	require.True(t, exited, "ffmpeg still publishes after its connection was closed: %s", out)

	code, _ = call(t, http.MethodDelete, url+p.String(), secret)
	require.Equal(t, http.StatusNotFound, code, "stopped: no longer live")
	testutil.Publish(t, rtmpURL(origin, p.String()), "flv")
	require.Eventually(t, func() bool { return origin.Registry().Get(p) != nil }, 15*time.Second, 20*time.Millisecond,
		"the publisher could not publish again with its credentials")
}

// TestStreamsInTheConsole: an origin and an edge report what the operator console shows of a stream
// published to the origin over RTMP (its codecs, picture size and bit rate, whether it is recorded, its
// viewers by protocol and by edge), the manager's GET /api/v1/streams gives it, and the manager's
// DELETE /api/v1/streams/{app}/{stream}/publisher stops the publisher on the origin.
func TestStreamsInTheConsole(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	mgr, _ := managertest.Start(t, func(c *config.Config) { c.Manager.ReportInterval = time.Second })
	join := func(c *config.Config, id string) {
		c.Cluster.ManagerURL, c.Cluster.Secret, c.Cluster.NodeID = mgr, managertest.ClusterSecret, id
	}
	origin, originLogs := testutil.StartNode(t, func(c *config.Config) {
		join(c, "console-origin")
		c.Storage = config.Storage{Backend: "local", Directory: t.TempDir()} // where the recording goes
	})
	edge, _ := testutil.StartNode(t, func(c *config.Config) {
		testutil.EdgeOf("edge", origin)(c)
		join(c, "console-edge")
	})
	const name = "live/console"
	pub := testutil.Publish(t, rtmpURL(origin, name), "flv")
	require.Eventually(t, func() bool { // once the origin is in service
		code, _ := call(t, http.MethodPut, mgr+"/api/v1/streams/"+name+"/recording", managertest.AdminToken)
		return code == http.StatusOK
	}, 15*time.Second, 100*time.Millisecond, "the origin never took the recording command")

	// live at the origin first: the edge remembers a 404
	testutil.ReadSegments(t, "http://"+origin.HTTPAddr()+"/"+name+"/video1_stream.m3u8", 2, 20*time.Second)
	viewer(t, "http://"+edge.HTTPAddr(), name) // one HLS viewer on the edge, for the session timeout (10 s)
	var s apitypes.Stream
	require.Eventually(t, func() bool {
		var ok bool
		s, ok = liveStream(t, mgr, name)
		return ok && s.Codecs != "" && s.Bitrate > 0 && s.Recording != nil && *s.Recording && len(s.Edges) == 1
	}, 8*time.Second, 200*time.Millisecond, "the manager never showed the stream's details")
	t.Logf("the manager shows %+v, viewers %+v", s, *s.Viewers)
	require.Equal(t, "console-origin", s.NodeID)
	require.Equal(t, "rtmp", s.Protocol)
	require.Regexp(t, `^avc1\.4d[0-9a-f]{4},mp4a\.40\.2$`, s.Codecs, "H.264 Main and AAC-LC, as the clip is encoded")
	require.Equal(t, testutil.ClipWidth, s.Width)
	require.Equal(t, testutil.ClipHeight, s.Height)
	// the clip is 300 kbit/s of video and 64 kbit/s of audio
	require.InDelta(t, 364_000, s.Bitrate, 250_000, "bit rate %d", s.Bitrate)
	require.Empty(t, s.Renditions, "no ladder")
	require.Equal(t, "console-edge", s.Edges[0].NodeID)
	require.Equal(t, 1, s.Edges[0].HLS)
	require.Zero(t, s.Edges[0].WebRTC)
	require.NotNil(t, s.Viewers)
	require.GreaterOrEqual(t, s.Viewers.HLS, 1, "the edge's viewer, summed with the origin's (the edge's pulls are not viewers)")

	// the operator stops the publisher: the origin closes its connection, ffmpeg exits
	stop := mgr + "/api/v1/streams/" + name + "/publisher"
	code, body := call(t, http.MethodDelete, stop, managertest.AdminToken)
	require.Equal(t, http.StatusNoContent, code, body)
	require.Contains(t, originLogs.String(), `cause="stopped by the operator"`)
	exited, out := pub.Exited(10 * time.Second)
	require.True(t, exited, "ffmpeg still publishes: %s", out)
	require.Eventually(t, func() bool { _, ok := liveStream(t, mgr, name); return !ok }, 10*time.Second, 100*time.Millisecond,
		"the stream stayed in the manager's list")
	code, body = call(t, http.MethodDelete, stop, managertest.AdminToken)
	require.Equal(t, http.StatusNotFound, code, body)
	require.True(t, strings.HasPrefix(body, "{"), "a JSON error: %s", body)
	code, _ = call(t, http.MethodDelete, stop, "")
	require.Equal(t, http.StatusUnauthorized, code)
}
