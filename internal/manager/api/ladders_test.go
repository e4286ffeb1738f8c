package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/manager/api"
	"github.com/nagare-video/nagare/internal/manager/cluster"
	"github.com/nagare-video/nagare/internal/manager/store"
	"github.com/nagare-video/nagare/internal/nodeapi"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

const refProvision = `{"meta": {
  "authentication": {"username": "", "password": ""},
  "stream": [
    {"name": "stream1_1", "level": 1, "properties": {"videoBR": 2000000, "videoWidth": 1280, "videoHeight": 720}},
    {"name": "stream1_2", "level": "2", "properties": {"videoBR": "1000000", "videoWidth": 854, "videoHeight": 480}},
    {"name": "stream1_3", "level": 3, "properties": {"videoBR": 500000, "videoWidth": 640, "videoHeight": 360}}
  ],
  "georules": {"regions": ["US", "UK"], "restricted": false},
  "qos": 3
}}`

// TestRed5Provision provisions a stream's ladder the Red5 way, reads it back both ways, replaces it
// natively, and removes it.
func TestRed5Provision(t *testing.T) {
	e := newEnv(t)
	e.red5("GET", "/admin/event/meta/live/stream1", "").must(t, http.StatusNotFound, nil)

	type red5Stream struct {
		Name       string
		Level      int
		Properties struct{ VideoBR, VideoWidth, VideoHeight int }
	}
	var got struct{ Meta struct{ Stream []red5Stream } }
	e.red5("POST", "/admin/event/meta/live/stream1", refProvision).must(t, http.StatusOK, &got)
	require.Len(t, got.Meta.Stream, 3)
	require.Equal(t, "stream1_2", got.Meta.Stream[1].Name)
	require.Equal(t, 2, got.Meta.Stream[1].Level)
	require.Equal(t, 1_000_000, got.Meta.Stream[1].Properties.VideoBR)
	require.Equal(t, 480, got.Meta.Stream[1].Properties.VideoHeight)
	e.red5("GET", "/admin/event/meta/live/stream1", "").must(t, http.StatusOK, &got)
	require.Len(t, got.Meta.Stream, 3)

	var native struct {
		Stream string
		Rungs  []struct {
			Name                 string
			Height, VideoBitrate int
		}
	}
	e.native("GET", "/streams/live/stream1/ladder", "").must(t, http.StatusOK, &native)
	require.Equal(t, "live/stream1", native.Stream)
	require.Equal(t, "1", native.Rungs[0].Name, "the rendition live/stream1_1 is rung 1")
	require.Equal(t, 720, native.Rungs[0].Height)

	e.native("PUT", "/streams/live/stream1/ladder",
		`{"rungs": [{"name": "360p", "height": 360, "videoBitrate": 600000}], "audioBitrate": 96000}`).must(t, http.StatusOK, &native)
	require.Len(t, native.Rungs, 1)
	var list []struct{ Stream string }
	e.native("GET", "/ladders", "").must(t, http.StatusOK, &list)
	require.Len(t, list, 1)

	e.red5("DELETE", "/admin/event/meta/live/stream1", "").must(t, http.StatusOK, &got)
	require.Equal(t, "stream1_360p", got.Meta.Stream[0].Name)
	e.native("DELETE", "/streams/live/stream1/ladder", "").must(t, http.StatusNotFound, nil)
}

