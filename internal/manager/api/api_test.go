package api_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/manager/api"
	"github.com/nagare-video/nagare/internal/manager/store"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

// The request bodies of the Red5 walk-through, verbatim from the reference
// (shared/reference/red5pro-stream-manager.md).
const (
	refScalePolicy = `{"policy":{"name":"scale1","description":"Sample Scale Config policy with all node types",
 "type":"com.red5pro.services.autoscaling.model.ScalePolicyMaster","version":"0.0.3",
 "targets":{"region":[{"name":"default","target":[
   {"role":"edge","maxLimit":2,"scaleAdjustment":1,"minLimit":1},
   {"role":"origin","maxLimit":1,"scaleAdjustment":1,"minLimit":1},
   {"role":"relay","maxLimit":1,"scaleAdjustment":1,"minLimit":1}]}]}}}`

	refLaunchConfig = `{"launchconfig":{"name":"launch-config1","description":"Sample Launch Config with all four nodetypes",
 "image":"red5pro-autoscaling","version":"0.0.3",
 "targets":{"target":[
   {"role":"origin","instanceType":"t2.medium","connectionCapacity":"2000"},
   {"role":"edge","instanceType":"t2.medium","connectionCapacity":"1"},
   {"role":"relay","instanceType":"t2.medium","connectionCapacity":"2000"}]},
 "properties":{"property":[]},
 "metadata":{"meta":[{"key":"environment","value":"tutorial"}]}}}`

	refNodeGroup = `{"regions":["ap-northeast-1"],"launchConfig":"launch-config1","scalePolicy":"scale1"}`

	// the older form: targets.target[] with the numbers as strings
	legacyScalePolicy = `{"policy":{"name":"scale-legacy","description":"older targets.target form","type":"com.red5pro.services.autoscaling.model.ScalePolicyMaster","version":"0.0.1",
 "targets":{"target":[{"role":"edge","minLimit":"1","maxLimit":"2","scaleAdjustment":"1"},{"role":"origin","minLimit":"1","maxLimit":"1","scaleAdjustment":"1"}]}}}`
)

// event is the part of a /event answer the tests reason about.
type event struct {
	Name, Scope, ServerAddress, Region, NodeID, RTMPURL, SRTURL, HLSURL, WHIPURL, WHEPURL string
	Port                                                                                  int
}

// TestRed5WalkThrough replays the walk-through operators know, with the reference's bodies, and pins
// every answer in a golden file.
func TestRed5WalkThrough(t *testing.T) {
	e := newEnv(t)
	g := func(name, method, path, body string, status int) response {
		t.Helper()
		a := authQuery
		if strings.HasPrefix(path, "/event/") {
			a = authNone // public, like Red5's
		}
		return e.golden(exchange{name: "red5-" + name, method: method, path: red5 + path, body: body, status: status}, a)
	}

	// 1. scale policies, both target forms
	g("01-create-scalepolicy", "POST", "/admin/configurations/scalepolicy", refScalePolicy, http.StatusCreated)
	g("02-create-scalepolicy-legacy", "POST", "/admin/configurations/scalepolicy", legacyScalePolicy, http.StatusCreated)
	p, err := e.store.GetPolicy(context.Background(), "scale-legacy")
	require.NoError(t, err)
	require.Equal(t, []store.RoleLimits{{Role: "edge", MinLimit: 1, MaxLimit: 2, ScaleAdjustment: 1},
		{Role: "origin", MinLimit: 1, MaxLimit: 1, ScaleAdjustment: 1}}, p.Targets, "string numbers are stored as numbers")
	g("03-read-scalepolicy", "GET", "/admin/configurations/scalepolicy/scale1", "", http.StatusOK)
	g("04-list-scalepolicies", "GET", "/admin/configurations/scalepolicies", "", http.StatusOK)

	// 2. launch configuration
	g("05-create-launchconfig", "POST", "/admin/configurations/launchconfig", refLaunchConfig, http.StatusCreated)
	g("06-read-launchconfig", "GET", "/admin/configurations/launchconfig/launch-config1", "", http.StatusOK)
	g("07-list-launchconfigs", "GET", "/admin/configurations/launchconfigs", "", http.StatusOK)

	// 3. node group
	res := g("08-create-nodegroup", "POST", "/admin/nodegroup", refNodeGroup, http.StatusCreated)
	var group struct {
		ID   int64
		Name string
	}
	res.must(t, http.StatusCreated, &group)
	require.Regexp(t, `^group-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`, group.Name)
	g("09-read-nodegroup", "GET", "/admin/nodegroup/"+group.Name, "", http.StatusOK)
	e.red5("GET", "/admin/nodegroup/1", "").must(t, http.StatusOK, nil) // by id too
	g("10-list-nodegroups", "GET", "/admin/nodegroup", "", http.StatusOK)

	// 4. launching needs a cloud controller, which this manager does not have
	res = g("11-launch-origin", "POST", "/admin/nodegroup/"+group.Name+"/node/origin", "", http.StatusServiceUnavailable)
	e.requireRed5Error(t, res, "nagare node")

	// 5. alarm threshold
	g("12-set-alarm-threshold", "POST", "/admin/alarm/scaleout/default?type=edge&threshold=60", "", http.StatusCreated)
	g("13-list-alarm-thresholds", "GET", "/admin/alarm/scaleout/default", "", http.StatusOK)

	// 6. the nodes join on their own and enter service with their first report
	e.join(fixtureNode{id: "node-ap-northeast-1c-1542855506676", role: "origin", group: group.Name, region: "ap-northeast-1",
		zone: "ap-northeast-1c", rtmp: "13.230.61.231:1935", srt: "13.230.61.231:8890", http: "13.230.61.231:8080"})
	e.join(fixtureNode{id: "node-ap-northeast-1c-edge-1", role: "edge", group: group.Name, region: "ap-northeast-1",
		http: "13.230.61.232:8080"})
	g("14-list-nodes", "GET", "/admin/nodegroup/"+group.Name+"/node", "", http.StatusOK)
	g("15-list-edges", "GET", "/admin/nodegroup/"+group.Name+"/node/edge", "", http.StatusOK)

	// 7. publish through the manager, then play
	var ev event
	g("16-event-broadcast", "GET", "/event/live/stream1?action=broadcast", "", http.StatusOK).must(t, http.StatusOK, &ev)
	require.Equal(t, event{Name: "stream1", Scope: "/live", ServerAddress: "13.230.61.231", Region: "ap-northeast-1", Port: 1935,
		NodeID: "node-ap-northeast-1c-1542855506676", RTMPURL: "rtmp://13.230.61.231:1935/live/stream1",
		SRTURL: "srt://13.230.61.231:8890?streamid=publish:live/stream1", WHIPURL: "http://13.230.61.231:8080/live/stream1/whip"}, ev)
	e.publish("node-ap-northeast-1c-1542855506676", "live/stream1")
	ev = event{}
	g("17-event-subscribe", "GET", "/event/live/stream1?action=subscribe", "", http.StatusOK).must(t, http.StatusOK, &ev)
	require.Equal(t, "node-ap-northeast-1c-edge-1", ev.NodeID)
	require.Equal(t, "http://13.230.61.232:8080/live/stream1/index.m3u8", ev.HLSURL)
	require.Equal(t, "http://13.230.61.232:8080/live/stream1/whep", ev.WHEPURL)

	// 8. the edge's capacity is 1: with a viewer on it, the next viewer goes elsewhere — to the origin
	// carrying the stream until a second edge is in service, then to that edge
	e.report("node-ap-northeast-1c-edge-1", 1)
	ev = event{}
	g("18-event-subscribe-edge-full", "GET", "/event/live/stream1?action=subscribe", "", http.StatusOK).must(t, http.StatusOK, &ev)
	require.Equal(t, "node-ap-northeast-1c-1542855506676", ev.NodeID)
	e.join(fixtureNode{id: "node-ap-northeast-1c-edge-2", role: "edge", group: group.Name, region: "ap-northeast-1",
		http: "13.230.61.233:8080"})
	ev = event{}
	g("19-event-subscribe-second-edge", "GET", "/event/live/stream1?action=subscribe", "", http.StatusOK).must(t, http.StatusOK, &ev)
	require.Equal(t, "node-ap-northeast-1c-edge-2", ev.NodeID)

	g("20-debug-cloudcontroller", "GET", "/admin/debug/cloudcontroller", "", http.StatusOK)
}

