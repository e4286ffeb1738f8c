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
	// Phases are how long each phase of scripts/bench.sh took, in the order they ran.
	Phases []PhaseTime
}

// PhaseTime is how long one phase of scripts/bench.sh took.
type PhaseTime struct {
	Name string
	Took time.Duration
}

// parsePhaseTimes reads the "<phase> <seconds>" lines scripts/bench.sh writes around each phase.
func parsePhaseTimes(s string) []PhaseTime {
	var out []PhaseTime
	for l := range strings.Lines(s) {
		f := strings.Fields(l)
		if len(f) != 2 {
			continue
		}
		secs, err := strconv.Atoi(f[1])
		if err != nil || secs < 0 {
			continue
		}
		out = append(out, PhaseTime{Name: f[0], Took: time.Duration(secs) * time.Second})
	}
	return out
}

// phaseSections names the sections of docs/benchmarks.md each phase measures.
var phaseSections = map[string]string{
	"latency": "1, 2", "fanout": "3, 5", "ingest": "4", "manager": "6", "autoscale": "7", "bucket": "8",
	"glass": "9", "vod": "10", "webrtc": "11", "abr": "12", "image": "13", "steering": "14", "curves": "15", "web": "16",
	"model": "17",
}

func renderPhaseTimes(p printer, m Machine) {
	if len(m.Phases) == 0 {
		return
	}
	p("How long each phase of `scripts/bench.sh` took (servers' start and stop included; the clips are made\n")
	p("once and kept in `.cache/bench/`):\n\n")
	p("| phase | sections | took |\n|---|---|---|\n")
	var sum time.Duration
	for _, ph := range m.Phases {
		p("| %s | %s | %s |\n", ph.Name, orDash(phaseSections[ph.Name]), ph.Took)
		sum += ph.Took
	}
	p("| all phases | | %s |\n", sum)
	if rest := m.RunTime - sum; m.RunTime > 0 && rest > time.Second {
		p("| outside the phases | | %s |\n", rest)
	}
	p("\n")
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
		Phases:    parsePhaseTimes(readFile(filepath.Join(dir, "phase-times"))),
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
	section := fs.String("section", "", "write only this section: vod (from vod.json), webrtc (from webrtc-*.json), abr (from abr-*.json), curves (from curves-*.json), web (from web.json) or model (from model.json); -clip is not needed")
	pngPath := fs.String("png", "", "with -section curves: where to write the cost curves' PNG (the section links to its file name)")
	splice := fs.String("splice", "", "with -section: replace the section in this report, or append it, instead of writing -out")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *section != "" {
		return writeSection(*section, *dir, *out, *splice, *command, *pngPath, log)
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
	targetLagMs       = 30.0
	targetPlayableMs  = 1300.0
	targetFirstPartMs = 600.0
	// nagare's memory (RSS + files kept) with 16 streams, at most this many times nginx-rtmp's
	targetMemRatio = 1.5
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
	renderPhaseTimes(p, m)
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
	p("## Targets\n\nTargets apply to nagare and are set against nginx-rtmp in the same run; static nginx (the\n")
	p("byte-serving limit) is shown for information.\n\n")
	p("| Target | Goal | nagare | Verdict | nginx-rtmp |\n|---|---|---|---|---|\n")
	for _, what := range []string{"segment", "playlist"} {
		for _, conns := range []int{64, 256} {
			st, ref := r.fanout(staticKind, what, conns), r.fanout(KindNginxRTMP, what, conns)
			for _, s := range []struct{ kind, name string }{{KindNagare, "origin"}, {KindNagareEdge, "edge"}} {
				run := r.fanout(s.kind, what, conns)
				v, goal := nan(), nan()
				if run != nil {
					v = run.ReqPerSec
				}
				if ref != nil {
					goal = ref.ReqPerSec
				}
				verdict := Verdict(v, goal, true, " req/s")
				if math.IsNaN(goal) {
					verdict = "not measured"
				}
				p("| %s fan-out, %s, %d conns (req/s; %% of static nginx) | ≥ nginx-rtmp's | %s (%s %%) | %s | %s (%s %%) |\n",
					what, s.name, conns, reqs(v), num(share(run, st)), verdict, reqs(goal), num(share(ref, st)))
			}
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
	for _, n := range ingestCounts(r) {
		cpu, cpuRef := nan(), nan()
		if in := r.ingest(KindNagare, n); in != nil {
			cpu = in.Usage.CPUPercent
		}
		if in := r.ingest(KindNginxRTMP, n); in != nil {
			cpuRef = in.Usage.CPUPercent
		}
		p("| %d ingest streams, CPU (%% of one core) | ≤ nginx-rtmp's | %s %% | %s | %s %% |\n", n, num(cpu),
			relVerdict(cpu, cpuRef, 1, " points"), num(cpuRef))
	}
	total, totalRef := nan(), nan()
	if in := r.ingest(KindNagare, 16); in != nil {
		total = in.TotalMiB()
	}
	if in := r.ingest(KindNginxRTMP, 16); in != nil {
		totalRef = in.TotalMiB()
	}
	p("| 16 ingest streams, memory: RSS + files kept (section 4) | ≤ %.1f × nginx-rtmp's | %s MiB (%s ×) | %s | %s MiB |\n\n",
		targetMemRatio, num(total), num(total/totalRef), relVerdict(total, totalRef, targetMemRatio, " MiB"), num(totalRef))
	p("Fan-out rows compare median runs (section 3); the percentage of static nginx is information, not a target.\n\n")
}

// relVerdict judges value against factor × ref (at most), or says the reference is missing.
func relVerdict(value, ref, factor float64, unit string) string {
	if math.IsNaN(ref) {
		return "not measured"
	}
	return Verdict(value, factor*ref, false, unit)
}

// ingestCounts are the stream counts both servers were measured with, in order.
func ingestCounts(r *results) []int {
	var out []int
	for _, in := range r.Ingest {
		if in.Server == KindNagare && r.ingest(KindNginxRTMP, in.Streams) != nil {
			out = append(out, in.Streams)
		}
	}
	return out
}

// reqs writes a request rate as a whole number.
func reqs(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

func renderStartup(p printer, r *results) {
	p("## 1. Publish to playable\n\n")
	p("From the publisher starting to connect: playable when a plain request for the media playlist (a poll every\n")
	p("5 ms) is answered with a complete segment listed; first part (nagare) when an LL-HLS blocking request for\n")
	p("part 0 of segment 0 (`_HLS_msn=0&_HLS_part=0`, sent with the first poll) is answered, which the server does\n")
	p("the moment the part is listed. Each run is a new stream; milliseconds.\n\n")
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
	p("(nagare: its one media playlist of audio and video, without blocking-reload parameters). Static nginx serves copies of\n")
	p("nagare's segment and media playlist, refreshed from nagare right before each of its runs. Every row was\n")
	p("run %d times, the servers taking turns; the row shows the run with the median req/s, and the range of all\n", rounds)
	p("runs. CPU is the server's (all its processes) over the run, in %% of one core; RSS is the peak sampled every\n")
	p("250 ms; \"others\" is the CPU the other processes of the machine used meanwhile, which includes the\n")
	p("publisher and the two servers not under load (about 10 %%). CPU per 1,000 req/s is the server's CPU %% ÷\n")
	p("(req/s ÷ 1,000): the share of one core that 1,000 requests a second cost it (1 %% = 10 µs a request).\n\n")
	p("| What | conns | Server | body bytes | req/s (median) | range | %% of static | MiB/s | p50 ms | p99 ms | non-2xx | socket errors | server CPU %% | CPU %% per 1,000 req/s | RSS MiB | wrk CPU %% | others CPU %% |\n")
	p("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
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
				p("| %s | %d | %s | %d | %s | %s–%s | %s | %s | %s | %s | %d | %d | %s | %s | %s | %s | %s |\n", what, conns, s, run.Bytes,
					num(run.ReqPerSec), num(runs[0].ReqPerSec), num(runs[len(runs)-1].ReqPerSec), num(share(run, st)),
					num(run.ReqPerSec*float64(run.Bytes)/(1<<20)), num(run.LatencyP50Ms), num(run.LatencyP99Ms), non2xx, sockErr,
					num(run.Usage.CPUPercent), num(cpuPerKReq(run)), num(run.Usage.PeakRSSMiB), num(run.WrkCPUPercent), num(run.Usage.OthersCPUPercent))
			}
		}
	}
	p("\nnon-2xx and socket errors are summed over all runs of a row.\n\n")
}

// cpuPerKReq is a run's server CPU (% of one core) per 1,000 requests a second.
func cpuPerKReq(run *FanoutRun) float64 {
	if run == nil || run.ReqPerSec <= 0 {
		return nan()
	}
	return run.Usage.CPUPercent / (run.ReqPerSec / 1000)
}

func renderIngest(p printer, r *results) {
	secs := nan()
	for _, in := range r.Ingest {
		secs = in.Usage.Seconds
	}
	p("## 4. Ingest: CPU and memory per stream count\n\n")
	p("N publishers of the clip, HLS muxing on, no viewers. A fresh server per row; the publishers start 1/N s\n")
	p("apart, the window starts 5 s after the last one and lasts %.0f s. nagare and nginx-rtmp run side by side, each\n", secs)
	p("with its own N publishers in its own `nagare bench ingest` process, started together, so that their windows\n")
	p("coincide and both are measured under the same conditions of the machine. CPU is the kernel's per-process\n")
	p("CPU clock (nanoseconds, every thread), not /proc's 10 ms ticks. Idle is the same server during 2 s before\n")
	p("any publisher connected. \"Others\" is the CPU the other processes of the machine used in the window\n")
	p("(not the server, not its publishers; the other server and its publishers included). Playable counts the\n")
	p("streams whose playlist listed a segment, checked after the window. nagare runs as operators run it: with\n")
	p("`node.adaptiveProcs` (the default), a node whose load is light runs on one scheduler P, which spares it the\n")
	p("wake-ups of a second thread for each burst of frames (`internal/procs`; two nodes side by side with 16\n")
	p("publishers each: 8–14 %% less CPU than with every P); it samples the node's CPU every second while the node\n")
	p("uses under a tenth of a core (every 250 ms above), which keeps an idle node at about 0.02 %% of a core.\n")
	p("A second after it starts, every long-running role unmaps the pages of its executable that starting it\n")
	p("touched (`internal/exepages`: clean page-cache pages of an 80 MB binary, most of them used by init\n")
	p("functions only); those the node goes on using come back at their first touch and are in its RSS.\n\n")
	p("Memory is counted the same way for both servers: the RSS of all the server's processes at the end of the\n")
	p("window, plus the files it keeps — nginx-rtmp's HLS directory (`hls_path`: its segments and playlists, in the\n")
	p("page cache), and for nagare its segment directory when `hls.storage` is `disk` (not the default) and the\n")
	p("memfd or /dev/shm files its process has open (from `/proc/<pid>/fd`), less the shared memory the RSS\n")
	p("already holds — read at the same moment.\n\n")
	p("| Server | streams | CPU %% of one core | per stream | RSS MiB (end) | files MiB | total MiB | total per stream | peak RSS MiB | idle CPU %% | idle RSS MiB | processes | publishers CPU %% | others CPU %% | playable |\n")
	p("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, in := range r.Ingest {
		p("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d | %s | %s | %d/%d |\n", in.Server, in.Streams, num(in.Usage.CPUPercent),
			num(in.Usage.CPUPercent/float64(in.Streams)), num(in.Usage.RSSMiB), filesCell(in.Files), num(in.TotalMiB()),
			num((in.TotalMiB()-in.Idle.RSSMiB)/float64(in.Streams)), num(in.Usage.PeakRSSMiB),
			num(in.Idle.CPUPercent), num(in.Idle.RSSMiB), in.Usage.Processes, num(in.PublisherCPUPercent), num(in.Usage.OthersCPUPercent),
			in.Playable, in.Streams)
	}
	p("\nTotal per stream is the total less the idle RSS, divided by the streams.\n")
	p("\n")
}

// filesCell writes the files kept, with how many there were.
func filesCell(k KeptFiles) string {
	n := k.DirFiles + k.ShmFiles
	if n == 0 {
		return "0 (none)"
	}
	return fmt.Sprintf("%s (%d files)", num(k.MiB()), n)
}

func renderMethod(p printer) {
	p(`## Method

- **Servers.** nagare: ` + "`bin/nagare node`" + ` (built as ` + "`make bench`" + ` builds it: static, -trimpath, stripped, like the release) with its defaults (LL-HLS, 1 s segments, 200 ms parts, 7 segments),
  unauthenticated publishing on loopback; it keeps complete segments (and an edge the media it caches) in
  memory files (memfd) outside the Go heap and sends them with sendfile (a raw system call, so that the
  Go runtime does not hand the goroutine's processor to another thread for it, from an offset of the
  reader's own on a descriptor every reader shares; its sockets' reads and writes are raw calls too), the
  header written with MSG_MORE so that it leaves with the body's first bytes, the packets
  nginx makes with ` + "`sendfile on; tcp_nopush on`" + `. nginx-rtmp: ` + "`scripts/bench/nginx-rtmp.conf`" + ` — ` + "`hls_fragment 1s`" + `,
  ` + "`hls_playlist_length 7s`" + `, one worker (the RTMP module needs one), MPEG-TS segments on disk served by the
  same nginx. Static nginx: ` + "`scripts/bench/nginx-static.conf`" + `, ` + "`worker_processes auto`" + `, sendfile. Each runs
  as its own foreground process on free loopback ports; RSS and CPU add up all of a server's processes.
- **Publisher.** The clip is read from MPEG-TS with mediacommon and sent with gortmplib's client, each frame
  at its DTS after the first, looping; the wall-clock time at which each video frame's write returned is kept.
- **Publish to playable.** A poll every 5 ms of the playlist a player would open (nagare: ` + "`index.m3u8`" + `, then
  its media playlist, which the server answers a plain request for once it lists a complete segment (at
  most 5 s after it), so that players that know nothing of parts can start; nginx-rtmp: the
  ` + "`.m3u8`" + ` in ` + "`hls_path`" + `). nagare's first part: an LL-HLS blocking request for it, as a player
  reloads, answered when the part is listed. The clock starts when the publisher starts to connect.
- **Lag.** During one publication, the media playlist is polled every 5 ms (both servers; adds 0–5 ms,
  2.5 ms on average) and, for nagare, also followed with LL-HLS blocking reloads asking for the next part,
  which the server answers the moment the part exists. A segment or part is known by its media sequence
  number and index; its end in media time is the sum of the listed durations since the first segment
  (which starts at the first frame sent) and is matched with the frame sent at that time (within 10 ms).
  Unattributed counts listings that matched no frame.
- **Fan-out.** ` + "`wrk --latency`" + ` from this machine, 2 threads; non-2xx and socket errors are reported because
  an error page is served faster than a segment and would inflate req/s (a segment leaves the live window
  after about 7 s, so a server could stop serving it during a run). nagare's URLs carry the session id from
  its multivariant playlist, as a player's would, and its low-latency media playlist is asked as an LL-HLS
  player reloads it, for a part that exists (` + "`_HLS_msn`" + ` of the last complete segment, ` + "`_HLS_part=0`" + `), which
  it answers at once: a plain request is held until the next part is listed (docs/players.md), so wrk
  would measure the part rate. Runs are short and repeated rather than one 10 s run,
  because on a small shared machine a single run varies by tens of percent.
- **Ingest.** ` + "`nagare bench ingest`" + ` runs the N publishers in one process and reads the server's and its
  children's CPU time from the kernel's per-process CPU clock (` + "`clock_gettime`" + ` on the clock of
  ` + "`clock_getcpuclockid(pid)`" + `: nanoseconds, every thread) and their RSS from ` + "`/proc/<pid>/stat`" + `, at the
  start and end of the window; the two servers are measured side by side, in the same window.
- **Others** is the CPU time, from ` + "`/proc/*/stat`" + `, of every process but the server, ` + "`nagare bench`" + ` and its
  children (wrk), over the same window; processes that exited during the window are missed. It shows when
  unrelated work competed with the server.

`)
}

// othersLimit is the CPU use by other processes, in % of one core, above which a window is called busy;
// fan-out windows have the publisher and two idle servers as a background of about 10 %, ingest windows
// the other server and its publishers (side by side), about 12 % at 16 streams.
const (
	othersLimit       = 15.0
	othersLimitFanout = 25.0
	othersLimitIngest = 25.0
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
		if in.Usage.OthersCPUPercent > othersLimitIngest {
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
				"asking for one every %d KiB (gortmplib's client asks every 2.5 MB) was disconnected %.1f s after connecting (%s); "+
				"the server's log of the run has its side. ffmpeg and OBS ask for none, so the benchmark's publishers ask for none either.",
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
	p("- nagare's segmenter is its own (`internal/media/segmenter`, on mediacommon's fMP4): its playlists start at\n")
	p("  the first real segment, with no `EXT-X-GAP` placeholders. A blocking (LL-HLS) request gets the first part\n")
	p("  as soon as it exists; a plain playlist request for a stream whose playlist lists no complete segment yet\n")
	p("  waits for one (at most 5 s; two on a classic playlist, and for GStreamer), which players that know nothing\n")
	p("  of parts need: section 1's plain polls include that wait.\n")
	if ng, nx := r.fanout(KindNagare, "playlist", 64), r.fanout(KindNginxRTMP, "playlist", 64); ng != nil && nx != nil && nx.Bytes > 0 {
		p("- The media playlist fetched in section 3 was %d bytes from nagare (LL-HLS: the parts of the last segments,\n", ng.Bytes)
		p("  preload hints, program date-times) and %d from nginx-rtmp (%s ×).\n", nx.Bytes, num(float64(ng.Bytes)/float64(nx.Bytes)))
	}
	p("\nRaw results of the run: `.cache/bench/last-run/*.json`.\n")
}

// vodHeading starts the VOD section; scripts/bench.sh appends it after the sections it writes itself.
const vodHeading = "## 10. VOD: uploads, byte ranges, transcoding"

// writeSection renders one section from the results in dir, into out or spliced into the report splice.
func writeSection(name, dir, out, splice, command, pngPath string, log *slog.Logger) error {
	if dir == "" {
		return usageErr("-dir is required")
	}
	var b bytes.Buffer
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	heading := vodHeading
	switch name {
	case "vod":
		v := &VODResult{}
		if err := readJSON(filepath.Join(dir, "vod.json"), v); err != nil {
			return err
		}
		renderVOD(p, v, machine(dir), command)
	case "webrtc":
		r, err := loadWebRTCResults(dir)
		if err != nil {
			return err
		}
		renderWebRTC(p, r, machine(dir), command)
		heading = webrtcHeading
	case "abr":
		r, err := loadABRResults(dir)
		if err != nil {
			return err
		}
		renderABR(p, r, machine(dir), command)
		heading = abrHeading
	case "curves":
		r, err := loadCurves(dir)
		if err != nil {
			return err
		}
		if pngPath == "" {
			return usageErr("-section curves needs -png")
		}
		if err := writeCurvesPNG(pngPath, r); err != nil {
			return err
		}
		renderCurves(p, r, machine(dir), command, filepath.Base(pngPath))
		heading = curvesHeading
	case "web":
		r := &WebResult{}
		if err := readJSON(filepath.Join(dir, "web.json"), r); err != nil {
			return err
		}
		renderWeb(p, r, machine(dir), command)
		heading = webHeading
	case "model":
		r := &ModelResult{}
		if err := readJSON(filepath.Join(dir, "model.json"), r); err != nil {
			return err
		}
		renderModel(p, r, machine(dir), command)
		heading = modelHeading
	default:
		return usageErr("-section: unknown section %q (want vod, webrtc, abr, curves, web or model)", name)
	}
	if splice == "" {
		if err := os.WriteFile(out, b.Bytes(), 0o644); err != nil {
			return err
		}
		log.Info("section written", "section", name, "file", out)
		return nil
	}
	doc, err := os.ReadFile(splice)
	if err != nil {
		return err
	}
	if err := os.WriteFile(splice, spliceSection(doc, b.Bytes(), heading), 0o644); err != nil {
		return err
	}
	log.Info("section spliced", "section", name, "file", splice)
	return nil
}

// spliceSection replaces, in doc, the section whose heading line is heading (up to the next "## " heading
// or the end) with sec, or appends sec after a blank line.
func spliceSection(doc, sec []byte, heading string) []byte {
	lines := strings.SplitAfter(string(doc), "\n")
	start, end := -1, len(lines)
	for i, l := range lines {
		switch {
		case start < 0 && strings.TrimRight(l, "\n") == heading:
			start = i
		case start >= 0 && strings.HasPrefix(l, "## "):
			end = i
		}
		if end < len(lines) {
			break
		}
	}
	if start < 0 {
		out := strings.TrimRight(string(doc), "\n") + "\n\n"
		return append([]byte(out), sec...)
	}
	head := strings.Join(lines[:start], "")
	tail := strings.Join(lines[end:], "")
	body := string(sec)
	if tail != "" {
		body = strings.TrimRight(body, "\n") + "\n\n"
	}
	return []byte(head + body + tail)
}

// medianOf is the median of f over runs, NaN for none.
func medianOf[T any](runs []T, f func(T) float64) float64 {
	vs := make([]float64, 0, len(runs))
	for _, r := range runs {
		vs = append(vs, f(r))
	}
	slices.Sort(vs)
	return Percentile(vs, 50)
}

func renderVOD(p printer, v *VODResult, m Machine, command string) {
	f := v.Flags
	up, rg, tc := v.Upload, v.Range, v.Process
	p("%s\n\n", vodHeading)
	p("The VOD service (`nagare vod`: gRPC uploads into object storage, processing into an HLS ladder and an MP4,\n")
	p("HTTP playback) against what one would use without it, on the same versitygw bucket and machine: `aws s3 cp`\n")
	p("for uploads and a static nginx for byte ranges. Measured in its own phase, whose run is described here.\n\n")
	p("| | |\n|---|---|\n")
	p("| Date | %s |\n", v.Date)
	p("| Command | `%s`, which runs `nagare bench vod -bin bin/nagare -size %s -rounds %d -conns %d -threads %d -duration %.0fs -range-rounds %d` with the gateway's, static nginx's and the clip's locations (the phase took %.0f s) |\n",
		command, sizeName(f.Size), f.Rounds, f.Conns, f.Threads, f.DurationS, f.RangeRounds, v.Seconds)
	p("| CPU | %s, %d logical CPUs (nproc) |\n| Memory | %s |\n| Kernel | %s |\n", m.CPU, m.CPUs, m.Memory, m.Kernel)
	p("| Load average (1, 5, 15 min) | %s at start, %s at end |\n", orDash(v.LoadStart), orDash(v.LoadEnd))
	p("| Tools | versitygw %s (posix backend), %s, %s, %s, ffmpeg %s |\n\n", orDash(v.Tools["versitygw"]),
		orDash(v.Tools["aws-cli"]), m.Nginx, m.Wrk, m.FFmpeg)
	p("The bench starts `bin/nagare vod` as its child process with `NAGARE_*` settings: a SQLite store in a temp\n")
	p("directory, storage `s3` on a versitygw started for the phase (posix backend on this machine's disk), and\n")
	p("the defaults otherwise (uploads stored in %d MiB parts; the default ladder with libx264 preset %s and %s\n", up.PartSizeMiB, tc.Preset, tc.SegmentDuration)
	p("segments; %d processing worker). Clients, servers and the gateway share the machine and talk over\n", tc.Workers)
	p("127.0.0.1. CPU figures are %% of one core; \"others\" is every process but the one measured, the gateway\n")
	p("(shown apart) and the bench with its children (wrk, aws-cli): it shows how much unrelated work competed.\n\n")

	mbps := func(r VODUploadRun) float64 { return r.MBps(up.Bytes) }
	nagareMBps := medianOf(runsOf(up.Runs, KindNagare), mbps)
	awsMBps := medianOf(runsOf(up.Runs, "aws-cli"), mbps)
	awsNetMBps := medianOf(runsOf(up.Runs, "aws-cli"), func(r VODUploadRun) float64 {
		return float64(up.Bytes) / 1e6 / (r.Seconds - up.AWSStartS)
	})
	rss := nan()
	for _, r := range runsOf(up.Runs, KindNagare) {
		if math.IsNaN(rss) || r.PeakRSSMiB-r.IdleRSSMiB > rss {
			rss = r.PeakRSSMiB - r.IdleRSSMiB
		}
	}
	rangeRuns := func(server string) []VODRangeRun {
		var out []VODRangeRun
		for _, r := range rg.Runs {
			if r.Server == server {
				out = append(out, r)
			}
		}
		return out
	}
	reqs := func(r VODRangeRun) float64 { return r.ReqPerSec }
	nagareRange, staticRange := medianOf(rangeRuns("nagare-vod"), reqs), medianOf(rangeRuns(staticKind), reqs)
	uploadShare, uploadShareNet := 100*nagareMBps/awsMBps, 100*nagareMBps/awsNetMBps
	rangeShare := 100 * nagareRange / staticRange

	p("| Target | Goal | measured | Verdict |\n|---|---|---|---|\n")
	p("| upload throughput, nagare's gRPC Upload vs `aws s3 cp` without its start-up (MB/s, median runs) | ≥ %.0f %% | %s %% | %s |\n",
		targetUploadShare, num(uploadShareNet), Verdict(uploadShareNet, targetUploadShare, true, " points"))
	p("| VOD server RSS during an upload, peak above idle (the highest run) | ≤ %.0f MiB | %s MiB | %s |\n",
		targetUploadRSS, num(rss), Verdict(rss, targetUploadRSS, false, " MiB"))
	p("| 1 MiB byte ranges of the MP4, nagare vs static nginx (req/s, median runs) | ≥ %.0f %% | %s %% | %s |\n\n",
		targetRangeShare, num(rangeShare), Verdict(rangeShare, targetRangeShare, true, " points"))

	p("### Upload of a %s file\n\n", spacedUnit(sizeName(up.Bytes)))
	p("The same file uploaded %s by each client into the same bucket, the clients taking turns. nagare: the\n", times(f.Rounds))
	p("bench's Go client sends it over one gRPC `Upload` stream in 1 MiB chunks (no checksum given; the service\n")
	p("computes one anyway), timed from opening the stream to the answer that the upload is complete, which the\n")
	p("service gives once it has stored the last part and completed the multipart upload. aws-cli: `aws s3 cp FILE\n")
	p("s3://BUCKET/KEY --endpoint-url ENDPOINT` with its defaults (an empty configuration: 8 MiB parts, 10\n")
	p("concurrent requests), timed from start to exit; its start-up, timed as the median of three copies of a\n")
	p("one-byte file, is %s s, which the target's figure leaves out. MB/s are 10⁶ bytes per second. RSS is the VOD\n", num(up.AWSStartS))
	p("server process's VmRSS (`/proc/<pid>/status`): idle is the median of 1 s of samples before its first upload;\n")
	p("before, the same right before each upload (the Go runtime gives freed memory back to the system slowly, so\n")
	p("after an upload it stays near the peak); peak, the highest sample, every 50 ms, during the upload. Server\n")
	p("CPU during aws-cli's runs is the idle service's.\n\n")
	p("| round | client | seconds | MB/s | server CPU %% | gateway CPU %% | others CPU %% | server RSS idle MiB | before MiB | peak MiB | peak above idle MiB |\n")
	p("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range up.Runs {
		client, rssCells := "aws s3 cp", "– | – | – | –"
		if r.Client == KindNagare {
			client = "nagare gRPC Upload"
			rssCells = fmt.Sprintf("%s | %s | %s | %s", num(r.IdleRSSMiB), num(r.BeforeRSSMiB), num(r.PeakRSSMiB), num(r.PeakRSSMiB-r.IdleRSSMiB))
		}
		p("| %d | %s | %s | %s | %s | %s | %s | %s |\n", r.Round, client, num(r.Seconds), num(mbps(r)),
			num(r.Usage.CPUPercent), num(r.GatewayCPUPercent), num(r.Usage.OthersCPUPercent), rssCells)
	}
	p("\nMedian runs: nagare %s MB/s; aws-cli %s MB/s, %s MB/s without its start-up: nagare at %s %% of aws-cli,\n",
		num(nagareMBps), num(awsMBps), num(awsNetMBps), num(uploadShare))
	p("%s %% without aws-cli's start-up.\n\n", num(uploadShareNet))

	p("### 1 MiB byte ranges of a processed MP4\n\n")
	p("The progressive MP4 of the video processed below (%d bytes), from the VOD service as `/vod/<id>.mp4` (a\n", rg.FileBytes)
	p("public video), and the same bytes downloaded from it into the root of a static nginx\n")
	p("(`scripts/bench/nginx-static.conf`: sendfile, `worker_processes auto`). `wrk --latency -t%d -c%d -d%.0fs -s\n", f.Threads, f.Conns, f.DurationS)
	p("ranges.lua`: the script asks for random 1 MiB ranges aligned on 1 MiB within the file (`Range: bytes=a-b`)\n")
	p("with fixed seeds, so both servers get the same requests; both answered a sample range with 206 and the\n")
	if c := rg.Cache; c != nil {
		p("file's bytes before the runs. **The VOD service reads through its block cache** (`vod.cacheSize`, %s by\n", spacedUnit(sizeName(c.SizeBytes)))
		p("default, in %s blocks, least recently used out first): the first read of each block is a ranged GET of\n", spacedUnit(sizeName(c.BlockBytes)))
		p("versitygw (S3 over HTTP on loopback, the gateway reading its posix directory), later ones come from memory,\n")
		p("and the object's HEAD is asked of the gateway at most every 30 s; nginx reads its local file. ")
		if rg.FileBytes <= c.SizeBytes/4 {
			p("The MP4 fits\n")
			p("in the cache and had been read whole through it before the runs (by the bench's polls during processing\n")
			p("and its download of the file), so the runs are served from memory. ")
		} else {
			p("The MP4 is\n")
			p("larger than a quarter of the cache, so its whole download went to the gateway directly and the runs fill\n")
			p("the cache as they go. ")
		}
		p("Over the service's whole run (those\n")
		p("reads, the runs and the HLS files read while polling) the cache counted %d block reads from memory, %d\n", c.Hits, c.Misses)
		p("fetched and %d waiting for another request's fetch: **%.2f %% hits**, from %d ranged GETs of the gateway\n", c.Waits, c.HitPercent(), c.Fetches)
		p("(%d bytes), %d reads passed to it whole, %d HEADs of it and %d answered from memory, %d evictions (the\n",
			c.FetchedBytes, c.Bypasses, c.HeadMisses, c.HeadHits, c.Evictions)
		p("service's `vod playback cache` log line when it stops). The servers take turns, %s each. MB/s are 10⁶\n", times(f.RangeRounds))
		p("bytes per second.\n\n")
	} else {
		p("file's bytes before the runs. **The VOD service reads every range from versitygw** (S3 over HTTP on\n")
		p("loopback: a HEAD and a ranged GET per request, the gateway reading its posix directory), while nginx reads\n")
		p("its local file. The servers take turns, %s each. MB/s are 10⁶ bytes per second.\n\n", times(f.RangeRounds))
	}
	p("| round | server | req/s | MB/s | p50 ms | p99 ms | non-2xx | socket errors | server CPU %% | gateway CPU %% | wrk CPU %% | others CPU %% |\n")
	p("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rg.Runs {
		p("| %d | %s | %s | %s | %s | %s | %d | %d | %s | %s | %s | %s |\n", r.Round, r.Server, num(r.ReqPerSec),
			num(r.ReqPerSec*float64(r.Bytes)/1e6), num(r.LatencyP50Ms), num(r.LatencyP99Ms), r.Non2xx, r.SocketErrors,
			num(r.Usage.CPUPercent), num(r.GatewayCPUPercent), num(r.WrkCPUPercent), num(r.Usage.OthersCPUPercent))
	}
	p("\nMedian runs: nagare %s req/s (%s MB/s), static nginx %s req/s (%s MB/s): nagare at %s %% of static nginx.\n\n",
		num(nagareRange), num(nagareRange*float64(rg.Range)/1e6), num(staticRange), num(staticRange*float64(rg.Range)/1e6), num(rangeShare))

	p("### Transcoding with the default ladder\n\n")
	p("A %.0f s %dx%d %s/%s clip (`.cache/bench/vod-clip.mp4`, %d bytes, made once by scripts/bench.sh from ffmpeg's\n",
		tc.DurationS, tc.Width, tc.Height, tc.VideoCodec, tc.AudioCodec, tc.ClipBytes)
	p("testsrc2 and a sine: libx264 at 2 Mbit/s, 30 fps, AAC 128 kbit/s) uploaded over gRPC as a public video.\n")
	p("Upload complete is when the service answered that the upload was complete; READY, the first `GetVideo`\n")
	p("(polled every 50 ms) to say so. Playable is when `/vod/<id>/index.m3u8`, its first variant's media\n")
	p("playlist, that playlist's `EXT-X-MAP` and its first segment all answer 200 (polled every 50 ms from the\n")
	p("last byte sent). The service makes the whole ladder, stores it and then marks the video READY, serving\n")
	p("no rendition before (409): the first playable rendition comes with the whole ladder, at READY. CPU is\n")
	p("over upload complete → READY: the service with its ffmpeg and ffprobe processes, and the rest of the machine.\n\n")
	p("| clip | upload | upload complete → READY | speed (clip ÷ that time) | last byte → first rendition playable | last byte → MP4 answers 200 | service CPU %% | others CPU %% | renditions |\n")
	p("|---|---|---|---|---|---|---|---|---|\n")
	p("| %.1f s, %dx%d | %s s | %s s | %s× real time | %s s | %s s | %s | %s | %s |\n\n", tc.DurationS, tc.Width, tc.Height,
		num(tc.UploadS), num(tc.ReadyS), num(tc.Speed()), num(tc.PlayableS), num(tc.MP4PlayableS),
		num(tc.ServiceCPUPercent), num(tc.OthersCPUPercent), strings.Join(tc.Renditions, ", "))

	p("Notes:\n\n")
	p("- The uploaded file is the clip's `ftyp` box (a real MP4's first bytes, which the service's container\n")
	p("  sniffing checks) followed by pseudo-random bytes: fine for throughput, but no video. The service has no\n")
	p("  setting to skip processing, so each of these uploads was processed and failed, as expected (%s).\n", orDash(up.Outcome))
	p("  Processing reads the whole upload back from the gateway: the bench waited for it to end, and deleted the\n")
	p("  video, before measuring anything else.\n")
	var busy []string
	for _, r := range up.Runs {
		if r.Usage.OthersCPUPercent > othersLimitFanout {
			busy = append(busy, fmt.Sprintf("upload round %d %s (%s %%)", r.Round, r.Client, num(r.Usage.OthersCPUPercent)))
		}
	}
	for _, r := range rg.Runs {
		if r.Usage.OthersCPUPercent > othersLimitFanout {
			busy = append(busy, fmt.Sprintf("byte ranges round %d %s (%s %%)", r.Round, r.Server, num(r.Usage.OthersCPUPercent)))
		}
	}
	if tc.OthersCPUPercent > othersLimitFanout {
		busy = append(busy, fmt.Sprintf("transcoding (%s %%)", num(tc.OthersCPUPercent)))
	}
	if len(busy) > 0 {
		p("- Other processes used a noticeable share of the CPUs (\"others\" above %.0f %% of one core) during %s:\n", othersLimitFanout, strings.Join(busy, ", "))
		p("  the figures of those rows are less reliable than the rest.\n")
	}
	p("- Raw results: `.cache/bench/last-run/vod.json`; the service's log: `vod-service.log` beside it.\n")
}

// spacedUnit puts a space between a size's number and its unit: "1GiB" → "1 GiB".
func spacedUnit(s string) string {
	i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	if i <= 0 {
		return s
	}
	return s[:i] + " " + s[i:]
}

// times writes n as "once", "twice", "3 times".
func times(n int) string {
	switch n {
	case 1:
		return "once"
	case 2:
		return "twice"
	}
	return strconv.Itoa(n) + " times"
}

// runsOf returns the upload runs of client.
func runsOf(runs []VODUploadRun, client string) []VODUploadRun {
	var out []VODUploadRun
	for _, r := range runs {
		if r.Client == client {
			out = append(out, r)
		}
	}
	return out
}

// sizeName writes a byte count in the largest binary unit that divides it.
func sizeName(n int64) string {
	for _, u := range []struct {
		name string
		size int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}
