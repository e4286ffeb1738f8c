package browser

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
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
	spillGroup = "spill"
	steerPath  = "live/steered"
	steerTTL   = 2 * time.Second
	// the player plays this long on its first edge before that edge is drained (or stopped), and this
	// long in all
	steerDrainAfter = 10 * time.Second
	steerPlayFor    = 30 * time.Second
	// how soon after a drain the player must have left the edge: two steering TTLs, and the requests it
	// had under way (a blocking playlist reload waits up to a part or two)
	steerMoveWithin = 2*steerTTL + 3*time.Second
	// in the drain test the manager (the steering server) is restarted this long after the player
	// arrived on its edge, and stays down this long: the player asks it for steering at least twice meanwhile
	managerRestartAfter = 2 * time.Second
	managerDown         = 2*steerTTL + time.Second
)

// edgeMoveBar is the bar for a player steered from a draining edge to another: 90 % of the frames,
// no stall longer than one part, no gap jumped.
var edgeMoveBar = bar{frameRatio: strictBar.frameRatio, maxStall: strictBar.maxStall, noGaps: strictBar.noGaps}

// recoverBar is the bar for a player whose edge stopped at once (its requests refused, which are forgiven):
// it recovers on another pathway by itself, with no stall over 3 s (the soak's bar for a killed edge's
// viewers; its stall comes close to a part in some runs, docs/steering.md), or with NAGARE_PLAYERS_STRICT=1
// over one part.
var recoverBar = func() bar {
	b := edgeMoveBar
	if !strict() {
		b.maxStall = 3 * time.Second
	}
	return b
}()

// TestBrowserSteersAwayFromADrainingEdge plays a live stream in hls.js through the manager, which sends
// it to one of two edges. First the manager is restarted (stopped, and started again on the same address
// with the same store): the player's steering requests fail meanwhile, and it plays on from its edge as if
// nothing happened (RFC 8216bis §7.1: a client keeps its pathway while the steering server cannot be
// reached). Then that edge is drained, and the restarted manager, as the HLS Content Steering server the
// edges name in their multivariant playlists, moves the player to the other edge (a pathway clone of the
// first with its host name replaced): the player's requests go there within two steering TTLs, it plays
// on without a fatal error or a long stall, and the drained edge is left with no viewer.
func TestBrowserSteersAwayFromADrainingEdge(t *testing.T) {
	c := startSteeredCluster(t)
	var down, back time.Time
	restart := step{after: managerRestartAfter, do: func(string) error {
		down = time.Now()
		defer func() { back = time.Now() }()
		return c.restartManager(managerDown)
	}}
	r, ev := c.play(t, restart, step{after: steerDrainAfter, do: c.drain})

	// the restart: the steering requests the player sent meanwhile were refused, and nothing else failed
	mgrHost := strings.TrimPrefix(c.mgr, "http://")
	refused := dropFailed(&r, func(u *url.URL, atMs float64) bool {
		return u.Host == mgrHost && strings.HasPrefix(u.Path, "/steering/") &&
			atMs >= float64(down.UnixMilli()) && atMs <= float64(back.Add(time.Second).UnixMilli())
	})
	assert.Positive(t, refused, "the player asked for no steering while the manager was down (%s)", managerDown)
	for _, s := range r.stallsBetween(down, back.Add(steerTTL)) {
		assert.LessOrEqual(t, s.Ms, float64(maxStall.Milliseconds()), "a stall while the manager was down: %+v", s)
	}
	t.Logf("the manager was down %.1f s; %d steering requests were refused meanwhile", back.Sub(down).Seconds(), refused)

	check(t, &r, steerPlayFor, edgeMoveBar)
	victim, other := c.hosts(t, &r, ev)
	at := float64(ev.at.UnixMilli())
	assert.GreaterOrEqual(t, other.FirstEpochMs, at, "the player loaded from %s before the drain", ev.other)
	assert.LessOrEqual(t, victim.LastEpochMs, at+float64(steerMoveWithin.Milliseconds()),
		"the player still loaded from the drained edge %.1f s after the drain", (victim.LastEpochMs-at)/1000)
	assert.Greater(t, other.LastEpochMs, at+float64((steerPlayFor-steerDrainAfter)/2/time.Millisecond),
		"the player did not stay on %s", ev.other)
	t.Logf("drained %s; the player's first request to %s came %.1f s later, its last to %s %.1f s later",
		ev.victim, ev.other, (other.FirstEpochMs-at)/1000, ev.victim, (victim.LastEpochMs-at)/1000)

	// the drained edge is left with nobody: its viewer session ends
	assert.Eventually(t, func() bool { return c.edges[ev.victim].Stats().Subscribers == 0 }, time.Minute, 500*time.Millisecond,
		"the drained edge still counts a viewer")
}

