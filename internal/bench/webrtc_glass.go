package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/nagare-video/nagare/internal/media/webrtc/client"
)

// WebRTC glass to glass: headless Chromium plays a stream over WHEP at an edge and reads, from every
// frame it renders, the time stamp drawn into it (the layout of glass.go's stampCode). Two sources:
// the same page publishing a canvas over WHIP to the edge's origin (one page, one clock), and the
// bench's stamped frames encoded by ffmpeg and published over RTMP to the origin (the Unix time of this
// machine, which the page's clock also reads).

// Targets of the WebRTC issue, medians on loopback.
const (
	targetWHIPGlassMs = 200.0
	targetRTMPGlassMs = 400.0
)

// webrtcGlassPage is what webrtc-glass.html reports of one sampling window.
type webrtcGlassPage struct {
	Browser    string         `json:"browser"`
	Rendered   int            `json:"rendered"`
	Decoded    int            `json:"decoded"`
	Failed     int            `json:"failed"`
	Missed     int            `json:"missed"`    // frames presented between two callbacks, not sampled
	Published  int            `json:"published"` // frames the page drew and sent (WHIP), in the window
	Late       int            `json:"late"`      // of those (since the page started), drawn more than a frame late
	WHEPTries  int            `json:"whepTries"`
	Sizes      map[string]int `json:"sizes"`
	LatencyMs  []float64      `json:"latencyMs"`  // now − stamp at each decoded frame's callback
	ReceivedMs []float64      `json:"receivedMs"` // last packet of the frame received − stamp
	StatsStart webrtcStats    `json:"statsStart"`
	StatsEnd   webrtcStats    `json:"statsEnd"`
}

// webrtcStats are the page's peer connections' statistics that explain the latency (WebRTC stats names).
type webrtcStats struct {
	SubRTTS  float64        `json:"subRttS"`
	PubRTTS  float64        `json:"pubRttS"`
	Inbound  *inboundVideo  `json:"inbound,omitempty"`
	Outbound *outboundVideo `json:"outbound,omitempty"`
}

type inboundVideo struct {
	DecoderImplementation    string  `json:"decoderImplementation"`
	FrameWidth               int     `json:"frameWidth"`
	FrameHeight              int     `json:"frameHeight"`
	FramesReceived           float64 `json:"framesReceived"`
	FramesDecoded            float64 `json:"framesDecoded"`
	FramesDropped            float64 `json:"framesDropped"`
	KeyFramesDecoded         float64 `json:"keyFramesDecoded"`
	PacketsReceived          float64 `json:"packetsReceived"`
	PacketsLost              float64 `json:"packetsLost"`
	NACKCount                float64 `json:"nackCount"`
	PLICount                 float64 `json:"pliCount"`
	JitterBufferDelay        float64 `json:"jitterBufferDelay"`
	JitterBufferTargetDelay  float64 `json:"jitterBufferTargetDelay"`
	JitterBufferEmittedCount float64 `json:"jitterBufferEmittedCount"`
	TotalDecodeTime          float64 `json:"totalDecodeTime"`
	FreezeCount              float64 `json:"freezeCount"`
	TotalFreezesDuration     float64 `json:"totalFreezesDuration"`
	BytesReceived            float64 `json:"bytesReceived"`
}

type outboundVideo struct {
	EncoderImplementation   string             `json:"encoderImplementation"`
	FrameWidth              int                `json:"frameWidth"`
	FrameHeight             int                `json:"frameHeight"`
	FramesEncoded           float64            `json:"framesEncoded"`
	KeyFramesEncoded        float64            `json:"keyFramesEncoded"`
	TotalEncodeTime         float64            `json:"totalEncodeTime"`
	PacketsSent             float64            `json:"packetsSent"`
	BytesSent               float64            `json:"bytesSent"`
	PLICount                float64            `json:"pliCount"`
	QualityLimitationReason string             `json:"qualityLimitationReason"`
	QualityLimitation       map[string]float64 `json:"qualityLimitationDurations"`
}

