package sendfile

import (
	"io"
	"os"
	"syscall"
)

func readFrom(dst syscall.Conn, r io.Reader) (int64, bool, error) {
	lr, _ := r.(*io.LimitedReader)
	remain := int64(1 << 62)
	if lr != nil {
		r, remain = lr.R, lr.N
		if remain <= 0 {
			return 0, true, nil
		}
	}
	src, ok := r.(memory)
	if !ok || !src.InMemory() {
		return 0, false, nil
	}
	sraw, err := src.SyscallConn()
	if err != nil {
		return 0, false, nil
	}
	draw, err := dst.SyscallConn()
	if err != nil {
		return 0, false, nil
	}
	var (
		written int64
		serr    error
		handled = true
	)
	cerr := sraw.Control(func(sfd uintptr) {
		for remain > 0 {
			var (
				n     uintptr
				errno syscall.Errno
			)
			werr := draw.Write(func(dfd uintptr) bool {
				// a raw call: sendfile from memory onto a non-blocking socket never waits, so the goroutine
				// keeps its processor rather than handing it to another thread for the call's duration
				n, _, errno = syscall.RawSyscall6(syscall.SYS_SENDFILE, dfd, sfd, 0, uintptr(min(remain, maxChunk)), 0, 0)
				return errno != syscall.EAGAIN
			})
			switch {
			case werr != nil:
				serr = werr
				return
			case errno == syscall.EINTR:
				continue
			case errno != 0:
				if written == 0 && (errno == syscall.EINVAL || errno == syscall.ENOSYS || errno == syscall.EOPNOTSUPP) {
					handled = false
					return
				}
				serr = os.NewSyscallError("sendfile", errno)
				return
			case n == 0: // the end of the file
				return
			}
			written += int64(n)
			remain -= int64(n)
		}
	})
	if lr != nil {
		lr.N -= written
	}
	if cerr != nil && serr == nil {
		serr = cerr
	}
	return written, handled, serr
}
