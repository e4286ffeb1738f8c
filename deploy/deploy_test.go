// Package deploy holds what deploys nagare (systemd units; more to come) and the tests that check it.
package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSystemdUnits verifies the units with systemd-analyze: no warning, no error. verify checks that
// ExecStart's binary exists and is executable, so the units are checked as installed with a stand-in for
// /usr/local/bin/nagare; the node's template is checked as an instance.
func TestSystemdUnits(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	require.NoError(t, err, "systemd-analyze not found: scripts/deps.sh installs systemd")
	dir := t.TempDir()
	bin := filepath.Join(dir, "nagare")
	require.NoError(t, os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755))
	units, err := filepath.Glob("systemd/*.service")
	require.NoError(t, err)
	require.Len(t, units, 3)
	var files []string
	for _, u := range units {
		b, err := os.ReadFile(u)
		require.NoError(t, err)
		text := string(b)
		require.Contains(t, text, "ExecStart=/usr/local/bin/nagare ", u)
		for _, want := range []string{"After=network-online.target", "LimitNOFILE=", "NoNewPrivileges=yes",
			"ProtectSystem=strict", "DynamicUser=yes"} {
			require.Contains(t, text, want, u)
		}
		name := strings.Replace(filepath.Base(u), "@.service", "@origin.service", 1)
		out := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(out, []byte(strings.ReplaceAll(text, "/usr/local/bin/nagare", bin)), 0o644))
		files = append(files, out)
	}
	res, err := exec.Command(sa, append([]string{"verify", "--man=no"}, files...)...).CombinedOutput()
	require.NoError(t, err, "%s", res)
	require.Empty(t, strings.TrimSpace(string(res)), "systemd-analyze verify has something to say")
}
