package ctl_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/app/manager"
	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/ctl"
	"github.com/nagare-video/nagare/internal/nodeapi"
	"github.com/nagare-video/nagare/internal/nodemodel"
	"github.com/nagare-video/nagare/internal/testutil/tlstest"
	"github.com/nagare-video/nagare/internal/version"
)

const (
	adminToken    = "admin-token-5d1e8b77c0"
	clusterSecret = "cluster-secret-91ac44f2"
)

// startManager runs a real stream manager on a loopback port with its store in a temp dir and
// returns its base URL. opts adjust the configuration (a cloud controller, say) before it starts.
func startManager(t *testing.T, opts ...func(*config.Config)) string {
	t.Helper()
	cfg := config.Default()
	cfg.Manager.Address = "127.0.0.1:0"
	cfg.Manager.StoreDSN = filepath.Join(t.TempDir(), "manager.db")
	cfg.Manager.AdminToken = adminToken
	cfg.Cluster.Secret = clusterSecret
	for _, o := range opts {
		o(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m, err := manager.New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	if cfg.TLS.Enabled() {
		return "https://" + m.Addr()
	}
	return "http://" + m.Addr()
}

// healthyNodeHTTP returns the host:port of an HTTP server that answers a node's health check, so that
// the manager's admission lets a node registered with it into service.
func healthyNodeHTTP(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		_, _ = io.WriteString(w, `{"status":"ok"}`)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// join registers a node the way a launched node does (with its id, the manager's version and a health
// check that passes) and sends its first load report, which starts its admission; it returns once the
// node is in service.
func join(t *testing.T, base, id, role, group string) {
	t.Helper()
	ctx := context.Background()
	nc := &nodeapi.Client{BaseURL: base, Secret: clusterSecret}
	_, err := nc.Register(ctx, nodeapi.RegisterRequest{
		ID: id, Role: nodemodel.Role(role), Version: version.Version, Group: group, Addresses: nodemodel.Addresses{HTTP: healthyNodeHTTP(t)},
	})
	require.NoError(t, err)
	_, err = nc.Report(ctx, nodeapi.ReportRequest{ID: id})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		var n struct {
			State nodemodel.State `json:"state"`
		}
		r := ctlRun(t, "--manager", base, "--token", adminToken, "-o", "json", "node", "get", id)
		return r.code == 0 && json.Unmarshal([]byte(r.stdout), &n) == nil && n.State == nodemodel.StateInService
	}, 10*time.Second, 10*time.Millisecond, "node %s enters service after its admission check", id)
}

type result struct {
	code           int
	stdout, stderr string
}

// ctlRun runs `nagare ctl` with args as given.
func ctlRun(t *testing.T, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := ctl.Main(context.Background(), args, &out, &errOut)
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

// admin runs `nagare ctl` against base with the admin token and requires success.
func admin(t *testing.T, base string, args ...string) string {
	t.Helper()
	r := ctlRun(t, append([]string{"--manager", base, "--token", adminToken}, args...)...)
	require.Equal(t, 0, r.code, "nagare ctl %s\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.stdout, r.stderr)
	require.Empty(t, r.stderr)
	return r.stdout
}

// row returns the table line that contains key, or fails.
func row(t *testing.T, table, key string) []string {
	t.Helper()
	for _, line := range strings.Split(table, "\n") {
		if strings.Contains(line, key) {
			return strings.Fields(line)
		}
	}
	require.Failf(t, "no row", "no line contains %q in:\n%s", key, table)
	return nil
}

func TestConfigObjects(t *testing.T) {
	t.Parallel()
	base := startManager(t)

	out := admin(t, base, "policy", "create", "--name", "scale1", "--target", "origin:1:3", "--target", "edge:2:10:2",
		"--description", "two tiers", "--warmup", "150s", "--cooldown", "3m")
	require.Equal(t, "scale policy \"scale1\" created\n", out)
	out = admin(t, base, "config", "create", "--name", "lc1", "--image", "nagare:1.4", "--version", "1.4.0",
		"--target", "origin:c5.large:500", "--target", "edge:c5.xlarge:2000", "--meta", "team=video", "--meta", "tier=prod")
	require.Equal(t, "launch config \"lc1\" created\n", out)
	out = admin(t, base, "group", "create", "--name", "g1", "--config", "lc1", "--policy", "scale1", "--region", "eu-west", "--region", "us-east")
	require.Equal(t, "node group \"g1\" created\n", out)
	out = admin(t, base, "group", "create", "--config", "lc1", "--policy", "scale1")
	require.Regexp(t, `^node group "group-[0-9a-f-]{36}" created\n$`, out, "the manager names a group created without --name")

	t.Run("tables", func(t *testing.T) {
		out := admin(t, base, "policy", "list")
		require.Equal(t, []string{"NAME", "TARGETS", "WARMUP", "COOLDOWN", "DESCRIPTION"}, row(t, out, "NAME"))
		require.Contains(t, out, "origin 1-3 (+1), edge 2-10 (+2)", "STEP defaults to 1")
		require.Equal(t, []string{"2m30s", "3m0s", "two", "tiers"}, row(t, out, "scale1")[len(row(t, out, "scale1"))-4:])

		out = admin(t, base, "policy", "get", "scale1")
		require.Equal(t, []string{"edge", "2", "10", "2"}, row(t, out, "edge "))
		require.Contains(t, out, "Warm-up:")

		out = admin(t, base, "config", "list")
		require.Equal(t, []string{"lc1", "nagare:1.4", "1.4.0"}, row(t, out, "lc1")[:3])
		require.Contains(t, out, "edge c5.xlarge ×2000")
		out = admin(t, base, "config", "get", "lc1")
		require.Contains(t, out, "team=video, tier=prod")
		require.Equal(t, []string{"origin", "c5.large", "500"}, row(t, out, "c5.large"))

		out = admin(t, base, "group", "list")
		require.Equal(t, []string{"g1", "lc1", "scale1", "eu-west,us-east"}, row(t, out, "g1")[:4])
		out = admin(t, base, "group", "get", "g1")
		require.Contains(t, out, "eu-west, us-east")
	})

	t.Run("upgrade", func(t *testing.T) {
		out := admin(t, base, "group", "upgrade", "g1", "--version", "1.5.0", "--image", "nagare:1.5", "--max-surge", "2")
		require.Equal(t, "launch config \"lc1\" updated: group \"g1\" rolls over (nagare ctl group rollout g1)\n", out)
		out = admin(t, base, "config", "get", "lc1")
		require.Contains(t, out, "nagare.version=1.5.0, nagare.rollout.maxSurge=2")
		require.Contains(t, out, "nagare:1.5")
		out = admin(t, base, "group", "rollout", "g1")
		require.Regexp(t, `Version:\s+1\.5\.0\n`, out)
		require.Regexp(t, `Rollout:\s+done\n`, out, "no node: nothing to replace")
		require.Equal(t, []string{"CURRENT", "OUTDATED", "LAUNCHING", "DRAINING", "OUTDATED", "NODES"}, row(t, out, "ROLE")[1:])
		// the version only, again: the surge stays
		admin(t, base, "group", "upgrade", "g1", "--version", "1.5.1")
		require.Contains(t, admin(t, base, "config", "get", "lc1"), "nagare.version=1.5.1, nagare.rollout.maxSurge=2")
	})

	t.Run("json", func(t *testing.T) {
		var ps []struct {
			Name       string `json:"name"`
			WarmUpMS   int64  `json:"warmUpMs"`
			CoolDownMS int64  `json:"coolDownMs"`
			Targets    []struct {
				Role            string `json:"role"`
				ScaleAdjustment int    `json:"scaleAdjustment"`
			} `json:"targets"`
		}
		require.NoError(t, json.Unmarshal([]byte(admin(t, base, "-o", "json", "policy", "list")), &ps))
		require.Len(t, ps, 1)
		require.Equal(t, "scale1", ps[0].Name)
		require.Equal(t, int64(150_000), ps[0].WarmUpMS)
		require.Equal(t, int64(180_000), ps[0].CoolDownMS)
		require.Equal(t, 1, ps[0].Targets[0].ScaleAdjustment)

		var gs []struct {
			Name    string   `json:"name"`
			Regions []string `json:"regions"`
		}
		out := admin(t, base, "-o", "json", "group", "list")
		require.NoError(t, json.Unmarshal([]byte(out), &gs))
		require.Len(t, gs, 2)
		require.Contains(t, out, "\n  ", "pretty-printed")

		var lc struct {
			Metadata []struct{ Key, Value string } `json:"metadata"`
		}
		require.NoError(t, json.Unmarshal([]byte(admin(t, base, "-o", "json", "config", "get", "lc1")), &lc))
		require.Len(t, lc.Metadata, 2)
	})

	t.Run("delete", func(t *testing.T) {
		admin(t, base, "policy", "create", "--name", "spare", "--target", "edge:0:1")
		require.Equal(t, "scale policy \"spare\" deleted\n", admin(t, base, "policy", "delete", "spare"))
		require.NotContains(t, admin(t, base, "policy", "list"), "spare")

		r := ctlRun(t, "--manager", base, "--token", adminToken, "policy", "delete", "scale1")
		require.Equal(t, 1, r.code, "a policy in use by a group cannot go")
		require.Contains(t, r.stderr, "nagare ctl: 409 Conflict: ")
	})
}

func TestNodesEventsAlarmsRoutes(t *testing.T) {
	t.Parallel()
	base := startManager(t)
	admin(t, base, "policy", "create", "--name", "p", "--target", "origin:1:2")
	admin(t, base, "config", "create", "--name", "c", "--image", "img", "--target", "origin:std:200")
	admin(t, base, "group", "create", "--name", "g", "--config", "c", "--policy", "p", "--region", "eu")

	ctx := context.Background()
	nc := &nodeapi.Client{BaseURL: base, Secret: clusterSecret}
	// admission lets the node into service: it runs the manager's version and answers its health check
	reg, err := nc.Register(ctx, nodeapi.RegisterRequest{
		Role: nodemodel.RoleOrigin, Version: version.Version, Group: "g", Region: "eu",
		Addresses: nodemodel.Addresses{RTMP: "127.0.0.1:19350", HTTP: healthyNodeHTTP(t)},
	})
	require.NoError(t, err)
	id := reg.ID
	_, err = nc.Report(ctx, nodeapi.ReportRequest{
		ID:      id,
		Stats:   nodemodel.Load{Connections: 50, Publishers: 1, Subscribers: 49},
		Streams: []nodemodel.StreamLoad{{Name: "live/cam1", Protocol: "rtmp", Subscribers: 49}},
	})
	require.NoError(t, err)

	t.Run("nodes", func(t *testing.T) {
		out := admin(t, base, "nodes")
		require.Equal(t, []string{"ID", "ROLE", "STATE", "GROUP", "REGION", "CONNECTIONS", "SUBSCRIBERS", "CAPACITY", "LOAD%", "LAST", "REPORT"}, row(t, out, "LOAD%"))
		cells := row(t, out, id)
		require.Equal(t, []string{id, "origin", "inservice", "g", "eu", "50", "49", "200", "25%"}, cells[:9])
		require.Regexp(t, `^\ds$`, cells[9], "reported seconds ago")

		require.Contains(t, admin(t, base, "nodes", "--group", "g"), id)
		require.NotContains(t, admin(t, base, "nodes", "--group", "other"), id)
		require.Contains(t, admin(t, base, "group", "nodes", "g"), id)

		out = admin(t, base, "node", "get", id)
		require.Contains(t, out, "127.0.0.1:19350")
		require.Contains(t, out, "live/cam1")
	})

	t.Run("streams", func(t *testing.T) {
		require.Equal(t, []string{"live/cam1", id, "rtmp"}, row(t, admin(t, base, "streams"), "live/cam1")[:3])
	})

	t.Run("route", func(t *testing.T) {
		out := admin(t, base, "route", "publish", "live/cam2")
		require.Contains(t, out, "rtmp://127.0.0.1:19350/live/cam2")
		require.Contains(t, out, id)

		var rt struct {
			NodeID  string `json:"nodeId"`
			RTMPURL string `json:"rtmpUrl"`
		}
		// public: no token needed
		r := ctlRun(t, "--manager", base, "-o", "json", "route", "publish", "live/cam1", "--group", "g")
		require.Equal(t, 0, r.code, r.stderr)
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &rt))
		require.Equal(t, "rtmp://127.0.0.1:19350/live/cam1", rt.RTMPURL)
	})

	t.Run("drain and events", func(t *testing.T) {
		require.Equal(t, "node "+id+" is draining\n", admin(t, base, "node", "drain", id))
		require.Equal(t, "draining", row(t, admin(t, base, "nodes"), id)[2])

		out := admin(t, base, "events")
		require.Equal(t, []string{"AT", "NODE", "FROM", "→", "TO", "CAUSE"}, row(t, out, "CAUSE"))
		for _, tr := range []string{"(new) → running", "running → inservice", "inservice → draining"} {
			require.Contains(t, out, tr)
		}
		require.Contains(t, out, "drained through the API")

		out = admin(t, base, "node", "events", id, "--limit", "1")
		require.Contains(t, out, "inservice → draining")
		require.NotContains(t, out, "running → inservice", "--limit 1 keeps the newest")

		r := ctlRun(t, "--manager", base, "--token", adminToken, "node", "drain", id)
		require.Equal(t, 1, r.code)
		require.Equal(t, "nagare ctl: 409 Conflict: a node cannot go from draining to draining\n", r.stderr)
	})

	t.Run("alarms", func(t *testing.T) {
		require.Equal(t, "edge nodes scale out at 75% load\n", admin(t, base, "alarm", "set", "--role", "edge", "--threshold", "75"))
		out := admin(t, base, "alarms")
		require.Equal(t, []string{"edge", "75%"}, row(t, out, "edge"))
		require.Equal(t, []string{"origin", "60%"}, row(t, out, "origin"), "the default")
	})
}

func TestErrors(t *testing.T) {
	t.Parallel()
	base := startManager(t)
	admin(t, base, "policy", "create", "--name", "scale1", "--target", "edge:1:2")
	admin(t, base, "config", "create", "--name", "lc1", "--image", "img", "--target", "edge:std:100")
	admin(t, base, "group", "create", "--name", "g1", "--config", "lc1", "--policy", "scale1")

	// a port nothing listens on
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	deadURL := "http://" + ln.Addr().String()
	require.NoError(t, ln.Close())

	ok := []string{"--manager", base, "--token", adminToken}
	tests := []struct {
		name      string
		args      []string
		code      int
		stderr    string // contained in stderr
		exact     string // all of stderr, when set
		stdout    string // contained in stdout
		notInErr  string
		emptyOut  bool
		emptyErrs bool
	}{
		{
			name: "duplicate create", args: append(ok, "policy", "create", "--name", "scale1", "--target", "edge:1:2"), code: 1,
			exact: "nagare ctl: 409 Conflict: scale policy \"scale1\": already exists\n", emptyOut: true,
		},
		{
			name: "duplicate create with --exist-ok", args: append(append([]string{"--exist-ok"}, ok...), "policy", "create", "--name", "scale1", "--target", "edge:1:2"),
			code: 0, exact: "nagare ctl: scale policy \"scale1\": already exists (--exist-ok)\n", emptyOut: true,
		},
		{
			name: "--exist-ok is no excuse for other conflicts", args: append(append([]string{"--exist-ok"}, ok...), "policy", "delete", "no-such-policy"),
			code: 1, stderr: "404",
		},
		{
			name: "wrong token", args: []string{"--manager", base, "--token", "not-the-token-c0ffee", "policy", "list"}, code: 1,
			exact: "nagare ctl: 403 Forbidden: wrong admin token\n", notInErr: "c0ffee", emptyOut: true,
		},
		{
			name: "no token", args: []string{"--manager", base, "policy", "list"}, code: 1,
			stderr: "401 Unauthorized: missing admin token (pass --token or set NAGARE_ADMIN_TOKEN)",
		},
		{name: "not found", args: append(ok, "config", "get", "nope"), code: 1, exact: "nagare ctl: 404 Not Found: launch config \"nope\": not found\n"},
		{name: "bad request", args: append(ok, "policy", "create", "--name", "x", "--target", "dragon:1:2"), code: 1, stderr: "400 Bad Request: invalid request: scale policy \"x\": role \"dragon\""},
		{
			name: "manager down", args: []string{"--manager", deadURL, "--token", adminToken, "nodes"}, code: 1,
			stderr: "cannot reach the manager at " + deadURL + ": connection refused", notInErr: adminToken,
		},
		{
			name: "launch without a cloud controller", args: append(ok, "group", "launch", "g1", "edge"), code: 1,
			exact: "nagare ctl: 503 Service Unavailable: cannot launch a node of role edge in group \"g1\": no cloud controller is configured\n", emptyOut: true,
		},
		{
			name: "instances without a cloud controller", args: append(ok, "instances"), code: 1,
			exact: "nagare ctl: 503 Service Unavailable: listing instances: no cloud controller is configured\n", emptyOut: true,
		},
		{name: "launch in a missing group", args: append(ok, "group", "launch", "nope", "edge"), code: 1, exact: "nagare ctl: 404 Not Found: node group \"nope\": not found\n"},
		{name: "record with no origin", args: append(ok, "record", "live/cam1"), code: 1, stderr: "503 Service Unavailable: recording live/cam1: no in-service origin answered"},
		{name: "record a bad name", args: append(ok, "record", "live"), code: 2, stderr: "the stream must be APP/STREAM"},
		{name: "record a hostile name", args: append(ok, "record", "live/x y"), code: 1, stderr: "400 Bad Request"},
		{name: "launch an unknown role", args: append(ok, "group", "launch", "g1", "dragon"), code: 1, stderr: `400 Bad Request: invalid request: role "dragon" is not origin, relay, edge or transcoder`},
		{name: "scale events without a controller", args: append(ok, "scale", "events"), code: 0, stdout: "AT  GROUP  ROLE  ACTION  LOAD%  PREDICTED%  NODES  REASON\n", emptyErrs: true},
		{name: "unknown command", args: append(ok, "frobnicate"), code: 2, stderr: `unknown command "frobnicate"`},
		{name: "unknown subcommand", args: append(ok, "policy", "explode"), code: 2, stderr: `unknown command "policy explode": policy takes create, list, get, delete`},
		{name: "group without subcommand", args: append(ok, "node"), code: 2, stderr: "node needs a subcommand: get, events, drain"},
		{name: "scale without subcommand", args: append(ok, "scale"), code: 2, stderr: "scale needs a subcommand: events"},
		{name: "no command", args: ok, code: 2, stderr: "no command given"},
		{
			name: "bad --target number", args: append(ok, "policy", "create", "--name", "p", "--target", "edge:x:2"), code: 2,
			stderr: `policy create: invalid value "edge:x:2" for flag -target: MIN "x" is not a whole number`,
		},
		{
			name: "bad --target shape", args: append(ok, "config", "create", "--name", "c", "--image", "i", "--target", "edge:500"), code: 2,
			stderr: `invalid value "edge:500" for flag -target: want ROLE:INSTANCETYPE:CAPACITY`,
		},
		{name: "missing --name", args: append(ok, "policy", "create", "--target", "edge:1:2"), code: 2, stderr: "policy create: --name is required"},
		{name: "missing --target", args: append(ok, "policy", "create", "--name", "p"), code: 2, stderr: "at least one --target"},
		{name: "bad --meta", args: append(ok, "config", "create", "--name", "c", "--image", "i", "--target", "edge:t:1", "--meta", "novalue"), code: 2, stderr: "flag -meta: want KEY=VALUE"},
		{name: "bad --threshold", args: append(ok, "alarm", "set", "--role", "edge", "--threshold", "150"), code: 2, stderr: "flag -threshold"},
		{name: "bad --limit", args: append(ok, "events", "--limit", "5000"), code: 2, stderr: "--limit must be between 1 and 1000"},
		{name: "bad scale --limit", args: append(ok, "scale", "events", "--group", "g1", "--limit", "-1"), code: 2, stderr: "scale events: --limit must be between 1 and 1000, not -1"},
		{name: "unknown flag", args: append(ok, "nodes", "--colour", "red"), code: 2, stderr: "nodes: flag provided but not defined: -colour"},
		{name: "missing argument", args: append(ok, "policy", "get"), code: 2, stderr: "policy get needs NAME"},
		{name: "empty argument", args: append(ok, "node", "drain", ""), code: 2, stderr: "node drain: ID must not be empty"},
		{name: "extra argument", args: append(ok, "policy", "get", "a", "b"), code: 2, stderr: "policy get needs NAME"},
		{name: "launch without a role", args: append(ok, "group", "launch", "g1"), code: 2, stderr: "group launch needs NAME ROLE"},
		{name: "instances with an argument", args: append(ok, "instances", "g1"), code: 2, stderr: `instances takes no arguments, got "g1"`},
		{name: "bad stream", args: append(ok, "route", "play", "cam1"), code: 2, stderr: "want APP/STREAM"},
		{name: "bad -o", args: []string{"-o", "yaml", "nodes"}, code: 2, stderr: "-o must be table or json"},
		{name: "bad --manager", args: []string{"--manager", "127.0.0.1:5080", "nodes"}, code: 2, stderr: "--manager must be an http:// or https:// URL"},
		{name: "help", args: []string{"help"}, code: 0, stdout: "node events ID [--limit N]", emptyErrs: true},
		{name: "-h", args: []string{"-h"}, code: 0, stdout: "alarm set --role R --threshold PCT", emptyErrs: true},
		{name: "help lists scale events", args: []string{"help"}, code: 0, stdout: "scale events [--group G] [--limit N]", emptyErrs: true},
		{name: "help group launch", args: []string{"help", "group", "launch"}, code: 0, stdout: "Usage: nagare ctl group launch NAME ROLE", emptyErrs: true},
		{name: "command -h", args: []string{"policy", "create", "-h"}, code: 0, stdout: "-warmup duration", emptyErrs: true},
		{name: "help command", args: []string{"help", "route", "play"}, code: 0, stdout: "prefer an edge in this region", emptyErrs: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := ctlRun(t, tt.args...)
			require.Equal(t, tt.code, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
			if tt.exact != "" {
				require.Equal(t, tt.exact, r.stderr)
			}
			require.Contains(t, r.stderr, tt.stderr)
			require.Contains(t, r.stdout, tt.stdout)
			if tt.notInErr != "" {
				require.NotContains(t, r.stderr+r.stdout, tt.notInErr)
			}
			if tt.emptyOut {
				require.Empty(t, r.stdout)
			}
			if tt.emptyErrs {
				require.Empty(t, r.stderr)
			}
			if tt.code == 2 {
				require.Contains(t, r.stderr, "Run 'nagare ctl")
			}
		})
	}
}

func TestTokenNeverPrinted(t *testing.T) {
	t.Setenv("NAGARE_ADMIN_TOKEN", adminToken)
	r := ctlRun(t, "-h")
	require.Equal(t, 0, r.code)
	require.NotContains(t, r.stdout+r.stderr, adminToken, "the env default must not show in the usage")
}

func TestEnvironment(t *testing.T) {
	base := startManager(t)
	t.Setenv("NAGARE_MANAGER_URL", base+"/")
	t.Setenv("NAGARE_ADMIN_TOKEN", adminToken)
	r := ctlRun(t, "alarms")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "THRESHOLD")

	r = ctlRun(t, "--token", "flag-beats-env-0000", "alarms")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "403 Forbidden")
}

