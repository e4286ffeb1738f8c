package docker

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/cloud"
	"github.com/nagare-video/nagare/internal/nodemodel"
	"github.com/nagare-video/nagare/internal/testutil"
)

const (
	theSecret = "s3cr3t-cluster-value-0123456789"
	image     = "nagare:test"
)

type fixture struct {
	e    *engine
	c    *Controller
	logs *testutil.LogBuffer
}

// newFixture is a controller on a fake engine that has the test image, made through New with the fake's
// address as the host setting. Its cleanup fails the test if the cluster secret was logged.
func newFixture(t *testing.T, s cloud.Settings) *fixture {
	t.Helper()
	f := &fixture{e: newEngine(t, image), logs: &testutil.LogBuffer{}}
	settings := cloud.Settings{"host": f.e.host()}
	for k, v := range s {
		settings[k] = v
	}
	c, err := New(settings, slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	require.NoError(t, err)
	f.c = c
	t.Cleanup(func() {
		require.NoError(t, c.Close(context.Background()))
		require.NotContains(t, f.logs.String(), theSecret, "the cluster secret was logged")
	})
	return f
}

func testSpec(nodeID string) cloud.Spec {
	return cloud.Spec{
		NodeID: nodeID, Group: "eu-edges", Role: "edge", Region: "eu", Image: image,
		Env: map[string]string{
			cloud.EnvManagerURL:    "http://manager:9000",
			cloud.EnvClusterSecret: theSecret,
			cloud.EnvNodeID:        nodeID,
			cloud.EnvRole:          "edge",
		},
	}
}

func TestLaunch(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	before := time.Now()
	inst, err := f.c.Launch(context.Background(), testSpec("edge-1"))
	require.NoError(t, err)

	calls, creates := f.e.recorded()
	require.Len(t, creates, 1)
	require.Equal(t, "nagare-edge-1", creates[0].name)
	require.Equal(t, []string{"POST /containers/create", "POST /containers/" + inst.ID + "/start"}, calls)
	f.e.mu.Lock()
	require.Equal(t, map[string]bool{"v" + engineVersion: true}, f.e.versions, "the client negotiated the daemon's version")
	f.e.mu.Unlock()
	require.Len(t, inst.ID, 64)
	require.Equal(t, "edge-1", inst.NodeID)
	require.Equal(t, "eu-edges", inst.Group)
	require.Equal(t, nodemodel.RoleEdge, inst.Role)
	require.Equal(t, nodemodel.StateRunning, inst.State)
	require.WithinRange(t, inst.LaunchedAt, before, time.Now())

	req := creates[0].req
	require.Equal(t, image, req.Image)
	require.Equal(t, []string{"node"}, req.Cmd)
	require.Equal(t, []string{
		"NAGARE_CLUSTER_GROUP=eu-edges",
		"NAGARE_CLUSTER_MANAGER_URL=http://manager:9000",
		"NAGARE_CLUSTER_NODE_ID=edge-1",
		"NAGARE_CLUSTER_REGION=eu",
		"NAGARE_CLUSTER_SECRET=" + theSecret,
		"NAGARE_HTTP_ADDRESS=:8080",
		"NAGARE_NODE_ROLE=edge",
		"NAGARE_RTMP_ADDRESS=:1935",
		"NAGARE_SRT_ADDRESS=:8890",
		"NAGARE_WEBRTC_ADDRESS=:8189",
	}, req.Env)
	require.Equal(t, map[string]string{
		"nagare.video/node-id":   "edge-1",
		"nagare.video/group":     "eu-edges",
		"nagare.video/role":      "edge",
		"app.kubernetes.io/name": "nagare",
	}, req.Labels)
	require.Equal(t, 15, *req.StopTimeout)
	ports := []network.Port{
		network.MustParsePort("1935/tcp"), network.MustParsePort("8890/udp"), network.MustParsePort("8080/tcp"),
		network.MustParsePort("8189/udp"), network.MustParsePort("8189/tcp"),
	}
	require.Len(t, req.ExposedPorts, 5)
	require.Len(t, req.HostConfig.PortBindings, 5)
	for _, p := range ports {
		require.Contains(t, req.ExposedPorts, p)
		require.Equal(t, []network.PortBinding{{HostIP: netip.MustParseAddr("127.0.0.1")}}, req.HostConfig.PortBindings[p],
			"%s on a random port of the loopback", p)
	}
	require.Equal(t, container.RestartPolicyDisabled, req.HostConfig.RestartPolicy.Name)
	require.Empty(t, req.HostConfig.NetworkMode)
	require.Nil(t, req.NetworkingConfig)
}

func TestLaunchSettings(t *testing.T) {
	t.Parallel()
	f := newFixture(t, cloud.Settings{
		"network": "nagare-net", "hostIP": "0.0.0.0", "stopTimeout": "2500ms", "labelPrefix": "com.example.",
	})
	spec := testSpec("edge-1")
	spec.Env["NAGARE_HTTP_ADDRESS"] = "0.0.0.0:9090"
	_, err := f.c.Launch(context.Background(), spec)
	require.NoError(t, err)
	_, creates := f.e.recorded()
	req := creates[0].req
	require.Equal(t, "edge-1", req.Labels["com.example.node-id"])
	require.Equal(t, 3, *req.StopTimeout, "rounded up to whole seconds")
	require.Contains(t, req.Env, "NAGARE_HTTP_ADDRESS=0.0.0.0:9090")
	http := network.MustParsePort("9090/tcp")
	require.Contains(t, req.ExposedPorts, http)
	require.Equal(t, []network.PortBinding{{HostIP: netip.MustParseAddr("0.0.0.0")}}, req.HostConfig.PortBindings[http])
	require.Equal(t, container.NetworkMode("nagare-net"), req.HostConfig.NetworkMode)
	require.Contains(t, req.NetworkingConfig.EndpointsConfig, "nagare-net")

	got, err := f.c.List(context.Background())
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, "172.17.0.2", got[0].Address, "the address on the configured network")

	g := newFixture(t, cloud.Settings{"publishPorts": "false"})
	_, err = g.c.Launch(context.Background(), testSpec("edge-1"))
	require.NoError(t, err)
	_, creates = g.e.recorded()
	require.Empty(t, creates[0].req.HostConfig.PortBindings)
	require.Len(t, creates[0].req.ExposedPorts, 5, "RTMP, SRT, HTTP, and WebRTC on UDP and TCP")
}

