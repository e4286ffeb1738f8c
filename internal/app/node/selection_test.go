package node_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/testutil"
)

// TestSelectionUsesRealReports: the manager picks edges on what real nodes report, not on fixtures. Two
// idle edges tie and the lower id wins; once viewers made edge a pull a stream, its own report counts that
// stream (and its memory use), and the manager sends the next viewer to edge b.
func TestSelectionUsesRealReports(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	const reportInterval = time.Second
	mgr, reports := startManager(t, reportInterval, 10*time.Second)
	joined := func(id string) func(*config.Config) {
		return func(c *config.Config) {
			c.Cluster.ManagerURL, c.Cluster.Secret, c.Cluster.NodeID = mgr, floodSecret, id
		}
	}
	origin, _ := testutil.StartNode(t, joined("sel-origin"))
	edges := map[string]string{} // id → HTTP address
	for _, id := range []string{"sel-edge-a", "sel-edge-b"} {
		e, _ := testutil.StartNode(t, func(c *config.Config) {
			testutil.EdgeOf("edge", origin)(c)
			joined(id)(c)
		})
		edges[id] = e.HTTPAddr()
	}
	testutil.Publish(t, rtmpURL(origin, "live/sel"), "flv")
	testutil.ReadSegments(t, "http://"+origin.HTTPAddr()+"/live/sel/video1_stream.m3u8", 2, 20*time.Second)

	// a fresh client each time: no cookie keeps it on the edge it had
	route := func() string {
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Get(mgr + "/live/sel/index.m3u8")
		if err != nil {
			return ""
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound {
			return ""
		}
		return resp.Header.Get("Location")
	}
	want := func(id string) string { return "http://" + edges[id] + "/live/sel/index.m3u8" }
	require.Eventually(t, func() bool { return route() == want("sel-edge-a") }, 15*time.Second, 50*time.Millisecond,
		"two idle edges: the lower id")

	viewer(t, "http://"+edges["sel-edge-a"], "live/sel")
	require.Eventually(t, func() bool {
		rs := reports.of("sel-edge-a")
		return len(rs) > 0 && rs[len(rs)-1].req.Stats.Streams == 1
	}, 10*time.Second, 50*time.Millisecond, "edge a never reported the stream it pulls")
	last := reports.of("sel-edge-a")
	require.Greater(t, last[len(last)-1].req.Stats.MemoryUsedPercent, 0.0, "edges report their memory use")
	require.Eventually(t, func() bool { return route() == want("sel-edge-b") }, 10*time.Second, 50*time.Millisecond,
		"the edge already pulling a stream scores higher: the next viewer goes to edge b")
}
