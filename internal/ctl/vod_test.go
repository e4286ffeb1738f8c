package ctl_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/metadata"

	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/ctl"
	"github.com/nagare-video/nagare/internal/testutil/fftest"
	"github.com/nagare-video/nagare/internal/testutil/vodtest"
	"github.com/nagare-video/nagare/internal/vod/service"
	"github.com/nagare-video/nagare/internal/vod/vodv1"
)

const vodSecret = "vod-secret-4f1c9a0e77"

// vodRig is a real VOD service on loopback ports (SQLite, objects in a temp dir) and a gRPC client of
// its own to check what ctl did.
type vodRig struct {
	addr string
	api  vodv1.VideoServiceClient
}

func startVOD(t *testing.T) *vodRig {
	t.Helper()
	s := vodtest.Start(t, func(c *config.Config) {
		c.Manager.AdminToken, c.VOD.TokenSecret = adminToken, vodSecret
	})
	return &vodRig{addr: s.GRPCAddr(), api: s.Client}
}

func adminCtx() context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+adminToken)
}

func (r *vodRig) video(t *testing.T, id string) *vodv1.Video {
	t.Helper()
	v, err := r.api.GetVideo(adminCtx(), &vodv1.GetVideoRequest{Id: id})
	require.NoError(t, err)
	return v
}

// vodCtl runs `nagare ctl --vod ADDR --token TOKEN args...`.
func vodCtl(t *testing.T, addr, token string, args ...string) result {
	t.Helper()
	return ctlRun(t, append([]string{"--vod", addr, "--token", token}, args...)...)
}

// ctl runs ctl with the admin token and requires success.
func (r *vodRig) ctl(t *testing.T, args ...string) result {
	t.Helper()
	res := vodCtl(t, r.addr, adminToken, args...)
	require.Equal(t, 0, res.code, "nagare ctl %s\nstdout: %s\nstderr: %s", strings.Join(args, " "), res.stdout, res.stderr)
	return res
}

// makeClip encodes an H.264/AAC MP4 with ffmpeg.
func makeClip(t *testing.T, path, size string, seconds int, extra ...string) {
	t.Helper()
	args := []string{"-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=" + size + ":rate=25", "-f", "lavfi", "-i", "sine",
		"-t", strconv.Itoa(seconds)}
	args = append(args, extra...)
	args = append(args, "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest", path)
	out, err := exec.Command("ffmpeg", args...).CombinedOutput()
	require.NoError(t, err, "%s", out)
}

func fileSHA(t *testing.T, path string) (string, int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:]), int64(len(b))
}

// copyFile puts a copy of src at dst: another path is another upload to ctl.
func copyFile(t *testing.T, src, dst string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(dst, b, 0o644))
	return dst
}

// uploadStates returns the upload state files ctl keeps for file under the cache directory.
func uploadStates(t *testing.T, cache, file string) []map[string]any {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(cache, "uploads", "*.json"))
	require.NoError(t, err)
	var out []map[string]any
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // removed meanwhile
		}
		var st map[string]any
		require.NoError(t, json.Unmarshal(b, &st), "%s", b)
		if st["file"] == file {
			out = append(out, st)
		}
	}
	return out
}

// proxy forwards TCP connections to a VOD service. Its first connection carries at most budget bytes
// from the client, then stalls (it stops reading) or, with cut, breaks; later connections pass freely.
type proxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func startProxy(t *testing.T, target string, budget int64, cut bool) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &proxy{ln: ln}
	t.Cleanup(func() {
		ln.Close()
		p.cut()
	})
	go func() {
		for first := true; ; first = false {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() {
				_, _ = io.Copy(c, up)
				c.Close()
			}()
			go func(limited bool) {
				if !limited {
					_, _ = io.Copy(up, c)
					up.Close()
					return
				}
				_, _ = io.CopyN(up, c, budget)
				if cut {
					c.Close()
					up.Close()
				}
			}(first)
		}
	}()
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

// cut ends every connection so far, so that the server sees a stalled client go.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

var videoID = regexp.MustCompile(`^[A-Za-z0-9_-]{16}$`)