// TestBrowserRecoversFromAStoppedEdge stops the edge hls.js loads from (its ports close at once): the
// player, whose steering manifest names the other edge as its fallback pathway, goes there by itself
// and plays on.
func TestBrowserRecoversFromAStoppedEdge(t *testing.T) {
	c := startSteeredCluster(t)
	r, ev := c.play(t, step{after: steerDrainAfter, do: c.stop})
	victim, other := c.hosts(t, &r, ev)
	forgiveVictim(&r, victim)
	check(t, &r, steerPlayFor, recoverBar)
	at := float64(ev.at.UnixMilli())
	assert.LessOrEqual(t, other.FirstEpochMs, at+float64(steerMoveWithin.Milliseconds()),
		"the player reached %s only %.1f s after %s stopped", ev.other, (other.FirstEpochMs-at)/1000, ev.victim)
	assert.Greater(t, other.LastEpochMs, at+float64((steerPlayFor-steerDrainAfter)/2/time.Millisecond),
		"the player did not play on from %s", ev.other)
	t.Logf("stopped %s; the player's first request to %s came %.1f s later", ev.victim, ev.other, (other.FirstEpochMs-at)/1000)
}

// TestBrowserMovesToStorageWhenTheOnlyEdgeDrains: with the storage push's copy as a pathway, the
// player of the only edge is steered to the bucket when that edge drains (no other edge can take it),
// plays on from there without a fatal error or a long stall, and the drained edge is left with no
// viewer: a scale-in to zero edges, or a rolling upgrade of the last one, cuts nobody.
func TestBrowserMovesToStorageWhenTheOnlyEdgeDrains(t *testing.T) {
	c := startCluster(t, true, 0)
	r, ev := c.play(t, step{after: steerDrainAfter, do: c.drain})
	check(t, &r, steerPlayFor, looseBar)
	victim, bucket := c.hosts(t, &r, ev)
	at := float64(ev.at.UnixMilli())
	assert.GreaterOrEqual(t, bucket.FirstEpochMs, at, "the player loaded from the bucket before the drain")
	assert.LessOrEqual(t, victim.LastEpochMs, at+float64(steerMoveWithin.Milliseconds()),
		"the player still loaded from the drained edge %.1f s after the drain", (victim.LastEpochMs-at)/1000)
	assert.Greater(t, bucket.LastEpochMs, at+float64((steerPlayFor-steerDrainAfter)/2/time.Millisecond),
		"the player did not stay on the bucket")
	t.Logf("drained %s; the player's first request to the bucket came %.1f s later, its last to %s %.1f s later",
		ev.victim, (bucket.FirstEpochMs-at)/1000, ev.victim, (victim.LastEpochMs-at)/1000)
	assert.Eventually(t, func() bool { return c.edges[ev.victim].Stats().Subscribers == 0 }, time.Minute, 500*time.Millisecond,
		"the drained edge still counts a viewer")
}

