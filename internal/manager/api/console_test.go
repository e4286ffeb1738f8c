package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/manager/api"
	"github.com/nagare-video/nagare/internal/manager/api/apitypes"
	"github.com/nagare-video/nagare/internal/manager/autoscaler"
	"github.com/nagare-video/nagare/internal/manager/store"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

// signIn exchanges the admin token for the console's session cookie and CSRF token.
func (e *env) signIn() (*http.Cookie, string) {
	e.t.Helper()
	res := e.do(http.MethodPost, "/console/api/session", authNone, `{"token":"`+adminToken+`"}`)
	var s apitypes.Session
	res.must(e.t, http.StatusOK, &s)
	require.NotEmpty(e.t, s.CSRF)
	for _, c := range (&http.Response{Header: res.header}).Cookies() {
		if c.Name == api.SessionCookie {
			return c, s.CSRF
		}
	}
	e.t.Fatalf("no %s cookie in %v", api.SessionCookie, res.header)
	return nil, ""
}

// withCSRF sends a request with the session cookie and, when csrf is set, the CSRF header.
func (e *env) withSession(method, path, body string, c *http.Cookie, csrf string) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, strings.NewReader(body))
	require.NoError(e.t, err)
	req.AddCookie(c)
	if csrf != "" {
		req.Header.Set(api.CSRFHeader, csrf)
	}
	res, err := e.http.Do(req)
	require.NoError(e.t, err)
	defer res.Body.Close()
	var b strings.Builder
	_, _ = bufio.NewReader(res.Body).WriteTo(&b)
	return response{status: res.StatusCode, header: res.Header, body: []byte(b.String())}
}

// TestConsoleSession: the admin token buys a session cookie (HttpOnly, SameSite=Strict) that stands for the
// token on the native API; writes also need the session's CSRF token; a tampered, expired or signed-out
// session is refused with 401, and a wrong token never gets one.
func TestConsoleSession(t *testing.T) {
	e := newEnv(t)

	res := e.do(http.MethodPost, "/console/api/session", authNone, `{"token":"`+wrongToken+`"}`)
	requireNativeError(t, res, "that is not the admin token")
	require.Equal(t, http.StatusForbidden, res.status)
	require.Empty(t, res.header.Values("Set-Cookie"))
	res = e.do(http.MethodPost, "/console/api/session", authNone, `{"token":`)
	require.Equal(t, http.StatusBadRequest, res.status, "%s", res.body)
	res = e.do(http.MethodPost, "/console/api/session", authNone, `{}`)
	require.Equal(t, http.StatusBadRequest, res.status, "%s", res.body)
	require.Contains(t, string(res.body), `"field": "token"`)
	var none apitypes.Session
	e.do(http.MethodGet, "/console/api/session", authNone, "").must(t, http.StatusOK, &none)
	require.False(t, none.SignedIn)
	require.Empty(t, none.CSRF)

	c, csrf := e.signIn()
	require.True(t, c.HttpOnly)
	require.Equal(t, http.SameSiteStrictMode, c.SameSite)
	require.Equal(t, "/", c.Path)
	require.False(t, c.Secure, "not over TLS")
	require.NotContains(t, c.Value, adminToken)

	// reads with the cookie alone
	e.withSession(http.MethodGet, "/api/v1/nodes", "", c, "").must(t, http.StatusOK, nil)
	var s apitypes.Session
	e.withSession(http.MethodGet, "/console/api/session", "", c, "").must(t, http.StatusOK, &s)
	require.Equal(t, csrf, s.CSRF, "the page gets its CSRF token again after a reload")
	require.True(t, s.SignedIn)

	// writes need the CSRF header, and the right one
	res = e.withSession(http.MethodPut, "/api/v1/alarms/edge", `{"threshold":70}`, c, "")
	require.Equal(t, http.StatusForbidden, res.status, "%s", res.body)
	require.Contains(t, string(res.body), api.CSRFHeader)
	res = e.withSession(http.MethodPut, "/api/v1/alarms/edge", `{"threshold":70}`, c, csrf+"x")
	require.Equal(t, http.StatusForbidden, res.status, "%s", res.body)
	e.withSession(http.MethodPut, "/api/v1/alarms/edge", `{"threshold":70}`, c, csrf).must(t, http.StatusOK, nil)

	// a cookie of another value, or one signed for another admin token, is refused
	bad := *c
	bad.Value = c.Value[:len(c.Value)-2] + "AA"
	require.Equal(t, http.StatusUnauthorized, e.withSession(http.MethodGet, "/api/v1/nodes", "", &bad, "").status)
	other := newEnv(t, func(s *api.Server) { s.AdminToken = "another-admin-token-98765432" })
	require.Equal(t, http.StatusUnauthorized, other.withSession(http.MethodGet, "/api/v1/nodes", "", c, "").status)

	// it expires
	e.clock.Add(api.DefaultSessionTTL + time.Second)
	res = e.withSession(http.MethodGet, "/api/v1/nodes", "", c, "")
	require.Equal(t, http.StatusUnauthorized, res.status)
	require.Contains(t, string(res.body), "expired")

	// signing out needs the CSRF token, ends the session and clears the cookie
	c, csrf = e.signIn()
	require.Equal(t, http.StatusForbidden, e.withSession(http.MethodDelete, "/console/api/session", "", c, "").status)
	res = e.withSession(http.MethodDelete, "/console/api/session", "", c, csrf)
	require.Equal(t, http.StatusNoContent, res.status, "%s", res.body)
	cleared := (&http.Response{Header: res.header}).Cookies()
	require.Len(t, cleared, 1)
	require.Equal(t, "", cleared[0].Value)
	require.Less(t, cleared[0].MaxAge, 0)
	res = e.withSession(http.MethodGet, "/api/v1/nodes", "", c, "")
	require.Equal(t, http.StatusUnauthorized, res.status)
	require.Contains(t, string(res.body), "signed out")
	var gone apitypes.Session
	e.withSession(http.MethodGet, "/console/api/session", "", c, "").must(t, http.StatusOK, &gone)
	require.False(t, gone.SignedIn)
	require.Contains(t, gone.Reason, "signed out")

	// the bearer token keeps working beside a stale cookie
	res = e.do(http.MethodGet, "/api/v1/nodes", authBearer, "", c)
	require.Equal(t, http.StatusOK, res.status, "%s", res.body)
}