func TestLaunchInvalidSpec(t *testing.T) {
	t.Parallel()
	for name, mutate := range map[string]func(*cloud.Spec){
		"no image":   func(s *cloud.Spec) { s.Image = "" },
		"no node id": func(s *cloud.Spec) { s.NodeID = "" },
		"no role":    func(s *cloud.Spec) { s.Role = "" },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, nil)
			spec := testSpec("edge-1")
			mutate(&spec)
			_, err := f.c.Launch(context.Background(), spec)
			require.ErrorIs(t, err, cloud.ErrInvalidSpec)
			calls, _ := f.e.recorded()
			require.Empty(t, calls, "the daemon is not asked")
		})
	}
}

func TestLaunchImageNotOnHost(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	spec := testSpec("edge-1")
	spec.Image = "nagare:missing"
	_, err := f.c.Launch(context.Background(), spec)
	require.True(t, cerrdefs.IsNotFound(err), "%v", err)
	require.ErrorContains(t, err, "does not pull")
	require.ErrorContains(t, err, "No such image: nagare:missing")
	require.NotContains(t, err.Error(), theSecret)
	require.Zero(t, f.e.count())
}

func TestLaunchTwice(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	_, err := f.c.Launch(context.Background(), testSpec("edge-1"))
	require.NoError(t, err)
	_, err = f.c.Launch(context.Background(), testSpec("edge-1"))
	require.True(t, cerrdefs.IsConflict(err), "%v", err)
	require.Equal(t, 1, f.e.count())
}

func TestDaemonErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("create", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, nil)
		f.e.setFail(func(_, path string) int {
			if path == "/containers/create" {
				return http.StatusInternalServerError
			}
			return 0
		})
		_, err := f.c.Launch(ctx, testSpec("edge-1"))
		require.True(t, cerrdefs.IsInternal(err), "the daemon's error is wrapped: %v", err)
		require.ErrorContains(t, err, "creating container nagare-edge-1 for node edge-1")
		require.ErrorContains(t, err, "injected failure of POST /containers/create")
		require.NotContains(t, err.Error(), theSecret)
	})
	t.Run("start removes the container", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, nil)
		f.e.setFail(func(_, path string) int {
			if strings.HasSuffix(path, "/start") {
				return http.StatusInternalServerError
			}
			return 0
		})
		_, err := f.c.Launch(ctx, testSpec("edge-1"))
		require.True(t, cerrdefs.IsInternal(err), "%v", err)
		require.ErrorContains(t, err, "starting container nagare-edge-1")
		calls, _ := f.e.recorded()
		require.Len(t, calls, 3)
		require.True(t, strings.HasPrefix(calls[2], "DELETE /containers/"), calls[2])
		require.Equal(t, "1", f.e.query(calls[2]).Get("force"))
		require.Zero(t, f.e.count())
	})
	t.Run("list", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, nil)
		f.e.setFail(func(string, string) int { return http.StatusInternalServerError })
		_, err := f.c.List(ctx)
		require.True(t, cerrdefs.IsInternal(err), "%v", err)
		require.ErrorContains(t, err, "listing containers")
	})
	t.Run("stop", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, nil)
		_, err := f.c.Launch(ctx, testSpec("edge-1"))
		require.NoError(t, err)
		f.e.setFail(func(_, path string) int {
			if strings.HasSuffix(path, "/stop") {
				return http.StatusInternalServerError
			}
			return 0
		})
		err = f.c.Terminate(ctx, "edge-1")
		require.True(t, cerrdefs.IsInternal(err), "%v", err)
		require.ErrorContains(t, err, "stopping container")
		require.Equal(t, 1, f.e.count(), "not removed when it could not be stopped")
	})
	t.Run("unreachable", func(t *testing.T) {
		t.Parallel()
		e := newEngine(t)
		host := e.host()
		e.srv.Close()
		c, err := New(cloud.Settings{"host": host}, slog.New(slog.DiscardHandler))
		require.NoError(t, err)
		defer c.Close(ctx)
		_, err = c.List(ctx)
		require.Error(t, err)
	})
}

func TestListStates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		state      container.ContainerState
		status     string
		wantState  nodemodel.State
		wantReason string
	}{
		{container.StateCreated, "Created", nodemodel.StatePending, ""},
		{container.StateRunning, "Up 5 minutes", nodemodel.StateRunning, ""},
		{container.StateRestarting, "Restarting (1) 2 seconds ago", nodemodel.StateRunning, ""},
		{container.StatePaused, "Up 5 minutes (Paused)", nodemodel.StateRunning, ""},
		{container.StateRemoving, "Removal In Progress", nodemodel.StateTerminating, ""},
		{container.StateExited, "Exited (137) 3 seconds ago", nodemodel.StateTerminated, "Exited (137) 3 seconds ago"},
		{container.StateDead, "Dead", nodemodel.StateTerminated, "Dead"},
		{"frozen", "?", nodemodel.StatePending, ""},
	}
	for _, tt := range tests {
		t.Run(string(tt.state), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, nil)
			created := time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)
			f.e.add(&fakeContainer{
				id: "abc", name: "nagare-edge-9", state: tt.state, status: tt.status, created: created.Unix(),
				network: "bridge", ip: netip.MustParseAddr("172.17.0.9"),
				cfg: container.Config{Image: image, Labels: map[string]string{
					"nagare.video/node-id": "edge-9", "nagare.video/group": "g", "nagare.video/role": "edge",
				}},
			})
			f.e.add(&fakeContainer{id: "def", name: "postgres", state: container.StateRunning,
				cfg: container.Config{Labels: map[string]string{"app.kubernetes.io/name": "nagare"}}})
			got, err := f.c.List(context.Background())
			require.NoError(t, err)
			want := cloud.Instance{
				ID: "abc", NodeID: "edge-9", Group: "g", Role: "edge", State: tt.wantState, Reason: tt.wantReason,
				LaunchedAt: time.Unix(created.Unix(), 0), Image: image, // what the container was made from
			}
			if tt.state == container.StateRunning {
				want.Address = "172.17.0.9" // the fake reports an address on running containers only
			}
			require.Equal(t, []cloud.Instance{want}, got)
			require.Equal(t, "1", f.e.query("GET /containers/json").Get("all"), "exited containers are listed too")
		})
	}
}

