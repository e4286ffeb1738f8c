package e2e

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/loadtest"
	"github.com/nagare-video/nagare/internal/manager/api/apitypes"
	"github.com/nagare-video/nagare/internal/media/pubauth"
	"github.com/nagare-video/nagare/internal/media/stream"
	"github.com/nagare-video/nagare/internal/nodemodel"
	"github.com/nagare-video/nagare/internal/testutil"
)

// soakScale is how big and long the soak is: the CI scale by default, the full scale with SOAK_SCALE=full
// (make soak, make bench).
type soakScale struct {
	viewers                int
	ramp, hold, rampDown   time.Duration
	ttl                    time.Duration // steering
	edgeCapacity, edgeMax  int
	outage, freeze         time.Duration
	killAt, upgradeAt      time.Duration // from the start of the hold
	outageAt, freezeAt     time.Duration
	restartAt              time.Duration
	upgradeTimeout, report time.Duration
	full                   bool
}

func soakScaleFromEnv(t *testing.T) soakScale {
	s := soakScale{viewers: 16, ramp: 10 * time.Second, hold: 90 * time.Second, rampDown: 5 * time.Second,
		ttl: time.Second, edgeCapacity: 10, edgeMax: 6, outage: 8 * time.Second, freeze: 8 * time.Second,
		killAt: 8 * time.Second, upgradeAt: 20 * time.Second, outageAt: 24 * time.Second, freezeAt: 58 * time.Second,
		restartAt: 75 * time.Second, upgradeTimeout: 35 * time.Second, report: time.Second}
	if os.Getenv("SOAK_SCALE") == "full" {
		s = soakScale{viewers: 500, ramp: time.Minute, hold: 8 * time.Minute, rampDown: time.Minute,
			ttl: 5 * time.Second, edgeCapacity: 250, edgeMax: 6, outage: 30 * time.Second, freeze: 20 * time.Second,
			killAt: time.Minute, upgradeAt: 2 * time.Minute, outageAt: 3 * time.Minute, freezeAt: 5*time.Minute + 30*time.Second,
			restartAt: 7 * time.Minute, upgradeTimeout: 3 * time.Minute, report: time.Second, full: true}
	}
	if v := os.Getenv("SOAK_VIEWERS"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, "SOAK_VIEWERS")
		s.viewers = n
	}
	return s
}

