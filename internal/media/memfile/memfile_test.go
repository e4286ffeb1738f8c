package memfile

import (
	"bytes"
	"io"
	"net"
	"os"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestFile(t *testing.T) {
	if !Supported() {
		t.Skip("no memfd on this system")
	}
	data := bytes.Repeat([]byte("nagare "), 40000)
	f, err := New("test", data)
	require.NoError(t, err)
	require.Equal(t, len(data), f.Size())

	t.Run("readers have offsets of their own", func(t *testing.T) {
		a, err := f.Open(0)
		require.NoError(t, err)
		defer a.Close()
		b, err := f.Open(0)
		require.NoError(t, err)
		defer b.Close()
		head := make([]byte, 100)
		_, err = io.ReadFull(a, head)
		require.NoError(t, err)
		all, err := io.ReadAll(b)
		require.NoError(t, err)
		require.Equal(t, data, all)
		rest, err := io.ReadAll(a)
		require.NoError(t, err)
		require.Equal(t, data[100:], rest)
	})

	t.Run("sealed", func(t *testing.T) {
		_, err := unix.Pwrite(f.fd, []byte("x"), 0)
		require.Error(t, err)
	})

	t.Run("read at an offset", func(t *testing.T) {
		r, err := f.Open(0)
		require.NoError(t, err)
		defer r.Close()
		p := make([]byte, 10)
		n, err := r.ReadAt(p, 7)
		require.NoError(t, err)
		require.Equal(t, data[7:17], p[:n])
		n, err = r.ReadAt(p, int64(len(data)-4))
		require.ErrorIs(t, err, io.EOF)
		require.Equal(t, data[len(data)-4:], p[:n])
	})

	t.Run("sent to a socket", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer ln.Close()
		var got []byte
		var wg sync.WaitGroup
		wg.Go(func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			got, _ = io.ReadAll(c)
			c.Close()
		})
		c, err := net.Dial("tcp", ln.Addr().String())
		require.NoError(t, err)
		r, err := f.Open(1000)
		require.NoError(t, err)
		n, err := io.Copy(c, &io.LimitedReader{R: r, N: 5000}) // sendfile
		require.NoError(t, err)
		require.EqualValues(t, 5000, n)
		r.Close()
		c.Close()
		wg.Wait()
		require.Equal(t, data[1000:6000], got)
	})

	t.Run("readers share the descriptor, each at its own offset", func(t *testing.T) {
		a, err := f.Open(7)
		require.NoError(t, err)
		defer a.Close()
		b, err := f.Open(0)
		require.NoError(t, err)
		defer b.Close()
		afd, aoff := a.SendfileSource()
		bfd, boff := b.SendfileSource()
		require.Equal(t, afd, bfd, "no descriptor of its own per reader")
		require.EqualValues(t, 7, *aoff)
		require.Zero(t, *boff)
		head := make([]byte, 3)
		_, err = io.ReadFull(a, head)
		require.NoError(t, err)
		require.Equal(t, data[7:10], head)
		pos, err := b.Seek(-5, io.SeekEnd)
		require.NoError(t, err)
		require.EqualValues(t, len(data)-5, pos)
		tail, err := io.ReadAll(b)
		require.NoError(t, err)
		require.Equal(t, data[len(data)-5:], tail)
		pos, err = a.Seek(2, io.SeekCurrent)
		require.NoError(t, err)
		require.EqualValues(t, 12, pos)
		_, err = a.Seek(-1, io.SeekStart)
		require.Error(t, err)
		require.NoError(t, b.Close())
		require.ErrorIs(t, b.Close(), os.ErrClosed)
		_, err = b.Read(head)
		require.ErrorIs(t, err, os.ErrClosed)
	})

	t.Run("released", func(t *testing.T) {
		open, err := f.Open(0) // a reader that opened before the release keeps its bytes
		require.NoError(t, err)
		f.Release()
		f.Release() // idempotent: the owner's one reference is given up once
		_, err = f.Open(0)
		require.ErrorIs(t, err, ErrReleased)
		all, err := io.ReadAll(open)
		require.NoError(t, err)
		require.Equal(t, data, all)
		_, err = unix.FcntlInt(uintptr(f.fd), unix.F_GETFD, 0)
		require.NoError(t, err, "open while a reader holds it")
		require.NoError(t, open.Close())
		_, err = unix.FcntlInt(uintptr(f.fd), unix.F_GETFD, 0)
		require.ErrorIs(t, err, unix.EBADF, "closed with its last reader")
	})
}

func TestAppend(t *testing.T) {
	if !Supported() {
		t.Skip("no memfd on this system")
	}
	f, err := Create("growing")
	require.NoError(t, err)
	defer f.Release()
	first := bytes.Repeat([]byte("a"), 70000)
	second := bytes.Repeat([]byte("b"), 30000)

	off, err := f.Append(first)
	require.NoError(t, err)
	require.Zero(t, off)
	// a reader that opened the first range before the second was appended reads exactly that range
	early, err := f.Open(0)
	require.NoError(t, err)
	defer early.Close()

	off, err = f.Append(second)
	require.NoError(t, err)
	require.EqualValues(t, len(first), off)
	require.Equal(t, len(first)+len(second), f.Size())

	got, err := io.ReadAll(&io.LimitedReader{R: early, N: int64(len(first))})
	require.NoError(t, err)
	require.Equal(t, first, got)
	late, err := f.Open(off)
	require.NoError(t, err)
	defer late.Close()
	got, err = io.ReadAll(late)
	require.NoError(t, err)
	require.Equal(t, second, got)

	all := make([]byte, len(first)+len(second))
	n, err := f.ReadAt(all, 0)
	require.NoError(t, err)
	require.Equal(t, len(all), n)
	require.Equal(t, append(first, second...), all)
	_, err = f.ReadAt(make([]byte, 10), int64(len(all)-5))
	require.ErrorIs(t, err, io.EOF)

	require.NoError(t, f.Seal())
	_, err = f.Append([]byte("c"))
	require.Error(t, err, "a sealed file takes no more bytes")
	require.Equal(t, len(first)+len(second), f.Size())
}
