package loadtest

import (
	"cmp"
	"fmt"
	"html/template"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
)

// WriteHTML writes the report as one self-contained HTML page (inline SVG charts, no script, nothing
// fetched): totals, the audience over time (viewers and stalled, latency behind live, stalls and errors,
// part and segment load times, viewers per edge) with the manager's scale events marked on the same time
// axis, the events, and the viewers who stalled longest.
func WriteHTML(w io.Writer, rep *Report) error {
	xs := make([]float64, len(rep.Timeline))
	for i, t := range rep.Timeline {
		xs[i] = t.At
	}
	col := func(f func(Tick) float64) []float64 {
		ys := make([]float64, len(rep.Timeline))
		for i, t := range rep.Timeline {
			ys[i] = f(t)
		}
		return ys
	}
	var marks []mark
	for _, e := range rep.ScaleEvents {
		marks = append(marks, mark{at: e.At, label: e.Action + " " + e.Role})
	}
	hosts := map[string]bool{}
	for _, t := range rep.Timeline {
		for h := range t.Hosts {
			hosts[h] = true
		}
	}
	var perEdge []series
	for i, h := range slices.Sorted(maps.Keys(hosts)) {
		perEdge = append(perEdge, series{name: h, color: palette[i%len(palette)], ys: col(func(t Tick) float64 { return float64(t.Hosts[h]) })})
	}
	charts := []template.HTML{
		chart("Viewers", "", xs, marks, series{"playing or stalled", palette[0], col(func(t Tick) float64 { return float64(t.Viewers) })},
			series{"stalled now", palette[3], col(func(t Tick) float64 { return float64(t.Stalled) })}),
		chart("Latency behind live", "s", xs, marks, series{"p50", palette[0], col(func(t Tick) float64 { return t.LatencyP50Ms / 1000 })},
			series{"p95", palette[1], col(func(t Tick) float64 { return t.LatencyP95Ms / 1000 })}),
		chart("Stalls and errors so far", "", xs, marks, series{"stalls", palette[3], col(func(t Tick) float64 { return float64(t.Stalls) })},
			series{"errors", palette[4], col(func(t Tick) float64 { return float64(t.Errors) })}),
		chart("Part and segment loads", "ms", xs, marks, series{"p50", palette[0], col(func(t Tick) float64 { return t.LoadP50Ms })},
			series{"p95", palette[1], col(func(t Tick) float64 { return t.LoadP95Ms })},
			series{"p99", palette[3], col(func(t Tick) float64 { return t.LoadP99Ms })}),
		chart("Viewers per edge", "", xs, marks, perEdge...),
	}
	worst := slices.Clone(rep.Viewers)
	slices.SortFunc(worst, func(a, b ViewerStats) int {
		return cmp.Or(cmp.Compare(b.LongestStallMs, a.LongestStallMs), cmp.Compare(b.Errors, a.Errors), cmp.Compare(a.ID, b.ID))
	})
	worst = worst[:min(len(worst), 50)]
	return page.Execute(w, struct {
		R      *Report
		Charts []template.HTML
		Worst  []ViewerStats
	}{rep, charts, worst})
}

var palette = []string{"#2563eb", "#d97706", "#059669", "#dc2626", "#7c3aed", "#0891b2", "#65a30d", "#db2777"}

type series struct {
	name, color string
	ys          []float64
}

type mark struct {
	at    float64
	label string
}

// chart draws series over xs (seconds) as an SVG line chart with the marks as dashed vertical lines.
func chart(title, unit string, xs []float64, marks []mark, ss ...series) template.HTML {
	const w, h, left, right, top, bottom = 760.0, 220.0, 56.0, 24.0, 28.0, 30.0
	xmax, ymax := 1.0, 0.0
	for _, x := range xs {
		xmax = max(xmax, x)
	}
	for _, s := range ss {
		for _, y := range s.ys {
			if !math.IsNaN(y) && !math.IsInf(y, 0) {
				ymax = max(ymax, y)
			}
		}
	}
	ymax = niceCeil(ymax)
	px := func(x float64) float64 { return left + x/xmax*(w-left-right) }
	py := func(y float64) float64 { return h - bottom - y/ymax*(h-top-bottom) }
	var b strings.Builder
	fmt.Fprintf(&b, `<figure><svg viewBox="0 0 %.0f %.0f" role="img" aria-label="%s">`, w, h, template.HTMLEscapeString(title))
	fmt.Fprintf(&b, `<text x="%.0f" y="16" class="t">%s</text>`, left, template.HTMLEscapeString(title))
	for i := 0; i <= 4; i++ {
		y := ymax * float64(i) / 4
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" class="g"/><text x="%.1f" y="%.1f" class="a" text-anchor="end">%s%s</text>`,
			left, w-right, py(y), py(y), left-4, py(y)+4, num(y), unit)
	}
	for i := 0; i <= 6; i++ {
		x := xmax * float64(i) / 6
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" class="a" text-anchor="middle">%.0fs</text>`, px(x), h-10, x)
	}
	for _, m := range marks {
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" class="m"><title>%s at %.0f s</title></line>`,
			px(m.at), px(m.at), top, h-bottom, template.HTMLEscapeString(m.label), m.at)
	}
	for _, s := range ss {
		var pts []string
		for i, y := range s.ys {
			if i < len(xs) && !math.IsNaN(y) {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(xs[i]), py(y)))
			}
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.6" points="%s"><title>%s</title></polyline>`,
			s.color, strings.Join(pts, " "), template.HTMLEscapeString(s.name))
	}
	b.WriteString(`</svg><figcaption>`)
	for _, s := range ss {
		fmt.Fprintf(&b, `<span><i style="background:%s"></i>%s</span> `, s.color, template.HTMLEscapeString(s.name))
	}
	if len(marks) > 0 {
		b.WriteString(`<span><i class="mk"></i>scale events</span>`)
	}
	b.WriteString(`</figcaption></figure>`)
	return template.HTML(b.String()) // every text in it is escaped above
}

