// Package sendfile sends files held in memory (memfd) to TCP connections with sendfile(2) as a raw
// system call: such a call copies pages the kernel already holds and returns as soon as the socket's
// buffer is full, so the goroutine keeps its processor instead of the Go runtime handing it to another
// thread for the call, which net's own sendfile does for every call (a thread switch and the runtime's
// monitor waking every 20 µs while segments go out at thousands a second).
package sendfile

import (
	"io"
	"syscall"
)

// maxChunk bounds one call: the socket's buffer bounds it anyway.
const maxChunk = 1 << 30

// memory is a file whose bytes are in memory (internal/media/memfile's handles): sendfile never waits on a
// disk for it. SendfileSource gives its descriptor, open while the reader is, and the offset to send
// from, which the call moves on (sendfile(2)'s offset pointer: readers share the descriptor).
type memory interface {
	SendfileSource() (fd int, off *int64)
}

// ReadFrom sends r to dst when r is a file in memory, or an *io.LimitedReader of one (whose N it
// decreases by what was sent); handled is false, with nothing sent, for any other reader or where the
// system cannot (the caller copies then).
func ReadFrom(dst syscall.Conn, r io.Reader) (n int64, handled bool, err error) {
	return readFrom(dst, r)
}
