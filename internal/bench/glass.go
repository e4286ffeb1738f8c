package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Glass-to-glass latency: a publisher draws the wall-clock time of each frame into the picture as a row of
// black and white boxes, a real player (hls.js in headless Chromium, test/players/web/glass.mjs) reads the
// boxes back from every frame it renders and subtracts them from its own clock. Both ends run on this
// machine, so they share the clock.

// stampCode is where the time stamp is drawn: cells of Cell×Cell luma pixels, Cols to a row, from (X, Y).
// Cell 0 is white and cell 1 black (the reader's references for its threshold), then stampBits data cells,
// most significant bit first: the low 32 bits of the Unix time in milliseconds and a CRC-8 of them. Cells
// on the 16-pixel macroblock grid come through H.264 almost untouched. The page is given the layout in its
// URL (stampCode.String), so this struct is the one description of it.
type stampCode struct{ X, Y, Cell, Cols int }

var defaultStampCode = stampCode{X: 32, Y: 32, Cell: 16, Cols: 21}

const (
	stampBits  = 40
	stampCells = 2 + stampBits
	lumaWhite  = 235 // video range, as the encoder expects
	lumaBlack  = 16
)

func (c stampCode) String() string { return fmt.Sprintf("%d,%d,%d,%d", c.X, c.Y, c.Cell, c.Cols) }

// cell returns the top left corner of cell i.
func (c stampCode) cell(i int) (x, y int) {
	return c.X + i%c.Cols*c.Cell, c.Y + i/c.Cols*c.Cell
}

// size returns the width and height the code covers.
func (c stampCode) size() (w, h int) {
	rows := (stampCells + c.Cols - 1) / c.Cols
	return min(stampCells, c.Cols) * c.Cell, rows * c.Cell
}