// niceCeil rounds y up to 1, 2 or 5 times a power of ten (1 for nothing to show).
func niceCeil(y float64) float64 {
	if y <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(y)))
	for _, m := range []float64{1, 2, 5, 10} {
		if y <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func num(y float64) string {
	if y == math.Trunc(y) {
		return fmt.Sprintf("%.0f", y)
	}
	return fmt.Sprintf("%.2g", y)
}

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"ms":  func(f float64) string { return fmt.Sprintf("%.0f ms", f) },
	"div": func(b int64) float64 { return float64(b) / 1e6 },
	"s":   func(f float64) string { return fmt.Sprintf("%.2f s", f/1000) },
	"startup": func(p *float64) string {
		if p == nil {
			return "never"
		}
		return fmt.Sprintf("%.0f ms", *p)
	},
	"hosts": func(m map[string]int) string {
		var s []string
		for _, h := range slices.Sorted(maps.Keys(m)) {
			s = append(s, fmt.Sprintf("%s (%d)", h, m[h]))
		}
		return strings.Join(s, ", ")
	},
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>nagare loadtest — {{.R.URL}}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px auto;max-width:800px;color:#111}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse;margin:8px 0}td,th{border-bottom:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
figure{margin:16px 0}svg{width:100%;height:auto}.t{font-weight:600;font-size:13px}.a{font-size:11px;fill:#555}
.g{stroke:#eee}.m{stroke:#9ca3af;stroke-dasharray:4 3}
figcaption span{margin-right:14px;font-size:12px}figcaption i{display:inline-block;width:12px;height:3px;margin-right:4px;vertical-align:middle}
i.mk{border-top:2px dashed #9ca3af;height:0}
.bad{color:#b91c1c;font-weight:600}
</style></head><body>
<h1>nagare loadtest</h1>
<p>{{.R.URL}} — started {{.R.Started.Format "2006-01-02 15:04:05 MST"}}, {{printf "%.0f" .R.Duration}} s</p>
{{with .R.Totals}}<table>
<tr><th>viewers</th><td>{{.Viewers}} (started {{.Started}})</td></tr>
<tr><th>viewers cut</th><td{{if .ViewersCut}} class="bad"{{end}}>{{.ViewersCut}}</td></tr>
<tr><th>startup p50 / p95</th><td>{{ms .StartupP50Ms}} / {{ms .StartupP95Ms}}</td></tr>
<tr><th>latency behind live p50 / p95</th><td>{{s .LatencyP50Ms}} / {{s .LatencyP95Ms}}</td></tr>
<tr><th>stalls</th><td>{{.Stalls}} (viewers stalled {{.ViewersStalled}}, longest {{ms .LongestStallMs}})</td></tr>
<tr><th>errors</th><td{{if .Errors}} class="bad"{{end}}>{{.Errors}}</td></tr>
<tr><th>requests</th><td>{{.Requests}} ({{printf "%.0f" .RequestsPerSec}}/s), {{printf "%.1f" (div .Bytes)}} MB</td></tr>
<tr><th>pathway switches</th><td>{{.PathwaySwitches}}</td></tr>
</table>{{end}}
{{range .Charts}}{{.}}{{end}}
{{if .R.ScaleEventsError}}<p class="bad">Scale events: {{.R.ScaleEventsError}}</p>{{end}}
{{if .R.ScaleEvents}}<h2>Scale events</h2><table><tr><th>at</th><th>group</th><th>role</th><th>action</th><th>reason</th></tr>
{{range .R.ScaleEvents}}<tr><td>{{printf "%.0f" .At}} s</td><td>{{.Group}}</td><td>{{.Role}}</td><td>{{.Action}}</td><td>{{.Reason}}</td></tr>
{{end}}</table>{{end}}
<h2>Viewers who stalled longest</h2>
<table><tr><th>viewer</th><th>startup</th><th>stalls</th><th>longest</th><th>errors</th><th>edges (requests)</th><th>last error</th></tr>
{{range .Worst}}<tr><td>{{.ID}}{{if .Cut}} <span class="bad">cut</span>{{end}}</td><td>{{startup .StartupMs}}</td><td>{{.Stalls}}</td><td>{{ms .LongestStallMs}}</td><td>{{.Errors}}</td><td>{{hosts .Hosts}}</td><td>{{.LastError}}</td></tr>
{{end}}</table>
<p>The same data as JSON: <code>nagare loadtest -json</code>.</p>
</body></html>
`))
