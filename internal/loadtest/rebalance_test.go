package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/testutil"
	"github.com/nagare-video/nagare/internal/testutil/managertest"
)

// TestSteeringKeepsTheServerURIQuery: a player asks the steering server at SERVER-URI with its query
// (the edge's port, the player's token and home) kept, _HLS_pathway and _HLS_throughput added, as hls.js does.
func TestSteeringKeepsTheServerURIQuery(t *testing.T) {
	asked := make(chan url.Values, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked <- r.URL.Query()
		_, _ = w.Write([]byte(`{"VERSION":1,"TTL":5,"PATHWAY-PRIORITY":["e1"]}`))
	}))
	t.Cleanup(srv.Close)
	su, err := url.Parse(srv.URL + "/steering/v1/live/s?port=8080&player=8865fea8edb69716&home=e1")
	require.NoError(t, err)
	media, err := url.Parse("http://127.0.0.2:8080/live/s_source/v.m3u8")
	require.NoError(t, err)
	p := &player{client: srv.Client()}
	st := &steering{uri: su, pathway: "e1", original: "e1", listed: map[string]*url.URL{"e1": media}}
	assert.Nil(t, p.steer(context.Background(), st, media), "moved, although told to stay")
	q := <-asked
	assert.Equal(t, "8080", q.Get("port"))
	assert.Equal(t, "8865fea8edb69716", q.Get("player"))
	assert.Equal(t, "e1", q.Get("home"))
	assert.Equal(t, "e1", q.Get("_HLS_pathway"))
	assert.True(t, q.Has("_HLS_throughput"))
}