// TestRed5Deletes covers the DELETE calls and what they refuse.
func TestRed5Deletes(t *testing.T) {
	e := newEnv(t)
	e.red5("POST", "/admin/configurations/scalepolicy", refScalePolicy).must(t, http.StatusCreated, nil)
	e.red5("POST", "/admin/configurations/launchconfig", refLaunchConfig).must(t, http.StatusCreated, nil)
	var group struct{ Name string }
	e.red5("POST", "/admin/nodegroup", refNodeGroup).must(t, http.StatusCreated, &group)

	// in use by the group
	res := e.red5("DELETE", "/admin/configurations/scalepolicy/scale1", "")
	require.Equal(t, http.StatusConflict, res.status)
	e.requireRed5Error(t, res, "in use")
	res = e.red5("DELETE", "/admin/configurations/launchconfig/launch-config1", "")
	require.Equal(t, http.StatusConflict, res.status)
	e.requireRed5Error(t, res, "in use")

	// a group with a live node is refused: nagare cannot terminate self-registered nodes
	e.join(fixtureNode{id: "o1", role: "origin", group: group.Name, rtmp: "10.0.0.1:1935"})
	res = e.red5("DELETE", "/admin/nodegroup/"+group.Name, "")
	require.Equal(t, http.StatusConflict, res.status)
	e.requireRed5Error(t, res, "still has 1 node")
	_, err := e.reg.Transition(context.Background(), "o1", nodemodel.StateTerminated, "test")
	require.NoError(t, err)

	var deleted struct{ Name, LaunchConfig string }
	e.red5("DELETE", "/admin/nodegroup/"+group.Name, "").must(t, http.StatusOK, &deleted)
	require.Equal(t, group.Name, deleted.Name)
	require.Equal(t, "launch-config1", deleted.LaunchConfig)
	e.red5("GET", "/admin/nodegroup/"+group.Name, "").must(t, http.StatusNotFound, nil)

	var pol struct{ Policy struct{ Name string } }
	e.red5("DELETE", "/admin/configurations/scalepolicy/scale1", "").must(t, http.StatusOK, &pol)
	require.Equal(t, "scale1", pol.Policy.Name)
	e.red5("GET", "/admin/configurations/scalepolicy/scale1", "").must(t, http.StatusNotFound, nil)

	var lc struct{ Launchconfig struct{ Name string } }
	e.red5("DELETE", "/admin/configurations/launchconfig/launch-config1", "").must(t, http.StatusOK, &lc)
	require.Equal(t, "launch-config1", lc.Launchconfig.Name)
	var list []any
	e.red5("GET", "/admin/configurations/launchconfigs", "").must(t, http.StatusOK, &list)
	require.Empty(t, list)
}

// TestRed5PolicyForms checks how the two target forms, and several regions, become one policy.
func TestRed5PolicyForms(t *testing.T) {
	cases := []struct {
		name    string
		targets string
		status  int
		want    []store.RoleLimits
		msg     string
	}{
		{"regions that agree are merged", `{"region":[
			{"name":"us-east-1","target":[{"role":"edge","minLimit":1,"maxLimit":4,"scaleAdjustment":1}]},
			{"name":"eu-west-1","target":[{"role":"edge","minLimit":"1","maxLimit":"4","scaleAdjustment":"1"},{"role":"origin","minLimit":1,"maxLimit":1,"scaleAdjustment":1}]}]}`,
			http.StatusCreated, []store.RoleLimits{{Role: "edge", MinLimit: 1, MaxLimit: 4, ScaleAdjustment: 1}, {Role: "origin", MinLimit: 1, MaxLimit: 1, ScaleAdjustment: 1}}, ""},
		{"regions that disagree are refused", `{"region":[
			{"name":"us-east-1","target":[{"role":"edge","minLimit":1,"maxLimit":4,"scaleAdjustment":1}]},
			{"name":"eu-west-1","target":[{"role":"edge","minLimit":1,"maxLimit":5,"scaleAdjustment":1}]}]}`,
			http.StatusBadRequest, nil, `edge limits differ between region "us-east-1" (min 1, max 4, step 1) and region "eu-west-1" (min 1, max 5, step 1)`},
		{"a role twice in one region", `{"region":[{"name":"r","target":[
			{"role":"edge","minLimit":1,"maxLimit":4,"scaleAdjustment":1},{"role":"edge","minLimit":1,"maxLimit":4,"scaleAdjustment":1}]}]}`,
			http.StatusBadRequest, nil, `role edge appears twice in region "r"`},
		{"both forms at once must agree", `{"target":[{"role":"edge","minLimit":1,"maxLimit":2,"scaleAdjustment":1}],
			"region":[{"name":"r","target":[{"role":"edge","minLimit":2,"maxLimit":2,"scaleAdjustment":1}]}]}`,
			http.StatusBadRequest, nil, `edge limits differ between targets.target`},
		{"no targets", `{}`, http.StatusBadRequest, nil, "has no targets"},
		{"an empty region", `{"region":[{"name":"r","target":[]}]}`, http.StatusBadRequest, nil, "has no targets"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			name := "p" + string(rune('a'+i))
			res := e.red5("POST", "/admin/configurations/scalepolicy", `{"policy":{"name":"`+name+`","targets":`+tc.targets+`}}`)
			require.Equal(t, tc.status, res.status, "body: %s", res.body)
			if tc.status != http.StatusCreated {
				e.requireRed5Error(t, res, tc.msg)
				_, err := e.store.GetPolicy(context.Background(), name)
				require.ErrorIs(t, err, store.ErrNotFound, "a refused policy is not stored")
				return
			}
			p, err := e.store.GetPolicy(context.Background(), name)
			require.NoError(t, err)
			require.Equal(t, tc.want, p.Targets)
		})
	}
}

// TestRed5WarmUpCoolDown checks that the newer per-target timings become the policy's (the longest wins)
// and are echoed.
func TestRed5WarmUpCoolDown(t *testing.T) {
	e := newEnv(t)
	var out struct {
		Policy struct {
			Targets struct {
				Target []struct {
					Role                                string
					EstimatedWarmUpTime, CoolDownPeriod int64
				}
			}
		}
	}
	e.red5("POST", "/admin/configurations/scalepolicy", `{"policy":{"name":"timed","targets":{"region":[{"name":"default","target":[
		{"role":"edge","estimatedWarmUpTime":150000,"maxLimit":2500,"scaleAdjustment":1,"coolDownPeriod":180000,"minLimit":100},
		{"role":"origin","estimatedWarmUpTime":"120000","maxLimit":100,"scaleAdjustment":1,"coolDownPeriod":"240000","minLimit":2}]}]}}}`).
		must(t, http.StatusCreated, &out)
	p, err := e.store.GetPolicy(context.Background(), "timed")
	require.NoError(t, err)
	require.Equal(t, int64(150000), p.WarmUp.Milliseconds())
	require.Equal(t, int64(240000), p.CoolDown.Milliseconds())
	require.Len(t, out.Policy.Targets.Target, 2)
	for _, tg := range out.Policy.Targets.Target {
		require.Equal(t, int64(150000), tg.EstimatedWarmUpTime, tg.Role)
		require.Equal(t, int64(240000), tg.CoolDownPeriod, tg.Role)
	}
}

