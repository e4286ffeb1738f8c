package api_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/manager/api"
	"github.com/nagare-video/nagare/internal/manager/api/apitypes"
	"github.com/nagare-video/nagare/internal/nodeapi"
)

const (
	offerSDP  = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
	answerSDP = "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=nagare\r\nt=0 0\r\n"
	streamKey = "Bearer stream-key-SECRET-7"
)

// nodeRequest is what reached a fake node.
type nodeRequest struct {
	method, path, query, body, auth, contentType, ifMatch string
}

// fakeNode is a media node's WHIP/WHEP endpoint on 127.0.0.1:0, as the node contract has it: an offer
// (POST /<app>/<stream>/whip|whep) is answered 201 with an SDP answer, the session's Location, two ICE
// servers and an ETag; PATCH on the session 204, DELETE 200. It records every request.
type fakeNode struct {
	addr string

	mu       sync.Mutex
	got      []nodeRequest
	clients  []string                       // the client address each request named, when signed with the cluster secret
	location func(addr, path string) string // the Location of an offer's answer; nil: <path>/sess-1 on this node
}

func newFakeNode(t *testing.T) *fakeNode {
	t.Helper()
	n := &fakeNode{}
	hs := httptest.NewServer(http.HandlerFunc(n.serve))
	t.Cleanup(hs.Close)
	n.addr = strings.TrimPrefix(hs.URL, "http://")
	return n
}

func (n *fakeNode) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	n.mu.Lock()
	n.got = append(n.got, nodeRequest{method: r.Method, path: r.URL.Path, query: r.URL.RawQuery, body: string(body),
		auth: r.Header.Get("Authorization"), contentType: r.Header.Get("Content-Type"), ifMatch: r.Header.Get("If-Match")})
	if c := r.Header.Get(nodeapi.HeaderClient); c != "" && nodeapi.ClientIP(r, clusterSecret) == c {
		n.clients = append(n.clients, c)
	}
	location := n.location
	n.mu.Unlock()
	switch r.Method {
	case http.MethodPost:
		loc := "http://" + n.addr + r.URL.Path + "/sess-1"
		if location != nil {
			loc = location(n.addr, r.URL.Path)
		}
		w.Header().Set("Content-Type", "application/sdp")
		w.Header().Set("Location", loc)
		w.Header().Add("Link", `<stun:stun.example.net:3478>; rel="ice-server"`)
		w.Header().Add("Link", `<turn:turn.example.net:3478?transport=udp>; rel="ice-server"; username="u"; credential="c"`)
		w.Header().Set("ETag", `"etag-1"`)
		w.Header().Set("Accept-Patch", "application/trickle-ice-sdpfrag")
		w.Header().Set("X-Node-Internal", "not for clients")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, answerSDP)
	case http.MethodPatch:
		if r.Header.Get("If-Match") == `"stale"` {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusPreconditionFailed)
			return
		}
		w.Header().Set("ETag", `"etag-2"`)
		w.WriteHeader(http.StatusNoContent)
	case http.MethodDelete:
		w.WriteHeader(http.StatusOK)
	}
}

// requests returns what reached the node and forgets it.
func (n *fakeNode) requests() []nodeRequest {
	n.mu.Lock()
	defer n.mu.Unlock()
	got := n.got
	n.got = nil
	return got
}

func (n *fakeNode) answerLocation(f func(addr, path string) string) {
	n.mu.Lock()
	n.location = f
	n.mu.Unlock()
}

// send sends one request with the given headers and body, as a WHIP or WHEP client does.
func (e *env) send(method, path string, header http.Header, body string) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, strings.NewReader(body))
	require.NoError(e.t, err)
	for k, vs := range header {
		req.Header[k] = vs
	}
	res, err := e.http.Do(req)
	require.NoError(e.t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(e.t, err)
	return response{status: res.StatusCode, header: res.Header, body: b}
}

var sdpOffer = http.Header{"Content-Type": {"application/sdp"}, "Authorization": {streamKey}}