// crc8 is CRC-8 with polynomial x^8+x^2+x+1 (0x07), initial value 0, over v big-endian; glass.html
// computes the same.
func crc8(v uint32) byte {
	var crc byte
	for i := 3; i >= 0; i-- {
		crc ^= byte(v >> (8 * i))
		for range 8 {
			if crc&0x80 != 0 {
				crc = crc<<1 ^ 0x07
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// draw writes ms into the luma plane y (stride bytes a row).
func (c stampCode) draw(y []byte, stride int, ms uint32) {
	word := uint64(ms)<<8 | uint64(crc8(ms))
	for i := range stampCells {
		v := byte(lumaBlack)
		switch {
		case i == 0:
			v = lumaWhite
		case i >= 2 && word>>(stampBits-1-(i-2))&1 == 1:
			v = lumaWhite
		}
		x0, y0 := c.cell(i)
		for row := y0; row < y0+c.Cell; row++ {
			line := y[row*stride+x0 : row*stride+x0+c.Cell]
			for j := range line {
				line[j] = v
			}
		}
	}
}

// read decodes the stamp from a luma plane the way glass.html does from the rendered picture: the mean of
// the middle half of each cell, against the midpoint of the two reference cells. ok is false when the
// references are not apart or the CRC does not match.
func (c stampCode) read(y []byte, stride int) (ms uint32, ok bool) {
	mean := func(i int) float64 {
		x0, y0 := c.cell(i)
		q := c.Cell / 4
		var sum, n float64
		for row := y0 + q; row < y0+c.Cell-q; row++ {
			for col := x0 + q; col < x0+c.Cell-q; col++ {
				sum += float64(y[row*stride+col])
				n++
			}
		}
		return sum / n
	}
	white, black := mean(0), mean(1)
	if white-black < 64 {
		return 0, false
	}
	mid := (white + black) / 2
	var word uint64
	for i := range stampBits {
		word <<= 1
		if mean(2+i) > mid {
			word |= 1
		}
	}
	ms = uint32(word >> 8)
	return ms, crc8(ms) == byte(word)
}

// stampSource makes raw yuv420p frames in real time, each stamped with the wall-clock time it was made.
type stampSource struct {
	Width, Height, FPS int
	Code               stampCode

	// Late counts frames written more than one frame interval after their time (the encoder not keeping
	// up), not counting the first second's (the encoder starting); Frames counts all frames written. Both
	// may be read once Run has returned.
	Late, Frames int
}

// Run writes frames to w until ctx is cancelled or a write fails. Frame n is made at start + n/FPS and
// stamped with that instant, the moment a camera would have captured it; if the encoder falls behind,
// frames are written late (and counted), so their delay is part of what the player measures.
func (s *stampSource) Run(ctx context.Context, w io.Writer) error {
	ySize := s.Width * s.Height
	frame := make([]byte, ySize*3/2)
	base := make([]byte, ySize)
	for row := range s.Height { // a diagonal gradient, so that the picture is not flat
		for col := range s.Width {
			base[row*s.Width+col] = byte(48 + (row+col)*128/(s.Width+s.Height))
		}
	}
	for i := ySize; i < len(frame); i++ {
		frame[i] = 128
	}
	period := time.Second / time.Duration(s.FPS)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	start := time.Now()
	for n := 0; ; n++ {
		at := start.Add(time.Duration(n) * period)
		if wait := time.Until(at); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return nil
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			return nil
		}
		copy(frame, base)
		// a bar that moves 8 pixels a frame: motion for the encoder, and for anyone watching
		x0 := n * 8 % s.Width
		for row := s.Height / 2; row < s.Height; row++ {
			line := frame[row*s.Width:]
			for col := x0; col < min(x0+32, s.Width); col++ {
				line[col] = lumaWhite
			}
		}
		s.Code.draw(frame, s.Width, uint32(at.UnixMilli()))
		if _, err := w.Write(frame); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("writing frame %d to the encoder: %w", n, err)
		}
		s.Frames++
		if n >= s.FPS && time.Since(at) > period { // the first second is ffmpeg starting
			s.Late++
		}
	}
}

// encoderArgs are ffmpeg's arguments: raw frames on stdin → H.264 as a low-latency live encoder makes it
// (x264 zerolatency: no lookahead, no B-frames, no frame threads; a keyframe every gop frames) → RTMP.
func encoderArgs(width, height, fps, gop int, preset, out string) []string {
	return []string{
		"-hide_banner", "-loglevel", "warning", "-nostats",
		"-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", fmt.Sprintf("%dx%d", width, height),
		"-framerate", strconv.Itoa(fps), "-i", "pipe:0",
		"-c:v", "libx264", "-preset", preset, "-tune", "zerolatency", "-profile:v", "high", "-pix_fmt", "yuv420p",
		"-bf", "0", "-g", strconv.Itoa(gop), "-keyint_min", strconv.Itoa(gop), "-sc_threshold", "0",
		"-b:v", "2M", "-maxrate", "2M", "-bufsize", "1M",
		"-f", "flv", "-flvflags", "no_duration_filesize", out,
	}
}

// glassSession is one player's sampling window as glass.html reports it.
type glassSession struct {
	HLSVersion    string       `json:"hlsjsVersion"`
	HLSConfig     string       `json:"hlsjsConfig"`
	PartHoldBackS float64      `json:"partHoldBackS"`
	PartTargetS   float64      `json:"partTargetS"`
	Rendered      int          `json:"rendered"`
	Decoded       int          `json:"decoded"`
	Failed        int          `json:"failed"`
	Missed        int          `json:"missed"` // frames presented between two callbacks, not sampled
	Dropped       int          `json:"dropped"`
	Stalls        int          `json:"stalls"`
	Errors        []glassError `json:"errors"`
	HLSLatencyS   float64      `json:"hlsjsLatencyS"` // hls.js's own estimate at the end
	HLSTargetS    float64      `json:"hlsjsTargetLatencyS"`
	// LatencyMs is glass to glass for each decoded frame, in the order rendered; AheadMs is how much media
	// the player held beyond that frame (to the end of the newest frame it had), so LatencyMs - AheadMs +
	// one frame interval is how long that newest frame took to reach it (encoding, nagare, HTTP, appending).
	LatencyMs []float64 `json:"latencyMs"`
	AheadMs   []float64 `json:"aheadMs"`
}

// glassError is an hls.js error event of a session, at seconds since the page loaded.
type glassError struct {
	AtS     float64 `json:"atS"`
	Details string  `json:"details"`
	Fatal   bool    `json:"fatal"`
	Message string  `json:"message,omitempty"`
}

// GlassResult is what `nagare bench glass` measured: the setup, each player session, and their summary.
type GlassResult struct {
	Stream          string         `json:"stream"`
	Size            string         `json:"size"`
	FPS             int            `json:"fps"`
	Preset          string         `json:"preset"`
	Keyint          string         `json:"keyint"`
	SegmentDuration string         `json:"segmentDuration,omitempty"`
	PartDuration    string         `json:"partDuration,omitempty"`
	WarmupS         float64        `json:"warmupS"`
	DurationS       float64        `json:"durationS"` // each session's sampling window
	FramesSent      int            `json:"framesSent"`
	FramesLate      int            `json:"framesLate"`
	Sessions        []glassSession `json:"sessions"`
	Summary         glassSummary   `json:"summary"`
}

// glassSummary is over all sessions' frames; milliseconds.
type glassSummary struct {
	Rendered, Decoded, Failed, Missed, Dropped, Stalls int
	Median, P90, P99, Min, Max                         float64
	DeliveryMedian, DeliveryP90, AheadMedian           float64
	SessionMedians                                     []float64
}

// summarizeGlass summarises sessions of a stream whose frames last frame ms.
func summarizeGlass(sessions []glassSession, frame float64) glassSummary {
	var g glassSummary
	var lat, delivery, ahead []float64
	for _, s := range sessions {
		g.Rendered += s.Rendered
		g.Decoded += s.Decoded
		g.Failed += s.Failed
		g.Missed += s.Missed
		g.Dropped += s.Dropped
		g.Stalls += s.Stalls
		lat = append(lat, s.LatencyMs...)
		for i, l := range s.LatencyMs {
			if i < len(s.AheadMs) {
				delivery = append(delivery, l-s.AheadMs[i]+frame)
				ahead = append(ahead, s.AheadMs[i])
			}
		}
		one := slices.Sorted(slices.Values(s.LatencyMs))
		g.SessionMedians = append(g.SessionMedians, Percentile(one, 50))
	}
	slices.Sort(lat)
	slices.Sort(delivery)
	slices.Sort(ahead)
	g.Median, g.P90, g.P99 = Percentile(lat, 50), Percentile(lat, 90), Percentile(lat, 99)
	g.Min, g.Max = Percentile(lat, 0), Percentile(lat, 100)
	g.DeliveryMedian, g.DeliveryP90 = Percentile(delivery, 50), Percentile(delivery, 90)
	g.AheadMedian = Percentile(ahead, 50)
	return g
}

const glassTargetMs = 1000

// glassHeader and row are the markdown table of the result.
const glassHeader = "| player (hls.js configuration) | sessions × window | frames rendered | decoded | failed to decode | median ms | p90 ms | p99 ms | min ms | max ms | session medians ms | capture → in the player's buffer, median / p90 ms | buffered ahead, median ms | target: median ≤ 1.0 s |\n" +
	"|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"

func (r *GlassResult) row() string {
	g := r.Summary
	verdict := "no frame decoded"
	if g.Decoded > 0 {
		if g.Median <= glassTargetMs {
			verdict = "**met**"
		} else {
			verdict = fmt.Sprintf("**missed** by %.0f ms", g.Median-glassTargetMs)
		}
	}
	cfg, medians := "?", make([]string, len(g.SessionMedians))
	if len(r.Sessions) > 0 {
		cfg = r.Sessions[0].HLSVersion + " `" + r.Sessions[0].HLSConfig + "`"
	}
	for i, m := range g.SessionMedians {
		medians[i] = fmt.Sprintf("%.0f", m)
	}
	return fmt.Sprintf("| hls.js %s | %d × %.0f s after %.0f s | %d | %d | %d | %.0f | %.0f | %.0f | %.0f | %.0f | %s | %.0f / %.0f | %.0f | %s |\n",
		cfg, len(r.Sessions), r.DurationS, r.WarmupS, g.Rendered, g.Decoded, g.Failed, g.Median, g.P90, g.P99, g.Min, g.Max,
		strings.Join(medians, ", "), g.DeliveryMedian, g.DeliveryP90, g.AheadMedian, verdict)
}

// pageFlags are the flags of the benches that drive a page in Chromium with a stamped source.
// browserFlags name what drives a page in headless Chromium: the Node.js script, the node_modules with
// playwright-core (and the players), Chromium and Node.js.
type browserFlags struct {
	script, modules, chromium, node *string
}

func addBrowserFlags(fs *flag.FlagSet, script, scriptHelp, modulesHelp string) browserFlags {
	return browserFlags{
		script:   fs.String("script", script, scriptHelp),
		modules:  fs.String("modules", ".cache/players/node_modules", modulesHelp),
		chromium: fs.String("chromium", "/usr/bin/chromium", "Chromium binary"),
		node:     fs.String("node", "node", "Node.js binary"),
	}
}

// check makes the script's and the modules' paths absolute, and checks that playwright-core is installed.
func (b browserFlags) check() error {
	for _, p := range []*string{b.script, b.modules} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return err
		}
		*p = abs
	}
	if _, err := os.Stat(filepath.Join(*b.modules, "playwright-core")); err != nil {
		return fmt.Errorf("playwright-core not in %s: run scripts/deps.sh players", *b.modules)
	}
	return nil
}

