package nodestats

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// MemoryUsedPercent returns how much of the memory this node may use is in use, 0..100: of the cgroup's
// limit when one is set (cgroup v2 memory.max, or v1 memory.limit_in_bytes) and lower than the machine's
// memory, else of the machine's (/proc/meminfo MemTotal against MemAvailable). A cgroup's use leaves out
// its inactive page cache, which the kernel reclaims before it would kill anything (the working set, as
// the kubelet counts it).
func MemoryUsedPercent() (float64, error) {
	return memoryUsedPercent("/proc/meminfo", "/proc/self/cgroup", "/sys/fs/cgroup")
}

// memoryUsedPercent is MemoryUsedPercent over the given files, for tests.
func memoryUsedPercent(meminfo, selfCgroup, cgroupRoot string) (float64, error) {
	total, available, err := readMeminfo(meminfo)
	if err != nil {
		return 0, err
	}
	if limit, used, ok := cgroupMemory(selfCgroup, cgroupRoot); ok && limit < total {
		return percent(used, limit), nil
	}
	return percent(total-min(available, total), total), nil
}

func percent(used, of uint64) float64 {
	if of == 0 {
		return 0
	}
	return min(100, 100*float64(used)/float64(of))
}

// readMeminfo returns MemTotal and MemAvailable in bytes.
func readMeminfo(path string) (total, available uint64, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, fmt.Errorf("reading memory size: %w", err)
	}
	var haveTotal, haveAvail bool
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "MemTotal" && key != "MemAvailable") {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("parsing %s in %s: %w", key, path, err)
		}
		if len(f) > 1 && f[1] == "kB" {
			v *= 1024
		}
		if key == "MemTotal" {
			total, haveTotal = v, true
		} else {
			available, haveAvail = v, true
		}
	}
	if !haveTotal || !haveAvail || total == 0 {
		return 0, 0, fmt.Errorf("parsing %s: no MemTotal or MemAvailable", path)
	}
	return total, available, nil
}

// cgroupMemory returns the memory limit of this process's cgroup and the working set charged to it; ok
// is false without a cgroup limit.
func cgroupMemory(selfCgroup, root string) (limit, used uint64, ok bool) {
	v2, v1 := cgroupPaths(selfCgroup)
	// cgroup v2: the unified hierarchy at root (or, on a hybrid host, at root/unified)
	for _, dir := range []string{filepath.Join(root, v2), root, filepath.Join(root, "unified", v2)} {
		limit, err := readUint(filepath.Join(dir, "memory.max"))
		if err != nil {
			continue // "max" (no limit) or no such file
		}
		current, err := readUint(filepath.Join(dir, "memory.current"))
		if err != nil {
			continue
		}
		return limit, workingSet(current, filepath.Join(dir, "memory.stat"), "inactive_file"), true
	}
	// cgroup v1: no limit reads as a huge number, which the caller's comparison with MemTotal discards
	for _, dir := range []string{filepath.Join(root, "memory", v1), filepath.Join(root, "memory")} {
		limit, err := readUint(filepath.Join(dir, "memory.limit_in_bytes"))
		if err != nil {
			continue
		}
		usage, err := readUint(filepath.Join(dir, "memory.usage_in_bytes"))
		if err != nil {
			continue
		}
		return limit, workingSet(usage, filepath.Join(dir, "memory.stat"), "total_inactive_file"), true
	}
	return 0, 0, false
}

// cgroupPaths reads /proc/self/cgroup: the v2 path (line "0::<path>") and the v1 memory controller's.
func cgroupPaths(path string) (v2, v1 string) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "/", "/"
	}
	v2, v1 = "/", "/"
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 || !strings.HasPrefix(f[2], "/") || strings.Contains(f[2], "..") {
			continue
		}
		switch {
		case f[0] == "0" && f[1] == "":
			v2 = f[2]
		case containsController(f[1], "memory"):
			v1 = f[2]
		}
	}
	return v2, v1
}

func containsController(list, name string) bool {
	for _, c := range strings.Split(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}

// workingSet subtracts the inactive page cache (key in the stat file) from usage, as far as it can.
func workingSet(usage uint64, stat, key string) uint64 {
	b, err := os.ReadFile(stat)
	if err != nil {
		return usage
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, " ")
		if !ok || k != key {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64); err == nil && n <= usage {
			return usage - n
		}
	}
	return usage
}

var errNoLimit = errors.New("no limit")

func readUint(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return 0, errNoLimit
	}
	return strconv.ParseUint(s, 10, 64)
}