// TestLadderRefusals: nonsense rungs get 400 with the field named, in either API, and nothing is stored.
func TestLadderRefusals(t *testing.T) {
	e := newEnv(t)
	rung := func(name, level, br, w, h string) string {
		return `{"name": "` + name + `", "level": ` + level + `, "properties": {"videoBR": ` + br + `, "videoWidth": ` + w + `, "videoHeight": ` + h + `}}`
	}
	red5 := []struct{ name, body, msg string }{
		{"no meta", `{}`, `the body must be {"meta"`},
		{"no streams", `{"meta": {"stream": []}}`, "meta.stream: a ladder has 1 to 16 rungs, not 0"},
		{"0x0", `{"meta": {"stream": [` + rung("s_1", "1", "1000", "0", "0") + `]}}`, "meta.stream[0].properties.videoHeight 0 must be an even number"},
		{"100 Gbit/s", `{"meta": {"stream": [` + rung("s_1", "1", "100000000000", "1280", "720") + `]}}`, `"meta.stream.properties.videoBR" must be int, not number 100000000000`},
		{"300 Mbit/s", `{"meta": {"stream": [` + rung("s_1", "1", "300000000", "1280", "720") + `]}}`,
			"meta.stream[0].properties.videoBR 300000000 must be between 1 and 200000000"},
		{"duplicate names", `{"meta": {"stream": [` + rung("s_1", "1", "1000", "2", "2") + `, ` + rung("s_1", "2", "1000", "2", "2") + `]}}`,
			`meta.stream[1].name "1" is used twice`},
		{"foreign name", `{"meta": {"stream": [` + rung("other_1", "1", "1000", "2", "2") + `]}}`, `meta.stream[0].name "other_1" must be s_<level>`},
		{"level not a number", `{"meta": {"stream": [` + rung("s_1", `"one"`, "1000", "2", "2") + `]}}`, "level"},
		{"truncated", `{"meta": `, "unexpected EOF"},
	}
	for _, tc := range red5 {
		t.Run("red5/"+tc.name, func(t *testing.T) {
			res := e.with(t).red5("POST", "/admin/event/meta/live/s", tc.body)
			require.Equal(t, http.StatusBadRequest, res.status, "body: %s", res.body)
			e.with(t).requireRed5Error(t, res, tc.msg)
		})
	}
	native := []struct{ name, path, body, msg string }{
		{"odd height", "/streams/live/s/ladder", `{"rungs": [{"name": "a", "height": 241, "videoBitrate": 1}]}`, "rungs[0].height 241"},
		{"max rate below", "/streams/live/s/ladder", `{"rungs": [{"name": "a", "height": 240, "videoBitrate": 1000, "maxRate": 10}]}`, "rungs[0].maxRate 10"},
		{"hostile name", "/streams/live/s/ladder", `{"rungs": [{"name": "../x", "height": 240, "videoBitrate": 1}]}`, `rungs[0].name "../x" must match`},
		{"the ladder's own name", "/streams/live/s/ladder", `{"rungs": [{"name": "audio", "height": 240, "videoBitrate": 1}]}`, `rungs[0].name "audio" is a name the ladder's own renditions take`},
		{"unknown field", "/streams/live/s/ladder", `{"rungs": [], "bogus": 1}`, `unknown field "bogus"`},
		{"hostile stream", "/streams/live/s%2e%2e/ladder", `{"rungs": [{"name": "a", "height": 240, "videoBitrate": 1}]}`, "names must match"},
	}
	for _, tc := range native {
		t.Run("native/"+tc.name, func(t *testing.T) {
			res := e.with(t).native("PUT", tc.path, tc.body)
			require.Equal(t, http.StatusBadRequest, res.status, "body: %s", res.body)
			requireNativeError(t, res, tc.msg)
		})
	}
	var list []any
	e.native("GET", "/ladders", "").must(t, http.StatusOK, &list)
	require.Empty(t, list, "nothing refused was stored")
	require.Equal(t, http.StatusUnauthorized, e.do("POST", "/streammanager/api/3.1/admin/event/meta/live/s", authNone, refProvision).status)
}

