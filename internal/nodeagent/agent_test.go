package nodeagent_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/nodeagent"
	"github.com/nagare-video/nagare/internal/nodeapi"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

const secret = "cluster-secret-for-agent-tests"

// fakeBackend is the manager's side: its func fields answer, and it records what arrived.
type fakeBackend struct {
	register    func(n int, r nodeapi.RegisterRequest) (nodeapi.RegisterResponse, error) // n counts from 1
	report      func(n int, r nodeapi.ReportRequest) (nodeapi.ReportResponse, error)
	streamEvent func(n int, ev nodeapi.StreamEvent) error

	mu        sync.Mutex
	registers []nodeapi.RegisterRequest
	reports   []report
	events    []nodeapi.StreamEvent
}

type report struct {
	at  time.Time
	req nodeapi.ReportRequest
}

func (f *fakeBackend) Register(_ context.Context, r nodeapi.RegisterRequest) (nodeapi.RegisterResponse, error) {
	f.mu.Lock()
	f.registers = append(f.registers, r)
	n := len(f.registers)
	f.mu.Unlock()
	if f.register != nil {
		return f.register(n, r)
	}
	return nodeapi.RegisterResponse{ID: fmt.Sprintf("node-%d", n), ReportIntervalMS: 20,
		Assignment: nodeapi.Assignment{State: nodemodel.StatePending}}, nil
}

func (f *fakeBackend) Report(_ context.Context, r nodeapi.ReportRequest) (nodeapi.ReportResponse, error) {
	f.mu.Lock()
	f.reports = append(f.reports, report{time.Now(), r})
	n := len(f.reports)
	f.mu.Unlock()
	if f.report != nil {
		return f.report(n, r)
	}
	return nodeapi.ReportResponse{ReportIntervalMS: 20, Assignment: nodeapi.Assignment{State: nodemodel.StateInService}}, nil
}

func (f *fakeBackend) StreamEvent(_ context.Context, ev nodeapi.StreamEvent) error {
	f.mu.Lock()
	n := len(f.events) + 1
	f.mu.Unlock()
	if f.streamEvent != nil {
		if err := f.streamEvent(n, ev); err != nil {
			return err
		}
	}
	f.mu.Lock()
	f.events = append(f.events, ev)
	f.mu.Unlock()
	return nil
}

func (f *fakeBackend) Registers() []nodeapi.RegisterRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]nodeapi.RegisterRequest(nil), f.registers...)
}

func (f *fakeBackend) Reports() []report {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]report(nil), f.reports...)
}

func (f *fakeBackend) Events() []nodeapi.StreamEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]nodeapi.StreamEvent(nil), f.events...)
}

// Ladder answers that no ladder was provisioned: the agent's tests are not about ladders.
func (f *fakeBackend) Ladder(context.Context, nodeapi.LadderRequest) (nodeapi.LadderResponse, error) {
	return nodeapi.LadderResponse{}, nil
}

// Origin answers that no origin is in service: the agent's tests are not about transcoders.
func (f *fakeBackend) Origin(context.Context, nodeapi.OriginRequest) (nodeapi.OriginResponse, error) {
	return nodeapi.OriginResponse{}, nodeapi.ErrUnavailable
}

// Parent answers that no parent is in service: the agent's tests are not about edges.
func (f *fakeBackend) Parent(context.Context, nodeapi.ParentRequest) (nodeapi.ParentResponse, error) {
	return nodeapi.ParentResponse{}, nodeapi.ErrUnavailable
}

var _ nodeapi.Backend = (*fakeBackend)(nil)

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// manager serves the node API for b on 127.0.0.1:0.
func manager(t *testing.T, b nodeapi.Backend) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(nodeapi.NewHandler(secret, b, slog.New(slog.DiscardHandler)))
	t.Cleanup(srv.Close)
	return srv
}

// newAgent returns an agent for the manager at url with short intervals, and its log.
func newAgent(url string) (*nodeagent.Agent, *syncBuffer) {
	logs := &syncBuffer{}
	return &nodeagent.Agent{
		Client: &nodeapi.Client{BaseURL: url, Secret: secret},
		Register: nodeapi.RegisterRequest{Role: nodemodel.RoleEdge, Version: "v1.2.3", Group: "g1",
			Addresses: nodemodel.Addresses{HTTP: "10.1.2.3:8080", RTMP: "10.1.2.3:1935"}},
		Log:         slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		MinInterval: 10 * time.Millisecond,
		MaxInterval: 200 * time.Millisecond,
	}, logs
}

