package autoscaler_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/cloud"
	"github.com/nagare-video/nagare/internal/cloud/sim"
	"github.com/nagare-video/nagare/internal/manager/store"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

// gatedCloud is the simulated cloud with a hook in front of Launch, to hold launches as a slow cloud does.
type gatedCloud struct {
	*sim.Cloud
	beforeLaunch func(ctx context.Context, spec cloud.Spec) error
}

func (c *gatedCloud) Launch(ctx context.Context, spec cloud.Spec) (cloud.Instance, error) {
	if err := c.beforeLaunch(ctx, spec); err != nil {
		return cloud.Instance{}, err
	}
	return c.Cloud.Launch(ctx, spec)
}

// gate holds every launch for group in the cloud until release is closed; each held launch is sent on
// entered first.
func (r *rig) gate(group string) (entered chan cloud.Spec, release chan struct{}) {
	entered, release = make(chan cloud.Spec, 16), make(chan struct{})
	r.loop.Cloud = &gatedCloud{Cloud: r.cloud, beforeLaunch: func(ctx context.Context, spec cloud.Spec) error {
		if spec.Group != group {
			return nil
		}
		entered <- spec
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}}
	return entered, release
}

// within is the generous bound for a call that must not wait for a held launch: it returns at once when
// it does not wait, and never otherwise.
const within = 10 * time.Second

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(within):
		require.FailNow(t, "still waiting for "+what+": it waits behind a launch held in the cloud")
		panic("unreachable")
	}
}

type launched struct {
	n   store.Node
	err error
}

// goTick ticks in the background; the returned channel gets the tick's error.
func (r *rig) goTick() <-chan error {
	done := make(chan error, 1)
	go func() { done <- r.loop.Tick(r.ctx) }()
	return done
}

func (r *rig) goLaunch(group string, role nodemodel.Role) <-chan launched {
	done := make(chan launched, 1)
	go func() {
		n, err := r.loop.Launch(r.ctx, group, role)
		done <- launched{n, err}
	}()
	return done
}

// TestSlowCloudLaunchHoldsNoLock: while a tick's Cloud.Launch hangs, the API's Launch and DeleteGroup and
// another tick go on, and none of them launches the held node a second time.
func TestSlowCloudLaunchHoldsNoLock(t *testing.T) {
	r := newRig(t, rigOptions{edgeMin: 1, edgeMax: 3, edgeCapacity: 10})
	for _, name := range []string{"h", "k"} {
		_, err := r.st.CreateGroup(r.ctx, store.NodeGroup{Name: name, Regions: []string{"local"}, LaunchConfig: "lc", ScalePolicy: "p"})
		require.NoError(t, err)
	}
	entered, release := r.gate("g")
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release) // a failed test must not leave the tick hanging
		}
	})

	ticked := r.goTick()
	held := recv(t, entered, "the tick's first launch") // g's origin minimum, held in the cloud
	require.Equal(t, nodemodel.Role("origin"), held.Role)

	// the API launches in another group at once
	res := recv(t, r.goLaunch("h", "edge"), "Launch in another group")
	require.NoError(t, res.err)
	require.Equal(t, "h", res.n.Group)
	require.Equal(t, nodemodel.StateRunning, res.n.State)

	// in the same group the held launch answers: origin is at its max of 1 with it
	res = recv(t, r.goLaunch("g", "origin"), "Launch in the group whose launch is held")
	require.NoError(t, res.err)
	require.Equal(t, held.NodeID, res.n.ID, "the launch on its way answers the call")
	require.Equal(t, nodemodel.StatePending, res.n.State)

	// a group is deleted at once
	type deleted struct {
		ids []string
		err error
	}
	del := make(chan deleted, 1)
	go func() {
		ids, err := r.loop.DeleteGroup(r.ctx, "k")
		del <- deleted{ids, err}
	}()
	d := recv(t, del, "DeleteGroup")
	require.NoError(t, d.err)
	require.Empty(t, d.ids)

	// a second tick neither waits nor launches g's reserved nodes again
	require.NoError(t, recv(t, r.goTick(), "a second tick"))
	require.Len(t, r.members("origin", ""), 1)
	require.Len(t, r.members("edge", ""), 1)

	close(release)
	require.NoError(t, recv(t, ticked, "the held tick, once the cloud answered"))
	require.Len(t, r.members("origin", ""), 1)
	require.Len(t, r.members("edge", ""), 1)
	n, ok := r.reg.Node(held.NodeID)
	require.True(t, ok)
	require.Equal(t, nodemodel.StateRunning, n.State, "the held launch completed")
	// g: origin and edge once each; h: the API's edge, then the second tick's origin minimum
	require.Equal(t, 4, r.cloud.Counts().Launched)
	launchedIn := map[string]int{}
	for _, in := range r.cloud.Instances() {
		launchedIn[in.Group+"/"+string(in.Role)]++
	}
	require.Equal(t, map[string]int{"g/origin": 1, "g/edge": 1, "h/origin": 1, "h/edge": 1}, launchedIn)
}

// TestGroupDeletedDuringLaunch: a node whose group is deleted while the cloud launches it has its
// instance stopped once the cloud has answered, rather than left running unseen.
func TestGroupDeletedDuringLaunch(t *testing.T) {
	r := newRig(t, rigOptions{edgeMin: 1, edgeMax: 2, edgeCapacity: 10})
	entered, release := r.gate("g")
	ticked := r.goTick()
	held := recv(t, entered, "the tick's first launch")

	type deleted struct {
		ids []string
		err error
	}
	del := make(chan deleted, 1)
	go func() {
		ids, err := r.loop.DeleteGroup(r.ctx, "g")
		del <- deleted{ids, err}
	}()
	d := recv(t, del, "DeleteGroup")
	require.NoError(t, d.err)
	require.Len(t, d.ids, 2, "both reserved nodes, the held one and the one after it")
	require.Contains(t, d.ids, held.NodeID)
	inst, known := r.cloud.Get(held.NodeID)
	require.False(t, known, "not launched yet: %+v", inst)

	close(release)
	require.NoError(t, recv(t, ticked, "the held tick"))
	for _, id := range d.ids {
		r.waitState(id, nodemodel.StateTerminated)
		inst, known := r.cloud.Get(id)
		require.True(t, known)
		require.Equal(t, nodemodel.StateTerminated, inst.State, "node %s's instance was launched, then stopped", id)
	}
	c := r.cloud.Counts()
	require.Equal(t, 2, c.Launched)
	require.Equal(t, 2, c.Terminated)
	r.tick()
	_, err := r.st.GetGroup(r.ctx, "g")
	require.ErrorIs(t, err, store.ErrNotFound, "the group goes with its last node")
}

// TestFailedLaunchIsRetried: a launch that fails in the cloud is recorded, its node given up, and the
// launch made again at the next tick, once.
func TestFailedLaunchIsRetried(t *testing.T) {
	r := newRig(t, rigOptions{edgeMin: 1, edgeMax: 2, edgeCapacity: 10})
	fail := true
	r.loop.Cloud = &gatedCloud{Cloud: r.cloud, beforeLaunch: func(_ context.Context, spec cloud.Spec) error {
		if fail && spec.Role == "edge" {
			return context.DeadlineExceeded
		}
		return nil
	}}
	r.tick()
	require.Empty(t, r.members("edge", ""))
	require.Equal(t, "launch-failed", r.events()[len(r.events())-2].Action)
	fail = false
	r.tick()
	require.Len(t, r.members("edge", ""), 1)
	r.tick()
	require.Len(t, r.members("edge", ""), 1)
	require.Equal(t, 2, r.cloud.Counts().Launched)
}
