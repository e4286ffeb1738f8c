package bench

import (
	"bufio"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// KeptFiles is the memory a server holds outside its RSS: the files it keeps (nginx-rtmp's HLS
// directory; nagare's segment directory when hls.storage is disk) and the shared-memory files it has
// open (memfd, /dev/shm), which live in the page cache or tmpfs and cost the machine as much as RSS.
type KeptFiles struct {
	// DirBytes are the regular files under the directories given, counted once each.
	DirBytes int64 `json:"dirBytes"`
	// DirFiles counts them.
	DirFiles int `json:"dirFiles"`
	// ShmBytes are the regular files the server's processes have open that are memfds or under /dev/shm
	// (and not under the directories given), counted once each.
	ShmBytes int64 `json:"shmBytes"`
	ShmFiles int   `json:"shmFiles"`
	// ShmRSSBytes is the shared memory already in the processes' RSS (RssShmem of /proc/<pid>/status):
	// a mapped memfd's touched pages, which the total must not count twice.
	ShmRSSBytes int64 `json:"shmRssBytes"`
}

// Bytes is what the files add to the RSS: every file's bytes, less the shared memory the RSS already
// holds (at most the shared-memory files' bytes).
func (k KeptFiles) Bytes() int64 {
	return k.DirBytes + k.ShmBytes - min(k.ShmRSSBytes, k.ShmBytes)
}

// MiB is Bytes in MiB.
func (k KeptFiles) MiB() float64 { return float64(k.Bytes()) / (1 << 20) }

type fileID struct{ dev, ino uint64 }

// keptFiles measures the files of pid and its descendants, and of dirs.
func keptFiles(pid int, dirs []string) KeptFiles {
	var k KeptFiles
	seen := map[fileID]bool{}
	for _, d := range dirs {
		_ = filepath.WalkDir(d, func(_ string, e fs.DirEntry, err error) error {
			if err != nil || !e.Type().IsRegular() {
				return nil // gone meanwhile (a segment cleaned up), or not a file
			}
			fi, err := e.Info()
			if err != nil {
				return nil
			}
			if id, ok := idOf(fi); ok {
				if seen[id] {
					return nil
				}
				seen[id] = true
			}
			k.DirBytes += fi.Size()
			k.DirFiles++
			return nil
		})
	}
	for _, p := range append([]int{pid}, descendants(pid)...) {
		k.ShmRSSBytes += statusBytes(p, "RssShmem")
		fds, err := os.ReadDir("/proc/" + strconv.Itoa(p) + "/fd")
		if err != nil {
			continue
		}
		for _, fd := range fds {
			path := "/proc/" + strconv.Itoa(p) + "/fd/" + fd.Name()
			target, err := os.Readlink(path)
			if err != nil || !isShmFile(target) {
				continue
			}
			fi, err := os.Stat(path) // the open file itself, even when deleted
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			if id, ok := idOf(fi); ok {
				if seen[id] {
					continue
				}
				seen[id] = true
			}
			k.ShmBytes += fi.Size()
			k.ShmFiles++
		}
	}
	return k
}

// isShmFile tells whether an fd's link names a memfd or a file in /dev/shm.
func isShmFile(target string) bool {
	return strings.HasPrefix(target, "/memfd:") || strings.HasPrefix(target, "/dev/shm/")
}

func idOf(fi fs.FileInfo) (fileID, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return fileID{uint64(st.Dev), st.Ino}, true
}

// statusBytes reads a "kB" field of /proc/<pid>/status, in bytes (0 when absent).
func statusBytes(pid int, key string) int64 {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != key {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			return 0
		}
		n, _ := strconv.ParseInt(fields[0], 10, 64)
		return n << 10
	}
	return 0
}

// goHeapMiB reads go_memstats_heap_inuse_bytes from a nagare node's /metrics at base, in MiB (0 when
// it cannot be read).
func goHeapMiB(ctx context.Context, base string) float64 {
	v, _ := metric(ctx, base, "go_memstats_heap_inuse_bytes")
	return v / (1 << 20)
}
