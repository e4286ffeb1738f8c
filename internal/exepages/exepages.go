// Package exepages unmaps the pages of the running executable that start-up touched and the process
// no longer uses.
//
// A Go binary of every nagare role is about 80 MB, and starting it (the init functions of every linked
// package, the first calls of each server) touches code and read-only data all over it. The kernel maps
// those pages, and up to 64 kB around each (fault-around), into the process: an idle node showed 50 MB of
// the executable in its RSS, against 7 MB of its own memory. They are clean page-cache pages, shared with
// every process running the binary, but RSS counts them and operators size machines by RSS. Drop zaps
// the read-only mappings of the executable (MADV_DONTNEED: the pages stay in the page cache; only this
// process's page-table entries go), so that the pages the node goes on using come back at their first
// touch (a minor fault) and the rest stop being counted.
package exepages

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"
)

// Drop unmaps the read-only mappings of the executable from this process's page tables and returns the
// bytes of address space it advised. Writable mappings (data, bss) are never touched: their private
// pages would be lost.
func Drop() (int64, error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, fmt.Errorf("exepages: %w", err)
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0, fmt.Errorf("exepages: %w", err)
	}
	var advised int64
	for line := range strings.Lines(string(maps)) {
		start, end, ok := readOnlyMapping(line, exe)
		if !ok {
			continue
		}
		if err := madvise(start, end); err != nil {
			return advised, fmt.Errorf("exepages: madvise %#x-%#x: %w", start, end, err)
		}
		advised += int64(end - start)
	}
	return advised, nil
}

// readOnlyMapping parses one line of /proc/self/maps ("start-end perms offset dev inode path") and
// reports the range of a mapping of path (or of path replaced on disk since: "path (deleted)") that is
// neither writable nor shared.
func readOnlyMapping(line, path string) (start, end uintptr, ok bool) {
	// five fields, then the path: the rest of the line, spaces included
	var f [5]string
	rest := line
	for i := range f {
		rest = strings.TrimLeft(rest, " \t")
		j := strings.IndexAny(rest, " \t")
		if j <= 0 {
			return 0, 0, false
		}
		f[i], rest = rest[:j], rest[j:]
	}
	name := strings.TrimSpace(rest)
	if name != path && name != path+" (deleted)" {
		return 0, 0, false
	}
	perms := f[1]
	if len(perms) != 4 || perms[0] != 'r' || perms[1] != '-' || perms[3] != 'p' {
		return 0, 0, false
	}
	lo, hi, found := strings.Cut(f[0], "-")
	if !found {
		return 0, 0, false
	}
	s, err1 := strconv.ParseUint(lo, 16, 64)
	e, err2 := strconv.ParseUint(hi, 16, 64)
	if err1 != nil || err2 != nil || e <= s {
		return 0, 0, false
	}
	return uintptr(s), uintptr(e), true
}

// Later calls Drop once start-up is over: after d, unless ctx ends first. The outcome is logged (the
// address space advised, or why nothing was).
func Later(ctx context.Context, d time.Duration, log *slog.Logger) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return
	case <-t.C:
	}
	n, err := Drop()
	if err != nil {
		log.Warn("the executable's start-up pages stay mapped", "cause", err)
		return
	}
	log.Debug("unmapped the executable's start-up pages", "advised_mib", n>>20)
}
