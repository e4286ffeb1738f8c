package rawio

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

type conn struct {
	c    net.Conn // or
	file *os.File // a pipe's end
	raw  syscall.RawConn
	tcp  bool
	// the calls, made once: a closure or a method value per call would allocate
	readFn, writeFn func(fd uintptr) bool

	rmu    sync.Mutex // one Read at a time (as the socket's own lock would): rp, rn and rerrno are its
	rp     []byte
	rn     int
	rerrno syscall.Errno

	wmu    sync.Mutex // one Write at a time: wp, wmore, wn and werrno are its
	wp     []byte
	wmore  bool // send with MSG_MORE
	wn     int
	werrno syscall.Errno
}

func newConn(c net.Conn) *Conn {
	switch c.(type) {
	case *net.TCPConn, *net.UnixConn:
	default:
		return nil // a connection that frames its bytes (TLS) must be used through its own methods
	}
	raw, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		return nil
	}
	_, tcp := c.(*net.TCPConn)
	return withCalls(&Conn{conn{c: c, raw: raw, tcp: tcp}})
}

func newFile(f *os.File) *Conn {
	raw, err := f.SyscallConn()
	if err != nil {
		return nil
	}
	nonblocking := false
	if err := raw.Control(func(fd uintptr) {
		flags, err := unix.FcntlInt(fd, unix.F_GETFL, 0)
		nonblocking = err == nil && flags&unix.O_NONBLOCK != 0
	}); err != nil || !nonblocking {
		return nil // a raw read of a blocking descriptor would hold its thread and processor
	}
	return withCalls(&Conn{conn{file: f, raw: raw}})
}

func withCalls(c *Conn) *Conn {
	c.readFn, c.writeFn = c.read, c.write
	return c
}

// Read reads up to len(p) bytes.
func (c *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	c.rp = p
	defer func() { c.rp = nil }()
	for {
		if err := c.raw.Read(c.readFn); err != nil {
			return 0, err // closed, or a deadline passed: the poller's own errors, as net's Read returns
		}
		switch {
		case c.rerrno == syscall.EINTR:
			continue
		case c.rerrno != 0:
			return 0, c.opError("read", c.rerrno)
		case c.rn == 0:
			return 0, io.EOF
		}
		return c.rn, nil
	}
}

// Write writes all of p, unless an error stops it.
func (c *Conn) Write(p []byte) (int, error) { return c.send(p, false) }

// WriteMore is Write telling a TCP socket that more follows at once (MSG_MORE): the kernel holds a
// partial packet for the caller's next send, as TCP_CORK would for this one call without its two
// setsockopt. An HTTP header sent so before a file's sendfile leaves in the file's first packet.
func (c *Conn) WriteMore(p []byte) (int, error) { return c.send(p, c.tcp) }

func (c *Conn) send(p []byte, more bool) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wmore = more
	defer func() { c.wp = nil }()
	written := 0
	for written < len(p) {
		c.wp = p[written:]
		if err := c.raw.Write(c.writeFn); err != nil {
			return written, err
		}
		switch {
		case c.werrno == syscall.EINTR:
			continue
		case c.werrno != 0:
			return written, c.opError("write", c.werrno)
		}
		written += c.wn
	}
	return written, nil
}

func (c *conn) opError(op string, errno syscall.Errno) error {
	if c.file != nil {
		return &os.PathError{Op: op, Path: c.file.Name(), Err: errno} // as os.File's own methods
	}
	return &net.OpError{Op: op, Net: c.c.LocalAddr().Network(), Source: c.c.LocalAddr(), Addr: c.c.RemoteAddr(),
		Err: os.NewSyscallError(op, errno)}
}

// read and write are the raw calls; false (EAGAIN: nothing to read yet, no room to write) makes the
// poller wait for the socket.
func (c *conn) read(fd uintptr) bool {
	n, _, errno := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&c.rp[0])), uintptr(len(c.rp)))
	c.rn, c.rerrno = int(n), errno
	return errno != syscall.EAGAIN
}

func (c *conn) write(fd uintptr) bool {
	var (
		n     uintptr
		errno syscall.Errno
	)
	if c.wmore {
		n, _, errno = syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&c.wp[0])), uintptr(len(c.wp)),
			syscall.MSG_MORE, 0, 0)
	} else {
		n, _, errno = syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&c.wp[0])), uintptr(len(c.wp)))
	}
	c.wn, c.werrno = int(n), errno
	return errno != syscall.EAGAIN
}
