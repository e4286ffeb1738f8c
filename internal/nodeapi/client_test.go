package nodeapi_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/nodeapi"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

// newServer serves NewHandler(secret, b) on 127.0.0.1:0.
func newServer(t *testing.T, b nodeapi.Backend) (*httptest.Server, *syncBuffer) {
	t.Helper()
	log, logs := testLogger()
	srv := httptest.NewServer(nodeapi.NewHandler(secret, b, log))
	t.Cleanup(srv.Close)
	require.True(t, strings.HasPrefix(srv.URL, "http://127.0.0.1:"), srv.URL)
	return srv, logs
}

func TestClientRoundTrip(t *testing.T) {
	var (
		gotReg    nodeapi.RegisterRequest
		gotReport nodeapi.ReportRequest
		gotEv     nodeapi.StreamEvent
	)
	b := &fakeBackend{
		register: func(_ context.Context, r nodeapi.RegisterRequest) (nodeapi.RegisterResponse, error) {
			gotReg = r
			return nodeapi.RegisterResponse{ID: "node-42", ReportIntervalMS: 1500, Assignment: nodeapi.Assignment{State: nodemodel.StatePending}}, nil
		},
		report: func(_ context.Context, r nodeapi.ReportRequest) (nodeapi.ReportResponse, error) {
			gotReport = r
			return nodeapi.ReportResponse{ReportIntervalMS: 2500, Assignment: goodAssignment()}, nil
		},
		streamEvent: func(_ context.Context, ev nodeapi.StreamEvent) error {
			gotEv = ev
			return nil
		},
	}
	srv, _ := newServer(t, b)
	c := &nodeapi.Client{BaseURL: srv.URL + "/", Secret: secret}
	ctx := t.Context()

	reg, err := c.Register(ctx, goodRegister())
	require.NoError(t, err)
	require.Equal(t, goodRegister(), gotReg)
	require.Equal(t, nodeapi.RegisterResponse{ID: "node-42", ReportIntervalMS: 1500, Assignment: nodeapi.Assignment{State: "pending"}}, reg)

	rep, err := c.Report(ctx, goodReport())
	require.NoError(t, err)
	require.Equal(t, goodReport(), gotReport)
	require.Equal(t, 2500, rep.ReportIntervalMS)
	require.True(t, goodAssignment().Equal(rep.Assignment), "%+v", rep.Assignment)

	ev := nodeapi.StreamEvent{ID: "node-42", Stream: "live/stream1", Action: nodeapi.ActionPublish, Protocol: "rtmp"}
	require.NoError(t, c.StreamEvent(ctx, ev))
	require.Equal(t, ev, gotEv)
}

func TestClientErrors(t *testing.T) {
	fail := func(err error) *fakeBackend {
		return &fakeBackend{report: func(context.Context, nodeapi.ReportRequest) (nodeapi.ReportResponse, error) {
			return nodeapi.ReportResponse{}, err
		}}
	}
	tests := []struct {
		name       string
		backend    *fakeBackend
		secret     string // the right one when empty
		req        nodeapi.ReportRequest
		status     int
		sentinel   error // nil: none of them
		msg        string
		retryAfter time.Duration
	}{
		{name: "unknown node", backend: fail(fmt.Errorf("node node-1: %w", nodeapi.ErrUnknownNode)),
			status: 404, sentinel: nodeapi.ErrUnknownNode, msg: "node node-1: unknown node"},
		{name: "throttled", backend: fail(&nodeapi.ThrottleError{RetryAfter: 3 * time.Second}),
			status: 429, sentinel: nodeapi.ErrTooManyReports, msg: "retry after 3s", retryAfter: 3 * time.Second},
		{name: "conflict", backend: fail(nodeapi.ErrConflict), status: 409, sentinel: nodeapi.ErrConflict, msg: "conflict"},
		{name: "wrong secret", backend: &fakeBackend{}, secret: "wrong", status: 401, sentinel: nodeapi.ErrUnauthorized,
			msg: "missing or wrong cluster secret"},
		{name: "invalid", backend: &fakeBackend{}, req: nodeapi.ReportRequest{ID: "../x"}, status: 400,
			sentinel: nodeapi.ErrInvalid, msg: `id "../x"`},
		{name: "internal", backend: fail(errors.New("disk full")), status: 500, msg: "internal error in the stream manager"},
		{name: "store down", backend: fail(fmt.Errorf("%w: store does not answer: dial tcp db:3306", nodeapi.ErrUnavailable)),
			status: 503, sentinel: nodeapi.ErrUnavailable, msg: "manager unavailable", retryAfter: time.Second},
	}
	all := []error{nodeapi.ErrUnknownNode, nodeapi.ErrTooManyReports, nodeapi.ErrConflict, nodeapi.ErrUnauthorized, nodeapi.ErrInvalid, nodeapi.ErrUnavailable}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := newServer(t, tc.backend)
			c := &nodeapi.Client{BaseURL: srv.URL, Secret: secret, HTTP: srv.Client()}
			if tc.secret != "" {
				c.Secret = tc.secret
			}
			req := tc.req
			if req.ID == "" {
				req = goodReport()
			}
			_, err := c.Report(t.Context(), req)
			require.Error(t, err)
			var apiErr *nodeapi.Error
			require.ErrorAs(t, err, &apiErr)
			require.Equal(t, tc.status, apiErr.Status)
			require.Contains(t, apiErr.Message, tc.msg)
			require.Contains(t, err.Error(), tc.msg)
			require.Equal(t, tc.retryAfter, apiErr.RetryAfter)
			require.Equal(t, tc.retryAfter, nodeapi.RetryAfter(err))
			for _, s := range all {
				require.Equal(t, s == tc.sentinel, errors.Is(err, s), "errors.Is(err, %v)", s)
			}
			require.NotContains(t, err.Error(), secret)
		})
	}
}

