package process_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/cloud"
	"github.com/nagare-video/nagare/internal/cloud/process"
	"github.com/nagare-video/nagare/internal/nodemodel"
	"github.com/nagare-video/nagare/internal/testutil"
)

// nagareBin is the real nagare binary, built once (not under -short).
var nagareBin string

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if !testing.Short() {
		dir, err := os.MkdirTemp("", "nagare-process-test-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		nagareBin = filepath.Join(dir, "nagare")
		out, err := exec.Command("go", "build", "-o", nagareBin, "github.com/nagare-video/nagare/cmd/nagare").CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "building nagare: %v\n%s", err, out)
			return 1
		}
	}
	return m.Run()
}

// logBuffer collects the controller's log lines; its goroutines write while the test reads.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newController makes a controller logging to the returned buffer; the test's nodes are stopped after it.
func newController(t *testing.T, s cloud.Settings) (*process.Controller, *logBuffer) {
	t.Helper()
	if s["logDir"] == "" {
		s["logDir"] = t.TempDir()
	}
	logs := &logBuffer{}
	c, err := process.New(s, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		require.NoError(t, c.Close(ctx))
	})
	return c, logs
}

// script writes an executable shell script and returns its path.
func script(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "node.sh")
	require.NoError(t, os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755))
	return path
}

// waitLog waits for the node's log file to match re and returns the submatches.
func waitLog(t *testing.T, c *process.Controller, nodeID string, re *regexp.Regexp) []string {
	t.Helper()
	var m []string
	require.Eventually(t, func() bool {
		b, _ := os.ReadFile(c.LogFile(nodeID))
		m = re.FindStringSubmatch(string(b))
		return m != nil
	}, 10*time.Second, 20*time.Millisecond, "log of %s never matched %s", nodeID, re)
	return m
}

// instance returns the listed instance of nodeID.
func instance(t *testing.T, c *process.Controller, nodeID string) (cloud.Instance, bool) {
	t.Helper()
	list, err := c.List(context.Background())
	require.NoError(t, err)
	for _, in := range list {
		if in.NodeID == nodeID {
			return in, true
		}
	}
	return cloud.Instance{}, false
}

// waitTerminated waits for the node to be reaped and returns its instance.
func waitTerminated(t *testing.T, c *process.Controller, nodeID string) cloud.Instance {
	t.Helper()
	var in cloud.Instance
	require.Eventually(t, func() bool {
		in, _ = instance(t, c, nodeID)
		return in.State == nodemodel.StateTerminated
	}, 10*time.Second, 10*time.Millisecond, "node %s never terminated", nodeID)
	return in
}

func spec(nodeID string, env map[string]string) cloud.Spec {
	return cloud.Spec{NodeID: nodeID, Role: "origin", Group: "g1", Env: env}
}

// syscallKill0 checks that the process exists.
func syscallKill0(pid int) error { return syscall.Kill(pid, 0) }

var ready = regexp.MustCompile(`(?m)^ready$`)

