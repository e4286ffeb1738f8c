package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/manager/api"
	"github.com/nagare-video/nagare/internal/manager/cluster"
	"github.com/nagare-video/nagare/internal/manager/selector"
	"github.com/nagare-video/nagare/internal/manager/store"
	"github.com/nagare-video/nagare/internal/nodeapi"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

const (
	adminToken    = "test-admin-token-0123456789"
	clusterSecret = "test-cluster-secret-0123456789"
	wrongToken    = "wrong-token-SECRET-4242"
	red5          = "/streammanager/api/3.1"
)

// clock is the fake time shared by the store, the registry and the API.
type clock struct {
	mu    sync.Mutex
	start time.Time
	t     time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is a manager API on a fresh SQLite store, served on 127.0.0.1:0.
type env struct {
	t     *testing.T
	url   string
	store *store.SQL
	reg   *cluster.Registry
	clock *clock
	http  *http.Client
}

func newEnv(t *testing.T, opts ...func(*api.Server)) *env {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, store.SQLite, filepath.Join(t.TempDir(), "m.db"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	_, err = st.Migrate(ctx)
	require.NoError(t, err)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := &clock{start: start, t: start}
	st.Now = c.Now
	log := slog.New(slog.DiscardHandler)
	// an hour of node timeout: these tests move the clock forward and are not about dead nodes
	reg := &cluster.Registry{Store: st, Log: log, ReportInterval: 2 * time.Second, NodeTimeout: time.Hour,
		PersistEvery: 0, Now: c.Now}
	require.NoError(t, reg.Load(ctx))
	srv := &api.Server{Store: st, Cluster: reg, AdminToken: adminToken, ClusterSecret: clusterSecret, Weights: selector.DefaultWeights(),
		Log: log, Now: c.Now}
	for _, o := range opts {
		o(srv)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	client := &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &env{t: t, url: hs.URL, store: st, reg: reg, clock: c, http: client}
}

// with returns e reporting to t, for use inside a subtest.
func (e *env) with(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

// auth says how a request authenticates.
type auth int

const (
	authAdmin  auth = iota // the API's own way: ?accessToken= for Red5, Bearer for native (tables only)
	authNone               // no token at all
	authQuery              // ?accessToken= (Red5)
	authBearer             // Authorization: Bearer (native)
	authWrongQuery
	authWrongBearer
)

type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends one request and returns the whole answer.
func (e *env) do(method, path string, a auth, body string, cookies ...*http.Cookie) response {
	e.t.Helper()
	u := e.url + path
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	switch a {
	case authQuery:
		u += sep + "accessToken=" + adminToken
	case authWrongQuery:
		u += sep + "accessToken=" + wrongToken
	}
	require.NotEqual(e.t, authAdmin, a, "resolve authAdmin before calling do")
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	require.NoError(e.t, err)
	switch a {
	case authBearer:
		req.Header.Set("Authorization", "Bearer "+adminToken)
	case authWrongBearer:
		req.Header.Set("Authorization", "Bearer "+wrongToken)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	res, err := e.http.Do(req)
	require.NoError(e.t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(e.t, err)
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// red5 calls the Red5-compatible API with the admin token.
func (e *env) red5(method, path, body string) response {
	e.t.Helper()
	return e.do(method, red5+path, authQuery, body)
}

// native calls /api/v1 with the admin token.
func (e *env) native(method, path, body string) response {
	e.t.Helper()
	return e.do(method, "/api/v1"+path, authBearer, body)
}

// must checks the status and decodes the body into v (when v is not nil).
func (r response) must(t *testing.T, status int, v any) {
	t.Helper()
	require.Equal(t, status, r.status, "body: %s", r.body)
	if v != nil {
		require.NoError(t, json.Unmarshal(r.body, v), "body: %s", r.body)
	}
}

// settle moves the clock past the registry's snapshot cache so routing sees the latest change.
func (e *env) settle() { e.clock.Add(time.Second) }

// group creates a node group whose origins and edges count capacity connections as full load
// (without a capacity, load does not count in node selection).
func (e *env) group(name string, capacity int) {
	e.t.Helper()
	ctx := context.Background()
	_, err := e.store.CreatePolicy(ctx, store.ScalePolicy{Name: name, Targets: []store.RoleLimits{{Role: "edge", MinLimit: 1, MaxLimit: 4, ScaleAdjustment: 1}}})
	require.NoError(e.t, err)
	_, err = e.store.CreateLaunchConfig(ctx, store.LaunchConfig{Name: name, Image: "nagare", Targets: []store.LaunchTarget{
		{Role: "origin", ConnectionCapacity: capacity}, {Role: "edge", ConnectionCapacity: capacity}}})
	require.NoError(e.t, err)
	_, err = e.store.CreateGroup(ctx, store.NodeGroup{Name: name, LaunchConfig: name, ScalePolicy: name})
	require.NoError(e.t, err)
}

// fixtureNode describes a node to register.
type fixtureNode struct {
	id, role, group, region, zone string
	rtmp, srt, http               string
}

// join registers a node and sends its first report, which puts it in service.
func (e *env) join(n fixtureNode) {
	e.t.Helper()
	ctx := context.Background()
	_, err := e.reg.Register(ctx, nodeapi.RegisterRequest{ID: n.id, Role: nodemodel.Role(n.role), Version: "test", Group: n.group,
		Region: n.region, Zone: n.zone, Addresses: nodemodel.Addresses{RTMP: n.rtmp, SRT: n.srt, HTTP: n.http}})
	require.NoError(e.t, err)
	e.report(n.id, 0)
	got, ok := e.reg.Node(n.id)
	require.True(e.t, ok)
	require.Equal(e.t, nodemodel.StateInService, got.State)
}

// report sends a load report with that many viewers and the given live streams.
func (e *env) report(id string, viewers int, streams ...string) {
	e.t.Helper()
	e.clock.Add(2 * time.Second) // past the report throttle
	ss := make([]nodemodel.StreamLoad, len(streams))
	for i, s := range streams {
		ss[i] = nodemodel.StreamLoad{Name: s, Protocol: "rtmp"}
	}
	_, err := e.reg.Report(context.Background(), nodeapi.ReportRequest{ID: id,
		Stats: nodemodel.Load{Connections: viewers, Subscribers: viewers}, Streams: ss})
	require.NoError(e.t, err)
	e.settle()
}

// publish tells the registry at once that a stream went live on an origin.
func (e *env) publish(nodeID, stream string) {
	e.t.Helper()
	require.NoError(e.t, e.reg.StreamEvent(context.Background(),
		nodeapi.StreamEvent{ID: nodeID, Stream: stream, Action: nodeapi.ActionPublish, Protocol: "rtmp"}))
	e.settle()
}

// ---- golden files ----

// exchange is one recorded request/response pair.
type exchange struct {
	name   string // golden file name, without .json
	method string
	path   string // without the token
	body   string // sent verbatim
	status int
}

type goldenFile struct {
	Request struct {
		Method string          `json:"method"`
		Path   string          `json:"path"`
		Auth   string          `json:"auth,omitempty"`
		Body   json.RawMessage `json:"body,omitempty"`
	} `json:"request"`
	Status   int               `json:"status"`
	Headers  map[string]string `json:"headers,omitempty"`
	Response json.RawMessage   `json:"response,omitempty"`
}

var (
	groupUUID = regexp.MustCompile(`group-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	timeField = regexp.MustCompile(`"(timestamp|createdAt|updatedAt|lastReport|at|startedAt)": (-?[0-9]+|"[^"]*")`)
)

// normalize replaces the volatile parts of a response: generated group names, and times — but only
// times that the fake clock could have produced, so a zero or garbage time still shows in the diff.
func (e *env) normalize(b []byte) []byte {
	b = groupUUID.ReplaceAll(b, []byte("group-<uuid>"))
	lo, hi := e.clock.start, e.clock.Now()
	plausible := func(t time.Time) bool { return !t.Before(lo) && !t.After(hi) }
	return timeField.ReplaceAllFunc(b, func(m []byte) []byte {
		sub := timeField.FindSubmatch(m)
		key, val := string(sub[1]), string(sub[2])
		if strings.HasPrefix(val, `"`) {
			if t, err := time.Parse(time.RFC3339Nano, strings.Trim(val, `"`)); err == nil && plausible(t) {
				return []byte(`"` + key + `": "<time>"`)
			}
			return m
		}
		var ms int64
		if err := json.Unmarshal([]byte(val), &ms); err == nil && plausible(time.UnixMilli(ms)) {
			return []byte(`"` + key + `": "<epoch ms>"`)
		}
		return m
	})
}

// golden sends x, checks the status, and compares the normalised exchange with
// testdata/golden/<name>.json (rewritten with -update). It returns the raw response.
func (e *env) golden(x exchange, a auth) response {
	e.t.Helper()
	res := e.do(x.method, x.path, a, x.body)
	require.Equal(e.t, x.status, res.status, "%s %s: %s", x.method, x.path, res.body)

	var g goldenFile
	g.Request.Method, g.Request.Path = x.method, string(e.normalize([]byte(x.path)))
	switch a {
	case authQuery:
		g.Request.Auth = "?accessToken=<admin token>"
	case authBearer:
		g.Request.Auth = "Authorization: Bearer <admin token>"
	}
	if x.body != "" {
		require.True(e.t, json.Valid([]byte(x.body)), "request body of %s", x.name)
		g.Request.Body = json.RawMessage(x.body)
	}
	g.Status = res.status
	for _, h := range []string{"Location", "Retry-After"} {
		if v := res.header.Get(h); v != "" {
			if g.Headers == nil {
				g.Headers = map[string]string{}
			}
			g.Headers[h] = v
		}
	}
	if len(bytes.TrimSpace(res.body)) > 0 {
		require.True(e.t, json.Valid(res.body), "response of %s is not JSON: %s", x.name, res.body)
		g.Response = e.normalize(res.body)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep the placeholders readable; escapes the server sent stay as they were
	enc.SetIndent("", "  ")
	require.NoError(e.t, enc.Encode(g))
	got := buf.Bytes()

	file := filepath.Join("testdata", "golden", x.name+".json")
	if *update {
		require.NoError(e.t, os.MkdirAll(filepath.Dir(file), 0o755))
		require.NoError(e.t, os.WriteFile(file, got, 0o644))
	}
	want, err := os.ReadFile(file)
	require.NoError(e.t, err, "missing golden file: run go test ./internal/manager/api -run %s -update", e.t.Name())
	require.Equal(e.t, string(want), string(got), "%s differs from the golden file %s (rerun with -update if the change is intended)", x.name, file)
	return res
}

// ---- error bodies ----

// requireRed5Error checks Red5's error shape: exactly errorMessage and timestamp (the fake clock's ms).
func (e *env) requireRed5Error(t *testing.T, res response, wantMsg string) {
	t.Helper()
	var body map[string]any
	require.NoError(t, json.Unmarshal(res.body, &body), "body: %s", res.body)
	require.Len(t, body, 2, "body: %s", res.body)
	msg, ok := body["errorMessage"].(string)
	require.True(t, ok, "errorMessage is not a string: %s", res.body)
	require.Contains(t, msg, wantMsg)
	ts, ok := body["timestamp"].(float64)
	require.True(t, ok, "timestamp is not a number: %s", res.body)
	require.Equal(t, float64(e.clock.Now().UnixMilli()), ts)
	requireNoToken(t, res)
}

// requireNativeError checks the native error shape: exactly {"error": "..."}, with "field" when the error
// is about one field of the request.
func requireNativeError(t *testing.T, res response, wantMsg string) {
	t.Helper()
	var body map[string]any
	require.NoError(t, json.Unmarshal(res.body, &body), "body: %s", res.body)
	if f, ok := body["field"].(string); ok {
		require.NotEmpty(t, f, "body: %s", res.body)
		delete(body, "field")
	}
	require.Len(t, body, 1, "body: %s", res.body)
	msg, ok := body["error"].(string)
	require.True(t, ok, "error is not a string: %s", res.body)
	require.Contains(t, msg, wantMsg)
	requireNoToken(t, res)
}

func requireNoToken(t *testing.T, res response) {
	t.Helper()
	require.NotContains(t, string(res.body), adminToken)
	require.NotContains(t, string(res.body), wrongToken)
	for k, vs := range res.header {
		for _, v := range vs {
			require.NotContains(t, v, adminToken, "header %s", k)
			require.NotContains(t, v, wrongToken, "header %s", k)
		}
	}
}
