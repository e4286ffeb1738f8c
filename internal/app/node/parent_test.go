package node_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/nodemodel"
	"github.com/nagare-video/nagare/internal/testutil"
)

// TestEdgeThatJoinedFirstServesAtOnce: an edge that registered (and entered service) before any origin
// has no parent in its assignment; the manager sends viewers of a stream published later to it all the
// same, and the edge serves them at once, not at its next load report (10 s away here).
func TestEdgeThatJoinedFirstServesAtOnce(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	const reportInterval = 10 * time.Second // a window no origin start and publish can hide in
	mgr, _ := startManager(t, reportInterval, 3*reportInterval)
	joined := func(id string) func(*config.Config) {
		return func(c *config.Config) {
			c.Cluster.ManagerURL, c.Cluster.Secret, c.Cluster.NodeID = mgr, floodSecret, id
		}
	}
	edge, _ := testutil.StartNode(t, func(c *config.Config) {
		joined("first-edge")(c)
		c.Node.Role = "edge"
	})
	require.Eventually(t, func() bool { return nodeState(t, mgr, "first-edge") == nodemodel.StateInService },
		5*time.Second, 20*time.Millisecond, "the edge never entered service")
	joinedAt := time.Now()

	origin, _ := testutil.StartNode(t, joined("late-origin"))
	testutil.Publish(t, rtmpURL(origin, "live/early"), "flv")
	testutil.WaitLive(t, "http://"+origin.HTTPAddr()+"/live/early/index.m3u8", 20*time.Second)

	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(mgr + "/live/early/index.m3u8")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode)
	want := "http://" + edge.HTTPAddr() + "/live/early/index.m3u8"
	require.Equal(t, want, resp.Header.Get("Location"), "the manager sends viewers to the edge")
	require.Less(t, time.Since(joinedAt), reportInterval-time.Second,
		"too slow: the edge's next report may have given it its parent, so the test proves nothing")

	code, body := testutil.Get(t, want)
	require.Equal(t, http.StatusOK, code, "the edge the manager sent a viewer to answered %s", body)
	viewer(t, "http://"+edge.HTTPAddr(), "live/early")
}
