package deploy

import (
	"bytes"
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/ctl"
	"github.com/nagare-video/nagare/internal/testutil/managertest"
)

// loadCompose loads compose.yaml as docker compose does (schema validation, interpolation, merges) with
// the example settings plus extra environment.
func loadCompose(t *testing.T, envFile bool, extra ...string) (*types.Project, error) {
	t.Helper()
	opts := []cli.ProjectOptionsFn{cli.WithName("nagare"), cli.WithWorkingDirectory("."), cli.WithEnv(extra)}
	if envFile {
		opts = append(opts, cli.WithEnvFiles("compose.env.example"), cli.WithDotEnv)
	}
	po, err := cli.NewProjectOptions([]string{"compose.yaml"}, opts...)
	require.NoError(t, err)
	return po.LoadProject(context.Background())
}

// TestCompose validates compose.yaml with compose-go (the library of docker compose) and checks that the
// stack is what it says: every container on the host network, nagare's settings valid as nagare reads
// them, the managers sharing the MariaDB store and driving the Docker Engine, and the setup commands
// working against a real manager, twice.
func TestCompose(t *testing.T) {
	_, err := loadCompose(t, false)
	require.ErrorContains(t, err, "set MARIADB_PASSWORD", "a missing secret stops compose with a clear message")

	p, err := loadCompose(t, true)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"mariadb", "s3", "bucket", "manager-1", "manager-2", "policy", "launchconfig",
		"group", "vod"}, slices.Collect(maps.Keys(p.Services)))

	env := func(s types.ServiceConfig) []string {
		var out []string
		for _, k := range slices.Sorted(maps.Keys(s.Environment)) {
			if v := s.Environment[k]; v != nil {
				out = append(out, k+"="+*v)
			}
		}
		return out
	}
	for name, s := range p.Services {
		require.Equal(t, "host", s.NetworkMode, "%s: containers here use the host network only", name)
		if !strings.HasPrefix(s.Image, "ghcr.io/nagare-video/nagare") {
			continue
		}
		require.NotEmpty(t, s.Command, name)
		if s.Command[0] == "ctl" { // the ctl's environment, not a server's settings
			require.Contains(t, s.DependsOn, map[string]string{"policy": "manager-1", "launchconfig": "policy",
				"group": "launchconfig"}[name], "%s runs after what it needs", name)
			continue
		}
		cfg, err := config.Load("", env(s))
		require.NoError(t, err, "%s: its NAGARE_* settings must be ones nagare knows", name)
		switch s.Command[0] {
		case "manager":
			require.NoError(t, cfg.ValidateManager(), name)
			require.Equal(t, "mysql", cfg.Manager.StoreEngine, name)
			require.True(t, cfg.Manager.SharedStore, "%s: two managers on one store", name)
			require.Equal(t, "docker", cfg.Manager.Autoscale.Controller, name)
			require.Equal(t, "host", cfg.Manager.Autoscale.Settings["network"], name)
			require.Equal(t, "s3", cfg.Storage.Backend, name)
			require.True(t, slices.ContainsFunc(s.Volumes, func(v types.ServiceVolumeConfig) bool {
				return v.Source == "/var/run/docker.sock" && v.Target == "/var/run/docker.sock"
			}), "%s drives the Docker Engine through its socket", name)
			require.NotEmpty(t, s.GroupAdd, name)
			require.Contains(t, s.DependsOn, "mariadb", name)
		case "vod":
			require.NoError(t, cfg.ValidateVOD(), name)
			require.Equal(t, "mysql", cfg.VOD.StoreEngine)
		case "bucket":
			require.Equal(t, "s3", cfg.Storage.Backend)
		default:
			t.Errorf("%s runs %q, which this test does not know", name, s.Command[0])
		}
	}
	require.Equal(t, ":5080", netAddr(p.Services["manager-1"]))
	require.Equal(t, ":5081", netAddr(p.Services["manager-2"]))

	// the setup commands against a real manager, twice: the second run changes nothing and succeeds
	base, _ := managertest.Start(t, nil)
	for run := range 2 {
		for _, name := range []string{"policy", "launchconfig", "group"} {
			cmd := p.Services[name].Command
			require.Equal(t, "ctl", cmd[0])
			args := append([]string{"--manager", base, "--token", managertest.AdminToken}, cmd[1:]...)
			var stdout, stderr bytes.Buffer
			require.Equal(t, 0, ctl.Main(context.Background(), args, &stdout, &stderr), "run %d, %s: %s", run, name, stderr.String())
			if run == 1 {
				require.Contains(t, stderr.String(), "already exists (--exist-ok)", name)
			}
		}
	}
	var stdout, stderr bytes.Buffer
	require.Equal(t, 0, ctl.Main(context.Background(), []string{"--manager", base, "--token", managertest.AdminToken,
		"-o", "json", "group", "get", "live"}, &stdout, &stderr), stderr.String())
	require.Contains(t, stdout.String(), `"launchConfig": "live"`)
	require.Contains(t, stdout.String(), `"scalePolicy": "live"`)
	require.Contains(t, stdout.String(), `"default"`, "the group is in the policy's region")
}

// netAddr is a manager service's listen address as set in its environment.
func netAddr(s types.ServiceConfig) string {
	if v := s.Environment["NAGARE_MANAGER_ADDRESS"]; v != nil {
		return *v
	}
	return ""
}