type pageFlags struct {
	browserFlags
	size, preset           *string
	fps                    *int
	keyint, warmup, window *time.Duration
	trace                  *bool
	width, height          int // from size, after check
}

func addPageFlags(fs *flag.FlagSet, script, scriptHelp string, warmup, window time.Duration) *pageFlags {
	return &pageFlags{
		size:         fs.String("size", "1280x720", "picture size"),
		fps:          fs.Int("fps", 30, "frames per second"),
		keyint:       fs.Duration("keyint", time.Second, "keyframe interval of the bench's ffmpeg source"),
		preset:       fs.String("preset", "ultrafast", "x264 preset of the bench's ffmpeg source (it shares the machine with the player: the lightest)"),
		warmup:       fs.Duration("warmup", warmup, "time after the first frame before samples count"),
		window:       fs.Duration("duration", window, "sampling window"),
		browserFlags: addBrowserFlags(fs, script, scriptHelp, "node_modules with playwright-core and hls.js (scripts/deps.sh players)"),
		trace:        fs.Bool("trace", false, "print the page's state every 500 ms on stderr"),
	}
}

// check validates the flags after parsing and the browser's (browserFlags.check).
func (f *pageFlags) check(maxFPS int) error {
	if _, err := fmt.Sscanf(*f.size, "%dx%d", &f.width, &f.height); err != nil || f.width%2 != 0 || f.height%2 != 0 ||
		f.width < 640 || f.height < 360 {
		return usageErr("-size: want WxH, even, at least 640x360, not %q", *f.size)
	}
	if *f.fps < 1 || *f.fps > maxFPS || *f.window < time.Second || *f.warmup < 0 || *f.keyint <= 0 {
		return usageErr("-fps must be in 1..%d, -duration at least 1s, -warmup not negative, -keyint positive", maxFPS)
	}
	return f.browserFlags.check()
}

