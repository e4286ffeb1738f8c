package bench

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// results is everything one run of scripts/bench.sh produced.
type results struct {
	Latency []*LatencyResult
	Fanout  []*FanoutResult
	Ingest  []*IngestRun
	Ack     []*AckCheck
}

func loadResults(dir string) (*results, error) {
	r := &results{}
	for _, pat := range []string{"latency-*.json", "fanout*.json", "ingest-*.json", "ackcheck-*.json"} {
		files, err := filepath.Glob(filepath.Join(dir, pat))
		if err != nil {
			return nil, err
		}
		slices.Sort(files)
		for _, f := range files {
			var err error
			switch pat[0] {
			case 'l':
				v := &LatencyResult{}
				err = readJSON(f, v)
				r.Latency = append(r.Latency, v)
			case 'f':
				v := &FanoutResult{}
				err = readJSON(f, v)
				r.Fanout = append(r.Fanout, v)
			case 'a':
				v := &AckCheck{}
				err = readJSON(f, v)
				r.Ack = append(r.Ack, v)
			default:
				v := &IngestRun{}
				err = readJSON(f, v)
				r.Ingest = append(r.Ingest, v)
			}
			if err != nil {
				return nil, err
			}
		}
	}
	slices.SortStableFunc(r.Ingest, func(a, b *IngestRun) int {
		if a.Server != b.Server {
			return serverOrder(a.Server) - serverOrder(b.Server)
		}
		return a.Streams - b.Streams
	})
	return r, nil
}

func serverOrder(s string) int {
	switch s {
	case KindNagare:
		return 0
	case KindNginxRTMP:
		return 1
	}
	return 2
}

func (r *results) latency(server string) *LatencyResult {
	for _, l := range r.Latency {
		if l.Server == server {
			return l
		}
	}
	return nil
}

// fanout returns the median run (by req/s) of server, what and conns, and how many runs there were.
func (r *results) fanout(server, what string, conns int) *FanoutRun {
	runs := r.fanoutRuns(server, what, conns)
	if len(runs) == 0 {
		return nil
	}
	return runs[len(runs)/2]
}

// fanoutRuns returns the runs of server, what and conns, slowest first.
func (r *results) fanoutRuns(server, what string, conns int) []*FanoutRun {
	var runs []*FanoutRun
	for _, f := range r.Fanout {
		for i := range f.Runs {
			run := &f.Runs[i]
			if run.Server == server && run.What == what && run.Conns == conns {
				runs = append(runs, run)
			}
		}
	}
	slices.SortStableFunc(runs, func(a, b *FanoutRun) int { return cmp.Compare(a.ReqPerSec, b.ReqPerSec) })
	return runs
}

func (r *results) ingest(server string, streams int) *IngestRun {
	for _, in := range r.Ingest {
		if in.Server == server && in.Streams == streams {
			return in
		}
	}
	return nil
}

// Machine describes where the benchmark ran.
type Machine struct {
	Date, CPU, Memory, Kernel, Go, Nginx, NginxRTMP, Wrk, FFmpeg string
	CPUs                                                         int
	LoadStart, LoadEnd                                           string
	RunTime                                                      time.Duration
}

func machine(dir string) Machine {
	m := Machine{
		Date: time.Now().UTC().Format("2006-01-02 15:04 MST"), CPUs: runtime.NumCPU(), Go: runtime.Version(),
		CPU: procField("/proc/cpuinfo", "model name"), Memory: memTotal(),
		Kernel:    firstLine(readFile("/proc/sys/kernel/osrelease")),
		Nginx:     strings.TrimPrefix(firstLine(command("nginx", "-v")), "nginx version: "),
		NginxRTMP: firstLine(command("dpkg-query", "-W", "-f", "${Version}", "libnginx-mod-rtmp")),
		Wrk:       firstLine(command("wrk", "-v")),
		FFmpeg:    strings.TrimPrefix(firstLine(command("ffmpeg", "-version")), "ffmpeg version "),
		LoadStart: loadAvg(readFile(filepath.Join(dir, "loadavg-start"))),
		LoadEnd:   loadAvg(readFile(filepath.Join(dir, "loadavg-end"))),
	}
	if s, err := strconv.ParseInt(firstLine(readFile(filepath.Join(dir, "started"))), 10, 64); err == nil {
		end := time.Now()
		if f, err := strconv.ParseInt(firstLine(readFile(filepath.Join(dir, "finished"))), 10, 64); err == nil {
			end = time.Unix(f, 0)
			m.Date = end.UTC().Format("2006-01-02 15:04 MST")
		}
		m.RunTime = end.Sub(time.Unix(s, 0)).Round(time.Second)
	}
	if i := strings.Index(m.FFmpeg, " Copyright"); i > 0 {
		m.FFmpeg = m.FFmpeg[:i]
	}
	if i := strings.Index(m.Wrk, " Copyright"); i > 0 {
		m.Wrk = m.Wrk[:i]
	}
	return m
}

