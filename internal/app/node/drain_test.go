package node_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/nodeapi"
	"github.com/nagare-video/nagare/internal/nodemodel"
	"github.com/nagare-video/nagare/internal/testutil"
)

// TestDrainEndpoint: the preStop endpoint refuses callers without the node's drain token, and with it has
// the manager drain the node and waits while a publisher is live, until it leaves or the timeout passes.
func TestDrainEndpoint(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	mgr, _ := startManager(t, time.Second, 10*time.Second)
	const id = "drain-origin"
	origin, _ := testutil.StartNode(t, func(c *config.Config) {
		c.Cluster.ManagerURL, c.Cluster.Secret, c.Cluster.NodeID = mgr, floodSecret, id
	})
	require.Eventually(t, func() bool { return nodeState(t, mgr, id) == nodemodel.StateInService }, 10*time.Second, 50*time.Millisecond)

	type answer struct {
		Drained     bool `json:"drained"`
		Connections int  `json:"connections"`
	}
	drain := func(token, query string) (int, answer) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, "http://"+origin.HTTPAddr()+nodeapi.PathDrain+query, nil)
		require.NoError(t, err)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var a answer
		if resp.StatusCode == http.StatusOK {
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&a))
		}
		return resp.StatusCode, a
	}
	token := nodeapi.DrainToken(floodSecret, id)
	for _, tc := range []struct {
		name, token, query string
		status             int
	}{
		{"no token", "", "", http.StatusUnauthorized},
		{"another node's token", nodeapi.DrainToken(floodSecret, "other-node"), "", http.StatusForbidden},
		{"a token under another secret", nodeapi.DrainToken("another-cluster-secret-0123", id), "", http.StatusForbidden},
		{"a bad timeout", token, "?timeout=forever", http.StatusBadRequest},
		{"a timeout too long", token, "?timeout=2h", http.StatusBadRequest},
	} {
		status, _ := drain(tc.token, tc.query)
		require.Equal(t, tc.status, status, tc.name)
	}
	require.Never(t, func() bool { return nodeState(t, mgr, id) != nodemodel.StateInService }, 2500*time.Millisecond,
		100*time.Millisecond, "a refused drain call drained the node")

	pub := testutil.Publish(t, rtmpURL(origin, "live/drain"), "flv")
	require.Eventually(t, func() bool { return origin.Stats().Publishers == 1 }, 15*time.Second, 50*time.Millisecond)
	start := time.Now()
	status, a := drain(token, "?timeout=1500ms")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, answer{Drained: false, Connections: 1}, a, "the publisher is still live")
	require.GreaterOrEqual(t, time.Since(start), 1500*time.Millisecond, "the call waits for the node to empty")
	require.Eventually(t, func() bool { return nodeState(t, mgr, id) == nodemodel.StateDraining }, 10*time.Second, 50*time.Millisecond,
		"the manager never drained the node")

	// the cluster secret works too, and the call returns once the node is empty
	done := make(chan answer, 1)
	go func() {
		_, a := drain(floodSecret, "?timeout=30s")
		done <- a
	}()
	time.Sleep(500 * time.Millisecond)
	pub.Kill()
	select {
	case a := <-done:
		require.Equal(t, answer{Drained: true, Connections: 0}, a)
	case <-time.After(20 * time.Second):
		t.Fatal("the drain call did not return when the publisher left")
	}
}

// TestDrainingEdgeSendsWebRTCViewersBack: WebRTC has no steering, so an edge the manager drains ends its
// WHEP sessions (their pages reconnect through the manager, which sends them elsewhere) instead of keeping
// them until it is terminated with them; its HLS viewers are left to steering.
func TestDrainingEdgeSendsWebRTCViewersBack(t *testing.T) {
	t.Parallel()
	testutil.RequireFFmpeg(t)
	mgr, _ := startManager(t, time.Second, 10*time.Second)
	inCluster := func(id string) func(*config.Config) {
		return func(c *config.Config) {
			c.Cluster.ManagerURL, c.Cluster.Secret, c.Cluster.NodeID = mgr, floodSecret, id
		}
	}
	origin, _ := testutil.StartNode(t, inCluster("rtc-origin"))
	edge, _ := testutil.StartNode(t, func(c *config.Config) {
		inCluster("rtc-edge")(c)
		c.Node.Role = "edge"
	})
	require.Eventually(t, func() bool { return nodeState(t, mgr, "rtc-edge") == nodemodel.StateInService }, 15*time.Second, 50*time.Millisecond)
	const path = "live/rtcdrain"
	testutil.Publish(t, rtmpURL(origin, path), "flv")
	testutil.WaitLive(t, hlsURL(edge, path), 20*time.Second)
	v := watch(t, "http://"+edge.HTTPAddr()+"/"+path+"/whep")
	plays(t, v, "WHEP viewer on the edge", false)

	drainNode(t, mgr, "rtc-edge")

	// the report interval (1 s) brings the drain to the edge, which ends the session at once (it is alone)
	require.Eventually(t, func() bool {
		st := v.PC.ConnectionState()
		return st == webrtc.PeerConnectionStateClosed || st == webrtc.PeerConnectionStateFailed ||
			st == webrtc.PeerConnectionStateDisconnected || time.Since(v.LastPacket()) > 2*time.Second
	}, 15*time.Second, 100*time.Millisecond, "the WHEP session outlived the drain")
	require.Eventually(t, func() bool { return edge.Stats().Connections == 0 }, 10*time.Second, 100*time.Millisecond,
		"the draining edge still counts its WebRTC viewer")
}