// TestNagareNode runs a real origin: it binds loopback ports, answers /healthz, and stops cleanly on
// Terminate.
func TestNagareNode(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real nagare binary")
	}
	t.Parallel()
	c, _ := newController(t, cloud.Settings{"binary": nagareBin, "stopTimeout": "10s"})
	ctx := context.Background()
	env := map[string]string{cloud.EnvRole: "origin", "NAGARE_PUBLISH_ALLOW_UNAUTHENTICATED": "true"}

	before := time.Now()
	in, err := c.Launch(ctx, spec("origin-1", env))
	require.NoError(t, err)
	require.Equal(t, nodemodel.StateRunning, in.State)
	require.Equal(t, "127.0.0.1", in.Address)
	require.Equal(t, "origin-1", in.NodeID)
	require.Equal(t, "g1", in.Group)
	require.Equal(t, nodemodel.RoleOrigin, in.Role)
	require.WithinRange(t, in.LaunchedAt, before, time.Now())
	pid, err := strconv.Atoi(in.ID)
	require.NoError(t, err, "the instance id is the pid")
	require.NoError(t, syscallKill0(pid), "process %d does not exist", pid)

	m := waitLog(t, c, "origin-1", regexp.MustCompile(`msg="node running" role=origin .*rtmp=(127\.0\.0\.1:\d+) srt=(127\.0\.0\.1:\d+) http=(127\.0\.0\.1:\d+)`))
	for _, addr := range m[1:] {
		require.NotEqual(t, "127.0.0.1:0", addr, "the node logs the port it bound, not the one asked for")
	}
	resp, err := http.Get("http://" + m[3] + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	_, err = c.Launch(ctx, spec("origin-1", env))
	require.ErrorIs(t, err, cloud.ErrInvalidSpec, "a node id that runs cannot be launched again")

	start := time.Now()
	require.NoError(t, c.Terminate(ctx, "origin-1"))
	require.Less(t, time.Since(start), 10*time.Second)
	got, ok := instance(t, c, "origin-1")
	require.True(t, ok)
	require.Equal(t, nodemodel.StateTerminated, got.State)
	require.Equal(t, "exit status 0", got.Reason, "SIGTERM stops a node gracefully")
	waitLog(t, c, "origin-1", regexp.MustCompile(`msg="node stopped"`))
	require.NoError(t, c.Terminate(ctx, "origin-1"), "terminating a gone node is not an error")
}

// TestExit: how a child ends is what List reports.
func TestExit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		binary      string // a script body when it does not start with /
		terminate   bool
		stopTimeout time.Duration
		wantReason  string
		minTook     time.Duration // a Terminate at least this long (the stop timeout honoured)
		maxTook     time.Duration
	}{
		{name: "exits at once", binary: "/bin/false", wantReason: "exit status 1"},
		{name: "exits by itself", binary: "echo ready; exit 3", wantReason: "exit status 3"},
		{
			name: "stops on SIGTERM", binary: "trap 'echo bye; exit 0' TERM; echo ready; while :; do sleep 0.05; done",
			terminate: true, stopTimeout: 5 * time.Second, wantReason: "exit status 0", maxTook: 3 * time.Second,
		},
		{
			name: "SIGTERM default action", binary: "echo ready; exec sleep 30",
			terminate: true, stopTimeout: 5 * time.Second, wantReason: "signal: terminated", maxTook: 3 * time.Second,
		},
		{
			name: "ignores SIGTERM", binary: "trap '' TERM; echo ready; while :; do sleep 1; done",
			terminate: true, stopTimeout: 300 * time.Millisecond, wantReason: "signal: killed",
			minTook: 300 * time.Millisecond, maxTook: 5 * time.Second,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			bin := tc.binary
			if !strings.HasPrefix(bin, "/") {
				bin = script(t, bin)
			}
			c, _ := newController(t, cloud.Settings{"binary": bin, "stopTimeout": tc.stopTimeout.String()})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := c.Launch(ctx, spec("n1", nil))
			require.NoError(t, err)
			if tc.terminate {
				waitLog(t, c, "n1", ready) // the trap is set
				in, _ := instance(t, c, "n1")
				require.Equal(t, nodemodel.StateRunning, in.State)
				start := time.Now()
				require.NoError(t, c.Terminate(ctx, "n1"))
				took := time.Since(start)
				require.GreaterOrEqual(t, took, tc.minTook)
				require.Less(t, took, tc.maxTook)
			}
			in := waitTerminated(t, c, "n1")
			require.Equal(t, tc.wantReason, in.Reason)
		})
	}
}