// TestRed5LaunchConfigProperties checks both spellings of a property.
func TestRed5LaunchConfigProperties(t *testing.T) {
	e := newEnv(t)
	e.red5("POST", "/admin/configurations/launchconfig", `{"launchconfig":{"name":"lc","image":"img",
		"targets":{"target":[{"role":"edge","instanceType":"c-2","connectionCapacity":500}]},
		"properties":{"property":[{"name":"a","value":"1"},{"key":"b","value":"2"}]},
		"metadata":{"meta":[{"key":"env","value":"prod"}]}}}`).must(t, http.StatusCreated, nil)
	c, err := e.store.GetLaunchConfig(context.Background(), "lc")
	require.NoError(t, err)
	require.Equal(t, []store.KV{{Key: "a", Value: "1"}, {Key: "b", Value: "2"}}, c.Properties)
	require.Equal(t, []store.KV{{Key: "env", Value: "prod"}}, c.Metadata)
	require.Equal(t, []store.LaunchTarget{{Role: "edge", InstanceType: "c-2", ConnectionCapacity: 500}}, c.Targets)

	var out struct {
		Launchconfig struct {
			Properties struct{ Property []map[string]string }
		}
	}
	e.red5("GET", "/admin/configurations/launchconfig/lc", "").must(t, http.StatusOK, &out)
	require.Equal(t, []map[string]string{{"name": "a", "value": "1"}, {"name": "b", "value": "2"}}, out.Launchconfig.Properties.Property)
}

// TestRed5GroupByName checks that an explicit group name is kept and a generated one has Red5's form.
func TestRed5GroupByName(t *testing.T) {
	e := newEnv(t)
	e.red5("POST", "/admin/configurations/scalepolicy", refScalePolicy).must(t, http.StatusCreated, nil)
	e.red5("POST", "/admin/configurations/launchconfig", refLaunchConfig).must(t, http.StatusCreated, nil)
	var g struct {
		ID                int64
		Name              string
		OriginConnections *int
		Regions           []string
		Timestamp         int64
	}
	e.red5("POST", "/admin/nodegroup", `{"name":"tokyo","launchConfig":"launch-config1","scalePolicy":"scale1"}`).must(t, http.StatusCreated, &g)
	require.Equal(t, "tokyo", g.Name)
	require.NotNil(t, g.OriginConnections)
	require.Equal(t, 0, *g.OriginConnections)
	require.Equal(t, []string{}, g.Regions)
	require.Equal(t, e.clock.Now().UnixMilli(), g.Timestamp)
}

// TestViewerEntry covers GET /<app>/<stream>/index.m3u8: the redirect, the sticky cookie, and 503.
func TestViewerEntry(t *testing.T) {
	e := newEnv(t)

	res := e.do("GET", "/live/stream1/index.m3u8", authNone, "")
	require.Equal(t, http.StatusServiceUnavailable, res.status, "no node at all")
	require.Equal(t, "2", res.header.Get("Retry-After"))
	requireNativeError(t, res, "no in-service edge or origin")

	e.group("g", 100)
	e.join(fixtureNode{id: "edge-a", role: "edge", group: "g", http: "10.0.0.1:8080"})
	e.join(fixtureNode{id: "edge-b", role: "edge", group: "g", http: "10.0.0.2:8080"})
	e.report("edge-a", 1)
	e.report("edge-b", 5)

	res = e.do("GET", "/live/stream1/index.m3u8", authNone, "")
	require.Equal(t, http.StatusFound, res.status, "body: %s", res.body)
	require.Equal(t, "http://10.0.0.1:8080/live/stream1/index.m3u8", res.header.Get("Location"))
	require.Equal(t, "no-store", res.header.Get("Cache-Control"))
	var sticky *http.Cookie
	for _, c := range (&http.Response{Header: res.header}).Cookies() {
		if c.Name == "nagare_node" {
			sticky = c
		}
	}
	require.NotNil(t, sticky, "Set-Cookie: %v", res.header.Values("Set-Cookie"))
	require.Equal(t, "edge-a", sticky.Value)
	require.Equal(t, "/live/stream1/", sticky.Path)
	require.True(t, sticky.HttpOnly)

	// edge-b becomes the less loaded one: a new viewer goes there, the viewer with the cookie stays
	e.report("edge-a", 50)
	e.report("edge-b", 0)
	res = e.do("GET", "/live/stream1/index.m3u8", authNone, "")
	require.Equal(t, "http://10.0.0.2:8080/live/stream1/index.m3u8", res.header.Get("Location"))
	res = e.do("GET", "/live/stream1/index.m3u8", authNone, "", &http.Cookie{Name: "nagare_node", Value: "edge-a"})
	require.Equal(t, http.StatusFound, res.status)
	require.Equal(t, "http://10.0.0.1:8080/live/stream1/index.m3u8", res.header.Get("Location"))

	// a cookie naming an unknown node is ignored
	res = e.do("GET", "/live/stream1/index.m3u8", authNone, "", &http.Cookie{Name: "nagare_node", Value: "ghost"})
	require.Equal(t, "http://10.0.0.2:8080/live/stream1/index.m3u8", res.header.Get("Location"))
}

// TestRoutingAnswersReplayed: the viewer entry's redirect and Red5's subscribe answer are written once
// per snapshot of the cluster and replayed. A replayed answer is the one written directly (the sticky
// viewer's redirect is written anew every time: the two must agree byte for byte, Date aside), HEAD gets
// the headers of http.Redirect's answer to HEAD, and a change in the cluster changes the answer.
func TestRoutingAnswersReplayed(t *testing.T) {
	e := newEnv(t)
	e.group("g", 100)
	e.join(fixtureNode{id: "edge-a", role: "edge", group: "g", http: "10.0.0.1:8080"})
	e.join(fixtureNode{id: "edge-b", role: "edge", group: "g", http: "10.0.0.2:8080"})
	e.report("edge-a", 1)
	e.report("edge-b", 5)

	same := func(want, got response) {
		t.Helper()
		require.Equal(t, want.status, got.status)
		w, g := want.header.Clone(), got.header.Clone()
		w.Del("Date")
		g.Del("Date")
		require.Equal(t, w, g)
		require.Equal(t, string(want.body), string(got.body))
	}
	const entry = "/live/stream1/index.m3u8"
	first := e.do("GET", entry, authNone, "")
	require.Equal(t, http.StatusFound, first.status)
	require.Equal(t, "http://10.0.0.1:8080"+entry, first.header.Get("Location"))
	require.NotEmpty(t, first.body)
	same(first, e.do("GET", entry, authNone, ""))
	same(first, e.do("GET", entry, authNone, "", &http.Cookie{Name: "nagare_node", Value: "edge-a"}))
	head := e.do("HEAD", entry, authNone, "")
	require.Empty(t, head.body)
	first.body = nil
	first.header.Del("Content-Length") // http.Redirect writes no body for HEAD, so none is counted
	same(first, head)

	const subscribe = "/event/live/stream1?action=subscribe"
	var ev struct {
		NodeID string `json:"nodeId"`
		HLSURL string `json:"hlsUrl"`
	}
	sub := e.do("GET", red5+subscribe, authNone, "")
	sub.must(t, http.StatusOK, &ev)
	require.Equal(t, "edge-a", ev.NodeID)
	same(sub, e.do("GET", red5+subscribe, authNone, ""))

	// edge-b becomes the less loaded one: both answers follow
	e.report("edge-a", 50)
	e.report("edge-b", 0)
	require.Equal(t, "http://10.0.0.2:8080"+entry, e.do("GET", entry, authNone, "").header.Get("Location"))
	e.do("GET", red5+subscribe, authNone, "").must(t, http.StatusOK, &ev)
	require.Equal(t, "edge-b", ev.NodeID)
	require.Equal(t, "http://10.0.0.2:8080"+entry, ev.HLSURL)
}

// unserved is an autoscaler that hears of the viewers no edge could take.
type unserved struct {
	mu     sync.Mutex
	groups []string // the group of each viewer turned away
	coming bool     // an edge is on its way
}

func (u *unserved) Launch(context.Context, string, nodemodel.Role) (store.Node, error) {
	return store.Node{}, nil
}
func (u *unserved) DeleteGroup(context.Context, string) ([]string, error) { return nil, nil }
func (u *unserved) Terminate(context.Context, store.Node, string) error   { return nil }
func (u *unserved) Unserved(group string, _ nodemodel.Role) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.groups = append(u.groups, group)
	return u.coming
}

