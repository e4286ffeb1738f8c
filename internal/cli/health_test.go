package cli

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/testutil"
)

// standInEnv makes the test binary a stand-in process that only waits (see TestHealthCommand).
const standInEnv = "CLI_TEST_STAND_IN"

func TestMain(m *testing.M) {
	if os.Getenv(standInEnv) != "" {
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestHealthTarget(t *testing.T) {
	tests := []struct {
		name    string
		cmdline []string
		environ []string
		want    string
		err     string
	}{
		{"manager by default", []string{"nagare", "manager"}, nil, "http://127.0.0.1:5080/healthz", ""},
		{"manager flag", []string{"nagare", "manager", "-manager-address", "127.0.0.1:7000"}, nil,
			"http://127.0.0.1:7000/healthz", ""},
		{"all probes its manager, -data understood", []string{"nagare", "all", "-data", "/var/lib/nagare"},
			[]string{"NAGARE_MANAGER_ADDRESS=:6000"}, "http://127.0.0.1:6000/healthz", ""},
		{"node from the environment a controller sets", []string{"/usr/local/bin/nagare", "node"},
			[]string{"NAGARE_HTTP_ADDRESS=0.0.0.0:20002", "NAGARE_NODE_ROLE=edge", "PATH=/bin"},
			"http://127.0.0.1:20002/healthz", ""},
		{"node flag wins", []string{"nagare", "node", "-http", "127.0.0.2:9"}, []string{"NAGARE_HTTP_ADDRESS=:1"},
			"http://127.0.0.2:9/healthz", ""},
		{"vod uses gRPC health", []string{"nagare", "vod"}, []string{"NAGARE_VOD_GRPC_ADDRESS=:9191"},
			"grpc health on 127.0.0.1:9191", ""},
		{"no subcommand", []string{"nagare"}, nil, "", "no subcommand"},
		{"not serving", []string{"nagare", "ctl", "nodes"}, nil, "", `"ctl" is not a serving`},
		{"bad setting", []string{"nagare", "node"}, []string{"NAGARE_HTTP_ADRESS=:1"}, "", "NAGARE_HTTP_ADRESS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := healthTarget(tt.cmdline, tt.environ)
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, p.String())
		})
	}
}

func TestHealthTargetTLS(t *testing.T) {
	p, err := healthTarget([]string{"nagare", "manager"}, []string{
		"NAGARE_TLS_ACME_DOMAINS=sm.example.com", "NAGARE_TLS_ACME_EMAIL=ops@example.com"})
	require.NoError(t, err)
	assert.Equal(t, "https://127.0.0.1:5080/healthz", p.url())
	assert.Equal(t, "sm.example.com", p.serverName, "autocert answers only the names it serves")
}

// TestHealthCommand runs the command against a real process: a child whose command line and environment
// name a listener, as PID 1 of a container does.
func TestHealthCommand(t *testing.T) {
	var unhealthy atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" || unhealthy.Load() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))

	// a stand-in process whose /proc entry reads like "nagare node" with the node's address in its env
	self, err := os.Executable()
	require.NoError(t, err)
	child := exec.Command(self)
	child.Args = []string{"nagare", "node"} // argv as a node's; TestMain only waits
	child.Env = []string{"NAGARE_HTTP_ADDRESS=:" + port, standInEnv + "=1"}
	require.NoError(t, child.Start())
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	pid := strconv.Itoa(child.Process.Pid)
	require.Eventually(t, func() bool {
		b, _ := os.ReadFile("/proc/" + pid + "/cmdline")
		return bytes.HasPrefix(b, []byte("nagare\x00node"))
	}, 5*time.Second, 10*time.Millisecond)

	var out, errOut bytes.Buffer
	assert.Equal(t, 0, Main([]string{"health", "-pid", pid}, &out, &errOut), errOut.String())
	assert.Contains(t, out.String(), "http://127.0.0.1:"+port+"/healthz")

	unhealthy.Store(true)
	out.Reset()
	errOut.Reset()
	assert.Equal(t, 1, Main([]string{"health", "-pid", pid}, &out, &errOut))
	assert.Contains(t, errOut.String(), "503")

	errOut.Reset()
	assert.Equal(t, 1, Main([]string{"health", "-url", "http://127.0.0.1:1/healthz"}, &out, &errOut))
	assert.Contains(t, errOut.String(), "unhealthy")
}

// TestHangupKeepsServing: SIGHUP, which would end a Go program, is logged and the process goes on.
func TestHangupKeepsServing(t *testing.T) {
	logs := &testutil.LogBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watchHangup(ctx, slog.New(slog.NewTextHandler(logs, nil)))
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGHUP))
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "SIGHUP: nothing to reload") },
		5*time.Second, 10*time.Millisecond)
}
