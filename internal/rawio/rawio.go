// Package rawio reads and writes TCP connections with read(2) and write(2) as raw system calls. On a
// non-blocking socket (every socket of Go's net package) these calls never wait: they return EAGAIN
// instead, and the goroutine then waits in the network poller exactly as with net's own Read and Write.
// net makes them system calls the runtime must assume may block, handing the goroutine's processor over
// and waking the runtime's monitor for each call; for a live node reading its publishers (thousands of
// small reads a second) that was about a third of its ingest CPU. Pipes (a transcoder's ffmpeg reads its
// source from one and writes each rendition to another) are read and written the same way.
package rawio

import (
	"net"
	"os"
)

// Conn reads and writes one connection. Its Read and Write behave as the connection's: deadlines,
// io.EOF, *net.OpError.
type Conn struct{ conn }

// New returns a Conn of c, or nil where c has no socket to use raw (not a TCP or Unix connection) or the
// system is not Linux: use c itself then.
func New(c net.Conn) *Conn { return newConn(c) }

// NewFile returns a Conn of f, an end of a pipe from os.Pipe (non-blocking, waited on in the poller as a
// socket is), or nil where f cannot be used raw (a blocking descriptor, or not Linux): use f itself then.
// Its errors are those of f's own Read and Write (*os.PathError), but for closing: the owner closes f, after
// the last Read or Write.
func NewFile(f *os.File) *Conn { return newFile(f) }
