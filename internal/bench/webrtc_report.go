package bench

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path/filepath"
	"runtime/debug"
	"strings"
)

// webrtcHeading starts the WebRTC section; scripts/bench.sh splices it in like the VOD section.
const webrtcHeading = "## 11. WebRTC: WHIP and WHEP through an edge"

// webrtcResults are the JSON files of the webrtc phase; any may be missing.
type webrtcResults struct {
	Glass *WebRTCGlassResult
	Start *WebRTCStartResult
	Load  *WebRTCLoadResult
}

func loadWebRTCResults(dir string) (*webrtcResults, error) {
	r := &webrtcResults{}
	found := false
	for name, v := range map[string]any{"webrtc-glass.json": &r.Glass, "webrtc-start.json": &r.Start, "webrtc-load.json": &r.Load} {
		err := readJSON(filepath.Join(dir, name), v)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		found = true
	}
	if !found {
		return nil, fmt.Errorf("no webrtc-*.json in %s", dir)
	}
	return r, nil
}

// span is the phase's load averages (the first command's start, the last one's end), its date (the last
// command's end) and the time its commands took.
func (r *webrtcResults) span() (loadStart, loadEnd, date string, seconds float64) {
	var runs []*phaseRun
	if r.Glass != nil {
		runs = append(runs, &r.Glass.phaseRun)
	}
	if r.Start != nil {
		runs = append(runs, &r.Start.phaseRun)
	}
	if r.Load != nil {
		runs = append(runs, &r.Load.phaseRun)
	}
	for _, run := range runs {
		if loadStart == "" {
			loadStart = run.LoadStart
		}
		loadEnd, date = run.LoadEnd, run.Date
		seconds += run.Seconds
	}
	return loadStart, loadEnd, date, seconds
}

// pionVersion is the pion/webrtc module this binary was built with.
func pionVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "pion/webrtc"
	}
	for _, d := range bi.Deps {
		if d.Path == "github.com/pion/webrtc/v4" {
			return "pion/webrtc " + d.Version
		}
	}
	return "pion/webrtc"
}

func (r *webrtcResults) glassRun(source string) *WebRTCGlassRun {
	if r.Glass == nil {
		return nil
	}
	for i := range r.Glass.Runs {
		if r.Glass.Runs[i].Source == source {
			return &r.Glass.Runs[i]
		}
	}
	return nil
}