// cmdGlass measures glass-to-glass latency through a nagare origin with hls.js (LL-HLS) as the player.
func cmdGlass(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) error {
	fs := newFlags("glass", stderr)
	bin := fs.String("bin", "", "nagare binary: start an origin from it (default: this one, unless -rtmp and -http are given)")
	rtmpBase := fs.String("rtmp", "", "RTMP base URL of a running origin, with the application (e.g. rtmp://127.0.0.1:1935/live)")
	httpBase := fs.String("http", "", "HTTP base URL of that origin")
	stream := fs.String("stream", "glass", "stream name")
	page := addPageFlags(fs, "test/players/web/glass.mjs", "the player script", 5*time.Second, 6*time.Second)
	size, fps, keyint, preset, warmup, d := page.size, page.fps, page.keyint, page.preset, page.warmup, page.window
	var configs []string
	fs.Func("hlsjs", "hls.js configuration (JSON) on top of lowLatencyMode: true; repeatable, each measured in turn (default {})", func(v string) error {
		if !json.Valid([]byte(v)) {
			return fmt.Errorf("not JSON: %s", v)
		}
		configs = append(configs, v)
		return nil
	})
	sessions := fs.Int("sessions", 5, "players started one after the other for each configuration, each sampled")
	out := fs.String("out", "", "JSON result file (optional)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := page.check(120); err != nil {
		return err
	}
	width, height := page.width, page.height
	script, modules, chromium, nodeBin, trace := page.script, page.modules, page.chromium, page.node, page.trace
	if len(configs) == 0 {
		configs = []string{"{}"}
	}
	if *sessions < 1 {
		return usageErr("-sessions must be at least 1")
	}
	if (*rtmpBase == "") != (*httpBase == "") {
		return usageErr("-rtmp and -http go together")
	}

	setup := GlassResult{
		Size: *size, FPS: *fps, Preset: *preset, Keyint: keyint.String(), WarmupS: warmup.Seconds(), DurationS: d.Seconds(),
	}
	if *rtmpBase == "" {
		exe := *bin
		if exe == "" {
			var err error
			if exe, err = os.Executable(); err != nil {
				return err
			}
		}
		origin, err := startGlassOrigin(exe, stderr)
		if err != nil {
			return err
		}
		defer origin.stop()
		*rtmpBase, *httpBase = "rtmp://"+origin.rtmp+"/live", "http://"+origin.http
		setup.SegmentDuration, setup.PartDuration = "1s", "200ms" // the origin's defaults
	}
	app, err := url.Parse(*rtmpBase)
	if err != nil || app.Scheme != "rtmp" || strings.Trim(app.Path, "/") == "" {
		return usageErr("-rtmp: want rtmp://host:port/app, not %q", *rtmpBase)
	}
	setup.Stream = strings.Trim(app.Path, "/") + "/" + *stream
	rtmpURL := strings.TrimSuffix(*rtmpBase, "/") + "/" + *stream
	playlist := strings.TrimSuffix(*httpBase, "/") + "/" + setup.Stream + "/index.m3u8"

	// the publisher: frames from Go, encoded by ffmpeg
	pctx, stopPub := context.WithCancel(ctx)
	defer stopPub()
	gop := max(1, int(math.Round(keyint.Seconds()*float64(*fps))))
	enc := exec.Command("ffmpeg", encoderArgs(width, height, *fps, gop, *preset, rtmpURL)...)
	var encErr bytes.Buffer
	enc.Stderr = &encErr
	stdin, err := enc.StdinPipe()
	if err != nil {
		return err
	}
	if err := enc.Start(); err != nil {
		return fmt.Errorf("starting ffmpeg: %w", err)
	}
	src := &stampSource{Width: width, Height: height, FPS: *fps, Code: defaultStampCode}
	var pubWG sync.WaitGroup
	var pubErr error
	pubWG.Go(func() {
		pubErr = src.Run(pctx, stdin)
		stdin.Close() // ffmpeg flushes and exits
		_ = enc.Wait()
	})
	stopPublisher := func() {
		stopPub()
		pubWG.Wait()
	}
	defer stopPublisher()
	if err := waitPlayable(ctx, playlist, 15*time.Second); err != nil {
		stopPublisher()
		return fmt.Errorf("%w (publisher: %v; ffmpeg: %s)", err, pubErr, strings.TrimSpace(encErr.String()))
	}
	log.Info("publishing", "rtmp", rtmpURL, "playlist", playlist)
	// viewers join a stream that is already running: a playlist with whole segments, not one part
	if err := sleepCtx(ctx, 3*time.Second); err != nil {
		return err
	}

	// the players, one configuration after the other, on the same publication
	var results []*GlassResult
	for _, cfg := range configs {
		var playerOut, playerErr bytes.Buffer
		plArgs := []string{*script, "--url", playlist, "--modules", *modules, "--chromium", *chromium,
			"--code", defaultStampCode.String(), "--config", cfg, "--sessions", strconv.Itoa(*sessions),
			"--warmup", fmt.Sprint(warmup.Seconds()), "--duration", fmt.Sprint(d.Seconds())}
		if *trace {
			plArgs = append(plArgs, "--trace")
		}
		log.Info("playing", "hlsjs", cfg, "sessions", *sessions)
		pl := exec.CommandContext(ctx, *nodeBin, plArgs...)
		// SIGTERM, not SIGKILL: playwright then closes the browser it started
		pl.Cancel = func() error { return pl.Process.Signal(syscall.SIGTERM) }
		pl.WaitDelay = 10 * time.Second
		pl.Stdout, pl.Stderr = &playerOut, io.MultiWriter(&playerErr, stderr)
		if err := pl.Run(); err != nil {
			return fmt.Errorf("player: %w: %s", err, lastLines(playerErr.String(), 5))
		}
		res := setup
		if err := json.Unmarshal(playerOut.Bytes(), &res); err != nil {
			return fmt.Errorf("player output: %w", err)
		}
		res.Summary = summarizeGlass(res.Sessions, 1000/float64(*fps))
		results = append(results, &res)
	}
	stopPublisher()
	if pubErr != nil {
		return fmt.Errorf("publisher: %w (ffmpeg: %s)", pubErr, strings.TrimSpace(encErr.String()))
	}
	for _, r := range results {
		r.FramesSent, r.FramesLate = src.Frames, src.Late
	}
	if *out != "" {
		if err := writeJSON(*out, results); err != nil {
			return err
		}
	}
	fmt.Fprint(stdout, glassHeader)
	for _, r := range results {
		fmt.Fprint(stdout, r.row())
	}
	fmt.Fprintln(stdout)
	for _, r := range results {
		r.notes(stdout)
	}
	hlsSettings := "its own HLS settings"
	if setup.SegmentDuration != "" {
		hlsSettings = "LL-HLS, " + setup.SegmentDuration + " segments, " + setup.PartDuration + " parts"
	}
	fmt.Fprintf(stdout, "\nSource: %s, %s %d fps made by `nagare bench glass` (Go, paced in real time) → ffmpeg libx264 -preset %s -tune zerolatency, "+
		"no B-frames, a keyframe every %s, 2 Mbit/s → RTMP → `nagare node` (%s); %d frames made, "+
		"%d of them (after the first second) written to the encoder more than a frame late.\n",
		setup.Stream, setup.Size, setup.FPS, setup.Preset, setup.Keyint, hlsSettings, src.Frames, src.Late)
	for _, r := range results {
		if r.Summary.Decoded == 0 {
			return errors.New("no frame was decoded")
		}
	}
	return nil
}

