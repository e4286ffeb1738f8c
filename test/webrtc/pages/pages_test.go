package pages

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/app/node"
	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/media/pubauth"
	"github.com/nagare-video/nagare/internal/media/stream"
	"github.com/nagare-video/nagare/internal/testutil"
	"github.com/nagare-video/nagare/internal/testutil/managertest"
)

const (
	streamName = "pages1"
	streamPath = "live/" + streamName

	startupTimeout   = 20 * time.Second
	playFor          = 5 * time.Second
	reconnectTimeout = 40 * time.Second // a stall is noticed after 10 s, then the backoff (up to 15 s)
)

type report struct {
	testutil.PageRun
	Publisher   *testutil.PageState `json:"publisher"`
	RTC         *testutil.PageState `json:"rtc"`
	HLS         *testutil.PageState `json:"hls"`
	Stopped     *testutil.PageState `json:"stopped"`
	RTCGone     *testutil.PageState `json:"rtcGone"`
	Republished *testutil.PageState `json:"republished"`
	RTCBack     *testutil.PageState `json:"rtcBack"`
}

// TestPublishAndPlayInChromium is the walk-through's last step in a browser: the manager's publisher page
// publishes Chromium's fake camera and microphone with WHIP (the manager answers 307 to the origin, the
// page follows it with its offer and its token), the subscriber page plays it with WHEP (frames on screen,
// audio samples received) and with hls.js (the manager's 302 to the node); the publisher's Stop ends its
// session with DELETE, and the WHEP subscriber, left waiting, plays again on its own once the publisher is
// back.
func TestPublishAndPlayInChromium(t *testing.T) {
	requireChromium(t)
	mgr, origin, logs := startCluster(t)
	sp, err := stream.ParsePath(streamPath)
	require.NoError(t, err)
	token := pubauth.Sign([]byte(testutil.TokenSecret), sp, time.Now().Add(time.Hour))
	r := drive(t, map[string]any{
		"manager": mgr, "app": "live", "stream": streamName, "token": token,
		"startupTimeoutMs": startupTimeout.Milliseconds(), "playMs": playFor.Milliseconds(),
		"reconnectTimeoutMs": reconnectTimeout.Milliseconds(),
	})
	r.Check(t)
	node := origin.HTTPAddr()

	pub := r.Publisher
	require.NotNil(t, pub)
	t.Logf("publisher:\n%s", pub.Log())
	require.Equal(t, "Publish.Start", pub.State, "publisher: %s", pub.Error)
	assert.Equal(t, node, pub.Node, "the node the manager's 307 led to")
	logs.WaitFor(t, "publishing", 10*time.Second)

	checkWHEP(t, r.RTC, node, "video/H264")
	require.NotNil(t, r.HLS)
	t.Logf("hls.js subscriber:\n%s", r.HLS.Log())
	if assert.Equal(t, "Subscribe.Start", r.HLS.State, "hls.js subscriber: %s", r.HLS.Error) {
		assert.Equal(t, node, r.HLS.Node, "the node the manager's 302 led to")
		assert.Greater(t, r.HLS.FramesRendered-r.HLS.FramesAtStart, int(playFor.Seconds()*5), "frames rendered in %s", playFor)
		// Chromium sends a keyframe only when asked (or when it changes the picture size): the segmenter
		// asks once a segment has its duration (1 s by default), so that segments end
		if assert.NotNil(t, r.HLS.Segments) {
			assert.GreaterOrEqual(t, *r.HLS.Segments, int(playFor.Seconds())-1, "complete segments after %s of play", playFor)
		}
	}

	// Stop ends the WHIP session with DELETE at the node
	require.NotNil(t, r.Stopped)
	assert.Equal(t, "Publish.Unpublish.Success", r.Stopped.State)
	var deleted []string
	for _, e := range r.Stopped.Events {
		if e.Type == "HTTP.Deleted" {
			deleted = append(deleted, e.Detail)
		}
	}
	assert.Equal(t, []string{"200"}, deleted, "the DELETE of the WHIP session")

	// the WHEP subscriber noticed, and came back with the publisher without anyone touching it
	require.NotNil(t, r.RTCGone)
	t.Logf("WHEP subscriber across the publisher's restart:\n%s", r.RTCBack.Log())
	assert.Positive(t, r.RTCGone.Count("Subscribe.Fail"), "the WHEP subscriber never noticed the stream had gone")
	require.NotNil(t, r.Republished)
	assert.Equal(t, "Publish.Start", r.Republished.State, "publisher after Start: %s", r.Republished.Error)
	assert.GreaterOrEqual(t, r.RTCBack.Count("Subscribe.Start"), 2, "the WHEP subscriber did not play again: %s", r.RTCBack.Error)
}