// TestViewerWaitsForANewEdge: when no edge can take a viewer and one is on its way, the viewer is told to
// come back (503 + Retry-After) rather than sent to the origin, and the demand is counted in the group
// where the stream is, even when the viewer named none.
func TestViewerWaitsForANewEdge(t *testing.T) {
	sc := &unserved{coming: true}
	e := newEnv(t, func(s *api.Server) { s.Scaler = sc })
	e.group("g1", 100)
	e.group("g2", 100)
	e.join(fixtureNode{id: "origin-1", role: "origin", group: "g1", http: "10.0.0.1:8080"})
	e.join(fixtureNode{id: "origin-2", role: "origin", group: "g2", http: "10.0.0.2:8080"})
	e.publish("origin-2", "live/cam")

	res := e.do("GET", "/live/cam/index.m3u8", authNone, "")
	require.Equal(t, http.StatusServiceUnavailable, res.status, "body: %s", res.body)
	require.NotEmpty(t, res.header.Get("Retry-After"))
	res = e.do("GET", "/live/cam/index.m3u8?group=g1", authNone, "")
	require.Equal(t, http.StatusServiceUnavailable, res.status)
	require.Equal(t, []string{"g2", "g1"}, sc.groups, "the stream's group, then the one the viewer named")

	// nothing on its way: the viewer is served by the origin
	sc.coming = false
	res = e.do("GET", "/live/cam/index.m3u8", authNone, "")
	require.Equal(t, http.StatusFound, res.status)
	require.Equal(t, "http://10.0.0.2:8080/live/cam/index.m3u8", res.header.Get("Location"))
}

// TestDrainedNodeNeverRouted drains the edge every viewer would get and checks that no routing call —
// native, Red5 or the viewer entry, with or without its sticky cookie — sends anyone there again.
func TestDrainedNodeNeverRouted(t *testing.T) {
	e := newEnv(t)
	e.group("g", 100)
	e.join(fixtureNode{id: "edge-idle", role: "edge", group: "g", http: "10.0.0.1:8080"})
	e.join(fixtureNode{id: "edge-busy", role: "edge", group: "g", http: "10.0.0.2:8080"})
	e.report("edge-busy", 8)

	var rt struct{ NodeID string }
	e.do("GET", "/api/v1/route/play/live/s", authNone, "").must(t, http.StatusOK, &rt)
	require.Equal(t, "edge-idle", rt.NodeID, "before the drain the idle edge is the best")

	var n store.Node
	e.native("POST", "/nodes/edge-idle/drain", "").must(t, http.StatusOK, &n)
	require.Equal(t, nodemodel.StateDraining, n.State)
	e.settle()

	for i := range 20 {
		rt.NodeID = ""
		e.do("GET", "/api/v1/route/play/live/s", authNone, "").must(t, http.StatusOK, &rt)
		require.Equal(t, "edge-busy", rt.NodeID, "request %d", i)
		var ev event
		e.do("GET", red5+"/event/live/s?action=subscribe", authNone, "").must(t, http.StatusOK, &ev)
		require.Equal(t, "edge-busy", ev.NodeID, "request %d", i)
		res := e.do("GET", "/live/s/index.m3u8", authNone, "", &http.Cookie{Name: "nagare_node", Value: "edge-idle"})
		require.Equal(t, "http://10.0.0.2:8080/live/s/index.m3u8", res.header.Get("Location"), "request %d", i)
	}

	// a drained node still reports; it stays out of rotation
	e.report("edge-idle", 0)
	e.do("GET", "/api/v1/route/play/live/s", authNone, "").must(t, http.StatusOK, &rt)
	require.Equal(t, "edge-busy", rt.NodeID)

	// draining twice is a conflict
	res := e.native("POST", "/nodes/edge-idle/drain", "")
	require.Equal(t, http.StatusConflict, res.status)
	requireNativeError(t, res, "cannot go from draining to draining")
}

// TestNativeWalkThrough covers the native CRUD happy paths, with golden files.
func TestNativeWalkThrough(t *testing.T) {
	e := newEnv(t)
	g := func(name, method, path, body string, status int) response {
		t.Helper()
		return e.golden(exchange{name: "native-" + name, method: method, path: "/api/v1" + path, body: body, status: status}, authBearer)
	}
	pub := func(name, path string) response {
		t.Helper()
		return e.golden(exchange{name: "native-" + name, method: "GET", path: "/api/v1" + path, status: http.StatusOK}, authNone)
	}

	g("01-create-scalepolicy", "POST", "/scalepolicies", `{"name":"p1","description":"one origin, up to four edges",
		"targets":[{"role":"origin","minLimit":1,"maxLimit":1,"scaleAdjustment":1},{"role":"edge","minLimit":1,"maxLimit":4,"scaleAdjustment":1}],
		"warmUpMs":150000,"coolDownMs":180000}`, http.StatusCreated)
	g("02-update-scalepolicy", "PUT", "/scalepolicies/p1", `{"description":"one origin, up to six edges",
		"targets":[{"role":"origin","minLimit":1,"maxLimit":1,"scaleAdjustment":1},{"role":"edge","minLimit":1,"maxLimit":6,"scaleAdjustment":2}]}`, http.StatusOK)
	g("03-read-scalepolicy", "GET", "/scalepolicies/p1", "", http.StatusOK)
	g("04-create-scalepolicy-spare", "POST", "/scalepolicies", `{"name":"spare","targets":[{"role":"edge","minLimit":0,"maxLimit":1,"scaleAdjustment":1}]}`, http.StatusCreated)
	g("05-list-scalepolicies", "GET", "/scalepolicies", "", http.StatusOK)
	g("06-delete-scalepolicy", "DELETE", "/scalepolicies/spare", "", http.StatusNoContent)

	g("07-create-launchconfig", "POST", "/launchconfigs", `{"name":"lc1","description":"small nodes","image":"nagare","version":"1",
		"targets":[{"role":"origin","instanceType":"c-2","connectionCapacity":500},{"role":"edge","instanceType":"c-2","connectionCapacity":1000}],
		"properties":[{"key":"hls.variant","value":"lowlatency"}],"metadata":[{"key":"env","value":"test"}]}`, http.StatusCreated)
	g("08-update-launchconfig", "PUT", "/launchconfigs/lc1", `{"image":"nagare","version":"2",
		"targets":[{"role":"origin","instanceType":"c-4","connectionCapacity":500},{"role":"edge","instanceType":"c-4","connectionCapacity":1000}]}`, http.StatusOK)
	g("09-read-launchconfig", "GET", "/launchconfigs/lc1", "", http.StatusOK)
	g("10-create-launchconfig-spare", "POST", "/launchconfigs", `{"name":"spare","image":"x","targets":[{"role":"edge","connectionCapacity":1}]}`, http.StatusCreated)
	g("11-list-launchconfigs", "GET", "/launchconfigs", "", http.StatusOK)
	g("12-delete-launchconfig", "DELETE", "/launchconfigs/spare", "", http.StatusNoContent)

	g("13-create-nodegroup", "POST", "/nodegroups", `{"name":"g1","regions":["eu-west-1"],"launchConfig":"lc1","scalePolicy":"p1"}`, http.StatusCreated)
	var generated store.NodeGroup
	g("14-create-nodegroup-generated-name", "POST", "/nodegroups", `{"launchConfig":"lc1","scalePolicy":"p1"}`, http.StatusCreated).
		must(t, http.StatusCreated, &generated)
	require.Regexp(t, `^group-[0-9a-f-]{36}$`, generated.Name)
	g("15-read-nodegroup", "GET", "/nodegroups/g1", "", http.StatusOK)
	g("16-list-nodegroups", "GET", "/nodegroups", "", http.StatusOK)
	g("17-delete-nodegroup", "DELETE", "/nodegroups/"+generated.Name, "", http.StatusNoContent)
	e.native("GET", "/nodegroups/"+generated.Name, "").must(t, http.StatusNotFound, nil)

	g("18-set-alarm", "PUT", "/alarms/edge", `{"threshold":75}`, http.StatusOK)
	g("19-list-alarms", "GET", "/alarms", "", http.StatusOK)

	e.join(fixtureNode{id: "origin-1", role: "origin", group: "g1", region: "eu-west-1", zone: "eu-west-1a",
		rtmp: "10.1.0.1:1935", srt: "10.1.0.1:8890", http: "10.1.0.1:8080"})
	e.join(fixtureNode{id: "edge-1", role: "edge", group: "g1", region: "eu-west-1", http: "10.1.0.2:8080"})
	g("20-list-group-nodes", "GET", "/nodegroups/g1/nodes", "", http.StatusOK)
	g("21-list-nodes", "GET", "/nodes?group=g1", "", http.StatusOK)
	g("22-read-node", "GET", "/nodes/edge-1", "", http.StatusOK)

	pub("23-route-publish", "/route/publish/live/cam1?group=g1")
	e.publish("origin-1", "live/cam1")
	e.report("origin-1", 1, "live/cam1")
	pub("24-route-play", "/route/play/live/cam1?group=g1&region=eu-west-1")
	g("25-list-streams", "GET", "/streams", "", http.StatusOK)

	g("26-drain-node", "POST", "/nodes/edge-1/drain", "", http.StatusOK)
	g("27-node-events", "GET", "/nodes/edge-1/events", "", http.StatusOK)
	g("28-all-events", "GET", "/events?limit=3", "", http.StatusOK)
	e.settle()
	res := pub("29-route-play-after-drain", "/route/play/live/cam1?group=g1")
	var rt struct{ NodeID string }
	res.must(t, http.StatusOK, &rt)
	require.Equal(t, "origin-1", rt.NodeID, "the drained edge is skipped; the origin carrying the stream serves")
}