// TestSteeringPathways: a player knows the pathways its multivariant playlist lists (the storage
// pathway's variant of its own bandwidth, with its own URL) and the clones the steering server defines
// (their base pathway's URL with the host name replaced, the port kept), switches to the first it knows
// in PATHWAY-PRIORITY, and falls back along it when its pathway fails.
func TestSteeringPathways(t *testing.T) {
	var manifest atomic.Value
	manifest.Store(`{"VERSION":1,"TTL":5,"PATHWAY-PRIORITY":["e1","cdn"]}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(manifest.Load().(string)))
	}))
	t.Cleanup(srv.Close)
	final, _ := url.Parse("http://127.0.0.2:8080/live/s/index.m3u8")
	mv, err := parseMultivariant([]byte("#EXTM3U\n#EXT-X-CONTENT-STEERING:SERVER-URI=\"" + srv.URL + "/steering/v1/live/s\",PATHWAY-ID=\"e1\"\n" +
		"#EXT-X-STREAM-INF:BANDWIDTH=200000,PATHWAY-ID=\"e1\"\nlow.m3u8?nsid=1\n" +
		"#EXT-X-STREAM-INF:BANDWIDTH=900000,PATHWAY-ID=\"e1\"\nhigh.m3u8?nsid=1\n" +
		"#EXT-X-STREAM-INF:BANDWIDTH=200000,PATHWAY-ID=\"cdn\"\nhttps://cdn.example/hls/live/s/low.m3u8\n" +
		"#EXT-X-STREAM-INF:BANDWIDTH=900000,PATHWAY-ID=\"cdn\"\nhttps://cdn.example/hls/live/s/high.m3u8\n"))
	require.NoError(t, err)
	su, _ := url.Parse(srv.URL + "/steering/v1/live/s")
	media, _ := final.Parse("high.m3u8?nsid=1")
	st := newSteering(su, mv, mv.variants[1], media, final)
	assert.Equal(t, "https://cdn.example/hls/live/s/high.m3u8", st.listed["cdn"].String(), "the storage variant of the player's bandwidth")

	p := &player{client: srv.Client()}
	ctx := context.Background()
	assert.Nil(t, p.steer(ctx, st, media), "told to stay")

	manifest.Store(`{"VERSION":1,"TTL":5,"PATHWAY-PRIORITY":["cdn","e1"]}`)
	moved := p.steer(ctx, st, media)
	require.NotNil(t, moved)
	assert.Equal(t, "https://cdn.example/hls/live/s/high.m3u8", moved.String(), "to the storage pathway's own URL")

	manifest.Store(`{"VERSION":1,"TTL":5,"PATHWAY-PRIORITY":["e2","cdn"],"PATHWAY-CLONES":[{"BASE-ID":"e1","ID":"e2","URI-REPLACEMENT":{"HOST":"127.0.0.3"}}]}`)
	moved = p.steer(ctx, st, moved)
	require.NotNil(t, moved)
	assert.Equal(t, "http://127.0.0.3:8080/live/s/high.m3u8?nsid=1", moved.String(), "back to an edge: a clone of the edge pathway, not of storage")

	manifest.Store(`{"VERSION":1,"TTL":5,"PATHWAY-PRIORITY":["e3"],"PATHWAY-CLONES":[{"BASE-ID":"nowhere","ID":"e3","URI-REPLACEMENT":{"HOST":"127.0.0.4"}}]}`)
	assert.Nil(t, p.steer(ctx, st, moved), "a clone of a pathway the player does not know is ignored")
	assert.Equal(t, "e2", st.pathway)

	// the pathway fails: the next one named that the player knows
	st.priority = []string{"e2", "e3", "cdn"}
	back := st.fallBack()
	require.NotNil(t, back)
	assert.Equal(t, "cdn", st.pathway)
	assert.Equal(t, "https://cdn.example/hls/live/s/high.m3u8", back.String())
	assert.Nil(t, st.fallBack(), "nothing left")
}

// TestAudienceRebalancesToANewEdge: an audience plays through a real manager on the one edge there is
// (20 viewers, 80 % of its capacity of 25); a second edge joins on the same port of another loopback
// address (as the autoscaler would add one), and the manager's steering moves part of the viewers to it
// (about half: the players whose token falls in the share), not all. Nobody is cut or stalls long,
// nobody moves twice (no flapping back), and a few TTLs after the new edge joined nobody moves any more.
func TestAudienceRebalancesToANewEdge(t *testing.T) {
	testutil.RequireFFmpeg(t)
	if testing.Short() {
		t.Skip("a 27 s audience")
	}
	const token, secret = "loadtest-admin-token-0123456789", "loadtest-cluster-secret-0123456789"
	const ttl, capacity = time.Second, 25
	mgr, _ := managertest.Start(t, func(c *config.Config) {
		c.Manager.AdminToken, c.Cluster.Secret = token, secret
		c.Manager.ReportInterval, c.Manager.NodeTimeout = time.Second, 5*time.Second
		c.Manager.Steering.TTL = ttl
	})
	admin := func(path string, body any) {
		t.Helper()
		b, err := json.Marshal(body)
		require.NoError(t, err)
		req, err := http.NewRequest(http.MethodPost, mgr+path, bytes.NewReader(b))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, http.StatusCreated, res.StatusCode, "POST %s", path)
	}
	// a group whose edges count 25 viewers as full (the edges are started here, not by an autoscaler)
	admin("/api/v1/launchconfigs", map[string]any{"name": "lt", "image": "nagare", "version": "1.0.0",
		"targets": []map[string]any{{"role": "edge", "instanceType": "small", "connectionCapacity": capacity}}})
	admin("/api/v1/scalepolicies", map[string]any{"name": "lt",
		"targets": []map[string]any{{"role": "edge", "minLimit": 1, "maxLimit": 2, "scaleAdjustment": 1}}})
	admin("/api/v1/nodegroups", map[string]any{"name": "lt", "launchConfig": "lt", "scalePolicy": "lt"})

	inCluster := func(id string) func(*config.Config) {
		return func(c *config.Config) { c.Cluster.ManagerURL, c.Cluster.Secret, c.Cluster.NodeID = mgr, secret, id }
	}
	startEdge := func(id, host, port string) string {
		n, _ := testutil.StartNode(t, func(c *config.Config) {
			inCluster(id)(c)
			c.Cluster.Group = "lt"
			c.Node.Role = "edge"
			c.HTTP.Address = net.JoinHostPort(host, port)
		})
		return n.HTTPAddr()
	}
	origin, _ := testutil.StartNode(t, inCluster("lt-origin"))
	port := testutil.SharedLoopbackPort(t, "127.0.0.2", "127.0.0.3")
	a := startEdge("lt-a", "127.0.0.2", port)
	publishLive(t, origin, "live/crowd")
	// the stream plays at the edge before the audience comes
	testutil.WaitLive(t, "http://"+a+"/live/crowd/index.m3u8", 20*time.Second)

	const viewers, ramp, hold = 20, 3 * time.Second, 24 * time.Second
	done := runAudience(Config{URL: mgr + "/live/crowd/index.m3u8", Viewers: viewers, Ramp: ramp, Hold: hold})
	// the second edge joins once the audience plays on the first (and the manager has its load)
	time.Sleep(ramp + 5*time.Second)
	b := startEdge("lt-b", "127.0.0.3", port)
	joined := time.Now()
	res := <-done
	require.NoError(t, res.err)
	rep, tot := res.rep, res.rep.Totals
	t.Logf("%+v", tot)
	joinedAt := joined.Sub(rep.Started).Seconds()
	for _, tick := range rep.Timeline {
		t.Logf("%s", tick)
	}

	assert.Equal(t, viewers, tot.Started)
	assert.Zero(t, tot.ViewersCut, "viewers cut: %+v", rep.Viewers)
	assert.Less(t, tot.LongestStallMs, 5_000.0, "a viewer stuck for good")
	moved := 0
	for _, v := range rep.Viewers {
		assert.LessOrEqual(t, v.PathwaySwitches, 1, "viewer %d moved back and forth: %+v", v.ID, v)
		if v.PathwaySwitches > 0 {
			moved++
			assert.Equal(t, b, v.LastHost, "viewer %d moved elsewhere than to the new edge", v.ID)
			// its moves: the manager's redirect to the first edge, then the steering to the new one
			if assert.Len(t, v.Moves, 2, "viewer %d", v.ID) {
				assert.Equal(t, Move{At: v.Moves[0].At, From: "", To: a}, v.Moves[0], "viewer %d", v.ID)
				assert.Equal(t, Move{At: v.Moves[1].At, From: a, To: b}, v.Moves[1], "viewer %d", v.ID)
				assert.False(t, v.Moves[1].At.Before(joined), "viewer %d moved before the new edge joined", v.ID)
			}
		} else {
			assert.Equal(t, a, v.LastHost, "viewer %d left its edge without a switch", v.ID)
			assert.Len(t, v.Moves, 1, "viewer %d: only the manager's redirect to its edge", v.ID)
		}
	}
	t.Logf("%d of %d viewers moved to the new edge", moved, viewers)
	// about half (the share at 80 % against an empty edge), not nobody and not everybody
	assert.GreaterOrEqual(t, moved, 3, "too few viewers moved to the new edge")
	assert.LessOrEqual(t, moved, viewers-3, "too many viewers moved to the new edge")

	// everyone plays on the first edge until the second joins; the move costs nobody an error or a stall
	// (the machine's own hiccups, which stall viewers of both edges alike, are not the move's); within a
	// few TTLs of the new edge's first report the viewers are where they stay until the audience leaves
	settled := joinedAt + 1 + 6*ttl.Seconds()
	leave := (ramp + hold).Seconds() - 1
	var last map[string]int
	checked, errorsBefore := 0, -1
	for _, tick := range rep.Timeline {
		switch {
		case tick.At >= ramp.Seconds()+1 && tick.At < joinedAt:
			assert.Equal(t, map[string]int{a: viewers}, tick.Hosts, "at %.0f s, before the new edge", tick.At)
			errorsBefore = tick.Errors
		case tick.At >= joinedAt && tick.At < settled:
			assert.Zero(t, tick.Stalled, "viewers stalled at %.0f s, as they moved", tick.At)
			assert.Equal(t, errorsBefore, tick.Errors, "errors at %.0f s, as viewers moved", tick.At)
		case tick.At >= settled && tick.At < leave:
			checked++
			assert.Equal(t, viewers, tick.Viewers, "viewers cut at %.0f s", tick.At)
			if last != nil {
				assert.Equal(t, last, tick.Hosts, "viewers still moving at %.0f s (the new edge joined at %.0f s)", tick.At, joinedAt)
			}
			last = tick.Hosts
		}
	}
	assert.GreaterOrEqual(t, checked, 10, "too few ticks after the rebalance")
	assert.Equal(t, map[string]int{a: viewers - moved, b: moved}, last)
}