// loadAvg keeps the three load averages of /proc/loadavg.
func loadAvg(s string) string {
	f := strings.Fields(s)
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

func command(name string, args ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out)
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(l)
}

func procField(path, key string) string {
	sc := bufio.NewScanner(strings.NewReader(readFile(path)))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func memTotal() string {
	f := strings.Fields(procField("/proc/meminfo", "MemTotal"))
	if len(f) == 0 {
		return "unknown"
	}
	kb, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return "unknown"
	}
	return fmt.Sprintf("%.1f GiB", kb/(1<<20))
}

// ClipInfo describes the benchmark clip.
type ClipInfo struct {
	Name                string
	Width, Height       int
	Seconds, VideoKbps  float64
	FPS, GOPSeconds     float64
	AudioKbps           float64
	AudioRate, Channels int
}

func clipInfo(path string) (ClipInfo, error) {
	c, err := LoadClip(path)
	if err != nil {
		return ClipInfo{}, err
	}
	ci := ClipInfo{Name: filepath.Base(path), Seconds: c.Period.Seconds()}
	var vbytes, abytes, frames, keys int
	for _, f := range c.Frames {
		for _, n := range f.AU {
			if f.Video {
				vbytes += len(n)
			} else {
				abytes += len(n)
			}
		}
		if f.Video {
			frames++
			if f.Key {
				keys++
			}
		}
	}
	ci.VideoKbps = float64(vbytes) * 8 / 1000 / ci.Seconds
	ci.AudioKbps = float64(abytes) * 8 / 1000 / ci.Seconds
	ci.FPS = float64(frames) / ci.Seconds
	if keys > 0 {
		ci.GOPSeconds = ci.Seconds / float64(keys)
	}
	ci.Width, ci.Height = spsSize(c.SPS)
	if c.Audio != nil {
		ci.AudioRate, ci.Channels = c.Audio.SampleRate, c.Audio.ChannelCount
	}
	return ci, nil
}

func cmdReport(_ context.Context, args []string, _, stderr io.Writer, log *slog.Logger) error {
	fs := newFlags("report", stderr)
	dir := fs.String("dir", "", "directory holding the JSON results")
	out := fs.String("out", "docs/benchmarks.md", "Markdown file to write")
	clipPath := fs.String("clip", "", "the clip the run used (MPEG-TS)")
	command := fs.String("command", "make bench", "the command that produced the run")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || *clipPath == "" {
		return usageErr("-dir and -clip are required")
	}
	res, err := loadResults(*dir)
	if err != nil {
		return err
	}
	ci, err := clipInfo(*clipPath)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	render(&b, res, machine(*dir), ci, *command)
	if err := os.WriteFile(*out, b.Bytes(), 0o644); err != nil {
		return err
	}
	log.Info("report written", "file", *out)
	return nil
}

// Verdict says whether value meets a target; atLeast means higher is better.
func Verdict(value, target float64, atLeast bool, unit string) string {
	if math.IsNaN(value) {
		return "not measured"
	}
	if atLeast && value >= target || !atLeast && value <= target {
		return "**met**"
	}
	miss := value - target
	if atLeast {
		miss = target - value
	}
	return fmt.Sprintf("**missed** by %s%s", num(miss), unit)
}