func TestClientNotTheManager(t *testing.T) {
	// a proxy or a wrong URL answers in its own format
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "502 bad gateway: upstream manager unreachable", http.StatusBadGateway)
	}))
	t.Cleanup(srv.Close)
	c := &nodeapi.Client{BaseURL: srv.URL, Secret: secret}
	_, err := c.Register(t.Context(), goodRegister())
	var apiErr *nodeapi.Error
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusBadGateway, apiErr.Status)
	require.Equal(t, "502 bad gateway: upstream manager unreachable", apiErr.Message)
	require.NoError(t, apiErr.Unwrap())
}

func TestClientUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	c := &nodeapi.Client{BaseURL: "http://" + addr, Secret: secret}
	err = c.StreamEvent(t.Context(), nodeapi.StreamEvent{ID: "n", Stream: "live/a", Action: "publish"})
	require.Error(t, err)
	var apiErr *nodeapi.Error
	require.False(t, errors.As(err, &apiErr), "a transport error is no answer from the manager")
	require.Contains(t, err.Error(), nodeapi.PathStream)
	require.NotContains(t, err.Error(), secret)
}

func TestClientHonoursContext(t *testing.T) {
	release := make(chan struct{})
	b := &fakeBackend{report: func(ctx context.Context, _ nodeapi.ReportRequest) (nodeapi.ReportResponse, error) {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nodeapi.ReportResponse{}, ctx.Err()
	}}
	srv, _ := newServer(t, b)
	defer close(release)
	c := &nodeapi.Client{BaseURL: srv.URL, Secret: secret}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Report(ctx, goodReport())
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 5*time.Second)
}

func TestRetryAfterHeader(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		header string
		want   time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"7", 7 * time.Second},
		{" 7 ", 7 * time.Second},
		{"-3", 0},
		{"soon", 0},
		{"99999999999999999999", 0}, // does not parse as an int
		{"999999999", time.Hour},    // capped
		{now.Add(-time.Hour).UTC().Format(http.TimeFormat), 0},
	} {
		t.Run(tc.header, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				if tc.header != "" {
					w.Header().Set("Retry-After", tc.header)
				}
				w.WriteHeader(http.StatusTooManyRequests)
			}))
			t.Cleanup(srv.Close)
			c := &nodeapi.Client{BaseURL: srv.URL, Secret: secret}
			_, err := c.Report(t.Context(), goodReport())
			require.ErrorIs(t, err, nodeapi.ErrTooManyReports)
			require.Equal(t, tc.want, nodeapi.RetryAfter(err))
		})
	}
	t.Run("http date", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Retry-After", time.Now().Add(90*time.Second).UTC().Format(http.TimeFormat))
			w.WriteHeader(http.StatusTooManyRequests)
		}))
		t.Cleanup(srv.Close)
		c := &nodeapi.Client{BaseURL: srv.URL, Secret: secret}
		_, err := c.Report(t.Context(), goodReport())
		d := nodeapi.RetryAfter(err)
		require.Greater(t, d, 80*time.Second)
		require.LessOrEqual(t, d, 90*time.Second)
	})
}

