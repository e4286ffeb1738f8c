package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/manager/api/apitypes"
	"github.com/nagare-video/nagare/internal/nodeapi"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

// reportLoads sends a load report listing the given streams as the node describes them.
func (e *env) reportLoads(id string, loads ...nodemodel.StreamLoad) {
	e.t.Helper()
	e.clock.Add(2 * time.Second) // past the report throttle
	var subscribers int
	for _, l := range loads {
		subscribers += l.Subscribers
	}
	_, err := e.reg.Report(context.Background(), nodeapi.ReportRequest{ID: id,
		Stats: nodemodel.Load{Connections: subscribers, Subscribers: subscribers, Streams: len(loads)}, Streams: loads})
	require.NoError(e.t, err)
	e.settle()
}

// TestListStreamsDetails: GET /streams gives each live stream what its origin reported of it (codecs,
// picture, bit rate, renditions, recording) and its viewers, summed over the origin and the edges and
// relays that carry it, with the edges that have some.
func TestListStreamsDetails(t *testing.T) {
	e := newEnv(t)
	e.join(fixtureNode{id: "origin-1", role: "origin", http: "10.1.0.1:8080"})
	e.join(fixtureNode{id: "origin-old", role: "origin", http: "10.1.0.9:8080"})
	e.join(fixtureNode{id: "edge-1", role: "edge", http: "10.1.0.2:8080"})
	e.join(fixtureNode{id: "edge-2", role: "edge", http: "10.1.0.3:8080"})
	e.join(fixtureNode{id: "relay-1", role: "relay", http: "10.1.0.4:8080"})
	e.publish("origin-1", "live/cam1")
	e.publish("origin-1", "live/cam2")
	e.publish("origin-old", "live/old")
	e.reportLoads("origin-1",
		nodemodel.StreamLoad{Name: "live/cam1", Protocol: "rtmp", Subscribers: 3, BytesIn: 9_000_000,
			Codecs: "avc1.64001f,mp4a.40.2", Width: 1280, Height: 720, Bitrate: 2_500_000, HLSViewers: 1, WebRTCViewers: 2,
			Recording: true, Renditions: []string{"live/cam1_480p", "live/cam1_360p"}},
		nodemodel.StreamLoad{Name: "live/cam2", Protocol: "srt"}, // no media yet, nobody watching
	)
	// an origin of an older version: no detail, viewers not split by protocol
	e.reportLoads("origin-old", nodemodel.StreamLoad{Name: "live/old", Protocol: "rtmp", Subscribers: 4})
	e.reportLoads("edge-1", nodemodel.StreamLoad{Name: "live/cam1", Subscribers: 12, HLSViewers: 10, WebRTCViewers: 2},
		nodemodel.StreamLoad{Name: "live/gone", Subscribers: 1, HLSViewers: 1}) // not live any more: not listed
	e.reportLoads("edge-2", nodemodel.StreamLoad{Name: "live/cam1", Subscribers: 5, HLSViewers: 5})
	e.reportLoads("relay-1", nodemodel.StreamLoad{Name: "live/old", Subscribers: 2, WebRTCViewers: 2})

	res := e.golden(exchange{name: "native-streams-details", method: "GET", path: "/api/v1/streams", status: http.StatusOK}, authBearer)
	var got []apitypes.Stream
	res.must(t, http.StatusOK, &got)
	require.Len(t, got, 3)
	byName := map[string]apitypes.Stream{}
	for _, s := range got {
		byName[s.Name] = s
	}
	cam1 := byName["live/cam1"]
	require.Equal(t, "avc1.64001f,mp4a.40.2", cam1.Codecs)
	require.Equal(t, &apitypes.StreamViewers{HLS: 16, WebRTC: 4}, cam1.Viewers, "origin + edge-1 + edge-2")
	require.Equal(t, []apitypes.StreamEdge{{NodeID: "edge-1", HLS: 10, WebRTC: 2}, {NodeID: "edge-2", HLS: 5}}, cam1.Edges)
	cam2 := byName["live/cam2"]
	require.Equal(t, &apitypes.StreamViewers{}, cam2.Viewers, "nobody watches: zero, not unknown")
	require.NotNil(t, cam2.Recording)
	require.False(t, *cam2.Recording)
	old := byName["live/old"]
	require.Equal(t, &apitypes.StreamViewers{WebRTC: 2}, old.Viewers, "the old origin's unsplit viewers are left out, the relay's counted")
	require.Empty(t, old.Codecs)
}