// ---- bad input ----

type badCase struct {
	name   string
	method string
	path   string
	auth   auth
	body   string
	status int
	msg    string                           // part of the error message
	after  func(t *testing.T, e *env)       // optional: checks that nothing was written
	check  func(t *testing.T, res response) // optional: for the few cases that succeed
}

// red5Fixture creates a policy, a launch config and a group named "base" through the Red5 API.
func red5Fixture(t *testing.T, e *env) {
	t.Helper()
	e.red5("POST", "/admin/configurations/scalepolicy", strings.Replace(refScalePolicy, `"scale1"`, `"base"`, 1)).must(t, http.StatusCreated, nil)
	e.red5("POST", "/admin/configurations/launchconfig", strings.Replace(refLaunchConfig, `"launch-config1"`, `"base"`, 1)).must(t, http.StatusCreated, nil)
	e.red5("POST", "/admin/nodegroup", `{"name":"base","launchConfig":"base","scalePolicy":"base"}`).must(t, http.StatusCreated, nil)
}

func groupCount(t *testing.T, e *env) int {
	t.Helper()
	gs, err := e.store.ListGroups(context.Background())
	require.NoError(t, err)
	return len(gs)
}

func noNewGroup(t *testing.T, e *env) {
	t.Helper()
	require.Equal(t, 1, groupCount(t, e), "a refused group must not be written")
	var list []map[string]any
	e.red5("GET", "/admin/nodegroup", "").must(t, http.StatusOK, &list)
	require.Len(t, list, 1)
	require.Equal(t, "base", list[0]["name"])
}

func policy(targets string) string {
	return `{"policy":{"name":"bad","targets":{"target":[` + targets + `]}}}`
}

func launchConfig(targets string) string {
	return `{"launchconfig":{"name":"bad","image":"img","targets":{"target":[` + targets + `]}}}`
}

