// Package http1 serves the requests players make — HTTP/1.1, no request body — with a fraction of
// net/http's work per request, and hands every other connection, unread, to a net/http server.
//
// A media node answers tens of thousands of playlist and part requests a second, each a few hundred bytes
// to a few kB. net/http spends more on each than the handler does: a goroutine and a pending read per
// request to notice a client that goes away, a cancellable context, five read-deadline changes, a header
// map filled line by line, a Date formatted. Here a connection's requests are read from one buffer without
// copying the header block more than once, the read deadline moves once a second at most, and the
// response is written into one buffer flushed when no further request is waiting (pipelining).
//
// What this server does not take is left to Fallback, the same handler behind net/http, from that request
// on, with the bytes already read handed over: a request with a body (Content-Length other than 0,
// Transfer-Encoding), an upgrade, Expect, an event stream (Accept: text/event-stream), HTTP/1.0 or
// HTTP/2, an absolute or authority target, a header block larger than the read buffer, or anything
// net/http would answer with an error (malformed lines, invalid names or values, a missing or repeated
// Host). Behaviour on such requests is net/http's exactly.
//
// Not as net/http: a client that goes away while its request waits (a blocking playlist reload) is
// noticed when the answer is written, not at once (its request's context is cancelled only when the
// handler returns). Handlers bound their waits (a few part or target durations), so such a wait ends by
// itself; answers that never end (event streams) go to net/http.
package http1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nagare-video/nagare/internal/netguard"
)

// readBufferSize is a connection's read buffer: a request's whole header block must fit in it to be
// served here (a player's is a few hundred bytes; a larger one goes to net/http, which allows 1 MB).
const readBufferSize = 4 << 10

// writeBufferSize is the write buffer a connection holds while it answers (given back while it waits
// for a request): a playlist and its header go out in one write.
const writeBufferSize = 8 << 10

// Server serves HTTP/1.1 requests without a body on the connections of a listener.
type Server struct {
	// Handler answers requests, those this server reads and, usually, Fallback's.
	Handler http.Handler
	// Fallback serves each connection this server does not take (see the package comment), from the
	// request it did not take on. Required; Serve runs its Serve, Shutdown and Close its own.
	Fallback *http.Server
	// ReadHeaderTimeout bounds the arrival of a request's header once its first byte is in (default 10 s).
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes a connection that sends no request for so long (default 2 min).
	IdleTimeout time.Duration
	// ConnState and ConnContext are as net/http.Server's, called with the connection accepted.
	ConnState   func(net.Conn, http.ConnState)
	ConnContext func(context.Context, net.Conn) context.Context
	// Log receives handler panics and accept errors (default slog.Default()).
	Log *slog.Logger

	mu       sync.Mutex
	ln       net.Listener
	conns    map[*conn]struct{}
	handoff  *handoffListener
	shutting atomic.Bool
	started  sync.Once
	onStop   []func()
}

// RegisterOnShutdown registers f to be called, in a goroutine of its own, when Shutdown starts, once the
// listener is closed and answers carry Connection: close (as net/http.Server's; its own hooks are not
// called).
func (s *Server) RegisterOnShutdown(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onStop = append(s.onStop, f)
}

// ErrNoFallback is Serve's error when the Server has no Fallback.
var ErrNoFallback = errors.New("http1: Server.Fallback is required")

// Serve accepts connections on ln and serves them until Shutdown or Close (http.ErrServerClosed) or an
// accept error that does not pass.
func (s *Server) Serve(ln net.Listener) error {
	if s.Fallback == nil {
		return ErrNoFallback
	}
	s.init(ln.Addr())
	s.mu.Lock()
	if s.shutting.Load() {
		s.mu.Unlock()
		ln.Close()
		return http.ErrServerClosed
	}
	s.ln = ln
	s.mu.Unlock()

	go func() {
		// it returns when Shutdown or Close closes it, or has closed it already
		if err := s.Fallback.Serve(s.handoff); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			s.log().Error("http fallback server stopped", "cause", err)
		}
	}()

	var delay time.Duration
	for {
		rw, err := ln.Accept()
		if err != nil {
			if s.shutting.Load() {
				return http.ErrServerClosed
			}
			if !netguard.Temporary(err) {
				return err
			}
			// out of descriptors, a client gone before its accept: back off as net/http does
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log().Warn("http accept failed; retrying", "cause", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		c := s.newConn(rw)
		if c == nil {
			rw.Close() // shutting down
			continue
		}
		go c.serve()
	}
}

func (s *Server) init(addr net.Addr) {
	s.started.Do(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.conns = map[*conn]struct{}{}
		s.handoff = newHandoffListener(addr)
	})
}

func (s *Server) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

func (s *Server) readHeaderTimeout() time.Duration {
	if s.ReadHeaderTimeout > 0 {
		return s.ReadHeaderTimeout
	}
	return 10 * time.Second
}

func (s *Server) idleTimeout() time.Duration {
	if s.IdleTimeout > 0 {
		return s.IdleTimeout
	}
	return 2 * time.Minute
}

func (s *Server) setState(c *conn, st http.ConnState) {
	c.state.Store(int64(st) | time.Now().Unix()<<8)
	if s.ConnState != nil {
		s.ConnState(c.rwc, st)
	}
}

// Shutdown stops accepting, closes idle connections and waits for the others to finish the request
// they serve (Fallback's too), until ctx ends: then it returns ctx's error and leaves them open.
func (s *Server) Shutdown(ctx context.Context) error {
	s.init(nil)
	s.shutting.Store(true)
	s.closeListener()
	s.mu.Lock()
	for _, f := range s.onStop {
		go f()
	}
	s.mu.Unlock()
	fallback := make(chan error, 1)
	go func() { fallback <- s.Fallback.Shutdown(ctx) }()
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for !s.closeIdle() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return <-fallback
}

