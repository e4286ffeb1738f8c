package bench

import (
	"fmt"
	"strings"
	"time"

	"github.com/nagare-video/nagare/internal/loadtest"
)

// modelHeading starts the section of `nagare bench model`; scripts/bench.sh splices it after the others.
const modelHeading = "## 17. The load generator's player model against hls.js"

// renderModel is the section of docs/benchmarks.md.
func renderModel(p printer, r *ModelResult, m Machine, command string) {
	p("%s\n\n", modelHeading)
	p("Measured %s by `%s` on %d logical CPUs (%s; load average %s at the start of the run,\n",
		m.Date, command, m.CPUs, orDash(m.CPU), orDash(m.LoadStart))
	p("%s at its end): `%s`, in Chromium %s headless (Debian's) driven by playwright-core\n",
		orDash(m.LoadEnd), r.command(), orDash(r.Browser))
	p("(`internal/bench/web/model.mjs`).\n\n")
	p("`nagare loadtest` plays LL-HLS with virtual players that behave like hls.js in low-latency mode\n")
	p("([docs/loadtest.md](loadtest.md)); here one of them and hls.js %s (`lowLatencyMode: true`, its defaults\n", orDash(r.HLSJS))
	p("otherwise, as a new viewer's page has it) play the same live stream, the clip of sections 1–4 published\n")
	p("in real time to a `nagare node` with its defaults (LL-HLS, %s s segments, %s s parts, PART-HOLD-BACK\n",
		webN(r.SegmentS), webN(r.PartTargetS))
	p("%s s). Each session is one hls.js page (a new browser context: no cache, no connection) and one\n", webN(r.PartHoldBackS))
	p("virtual player (a `loadtest.Run` of one viewer), one after the other, taking turns at going first;\n")
	p("the two join at the same phase of a segment. Where a player joins decides the part it can start from and\n")
	p("how long the node holds its first media playlist request (until it lists the next part), so the sessions'\n")
	p("phases spread over the parts of a segment and over the time within a part at once: the phase is measured\n")
	p("from the instants the node lists parts (followed with blocking reloads before the sessions), and both\n")
	p("players join %.0f ms before it, so that their first media playlist request lands there (hls.js asks\n",
		float64(modelRequestLead.Milliseconds()))
	p("15–52 ms after its multivariant playlist, the virtual player after its start work on it), at least\n")
	p("%.0f ms from a listing, where a request would wait nothing or a whole part by chance. Before\n",
		float64(modelListingMargin.Milliseconds()))
	p("the sessions, one page plays for a moment, not counted, so that the first does not pay for Chromium's\n")
	p("start. Measured the same way for both: **startup** from the request of the multivariant playlist\n")
	p("(hls.js: its resource-timing `startTime`) to the first frame presented (hls.js:\n")
	p("`requestVideoFrameCallback`'s `presentationTime`; the virtual player: the media at its start position\n")
	p("loaded, its modelled work on each playlist and object before that included (`loadtest.DefaultStartWork`,\n")
	p("%.0f ms), plus its modelled first-frame time (`loadtest.DefaultFirstFrame`, %.0f ms)); **latency behind live** as the\n",
		float64(loadtest.DefaultStartWork.Milliseconds()), float64(loadtest.DefaultFirstFrame.Milliseconds()))
	p("wall clock minus the program date at the playhead\n")
	p("(hls.js: `Date.now() - hls.playingDate`, every 100 ms; the virtual player: its own samples, the latest\n")
	p("of each second of its report's timeline), over %s s after a warm-up of %s s from the player's start,\n", webN(r.DurationS), webN(r.WarmupS))
	p("its median per session. The figures below are the medians over the sessions (ranges in brackets).\n")
	p("Target (issue 17): the model's startup and latency within %.0f %% of hls.js's. hls.js's figures grow with\n", modelTolerance*100)
	p("the machine's load (Chromium decodes the picture), the virtual player's do not; why the two differ:\n")
	p("[docs/loadtest.md, \"The model against hls.js\"](loadtest.md#the-model-against-hlsjs).\n\n")
	r.render(p)
	p("\nRaw results: `.cache/bench/last-run/model.json` (every session's samples, and the requests hls.js\n")
	p("made before its first frame).\n")
}

// command is the subcommand as scripts/bench.sh runs it.
func (r *ModelResult) command() string {
	return fmt.Sprintf("nagare bench model -clip %s -sessions %d -warmup %s -duration %s", r.Clip, len(r.Sessions),
		time.Duration(r.WarmupS*float64(time.Second)), time.Duration(r.DurationS*float64(time.Second)))
}