// TestBrowserFallsBackToStorage stops the only edge (its ports close at once): the player, whose
// steering manifest names the storage pathway as its fallback, goes to the bucket by itself and plays on.
func TestBrowserFallsBackToStorage(t *testing.T) {
	c := startCluster(t, true, 0)
	r, ev := c.play(t, step{after: steerDrainAfter, do: c.stop})
	victim, bucket := c.hosts(t, &r, ev)
	forgiveVictim(&r, victim)
	check(t, &r, steerPlayFor, looseBar)
	at := float64(ev.at.UnixMilli())
	assert.LessOrEqual(t, bucket.FirstEpochMs, at+float64(steerMoveWithin.Milliseconds()),
		"the player reached the bucket only %.1f s after %s stopped", (bucket.FirstEpochMs-at)/1000, ev.victim)
	assert.Greater(t, bucket.LastEpochMs, at+float64((steerPlayFor-steerDrainAfter)/2/time.Millisecond),
		"the player did not play on from the bucket")
	t.Logf("stopped %s; the player's first request to the bucket came %.1f s later", ev.victim, (bucket.FirstEpochMs-at)/1000)
}

// TestBrowserComesBackFromStorage: the only edge (capacity 1) is full, so the manager sends a new viewer
// to storage through that edge's multivariant playlist, which starts it on the storage pathway with the
// edge as its home; hls.js plays from the bucket, loading nothing from the edge. Once the edge has room
// (its other viewer leaves), the steering server brings the player to it within a few TTLs, and it plays
// on there without a fatal error or a long stall.
func TestBrowserComesBackFromStorage(t *testing.T) {
	c := startCluster(t, true, 1)
	edge := c.edges["steer-a"]
	occupier := testutil.Watch(t, "http://"+edge.HTTPAddr()+"/"+steerPath+"/index.m3u8")
	// the manager spills new viewers once the edge reports its viewer: to the edge's playlist, on storage
	spilled := "http://" + edge.HTTPAddr() + "/" + steerPath + "/index.m3u8?pathway=cdn"
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	require.Eventually(t, func() bool {
		resp, err := noFollow.Get(c.mgr + "/" + steerPath + "/index.m3u8")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusFound && resp.Header.Get("Location") == spilled
	}, 20*time.Second, 200*time.Millisecond, "the manager never spilled a viewer of the full edge to storage")

	const playFor, releaseAfter = 40 * time.Second, 14 * time.Second
	type backEvent struct {
		released, back time.Time
		onEdgeBefore   int // the edge's viewers while the player was on storage: the occupier alone
	}
	events := make(chan backEvent, 1)
	go func() {
		defer close(events)
		time.Sleep(releaseAfter)
		ev := backEvent{onEdgeBefore: edge.Stats().Subscribers}
		occupier.Stop()
		ev.released = time.Now()
		// the occupier's session ends, then the player's begins
		left := false
		for deadline := time.Now().Add(playFor); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			switch n := edge.Stats().Subscribers; {
			case n == 0:
				left = true
			case left && n > 0:
				ev.back = time.Now()
				events <- ev
				return
			}
		}
		events <- ev
	}()

	r := c.watch(t, "hlsjs-ll/spilled", playFor)
	check(t, &r, playFor, looseBar)
	ev := <-events
	assert.Equal(t, 1, ev.onEdgeBefore, "while the player was on storage the edge had one viewer, the occupier")
	require.False(t, ev.back.IsZero(), "the player never came back to the edge once it had room")
	var onEdge, onBucket hostStats
	for _, h := range r.Hosts {
		switch h.Host {
		case edge.HTTPAddr():
			onEdge = h
		case c.storage:
			onBucket = h
		}
	}
	require.NotZero(t, onBucket.Requests, "the player never loaded from the bucket")
	assert.Less(t, onBucket.FirstEpochMs, float64(ev.released.UnixMilli()), "the player was not on the bucket before the edge had room")
	assert.Greater(t, onEdge.LastEpochMs, float64(ev.back.Add(5*time.Second).UnixMilli()), "the player did not stay on the edge")
	// the edge has room once the occupier's session no longer counts (an edge's default session timeout,
	// 10 s after its last request), and tells the manager within a report interval; then at most two TTLs
	// and a playlist load
	assert.Less(t, ev.back.Sub(ev.released), 10*time.Second+time.Second+steerMoveWithin,
		"the player came back only %s after the edge's other viewer left", ev.back.Sub(ev.released))
	t.Logf("the edge's other viewer left; the player came back to it %.1f s later", ev.back.Sub(ev.released).Seconds())
}

