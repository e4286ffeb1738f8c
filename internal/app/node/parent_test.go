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

// TestEdgeServesStreamsOfEveryOrigin: a group with two origins and no relay. An edge has one parent, yet
// its viewers watch the streams of both origins, over LL-HLS and over WHEP: for a stream its parent does
// not carry, the edge asks the manager where it is live and pulls it from there.
func TestEdgeServesStreamsOfEveryOrigin(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	mgr, _ := startManager(t, time.Second, 5*time.Second)
	joined := func(id, role string) func(*config.Config) { return joinedAs(mgr, id, role) }
	a, _ := testutil.StartNode(t, joined("origin-a", "origin"))
	b, _ := testutil.StartNode(t, joined("origin-b", "origin"))
	edge, _ := testutil.StartNode(t, joined("edge-1", "edge"))
	for _, id := range []string{"origin-a", "origin-b", "edge-1"} {
		require.Eventually(t, func() bool { return nodeState(t, mgr, id) == nodemodel.StateInService },
			10*time.Second, 20*time.Millisecond, "%s never entered service", id)
	}
	require.Eventually(t, func() bool { return edge.Parent() != "" }, 10*time.Second, 20*time.Millisecond, "no parent")

	testutil.Publish(t, rtmpURL(a, "live/on-a"), "flv")
	testutil.Publish(t, rtmpURL(b, "live/on-b"), "flv")
	testutil.WaitLive(t, hlsURL(a, "live/on-a"), 20*time.Second)
	testutil.WaitLive(t, hlsURL(b, "live/on-b"), 20*time.Second)

	base := "http://" + edge.HTTPAddr()
	for _, p := range []string{"live/on-a", "live/on-b"} {
		viewer(t, base, p)
		plays(t, watch(t, base+"/"+p+"/whep"), p+" over WHEP at the edge", true)
	}
	code, body := testutil.Get(t, base+"/live/on-nobody/index.m3u8")
	require.Equal(t, http.StatusNotFound, code, "a stream live nowhere: %s", body)
}

// TestDrainingOriginKeepsItsViewers: an origin drained (a scale-in, a rolling upgrade) keeps its
// publishers until they leave, while the manager gives its edges another parent at once; the viewers of
// its streams on those edges play on: the edge, whose new parent lacks the stream, pulls it from the
// draining origin.
func TestDrainingOriginKeepsItsViewers(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	mgr, _ := startManager(t, time.Second, 5*time.Second)
	joined := func(id, role string) func(*config.Config) { return joinedAs(mgr, id, role) }
	old, _ := testutil.StartNode(t, joined("old-origin", "origin"))
	edge, _ := testutil.StartNode(t, joined("drain-edge", "edge"))
	require.Eventually(t, func() bool { return edge.Parent() == "http://"+old.HTTPAddr() }, 10*time.Second, 20*time.Millisecond)
	const path = "live/stays"
	testutil.Publish(t, rtmpURL(old, path), "flv")
	testutil.WaitLive(t, hlsURL(old, path), 20*time.Second)
	base := "http://" + edge.HTTPAddr()
	viewer(t, base, path)

	newer, _ := testutil.StartNode(t, joined("new-origin", "origin"))
	require.Eventually(t, func() bool { return nodeState(t, mgr, "new-origin") == nodemodel.StateInService },
		10*time.Second, 20*time.Millisecond)
	drainNode(t, mgr, "old-origin")
	require.Eventually(t, func() bool { return edge.Parent() == "http://"+newer.HTTPAddr() }, 10*time.Second, 20*time.Millisecond,
		"the edge was not given the origin in service as its parent")

	// the stream goes on at the edge: new segments, each served
	last := func() string {
		code, body := testutil.Get(t, base+"/"+path+"/video1_stream.m3u8")
		require.Equal(t, http.StatusOK, code, "%s", body)
		segs := testutil.ParseMediaPlaylist(body).Segments
		require.NotEmpty(t, segs)
		return segs[len(segs)-1]
	}
	before := last()
	time.Sleep(4 * time.Second) // longer than an edge serves a stale playlist
	after := last()
	require.NotEqual(t, before, after, "the stream stopped at the edge after its origin began to drain")
	code, _ := testutil.Get(t, base+"/"+path+"/"+after)
	require.Equal(t, http.StatusOK, code)
	viewer(t, base, path)
}

// joinedAs puts a node of role in the cluster of the manager at mgr (see startManager) as id.
func joinedAs(mgr, id, role string) func(*config.Config) {
	return func(c *config.Config) {
		c.Cluster.ManagerURL, c.Cluster.Secret, c.Cluster.NodeID = mgr, floodSecret, id
		c.Node.Role = role
	}
}

// drainNode drains node id through the manager's admin API.
func drainNode(t *testing.T, mgr, id string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, mgr+"/api/v1/nodes/"+id+"/drain", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+floodAdminToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}
