package sim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/cloud"
	"github.com/nagare-video/nagare/internal/cloud/sim"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newSim(opts sim.Options) (*sim.Cloud, *sim.Clock) {
	clk := sim.NewClock(t0)
	opts.Now = clk.Now
	return sim.New(opts), clk
}

func spec(id string) cloud.Spec { return cloud.Spec{NodeID: id, Role: "edge", Group: "g1"} }

func launch(t *testing.T, c *sim.Cloud, id string) cloud.Instance {
	t.Helper()
	in, err := c.Launch(context.Background(), spec(id))
	require.NoError(t, err)
	return in
}

func state(t *testing.T, c *sim.Cloud, id string) (nodemodel.State, string) {
	t.Helper()
	in, ok := c.Get(id)
	require.True(t, ok, "%s is not known", id)
	return in.State, in.Reason
}

// TestLifecycle: scripted steps on a fake clock, the state (and reason) of node n after each.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	type step struct {
		advance time.Duration
		do      string // launch, terminate, kill, or nothing
		state   nodemodel.State
		reason  string
	}
	for _, tc := range []struct {
		name  string
		opts  sim.Options
		steps []step
	}{
		{"no boot time", sim.Options{}, []step{
			{do: "launch", state: nodemodel.StateRunning},
			{advance: time.Hour, state: nodemodel.StateRunning},
		}},
		{"boot time", sim.Options{BootTime: 30 * time.Second}, []step{
			{do: "launch", state: nodemodel.StatePending},
			{advance: 29 * time.Second, state: nodemodel.StatePending},
			{advance: time.Second, state: nodemodel.StateRunning},
		}},
		{"boot failure", sim.Options{BootTime: 10 * time.Second, FailureRate: 1}, []step{
			{do: "launch", state: nodemodel.StatePending},
			{advance: 10 * time.Second, state: nodemodel.StateTerminated, reason: sim.ReasonBootFailure},
		}},
		{"boot failure without boot time", sim.Options{FailureRate: 1}, []step{
			{do: "launch", state: nodemodel.StateTerminated, reason: sim.ReasonBootFailure},
		}},
		{"terminate at once", sim.Options{}, []step{
			{do: "launch", state: nodemodel.StateRunning},
			{do: "terminate", state: nodemodel.StateTerminated, reason: sim.ReasonTerminated},
			{do: "terminate", state: nodemodel.StateTerminated, reason: sim.ReasonTerminated},
		}},
		{"stop time", sim.Options{StopTime: 5 * time.Second}, []step{
			{do: "launch", state: nodemodel.StateRunning},
			{do: "terminate", state: nodemodel.StateTerminating},
			{advance: 4 * time.Second, do: "terminate", state: nodemodel.StateTerminating},
			{advance: time.Second, state: nodemodel.StateTerminated, reason: sim.ReasonTerminated},
		}},
		{"terminate while pending", sim.Options{BootTime: 10 * time.Second}, []step{
			{do: "launch", state: nodemodel.StatePending},
			{do: "terminate", state: nodemodel.StateTerminated, reason: sim.ReasonTerminated},
			{advance: time.Minute, state: nodemodel.StateTerminated, reason: sim.ReasonTerminated},
		}},
		{"terminate while pending, with stop time", sim.Options{BootTime: 10 * time.Second, StopTime: 30 * time.Second}, []step{
			{do: "launch", state: nodemodel.StatePending},
			{do: "terminate", state: nodemodel.StateTerminating},
			{advance: 10 * time.Second, state: nodemodel.StateTerminating},
			{advance: 20 * time.Second, state: nodemodel.StateTerminated, reason: sim.ReasonTerminated},
		}},
		{"kill", sim.Options{}, []step{
			{do: "launch", state: nodemodel.StateRunning},
			{advance: time.Minute, do: "kill", state: nodemodel.StateTerminated, reason: sim.ReasonKilled},
			{do: "kill", state: nodemodel.StateTerminated, reason: sim.ReasonKilled},
			{do: "terminate", state: nodemodel.StateTerminated, reason: sim.ReasonKilled},
		}},
		{"kill while pending", sim.Options{BootTime: 10 * time.Second}, []step{
			{do: "launch", state: nodemodel.StatePending},
			{do: "kill", state: nodemodel.StateTerminated, reason: sim.ReasonKilled},
			{advance: time.Minute, state: nodemodel.StateTerminated, reason: sim.ReasonKilled},
		}},
		{"kill while terminating", sim.Options{StopTime: 10 * time.Second}, []step{
			{do: "launch", state: nodemodel.StateRunning},
			{do: "terminate", state: nodemodel.StateTerminating},
			{do: "kill", state: nodemodel.StateTerminated, reason: sim.ReasonKilled},
			{advance: time.Minute, state: nodemodel.StateTerminated, reason: sim.ReasonKilled},
		}},
		{"relaunch after terminated", sim.Options{BootTime: time.Second}, []step{
			{do: "launch", state: nodemodel.StatePending},
			{do: "kill", state: nodemodel.StateTerminated, reason: sim.ReasonKilled},
			{do: "launch", state: nodemodel.StatePending},
			{advance: time.Second, state: nodemodel.StateRunning},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, clk := newSim(tc.opts)
			ctx := context.Background()
			for i, s := range tc.steps {
				clk.Advance(s.advance)
				switch s.do {
				case "launch":
					in, err := c.Launch(ctx, spec("n"))
					require.NoError(t, err)
					require.Equal(t, s.state, in.State, "step %d: Launch returns the state", i)
					require.Equal(t, clk.Now(), in.LaunchedAt)
				case "terminate":
					require.NoError(t, c.Terminate(ctx, "n"))
				case "kill":
					require.NoError(t, c.Kill("n"))
				}
				st, reason := state(t, c, "n")
				require.Equal(t, s.state, st, "step %d", i)
				require.Equal(t, s.reason, reason, "step %d", i)
				list, err := c.List(ctx)
				require.NoError(t, err)
				require.Len(t, list, 1, "step %d: a node id is listed once", i)
				require.Equal(t, s.state, list[0].State)
			}
		})
	}
}

