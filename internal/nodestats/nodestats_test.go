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