// start runs a until the test ends, and checks that it returns nil soon after cancel.
func start(t *testing.T, a *nodeagent.Agent) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(5 * time.Second):
				t.Fatal("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

const wait, tick = 5 * time.Second, 5 * time.Millisecond

func TestAgentRegistersAndReports(t *testing.T) {
	b := &fakeBackend{}
	srv := manager(t, b)
	a, _ := newAgent(srv.URL)
	var stats atomic.Int64
	a.Stats = func() (nodemodel.Load, []nodemodel.StreamLoad) {
		n := stats.Add(1)
		return nodemodel.Load{Connections: int(n), BytesOut: uint64(n) * 1000},
			[]nodemodel.StreamLoad{{Name: "live/cam1", Protocol: "rtmp", Subscribers: int(n)}}
	}
	require.Empty(t, a.ID())
	stop := start(t, a)

	require.Eventually(t, func() bool { return len(b.Reports()) >= 5 }, wait, tick)
	require.Equal(t, "node-1", a.ID())
	require.Equal(t, nodemodel.StateInService, a.Assignment().State)
	regs := b.Registers()
	require.Len(t, regs, 1)
	require.Equal(t, a.Register, regs[0])
	for i, r := range b.Reports()[:5] {
		require.Equal(t, "node-1", r.req.ID)
		require.Equal(t, i+1, r.req.Stats.Connections, "Stats is read at each report")
		require.Equal(t, uint64(i+1)*1000, r.req.Stats.BytesOut)
		require.Equal(t, []nodemodel.StreamLoad{{Name: "live/cam1", Protocol: "rtmp", Subscribers: i + 1}}, r.req.Streams)
	}
	stop()
	n := len(b.Reports())
	// Run has returned, so nothing of the agent should run: over a few report intervals, no report comes
	require.Never(t, func() bool { return len(b.Reports()) != n }, 60*time.Millisecond, tick, "a report after Run returned")
}

func TestAgentFollowsTheManagersInterval(t *testing.T) {
	b := &fakeBackend{report: func(int, nodeapi.ReportRequest) (nodeapi.ReportResponse, error) {
		return nodeapi.ReportResponse{ReportIntervalMS: 100}, nil
	}}
	srv := manager(t, b)
	a, _ := newAgent(srv.URL)
	start(t, a)
	require.Eventually(t, func() bool { return len(b.Reports()) >= 5 }, wait, tick)
	r := b.Reports()
	// the first report follows registration at once; from its answer on, the interval is 100 ms
	for i := 1; i < 5; i++ {
		require.GreaterOrEqual(t, r[i].at.Sub(r[i-1].at), 90*time.Millisecond, "report %d", i)
	}
}

func TestAgentInterval(t *testing.T) {
	for _, tc := range []struct {
		ms   int
		want time.Duration // between two reports, at least
		max  time.Duration // at most (loose: scheduling)
	}{
		{ms: 1, want: 10 * time.Millisecond, max: 150 * time.Millisecond}, // clamped up to MinInterval
		{ms: 1 << 40, want: 190 * time.Millisecond, max: 2 * time.Second}, // clamped down to MaxInterval
		{ms: -5, want: 190 * time.Millisecond, max: 2 * time.Second},      // default 5 s, clamped
		{ms: 50, want: 45 * time.Millisecond, max: 1 * time.Second},
	} {
		t.Run(fmt.Sprint(tc.ms), func(t *testing.T) {
			b := &fakeBackend{
				register: func(int, nodeapi.RegisterRequest) (nodeapi.RegisterResponse, error) {
					return nodeapi.RegisterResponse{ID: "n1", ReportIntervalMS: tc.ms}, nil
				},
				report: func(int, nodeapi.ReportRequest) (nodeapi.ReportResponse, error) {
					return nodeapi.ReportResponse{ReportIntervalMS: tc.ms}, nil
				},
			}
			srv := manager(t, b)
			a, _ := newAgent(srv.URL)
			start(t, a)
			require.Eventually(t, func() bool { return len(b.Reports()) >= 3 }, wait, tick)
			r := b.Reports()
			for i := 1; i < 3; i++ {
				d := r[i].at.Sub(r[i-1].at)
				require.GreaterOrEqual(t, d, tc.want)
				require.Less(t, d, tc.max)
			}
		})
	}
}

func TestAgentRegistersAgainWhenForgotten(t *testing.T) {
	b := &fakeBackend{}
	b.report = func(n int, r nodeapi.ReportRequest) (nodeapi.ReportResponse, error) {
		if n == 3 {
			return nodeapi.ReportResponse{}, fmt.Errorf("node %s: %w", r.ID, nodeapi.ErrUnknownNode)
		}
		return nodeapi.ReportResponse{ReportIntervalMS: 20, Assignment: nodeapi.Assignment{State: nodemodel.StateInService}}, nil
	}
	srv := manager(t, b)
	a, logs := newAgent(srv.URL)
	start(t, a)

	require.Eventually(t, func() bool { return len(b.Reports()) >= 6 }, wait, tick)
	require.Len(t, b.Registers(), 2)
	require.Equal(t, "node-2", a.ID())
	var ids []string
	for _, r := range b.Reports()[:6] {
		ids = append(ids, r.req.ID)
	}
	require.Equal(t, []string{"node-1", "node-1", "node-1", "node-2", "node-2", "node-2"}, ids)
	require.Contains(t, logs.String(), "registering again")
}

func TestAgentRetriesUntilTheManagerAnswers(t *testing.T) {
	t.Run("503", func(t *testing.T) {
		b := &fakeBackend{}
		var up atomic.Bool
		var refused atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !up.Load() {
				refused.Add(1)
				http.Error(w, `{"error":"starting"}`, http.StatusServiceUnavailable)
				return
			}
			nodeapi.NewHandler(secret, b, nil).ServeHTTP(w, r)
		}))
		t.Cleanup(srv.Close)
		a, logs := newAgent(srv.URL)
		start(t, a)

		require.Eventually(t, func() bool { return refused.Load() >= 4 }, wait, tick)
		require.Empty(t, a.ID())
		up.Store(true)
		require.Eventually(t, func() bool { return len(b.Reports()) >= 2 }, wait, tick)
		require.Equal(t, "node-1", a.ID())
		require.Contains(t, logs.String(), "manager answered 503 Service Unavailable: starting")
		require.Contains(t, logs.String(), "attempt=3")
		require.NotContains(t, logs.String(), secret)
	})

	t.Run("connection refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		require.NoError(t, ln.Close())

		a, logs := newAgent("http://" + addr)
		start(t, a)
		require.Eventually(t, func() bool { return bytes.Count([]byte(logs.String()), []byte("connection refused")) >= 3 }, wait, tick)
		require.Empty(t, a.ID())

		ln, err = net.Listen("tcp", addr)
		if err != nil {
			t.Skipf("port %s taken meanwhile: %v", addr, err)
		}
		b := &fakeBackend{}
		srv := &http.Server{Handler: nodeapi.NewHandler(secret, b, nil)}
		go srv.Serve(ln) //nolint:errcheck // ends with Close
		t.Cleanup(func() { srv.Close() })
		require.Eventually(t, func() bool { return len(b.Reports()) >= 2 }, wait, tick)
		require.Equal(t, "node-1", a.ID())
	})

	t.Run("reports keep going through failures", func(t *testing.T) {
		b := &fakeBackend{report: func(n int, _ nodeapi.ReportRequest) (nodeapi.ReportResponse, error) {
			if n >= 2 && n <= 4 {
				return nodeapi.ReportResponse{}, errors.New("store unavailable")
			}
			return nodeapi.ReportResponse{ReportIntervalMS: 20, Assignment: nodeapi.Assignment{State: nodemodel.StateInService}}, nil
		}}
		srv := manager(t, b)
		a, logs := newAgent(srv.URL)
		start(t, a)
		require.Eventually(t, func() bool { return len(b.Reports()) >= 7 }, wait, tick)
		require.Len(t, b.Registers(), 1, "a 500 is no reason to register again")
		require.Contains(t, logs.String(), "report failed")
	})
}

