package api_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestAdminTokenNeedsBearer: a token in the Authorization header counts only as a Bearer token (the
// scheme in any case, as RFC 9110 has it); a bare token or another scheme is a 401 in the API's error
// shape, never taken for the token. Red5 clients keep ?accessToken=.
func TestAdminTokenNeedsBearer(t *testing.T) {
	e := newEnv(t)
	send := func(t *testing.T, path, authorization string) response {
		t.Helper()
		req, err := http.NewRequest("GET", e.url+path, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", authorization)
		res, err := e.http.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return response{status: res.StatusCode, header: res.Header, body: body}
	}
	refused := []struct{ name, header string }{
		{"the bare token", adminToken},
		{"another scheme", "Basic " + adminToken},
		{"Bearer without a space", "Bearer" + adminToken},
		{"Bearer and nothing", "Bearer "},
		{"the token then Bearer", adminToken + " Bearer"},
	}
	for _, tc := range refused {
		t.Run("native refuses "+tc.name, func(t *testing.T) {
			res := send(t, "/api/v1/scalepolicies", tc.header)
			require.Equal(t, http.StatusUnauthorized, res.status, "body: %s", res.body)
			requireNativeError(t, res, "missing admin token")
			require.Equal(t, `Bearer realm="nagare manager"`, res.header.Get("WWW-Authenticate"))
		})
		t.Run("Red5 refuses "+tc.name, func(t *testing.T) {
			res := send(t, red5+"/admin/configurations/scalepolicies", tc.header)
			require.Equal(t, http.StatusUnauthorized, res.status, "body: %s", res.body)
			e.with(t).requireRed5Error(t, res, "missing admin token")
		})
	}
	for _, h := range []string{"Bearer " + adminToken, "bearer " + adminToken, "BEARER  " + adminToken} {
		res := send(t, "/api/v1/scalepolicies", h)
		require.Equal(t, http.StatusOK, res.status, "%q: %s", h, res.body)
	}
	res := send(t, "/api/v1/scalepolicies", "Bearer "+wrongToken)
	require.Equal(t, http.StatusForbidden, res.status)
	requireNativeError(t, res, "wrong admin token")

	// Red5's own way, and the header winning over the query
	e.do("GET", red5+"/admin/configurations/scalepolicies", authQuery, "").must(t, http.StatusOK, nil)
	res = e.do("GET", "/api/v1/scalepolicies?accessToken="+adminToken, authWrongBearer, "")
	require.Equal(t, http.StatusForbidden, res.status)
}

// TestUnroutedCallsAnswerJSON: a path or method no route takes, anywhere under /api/v1 or
// /streammanager, is answered in that API's JSON error shape, not with the mux's plain text; the native
// API keeps 405 and its Allow header.
func TestUnroutedCallsAnswerJSON(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name, method, path string
		status             int
		allow              string
		msg                string
	}{
		{"unknown native path", "GET", "/api/v1/nothing", 404, "", "GET /api/v1/nothing is not a call of this API: not found"},
		{"native base", "GET", "/api/v1", 404, "", "is not a call of this API"},
		{"native base with a slash", "GET", "/api/v1/", 404, "", "is not a call of this API"},
		{"too deep", "GET", "/api/v1/nodes/a/b/c", 404, "", "is not a call of this API"},
		{"unknown native path without a token", "DELETE", "/api/v1/nothing", 404, "", "not found"},
		{"wrong method on a collection", "PATCH", "/api/v1/scalepolicies", 405, "GET, HEAD, POST, OPTIONS", "PATCH /api/v1/scalepolicies: method not allowed"},
		{"wrong method on an item", "POST", "/api/v1/nodes/edge-1", 405, "GET, HEAD, OPTIONS", "method not allowed"},
		{"wrong method on a public call", "DELETE", "/api/v1/route/play/live/s", 405, "GET, HEAD, OPTIONS", "method not allowed"},
		{"unknown Red5 call", "GET", red5 + "/admin/nothing", 404, "", "GET /admin/nothing is not a call of this API"},
		{"wrong Red5 method", "PUT", red5 + "/admin/nodegroup", 404, "", "PUT /admin/nodegroup is not a call of this API"},
		{"another Red5 version", "GET", "/streammanager/api/2.0/admin/nodegroup", 404, "", "is not a call of this API"},
		{"the Red5 root", "GET", "/streammanager", 404, "", "is not a call of this API"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := e.with(t)
			res := e.do(tc.method, tc.path, authNone, "")
			require.Equal(t, tc.status, res.status, "body: %s", res.body)
			require.Equal(t, "application/json", res.header.Get("Content-Type"))
			require.Equal(t, tc.allow, res.header.Get("Allow"))
			if strings.HasPrefix(tc.path, "/streammanager") {
				e.requireRed5Error(t, res, tc.msg)
			} else {
				requireNativeError(t, res, tc.msg)
			}
		})
	}

	// what the routes take is untouched: the viewer entry and health sit outside both APIs
	res := e.do("GET", "/healthz", authNone, "")
	require.Equal(t, http.StatusOK, res.status)
	res = e.do("GET", "/nothing", authNone, "")
	require.Equal(t, http.StatusNotFound, res.status, "outside the APIs the mux answers")
}