// TestTerminateHonoursContext: Terminate returns when ctx ends, the node stays terminating, and the
// SIGKILL escalation still happens.
func TestTerminateHonoursContext(t *testing.T) {
	t.Parallel()
	c, _ := newController(t, cloud.Settings{
		"binary": script(t, "trap '' TERM; echo ready; while :; do sleep 1; done"), "stopTimeout": "600ms",
	})
	_, err := c.Launch(context.Background(), spec("stubborn", nil))
	require.NoError(t, err)
	waitLog(t, c, "stubborn", ready)

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = c.Terminate(ctx, "stubborn")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 500*time.Millisecond)
	in, _ := instance(t, c, "stubborn")
	require.Equal(t, nodemodel.StateTerminating, in.State)

	cancelled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	require.ErrorIs(t, c.Terminate(cancelled, "stubborn"), context.Canceled)

	require.Equal(t, "signal: killed", waitTerminated(t, c, "stubborn").Reason)
}

// TestEnvironment: the child gets `node`, our environment, the loopback defaults, the spec's fields and
// Env (which wins), in workDir, with stdout and stderr in its log file.
func TestEnvironment(t *testing.T) {
	t.Parallel()
	require.NotEmpty(t, os.Getenv("PATH"))
	workDir := t.TempDir()
	c, _ := newController(t, cloud.Settings{
		"workDir": workDir,
		"binary": script(t, `echo "arg=$1 pwd=$(pwd) inherited=$PATH"
echo "rtmp=$NAGARE_RTMP_ADDRESS srt=$NAGARE_SRT_ADDRESS http=$NAGARE_HTTP_ADDRESS" >&2
echo "role=$NAGARE_NODE_ROLE id=$NAGARE_CLUSTER_NODE_ID group=$NAGARE_CLUSTER_GROUP zone=$NAGARE_CLUSTER_ZONE"
echo done`),
	})
	sp := cloud.Spec{
		NodeID: "edge-7", Role: "edge", Group: "g2", Zone: "z1",
		Env: map[string]string{"NAGARE_HTTP_ADDRESS": "127.0.0.1:9999", cloud.EnvGroup: "from-env"},
	}
	_, err := c.Launch(context.Background(), sp)
	require.NoError(t, err)
	waitLog(t, c, "edge-7", regexp.MustCompile(`(?m)^done$`))
	b, err := os.ReadFile(filepath.Join(c.LogFile("edge-7")))
	require.NoError(t, err)
	log := string(b)
	require.Contains(t, log, "arg=node pwd="+workDir+" inherited="+os.Getenv("PATH")+"\n")
	require.Contains(t, log, "rtmp=127.0.0.1:0 srt=127.0.0.1:0 http=127.0.0.1:9999\n")
	require.Contains(t, log, "role=edge id=edge-7 group=from-env zone=z1\n")
}

// TestHostPerNode: with httpPort, every node gets its own loopback address and HTTP on that one port (the
// addresses in turn, not the first free one again), and a launch configuration's process.binary replaces
// the controller's program for its nodes.
func TestHostPerNode(t *testing.T) {
	t.Parallel()
	listen := script(t, `echo "http=$NAGARE_HTTP_ADDRESS rtmp=$NAGARE_RTMP_ADDRESS"; exec sleep 30`)
	other := script(t, `echo "other http=$NAGARE_HTTP_ADDRESS"; exec sleep 30`)
	port := testutil.SharedLoopbackPort(t, "127.0.0.2", "127.0.0.3", "127.0.0.4")
	c, _ := newController(t, cloud.Settings{"binary": listen, "httpPort": port, "stopTimeout": "1s"})
	ctx := context.Background()
	a, err := c.Launch(ctx, spec("a", nil))
	require.NoError(t, err)
	b, err := c.Launch(ctx, cloud.Spec{NodeID: "b", Role: "edge", Properties: map[string]string{process.BinaryProperty: other}})
	require.NoError(t, err)
	// 127.0.0.2 and .3 unless another test's listener took the port on one of them meanwhile: the
	// controller then skips it, in turn
	ia, ib := loopbackIndex(t, a.Address), loopbackIndex(t, b.Address)
	require.Greater(t, ib, ia)
	quoted := func(addr string) string { return regexp.QuoteMeta(addr) }
	waitLog(t, c, "a", regexp.MustCompile(`http=`+quoted(a.Address)+`:`+port+` rtmp=`+quoted(a.Address)+`:0`))
	waitLog(t, c, "b", regexp.MustCompile(`other http=`+quoted(b.Address)+`:`+port))

	require.NoError(t, c.Terminate(ctx, "a"))
	a2, err := c.Launch(ctx, spec("a2", nil))
	require.NoError(t, err)
	require.Greater(t, loopbackIndex(t, a2.Address), ib, "addresses are given in turn: not a's again")

	_, err = c.Launch(ctx, cloud.Spec{NodeID: "c", Role: "edge", Properties: map[string]string{process.BinaryProperty: "/nonexistent/nagare"}})
	require.ErrorIs(t, err, cloud.ErrInvalidSpec)
	require.ErrorContains(t, err, process.BinaryProperty)
}

