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
}

// descriptor is a File's memfd, apart from the File so that a cleanup can close it when an owner forgot
// to release a File that became unreachable.
type descriptor struct {
	fd int
	// refs is 1 (the owner's, until Release) plus one for each open Handle and each ReadAt under way; the
	// descriptor is closed when it reaches 0, after which no reader may take one (a closed descriptor's
	// number is reused by the next file the process opens)
	refs atomic.Int64
}

// Supported reports whether this system can make memory files (Linux 3.17+); it tries
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
	fd, err := memfdCreate(name)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	d := &descriptor{fd: fd}
	d.refs.Store(1)
	f := &File{descriptor: d}
	runtime.AddCleanup(f, func(d *descriptor) {
		// nobody can reach f: no reader holds a reference, only a forgotten owner's may remain
		if d.refs.Load() > 0 {
			closeFD(d.fd)
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

// pwrite writes p at off, pread reads p from off. On 64-bit systems they are raw system calls: copying
// into or out of memory never waits on a device, so the runtime need not hand the goroutine's processor
// over for it (a live node writes every part of every stream this way). A 32-bit system passes the offset
// in two registers: the usual calls.
func pwrite(fd int, p []byte, off int64) (int, error) {
	return positioned(unix.SYS_PWRITE64, unix.Pwrite, fd, p, off)
}

func pread(fd int, p []byte, off int64) (int, error) {
	return positioned(unix.SYS_PREAD64, unix.Pread, fd, p, off)
}

func positioned(trap uintptr, usual func(int, []byte, int64) (int, error), fd int, p []byte, off int64) (int, error) {
	if unsafe.Sizeof(uintptr(0)) < 8 {
		return usual(fd, p, off)
	}
	n, _, errno := unix.RawSyscall6(trap, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), uintptr(off), 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// A memory file's other system calls are raw too (memfd_create, fcntl, close), for the same reason. Each
// ordinary one, a few for every segment of every stream, woke the runtime's monitor thread on an
// otherwise idle node.

func memfdCreate(name string) (int, error) {
	p, err := unix.BytePtrFromString(name)
	if err != nil {
		return -1, err
	}
	fd, _, errno := unix.RawSyscall(unix.SYS_MEMFD_CREATE, uintptr(unsafe.Pointer(p)),
		unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING, 0)
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil
}

func closeFD(fd int) { unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0) }

// ReadAt reads len(p) bytes from off (io.ReaderAt), unless the owner has released the file.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	if !f.acquire() {
		return 0, ErrReleased
	}
	defer f.release()
	return f.pread(p, off)
}

// pread reads len(p) bytes from off; the caller holds a reference.
func (d *descriptor) pread(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		k, err := pread(d.fd, p[n:], off+int64(n))
		if err == unix.EINTR {
			continue
		}
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
	if _, _, errno := unix.RawSyscall(unix.SYS_FCNTL, uintptr(f.fd), unix.F_ADD_SEALS,
		unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE|unix.F_SEAL_SEAL); errno != 0 {
		return fmt.Errorf("sealing a memory file: %w", errno)
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
		closeFD(d.fd)
	}
}

// Release gives up the owner's reference: the memory is freed once no reader holds it open.
func (f *File) Release() {
	if f.released.Swap(true) {
		return
	}
	f.release()
}

// Handle is one reader's view of a File's bytes, with an offset of its own. It holds a reference to
// the File's descriptor, which every reader shares: sent with io.Copy to a connection of
// internal/netguard (as an io.LimitedReader of one), it goes out with sendfile from the handle's offset
// (sendfile(2) with an offset pointer: no descriptor of its own, no lseek). Close gives the reference up.
type Handle struct {
	owner  *File
	off    int64
	closed bool
}

// Open returns a handle on the bytes positioned at off, which the caller closes.
func (f *File) Open(off int64) (*Handle, error) {
	if f.released.Load() || !f.acquire() {
		return nil, ErrReleased
	}
	return &Handle{owner: f, off: off}, nil
}

// Read reads from the handle's offset and moves it on.
func (h *Handle) Read(p []byte) (int, error) {
	if h.closed {
		return 0, os.ErrClosed
	}
	if len(p) == 0 {
		return 0, nil
	}
	n, err := h.owner.pread(p, h.off)
	h.off += int64(n)
	if n > 0 && err == io.EOF {
		err = nil // io.Reader: the end is told by the next call
	}
	return n, err
}

// ReadAt reads len(p) bytes from off (io.ReaderAt); the handle's offset does not move.
func (h *Handle) ReadAt(p []byte, off int64) (int, error) {
	if h.closed {
		return 0, os.ErrClosed
	}
	return h.owner.pread(p, off)
}

// Seek sets the handle's offset (io.Seeker); the end is the bytes appended so far.
func (h *Handle) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += h.off
	case io.SeekEnd:
		offset += int64(h.owner.Size())
	case io.SeekStart:
	default:
		return 0, errors.New("memfile: seek: invalid whence")
	}
	if offset < 0 {
		return 0, errors.New("memfile: seek: negative position")
	}
	h.off = offset
	return offset, nil
}

// SendfileSource gives internal/sendfile the descriptor to send from and the handle's offset, which
// sendfile(2) moves on by what it sends. The descriptor stays open until the handle is closed.
func (h *Handle) SendfileSource() (fd int, off *int64) { return h.owner.fd, &h.off }

// Close gives the handle's reference up.
func (h *Handle) Close() error {
	if h.closed {
		return os.ErrClosed
	}
	h.closed = true
	h.owner.release()
	return nil
}