// WebRTCGlassRun is one source's measurement: the setup, the page's window and its summary.
type WebRTCGlassRun struct {
	Source    string  `json:"source"` // "whip" (the page's canvas) or "rtmp" (the bench's frames via ffmpeg)
	Path      string  `json:"path"`   // what the frames went through
	Stream    string  `json:"stream"`
	Size      string  `json:"size"`
	FPS       int     `json:"fps"`
	Encoder   string  `json:"encoder"`
	WarmupS   float64 `json:"warmupS"`
	DurationS float64 `json:"durationS"`
	// FramesSent and FramesLate are the bench's (rtmp): frames made, and written to ffmpeg more than a
	// frame late after the first second.
	FramesSent int             `json:"framesSent,omitempty"`
	FramesLate int             `json:"framesLate,omitempty"`
	Page       webrtcGlassPage `json:"page"`
	// AtOrigin and AtEdge are what a Go WHEP viewer at the origin and one at the edge received meanwhile:
	// where frames are lost.
	AtOrigin *frameStats `json:"atOrigin,omitempty"`
	AtEdge   *frameStats `json:"atEdge,omitempty"`
	Error    string      `json:"error,omitempty"`
}

// summary summarises the run's window (computed, not stored: it has NaNs where nothing was measured).
func (r *WebRTCGlassRun) summary() webrtcGlassResult {
	return summarizeWebRTCGlass(r.Page, r.DurationS)
}

// webrtcGlassResult summarises a window; milliseconds unless named otherwise.
type webrtcGlassResult struct {
	Decoded, Failed, Rendered, Missed int
	Median, P95, P99, Min, Max        float64
	ReceivedMedian, ReceivedP95       float64 // stamp → the frame's last packet received
	ShownMedian                       float64 // that packet received → the frame's callback
	RenderedFPS, PublishedFPS         float64
	JitterBufferMs, DecodeMs          float64 // averages over the window's frames
	EncodeMs                          float64 // the page's encoder, average per frame (whip)
	KeyframesDecoded, Freezes         float64
	FreezesS, PacketsLost, FramesLost float64 // FramesLost: frames received by the browser minus decoded
}

// phaseRun is when a command of the webrtc phase ran, and how loaded the machine was.
type phaseRun struct {
	Date      string  `json:"date"` // at the end
	Seconds   float64 `json:"seconds"`
	LoadStart string  `json:"loadStart"`
	LoadEnd   string  `json:"loadEnd"`
}

func startPhaseRun() (phaseRun, time.Time) {
	return phaseRun{LoadStart: loadAvg(readFile("/proc/loadavg"))}, time.Now()
}

func (r *phaseRun) end(began time.Time) {
	r.Seconds = time.Since(began).Seconds()
	r.LoadEnd = loadAvg(readFile("/proc/loadavg"))
	r.Date = time.Now().UTC().Format("2006-01-02 15:04 MST")
}

// WebRTCGlassResult is what `nagare bench webrtc-glass` measured.
type WebRTCGlassResult struct {
	phaseRun
	Playwright string           `json:"playwright"`
	Runs       []WebRTCGlassRun `json:"runs"`
}

// summarizeWebRTCGlass summarises the window of a page that sampled for window seconds.
func summarizeWebRTCGlass(p webrtcGlassPage, window float64) webrtcGlassResult {
	lat := slices.Sorted(slices.Values(p.LatencyMs))
	rec := slices.Sorted(slices.Values(p.ReceivedMs))
	var shown []float64
	if len(p.ReceivedMs) == len(p.LatencyMs) {
		for i, l := range p.LatencyMs {
			shown = append(shown, l-p.ReceivedMs[i])
		}
	}
	slices.Sort(shown)
	s := webrtcGlassResult{
		Decoded: p.Decoded, Failed: p.Failed, Rendered: p.Rendered, Missed: p.Missed,
		Median: Percentile(lat, 50), P95: Percentile(lat, 95), P99: Percentile(lat, 99),
		Min: Percentile(lat, 0), Max: Percentile(lat, 100),
		ReceivedMedian: Percentile(rec, 50), ReceivedP95: Percentile(rec, 95), ShownMedian: Percentile(shown, 50),
		JitterBufferMs: nan(), DecodeMs: nan(), EncodeMs: nan(), RenderedFPS: nan(), PublishedFPS: nan(),
	}
	if window > 0 {
		s.RenderedFPS = float64(p.Rendered) / window
		if p.Published > 0 {
			s.PublishedFPS = float64(p.Published) / window
		}
	}
	if a, b := p.StatsStart.Inbound, p.StatsEnd.Inbound; a != nil && b != nil {
		if n := b.JitterBufferEmittedCount - a.JitterBufferEmittedCount; n > 0 {
			s.JitterBufferMs = 1000 * (b.JitterBufferDelay - a.JitterBufferDelay) / n
		}
		if n := b.FramesDecoded - a.FramesDecoded; n > 0 {
			s.DecodeMs = 1000 * (b.TotalDecodeTime - a.TotalDecodeTime) / n
		}
		s.KeyframesDecoded = b.KeyFramesDecoded - a.KeyFramesDecoded
		s.Freezes = b.FreezeCount - a.FreezeCount
		s.FreezesS = b.TotalFreezesDuration - a.TotalFreezesDuration
		s.PacketsLost = b.PacketsLost - a.PacketsLost
		s.FramesLost = (b.FramesReceived - a.FramesReceived) - (b.FramesDecoded - a.FramesDecoded)
	}
	if a, b := p.StatsStart.Outbound, p.StatsEnd.Outbound; a != nil && b != nil {
		if n := b.FramesEncoded - a.FramesEncoded; n > 0 {
			s.EncodeMs = 1000 * (b.TotalEncodeTime - a.TotalEncodeTime) / n
		}
	}
	return s
}

