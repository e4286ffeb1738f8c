package sendfile

import (
	"io"
	"os"
	"syscall"
	"unsafe"
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
	if !ok {
		return 0, false, nil
	}
	sfd, off := src.SendfileSource()
	draw, err := dst.SyscallConn()
	if err != nil {
		return 0, false, nil
	}
	var written int64
	for remain > 0 {
		var (
			n     uintptr
			errno syscall.Errno
		)
		werr := draw.Write(func(dfd uintptr) bool {
			// a raw call: sendfile from memory onto a non-blocking socket never waits, so the goroutine
			// keeps its processor rather than handing it to another thread for the call's duration
			n, _, errno = syscall.RawSyscall6(syscall.SYS_SENDFILE, dfd, uintptr(sfd), uintptr(unsafe.Pointer(off)),
				uintptr(min(remain, maxChunk)), 0, 0)
			return errno != syscall.EAGAIN
		})
		switch {
		case werr != nil:
			err = werr
		case errno == syscall.EINTR:
			continue
		case errno != 0:
			if written == 0 && (errno == syscall.EINVAL || errno == syscall.ENOSYS || errno == syscall.EOPNOTSUPP) {
				return 0, false, nil
			}
			err = os.NewSyscallError("sendfile", errno)
		case n == 0: // the end of the file
		default:
			written += int64(n)
			remain -= int64(n)
			continue
		}
		break
	}
	if lr != nil {
		lr.N -= written
	}
	return written, true, err
}