// notes describes each session of r beyond the table: what hls.js aimed at and what went wrong.
func (r *GlassResult) notes(w io.Writer) {
	if len(r.Sessions) == 0 {
		return
	}
	s0 := r.Sessions[0]
	fmt.Fprintf(w, "- `%s` (PART-TARGET %.3f s, PART-HOLD-BACK %.3f s):", s0.HLSConfig, s0.PartTargetS, s0.PartHoldBackS)
	for i, s := range r.Sessions {
		if i > 0 {
			fmt.Fprint(w, ";")
		}
		fmt.Fprintf(w, " session %d: hls.js's own latency estimate at the end %.2f s (its target %.2f s), %d stalls, %d frames dropped, %d presented between callbacks",
			i+1, s.HLSLatencyS, s.HLSTargetS, s.Stalls, s.Dropped, s.Missed)
		if len(s.Errors) > 0 {
			fmt.Fprintf(w, ", hls.js errors: %s", errorCounts(s.Errors))
		}
	}
	fmt.Fprintln(w, ".")
}

// errorCounts lists the kinds of errors with their counts, in order of first occurrence.
func errorCounts(errs []glassError) string {
	var kinds []string
	n := map[string]int{}
	for _, e := range errs {
		k := e.Details
		if e.Fatal {
			k = "fatal " + k
		}
		if n[k] == 0 {
			kinds = append(kinds, k)
		}
		n[k]++
	}
	for i, k := range kinds {
		kinds[i] = fmt.Sprintf("%s ×%d", k, n[k])
	}
	return strings.Join(kinds, ", ")
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// glassOrigin is a `nagare node` (origin, defaults) on loopback ports it chose itself.
type glassOrigin struct {
	cmd        *exec.Cmd
	done       chan struct{}
	rtmp, http string
}

var nodeRunning = regexp.MustCompile(`msg="node running".* rtmp=(\S+) .*http=(\S+)`)

func startGlassOrigin(exe string, stderr io.Writer) (*glassOrigin, error) {
	cmd := exec.Command(exe, "node", "--rtmp", "127.0.0.1:0", "--srt", "127.0.0.1:0", "--http", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "NAGARE_PUBLISH_ALLOW_UNAUTHENTICATED=true", "NAGARE_LOG_LEVEL=info")
	pipe, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the origin: %w", err)
	}
	o := &glassOrigin{cmd: cmd, done: make(chan struct{})}
	addrs := make(chan []string, 1)
	go func() {
		defer close(o.done)
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			if m := nodeRunning.FindStringSubmatch(sc.Text()); m != nil {
				addrs <- m[1:]
			} else if strings.Contains(sc.Text(), "level=WARN") || strings.Contains(sc.Text(), "level=ERROR") {
				fmt.Fprintln(stderr, "origin:", sc.Text())
			}
		}
		_ = cmd.Wait()
	}()
	select {
	case a := <-addrs:
		o.rtmp, o.http = a[0], a[1]
		return o, nil
	case <-o.done:
		return nil, errors.New("the origin exited before it was running")
	case <-time.After(20 * time.Second):
		o.stop()
		return nil, errors.New("the origin did not start")
	}
}

func (o *glassOrigin) stop() {
	interrupt(o.cmd, o.done, 15*time.Second)
}

// waitPlayable waits until the media playlist lists a part, so that the player starts on a live stream.
func waitPlayable(ctx context.Context, playlist string, limit time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	c := newHTTPClient(5 * time.Second)
	media, err := mediaPlaylistURL(wctx, c, playlist, 100*time.Millisecond)
	for err == nil {
		code, body, _, ferr := fetch(wctx, c, media)
		if ferr == nil && code == http.StatusOK && bytes.Contains(body, []byte("#EXT-X-PART:")) {
			return nil
		}
		err = sleepCtx(wctx, 100*time.Millisecond)
	}
	return fmt.Errorf("%s listed no part within %s: %w", playlist, limit, err)
}