// Close closes the listener and every connection, Fallback's included, at once.
func (s *Server) Close() error {
	s.init(nil)
	s.shutting.Store(true)
	err := s.closeListener()
	s.mu.Lock()
	for c := range s.conns {
		c.rwc.Close()
	}
	s.mu.Unlock()
	return errors.Join(err, s.Fallback.Close())
}

func (s *Server) closeListener() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handoff.Close()
	if s.ln == nil {
		return nil
	}
	err := s.ln.Close()
	s.ln = nil
	return err
}

// closeIdle closes the connections waiting for a request (new ones after 5 s, as net/http) and reports
// whether none is left.
func (s *Server) closeIdle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now().Unix()
	for c := range s.conns {
		v := c.state.Load()
		st, since := http.ConnState(v&0xff), v>>8
		if st == http.StateIdle || (st == http.StateNew && now-since >= 5) {
			c.rwc.Close()
		}
	}
	return len(s.conns) == 0
}

func (s *Server) newConn(rw net.Conn) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutting.Load() {
		return nil
	}
	c := &conn{s: s, rwc: rw}
	s.conns[c] = struct{}{}
	s.setState(c, http.StateNew)
	return c
}

func (s *Server) forget(c *conn, st http.ConnState) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.setState(c, st)
}

// conn is one accepted connection.
type conn struct {
	s     *Server
	rwc   net.Conn
	state atomic.Int64 // http.ConnState in the low byte, the Unix second it was entered above
	br    *bufio.Reader
	bw    *bufio.Writer
	ctx   context.Context
	// readDeadline is the read deadline set last: moved only when it is a second stale
	readDeadline time.Time
	resp         response // reused for each request
}

var (
	readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readBufferSize) }}
	writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, writeBufferSize) }}
)

func (c *conn) serve() {
	c.br = readers.Get().(*bufio.Reader)
	c.br.Reset(c.rwc)
	handedOff := false
	defer func() {
		if handedOff {
			return // the fallback owns the connection and the reader now
		}
		c.releaseWriter()
		c.rwc.Close()
		c.br.Reset(nil)
		readers.Put(c.br)
		c.s.forget(c, http.StateClosed)
	}()

	ctx := context.WithValue(context.Background(), http.ServerContextKey, c.s.Fallback)
	ctx = context.WithValue(ctx, http.LocalAddrContextKey, c.rwc.LocalAddr())
	if c.s.ConnContext != nil {
		ctx = c.s.ConnContext(ctx, c.rwc)
	}
	c.ctx = ctx
	remote := c.rwc.RemoteAddr().String()

	for {
		if c.s.shutting.Load() && c.br.Buffered() == 0 {
			_ = c.flush()
			return
		}
		ctx, cancel := context.WithCancel(c.ctx) // c.ctx cannot be cancelled: nothing to register with
		req, err := c.readRequest(ctx, remote)
		if err != nil {
			cancel()
			_ = c.flush() // answers to pipelined requests already served
			return
		}
		if req == nil {
			cancel()
			c.handOff()
			handedOff = true
			return
		}
		c.s.setState(c, http.StateActive)
		if c.bw == nil {
			c.bw = writers.Get().(*bufio.Writer)
			c.bw.Reset(c.rwc)
		}
		w := c.newResponse(req)
		ok := c.run(w, req)
		cancel()
		if !ok {
			return
		}
		if w.closeAfter || c.s.shutting.Load() {
			_ = c.flush()
			return
		}
		if c.br.Buffered() == 0 {
			// nothing pipelined: send, and give the write buffer back while the connection waits
			if err := c.flush(); err != nil {
				return
			}
			c.releaseWriter()
		}
		c.s.setState(c, http.StateIdle)
	}
}

func (c *conn) flush() error {
	if c.bw == nil {
		return nil
	}
	return c.bw.Flush()
}

func (c *conn) releaseWriter() {
	if c.bw != nil {
		c.bw.Reset(nil)
		writers.Put(c.bw)
		c.bw = nil
	}
}

// run serves one request and finishes its answer; false when the connection must close at once (the
// handler panicked or aborted).
func (c *conn) run(w *response, req *http.Request) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			if p != http.ErrAbortHandler {
				c.s.log().Error("http handler panicked", "method", req.Method, "path", req.URL.Path,
					"remote", req.RemoteAddr, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			}
			ok = false
		}
	}()
	c.s.Handler.ServeHTTP(w, req)
	w.finish()
	return true
}

// handOff gives the connection, with what was read of it, to the fallback server (or closes it when
// that cannot be).
func (c *conn) handOff() {
	if err := c.flush(); err != nil {
		c.releaseWriter()
		c.rwc.Close()
		c.s.forget(c, http.StateClosed)
		return
	}
	c.releaseWriter()
	_ = c.rwc.SetReadDeadline(time.Time{}) // net/http sets its own
	c.s.forget(c, http.StateHijacked)      // before the fallback reports it as new
	c.s.handoff.give(&bufferedConn{Conn: c.rwc, r: c.br})
}

// setReadDeadline sets the connection's read deadline to about t: to t when the one set is more than a
// second off, which under load is once a second rather than per request.
func (c *conn) setReadDeadline(t time.Time) error {
	if d := c.readDeadline.Sub(t); d > -time.Second && d <= 0 {
		return nil
	}
	c.readDeadline = t
	return c.rwc.SetReadDeadline(t)
}
