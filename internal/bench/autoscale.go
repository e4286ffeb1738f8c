package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cmdAutoscale measures the autoscaler with the process cloud controller: from the alarm (the scale-out
// decision, caused by a viewer no edge had room for) to the new edge in service; from kill -9 of an edge to
// it being marked dead and to its replacement in service. The tick time with 1,000 simulated nodes is
// measured by the Go benchmark BenchmarkTick (internal/manager/autoscaler), which scripts/bench.sh runs.
func cmdAutoscale(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) error {
	fs := newFlags("autoscale", stderr)
	bin := fs.String("bin", "", "nagare binary (default: this one)")
	clipPath := fs.String("clip", "", "MPEG-TS clip to publish (as for latency)")
	outs := fs.Int("scaleouts", 4, "scale-outs to measure")
	kills := fs.Int("kills", 3, "kill -9 replacements to measure")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *clipPath == "" {
		return usageErr("-clip is required")
	}
	clip, err := LoadClip(*clipPath)
	if err != nil {
		return err
	}
	exe := *bin
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return err
		}
	}
	dir, err := os.MkdirTemp("", "nagare-bench-autoscale")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	cmd := exec.Command(exe, "manager")
	cmd.Env = append(os.Environ(),
		"NAGARE_MANAGER_ADDRESS=127.0.0.1:0", "NAGARE_MANAGER_STORE_DSN="+filepath.Join(dir, "m.db"),
		"NAGARE_MANAGER_ADMIN_TOKEN="+mgrBenchToken, "NAGARE_CLUSTER_SECRET="+mgrBenchSecret,
		"NAGARE_MANAGER_REPORT_INTERVAL=1s", "NAGARE_MANAGER_NODE_TIMEOUT=3s",
		"NAGARE_MANAGER_AUTOSCALE_CONTROLLER=process", "NAGARE_MANAGER_AUTOSCALE_INTERVAL=250ms",
		// the reactive path is measured: a predictive scale-out would add edges before the viewer arrives
		"NAGARE_MANAGER_AUTOSCALE_PREDICTIVE=false",
		"NAGARE_MANAGER_AUTOSCALE_SETTINGS=binary="+exe+",workDir="+dir+",logDir="+filepath.Join(dir, "nodes"),
		"NAGARE_STORAGE_DIRECTORY="+filepath.Join(dir, "objects"), "NAGARE_PUBLISH_ALLOW_UNAUTHENTICATED=true")
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	addrCh := make(chan string, 1)
	go func() {
		defer close(done)
		re := regexp.MustCompile(`msg="manager running" address=(\S+)`)
		sc := bufio.NewScanner(errPipe)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addrCh <- m[1]
			}
		}
		_ = cmd.Wait()
	}()
	defer interrupt(cmd, done, 40*time.Second)
	var base string
	select {
	case a := <-addrCh:
		base = "http://" + a
	case <-time.After(30 * time.Second):
		return fmt.Errorf("the manager did not start")
	}
	c := &asClient{base: base}
	sm := base + "/streammanager/api/3.1"
	q := "?accessToken=" + mgrBenchToken
	maxEdges := *outs + 2
	for _, call := range []struct{ url, body string }{
		{sm + "/admin/configurations/scalepolicy" + q, fmt.Sprintf(`{"policy":{"name":"bench","targets":{"target":[{"role":"edge","minLimit":1,"maxLimit":%d,"scaleAdjustment":1,"estimatedWarmUpTime":30000,"coolDownPeriod":3600000},{"role":"origin","minLimit":1,"maxLimit":1,"scaleAdjustment":1}]}}}`, maxEdges)},
		{sm + "/admin/configurations/launchconfig" + q, `{"launchconfig":{"name":"bench","image":"nagare","targets":{"target":[{"role":"origin","instanceType":"local","connectionCapacity":2000},{"role":"edge","instanceType":"local","connectionCapacity":1}]}}}`},
		{sm + "/admin/nodegroup" + q, `{"name":"bench","regions":["local"],"launchConfig":"bench","scalePolicy":"bench"}`},
		{sm + "/admin/alarm/scaleout/default" + q + "&type=edge&threshold=100", ``},
	} {
		if code, body := c.do(ctx, "POST", call.url, call.body, nil); code >= 300 {
			return fmt.Errorf("POST %s: %d %s", call.url, code, body)
		}
	}
	if err := c.until(ctx, 60*time.Second, func() bool {
		return len(c.nodes(ctx, "origin", "inservice")) == 1 && len(c.nodes(ctx, "edge", "inservice")) == 1
	}); err != nil {
		return fmt.Errorf("the group never came up: %w", err)
	}
	var ev map[string]any
	if code, body := c.do(ctx, "GET", sm+"/event/live/bench?action=broadcast", "", &ev); code != 200 {
		return fmt.Errorf("broadcast call: %d %s", code, body)
	}
	pctx, stopPub := context.WithCancel(ctx)
	defer stopPub()
	pub := &Publisher{URL: fmt.Sprint(ev["rtmpUrl"]), Clip: clip}
	go func() {
		if err := pub.Run(pctx); err != nil && pctx.Err() == nil {
			log.Error("publisher stopped", "cause", err)
		}
	}()
	vctx, stopViewers := context.WithCancel(ctx)
	defer stopViewers()

	// scale-outs: fill the newest edge with a viewer, then one more viewer finds no room
	var alarmToService, viewerToService []time.Duration
	for i := 0; i < *outs; i++ {
		var sub map[string]any
		if err := c.until(ctx, 60*time.Second, func() bool {
			code, _ := c.do(ctx, "GET", sm+"/event/live/bench?action=subscribe", "", &sub)
			return code == 200
		}); err != nil {
			return fmt.Errorf("no edge for viewer %d: %w", i+1, err)
		}
		edge := fmt.Sprint(sub["nodeId"])
		log.Info("viewer", "edge", edge, "url", sub["hlsUrl"])
		go keepWatching(vctx, fmt.Sprint(sub["hlsUrl"]))
		if err := c.until(ctx, 30*time.Second, func() bool { return c.connections(ctx, edge) >= 1 }); err != nil {
			return fmt.Errorf("edge %s never reported its viewer: %w", edge, err)
		}
		before := len(c.events(ctx, "scale-out"))
		// the next viewer finds every edge full: the manager answers 503 and scales out
		turnedAway := time.Now()
		if code, body := c.do(ctx, "GET", sm+"/event/live/bench?action=subscribe", "", nil); code != http.StatusServiceUnavailable {
			return fmt.Errorf("viewer %d was not turned away while every edge is full: %d %s", i+2, code, body)
		}
		var out asEvent
		if err := c.until(ctx, 30*time.Second, func() bool {
			evs := c.events(ctx, "scale-out")
			if len(evs) > before {
				out = evs[len(evs)-1]
				return true
			}
			return false
		}); err != nil {
			return fmt.Errorf("no scale-out: %w", err)
		}
		at, err := c.inServiceAt(ctx, out.Nodes[0], 60*time.Second)
		if err != nil {
			return err
		}
		alarmToService = append(alarmToService, at.Sub(out.At))
		viewerToService = append(viewerToService, at.Sub(turnedAway))
		log.Info("scale-out measured", "edge", out.Nodes[0], "alarmToInService", at.Sub(out.At), "turnedAwayToInService", at.Sub(turnedAway))
	}
	stopViewers()

	// a node that dies (kill -9: the cloud reports it gone) and one that hangs (SIGSTOP: it falls silent
	// and the manager's node timeout finds it): time to the replacement decision and to the replacement
	// in service
	type failure struct {
		name   string
		signal syscall.Signal
		found  []time.Duration
		served []time.Duration
	}
	failures := []*failure{{name: "kill -9", signal: syscall.SIGKILL}, {name: "SIGSTOP (hung, silent)", signal: syscall.SIGSTOP}}
	for _, f := range failures {
		for i := 0; i < *kills; i++ {
			edges := c.nodes(ctx, "edge", "inservice")
			if len(edges) == 0 {
				return fmt.Errorf("no edge in service to kill")
			}
			victim := edges[0]
			pid := c.pid(ctx, victim)
			if pid == 0 {
				return fmt.Errorf("no process for %s", victim)
			}
			before := len(c.events(ctx, "replace"))
			killed := time.Now()
			if err := syscall.Kill(pid, f.signal); err != nil {
				return err
			}
			var rep asEvent
			if err := c.until(ctx, 30*time.Second, func() bool {
				evs := c.events(ctx, "replace")
				if len(evs) > before {
					rep = evs[len(evs)-1]
					return true
				}
				return false
			}); err != nil {
				return fmt.Errorf("%s not replaced: %w", victim, err)
			}
			at, err := c.inServiceAt(ctx, rep.Nodes[0], 60*time.Second)
			if err != nil {
				return err
			}
			f.found = append(f.found, rep.At.Sub(killed))
			f.served = append(f.served, at.Sub(killed))
			log.Info("replacement measured", "failure", f.name, "node", victim, "replaced", rep.At.Sub(killed), "inService", at.Sub(killed))
			if f.signal == syscall.SIGSTOP {
				_ = syscall.Kill(pid, syscall.SIGKILL) // the controller's terminate would, after its stop timeout
			}
		}
	}

	fmt.Fprintln(stdout, "| measurement | runs | median | max | target |")
	fmt.Fprintln(stdout, "|---|---|---|---|---|")
	row := func(name string, ds []time.Duration, target string) {
		sum := Summarize(ds)
		fmt.Fprintf(stdout, "| %s | %d | %.0f ms | %.0f ms | %s |\n", name, sum.N, sum.Median, sum.Max, target)
	}
	row("alarm (scale-out decision) → new edge in service (process controller)", alarmToService, "≤ 3 s")
	row("viewer turned away (503) → new edge in service", viewerToService, "—")
	for _, f := range failures {
		row(f.name+" of an edge → found dead, replacement launched", f.found, "—")
		row(f.name+" of an edge → replacement in service", f.served, "—")
	}
	return nil
}