func num(v float64) string {
	switch {
	case math.IsNaN(v):
		return "–"
	case math.Abs(v) >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case math.Abs(v) >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

const (
	targetSegmentShare  = 90.0 // % of static nginx req/s, 64 connections
	targetPlaylistShare = 50.0
	targetLagMs         = 30.0
	targetPlayableMs    = 1300.0
	targetFirstPartMs   = 600.0
	targetCPU16         = 4.0
	targetRSS16         = 100.0
)

func render(w *bytes.Buffer, r *results, m Machine, ci ClipInfo, command string) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	p("# Benchmarks\n\n")
	p("The nagare origin (`nagare node`, LL-HLS) against nginx with the RTMP module (its standing peer) and a\n")
	p("static nginx (the byte-serving limit), all measured in the same run on the same clip.\n")
	p("This file is generated: run `%s` to measure again and rewrite it.\n\n", command)

	p("## Machine\n\n| | |\n|---|---|\n")
	p("| Date | %s |\n| Command | `%s` (the measurements took %s) |\n", m.Date, command, m.RunTime)
	p("| CPU | %s, %d logical CPUs (nproc) |\n| Memory | %s |\n| Kernel | %s |\n", m.CPU, m.CPUs, m.Memory, m.Kernel)
	p("| Go | %s |\n| nginx | %s, libnginx-mod-rtmp %s |\n| wrk | %s |\n| ffmpeg | %s |\n", m.Go, m.Nginx, m.NginxRTMP, m.Wrk, m.FFmpeg)
	p("| Load average (1, 5, 15 min) | %s at start, %s at end |\n\n", orDash(m.LoadStart), orDash(m.LoadEnd))
	p("Everything (servers, publishers, wrk) runs on this machine over 127.0.0.1, so the load generators\n")
	p("compete with the servers for the same cores; the figures compare servers under equal conditions rather\n")
	p("than giving absolute capacity.\n\n")

	p("Clip: `%s`, %dx%d H.264 at %.0f fps, %.0f kbit/s, one keyframe every %.2f s, no B-frames; AAC %d Hz %d ch,\n",
		ci.Name, ci.Width, ci.Height, ci.FPS, ci.VideoKbps, ci.GOPSeconds, ci.AudioRate, ci.Channels)
	p("%.0f kbit/s; %.1f s, looped. Encoded once from lavfi testsrc2/sine into `.cache/bench/` and sent by the Go\n", ci.AudioKbps, ci.Seconds)
	p("publisher of `nagare bench` (gortmplib), paced in real time, so every server gets the same frames.\n\n")

	renderTargets(p, r)
	renderStartup(p, r)
	renderLag(p, r)
	renderFanout(p, r)
	renderIngest(p, r)
	renderMethod(p)
	renderNotes(p, r)
}

type printer func(format string, a ...any)

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func nan() float64 { return math.NaN() }

// share returns a/b in percent.
func share(a, b *FanoutRun) float64 {
	if a == nil || b == nil || b.ReqPerSec == 0 {
		return nan()
	}
	return 100 * a.ReqPerSec / b.ReqPerSec
}

func lagOf(l *LatencyResult, blocking, parts bool) float64 {
	if l == nil {
		return nan()
	}
	for _, x := range l.Lag {
		if strings.HasPrefix(x.Method, "blocking") != blocking {
			continue
		}
		if parts {
			if x.Parts == nil || x.Parts.N == 0 {
				return nan()
			}
			return x.Parts.Median
		}
		if x.Segments.N == 0 {
			return nan()
		}
		return x.Segments.Median
	}
	return nan()
}

func renderTargets(p printer, r *results) {
	ng, nx := r.latency(KindNagare), r.latency(KindNginxRTMP)
	p("## Targets\n\nTargets apply to nagare; nginx-rtmp is shown for reference.\n\n")
	p("| Target | Goal | nagare | Verdict | nginx-rtmp |\n|---|---|---|---|---|\n")
	for _, conns := range []int{64, 256} {
		for _, what := range []string{"segment", "playlist"} {
			goal := targetSegmentShare
			if what == "playlist" {
				goal = targetPlaylistShare
			}
			st := r.fanout(staticKind, what, conns)
			v := share(r.fanout(KindNagare, what, conns), st)
			label := fmt.Sprintf("%s fan-out, %d conns (req/s vs static nginx)", what, conns)
			verdict := Verdict(v, goal, true, " points")
			if conns != 64 {
				label += " ‡"
			}
			p("| %s | ≥ %.0f %% | %s %% | %s | %s %% |\n", label, goal, num(v), verdict,
				num(share(r.fanout(KindNginxRTMP, what, conns), st)))
		}
	}
	for _, row := range []struct {
		label           string
		blocking, parts bool
	}{
		{"server-added lag, segments (median, blocking reload)", true, false},
		{"server-added lag, parts (median, blocking reload)", true, true},
		{"server-added lag, segments (median, 5 ms polling)", false, false},
		{"server-added lag, parts (median, 5 ms polling)", false, true},
	} {
		v := lagOf(ng, row.blocking, row.parts)
		ref := "–"
		if !row.blocking && !row.parts {
			ref = num(lagOf(nx, false, false)) + " ms"
		}
		p("| %s | ≤ %.0f ms | %s ms | %s | %s |\n", row.label, targetLagMs, num(v), Verdict(v, targetLagMs, false, " ms"), ref)
	}
	pl, first := nan(), nan()
	if ng != nil {
		pl = ng.Playable.Median
		if ng.FirstPart != nil {
			first = ng.FirstPart.Median
		}
	}
	ref := "–"
	if nx != nil {
		ref = num(nx.Playable.Median) + " ms"
	}
	p("| publish to playable (median) | ≤ %.0f ms | %s ms | %s | %s |\n", targetPlayableMs, num(pl), Verdict(pl, targetPlayableMs, false, " ms"), ref)
	p("| publish to first LL-HLS part listed (median) | ≤ %.0f ms | %s ms | %s | no parts |\n", targetFirstPartMs, num(first), Verdict(first, targetFirstPartMs, false, " ms"))
	cpu, rss := nan(), nan()
	if in := r.ingest(KindNagare, 16); in != nil {
		cpu, rss = in.Usage.CPUPercent, in.Usage.RSSMiB
	}
	cpuRef, rssRef := "–", "–"
	if in := r.ingest(KindNginxRTMP, 16); in != nil {
		cpuRef, rssRef = num(in.Usage.CPUPercent)+" %", num(in.Usage.RSSMiB)+" MiB"
	}
	p("| 16 ingest streams, CPU (%% of one core) | ≤ %.0f %% | %s %% | %s | %s |\n", targetCPU16, num(cpu), Verdict(cpu, targetCPU16, false, " points"), cpuRef)
	p("| 16 ingest streams, RSS | ≤ %.0f MiB | %s MiB | %s | %s |\n\n", targetRSS16, num(rss), Verdict(rss, targetRSS16, false, " MiB"), rssRef)
	p("‡ The targets are set at 64 connections; the 256-connection rows apply the same ratio for information.\n")
	p("Fan-out ratios compare median runs (section 3).\n\n")
}

func renderStartup(p printer, r *results) {
	p("## 1. Publish to playable\n\n")
	p("From the publisher starting to connect to the first media playlist listing a complete segment (and,\n")
	p("for nagare, an `EXT-X-PART`). Each run is a new stream; milliseconds.\n\n")
	p("| Server | runs | playable median | min | max | first part median | min | max |\n|---|---|---|---|---|---|---|---|\n")
	for _, l := range r.Latency {
		fp := "– | – | –"
		if l.FirstPart != nil {
			fp = fmt.Sprintf("%s | %s | %s", num(l.FirstPart.Median), num(l.FirstPart.Min), num(l.FirstPart.Max))
		}
		p("| %s | %d | %s | %s | %s | %s |\n", l.Server, l.Playable.N, num(l.Playable.Median), num(l.Playable.Min), num(l.Playable.Max), fp)
	}
	p("\n")
}

func renderLag(p printer, r *results) {
	p("## 2. Segment and part availability lag\n\n")
	p("Server-added lag = time the playlist first lists a segment (part) − time the publisher finished\n")
	p("sending the frame that completes it (the first frame after it: a segmenter cannot close a segment or part\n")
	p("before that frame arrives). Milliseconds, over one publication of the length shown; what the first\n")
	p("playlist fetched already listed is left out.\n\n")
	p("| Server | observer | run | segments | median | p95 | max | parts | median | p95 | max | unattributed |\n")
	p("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, l := range r.Latency {
		for _, x := range l.Lag {
			parts := "– | – | – | –"
			if x.Parts != nil {
				parts = fmt.Sprintf("%d | %s | %s | %s", x.Parts.N, num(x.Parts.Median), num(x.Parts.P95), num(x.Parts.Max))
			}
			p("| %s | %s | %.0f s | %d | %s | %s | %s | %s | %d |\n", l.Server, x.Method, l.LagRunS, x.Segments.N,
				num(x.Segments.Median), num(x.Segments.P95), num(x.Segments.Max), parts, x.Unattributed)
		}
	}
	p("\nDuring these runs (one stream, the observers polling):\n\n")
	p("| Server | server CPU %% of one core | server RSS MiB | others CPU %% |\n|---|---|---|---|\n")
	for _, l := range r.Latency {
		if u := l.LagUsage; u != nil {
			p("| %s | %s | %s | %s |\n", l.Server, num(u.CPUPercent), num(u.RSSMiB), num(u.OthersCPUPercent))
		}
	}
	p("\n")
}

func renderFanout(p printer, r *results) {
	secs, rounds := nan(), 0
	for _, f := range r.Fanout {
		for _, run := range f.Runs {
			secs, rounds = run.Seconds, max(rounds, run.Round)
		}
	}
	p("## 3. Fan-out of the live edge\n\n")
	p("`wrk --latency -t2 -cN -d%.0fs` on one URL while one stream is published to nagare and to nginx-rtmp: the\n", secs)
	p("newest segment listed in the media playlist (picked right before each run) and the media playlist itself\n")
	p("(nagare: its video media playlist, without blocking-reload parameters). Static nginx serves copies of\n")
	p("nagare's segment and media playlist, refreshed from nagare right before each of its runs. Every row was\n")
	p("run %d times, the servers taking turns; the row shows the run with the median req/s, and the range of all\n", rounds)
	p("runs. CPU is the server's (all its processes) over the run, in %% of one core; RSS is the peak sampled every\n")
	p("250 ms; \"others\" is the CPU the other processes of the machine used meanwhile, which includes the\n")
	p("publisher and the two servers not under load (about 10 %%).\n\n")
	p("| What | conns | Server | body bytes | req/s (median) | range | %% of static | MiB/s | p50 ms | p99 ms | non-2xx | socket errors | server CPU %% | RSS MiB | wrk CPU %% | others CPU %% |\n")
	p("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, what := range []string{"segment", "playlist"} {
		for _, conns := range []int{64, 256} {
			st := r.fanout(staticKind, what, conns)
			for _, s := range []string{KindNagare, KindNagareEdge, KindNginxRTMP, staticKind} {
				runs := r.fanoutRuns(s, what, conns)
				if len(runs) == 0 {
					continue
				}
				run := runs[len(runs)/2]
				var non2xx, sockErr int64
				for _, x := range runs {
					non2xx += x.Non2xx
					sockErr += x.SocketErrors
				}
				p("| %s | %d | %s | %d | %s | %s–%s | %s | %s | %s | %s | %d | %d | %s | %s | %s | %s |\n", what, conns, s, run.Bytes,
					num(run.ReqPerSec), num(runs[0].ReqPerSec), num(runs[len(runs)-1].ReqPerSec), num(share(run, st)),
					num(run.ReqPerSec*float64(run.Bytes)/(1<<20)), num(run.LatencyP50Ms), num(run.LatencyP99Ms), non2xx, sockErr,
					num(run.Usage.CPUPercent), num(run.Usage.PeakRSSMiB), num(run.WrkCPUPercent), num(run.Usage.OthersCPUPercent))
			}
		}
	}
	p("\nnon-2xx and socket errors are summed over all runs of a row.\n\n")
}

func renderIngest(p printer, r *results) {
	secs := nan()
	for _, in := range r.Ingest {
		secs = in.Usage.Seconds
	}
	p("## 4. Ingest: CPU and memory per stream count\n\n")
	p("N publishers of the clip, HLS muxing on, no viewers. A fresh server per row; the publishers start 1/N s\n")
	p("apart, the window starts 5 s after the last one and lasts %.0f s. Idle is the same server during 2 s before\n", secs)
	p("any publisher connected. \"Others\" is the CPU the other processes of the machine used in the window\n")
	p("(not the server, not the publishers). Playable counts the streams whose playlist listed a segment,\n")
	p("checked after the window.\n\n")
	p("| Server | streams | CPU %% of one core | per stream | RSS MiB (end) | peak RSS MiB | idle CPU %% | idle RSS MiB | processes | publishers CPU %% | others CPU %% | playable |\n")
	p("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, in := range r.Ingest {
		p("| %s | %d | %s | %s | %s | %s | %s | %s | %d | %s | %s | %d/%d |\n", in.Server, in.Streams, num(in.Usage.CPUPercent),
			num(in.Usage.CPUPercent/float64(in.Streams)), num(in.Usage.RSSMiB), num(in.Usage.PeakRSSMiB),
			num(in.Idle.CPUPercent), num(in.Idle.RSSMiB), in.Usage.Processes, num(in.PublisherCPUPercent), num(in.Usage.OthersCPUPercent),
			in.Playable, in.Streams)
	}
	p("\n")
}

func renderMethod(p printer) {
	p(`## Method

- **Servers.** nagare: ` + "`bin/nagare node`" + ` with its defaults (LL-HLS, 1 s segments, 200 ms parts, 7 segments),
  unauthenticated publishing on loopback. nginx-rtmp: ` + "`scripts/bench/nginx-rtmp.conf`" + ` — ` + "`hls_fragment 1s`" + `,
  ` + "`hls_playlist_length 7s`" + `, one worker (the RTMP module needs one), MPEG-TS segments on disk served by the
  same nginx. Static nginx: ` + "`scripts/bench/nginx-static.conf`" + `, ` + "`worker_processes auto`" + `, sendfile. Each runs
  as its own foreground process on free loopback ports; RSS and CPU add up all of a server's processes.
- **Publisher.** The clip is read from MPEG-TS with mediacommon and sent with gortmplib's client, each frame
  at its DTS after the first, looping; the wall-clock time at which each video frame's write returned is kept.
- **Publish to playable.** A poll every 5 ms of the playlist a player would open (nagare: ` + "`index.m3u8`" + `, then
  its media playlist, whose first request the server holds until a segment exists; nginx-rtmp: the
  ` + "`.m3u8`" + ` in ` + "`hls_path`" + `). The clock starts when the publisher starts to connect.
- **Lag.** During one publication, the media playlist is polled every 5 ms (both servers; adds 0–5 ms,
  2.5 ms on average) and, for nagare, also followed with LL-HLS blocking reloads asking for the next part,
  which the server answers the moment the part exists. A segment or part is known by its media sequence
  number and index; its end in media time is the sum of the listed durations since the first segment
  (which starts at the first frame sent) and is matched with the frame sent at that time (within 10 ms).
  Unattributed counts listings that matched no frame.
- **Fan-out.** ` + "`wrk --latency`" + ` from this machine, 2 threads; non-2xx and socket errors are reported because
  an error page is served faster than a segment and would inflate req/s (a segment leaves the live window
  after about 7 s, so a server could stop serving it during a run). nagare's URLs carry the session id from
  its multivariant playlist, as a player's would. Runs are short and repeated rather than one 10 s run,
  because on a small shared machine a single run varies by tens of percent.
- **Ingest.** ` + "`nagare bench ingest`" + ` runs the N publishers in one process and reads ` + "`/proc/<pid>/stat`" + `
  (utime+stime, RSS) of the server and its children at the start and end of the window.
- **Others** is the CPU time, from ` + "`/proc/*/stat`" + `, of every process but the server, ` + "`nagare bench`" + ` and its
  children (wrk), over the same window; processes that exited during the window are missed. It shows when
  unrelated work competed with the server.

`)
}

// othersLimit is the CPU use by other processes, in % of one core, above which a window is called busy;
// fan-out windows have the publisher and two idle servers as a background of about 10 %.
const (
	othersLimit       = 15.0
	othersLimitFanout = 25.0
)

// busyWindows names the measurement windows during which other processes used more than othersLimit.
func busyWindows(r *results) string {
	var busy []string
	for _, l := range r.Latency {
		if l.LagUsage != nil && l.LagUsage.OthersCPUPercent > othersLimit {
			busy = append(busy, "lag "+l.Server)
		}
	}
	var fan []string
	for _, f := range r.Fanout {
		for _, run := range f.Runs {
			if run.Usage.OthersCPUPercent > othersLimitFanout {
				fan = append(fan, fmt.Sprintf("fan-out %s %s c%d", run.Server, run.What, run.Conns))
			}
		}
	}
	slices.Sort(fan) // the rounds repeat the same rows
	busy = append(busy, fan...)
	for _, in := range r.Ingest {
		if in.Usage.OthersCPUPercent > othersLimit {
			busy = append(busy, fmt.Sprintf("ingest %s ×%d", in.Server, in.Streams))
		}
	}
	return strings.Join(slices.Compact(busy), ", ")
}

func renderNotes(p printer, r *results) {
	var notes []string
	for _, f := range r.Fanout {
		for _, run := range f.Runs {
			if run.Non2xx > 0 || run.SocketErrors > 0 {
				notes = append(notes, fmt.Sprintf("%s %s at %d conns: %d non-2xx responses and %d socket errors out of %d requests; the req/s of that row is not a clean figure.",
					run.Server, run.What, run.Conns, run.Non2xx, run.SocketErrors, run.Requests))
			}
		}
	}
	for _, l := range r.Latency {
		for _, x := range l.Lag {
			if x.Unattributed > 0 {
				notes = append(notes, fmt.Sprintf("%s, %s: %d segments or parts could not be matched with a frame sent.", l.Server, x.Method, x.Unattributed))
			}
		}
	}
	for _, in := range r.Ingest {
		if in.Playable < in.Streams {
			notes = append(notes, fmt.Sprintf("%s with %d streams: only %d were playable after the window.", in.Server, in.Streams, in.Playable))
		}
	}
	if busy := busyWindows(r); busy != "" {
		notes = append(notes, "Other processes used a noticeable share of the CPUs (\"others\" above "+
			"the usual background) during "+busy+": the figures of those rows are less reliable than the rest.")
	}
	for _, a := range r.Ack {
		if a.Dropped {
			notes = append([]string{fmt.Sprintf("**%s drops a publisher that asks for RTMP acknowledgements.** A publisher "+
				"asking for one every %d KiB (gortmplib's client asks every 2.5 MB) was disconnected %.1f s after connecting (%s). "+
				"The node sets the connection's deadline once at connect time and then moves only the read deadline "+
				"(internal/media/ingest/rtmp.go), so the first acknowledgement it writes after node.readTimeout fails. "+
				"ffmpeg and OBS ask for none, so the benchmark's publishers ask for none either.",
				a.Server, a.AckWindowBytes>>10, a.DroppedAfterS, a.Error)}, notes...)
		} else {
			notes = append(notes, fmt.Sprintf("%s kept a publisher asking for RTMP acknowledgements every %d KiB for %.0f s.",
				a.Server, a.AckWindowBytes>>10, a.Seconds))
		}
	}
	p("## Notes\n\n")
	for _, n := range notes {
		p("- %s\n", n)
	}
	p("- nagare's playlists start at the first real segment (no `EXT-X-GAP` placeholders). A blocking (LL-HLS)\n")
	p("  request gets the first part as soon as it exists; a plain playlist request for a stream younger than two\n")
	p("  segments waits for them (at most 5 s), which classic players' demuxers need. With the parts of the last\n")
	p("  segments, nagare's LL-HLS playlist is larger than nginx-rtmp's.\n")
	p("\nRaw results of the run: `.cache/bench/last-run/*.json`.\n")
}