// deadAddr is a 127.0.0.1 address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// TestWebRTCRedirect: POST /<app>/<stream>/whip goes (307) to the origin publishRoute picks, /whep to the
// node playRoute picks, the query kept; a client that follows the 307 posts its offer to that node.
func TestWebRTCRedirect(t *testing.T) {
	e := newEnv(t)
	origin, edge := newFakeNode(t), newFakeNode(t)
	e.group("g", 100)
	e.group("other", 100)
	e.join(fixtureNode{id: "origin-1", role: "origin", group: "g", rtmp: "10.0.0.9:1935", http: origin.addr})
	e.join(fixtureNode{id: "edge-a", role: "edge", group: "g", region: "eu", http: edge.addr})
	e.join(fixtureNode{id: "origin-2", role: "origin", group: "other", http: "10.0.2.1:8080"})
	e.join(fixtureNode{id: "edge-us", role: "edge", group: "other", region: "us", http: "10.0.2.2:8080"})

	for _, tc := range []struct{ name, path, location string }{
		{"WHIP", "/live/s/whip?group=g", "http://" + origin.addr + "/live/s/whip?group=g"},
		{"WHIP, another group and a token", "/live/s/whip?group=other&token=t0k", "http://10.0.2.1:8080/live/s/whip?group=other&token=t0k"},
		{"WHEP", "/live/s/whep?group=g&region=eu", "http://" + edge.addr + "/live/s/whep?group=g&region=eu"},
		{"WHEP, another group", "/live/s/whep?group=other", "http://10.0.2.2:8080/live/s/whep?group=other"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := e.with(t).send("POST", tc.path, sdpOffer, offerSDP)
			require.Equal(t, http.StatusTemporaryRedirect, res.status, "body: %s", res.body)
			require.Equal(t, tc.location, res.header.Get("Location"))
			require.Equal(t, "no-store", res.header.Get("Cache-Control"))
			require.Equal(t, "*", res.header.Get("Access-Control-Allow-Origin"))
			requireNoToken(t, res)
		})
	}
	t.Run("without a query", func(t *testing.T) {
		res := e.with(t).send("POST", "/live/s/whip?", sdpOffer, offerSDP)
		require.Equal(t, http.StatusTemporaryRedirect, res.status)
		require.Contains(t, []string{"http://" + origin.addr + "/live/s/whip", "http://10.0.2.1:8080/live/s/whip"}, res.header.Get("Location"))
	})

	t.Run("a client that follows the redirect posts its offer to the node", func(t *testing.T) {
		follows := &http.Client{Timeout: 10 * time.Second}
		origin.requests()
		req, err := http.NewRequest("POST", e.url+"/live/s/whip?group=g", strings.NewReader(offerSDP))
		require.NoError(t, err)
		req.Header = sdpOffer.Clone()
		res, err := follows.Do(req)
		require.NoError(t, err)
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		require.Equal(t, http.StatusCreated, res.StatusCode)
		require.Equal(t, answerSDP, string(body))
		require.Equal(t, []nodeRequest{{method: "POST", path: "/live/s/whip", query: "group=g", body: offerSDP,
			auth: streamKey, contentType: "application/sdp"}}, origin.requests())
	})
}