// TestSoak is the soak scenario: a manager with the process controller (edges of small capacity, each on
// its own loopback address with one HTTP port, so content steering can move players between them), an
// origin pushing to a versitygw bucket, an audience of virtual LL-HLS players (nagare loadtest) ramping
// up, holding and ramping down through the manager, and faults on a schedule during the hold: an edge
// killed with SIGKILL, a rolling upgrade of every edge to another build, the storage backend stopped, an
// edge frozen with SIGSTOP, the manager killed and started again. It checks that no viewer was cut, that
// drained edges emptied within a few steering TTLs, that the killed edge's viewers played on elsewhere,
// that the upgrade finished, that the push recovered and that the manager lost no record; and it reports
// what every viewer saw (the report's HTML and JSON are written to SOAK_REPORT, a directory, when
// set).
func TestSoak(t *testing.T) {
	testutil.RequireFFmpeg(t)
	sc := soakScaleFromEnv(t)
	dir := t.TempDir()
	const v2Version = "2.0.0-soak"
	var v1, v2 string
	if sc.full {
		// at full scale the nodes are built as released (without the race detector, which would take the
		// cores the audience needs)
		v1, v2 = buildVersion(t, "", false), buildVersion(t, v2Version, false)
	} else {
		v1, v2 = binary(t), buildVersion(t, v2Version, true)
	}

	gw, _, bucket := testutil.S3Bucket(t, "soak")
	storageEnv := []string{"NAGARE_STORAGE_BACKEND=s3", "NAGARE_STORAGE_ENDPOINT=" + gw.Endpoint, "NAGARE_STORAGE_BUCKET=soak",
		"NAGARE_STORAGE_PATH_STYLE=true", "NAGARE_STORAGE_ACCESS_KEY_ID=" + gw.AccessKey,
		"NAGARE_STORAGE_SECRET_ACCESS_KEY=" + gw.SecretKey, "NAGARE_STORAGE_REGION=us-east-1"}

	// the manager on a fixed address, so that it can be started again where the nodes report
	mgrAddr := freeLoopbackAddr(t)
	httpPort := testutil.SharedLoopbackPort(t, "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6",
		"127.0.0.7", "127.0.0.8", "127.0.0.9", "127.0.0.10", "127.0.0.11", "127.0.0.12")
	mgrEnv := append([]string{
		"NAGARE_MANAGER_ADDRESS=" + mgrAddr, "NAGARE_MANAGER_STORE_DSN=" + filepath.Join(dir, "m.db"),
		"NAGARE_MANAGER_ADMIN_TOKEN=" + adminToken, "NAGARE_CLUSTER_SECRET=" + clusterSecret,
		"NAGARE_MANAGER_REPORT_INTERVAL=" + sc.report.String(), "NAGARE_MANAGER_NODE_TIMEOUT=3s",
		"NAGARE_MANAGER_STEERING_TTL=" + sc.ttl.String(),
		"NAGARE_MANAGER_AUTOSCALE_CONTROLLER=process", "NAGARE_MANAGER_AUTOSCALE_INTERVAL=250ms",
		"NAGARE_MANAGER_AUTOSCALE_DRAIN_TIMEOUT=60s",
		"NAGARE_MANAGER_AUTOSCALE_SETTINGS=binary=" + v1 + ",workDir=" + dir + ",logDir=" + filepath.Join(dir, "nodes") +
			",stopTimeout=5s,httpPort=" + httpPort,
		"NAGARE_PUBLISH_TOKEN_SECRET=" + publishSecret,
	}, storageEnv...)
	mgr := startBinary(t, v1, mgrEnv, "manager")
	base := "http://" + mgr.field(t, "manager running", "address")
	api := base + "/api/v1"
	var orphans []int // edges of the first manager, which outlive it: killed at the end
	t.Cleanup(func() {
		for _, pid := range orphans {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
		if t.Failed() {
			logs, _ := filepath.Glob(filepath.Join(dir, "nodes", "*.log"))
			for _, l := range logs {
				b, _ := os.ReadFile(l)
				t.Logf("--- %s (last 3000 bytes) ---\n%s", filepath.Base(l), tail(b, 3000))
			}
		}
	})

	// the group: edges of small capacity, 2 to edgeMax; the origin is started by hand (an unmanaged node
	// of the group, which a rolling upgrade leaves alone: its publisher would be cut)
	admin(t, "POST", api+"/scalepolicies", fmt.Sprintf(`{"name":"soak","targets":[{"role":"edge","minLimit":2,"maxLimit":%d,"scaleAdjustment":1}],"warmUpMs":15000,"coolDownMs":20000}`, sc.edgeMax), http.StatusCreated, nil)
	admin(t, "POST", api+"/launchconfigs", fmt.Sprintf(`{"name":"soak","image":"nagare","targets":[{"role":"origin","instanceType":"local","connectionCapacity":5000},{"role":"edge","instanceType":"local","connectionCapacity":%d}]}`, sc.edgeCapacity), http.StatusCreated, nil)
	admin(t, "POST", api+"/nodegroups", `{"name":"soak","launchConfig":"soak","scalePolicy":"soak"}`, http.StatusCreated, nil)
	origin := startBinary(t, v1, append([]string{
		"NAGARE_NODE_ROLE=origin", "NAGARE_CLUSTER_MANAGER_URL=" + base, "NAGARE_CLUSTER_SECRET=" + clusterSecret,
		"NAGARE_CLUSTER_NODE_ID=soak-origin", "NAGARE_CLUSTER_GROUP=soak",
		"NAGARE_RTMP_ADDRESS=127.0.0.1:0", "NAGARE_SRT_ADDRESS=127.0.0.1:0", "NAGARE_HTTP_ADDRESS=127.0.0.1:0",
		"NAGARE_PUBLISH_TOKEN_SECRET=" + publishSecret, "NAGARE_PUSH_ENABLED=true", "NAGARE_PUSH_PREFIX=hls",
	}, storageEnv...), "node")
	rtmp := origin.field(t, "node running", "rtmp")
	tok := pubauth.Sign([]byte(publishSecret), stream.Path{App: "live", Name: "soak"}, time.Now().Add(2*time.Hour))
	testutil.Publish(t, "rtmp://"+rtmp+"/live/soak?token="+tok, "flv")
	require.Eventually(t, func() bool { return len(soakNodes(t, api, "edge", "inservice")) >= 2 }, 90*time.Second, 250*time.Millisecond,
		"the group's edges never came up")
	testutil.WaitLive(t, "http://"+origin.field(t, "node running", "http")+"/live/soak/index.m3u8", 30*time.Second)

	// every node ever seen, by id: where it serves (players' hosts) and its pid
	seen := &nodeBook{addr: map[string]string{}, pid: map[string]int{}}
	watchCtx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	go seen.watch(watchCtx, t, api)

	// the audience
	var rep *loadtest.Report
	began := time.Now()
	audience := make(chan error, 1)
	go func() {
		var err error
		rep, err = loadtest.Run(context.Background(), loadtest.Config{URL: base + "/live/soak/index.m3u8",
			Viewers: sc.viewers, Ramp: sc.ramp, Hold: sc.hold, RampDown: sc.rampDown, CutAfter: 12 * time.Second,
			ManagerToken: adminToken})
		audience <- err
	}()
	hold := func(d time.Duration) time.Time { return began.Add(sc.ramp + d) }
	waitUntil := func(at time.Time) { time.Sleep(time.Until(at)) }
	faults := map[string]time.Time{}

	// 1. an edge killed with SIGKILL: the one with most viewers
	waitUntil(hold(sc.killAt))
	killed := busiestEdge(t, api)
	require.NotEmpty(t, killed.ID)
	seen.add(killed)
	pid := seen.pidOf(t, api, killed.ID)
	faults["kill"] = time.Now()
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	t.Logf("killed edge %s (%s, pid %d) at %.0f s", killed.ID, killed.Addresses.HTTP, pid, time.Since(began).Seconds())

	// 2. a rolling upgrade of every edge to another build
	waitUntil(hold(sc.upgradeAt))
	var lc apitypes.LaunchConfig
	admin(t, "GET", api+"/launchconfigs/soak", "", http.StatusOK, &lc)
	lc.Properties = append(lc.Properties, apitypes.KV{Key: apitypes.VersionProperty, Value: v2Version},
		apitypes.KV{Key: "process.binary", Value: v2})
	b, _ := json.Marshal(lc)
	faults["upgrade"] = time.Now()
	admin(t, "PUT", api+"/launchconfigs/soak", string(b), http.StatusOK, nil)
	upgraded := make(chan time.Time, 1) // when the rollout was first seen done
	go func() {
		defer close(upgraded)
		for deadline := faults["upgrade"].Add(sc.upgradeTimeout); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
			var ro apitypes.Rollout
			if callAuth(t, api+"/nodegroups/soak/rollout", &ro) && ro.Done {
				upgraded <- time.Now()
				return
			}
		}
	}()

	// 3. the storage backend stopped (during the upgrade)
	waitUntil(hold(sc.outageAt))
	faults["outage"] = time.Now()
	gw.Stop()
	time.Sleep(sc.outage)
	gw.Restart()
	faults["storage back"] = time.Now()

	done, ok := <-upgraded
	var ro apitypes.Rollout
	admin(t, "GET", api+"/nodegroups/soak/rollout", "", http.StatusOK, &ro)
	require.True(t, ok, "the rolling upgrade did not finish within %s: %+v", sc.upgradeTimeout, ro)
	faults["upgraded"] = done
	t.Logf("rolling upgrade done in %.0f s: %+v", faults["upgraded"].Sub(faults["upgrade"]).Seconds(), ro.Roles)
	for _, n := range soakNodes(t, api, "edge", "inservice") {
		assert.Equal(t, v2Version, n.Version, "edge %s", n.ID)
	}

	// 4. an edge frozen with SIGSTOP
	waitUntil(hold(sc.freezeAt))
	frozen := busiestEdge(t, api)
	seen.add(frozen)
	fpid := seen.pidOf(t, api, frozen.ID)
	faults["freeze"] = time.Now()
	require.NoError(t, syscall.Kill(fpid, syscall.SIGSTOP))
	t.Logf("froze edge %s (%s, pid %d) at %.0f s", frozen.ID, frozen.Addresses.HTTP, fpid, time.Since(began).Seconds())
	time.AfterFunc(sc.freeze, func() { _ = syscall.Kill(fpid, syscall.SIGCONT) })

	// 5. the manager killed and started again on the same address and store
	waitUntil(hold(sc.restartAt))
	// by now every viewer has moved at least once (upgrade, faults): the edges count those that came
	// with another edge's session id in their URLs too
	counted := 0
	for _, n := range soakNodes(t, api, "edge", "") {
		counted += n.Stats.Connections
	}
	assert.GreaterOrEqual(t, counted, sc.viewers/2, "the edges report %d viewers of %d", counted, sc.viewers)
	var before []apitypes.ScaleEvent
	admin(t, "GET", api+"/scaleevents?limit=1000", "", http.StatusOK, &before)
	for _, in := range instances(t, api) {
		if p, err := strconv.Atoi(in.ID); err == nil && in.State != "terminated" {
			orphans = append(orphans, p)
		}
	}
	faults["manager killed"] = time.Now()
	require.NoError(t, mgr.cmd.Process.Kill())
	<-mgr.done
	mgr2 := startBinary(t, v1, mgrEnv, "manager")
	require.Equal(t, mgrAddr, mgr2.field(t, "manager running", "address"))
	faults["manager back"] = time.Now()
	var after []apitypes.ScaleEvent
	admin(t, "GET", api+"/scaleevents?limit=1000", "", http.StatusOK, &after)
	assert.GreaterOrEqual(t, len(after), len(before), "scale events lost over the restart")

	require.NoError(t, <-audience)
	stopWatch()
	tot := rep.Totals
	at := func(name string) float64 { return faults[name].Sub(rep.Started).Seconds() }
	t.Logf("audience: %d viewers, started %d, cut %d, stalls %d (viewers %d, longest %.0f ms), errors %d, pathway switches %d, startup p50 %.0f ms, latency p50 %.2f s p95 %.2f s",
		tot.Viewers, tot.Started, tot.ViewersCut, tot.Stalls, tot.ViewersStalled, tot.LongestStallMs, tot.Errors,
		tot.PathwaySwitches, tot.StartupP50Ms, tot.LatencyP50Ms/1000, tot.LatencyP95Ms/1000)
	faultTimes := make([]string, 0, len(faults))
	for name := range faults {
		faultTimes = append(faultTimes, fmt.Sprintf("%s %.0f s", name, at(name)))
	}
	slices.Sort(faultTimes)
	t.Logf("faults: %s", strings.Join(faultTimes, ", "))
	faultPlus := func(name string, d time.Duration) time.Time { return faults[name].Add(d) }
	for _, w := range []struct {
		name     string
		from, to time.Time
	}{
		{"the kill", faults["kill"], faultPlus("kill", 8*time.Second)}, {"the upgrade", faults["upgrade"], faultPlus("upgraded", 5*time.Second)},
		{"the storage outage", faults["outage"], faultPlus("storage back", 5*time.Second)}, {"the freeze", faults["freeze"], faultPlus("freeze", 15*time.Second)},
		{"the manager restart", faults["manager killed"], faultPlus("manager back", 5*time.Second)},
	} {
		t.Logf("stalls begun during %s (%.0f–%.0f s): %d", w.name, w.from.Sub(rep.Started).Seconds(), w.to.Sub(rep.Started).Seconds(),
			len(stallsIn(rep, w.from, w.to)))
	}
	writeSoakReport(t, rep)

	assert.Equal(t, tot.Viewers, tot.Started, "viewers never started")
	assert.Zero(t, tot.ViewersCut, "viewers cut (a stall of 12 s or more)")

	// the killed edge's viewers play on elsewhere: nobody on it within 3 report intervals (+ a second of
	// ticks), and no stall then longer than 3 s
	killedHost := seen.host(killed.ID)
	gone := firstTickWithout(rep, killedHost, at("kill"))
	t.Logf("killed edge %s empty %.1f s after the kill", killedHost, gone-at("kill"))
	assert.LessOrEqual(t, gone-at("kill"), 3*sc.report.Seconds()+1+sc.ttl.Seconds(), "viewers stayed on the killed edge")
	for _, s := range stallsIn(rep, faults["kill"], faultPlus("kill", 8*time.Second)) {
		assert.LessOrEqual(t, s.Ms, 3000.0, "viewer %d stalled longer than 3 s after the kill: %+v", s.viewer, s.StallEvent)
	}

	// the rolling upgrade stalled nobody longer than one part (the nodes' default, 200 ms)
	for _, s := range stallsIn(rep, faults["upgrade"], faultPlus("upgraded", 5*time.Second)) {
		assert.LessOrEqual(t, s.Ms, 200.0, "viewer %d stalled longer than a part during the upgrade: %+v", s.viewer, s.StallEvent)
	}

	frozenHost := seen.host(frozen.ID)
	t.Logf("frozen edge %s empty %.1f s after it froze", frozenHost, firstTickWithout(rep, frozenHost, at("freeze"))-at("freeze"))

	// drained edges (scale-in and the upgrade) empty within 2 TTL + 2 s (+ the second of ticks)
	var events []apitypes.NodeEvent
	admin(t, "GET", api+"/events?limit=1000", "", http.StatusOK, &events)

	// nobody was sent to an edge the manager had drained or found dead: no viewer's media came from an
	// edge's host for the first time (its first answer) more than a grace after the manager took that
	// edge out of service, until a node was in service there again (the process controller gives a new
	// node a freed address). The grace covers a redirect or steering answer given just before.
	out := outOfService(events, seen)
	sent := 0
	for _, v := range rep.Viewers {
		for _, m := range v.Moves {
			for _, o := range out[m.To] {
				if m.At.After(o.from.Add(2*time.Second)) && m.At.Before(o.to) {
					sent++
					assert.Fail(t, "a viewer sent to an edge out of service", "viewer %d moved %s → %s at %.1f s; %s was out of service from %.1f s (%s)",
						v.ID, m.From, m.To, m.At.Sub(rep.Started).Seconds(), m.To, o.from.Sub(rep.Started).Seconds(), o.why)
				}
			}
		}
	}
	t.Logf("viewers sent to an edge out of service: %d", sent)
	for _, ev := range events {
		if ev.To != "draining" || seen.host(ev.NodeID) == "" || ev.NodeID == frozen.ID {
			continue
		}
		from := ev.At.Sub(rep.Started).Seconds()
		if from < 0 || from > rep.Duration-3*sc.ttl.Seconds() {
			continue
		}
		empty := firstTickWithout(rep, seen.host(ev.NodeID), from)
		t.Logf("drained edge %s (%s) empty %.1f s after its drain", ev.NodeID, seen.host(ev.NodeID), empty-from)
		assert.LessOrEqual(t, empty-from, 2*sc.ttl.Seconds()+2+1, "viewers stayed on drained edge %s", ev.NodeID)
	}

	// the push recovered from the storage outage: objects written after the backend came back
	objs, err := bucket.List(context.Background(), "hls/live/soak/")
	require.NoError(t, err)
	newer := 0
	for _, o := range objs {
		if o.ModTime.After(faults["storage back"].Add(time.Second)) { // S3 keeps whole seconds
			newer++
		}
	}
	assert.Positive(t, newer, "nothing pushed after the storage backend came back")

	// the manager restart stalled nobody
	for _, tick := range rep.Timeline {
		if tick.At >= at("manager killed") && tick.At <= at("manager back")+5 {
			assert.Zero(t, tick.Stalled, "viewers stalled at %.0f s, while the manager restarted", tick.At)
		}
	}
}

