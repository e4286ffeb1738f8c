package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
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
	// OthersCPUPercent is the CPU used over the window by the processes other than the server, this
	// process and its children, in % of one core: how much unrelated work competed with the server.
	// Processes that exited during the window are not counted.
	OthersCPUPercent float64 `json:"othersCpuPercent"`
}

// eachProc calls f with the pid and the /proc/<pid>/stat of every process (those gone meanwhile are
// skipped).
func eachProc(f func(pid int, stat []byte)) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if b, err := os.ReadFile("/proc/" + e.Name() + "/stat"); err == nil {
			f(p, b)
		}
	}
}

// procTimes returns the CPU seconds (user+system) of every process, by pid.
func procTimes() map[int]float64 {
	out := map[int]float64{}
	eachProc(func(p int, stat []byte) {
		if cpu, ok := statCPU(stat); ok {
			out[p] = cpu
		}
	})
	return out
}

// statCPU reads utime+stime (fields 14 and 15) of /proc/<pid>/stat, in seconds.
func statCPU(stat []byte) (float64, bool) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false
	}
	f := bytes.Fields(stat[i+1:])
	if len(f) < 13 {
		return 0, false
	}
	u, err1 := strconv.ParseUint(string(f[11]), 10, 64)
	s, err2 := strconv.ParseUint(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return float64(u+s) / 100, true // USER_HZ
}

// othersCPU adds up the CPU seconds used between two snapshots by the processes not excluded; a
// process absent from the first snapshot started in between and counts in full.
func othersCPU(before, after map[int]float64, exclude map[int]bool) float64 {
	var sum float64
	for p, cpu := range after {
		if exclude[p] {
			continue
		}
		sum += cpu - before[p]
	}
	return sum
}

// children returns the pids whose parent is pid.
func children(pid int) []int {
	var out []int
	eachProc(func(p int, stat []byte) {
		if ppid, ok := parentPID(stat); ok && ppid == pid {
			out = append(out, p)
		}
	})
	return out
}

// descendants returns the pids of pid's children, their children and so on: nginx-rtmp's exec'd ffmpeg
// is a child of the worker, a grandchild of the master.
func descendants(pid int) []int {
	kids := map[int][]int{}
	eachProc(func(p int, stat []byte) {
		if ppid, ok := parentPID(stat); ok {
			kids[ppid] = append(kids[ppid], p)
		}
	})
	var out []int
	for queue := []int{pid}; len(queue) > 0; queue = queue[1:] {
		for _, c := range kids[queue[0]] {
			out = append(out, c)
			queue = append(queue, c)
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

// treeUsage adds up the CPU seconds (to the nanosecond, nodestats.Runtime) and RSS of pid and its
// direct children.
func treeUsage(pid int) (cpu float64, rss uint64, n int, err error) {
	for _, p := range append([]int{pid}, children(pid)...) {
		c, err := nodestats.Runtime(p)
		var r uint64
		if err == nil {
			_, r, err = nodestats.Process(p)
		}
		switch {
		case err != nil && p == pid:
			return 0, 0, 0, err
		case err != nil:
			continue // a child that exited meanwhile
		}
		cpu += c
		rss += r
		n++
	}
	return cpu, rss, n, nil
}

// meter measures a server's usage between start and stop, sampling RSS in between.
type meter struct {
	pid      int
	t0       time.Time
	cpu0     float64
	procs0   map[int]float64
	peak     uint64
	stopped  chan struct{}
	finished chan struct{}
}

func startMeter(pid int, every time.Duration) (*meter, error) {
	cpu, rss, _, err := treeUsage(pid)
	if err != nil {
		return nil, fmt.Errorf("server process %d: %w", pid, err)
	}
	m := &meter{pid: pid, t0: time.Now(), cpu0: cpu, procs0: procTimes(), peak: rss, stopped: make(chan struct{}), finished: make(chan struct{})}
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
	procs := procTimes()
	el := time.Since(m.t0).Seconds()
	exclude := map[int]bool{m.pid: true, os.Getpid(): true}
	for _, p := range append(children(m.pid), children(os.Getpid())...) {
		exclude[p] = true
	}
	peak := max(m.peak, rss)
	return Usage{
		Seconds: el, CPUPercent: 100 * (cpu - m.cpu0) / el,
		RSSMiB: mib(rss), PeakRSSMiB: mib(peak), Processes: n,
		OthersCPUPercent: 100 * othersCPU(m.procs0, procs, exclude) / el,
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

// interrupt stops a process the bench started: an interrupt first (nagare and ffmpeg stop cleanly on it),
// a kill if it has not exited after grace, then it waits for exited, which its waiter sends on or closes
// once cmd.Wait has returned.
func interrupt[T any](cmd *exec.Cmd, exited <-chan T, grace time.Duration) {
	_ = cmd.Process.Signal(os.Interrupt)
	select {
	case <-exited:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-exited
	}
}
