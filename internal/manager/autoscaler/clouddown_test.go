package autoscaler_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/cloud"
	"github.com/nagare-video/nagare/internal/cloud/sim"
	"github.com/nagare-video/nagare/internal/manager/autoscaler"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

// flakyCloud is the simulated cloud behind a switch: while down, every call fails as an unreachable
// Docker Engine or Kubernetes API does.
type flakyCloud struct {
	*sim.Cloud
	down      atomic.Bool
	launches  atomic.Int32
	whileDown atomic.Int32 // calls that reached the cloud while it was down
}

var errUnreachable = errors.New("dial unix /var/run/docker.sock: connect: connection refused")

func (c *flakyCloud) Launch(ctx context.Context, spec cloud.Spec) (cloud.Instance, error) {
	if c.down.Load() {
		c.whileDown.Add(1)
		return cloud.Instance{}, errUnreachable
	}
	c.launches.Add(1)
	return c.Cloud.Launch(ctx, spec)
}

func (c *flakyCloud) Terminate(ctx context.Context, id string) error {
	if c.down.Load() {
		c.whileDown.Add(1)
		return errUnreachable
	}
	return c.Cloud.Terminate(ctx, id)
}

func (c *flakyCloud) List(ctx context.Context) ([]cloud.Instance, error) {
	if c.down.Load() {
		return nil, errUnreachable
	}
	return c.Cloud.List(ctx)
}

// TestCloudDown: a controller that stops answering is reported (one log line, the cloud_up gauge at 0),
// nothing is launched or terminated meanwhile, and when it answers again the loop carries on with the
// nodes it had: none launched twice.
func TestCloudDown(t *testing.T) {
	r := newRig(t, rigOptions{edgeMin: 1, edgeMax: 3, edgeCapacity: 10})
	fc := &flakyCloud{Cloud: r.cloud}
	reg := prometheus.NewRegistry()
	r.loop.Cloud = fc
	r.loop.Metrics = autoscaler.NewMetrics(reg)
	up := func() float64 {
		var m dto.Metric
		require.NoError(t, r.loop.Metrics.CloudUp.WithLabelValues(sim.Name).Write(&m))
		return m.GetGauge().GetValue()
	}

	r.tick()
	r.clock.Advance(time.Second)
	r.tick()
	r.join()
	require.Len(t, r.members(nodemodel.RoleEdge, nodemodel.StateInService), 1)
	require.Len(t, r.members(nodemodel.RoleOrigin, nodemodel.StateInService), 1)
	launched := fc.launches.Load()
	require.EqualValues(t, 2, launched)
	require.Equal(t, 1.0, up())

	fc.down.Store(true)
	for range 5 {
		err := r.loop.Tick(r.ctx)
		require.ErrorIs(t, err, autoscaler.ErrCloudDown)
		require.ErrorContains(t, err, "connection refused")
		r.clock.Advance(r.loop.Interval)
	}
	require.Equal(t, 0.0, up())
	require.Equal(t, 1, strings.Count(r.logs.String(), "cloud controller down"), "once, not once a tick:\n%s", r.logs)
	require.Contains(t, r.logs.String(), "connection refused")
	require.Zero(t, fc.whileDown.Load(), "nothing was asked of the cloud but its list")

	fc.down.Store(false)
	r.tick()
	require.Equal(t, 1.0, up())
	require.Equal(t, 1, strings.Count(r.logs.String(), "cloud controller answers again"))
	r.tick()
	require.Equal(t, launched, fc.launches.Load(), "no node launched twice")
	require.Len(t, r.members(nodemodel.RoleEdge, ""), 1)
	require.Len(t, r.members(nodemodel.RoleOrigin, ""), 1)
}