// adminPost posts body to the manager's native API as its administrator and requires 201.
func adminPost(t *testing.T, u, body string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode, "POST %s: %s", u, b)
}

// drain drains the edge victim through the manager's API.
func (c *steeredCluster) drain(victim string) error {
	req, _ := http.NewRequest(http.MethodPost, c.mgr+"/api/v1/nodes/"+victim+"/drain", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("drain %s: HTTP %d", victim, resp.StatusCode)
	}
	return nil
}

// stop stops the edge victim: its ports close at once.
func (c *steeredCluster) stop(victim string) error { c.stops[victim](); return nil }

// forgiveVictim takes out of r what a stopped edge answered while it stopped (503) and the requests its
// closed port refused: they are the fault itself; everything else is held to the usual bar.
func forgiveVictim(r *result, victim hostStats) {
	for code, n := range victim.PlaylistStatuses {
		if code != "200" {
			r.Playlists.Statuses[code] -= n
			if r.Playlists.Statuses[code] == 0 {
				delete(r.Playlists.Statuses, code)
			}
		}
	}
	dropFailed(r, func(u *url.URL, _ float64) bool { return u.Host == victim.Host })
}

// dropFailed takes out of r the failed requests that forgive reports (by URL and when they failed, ms since
// the epoch): what a fault the test caused made fail. It returns how many it took out.
func dropFailed(r *result, forgive func(u *url.URL, atMs float64) bool) int {
	kept := r.RequestsFailed[:0]
	for _, f := range r.RequestsFailed {
		at, _ := f["epochMs"].(float64)
		if u, err := url.Parse(fmt.Sprint(f["url"])); err != nil || !forgive(u, at) {
			kept = append(kept, f)
		}
	}
	n := len(r.RequestsFailed) - len(kept)
	r.RequestsFailed = kept
	return n
}

// steeredCluster is a manager (steering TTL steerTTL), an origin publishing steerPath, and two edges on
// one port of two loopback addresses: a pathway clone replaces the host name and keeps the port. With a
// storage pathway, there is one edge, and the origin pushes the stream to a bucket (versitygw) that
// players read: the edge adds it to its multivariant playlists as the pathway "cdn".
type steeredCluster struct {
	root, modules, mgr, port string
	restartManager           func(down time.Duration) error
	edges                    map[string]*node.Node
	stops                    map[string]func()
	storage                  string // the bucket's host:port ("" for none)
}

func startSteeredCluster(t *testing.T) *steeredCluster { return startCluster(t, false, 0) }

