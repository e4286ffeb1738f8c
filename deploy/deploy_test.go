// Package deploy holds what deploys nagare (systemd units, a Prometheus configuration, a Grafana
// dashboard; more to come) and the tests that check it.
package deploy

import (
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metricsql"
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

// TestGrafanaDashboard: the dashboard decodes, every panel has a title and queries (a row only a title, and
// its panels, when collapsed, are checked as the others), every query parses as
// PromQL (with Grafana's variables in place), and names only metrics nagare registers (the metric names
// written in the code; a live /metrics lists only series that have samples). Histograms are queried
// through their _bucket series.
func TestGrafanaDashboard(t *testing.T) {
	b, err := os.ReadFile("grafana/nagare.json")
	require.NoError(t, err)
	type panel struct {
		Type    string
		Title   string
		Targets []struct{ Expr string }
		Panels  []panel // a collapsed row's
	}
	var dash struct {
		Title  string
		UID    string `json:"uid"`
		Panels []panel
	}
	require.NoError(t, json.Unmarshal(b, &dash))
	var panels []panel
	for _, p := range dash.Panels {
		if p.Type == "row" {
			require.NotEmpty(t, p.Title, "a row")
			require.Empty(t, p.Targets, p.Title)
			panels = append(panels, p.Panels...)
			continue
		}
		panels = append(panels, p)
	}
	require.NotEmpty(t, dash.UID)
	known := registeredMetrics(t)
	require.Contains(t, known, "nagare_autoscaler_load_percent", "the scan of the code found the metrics")
	variables := strings.NewReplacer("$group", ".*", "$role", ".*")
	used := map[string]bool{}
	for _, p := range panels {
		require.NotEmpty(t, p.Title)
		require.NotEmpty(t, p.Targets, p.Title)
		for _, tg := range p.Targets {
			expr, err := metricsql.Parse(variables.Replace(tg.Expr))
			require.NoError(t, err, "%s: %s", p.Title, tg.Expr)
			metricsql.VisitAll(expr, func(e metricsql.Expr) {
				me, ok := e.(*metricsql.MetricExpr)
				if !ok {
					return
				}
				for _, lfs := range me.LabelFilterss {
					for _, lf := range lfs {
						if lf.Label == "__name__" {
							used[lf.Value] = true
						}
					}
				}
			})
		}
	}
	require.NotEmpty(t, used)
	for name := range used {
		base := strings.TrimSuffix(name, "_bucket")
		require.True(t, known[name] || known[base], "%s is not a metric nagare registers", name)
	}
}

// registeredMetrics scans the module's Go code (tests left out) for the names of the metrics it
// registers.
func registeredMetrics(t *testing.T) map[string]bool {
	t.Helper()
	name := regexp.MustCompile(`"(nagare_[a-z0-9_]+)"`)
	out := map[string]bool{}
	err := filepath.WalkDir("../internal", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range name.FindAllStringSubmatch(string(b), -1) {
			out[m[1]] = true
		}
		return nil
	})
	require.NoError(t, err)
	return out
}