// TestFieldErrors: a validation error names the field it is about, as the JSON names it, so that the
// console can show it there.
func TestFieldErrors(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct {
		name, path, body, field string
	}{
		{"policy name", "/scalepolicies", `{"name":"a b","targets":[{"role":"edge","minLimit":1,"maxLimit":2,"scaleAdjustment":1}]}`, "name"},
		{"policy limits", "/scalepolicies", `{"name":"p","targets":[{"role":"edge","minLimit":1,"maxLimit":2,"scaleAdjustment":1},{"role":"origin","minLimit":3,"maxLimit":2,"scaleAdjustment":1}]}`, "targets[1].minLimit"},
		{"policy role", "/scalepolicies", `{"name":"p","targets":[{"role":"cdn","minLimit":1,"maxLimit":2,"scaleAdjustment":1}]}`, "targets[0].role"},
		{"launch config image", "/launchconfigs", `{"name":"lc","targets":[{"role":"edge","connectionCapacity":10}]}`, "image"},
		{"launch config capacity", "/launchconfigs", `{"name":"lc","image":"x","targets":[{"role":"edge","connectionCapacity":0}]}`, "targets[0].connectionCapacity"},
		{"group", "/nodegroups", `{"name":"g","launchConfig":"lc"}`, "scalePolicy"},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := e.native(http.MethodPost, c.path, c.body)
			var got apitypes.Error
			res.must(t, http.StatusBadRequest, &got)
			require.Equal(t, c.field, got.Field, "%s", got.Error)
			require.NotEmpty(t, got.Error)
		})
	}
	var got apitypes.Error
	e.native(http.MethodPut, "/alarms/edge", `{"threshold":500}`).must(t, http.StatusBadRequest, &got)
	require.Equal(t, "threshold", got.Field)
}

// readEvent reads the next server-sent event of the stream, skipping comments.
func readEvent(t *testing.T, rd *bufio.Reader) (event string, data []byte) {
	t.Helper()
	for {
		line, err := rd.ReadString('\n')
		require.NoError(t, err)
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "" && event != "":
			return event, data
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = []byte(strings.TrimPrefix(line, "data: "))
		}
	}
}

