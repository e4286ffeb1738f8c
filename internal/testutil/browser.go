package testutil

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Chromium is Debian's browser; the tests never download one.
const Chromium = "/usr/bin/chromium"

// RequireChromium skips under -short and fails without what scripts/deps.sh players installs (Chromium,
// node and playwright-core in .cache/players); it returns the players' node_modules.
func RequireChromium(t testing.TB) (modules string) {
	t.Helper()
	if testing.Short() {
		t.Skip("drives Chromium")
	}
	modules = filepath.Join(RepoRoot(t), ".cache", "players", "node_modules")
	for _, need := range []string{Chromium, filepath.Join(modules, "playwright-core")} {
		_, err := os.Stat(need)
		require.NoError(t, err, "scripts/deps.sh players installs it")
	}
	_, err := exec.LookPath("node")
	require.NoError(t, err, "scripts/deps.sh players installs node")
	return modules
}

// DriveBrowser runs the node script (a path from the module root) with cfg, plus Chromium's path
// (executablePath) and the players' node_modules (nodeModules), as its one JSON argument, and decodes the
// last line of its stdout into out. The script's stderr, its progress, goes to the test log. After timeout
// the script gets SIGINT, so that playwright closes the browser.
func DriveBrowser(t testing.TB, script string, timeout time.Duration, cfg map[string]any, out any) {
	t.Helper()
	modules := RequireChromium(t)
	cfg["executablePath"], cfg["nodeModules"] = Chromium, modules
	js, err := json.Marshal(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	cmd := exec.CommandContext(ctx, "node", filepath.Join(RepoRoot(t), filepath.FromSlash(script)), string(js))
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
	cmd.WaitDelay = 10 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	t.Logf("%s ran %s:\n%s", filepath.Base(script), time.Since(start).Round(time.Second), stderr.String())
	require.NoError(t, err, script)
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	require.NoError(t, json.Unmarshal([]byte(lines[len(lines)-1]), out), "%s output: %s", script, stdout.String())
}

// PageEvent is one line of a page's log (window.nagare.events).
type PageEvent struct {
	Ms     int    `json:"ms"`
	Type   string `json:"type"`
	Detail string `json:"detail"`
}

// PageState is what a publisher or subscriber page's window.nagare showed; FramesAtStart and StartupMs are
// the driver's, when it measured them.
type PageState struct {
	Missing         bool   `json:"missing"`
	State           string `json:"state"`
	Node            string `json:"node"`
	Error           string `json:"error"`
	FramesRendered  int    `json:"framesRendered"`
	FramesAtStart   int    `json:"framesAtStart"`
	StartupMs       *int   `json:"startupMs"`
	ConnectionState string `json:"connectionState"`
	// Segments is how many complete segments the hls.js player's media playlist lists (nil: not hls.js)
	Segments *int        `json:"segments"`
	Events   []PageEvent `json:"events"`
	Inbound  map[string]struct {
		Codec                string `json:"codec"`
		PacketsReceived      int    `json:"packetsReceived"`
		FramesDecoded        int    `json:"framesDecoded"`
		TotalSamplesReceived int    `json:"totalSamplesReceived"`
	} `json:"inbound"`
}

// Count is how many events of type typ the page logged.
func (s *PageState) Count(typ string) int {
	n := 0
	for _, e := range s.Events {
		if e.Type == typ {
			n++
		}
	}
	return n
}

// Log is the page's events, one a line, for the test log.
func (s *PageState) Log() string {
	var b strings.Builder
	for _, e := range s.Events {
		fmt.Fprintf(&b, "  +%6dms %s %s\n", e.Ms, e.Type, e.Detail)
	}
	return b.String()
}

// PageRun is what every page driver reports besides its pages' states: the browser, the driver's own
// failure, and what the browser saw of each page.
type PageRun struct {
	Browser     string `json:"browser"`
	DriverError string `json:"driverError"`
	Pages       []struct {
		Name           string           `json:"name"`
		PageStatus     int              `json:"pageStatus"`
		CSP            string           `json:"csp"`
		ConsoleErrors  []string         `json:"consoleErrors"`
		RequestsFailed []map[string]any `json:"requestsFailed"`
		Responses      []map[string]any `json:"responses"`
	} `json:"pages"`
}

// Check asserts what every page must show: served 200 with its CSP, no console error but the browser's
// own line for each non-2xx answer; and that the driver did not fail.
func (r *PageRun) Check(t testing.TB) {
	t.Helper()
	t.Logf("Chromium %s", r.Browser)
	for _, p := range r.Pages {
		assert.Equal(t, http.StatusOK, p.PageStatus, "%s page", p.Name)
		assert.Contains(t, p.CSP, "script-src 'self'", "%s page", p.Name)
		var errs []string
		for _, e := range p.ConsoleErrors {
			// the browser's line for each answer other than 2xx: the 401 of the node that lost the token in
			// the cross-origin redirect, the 404s and 503s of a stream that is gone or of a full edge; the
			// pages' events show them, and each test's checks what came of them
			if !strings.HasPrefix(e, "Failed to load resource: the server responded with a status of") {
				errs = append(errs, e)
			}
		}
		assert.Empty(t, errs, "%s: console errors", p.Name)
		t.Logf("%s: fetches %v", p.Name, p.Responses)
	}
	require.Empty(t, r.DriverError)
}
