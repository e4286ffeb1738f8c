package autoscaler

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/manager/store"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

// fakeClock is the only time the tests know; Decide never reads a real clock.
type fakeClock struct{ now time.Time }

func (c *fakeClock) advance(d time.Duration) time.Time {
	c.now = c.now.Add(d)
	return c.now
}

var epoch = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func up(id string, conns int) NodeLoad {
	return NodeLoad{ID: id, State: nodemodel.StateInService, Connections: conns}
}
func pend(id string) NodeLoad { return NodeLoad{ID: id, State: nodemodel.StatePending} }
func draining(id string, conns int) NodeLoad {
	return NodeLoad{ID: id, State: nodemodel.StateDraining, Connections: conns}
}
func old(id string, conns int) NodeLoad {
	n := up(id, conns)
	n.Outdated = true
	return n
}
func gone(id string) NodeLoad { return NodeLoad{ID: id, State: nodemodel.StateTerminated} }
func dead(n NodeLoad) NodeLoad {
	n.Dead = true
	return n
}

// base is an edge role: 10 connections per node, alarm at 60 %, scale-in under 30 %, 30 s warm-up, 5 min cool-down.
func base() Input {
	return Input{
		Role:      nodemodel.RoleEdge,
		Limits:    store.RoleLimits{Role: nodemodel.RoleEdge, MinLimit: 1, MaxLimit: 3, ScaleAdjustment: 1},
		Capacity:  10,
		Threshold: 0.60,
		LowWater:  0.30,
		WarmUp:    30 * time.Second,
		CoolDown:  5 * time.Minute,
	}
}

// step is one tick of a scripted series: the clock moves by after, then Decide sees nodes.
type step struct {
	after   time.Duration
	nodes   []NodeLoad
	launch  int
	drain   []string
	replace []string
	reason  string // exact when set
	check   func(t *testing.T, d Decision)
}