func TestRed5BadInput(t *testing.T) {
	const (
		sp  = "/admin/configurations/scalepolicy"
		lc  = "/admin/configurations/launchconfig"
		ng  = "/admin/nodegroup"
		ok  = `{"role":"edge","minLimit":1,"maxLimit":2,"scaleAdjustment":1}`
		okL = `{"role":"edge","instanceType":"t2","connectionCapacity":10}`
	)
	long := strings.Repeat("a", 200)
	cases := []badCase{
		// tokens
		{name: "missing token", method: "GET", path: "/admin/configurations/scalepolicies", auth: authNone, status: 401, msg: "missing admin token"},
		{name: "wrong token", method: "GET", path: "/admin/configurations/scalepolicies", auth: authWrongQuery, status: 403, msg: "wrong admin token"},
		{name: "wrong token on create", method: "POST", path: sp, auth: authWrongQuery, body: refScalePolicy, status: 403, msg: "wrong admin token"},
		{name: "missing token on cloudcontroller", method: "GET", path: "/admin/debug/cloudcontroller", auth: authNone, status: 401, msg: "missing admin token"},
		{name: "wrong token on launch", method: "POST", path: ng + "/base/node/origin", auth: authWrongQuery, status: 403, msg: "wrong admin token"},

		// malformed bodies
		{name: "empty body", method: "POST", path: sp, status: 400, msg: "empty body"},
		{name: "malformed JSON", method: "POST", path: sp, body: `{"policy": {"name": "x",}}`, status: 400, msg: "malformed JSON"},
		{name: "truncated JSON", method: "POST", path: sp, body: `{"policy": {"name": "x"`, status: 400, msg: "unexpected EOF"},
		{name: "two JSON values", method: "POST", path: sp, body: `{} {}`, status: 400, msg: "more than one JSON value"},
		{name: "policy not wrapped", method: "POST", path: sp, body: `{"name":"x","targets":{"target":[` + ok + `]}}`, status: 400, msg: `{"policy": {...}}`},
		{name: "policy is not an object", method: "POST", path: sp, body: `{"policy":"scale1"}`, status: 400, msg: `field "policy" must be`},

		// wrong types in numbers
		{name: "maxLimit abc", method: "POST", path: sp, body: policy(`{"role":"edge","minLimit":1,"maxLimit":"abc","scaleAdjustment":1}`),
			status: 400, msg: `field "policy.targets.target.maxLimit" must be int, not string "abc"`},
		{name: "maxLimit true", method: "POST", path: sp, body: `{"policy":{"name":"bad","targets":{"region":[{"name":"r","target":[{"role":"edge","minLimit":1,"maxLimit":true,"scaleAdjustment":1}]}]}}}`,
			status: 400, msg: `field "policy.targets.region.target.maxLimit" must be int, not bool`},
		{name: "minLimit 1.5", method: "POST", path: sp, body: policy(`{"role":"edge","minLimit":1.5,"maxLimit":2,"scaleAdjustment":1}`),
			status: 400, msg: `field "policy.targets.target.minLimit" must be int, not number 1.5`},
		{name: "minLimit \"1.5\"", method: "POST", path: sp, body: policy(`{"role":"edge","minLimit":"1.5","maxLimit":2,"scaleAdjustment":1}`),
			status: 400, msg: `field "policy.targets.target.minLimit" must be int, not string "1.5"`},
		{name: "scaleAdjustment overflows", method: "POST", path: sp, body: policy(`{"role":"edge","minLimit":1,"maxLimit":2,"scaleAdjustment":99999999999}`),
			status: 400, msg: `field "policy.targets.target.scaleAdjustment" must be int, not number 99999999999 (out of the 32-bit integer range)`},
		{name: "maxLimit string overflows", method: "POST", path: sp, body: policy(`{"role":"edge","minLimit":1,"maxLimit":"99999999999","scaleAdjustment":1}`),
			status: 400, msg: `out of the 32-bit integer range`},
		{name: "maxLimit array", method: "POST", path: sp, body: policy(`{"role":"edge","minLimit":1,"maxLimit":[2],"scaleAdjustment":1}`),
			status: 400, msg: `must be int, not array`},
		{name: "name is a number", method: "POST", path: sp, body: `{"policy":{"name":5,"targets":{"target":[` + ok + `]}}}`,
			status: 400, msg: `field "policy.name" must be string, not number`},
		{name: "targets is a list", method: "POST", path: sp, body: `{"policy":{"name":"bad","targets":[` + ok + `]}}`,
			status: 400, msg: `field "policy.targets" must be`},

		// policy rules
		{name: "policy without name", method: "POST", path: sp, body: `{"policy":{"targets":{"target":[` + ok + `]}}}`, status: 400, msg: `scale policy name "" must match`},
		{name: "policy with a hostile name", method: "POST", path: sp, body: `{"policy":{"name":"../etc","targets":{"target":[` + ok + `]}}}`, status: 400, msg: `scale policy name "../etc" must match`},
		{name: "duplicate policy", method: "POST", path: sp, body: strings.Replace(refScalePolicy, `"scale1"`, `"base"`, 1), status: 409, msg: "already exists"},
		{name: "min greater than max", method: "POST", path: sp, body: policy(`{"role":"edge","minLimit":"3","maxLimit":"2","scaleAdjustment":"1"}`), status: 400, msg: "minLimit 3 is greater than maxLimit 2"},
		{name: "negative minLimit", method: "POST", path: sp, body: policy(`{"role":"edge","minLimit":-1,"maxLimit":2,"scaleAdjustment":1}`), status: 400, msg: "minLimit -1 is negative"},
		{name: "zero scaleAdjustment", method: "POST", path: sp, body: policy(`{"role":"edge","minLimit":1,"maxLimit":2}`), status: 400, msg: "scaleAdjustment 0 must be at least 1"},
		{name: "bad role", method: "POST", path: sp, body: policy(`{"role":"mixer","minLimit":1,"maxLimit":2,"scaleAdjustment":1}`), status: 400, msg: `role "mixer" is not origin`},
		{name: "negative warm-up", method: "POST", path: sp, body: policy(`{"role":"edge","minLimit":1,"maxLimit":2,"scaleAdjustment":1,"estimatedWarmUpTime":-1}`), status: 400, msg: "must not be negative"},
		{name: "unknown fields are accepted", method: "POST", path: sp, status: 201,
			body:  `{"policy":{"name":"extra","targets":{"target":[{"role":"edge","minLimit":1,"maxLimit":2,"scaleAdjustment":1,"scaleInWaitTime":0}]},"owner":"ops"},"comment":"from a script"}`,
			check: func(t *testing.T, res response) { require.Contains(t, string(res.body), `"name": "extra"`) }},

		// launch configurations
		{name: "launch config not wrapped", method: "POST", path: lc, body: `{"name":"bad"}`, status: 400, msg: `{"launchconfig": {...}}`},
		{name: "negative capacity", method: "POST", path: lc, body: launchConfig(`{"role":"edge","instanceType":"t2","connectionCapacity":"-5"}`), status: 400, msg: "connectionCapacity -5 must be at least 1"},
		{name: "capacity abc", method: "POST", path: lc, body: launchConfig(`{"role":"edge","instanceType":"t2","connectionCapacity":"abc"}`),
			status: 400, msg: `field "launchconfig.targets.target.connectionCapacity" must be int, not string "abc"`},
		{name: "capacity true", method: "POST", path: lc, body: launchConfig(`{"role":"edge","instanceType":"t2","connectionCapacity":true}`), status: 400, msg: "must be int, not bool"},
		{name: "launch config bad role", method: "POST", path: lc, body: launchConfig(`{"role":"mixer","connectionCapacity":1}`), status: 400, msg: `role "mixer" is not origin`},
		{name: "launch config without image", method: "POST", path: lc, body: `{"launchconfig":{"name":"bad","targets":{"target":[` + okL + `]}}}`, status: 400, msg: "has no image"},
		{name: "launch config without name", method: "POST", path: lc, body: `{"launchconfig":{"image":"i","targets":{"target":[` + okL + `]}}}`, status: 400, msg: `launch config name "" must match`},
		{name: "duplicate launch config", method: "POST", path: lc, body: strings.Replace(refLaunchConfig, `"launch-config1"`, `"base"`, 1), status: 409, msg: "already exists"},
		{name: "property without name", method: "POST", path: lc, body: `{"launchconfig":{"name":"bad","image":"i","targets":{"target":[` + okL + `]},"properties":{"property":[{"value":"v"}]}}}`,
			status: 400, msg: "properties.property[0] has no name"},
		{name: "property value is a number", method: "POST", path: lc, body: `{"launchconfig":{"name":"bad","image":"i","targets":{"target":[` + okL + `]},"properties":{"property":[{"name":"n","value":5}]}}}`,
			status: 400, msg: `field "launchconfig.properties.property.value" must be string`},

		// node groups
		{name: "group naming a missing policy", method: "POST", path: ng, body: `{"regions":["r"],"launchConfig":"base","scalePolicy":"nope"}`, status: 400, msg: `scale policy "nope"`, after: noNewGroup},
		{name: "group naming a missing launch config", method: "POST", path: ng, body: `{"regions":["r"],"launchConfig":"nope","scalePolicy":"base"}`, status: 400, msg: `launch config "nope"`, after: noNewGroup},
		{name: "group without policy", method: "POST", path: ng, body: `{"launchConfig":"base"}`, status: 400, msg: "needs a launchConfig and a scalePolicy", after: noNewGroup},
		{name: "group regions not a list", method: "POST", path: ng, body: `{"regions":"r","launchConfig":"base","scalePolicy":"base"}`, status: 400, msg: `field "regions" must be`, after: noNewGroup},
		{name: "group malformed JSON", method: "POST", path: ng, body: `{"regions":[}`, status: 400, msg: "malformed JSON", after: noNewGroup},
		{name: "group with a hostile name", method: "POST", path: ng, body: `{"name":"a b","launchConfig":"base","scalePolicy":"base"}`, status: 400, msg: `node group name "a b" must match`, after: noNewGroup},
		{name: "group with a hostile region", method: "POST", path: ng, body: `{"regions":["us/east"],"launchConfig":"base","scalePolicy":"base"}`, status: 400, msg: `region "us/east"`, after: noNewGroup},
		{name: "duplicate group", method: "POST", path: ng, body: `{"name":"base","launchConfig":"base","scalePolicy":"base"}`, status: 409, msg: "already exists", after: noNewGroup},

		// launching nodes
		{name: "launch in an unknown group", method: "POST", path: ng + "/nope/node/origin", status: 404, msg: `node group "nope": not found`},
		{name: "launch an unknown role", method: "POST", path: ng + "/base/node/mixer", status: 400, msg: `role "mixer"`},
		{name: "launch without a controller", method: "POST", path: ng + "/base/node/edge", status: 503, msg: "no cloud controller is configured; nodes join by running `nagare node --role edge --manager <manager URL>`"},

		// alarms
		{name: "alarm without type", method: "POST", path: "/admin/alarm/scaleout/default?threshold=60", status: 400, msg: `role "" is not origin`},
		{name: "alarm with a bad type", method: "POST", path: "/admin/alarm/scaleout/default?type=mixer&threshold=60", status: 400, msg: `role "mixer"`},
		{name: "alarm threshold abc", method: "POST", path: "/admin/alarm/scaleout/default?type=edge&threshold=abc", status: 400, msg: `threshold "abc" must be a whole number`},
		{name: "alarm threshold 60.5", method: "POST", path: "/admin/alarm/scaleout/default?type=edge&threshold=60.5", status: 400, msg: `threshold "60.5"`},
		{name: "alarm without threshold", method: "POST", path: "/admin/alarm/scaleout/default?type=edge", status: 400, msg: `threshold ""`},
		{name: "alarm threshold 0", method: "POST", path: "/admin/alarm/scaleout/default?type=edge&threshold=0", status: 400, msg: "between 1 and 100"},
		{name: "alarm threshold 101", method: "POST", path: "/admin/alarm/scaleout/default?type=edge&threshold=101", status: 400, msg: "between 1 and 100"},

		// unknown names
		{name: "unknown policy", method: "GET", path: sp + "/nope", status: 404, msg: `scale policy "nope": not found`},
		{name: "delete unknown policy", method: "DELETE", path: sp + "/nope", status: 404, msg: "not found"},
		{name: "unknown launch config", method: "GET", path: lc + "/nope", status: 404, msg: `launch config "nope": not found`},
		{name: "delete unknown launch config", method: "DELETE", path: lc + "/nope", status: 404, msg: "not found"},
		{name: "unknown group", method: "GET", path: ng + "/nope", status: 404, msg: `node group "nope": not found`},
		{name: "unknown group id", method: "GET", path: ng + "/99", status: 404, msg: `node group "99": not found`},
		{name: "delete unknown group", method: "DELETE", path: ng + "/nope", status: 404, msg: "not found"},
		{name: "nodes of an unknown group", method: "GET", path: ng + "/nope/node", status: 404, msg: `node group "nope": not found`},
		{name: "nodes of a bad role", method: "GET", path: ng + "/base/node/mixer", status: 400, msg: `role "mixer"`},
		{name: "delete a policy in use", method: "DELETE", path: sp + "/base", status: 409, msg: "used by 1 node group"},
		{name: "unknown call", method: "GET", path: "/admin/nothing", status: 404, msg: "GET /admin/nothing is not a call of this API"},
		{name: "wrong method", method: "PUT", path: sp, status: 404, msg: "PUT /admin/configurations/scalepolicy is not a call"},

		// stream events (public)
		{name: "event without action", method: "GET", path: "/event/live/stream1", auth: authNone, status: 400, msg: `action "" must be broadcast or subscribe`},
		{name: "event with a bad action", method: "GET", path: "/event/live/stream1?action=play", auth: authNone, status: 400, msg: `action "play"`},
		{name: "event with a dot", method: "GET", path: "/event/live/a.b?action=subscribe", auth: authNone, status: 400, msg: "names must match"},
		{name: "event with an escaped slash", method: "GET", path: "/event/live/a%2F..%2Fb?action=subscribe", auth: authNone, status: 400, msg: "names must match"},
		{name: "event with a NUL", method: "GET", path: "/event/live/a%00b?action=broadcast", auth: authNone, status: 400, msg: "names must match"},
		{name: "event with a space", method: "GET", path: "/event/live/a%20b?action=broadcast", auth: authNone, status: 400, msg: "names must match"},
		{name: "event with markup", method: "GET", path: "/event/live/%3Cscript%3E?action=broadcast", auth: authNone, status: 400, msg: "names must match"},
		{name: "event with a long name", method: "GET", path: "/event/live/" + long + "?action=broadcast", auth: authNone, status: 400, msg: "names must match"},
		{name: "event with a bad scope", method: "GET", path: "/event/li%24ve/stream1?action=broadcast", auth: authNone, status: 400, msg: "names must match"},
		{name: "broadcast with no origin", method: "GET", path: "/event/live/stream1?action=broadcast", auth: authNone, status: 503, msg: "no in-service origin available"},
		{name: "subscribe with no edge", method: "GET", path: "/event/live/stream1?action=subscribe", auth: authNone, status: 503, msg: "no in-service edge or origin"},
	}
	e := newEnv(t)
	red5Fixture(t, e)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := e.with(t)
			a := tc.auth
			if a == authAdmin {
				a = authQuery
			}
			res := e.do(tc.method, red5+tc.path, a, tc.body)
			require.Equal(t, tc.status, res.status, "body: %s", res.body)
			if tc.check != nil {
				tc.check(t, res)
			} else {
				e.requireRed5Error(t, res, tc.msg)
			}
			if tc.status == http.StatusServiceUnavailable {
				require.Equal(t, "2", res.header.Get("Retry-After"))
			}
			if tc.after != nil {
				tc.after(t, e)
			}
		})
	}
}

