// Package procs runs a lightly loaded process on one scheduler P (GOMAXPROCS=1) and gives it every P
// once its load grows.
//
// Why: a media node ingesting streams is woken for every frame of every publisher and does a few
// microseconds of work each time. With an idle second P, Go's scheduler wakes a second thread whenever
// two goroutines become ready at once (the netpoller returning two sockets, a goroutine readying
// another), and that thread spins and goes back to sleep: futex wake-ups and context switches that an
// event loop such as nginx's never pays. Measured side by side (two nodes, 16 RTMP publishers each, the
// same 20 s), the node with one P used 10–15 % less CPU; see docs/benchmarks.md, section 4. Under load
// (HTTP fan-out, many publishers) every P is needed, and the governor gives them back within one
// sampling interval.
package procs

import (
	"context"
	"log/slog"
	"os"
	"runtime"
	"time"

	"github.com/nagare-video/nagare/internal/nodestats"
)

// Governor samples the process's CPU time and sets GOMAXPROCS: the default (every CPU the process may
// use) as soon as an interval's usage reaches Up cores; one once the usage has stayed below Down cores for
// Hold. It starts with one P: a process starting has no load yet.
//
// It samples every Every, and every QuietEvery after an interval that used less than Quiet cores: each
// sample wakes the process (a timer, the runtime's monitor thread behind it), which for an idle node was
// most of its CPU (0.075 % of a core at 250 ms, against 0.015 % without the governor) and for a node with
// one publisher a tenth of it. A burst that starts in a quiet interval is seen at its end (within
// QuietEvery), and at Every from there on.
type Governor struct {
	Every      time.Duration // sampling interval; 250 ms if zero
	Quiet      float64       // cores: below, the next interval is QuietEvery; 0.1 if zero
	QuietEvery time.Duration // 1 s if zero
	Up         float64       // cores: at or above, every P; 0.5 if zero
	Down       float64       // cores: below for Hold, one P; 0.25 if zero
	Hold       time.Duration // 10 s if zero
	Log        *slog.Logger

	// for tests: the process's CPU time so far, and what sets the Ps (n = 0: the runtime's default)
	cpuTime  func() (time.Duration, error)
	setProcs func(n int)
}

// Enabled reports whether a governor may run: not when the operator set GOMAXPROCS, whose choice stands,
// nor on a single CPU, where there is nothing to govern.
func Enabled() bool {
	_, set := os.LookupEnv("GOMAXPROCS")
	return !set && runtime.GOMAXPROCS(0) > 1
}

// state is what the governor decides from.
type state struct {
	one      bool      // running on one P
	lowSince time.Time // when the usage fell below Down (zero while it is not below)
}

// interval returns how long to wait for the next sample after an interval whose usage was cores.
func (g *Governor) interval(cores float64) time.Duration {
	if cores < g.Quiet {
		return g.QuietEvery
	}
	return g.Every
}

// next returns the state after an interval whose usage was cores, ending at now.
func (g *Governor) next(s state, cores float64, now time.Time) state {
	switch {
	case cores >= g.Up:
		return state{one: false}
	case cores >= g.Down:
		s.lowSince = time.Time{}
		return s
	case s.lowSince.IsZero():
		s.lowSince = now
	}
	if !s.one && now.Sub(s.lowSince) >= g.Hold {
		s.one = true
	}
	return s
}

func (g *Governor) defaults() {
	if g.Every <= 0 {
		g.Every = 250 * time.Millisecond
	}
	if g.Quiet <= 0 {
		g.Quiet = 0.1
	}
	if g.QuietEvery <= 0 {
		g.QuietEvery = time.Second
	}
	if g.Up <= 0 {
		g.Up = 0.5
	}
	if g.Down <= 0 {
		g.Down = 0.25
	}
	if g.Hold <= 0 {
		g.Hold = 10 * time.Second
	}
	if g.Log == nil {
		g.Log = slog.New(slog.DiscardHandler)
	}
	if g.cpuTime == nil {
		g.cpuTime = processCPU
	}
	if g.setProcs == nil {
		g.setProcs = func(n int) {
			if n == 0 {
				runtime.SetDefaultGOMAXPROCS() // every CPU the process may use, kept up to date by the runtime
			} else {
				runtime.GOMAXPROCS(n)
			}
		}
	}
}

// Run governs until ctx is done, then gives the process every P again and returns nil.
func (g *Governor) Run(ctx context.Context) error {
	g.defaults()
	last, err := g.cpuTime()
	if err != nil {
		g.Log.Warn("GOMAXPROCS stays at the default: the process's CPU time cannot be read", "cause", err)
		<-ctx.Done()
		return nil
	}
	s := state{one: true}
	g.setProcs(1)
	defer g.setProcs(0)
	lastAt := time.Now()
	t := time.NewTimer(g.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			cpu, err := g.cpuTime()
			if err != nil {
				t.Reset(g.Every)
				continue
			}
			cores := float64(cpu-last) / float64(now.Sub(lastAt))
			last, lastAt = cpu, now
			t.Reset(g.interval(cores))
			was := s.one
			if s = g.next(s, cores, now); s.one == was {
				continue
			}
			if s.one {
				g.setProcs(1)
				g.Log.Debug("one P: the load is light", "cores", cores)
			} else {
				g.setProcs(0)
				g.Log.Debug("every P: the load grew", "cores", cores, "procs", runtime.GOMAXPROCS(0))
			}
		}
	}
}

// processCPU is the CPU time this process has used, every thread, to the nanosecond.
func processCPU() (time.Duration, error) {
	sec, err := nodestats.Runtime(0)
	return time.Duration(sec * float64(time.Second)), err
}
