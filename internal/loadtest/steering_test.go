package loadtest

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/app/node"
	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/testutil"
	"github.com/nagare-video/nagare/internal/testutil/managertest"
)

// TestAudienceFollowsSteering: an audience plays through a real manager, which spreads it over two
// edges (on one port of 127.0.0.2 and 127.0.0.3); one edge is drained mid-run, and its viewers follow
// the manager's steering to the other without an error and without being cut (every viewer plays to the
// end, and the drained edge sees no request from anyone once they have moved).
func TestAudienceFollowsSteering(t *testing.T) {
	testutil.RequireFFmpeg(t)
	const token, secret = "loadtest-admin-token-0123456789", "loadtest-cluster-secret-0123456789"
	mgr, _ := managertest.Start(t, func(c *config.Config) {
		c.Manager.AdminToken, c.Cluster.Secret = token, secret
		c.Manager.ReportInterval, c.Manager.NodeTimeout = time.Second, 5*time.Second
		c.Manager.Steering.TTL = time.Second
	})
	inCluster := func(id string) func(*config.Config) {
		return func(c *config.Config) { c.Cluster.ManagerURL, c.Cluster.Secret, c.Cluster.NodeID = mgr, secret, id }
	}
	origin, _ := testutil.StartNode(t, inCluster("lt-origin"))
	port := testutil.SharedLoopbackPort(t, "127.0.0.2", "127.0.0.3")
	edges := map[string]*node.Node{}
	for id, host := range map[string]string{"lt-a": "127.0.0.2", "lt-b": "127.0.0.3"} {
		edges[id], _ = testutil.StartNode(t, func(c *config.Config) {
			inCluster(id)(c)
			c.Node.Role = "edge"
			c.HTTP.Address = net.JoinHostPort(host, port)
		})
	}
	publishLive(t, origin, "live/crowd")
	for _, e := range edges {
		// the stream plays at each edge before the audience comes (an edge that registered before the
		// origin asks the manager for its parent when the first viewer comes)
		testutil.WaitLive(t, "http://"+e.HTTPAddr()+"/live/crowd/index.m3u8", 20*time.Second)
	}

	// drain lt-a once the audience is on
	const viewers, drainAt = 8, 8 * time.Second
	drained := make(chan time.Time, 1)
	go func() {
		time.Sleep(drainAt)
		req, _ := http.NewRequest(http.MethodPost, mgr+"/api/v1/nodes/lt-a/drain", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				drained <- time.Now()
			}
		}
		close(drained)
	}()
	rep, err := Run(context.Background(), Config{URL: mgr + "/live/crowd/index.m3u8", Viewers: viewers,
		Ramp: 4 * time.Second, Hold: 14 * time.Second})
	require.NoError(t, err)
	at, ok := <-drained
	require.True(t, ok, "the drain call failed")
	tot := rep.Totals
	t.Logf("%+v", tot)

	a, b := edges["lt-a"].HTTPAddr(), edges["lt-b"].HTTPAddr()
	assert.Equal(t, viewers, tot.Started)
	assert.Zero(t, tot.Errors, "errors: %+v", rep.Viewers)
	assert.Positive(t, tot.RequestsPerHosts[a], "nobody was sent to lt-a before the drain")
	assert.Positive(t, tot.PathwaySwitches, "nobody followed the steering off lt-a")
	// after the drain (and two TTLs), everyone is on lt-b, until the audience leaves at 18 s
	after, leave := at.Sub(rep.Started).Seconds()+3, (4*time.Second).Seconds()+(14*time.Second).Seconds()-1
	checked := 0
	for _, tick := range rep.Timeline {
		if tick.At >= after && tick.At < leave {
			checked++
			assert.Zero(t, tick.Hosts[a], "viewers still on the drained edge at %.0f s: %v", tick.At, tick.Hosts)
			assert.Equal(t, viewers, tick.Viewers, "viewers cut at %.0f s: %v", tick.At, tick.Hosts)
			assert.Equal(t, viewers, tick.Hosts[b], "viewers cut at %.0f s: %v", tick.At, tick.Hosts)
		}
	}
	assert.Positive(t, checked, "no tick between the move and the end")
}