func renderWebRTC(p printer, r *webrtcResults, m Machine, command string) {
	loadStart, loadEnd, date, seconds := r.span()
	browser, playwright := "", ""
	if r.Glass != nil {
		playwright = r.Glass.Playwright
		for _, run := range r.Glass.Runs {
			if run.Page.Browser != "" {
				browser = run.Page.Browser
			}
		}
	}
	p("%s\n\n", webrtcHeading)
	p("WebRTC on the media nodes: WHIP ingest on an origin, WHEP playback at an edge that takes each stream from\n")
	p("the origin once over WHEP. One `nagare node` origin and one `nagare node --role edge --parent <origin>`, both\n")
	p("with their defaults on free loopback ports (`--webrtc 127.0.0.1:0`: one UDP port, ICE-TCP on the same\n")
	p("number), except unauthenticated publishing on the origin and `webrtc.offersPerMinute: 0` on both (the bench\n")
	p("makes every offer from 127.0.0.1, which the default of 120 a minute would refuse). Publishers, viewers and\n")
	p("the browser run on the same machine over 127.0.0.1. Measured in its own phase, whose run is described here.\n\n")
	p("| | |\n|---|---|\n")
	p("| Date | %s |\n", orDash(date))
	p("| Command | `%s`, which runs `nagare bench webrtc-glass`, `nagare bench webrtc-start` and `nagare bench webrtc` against the two nodes (the phase's measurements took %.0f s) |\n", command, seconds)
	p("| CPU | %s, %d logical CPUs (nproc) |\n| Memory | %s |\n| Kernel | %s |\n", m.CPU, m.CPUs, m.Memory, m.Kernel)
	p("| Load average (1, 5, 15 min) | %s at start, %s at end |\n", orDash(loadStart), orDash(loadEnd))
	p("| Tools | Chromium %s (Debian, headless, driven by playwright-core %s), ffmpeg %s, %s (the bench's clients) |\n\n",
		orDash(browser), orDash(playwright), m.FFmpeg, pionVersion())

	whip, rtmp := r.glassRun("whip"), r.glassRun("rtmp")
	median := func(run *WebRTCGlassRun) float64 {
		if run == nil || run.Page.Decoded == 0 {
			return nan()
		}
		return run.summary().Median
	}
	perCoreBest, bestViewers := nan(), 0
	if r.Load != nil {
		if b, ok := r.Load.best(); ok && b.Edge.CPUPercent > 0 {
			perCoreBest, bestViewers = perCore(b.Viewers, b.Edge.CPUPercent), b.Viewers
		}
	}
	p("| Target | Goal | measured | Verdict |\n|---|---|---|---|\n")
	p("| glass to glass, Chromium → WHIP → origin → edge → WHEP → Chromium (median) | ≤ %.0f ms | %s ms | %s |\n",
		targetWHIPGlassMs, num(median(whip)), Verdict(median(whip), targetWHIPGlassMs, false, " ms"))
	p("| glass to glass, ffmpeg → RTMP → origin → edge → WHEP → Chromium (median) | ≤ %.0f ms | %s ms | %s |\n",
		targetRTMPGlassMs, num(median(rtmp)), Verdict(median(rtmp), targetRTMPGlassMs, false, " ms"))
	p("| WHEP viewers per edge core (viewers ÷ the edge's CPU in cores, at the largest step within %s %% loss: %d viewers) | ≥ %s | %s | %s |\n\n",
		num(lossLimit(r.Load)), bestViewers, thousands(targetViewersPerCore), num(perCoreBest), Verdict(perCoreBest, targetViewersPerCore, true, " viewers"))

	renderWebRTCGlass(p, r)
	renderWebRTCStart(p, r)
	renderWebRTCLoad(p, r)
	p("Raw results: `.cache/bench/last-run/webrtc-glass.json`, `webrtc-start.json` and `webrtc-load.json`.\n")
}

func lossLimit(l *WebRTCLoadResult) float64 {
	if l == nil {
		return 1
	}
	return l.MaxLossPercent
}

