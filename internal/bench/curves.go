package bench

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The cost curves (section 15): how a node's, an edge's, the manager's and the autoscaler's cost grows
// with the work, so that operators can size a cluster. scripts/bench.sh runs the ingest points with
// `nagare bench ingest` and the rest with the commands below; `nagare bench report -section curves`
// renders the table and the PNG.

// EdgeCurve is an edge's CPU at several segment request rates.
type EdgeCurve struct {
	Points []EdgePoint `json:"points"`
}

// EdgePoint is one wrk run against the edge's live-edge segment: paced (each connection waiting DelayMs
// between a response and its next request) or, with DelayMs 0, as fast as wrk can.
type EdgePoint struct {
	DelayMs int `json:"delayMs"`
	// FanoutRun is the median of the point's runs by CPU per request; CPUPercents are every run's CPU.
	FanoutRun
	CPUPercents []float64 `json:"cpuPercents,omitempty"`
}

// ManagerCurve is the stream manager's cost with several numbers of registered nodes.
type ManagerCurve struct {
	Points []ManagerPoint `json:"points"`
}

// ManagerPoint is the manager with Nodes registered in-service nodes reporting every ReportIntervalS.
type ManagerPoint struct {
	Nodes           int     `json:"nodes"`
	ReportIntervalS float64 `json:"reportIntervalS"`
	// Ingest is the manager receiving the reports and nothing else; ReportsPerSec how many came.
	Ingest        Usage   `json:"ingest"`
	ReportsPerSec float64 `json:"reportsPerSec"`
	// Routing is a paced wrk run on the viewer entry point (302) while the reports go on.
	Routing FanoutRun `json:"routing"`
	// ReportErrors counts the reports that failed, over both runs.
	ReportErrors int64 `json:"reportErrors"`
}

// TickCurve is the autoscaler's tick at several cluster sizes.
type TickCurve struct {
	Points []TickPoint `json:"points"`
}

