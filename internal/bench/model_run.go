package bench

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/nagare-video/nagare/internal/loadtest"
)

// cmdModel compares the load generator's player model with hls.js on one stream of a `nagare node`.
func cmdModel(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) error {
	fs := newFlags("model", stderr)
	bin := fs.String("bin", "", "nagare binary to start the node from (default: this one)")
	clipPath := fs.String("clip", "", "MPEG-TS clip (H.264 + AAC) published as the stream, looped in real time (scripts/bench.sh makes .cache/bench/clip.ts)")
	stream := fs.String("stream", "model", "stream name (application live)")
	sessions := fs.Int("sessions", 5, "sessions, each one hls.js page and one virtual player, taking turns")
	warmup := fs.Duration("warmup", 3*time.Second, "time after each player's start before its latency is sampled")
	window := fs.Duration("duration", 10*time.Second, "each player's sampling window")
	browser := addBrowserFlags(fs, "internal/bench/web/model.mjs", "the browser driver", "node_modules with playwright-core and hls.js (scripts/deps.sh players)")
	jsonOut := fs.String("json", "", "write the whole result (every session, every sample) to this JSON file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case *clipPath == "":
		return usageErr("-clip is required")
	case *sessions < 1 || *warmup < 0 || *window < time.Second:
		return usageErr("-sessions must be at least 1, -warmup not negative, -duration at least 1s")
	}
	if err := browser.check(); err != nil {
		return err
	}
	exe := *bin
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return err
		}
	}
	clip, err := LoadClip(*clipPath)
	if err != nil {
		return err
	}

	origin, err := startGlassOrigin(exe, stderr)
	if err != nil {
		return err
	}
	defer origin.stop()
	res := &ModelResult{
		Stream: "live/" + *stream, Clip: *clipPath, WarmupS: warmup.Seconds(), DurationS: window.Seconds(),
	}
	entry := "http://" + origin.http + "/" + res.Stream + "/index.m3u8"
	pctx, stopPub := context.WithCancel(ctx)
	defer stopPub()
	pub := &Publisher{URL: "rtmp://" + origin.rtmp + "/" + res.Stream, Clip: clip}
	pubDone := make(chan error, 1)
	go func() { pubDone <- pub.Run(pctx) }()
	if err := waitPlayable(ctx, entry, 15*time.Second); err != nil {
		return err
	}
	log.Info("publishing", "playlist", entry)
	// viewers join a stream that is already running (the page played first below adds a few seconds)
	if err := sleepCtx(ctx, time.Second); err != nil {
		return err
	}
	clock, err := streamClock(ctx, entry, log)
	if err != nil {
		return err
	}
	res.SegmentS = clock.segment.Seconds()

	drv, err := startModelDriver(ctx, *browser.node, *browser.script, *browser.modules, *browser.chromium, entry, stderr)
	if err != nil {
		return err
	}
	defer drv.close()
	// a page played first, not counted, so that the first session does not pay for Chromium's start
	if _, _, err := drv.play(0, 0, func() time.Time { return time.Now().Add(modelPageLead) }); err != nil {
		return err
	}
	for k := range *sessions {
		s := ModelSession{N: k + 1}
		phase := clock.phase(k, *sessions)
		s.PhaseS = phase.Seconds()
		// taking turns at going first, so that neither player always meets the stream a little later
		order := []string{"hls.js", "virtual"}
		if k%2 == 1 {
			order[0], order[1] = order[1], order[0]
		}
		s.First = order[0]
		for _, who := range order {
			if who == "virtual" {
				at := clock.joinAt(phase, time.Now().Add(50*time.Millisecond))
				if err := sleepCtx(ctx, time.Until(at)); err != nil {
					return err
				}
				rep, err := loadtest.Run(ctx, loadtest.Config{URL: entry, Viewers: 1, Hold: modelStartAllowance + *warmup + *window,
					FirstFrame: loadtest.DefaultFirstFrame})
				if err != nil {
					return fmt.Errorf("virtual player: %w", err)
				}
				s.Virtual = virtualPlay(rep, loadtest.DefaultFirstFrame, *warmup, *window)
				continue
			}
			pg, at, err := drv.play(*warmup, *window, func() time.Time { return clock.joinAt(phase, time.Now().Add(modelPageLead)) })
			if err != nil {
				return err
			}
			s.Page, s.HLSJS = pg, pg.play()
			s.HLSJS.JoinedAt = at
			if pg.Error == "" {
				res.Browser, res.HLSJS, res.PartHoldBackS, res.PartTargetS = pg.Browser, pg.HLSVersion, pg.PartHoldBackS, pg.PartTargetS
			}
		}
		log.Info("session", "n", s.N, "phase", phase, "hlsjs", s.HLSJS.brief(), "virtual", s.Virtual.brief())
		res.Sessions = append(res.Sessions, s)
	}
	stopPub()
	if err := <-pubDone; err != nil {
		return fmt.Errorf("publisher: %w", err)
	}
	res.Summary = summarizeModel(res.Sessions)
	if *jsonOut != "" {
		if err := writeJSON(*jsonOut, res); err != nil {
			return err
		}
	}
	res.render(printer(func(format string, a ...any) { fmt.Fprintf(stdout, format, a...) }))
	if res.Summary.HLSJS.Started == 0 || res.Summary.Virtual.Started == 0 {
		return errors.New("a player never started")
	}
	return nil
}

