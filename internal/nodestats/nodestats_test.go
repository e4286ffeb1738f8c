package nodestats

import (
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestTreeCountsChildren: a child's CPU time counts while it runs and after it was waited for, so a
// node's load includes its ffmpeg processes.
func TestTreeCountsChildren(t *testing.T) {
	before, err := Tree()
	require.NoError(t, err)
	self0, _, err := Process(0)
	require.NoError(t, err)
	child := exec.Command("sh", "-c", "end=$(( $(date +%s) + 2 )); while [ $(date +%s) -lt $end ]; do :; done")
	require.NoError(t, child.Start())
	var running float64
	require.Eventually(t, func() bool {
		running, err = Tree()
		require.NoError(t, err)
		return running-before >= 0.3
	}, 5*time.Second, 50*time.Millisecond, "a running child's CPU is not counted")
	require.NoError(t, child.Wait())
	after, err := Tree()
	require.NoError(t, err)
	require.GreaterOrEqual(t, after, running, "the reaped child's CPU moved into this process's, none lost")
	self1, _, err := Process(0)
	require.NoError(t, err)
	require.Greater(t, after-before, self1-self0+0.3, "the child's CPU is more than this process's own")
}

// TestRuntimeIsFinerThanTicks: a few milliseconds of work show in Runtime, which agrees with the
// tick-counted Process (every thread's time) to within its resolution.
func TestRuntimeIsFinerThanTicks(t *testing.T) {
	r0, err := Runtime(0)
	require.NoError(t, err)
	c0, _, err := Process(0)
	require.NoError(t, err)
	spin := func(d time.Duration) {
		for end := time.Now().Add(d); time.Now().Before(end); {
		}
	}
	spin(time.Millisecond)
	r1, err := Runtime(0)
	require.NoError(t, err)
	require.Greater(t, r1-r0, 0.0, "a millisecond of work not seen")
	require.Less(t, r1-r0, 0.01, "a millisecond of work counted as a clock tick or more")

	done := make(chan struct{})
	go func() { spin(300 * time.Millisecond); close(done) }()
	spin(300 * time.Millisecond)
	<-done
	r2, err := Runtime(0)
	require.NoError(t, err)
	c2, _, err := Process(0)
	require.NoError(t, err)
	// Process counts every thread (to the tick): were Runtime to count one thread, they would differ by
	// one goroutine's spin
	require.Greater(t, r2-r1, 0.1)
	require.InDelta(t, c2-c0, r2-r0, 0.03, "Runtime and Process disagree beyond the clock ticks")
}
