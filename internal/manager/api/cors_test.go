package api_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const pageOrigin = "https://player.example.org"

// corsDo sends a request as a browser on another origin does: with Origin, and for a preflight the
// method and headers it is about to use.
func (e *env) corsDo(method, path string, header http.Header) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, nil)
	require.NoError(e.t, err)
	req.Header.Set("Origin", pageOrigin)
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

// TestCORSPreflight: every route a page may call — the viewer entry, WHIP/WHEP and their proxy mode, the
// routing calls, Red5's event call, health, and the admin APIs — answers a browser's preflight with 204
// and what it may send, where it once answered 405 and the player failed before its first request.
func TestCORSPreflight(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name, path, method, headers string
		allow                       string
	}{
		{"viewer entry", "/live/s/index.m3u8", "GET", "range", "GET, HEAD, OPTIONS"},
		{"route publish", "/api/v1/route/publish/live/s", "GET", "content-type", "GET, HEAD, OPTIONS"},
		{"route play", "/api/v1/route/play/live/s?region=eu", "GET", "range", "GET, HEAD, OPTIONS"},
		{"Red5 broadcast", red5 + "/event/live/s?action=broadcast", "GET", "", "GET, HEAD, OPTIONS"},
		{"Red5 subscribe", red5 + "/event/live/s?action=subscribe", "GET", "", "GET, HEAD, OPTIONS"},
		{"health", "/healthz", "GET", "", "GET, HEAD, OPTIONS"},
		{"native admin collection", "/api/v1/scalepolicies", "POST", "authorization, content-type", "GET, HEAD, POST, OPTIONS"},
		{"native admin item", "/api/v1/scalepolicies/p1", "DELETE", "authorization", "GET, HEAD, PUT, DELETE, OPTIONS"},
		{"native recording", "/api/v1/streams/live/s/recording", "PUT", "authorization", "PUT, DELETE, OPTIONS"},
		{"Red5 admin", red5 + "/admin/nodegroup", "POST", "content-type", "GET, HEAD, POST, OPTIONS"},
		{"WHIP", "/live/s/whip", "POST", "authorization, content-type", "POST, OPTIONS"},
		{"WHEP", "/live/s/whep?region=eu", "POST", "content-type", "POST, OPTIONS"},
		{"WHIP proxy", "/proxy/whip/live/s", "POST", "authorization, content-type", "POST, OPTIONS"},
		{"WHEP proxy", "/proxy/whep/live/s", "POST", "content-type", "POST, OPTIONS"},
		{"proxied session trickle", "/proxy/session/edge-1/live/s/whep/abc", "PATCH", "content-type, if-match", "PATCH, DELETE, OPTIONS"},
		{"proxied session end", "/proxy/session/edge-1/live/s/whip/abc", "DELETE", "authorization", "PATCH, DELETE, OPTIONS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.with(t)
			h := http.Header{"Access-Control-Request-Method": {tc.method}}
			if tc.headers != "" {
				h.Set("Access-Control-Request-Headers", tc.headers)
			}
			res := e.corsDo("OPTIONS", tc.path, h)
			require.Equal(t, http.StatusNoContent, res.status, "body: %s", res.body)
			require.Empty(t, res.body)
			require.Equal(t, "*", res.header.Get("Access-Control-Allow-Origin"))
			require.Equal(t, tc.allow, res.header.Get("Access-Control-Allow-Methods"))
			require.Equal(t, tc.allow, res.header.Get("Allow"))
			require.Contains(t, strings.Split(tc.allow, ", "), tc.method, "the method asked for is allowed")
			allowed := strings.Split(strings.ToLower(res.header.Get("Access-Control-Allow-Headers")), ", ")
			for _, want := range []string{"range", "authorization", "content-type", "if-match"} {
				require.Contains(t, allowed, want)
			}
			require.Equal(t, "7200", res.header.Get("Access-Control-Max-Age"))
			require.Empty(t, res.header.Get("Access-Control-Allow-Credentials"), "no credentials with a * origin")
		})
	}

	t.Run("OPTIONS without a preflight lists the methods only", func(t *testing.T) {
		res := e.with(t).do("OPTIONS", "/api/v1/route/play/live/s", authNone, "")
		require.Equal(t, http.StatusNoContent, res.status)
		require.Equal(t, "GET, HEAD, OPTIONS", res.header.Get("Allow"))
		require.Empty(t, res.header.Get("Access-Control-Allow-Methods"))
	})

	// a path no route takes is not a route for OPTIONS either: the API's 404, readable by the page
	for _, tc := range []struct{ name, path, msg string }{
		{"native", "/api/v1/nothing", "is not a call of this API"},
		{"Red5", red5 + "/admin/nothing", "is not a call of this API"},
	} {
		t.Run("unknown "+tc.name+" path", func(t *testing.T) {
			e := e.with(t)
			res := e.corsDo("OPTIONS", tc.path, http.Header{"Access-Control-Request-Method": {"GET"}})
			require.Equal(t, http.StatusNotFound, res.status)
			require.Equal(t, "*", res.header.Get("Access-Control-Allow-Origin"))
			require.Empty(t, res.header.Get("Access-Control-Allow-Methods"))
			require.Contains(t, string(res.body), tc.msg)
		})
	}
	res := e.corsDo("OPTIONS", "/nothing", http.Header{"Access-Control-Request-Method": {"GET"}})
	require.Equal(t, http.StatusNotFound, res.status)
	require.Equal(t, "*", res.header.Get("Access-Control-Allow-Origin"))
}