// thousands writes a whole number with a comma every three digits.
func thousands(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func renderWebRTCGlass(p printer, r *webrtcResults) {
	p("### Glass to glass\n\n")
	if r.Glass == nil || len(r.Glass.Runs) == 0 {
		p("Not measured in this run.\n\n")
		return
	}
	g := r.Glass.Runs[0]
	p("`nagare bench webrtc-glass -warmup %.0fs -duration %.0fs`: Debian's Chromium, headless, opens\n", g.WarmupS, g.DurationS)
	p("`test/players/web/webrtc-glass.html` (driven by `webrtc-glass.mjs`, as if served by the edge) and plays the\n")
	p("stream over WHEP at the edge; on every frame it renders (`requestVideoFrameCallback`) it draws the frame's\n")
	p("top left corner into a canvas, reads the time stamp drawn there (the boxes of section 9: a white and a black\n")
	p("reference, the low 32 bits of a time in ms, a CRC-8; a frame whose boxes do not read back counts as failed)\n")
	p("and records now minus the stamp, now being `performance.timeOrigin + performance.now()`. Two sources, each a\n")
	p("new stream, sampled for %.0f s after %.0f s from the first decoded frame:\n\n", g.DurationS, g.WarmupS)
	p("- **WHIP**: the same page draws %s frames at %d fps into a canvas, each stamped with the time it is drawn,\n", g.Size, g.FPS)
	p("  and sends the canvas (`captureStream`, `contentHint = 'detail'`, H.264 preferred, at most 2 Mbit/s) over\n")
	p("  WHIP to the origin: publisher and viewer are one page, so both ends read one clock.\n")
	if rtmp := r.glassRun("rtmp"); rtmp != nil {
		p("- **RTMP**: the bench makes %s frames at %d fps in real time with the Unix time in ms as the stamp (as\n", rtmp.Size, rtmp.FPS)
		p("  section 9), and pipes them into %s, which publishes over RTMP to the origin. The page\n", rtmp.Encoder)
		p("  compares with the same machine's clock.\n")
	}
	p("\nStamp → last packet received is the frame's `receiveTime` (from the video frame callback) minus its stamp:\n")
	p("encoding, the nodes and the network; received → shown is the rest (jitter buffer, decoding, rendering).\n")
	p("Jitter buffer, decode and encode times are averages per frame over the window from Chromium's WebRTC\n")
	p("statistics; a freeze is Chromium's (a frame shown late by more than max(3 × the mean interval, mean + 150 ms)).\n\n")
	p("| source → player | frames rendered | decoded | failed to decode | median ms | p95 ms | p99 ms | min ms | max ms | stamp → last packet received, median / p95 ms | received → shown, median ms | frames per second: published / received / rendered | jitter buffer ms | decode ms | encode ms | freezes (total s) | keyframes decoded | target |\n")
	p("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for i := range r.Glass.Runs {
		run := &r.Glass.Runs[i]
		s := run.summary()
		target, goal := "RTMP → WHEP", targetRTMPGlassMs
		if run.Source == "whip" {
			target, goal = "WHIP → WHEP", targetWHIPGlassMs
		}
		verdict := "no frame decoded"
		if s.Decoded > 0 {
			verdict = Verdict(s.Median, goal, false, " ms")
		}
		published := num(s.PublishedFPS)
		if run.Source == "rtmp" && run.DurationS > 0 {
			published = "30 (ffmpeg)"
			if run.FPS > 0 {
				published = fmt.Sprintf("%d (ffmpeg)", run.FPS)
			}
		}
		p("| %s | %d | %d | %d | %s | %s | %s | %s | %s | %s / %s | %s | %s / %s / %s | %s | %s | %s | %.0f (%s) | %.0f | %s ≤ %.0f ms: %s |\n",
			run.Path, s.Rendered, s.Decoded, s.Failed, num(s.Median), num(s.P95), num(s.P99), num(s.Min), num(s.Max),
			num(s.ReceivedMedian), num(s.ReceivedP95), num(s.ShownMedian), published, num(receivedFPS(run)), num(s.RenderedFPS),
			num(s.JitterBufferMs), num(s.DecodeMs), num(s.EncodeMs), s.Freezes, num(s.FreezesS), s.KeyframesDecoded,
			target, goal, verdict)
	}
	p("\n")
	var notes []string
	for i := range r.Glass.Runs {
		run := &r.Glass.Runs[i]
		s := run.summary()
		if run.Error != "" {
			notes = append(notes, fmt.Sprintf("%s: %s.", run.Source, strings.TrimSuffix(run.Error, ".")))
		}
		if run.Source == "whip" && !math.IsNaN(s.PublishedFPS) && receivedFPS(run) < 0.9*s.PublishedFPS {
			origin := ""
			if o := run.AtOrigin; o != nil && o.Frames > 1 {
				origin = fmt.Sprintf(" A Go WHEP viewer at the origin, over the whole run, received %s frames a second, with %s "+
					"longer than %d ms (the longest %s ms): the frames are lost at the origin, before the edge.",
					num(o.FPS()), plural(float64(o.Gaps), "gap"), frameGap.Milliseconds(), num(o.LongestGapMs))
			}
			notes = append(notes, fmt.Sprintf("**The WHIP publication loses frames.** The page drew and sent %s frames a second; "+
				"its viewer at the edge received %s, with %s lost between the edge and the page, and %s lasting %s s "+
				"in the %.0f s window.%s Chromium sends padding-only RTP packets (bandwidth probes, with the last frame's timestamp) on the "+
				"video stream, since no RTX is negotiated, and the WHIP ingest (`internal/media/webrtc/whip.go`, frameAssembler) takes them "+
				"for packets of a frame: the next frame's first packet then looks like the start of a new frame before the last one's "+
				"marker, which it counts as loss, and it drops frames until the keyframe it asks for (at most every 500 ms). The "+
				"latencies above are those of the frames that came through.",
				num(s.PublishedFPS), num(receivedFPS(run)), plural(s.PacketsLost, "packet"), plural(s.Freezes, "freeze"), num(s.FreezesS),
				run.DurationS, origin))
		}
		if run.Source == "rtmp" && (s.Freezes > 0 || s.PacketsLost > 0) {
			n := fmt.Sprintf("RTMP: %s (%s s in all) in the window, with %s lost on the way to the page", plural(s.Freezes, "freeze"),
				num(s.FreezesS), plural(s.PacketsLost, "packet"))
			o, e := run.AtOrigin, run.AtEdge
			if o != nil && e != nil && o.Frames > 1 && e.Frames > 1 {
				n += fmt.Sprintf("; over the whole run, a Go WHEP viewer at the origin received %s frames a second (%s lost, %s "+
					"longer than %d ms), one at the edge %s (%s lost, %s)", num(o.FPS()), plural(float64(o.Lost), "packet"),
					plural(float64(o.Gaps), "gap"), frameGap.Milliseconds(), num(e.FPS()), plural(float64(e.Lost), "packet"),
					plural(float64(e.Gaps), "gap"))
				switch {
				case s.PacketsLost > 0 && o.Lost == 0 && e.Lost == 0:
					n += ": the packets were lost between the edge and Chromium only"
				case o.Lost == 0 && e.Lost > 0:
					n += ": packets were lost after the origin, at the edge or between the two"
				}
			}
			notes = append(notes, fmt.Sprintf("%s. Of the bench's frames (after the first second), %d reached ffmpeg more "+
				"than a frame late.", n, run.FramesLate))
		}
		if s.Rendered > 0 && s.RenderedFPS < 0.9*receivedFPS(run) {
			notes = append(notes, fmt.Sprintf("%s: Chromium rendered (called back for) %s of the %s frames a second it received "+
				"and decoded (%d presented between two callbacks): headless and without a GPU, its compositor shows fewer "+
				"frames than it decodes; every frame it showed was sampled.", run.Source, num(s.RenderedFPS), num(receivedFPS(run)), s.Missed))
		}
	}
	for _, n := range notes {
		p("- %s\n", n)
	}
	if len(notes) > 0 {
		p("\n")
	}
}

// plural writes a count with its noun: "1 gap", "3 gaps".
func plural(n float64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%.0f %ss", n, noun)
}

// receivedFPS is the frames per second the page's decoder received in the window.
func receivedFPS(run *WebRTCGlassRun) float64 {
	a, b := run.Page.StatsStart.Inbound, run.Page.StatsEnd.Inbound
	if a == nil || b == nil || run.DurationS == 0 {
		return nan()
	}
	return (b.FramesReceived - a.FramesReceived) / run.DurationS
}

func renderWebRTCStart(p printer, r *webrtcResults) {
	p("### Publish to the first WHEP frame\n\n")
	s := r.Start
	if s == nil || len(s.Runs) == 0 {
		p("Not measured in this run.\n\n")
		return
	}
	runs := 0
	for _, run := range s.Runs {
		runs = max(runs, run.Run)
	}
	p("`nagare bench webrtc-start -runs %d`: a publisher of `%s` (the 1 Mbit/s clip of the viewer load below)\n", runs, filepath.Base(s.Clip))
	p("starts on a new stream, and at the same moment a Go WHEP viewer (pion, `client.Watch`) offers at the edge every\n")
	p("%s ms until the edge answers 201 (the edge answers 404 until the origin has the stream; each of its\n", num(s.PollMs))
	p("offers makes the edge offer to the origin). Live is the 201; first frame is the arrival of the first\n")
	p("packet of a keyframe at the viewer (a viewer's video starts at a keyframe). Clocks start when the publisher\n")
	p("starts: WHIP, a Go pion publisher sending the clip's video (its offer, ICE and DTLS, then the clip from a\n")
	p("keyframe; it answers a PLI with the clip's next keyframe at once, as a browser's encoder makes one);\n")
	p("RTMP, the bench's gortmplib publisher connecting. The publishers take turns, %d runs each.\n\n", runs)
	p("| publisher | runs (failed) | live at the edge, median ms | first keyframe at the viewer, median ms | min ms | max ms | offers until live, mean |\n")
	p("|---|---|---|---|---|---|---|\n")
	for _, k := range []string{"whip", "rtmp"} {
		sum := s.summary(k)
		if sum.N == 0 && sum.Failed == 0 {
			continue
		}
		offers, n := 0, 0
		for _, run := range s.Runs {
			if run.Publisher == k && run.Error == "" {
				offers += run.Offers
				n++
			}
		}
		mean := nan()
		if n > 0 {
			mean = float64(offers) / float64(n)
		}
		name := map[string]string{"whip": "WHIP (Go, pion)", "rtmp": "RTMP (Go, gortmplib)"}[k]
		p("| %s | %d (%d) | %s | %s | %s | %s | %s |\n", name, sum.N, sum.Failed, num(sum.LiveMedian), num(sum.KeyMedian),
			num(sum.KeyMin), num(sum.KeyMax), num(mean))
	}
	p("\n")
	if rt := s.summary("rtmp"); rt.N > 0 && rt.KeyMedian > 500 {
		p("An RTMP publisher cannot be asked for a keyframe: the stream is live at the edge within tens of ms, but the\n")
		p("publication's first keyframe went out before the viewer's session was up, and the viewer waits for the next\n")
		p("one (the clip has one every second). The nodes keep no keyframe to start a new WHEP viewer with.\n\n")
	}
	for _, run := range s.Runs {
		switch {
		case run.Error != "":
			p("- %s run %d: %s\n", run.Publisher, run.Run, run.Error)
		case run.Publisher == "whip" && run.FirstKey > 500 && run.PLIs > 0:
			p("- WHIP run %d: the first keyframe reached the viewer %s ms after the start, though the publisher had its first\n", run.Run, num(run.FirstKey))
			p("  keyframe request %s ms after the start and answered it at once (%s, %s sent in the run):\n",
				num(run.FirstPLIMs), plural(float64(run.PLIs), "request"), plural(float64(run.Keyframes), "keyframe"))
			p("  the keyframe sent for the viewer did not reach it, which waited for the clip's next one.\n")
		case run.Publisher == "whip" && run.FirstKey > 500:
			p("- WHIP run %d: the first keyframe reached the viewer %s ms after the start; the publisher had no keyframe request.\n",
				run.Run, num(run.FirstKey))
		}
	}
	p("\n")
}

func renderWebRTCLoad(p printer, r *webrtcResults) {
	p("### WHEP viewers an edge holds\n\n")
	l := r.Load
	if l == nil || len(l.Steps) == 0 {
		p("Not measured in this run.\n\n")
		return
	}
	p("`nagare bench webrtc -step %d -hold %.0fs -loss %s`: the 1 Mbit/s clip (1280x720 H.264 at 30 fps, 1 Mbit/s,\n", l.Step, l.HoldS, num(l.MaxLossPercent))
	p("a keyframe every second, AAC 64 kbit/s, which the origin turns into Opus for WebRTC) is published over RTMP\n")
	p("to the origin by `nagare bench publish` in real time, looping; `%s` is played over WHEP at the edge by\n", l.Stream)
	p("pion viewers (`client.Watch`: pion's default codecs and interceptors — NACK, RTCP reports, TWCC — each\n")
	p("viewer with its own UDP socket on loopback), all in the one bench process. Each step opens %d more viewers\n", l.Step)
	p("at once and waits for each one's first keyframe, then %.0f s, then measures for %.0f s: loss = lost ÷ (received\n", l.SettleS, l.HoldS)
	p("+ lost) over all viewers' RTP packets, video and audio (a gap in a track's sequence numbers counts as lost\n")
	p("when a later packet arrives, even if a retransmission fills it afterwards); a viewer is stalled if it\n")
	p("received less than half the packets of the median viewer. CPU is from `/proc/<pid>/stat` (utime + stime)\n")
	p("over the window in %% of one core: the edge, the origin (with its ffmpeg turning AAC into Opus), the bench\n")
	p("process with every viewer (clients), and the other processes (the RTMP publisher and anything else on the\n")
	p("machine); machine busy is all %d CPUs' busy time from `/proc/stat`, in %% of all of them. RSS is the edge's at\n", l.CPUs)
	p("the window's end; per viewer, above its idle RSS before the first viewer (%s MiB). The load stops after a\n", num(l.EdgeIdle.RSSMiB))
	p("step above %s %% loss, a step whose new viewers did not all get a keyframe within the join timeout, or two\n", num(l.MaxLossPercent))
	p("windows in a row with the machine ≥ %.0f %% busy; within a time budget.\n\n", saturatedPercent)
	p("| viewers | join s | loss %% | worst viewer loss %% | stalled | kbit/s per viewer (lowest) | edge CPU %% | viewers per edge core | edge CPU per viewer, %% of a core | edge RSS MiB | RSS per viewer MiB | origin CPU %% | clients CPU %% | clients CPU per viewer, %% of a core | other processes CPU %% | machine busy %% | edge sessions |\n")
	p("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, s := range l.Steps {
		origin, others := nan(), s.Edge.OthersCPUPercent
		if s.Origin != nil {
			origin = s.Origin.CPUPercent
			others -= origin
		}
		perViewer := func(v float64) float64 {
			if s.Viewers == 0 {
				return nan()
			}
			return v / float64(s.Viewers)
		}
		sessions := fmt.Sprint(s.EdgeSessions)
		if s.EdgeSessions < 0 {
			sessions = "–"
		}
		p("| %d | %s | %s | %s | %d | %s (%s) | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			s.Viewers, num(s.JoinS), num(s.LossPercent()), num(s.WorstLossPercent), s.Stalled, num(s.ViewerKbps()), num(s.MinViewerKbps),
			num(s.Edge.CPUPercent), num(perCore(s.Viewers, s.Edge.CPUPercent)), num(perViewer(s.Edge.CPUPercent)),
			num(s.Edge.RSSMiB), num(perViewer(s.Edge.RSSMiB-l.EdgeIdle.RSSMiB)), num(origin), num(s.ClientsCPUPercent),
			num(perViewer(s.ClientsCPUPercent)), num(others), num(s.MachineBusyPercent), sessions)
	}
	p("\nStopped: %s.\n\n", orDash(l.Stop))
	b, ok := l.best()
	if !ok {
		p("No step stayed within %s %% loss.\n\n", num(l.MaxLossPercent))
		return
	}
	edgeCore := b.Edge.CPUPercent / 100
	p("At %d viewers, the largest step within %s %% loss, the edge used %s %% of one core: %s viewers per edge core\n",
		b.Viewers, num(l.MaxLossPercent), num(b.Edge.CPUPercent), num(perCore(b.Viewers, b.Edge.CPUPercent)))
	p("(target ≥ %s: %s), %s %% of a core and %s MiB of RSS per viewer. ", thousands(targetViewersPerCore),
		Verdict(perCore(b.Viewers, b.Edge.CPUPercent), targetViewersPerCore, true, " viewers"),
		num(b.Edge.CPUPercent/float64(b.Viewers)), num((b.Edge.RSSMiB-l.EdgeIdle.RSSMiB)/float64(b.Viewers)))
	origin, others := nan(), b.Edge.OthersCPUPercent
	if b.Origin != nil {
		origin = b.Origin.CPUPercent
		others -= origin
	}
	p("At that step the pion clients took %s %% of a core (%s %% per viewer, %s× the edge's), the origin %s %%, other\n",
		num(b.ClientsCPUPercent), num(b.ClientsCPUPercent/float64(b.Viewers)), num(b.ClientsCPUPercent/math.Max(b.Edge.CPUPercent, 1e-9)), num(origin))
	p("processes %s %%, and the machine's %d CPUs were %s %% busy.", num(others), l.CPUs, num(b.MachineBusyPercent))
	if first := l.Steps[0]; b.ViewerKbps() < 0.95*first.ViewerKbps() {
		p(" Each viewer received %s kbit/s there against %s at the first step, all alike (the lowest %s) and\n",
			num(b.ViewerKbps()), num(first.ViewerKbps()), num(b.MinViewerKbps))
		p("with no loss: less of the stream reached the edge in that window (the publisher and the origin share the\n")
		p("saturated CPUs).")
	}
	if edgeCore < 0.8 {
		p("\nThe per-core figure is the edge's CPU per viewer at that load turned into viewers per core; the edge itself\n")
		p("used %s cores, so whether it keeps that ratio up to a full core, and what its loss is there, is not measured:\n", num(edgeCore))
	} else {
		p("\nThe edge came close to a full core (%s cores) within the loss limit; how it behaves beyond, short of CPU, is\n", num(edgeCore))
		p("not measured: ")
	}
	p("that needs the viewers on other machines.\n\n")
}