// glassPlayer runs webrtc-glass.mjs.
type glassPlayer struct {
	node, script, modules, chromium string
	code                            stampCode
	size                            string
	fps                             int
	warmup, window                  time.Duration
	trace                           bool
	stderr                          io.Writer
}

func (g glassPlayer) run(ctx context.Context, page, whep, whip, token string) (webrtcGlassPage, error) {
	args := []string{g.script, "--page", page, "--whep", whep, "--code", g.code.String(), "--size", g.size,
		"--fps", strconv.Itoa(g.fps), "--modules", g.modules, "--chromium", g.chromium,
		"--warmup", fmt.Sprint(g.warmup.Seconds()), "--duration", fmt.Sprint(g.window.Seconds())}
	if whip != "" {
		args = append(args, "--whip", whip)
	}
	if token != "" {
		args = append(args, "--token", token)
	}
	if g.trace {
		args = append(args, "--trace")
	}
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, g.node, args...)
	// SIGTERM, not SIGKILL: playwright then closes the browser it started
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	cmd.Stdout, cmd.Stderr = &out, io.MultiWriter(&errOut, g.stderr)
	var p webrtcGlassPage
	if err := cmd.Run(); err != nil {
		return p, fmt.Errorf("player: %w: %s", err, lastLines(errOut.String(), 5))
	}
	if err := json.Unmarshal(out.Bytes(), &p); err != nil {
		return p, fmt.Errorf("player output: %w", err)
	}
	return p, nil
}

