package bench

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// curvesHeading starts the cost curves section; scripts/bench.sh splices it after the others.
const curvesHeading = "## 15. Cost curves"

// curvesResults are the cost-curve measurements of one run; a part not measured is nil or empty.
type curvesResults struct {
	Ingest  []*IngestRun
	Edge    *EdgeCurve
	Manager *ManagerCurve
	Tick    *TickCurve
}

func loadCurves(dir string) (*curvesResults, error) {
	r := &curvesResults{}
	files, err := filepath.Glob(filepath.Join(dir, "curves-ingest-*.json"))
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		v := &IngestRun{}
		if err := readJSON(f, v); err != nil {
			return nil, err
		}
		r.Ingest = append(r.Ingest, v)
	}
	slices.SortFunc(r.Ingest, func(a, b *IngestRun) int { return a.Streams - b.Streams })
	for _, x := range []struct {
		name string
		v    any
	}{{"curves-edge.json", &r.Edge}, {"curves-manager.json", &r.Manager}, {"curves-tick.json", &r.Tick}} {
		p := filepath.Join(dir, x.name)
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err := readJSON(p, x.v); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// curvePoint is one measurement of a curve: the work (streams, req/s, nodes) and its cost.
type curvePoint struct {
	Work, Cost float64
	// Why is what the run recorded at this point that may explain a faster growth (empty: nothing).
	Why string
}

// curveStep compares the cost per unit of work at a point with the point before.
type curveStep struct {
	From, To               curvePoint
	PerUnitFrom, PerUnitTo float64
	// Ratio is PerUnitTo ÷ PerUnitFrom; above 1 + superlinearTolerance the curve grows faster than
	// linearly over the step.
	Ratio       float64
	Superlinear bool
}

// superlinearTolerance is the rise of the per-unit cost over a step that is not called faster than
// linear: the runs of one bench vary by about that much.
const superlinearTolerance = 0.10

// curveSteps compares each point's cost per unit of work with the point before's.
func curveSteps(pts []curvePoint) []curveStep {
	var out []curveStep
	for i := 1; i < len(pts); i++ {
		a, b := pts[i-1], pts[i]
		if a.Work <= 0 || b.Work <= 0 || math.IsNaN(a.Cost) || math.IsNaN(b.Cost) {
			continue
		}
		s := curveStep{From: a, To: b, PerUnitFrom: a.Cost / a.Work, PerUnitTo: b.Cost / b.Work}
		s.Ratio = s.PerUnitTo / s.PerUnitFrom
		if s.PerUnitFrom <= 0 {
			s.Ratio = math.NaN()
		}
		s.Superlinear = s.PerUnitFrom > 0 && s.Ratio > 1+superlinearTolerance
		out = append(out, s)
	}
	return out
}

// curve is one cost curve as the section states it.
type curve struct {
	Name     string // "ingest CPU"
	Work     string // unit of work, singular: "stream"
	Cost     string // unit of cost: "% of one core"
	Per      float64
	PerLabel string // how the per-unit cost is written: "per stream", "per 1,000 req/s"
	Points   []curvePoint
}

// buildCurves turns the measurements into the curves of the section; cpus is the machine's.
func buildCurves(r *curvesResults, cpus int) []curve {
	var out []curve
	if len(r.Ingest) > 0 {
		cpu := curve{Name: "node ingest CPU", Work: "streams", Cost: "% of one core", Per: 1, PerLabel: "per stream"}
		mem := curve{Name: "node ingest memory above idle (RSS + files kept)", Work: "streams", Cost: "MiB", Per: 1, PerLabel: "per stream"}
		for _, in := range r.Ingest {
			busy := in.Usage.CPUPercent + in.PublisherCPUPercent + in.Usage.OthersCPUPercent
			why := ""
			if busy >= 0.85*float64(100*cpus) {
				why = fmt.Sprintf("the machine was nearly saturated at %d streams (server %s %%, publishers %s %%, others %s %% of %d %%): "+
					"contention for the cores raises the CPU time of the same work", in.Streams,
					num(in.Usage.CPUPercent), num(in.PublisherCPUPercent), num(in.Usage.OthersCPUPercent), 100*cpus)
			}
			cpu.Points = append(cpu.Points, curvePoint{Work: float64(in.Streams), Cost: in.Usage.CPUPercent, Why: why})
			mem.Points = append(mem.Points, curvePoint{Work: float64(in.Streams), Cost: in.TotalMiB() - in.Idle.RSSMiB,
				Why: heapWhy(in)})
		}
		out = append(out, cpu, mem)
	}
	if r.Edge != nil && len(r.Edge.Points) > 0 {
		c := curve{Name: "edge CPU serving the live-edge segment", Work: "req/s", Cost: "% of one core", Per: 1000, PerLabel: "per 1,000 req/s"}
		pts := slices.Clone(r.Edge.Points)
		slices.SortFunc(pts, func(a, b EdgePoint) int { return int(a.ReqPerSec - b.ReqPerSec) })
		for _, p := range pts {
			why := ""
			if p.DelayMs == 0 {
				why = fmt.Sprintf("at %s req/s wrk ran as fast as it could, on the same cores (wrk %s %%, others %s %%)",
					num(p.ReqPerSec), num(p.WrkCPUPercent), num(p.Usage.OthersCPUPercent))
			}
			c.Points = append(c.Points, curvePoint{Work: p.ReqPerSec, Cost: p.Usage.CPUPercent, Why: why})
		}
		out = append(out, c)
	}
	if r.Manager != nil && len(r.Manager.Points) > 0 {
		cpu := curve{Name: "manager CPU ingesting node reports", Work: "nodes", Cost: "% of one core", Per: 1000, PerLabel: "per 1,000 nodes"}
		p99 := curve{Name: "routing p99 (302 entry point, paced)", Work: "nodes", Cost: "ms", Per: 1000, PerLabel: "per 1,000 nodes"}
		for _, p := range r.Manager.Points {
			why := ""
			if p.ReportsPerSec > 0 {
				why = fmt.Sprintf("%s reports/s cost %s µs of CPU each", num(p.ReportsPerSec), num(p.Ingest.CPUPercent/100/p.ReportsPerSec*1e6))
			}
			cpu.Points = append(cpu.Points, curvePoint{Work: float64(p.Nodes), Cost: p.Ingest.CPUPercent, Why: why})
			p99.Points = append(p99.Points, curvePoint{Work: float64(p.Nodes), Cost: p.Routing.LatencyP99Ms,
				Why: fmt.Sprintf("the manager used %s %% of a core at %s req/s", num(p.Routing.Usage.CPUPercent), num(p.Routing.ReqPerSec))})
		}
		out = append(out, cpu, p99)
	}
	if r.Tick != nil && len(r.Tick.Points) > 0 {
		c := curve{Name: "autoscaler tick", Work: "nodes", Cost: "ms", Per: 1000, PerLabel: "per 1,000 nodes"}
		for _, p := range r.Tick.Points {
			c.Points = append(c.Points, curvePoint{Work: float64(p.Nodes), Cost: p.MedianMs,
				Why: fmt.Sprintf("%s B allocated per node per tick, %d collections in %d ticks", num(p.AllocBytes/float64(p.Nodes)), p.GCs, p.Ticks)})
		}
		out = append(out, c)
	}
	return out
}

// heapWhy says how much of a node's memory was its Go heap, when it was read.
func heapWhy(in *IngestRun) string {
	if in.HeapMiB <= 0 {
		return ""
	}
	return fmt.Sprintf("Go heap in use %s MiB of %s MiB RSS", num(in.HeapMiB), num(in.Usage.RSSMiB))
}

func renderCurves(p printer, r *curvesResults, m Machine, command, pngName string) {
	p("%s\n\n", curvesHeading)
	p("How the cost grows with the work, so that a cluster can be sized: measured %s by `%s` on %d logical\n", m.Date, command, m.CPUs)
	p("CPUs (%s). Everything shares the machine with its load generators, as in the other sections, so the\n", m.CPU)
	p("figures are this machine's and the shapes of the curves matter more than their absolute values.\n\n")
	p("![cost curves](%s)\n\n", pngName)
	p("(The axes of streams and nodes are logarithmic: a straight line there is not a linear cost; the tables\n")
	p("below compare the cost per unit of work.)\n\n")

	if len(r.Ingest) > 0 {
		p("**Node ingest.** `nagare bench ingest` against a fresh `nagare node` (defaults) per point: N publishers of\n")
		p("a %.0f kbit/s clip (`.cache/bench/clip-500k.ts`, 854x480 H.264 + AAC, made once), no viewers, measured as\n", r.Ingest[0].Kbps)
		p("in section 4 (window %.0f s; memory is the RSS plus the files kept, read at the end of the window).\n\n", r.Ingest[0].Usage.Seconds)
		p("| streams | CPU %% of one core | RSS MiB | files MiB | total MiB | idle RSS MiB | Go heap in use MiB | publishers CPU %% | others CPU %% | playable |\n")
		p("|---|---|---|---|---|---|---|---|---|---|\n")
		for _, in := range r.Ingest {
			heap := "–"
			if in.HeapMiB > 0 {
				heap = num(in.HeapMiB)
			}
			p("| %d | %s | %s | %s | %s | %s | %s | %s | %s | %d/%d |\n", in.Streams, num(in.Usage.CPUPercent), num(in.Usage.RSSMiB),
				filesCell(in.Files), num(in.TotalMiB()), num(in.Idle.RSSMiB), heap, num(in.PublisherCPUPercent),
				num(in.Usage.OthersCPUPercent), in.Playable, in.Streams)
		}
		p("\n")
	}
	if r.Edge != nil && len(r.Edge.Points) > 0 {
		p("**Edge.** A `nagare node --role edge` in front of an origin carrying the 2 Mbit/s clip of sections 1–4; wrk\n")
		p("on the live-edge segment through the edge, paced (each connection waits the think time between a response\n")
		p("and its next request) at a few rates, then as fast as it can. Each point is the median of %d runs by CPU per\n", max(len(r.Edge.Points[0].CPUPercents), 1))
		p("request (a paced point uses a tenth of a core or so, where a burst of the edge's background work in one run\n")
		p("shows); every run's CPU is in the last column.\n\n")
		p("| conns | think time | req/s | edge CPU %% | CPU %% per 1,000 req/s | p99 ms | wrk CPU %% | others CPU %% | non-2xx | socket errors | every run's edge CPU %% |\n")
		p("|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, e := range r.Edge.Points {
			think := "none (saturating)"
			if e.DelayMs > 0 {
				think = fmt.Sprintf("%d ms", e.DelayMs)
			}
			every := make([]string, len(e.CPUPercents))
			for i, c := range e.CPUPercents {
				every[i] = num(c)
			}
			p("| %d | %s | %s | %s | %s | %s | %s | %s | %d | %d | %s |\n", e.Conns, think, num(e.ReqPerSec), num(e.Usage.CPUPercent),
				num(cpuPerKReq(&e.FanoutRun)), num(e.LatencyP99Ms), num(e.WrkCPUPercent), num(e.Usage.OthersCPUPercent), e.Non2xx, e.SocketErrors,
				cmp.Or(strings.Join(every, ", "), "–"))
		}
		p("\n")
	}
	if r.Manager != nil && len(r.Manager.Points) > 0 {
		p("**Manager.** `nagare manager` (SQLite store) with N registered in-service nodes reporting every %.0f s, as in\n", r.Manager.Points[0].ReportIntervalS)
		p("section 6: first the reports alone, then, while they go on, the paced routing run of section 6 (%d\n", pacedConns)
		p("connections, %s think time) on the 302 entry point.\n\n", pacedDelay)
		p("| nodes | reports/s | manager CPU %% (reports only) | RSS MiB | routing req/s | p50 ms | p99 ms | manager CPU %% while routing | non-2xx/3xx | report errors |\n")
		p("|---|---|---|---|---|---|---|---|---|---|\n")
		for _, x := range r.Manager.Points {
			p("| %d | %s | %s | %s | %s | %s | %s | %s | %d | %d |\n", x.Nodes, num(x.ReportsPerSec), num(x.Ingest.CPUPercent), num(x.Ingest.RSSMiB),
				num(x.Routing.ReqPerSec), num(x.Routing.LatencyP50Ms), num(x.Routing.LatencyP99Ms), num(x.Routing.Usage.CPUPercent), x.Routing.Non2xx, x.ReportErrors)
		}
		p("\n")
	}
	if r.Tick != nil && len(r.Tick.Points) > 0 {
		p("**Autoscaler.** `nagare bench curves-tick` builds, in its own process, what the manager's autoscaler works\n")
		p("on: the SQLite store (on tmpfs), the node registry and the sim cloud controller on a simulated clock, with\n")
		p("one origin and N−1 edges in service that report between two ticks (2 s of simulated time; the reports are\n")
		p("not timed), and times `autoscaler.Loop.Tick` (BenchmarkTick of `internal/manager/autoscaler` at any size).\n\n")
		p("| nodes | ticks | tick median ms | p95 ms | allocated per tick | allocations per tick | collections during the ticks | setup s |\n")
		p("|---|---|---|---|---|---|---|---|\n")
		for _, t := range r.Tick.Points {
			p("| %d | %d | %s | %s | %s MiB | %s | %d | %s |\n", t.Nodes, t.Ticks, num(t.MedianMs), num(t.P95Ms),
				num(t.AllocBytes/(1<<20)), num(t.Allocs), t.GCs, num(t.SetupS))
		}
		p("\n")
	}

	curves := buildCurves(r, m.CPUs)
	p("### Cost per unit of work, step by step\n\n")
	p("Each step compares the cost per unit of work at a point with the point before; a rise of more than %.0f %%\n", 100*superlinearTolerance)
	p("(about what the runs vary by) is growth faster than linear.\n\n")
	p("| curve | step | cost | cost per unit | per unit vs the step before |\n|---|---|---|---|---|\n")
	var super []string
	for _, c := range curves {
		steps := curveSteps(c.Points)
		for i, pt := range c.Points {
			vs := "–"
			for _, s := range steps {
				if s.To == pt {
					vs = fmt.Sprintf("%s ×", num(s.Ratio))
					if s.Superlinear {
						vs = fmt.Sprintf("**%s ×**", num(s.Ratio))
					}
				}
			}
			name := ""
			if i == 0 {
				name = fmt.Sprintf("%s (%s)", c.Name, c.Cost)
			}
			p("| %s | %s %s | %s | %s %s | %s |\n", name, reqs(pt.Work), c.Work, num(pt.Cost), num(pt.Cost/pt.Work*c.Per), c.PerLabel, vs)
		}
		for _, s := range steps {
			if !s.Superlinear {
				continue
			}
			why := "the run's data does not show why"
			if s.To.Why != "" {
				why = s.To.Why
				if s.From.Why != "" && !strings.HasPrefix(s.To.Why, "the machine") && !strings.HasPrefix(s.To.Why, "at ") {
					why = fmt.Sprintf("%s (at %s %s: %s)", s.To.Why, reqs(s.From.Work), c.Work, s.From.Why)
				}
			}
			super = append(super, fmt.Sprintf("%s, from %s to %s %s: %s %s became %s (%s ×); %s.", c.Name, reqs(s.From.Work),
				reqs(s.To.Work), c.Work, num(s.PerUnitFrom*c.Per), c.PerLabel, num(s.PerUnitTo*c.Per), num(s.Ratio), why))
		}
	}
	p("\n")
	if len(super) == 0 {
		p("No curve grows faster than linearly in this run.\n\n")
	} else {
		p("Where a curve grows faster than linearly in this run, with what the run recorded there:\n\n")
		for _, s := range super {
			p("- %s\n", s)
		}
		p("\n")
	}
	p("Raw results: `.cache/bench/last-run/curves-*.json`.\n")
}

// curvePanels are the PNG's panels.
func curvePanels(r *curvesResults) []plotPanel {
	xy := func(n int, f func(i int) (float64, float64)) ([]float64, []float64) {
		xs, ys := make([]float64, n), make([]float64, n)
		for i := range n {
			xs[i], ys[i] = f(i)
		}
		return xs, ys
	}
	var panels []plotPanel
	in := r.Ingest
	x1, y1 := xy(len(in), func(i int) (float64, float64) { return float64(in[i].Streams), in[i].Usage.CPUPercent })
	panels = append(panels, plotPanel{Title: "Node ingest: CPU", XLabel: "streams (500 kbit/s)", YLabel: "% of one core", LogX: true,
		Series: []plotSeries{{X: x1, Y: y1, Color: plotColors[0]}}})
	xr, yr := xy(len(in), func(i int) (float64, float64) { return float64(in[i].Streams), in[i].Usage.RSSMiB })
	_, yt := xy(len(in), func(i int) (float64, float64) { return 0, in[i].TotalMiB() })
	panels = append(panels, plotPanel{Title: "Node ingest: memory", XLabel: "streams (500 kbit/s)", YLabel: "MiB", LogX: true,
		Series: []plotSeries{{Name: "RSS", X: xr, Y: yr, Color: plotColors[0]}, {Name: "RSS + files kept", X: xr, Y: yt, Color: plotColors[1]}}})
	var edge []EdgePoint
	if r.Edge != nil {
		edge = slices.Clone(r.Edge.Points)
		slices.SortFunc(edge, func(a, b EdgePoint) int { return int(a.ReqPerSec - b.ReqPerSec) })
	}
	xe, ye := xy(len(edge), func(i int) (float64, float64) { return edge[i].ReqPerSec, edge[i].Usage.CPUPercent })
	panels = append(panels, plotPanel{Title: "Edge: CPU serving segments", XLabel: "segment requests/s", YLabel: "% of one core",
		Series: []plotSeries{{X: xe, Y: ye, Color: plotColors[0]}}})
	var mg []ManagerPoint
	if r.Manager != nil {
		mg = r.Manager.Points
	}
	xm, ym := xy(len(mg), func(i int) (float64, float64) { return float64(mg[i].Nodes), mg[i].Ingest.CPUPercent })
	_, ymr := xy(len(mg), func(i int) (float64, float64) { return 0, mg[i].Routing.Usage.CPUPercent })
	panels = append(panels, plotPanel{Title: "Manager: CPU", XLabel: "registered nodes", YLabel: "% of one core", LogX: true,
		Series: []plotSeries{{Name: "reports only", X: xm, Y: ym, Color: plotColors[0]}, {Name: "reports + paced routing", X: xm, Y: ymr, Color: plotColors[1]}}})
	_, yp := xy(len(mg), func(i int) (float64, float64) { return 0, mg[i].Routing.LatencyP99Ms })
	panels = append(panels, plotPanel{Title: "Manager: routing p99 (paced)", XLabel: "registered nodes", YLabel: "ms", LogX: true,
		Series: []plotSeries{{X: xm, Y: yp, Color: plotColors[0]}}})
	var tk []TickPoint
	if r.Tick != nil {
		tk = r.Tick.Points
	}
	xt, ytk := xy(len(tk), func(i int) (float64, float64) { return float64(tk[i].Nodes), tk[i].MedianMs })
	panels = append(panels, plotPanel{Title: "Autoscaler: tick (median)", XLabel: "simulated nodes", YLabel: "ms", LogX: true,
		Series: []plotSeries{{X: xt, Y: ytk, Color: plotColors[0]}}})
	return panels
}

// writeCurvesPNG draws the curves into path.
func writeCurvesPNG(path string, r *curvesResults) error {
	return writePNG(path, curvePanels(r), 3)
}
