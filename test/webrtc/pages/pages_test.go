package pages

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
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
	chromium   = "/usr/bin/chromium" // Debian's; a browser is never downloaded
	streamName = "pages1"
	streamPath = "live/" + streamName

	startupTimeout   = 20 * time.Second
	playFor          = 5 * time.Second
	reconnectTimeout = 40 * time.Second // a stall is noticed after 10 s, then the backoff (up to 15 s)
)

// event is one line of a page's log (window.nagare.events).
type event struct {
	Ms     int    `json:"ms"`
	Type   string `json:"type"`
	Detail string `json:"detail"`
}

// snapshot is what a page's window.nagare showed.
type snapshot struct {
	Missing         bool    `json:"missing"`
	State           string  `json:"state"`
	Node            string  `json:"node"`
	Error           string  `json:"error"`
	FramesRendered  int     `json:"framesRendered"`
	FramesAtStart   int     `json:"framesAtStart"`
	StartupMs       *int    `json:"startupMs"`
	ConnectionState string  `json:"connectionState"`
	Events          []event `json:"events"`
	Inbound         map[string]struct {
		Codec                string `json:"codec"`
		PacketsReceived      int    `json:"packetsReceived"`
		FramesDecoded        int    `json:"framesDecoded"`
		TotalSamplesReceived int    `json:"totalSamplesReceived"`
	} `json:"inbound"`
}

func (s *snapshot) count(typ string) int {
	n := 0
	for _, e := range s.Events {
		if e.Type == typ {
			n++
		}
	}
	return n
}

func (s *snapshot) log() string {
	var b strings.Builder
	for _, e := range s.Events {
		fmt.Fprintf(&b, "  +%6dms %s %s\n", e.Ms, e.Type, e.Detail)
	}
	return b.String()
}

type report struct {
	Browser     string    `json:"browser"`
	DriverError string    `json:"driverError"`
	Publisher   *snapshot `json:"publisher"`
	RTC         *snapshot `json:"rtc"`
	HLS         *snapshot `json:"hls"`
	Stopped     *snapshot `json:"stopped"`
	RTCGone     *snapshot `json:"rtcGone"`
	Republished *snapshot `json:"republished"`
	RTCBack     *snapshot `json:"rtcBack"`
	Pages       []struct {
		Name           string           `json:"name"`
		PageStatus     int              `json:"pageStatus"`
		CSP            string           `json:"csp"`
		ConsoleErrors  []string         `json:"consoleErrors"`
		RequestsFailed []map[string]any `json:"requestsFailed"`
		Responses      []map[string]any `json:"responses"`
	} `json:"pages"`
}

