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
)

// clockTicks is USER_HZ, 100 on every Linux platform Go supports.
const clockTicks = 100

// Process returns the CPU seconds (user+system) and resident set size in bytes of process pid
// (0 = this process).
func Process(pid int) (cpuSeconds float64, rssBytes uint64, err error) {
	dir := "/proc/self"
	if pid > 0 {
		dir = "/proc/" + strconv.Itoa(pid)
	}
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return 0, 0, fmt.Errorf("reading %s/stat: %w", dir, err)
	}
	// fields after the command name, which is in parentheses and may contain spaces
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("parsing %s/stat", dir)
	}
	f := bytes.Fields(stat[i+1:])
	// f[0] is field 3 (state); utime is field 14, stime 15, rss (pages) 24
	if len(f) < 22 {
		return 0, 0, fmt.Errorf("parsing %s/stat: %d fields", dir, len(f))
	}
	utime, _ := strconv.ParseUint(string(f[11]), 10, 64)
	stime, _ := strconv.ParseUint(string(f[12]), 10, 64)
	rss, _ := strconv.ParseUint(string(f[21]), 10, 64)
	return float64(utime+stime) / clockTicks, rss * uint64(os.Getpagesize()), nil
}

// CPUMeter turns successive CPU-time samples into a percentage of one core.
type CPUMeter struct {
	mu      sync.Mutex
	lastCPU float64
	lastAt  time.Time
	percent float64
}

// Percent returns the CPU use of this process since the previous call (at least 500 ms apart;
// calls in between return the previous figure).
func (m *CPUMeter) Percent() float64 {
	cpu, _, err := Process(0)
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
