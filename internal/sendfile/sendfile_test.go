package sendfile_test

import (
	"bytes"
	"crypto/rand"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/media/memfile"
	"github.com/nagare-video/nagare/internal/sendfile"
)

// pair returns both ends of a TCP connection on loopback.
func pair(t *testing.T) (server *net.TCPConn, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { client.Close() })
	c, err := ln.Accept()
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn), client
}

// TestSendsAMemoryFile sends part of a memory file larger than the socket's buffers to a reader that
// takes its time (so that the sender waits for room again and again): the bytes arrive as they are, from
// the handle's position, and the limited reader is left with what was not asked for.
func TestSendsAMemoryFile(t *testing.T) {
	if runtime.GOOS != "linux" || !memfile.Supported() {
		t.Skip("memory files and raw sendfile are Linux's")
	}
	data := make([]byte, 24<<20)
	_, _ = rand.Read(data)
	f, err := memfile.New("sendfile-test", data)
	require.NoError(t, err)
	defer f.Release()
	const off, size = 1000, 20 << 20
	h, err := f.Open(off)
	require.NoError(t, err)
	defer h.Close()

	server, client := pair(t)
	got := make(chan []byte, 1)
	go func() {
		var buf bytes.Buffer
		chunk := make([]byte, 64<<10)
		for buf.Len() < size {
			n, err := client.Read(chunk)
			buf.Write(chunk[:n])
			if err != nil {
				break
			}
			if buf.Len() < 4<<20 {
				time.Sleep(time.Millisecond) // slow at first: the sender's buffer fills
			}
		}
		got <- buf.Bytes()
	}()
	lr := &io.LimitedReader{R: h, N: size}
	n, handled, err := sendfile.ReadFrom(server, lr)
	require.NoError(t, err)
	require.True(t, handled)
	assert.EqualValues(t, size, n)
	assert.Zero(t, lr.N)
	pos, err := h.Seek(0, io.SeekCurrent)
	require.NoError(t, err)
	assert.EqualValues(t, off+size, pos, "the handle's offset moves on by what was sent")
	b := <-got
	require.Len(t, b, size)
	require.True(t, bytes.Equal(data[off:off+size], b), "the bytes sent differ from the file's")
}

// TestLeavesOtherReaders: a reader that is not a memory file, a disk file among them (whose pages may have
// to be read from the disk), is left to the caller, with nothing sent and nothing consumed.
func TestLeavesOtherReaders(t *testing.T) {
	server, _ := pair(t)
	path := filepath.Join(t.TempDir(), "f")
	require.NoError(t, os.WriteFile(path, []byte("on disk"), 0o600))
	disk, err := os.Open(path)
	require.NoError(t, err)
	defer disk.Close()
	for name, r := range map[string]io.Reader{
		"bytes":       bytes.NewReader([]byte("hello")),
		"a disk file": disk,
		"limited":     &io.LimitedReader{R: disk, N: 3},
	} {
		n, handled, err := sendfile.ReadFrom(server, r)
		assert.False(t, handled, name)
		assert.Zero(t, n, name)
		assert.NoError(t, err, name)
	}
}

// TestWriteDeadline: a peer that reads nothing leaves the sender waiting for room until the connection's
// write deadline, which ends the send with a timeout and the count of what went out.
func TestWriteDeadline(t *testing.T) {
	if runtime.GOOS != "linux" || !memfile.Supported() {
		t.Skip("memory files and raw sendfile are Linux's")
	}
	data := make([]byte, 32<<20)
	f, err := memfile.New("sendfile-deadline", data)
	require.NoError(t, err)
	defer f.Release()
	h, err := f.Open(0)
	require.NoError(t, err)
	defer h.Close()
	server, _ := pair(t)
	require.NoError(t, server.SetWriteDeadline(time.Now().Add(200*time.Millisecond)))
	lr := &io.LimitedReader{R: h, N: int64(len(data))}
	n, handled, err := sendfile.ReadFrom(server, lr)
	require.True(t, handled)
	require.Error(t, err)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout(), "%v", err)
	assert.Positive(t, n, "the socket's buffers took some")
	assert.Less(t, n, int64(len(data)))
	assert.Equal(t, int64(len(data))-n, lr.N)
}