func parseCounts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, usageErr("bad count %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// pacedScript writes a wrk script that waits delay between a response and the next request.
func pacedScript(delay time.Duration) (string, error) {
	f, err := os.CreateTemp("", "nagare-paced-*.lua")
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := fmt.Fprintf(f, "function delay()\n  return %d\nend\n", delay.Milliseconds()); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// edgeLoads are the paced loads of the edge curve: connections and think time, offering about
// conns / (delay + response time) requests a second, from a few hundred to a few thousand; then a
// saturating run.
var edgeLoads = []struct{ conns, delayMs int }{{2, 4}, {4, 4}, {8, 4}, {16, 4}, {64, 0}}

func cmdCurvesEdge(ctx context.Context, args []string, _, stderr io.Writer, log *slog.Logger) error {
	fs := newFlags("curves-edge", stderr)
	pid := fs.Int("pid", 0, "pid of the edge")
	playlist := fs.String("playlist", "", "the stream's playlist URL at the edge")
	d := fs.Duration("duration", 5*time.Second, "length of each wrk run (whole seconds)")
	rounds := fs.Int("rounds", 3, "wrk runs per point; the median by CPU per request is kept (a paced point uses a tenth of a core or so, where one run's background burst shows)")
	out := fs.String("out", "", "JSON result file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *pid <= 0 || *playlist == "" || *out == "" || *d < time.Second || *rounds < 1 {
		return usageErr("-pid, -playlist and -out are required, -duration at least 1s, -rounds at least 1")
	}
	c := newHTTPClient(10 * time.Second)
	defer c.CloseIdleConnections()
	t := fanoutTarget{Name: KindNagareEdge, Kind: KindNagare, PID: *pid, Playlist: *playlist}
	if err := waitFullWindow(ctx, c, t.Playlist, log); err != nil {
		return err
	}
	res := &EdgeCurve{}
	for _, l := range edgeLoads {
		var extra []string
		if l.delayMs > 0 {
			script, err := pacedScript(time.Duration(l.delayMs) * time.Millisecond)
			if err != nil {
				return err
			}
			defer os.Remove(script)
			extra = []string{"-s", script}
		}
		u, err := pickURL(ctx, c, t, "segment")
		if err != nil {
			return err
		}
		code, body, _, err := fetch(ctx, c, u)
		if err != nil || code != 200 {
			return fmt.Errorf("edge segment: status %d: %w", code, err)
		}
		var runs []FanoutRun
		var cpus []float64
		for range *rounds {
			run, err := wrk(ctx, *pid, u, min(2, l.conns), l.conns, *d, extra...)
			if err != nil {
				return err
			}
			run.Server, run.What, run.Bytes = KindNagareEdge, "segment", len(body)
			log.Info("edge curve", "conns", l.conns, "delayMs", l.delayMs, "reqPerSec", run.ReqPerSec, "cpuPercent", run.Usage.CPUPercent)
			runs, cpus = append(runs, run), append(cpus, run.Usage.CPUPercent)
		}
		res.Points = append(res.Points, EdgePoint{DelayMs: l.delayMs, FanoutRun: medianByCPUPerRequest(runs), CPUPercents: cpus})
	}
	return writeJSON(*out, res)
}

// medianByCPUPerRequest returns the run whose CPU per request is the median of runs' (the lower middle
// one of an even count).
func medianByCPUPerRequest(runs []FanoutRun) FanoutRun {
	perReq := func(r FanoutRun) float64 {
		if c := cpuPerKReq(&r); !math.IsNaN(c) {
			return c
		}
		return math.Inf(1) // served nothing: the most costly
	}
	sorted := slices.Clone(runs)
	slices.SortStableFunc(sorted, func(a, b FanoutRun) int { return cmp.Compare(perReq(a), perReq(b)) })
	return sorted[(len(sorted)-1)/2]
}

func cmdCurvesManager(ctx context.Context, args []string, _, stderr io.Writer, log *slog.Logger) error {
	fs := newFlags("curves-manager", stderr)
	bin := fs.String("bin", "", "nagare binary to run the manager from (default: this one)")
	nodesList := fs.String("nodes", "100,1000,10000", "comma-separated node counts")
	d := fs.Duration("duration", 5*time.Second, "length of each measurement (whole seconds)")
	interval := fs.Duration("report-interval", 2*time.Second, "node report interval")
	out := fs.String("out", "", "JSON result file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	counts, err := parseCounts(*nodesList)
	if err != nil {
		return err
	}
	if *out == "" || *d < time.Second {
		return usageErr("-out is required, -duration at least 1s")
	}
	exe := *bin
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return err
		}
	}
	script, err := pacedScript(pacedDelay)
	if err != nil {
		return err
	}
	defer os.Remove(script)
	res := &ManagerCurve{}
	for _, n := range counts {
		pt, err := managerPoint(ctx, exe, n, *interval, *d, script, log)
		if err != nil {
			return fmt.Errorf("%d nodes: %w", n, err)
		}
		res.Points = append(res.Points, pt)
	}
	return writeJSON(*out, res)
}

// managerPoint measures a manager (SQLite store) with n reporting nodes: the report ingest alone, then
// the paced routing run of section 6 while the reports go on.
func managerPoint(ctx context.Context, exe string, n int, interval, d time.Duration, script string, log *slog.Logger) (ManagerPoint, error) {
	pt := ManagerPoint{Nodes: n, ReportIntervalS: interval.Seconds()}
	m, rep, stop, err := startReporting(ctx, exe, "sqlite", "", n, interval, log)
	if err != nil {
		return pt, err
	}
	defer stop()
	before := rep.sent.Load()
	u, err := measureFor(ctx, m.cmd.Process.Pid, d)
	if err != nil {
		return pt, err
	}
	pt.Ingest, pt.ReportsPerSec = u, float64(rep.sent.Load()-before)/u.Seconds
	run, err := wrk(ctx, m.cmd.Process.Pid, "http://"+m.addr+"/live/bench/index.m3u8", 2, pacedConns, d, "-s", script)
	if err != nil {
		return pt, err
	}
	pt.Routing, pt.ReportErrors = run, rep.errors.Load()
	log.Info("manager curve", "nodes", n, "ingestCpuPercent", u.CPUPercent, "reqPerSec", run.ReqPerSec,
		"p99Ms", run.LatencyP99Ms, "routingCpuPercent", run.Usage.CPUPercent)
	return pt, nil
}

func cmdCurvesTick(ctx context.Context, args []string, _, stderr io.Writer, log *slog.Logger) error {
	fs := newFlags("curves-tick", stderr)
	nodesList := fs.String("nodes", "1000,10000", "comma-separated numbers of simulated nodes")
	ticks := fs.Int("ticks", 20, "ticks timed per size")
	out := fs.String("out", "", "JSON result file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	counts, err := parseCounts(*nodesList)
	if err != nil {
		return err
	}
	if *out == "" || *ticks < 1 {
		return usageErr("-out is required, -ticks at least 1")
	}
	res := &TickCurve{}
	for _, n := range counts {
		pt, err := measureTick(ctx, n, *ticks)
		if err != nil {
			return fmt.Errorf("%d nodes: %w", n, err)
		}
		log.Info("tick curve", "nodes", n, "medianMs", pt.MedianMs, "p95Ms", pt.P95Ms, "setupS", pt.SetupS)
		res.Points = append(res.Points, pt)
	}
	return writeJSON(*out, res)
}
