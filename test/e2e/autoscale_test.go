package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/media/pubauth"
	"github.com/nagare-video/nagare/internal/media/stream"
	"github.com/nagare-video/nagare/internal/testutil"
)

type scaleEvent struct {
	Action string   `json:"action"`
	Role   string   `json:"role"`
	Reason string   `json:"reason"`
	Nodes  []string `json:"nodes"`
}

type instance struct {
	ID     string `json:"id"`
	NodeID string `json:"nodeId"`
	Role   string `json:"role"`
	State  string `json:"state"`
}

// TestAutoscaleWalkthrough is the reference walk-through with the process cloud controller: the manager
// launches real `nagare node` processes, scales the edges out for a second viewer, drains and terminates
// one when the viewers leave (its access log lands in object storage), and replaces an edge killed with -9.
func TestAutoscaleWalkthrough(t *testing.T) {
	c := startScalingGroup(t)
	c.walkthrough(func(in instance) {
		pid, _ := strconv.Atoi(in.ID)
		require.NotZero(t, pid, "%+v", in)
		require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	}, true)
}

// walkthrough is the walk-through's steps 7 on: publish, play, scale out for a second viewer, drain and
// terminate an edge when the viewers leave (its access log in object storage when accessLog), and replace
// an edge killed with kill.
func (c *scalingGroup) walkthrough(kill func(instance), accessLog bool) {
	t := c.t
	base, sm, group, objects, mgr := c.base, c.sm, c.group, c.objects, c.mgr
	nodesIn, events, has := c.nodesIn, c.events, c.has
	edge1 := c.edge1

	// 7: publish through the broadcast call, play through the subscribe call
	var ev map[string]any
	require.Equal(t, http.StatusOK, call(t, "GET", sm+"/event/live/stream1?action=broadcast", "", &ev))
	tok := pubauth.Sign([]byte(publishSecret), stream.Path{App: "live", Name: "stream1"}, time.Now().Add(time.Hour))
	testutil.Publish(t, ev["rtmpUrl"].(string)+"?token="+tok, "flv")
	subscribe := func() (int, map[string]any) {
		var out map[string]any
		code := call(t, "GET", sm+"/event/live/stream1?action=subscribe", "", &out)
		return code, out
	}
	code, sub := subscribe()
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, edge1, sub["nodeId"], "%v", sub)
	hls1 := sub["hlsUrl"].(string)
	testutil.WaitLive(t, hls1, 20*time.Second)
	viewer1 := testutil.Watch(t, hls1)
	require.Eventually(t, func() bool { return c.connections(edge1) >= 1 }, 20*time.Second, 200*time.Millisecond,
		"the edge never reported its viewer")

	// 8: a second viewer finds the edge full: 503 while a second edge is launched, then it is sent there
	code, _ = subscribe()
	require.Equal(t, http.StatusServiceUnavailable, code)
	var hls2, edge2 string
	require.Eventually(t, func() bool {
		code, sub = subscribe()
		if code != http.StatusOK {
			return false
		}
		edge2, _ = sub["nodeId"].(string)
		hls2, _ = sub["hlsUrl"].(string)
		return true
	}, 60*time.Second, 250*time.Millisecond, "no second edge")
	require.NotEqual(t, edge1, edge2)
	require.True(t, has("scale-out", "edge"), "%+v", events())
	require.Len(t, nodesIn("edge", "inservice"), 2)
	testutil.WaitLive(t, hls2, 20*time.Second)
	viewer2 := testutil.Watch(t, hls2)
	time.Sleep(2 * time.Second)
	require.Len(t, nodesIn("edge", ""), 2, "no scale-in while both edges carry a viewer")

	// the viewers leave: after the cool-down one edge drains and is terminated, its access log uploaded
	viewer1.Stop()
	viewer2.Stop()
	var drained string
	require.Eventually(t, func() bool {
		for _, e := range events() {
			if e.Action == "drained" && e.Role == "edge" {
				drained = e.Nodes[0]
				return true
			}
		}
		return false
	}, 60*time.Second, 250*time.Millisecond, "no edge drained: %+v", events())
	require.True(t, has("scale-in", "edge"))
	if accessLog {
		require.Eventually(t, func() bool {
			logs, _ := filepath.Glob(filepath.Join(objects, "accesslogs", group.Name, drained, "*.log"))
			if len(logs) != 1 {
				return false
			}
			b, _ := os.ReadFile(logs[0])
			return strings.Contains(string(b), "GET /live/stream1/")
		}, 30*time.Second, 200*time.Millisecond, "the drained edge's access log is not in object storage")
	}
	require.Eventually(t, func() bool { return len(nodesIn("edge", "")) == 1 }, 20*time.Second, 200*time.Millisecond)

	// kill -9 of the remaining edge: it is found dead and replaced
	survivor := nodesIn("edge", "inservice")[0]["identifier"].(string)
	var insts []instance
	require.True(t, callAuth(t, base+"/api/v1/instances", &insts))
	var victim instance
	for _, in := range insts {
		if in.NodeID == survivor && in.State == "running" {
			victim = in
		}
	}
	require.NotEmpty(t, victim.ID, "no running instance of %s: %+v", survivor, insts)
	kill(victim)
	require.Eventually(t, func() bool { return has("replace", "edge") }, 30*time.Second, 250*time.Millisecond,
		"the killed edge was not replaced: %+v", events())
	require.Eventually(t, func() bool {
		in := nodesIn("edge", "inservice")
		return len(in) == 1 && in[0]["identifier"] != survivor
	}, 60*time.Second, 250*time.Millisecond, "the replacement never entered service")
	require.NotContains(t, mgr.logs(), clusterSecret)
	require.NotContains(t, mgr.logs(), adminToken)
	fmt.Fprintln(io.Discard, sub)
}