func TestDecide(t *testing.T) {
	tests := []struct {
		name  string
		input func(in *Input)
		steps []step
	}{
		{
			name: "scale-out above threshold",
			steps: []step{{
				nodes:  []NodeLoad{up("e1", 7), up("e2", 7)},
				launch: 1,
				reason: "scale-out edge: load 70 % > 60 %, +1 → 3 nodes",
				check: func(t *testing.T, d Decision) {
					require.InDelta(t, 0.70, d.Load, 1e-9)
					require.Equal(t, epoch, d.State.LastLaunch)
					require.Equal(t, 3, d.State.Expected)
				},
			}},
		},
		{
			name: "an overloaded node counts full: scale-out, and no scale-in",
			steps: []step{{
				nodes:  []NodeLoad{up("e1", 1), {ID: "e2", State: nodemodel.StateInService, Connections: 2, Overloaded: true}},
				launch: 1,
				reason: "scale-out edge: load 55 % > 50 % (1 overloaded node(s) counted full), +1 → 3 nodes",
			}, {
				after: 10 * time.Minute,
				nodes: []NodeLoad{up("e1", 0), up("e2", 0), {ID: "e3", State: nodemodel.StateInService, Overloaded: true}},
				check: func(t *testing.T, d Decision) {
					require.Empty(t, d.Drain, "no scale-in while a node is overloaded")
				},
			}},
			input: func(in *Input) { in.Threshold = 0.50 },
		},
		{
			name: "exactly at threshold does not alarm",
			steps: []step{{
				nodes:  []NodeLoad{up("e1", 6), up("e2", 6)},
				reason: "steady edge: load 60 %, 2 nodes",
			}},
		},
		{
			name: "draining and pending nodes carry no load",
			steps: []step{{
				nodes:  []NodeLoad{up("e1", 7), draining("e2", 0), pend("e3")},
				launch: 1,
				reason: "scale-out edge: load 70 % > 60 %, +1 → 3 nodes",
			}},
		},
		{
			name:  "warm-up ignores alarms until the new node is in service",
			input: func(in *Input) { in.Limits.MaxLimit = 5 },
			steps: []step{
				{nodes: []NodeLoad{up("e1", 7), up("e2", 7)}, launch: 1},
				{
					after:  10 * time.Second,
					nodes:  []NodeLoad{up("e1", 8), up("e2", 8), pend("e3")},
					reason: "scale-out edge ignored during warm-up: load 80 % > 60 %, 2 of 3 nodes in service",
				},
				{
					after:  10 * time.Second,
					nodes:  []NodeLoad{up("e1", 8), up("e2", 8), up("e3", 8)},
					launch: 1,
					reason: "scale-out edge: load 80 % > 60 %, +1 → 4 nodes",
				},
			},
		},
		{
			name:  "warm-up ignores alarms until warm-up time has passed",
			input: func(in *Input) { in.Limits.MaxLimit = 5 },
			steps: []step{
				{nodes: []NodeLoad{up("e1", 7), up("e2", 7)}, launch: 1},
				{after: 29 * time.Second, nodes: []NodeLoad{up("e1", 8), up("e2", 8), pend("e3")}},
				{after: time.Second, nodes: []NodeLoad{up("e1", 8), up("e2", 8), pend("e3")}, launch: 1},
			},
		},
		{
			name:  "max limit caps the adjustment",
			input: func(in *Input) { in.Limits.ScaleAdjustment = 2 },
			steps: []step{{
				nodes:  []NodeLoad{up("e1", 9), up("e2", 9)},
				launch: 1,
				reason: "scale-out edge: load 90 % > 60 %, +1 → 3 nodes",
			}},
		},
		{
			name: "at max the alarm is blocked",
			steps: []step{{
				nodes:  []NodeLoad{up("e1", 9), up("e2", 9), pend("e3")},
				reason: "scale-out edge blocked: load 90 % > 60 %, at max 3 nodes",
			}},
		},
		{
			name:  "group start launches the minimum, then waits for it",
			input: func(in *Input) { in.Limits.MinLimit = 2 },
			steps: []step{
				{nodes: nil, launch: 2, reason: "minimum edge: 0 < 2 nodes, +2 → 2 nodes"},
				{after: time.Second, nodes: []NodeLoad{pend("e1"), pend("e2")}, reason: "steady edge: load 0 %, 2 nodes"},
			},
		},
		{
			name: "minimum shortfall is launched even during warm-up",
			input: func(in *Input) {
				in.Limits.MinLimit, in.Limits.MaxLimit = 3, 4
			},
			steps: []step{
				{nodes: []NodeLoad{up("e1", 7), up("e2", 7), up("e3", 7)}, launch: 1},
				{
					after:  5 * time.Second,
					nodes:  []NodeLoad{up("e1", 7), gone("e2"), gone("e3"), pend("e4")},
					launch: 1,
					reason: "minimum edge: 2 < 3 nodes, +1 → 3 nodes",
				},
			},
		},
		{
			name:  "predictive: a rising trend under the threshold scales out early",
			input: func(in *Input) { in.Predictive = true },
			steps: []step{
				{nodes: []NodeLoad{up("e1", 3), up("e2", 3)}, reason: "steady edge: load 30 %, 2 nodes"},
				{after: 10 * time.Second, nodes: []NodeLoad{up("e1", 4), up("e2", 4)}, reason: "steady edge: load 40 %, 2 nodes"},
				{
					after:  10 * time.Second,
					nodes:  []NodeLoad{up("e1", 5), up("e2", 5)},
					launch: 1,
					reason: "scale-out edge: predicted load 80 % > 60 % in 30s (now 50 %), +1 → 3 nodes",
					check: func(t *testing.T, d Decision) {
						require.InDelta(t, 0.50, d.Load, 1e-9)
						require.InDelta(t, 0.80, d.Projected, 1e-9)
					},
				},
			},
		},
		{
			name: "predictive: the trend is the demand's, not the load per node, so a scale-out does not hide it",
			input: func(in *Input) {
				in.Predictive = true
				in.Limits.MaxLimit = 4
			},
			steps: []step{
				{nodes: []NodeLoad{up("e1", 5), up("e2", 5)}, reason: "steady edge: load 50 %, 2 nodes"},
				// a third edge joined: 40 % a node, but 12 viewers where there were 10
				{after: 10 * time.Second, nodes: []NodeLoad{up("e1", 4), up("e2", 4), up("e3", 4)}},
				{
					after:  10 * time.Second,
					nodes:  []NodeLoad{up("e1", 5), up("e2", 5), up("e3", 4)},
					launch: 1,
					reason: "scale-out edge: predicted load 67 % > 60 % in 30s (now 47 %), +1 → 4 nodes",
				},
			},
		},
		{
			name: "same rising series without predictive mode waits for the threshold",
			steps: []step{
				{nodes: []NodeLoad{up("e1", 3), up("e2", 3)}},
				{after: 10 * time.Second, nodes: []NodeLoad{up("e1", 4), up("e2", 4)}},
				{
					after:  10 * time.Second,
					nodes:  []NodeLoad{up("e1", 5), up("e2", 5)},
					reason: "steady edge: load 50 %, 2 nodes",
					check: func(t *testing.T, d Decision) {
						require.InDelta(t, d.Load, d.Projected, 1e-9)
					},
				},
			},
		},
		{
			name:  "predictive: a flat series does not scale out",
			input: func(in *Input) { in.Predictive = true },
			steps: []step{
				{nodes: []NodeLoad{up("e1", 5), up("e2", 5)}},
				{after: 10 * time.Second, nodes: []NodeLoad{up("e1", 5), up("e2", 5)}},
				{after: 10 * time.Second, nodes: []NodeLoad{up("e1", 5), up("e2", 5)}},
				{
					after:  10 * time.Second,
					nodes:  []NodeLoad{up("e1", 5), up("e2", 5)},
					reason: "steady edge: load 50 %, 2 nodes",
					check: func(t *testing.T, d Decision) {
						require.InDelta(t, 0.50, d.Projected, 1e-9)
					},
				},
			},
		},
		{
			name: "scale-in only after the whole cool-down, least-loaded lowest ID",
			steps: []step{
				{
					nodes:  []NodeLoad{up("e1", 1), up("e2", 2), up("e3", 1)},
					reason: "scale-in edge pending: load with one node fewer 20 % < 30 % for 0s of 5m0s",
					check:  func(t *testing.T, d Decision) { require.Equal(t, epoch, d.State.LowSince) },
				},
				{after: 5*time.Minute - time.Second, nodes: []NodeLoad{up("e3", 1), up("e2", 2), up("e1", 1)}},
				{
					after:  time.Second,
					nodes:  []NodeLoad{up("e3", 1), up("e2", 2), up("e1", 1)},
					drain:  []string{"e1"},
					reason: "scale-in edge: load with one node fewer 20 % < 30 % for 5m0s, drain e1 → 2 nodes",
					check:  func(t *testing.T, d Decision) { require.True(t, d.State.LowSince.IsZero()) },
				},
			},
		},
		{
			name: "a load spike restarts the cool-down",
			steps: []step{
				{nodes: []NodeLoad{up("e1", 1), up("e2", 1), up("e3", 1)}},
				{after: 3 * time.Minute, nodes: []NodeLoad{up("e1", 3), up("e2", 3), up("e3", 3)}}, // 45 % over two
				{after: 3 * time.Minute, nodes: []NodeLoad{up("e1", 1), up("e2", 1), up("e3", 1)}},
				{after: 5*time.Minute - time.Second, nodes: []NodeLoad{up("e1", 1), up("e2", 1), up("e3", 1)}},
				{after: time.Second, nodes: []NodeLoad{up("e1", 1), up("e2", 1), up("e3", 1)}, drain: []string{"e1"}},
			},
		},
		{
			name: "scale-in one node at a time, never below min",
			steps: []step{
				{nodes: []NodeLoad{up("e1", 0), up("e2", 1), up("e3", 1)}},
				{after: 5 * time.Minute, nodes: []NodeLoad{up("e1", 0), up("e2", 1), up("e3", 1)}, drain: []string{"e1"}},
				{
					after:  time.Minute,
					nodes:  []NodeLoad{draining("e1", 0), up("e2", 1), up("e3", 1)},
					reason: "scale-in edge held: 1 node(s) still draining",
				},
				{after: 5*time.Minute - time.Second, nodes: []NodeLoad{gone("e1"), up("e2", 1), up("e3", 1)}},
				{after: time.Second, nodes: []NodeLoad{gone("e1"), up("e2", 1), up("e3", 1)}, drain: []string{"e2"}},
				{after: time.Hour, nodes: []NodeLoad{gone("e1"), gone("e2"), up("e3", 0)}, reason: "steady edge: load 0 %, 1 nodes"},
			},
		},
		{
			name:  "zero cool-down drains the least-loaded node at once",
			input: func(in *Input) { in.CoolDown, in.Capacity = 0, 100 },
			steps: []step{{
				nodes:  []NodeLoad{up("e1", 5), up("e2", 1), up("e3", 3)},
				drain:  []string{"e2"},
				reason: "scale-in edge: load with one node fewer 4 % < 30 % for 0s, drain e2 → 2 nodes",
			}},
		},
		{
			name:  "no scale-in during warm-up",
			input: func(in *Input) { in.CoolDown = 10 * time.Second },
			steps: []step{
				{nodes: []NodeLoad{up("e1", 7), up("e2", 7)}, launch: 1},
				{
					after:  20 * time.Second,
					nodes:  []NodeLoad{up("e1", 0), up("e2", 0), pend("e3")},
					reason: "scale-in edge held during warm-up",
				},
				{after: 11 * time.Second, nodes: []NodeLoad{up("e1", 0), up("e2", 0), pend("e3")}, drain: []string{"e1"}},
			},
		},
		{
			name: "dead node is replaced and its connections do not count",
			steps: []step{{
				nodes:   []NodeLoad{up("e1", 5), dead(up("e2", 10))},
				replace: []string{"e2"},
				reason:  "replace dead edge: e2",
				check: func(t *testing.T, d Decision) {
					require.InDelta(t, 0.50, d.Load, 1e-9)
					require.Equal(t, 2, d.State.Expected)
					require.Equal(t, epoch, d.State.LastLaunch)
				},
			}},
		},
		{
			name:  "replacement covers the minimum",
			input: func(in *Input) { in.Limits.MinLimit = 2 },
			steps: []step{{
				nodes:   []NodeLoad{up("e1", 1), dead(pend("e2"))},
				replace: []string{"e2"},
				reason:  "replace dead edge: e2",
			}},
		},
		{
			name: "dead nodes past max are not replaced",
			steps: []step{{
				nodes:   []NodeLoad{up("e1", 1), up("e2", 1), dead(up("e4", 0)), dead(up("e3", 0))},
				replace: []string{"e3"},
				reason:  "replace dead edge: e3; not replaced, at max 3 nodes: e4",
			}},
		},
		{
			name: "dead node at max is not replaced",
			steps: []step{{
				nodes:  []NodeLoad{up("e1", 2), up("e2", 2), up("e3", 2), dead(up("e4", 0))},
				reason: "dead edge not replaced: e4, at max 3 nodes",
			}},
		},
		{
			name: "a dead draining node is not replaced",
			steps: []step{{
				nodes:  []NodeLoad{up("e1", 4), dead(draining("e2", 0))},
				reason: "steady edge: load 40 %, 1 nodes",
			}},
		},
		{
			name: "rolling upgrade: launch ahead, wait, drain, wait for the drain, go on, done",
			steps: []step{
				{nodes: []NodeLoad{old("e1", 3), old("e2", 2)}, launch: 1,
					reason: "rolling upgrade edge: 2 of 2 node(s) outdated, +1 ahead of draining them",
					check:  func(t *testing.T, d Decision) { require.True(t, d.Upgrade); require.Equal(t, 1, d.State.Surge) }},
				{after: 5 * time.Second, nodes: []NodeLoad{old("e1", 3), old("e2", 2), pend("e3")},
					reason: "rolling upgrade edge: waiting for 1 new node(s) to enter service; 2 outdated"},
				// the new node is in service: the outdated node with fewest viewers drains
				{after: 5 * time.Second, nodes: []NodeLoad{old("e1", 3), old("e2", 2), up("e3", 0)}, drain: []string{"e2"},
					reason: "rolling upgrade edge: new node(s) in service, drain e2; 1 outdated left",
					check:  func(t *testing.T, d Decision) { require.True(t, d.Upgrade); require.Zero(t, d.State.Surge) }},
				{after: 5 * time.Second, nodes: []NodeLoad{old("e1", 3), draining("e2", 1), up("e3", 1)},
					reason: "rolling upgrade edge held: 0 node(s) launching, 1 draining; 1 outdated"},
				{after: 5 * time.Second, nodes: []NodeLoad{old("e1", 3), gone("e2"), up("e3", 2)}, launch: 1},
				{after: 5 * time.Second, nodes: []NodeLoad{old("e1", 3), gone("e2"), up("e3", 2), up("e4", 0)}, drain: []string{"e1"}},
				{after: 5 * time.Second, nodes: []NodeLoad{gone("e1"), gone("e2"), up("e3", 3), up("e4", 2)},
					reason: "steady edge: load 25 %, 2 nodes",
					check:  func(t *testing.T, d Decision) { require.False(t, d.Upgrade) }},
			},
		},
		{
			name:  "rolling upgrade launches maxSurge ahead, within maxLimit",
			input: func(in *Input) { in.MaxSurge = 3; in.Limits.MaxLimit = 4 },
			steps: []step{
				{nodes: []NodeLoad{old("e1", 2), old("e2", 2)}, launch: 2},
				{nodes: []NodeLoad{old("e1", 2), old("e2", 2), up("e3", 0), up("e4", 0)}, drain: []string{"e1", "e2"}},
			},
		},
		{
			name: "rolling upgrade at maxLimit replaces in place",
			steps: []step{{
				nodes: []NodeLoad{up("e1", 2), old("e2", 4), old("e3", 2)}, launch: 1, drain: []string{"e3"},
				reason: "rolling upgrade edge at max 3 nodes: drain e3 and launch its replacement; 1 outdated left",
			}},
		},
		{
			name: "scaling comes first, and scale-in drains outdated nodes first",
			input: func(in *Input) {
				in.CoolDown = 0
			},
			steps: []step{
				{nodes: []NodeLoad{old("e1", 7), up("e2", 7)}, launch: 1,
					check: func(t *testing.T, d Decision) { require.False(t, d.Upgrade); require.Zero(t, d.State.Surge) }},
				{after: time.Minute, nodes: []NodeLoad{up("e2", 0), old("e1", 1), up("e3", 0)}, drain: []string{"e1"},
					check: func(t *testing.T, d Decision) { require.False(t, d.Upgrade) }},
			},
		},
		{
			name: "a pinned outdated node is left alone",
			steps: []step{{
				nodes:  []NodeLoad{func() NodeLoad { n := old("e1", 2); n.Pinned = true; return n }()},
				reason: "steady edge: load 20 %, 1 nodes",
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := &fakeClock{now: epoch}
			var (
				state   State
				history []Sample
			)
			for i, s := range tt.steps {
				in := base()
				if tt.input != nil {
					tt.input(&in)
				}
				in.Now = clock.advance(s.after)
				in.Nodes, in.State, in.History = s.nodes, state, history
				d, err := Decide(in)
				require.NoError(t, err, "step %d", i)
				require.Equal(t, s.launch, d.Launch, "step %d launch: %s", i, d.Reason)
				require.Equal(t, s.drain, d.Drain, "step %d drain: %s", i, d.Reason)
				require.Equal(t, s.replace, d.Replace, "step %d replace: %s", i, d.Reason)
				if s.reason != "" {
					require.Equal(t, s.reason, d.Reason, "step %d reason", i)
				}
				if s.check != nil {
					s.check(t, d)
				}
				state = d.State
				history = append(history, Sample{At: in.Now, Load: d.Demand})
			}
		})
	}
}

func TestDecideRejectsInvalidInput(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(in *Input)
		want   string
	}{
		{"zero capacity", func(in *Input) { in.Capacity = 0 }, "capacity 0 must be > 0"},
		{"negative min", func(in *Input) { in.Limits.MinLimit = -1 }, "minLimit -1 must be >= 0"},
		{"max below min", func(in *Input) { in.Limits.MinLimit, in.Limits.MaxLimit = 3, 2 }, "maxLimit 2 is below minLimit 3"},
		{"negative adjustment", func(in *Input) { in.Limits.ScaleAdjustment = -1 }, "scaleAdjustment -1 must be >= 0"},
		{"zero threshold", func(in *Input) { in.Threshold, in.LowWater = 0, 0 }, "threshold 0 must be > 0"},
		{"low water not below threshold", func(in *Input) { in.LowWater = 0.6 }, "lowWater 0.6 must be in [0, threshold 0.6)"},
		{"negative warm-up", func(in *Input) { in.WarmUp = -time.Second }, "warmUp -1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := base()
			in.Now = epoch
			tt.mutate(&in)
			_, err := Decide(in)
			require.ErrorIs(t, err, ErrInvalidInput)
			require.ErrorContains(t, err, `deciding for role "edge": `+tt.want)
		})
	}
}