func TestTerminate(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	ctx := context.Background()
	one, err := f.c.Launch(ctx, testSpec("edge-1"))
	require.NoError(t, err)
	_, err = f.c.Launch(ctx, testSpec("edge-10"))
	require.NoError(t, err)
	f.e.mu.Lock()
	f.e.calls = nil
	f.e.mu.Unlock()

	require.NoError(t, f.c.Terminate(ctx, "edge-1"))
	calls, _ := f.e.recorded()
	require.Equal(t, []string{
		"GET /containers/json",
		"POST /containers/" + one.ID + "/stop",
		"DELETE /containers/" + one.ID,
	}, calls, "stopped, then removed")
	require.Equal(t, `{"label":{"nagare.video/node-id=edge-1":true}}`, f.e.query(calls[0]).Get("filters"))
	require.Equal(t, "15", f.e.query(calls[1]).Get("t"))
	require.Equal(t, "1", f.e.query(calls[2]).Get("force"))

	got, err := f.c.List(ctx)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, "edge-10", got[0].NodeID)

	require.NoError(t, f.c.Terminate(ctx, "edge-1"), "terminating again")
	require.NoError(t, f.c.Terminate(ctx, "never-launched"))
}

func TestTerminateExitedOrVanishing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("exited", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, nil)
		f.e.add(&fakeContainer{id: "abc", state: container.StateExited, status: "Exited (1) 1 minute ago",
			cfg: container.Config{Labels: map[string]string{"nagare.video/node-id": "edge-1"}}})
		require.NoError(t, f.c.Terminate(ctx, "edge-1"), "stopping an exited container answers 304")
		require.Zero(t, f.e.count())
	})
	t.Run("gone between list and stop", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, nil)
		_, err := f.c.Launch(ctx, testSpec("edge-1"))
		require.NoError(t, err)
		f.e.setFail(func(_, path string) int {
			if path != "/containers/json" {
				return http.StatusNotFound
			}
			return 0
		})
		require.NoError(t, f.c.Terminate(ctx, "edge-1"))
	})
}

func TestContainerName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, want string
		hashed   bool // want is followed by "-" and a hash of the id
	}{
		{id: "edge-1", want: "nagare-edge-1"},
		{id: "Edge_1.a", want: "nagare-Edge_1.a"},
		{id: "edge/1", want: "nagare-edge-1", hashed: true},
		{id: "edge 1", want: "nagare-edge-1", hashed: true},
		{id: "ノード", want: "nagare----", hashed: true},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			got := containerName(tt.id)
			if !tt.hashed {
				require.Equal(t, tt.want, got)
				return
			}
			require.Regexp(t, "^"+regexp.QuoteMeta(tt.want)+"-[0-9a-f]{8}$", got)
		})
	}
	require.NotEqual(t, containerName("edge/1"), containerName("edge 1"))
}

func TestSettings(t *testing.T) {
	t.Parallel()
	for name, s := range map[string]cloud.Settings{
		"unknown key":  {"netwrok": "x"},
		"publishPorts": {"publishPorts": "maybe"},
		"hostIP":       {"hostIP": "localhost"},
		"stopTimeout":  {"stopTimeout": "15"},
		"host":         {"host": "localhost:2375"}, // no scheme
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := New(s, slog.New(slog.DiscardHandler))
			require.ErrorIs(t, err, cloud.ErrSettings)
		})
	}
}

// TestFactory: the registered factory makes a controller that logs through the manager's logger (its
// handler, here JSON, and its attributes), scoped to the controller, and that the manager can close.
func TestFactory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEngine(t, image)
	var logs testutil.LogBuffer
	managerLog := slog.New(slog.NewJSONHandler(&logs, nil)).With("manager", "m1")
	c, err := cloud.New(Name, cloud.Settings{"host": e.host()}, cloud.Options{Log: managerLog})
	require.NoError(t, err)
	closer, ok := c.(cloud.Closer)
	require.True(t, ok, "the docker controller has a client to close")
	defer func() { require.NoError(t, closer.Close(ctx)) }()
	require.Equal(t, Name, c.Name())
	got, err := c.List(ctx)
	require.NoError(t, err)
	require.Empty(t, got)

	_, err = c.Launch(ctx, testSpec("edge-1"))
	require.NoError(t, err)
	var launched map[string]any
	for line := range strings.Lines(logs.String()) {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), "not a JSON log line: %s", line)
		if rec["msg"] == "node launched" {
			launched = rec
		}
	}
	require.NotNil(t, launched, "no launch logged through the given logger: %s", logs.String())
	require.Equal(t, "m1", launched["manager"])
	require.Equal(t, "cloud", launched["component"])
	require.Equal(t, Name, launched["controller"])
	require.Equal(t, "edge-1", launched["node"])
	require.NotContains(t, logs.String(), theSecret)
}