// watch opens the console's live stream, for 10 s at most (a picture that never comes fails the test).
func (e *env) watch() *bufio.Reader {
	t := e.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.url+"/api/v1/watch", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	res, err := (&http.Client{}).Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { res.Body.Close() })
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, "text/event-stream", res.Header.Get("Content-Type"))
	return bufio.NewReader(res.Body)
}

// nextPicture reads the stream's next picture.
func nextPicture(t *testing.T, rd *bufio.Reader) api.Picture {
	t.Helper()
	ev, data := readEvent(t, rd)
	require.Equal(t, "cluster", ev)
	var p api.Picture
	require.NoError(t, json.Unmarshal(data, &p), "%s", data)
	return p
}

// untilPicture reads pictures until one satisfies ok (a change may come in steps: registered, then in
// service).
func untilPicture(t *testing.T, rd *bufio.Reader, ok func(api.Picture) bool) api.Picture {
	t.Helper()
	for i := 0; ; i++ {
		p := nextPicture(t, rd)
		if ok(p) {
			return p
		}
		require.Less(t, i, 20, "no picture satisfied the condition; the last: %+v", p)
	}
}

// fastWatch rebuilds the picture every 20 ms for the test.
func fastWatch(t *testing.T) {
	old := api.WatchEvery
	api.WatchEvery = 20 * time.Millisecond
	t.Cleanup(func() { api.WatchEvery = old })
}

// TestWatch: the console's live stream sends the whole picture at once and again when something changed: a
// node that joins, its state, a stream, the autoscaler's trace; two watchers get the same pictures.
func TestWatch(t *testing.T) {
	fastWatch(t)
	trace := []autoscaler.RoleTrace{{Group: "g1", Role: nodemodel.RoleEdge, High: 60, Low: 30,
		Samples: []autoscaler.TracePoint{{At: time.Unix(1, 0).UTC(), Load: 12.5, Predicted: 20, Nodes: 1}}}}
	e := newEnv(t, func(s *api.Server) {
		s.Trace = func(context.Context) ([]autoscaler.RoleTrace, error) { return trace, nil }
	})
	e.group("g1", 100)

	open := e.watch
	next := func(rd *bufio.Reader) api.Picture { return nextPicture(t, rd) }
	until := func(rd *bufio.Reader, ok func(api.Picture) bool) api.Picture { return untilPicture(t, rd, ok) }
	a := open()
	p := next(a)
	require.Len(t, p.Groups, 1)
	require.Empty(t, p.Nodes)
	require.Equal(t, trace, p.Autoscale)
	require.False(t, p.At.IsZero())

	e.join(fixtureNode{id: "edge-1", role: "edge", group: "g1", http: "127.0.0.1:9"})
	until(a, func(p api.Picture) bool { return len(p.Nodes) == 1 && p.Nodes[0].State == nodemodel.StateInService })

	b := open()
	require.Len(t, next(b).Nodes, 1, "a new watcher gets the picture at once")

	_, err := e.reg.Transition(context.Background(), "edge-1", nodemodel.StateDraining, "test")
	require.NoError(t, err)
	for _, rd := range []*bufio.Reader{a, b} {
		until(rd, func(p api.Picture) bool { return p.Nodes[0].State == nodemodel.StateDraining })
	}

	// without the token there is no stream
	res := e.do(http.MethodGet, "/api/v1/watch", authNone, "")
	require.Equal(t, http.StatusUnauthorized, res.status)
}

// terminator records the nodes the API terminates.
type terminator struct {
	unserved
	mu  sync.Mutex
	ids []string
}

func (f *terminator) Terminate(_ context.Context, n store.Node, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ids = append(f.ids, n.ID)
	return nil
}

