package rawio

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// pair returns both ends of a TCP connection on 127.0.0.1.
func pair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	server = <-accepted
	require.NotNil(t, server)
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func TestConn(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("raw calls are made on Linux only")
	}
	t.Run("bytes as sent, then EOF", func(t *testing.T) {
		client, server := pair(t)
		r := New(server)
		require.NotNil(t, r)
		want := bytes.Repeat([]byte("nagare raw read "), 64<<10) // 1 MiB, more than a socket buffer
		go func() {
			for b := want; len(b) > 0; b = b[min(len(b), 7000):] {
				client.Write(b[:min(len(b), 7000)])
			}
			client.Close()
		}()
		got, err := io.ReadAll(r) // ReadAll stops at io.EOF
		require.NoError(t, err)
		require.Equal(t, want, got)
		n, err := r.Read(nil)
		require.Zero(t, n)
		require.NoError(t, err, "an empty read reads nothing")
	})
	t.Run("a deadline passes", func(t *testing.T) {
		_, server := pair(t)
		r := New(server)
		require.NoError(t, server.SetReadDeadline(time.Now().Add(50*time.Millisecond)))
		_, err := r.Read(make([]byte, 10))
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
		var ne net.Error
		require.True(t, errors.As(err, &ne) && ne.Timeout())
	})
	t.Run("closed while waiting", func(t *testing.T) {
		_, server := pair(t)
		r := New(server)
		go func() {
			time.Sleep(50 * time.Millisecond)
			server.Close()
		}()
		_, err := r.Read(make([]byte, 10))
		require.ErrorIs(t, err, net.ErrClosed)
	})
	t.Run("reset by the peer", func(t *testing.T) {
		client, server := pair(t)
		r := New(server)
		client.(*net.TCPConn).SetLinger(0) // close with a RST
		client.Write([]byte("x"))
		client.Close()
		time.Sleep(20 * time.Millisecond)
		var err error
		for err == nil {
			_, err = r.Read(make([]byte, 10))
		}
		var oe *net.OpError
		require.ErrorAs(t, err, &oe)
		require.Equal(t, "read", oe.Op)
	})
	t.Run("writes all of a large buffer to a slow reader", func(t *testing.T) {
		client, server := pair(t)
		w := New(server)
		want := bytes.Repeat([]byte("written raw "), 400<<10) // 4.8 MB: many times the socket buffer
		got := make(chan []byte, 1)
		go func() {
			var all []byte
			buf := make([]byte, 3000)
			for {
				n, err := client.Read(buf)
				all = append(all, buf[:n]...)
				if err != nil {
					got <- all
					return
				}
				if len(all)%(512<<10) < 3000 {
					time.Sleep(5 * time.Millisecond) // the writer waits in the poller meanwhile
				}
			}
		}()
		n, err := w.Write(want)
		require.NoError(t, err)
		require.Equal(t, len(want), n)
		n, err = w.Write(nil)
		require.NoError(t, err)
		require.Zero(t, n)
		server.Close()
		require.Equal(t, want, <-got)
	})
	t.Run("a write deadline passes", func(t *testing.T) {
		_, server := pair(t)
		w := New(server)
		require.NoError(t, server.SetWriteDeadline(time.Now().Add(100*time.Millisecond)))
		n, err := w.Write(make([]byte, 64<<20)) // nobody reads
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
		require.Less(t, n, 64<<20)
	})
	t.Run("writes to a peer that is gone fail", func(t *testing.T) {
		client, server := pair(t)
		w := New(server)
		client.(*net.TCPConn).SetLinger(0)
		client.Close()
		time.Sleep(20 * time.Millisecond)
		var err error
		for i := 0; err == nil && i < 100; i++ {
			_, err = w.Write([]byte("hello"))
		}
		var oe *net.OpError
		require.ErrorAs(t, err, &oe)
		require.Equal(t, "write", oe.Op)
	})
	t.Run("connections it cannot use raw", func(t *testing.T) {
		a, b := net.Pipe()
		defer a.Close()
		defer b.Close()
		require.Nil(t, New(a))
	})
}

func TestFile(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("raw calls are made on Linux only")
	}
	pipe := func(t *testing.T) (r, w *os.File) {
		t.Helper()
		r, w, err := os.Pipe()
		require.NoError(t, err)
		t.Cleanup(func() { r.Close(); w.Close() })
		return r, w
	}
	t.Run("a slow reader gets every byte, then EOF", func(t *testing.T) {
		r, w := pipe(t)
		rr, ww := NewFile(r), NewFile(w)
		require.NotNil(t, rr)
		require.NotNil(t, ww)
		want := bytes.Repeat([]byte("through a pipe "), 70<<10) // 1 MB: the writer waits for room
		go func() {
			n, err := ww.Write(want)
			if err != nil || n != len(want) {
				panic(err)
			}
			w.Close()
		}()
		var got []byte
		buf := make([]byte, 5000)
		for {
			n, err := rr.Read(buf)
			got = append(got, buf[:n]...)
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
			if len(got)%(256<<10) < 5000 {
				time.Sleep(5 * time.Millisecond) // the writer waits in the poller meanwhile
			}
		}
		require.Equal(t, want, got)
	})
	t.Run("a write to a pipe nobody reads fails as os.File's would", func(t *testing.T) {
		r, w := pipe(t)
		r.Close()
		_, err := NewFile(w).Write([]byte("lost"))
		var pe *os.PathError
		require.ErrorAs(t, err, &pe)
		require.Equal(t, "write", pe.Op)
		require.ErrorIs(t, err, syscall.EPIPE)
	})
	t.Run("a deadline passes", func(t *testing.T) {
		r, _ := pipe(t)
		require.NoError(t, r.SetReadDeadline(time.Now().Add(50*time.Millisecond)))
		_, err := NewFile(r).Read(make([]byte, 10))
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	})
	t.Run("a blocking descriptor is not used raw", func(t *testing.T) {
		var fds [2]int
		require.NoError(t, syscall.Pipe(fds[:])) // blocking: a raw read would hold its thread
		r, w := os.NewFile(uintptr(fds[0]), "r"), os.NewFile(uintptr(fds[1]), "w")
		defer r.Close()
		defer w.Close()
		require.Nil(t, NewFile(r))
	})
}
