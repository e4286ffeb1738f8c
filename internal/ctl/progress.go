package ctl

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// progress draws how far a transfer is on stderr: on a terminal one line redrawn in place (at most
// every redrawEvery), elsewhere (a log, a CI job) a line at every tenth of the way.
type progress struct {
	w     io.Writer
	label string
	total int64
	tty   bool

	start  time.Time
	from   int64 // where this run started: the rate counts only what it moved
	pos    int64
	drawn  bool      // a line is on the terminal without its newline
	last   time.Time // last redraw
	decile int64     // last tenth printed (not a terminal)
}

const redrawEvery = 250 * time.Millisecond

// newProgress starts a progress line for total bytes of which from are already done. A nil *progress
// draws nothing, so that callers need no checks.
func newProgress(w io.Writer, label string, total, from int64) *progress {
	return &progress{w: w, label: label, total: total, tty: isTerminal(w), start: time.Now(), from: from, pos: from, decile: tenth(from, total)}
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func tenth(pos, total int64) int64 {
	if total <= 0 {
		return 10
	}
	return pos * 10 / total
}

// set moves the transfer to pos bytes.
func (p *progress) set(pos int64) {
	if p == nil {
		return
	}
	p.pos = pos
	if p.tty {
		if now := time.Now(); now.Sub(p.last) >= redrawEvery {
			p.last = now
			fmt.Fprintf(p.w, "\r%s\x1b[K", p.line(now))
			p.drawn = true
		}
		return
	}
	if d := tenth(pos, p.total); d > p.decile {
		p.decile = d
		fmt.Fprintln(p.w, p.line(time.Now()))
	}
}

// restart counts the rate afresh from pos (after a retry that went back to the committed size).
func (p *progress) restart(pos int64) {
	if p == nil {
		return
	}
	p.start, p.from, p.pos = time.Now(), pos, pos
}

func (p *progress) line(now time.Time) string {
	s := fmt.Sprintf("%s: %s / %s", p.label, bytesIEC(uint64(max(p.pos, 0))), bytesIEC(uint64(max(p.total, 0))))
	if p.total > 0 {
		s += fmt.Sprintf(" (%d%%)", p.pos*100/p.total)
	}
	el := now.Sub(p.start).Seconds()
	moved := p.pos - p.from
	if el < 0.2 || moved <= 0 {
		return s
	}
	rate := float64(moved) / el
	s += fmt.Sprintf(", %.1f MB/s", rate/1e6)
	if p.pos < p.total {
		s += ", ETA " + short(time.Duration(float64(p.total-p.pos)/rate*float64(time.Second)))
	} else {
		s += ", took " + short(now.Sub(p.start))
	}
	return s
}

// say prints a message on a line of its own, out of the way of the progress line.
func (p *progress) say(format string, args ...any) {
	if p == nil {
		return
	}
	p.clear()
	fmt.Fprintf(p.w, format+"\n", args...)
	p.last = time.Time{} // redraw at the next set
}

// clear takes the progress line off the terminal.
func (p *progress) clear() {
	if p != nil && p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.drawn = false
	}
}

// finish prints the final state on a line of its own.
func (p *progress) finish() {
	if p == nil {
		return
	}
	if p.tty {
		fmt.Fprintf(p.w, "\r%s\x1b[K\n", p.line(time.Now()))
		p.drawn = false
		return
	}
	if p.decile < 10 {
		p.decile = 10
		fmt.Fprintln(p.w, p.line(time.Now()))
	}
}

// abandon ends the line where it is, so that an error prints below it.
func (p *progress) abandon() {
	if p != nil && p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}

// stallLimit is how long an upload or download may make no progress before its stream is given up (and,
// for an upload, retried): a connection that died without a reset otherwise hangs forever. It is generous
// because the server may rightly hold a stream while it stores a part or joins the parts at the end.
var stallLimit = 2 * time.Minute

// watchdog cancels a stream that makes no progress for a while.
type watchdog struct {
	limit   time.Duration
	last    atomic.Int64 // unix nanoseconds of the last progress
	stalled atomic.Bool
	cancel  context.CancelFunc
	done    chan struct{}
	once    sync.Once
}

func newWatchdog(parent context.Context, limit time.Duration) (context.Context, *watchdog) {
	ctx, cancel := context.WithCancel(parent)
	w := &watchdog{limit: limit, cancel: cancel, done: make(chan struct{})}
	w.alive()
	go func() {
		t := time.NewTicker(min(limit/4, time.Second))
		defer t.Stop()
		for {
			select {
			case <-w.done:
				return
			case <-ctx.Done():
				return
			case now := <-t.C:
				if now.Sub(time.Unix(0, w.last.Load())) > w.limit {
					w.stalled.Store(true)
					cancel()
					return
				}
			}
		}
	}()
	return ctx, w
}

// alive records progress.
func (w *watchdog) alive() { w.last.Store(time.Now().UnixNano()) }

func (w *watchdog) stop() {
	w.once.Do(func() {
		close(w.done)
		w.cancel()
	})
}

// explain replaces the cancellation the watchdog caused with what happened: the stream stalled, which is
// worth a retry.
func (w *watchdog) explain(err error) error {
	if err != nil && w.stalled.Load() {
		return status.Errorf(codes.Unavailable, "no progress for %s; the connection seems dead", w.limit)
	}
	return err
}