// TestWebRTCRefusals: a bad stream name is a 400 before any node is chosen, in every WHIP/WHEP call; no
// node, or a node without an HTTP address, is the viewer entry's 503.
func TestWebRTCRefusals(t *testing.T) {
	e := newEnv(t)

	res := e.send("POST", "/live/s/whip", sdpOffer, offerSDP)
	require.Equal(t, http.StatusServiceUnavailable, res.status, "no node at all")
	require.Equal(t, "2", res.header.Get("Retry-After"))
	requireNativeError(t, res, "no in-service origin")
	res = e.send("POST", "/proxy/whep/live/s", sdpOffer, offerSDP)
	require.Equal(t, http.StatusServiceUnavailable, res.status)
	requireNativeError(t, res, "no in-service edge or origin")

	node := newFakeNode(t)
	e.group("g", 100)
	e.join(fixtureNode{id: "origin-1", role: "origin", group: "g", http: node.addr})
	e.join(fixtureNode{id: "edge-1", role: "edge", group: "g", http: node.addr})

	long := strings.Repeat("a", 129)
	for _, name := range []struct{ desc, app, stream string }{
		{"a dot", "live", "a.b"},
		{"an escaped ..", "live", "%2e%2e"},
		{"an escaped . in the app", "%2E", "s"},
		{"an escaped slash", "live", "a%2F..%2Fb"},
		{"an escaped NUL", "live", "a%00b"},
		{"a space", "live", "a%20b"},
		{"a name too long", "live", long},
		{"an app too long", long, "s"},
	} {
		for _, call := range []struct{ desc, path string }{
			{"whip", "/" + name.app + "/" + name.stream + "/whip"},
			{"whep", "/" + name.app + "/" + name.stream + "/whep"},
			{"proxy whip", "/proxy/whip/" + name.app + "/" + name.stream},
			{"proxy whep", "/proxy/whep/" + name.app + "/" + name.stream},
			{"session PATCH", "/proxy/session/origin-1/" + name.app + "/" + name.stream + "/whip/sess-1"},
		} {
			t.Run(call.desc+" with "+name.desc, func(t *testing.T) {
				method := "POST"
				if strings.HasPrefix(call.path, "/proxy/session/") {
					method = "PATCH"
				}
				res := e.with(t).send(method, call.path, sdpOffer, offerSDP)
				require.Equal(t, http.StatusBadRequest, res.status, "body: %s", res.body)
				requireNativeError(t, res, "names must match [A-Za-z0-9_-]{1,128}")
				require.Empty(t, res.header.Get("Location"))
			})
		}
	}
	require.Empty(t, node.requests(), "no refused call reached the node")

	// a literal .. never reaches a handler: the mux sends the client to the cleaned path on the manager
	res = e.send("POST", "/live/../whip", sdpOffer, offerSDP)
	require.Equal(t, http.StatusTemporaryRedirect, res.status)
	require.Equal(t, "/whip", res.header.Get("Location"))

	// a node without an HTTP address is no node for WebRTC
	e.group("nohttp", 100)
	e.join(fixtureNode{id: "origin-rtmp", role: "origin", group: "nohttp", rtmp: "10.0.0.3:1935"})
	e.join(fixtureNode{id: "edge-rtmp", role: "edge", group: "nohttp", rtmp: "10.0.0.4:1935"})
	for _, path := range []string{"/live/s/whip?group=nohttp", "/live/s/whep?group=nohttp", "/proxy/whip/live/s?group=nohttp"} {
		res := e.send("POST", path, sdpOffer, offerSDP)
		require.Equal(t, http.StatusServiceUnavailable, res.status, "%s: %s", path, res.body)
		require.Equal(t, "2", res.header.Get("Retry-After"))
		requireNativeError(t, res, "has no HTTP address")
	}
}

// TestWHEPWaitsForANewEdge: while every edge is full and one is being launched, a WHEP viewer is told to
// come back (503 + Retry-After), as the HLS viewer is.
func TestWHEPWaitsForANewEdge(t *testing.T) {
	sc := &unserved{coming: true}
	e := newEnv(t, func(s *api.Server) { s.Scaler = sc })
	e.group("g", 100)
	e.join(fixtureNode{id: "origin-1", role: "origin", group: "g", http: "10.0.0.1:8080"})
	e.publish("origin-1", "live/cam")
	for _, path := range []string{"/live/cam/whep", "/proxy/whep/live/cam"} {
		res := e.send("POST", path, sdpOffer, offerSDP)
		require.Equal(t, http.StatusServiceUnavailable, res.status, "%s: %s", path, res.body)
		require.Equal(t, "2", res.header.Get("Retry-After"))
		requireNativeError(t, res, "a new edge is being launched")
	}
	require.Equal(t, []string{"g", "g"}, sc.groups)

	// a publisher is not a viewer: WHIP still goes to the origin
	res := e.send("POST", "/live/cam/whip", sdpOffer, offerSDP)
	require.Equal(t, http.StatusTemporaryRedirect, res.status)
	require.Equal(t, "http://10.0.0.1:8080/live/cam/whip", res.header.Get("Location"))
}