// TestPublishAndPlayInChromium is the walk-through's last step in a browser: the manager's publisher page
// publishes Chromium's fake camera and microphone with WHIP (the manager answers 307 to the origin, the
// page follows it with its offer and its token), the subscriber page plays it with WHEP (frames on screen,
// audio samples received) and with hls.js (the manager's 302 to the node); the publisher's Stop ends its
// session with DELETE, and the WHEP subscriber, left waiting, plays again on its own once the publisher is
// back.
func TestPublishAndPlayInChromium(t *testing.T) {
	root, modules := requireChromium(t)
	mgr, origin, logs := startCluster(t)
	sp, err := stream.ParsePath(streamPath)
	require.NoError(t, err)
	token := pubauth.Sign([]byte(testutil.TokenSecret), sp, time.Now().Add(time.Hour))
	r := drive(t, root, modules, map[string]any{
		"manager": mgr, "app": "live", "stream": streamName, "token": token,
		"startupTimeoutMs": startupTimeout.Milliseconds(), "playMs": playFor.Milliseconds(),
		"reconnectTimeoutMs": reconnectTimeout.Milliseconds(),
	})
	checkPages(t, r)
	node := origin.HTTPAddr()

	pub := r.Publisher
	require.NotNil(t, pub)
	t.Logf("publisher:\n%s", pub.log())
	require.Equal(t, "Publish.Start", pub.State, "publisher: %s", pub.Error)
	assert.Equal(t, node, pub.Node, "the node the manager's 307 led to")
	logs.WaitFor(t, "publishing", 10*time.Second)

	checkWHEP(t, r.RTC, node, "video/H264")
	require.NotNil(t, r.HLS)
	t.Logf("hls.js subscriber:\n%s", r.HLS.log())
	if assert.Equal(t, "Subscribe.Start", r.HLS.State, "hls.js subscriber: %s", r.HLS.Error) {
		assert.Equal(t, node, r.HLS.Node, "the node the manager's 302 led to")
		assert.Greater(t, r.HLS.FramesRendered-r.HLS.FramesAtStart, int(playFor.Seconds()*5), "frames rendered in %s", playFor)
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
	t.Logf("WHEP subscriber across the publisher's restart:\n%s", r.RTCBack.log())
	assert.Positive(t, r.RTCGone.count("Subscribe.Fail"), "the WHEP subscriber never noticed the stream had gone")
	require.NotNil(t, r.Republished)
	assert.Equal(t, "Publish.Start", r.Republished.State, "publisher after Start: %s", r.Republished.Error)
	assert.GreaterOrEqual(t, r.RTCBack.count("Subscribe.Start"), 2, "the WHEP subscriber did not play again: %s", r.RTCBack.Error)
}

// TestRTMPPlaysInChromiumOverWHEP: an RTMP publication (H.264 + AAC) plays in the subscriber page over
// WHEP, with sound (the AAC turned into Opus).
func TestRTMPPlaysInChromiumOverWHEP(t *testing.T) {
	root, modules := requireChromium(t)
	mgr, origin, _ := startCluster(t)
	sp, err := stream.ParsePath(streamPath)
	require.NoError(t, err)
	token := pubauth.Sign([]byte(testutil.TokenSecret), sp, time.Now().Add(time.Hour))
	testutil.Publish(t, "rtmp://"+origin.RTMPAddr()+"/"+streamPath+"?token="+token, "flv")
	testutil.WaitLive(t, "http://"+origin.HTTPAddr()+"/"+streamPath+"/index.m3u8", 20*time.Second)
	r := drive(t, root, modules, map[string]any{
		"manager": mgr, "app": "live", "stream": streamName, "subscribeOnly": true,
		"startupTimeoutMs": startupTimeout.Milliseconds(), "playMs": playFor.Milliseconds(),
	})
	checkPages(t, r)
	checkWHEP(t, r.RTC, origin.HTTPAddr(), "video/H264")
}

// checkWHEP asserts the WHEP subscriber page played: frames on screen, the codec, audio samples.
func checkWHEP(t *testing.T, s *snapshot, node, codec string) {
	t.Helper()
	require.NotNil(t, s)
	t.Logf("WHEP subscriber:\n%s", s.log())
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

// checkPages asserts what every page must show: served 200 with its CSP, no console error but the
// browser's own line for each non-2xx answer.
func checkPages(t *testing.T, r report) {
	t.Helper()
	t.Logf("Chromium %s", r.Browser)
	for _, p := range r.Pages {
		assert.Equal(t, http.StatusOK, p.PageStatus, "%s page", p.Name)
		assert.Contains(t, p.CSP, "script-src 'self'", "%s page", p.Name)
		var errs []string
		for _, e := range p.ConsoleErrors {
			// the browser's line for each answer other than 2xx: the 401 of the node that lost the token in
			// the cross-origin redirect, the 404s and 503s of a stream that is gone; the pages' events
			// show them, and the checks below what came of them
			if !strings.HasPrefix(e, "Failed to load resource: the server responded with a status of") {
				errs = append(errs, e)
			}
		}
		assert.Empty(t, errs, "%s: console errors", p.Name)
		t.Logf("%s: fetches %v", p.Name, p.Responses)
	}
	require.Empty(t, r.DriverError)
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
	require.Eventually(t, func() bool {
		res, err := http.Get(mgr + "/api/v1/route/publish/" + streamPath)
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	}, 20*time.Second, 100*time.Millisecond, "the manager never put the origin in service")
	return mgr, origin, logs
}

// requireChromium skips under -short and fails without what scripts/deps.sh players installs (Chromium,
// node and playwright-core); it returns the module root and the players' node_modules.
func requireChromium(t *testing.T) (root, modules string) {
	t.Helper()
	testutil.RequireFFmpeg(t) // the origin's HLS muxing of a WebRTC publication; skips under -short
	root = testutil.RepoRoot(t)
	modules = filepath.Join(root, ".cache", "players", "node_modules")
	for _, need := range []string{chromium, filepath.Join(modules, "playwright-core")} {
		_, err := os.Stat(need)
		require.NoError(t, err, "scripts/deps.sh players installs it")
	}
	_, err := exec.LookPath("node")
	require.NoError(t, err, "scripts/deps.sh players installs node")
	return root, modules
}

// drive runs run.mjs with cfg (plus Chromium's and the packages' paths) and returns what it reports.
func drive(t *testing.T, root, modules string, cfg map[string]any) report {
	t.Helper()
	cfg["executablePath"], cfg["nodeModules"] = chromium, modules
	js, err := json.Marshal(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 3*startupTimeout+2*playFor+2*reconnectTimeout+60*time.Second)
	defer cancel()
	start := time.Now()
	cmd := exec.CommandContext(ctx, "node", filepath.Join(root, "test", "webrtc", "pages", "run.mjs"), string(js))
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) } // playwright closes the browser
	cmd.WaitDelay = 10 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	t.Logf("driver ran %s:\n%s", time.Since(start).Round(time.Second), stderr.String())
	require.NoError(t, err, "run.mjs")
	var r report
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	require.NoError(t, json.Unmarshal([]byte(lines[len(lines)-1]), &r), "run.mjs output: %s", stdout.String())
	return r
}