// TestTerminateNode: the console's terminate action goes to the autoscaler's cloud controller; without one
// it is refused with 503, and an unknown node is 404.
func TestTerminateNode(t *testing.T) {
	e := newEnv(t)
	e.group("g1", 100)
	e.join(fixtureNode{id: "edge-1", role: "edge", group: "g1", http: "127.0.0.1:9"})
	requireNativeError(t, e.native(http.MethodPost, "/nodes/edge-1/terminate", ""), "no cloud controller")

	f := &terminator{}
	e = newEnv(t, func(s *api.Server) { s.Scaler = f })
	e.group("g1", 100)
	e.join(fixtureNode{id: "edge-1", role: "edge", group: "g1", http: "127.0.0.1:9"})
	e.native(http.MethodPost, "/nodes/edge-1/terminate", "").must(t, http.StatusOK, nil)
	require.Equal(t, []string{"edge-1"}, f.ids)
	require.Equal(t, http.StatusNotFound, e.native(http.MethodPost, "/nodes/nope/terminate", "").status)
}

// TestPublishToken: the console's WHIP publisher gets a token for any valid stream name; hostile names and
// lifetimes are refused at their field, and a manager without the secret says what to set.
func TestPublishToken(t *testing.T) {
	e := newEnv(t)
	res := e.native(http.MethodPost, "/tokens/publish", `{"stream":"live/cam1"}`)
	require.Equal(t, http.StatusServiceUnavailable, res.status)
	require.Contains(t, string(res.body), "manager.publishTokenSecret")

	var asked []string
	e = newEnv(t, func(s *api.Server) {
		s.PublishToken = func(stream string, ttl time.Duration) (string, time.Time, error) {
			asked = append(asked, stream+" "+ttl.String())
			return "v1.tok", time.Unix(2000000000, 0), nil
		}
	})
	var tok apitypes.PublishToken
	e.native(http.MethodPost, "/tokens/publish", `{"stream":"live/cam1","ttlSeconds":120}`).must(t, http.StatusOK, &tok)
	require.Equal(t, []string{"live/cam1 2m0s"}, asked)
	require.Equal(t, "v1.tok", tok.Token)
	require.Equal(t, "/live/cam1/whip?token=v1.tok", tok.WHIP)

	for _, c := range []struct{ body, field string }{
		{`{"stream":"live/../x"}`, "stream"},
		{`{"stream":"live"}`, "stream"},
		{`{"stream":"live/<script>"}`, "stream"},
		{`{"stream":"live/a","ttlSeconds":5}`, "ttlSeconds"},
		{`{"stream":"live/a","ttlSeconds":99999999}`, "ttlSeconds"},
	} {
		var got apitypes.Error
		e.native(http.MethodPost, "/tokens/publish", c.body).must(t, http.StatusBadRequest, &got)
		require.Equal(t, c.field, got.Field, c.body)
	}
}

// TestSiteAPI: the public site's live calls answer without a token and show nothing of the cluster; a
// manager without the site has none of them.
func TestSiteAPI(t *testing.T) {
	e := newEnv(t, func(s *api.Server) {
		s.Site = &api.SiteConfig{SiteName: "Acme <TV>", HLS: json.RawMessage(`{"lowLatencyMode":true}`)}
	})
	e.group("g1", 100)
	e.join(fixtureNode{id: "origin-1", role: "origin", group: "g1", http: "127.0.0.1:9"})
	e.publish("origin-1", "live/s1")

	var cfg api.SiteConfig
	e.do(http.MethodGet, "/site/api/config", authNone, "").must(t, http.StatusOK, &cfg)
	require.Equal(t, "Acme <TV>", cfg.SiteName)
	res := e.do(http.MethodGet, "/site/api/live", authNone, "")
	res.must(t, http.StatusOK, nil)
	require.Contains(t, string(res.body), `"name": "live/s1"`)
	require.NotContains(t, string(res.body), "origin-1", "no node names on the public site")

	e = newEnv(t)
	res = e.do(http.MethodGet, "/site/api/live", authNone, "")
	require.Equal(t, http.StatusNotFound, res.status)
	require.Equal(t, "application/json", res.header.Get("Content-Type"))
}