func TestCounts(t *testing.T) {
	t.Parallel()
	c, clk := newSim(sim.Options{BootTime: time.Second})
	ctx := context.Background()
	for i := range 5 {
		launch(t, c, fmt.Sprint("n", i))
	}
	clk.Advance(time.Second)
	require.NoError(t, c.Terminate(ctx, "n0"))
	require.NoError(t, c.Terminate(ctx, "n0"))
	require.NoError(t, c.Terminate(ctx, "unknown"))
	require.NoError(t, c.Kill("n1"))
	require.NoError(t, c.Kill("n1"))
	require.ErrorIs(t, c.Kill("unknown"), cloud.ErrNotFound)
	require.Equal(t, sim.Counts{Launched: 5, Terminated: 1, Killed: 1}, c.Counts())
}

// TestFailureRate: about the rate fail, and a seed picks the same instances every time.
func TestFailureRate(t *testing.T) {
	t.Parallel()
	failed := func(rate float64, seed uint64) []string {
		c, clk := newSim(sim.Options{BootTime: time.Second, FailureRate: rate, Seed: seed})
		for i := range 1000 {
			launch(t, c, fmt.Sprint("n", i))
		}
		clk.Advance(time.Second)
		var out []string
		for _, in := range c.Instances() {
			switch in.State {
			case nodemodel.StateTerminated:
				require.Equal(t, sim.ReasonBootFailure, in.Reason)
				out = append(out, in.NodeID)
			case nodemodel.StateRunning:
			default:
				t.Fatalf("%s is %s after its boot time", in.NodeID, in.State)
			}
		}
		require.Equal(t, len(out), c.Counts().Failed)
		return out
	}
	for _, tc := range []struct {
		rate     float64
		min, max int
	}{{0, 0, 0}, {0.1, 60, 140}, {0.5, 430, 570}, {1, 1000, 1000}} {
		t.Run(fmt.Sprint(tc.rate), func(t *testing.T) {
			t.Parallel()
			a := failed(tc.rate, 7)
			require.GreaterOrEqual(t, len(a), tc.min)
			require.LessOrEqual(t, len(a), tc.max)
			require.Equal(t, a, failed(tc.rate, 7), "the same seed fails the same instances")
			if tc.rate > 0 && tc.rate < 1 {
				require.NotEqual(t, a, failed(tc.rate, 8), "another seed fails others")
			}
		})
	}
}