// TestWebRTCProxy: the proxy mode forwards the offer to the chosen node and its answer back, with the
// session URL made the manager's, and the session's PATCH and DELETE through that URL to the same node.
func TestWebRTCProxy(t *testing.T) {
	e := newEnv(t)
	origin, edge := newFakeNode(t), newFakeNode(t)
	e.group("g", 100)
	e.join(fixtureNode{id: "origin-1", role: "origin", group: "g", http: origin.addr})
	e.join(fixtureNode{id: "edge-a", role: "edge", group: "g", http: edge.addr})

	for _, tc := range []struct {
		kind, nodeID string
		node         *fakeNode
	}{{"whip", "origin-1", origin}, {"whep", "edge-a", edge}} {
		t.Run(tc.kind, func(t *testing.T) {
			e := e.with(t)
			res := e.send("POST", "/proxy/"+tc.kind+"/live/s?group=g&token=q-SECRET", sdpOffer, offerSDP)
			require.Equal(t, http.StatusCreated, res.status, "body: %s", res.body)
			require.Equal(t, answerSDP, string(res.body))
			require.Equal(t, "application/sdp", res.header.Get("Content-Type"))
			require.Equal(t, `"etag-1"`, res.header.Get("ETag"))
			require.Equal(t, "application/trickle-ice-sdpfrag", res.header.Get("Accept-Patch"))
			require.Equal(t, []string{`<stun:stun.example.net:3478>; rel="ice-server"`,
				`<turn:turn.example.net:3478?transport=udp>; rel="ice-server"; username="u"; credential="c"`}, res.header.Values("Link"))
			require.Empty(t, res.header.Get("X-Node-Internal"), "only the WHIP/WHEP headers are passed on")
			require.Equal(t, "*", res.header.Get("Access-Control-Allow-Origin"))
			session := e.url + "/proxy/session/" + tc.nodeID + "/live/s/" + tc.kind + "/sess-1"
			require.Equal(t, session, res.header.Get("Location"))
			require.Equal(t, []nodeRequest{{method: "POST", path: "/live/s/" + tc.kind, query: "group=g&token=q-SECRET", body: offerSDP,
				auth: streamKey, contentType: "application/sdp"}}, tc.node.requests())
			tc.node.mu.Lock()
			require.Equal(t, []string{"127.0.0.1"}, tc.node.clients, "the proxy names its client to the node, signed")
			tc.node.mu.Unlock()

			frag := "a=ice-ufrag:EsAw\r\na=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r\na=mid:0\r\na=candidate:1 1 udp 2130706431 192.0.2.1 5000 typ host\r\n"
			res = e.send("PATCH", strings.TrimPrefix(session, e.url), http.Header{"Content-Type": {"application/trickle-ice-sdpfrag"},
				"If-Match": {`"etag-1"`}, "Authorization": {streamKey}}, frag)
			require.Equal(t, http.StatusNoContent, res.status, "body: %s", res.body)
			require.Equal(t, `"etag-2"`, res.header.Get("ETag"))
			// the node's refusal comes back as it is
			res = e.send("PATCH", strings.TrimPrefix(session, e.url), http.Header{"If-Match": {`"stale"`}}, frag)
			require.Equal(t, http.StatusPreconditionFailed, res.status, "body: %s", res.body)
			require.Equal(t, "1", res.header.Get("Retry-After"))
			res = e.send("DELETE", strings.TrimPrefix(session, e.url), http.Header{"Authorization": {streamKey}}, "")
			require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
			require.Equal(t, []nodeRequest{
				{method: "PATCH", path: "/live/s/" + tc.kind + "/sess-1", body: frag, auth: streamKey,
					contentType: "application/trickle-ice-sdpfrag", ifMatch: `"etag-1"`},
				{method: "PATCH", path: "/live/s/" + tc.kind + "/sess-1", body: frag, ifMatch: `"stale"`},
				{method: "DELETE", path: "/live/s/" + tc.kind + "/sess-1", auth: streamKey},
			}, tc.node.requests())
		})
	}

	t.Run("Location", func(t *testing.T) {
		for _, tc := range []struct {
			name, answered, want string
		}{
			{"relative", "/live/s/whep/rel_1-x", e.url + "/proxy/session/edge-a/live/s/whep/rel_1-x"},
			{"relative to the endpoint", "whep/rel-2", e.url + "/proxy/session/edge-a/live/s/whep/rel-2"},
			{"with a query", "/live/s/whep/q1?t=abc", e.url + "/proxy/session/edge-a/live/s/whep/q1?t=abc"},
			{"on another host: passed on", "http://10.9.9.9:8080/live/s/whep/x", "http://10.9.9.9:8080/live/s/whep/x"},
			// a relative Location that is not rewritten is made absolute: relative to the manager it would be wrong
			{"another stream's: passed on", "/live/other/whep/x", "http://" + edge.addr + "/live/other/whep/x"},
			{"another kind's: passed on", "/live/s/whip/x", "http://" + edge.addr + "/live/s/whip/x"},
			{"an id out of bounds: passed on", "/live/s/whep/a.b", "http://" + edge.addr + "/live/s/whep/a.b"},
			{"an id too deep: passed on", "/live/s/whep/a/b", "http://" + edge.addr + "/live/s/whep/a/b"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				edge.answerLocation(func(string, string) string { return tc.answered })
				res := e.with(t).send("POST", "/proxy/whep/live/s", sdpOffer, offerSDP)
				require.Equal(t, http.StatusCreated, res.status, "body: %s", res.body)
				require.Equal(t, tc.want, res.header.Get("Location"))
			})
		}
		edge.answerLocation(nil)
		edge.requests()
	})

	t.Run("refusals", func(t *testing.T) {
		e := e.with(t)
		for _, tc := range []struct {
			name, method, path string
			status             int
			msg                string
		}{
			{"unknown node", "PATCH", "/proxy/session/ghost/live/s/whip/sess-1", 404, `node "ghost": not found`},
			{"unknown node, DELETE", "DELETE", "/proxy/session/ghost/live/s/whep/sess-1", 404, "not found"},
			{"another kind", "PATCH", "/proxy/session/origin-1/live/s/rtsp/sess-1", 400, `session kind "rtsp" must be whip or whep`},
			{"an id with a dot", "DELETE", "/proxy/session/origin-1/live/s/whip/a.b", 400, "session id"},
			{"an escaped .. id", "DELETE", "/proxy/session/origin-1/live/s/whip/%2e%2e", 400, "session id"},
			{"an id too long", "DELETE", "/proxy/session/origin-1/live/s/whip/" + strings.Repeat("x", 65), 400, "[A-Za-z0-9_-]{1,64}"},
			{"GET on a session", "GET", "/proxy/session/origin-1/live/s/whip/sess-1", 405, "method not allowed"},
			{"GET on the proxy", "GET", "/proxy/whip/live/s", 405, "method not allowed"},
			{"a proxy call there is not", "POST", "/proxy/rtsp/live/s", 404, "not a call of this API"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res := e.with(t).send(tc.method, tc.path, sdpOffer, "")
				require.Equal(t, tc.status, res.status, "body: %s", res.body)
				requireNativeError(t, res, tc.msg)
			})
		}
		res := e.send("PATCH", "/proxy/session/origin-1/live/s/whip/"+strings.Repeat("x", 64), sdpOffer, "")
		require.Equal(t, http.StatusNoContent, res.status, "64 characters is a legal id")
		origin.requests()

		res = e.send("POST", "/proxy/whip/live/s", sdpOffer, strings.Repeat("a", 64<<10+1))
		require.Equal(t, http.StatusRequestEntityTooLarge, res.status, "body: %s", res.body)
		requireNativeError(t, res, "over 65536 bytes")
		require.Empty(t, origin.requests())
		res = e.send("POST", "/proxy/whip/live/s", sdpOffer, strings.Repeat("a", 64<<10))
		require.Equal(t, http.StatusCreated, res.status, "64 KiB is allowed")
		require.Len(t, origin.requests(), 1)
	})
}