// TestVOD runs the vod commands against real VOD services. The cache directory (the upload state) is the
// test's, so the subtests share it but each uploads files of its own.
func TestVOD(t *testing.T) {
	fftest.Require(t)
	cache := t.TempDir()
	t.Setenv("NAGARE_CACHE_DIR", cache)
	// pages of one video: ls follows next_page_token (set before the subtests start, undone after them)
	t.Cleanup(ctl.SetVODListPage(1))
	clips := t.TempDir()
	small := filepath.Join(clips, "small.mp4")
	makeClip(t, small, "320x240", 3)
	// noise makes it large: about 14 MB, more than two of the service's 5 MiB parts
	big := filepath.Join(clips, "noise.mp4")
	makeClip(t, big, "640x360", 3, "-vf", "noise=alls=40:allf=t", "-crf", "14")
	_, bigSize := fileSHA(t, big)
	require.Greater(t, bigSize, int64(11<<20))

	t.Run("upload, wait and the library", func(t *testing.T) {
		t.Parallel()
		r := startVOD(t)
		file := copyFile(t, small, filepath.Join(t.TempDir(), "small.mp4"))
		sum, size := fileSHA(t, file)

		res := r.ctl(t, "vod", "upload", file, "--title", "Test pattern", "--description", "three seconds",
			"--visibility", "unlisted", "--chunk", "16KiB", "--wait")
		id := strings.TrimSpace(res.stdout)
		require.Regexp(t, videoID, id, "the video id, alone on stdout")
		// not a terminal: a progress line at every tenth, then processing until ready
		var lines []string
		for _, l := range strings.Split(res.stderr, "\n") {
			if strings.HasPrefix(l, "uploading ") {
				lines = append(lines, l)
				require.Regexp(t, `^uploading small\.mp4: [0-9.]+ (B|KiB|MiB) / [0-9.]+ KiB \(\d+%\)(, [0-9.]+ MB/s, (ETA|took) \w+)?$`, l)
			}
		}
		require.GreaterOrEqual(t, len(lines), 5, res.stderr)
		require.LessOrEqual(t, len(lines), 10, res.stderr)
		require.Contains(t, lines[len(lines)-1], "(100%)")
		require.Contains(t, res.stderr, "processing "+id+": ")
		require.Contains(t, res.stderr, "video "+id+" is ready\n")
		require.Empty(t, uploadStates(t, cache, file), "the state goes with the completed upload")

		v := r.video(t, id)
		require.Equal(t, size, v.Size)
		require.Equal(t, sum, v.Sha256)
		require.Equal(t, vodv1.Status_STATUS_READY, v.Status)
		require.Equal(t, "Test pattern", v.Title)
		require.Equal(t, "small.mp4", v.FileName)
		require.Equal(t, vodv1.Visibility_VISIBILITY_UNLISTED, v.Visibility)

		// an upload token sees and uploads for its owner only; -o json prints the Video
		alice := service.SignUploadToken([]byte(vodSecret), "alice", time.Now().Add(time.Hour))
		res = vodCtl(t, r.addr, alice, "-o", "json", "vod", "upload", file)
		require.Equal(t, 0, res.code, res.stderr)
		var av struct {
			ID     string `json:"id"`
			Owner  string `json:"owner"`
			Title  string `json:"title"`
			Status string `json:"status"`
			Size   string `json:"size"` // int64 is a string in the JSON mapping
			SHA256 string `json:"sha256"`
		}
		require.NoError(t, json.Unmarshal([]byte(res.stdout), &av), res.stdout)
		require.Regexp(t, videoID, av.ID)
		require.Equal(t, "alice", av.Owner)
		require.Equal(t, "small", av.Title, "the file name without its extension")
		require.Contains(t, []string{"STATUS_PROCESSING", "STATUS_READY"}, av.Status)
		require.Equal(t, strconv.FormatInt(size, 10), av.Size)
		require.Equal(t, sum, av.SHA256)

		t.Run("ls", func(t *testing.T) {
			out := r.ctl(t, "vod", "ls").stdout
			require.Equal(t, []string{"ID", "TITLE", "OWNER", "STATUS", "PROGRESS", "DURATION", "SIZE", "VISIBILITY", "CREATED"}, row(t, out, "VISIBILITY"))
			cells := row(t, out, id)
			require.Equal(t, []string{id, "Test", "pattern", "admin", "ready", "100%"}, cells[:6])
			require.Regexp(t, `^[23]\.\ds$`, cells[6])
			require.Equal(t, "unlisted", cells[9])
			require.Contains(t, out, av.ID)

			require.Len(t, strings.Split(strings.TrimSpace(r.ctl(t, "vod", "ls", "--limit", "1").stdout), "\n"), 2, "the header and the newest")
			out = r.ctl(t, "vod", "ls", "--owner", "alice").stdout
			require.Contains(t, out, av.ID)
			require.NotContains(t, out, id)
			res := vodCtl(t, r.addr, alice, "vod", "ls")
			require.Equal(t, 0, res.code, res.stderr)
			require.Contains(t, res.stdout, av.ID)
			require.NotContains(t, res.stdout, id, "an upload token lists its owner's videos only")
			require.NotContains(t, r.ctl(t, "vod", "ls", "--status", "failed").stdout, id)

			var vs []map[string]any
			require.NoError(t, json.Unmarshal([]byte(r.ctl(t, "-o", "json", "vod", "ls").stdout), &vs))
			require.Len(t, vs, 2)
			require.Equal(t, av.ID, vs[0]["id"], "newest first")
			require.Equal(t, sum, vs[1]["sha256"])
		})

		t.Run("info", func(t *testing.T) {
			out := r.ctl(t, "vod", "info", id).stdout
			for _, want := range []string{"ID:", id, "Test pattern", "three seconds", "unlisted", "ready", sum,
				fmt.Sprintf("(%d bytes)", size), "320x240", "h264", "aac", "small.mp4", "RENDITION"} {
				require.Contains(t, out, want)
			}
			var v map[string]any
			require.NoError(t, json.Unmarshal([]byte(r.ctl(t, "-o", "json", "vod", "info", id).stdout), &v))
			require.Equal(t, "STATUS_READY", v["status"])
			require.NotEmpty(t, v["renditions"])
		})

		t.Run("url, set, url again", func(t *testing.T) {
			out := r.ctl(t, "vod", "url", id).stdout
			require.Contains(t, out, "/vod/"+id+"/")
			require.NotContains(t, out, "sig=", "an unlisted video plays by id")
			require.Contains(t, out, "never (the video is not private)")

			out = r.ctl(t, "vod", "set", id, "--title", "New title", "--visibility", "private").stdout
			require.Equal(t, "video "+id+" updated: \"New title\", private\n", out)
			v := r.video(t, id)
			require.Equal(t, "New title", v.Title)
			require.Equal(t, "three seconds", v.Description, "left alone")
			require.Equal(t, vodv1.Visibility_VISIBILITY_PRIVATE, v.Visibility)
			r.ctl(t, "vod", "set", id, "--description", "")
			require.Empty(t, r.video(t, id).Description, "--description \"\" clears it")

			var pb struct {
				HLS       string `json:"hls"`
				MP4       string `json:"mp4"`
				ExpiresAt string `json:"expiresAt"`
			}
			require.NoError(t, json.Unmarshal([]byte(r.ctl(t, "-o", "json", "vod", "url", id, "--ttl", "10m").stdout), &pb))
			require.Contains(t, pb.HLS, "sig=", "a private video's URLs are signed")
			require.Contains(t, pb.MP4, "sig=")
			exp, err := time.Parse(time.RFC3339, pb.ExpiresAt)
			require.NoError(t, err)
			require.WithinDuration(t, time.Now().Add(10*time.Minute), exp, time.Minute)
		})

		t.Run("download", func(t *testing.T) {
			dir := t.TempDir()
			dst := filepath.Join(dir, "copy.mp4")
			out := r.ctl(t, "vod", "download", id, "-O", dst).stdout
			got, n := fileSHA(t, dst)
			require.Equal(t, sum, got)
			require.Equal(t, size, n)
			require.Contains(t, out, "sha256 "+sum)

			var d struct {
				Size   int64  `json:"size"`
				SHA256 string `json:"sha256"`
			}
			require.NoError(t, json.Unmarshal([]byte(r.ctl(t, "-o", "json", "vod", "download", id, "--mp4", "-O", filepath.Join(dir, "p.mp4")).stdout), &d))
			b, err := os.ReadFile(filepath.Join(dir, "p.mp4"))
			require.NoError(t, err)
			require.Equal(t, int64(len(b)), d.Size)
			require.Equal(t, "ftyp", string(b[4:8]), "the processed MP4")
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			require.Len(t, entries, 2, "no temporary file left behind")
		})

		t.Run("rm", func(t *testing.T) {
			require.Equal(t, "video "+id+" deleted\n", r.ctl(t, "vod", "rm", id).stdout)
			res := vodCtl(t, r.addr, adminToken, "vod", "info", id)
			require.Equal(t, 1, res.code)
			require.Equal(t, "nagare ctl: NOT_FOUND: video "+id+": not found\n", res.stderr)
			require.Empty(t, res.stdout)
		})
	})

	t.Run("resume after an interrupted run", func(t *testing.T) {
		t.Parallel()
		r := startVOD(t)
		file := copyFile(t, big, filepath.Join(t.TempDir(), "noise.mp4"))
		sum, size := fileSHA(t, file)
		// the first run's connection stalls after 7 MiB: the server stores the first 5 MiB part
		px := startProxy(t, r.addr, 7<<20, false)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan result, 1)
		go func() {
			var out, errOut bytes.Buffer
			code := ctl.Main(ctx, []string{"--vod", px.addr(), "--token", adminToken, "vod", "upload", file, "--title", "Noise"}, &out, &errOut)
			done <- result{code: code, stdout: out.String(), stderr: errOut.String()}
		}()

		var id string
		require.Eventually(t, func() bool {
			sts := uploadStates(t, cache, file)
			if len(sts) == 1 {
				id, _ = sts[0]["uploadId"].(string)
				require.Equal(t, px.addr(), sts[0]["vod"])
			}
			return id != ""
		}, 10*time.Second, 10*time.Millisecond, "the state file holds the upload id once the server sent it")
		require.Eventually(t, func() bool {
			st, err := r.api.QueryUpload(adminCtx(), &vodv1.QueryUploadRequest{UploadId: id})
			require.NoError(t, err)
			return st.CommittedSize >= 5<<20
		}, 10*time.Second, 20*time.Millisecond)
		cancel()
		px.cut()
		res := <-done
		require.Equal(t, 1, res.code, res.stderr)
		require.Contains(t, res.stderr, "nagare ctl: interrupted; run the same command again to resume upload "+id+"\n")
		require.Empty(t, res.stdout)
		require.Len(t, uploadStates(t, cache, file), 1, "the state stays for the next run")

		// the next run continues from the committed part, though it goes straight to the service: the
		// service knows the upload
		res = r.ctl(t, "vod", "upload", file, "--title", "ignored when resuming")
		require.Equal(t, id+"\n", res.stdout)
		require.Contains(t, res.stderr, fmt.Sprintf("resuming upload %s at %d bytes\n", id, 5<<20))
		require.Contains(t, res.stderr, "(100%)")
		v := r.video(t, id)
		require.Equal(t, sum, v.Sha256, "the bytes of both runs make the file")
		require.Equal(t, size, v.Size)
		require.Equal(t, "Noise", v.Title)
		require.Empty(t, uploadStates(t, cache, file))
	})

	t.Run("retry after a broken connection", func(t *testing.T) {
		t.Parallel()
		r := startVOD(t)
		file := copyFile(t, big, filepath.Join(t.TempDir(), "noise.mp4"))
		sum, size := fileSHA(t, file)
		px := startProxy(t, r.addr, 7<<20, true)
		res := vodCtl(t, px.addr(), adminToken, "vod", "upload", file)
		require.Equal(t, 0, res.code, res.stderr)
		id := strings.TrimSpace(res.stdout)
		require.Regexp(t, videoID, id)
		require.Regexp(t, `upload interrupted \(UNAVAILABLE: [^)]+\); retrying in 500ms \(1/5\)\n`, res.stderr)
		require.Regexp(t, `resuming upload `+id+` at \d+ bytes\n`, res.stderr)
		require.NotContains(t, res.stderr, "rpc error")
		v := r.video(t, id)
		require.Equal(t, sum, v.Sha256)
		require.Equal(t, size, v.Size)
		require.Empty(t, uploadStates(t, cache, file))
	})

	t.Run("an upload that is gone starts anew", func(t *testing.T) {
		t.Parallel()
		r := startVOD(t)
		file := copyFile(t, small, filepath.Join(t.TempDir(), "gone.mp4"))
		sum, _ := fileSHA(t, file)
		px := startProxy(t, r.addr, 20<<10, false)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan int, 1)
		go func() {
			done <- ctl.Main(ctx, []string{"--vod", px.addr(), "--token", adminToken, "vod", "upload", file}, io.Discard, io.Discard)
		}()
		var id string
		require.Eventually(t, func() bool {
			if sts := uploadStates(t, cache, file); len(sts) == 1 {
				id, _ = sts[0]["uploadId"].(string)
			}
			return id != ""
		}, 10*time.Second, 10*time.Millisecond)
		cancel()
		px.cut()
		require.Equal(t, 1, <-done)
		// deleted once the server has seen the stalled stream go
		require.Eventually(t, func() bool { return vodCtl(t, r.addr, adminToken, "vod", "rm", id).code == 0 }, 10*time.Second, 50*time.Millisecond)

		// through the same address (the proxy lets later connections pass)
		res := vodCtl(t, px.addr(), adminToken, "vod", "upload", file)
		require.Equal(t, 0, res.code, res.stderr)
		require.Contains(t, res.stderr, "upload "+id+" is gone (NOT_FOUND: upload "+id+": not found); starting a new upload\n")
		newID := strings.TrimSpace(res.stdout)
		require.Regexp(t, videoID, newID)
		require.NotEqual(t, id, newID)
		require.Equal(t, sum, r.video(t, newID).Sha256)
		require.Empty(t, uploadStates(t, cache, file))
	})

	t.Run("errors", func(t *testing.T) {
		t.Parallel()
		r := startVOD(t)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		dead := ln.Addr().String()
		require.NoError(t, ln.Close())
		// accepts connections but never answers
		mute, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		t.Cleanup(func() { mute.Close() })
		go func() {
			for {
				c, err := mute.Accept()
				if err != nil {
					return
				}
				t.Cleanup(func() { c.Close() })
			}
		}()
		alice := service.SignUploadToken([]byte(vodSecret), "alice", time.Now().Add(time.Hour))
		const unknown = "AAAAAAAAAAAAAAAAAAAAAA"
		ok := []string{"--vod", r.addr, "--token", adminToken}
		tests := []struct {
			name   string
			args   []string
			code   int
			exact  string // all of stderr, when set
			stderr string // in stderr
		}{
			{
				name: "wrong token", args: []string{"--vod", r.addr, "--token", "wrong-token-c0ffee", "vod", "ls"}, code: 1,
				exact: "nagare ctl: UNAUTHENTICATED: invalid token (pass --token or set NAGARE_ADMIN_TOKEN: the admin token or an upload token from 'nagare token -vod-owner NAME')\n",
			},
			{name: "no token", args: []string{"--vod", r.addr, "vod", "info", unknown}, code: 1, stderr: `nagare ctl: UNAUTHENTICATED: missing "authorization: Bearer <token>" metadata`},
			{name: "upload with a wrong token", args: []string{"--vod", r.addr, "--token", "wrong-token-c0ffee", "vod", "upload", small}, code: 1, stderr: "nagare ctl: UNAUTHENTICATED: invalid token"},
			{name: "info of an unknown id", args: append(ok, "vod", "info", unknown), code: 1, exact: "nagare ctl: NOT_FOUND: video " + unknown + ": not found\n"},
			{name: "rm of an unknown id", args: append(ok, "vod", "rm", unknown), code: 1, exact: "nagare ctl: NOT_FOUND: video " + unknown + ": not found\n"},
			{name: "url of an unknown id", args: append(ok, "vod", "url", unknown), code: 1, exact: "nagare ctl: NOT_FOUND: video " + unknown + ": not found\n"},
			{name: "set of an unknown id", args: append(ok, "vod", "set", unknown, "--title", "x"), code: 1, exact: "nagare ctl: NOT_FOUND: video " + unknown + ": not found\n"},
			{name: "download of an unknown id", args: append(ok, "vod", "download", unknown, "-O", filepath.Join(t.TempDir(), "x")), code: 1, exact: "nagare ctl: NOT_FOUND: video " + unknown + ": not found\n"},
			{name: "an id that begins with -", args: append(ok, "vod", "info", "-AAAAAAAAAAAAAAA"), code: 1, exact: "nagare ctl: NOT_FOUND: video -AAAAAAAAAAAAAAA: not found\n"},
			{name: "an id that begins with - after a flag", args: append(ok, "vod", "url", "--ttl", "5m", "-AAAAAAAAAAAAAAA"), code: 1, exact: "nagare ctl: NOT_FOUND: video -AAAAAAAAAAAAAAA: not found\n"},
			{name: "a flag value like an id", args: append(ok, "vod", "set", unknown, "--title", "-BBBBBBBBBBBBBBB"), code: 1, exact: "nagare ctl: NOT_FOUND: video " + unknown + ": not found\n"},
			{name: "an unknown flag", args: append(ok, "vod", "info", unknown, "--colour"), code: 2, stderr: "vod info: flag provided but not defined: -colour"},
			{name: "a malformed id", args: append(ok, "vod", "info", "not/an/id"), code: 1, exact: "nagare ctl: INVALID_ARGUMENT: id is not a video id\n"},
			{name: "another owner", args: []string{"--vod", r.addr, "--token", alice, "vod", "upload", small, "--owner", "bob"}, code: 1, exact: "nagare ctl: PERMISSION_DENIED: this token uploads for \"alice\" only\n"},
			{
				name: "service down", args: []string{"--vod", dead, "--token", adminToken, "vod", "ls"}, code: 1,
				exact: "nagare ctl: UNAVAILABLE: cannot reach the VOD service at " + dead + ": connection refused (is it running? set --vod or NAGARE_VOD)\n",
			},
			{
				name: "service mute", args: []string{"--vod", mute.Addr().String(), "--token", adminToken, "--timeout", "300ms", "vod", "ls"}, code: 1,
				exact: "nagare ctl: DEADLINE_EXCEEDED: the VOD service at " + mute.Addr().String() + " did not answer within 300ms (see --timeout)\n",
			},
			{name: "missing file", args: append(ok, "vod", "upload", "/nonexistent/clip.mp4"), code: 1, exact: "nagare ctl: opening the file: open /nonexistent/clip.mp4: no such file or directory\n"},
			{name: "no file", args: append(ok, "vod", "upload"), code: 2, stderr: "vod upload needs FILE"},
			{name: "bad visibility", args: append(ok, "vod", "upload", small, "--visibility", "secret"), code: 2, stderr: `--visibility must be private, unlisted or public, not "secret"`},
			{name: "chunk too big", args: append(ok, "vod", "upload", small, "--chunk", "2MiB"), code: 2, stderr: "--chunk must be between 16KiB and 1MiB, not 2MiB"},
			{name: "chunk malformed", args: append(ok, "vod", "upload", small, "--chunk", "lots"), code: 2, stderr: "want a size such as 1MiB"},
			{name: "set nothing", args: append(ok, "vod", "set", unknown), code: 2, stderr: "give at least one of --title, --description, --visibility"},
			{name: "bad status", args: append(ok, "vod", "ls", "--status", "done"), code: 2, stderr: "--status must be uploading, processing, ready or failed"},
			{name: "download without -O", args: append(ok, "vod", "download", unknown), code: 2, stderr: "vod download: -O FILE is required"},
			{name: "bad --vod", args: []string{"--vod", "http://127.0.0.1:9090", "vod", "ls"}, code: 2, stderr: "--vod must be host:port"},
			{name: "vod alone", args: []string{"vod"}, code: 2, stderr: "vod needs a subcommand: upload, ls, info, set, url, download, rm"},
			{name: "help", args: []string{"help"}, code: 0},
			{name: "upload -h", args: []string{"vod", "upload", "-h"}, code: 0},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				res := ctlRun(t, tt.args...)
				require.Equal(t, tt.code, res.code, "stdout: %s\nstderr: %s", res.stdout, res.stderr)
				if tt.exact != "" {
					require.Equal(t, tt.exact, res.stderr)
				}
				require.Contains(t, res.stderr, tt.stderr)
				require.NotContains(t, res.stderr, "rpc error")
				require.NotContains(t, res.stderr, "c0ffee", "a token is never printed")
				if tt.code != 0 {
					require.Empty(t, res.stdout)
				}
			})
		}
		help := ctlRun(t, "help").stdout
		require.Contains(t, help, "vod upload FILE [--title T]")
		require.Contains(t, help, "VOD: the vod commands call the VOD service's gRPC API at --vod (env NAGARE_VOD)")
		require.Contains(t, help, "-vod address")
		require.Contains(t, ctlRun(t, "vod", "upload", "-h").stdout, "-chunk size")
	})
}