// keepWatching plays an HLS URL like a player would (the media playlist every 500 ms) until ctx ends.
func keepWatching(ctx context.Context, hlsURL string) {
	// the edge pulls the stream on the first request: wait until it has a playlist
	u, err := mediaPlaylistURL(ctx, http.DefaultClient, hlsURL, 200*time.Millisecond)
	if err != nil {
		return
	}
	for ctx.Err() == nil {
		_, _, _, _ = fetch(ctx, http.DefaultClient, u)
		if sleepCtx(ctx, 500*time.Millisecond) != nil {
			return
		}
	}
}

type asClient struct{ base string }

type asEvent struct {
	Action string    `json:"action"`
	Role   string    `json:"role"`
	Nodes  []string  `json:"nodes"`
	At     time.Time `json:"at"`
}

func (c *asClient) do(ctx context.Context, method, u, body string, out any) (int, string) {
	req, err := http.NewRequestWithContext(ctx, method, u, strings.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	req.Header.Set("Authorization", "Bearer "+mgrBenchToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil && res.StatusCode < 300 {
		_ = json.NewDecoder(bytes.NewReader(b)).Decode(out)
	}
	return res.StatusCode, string(b)
}

func (c *asClient) until(ctx context.Context, d time.Duration, ok func() bool) error {
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s", d)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

func (c *asClient) nodes(ctx context.Context, role, state string) []string {
	var ns []struct {
		ID, Role, State string
	}
	c.do(ctx, "GET", c.base+"/api/v1/nodes?group=bench", "", &ns)
	var out []string
	for _, n := range ns {
		if n.Role == role && n.State == state {
			out = append(out, n.ID)
		}
	}
	return out
}

func (c *asClient) connections(ctx context.Context, id string) int {
	var n struct {
		Stats struct{ Connections int } `json:"stats"`
	}
	c.do(ctx, "GET", c.base+"/api/v1/nodes/"+id, "", &n)
	return n.Stats.Connections
}

func (c *asClient) events(ctx context.Context, action string) []asEvent {
	var evs, out []asEvent
	c.do(ctx, "GET", c.base+"/api/v1/scaleevents?group=bench&limit=1000", "", &evs)
	for _, e := range evs {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

type nodeEvent struct {
	To    string    `json:"to"`
	Cause string    `json:"cause"`
	At    time.Time `json:"at"`
}

func (c *asClient) nodeEvents(ctx context.Context, id string) []nodeEvent {
	var evs []nodeEvent
	c.do(ctx, "GET", c.base+"/api/v1/nodes/"+id+"/events", "", &evs)
	return evs
}

// inServiceAt waits for node id to enter service and returns when the manager recorded it.
func (c *asClient) inServiceAt(ctx context.Context, id string, d time.Duration) (time.Time, error) {
	var at time.Time
	err := c.until(ctx, d, func() bool {
		for _, e := range c.nodeEvents(ctx, id) {
			if e.To == "inservice" {
				at = e.At
				return true
			}
		}
		return false
	})
	if err != nil {
		return at, fmt.Errorf("%s never entered service: %w", id, err)
	}
	return at, nil
}

func (c *asClient) pid(ctx context.Context, id string) int {
	var insts []struct {
		ID, NodeID, State string
	}
	c.do(ctx, "GET", c.base+"/api/v1/instances", "", &insts)
	for _, in := range insts {
		if in.NodeID == id && in.State == "running" {
			p, _ := strconv.Atoi(in.ID)
			return p
		}
	}
	return 0
}