func TestAgentBacksOffWhenThrottled(t *testing.T) {
	b := &fakeBackend{report: func(n int, _ nodeapi.ReportRequest) (nodeapi.ReportResponse, error) {
		if n == 2 {
			return nodeapi.ReportResponse{}, &nodeapi.ThrottleError{RetryAfter: 5 * time.Second}
		}
		return nodeapi.ReportResponse{ReportIntervalMS: 10}, nil
	}}
	srv := manager(t, b)
	a, _ := newAgent(srv.URL)
	start(t, a)
	require.Eventually(t, func() bool { return len(b.Reports()) >= 4 }, wait, tick)
	r := b.Reports()
	// Retry-After: 5 s, clamped to MaxInterval (200 ms); the others follow the 10 ms interval
	require.GreaterOrEqual(t, r[2].at.Sub(r[1].at), 190*time.Millisecond)
	require.Less(t, r[3].at.Sub(r[2].at), 150*time.Millisecond)
	require.Len(t, b.Registers(), 1)
}

func TestAgentOnAssignment(t *testing.T) {
	deadline := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	b := &fakeBackend{report: func(n int, _ nodeapi.ReportRequest) (nodeapi.ReportResponse, error) {
		as := nodeapi.Assignment{State: nodemodel.StateInService, Parent: "http://10.0.0.1:8080"}
		if n >= 4 {
			as = nodeapi.Assignment{State: nodemodel.StateDraining, Parent: "http://10.0.0.1:8080", Drain: true, DrainDeadline: deadline}
		}
		return nodeapi.ReportResponse{ReportIntervalMS: 10, Assignment: as}, nil
	}}
	srv := manager(t, b)
	a, _ := newAgent(srv.URL)
	var (
		mu  sync.Mutex
		got []nodeapi.Assignment
	)
	a.OnAssignment = func(as nodeapi.Assignment) {
		mu.Lock()
		got = append(got, as)
		mu.Unlock()
	}
	stop := start(t, a)
	require.Eventually(t, func() bool { return len(b.Reports()) >= 8 }, wait, tick)
	stop()

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, got, 3, "once per change: %+v", got)
	require.Equal(t, nodeapi.Assignment{State: nodemodel.StatePending}, got[0]) // from the registration
	require.Equal(t, nodeapi.Assignment{State: nodemodel.StateInService, Parent: "http://10.0.0.1:8080"}, got[1])
	require.True(t, got[2].Drain)
	require.True(t, deadline.Equal(got[2].DrainDeadline))
	require.True(t, got[2].Equal(a.Assignment()))
}