// TestLadderCall: an origin asks for a stream's provisioned ladder; a malformed request never reaches the
// backend.
func TestLadderCall(t *testing.T) {
	var got nodeapi.LadderRequest
	want := nodeapi.LadderResponse{Found: true, AudioBitrate: 96000, Rungs: []nodeapi.Rung{{Name: "1", Height: 720, VideoBitrate: 2_000_000}}}
	b := &fakeBackend{ladder: func(_ context.Context, r nodeapi.LadderRequest) (nodeapi.LadderResponse, error) {
		got = r
		return want, nil
	}}
	srv, _ := newServer(t, b)
	c := &nodeapi.Client{BaseURL: srv.URL, Secret: secret}
	resp, err := c.Ladder(t.Context(), nodeapi.LadderRequest{ID: "node-1", Stream: "live/stream1"})
	require.NoError(t, err)
	require.Equal(t, want, resp)
	require.Equal(t, nodeapi.LadderRequest{ID: "node-1", Stream: "live/stream1"}, got)

	calls := b.Calls()
	for _, req := range []nodeapi.LadderRequest{{ID: "node-1", Stream: "../etc"}, {ID: "", Stream: "live/s"}} {
		_, err := c.Ladder(t.Context(), req)
		require.ErrorIs(t, err, nodeapi.ErrInvalid)
	}
	require.Equal(t, calls, b.Calls(), "refused requests never reach the backend")
}

// TestOriginCall: a transcoder node asks where a stream published on it goes; a malformed request never
// reaches the backend, and a manager without an origin answers 503 (ErrUnavailable).
func TestOriginCall(t *testing.T) {
	var got nodeapi.OriginRequest
	answer := func(_ context.Context, r nodeapi.OriginRequest) (nodeapi.OriginResponse, error) {
		got = r
		return nodeapi.OriginResponse{Origin: "http://10.0.0.7:8080"}, nil
	}
	b := &fakeBackend{origin: answer}
	srv, _ := newServer(t, b)
	c := &nodeapi.Client{BaseURL: srv.URL, Secret: secret}
	resp, err := c.Origin(t.Context(), nodeapi.OriginRequest{ID: "node-1", Stream: "live/stream1"})
	require.NoError(t, err)
	require.Equal(t, "http://10.0.0.7:8080", resp.Origin)
	require.Equal(t, nodeapi.OriginRequest{ID: "node-1", Stream: "live/stream1"}, got)

	calls := b.Calls()
	for _, req := range []nodeapi.OriginRequest{{ID: "node-1", Stream: "live/../x"}, {ID: "", Stream: "live/s"}} {
		_, err := c.Origin(t.Context(), req)
		require.ErrorIs(t, err, nodeapi.ErrInvalid)
	}
	require.Equal(t, calls, b.Calls(), "refused requests never reach the backend")

	b.origin = func(context.Context, nodeapi.OriginRequest) (nodeapi.OriginResponse, error) {
		return nodeapi.OriginResponse{}, fmt.Errorf("no origin in service: %w", nodeapi.ErrUnavailable)
	}
	_, err = c.Origin(t.Context(), nodeapi.OriginRequest{ID: "node-1", Stream: "live/stream1"})
	require.ErrorIs(t, err, nodeapi.ErrUnavailable)
	require.True(t, nodeapi.IsViaTranscoder(nodeapi.ViaTranscoder("rtmp")))
	require.False(t, nodeapi.IsViaTranscoder("rtmp"))
}

// TestParentCall: an edge without a parent asks for one; a malformed request never reaches the backend,
// and a manager with no parent to give answers 503 (ErrUnavailable).
func TestParentCall(t *testing.T) {
	var got nodeapi.ParentRequest
	b := &fakeBackend{parent: func(_ context.Context, r nodeapi.ParentRequest) (nodeapi.ParentResponse, error) {
		got = r
		return nodeapi.ParentResponse{Parent: "http://10.0.0.7:8080"}, nil
	}}
	srv, _ := newServer(t, b)
	c := &nodeapi.Client{BaseURL: srv.URL, Secret: secret}
	resp, err := c.Parent(t.Context(), nodeapi.ParentRequest{ID: "edge-1"})
	require.NoError(t, err)
	require.Equal(t, "http://10.0.0.7:8080", resp.Parent)
	require.Equal(t, nodeapi.ParentRequest{ID: "edge-1"}, got)

	calls := b.Calls()
	for _, id := range []string{"", "../x", ".hidden"} {
		_, err := c.Parent(t.Context(), nodeapi.ParentRequest{ID: id})
		require.ErrorIs(t, err, nodeapi.ErrInvalid, "id %q", id)
	}
	require.Equal(t, calls, b.Calls(), "refused requests never reach the backend")

	b.parent = func(context.Context, nodeapi.ParentRequest) (nodeapi.ParentResponse, error) {
		return nodeapi.ParentResponse{}, fmt.Errorf("no parent in service: %w", nodeapi.ErrUnavailable)
	}
	_, err = c.Parent(t.Context(), nodeapi.ParentRequest{ID: "edge-1"})
	require.ErrorIs(t, err, nodeapi.ErrUnavailable)
	_, err = (&nodeapi.Client{BaseURL: srv.URL, Secret: "wrong"}).Parent(t.Context(), nodeapi.ParentRequest{ID: "edge-1"})
	require.ErrorIs(t, err, nodeapi.ErrUnauthorized)
}