// render writes the result's tables: the comparison, then each session.
func (r *ModelResult) render(p printer) {
	s := r.Summary
	p("| Target | Goal | hls.js | virtual player | virtual ÷ hls.js | Verdict |\n|---|---|---|---|---|---|\n")
	p("| startup: multivariant playlist request → first frame | within %.0f %% of hls.js | %s | %s | %s | %s |\n",
		modelTolerance*100, msRange(s.HLSJS.Started, s.HLSJS.StartupMedianMs, s.HLSJS.StartupMinMs, s.HLSJS.StartupMaxMs),
		msRange(s.Virtual.Started, s.Virtual.StartupMedianMs, s.Virtual.StartupMinMs, s.Virtual.StartupMaxMs),
		modelRatio(s.StartupRatio), modelVerdict(s.StartupRatio))
	p("| latency behind live (median per session) | within %.0f %% of hls.js | %s | %s | %s | %s |\n",
		modelTolerance*100, msRange(s.HLSJS.Sampled, s.HLSJS.LatencyMedianMs, s.HLSJS.LatencyMinMs, s.HLSJS.LatencyMaxMs),
		msRange(s.Virtual.Sampled, s.Virtual.LatencyMedianMs, s.Virtual.LatencyMinMs, s.Virtual.LatencyMaxMs),
		modelRatio(s.LatencyRatio), modelVerdict(s.LatencyRatio))
	loaded := 0.0
	if s.HLSJS.MediaLoadedMs > 0 && s.Virtual.MediaLoadedMs > 0 {
		loaded = s.Virtual.MediaLoadedMs / s.HLSJS.MediaLoadedMs
	}
	p("| (information) multivariant playlist request → the media at the start of the playhead loaded (hls.js: the part holding its start position; virtual: the same, its startup less its first-frame time) | – | %s | %s | %s | – |\n\n",
		modelMsMedian(s.HLSJS.MediaLoadedMs), modelMsMedian(s.Virtual.MediaLoadedMs), modelRatio(loaded))

	p("| session | joins at (into a segment) | first | startup ms: hls.js / virtual | hls.js: start part loaded, ms | latency ms at the start: hls.js / virtual | latency ms, median: hls.js / virtual | hls.js's start: playhead − buffered start | stalls: hls.js / virtual | errors: hls.js / virtual |\n")
	p("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, ss := range r.Sessions {
		p("| %d | %.2f s | %s | %s / %s | %s | %s / %s | %s / %s | %s | %d / %d | %d / %d |\n", ss.N, ss.PhaseS, ss.First,
			modelMs(ss.HLSJS.StartupMs), modelMs(ss.Virtual.StartupMs), modelMs(ss.HLSJS.MediaLoadedMs),
			modelMs(ss.HLSJS.StartLatencyMs), modelMs(ss.Virtual.StartLatencyMs),
			modelMs(ss.HLSJS.LatencyMedianMs), modelMs(ss.Virtual.LatencyMedianMs), ss.Page.skipped(),
			ss.HLSJS.Stalls, ss.Virtual.Stalls, ss.HLSJS.Errors, ss.Virtual.Errors)
	}
	var problems []string
	for _, ss := range r.Sessions {
		for _, pl := range []struct {
			who string
			p   ModelPlay
		}{{"hls.js", ss.HLSJS}, {"virtual", ss.Virtual}} {
			if pl.p.Error != "" {
				problems = append(problems, fmt.Sprintf("session %d, %s: %s", ss.N, pl.who, pl.p.Error))
			}
		}
		if ss.Page != nil && ss.Page.JoinLateMs > 50 {
			problems = append(problems, fmt.Sprintf("session %d, hls.js joined %.0f ms late (the page's timer)", ss.N, ss.Page.JoinLateMs))
		}
		if ss.Page != nil && len(ss.Page.Errors) > 0 {
			problems = append(problems, fmt.Sprintf("session %d, hls.js errors: %s", ss.N, errorCounts(ss.Page.Errors)))
		}
	}
	if len(problems) > 0 {
		p("\nNot measured or went wrong: %s.\n", strings.Join(problems, "; "))
	}
}

// skipped is how far into its buffer hls.js started playing: it loads from an independent part and seeks
// to its start position.
func (pg *modelPage) skipped() string {
	if pg == nil || pg.FirstFrame == nil || pg.FirstFrame.BufferedStartS == nil {
		return "–"
	}
	return fmt.Sprintf("%.2f s", pg.FirstFrame.MediaTimeS-*pg.FirstFrame.BufferedStartS)
}

func modelMsMedian(v float64) string {
	if v <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f ms", v)
}

func modelMs(v *float64) string {
	if v == nil {
		return "–"
	}
	return fmt.Sprintf("%.0f", *v)
}

// msRange is "median ms (min–max)" of n sessions.
func msRange(n int, median, lo, hi float64) string {
	if n == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f ms (%.0f–%.0f, %d sessions)", median, lo, hi, n)
}

func modelRatio(r float64) string {
	if r <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", r)
}
