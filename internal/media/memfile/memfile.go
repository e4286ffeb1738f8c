// Package memfile keeps bytes out of the Go heap, in anonymous memory files (Linux memfd), from which a
// response is sent to its socket with sendfile instead of being copied through the process. A File's
// memory is freed when its owner releases it or, failing that, when the File becomes unreachable, as
// heap bytes would be.
//
// Media nodes hold every segment of every live window and of the window before it (RFC 8216 §6.2.2):
// tens of megabytes that, on the heap, the garbage collector would both scan for nothing and let grow to
// twice their size (GOGC). In memory files they are counted once, freed the moment the last holder lets
// go, and served without a copy: the kernel hands the pages to the socket.
package memfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ErrReleased is returned by Open once the owner has released the file.
var ErrReleased = errors.New("memory file released")

// File is a byte string in a memory file, immutable once written (New), or grown by appending (Create,
// Append, Seal). Its owner calls Release when it no longer serves it; readers that opened it before keep
// reading what they opened.
type File struct {
	*descriptor
	size     atomic.Int64
	released atomic.Bool

	mu   sync.Mutex
	idle []*os.File // descriptors given back, reused by Open: an lseek instead of an open and a close
}

// maxIdle bounds the descriptors a File keeps for reuse (about the responses it sends at once).
const maxIdle = 16

// descriptor is a File's memfd, apart from the File so that a cleanup can close it when an owner forgot
// to release a File that became unreachable.
type descriptor struct {
	fd int
	// refs is 1 (the owner's) plus the readers between their lookup and their open; the descriptor is
	// closed when it reaches 0, after which no reader may take one (a closed descriptor's number is
	// reused by the next file the process opens)
	refs atomic.Int64
}

// Supported reports whether this system can make memory files (Linux 3.17+, /proc mounted); it tries
// once per process.
func Supported() bool { return supported() }

var supported = sync.OnceValue(func() bool {
	f, err := New("probe", []byte{0})
	if err != nil {
		return false
	}
	defer f.Release()
	r, err := f.Open(0)
	if err != nil {
		return false
	}
	r.Close()
	return true
})

// New copies data into a new memory file named name (a label in /proc/<pid>/fd, not a path), sealed.
func New(name string, data []byte) (*File, error) {
	f, err := Create(name)
	if err != nil {
		return nil, err
	}
	if _, err := f.Append(data); err != nil {
		f.Release()
		return nil, err
	}
	if err := f.Seal(); err != nil {
		f.Release()
		return nil, err
	}
	return f, nil
}

// Create makes an empty memory file named name, which its writer fills with Append and then seals.
// Readers may open it meanwhile and read what was appended: bytes once appended never change.
func Create(name string) (*File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	d := &descriptor{fd: fd}
	d.refs.Store(1)
	f := &File{descriptor: d}
	runtime.AddCleanup(f, func(d *descriptor) {
		// nobody can reach f: no reader holds a reference, only a forgotten owner's may remain
		if d.refs.Load() > 0 {
			unix.Close(d.fd)
		}
	}, d)
	return f, nil
}

// Append writes data after the bytes appended so far and returns the offset it starts at. Only the
// file's writer calls it, one call at a time, before Seal and Release.
func (f *File) Append(data []byte) (int64, error) {
	start := f.size.Load()
	for n := 0; n < len(data); {
		k, err := pwrite(f.fd, data[n:], start+int64(n))
		if err == unix.EINTR {
			continue
		}
		if err == nil && k == 0 {
			err = io.ErrShortWrite
		}
		if err != nil {
			return 0, fmt.Errorf("writing a memory file: %w", err)
		}
		n += k
	}
	f.size.Add(int64(len(data)))
	return start, nil
}

