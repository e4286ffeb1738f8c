// Package netguard keeps a server's ports alive and bounded under abuse: a cap on open connections, accept
// errors such as EMFILE retried with backoff instead of ending the server, and request bodies that are
// refused or must arrive in time.
package netguard

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nagare-video/nagare/internal/rawio"
	"github.com/nagare-video/nagare/internal/sendfile"
)

// The accept backoff of net/http: 5 ms doubling up to 1 s.
const (
	minAcceptDelay = 5 * time.Millisecond
	maxAcceptDelay = time.Second
)

// Listener holds at most a fixed number of connections open at once: a connection beyond the cap is
// closed as soon as it is accepted, so that it costs a descriptor only for that instant and its client
// learns at once. Temporary accept errors (out of descriptors, a connection aborted before it was
// accepted) are retried with backoff rather than returned, so that they cannot stop a server.
type Listener struct {
	net.Listener
	sem chan struct{} // nil: no cap
	log *slog.Logger

	closeOnce sync.Once
	closed    chan struct{}
	refused   atomic.Uint64
	failLog   sometimes
	capLog    sometimes
}

// New wraps ln. max ≤ 0 means no cap; log receives the rate-limited reports of retries and refusals.
func New(ln net.Listener, max int, log *slog.Logger) *Listener {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &Listener{Listener: ln, log: log, closed: make(chan struct{})}
	if max > 0 {
		l.sem = make(chan struct{}, max)
	}
	return l
}

// Accept waits for the next connection within the cap.
func (l *Listener) Accept() (net.Conn, error) {
	var delay time.Duration
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if !Temporary(err) {
				return nil, err
			}
			delay = min(max(2*delay, minAcceptDelay), maxAcceptDelay)
			l.failLog.do(func(skipped int) {
				l.log.Warn("accept failed, retrying", "address", l.Addr().String(), "cause", err,
					"retryIn", delay.String(), "alsoFailedSinceLastReport", skipped)
			})
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-l.closed: // the next Accept returns the listener's own "closed" error
				t.Stop()
			}
			continue
		}
		delay = 0
		if l.sem == nil {
			return newConn(c, func() {}), nil
		}
		select {
		case l.sem <- struct{}{}:
			return newConn(c, func() { <-l.sem }), nil
		default:
			// counted before the close, so that a client that sees its connection closed finds it counted
			n := l.refused.Add(1)
			c.Close()
			l.capLog.do(func(int) {
				l.log.Warn("connection refused: too many open connections", "address", l.Addr().String(),
					"max", cap(l.sem), "refusedTotal", n)
			})
		}
	}
}

// Close stops accepting, including a retry that is waiting out its backoff.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// Refused counts the connections closed because the cap was reached.
func (l *Listener) Refused() uint64 { return l.refused.Load() }

// Temporary reports whether an accept error passes: the process or the system is out of descriptors or
// buffers, a client gave up before its connection was accepted, or the error says it is temporary.
func Temporary(err error) bool {
	for _, e := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ECONNABORTED, syscall.ECONNRESET,
		syscall.ENOBUFS, syscall.ENOMEM, syscall.EINTR, syscall.EAGAIN} {
		if errors.Is(err, e) {
			return true
		}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	// net.Error's Temporary is deprecated as too vague in general, but for accept it is what net/http uses
	var te interface{ Temporary() bool }
	return errors.As(err, &te) && te.Temporary()
}

// conn gives its place back under the cap when it is closed, once, reads and writes with raw system
// calls (internal/rawio) and sends files in memory with sendfile (internal/sendfile).
type conn struct {
	net.Conn
	once    sync.Once
	release func()
	raw     *rawio.Conn // nil: read and write through Conn
	more    bool        // the next Write is sent with MSG_MORE
}

func newConn(c net.Conn, release func()) *conn {
	return &conn{Conn: c, release: release, raw: rawio.New(c)}
}

func (c *conn) Read(p []byte) (int, error) {
	if c.raw != nil {
		return c.raw.Read(p)
	}
	return c.Conn.Read(p)
}

func (c *conn) Write(p []byte) (int, error) {
	if c.raw != nil {
		if c.more {
			c.more = false
			return c.raw.WriteMore(p)
		}
		return c.raw.Write(p)
	}
	return c.Conn.Write(p)
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// MoreFollows has the next Write sent with MSG_MORE (rawio.Conn.WriteMore): internal/http1 calls it
// before the header of a file it sends with ReadFrom, so the two leave in one packet. Only the
// goroutine that writes calls it.
func (c *conn) MoreFollows() { c.more = c.raw != nil }

// ReadFrom keeps the connection's own ReadFrom (sendfile, splice) within reach of io.Copy, as net/http's
// response writer uses it for files.
func (c *conn) ReadFrom(r io.Reader) (int64, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		if n, handled, err := sendfile.ReadFrom(sc, r); handled {
			return n, err
		}
	}
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// NetConn returns the wrapped connection.
func (c *conn) NetConn() net.Conn { return c.Conn }

// sometimes runs a report at most once a second and tells it how many it skipped.
type sometimes struct {
	mu      sync.Mutex
	last    time.Time
	skipped int
}

func (s *sometimes) do(report func(skipped int)) {
	s.mu.Lock()
	if now := time.Now(); now.Sub(s.last) >= time.Second {
		s.last = now
		n := s.skipped
		s.skipped = 0
		s.mu.Unlock()
		report(n)
		return
	}
	s.skipped++
	s.mu.Unlock()
}