// startCluster starts a steered cluster, with a storage pathway or not. With edgeCapacity > 0 its nodes
// are of the group spillGroup, whose launch configuration gives edges that connection capacity (no
// autoscaler: the manager has no cloud controller).
func startCluster(t *testing.T, storage bool, edgeCapacity int) *steeredCluster {
	t.Helper()
	root, modules := requirePlayers(t)
	var bucket config.Storage
	if storage {
		_, bucket, _ = testutil.S3Bucket(t, "live")
	}
	mgr, restart, _ := managertest.StartRestartable(t, func(c *config.Config) {
		c.Manager.AdminToken, c.Cluster.Secret = adminToken, clusterSecret
		c.Manager.ReportInterval, c.Manager.NodeTimeout = time.Second, 5*time.Second
		c.Manager.Steering.TTL = steerTTL
		if storage {
			// what the origin pushes, as players read it: <endpoint>/<bucket>/<prefix>
			// (NAGARE_PLAYERS_CDN_PLAYLIST=index_ll.m3u8 tries the polled low-latency one)
			playlist := cmp.Or(os.Getenv("NAGARE_PLAYERS_CDN_PLAYLIST"), "index.m3u8")
			c.Manager.Steering.CDN = config.SteeringCDN{URL: bucket.Endpoint + "/live/hls", Playlist: playlist}
		}
	})
	group := ""
	if edgeCapacity > 0 {
		group = spillGroup
		adminPost(t, mgr+"/api/v1/scalepolicies", `{"name":"spill","targets":[{"role":"edge","minLimit":1,"maxLimit":1,"scaleAdjustment":1}]}`)
		adminPost(t, mgr+"/api/v1/launchconfigs", fmt.Sprintf(`{"name":"spill","image":"nagare","targets":[`+
			`{"role":"origin","instanceType":"local","connectionCapacity":1000},{"role":"edge","instanceType":"local","connectionCapacity":%d}]}`, edgeCapacity))
		adminPost(t, mgr+"/api/v1/nodegroups", `{"name":"`+spillGroup+`","launchConfig":"spill","scalePolicy":"spill"}`)
	}
	inCluster := func(id string) func(*config.Config) {
		return func(c *config.Config) {
			c.Cluster.ManagerURL, c.Cluster.Secret, c.Cluster.NodeID, c.Cluster.Group = mgr, clusterSecret, id, group
		}
	}
	origin, _ := testutil.StartNode(t, func(c *config.Config) {
		inCluster("steer-origin")(c)
		if storage {
			c.Storage = bucket
			c.Push.Enabled, c.Push.Prefix, c.Push.LowLatency, c.Push.PublicRead, c.Push.CORS = true, "hls", true, true, true
		}
	})
	c := &steeredCluster{root: root, modules: modules, mgr: mgr, restartManager: restart,
		port: testutil.SharedLoopbackPort(t, "127.0.0.2", "127.0.0.3"), edges: map[string]*node.Node{}, stops: map[string]func(){}}
	edges := map[string]string{"steer-a": "127.0.0.2", "steer-b": "127.0.0.3"}
	if storage {
		c.storage = strings.TrimPrefix(bucket.Endpoint, "http://")
		delete(edges, "steer-b")
	}
	for id, host := range edges {
		c.edges[id], _, c.stops[id] = testutil.StartStoppableNode(t, func(cfg *config.Config) {
			inCluster(id)(cfg)
			cfg.Node.Role = "edge"
			cfg.HTTP.Address = net.JoinHostPort(host, c.port)
		})
	}
	testutil.Publish(t, publishURL(origin.RTMPAddr(), steerPath), "flv")
	testutil.WaitLive(t, "http://"+origin.HTTPAddr()+"/"+steerPath+"/index.m3u8", 20*time.Second)
	if storage {
		testutil.WaitLive(t, "http://"+c.storage+"/live/hls/"+steerPath+"/index.m3u8", 30*time.Second)
	}

	// the manager sends viewers to an edge, whose multivariant playlist names the manager as its steering
	// server and itself as the pathway
	require.Eventually(t, func() bool {
		resp, err := http.Get(mgr + "/" + steerPath + "/index.m3u8") // the redirect followed
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body, final := string(b), resp.Request.URL.String()
		// SERVER-URI: the edge's port, the player's token and the edge as its home (for rebalancing)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "#EXT-X-CONTENT-STEERING:SERVER-URI=\""+mgr+"/steering/v1/"+steerPath+"?port="+c.port+"&player=") {
			return false
		}
		if storage && !strings.Contains(body, `PATHWAY-ID="cdn"`+"\nhttp://"+c.storage+"/live/hls/"+steerPath+"/") {
			return false // the edge names the bucket's copy as the storage pathway
		}
		for id, n := range c.edges {
			if strings.HasPrefix(final, "http://"+n.HTTPAddr()+"/") && strings.Contains(body, `PATHWAY-ID="`+id+`"`) &&
				strings.Contains(body, "&home="+id+`"`) {
				return true
			}
		}
		return false
	}, 20*time.Second, 200*time.Millisecond, "the manager never sent viewers to an edge that names it as the steering server")
	return c
}