// cmdWebRTCGlass measures glass-to-glass latency over WebRTC through an origin and an edge.
func cmdWebRTCGlass(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) error {
	fs := newFlags("webrtc-glass", stderr)
	origin := fs.String("origin", "", "HTTP base URL of the origin (WHIP), e.g. http://127.0.0.1:8080")
	edge := fs.String("edge", "", "HTTP base URL of an edge of that origin (WHEP)")
	rtmpBase := fs.String("rtmp", "", "RTMP base URL of the origin with the application, e.g. rtmp://127.0.0.1:1935/live (the RTMP source; empty: skip it)")
	app := fs.String("app", "live", "application of the streams")
	token := fs.String("token", "", "bearer for the page's WHIP publication (stream key or signed token; empty when the origin allows unauthenticated publishing)")
	sources := fs.String("sources", "whip,rtmp", "sources to measure, in order: whip (the page's canvas), rtmp (the bench's frames via ffmpeg)")
	page := addPageFlags(fs, "test/players/web/webrtc-glass.mjs", "the page's driver", 3*time.Second, 20*time.Second)
	size, fps, keyint, preset, warmup, d := page.size, page.fps, page.keyint, page.preset, page.warmup, page.window
	out := fs.String("out", "", "JSON result file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *origin == "" || *edge == "" || *out == "" {
		return usageErr("-origin, -edge and -out are required")
	}
	if err := page.check(60); err != nil {
		return err
	}
	width, height := page.width, page.height
	script, modules, chromium, nodeBin, trace := page.script, page.modules, page.chromium, page.node, page.trace
	want := strings.Split(*sources, ",")
	for _, s := range want {
		if s != "whip" && s != "rtmp" {
			return usageErr("-sources: unknown source %q", s)
		}
		if s == "rtmp" && *rtmpBase == "" {
			return usageErr("-sources rtmp needs -rtmp")
		}
	}
	*origin, *edge = strings.TrimSuffix(*origin, "/"), strings.TrimSuffix(*edge, "/")
	*app = strings.Trim(*app, "/")
	api, err := client.NewAPI()
	if err != nil {
		return err
	}
	player := glassPlayer{node: *nodeBin, script: *script, modules: *modules, chromium: *chromium, code: defaultStampCode,
		size: *size, fps: *fps, warmup: *warmup, window: *d, trace: *trace, stderr: stderr}

	res := &WebRTCGlassResult{Playwright: packageVersion(*modules, "playwright-core")}
	var began time.Time
	res.phaseRun, began = startPhaseRun()
	suffix := strconv.FormatInt(time.Now().Unix()%100000, 10) // a new stream each run: no hub left from an earlier one
	for _, src := range want {
		run := WebRTCGlassRun{Source: src, Stream: *app + "/wglass-" + src + "-" + suffix, Size: *size, FPS: *fps,
			WarmupS: warmup.Seconds(), DurationS: d.Seconds()}
		// a Go viewer at the origin and one at the edge for the length of the run, counting frames
		octx, stopCounting := context.WithCancel(ctx)
		originDone, edgeDone := make(chan *frameStats, 1), make(chan *frameStats, 1)
		originWHEP, edgeWHEP := *origin+"/"+run.Stream+"/whep", *edge+"/"+run.Stream+"/whep"
		go func() { originDone <- countFrames(octx, api, originWHEP) }()
		go func() { edgeDone <- countFrames(octx, api, edgeWHEP) }()
		var err error
		switch src {
		case "whip":
			run.Path = "Chromium canvas → WHIP → origin → edge → WHEP → Chromium (one page)"
			run.Encoder = "Chromium's WebRTC H.264 encoder"
			log.Info("webrtc glass: the page publishes over WHIP and plays over WHEP at the edge", "stream", run.Stream)
			run.Page, err = player.run(ctx, *edge, *edge+"/"+run.Stream+"/whep", *origin+"/"+run.Stream+"/whip", *token)
		case "rtmp":
			run.Path = "bench frames → ffmpeg (libx264) → RTMP → origin → edge → WHEP → Chromium"
			run.Encoder = fmt.Sprintf("ffmpeg libx264 -preset %s -tune zerolatency, no B-frames, a keyframe every %s, 2 Mbit/s", *preset, keyint)
			log.Info("webrtc glass: ffmpeg publishes the bench's frames over RTMP, the page plays over WHEP at the edge", "stream", run.Stream)
			err = withStampPublisher(ctx, strings.TrimSuffix(*rtmpBase, "/")+"/"+strings.TrimPrefix(run.Stream, *app+"/"),
				width, height, *fps, *keyint, *preset, &run, func() error {
					var perr error
					run.Page, perr = player.run(ctx, *edge, *edge+"/"+run.Stream+"/whep", "", "")
					return perr
				})
		}
		stopCounting()
		run.AtOrigin, run.AtEdge = <-originDone, <-edgeDone
		if err != nil {
			run.Error = err.Error()
			log.Error("webrtc glass", "source", src, "err", err)
		}
		res.Runs = append(res.Runs, run)
		sum := run.summary()
		fmt.Fprintf(stdout, "%s: %d frames decoded, median %s ms, p95 %s ms (%s)\n", run.Path, sum.Decoded,
			num(sum.Median), num(sum.P95), orDash(run.Error))
	}
	res.end(began)
	if err := writeJSON(*out, res); err != nil {
		return err
	}
	for _, r := range res.Runs {
		if r.Page.Decoded == 0 {
			return fmt.Errorf("%s: no frame decoded: %s", r.Source, orDash(r.Error))
		}
	}
	return nil
}