func TestAgentStreamEvents(t *testing.T) {
	b := &fakeBackend{}
	srv := manager(t, b)
	a, _ := newAgent(srv.URL)

	// events before Run wait for the node's id
	a.StreamStarted("live/early", "rtmp")
	start(t, a)
	var want []nodeapi.StreamEvent
	want = append(want, nodeapi.StreamEvent{ID: "node-1", Stream: "live/early", Action: "publish", Protocol: "rtmp"})
	for i := range 100 {
		name := fmt.Sprintf("live/s%d", i)
		if i%2 == 0 {
			a.StreamStarted(name, "srt")
			want = append(want, nodeapi.StreamEvent{ID: "node-1", Stream: name, Action: "publish", Protocol: "srt"})
		} else {
			a.StreamEnded(name, "srt")
			want = append(want, nodeapi.StreamEvent{ID: "node-1", Stream: name, Action: "unpublish", Protocol: "srt"})
		}
	}
	require.Eventually(t, func() bool { return len(b.Events()) >= len(want) }, wait, tick)
	require.Equal(t, want, b.Events())
	require.Zero(t, a.DroppedEvents())
}

func TestAgentStreamEventsSurviveAnOutage(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	b := &fakeBackend{streamEvent: func(int, nodeapi.StreamEvent) error {
		if down.Load() {
			return errors.New("store unavailable")
		}
		return nil
	}}
	srv := manager(t, b)
	a, logs := newAgent(srv.URL)
	start(t, a)
	require.Eventually(t, func() bool { return a.ID() != "" }, wait, tick)
	a.StreamStarted("live/a", "rtmp")
	a.StreamEnded("live/a", "rtmp")
	a.StreamStarted("live/b", "rtmp")
	require.Eventually(t, func() bool {
		return bytes.Count([]byte(logs.String()), []byte("sending a stream event failed")) >= 3
	}, wait, tick)
	down.Store(false)
	require.Eventually(t, func() bool { return len(b.Events()) >= 3 }, wait, tick)
	var got []string
	for _, ev := range b.Events() {
		got = append(got, ev.Action+" "+ev.Stream)
	}
	require.Equal(t, []string{"publish live/a", "unpublish live/a", "publish live/b"}, got)
}

