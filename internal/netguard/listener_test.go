package netguard

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/nagare-video/nagare/internal/media/memfile"
)

// fakeListener fails its first fails calls to Accept with err, then hands out one end of a pipe; once
// closed it returns net.ErrClosed.
type fakeListener struct {
	mu     sync.Mutex
	err    error
	fails  int // < 0: fail forever
	calls  int
	called chan struct{}
	closed bool
}

func (f *fakeListener) Accept() (net.Conn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.called != nil {
		select {
		case f.called <- struct{}{}:
		default:
		}
	}
	switch {
	case f.closed:
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: net.ErrClosed}
	case f.fails < 0 || f.calls <= f.fails:
		return nil, f.err
	}
	c, _ := net.Pipe()
	return c, nil
}

func (f *fakeListener) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

func (f *fakeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1935} }

// acceptErr is what a TCP listener's Accept returns for errno.
func acceptErr(errno syscall.Errno) error {
	return &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", errno)}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestAcceptRetriesTemporaryErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"out of descriptors in the process", acceptErr(syscall.EMFILE)},
		{"out of descriptors in the system", acceptErr(syscall.ENFILE)},
		{"connection aborted before accept", acceptErr(syscall.ECONNABORTED)},
		{"out of buffers", acceptErr(syscall.ENOBUFS)},
		{"timeout", &net.OpError{Op: "accept", Net: "tcp", Err: timeoutErr{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			f := &fakeListener{err: tc.err, fails: 4}
			l := New(f, 0, slog.New(slog.NewTextHandler(&logs, nil)))
			start := time.Now()
			c, err := l.Accept()
			require.NoError(t, err)
			require.NotNil(t, c)
			c.Close()
			require.Equal(t, 5, f.calls, "retried until the error passed")
			require.GreaterOrEqual(t, time.Since(start), (5+10+20+40)*time.Millisecond, "backed off 5 ms doubling")
			require.Contains(t, logs.String(), "accept failed, retrying")
			require.Contains(t, logs.String(), tc.err.Error(), "the cause is logged")
			require.Equal(t, 1, bytes.Count(logs.Bytes(), []byte("accept failed")), "one report a second, not one per failure")
		})
	}
}

func TestAcceptReturnsOtherErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"closed", &net.OpError{Op: "accept", Net: "tcp", Err: net.ErrClosed}},
		{"invalid", acceptErr(syscall.EINVAL)},
		{"anything else", errors.New("boom")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeListener{err: tc.err, fails: -1}
			_, err := New(f, 0, nil).Accept()
			require.ErrorIs(t, err, tc.err)
			require.Equal(t, 1, f.calls)
		})
	}
}

func TestCloseEndsTheBackoff(t *testing.T) {
	f := &fakeListener{err: acceptErr(syscall.EMFILE), fails: -1, called: make(chan struct{}, 1)}
	l := New(f, 0, nil)
	done := make(chan error, 1)
	go func() {
		_, err := l.Accept()
		done <- err
	}()
	for { // 5+10+…+320 ms of backoff behind, 640 ms ahead
		<-f.called
		f.mu.Lock()
		n := f.calls
		f.mu.Unlock()
		if n >= 8 {
			break
		}
	}
	start := time.Now()
	require.NoError(t, l.Close())
	select {
	case err := <-done:
		require.ErrorIs(t, err, net.ErrClosed)
		require.Less(t, time.Since(start), 300*time.Millisecond, "Close does not wait out the backoff")
	case <-time.After(5 * time.Second):
		t.Fatal("Accept still retrying after Close")
	}
}

func TestConnectionCap(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	l := New(ln, 2, nil)
	defer l.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", l.Addr().String())
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		return c
	}
	next := func() net.Conn {
		select {
		case c := <-accepted:
			return c
		case <-time.After(5 * time.Second):
			t.Fatal("connection not accepted")
			return nil
		}
	}
	connect := func() net.Conn { // the server's side of a new connection
		dial()
		return next()
	}
	first := connect()
	connect()

	over := dial()
	_ = over.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = over.Read(make([]byte, 1))
	require.Error(t, err)
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "the third connection is closed at once, not left waiting: %v", err)
	require.True(t, errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET), "%v", err)
	require.EqualValues(t, 1, l.Refused())
	select {
	case c := <-accepted:
		t.Fatalf("a connection beyond the cap was handed out: %v", c.RemoteAddr())
	default:
	}

	first.Close() // gives its place back, once however often it is closed
	first.Close()
	require.NotNil(t, connect(), "a place freed is taken again")
	over = dial()
	_ = over.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = over.Read(make([]byte, 1))
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "still capped at two: %v", err)
	require.EqualValues(t, 2, l.Refused())
}

// TestConnKeepsReadFrom checks that a capped connection still offers the TCP connection's ReadFrom
// (sendfile), which net/http uses to serve files.
func TestConnKeepsReadFrom(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	l := New(ln, 1, nil)
	defer l.Close()
	client, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	defer client.Close()
	c, err := l.Accept()
	require.NoError(t, err)
	defer c.Close()
	rf, ok := c.(io.ReaderFrom)
	require.True(t, ok)
	n, err := rf.ReadFrom(bytes.NewReader([]byte("hello")))
	require.NoError(t, err)
	require.EqualValues(t, 5, n)
	got := make([]byte, 5)
	_, err = io.ReadFull(client, got)
	require.NoError(t, err)
	require.Equal(t, "hello", string(got))
}

// TestHeaderLeavesWithTheFile: a Write after MoreFollows waits for the file sent after it (sendfile from a
// memory file), so the two leave in one TCP segment, as the HTTP header and the first bytes of a segment
// do; without it the header would leave alone (Go's sockets do not wait: TCP_NODELAY).
func TestHeaderLeavesWithTheFile(t *testing.T) {
	if runtime.GOOS != "linux" || !memfile.Supported() {
		t.Skip("MSG_MORE, memory files and TCP_INFO are Linux's")
	}
	body := bytes.Repeat([]byte("b"), 1000)
	f, err := memfile.New("more-test", body)
	require.NoError(t, err)
	defer f.Release()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	l := New(ln, 4, nil)
	defer l.Close()

	for _, more := range []bool{false, true} {
		client, err := net.Dial("tcp", l.Addr().String())
		require.NoError(t, err)
		c, err := l.Accept()
		require.NoError(t, err)
		segsOut := func() uint32 {
			var out uint32
			rc, err := c.(*conn).Conn.(*net.TCPConn).SyscallConn()
			require.NoError(t, err)
			require.NoError(t, rc.Control(func(fd uintptr) {
				info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
				require.NoError(t, err)
				out = info.Data_segs_out
			}))
			return out
		}
		before := segsOut()
		if more {
			c.(*conn).MoreFollows()
		}
		_, err = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"))
		require.NoError(t, err)
		h, err := f.Open(0)
		require.NoError(t, err)
		n, err := c.(io.ReaderFrom).ReadFrom(&io.LimitedReader{R: h, N: int64(len(body))})
		require.NoError(t, err)
		require.EqualValues(t, len(body), n)
		h.Close()
		got := make([]byte, 41+len(body))
		_, err = io.ReadFull(client, got)
		require.NoError(t, err)
		require.Equal(t, body, got[41:])
		want := uint32(2)
		if more {
			want = 1
		}
		require.Equal(t, want, segsOut()-before, "data segments sent, MSG_MORE %v", more)
		c.Close()
		client.Close()
	}
}