// withStampPublisher publishes the bench's stamped frames, encoded by ffmpeg, to rtmpURL while fn runs,
// and records the frames made in run.
func withStampPublisher(ctx context.Context, rtmpURL string, width, height, fps int, keyint time.Duration, preset string,
	run *WebRTCGlassRun, fn func() error,
) error {
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	gop := max(1, int(math.Round(keyint.Seconds()*float64(fps))))
	enc := exec.Command("ffmpeg", encoderArgs(width, height, fps, gop, preset, rtmpURL)...)
	var encErr bytes.Buffer
	enc.Stderr = &encErr
	stdin, err := enc.StdinPipe()
	if err != nil {
		return err
	}
	if err := enc.Start(); err != nil {
		return fmt.Errorf("starting ffmpeg: %w", err)
	}
	src := &stampSource{Width: width, Height: height, FPS: fps, Code: defaultStampCode}
	var wg sync.WaitGroup
	var pubErr error
	wg.Go(func() {
		pubErr = src.Run(pctx, stdin)
		stdin.Close() // ffmpeg flushes and exits
		_ = enc.Wait()
	})
	err = fn()
	stop()
	wg.Wait()
	run.FramesSent, run.FramesLate = src.Frames, src.Late
	if pubErr != nil {
		err = errors.Join(err, fmt.Errorf("publisher: %w (ffmpeg: %s)", pubErr, strings.TrimSpace(encErr.String())))
	} else if err != nil && encErr.Len() > 0 {
		err = fmt.Errorf("%w (ffmpeg: %s)", err, lastLines(encErr.String(), 3))
	}
	return err
}

// frameStats counts the video frames a WHEP viewer received: a frame is a packet with the marker bit.
type frameStats struct {
	Frames  int     `json:"frames"`
	Seconds float64 `json:"seconds"` // from the first frame to the last
	Lost    int     `json:"lost"`    // video packets missing from the sequence when a later one came
	// Gaps counts the intervals between two frames longer than frameGap; LongestGapMs is the longest.
	Gaps         int     `json:"gaps"`
	LongestGapMs float64 `json:"longestGapMs"`
}

// frameGap is an interval between frames that a viewer sees as a freeze (five frame intervals at 30 fps).
const frameGap = 150 * time.Millisecond

// FPS is the frames per second received.
func (f *frameStats) FPS() float64 {
	if f == nil || f.Seconds <= 0 {
		return nan()
	}
	return float64(f.Frames-1) / f.Seconds
}

// countFrames offers at endpoint until it answers, then counts the video frames it sends until ctx ends;
// nil if it never answered.
func countFrames(ctx context.Context, api *webrtc.API, endpoint string) *frameStats {
	var mu sync.Mutex
	st := &frameStats{}
	var first, last time.Time
	var sess *client.Session
	for sess == nil {
		var err error
		sess, err = client.Subscribe(ctx, api, nil, endpoint, func(t *webrtc.TrackRemote) {
			if t.Kind() != webrtc.RTPCodecTypeVideo {
				return
			}
			var next uint16
			started := false
			for {
				pkt, _, err := t.ReadRTP()
				if err != nil {
					return
				}
				mu.Lock()
				if gap := int16(pkt.SequenceNumber - next); started && gap > 0 {
					st.Lost += int(gap)
				}
				if !started || int16(pkt.SequenceNumber-next) >= 0 {
					next, started = pkt.SequenceNumber+1, true
				}
				mu.Unlock()
				if !pkt.Marker {
					continue
				}
				now := time.Now()
				mu.Lock()
				if st.Frames == 0 {
					first = now
				} else if gap := now.Sub(last); gap > frameGap {
					st.Gaps++
					st.LongestGapMs = max(st.LongestGapMs, ms(gap))
				}
				st.Frames++
				last = now
				mu.Unlock()
			}
		})
		if err != nil && sleepCtx(ctx, 200*time.Millisecond) != nil {
			return nil
		}
	}
	<-ctx.Done()
	cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = sess.Close(cctx)
	mu.Lock()
	defer mu.Unlock()
	st.Seconds = last.Sub(first).Seconds()
	return st
}

// packageVersion reads the version of an npm package in modules ("" if unknown).
func packageVersion(modules, name string) string {
	var pkg struct{ Version string }
	if err := readJSON(filepath.Join(modules, name, "package.json"), &pkg); err != nil {
		return ""
	}
	return pkg.Version
}
