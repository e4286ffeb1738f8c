package e2e

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/testutil"
)

// These tests run nagare's container image on a real Docker Engine (scripts/deps.sh docker starts one:
// no bridge, no iptables, so every container is on the host network). The image is built once per run by
// scripts/image.sh, as `make image` builds it.

var (
	imageOnce sync.Once
	imageName string
	imageErr  error
)

// image builds the container image (tag e2e) and returns its name.
func image(t *testing.T) string {
	t.Helper()
	if err := exec.Command("docker", "info").Run(); err != nil {
		if testing.Short() {
			t.Skip("no Docker Engine (scripts/deps.sh docker starts one)")
		}
		t.Fatalf("no Docker Engine answers: run scripts/deps.sh docker: %v", err)
	}
	imageOnce.Do(func() {
		root, err := filepath.Abs("../..")
		if err != nil {
			imageErr = err
			return
		}
		cmd := exec.Command(filepath.Join(root, "scripts", "image.sh"), "e2e")
		cmd.Dir = root
		out, err := cmd.Output()
		if err != nil {
			stderr := ""
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = string(ee.Stderr)
			}
			imageErr = fmt.Errorf("scripts/image.sh: %w\n%s", err, stderr)
			return
		}
		imageName = strings.TrimSpace(string(out))
	})
	require.NoError(t, imageErr)
	return imageName
}

func docker(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	require.NoError(t, err, "docker %s: %s", strings.Join(args, " "), out)
	return strings.TrimSpace(string(out))
}

// freePorts returns n TCP ports on 127.0.0.1 that were free a moment ago (for listeners in a container on
// the host network, which the test cannot hand a bound socket).
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var out []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		lns = append(lns, ln)
		out = append(out, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		require.NoError(t, ln.Close())
	}
	return out
}