// brief is a session's figures for the log.
func (p ModelPlay) brief() string {
	if p.StartupMs == nil {
		return cmp.Or(p.Error, "not played")
	}
	s := fmt.Sprintf("startup %.0f ms", *p.StartupMs)
	if p.LatencyMedianMs != nil {
		s += fmt.Sprintf(", latency %.0f ms", *p.LatencyMedianMs)
	}
	return s
}

// streamClock reads where the stream's segments start from its media playlist, moved to where the
// server lists their parts, with the players' request lead.
func streamClock(ctx context.Context, entry string, log *slog.Logger) (segmentClock, error) {
	c := newHTTPClient(5 * time.Second)
	media, err := mediaPlaylistURL(ctx, c, entry, 100*time.Millisecond)
	if err != nil {
		return segmentClock{}, err
	}
	code, body, _, err := fetch(ctx, c, media)
	if err == nil && code != http.StatusOK {
		err = fmt.Errorf("GET %s: HTTP %d", media, code)
	}
	if err != nil {
		return segmentClock{}, err
	}
	clk, err := readSegmentClock(body)
	if err != nil {
		return segmentClock{}, err
	}
	pdt := clk.base
	clk = clk.listedAt(ctx, c, media)
	clk.lead, clk.margin = modelRequestLead, min(modelListingMargin, clk.part/4)
	// how far the listings, which phases are measured from, are from the program dates' part boundaries
	shift := clk.base.Sub(pdt) // within [0, part)
	if shift > clk.part/2 {
		shift -= clk.part
	}
	log.Info("stream clock", "segment", clk.segment, "part", clk.part, "listedAfterProgramDate", shift)
	return clk, nil
}

// listedAt moves c's base to the instant at which the server lists parts (a part's program date and its
// listing differ by the frames' pacing and the publisher's clock), measured by following the playlist at
// media with blocking reloads for a few parts: their arrival times, circularly averaged within a part.
func (c segmentClock) listedAt(ctx context.Context, client *http.Client, media string) segmentClock {
	if c.part <= 0 {
		return c
	}
	const listings = 8
	var sin, cos float64
	n := 0
	bctx, cancel := context.WithTimeout(ctx, time.Duration(listings+2)*c.part+2*time.Second)
	defer cancel()
	first := true
	block(bctx, client, media, func(_ *MediaPlaylist, at time.Time) {
		if first { // a plain request's answer: not a listing's instant
			first = false
			return
		}
		a := 2 * math.Pi * float64(at.Sub(c.base)%c.part) / float64(c.part)
		sin, cos = sin+math.Sin(a), cos+math.Cos(a)
		if n++; n == listings {
			cancel()
		}
	})
	if n == 0 {
		return c
	}
	a := math.Atan2(sin, cos)
	if a < 0 {
		a += 2 * math.Pi
	}
	c.base = c.base.Add(time.Duration(a / (2 * math.Pi) * float64(c.part)))
	return c
}

// modelDriver is model.mjs running: one browser, a session per command.
type modelDriver struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Scanner
	errs *bytes.Buffer
}

func startModelDriver(ctx context.Context, nodeBin, script, modules, chromium, entry string, stderr io.Writer) (*modelDriver, error) {
	cmd := exec.CommandContext(ctx, nodeBin, script, "--url", entry, "--modules", modules, "--chromium", chromium)
	// SIGTERM, not SIGKILL: playwright then closes the browser it started
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	d := &modelDriver{cmd: cmd, errs: &bytes.Buffer{}}
	cmd.Stderr = io.MultiWriter(d.errs, stderr)
	var err error
	if d.in, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	d.out = bufio.NewScanner(out)
	d.out.Buffer(make([]byte, 64<<10), 16<<20)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting model.mjs: %w", err)
	}
	return d, nil
}

// play runs one session of the page: the page opens, then joins at the time join gives.
func (d *modelDriver) play(warmup, window time.Duration, join func() time.Time) (*modelPage, time.Time, error) {
	if err := d.send(map[string]any{"warmup": warmup.Seconds(), "duration": window.Seconds()}); err != nil {
		return nil, time.Time{}, err
	}
	line, err := d.line()
	if err != nil {
		return nil, time.Time{}, err
	}
	var ready struct {
		Ready bool `json:"ready"`
	}
	if err := json.Unmarshal(line, &ready); err != nil || !ready.Ready {
		pg, err := parseModelPage(line) // the page could not be opened: its error
		return pg, time.Time{}, err
	}
	at := join()
	if err := d.send(map[string]any{"at": at.UnixMilli()}); err != nil {
		return nil, at, err
	}
	if line, err = d.line(); err != nil {
		return nil, at, err
	}
	pg, err := parseModelPage(line)
	return pg, at, err
}

func (d *modelDriver) send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := d.in.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("model.mjs: %w: %s", err, lastLines(d.errs.String(), 5))
	}
	return nil
}

func (d *modelDriver) line() ([]byte, error) {
	if !d.out.Scan() {
		return nil, fmt.Errorf("model.mjs ended: %v: %s", d.out.Err(), lastLines(d.errs.String(), 5))
	}
	return d.out.Bytes(), nil
}

// close ends the driver's input; it closes its browser and exits.
func (d *modelDriver) close() {
	d.in.Close()
	_ = d.cmd.Wait()
}