func TestDecideZeroAdjustmentMeansOne(t *testing.T) {
	in := base()
	in.Now = epoch
	in.Limits.ScaleAdjustment = 0
	in.Nodes = []NodeLoad{up("e1", 9)}
	d, err := Decide(in)
	require.NoError(t, err)
	require.Equal(t, 1, d.Launch)
}

func TestProject(t *testing.T) {
	at := func(s int) time.Time { return epoch.Add(time.Duration(s) * time.Second) }
	tests := []struct {
		name    string
		current float64
		history []Sample
		horizon time.Duration
		want    float64
	}{
		{"no history", 0.4, nil, time.Minute, 0.4},
		{"one sample", 0.4, []Sample{{at(0), 0.1}}, time.Minute, 0.4},
		{"samples at one instant", 0.4, []Sample{{at(0), 0.1}, {at(0), 0.9}}, time.Minute, 0.4},
		{"noisy rise fits slope 0.01/s", 0.5, []Sample{{at(0), 0.30}, {at(10), 0.42}, {at(20), 0.48}, {at(30), 0.60}}, 10 * time.Second, 0.5 + 0.0096*10},
		{"falling never below zero", 0.1, []Sample{{at(0), 0.9}, {at(20), 0.5}}, time.Minute, 0},
		{"a jump over a few seconds is no trend for a minute", 0.1, []Sample{{at(0), 0}, {at(1), 0.1}}, time.Minute, 0.1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.InDelta(t, tt.want, project(tt.current, tt.history, tt.horizon), 1e-9)
		})
	}
}