// TestList: every launched node is listed, by node id, terminated ones included; a terminated node id
// can be launched again and its log file continues.
func TestList(t *testing.T) {
	t.Parallel()
	c, _ := newController(t, cloud.Settings{"binary": script(t, "echo ready; exec sleep 30"), "stopTimeout": "5s"})
	ctx := context.Background()
	for _, id := range []string{"c", "a", "b"} {
		_, err := c.Launch(ctx, spec(id, nil))
		require.NoError(t, err)
	}
	list, err := c.List(ctx)
	require.NoError(t, err)
	require.Len(t, list, 3)
	pids := map[string]bool{}
	for i, id := range []string{"a", "b", "c"} {
		require.Equal(t, id, list[i].NodeID)
		require.Equal(t, nodemodel.StateRunning, list[i].State)
		pids[list[i].ID] = true
	}
	require.Len(t, pids, 3)

	waitLog(t, c, "b", ready)
	require.NoError(t, c.Terminate(ctx, "b"))
	list, err = c.List(ctx)
	require.NoError(t, err)
	require.Len(t, list, 3)
	require.Equal(t, nodemodel.StateTerminated, list[1].State)
	require.Equal(t, nodemodel.StateRunning, list[0].State)

	again, err := c.Launch(ctx, spec("b", nil))
	require.NoError(t, err, "a terminated node id may be launched again")
	require.NotEqual(t, list[1].ID, again.ID)
	require.Eventually(t, func() bool {
		b, _ := os.ReadFile(c.LogFile("b"))
		return strings.Count(string(b), "ready\n") == 2
	}, 10*time.Second, 20*time.Millisecond, "the relaunched node appends to its log")
	list, err = c.List(ctx)
	require.NoError(t, err)
	require.Len(t, list, 3)
	require.Equal(t, again, list[1])

	require.NoError(t, c.Close(ctx))
	list, err = c.List(ctx)
	require.NoError(t, err)
	for _, in := range list {
		require.Equal(t, nodemodel.StateTerminated, in.State, in.NodeID)
	}
}

func TestTerminateUnknown(t *testing.T) {
	t.Parallel()
	c, _ := newController(t, cloud.Settings{"binary": "/bin/true"})
	require.NoError(t, c.Terminate(context.Background(), "never-launched"))
	list, err := c.List(context.Background())
	require.NoError(t, err)
	require.Empty(t, list)
}

func TestInvalidSpec(t *testing.T) {
	t.Parallel()
	c, _ := newController(t, cloud.Settings{"binary": "/bin/true"})
	for _, sp := range []cloud.Spec{
		{Role: "origin"},
		{NodeID: "n1"},
		{NodeID: "../escape", Role: "origin"},
		{NodeID: "..", Role: "origin"},
	} {
		_, err := c.Launch(context.Background(), sp)
		require.ErrorIs(t, err, cloud.ErrInvalidSpec, "%+v", sp)
	}
	list, err := c.List(context.Background())
	require.NoError(t, err)
	require.Empty(t, list)
}