// TestCloseWatchers: a stopping manager ends its live-update streams (they would hold its shutdown), and
// any that starts afterwards.
func TestCloseWatchers(t *testing.T) {
	var srv *api.Server
	e := newEnv(t, func(s *api.Server) { srv = s })
	open := func() *http.Response {
		req, err := http.NewRequest(http.MethodGet, e.url+"/api/v1/watch", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		res, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		require.NoError(t, err)
		t.Cleanup(func() { res.Body.Close() })
		return res
	}
	res := open()
	readEvent(t, bufio.NewReader(res.Body))
	srv.CloseWatchers()
	_, err := io.ReadAll(res.Body)
	require.NoError(t, err, "the stream ends")
	_, err = io.ReadAll(open().Body)
	require.NoError(t, err, "a stream opened later ends at once")
}

// TestWatchTraceFromStore: a manager without an autoscaler loop of its own shows the trace the managers
// ticking the groups wrote to the store: what was there when the console opened, the samples written
// since (a batch that arrives late included), and no chart of a group that is gone or of samples out of
// the window.
func TestWatchTraceFromStore(t *testing.T) {
	fastWatch(t)
	e := newEnv(t, func(s *api.Server) {
		s.Trace = (&autoscaler.TraceReader{Store: s.Store.(*store.SQL), Now: s.Now}).Roles
	})
	e.group("g1", 100)
	e.group("g2", 100)
	ctx := context.Background()
	now := e.clock.Now()
	at := func(d time.Duration) time.Time { return now.Add(d) }
	write := func(samples ...store.TraceSample) { require.NoError(t, e.store.AddTraceSamples(ctx, samples)) }
	edge := func(d time.Duration, load float64, high float64) store.TraceSample {
		return store.TraceSample{Group: "g1", Role: nodemodel.RoleEdge, At: at(d), Load: load, Predicted: load, Nodes: 1, High: high, Low: 30}
	}
	write(edge(-20*time.Second, 10, 60), edge(-10*time.Second, 20, 60),
		store.TraceSample{Group: "g2", Role: nodemodel.RoleOrigin, At: at(-5 * time.Second), Load: 5, Nodes: 2, High: 80, Low: 30},
		store.TraceSample{Group: "ghost", Role: nodemodel.RoleEdge, At: at(-5 * time.Second), Load: 5})
	point := func(d time.Duration, load float64) autoscaler.TracePoint {
		return autoscaler.TracePoint{At: at(d), Load: load, Predicted: load, Nodes: 1}
	}

	rd := e.watch()
	p := nextPicture(t, rd)
	require.Equal(t, []autoscaler.RoleTrace{
		{Group: "g1", Role: nodemodel.RoleEdge, High: 60, Low: 30, Samples: []autoscaler.TracePoint{point(-20*time.Second, 10), point(-10*time.Second, 20)}},
		{Group: "g2", Role: nodemodel.RoleOrigin, High: 80, Low: 30, Samples: []autoscaler.TracePoint{{At: at(-5 * time.Second), Load: 5, Nodes: 2}}},
	}, p.Autoscale, "no chart for a group that does not exist")

	// a new sample, then one older that another manager's batch brought late: both are shown, in order,
	// with the newest sample's thresholds
	write(edge(0, 40, 70))
	untilPicture(t, rd, func(p api.Picture) bool { return len(p.Autoscale[0].Samples) == 3 })
	write(edge(-15*time.Second, 15, 60))
	p = untilPicture(t, rd, func(p api.Picture) bool { return len(p.Autoscale[0].Samples) == 4 })
	require.Equal(t, autoscaler.RoleTrace{Group: "g1", Role: nodemodel.RoleEdge, High: 70, Low: 30, Samples: []autoscaler.TracePoint{
		point(-20*time.Second, 10), point(-15*time.Second, 15), point(-10*time.Second, 20), point(0, 40),
	}}, p.Autoscale[0])

	require.NoError(t, e.store.DeleteGroup(ctx, "g2"))
	p = untilPicture(t, rd, func(p api.Picture) bool { return len(p.Autoscale) == 1 })
	require.Equal(t, "g1", p.Autoscale[0].Group, "a deleted group's chart goes")

	// 15 minutes later only the samples since are shown
	e.clock.Add(15*time.Minute + time.Second)
	write(edge(15*time.Minute, 50, 70))
	p = untilPicture(t, rd, func(p api.Picture) bool { return len(p.Autoscale) == 1 && len(p.Autoscale[0].Samples) == 1 })
	require.Equal(t, []autoscaler.TracePoint{point(15*time.Minute, 50)}, p.Autoscale[0].Samples)
}