// pwrite writes p at off. On 64-bit systems it is a raw system call: copying into memory never waits on a
// device, so the runtime need not hand the goroutine's processor over for it (a live node writes every
// part of every stream this way). A 32-bit system passes the offset in two registers: the usual call.
func pwrite(fd int, p []byte, off int64) (int, error) {
	if unsafe.Sizeof(uintptr(0)) < 8 {
		return unix.Pwrite(fd, p, off)
	}
	n, _, errno := unix.RawSyscall6(unix.SYS_PWRITE64, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)),
		uintptr(off), 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// ReadAt reads len(p) bytes from off (io.ReaderAt), unless the owner has released the file.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	if !f.acquire() {
		return 0, ErrReleased
	}
	defer f.release()
	n := 0
	for n < len(p) {
		k, err := unix.Pread(f.fd, p[n:], off+int64(n))
		if err != nil {
			return n, fmt.Errorf("reading a memory file: %w", err)
		}
		if k == 0 {
			return n, io.EOF
		}
		n += k
	}
	return n, nil
}

// Seal makes the file immutable: no descriptor opened from it can change, grow or shrink what readers
// are sending.
func (f *File) Seal() error {
	if _, err := unix.FcntlInt(uintptr(f.fd), unix.F_ADD_SEALS,
		unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE|unix.F_SEAL_SEAL); err != nil {
		return fmt.Errorf("sealing a memory file: %w", err)
	}
	return nil
}

// Size is the length of the bytes appended so far.
func (f *File) Size() int { return int(f.size.Load()) }

// acquire takes a reader's reference unless the owner's is gone.
func (d *descriptor) acquire() bool {
	for {
		n := d.refs.Load()
		if n <= 0 {
			return false
		}
		if d.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (d *descriptor) release() {
	if d.refs.Add(-1) == 0 {
		unix.Close(d.fd)
	}
}

// Release gives up the owner's reference: the memory is freed once no reader holds it open.
func (f *File) Release() {
	if f.released.Swap(true) {
		return
	}
	f.release()
	f.mu.Lock()
	idle := f.idle
	f.idle = nil
	f.mu.Unlock()
	for _, r := range idle {
		r.Close()
	}
}

// Handle is a descriptor of a File's bytes for one reader, with its own offset. Sent with io.Copy to a
// net.Conn or an http.ResponseWriter (as an io.LimitedReader of one: the embedded *os.File gives sendfile
// its descriptor), it goes out with sendfile. Close gives it back for another reader.
type Handle struct {
	*os.File
	owner *File
}

// InMemory reports that the handle's bytes are in memory: sending them never waits on a disk
// (internal/sendfile).
func (h *Handle) InMemory() bool { return true }

// Close gives the descriptor back to its File, or closes it.
func (h *Handle) Close() error {
	f := h.owner
	f.mu.Lock()
	// checked under the lock: Release takes the idle descriptors under it after marking the file
	if !f.released.Load() && len(f.idle) < maxIdle {
		f.idle = append(f.idle, h.File)
		f.mu.Unlock()
		return nil
	}
	f.mu.Unlock()
	return h.File.Close()
}

// Open returns a descriptor of its own on the bytes, positioned at off, which the caller closes.
func (f *File) Open(off int64) (*Handle, error) {
	r := f.reuse()
	fresh := r == nil
	if fresh {
		var err error
		if r, err = f.open(); err != nil {
			return nil, err
		}
	}
	// a new descriptor starts at 0; one given back is where its last reader left it
	if fresh && off == 0 {
		return &Handle{File: r, owner: f}, nil
	}
	if _, err := r.Seek(off, io.SeekStart); err != nil {
		r.Close()
		return nil, fmt.Errorf("positioning in a memory file: %w", err)
	}
	return &Handle{File: r, owner: f}, nil
}

// open makes a new descriptor on the bytes, unless the owner has released them.
func (f *File) open() (*os.File, error) {
	if !f.acquire() {
		return nil, ErrReleased
	}
	defer f.release()
	// opening the descriptor's /proc entry, unlike dup, makes a new open file description: readers do not
	// share an offset. os.Open would also try (and fail) to put the file in the network poller, four
	// fcntl and an epoll_ctl more: os.NewFile of a blocking descriptor does not.
	path := "/proc/self/fd/" + strconv.Itoa(f.fd)
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening a memory file: %w", err)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// reuse takes an idle descriptor, if the File is not released.
func (f *File) reuse() *os.File {
	if f.released.Load() {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if n := len(f.idle); n > 0 {
		r := f.idle[n-1]
		f.idle = f.idle[:n-1]
		return r
	}
	return nil
}