func TestLaunchErrors(t *testing.T) {
	t.Parallel()
	c, _ := newSim(sim.Options{BootTime: time.Second})
	ctx := context.Background()
	first := launch(t, c, "n")
	_, err := c.Launch(ctx, spec("n"))
	require.ErrorIs(t, err, cloud.ErrInvalidSpec, "a pending node id")
	_, err = c.Launch(ctx, cloud.Spec{NodeID: "x"})
	require.ErrorIs(t, err, cloud.ErrInvalidSpec, "no role")

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = c.Launch(cancelled, spec("m"))
	require.ErrorIs(t, err, context.Canceled)
	_, err = c.List(cancelled)
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, c.Terminate(cancelled, "n"), context.Canceled)

	require.Equal(t, []cloud.Instance{first}, c.Instances(), "failed launches leave no trace")
	require.Equal(t, 1, c.Counts().Launched)
}

// TestManyInstances: 1000 launches, listed in launch order with distinct ids and addresses, all running
// after the boot time; then most are killed, and only the newest terminated ones stay listed.
func TestManyInstances(t *testing.T) {
	t.Parallel()
	c, clk := newSim(sim.Options{BootTime: time.Minute, KeepTerminated: 100})
	start := time.Now()
	for i := range 1000 {
		in := launch(t, c, fmt.Sprintf("n%04d", i))
		require.Equal(t, nodemodel.StatePending, in.State)
		clk.Advance(time.Millisecond)
	}
	clk.Advance(time.Minute)
	list := c.Instances()
	require.Len(t, list, 1000)
	ids, addrs := map[string]bool{}, map[string]bool{}
	for i, in := range list {
		require.Equal(t, fmt.Sprintf("n%04d", i), in.NodeID)
		require.Equal(t, nodemodel.StateRunning, in.State)
		ids[in.ID], addrs[in.Address] = true, true
	}
	require.Len(t, ids, 1000)
	require.Len(t, addrs, 1000)

	for i := range 900 {
		require.NoError(t, c.Kill(fmt.Sprintf("n%04d", i)))
	}
	list = c.Instances()
	require.Len(t, list, 200, "100 running and the newest 100 terminated")
	require.Equal(t, "n0800", list[0].NodeID)
	require.Equal(t, nodemodel.StateTerminated, list[0].State)
	require.Equal(t, "n0900", list[100].NodeID)
	require.Equal(t, nodemodel.StateRunning, list[100].State)
	_, ok := c.Get("n0000")
	require.False(t, ok, "the oldest terminated are forgotten")
	launch(t, c, "n0000")
	require.Equal(t, "n0000", c.Instances()[200].NodeID, "a relaunch lists last")
	require.Less(t, time.Since(start), 5*time.Second)
}

// TestConcurrent: launches, lists, terminations and kills from many goroutines (run with -race).
func TestConcurrent(t *testing.T) {
	t.Parallel()
	c, clk := newSim(sim.Options{BootTime: time.Second, StopTime: time.Second, FailureRate: 0.1, Seed: 1})
	ctx := context.Background()
	const workers, each = 8, 100
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				id := fmt.Sprintf("w%d-%d", w, i)
				_, err := c.Launch(ctx, spec(id))
				assert.NoError(t, err)
				clk.Advance(10 * time.Millisecond)
				_, err = c.List(ctx)
				assert.NoError(t, err)
				switch i % 3 {
				case 0:
					assert.NoError(t, c.Terminate(ctx, id))
				case 1:
					assert.NoError(t, c.Kill(id))
				}
			}
		})
	}
	wg.Wait()
	clk.Advance(time.Hour)
	n := c.Counts()
	require.Equal(t, workers*each, n.Launched)
	states := map[nodemodel.State]int{}
	for _, in := range c.Instances() {
		states[in.State]++
	}
	require.Equal(t, workers*each, states[nodemodel.StateRunning]+states[nodemodel.StateTerminated])
	require.Equal(t, states[nodemodel.StateTerminated], n.Terminated+n.Killed+n.Failed)
}

