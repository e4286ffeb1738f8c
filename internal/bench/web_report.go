package bench

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// webHeading starts the web section; scripts/bench.sh splices it after the others.
const webHeading = "## 16. Web console and public site"

// webTargetCPU is the target for the manager with 20 consoles open on a cluster of 100 nodes: at most this
// much of one core.
const webTargetCPU = 5.0

// webStat is the median and the 90th percentile of one figure over some loads.
type webStat struct {
	N           int
	Median, P90 float64
}

// webStatOf sums up f over the loads that did not fail and have the figure.
func webStatOf(loads []WebLoad, f func(WebLoad) (float64, bool)) webStat {
	var vs []float64
	for _, l := range loads {
		if l.Error != "" {
			continue
		}
		if v, ok := f(l); ok {
			vs = append(vs, v)
		}
	}
	slices.Sort(vs)
	return webStat{N: len(vs), Median: Percentile(vs, 50), P90: Percentile(vs, 90)}
}

// webTiming reads one of a load's times.
func webTiming(get func(WebLoad) *float64) func(WebLoad) (float64, bool) {
	return func(l WebLoad) (float64, bool) {
		v := get(l)
		if v == nil {
			return 0, false
		}
		return *v, true
	}
}

// webSignInMs is the time from the sign-in form's submit to the cluster view shown.
func webSignInMs(l WebLoad) (float64, bool) {
	if l.ViewMs == nil || l.SubmitMs == nil {
		return 0, false
	}
	return *l.ViewMs - *l.SubmitMs, true
}

// webCount reads one of a load's byte counts.
func webCount(get func(WebBytes) int64) func(WebLoad) (float64, bool) {
	return func(l WebLoad) (float64, bool) { return float64(get(l.Bytes)), true }
}

// webGroup is the loads of one page in one cache state.
type webGroup struct {
	Page, Path, Cache string
	Loads             []WebLoad
}

// failures are the errors of the group's loads that failed.
func (g webGroup) failures() []string {
	var out []string
	for _, l := range g.Loads {
		if l.Error != "" {
			out = append(out, l.Error)
		}
	}
	return out
}

// groupLoads groups the loads by page and cache state, in the order they first came.
func groupLoads(loads []WebLoad) []webGroup {
	var out []webGroup
	for _, l := range loads {
		i := slices.IndexFunc(out, func(g webGroup) bool { return g.Page == l.Page && g.Cache == l.Cache })
		if i < 0 {
			out = append(out, webGroup{Page: l.Page, Path: l.Path, Cache: l.Cache})
			i = len(out) - 1
		}
		out[i].Loads = append(out[i].Loads, l)
	}
	return out
}

// webMsCell is "median / p90" in ms.
func webMsCell(s webStat) string {
	if s.N == 0 {
		return "–"
	}
	return fmt.Sprintf("%s / %s", webMs(s.Median), webMs(s.P90))
}

func webMs(v float64) string { return fmt.Sprintf("%.0f", v) }