func TestAgentDropsTheOldestEvents(t *testing.T) {
	b := &fakeBackend{}
	srv := manager(t, b)
	a, logs := newAgent(srv.URL)
	a.QueueSize = 4
	// queued before Run: nothing can be sent yet, so the queue overflows
	for i := range 10 {
		a.StreamStarted(fmt.Sprintf("live/s%d", i), "rtmp")
	}
	require.EqualValues(t, 6, a.DroppedEvents())
	require.Contains(t, logs.String(), "dropping the oldest")
	start(t, a)
	require.Eventually(t, func() bool { return len(b.Events()) >= 4 }, wait, tick)
	var got []string
	for _, ev := range b.Events() {
		got = append(got, ev.Stream)
	}
	require.Equal(t, []string{"live/s6", "live/s7", "live/s8", "live/s9"}, got)
}

func TestAgentEventsNeverBlock(t *testing.T) {
	a, _ := newAgent("http://127.0.0.1:1") // nothing runs: the queue only fills
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 10_000 {
			a.StreamStarted(fmt.Sprintf("live/s%d", i), "rtmp")
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("StreamStarted blocked")
	}
	require.EqualValues(t, 10_000-256, a.DroppedEvents())
}

func TestAgentRefusedEventIsDropped(t *testing.T) {
	b := &fakeBackend{}
	srv := manager(t, b)
	a, logs := newAgent(srv.URL)
	start(t, a)
	a.StreamStarted("live/../etc", "rtmp") // the media layer never lets this through; the manager refuses it
	a.StreamStarted("live/ok", "rtmp")
	require.Eventually(t, func() bool { return len(b.Events()) >= 1 }, wait, tick)
	require.Equal(t, "live/ok", b.Events()[0].Stream)
	require.Contains(t, logs.String(), "refused a stream event")
}

func TestAgentRunReturnsOnCancelWhileRetrying(t *testing.T) {
	a, logs := newAgent("http://127.0.0.1:1")
	a.MaxInterval = time.Hour // a long backoff must not delay the exit
	a.MinInterval = time.Minute
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	// the first attempt failed: the agent now waits out a backoff of at least 30 s
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "registering with the stream manager failed") },
		wait, tick)
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestAgentRefusesAConfigThatCannotWork(t *testing.T) {
	a, _ := newAgent("http://127.0.0.1:1")
	a.Register.Role = "manager"
	err := a.Run(t.Context())
	require.ErrorIs(t, err, nodeapi.ErrInvalid)
	require.ErrorContains(t, err, "role")

	err = (&nodeagent.Agent{Register: a.Register}).Run(t.Context())
	require.ErrorContains(t, err, "no Client")
}

// streamsOf returns n streams named for their place, each name as long as the manager accepts.
func streamsOf(n int) []nodemodel.StreamLoad {
	out := make([]nodemodel.StreamLoad, n)
	for i := range out {
		name := fmt.Sprintf("s%05d", i)
		out[i] = nodemodel.StreamLoad{Name: "live/" + name + strings.Repeat("x", nodeapi.MaxNameLen-len(name)),
			Protocol: "rtmp", Subscribers: i, BytesIn: 1 << 40}
	}
	return out
}

// TestAgentBoundsTheReport: a node with many streams sends reports the manager accepts: at most
// MaxStreams listed, never more than the manager reads, the head of the list kept, every stream counted,
// and one warning for it all.
func TestAgentBoundsTheReport(t *testing.T) {
	for _, tc := range []struct {
		name       string
		streams    int
		maxStreams int
		wantListed int // 0: as many as fit in nodeapi.MaxBodyBytes
	}{
		{name: "few", streams: 3, wantListed: 3},
		{name: "more than MaxStreams", streams: 40, maxStreams: 25, wantListed: 25},
		{name: "more than fit in a report", streams: 2500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &fakeBackend{}
			srv := manager(t, b) // the real handler: it refuses a body past nodeapi.MaxBodyBytes
			a, logs := newAgent(srv.URL)
			a.MaxStreams = tc.maxStreams
			all := streamsOf(tc.streams)
			a.Stats = func() (nodemodel.Load, []nodemodel.StreamLoad) {
				return nodemodel.Load{Publishers: tc.streams}, append([]nodemodel.StreamLoad(nil), all...)
			}
			start(t, a)
			require.Eventually(t, func() bool { return len(b.Reports()) >= 3 }, wait, tick)
			for _, r := range b.Reports() {
				require.Equal(t, tc.streams, r.req.Stats.Streams, "every stream is counted")
				if tc.wantListed > 0 {
					require.Len(t, r.req.Streams, tc.wantListed)
				} else {
					require.Less(t, len(r.req.Streams), tc.streams)
					require.Greater(t, len(r.req.Streams), 100, "a report is filled, not emptied")
				}
				require.Equal(t, all[:len(r.req.Streams)], r.req.Streams, "the head of the list is kept")
			}
			require.Len(t, b.Registers(), 1)
			require.NotContains(t, logs.String(), "refused")
			warnings := strings.Count(logs.String(), "the report lists only some")
			if tc.streams == 3 {
				require.Zero(t, warnings)
			} else {
				require.Equal(t, 1, warnings, "warned once, not at every report")
			}
		})
	}
}

