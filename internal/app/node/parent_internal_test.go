package node

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/nodeapi"
)

// fakeManager answers an edge's parent calls: each call blocks until release (if set), then answers.
type fakeManager struct {
	calls   atomic.Int64
	release chan struct{}
	mu      sync.Mutex
	url     string
	err     error
}

func (m *fakeManager) ask(ctx context.Context) (string, error) {
	m.calls.Add(1)
	if m.release != nil {
		select {
		case <-m.release:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.url, m.err
}

func (m *fakeManager) answer(url string, err error) {
	m.mu.Lock()
	m.url, m.err = url, err
	m.mu.Unlock()
}

// TestParentAskerOneCallForAFlood: the requests that need a parent at once share one manager call,
// and all get its answer.
func TestParentAskerOneCallForAFlood(t *testing.T) {
	m := &fakeManager{release: make(chan struct{}), url: "http://10.0.0.1:8080"}
	var set atomic.Value
	set.Store("")
	a := &parentAsker{ask: m.ask, set: func(u string) { set.Store(u) }, log: slog.New(slog.DiscardHandler)}
	parentFor := func() string { // as Node.parentFor: the parent once set, else ask
		if u := set.Load().(string); u != "" {
			return u
		}
		return a.get(t.Context())
	}
	const requests = 500
	got := make(chan string, requests)
	var wg sync.WaitGroup
	for range requests {
		wg.Go(func() { got <- parentFor() })
	}
	require.Eventually(t, func() bool { return m.calls.Load() == 1 }, 5*time.Second, time.Millisecond)
	time.Sleep(50 * time.Millisecond) // most others join the call in flight; the rest find the parent set
	close(m.release)
	wg.Wait()
	close(got)
	for u := range got {
		require.Equal(t, "http://10.0.0.1:8080", u)
	}
	require.EqualValues(t, 1, m.calls.Load(), "%d requests at once: one call to the manager", requests)
	require.Equal(t, "http://10.0.0.1:8080", set.Load())
}

// TestParentAskerRemembersFailures: a failed call is not made again for askParentRetry, whatever comes;
// a request that goes away while it asks is no failure.
func TestParentAskerRemembersFailures(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		url  string
	}{
		{"no parent in service", fmt.Errorf("no parent: %w", nodeapi.ErrUnavailable), ""},
		{"the manager fails", fmt.Errorf("POST /nodeapi/v1/parent: %w", context.DeadlineExceeded), ""},
		{"the manager names none", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &fakeManager{}
			m.answer(tc.url, tc.err)
			now := time.Unix(1000, 0)
			sets := 0
			a := &parentAsker{ask: m.ask, set: func(string) { sets++ }, log: slog.New(slog.DiscardHandler),
				now: func() time.Time { return now }}
			for range 1000 {
				require.Empty(t, a.get(t.Context()))
			}
			require.EqualValues(t, 1, m.calls.Load(), "a flood within askParentRetry of a failure: one call")

			now = now.Add(askParentRetry)
			m.answer("http://10.0.0.1:8080", nil)
			require.Equal(t, "http://10.0.0.1:8080", a.get(t.Context()))
			require.EqualValues(t, 2, m.calls.Load())
			require.Equal(t, 1, sets)
		})
	}

	t.Run("the asking request goes away", func(t *testing.T) {
		m := &fakeManager{release: make(chan struct{}), url: "http://10.0.0.1:8080"}
		a := &parentAsker{ask: m.ask, set: func(string) {}, log: slog.New(slog.DiscardHandler)}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		require.Empty(t, a.get(ctx))
		close(m.release)
		require.Equal(t, "http://10.0.0.1:8080", a.get(t.Context()), "asked again at once")
		require.EqualValues(t, 2, m.calls.Load())
	})
}