// webN formats a count (a median of counts may be a half).
func webN(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// webKiB formats bytes as KiB.
func webKiB(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return num(v/1024) + " KiB"
}

// webPageNames describes the pages measured.
var webPageNames = map[string]string{
	"console":     "console, cluster view",
	webSignInPage: "console, sign-in, then the cluster view",
	"live":        "site, live page",
	"watch":       "site, watch page",
}

// webPageName names a group's page in the tables; the video's id, different every run, is left out.
func webPageName(g webGroup, videoID string) string {
	name := webPageNames[g.Page]
	if name == "" {
		name = g.Page
	}
	path := g.Path
	if videoID != "" {
		path = strings.ReplaceAll(path, videoID, "<id>")
	}
	return fmt.Sprintf("%s `%s`", name, path)
}

func renderWeb(p printer, r *WebResult, m Machine, command string) {
	p("%s\n\n", webHeading)
	p("Measured %s by `%s` on %d logical CPUs\n", m.Date, command, m.CPUs)
	p("(%s), in %s headless (Debian's) driven by playwright-core (`internal/bench/web/render.mjs`), all\n", m.CPU, orDash(r.Browser))
	p("on loopback. The site's pages are served by a `nagare all` with the 2 Mbit/s 720p clip of sections 1–4\n")
	p("published live as `%s` and, for the watch page, a short video (scripts/bench.sh makes a 6 s 640x360\n", webStream)
	p("MP4) uploaded over gRPC and processed by its VOD service; the console by a `nagare manager` with %d\n", r.Nodes)
	p("simulated in-service nodes reporting changing loads every %s s (one origin, the rest edges), as in\n", webN(r.ReportIntervalS))
	p("section 6.\n\n")
	p("**Time to first render.** Each page is loaded %d times cold (a new browser context: empty cache, no\n", r.Runs)
	p("connections; the console's session cookie set beforehand through `POST /console/api/session`) and, after\n")
	p("each cold load, warm (a new tab of the same context: its HTTP cache filled). The times are the browser's\n")
	p("own, from the navigation's start: TTFB and DOMContentLoaded from PerformanceNavigationTiming, FCP the\n")
	p("`first-contentful-paint` entry, *view shown* a mark an init script sets at the end of the first frame after\n")
	p("the view's element entered the document (the console: the first `data-testid=\"node-row\"`; the site: the\n")
	p("player, `data-testid=\"player\"`), *player ready* the video's `loadedmetadata` and *first frame* its\n")
	p("`loadeddata` (the first frame decoded). Median / p90 in ms.\n\n")
	groups := groupLoads(r.Loads)
	p("| page | cache | loads | TTFB | FCP | DOMContentLoaded | view shown | player ready | first frame |\n")
	p("|---|---|---|---|---|---|---|---|---|\n")
	for _, g := range groups {
		ok := len(g.Loads) - len(g.failures())
		p("| %s | %s | %d", webPageName(g, r.VideoID), g.Cache, ok)
		if f := len(g.failures()); f > 0 {
			p(" (%d failed)", f)
		}
		p(" | %s | %s | %s | %s | %s | %s |\n",
			webMsCell(webStatOf(g.Loads, webTiming(func(l WebLoad) *float64 { return l.TTFBMs }))),
			webMsCell(webStatOf(g.Loads, webTiming(func(l WebLoad) *float64 { return l.FCPMs }))),
			webMsCell(webStatOf(g.Loads, webTiming(func(l WebLoad) *float64 { return l.DCLMs }))),
			webMsCell(webStatOf(g.Loads, webTiming(func(l WebLoad) *float64 { return l.ViewMs }))),
			webMsCell(webStatOf(g.Loads, webTiming(func(l WebLoad) *float64 { return l.PlayerReadyMs }))),
			webMsCell(webStatOf(g.Loads, webTiming(func(l WebLoad) *float64 { return l.FirstFrameMs }))))
	}
	p("\n")
	for _, g := range groups {
		if g.Page != webSignInPage {
			continue
		}
		s := webStatOf(g.Loads, webSignInMs)
		p("Sign-in: in a new context, the token typed into the console's sign-in form and submitted; from the\n")
		p("submit to the cluster view shown (its first node row): %s ms (median / p90 of %d). The row above is\n", webMsCell(s), s.N)
		p("that load: *view shown* is then the cluster view after the sign-in, not the form.\n\n")
	}
	for _, s := range r.Skipped {
		p("Not measured: %s — %s.\n\n", s.Page, s.Reason)
	}
	for _, g := range groups {
		if f := g.failures(); len(f) > 0 {
			p("Failed loads of %s (%s): %s.\n\n", g.Page, g.Cache, strings.Join(slices.Compact(slices.Sorted(slices.Values(f))), "; "))
		}
	}

	p("**Transferred bytes.** Counted on the wire through the DevTools protocol (Network.loadingFinished's\n")
	p("`encodedDataLength`: headers and body as received, so compressed where the server compressed; a request\n")
	p("still running counts what it had received), for the requests of the load when its view was shown (with a\n")
	p("player: its first frame), apart for the page (document, scripts, styles, API calls, the console's event\n")
	p("stream) and media (playlists, segments). Decoded is the bodies as the page got them; *compressed* the\n")
	p("responses with a `Content-Encoding`. Medians.\n\n")
	p("| page | cache | requests (from cache) | page on the wire | page decoded | compressed responses: on the wire / decoded | media on the wire |\n")
	p("|---|---|---|---|---|---|---|\n")
	for _, g := range groups {
		if g.Page == webSignInPage {
			continue
		}
		st := func(get func(WebBytes) int64) float64 { return webStatOf(g.Loads, webCount(get)).Median }
		media := "–"
		if st(func(b WebBytes) int64 { return int64(b.Media.Requests) }) > 0 {
			media = webKiB(st(func(b WebBytes) int64 { return b.Media.WireBytes }))
		}
		p("| %s | %s | %s (%s) | %s | %s | %s: %s / %s | %s |\n", webPageName(g, r.VideoID), g.Cache,
			webN(st(func(b WebBytes) int64 { return int64(b.Page.Requests + b.Media.Requests) })),
			webN(st(func(b WebBytes) int64 { return int64(b.Page.Cached + b.Media.Cached) })),
			webKiB(st(func(b WebBytes) int64 { return b.Page.WireBytes })),
			webKiB(st(func(b WebBytes) int64 { return b.Page.DecodedBytes })),
			webN(st(func(b WebBytes) int64 { return int64(b.Page.Compressed) })),
			webKiB(st(func(b WebBytes) int64 { return b.Page.CompressedWireBytes })),
			webKiB(st(func(b WebBytes) int64 { return b.Page.CompressedDecodedBytes })),
			media)
	}
	p("\n")

	if len(r.Watch) > 0 {
		p("**The manager's cost of the console's live updates.** The same `nagare manager` and simulated nodes;\n")
		p("consoles are Go clients on `GET /api/v1/watch` with the admin token (asking for gzip, as browsers do),\n")
		p("each counting the bytes it receives and its `event: cluster` pictures; first none, then all of them,\n")
		p("connected 3 s before the window. CPU is the manager process's (`/proc/<pid>/stat`) over the window, in %%\n")
		p("of one core; it includes ingesting the nodes' reports (the row without consoles). Target: ≤ %s %% of one\n", webN(webTargetCPU))
		p("core with 20 consoles open on a cluster of 100 nodes.\n\n")
		p("| consoles | window | manager CPU %% of one core | RSS MiB | pictures/s per console | KiB/s per console | KiB per picture | node reports/s | others CPU %% | stream errors | target |\n")
		p("|---|---|---|---|---|---|---|---|---|---|---|\n")
		var base float64 = math.NaN()
		for _, w := range r.Watch {
			verdict := "–"
			if w.Consoles == 0 {
				base = w.Usage.CPUPercent
			} else {
				verdict = Verdict(w.Usage.CPUPercent, webTargetCPU, false, " points")
				if r.Nodes != 100 || w.Consoles != 20 {
					verdict = "– (the target is for 20 consoles and 100 nodes)"
				}
			}
			perEvent := math.NaN()
			if w.EventsPerSec > 0 {
				perEvent = w.BytesPerSec / w.EventsPerSec
			}
			events, rate := "–", "–"
			if w.Consoles > 0 {
				events, rate = num(w.EventsPerSec), num(w.BytesPerSec/1024)
			}
			enc := ""
			if w.Encoding != "" {
				enc = " (" + w.Encoding + ")"
			}
			p("| %d | %.0f s | %s | %s | %s | %s%s | %s | %s | %s | %d | %s |\n", w.Consoles, w.Usage.Seconds, num(w.Usage.CPUPercent),
				num(w.Usage.RSSMiB), events, rate, enc, strings.TrimSuffix(webKiB(perEvent), " KiB"), num(w.ReportsPerSec),
				num(w.Usage.OthersCPUPercent), w.StreamErrors, verdict)
		}
		p("\n")
		for _, w := range r.Watch {
			if w.Consoles > 0 && !math.IsNaN(base) {
				p("The %d consoles cost the manager %s points of one core over the row without consoles.\n\n", w.Consoles, num(w.Usage.CPUPercent-base))
			}
		}
	}
	p("Raw results: `.cache/bench/last-run/web.json`.\n")
}