// scalingGroup is the walk-through's cluster: a manager with the process cloud controller, a group with
// one origin and one edge of capacity 1 (at most 2 edges), in service.
type scalingGroup struct {
	t                    *testing.T
	mgr                  *proc
	base, sm, q, objects string
	group                struct {
		Name string `json:"name"`
	}
	edge1 string
}

// startScalingGroup runs the walk-through's steps 1–6 and returns once both nodes are in service.
func startScalingGroup(t *testing.T) *scalingGroup { return startGroup(t, groupOptions{}) }

// groupOptions vary the walk-through's cluster.
type groupOptions struct {
	// transcoders adds a transcoder role: one at least, two at most, of capacity 2 streams each, in service
	// before startGroup returns.
	transcoders bool
	// controller and settings replace the process controller (e.g. docker, with its settings); image is
	// then the launch configuration's image, and version the nagare version it runs (nagare.version).
	controller, settings, image, version string
}

// startGroup is startScalingGroup with options.
func startGroup(t *testing.T, o groupOptions) *scalingGroup {
	testutil.RequireFFmpeg(t)
	dir := t.TempDir()
	transcoders := o.transcoders
	c := &scalingGroup{t: t, objects: filepath.Join(dir, "objects"), q: "?accessToken=" + adminToken}
	if o.controller == "" {
		o.controller, o.image = "process", "nagare"
		o.settings = "binary=" + binary(t) + ",workDir=" + dir + ",logDir=" + filepath.Join(dir, "nodes") + ",stopTimeout=10s"
	}
	c.mgr = start(t, []string{
		"NAGARE_MANAGER_ADDRESS=127.0.0.1:0", "NAGARE_MANAGER_STORE_DSN=" + filepath.Join(dir, "m.db"),
		"NAGARE_MANAGER_ADMIN_TOKEN=" + adminToken, "NAGARE_CLUSTER_SECRET=" + clusterSecret,
		"NAGARE_MANAGER_REPORT_INTERVAL=1s", "NAGARE_MANAGER_NODE_TIMEOUT=3s",
		"NAGARE_MANAGER_AUTOSCALE_CONTROLLER=" + o.controller, "NAGARE_MANAGER_AUTOSCALE_INTERVAL=250ms",
		"NAGARE_MANAGER_AUTOSCALE_SETTINGS=" + o.settings,
		"NAGARE_STORAGE_DIRECTORY=" + c.objects, "NAGARE_PUBLISH_TOKEN_SECRET=" + publishSecret,
	}, "manager")
	c.base = "http://" + c.mgr.field(t, "manager running", "address")
	c.sm = c.base + "/streammanager/api/3.1"
	sm, q := c.sm, c.q
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := filepath.Glob(filepath.Join(dir, "nodes", "*.log"))
			for _, l := range logs {
				b, _ := os.ReadFile(l)
				t.Logf("--- %s ---\n%s", filepath.Base(l), b)
			}
		}
	})

	// 1–3: policy (edge min 1 max 2), launch configuration (edge capacity 1), group
	policyTargets, launchTargets, versionProperty := "", "", ""
	if o.version != "" {
		versionProperty = `{"name":"nagare.version","value":"` + o.version + `"}`
	}
	if transcoders {
		policyTargets = `,{"role":"transcoder","maxLimit":2,"scaleAdjustment":1,"minLimit":1}`
		launchTargets = `,{"role":"transcoder","instanceType":"local","connectionCapacity":"2"}`
	}
	require.Equal(t, http.StatusCreated, call(t, "POST", sm+"/admin/configurations/scalepolicy"+q, `{"policy":{"name":"scale1","description":"Sample","type":"com.red5pro.services.autoscaling.model.ScalePolicyMaster","version":"0.0.3","targets":{"region":[{"name":"default","target":[{"role":"edge","maxLimit":2,"scaleAdjustment":1,"minLimit":1,"estimatedWarmUpTime":20000,"coolDownPeriod":3000},{"role":"origin","maxLimit":1,"scaleAdjustment":1,"minLimit":1}`+policyTargets+`]}]}}}`, nil))
	require.Equal(t, http.StatusCreated, call(t, "POST", sm+"/admin/configurations/launchconfig"+q, `{"launchconfig":{"name":"launch-config1","description":"Sample","image":"`+o.image+`","version":"0.0.3","targets":{"target":[{"role":"origin","instanceType":"local","connectionCapacity":"2000"},{"role":"edge","instanceType":"local","connectionCapacity":"1"}`+launchTargets+`]},"properties":{"property":[`+versionProperty+`]},"metadata":{"meta":[{"key":"environment","value":"tutorial"}]}}}`, nil))
	require.Equal(t, http.StatusCreated, call(t, "POST", sm+"/admin/nodegroup"+q, `{"regions":["default"],"launchConfig":"launch-config1","scalePolicy":"scale1"}`, &c.group))

	// 4: launch the origin; the autoscaler brings every role to its minimum
	var launched map[string]any
	require.Equal(t, http.StatusOK, call(t, "POST", sm+"/admin/nodegroup/"+c.group.Name+"/node/origin"+q, "", &launched))
	require.Equal(t, "origin", launched["role"])
	// 5: the edge scales out only when a viewer finds no room (load above 100 %)
	require.Equal(t, http.StatusCreated, call(t, "POST", sm+"/admin/alarm/scaleout/default"+q+"&type=edge&threshold=100", "", nil))

	// 6: every node in service
	require.Eventually(t, func() bool {
		return len(c.nodesIn("origin", "inservice")) == 1 && len(c.nodesIn("edge", "inservice")) == 1 &&
			(!transcoders || len(c.nodesIn("transcoder", "inservice")) == 1)
	}, 60*time.Second, 200*time.Millisecond, "the group never came up")
	c.edge1 = c.nodesIn("edge", "inservice")[0]["identifier"].(string)
	require.True(t, c.has("minimum", "edge"), "%+v", c.events())
	return c
}

func (c *scalingGroup) nodesIn(role, state string) []map[string]any {
	var nodes, out []map[string]any
	if call(c.t, "GET", c.sm+"/admin/nodegroup/"+c.group.Name+"/node"+c.q, "", &nodes) != http.StatusOK {
		return nil
	}
	for _, n := range nodes {
		if n["role"] == role && (state == "" || n["state"] == state) {
			out = append(out, n)
		}
	}
	return out
}

func (c *scalingGroup) events() []scaleEvent {
	var evs []scaleEvent
	require.True(c.t, callAuth(c.t, c.base+"/api/v1/scaleevents?group="+c.group.Name, &evs))
	return evs
}

func (c *scalingGroup) has(action, role string) bool {
	for _, e := range c.events() {
		if e.Action == action && e.Role == role {
			return true
		}
	}
	return false
}

// connections is what a node last reported.
func (c *scalingGroup) connections(id string) float64 {
	var n map[string]any
	if !callAuth(c.t, c.base+"/api/v1/nodes/"+id, &n) {
		return -1
	}
	st, _ := n["stats"].(map[string]any)
	v, _ := st["connections"].(float64)
	return v
}