// TestTLS: ctl reaches an https manager when it trusts the manager's CA (--ca-file or NAGARE_CA_FILE),
// and says why not when it does not.
func TestTLS(t *testing.T) {
	ca := tlstest.NewCA(t)
	cert, key := ca.Issue(t, "manager", time.Time{}, time.Time{})
	base := startManager(t, func(c *config.Config) { c.TLS = config.TLS{CertFile: cert, KeyFile: key} })
	r := ctlRun(t, "--manager", base, "--token", adminToken, "--ca-file", ca.File, "alarms")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "THRESHOLD")

	r = ctlRun(t, "--manager", base, "--token", adminToken, "alarms")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "certificate signed by unknown authority")

	t.Setenv("NAGARE_CA_FILE", ca.File)
	r = ctlRun(t, "--manager", base, "--token", adminToken, "alarms")
	require.Equal(t, 0, r.code, r.stderr)

	r = ctlRun(t, "--manager", base, "--ca-file", "/nonexistent/ca.pem", "alarms")
	require.Equal(t, 2, r.code)
	require.Contains(t, r.stderr, "/nonexistent/ca.pem")
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	// accepts connections but never answers
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	start := time.Now()
	r := ctlRun(t, "--manager", "http://"+ln.Addr().String(), "--timeout", "200ms", "nodes")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "did not answer within 200ms")
	require.Less(t, time.Since(start), 5*time.Second)
}

