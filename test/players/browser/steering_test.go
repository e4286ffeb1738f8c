package browser

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/app/node"
	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/testutil"
	"github.com/nagare-video/nagare/internal/testutil/managertest"
	"github.com/nagare-video/nagare/internal/webui"
)

const (
	steerPath = "live/steered"
	steerTTL  = 2 * time.Second
	// the player plays this long on its first edge before that edge is drained, and this long in all
	steerDrainAfter = 12 * time.Second
	steerPlayFor    = 40 * time.Second
	// how soon after the drain the player must have left the edge: two steering TTLs, and the requests
	// it had under way (a blocking playlist reload waits up to a part or two)
	steerMoveWithin = 2*steerTTL + 3*time.Second
)

// TestBrowserSteersAwayFromADrainingEdge plays a live stream in hls.js through the manager, which sends
// it to one of two edges; that edge is then drained, and the manager, as the HLS Content Steering server
// the edges name in their multivariant playlists, moves the player to the other edge (a pathway clone of
// the first with its host name replaced): the player's requests go there within two steering TTLs, it
// plays on without a fatal error or a long stall, and the drained edge is left with no viewer.
//
// A pathway clone replaces the host name and keeps the port, so the two edges listen on the same port of
// two loopback addresses (127.0.0.2 and 127.0.0.3).
func TestBrowserSteersAwayFromADrainingEdge(t *testing.T) {
	root, modules := requirePlayers(t)
	trace := os.Getenv("NAGARE_PLAYERS_TRACE")
	mgr, _ := managertest.Start(t, func(c *config.Config) {
		c.Manager.AdminToken, c.Cluster.Secret = adminToken, clusterSecret
		c.Manager.ReportInterval, c.Manager.NodeTimeout = time.Second, 5*time.Second
		c.Manager.Steering.TTL = steerTTL
	})
	inCluster := func(id string) func(*config.Config) {
		return func(c *config.Config) {
			c.Cluster.ManagerURL, c.Cluster.Secret, c.Cluster.NodeID = mgr, clusterSecret, id
		}
	}
	origin, _ := testutil.StartNode(t, inCluster("steer-origin"))
	port := sharedLoopbackPort(t, "127.0.0.2", "127.0.0.3")
	edges := map[string]*node.Node{}
	for id, host := range map[string]string{"steer-a": "127.0.0.2", "steer-b": "127.0.0.3"} {
		edges[id], _ = testutil.StartNode(t, func(c *config.Config) {
			inCluster(id)(c)
			c.Node.Role = "edge"
			c.HTTP.Address = net.JoinHostPort(host, port)
		})
	}
	testutil.Publish(t, publishURL(origin.RTMPAddr(), steerPath), "flv")
	testutil.WaitLive(t, "http://"+origin.HTTPAddr()+"/"+steerPath+"/index.m3u8", 20*time.Second)

	// the manager sends viewers to an edge, whose multivariant playlist names the manager as its steering
	// server and itself as the pathway
	var first string
	require.Eventually(t, func() bool {
		resp, err := http.Get(mgr + "/" + steerPath + "/index.m3u8") // the redirect followed
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body, final := string(b), resp.Request.URL.String()
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "#EXT-X-CONTENT-STEERING:SERVER-URI=\""+mgr+"/steering/v1/"+steerPath+"?port="+port+"\"") {
			return false
		}
		for id, n := range edges {
			if strings.HasPrefix(final, "http://"+n.HTTPAddr()+"/") && strings.Contains(body, `PATHWAY-ID="`+id+`"`) {
				first = id
			}
		}
		return first != ""
	}, 20*time.Second, 200*time.Millisecond, "the manager never sent viewers to an edge that names it as the steering server")

	shipped, err := webui.HLSLiveConfig()
	require.NoError(t, err)
	var configure map[string]any
	require.NoError(t, json.Unmarshal(shipped, &configure))

	// drain the edge the player loads from once it has played there a while
	type drainInfo struct {
		id string
		at time.Time
	}
	drained := make(chan drainInfo, 1)
	go func() {
		defer close(drained)
		// the player's session is the one the edges did not count before (the probe above has its own,
		// which ends some seconds after its one request)
		baseline := map[string]int{}
		for id, n := range edges {
			baseline[id] = n.Stats().Subscribers
		}
		deadline := time.Now().Add(startupBound + 10*time.Second)
		victim := ""
		for victim == "" && time.Now().Before(deadline) {
			for id, n := range edges {
				switch c := n.Stats().Subscribers; {
				case c > baseline[id]:
					victim = id
				case c < baseline[id]:
					baseline[id] = c
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		if victim == "" {
			return
		}
		time.Sleep(steerDrainAfter)
		req, _ := http.NewRequest(http.MethodPost, mgr+"/api/v1/nodes/"+victim+"/drain", nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			drained <- drainInfo{victim, time.Now()}
		}
	}()

	pages := pageServer(root, modules)
	defer pages.Close()
	_, results := drive(t, root, modules, pages.URL, trace, steerPlayFor, []runPlayer{{
		Name: "hlsjs-ll/steered", Player: "hlsjs", LowLatency: true, Src: mgr + "/" + steerPath + "/index.m3u8",
		Debug: trace != "", Configure: configure,
	}})
	r := results[0]
	t.Logf("%s\nhosts: %+v", table(results), r.Hosts)
	check(t, &r, steerPlayFor)

	d, ok := <-drained
	require.True(t, ok, "no edge had the player's session, or the drain call failed")
	other := "steer-b"
	if d.id == "steer-b" {
		other = "steer-a"
	}
	var victimHost, otherHost *hostStats
	for i := range r.Hosts {
		h := hostStats(r.Hosts[i])
		switch h.Host {
		case edges[d.id].HTTPAddr():
			victimHost = &h
		case edges[other].HTTPAddr():
			otherHost = &h
		}
	}
	require.NotNil(t, victimHost, "the player never loaded from the drained edge %s", d.id)
	require.NotNil(t, otherHost, "the player never moved to %s after %s was drained", other, d.id)
	drainMs := float64(d.at.UnixMilli())
	assert.GreaterOrEqual(t, otherHost.FirstEpochMs, drainMs, "the player loaded from %s before the drain", other)
	assert.LessOrEqual(t, victimHost.LastEpochMs, drainMs+float64(steerMoveWithin.Milliseconds()),
		"the player still loaded from the drained edge %.1f s after the drain", (victimHost.LastEpochMs-drainMs)/1000)
	assert.Greater(t, otherHost.LastEpochMs, drainMs+float64((steerPlayFor-steerDrainAfter)/2/time.Millisecond),
		"the player did not stay on %s", other)
	t.Logf("drained %s; the player's first request to %s came %.1f s later, its last to %s %.1f s later",
		d.id, other, (otherHost.FirstEpochMs-drainMs)/1000, d.id, (victimHost.LastEpochMs-drainMs)/1000)

	// the drained edge is left with nobody: its viewer session ends
	assert.Eventually(t, func() bool { return edges[d.id].Stats().Subscribers == 0 }, time.Minute, 500*time.Millisecond,
		"the drained edge still counts a viewer")
}

type hostStats = struct {
	Host         string  `json:"host"`
	FirstEpochMs float64 `json:"firstEpochMs"`
	LastEpochMs  float64 `json:"lastEpochMs"`
	Requests     int     `json:"requests"`
}

// sharedLoopbackPort returns a TCP port free on every one of the loopback addresses.
func sharedLoopbackPort(t *testing.T, hosts ...string) string {
	t.Helper()
	for range 20 {
		ln, err := net.Listen("tcp", net.JoinHostPort(hosts[0], "0"))
		require.NoError(t, err)
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		ln.Close()
		free := true
		for _, h := range hosts[1:] {
			l, err := net.Listen("tcp", net.JoinHostPort(h, port))
			if err != nil {
				free = false
				break
			}
			l.Close()
		}
		if free {
			return port
		}
	}
	t.Fatalf("no port free on all of %v", hosts)
	return ""
}
