package nodeapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/nodeapi"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// decodeError reads an error answer strictly: exactly {"error": "..."}.
func decodeError(t *testing.T, body []byte) string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var e struct {
		Error string `json:"error"`
	}
	require.NoError(t, dec.Decode(&e), "error body %q", body)
	require.NotEmpty(t, e.Error)
	return e.Error
}

type handlerCase struct {
	name    string
	method  string // POST when empty
	path    string
	auth    string // "Bearer <secret>" when empty; "-" for none
	body    string
	backend *fakeBackend
	status  int
	errMsg  string // part of the {"error"} message; "" for a success
	header  map[string]string
}

func TestHandler(t *testing.T) {
	withStream := func(name string) string {
		return mustJSON(t, nodeapi.StreamEvent{ID: "node-1", Stream: name, Action: "publish", Protocol: "rtmp"})
	}
	reportWith := func(mod func(*nodeapi.ReportRequest)) string {
		r := goodReport()
		mod(&r)
		return mustJSON(t, r)
	}
	registerWith := func(mod func(*nodeapi.RegisterRequest)) string {
		r := goodRegister()
		mod(&r)
		return mustJSON(t, r)
	}
	long := strings.Repeat("a", 10_000)
	huge := `{"id":"node-1","streams":[` + strings.Repeat(`{"name":"live/x"},`, 5000) + `{"name":"live/x"}]}`
	require.Greater(t, len(huge), nodeapi.MaxBodyBytes)

	tests := []handlerCase{
		{name: "register", path: nodeapi.PathRegister, body: mustJSON(t, goodRegister()), status: 200},
		{name: "register with an id from the cloud controller", path: nodeapi.PathRegister,
			body: registerWith(func(r *nodeapi.RegisterRequest) { r.ID = "i-0abc123.eu" }), status: 200},
		{name: "register with one address", path: nodeapi.PathRegister,
			body: registerWith(func(r *nodeapi.RegisterRequest) { r.Addresses = nodemodel.Addresses{HTTP: "[::1]:8080"} }), status: 200},
		{name: "report", path: nodeapi.PathReport, body: mustJSON(t, goodReport()), status: 200},
		{name: "report without streams", path: nodeapi.PathReport, body: `{"id":"node-1","stats":{},"streams":null}`, status: 200},
		{name: "stream publish", path: nodeapi.PathStream, body: withStream("live/stream1"), status: 204},
		{name: "stream unpublish", path: nodeapi.PathStream,
			body: `{"id":"node-1","stream":"app_1/Cam-02","action":"unpublish"}`, status: 204},
		{name: "bearer scheme is case-insensitive", path: nodeapi.PathReport, auth: "bearer " + secret,
			body: mustJSON(t, goodReport()), status: 200},

		// authentication comes first, whatever the request
		{name: "no secret", path: nodeapi.PathReport, auth: "-", body: mustJSON(t, goodReport()),
			status: 401, errMsg: "cluster secret", header: map[string]string{"WWW-Authenticate": `Bearer realm="nagare nodes"`}},
		{name: "wrong secret", path: nodeapi.PathReport, auth: "Bearer not-the-secret", body: mustJSON(t, goodReport()),
			status: 401, errMsg: "cluster secret"},
		{name: "secret prefix", path: nodeapi.PathReport, auth: "Bearer " + secret[:len(secret)-1],
			body: mustJSON(t, goodReport()), status: 401, errMsg: "cluster secret"},
		{name: "secret with a suffix", path: nodeapi.PathReport, auth: "Bearer " + secret + "x",
			body: mustJSON(t, goodReport()), status: 401, errMsg: "cluster secret"},
		{name: "basic auth", path: nodeapi.PathReport, auth: "Basic " + secret, body: mustJSON(t, goodReport()),
			status: 401, errMsg: "cluster secret"},
		{name: "empty bearer", path: nodeapi.PathReport, auth: "Bearer ", body: mustJSON(t, goodReport()),
			status: 401, errMsg: "cluster secret"},
		{name: "unauthenticated GET", method: "GET", path: nodeapi.PathReport, auth: "-", status: 401, errMsg: "cluster secret"},
		{name: "unauthenticated unknown path", path: "/nodeapi/v1/admin", auth: "-", status: 401, errMsg: "cluster secret"},

		{name: "GET", method: "GET", path: nodeapi.PathReport, status: 405, errMsg: "use POST",
			header: map[string]string{"Allow": "POST"}},
		{name: "PUT", method: "PUT", path: nodeapi.PathRegister, body: mustJSON(t, goodRegister()), status: 405, errMsg: "use POST"},
		{name: "unknown path", path: "/nodeapi/v1/deregister", body: `{}`, status: 404, errMsg: "no such node api endpoint"},

		// decoding
		{name: "empty body", path: nodeapi.PathReport, body: "", status: 400, errMsg: "empty request body"},
		{name: "truncated JSON", path: nodeapi.PathReport, body: `{"id":"node-1",`, status: 400, errMsg: "malformed JSON"},
		{name: "syntax error", path: nodeapi.PathReport, body: `{"id" "node-1"}`, status: 400, errMsg: `malformed JSON at byte 7: invalid character '"' after object key`},
		{name: "not JSON", path: nodeapi.PathRegister, body: `role=edge`, status: 400, errMsg: "malformed JSON at byte 1"},
		{name: "unknown field", path: nodeapi.PathReport, body: `{"id":"node-1","extra":1}`, status: 400, errMsg: `unknown field "extra"`},
		{name: "unknown nested field", path: nodeapi.PathReport, body: `{"id":"node-1","stats":{"gpu":1}}`, status: 400, errMsg: `unknown field "gpu"`},
		{name: "long unknown field is clipped", path: nodeapi.PathReport, body: `{"` + long + `":1}`, status: 400,
			errMsg: `unknown field "aaaa`},
		{name: "wrong type", path: nodeapi.PathReport, body: `{"id":"node-1","stats":{"connections":"many"}}`,
			status: 400, errMsg: `field "stats.connections": want an integer, got string`},
		{name: "negative counter", path: nodeapi.PathReport, body: `{"id":"node-1","stats":{"bytesIn":-1}}`,
			status: 400, errMsg: `field "stats.bytesIn": want a non-negative integer`},
		{name: "fractional counter", path: nodeapi.PathReport, body: `{"id":"node-1","stats":{"publishers":1.5}}`,
			status: 400, errMsg: `field "stats.publishers": want an integer`},
		{name: "id is a number", path: nodeapi.PathReport, body: `{"id":7}`, status: 400, errMsg: `field "id": want a string`},
		{name: "streams is an object", path: nodeapi.PathReport, body: `{"id":"n","streams":{}}`, status: 400,
			errMsg: `field "streams": want an array`},
		{name: "array body", path: nodeapi.PathReport, body: `[{"id":"node-1"}]`, status: 400, errMsg: "must be a JSON object, not array"},
		{name: "string body", path: nodeapi.PathReport, body: `"node-1"`, status: 400, errMsg: "must be a JSON object"},
		{name: "two objects", path: nodeapi.PathReport, body: `{"id":"node-1"} {"id":"node-2"}`, status: 400,
			errMsg: "single JSON object"},
		{name: "trailing garbage", path: nodeapi.PathReport, body: `{"id":"node-1"}}`, status: 400, errMsg: "malformed JSON"},
		{name: "huge body", path: nodeapi.PathReport, body: huge, status: 413, errMsg: "larger than 65536 bytes"},
		{name: "huge body after a valid object", path: nodeapi.PathReport,
			body: mustJSON(t, goodReport()) + strings.Repeat(" ", nodeapi.MaxBodyBytes), status: 413, errMsg: "larger than 65536 bytes"},

		// validation
		{name: "no role", path: nodeapi.PathRegister, body: registerWith(func(r *nodeapi.RegisterRequest) { r.Role = "" }),
			status: 400, errMsg: "role is required"},
		{name: "bad role", path: nodeapi.PathRegister, body: registerWith(func(r *nodeapi.RegisterRequest) { r.Role = "manager" }),
			status: 400, errMsg: `role "manager": must be origin, relay, edge or transcoder`},
		{name: "role in capitals", path: nodeapi.PathRegister, body: registerWith(func(r *nodeapi.RegisterRequest) { r.Role = "EDGE" }),
			status: 400, errMsg: "must be origin, relay, edge or transcoder"},
		{name: "no version", path: nodeapi.PathRegister, body: registerWith(func(r *nodeapi.RegisterRequest) { r.Version = "" }),
			status: 400, errMsg: "version is required"},
		{name: "version with a newline", path: nodeapi.PathRegister,
			body: registerWith(func(r *nodeapi.RegisterRequest) { r.Version = "v1\nlevel=ERROR" }), status: 400, errMsg: "version"},
		{name: "hostile register id", path: nodeapi.PathRegister,
			body: registerWith(func(r *nodeapi.RegisterRequest) { r.ID = "../../etc" }), status: 400, errMsg: `id "../../etc"`},
		{name: "bad group", path: nodeapi.PathRegister,
			body: registerWith(func(r *nodeapi.RegisterRequest) { r.Group = "a/b" }), status: 400, errMsg: `group "a/b"`},
		{name: "address without port", path: nodeapi.PathRegister,
			body: registerWith(func(r *nodeapi.RegisterRequest) { r.Addresses.RTMP = "10.0.0.7" }), status: 400,
			errMsg: `addresses.rtmp "10.0.0.7": want host:port`},
		{name: "address without host", path: nodeapi.PathRegister,
			body: registerWith(func(r *nodeapi.RegisterRequest) { r.Addresses.HTTP = ":8080" }), status: 400,
			errMsg: "addresses.http"},
		{name: "address with a bad port", path: nodeapi.PathRegister,
			body: registerWith(func(r *nodeapi.RegisterRequest) { r.Addresses.SRT = "h:70000" }), status: 400,
			errMsg: "port from 1 to 65535"},
		{name: "report without id", path: nodeapi.PathReport, body: `{"stats":{}}`, status: 400, errMsg: "id is required"},
		{name: "report null", path: nodeapi.PathReport, body: `null`, status: 400, errMsg: "id is required"},
		{name: "negative connections", path: nodeapi.PathReport,
			body: reportWith(func(r *nodeapi.ReportRequest) { r.Stats.Connections = -1 }), status: 400,
			errMsg: "stats.connections: must not be negative"},
		{name: "hostile stream in report", path: nodeapi.PathReport,
			body: reportWith(func(r *nodeapi.ReportRequest) { r.Streams[1].Name = "../x" }), status: 400,
			errMsg: `invalid request: streams[1]: stream "../x": want <app>/<stream>`},
		{name: "stream listed twice", path: nodeapi.PathReport,
			body: reportWith(func(r *nodeapi.ReportRequest) { r.Streams[1].Name = r.Streams[0].Name }), status: 400,
			errMsg: "listed twice"},
		{name: "hostile protocol", path: nodeapi.PathReport,
			body: reportWith(func(r *nodeapi.ReportRequest) { r.Streams[0].Protocol = "rtmp\x1b[31m" }), status: 400,
			errMsg: `invalid request: streams[0]: protocol "rtmp\x1b[31m"`},
		{name: "stream published through a transcoder", path: nodeapi.PathReport,
			body: reportWith(func(r *nodeapi.ReportRequest) { r.Streams[0].Protocol = nodeapi.ViaTranscoder("rtmp") }), status: 200},
		{name: "stream event through a transcoder", path: nodeapi.PathStream,
			body: `{"id":"node-1","stream":"live/a","action":"publish","protocol":"transcoder/srt"}`, status: 204},
		{name: "bare transcoder protocol", path: nodeapi.PathReport,
			body: reportWith(func(r *nodeapi.ReportRequest) { r.Streams[0].Protocol = "transcoder/" }), status: 400,
			errMsg: `streams[0]: protocol "transcoder/": want`},
		{name: "negative bitrate", path: nodeapi.PathReport,
			body: reportWith(func(r *nodeapi.ReportRequest) { r.Streams[0].Bitrate = -1 }), status: 400,
			errMsg: "invalid request: streams[0].bitrate: must not be negative"},
		{name: "negative height", path: nodeapi.PathReport,
			body: reportWith(func(r *nodeapi.ReportRequest) { r.Streams[0].Height = -720 }), status: 400,
			errMsg: "streams[0].height: must not be negative"},
		{name: "negative webrtc viewers", path: nodeapi.PathReport,
			body: reportWith(func(r *nodeapi.ReportRequest) { r.Streams[1].WebRTCViewers = -2 }), status: 400,
			errMsg: "streams[1].webrtcViewers: must not be negative"},
		{name: "hostile codecs", path: nodeapi.PathReport,
			body: reportWith(func(r *nodeapi.ReportRequest) { r.Streams[0].Codecs = "avc1\n level=ERROR" }), status: 400,
			errMsg: `streams[0].codecs "avc1\n level=ERROR": want RFC 6381 codecs`},
		{name: "codecs too long", path: nodeapi.PathReport,
			body: reportWith(func(r *nodeapi.ReportRequest) { r.Streams[0].Codecs = strings.Repeat("avc1.64001f,", 11) }), status: 400,
			errMsg: "at most 128 bytes"},
		{name: "hostile rendition", path: nodeapi.PathReport,
			body: reportWith(func(r *nodeapi.ReportRequest) { r.Streams[0].Renditions = []string{"live/a_480p", "../x"} }), status: 400,
			errMsg: `streams[0].renditions[1]: stream "../x": want <app>/<stream>`},
		{name: "too many renditions", path: nodeapi.PathReport,
			body: reportWith(func(r *nodeapi.ReportRequest) { r.Streams[0].Renditions = make([]string, nodeapi.MaxRenditions+1) }), status: 400,
			errMsg: "streams[0].renditions: at most 32, not 33"},
		{name: "stream event without id", path: nodeapi.PathStream,
			body: `{"stream":"live/a","action":"publish"}`, status: 400, errMsg: "id is required"},
		{name: "stream event without action", path: nodeapi.PathStream,
			body: `{"id":"node-1","stream":"live/a"}`, status: 400, errMsg: "action is required"},
		{name: "bad action", path: nodeapi.PathStream,
			body: `{"id":"node-1","stream":"live/a","action":"delete"}`, status: 400, errMsg: `action "delete": must be publish or unpublish`},
	}
	for _, name := range []string{
		"../x", "live/../x", "live/a b", "live", "live/", "/live/x", "live/x/", "live/x/y", "live/a\x00", "live/a%2e",
		"live/é", "live/.", `live\x`, "", "live/" + long, long + "/x", "live/" + strings.Repeat("b", 129),
	} {
		tests = append(tests, handlerCase{name: fmt.Sprintf("hostile stream name %.20q", name), path: nodeapi.PathStream, body: withStream(name),
			status: 400, errMsg: "want <app>/<stream>, each part of [A-Za-z0-9_-]{1,128}"})
	}
	tests = append(tests, []handlerCase{
		{name: "longest names", path: nodeapi.PathStream,
			body: withStream(strings.Repeat("a", 128) + "/" + strings.Repeat("b", 128)), status: 204},
		// backend errors
		{name: "unknown node", path: nodeapi.PathReport, body: mustJSON(t, goodReport()),
			backend: &fakeBackend{report: func(context.Context, nodeapi.ReportRequest) (nodeapi.ReportResponse, error) {
				return nodeapi.ReportResponse{}, fmt.Errorf("node %q: %w", "node-1", nodeapi.ErrUnknownNode)
			}},
			status: 404, errMsg: `node "node-1": unknown node`},
		{name: "throttled", path: nodeapi.PathReport, body: mustJSON(t, goodReport()),
			backend: &fakeBackend{report: func(context.Context, nodeapi.ReportRequest) (nodeapi.ReportResponse, error) {
				return nodeapi.ReportResponse{}, &nodeapi.ThrottleError{RetryAfter: 2500 * time.Millisecond}
			}},
			status: 429, errMsg: "too many reports", header: map[string]string{"Retry-After": "3"}},
		{name: "throttled without a wait", path: nodeapi.PathStream, body: withStream("live/a"),
			backend: &fakeBackend{streamEvent: func(context.Context, nodeapi.StreamEvent) error {
				return fmt.Errorf("node-1: %w", nodeapi.ErrTooManyReports)
			}},
			status: 429, errMsg: "too many reports", header: map[string]string{"Retry-After": "1"}},
		{name: "conflict", path: nodeapi.PathRegister, body: registerWith(func(r *nodeapi.RegisterRequest) { r.ID = "i-1" }),
			backend: &fakeBackend{register: func(context.Context, nodeapi.RegisterRequest) (nodeapi.RegisterResponse, error) {
				return nodeapi.RegisterResponse{}, fmt.Errorf("id i-1 is live at 10.0.0.8: %w", nodeapi.ErrConflict)
			}},
			status: 409, errMsg: "id i-1 is live at 10.0.0.8: conflict"},
		{name: "backend refuses", path: nodeapi.PathRegister, body: mustJSON(t, goodRegister()),
			backend: &fakeBackend{register: func(context.Context, nodeapi.RegisterRequest) (nodeapi.RegisterResponse, error) {
				return nodeapi.RegisterResponse{}, fmt.Errorf("%w: group %q does not exist", nodeapi.ErrInvalid, "eu-edges")
			}},
			status: 400, errMsg: `group "eu-edges" does not exist`},
		{name: "backend fails", path: nodeapi.PathReport, body: mustJSON(t, goodReport()),
			backend: &fakeBackend{report: func(context.Context, nodeapi.ReportRequest) (nodeapi.ReportResponse, error) {
				return nodeapi.ReportResponse{}, errors.New("dial mysql://admin:db-pass-93@10.0.0.3:3306: refused")
			}},
			status: 500, errMsg: "internal error in the stream manager"},
	}...)

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.backend
			if b == nil {
				b = &fakeBackend{}
			}
			log, logs := testLogger()
			h := nodeapi.NewHandler(secret, b, log)
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			req := httptest.NewRequest(method, tc.path, strings.NewReader(tc.body))
			switch tc.auth {
			case "":
				req.Header.Set("Authorization", "Bearer "+secret)
			case "-":
			default:
				req.Header.Set("Authorization", tc.auth)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)

			require.Equal(t, tc.status, rec.Code, "body: %s", rec.Body.String())
			for k, v := range tc.header {
				require.Equal(t, v, rec.Header().Get(k), k)
			}
			body := rec.Body.Bytes()
			switch {
			case tc.status == http.StatusNoContent:
				require.Empty(t, body)
			case tc.errMsg == "":
				require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
				require.NotContains(t, string(body), `"error"`)
			default:
				require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
				msg := decodeError(t, body)
				require.Contains(t, msg, tc.errMsg)
				require.Less(t, len(msg), 300, "a hostile value must not be echoed whole")
			}
			if tc.status < 300 || tc.backend != nil {
				require.Equal(t, 1, b.Calls(), "the backend must be called once")
			} else {
				require.Zero(t, b.Calls(), "a refused request must not reach the backend")
			}
			require.NotContains(t, string(body), secret)
			require.NotContains(t, logs.String(), secret)
			if tc.status == 500 {
				require.NotContains(t, string(body), "db-pass-93", "the cause must not reach the node")
				require.Contains(t, logs.String(), "db-pass-93", "the cause must be logged")
			}
		})
	}
}