// buildVersion builds nagare with the version string version ("": dev), with the race detector or not.
func buildVersion(t *testing.T, version string, race bool) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "nagare-"+cmp.Or(version, "dev"))
	args := []string{"build"}
	if race {
		args = append(args, "-race")
	}
	if version != "" {
		args = append(args, "-ldflags", "-X github.com/nagare-video/nagare/internal/version.Version="+version)
	}
	out, err := exec.Command("go", append(args, "-o", path, "github.com/nagare-video/nagare/cmd/nagare")...).CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return path
}

func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// admin makes an admin API call, checks its status and decodes its answer into out (when set).
func admin(t *testing.T, method, url, body string, want int, out any) {
	t.Helper()
	var resp *http.Response
	var err error
	for attempt := 0; attempt < 20; attempt++ { // the manager may be restarting
		req, rerr := http.NewRequest(method, url, strings.NewReader(body))
		require.NoError(t, rerr)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		req.Header.Set("Content-Type", "application/json")
		if resp, err = http.DefaultClient.Do(req); err == nil {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	require.NoError(t, err, "%s %s", method, url)
	defer resp.Body.Close()
	var raw json.RawMessage
	_ = json.NewDecoder(resp.Body).Decode(&raw)
	require.Equal(t, want, resp.StatusCode, "%s %s: %s", method, url, raw)
	if out != nil {
		require.NoError(t, json.Unmarshal(raw, out), "%s %s: %s", method, url, raw)
	}
}

func soakNodes(t *testing.T, api, role, state string) []apitypes.Node {
	var all, out []apitypes.Node
	admin(t, "GET", api+"/nodes", "", http.StatusOK, &all)
	for _, n := range all {
		if string(n.Role) == role && (state == "" || string(n.State) == state) {
			out = append(out, n)
		}
	}
	return out
}

func instances(t *testing.T, api string) []instance {
	var out []instance
	admin(t, "GET", api+"/instances", "", http.StatusOK, &out)
	return out
}

// busiestEdge is the in-service edge with the most viewers.
func busiestEdge(t *testing.T, api string) apitypes.Node {
	var best apitypes.Node
	for _, n := range soakNodes(t, api, "edge", "inservice") {
		if best.ID == "" || n.Stats.Connections > best.Stats.Connections {
			best = n
		}
	}
	return best
}

// viewerStall is a stall of one viewer.
type viewerStall struct {
	viewer int
	loadtest.StallEvent
}

// stallsIn returns the viewers' stalls that began between from and to.
func stallsIn(rep *loadtest.Report, from, to time.Time) []viewerStall {
	var out []viewerStall
	for _, v := range rep.Viewers {
		for _, s := range v.StallLog {
			if !s.At.Before(from) && !s.At.After(to) {
				out = append(out, viewerStall{v.ID, s})
			}
		}
	}
	return out
}

// outage is a stretch in which a host's node was out of service as far as the manager knew: from the
// event that took it out (draining, terminating or terminated, a death among them) to the next node in
// service there (or forever).
type outage struct {
	from, to time.Time
	why      string
}

// outOfService returns the outages of every node's host from the manager's node events.
func outOfService(events []apitypes.NodeEvent, seen *nodeBook) map[string][]outage {
	slices.SortFunc(events, func(a, b apitypes.NodeEvent) int { return a.At.Compare(b.At) })
	out := map[string][]outage{}
	for _, ev := range events {
		host := seen.host(ev.NodeID)
		if host == "" {
			continue
		}
		list := out[host]
		open := len(list) > 0 && list[len(list)-1].to.IsZero()
		switch ev.To {
		case nodemodel.StateInService:
			if open {
				list[len(list)-1].to = ev.At
			}
		case nodemodel.StateDraining, nodemodel.StateTerminating, nodemodel.StateTerminated:
			if !open {
				list = append(list, outage{from: ev.At, why: fmt.Sprintf("%s %s: %s", ev.NodeID, ev.To, ev.Cause)})
			}
		}
		out[host] = list
	}
	for host, list := range out {
		for i := range list {
			if list[i].to.IsZero() {
				out[host][i].to = time.Now().Add(time.Hour)
			}
		}
	}
	return out
}

// firstTickWithout is the time of the first tick at or after from (seconds into the run) with no viewer on
// host (the run's end when there is none).
func firstTickWithout(rep *loadtest.Report, host string, from float64) float64 {
	for _, tick := range rep.Timeline {
		if tick.At >= from && tick.Hosts[host] == 0 {
			return tick.At
		}
	}
	return rep.Duration
}

// nodeBook remembers every node seen: its HTTP address (the host players use) and its pid.
type nodeBook struct {
	mu   sync.Mutex
	addr map[string]string
	pid  map[string]int
}

func (b *nodeBook) add(n apitypes.Node) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n.Addresses.HTTP != "" {
		b.addr[n.ID] = n.Addresses.HTTP
	}
}

func (b *nodeBook) host(id string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.addr[id]
}

func (b *nodeBook) pidOf(t *testing.T, api, id string) int {
	for _, in := range instances(t, api) {
		if in.NodeID == id {
			p, err := strconv.Atoi(in.ID)
			require.NoError(t, err, "%+v", in)
			return p
		}
	}
	t.Fatalf("no instance for node %s", id)
	return 0
}

// watch records the nodes every half second until ctx ends (the manager may be down for a moment).
func (b *nodeBook) watch(ctx context.Context, t *testing.T, api string) {
	client := &http.Client{Timeout: 2 * time.Second}
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, api+"/nodes", nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		if resp, err := client.Do(req); err == nil {
			var ns []apitypes.Node
			if resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&ns) == nil {
				for _, n := range ns {
					b.add(n)
				}
			}
			resp.Body.Close()
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// writeSoakReport writes the audience's report as HTML and JSON into SOAK_REPORT (a directory),
// when set.
func writeSoakReport(t *testing.T, rep *loadtest.Report) {
	dir := os.Getenv("SOAK_REPORT")
	if dir == "" {
		return
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	f, err := os.Create(filepath.Join(dir, "soak.html"))
	require.NoError(t, err)
	require.NoError(t, loadtest.WriteHTML(f, rep))
	require.NoError(t, f.Close())
	b, err := json.MarshalIndent(rep, "", "  ")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "soak.json"), b, 0o644))
	t.Logf("report: %s", filepath.Join(dir, "soak.html"))
}