// TestSecretNeverLogged: the controller's log and errors name the node, never its Env values.
func TestSecretNeverLogged(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-cluster-secret-value"
	c, logs := newController(t, cloud.Settings{
		"binary": script(t, "trap '' TERM; echo ready; while :; do sleep 1; done"), "stopTimeout": "200ms",
	})
	ctx := context.Background()
	env := map[string]string{cloud.EnvClusterSecret: secret, cloud.EnvManagerURL: "http://127.0.0.1:1/?" + secret}
	in, err := c.Launch(ctx, spec("secretive", env))
	require.NoError(t, err)
	_, err = c.Launch(ctx, spec("secretive", env))
	require.Error(t, err)
	require.NotContains(t, err.Error(), secret)
	waitLog(t, c, "secretive", ready)
	require.NoError(t, c.Terminate(ctx, "secretive")) // SIGTERM ignored: the SIGKILL path logs too
	waitTerminated(t, c, "secretive")
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), `msg="node exited"`) },
		5*time.Second, 10*time.Millisecond)

	out := logs.String()
	for _, want := range []string{"node launched", "node terminating", "node ignored SIGTERM", "node exited", "pid=" + in.ID, "node=secretive"} {
		require.Contains(t, out, want, "the controller logs what happens to its nodes")
	}
	require.NotContains(t, out, secret)
	require.NotContains(t, out, "NAGARE_CLUSTER_SECRET")
}

func TestSettings(t *testing.T) {
	t.Parallel()
	notDir := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(notDir, nil, 0o600))
	for _, tc := range []struct {
		name string
		s    cloud.Settings
		err  string // empty: valid
	}{
		{"defaults", cloud.Settings{}, ""},
		{"all set", cloud.Settings{"binary": "/bin/true", "stopTimeout": "1s", "workDir": t.TempDir()}, ""},
		{"binary on PATH", cloud.Settings{"binary": "true"}, ""},
		{"missing binary", cloud.Settings{"binary": "/nonexistent/nagare"}, "binary"},
		{"bad stopTimeout", cloud.Settings{"stopTimeout": "soon"}, "stopTimeout"},
		{"negative stopTimeout", cloud.Settings{"stopTimeout": "-1s"}, "stopTimeout"},
		{"workDir missing", cloud.Settings{"workDir": "/nonexistent"}, "workDir"},
		{"workDir a file", cloud.Settings{"workDir": notDir}, "workDir"},
		{"logDir unusable", cloud.Settings{"logDir": filepath.Join(notDir, "logs")}, "logDir"},
		{"httpPort", cloud.Settings{"httpPort": "18090"}, ""},
		{"httpPort not a port", cloud.Settings{"httpPort": "70000"}, "httpPort"},
		{"httpPort not a number", cloud.Settings{"httpPort": "http"}, "httpPort"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, ok := tc.s["logDir"]; !ok {
				tc.s["logDir"] = t.TempDir()
			}
			c, err := cloud.New("process", tc.s, cloud.Options{})
			if tc.err == "" {
				require.NoError(t, err)
				require.Equal(t, "process", c.Name())
				return
			}
			require.ErrorIs(t, err, cloud.ErrSettings)
			require.ErrorContains(t, err, tc.err)
		})
	}
}

// loopbackIndex returns the last byte of a loopback address the controller gave out (2 to 254).
func loopbackIndex(t *testing.T, addr string) int {
	t.Helper()
	last, ok := strings.CutPrefix(addr, "127.0.0.")
	require.True(t, ok, addr)
	i, err := strconv.Atoi(last)
	require.NoError(t, err, addr)
	require.GreaterOrEqual(t, i, 2, addr)
	return i
}