// publisherNode is an origin's publisher endpoint (nodeapi.PathPublishers) on 127.0.0.1:0 that answers
// with status and records the requests it gets.
type publisherNode struct {
	addr   string
	status int
	mu     sync.Mutex
	got    []string
}

func newPublisherNode(t *testing.T, status int) *publisherNode {
	t.Helper()
	n := &publisherNode{status: status}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.mu.Lock()
		n.got = append(n.got, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization"))
		n.mu.Unlock()
		if n.status == http.StatusNoContent {
			w.WriteHeader(n.status)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(n.status)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "as the origin says"})
	}))
	t.Cleanup(hs.Close)
	n.addr = strings.TrimPrefix(hs.URL, "http://")
	return n
}

func (n *publisherNode) requests() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.got
}

// TestStopPublisher: DELETE /streams/{app}/{stream}/publisher asks the origin carrying the stream, with
// the cluster secret, to stop its publisher, and answers with what came of it.
func TestStopPublisher(t *testing.T) {
	const asked = "DELETE /api/v1/publishers/live/cam1 Bearer " + clusterSecret
	for _, tc := range []struct {
		name     string
		node     int    // the origin's answer; 0: nothing listens at its address
		stream   string // the stream to stop
		auth     auth
		status   int
		msg      string   // part of the error message
		requests []string // what reached the origin
	}{
		{name: "stopped", node: http.StatusNoContent, stream: "live/cam1", auth: authBearer, status: http.StatusNoContent, requests: []string{asked}},
		{name: "not live", node: http.StatusNoContent, stream: "live/other", auth: authBearer, status: http.StatusNotFound,
			msg: "stream live/other is not live"},
		{name: "not live on the origin", node: http.StatusNotFound, stream: "live/cam1", auth: authBearer, status: http.StatusNotFound,
			msg: "stream live/cam1 is not live on its origin origin-1", requests: []string{asked}},
		{name: "not stoppable there", node: http.StatusConflict, stream: "live/cam1", auth: authBearer, status: http.StatusConflict,
			msg: "as the origin says", requests: []string{asked}},
		{name: "origin fails", node: http.StatusInternalServerError, stream: "live/cam1", auth: authBearer, status: http.StatusBadGateway,
			msg: "the node did not answer: node origin-1", requests: []string{asked}},
		{name: "origin down", stream: "live/cam1", auth: authBearer, status: http.StatusBadGateway,
			msg: "the node did not answer: node origin-1"},
		{name: "hostile name", node: http.StatusNoContent, stream: "live/x.y", auth: authBearer, status: http.StatusBadRequest, msg: "names must match"},
		{name: "no admin token", node: http.StatusNoContent, stream: "live/cam1", auth: authNone, status: http.StatusUnauthorized},
		{name: "wrong admin token", node: http.StatusNoContent, stream: "live/cam1", auth: authWrongBearer, status: http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			addr, node := deadAddr(t), (*publisherNode)(nil)
			if tc.node != 0 {
				node = newPublisherNode(t, tc.node)
				addr = node.addr
			}
			e.join(fixtureNode{id: "origin-1", role: "origin", http: addr})
			e.publish("origin-1", "live/cam1")

			res := e.do(http.MethodDelete, "/api/v1/streams/"+tc.stream+"/publisher", tc.auth, "")
			require.Equal(t, tc.status, res.status, "body: %s", res.body)
			if tc.status == http.StatusNoContent {
				require.Empty(t, res.body)
			} else if tc.msg != "" {
				requireNativeError(t, res, tc.msg)
			}
			if node != nil {
				require.Equal(t, tc.requests, node.requests())
			}
		})
	}
}