// TestWebRTCProxyNodeDown: a node that does not answer is a 502 that names it and the network's error,
// and nothing of the request (its token) — for an offer and for a session call.
func TestWebRTCProxyNodeDown(t *testing.T) {
	e := newEnv(t)
	dead := deadAddr(t)
	e.group("g", 100)
	e.join(fixtureNode{id: "origin-down", role: "origin", group: "g", http: dead})
	e.join(fixtureNode{id: "edge-down", role: "edge", group: "g", http: dead})
	for _, tc := range []struct{ method, path, node string }{
		{"POST", "/proxy/whip/live/s?token=q-SECRET", "origin-down"},
		{"POST", "/proxy/whep/live/s?token=q-SECRET", "edge-down"},
		{"PATCH", "/proxy/session/edge-down/live/s/whep/sess-1?token=q-SECRET", "edge-down"},
		{"DELETE", "/proxy/session/origin-down/live/s/whip/sess-1?token=q-SECRET", "origin-down"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			res := e.with(t).send(tc.method, tc.path, sdpOffer, offerSDP)
			require.Equal(t, http.StatusBadGateway, res.status, "body: %s", res.body)
			requireNativeError(t, res, "the node did not answer: node "+tc.node+" ("+dead+"): dial tcp")
			require.NotContains(t, string(res.body), "SECRET")
			require.Empty(t, res.header.Get("Location"))
		})
	}
}