func TestHandlerPassesRequestsThrough(t *testing.T) {
	var (
		gotReg    nodeapi.RegisterRequest
		gotReport nodeapi.ReportRequest
		gotEv     nodeapi.StreamEvent
	)
	b := &fakeBackend{
		register: func(_ context.Context, r nodeapi.RegisterRequest) (nodeapi.RegisterResponse, error) {
			gotReg = r
			return nodeapi.RegisterResponse{ID: "node-9", ReportIntervalMS: 2000, Assignment: goodAssignment()}, nil
		},
		report: func(_ context.Context, r nodeapi.ReportRequest) (nodeapi.ReportResponse, error) {
			gotReport = r
			return nodeapi.ReportResponse{ReportIntervalMS: 3000, Assignment: goodAssignment()}, nil
		},
		streamEvent: func(_ context.Context, ev nodeapi.StreamEvent) error {
			gotEv = ev
			return nil
		},
	}
	h := nodeapi.NewHandler(secret, b, nil)
	post := func(path, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+secret)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}

	rec := post(nodeapi.PathRegister, mustJSON(t, goodRegister()))
	require.Equal(t, 200, rec.Code)
	require.Equal(t, goodRegister(), gotReg)
	var regResp nodeapi.RegisterResponse
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &regResp))
	require.Equal(t, "node-9", regResp.ID)
	require.Equal(t, 2000, regResp.ReportIntervalMS)
	require.True(t, goodAssignment().Equal(regResp.Assignment))

	rec = post(nodeapi.PathReport, mustJSON(t, goodReport()))
	require.Equal(t, 200, rec.Code)
	require.Equal(t, goodReport(), gotReport)

	ev := nodeapi.StreamEvent{ID: "node-9", Stream: "live/cam1", Action: nodeapi.ActionUnpublish, Protocol: "srt"}
	rec = post(nodeapi.PathStream, mustJSON(t, ev))
	require.Equal(t, 204, rec.Code)
	require.Equal(t, ev, gotEv)
}

func TestHandlerNeverLeaksTheSecret(t *testing.T) {
	for _, tc := range []struct {
		name, configured, presented string
	}{
		{"wrong", secret, "Bearer guess-" + secret[:6]},
		{"almost right", secret, "Bearer " + secret[:len(secret)-1] + "X"},
		{"right secret, wrong scheme", secret, "Token " + secret},
		{"no secret configured", "", "Bearer " + secret},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log, logs := testLogger()
			h := nodeapi.NewHandler(tc.configured, &fakeBackend{}, log)
			req := httptest.NewRequest(http.MethodPost, nodeapi.PathReport, strings.NewReader(mustJSON(t, goodReport())))
			req.RemoteAddr = "192.0.2.44:51234"
			req.Header.Set("Authorization", tc.presented)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)

			require.Equal(t, http.StatusUnauthorized, rec.Code)
			_, token, _ := strings.Cut(tc.presented, " ")
			for _, s := range []string{rec.Body.String(), logs.String(), fmt.Sprint(rec.Header())} {
				require.NotContains(t, s, secret)
				require.NotContains(t, s, token)
			}
			require.Contains(t, logs.String(), "remote=192.0.2.44:51234")
			require.Contains(t, logs.String(), "cause=")
		})
	}
}