// TestAgentShrinksARefusedReport: a manager that reads less than nodeapi.MaxBodyBytes refuses the report
// with 413; the agent logs why and sends it again at once with fewer streams listed, and keeps to that,
// so the node is never silent for long enough to be marked dead.
func TestAgentShrinksARefusedReport(t *testing.T) {
	const limit = 4 << 10
	b := &fakeBackend{}
	h := nodeapi.NewHandler(secret, b, nil)
	var refused atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if len(body) > limit {
			refused.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			fmt.Fprintf(w, `{"error":"request body larger than %d bytes"}`, limit)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	a, logs := newAgent(srv.URL)
	a.Stats = func() (nodemodel.Load, []nodemodel.StreamLoad) { return nodemodel.Load{}, streamsOf(100) }
	start(t, a)

	require.Eventually(t, func() bool { return len(b.Reports()) >= 5 }, wait, tick)
	r := b.Reports()
	first := len(r[0].req.Streams)
	require.Positive(t, first)
	for _, rep := range r {
		require.Equal(t, 100, rep.req.Stats.Streams)
		require.Equal(t, first, len(rep.req.Streams), "once shrunk, the list stays short")
	}
	// 100 streams of about 200 bytes each: all 100 listed, refused; 50, refused; 25, refused; 12, accepted
	require.EqualValues(t, 3, refused.Load(), "refused reports are retried at once, then no more")
	require.Equal(t, 12, first)
	require.Len(t, b.Registers(), 1)
	l := logs.String()
	require.Equal(t, 3, strings.Count(l, "the stream manager refused the report, sending it again with fewer streams listed"))
	require.Contains(t, l, "manager answered 413 Request Entity Too Large: request body larger than 4096 bytes")
}

// TestAgentRefusedReportIsLogged: a report refused although it lists nothing is logged as an error with
// its cause, and sent again at the next interval, not in a tight loop.
func TestAgentRefusedReportIsLogged(t *testing.T) {
	b := &fakeBackend{report: func(int, nodeapi.ReportRequest) (nodeapi.ReportResponse, error) {
		return nodeapi.ReportResponse{}, fmt.Errorf("%w: stats out of range", nodeapi.ErrInvalid)
	}}
	srv := manager(t, b)
	a, logs := newAgent(srv.URL)
	start(t, a)
	require.Eventually(t, func() bool { return len(b.Reports()) >= 3 }, wait, tick)
	r := b.Reports()
	require.GreaterOrEqual(t, r[2].at.Sub(r[1].at), 15*time.Millisecond, "the interval is 20 ms")
	require.Contains(t, logs.String(), "level=ERROR msg=\"the stream manager refused the report\"")
	require.Contains(t, logs.String(), "stats out of range")
}

// TestAgentDrain: after Drain, every report asks the manager to drain the node; before it, none does.
func TestAgentDrain(t *testing.T) {
	b := &fakeBackend{}
	srv := manager(t, b)
	a, _ := newAgent(srv.URL)
	start(t, a)
	require.Eventually(t, func() bool { return len(b.Reports()) >= 2 }, wait, tick)
	a.Drain()
	before := len(b.Reports())
	require.Eventually(t, func() bool { return len(b.Reports()) >= before+3 }, wait, tick)
	reports := b.Reports()
	for _, r := range reports[:2] {
		require.False(t, r.req.Drain, "a report before Drain asked to drain")
	}
	for _, r := range reports[before+1:] { // the report in flight at Drain may have either
		require.True(t, r.req.Drain, "a report after Drain did not ask to drain")
	}
}
