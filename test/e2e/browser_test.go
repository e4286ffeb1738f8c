package e2e

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/media/pubauth"
	"github.com/nagare-video/nagare/internal/media/stream"
	"github.com/nagare-video/nagare/internal/testutil"
)

// TestWebRTCWalkthroughInChromium is TestWebRTCWalkthrough in a browser, with the manager's own pages:
// the publisher page publishes Chromium's fake camera and microphone through the manager to the origin;
// subscriber page 1 plays on edge 1 (capacity 1); subscriber page 2 is answered 503 while the autoscaler
// launches edge 2, retries on its own (after the Retry-After), and plays there; both keep playing, with
// sound. The driver holds subscriber 2's first offer until the manager has no room for a viewer: edge 2
// boots in about a second, so an offer sent a page load later might never see the 503.
func TestWebRTCWalkthroughInChromium(t *testing.T) {
	testutil.RequireChromium(t)
	c := startScalingGroup(t)
	tok := pubauth.Sign([]byte(publishSecret), stream.Path{App: "live", Name: "stream1"}, time.Now().Add(time.Hour))
	const playFor = 5 * time.Second
	var r struct {
		testutil.PageRun
		Publisher    *testutil.PageState `json:"publisher"`
		RTC1         *testutil.PageState `json:"rtc1"`
		RTC2         *testutil.PageState `json:"rtc2"`
		RouteRefused *struct {
			RetryAfter string `json:"retryAfter"`
		} `json:"routeRefused"`
	}
	testutil.DriveBrowser(t, "test/webrtc/pages/run.mjs", 5*time.Minute, map[string]any{
		"scenario": "walkthrough", "manager": c.base, "app": "live", "stream": "stream1", "token": tok,
		// generous: edge 2 is in service within seconds on an idle machine, up to a minute on a loaded one
		"startupTimeoutMs": (30 * time.Second).Milliseconds(), "scaleOutTimeoutMs": (2 * time.Minute).Milliseconds(),
		"playMs": playFor.Milliseconds(),
	}, &r)
	r.Check(t)

	httpAddr := func(n map[string]any) string { return n["addresses"].(map[string]any)["http"].(string) }
	require.NotNil(t, r.Publisher)
	t.Logf("publisher:\n%s", r.Publisher.Log())
	require.Equal(t, "Publish.Start", r.Publisher.State, "publisher: %s", r.Publisher.Error)
	require.Equal(t, httpAddr(c.nodesIn("origin", "inservice")[0]), r.Publisher.Node, "the node the manager's 307 led to")

	edges := map[string]string{} // identifier → HTTP address
	for _, n := range c.nodesIn("edge", "inservice") {
		edges[n["identifier"].(string)] = httpAddr(n)
	}
	require.NotNil(t, r.RTC1)
	t.Logf("subscriber 1:\n%s", r.RTC1.Log())
	require.Equal(t, "Subscribe.Start", r.RTC1.State, "subscriber 1: %s", r.RTC1.Error)
	require.Equal(t, edges[c.edge1], r.RTC1.Node, "subscriber 1 is not on edge 1")
	require.NotNil(t, r.RouteRefused, "the manager never refused a viewer while edge 1 was full")
	retryAfter, err := strconv.Atoi(r.RouteRefused.RetryAfter)
	require.NoError(t, err, "the manager's Retry-After")

	require.NotNil(t, r.RTC2)
	t.Logf("subscriber 2:\n%s", r.RTC2.Log())
	require.Equal(t, "Subscribe.Start", r.RTC2.State, "subscriber 2: %s", r.RTC2.Error)
	require.True(t, c.has("scale-out", "edge"), "%+v", c.events())
	require.Len(t, edges, 2, "edges in service")
	require.NotEqual(t, r.RTC1.Node, r.RTC2.Node, "both subscribers on one edge of capacity 1")
	var edge2 string
	for id, addr := range edges {
		if id != c.edge1 {
			edge2 = addr
		}
	}
	require.Equal(t, edge2, r.RTC2.Node, "subscriber 2 is not on edge 2")
	// the page was refused before it played, and waited as the manager's Retry-After said
	retried := false
	delay := regexp.MustCompile(`^in (\d+) ms$`)
	for i, e := range r.RTC2.Events {
		if e.Type == "Subscribe.Start" {
			break
		}
		if e.Type != "Subscribe.Fail" || !strings.Contains(e.Detail, "HTTP 503") {
			continue
		}
		require.Less(t, i+1, len(r.RTC2.Events))
		next := r.RTC2.Events[i+1]
		require.Equal(t, "Subscribe.Retry", next.Type)
		m := delay.FindStringSubmatch(next.Detail)
		require.NotNil(t, m, next.Detail)
		ms, _ := strconv.Atoi(m[1])
		assert.Equal(t, retryAfter*1000, ms, "the retry after a 503 did not wait as Retry-After said")
		retried = true
	}
	if !retried {
		// the held offer went out after edge 2 was up (a loaded machine can delay it past the second edge 2
		// takes to boot): the refusal and the Retry-After are the pion walk-through's to prove
		// (TestWebRTCWalkthrough); here subscriber 2 still made the group scale out and plays on edge 2
		t.Logf("subscriber 2 was not refused before it played: its offer went out after edge 2 was up")
	}

	// both keep playing, with sound
	for i, s := range []*testutil.PageState{r.RTC1, r.RTC2} {
		// a few frames a second at least, on a loaded 2-core machine
		assert.Greater(t, s.FramesRendered-s.FramesAtStart, int(playFor.Seconds()*5), "subscriber %d: frames rendered in %s", i+1, playFor)
		if assert.NotNil(t, s.Inbound, "subscriber %d: inbound-rtp statistics", i+1) {
			assert.Positive(t, s.Inbound["audio"].TotalSamplesReceived, "subscriber %d: audio samples received", i+1)
			assert.Positive(t, s.Inbound["video"].FramesDecoded, "subscriber %d: video frames decoded", i+1)
		}
	}
}