// TestAutoscaling runs the commands against a manager whose autoscaler launches nodes in the simulated
// cloud: instances run as soon as they are launched, and a node joins when the test registers it.
func TestAutoscaling(t *testing.T) {
	t.Parallel()
	base := startManager(t, func(c *config.Config) {
		c.Manager.Autoscale.Controller = "sim"
		c.Manager.Autoscale.Settings = map[string]string{"bootTime": "0s"}
		c.Manager.Autoscale.Interval = 100 * time.Millisecond
		// nodes report only when the test says; a slow machine must not see them go silent
		c.Manager.NodeTimeout = time.Hour
	})
	// minLimit 0 and an hour's cool-down: the autoscaler neither launches nor drains on its own
	admin(t, base, "policy", "create", "--name", "p", "--target", "edge:0:2", "--cooldown", "1h")
	admin(t, base, "config", "create", "--name", "c", "--image", "img", "--target", "edge:std:100")
	admin(t, base, "group", "create", "--name", "g", "--config", "c", "--policy", "p")

	type node struct {
		ID    string `json:"id"`
		Role  string `json:"role"`
		State string `json:"state"`
		Group string `json:"group"`
	}
	launch := func() node {
		t.Helper()
		var n node
		require.NoError(t, json.Unmarshal([]byte(admin(t, base, "-o", "json", "group", "launch", "g", "edge")), &n))
		return n
	}

	out := admin(t, base, "group", "launch", "g", "edge")
	require.Equal(t, "ID", row(t, out, "ROLE")[0], "the node is shown as `nodes` shows it")
	first := row(t, out, "node-edge-")
	require.Regexp(t, `^node-edge-[0-9a-f]{12}$`, first[0])
	require.Equal(t, []string{"edge", "running", "g"}, first[1:4], "the simulated instance runs at once")
	second := launch()
	require.Equal(t, node{ID: second.ID, Role: "edge", State: "running", Group: "g"}, second)
	require.NotEqual(t, first[0], second.ID)
	require.Equal(t, second.ID, launch().ID, "at maxLimit the launch still on its way into service answers")

	t.Run("instances", func(t *testing.T) {
		out := admin(t, base, "instances")
		require.Equal(t, []string{"ID", "NODE", "GROUP", "ROLE", "STATE", "ADDRESS", "LAUNCHED", "REASON"}, row(t, out, "LAUNCHED"))
		cells := row(t, out, first[0])
		require.Regexp(t, `^sim-\d{6}$`, cells[0])
		require.Equal(t, []string{first[0], "g", "edge", "running"}, cells[1:5])
		require.Regexp(t, `^10\.\d+\.\d+\.\d+$`, cells[5])
		require.Equal(t, "-", cells[len(cells)-1], "no reason while it runs")
		require.Contains(t, out, second.ID)

		var is []struct {
			ID     string `json:"id"`
			NodeID string `json:"nodeId"`
			State  string `json:"state"`
		}
		require.NoError(t, json.Unmarshal([]byte(admin(t, base, "-o", "json", "instances")), &is))
		require.Len(t, is, 2)
		require.Equal(t, first[0], is[0].NodeID, "in launch order")
	})

	t.Run("launch at max", func(t *testing.T) {
		join(t, base, first[0], "edge", "g")
		join(t, base, second.ID, "edge", "g")
		r := ctlRun(t, "--manager", base, "--token", adminToken, "group", "launch", "g", "edge")
		require.Equal(t, 1, r.code)
		require.Equal(t, "nagare ctl: 409 Conflict: role at its maximum: edge is at its maxLimit of 2 nodes in group g\n", r.stderr)
		require.Empty(t, r.stdout)

		r = ctlRun(t, "--manager", base, "--token", adminToken, "group", "launch", "g", "relay")
		require.Equal(t, 1, r.code)
		require.Equal(t, "nagare ctl: 400 Bad Request: invalid autoscaler input: scale policy p has no relay target\n", r.stderr)
	})

	t.Run("scale events", func(t *testing.T) {
		out := admin(t, base, "scale", "events", "--group", "g")
		require.Equal(t, []string{"AT", "GROUP", "ROLE", "ACTION", "LOAD%", "PREDICTED%", "NODES", "REASON"}, row(t, out, "REASON"))
		cells := row(t, out, first[0])
		require.Equal(t, []string{"g", "edge", "launch", "-", "-", first[0], "launch", "edge", "requested", "through", "the", "API:", "0", "→", "1", "nodes"}, cells[2:])
		require.Contains(t, strings.Join(row(t, out, second.ID), " "), " launch - - "+second.ID+" launch edge requested through the API: 1 → 2 nodes")
		require.Len(t, strings.Split(strings.TrimSpace(out), "\n"), 3, "the header and two launches: a launch answered by an earlier one is none")

		var evs []struct {
			Action string   `json:"action"`
			Reason string   `json:"reason"`
			Nodes  []string `json:"nodes"`
		}
		require.NoError(t, json.Unmarshal([]byte(admin(t, base, "-o", "json", "scale", "events", "--group", "g", "--limit", "1")), &evs))
		require.Len(t, evs, 1, "--limit 1 keeps the newest")
		require.Equal(t, []string{second.ID}, evs[0].Nodes)
		require.Equal(t, "launch edge requested through the API: 1 → 2 nodes", evs[0].Reason)

		require.Equal(t, 1, len(strings.Split(strings.TrimSpace(admin(t, base, "scale", "events", "--group", "other")), "\n")), "only the header")
	})

	t.Run("viewer waits for a new edge", func(t *testing.T) {
		admin(t, base, "policy", "create", "--name", "p2", "--target", "edge:0:1", "--cooldown", "1h")
		admin(t, base, "group", "create", "--name", "g2", "--config", "c", "--policy", "p2")
		// once the autoscaler has looked at the new group (its next tick), a viewer is told to wait
		var r result
		require.Eventually(t, func() bool {
			r = ctlRun(t, "--manager", base, "route", "play", "live/cam1", "--group", "g2")
			return strings.Contains(r.stderr, "every edge is full")
		}, 5*time.Second, 50*time.Millisecond, "%+v", r)
		require.Equal(t, 1, r.code)
		require.Equal(t, "nagare ctl: 503 Service Unavailable: playing live/cam1: every edge is full; a new edge is being launched, retry shortly\n", r.stderr)

		// the viewer counts as load with no edge to carry it: an edge is launched at infinite load
		var cells []string
		require.Eventually(t, func() bool {
			out := admin(t, base, "scale", "events", "--group", "g2")
			if !strings.Contains(out, "scale-out") {
				return false
			}
			cells = row(t, out, "scale-out")
			return true
		}, 10*time.Second, 50*time.Millisecond)
		require.Equal(t, []string{"g2", "edge", "scale-out", "∞", "∞"}, cells[2:7])
		require.Regexp(t, `^node-edge-[0-9a-f]{12}$`, cells[7])
		require.Equal(t, "scale-out edge: load ∞ % > 60 %, +1 → 1 nodes", strings.Join(cells[8:], " "))
		require.Contains(t, admin(t, base, "instances"), cells[7])
	})
}