// TestRTMPPlaysInChromiumOverWHEP: an RTMP publication (H.264 + AAC) plays in the subscriber page over
// WHEP, with sound (the AAC turned into Opus).
func TestRTMPPlaysInChromiumOverWHEP(t *testing.T) {
	requireChromium(t)
	mgr, origin, _ := startCluster(t)
	sp, err := stream.ParsePath(streamPath)
	require.NoError(t, err)
	token := pubauth.Sign([]byte(testutil.TokenSecret), sp, time.Now().Add(time.Hour))
	testutil.Publish(t, "rtmp://"+origin.RTMPAddr()+"/"+streamPath+"?token="+token, "flv")
	testutil.WaitLive(t, "http://"+origin.HTTPAddr()+"/"+streamPath+"/index.m3u8", 20*time.Second)
	r := drive(t, map[string]any{
		"manager": mgr, "app": "live", "stream": streamName, "subscribeOnly": true,
		"startupTimeoutMs": startupTimeout.Milliseconds(), "playMs": playFor.Milliseconds(),
	})
	r.Check(t)
	checkWHEP(t, r.RTC, origin.HTTPAddr(), "video/H264")
}

// checkWHEP asserts the WHEP subscriber page played: frames on screen, the codec, audio samples.
func checkWHEP(t *testing.T, s *testutil.PageState, node, codec string) {
	t.Helper()
	require.NotNil(t, s)
	t.Logf("WHEP subscriber:\n%s", s.Log())
	if assert.Equal(t, "Subscribe.Start", s.State, "WHEP subscriber: %s", s.Error) {
		assert.Equal(t, node, s.Node)
		// the source sends 30 fps at best; a loaded 2-core machine still shows a few a second
		assert.Greater(t, s.FramesRendered-s.FramesAtStart, int(playFor.Seconds()*5), "frames rendered in %s", playFor)
		require.NotNil(t, s.Inbound, "inbound-rtp statistics")
		assert.Positive(t, s.Inbound["audio"].TotalSamplesReceived, "audio samples received")
		assert.Equal(t, codec, s.Inbound["video"].Codec)
		assert.Positive(t, s.Inbound["video"].FramesDecoded)
	}
}

// startCluster runs a manager and an origin in its service.
func startCluster(t *testing.T) (mgr string, origin *node.Node, logs *testutil.LogBuffer) {
	t.Helper()
	mgr, _ = managertest.Start(t, func(c *config.Config) {
		c.Manager.ReportInterval, c.Manager.NodeTimeout = time.Second, 5*time.Second
	})
	origin, logs = testutil.StartNode(t, func(c *config.Config) {
		c.Cluster.ManagerURL, c.Cluster.Secret, c.Cluster.NodeID = mgr, managertest.ClusterSecret, "pages-origin"
	})
	// the origin is in service: the manager routes publishers to it
	managertest.WaitOrigin(t, mgr, streamPath)
	return mgr, origin, logs
}

// requireChromium skips under -short and fails without ffmpeg (the origin's HLS muxing of a WebRTC
// publication) or without what scripts/deps.sh players installs.
func requireChromium(t *testing.T) {
	t.Helper()
	testutil.RequireFFmpeg(t)
	testutil.RequireChromium(t)
}

// drive runs run.mjs with cfg and returns what it reports.
func drive(t *testing.T, cfg map[string]any) report {
	t.Helper()
	var r report
	testutil.DriveBrowser(t, "test/webrtc/pages/run.mjs", 3*startupTimeout+2*playFor+2*reconnectTimeout+60*time.Second, cfg, &r)
	return r
}
