package ingest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"
	srt "github.com/datarhei/gosrt"
	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/media/mediametrics"
	"github.com/nagare-video/nagare/internal/media/pubauth"
	"github.com/nagare-video/nagare/internal/media/stream"
)

// inChild marks the process TestRTMPSurvivesRunningOutOfDescriptors re-runs itself in.
const inChild = "NAGARE_TEST_EMFILE_CHILD"

// TestRTMPSurvivesRunningOutOfDescriptors fills the descriptor table of a process running an RTMP server
// until accept fails with EMFILE, then frees it: the accept loop must keep running (it once returned the
// error, which stopped the whole node) and serve the connection that waited, and the next ones. The
// descriptor limit is lowered in a child process, so that this test process is not harmed.
func TestRTMPSurvivesRunningOutOfDescriptors(t *testing.T) {
	if os.Getenv(inChild) == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestRTMPSurvivesRunningOutOfDescriptors$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), inChild+"=1")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "child process:\n%s", out)
		require.Contains(t, string(out), "served again after running out of descriptors", "the child ran the test:\n%s", out)
		return
	}

	logs := &signalWriter{want: []byte(syscall.EMFILE.Error()), seen: make(chan struct{})}
	s := &RTMPServer{
		Address: "127.0.0.1:0", Registry: &stream.Registry{}, Auth: &pubauth.Authorizer{AllowUnauthenticated: true},
		Metrics: mediametrics.New(), Log: slog.New(slog.NewTextHandler(io.MultiWriter(logs, os.Stderr), nil)),
	}
	require.NoError(t, s.Listen())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- s.Run(ctx) }()

	// a limit a little above the highest descriptor in use, then the table filled up to it but for one
	entries, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	highest := 0
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > highest {
			highest = fd
		}
	}
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: uint64(highest) + 32, Max: hardLimit(t)}))
	var filler []*os.File
	defer func() {
		for _, f := range filler {
			f.Close()
		}
	}()
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			require.ErrorIs(t, err, syscall.EMFILE)
			break
		}
		filler = append(filler, f)
	}
	filler[len(filler)-1].Close()
	filler = filler[:len(filler)-1]

	// the client's socket takes the last descriptor: the server's accept has none left
	waiting, err := net.Dial("tcp", s.Addr().String())
	require.NoError(t, err)
	defer waiting.Close()
	select {
	case <-logs.seen:
	case err := <-stopped:
		t.Fatalf("the RTMP accept loop stopped on running out of descriptors: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("accept never failed with EMFILE: the test did not fill the descriptor table")
	}

	for _, f := range filler {
		f.Close()
	}
	filler = nil
	publish(t, s, "live/waited", func(context.Context, string, string) (net.Conn, error) { return waiting, nil })
	publish(t, s, "live/next", nil)
	t.Log("served again after running out of descriptors")

	cancel()
	require.NoError(t, <-stopped)
}

func hardLimit(t *testing.T) uint64 {
	var lim syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim))
	return lim.Max
}

// publish connects to s as an RTMP publisher of path, over dial if not nil, up to the server's go-ahead.
func publish(t *testing.T, s *RTMPServer, path string, dial func(context.Context, string, string) (net.Conn, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := &gortmplib.Client{URL: &url.URL{Scheme: "rtmp", Host: s.Addr().String(), Path: "/" + path}, Publish: true,
		DialContext: dial}
	require.NoError(t, c.Initialize(ctx), "publishing %s", path)
	c.Close()
}

// signalWriter closes seen the first time want is written to it.
type signalWriter struct {
	want []byte
	seen chan struct{}
	once sync.Once
}

func (w *signalWriter) Write(p []byte) (int, error) {
	if bytes.Contains(p, w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

// brokenSRTListener is a gosrt listener whose socket has failed: gosrt then returns the same error from
// every Accept2.
type brokenSRTListener struct {
	srt.Listener
	calls atomic.Int64
}

var errSocketFailed = errors.New("read udp 127.0.0.1:8890: socket failed")

func (l *brokenSRTListener) Accept2() (srt.ConnRequest, error) {
	l.calls.Add(1)
	return nil, errSocketFailed
}

func (l *brokenSRTListener) Close() {}

// TestSRTAcceptStopsOnAFailedSocket checks that the SRT accept loop reports a listener that has failed
// rather than calling it again and again (it once spun, logging, at full speed).
func TestSRTAcceptStopsOnAFailedSocket(t *testing.T) {
	ln := &brokenSRTListener{}
	s := &SRTServer{ln: ln, Log: slog.New(slog.DiscardHandler)}
	stopped := make(chan error, 1)
	go func() { stopped <- s.Run(context.Background()) }()
	select {
	case err := <-stopped:
		require.ErrorIs(t, err, errSocketFailed)
		require.EqualValues(t, 1, ln.calls.Load())
	case <-time.After(5 * time.Second):
		t.Fatalf("the SRT accept loop is still running after %d failed calls", ln.calls.Load())
	}
}