func TestNativeBadInput(t *testing.T) {
	const okT = `{"role":"edge","minLimit":1,"maxLimit":2,"scaleAdjustment":1}`
	nativePolicy := func(targets string) string { return `{"name":"bad","targets":[` + targets + `]}` }
	noNewNativeGroup := func(t *testing.T, e *env) {
		t.Helper()
		require.Equal(t, 1, groupCount(t, e), "a refused group must not be written")
		var list []store.NodeGroup
		e.native("GET", "/nodegroups", "").must(t, http.StatusOK, &list)
		require.Len(t, list, 1)
	}
	long := strings.Repeat("a", 200)
	cases := []badCase{
		{name: "missing token", method: "GET", path: "/api/v1/scalepolicies", auth: authNone, status: 401, msg: "missing admin token"},
		{name: "wrong token", method: "GET", path: "/api/v1/scalepolicies", auth: authWrongBearer, status: 403, msg: "wrong admin token"},
		{name: "wrong token in the query", method: "DELETE", path: "/api/v1/scalepolicies/base", auth: authWrongQuery, status: 403, msg: "wrong admin token"},
		{name: "wrong token on drain", method: "POST", path: "/api/v1/nodes/edge-1/drain", auth: authWrongBearer, status: 403, msg: "wrong admin token"},

		{name: "empty body", method: "POST", path: "/api/v1/scalepolicies", status: 400, msg: "empty body"},
		{name: "malformed JSON", method: "POST", path: "/api/v1/scalepolicies", body: `{"name":"x",]`, status: 400, msg: "malformed JSON"},
		{name: "unknown field", method: "POST", path: "/api/v1/scalepolicies", body: `{"name":"x","targets":[` + okT + `],"owner":"ops"}`, status: 400, msg: `unknown field "owner"`},
		{name: "maxLimit abc", method: "POST", path: "/api/v1/scalepolicies", body: nativePolicy(`{"role":"edge","minLimit":1,"maxLimit":"abc","scaleAdjustment":1}`), status: 400, msg: `field "targets.maxLimit" must be int, not string`},
		{name: "maxLimit true", method: "POST", path: "/api/v1/scalepolicies", body: nativePolicy(`{"role":"edge","minLimit":1,"maxLimit":true,"scaleAdjustment":1}`), status: 400, msg: `field "targets.maxLimit" must be int, not bool`},
		{name: "policy without name", method: "POST", path: "/api/v1/scalepolicies", body: `{"targets":[` + okT + `]}`, status: 400, msg: `scale policy name "" must match`},
		{name: "duplicate policy", method: "POST", path: "/api/v1/scalepolicies", body: `{"name":"base","targets":[` + okT + `]}`, status: 409, msg: "already exists"},
		{name: "min greater than max", method: "POST", path: "/api/v1/scalepolicies", body: nativePolicy(`{"role":"edge","minLimit":3,"maxLimit":2,"scaleAdjustment":1}`), status: 400, msg: "greater than maxLimit"},
		{name: "bad role", method: "POST", path: "/api/v1/scalepolicies", body: nativePolicy(`{"role":"mixer","minLimit":1,"maxLimit":2,"scaleAdjustment":1}`), status: 400, msg: `role "mixer"`},
		{name: "negative warm-up", method: "POST", path: "/api/v1/scalepolicies", body: `{"name":"bad","targets":[` + okT + `],"warmUpMs":-1}`, status: 400, msg: "must not be negative"},
		{name: "update names another policy", method: "PUT", path: "/api/v1/scalepolicies/base", body: `{"name":"other","targets":[` + okT + `]}`, status: 400, msg: `the body names policy "other" but the URL "base"`},
		{name: "update an unknown policy", method: "PUT", path: "/api/v1/scalepolicies/nope", body: `{"targets":[` + okT + `]}`, status: 404, msg: "not found"},

		{name: "negative capacity", method: "POST", path: "/api/v1/launchconfigs", body: `{"name":"bad","image":"i","targets":[{"role":"edge","connectionCapacity":-5}]}`, status: 400, msg: "connectionCapacity -5 must be at least 1"},
		{name: "capacity as a string", method: "POST", path: "/api/v1/launchconfigs", body: `{"name":"bad","image":"i","targets":[{"role":"edge","connectionCapacity":"5"}]}`, status: 400, msg: `field "targets.connectionCapacity" must be int, not string`},
		{name: "launch config bad role", method: "POST", path: "/api/v1/launchconfigs", body: `{"name":"bad","image":"i","targets":[{"role":"mixer","connectionCapacity":5}]}`, status: 400, msg: `role "mixer"`},
		{name: "launch config without name", method: "POST", path: "/api/v1/launchconfigs", body: `{"image":"i","targets":[{"role":"edge","connectionCapacity":5}]}`, status: 400, msg: `launch config name ""`},
		{name: "duplicate launch config", method: "POST", path: "/api/v1/launchconfigs", body: `{"name":"base","image":"i","targets":[{"role":"edge","connectionCapacity":5}]}`, status: 409, msg: "already exists"},

		{name: "group naming a missing policy", method: "POST", path: "/api/v1/nodegroups", body: `{"name":"g2","launchConfig":"base","scalePolicy":"nope"}`, status: 400, msg: `scale policy "nope"`, after: noNewNativeGroup},
		{name: "group naming a missing launch config", method: "POST", path: "/api/v1/nodegroups", body: `{"name":"g2","launchConfig":"nope","scalePolicy":"base"}`, status: 400, msg: `launch config "nope"`, after: noNewNativeGroup},
		{name: "group with wrong types", method: "POST", path: "/api/v1/nodegroups", body: `{"name":"g2","regions":[1],"launchConfig":"base","scalePolicy":"base"}`, status: 400, msg: `field "regions" must be string`, after: noNewNativeGroup},
		{name: "duplicate group", method: "POST", path: "/api/v1/nodegroups", body: `{"name":"base","launchConfig":"base","scalePolicy":"base"}`, status: 409, msg: "already exists", after: noNewNativeGroup},
		{name: "delete a group with live nodes", method: "DELETE", path: "/api/v1/nodegroups/base", status: 409, msg: "still has 1 node"},
		{name: "delete a policy in use", method: "DELETE", path: "/api/v1/scalepolicies/base", status: 409, msg: "used by 1 node group"},

		{name: "alarm of a bad role", method: "PUT", path: "/api/v1/alarms/mixer", body: `{"threshold":50}`, status: 400, msg: `role "mixer"`},
		{name: "alarm threshold 0", method: "PUT", path: "/api/v1/alarms/edge", body: `{"threshold":0}`, status: 400, msg: "between 1 and 100"},
		{name: "alarm threshold as a string", method: "PUT", path: "/api/v1/alarms/edge", body: `{"threshold":"60"}`, status: 400, msg: `field "threshold" must be int, not string`},

		{name: "unknown policy", method: "GET", path: "/api/v1/scalepolicies/nope", status: 404, msg: `scale policy "nope": not found`},
		{name: "unknown launch config", method: "DELETE", path: "/api/v1/launchconfigs/nope", status: 404, msg: `launch config "nope": not found`},
		{name: "unknown group", method: "GET", path: "/api/v1/nodegroups/nope/nodes", status: 404, msg: `node group "nope": not found`},
		{name: "unknown node", method: "GET", path: "/api/v1/nodes/nope", status: 404, msg: `node "nope": not found`},
		{name: "events of an unknown node", method: "GET", path: "/api/v1/nodes/nope/events", status: 404, msg: `node "nope": not found`},
		{name: "drain an unknown node", method: "POST", path: "/api/v1/nodes/nope/drain", status: 404, msg: `node "nope": not found`},

		{name: "publish route with a dot", method: "GET", path: "/api/v1/route/publish/live/a.b", auth: authNone, status: 400, msg: "names must match"},
		{name: "play route with an escaped slash", method: "GET", path: "/api/v1/route/play/live/a%2Fb", auth: authNone, status: 400, msg: "names must match"},
		{name: "publish route with no origin in the group", method: "GET", path: "/api/v1/route/publish/live/s?group=nope", auth: authNone, status: 503, msg: "no in-service origin"},
		{name: "viewer entry with a dot", method: "GET", path: "/live/a.b/index.m3u8", auth: authNone, status: 400, msg: "names must match"},
		{name: "viewer entry with an escaped slash", method: "GET", path: "/live/a%2F..%2Fb/index.m3u8", auth: authNone, status: 400, msg: "names must match"},
		{name: "viewer entry with a NUL", method: "GET", path: "/live/a%00/index.m3u8", auth: authNone, status: 400, msg: "names must match"},
		{name: "viewer entry with a space", method: "GET", path: "/li%20ve/s/index.m3u8", auth: authNone, status: 400, msg: "names must match"},
		{name: "viewer entry with a long name", method: "GET", path: "/live/" + long + "/index.m3u8", auth: authNone, status: 400, msg: "names must match"},
		{name: "viewer entry with no edge in the group", method: "GET", path: "/live/s/index.m3u8?group=nope", auth: authNone, status: 503, msg: "no in-service edge"},
	}
	e := newEnv(t)
	e.native("POST", "/scalepolicies", `{"name":"base","targets":[`+okT+`]}`).must(t, http.StatusCreated, nil)
	e.native("POST", "/launchconfigs", `{"name":"base","image":"i","targets":[{"role":"edge","connectionCapacity":5}]}`).must(t, http.StatusCreated, nil)
	e.native("POST", "/nodegroups", `{"name":"base","launchConfig":"base","scalePolicy":"base"}`).must(t, http.StatusCreated, nil)
	e.join(fixtureNode{id: "edge-1", role: "edge", group: "base", http: "10.0.0.1:8080"})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := e.with(t)
			a := tc.auth
			if a == authAdmin {
				a = authBearer
			}
			res := e.do(tc.method, tc.path, a, tc.body)
			require.Equal(t, tc.status, res.status, "body: %s", res.body)
			requireNativeError(t, res, tc.msg)
			if tc.after != nil {
				tc.after(t, e)
			}
		})
	}
}