// TestRed5BroadcastTranscode: Red5's broadcast with transcode=true sends the publisher of a provisioned
// stream (or of one manager.transcodeStreams selects) to a transcoder node (the least busy), never one
// of another stream, and answers 503 without an in-service transcoder.
func TestRed5BroadcastTranscode(t *testing.T) {
	e := newEnv(t, func(s *api.Server) { s.Cluster.(*cluster.Registry).TranscodeStreams = []string{"studio/*"} })
	ctx := t.Context()
	_, err := e.store.CreatePolicy(ctx, store.ScalePolicy{Name: "p", Targets: []store.RoleLimits{{Role: "transcoder", MinLimit: 1, MaxLimit: 2, ScaleAdjustment: 1}}})
	require.NoError(t, err)
	_, err = e.store.CreateLaunchConfig(ctx, store.LaunchConfig{Name: "lc", Image: "nagare", Targets: []store.LaunchTarget{
		{Role: "origin", ConnectionCapacity: 10}, {Role: "transcoder", ConnectionCapacity: 2}}})
	require.NoError(t, err)
	_, err = e.store.CreateGroup(ctx, store.NodeGroup{Name: "g", LaunchConfig: "lc", ScalePolicy: "p"})
	require.NoError(t, err)
	e.join(fixtureNode{id: "o1", role: "origin", group: "g", rtmp: "10.0.0.1:1935", http: "10.0.0.1:8080"})

	e.red5("GET", "/event/live/stream1?action=broadcast&transcode=true", "").must(t, http.StatusNotFound, nil)
	e.red5("POST", "/admin/event/meta/live/stream1", refProvision).must(t, http.StatusOK, nil)
	res := e.red5("GET", "/event/live/stream1?action=broadcast&transcode=true", "")
	res.must(t, http.StatusServiceUnavailable, nil)
	require.Contains(t, string(res.body), "no in-service transcoder")
	e.red5("GET", "/event/live/stream1?action=broadcast&transcode=maybe", "").must(t, http.StatusBadRequest, nil)

	e.join(fixtureNode{id: "t1", role: "transcoder", group: "g", rtmp: "10.0.0.2:1935", srt: "10.0.0.2:8890", http: "10.0.0.2:8080"})
	e.join(fixtureNode{id: "t2", role: "transcoder", group: "g", rtmp: "10.0.0.3:1935", http: "10.0.0.3:8080"})
	e.report("t1", 0)
	e.clock.Add(2 * time.Second)
	_, err = e.reg.Report(ctx, nodeapi.ReportRequest{ID: "t2", Stats: nodemodel.Load{Connections: 1, Publishers: 1, Streams: 1}})
	require.NoError(t, err)
	e.settle()

	var ev event
	e.red5("GET", "/event/live/stream1?action=broadcast&transcode=true", "").must(t, http.StatusOK, &ev)
	require.Equal(t, event{Name: "stream1", Scope: "/live", ServerAddress: "10.0.0.2", Port: 1935, NodeID: "t1",
		RTMPURL: "rtmp://10.0.0.2:1935/live/stream1", SRTURL: "srt://10.0.0.2:8890?streamid=publish:live/stream1"}, ev,
		"the transcoder with fewer streams; RTMP and SRT only")
	ev = event{}
	e.red5("GET", "/event/live/stream1?action=broadcast", "").must(t, http.StatusOK, &ev)
	require.Equal(t, "o1", ev.NodeID, "without transcode=true the origin")

	ev = event{}
	e.red5("GET", "/event/studio/cam?action=broadcast&transcode=true", "").must(t, http.StatusOK, &ev)
	require.Equal(t, "t1", ev.NodeID, "selected by manager.transcodeStreams: no provisioning needed")
	e.red5("GET", "/event/other/cam?action=broadcast&transcode=true", "").must(t, http.StatusNotFound, nil)
}

// TestPrometheusTargets: the HTTP service discovery for Prometheus lists the metrics endpoint of every
// node in service, with its scheme and labels, behind the admin token.
func TestPrometheusTargets(t *testing.T) {
	e := newEnv(t)
	e.group("g1", 10)
	e.join(fixtureNode{id: "o1", role: "origin", group: "g1", region: "eu", rtmp: "10.0.0.1:1935", http: "10.0.0.1:8080"})
	e.join(fixtureNode{id: "e1", role: "edge", group: "g1", region: "eu", http: "10.0.0.2:8080"})
	ctx := t.Context()
	_, err := e.reg.Register(ctx, nodeapi.RegisterRequest{ID: "e2", Role: "edge", Version: "test", Group: "g1",
		Addresses: nodemodel.Addresses{HTTP: "edge-2.example:8443", TLS: true}})
	require.NoError(t, err)
	e.report("e2", 0)

	var got []struct {
		Targets []string
		Labels  map[string]string
	}
	e.native("GET", "/sd/prometheus", "").must(t, http.StatusOK, &got)
	require.Len(t, got, 3)
	byNode := map[string]map[string]string{}
	for _, g := range got {
		require.Len(t, g.Targets, 1)
		g.Labels["target"] = g.Targets[0]
		byNode[g.Labels["nagare_node"]] = g.Labels
	}
	require.Equal(t, map[string]string{"target": "10.0.0.1:8080", "__scheme__": "http", "__metrics_path__": "/metrics",
		"nagare_node": "o1", "nagare_role": "origin", "nagare_group": "g1", "nagare_region": "eu", "nagare_state": "inservice"}, byNode["o1"])
	require.Equal(t, "https", byNode["e2"]["__scheme__"])
	require.Equal(t, "edge-2.example:8443", byNode["e2"]["target"])
	e.do("GET", "/api/v1/sd/prometheus", authNone, "").must(t, http.StatusUnauthorized, nil)
}
