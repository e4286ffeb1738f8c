package process

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/cloud"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

// TestForgetsOldestTerminated: past keep terminated instances, the oldest are no longer listed; running
// ones always are.
func TestForgetsOldestTerminated(t *testing.T) {
	t.Parallel()
	c, err := New(cloud.Settings{"binary": "/bin/true", "logDir": t.TempDir()}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	c.keep = 2
	ctx := context.Background()
	listed := func() []string {
		list, err := c.List(ctx)
		require.NoError(t, err)
		var ids []string
		for _, in := range list {
			ids = append(ids, in.NodeID)
		}
		return ids
	}
	for _, id := range []string{"n1", "n2", "n3", "n4"} {
		_, err := c.Launch(ctx, cloud.Spec{NodeID: id, Role: "origin"})
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			c.mu.Lock()
			defer c.mu.Unlock()
			p := c.procs[id]
			return p != nil && p.inst.State == nodemodel.StateTerminated
		}, 5*time.Second, 5*time.Millisecond)
	}
	require.Equal(t, []string{"n3", "n4"}, listed())

	// relaunching a terminated id replaces its record rather than counting it twice
	_, err = c.Launch(ctx, cloud.Spec{NodeID: "n3", Role: "origin"})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.gone) == 2 && c.gone[1].inst.NodeID == "n3"
	}, 5*time.Second, 5*time.Millisecond)
	require.Equal(t, []string{"n3", "n4"}, listed())
}
