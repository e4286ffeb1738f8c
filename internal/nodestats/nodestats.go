// Package nodestats reads the CPU time and resident memory of this process from /proc, for the load
// reports a node sends and the benchmark's CPU and RSS figures.
package nodestats

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// clockTicks is USER_HZ, 100 on every Linux platform Go supports.
const clockTicks = 100

// Process returns the CPU seconds (user+system) and resident set size in bytes of process pid
// (0 = this process).
func Process(pid int) (cpuSeconds float64, rssBytes uint64, err error) {
	st, err := readStat(pid)
	if err != nil {
		return 0, 0, err
	}
	return float64(st.utime+st.stime) / clockTicks, st.rss * uint64(os.Getpagesize()), nil
}

// Tree returns the CPU seconds of this process and of its children: those running, and those that
// exited and were waited for (the ffmpeg processes of transcoding, for example). It grows steadily: a
// child's time moves from the running sum into this process's cutime and cstime when it is reaped.
func Tree() (float64, error) {
	self, err := readStat(0)
	if err != nil {
		return 0, err
	}
	total := self.utime + self.stime + self.cutime + self.cstime
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return float64(total) / clockTicks, nil
	}
	me := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == me {
			continue
		}
		st, err := readStat(pid)
		if err != nil || st.ppid != me {
			continue // gone meanwhile, or not ours
		}
		total += st.utime + st.stime + st.cutime + st.cstime
	}
	return float64(total) / clockTicks, nil
}

// stat is what nagare reads of /proc/<pid>/stat: times in clock ticks, rss in pages.
type stat struct {
	ppid                         int
	utime, stime, cutime, cstime uint64
	rss                          uint64
}

// readStat reads /proc/<pid>/stat (0 = this process).
func readStat(pid int) (stat, error) {
	dir := "/proc/self"
	if pid > 0 {
		dir = "/proc/" + strconv.Itoa(pid)
	}
	b, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return stat{}, fmt.Errorf("reading %s/stat: %w", dir, err)
	}
	// fields after the command name, which is in parentheses and may contain spaces
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return stat{}, fmt.Errorf("parsing %s/stat", dir)
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state), ppid field 4; utime is field 14, stime 15, cutime 16, cstime 17, rss (pages) 24
	if len(f) < 22 {
		return stat{}, fmt.Errorf("parsing %s/stat: %d fields", dir, len(f))
	}
	num := func(k int) uint64 { v, _ := strconv.ParseUint(string(f[k]), 10, 64); return v }
	ppid, _ := strconv.Atoi(string(f[1]))
	return stat{ppid: ppid, utime: num(11), stime: num(12), cutime: num(13), cstime: num(14), rss: num(21)}, nil
}

// CPUMeter turns successive CPU-time samples into a percentage of one core.
type CPUMeter struct {
	mu      sync.Mutex
	lastCPU float64
	lastAt  time.Time
	percent float64
}

// Percent returns the CPU use of this process and its children (Tree) since the previous call (at
// least 500 ms apart; calls in between return the previous figure).
func (m *CPUMeter) Percent() float64 {
	cpu, err := Tree()
	if err != nil {
		return 0
	}
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lastAt.IsZero() {
		m.lastCPU, m.lastAt = cpu, now
		return 0
	}
	if el := now.Sub(m.lastAt); el >= 500*time.Millisecond {
		m.percent = 100 * (cpu - m.lastCPU) / el.Seconds()
		m.lastCPU, m.lastAt = cpu, now
	}
	return m.percent
}

// Runtime returns the CPU seconds process pid (0 = this process) has used, to the nanosecond: the
// kernel's per-process CPU clock (clock_gettime on the clock of clock_getcpuclockid(3)), which counts
// every thread, those that exited included. /proc/<pid>/stat counts in clock ticks (10 ms), too coarse
// for a process that uses well under 1 % of a core over a benchmark's window. Where the clock cannot be
// read it falls back to Process's figure.
func Runtime(pid int) (float64, error) {
	if pid == 0 {
		pid = os.Getpid()
	}
	// the clock id of a process's CPU time as glibc's clock_getcpuclockid builds it: the negated pid
	// shifted by three, then CPUCLOCK_SCHED (2), the scheduler's nanosecond sum
	clock := int32(^uint32(pid)<<3) | 2
	var ts unix.Timespec
	if err := unix.ClockGettime(clock, &ts); err == nil {
		return float64(ts.Nano()) / 1e9, nil
	}
	cpu, _, err := Process(pid)
	return cpu, err
}