// TestCORSActualRequests: the answers themselves carry Access-Control-Allow-Origin — the 302 of the viewer
// entry, which the browser follows only then, and every error, which the page can read only then — and
// expose the headers a page needs to act on an error.
func TestCORSActualRequests(t *testing.T) {
	e := newEnv(t)
	check := func(t *testing.T, res response, status int) {
		t.Helper()
		require.Equal(t, status, res.status, "body: %s", res.body)
		require.Equal(t, "*", res.header.Get("Access-Control-Allow-Origin"))
		exposed := strings.Split(res.header.Get("Access-Control-Expose-Headers"), ", ")
		require.Contains(t, exposed, "Retry-After")
		require.Contains(t, exposed, "WWW-Authenticate")
		for _, h := range []string{"Location", "Link", "ETag", "Accept-Patch"} { // a WHIP/WHEP session's URL, ICE servers, ICE restarts
			require.Contains(t, exposed, h)
		}
	}

	t.Run("errors before any node", func(t *testing.T) {
		e := e.with(t)
		check(t, e.corsDo("GET", "/live/s/index.m3u8", nil), http.StatusServiceUnavailable)
		check(t, e.corsDo("GET", "/api/v1/route/play/live/s", nil), http.StatusServiceUnavailable)
		check(t, e.corsDo("GET", red5+"/event/live/s?action=broadcast", nil), http.StatusServiceUnavailable)
		check(t, e.corsDo("GET", "/live/bad.name/index.m3u8", nil), http.StatusBadRequest)
		check(t, e.corsDo("GET", red5+"/event/live/s?action=dance", nil), http.StatusBadRequest)
		res := e.corsDo("GET", "/api/v1/nodes", nil)
		check(t, res, http.StatusUnauthorized)
		require.NotEmpty(t, res.header.Get("WWW-Authenticate"))
		check(t, e.corsDo("GET", "/api/v1/nodes", http.Header{"Authorization": {"Bearer " + wrongToken}}), http.StatusForbidden)
		check(t, e.corsDo("GET", "/api/v1/nothing", nil), http.StatusNotFound)
		check(t, e.corsDo("PATCH", "/api/v1/nodes", nil), http.StatusMethodNotAllowed)
		check(t, e.corsDo("GET", red5+"/admin/nothing", nil), http.StatusNotFound)
		check(t, e.corsDo("POST", "/live/s/whip", nil), http.StatusServiceUnavailable)
		check(t, e.corsDo("POST", "/live/bad.name/whep", nil), http.StatusBadRequest)
		check(t, e.corsDo("PATCH", "/proxy/session/ghost/live/s/whep/abc", nil), http.StatusNotFound)
	})

	e.group("g", 100)
	e.join(fixtureNode{id: "origin-1", role: "origin", group: "g", rtmp: "10.0.0.9:1935", http: "10.0.0.9:8080"})
	e.join(fixtureNode{id: "edge-a", role: "edge", group: "g", http: "10.0.0.1:8080"})
	e.publish("origin-1", "live/s")

	t.Run("answers", func(t *testing.T) {
		e := e.with(t)
		res := e.corsDo("GET", "/live/s/index.m3u8", http.Header{"Range": {"bytes=0-"}})
		check(t, res, http.StatusFound)
		require.Equal(t, "http://10.0.0.1:8080/live/s/index.m3u8", res.header.Get("Location"))
		check(t, e.corsDo("HEAD", "/live/s/index.m3u8", nil), http.StatusFound)
		check(t, e.corsDo("GET", "/api/v1/route/play/live/s", nil), http.StatusOK)
		check(t, e.corsDo("GET", "/api/v1/route/publish/live/s", nil), http.StatusOK)
		check(t, e.corsDo("GET", red5+"/event/live/s?action=subscribe", nil), http.StatusOK)
		check(t, e.corsDo("GET", red5+"/event/live/s?action=broadcast", nil), http.StatusOK)
		check(t, e.corsDo("GET", "/api/v1/nodes", http.Header{"Authorization": {"Bearer " + adminToken}}), http.StatusOK)
		check(t, e.corsDo("GET", red5+"/admin/nodegroup?accessToken="+adminToken, nil), http.StatusOK)
		check(t, e.corsDo("GET", "/healthz", nil), http.StatusOK)
		res = e.corsDo("POST", "/live/s/whep", nil)
		check(t, res, http.StatusTemporaryRedirect)
		require.Equal(t, "http://10.0.0.1:8080/live/s/whep", res.header.Get("Location"))
	})
}