// A life cycle with errors on the way never logs the secret; the fixture's cleanup checks the logs.
func TestSecretNeverLogged(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	ctx := context.Background()
	_, err := f.c.Launch(ctx, testSpec("edge-1"))
	require.NoError(t, err)
	_, err = f.c.Launch(ctx, testSpec("edge-1")) // conflict
	require.Error(t, err)
	require.NotContains(t, err.Error(), theSecret)
	// the start fails, and so does removing the container that did not start: a warning
	f.e.setFail(func(method, path string) int {
		if strings.HasSuffix(path, "/start") || method == http.MethodDelete {
			return http.StatusInternalServerError
		}
		return 0
	})
	_, err = f.c.Launch(ctx, testSpec("edge-2"))
	require.Error(t, err)
	require.NotContains(t, err.Error(), theSecret)
	_, err = f.c.List(ctx)
	require.NoError(t, err)
	require.Contains(t, f.logs.String(), "node launched")
	require.Contains(t, f.logs.String(), "removing a container that did not start")
}

func TestLaunchHostNetwork(t *testing.T) {
	t.Parallel()
	f := newFixture(t, cloud.Settings{"network": "host", "portBase": "21000"})
	ctx := context.Background()
	envOf := func(req container.CreateRequest) map[string]string {
		m := map[string]string{}
		for _, kv := range req.Env {
			k, v, _ := strings.Cut(kv, "=")
			m[k] = v
		}
		return m
	}
	for _, id := range []string{"edge-1", "edge-2"} {
		_, err := f.c.Launch(ctx, testSpec(id))
		require.NoError(t, err)
	}
	_, creates := f.e.recorded()
	require.Len(t, creates, 2)
	for i, c := range creates {
		req := c.req
		require.Equal(t, container.NetworkMode("host"), req.HostConfig.NetworkMode)
		require.Nil(t, req.NetworkingConfig)
		require.Empty(t, req.HostConfig.PortBindings, "nothing to publish in the host's namespace")
		require.Equal(t, strconv.Itoa(i), req.Labels["nagare.video/port-block"])
		env := envOf(req)
		first := 21000 + 10*i
		require.Equal(t, "127.0.0.1:"+strconv.Itoa(first), env["NAGARE_RTMP_ADDRESS"])
		require.Equal(t, "127.0.0.1:"+strconv.Itoa(first+1), env["NAGARE_HTTP_ADDRESS"])
		require.Equal(t, "127.0.0.1:"+strconv.Itoa(first+2), env["NAGARE_SRT_ADDRESS"])
		require.Equal(t, "127.0.0.1:"+strconv.Itoa(first+3), env["NAGARE_WEBRTC_ADDRESS"])
	}
	got, err := f.c.List(ctx)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1", got[0].Address)

	// a terminated node's block is free again; a launch configuration's own address is kept
	require.NoError(t, f.c.Terminate(ctx, "edge-1"))
	spec := testSpec("edge-3")
	spec.Env["NAGARE_HTTP_ADDRESS"] = "127.0.0.1:8443"
	_, err = f.c.Launch(ctx, spec)
	require.NoError(t, err)
	_, creates = f.e.recorded()
	third := creates[2].req
	require.Equal(t, "0", third.Labels["nagare.video/port-block"])
	require.Equal(t, "127.0.0.1:21000", envOf(third)["NAGARE_RTMP_ADDRESS"])
	require.Equal(t, "127.0.0.1:8443", envOf(third)["NAGARE_HTTP_ADDRESS"])

	for _, bad := range []string{"80", "65530", "x"} {
		_, err := New(cloud.Settings{"network": "host", "portBase": bad}, nil)
		require.ErrorIs(t, err, cloud.ErrSettings, bad)
	}
}
