// Package testutil is the real-component test rig: it starts nodes on 127.0.0.1:0 ports, publishes a
// pre-encoded clip with a real ffmpeg, and reads the result back with real HLS clients.
package testutil

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/app/node"
	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/testutil/fftest"
)

// Clip parameters: small enough for cheap runs under -race on two cores.
const (
	ClipWidth  = 320
	ClipHeight = 240
	ClipFPS    = 25
	ClipGOP    = 25 // 1 s
)

// RequireFFmpeg skips in -short mode and fails when ffmpeg or ffprobe is missing (scripts/deps.sh
// installs them; a silent skip would hide a broken CI).
func RequireFFmpeg(t testing.TB) { fftest.Require(t) }

var clipMu sync.Mutex

// Clip returns a cached 10 s H.264 + AAC clip in the given container ("flv" or "ts"), encoded once
// per machine so that tests publish it with -c copy.
func Clip(t testing.TB, container string) string {
	t.Helper()
	RequireFFmpeg(t)
	clipMu.Lock()
	defer clipMu.Unlock()
	dir := filepath.Join(os.TempDir(), "nagare-test-clips")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	path := filepath.Join(dir, fmt.Sprintf("clip-v1-%dx%d.%s", ClipWidth, ClipHeight, container))
	if _, err := os.Stat(path); err == nil {
		return path
	}
	tmp := path + fmt.Sprintf(".%d.tmp", os.Getpid())
	format := container
	if container == "ts" {
		format = "mpegts"
	}
	out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=%d", ClipWidth, ClipHeight, ClipFPS),
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
		"-t", "10", "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "main", "-pix_fmt", "yuv420p",
		"-g", fmt.Sprint(ClipGOP), "-keyint_min", fmt.Sprint(ClipGOP), "-sc_threshold", "0", "-bf", "0",
		"-b:v", "300k", "-c:a", "aac", "-b:a", "64k", "-ac", "2", "-f", format, tmp).CombinedOutput()
	require.NoError(t, err, "encoding test clip: %s", out)
	require.NoError(t, os.Rename(tmp, path))
	return path
}

// StartNode runs an origin node on loopback ports with a token secret and the given changes to its
// configuration. It stops when the test ends. Logs go to the returned buffer and, with -v, to the test log.
func StartNode(t testing.TB, mutate func(*config.Config)) (*node.Node, *LogBuffer) {
	t.Helper()
	n, logs, _ := StartStoppableNode(t, mutate)
	return n, logs
}

// StartStoppableNode is StartNode with a function that stops the node before the test ends (as a
// crash or a restart would); calling it more than once is fine.
func StartStoppableNode(t testing.TB, mutate func(*config.Config)) (*node.Node, *LogBuffer, func()) {
	t.Helper()
	cfg := config.Default()
	cfg.RTMP.Address = "127.0.0.1:0"
	cfg.SRT.Address = "127.0.0.1:0"
	cfg.HTTP.Address = "127.0.0.1:0"
	cfg.WebRTC.Address = "127.0.0.1:0"
	cfg.Publish.TokenSecret = TokenSecret
	cfg.Node.ShutdownTimeout = 5 * time.Second
	if mutate != nil {
		mutate(&cfg)
	}
	logs := &LogBuffer{t: t}
	n, err := node.New(cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(15 * time.Second):
				t.Error("node did not stop within 15 s")
			}
		})
	}
	t.Cleanup(stop)
	return n, logs, stop
}

// EdgeOf configures an edge (or relay) node that pulls from parent's HTTP address.
func EdgeOf(role string, parent *node.Node) func(*config.Config) {
	return func(c *config.Config) {
		c.Node.Role = role
		c.Node.Parent = "http://" + parent.HTTPAddr()
	}
}

// TokenSecret is the publish token secret of nodes started by StartNode.
const TokenSecret = "test-token-secret-0123456789"

// LogBuffer collects a node's log lines.
type LogBuffer struct {
	t  testing.TB
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.t != nil && testing.Verbose() {
		l.t.Logf("node: %s", strings.TrimRight(string(p), "\n"))
	}
	return l.b.Write(p)
}

// String returns everything logged so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// WaitFor waits until the log contains s.
func (l *LogBuffer) WaitFor(t testing.TB, s string, timeout time.Duration) {
	t.Helper()
	require.Eventually(t, func() bool { return strings.Contains(l.String(), s) }, timeout, 20*time.Millisecond,
		"log never contained %q; log:\n%s", s, l.String())
}

// Publisher is a running ffmpeg publisher.
type Publisher struct {
	cmd  *exec.Cmd
	out  *LogBuffer
	done chan struct{}
}

// Publish starts ffmpeg sending the clip in real time, looped, to url ("flv" for RTMP, "mpegts" for SRT).
// extra arguments go before the output (e.g. codec overrides); with none, the clip is sent with -c copy.
func Publish(t testing.TB, url, format string, extra ...string) *Publisher {
	t.Helper()
	container := "flv"
	if format == "mpegts" {
		container = "ts"
	}
	clip := Clip(t, container)
	args := []string{"-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", clip}
	if len(extra) == 0 {
		extra = []string{"-c", "copy"}
	}
	args = append(args, extra...)
	args = append(args, "-f", format, url)
	p := &Publisher{cmd: exec.Command("ffmpeg", args...), out: &LogBuffer{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.Stdin = nil
	require.NoError(t, p.cmd.Start())
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(p.Kill)
	return p
}

// Kill stops the publisher abruptly, as a crashed encoder or a lost network would.
func (p *Publisher) Kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Exited waits up to timeout for ffmpeg to exit on its own and returns its output.
func (p *Publisher) Exited(timeout time.Duration) (bool, string) {
	select {
	case <-p.done:
		return true, p.output()
	case <-time.After(timeout):
		return false, p.output()
	}
}

func (p *Publisher) output() string { return p.out.String() }

// WaitLive waits until url answers 200.
func WaitLive(t testing.TB, url string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		code, body := Get(t, url)
		if code == http.StatusOK {
			return
		}
		last = fmt.Sprintf("%d %s", code, body)
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s not live after %s: last answer %s", url, timeout, last)
}

// Get fetches url with a 10 s timeout.
func Get(t testing.TB, url string) (int, []byte) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b
}

// ProbeStream is one stream as ffprobe reports it.
type ProbeStream struct {
	CodecType string `json:"codec_type"`
	CodecName string `json:"codec_name"`
	Width     int    `json:"width"`
	Height    int    `json:"height"`
	NbFrames  string `json:"nb_read_frames"`
	Duration  string `json:"duration"`
}

// Probe runs ffprobe on url (a playlist or a file) and returns its streams. countFrames decodes
// every frame (use it on files, not on live playlists).
func Probe(t testing.TB, url string, countFrames bool) []ProbeStream {
	t.Helper()
	args := []string{"-v", "error", "-of", "json", "-show_streams"}
	if countFrames {
		args = append(args, "-count_frames")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffprobe", append(args, url)...).Output()
	require.NoError(t, err, "ffprobe %s", url)
	var res struct {
		Streams []ProbeStream `json:"streams"`
	}
	require.NoError(t, json.Unmarshal(out, &res))
	return res.Streams
}

// RepoRoot finds the module root above the test's working directory (where scripts/ and .cache/ are).
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		require.NotEqual(t, dir, parent, "no go.mod above the working directory")
		dir = parent
	}
}