// TestContainer runs the image as `nagare all`, with a configuration file mounted and a two-rung ladder:
// the container turns healthy by its own HEALTHCHECK, runs as the unprivileged user, takes an RTMP
// publisher from the host, and serves the stream and the renditions its ffmpeg makes through the manager.
func TestContainer(t *testing.T) {
	testutil.RequireFFmpeg(t)
	img := image(t)
	p := freePorts(t, 8)
	mgr, rtmp, httpPort := p[0], p[1], p[2]
	dir := t.TempDir()
	require.NoError(t, os.Chmod(dir, 0o755))
	cfg := filepath.Join(dir, "nagare.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(`
transcode:
  enabled: true
  rungs:
    - {name: 180p, height: 180, videoBitrate: 300000}
    - {name: 120p, height: 120, videoBitrate: 150000}
`), 0o644))
	name := fmt.Sprintf("nagare-e2e-%d", rand.Uint32())
	docker(t, "run", "-d", "--name", name, "--network", "host", "-v", cfg+":/etc/nagare/nagare.yaml:ro",
		"-e", "NAGARE_CONFIG=/etc/nagare/nagare.yaml",
		"-e", fmt.Sprintf("NAGARE_MANAGER_ADDRESS=127.0.0.1:%d", mgr),
		"-e", fmt.Sprintf("NAGARE_RTMP_ADDRESS=127.0.0.1:%d", rtmp),
		"-e", fmt.Sprintf("NAGARE_HTTP_ADDRESS=127.0.0.1:%d", httpPort),
		"-e", fmt.Sprintf("NAGARE_SRT_ADDRESS=127.0.0.1:%d", p[3]),
		"-e", fmt.Sprintf("NAGARE_WEBRTC_ADDRESS=127.0.0.1:%d", p[4]),
		"-e", fmt.Sprintf("NAGARE_VOD_GRPC_ADDRESS=127.0.0.1:%d", p[5]),
		"-e", fmt.Sprintf("NAGARE_VOD_HTTP_ADDRESS=127.0.0.1:%d", p[6]),
		"-e", "NAGARE_PUBLISH_ALLOW_UNAUTHENTICATED=true",
		img, "all")
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := exec.Command("docker", "logs", name).CombinedOutput()
			t.Logf("--- container log ---\n%s", out)
		}
		_ = exec.Command("docker", "rm", "-f", name).Run()
	})

	require.Equal(t, "65532:65532", docker(t, "inspect", "-f", "{{.Config.User}}", name))
	require.Eventually(t, func() bool {
		return docker(t, "inspect", "-f", "{{.State.Health.Status}}", name) == "healthy"
	}, 60*time.Second, 500*time.Millisecond, "the container never turned healthy: %s",
		docker(t, "inspect", "-f", "{{json .State.Health}}", name))
	uid := docker(t, "top", name, "-o", "pid,uid,comm")
	require.Contains(t, uid, "65532", "%s", uid)

	testutil.Publish(t, fmt.Sprintf("rtmp://127.0.0.1:%d/live/box", rtmp), "flv")
	play := fmt.Sprintf("http://127.0.0.1:%d/live/box/index.m3u8", mgr)
	testutil.WaitLive(t, play, 30*time.Second)
	var variants []string // the media playlists of the video variants
	var body []byte
	var final string // the node's URL the manager redirected to: the variants are relative to it
	require.Eventually(t, func() bool {
		res, err := http.Get(play)
		if err != nil {
			return false
		}
		body, _ = io.ReadAll(res.Body)
		res.Body.Close()
		final = res.Request.URL.String()
		variants = variants[:0]
		lines := strings.Split(string(body), "\n")
		for i, l := range lines {
			if strings.HasPrefix(l, "#EXT-X-STREAM-INF:") && i+1 < len(lines) {
				variants = append(variants, strings.TrimSpace(lines[i+1]))
			}
		}
		return len(variants) == 3
	}, 60*time.Second, 250*time.Millisecond, "the ladder (source, 180p, 120p) never appeared:\n%s", body)
	heights := map[int]bool{}
	for _, r := range variants {
		for _, s := range testutil.Probe(t, testutil.Resolve(t, final, r), false) {
			if s.CodecType == "video" {
				heights[s.Height] = true
			}
		}
	}
	require.Equal(t, map[int]bool{testutil.ClipHeight: true, 180: true, 120: true}, heights,
		"the source and both rungs, encoded by the image's ffmpeg")
}

// TestDockerAutoscaleWalkthrough is the autoscaling walk-through with the docker controller on a real Docker
// Engine: the manager launches its origin and edges as containers of the image (host network, a block of
// ports each), scales the edges out for a second viewer, drains and removes one when the viewers leave, and
// replaces an edge whose container is killed.
func TestDockerAutoscaleWalkthrough(t *testing.T) {
	img := image(t)
	prefix := fmt.Sprintf("e2e%d.nagare/", rand.Uint32())
	portBase := 20000 + 100*rand.IntN(100) // below the ephemeral range; a different block each run
	// registered before the manager starts, so it runs after the manager has stopped: a running manager
	// would replace the containers removed here
	t.Cleanup(func() {
		ids := docker(t, "ps", "-aq", "--filter", "label="+prefix+"node-id")
		if ids == "" {
			return
		}
		if t.Failed() {
			for _, id := range strings.Fields(ids) {
				out, _ := exec.Command("docker", "logs", "--tail", "60", id).CombinedOutput()
				t.Logf("--- container %s ---\n%s", id, out)
			}
		}
		_ = exec.Command("docker", append([]string{"rm", "-f"}, strings.Fields(ids)...)...).Run()
	})
	c := startGroup(t, groupOptions{
		controller: "docker", image: img, version: strings.TrimPrefix(img, "nagare:"),
		settings: "network=host,portBase=" + strconv.Itoa(portBase) + ",stopTimeout=10s,labelPrefix=" + prefix,
	})
	running := docker(t, "ps", "--filter", "label="+prefix+"role=edge", "--format", "{{.Names}} {{.Status}}")
	require.Contains(t, running, "nagare-"+c.edge1, "the edge is a container: %s", running)
	// the image's HEALTHCHECK finds a node's listener from the environment the controller gave it
	require.Eventually(t, func() bool {
		return docker(t, "inspect", "-f", "{{.State.Health.Status}}", "nagare-"+c.edge1) == "healthy"
	}, 60*time.Second, time.Second, "the edge container never turned healthy: %s",
		docker(t, "inspect", "-f", "{{json .State.Health}}", "nagare-"+c.edge1))

	c.walkthrough(func(in instance) {
		docker(t, "kill", in.ID)
	}, false)
}
