package procs

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNext(t *testing.T) {
	g := &Governor{}
	g.defaults()
	t0 := time.Unix(1000, 0)
	low := func(d time.Duration) state { return state{lowSince: t0.Add(-d)} }
	tests := []struct {
		name  string
		from  state
		cores float64
		want  state
	}{
		{"one P, busy: every P", state{one: true}, 0.8, state{}},
		{"one P, at the threshold: every P", state{one: true}, 0.5, state{}},
		{"one P, light: stays", state{one: true}, 0.1, state{one: true, lowSince: t0}},
		{"one P, between the thresholds: stays", state{one: true}, 0.3, state{one: true}},
		{"every P, light for the first time: the hold starts", state{}, 0.1, low(0)},
		{"every P, light for less than the hold: stays", low(9 * time.Second), 0.1, low(9 * time.Second)},
		{"every P, light for the hold: one P", low(10 * time.Second), 0.1, state{one: true, lowSince: t0.Add(-10 * time.Second)}},
		{"every P, between the thresholds: the hold restarts", low(9 * time.Second), 0.3, state{}},
		{"every P, busy: the hold restarts", low(9 * time.Second), 2, state{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, g.next(tt.from, tt.cores, t0))
		})
	}
}

func TestInterval(t *testing.T) {
	g := &Governor{}
	g.defaults()
	tests := []struct {
		cores float64
		want  time.Duration
	}{
		{0, time.Second},
		{0.05, time.Second},           // a node ingesting a few streams: quiet
		{0.1, 250 * time.Millisecond}, // at Quiet: watched closely
		{0.3, 250 * time.Millisecond},
		{2, 250 * time.Millisecond},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, g.interval(tt.cores), "after %.2f cores", tt.cores)
	}
}

// TestRun drives the governor with a CPU clock that the test advances: it starts on one P, takes every
// P when an interval is busy, goes back to one after a light hold, and leaves every P when it stops.
func TestRun(t *testing.T) {
	var mu sync.Mutex
	var cpu time.Duration
	var sets []int
	perTick := make(chan time.Duration, 1) // the CPU time the next interval uses
	g := &Governor{Every: 20 * time.Millisecond, QuietEvery: 40 * time.Millisecond, Hold: 100 * time.Millisecond,
		cpuTime: func() (time.Duration, error) {
			mu.Lock()
			defer mu.Unlock()
			select {
			case d := <-perTick:
				cpu += d
			default:
			}
			return cpu, nil
		},
		setProcs: func(n int) { mu.Lock(); sets = append(sets, n); mu.Unlock() },
	}
	procs := func() []int { mu.Lock(); defer mu.Unlock(); return append([]int(nil), sets...) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- g.Run(ctx) }()

	require.Eventually(t, func() bool { return len(procs()) == 1 }, time.Second, time.Millisecond)
	assert.Equal(t, []int{1}, procs(), "a governor starts on one P")
	perTick <- time.Second // far more than an interval's worth of one core
	require.Eventually(t, func() bool { return len(procs()) == 2 }, time.Second, time.Millisecond)
	assert.Equal(t, []int{1, 0}, procs(), "a busy interval gives every P")
	// idle from now on: one P again after the hold
	require.Eventually(t, func() bool { return len(procs()) == 3 }, 2*time.Second, time.Millisecond)
	assert.Equal(t, []int{1, 0, 1}, procs(), "a light hold gives one P")

	cancel()
	require.NoError(t, <-done)
	assert.Equal(t, []int{1, 0, 1, 0}, procs(), "a stopped governor leaves every P")
}