// TestLadders provisions, shows, lists and removes a stream's ladder, and refuses a malformed rung.
func TestLadders(t *testing.T) {
	t.Parallel()
	base := startManager(t)
	out := admin(t, base, "stream", "ladder", "set", "live/cam1", "--rung", "480p:480:1000000", "--rung", "360p:360:600000:800000")
	require.Equal(t, []string{"cam1_480p", "480", "1000000", "1.5×"}, row(t, out, "cam1_480p"))
	require.Equal(t, []string{"cam1_360p", "360", "600000", "800000"}, row(t, out, "cam1_360p"))
	require.Equal(t, []string{"cam1_360p", "360", "600000", "800000"}, row(t, admin(t, base, "stream", "ladder", "get", "live/cam1"), "cam1_360p"))
	require.Contains(t, row(t, admin(t, base, "ladders"), "live/cam1"), "cam1_480p")

	r := ctlRun(t, "--manager", base, "--token", adminToken, "stream", "ladder", "set", "live/cam1", "--rung", "480p:tall:1")
	require.Equal(t, 2, r.code, r.stderr)
	require.Contains(t, r.stderr, `HEIGHT "tall" is not a whole number`)
	r = ctlRun(t, "--manager", base, "--token", adminToken, "stream", "ladder", "set", "live/cam1", "--rung", "480p:481:1")
	require.NotEqual(t, 0, r.code)
	require.Contains(t, r.stderr, "rungs[0].height 481")

	require.Contains(t, admin(t, base, "stream", "ladder", "rm", "live/cam1"), "deleted")
	r = ctlRun(t, "--manager", base, "--token", adminToken, "stream", "ladder", "get", "live/cam1")
	require.NotEqual(t, 0, r.code)
	require.Contains(t, r.stderr, "not found")
}