// TestWebRTCURLsInRoutes: the routing answers carry the node's WHIP (publish) and WHEP (play) endpoints.
func TestWebRTCURLsInRoutes(t *testing.T) {
	e := newEnv(t)
	e.group("g", 100)
	e.join(fixtureNode{id: "origin-1", role: "origin", group: "g", rtmp: "10.0.0.9:1935", http: "10.0.0.9:8080"})
	e.join(fixtureNode{id: "edge-a", role: "edge", group: "g", http: "10.0.0.1:8080"})
	e.group("nohttp", 100)
	e.join(fixtureNode{id: "origin-rtmp", role: "origin", group: "nohttp", rtmp: "10.0.0.3:1935"})

	var rt apitypes.Route
	e.do("GET", "/api/v1/route/publish/live/s?group=g", authNone, "").must(t, http.StatusOK, &rt)
	require.Equal(t, "http://10.0.0.9:8080/live/s/whip", rt.WHIPURL)
	require.Empty(t, rt.WHEPURL)
	rt = apitypes.Route{}
	e.do("GET", "/api/v1/route/play/live/s?group=g", authNone, "").must(t, http.StatusOK, &rt)
	require.Equal(t, "http://10.0.0.1:8080/live/s/whep", rt.WHEPURL)
	require.Empty(t, rt.WHIPURL)

	var ev event
	e.do("GET", red5+"/event/live/s?action=broadcast&group=g", authNone, "").must(t, http.StatusOK, &ev)
	require.Equal(t, "http://10.0.0.9:8080/live/s/whip", ev.WHIPURL)
	require.Empty(t, ev.WHEPURL)
	ev = event{}
	e.do("GET", red5+"/event/live/s?action=subscribe&group=g", authNone, "").must(t, http.StatusOK, &ev)
	require.Equal(t, "http://10.0.0.1:8080/live/s/whep", ev.WHEPURL)
	require.Empty(t, ev.WHIPURL)

	// no HTTP address, no WebRTC URL
	var raw map[string]any
	e.do("GET", red5+"/event/live/s?action=broadcast&group=nohttp", authNone, "").must(t, http.StatusOK, &raw)
	require.NotContains(t, raw, "whipUrl")
	rt = apitypes.Route{}
	e.do("GET", "/api/v1/route/publish/live/s?group=nohttp", authNone, "").must(t, http.StatusOK, &rt)
	require.Empty(t, rt.WHIPURL)
}