// TestErrorShapesDiffer pins the two error bodies side by side.
func TestErrorShapesDiffer(t *testing.T) {
	e := newEnv(t)
	res := e.do("GET", red5+"/admin/nodegroup/nope", authQuery, "")
	require.Equal(t, http.StatusNotFound, res.status)
	e.requireRed5Error(t, res, "not found")
	require.Equal(t, "application/json", res.header.Get("Content-Type"))

	res = e.do("GET", "/api/v1/nodegroups/nope", authBearer, "")
	require.Equal(t, http.StatusNotFound, res.status)
	requireNativeError(t, res, "not found")
	require.Equal(t, "application/json", res.header.Get("Content-Type"))

	// the Red5 error timestamp follows the manager's clock
	e.clock.Add(42 * time.Millisecond)
	res = e.do("GET", red5+"/admin/nodegroup/nope", authQuery, "")
	e.requireRed5Error(t, res, "not found")
}

// TestRed5EventQuery checks the event call's nagare extras: region preference and the exact broadcast answer.
func TestRed5EventQuery(t *testing.T) {
	e := newEnv(t)
	e.group("g", 100)
	e.join(fixtureNode{id: "o-eu", role: "origin", group: "g", region: "eu", rtmp: "10.0.0.1:1935", http: "10.0.0.1:8080"})
	e.join(fixtureNode{id: "e-eu", role: "edge", group: "g", region: "eu", http: "10.0.0.2:8080"})
	e.join(fixtureNode{id: "e-us", role: "edge", group: "g", region: "us", http: "10.0.0.3:8080"})
	e.report("e-eu", 3) // busier than e-us: without a region the US edge wins
	var ev event
	e.do("GET", red5+"/event/live/s?action=subscribe", authNone, "").must(t, http.StatusOK, &ev)
	require.Equal(t, "e-us", ev.NodeID)
	q := url.Values{"action": {"subscribe"}, "region": {"eu"}}
	e.do("GET", red5+"/event/live/s?"+q.Encode(), authNone, "").must(t, http.StatusOK, &ev)
	require.Equal(t, "e-eu", ev.NodeID)
	require.Equal(t, "eu", ev.Region)
	require.Equal(t, "10.0.0.2", ev.ServerAddress)
	require.Equal(t, 8080, ev.Port)

	// an origin without SRT gives no SRT URL; the RTMP port is the one reported
	var raw map[string]any
	e.do("GET", red5+"/event/live/s?action=broadcast", authNone, "").must(t, http.StatusOK, &raw)
	require.Equal(t, map[string]any{"name": "s", "scope": "/live", "serverAddress": "10.0.0.1", "region": "eu", "port": float64(1935),
		"nodeId": "o-eu", "rtmpUrl": "rtmp://10.0.0.1:1935/live/s", "whipUrl": "http://10.0.0.1:8080/live/s/whip"}, raw)
}

// TestRed5CloudControllerName checks the name reported when a controller is configured.
func TestRed5CloudControllerName(t *testing.T) {
	e := newEnv(t, func(s *api.Server) { s.CloudController = "simulated-cloud" })
	var out map[string]string
	e.red5("GET", "/admin/debug/cloudcontroller", "").must(t, http.StatusOK, &out)
	require.Equal(t, map[string]string{"name": "simulated-cloud"}, out)
}
