package transcode

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// waitDelay bounds how long Wait waits for a killed process's pipes.
	waitDelay = 5 * time.Second
	// tailLines is how many of ffmpeg's last stderr lines an error carries.
	tailLines = 8
	// maxLogged caps the stderr lines logged per run: a damaged file can make ffmpeg warn per frame.
	maxLogged = 200
)

// noise is stderr output that says nothing about the file: mjpeg's input format (full-range yuvj420p)
// makes swscale warn once per scaler.
var noise = []string{"deprecated pixel format used"}

// ffmpegArgs are the options of every run, before args: progress on stdout, warnings on stderr.
func ffmpegArgs(args ...string) []string {
	return append([]string{"-hide_banner", "-nostdin", "-y", "-loglevel", "warning", "-nostats",
		"-progress", "pipe:1"}, args...)
}

// ffmpegRun is one run of ffmpeg (made with ffmpegArgs).
type ffmpegRun struct {
	bin   string
	dir   string
	args  []string
	log   *slog.Logger
	stall time.Duration
	// total is the duration out_time_us is compared with; progress (may be nil) gets 0..100.
	total    time.Duration
	progress func(percent int)
}

// run starts ffmpeg and waits for it. ctx's cancellation kills it and returns ctx's error.
func (r ffmpegRun) run(ctx context.Context) error {
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	cmd := exec.CommandContext(runCtx, r.bin, r.args...)
	cmd.Dir = r.dir
	cmd.WaitDelay = waitDelay
	stderr := &stderrLog{log: r.log}
	cmd.Stderr = &lineWriter{line: stderr.line}
	var lastAdvance atomic.Int64
	lastAdvance.Store(time.Now().UnixNano())
	prog := &progressParser{total: r.total, report: r.progress, advanced: func() {
		lastAdvance.Store(time.Now().UnixNano())
	}}
	cmd.Stdout = &lineWriter{line: prog.line}

	r.log.Debug("running ffmpeg", "args", strings.Join(r.args, " "))
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { // the watchdog
		tick := time.NewTicker(max(r.stall/10, 10*time.Millisecond))
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				if time.Since(time.Unix(0, lastAdvance.Load())) > r.stall {
					cancel(ErrStalled)
					return
				}
			}
		}
	})
	err := cmd.Wait()
	close(done)
	wg.Wait()

	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(context.Cause(runCtx), ErrStalled):
		return fmt.Errorf("%w for %s: %s", ErrStalled, r.stall, stderr.tail())
	default:
		return fmt.Errorf("%w: %s", err, stderr.tail())
	}
}

// progressParser turns -progress's out_time_us lines into percentages, reporting each only when it
// grows.
type progressParser struct {
	total    time.Duration
	report   func(int)
	advanced func()
	outTime  int64
	last     int
}

func (p *progressParser) line(l string) {
	v, ok := strings.CutPrefix(l, "out_time_us=")
	if !ok {
		return
	}
	us, err := strconv.ParseInt(v, 10, 64)
	if err != nil || us <= p.outTime { // "N/A" before the first packet
		return
	}
	p.outTime = us
	p.advanced()
	if p.report == nil || p.total <= 0 {
		return
	}
	pct := min(int(time.Duration(us)*time.Microsecond*100/p.total), 100)
	if pct > p.last {
		p.last = pct
		p.report(pct)
	}
}

// stderrLog logs ffmpeg's stderr and keeps its last lines for an error.
type stderrLog struct {
	log    *slog.Logger
	mu     sync.Mutex
	last   []string
	logged int
}

func (s *stderrLog) line(l string) {
	l = strings.TrimSpace(l)
	if l == "" {
		return
	}
	for _, n := range noise {
		if strings.Contains(l, n) {
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.logged < maxLogged {
		s.log.Warn("ffmpeg", "stderr", l)
	} else if s.logged == maxLogged {
		s.log.Warn("ffmpeg: further stderr output is not logged")
	}
	s.logged++
	s.last = append(s.last, l)
	if len(s.last) > tailLines {
		s.last = s.last[1:]
	}
}

func (s *stderrLog) tail() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.last) == 0 {
		return "(no output)"
	}
	return strings.Join(s.last, "\n")
}

// lineWriter calls line for every line written to it (a partial last line is dropped).
type lineWriter struct {
	line func(string)
	buf  []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexAny(w.buf, "\r\n")
		if i < 0 {
			break
		}
		if i > 0 {
			w.line(string(w.buf[:i]))
		}
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 64<<10 { // not a line-oriented writer; never grow without bound
		w.line(string(w.buf))
		w.buf = w.buf[:0]
	}
	return len(p), nil
}