// steerEvent is what the last step did to the edge the player loaded from, and when.
type steerEvent struct {
	victim, other string
	at            time.Time
	err           error // of what was done to the victim, or of an earlier step
}

// step is something done while the player plays: do, called with the edge the player loads from, this
// long after the player arrived there.
type step struct {
	after time.Duration
	do    func(victim string) error
}

// play plays the stream in hls.js (as nagare's pages set it up) through the manager for steerPlayFor,
// and takes the steps, one after the other, with the edge the player loads from.
func (c *steeredCluster) play(t *testing.T, steps ...step) (result, steerEvent) {
	t.Helper()
	events := make(chan steerEvent, 1)
	go func() {
		defer close(events)
		// the player's session is the one the edges did not count before (the probe above has its own,
		// which ends some seconds after its one request)
		baseline := map[string]int{}
		for id, n := range c.edges {
			baseline[id] = n.Stats().Subscribers
		}
		deadline := time.Now().Add(startupBound + 10*time.Second)
		victim := ""
		for victim == "" && time.Now().Before(deadline) {
			for id, n := range c.edges {
				switch v := n.Stats().Subscribers; {
				case v > baseline[id]:
					victim = id
				case v < baseline[id]:
					baseline[id] = v
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		if victim == "" {
			return
		}
		arrived := time.Now()
		other := "" // the edge the player is to move to; none with a storage pathway
		for id := range c.edges {
			if id != victim {
				other = id
			}
		}
		var ev steerEvent
		for _, s := range steps {
			time.Sleep(time.Until(arrived.Add(s.after)))
			at := time.Now()
			err := s.do(victim)
			ev = steerEvent{victim: victim, other: other, at: at, err: cmp.Or(ev.err, err)}
		}
		events <- ev
	}()

	r := c.watch(t, "hlsjs-ll/steered", steerPlayFor)
	ev, ok := <-events
	require.True(t, ok, "no edge had the player's session")
	require.NoError(t, ev.err)
	return r, ev
}

// watch plays the stream in hls.js (as nagare's pages set it up) through the manager for playFor.
func (c *steeredCluster) watch(t *testing.T, name string, playFor time.Duration) result {
	t.Helper()
	shipped, err := webui.HLSLiveConfig()
	require.NoError(t, err)
	var configure map[string]any
	require.NoError(t, json.Unmarshal(shipped, &configure))
	trace := os.Getenv("NAGARE_PLAYERS_TRACE")
	pages := pageServer(c.root, c.modules)
	defer pages.Close()
	_, results := drive(t, c.root, c.modules, pages.URL, trace, playFor, []runPlayer{{
		Name: name, Player: "hlsjs", LowLatency: true, Src: c.mgr + "/" + steerPath + "/index.m3u8",
		Debug: trace != "", Configure: configure,
	}})
	t.Logf("%s\nhosts: %+v", table(results), results[0].Hosts)
	return results[0]
}

// hosts returns what the player asked of the victim edge and of the other one (the bucket when there
// is no other edge); it must have asked both.
func (c *steeredCluster) hosts(t *testing.T, r *result, ev steerEvent) (victim, other hostStats) {
	t.Helper()
	var gotVictim, gotOther bool
	to := c.storage
	if ev.other != "" {
		to = c.edges[ev.other].HTTPAddr()
	}
	for _, h := range r.Hosts {
		switch h.Host {
		case c.edges[ev.victim].HTTPAddr():
			victim, gotVictim = h, true
		case to:
			other, gotOther = h, true
		}
	}
	require.True(t, gotVictim, "the player never loaded from %s", ev.victim)
	require.True(t, gotOther, "the player never moved to %s", to)
	return victim, other
}
