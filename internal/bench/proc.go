package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/nagare-video/nagare/internal/nodestats"
)

// Usage is the CPU and memory of a server (a process and its children, e.g. nginx's master and
// workers) over a measurement window.
type Usage struct {
	Seconds    float64 `json:"seconds"`
	CPUPercent float64 `json:"cpuPercent"` // of one core, averaged over the window
	RSSMiB     float64 `json:"rssMiB"`     // at the end of the window
	PeakRSSMiB float64 `json:"peakRssMiB"` // highest sample
	Processes  int     `json:"processes"`
	// MachineCPUPercent is the busy time of all the machine's CPUs over the window, in % of one core:
	// the server, the load generator and anything else running.
	MachineCPUPercent float64 `json:"machineCpuPercent"`
}

// machineBusy returns the CPU seconds all CPUs spent on anything but idle and iowait since boot.
func machineBusy() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) < 5 || string(f[0]) != "cpu" {
		return 0
	}
	var busy uint64
	for i, v := range f[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		if i >= 7 { // guest time is already counted in user time
			break
		}
		n, _ := strconv.ParseUint(string(v), 10, 64)
		busy += n
	}
	return float64(busy) / 100 // USER_HZ
}

// children returns the pids whose parent is pid.
func children(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		if ppid, ok := parentPID(b); ok && ppid == pid {
			out = append(out, p)
		}
	}
	return out
}

// parentPID reads field 4 of /proc/<pid>/stat.
func parentPID(stat []byte) (int, bool) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false
	}
	f := bytes.Fields(stat[i+1:])
	if len(f) < 2 {
		return 0, false
	}
	p, err := strconv.Atoi(string(f[1]))
	return p, err == nil
}

// treeUsage adds up the CPU seconds and RSS of pid and its direct children.
func treeUsage(pid int) (cpu float64, rss uint64, n int, err error) {
	cpu, rss, err = nodestats.Process(pid)
	if err != nil {
		return 0, 0, 0, err
	}
	n = 1
	for _, c := range children(pid) {
		cc, cr, err := nodestats.Process(c)
		if err != nil {
			continue // exited meanwhile
		}
		cpu += cc
		rss += cr
		n++
	}
	return cpu, rss, n, nil
}

// meter measures a server's usage between start and stop, sampling RSS in between.
type meter struct {
	pid      int
	t0       time.Time
	cpu0     float64
	busy0    float64
	peak     uint64
	stopped  chan struct{}
	finished chan struct{}
}

func startMeter(pid int, every time.Duration) (*meter, error) {
	cpu, rss, _, err := treeUsage(pid)
	if err != nil {
		return nil, fmt.Errorf("server process %d: %w", pid, err)
	}
	m := &meter{pid: pid, t0: time.Now(), cpu0: cpu, busy0: machineBusy(), peak: rss, stopped: make(chan struct{}), finished: make(chan struct{})}
	go func() {
		defer close(m.finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-m.stopped:
				return
			case <-t.C:
				if _, rss, _, err := treeUsage(pid); err == nil && rss > m.peak {
					m.peak = rss
				}
			}
		}
	}()
	return m, nil
}

func (m *meter) stop() (Usage, error) {
	close(m.stopped)
	<-m.finished
	cpu, rss, n, err := treeUsage(m.pid)
	if err != nil {
		return Usage{}, fmt.Errorf("server process %d: %w", m.pid, err)
	}
	el := time.Since(m.t0).Seconds()
	peak := max(m.peak, rss)
	return Usage{
		Seconds: el, CPUPercent: 100 * (cpu - m.cpu0) / el,
		RSSMiB: mib(rss), PeakRSSMiB: mib(peak), Processes: n,
		MachineCPUPercent: 100 * (machineBusy() - m.busy0) / el,
	}, nil
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// measureFor meters pid for d.
func measureFor(ctx context.Context, pid int, d time.Duration) (Usage, error) {
	m, err := startMeter(pid, 250*time.Millisecond)
	if err != nil {
		return Usage{}, err
	}
	werr := sleepCtx(ctx, d)
	u, err := m.stop()
	if werr != nil {
		return u, werr
	}
	return u, err
}