func TestSettings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		s     cloud.Settings
		state nodemodel.State // of a launched instance, on the real clock
		err   string
	}{
		{"defaults", cloud.Settings{}, nodemodel.StateRunning, ""},
		{"boot time", cloud.Settings{"bootTime": "1h"}, nodemodel.StatePending, ""},
		{"always fails", cloud.Settings{"failureRate": "1", "seed": "3"}, nodemodel.StateTerminated, ""},
		{"bad bootTime", cloud.Settings{"bootTime": "soon"}, "", "bootTime"},
		{"bad stopTime", cloud.Settings{"stopTime": "-1s"}, "", "stopTime"},
		{"bad failureRate", cloud.Settings{"failureRate": "lots"}, "", "failureRate"},
		{"failureRate above 1", cloud.Settings{"failureRate": "1.5"}, "", "failureRate"},
		{"negative failureRate", cloud.Settings{"failureRate": "-0.1"}, "", "failureRate"},
		{"bad seed", cloud.Settings{"seed": "-1"}, "", "seed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := cloud.New("sim", tc.s, cloud.Options{})
			if tc.err != "" {
				require.ErrorIs(t, err, cloud.ErrSettings)
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, "sim", c.Name())
			in, err := c.Launch(context.Background(), spec("n"))
			require.NoError(t, err)
			require.Equal(t, tc.state, in.State)
		})
	}
}

// TestLogsThroughGivenLogger: the factory hands the manager's logger to the controller, which scopes it.
func TestLogsThroughGivenLogger(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer // written only by this goroutine's calls: sim has no goroutines
	c, err := cloud.New("sim", cloud.Settings{}, cloud.Options{Log: slog.New(slog.NewJSONHandler(&buf, nil)).With("manager", "m1")})
	require.NoError(t, err)
	_, err = c.Launch(context.Background(), spec("n1"))
	require.NoError(t, err)
	require.Empty(t, buf.String(), "launches log at debug, below the handler's level")
	require.NoError(t, c.(*sim.Cloud).Kill("n1"))
	var rec map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &rec), "one JSON line: %s", buf.String())
	require.Equal(t, "instance killed", rec["msg"])
	require.Equal(t, "INFO", rec["level"])
	require.Equal(t, "m1", rec["manager"])
	require.Equal(t, "cloud", rec["component"])
	require.Equal(t, "sim", rec["controller"])
	require.Equal(t, "n1", rec["node"])

	// without a logger, nothing is logged anywhere (and nothing breaks)
	quiet, err := cloud.New("sim", cloud.Settings{}, cloud.Options{})
	require.NoError(t, err)
	_, err = quiet.Launch(context.Background(), spec("n1"))
	require.NoError(t, err)
	require.NoError(t, quiet.(*sim.Cloud).Kill("n1"))
}

func BenchmarkList1000(b *testing.B) {
	c, _ := newSim(sim.Options{})
	for i := range 1000 {
		if _, err := c.Launch(context.Background(), spec(fmt.Sprint("n", i))); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.List(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkChurn: a steady fleet of 1000 where every step replaces one instance, as the autoscaler does.
func BenchmarkChurn(b *testing.B) {
	c, clk := newSim(sim.Options{BootTime: time.Minute, StopTime: 10 * time.Second, FailureRate: 0.01})
	ctx := context.Background()
	for i := range 1000 {
		if _, err := c.Launch(ctx, spec(fmt.Sprint("n", i))); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		clk.Advance(time.Second)
		if err := c.Terminate(ctx, fmt.Sprint("n", i%1000)); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Launch(ctx, spec(fmt.Sprint("m", i))); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
