package library_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/testutil"
)

// TestTusJSClient uploads with tus-js-client itself (web/'s pinned version, which scripts/web-build.sh
// installs into .cache/web), as the console does (the whole file in one PATCH) and in 5 MiB chunks; one
// PATCH loses its connection midway, and tus-js-client asks where the upload stands and goes on from there.
func TestTusJSClient(t *testing.T) {
	if testing.Short() {
		t.Skip("runs node")
	}
	modules := filepath.Join(testutil.RepoRoot(t), ".cache", "web", "node_modules")
	if _, err := os.Stat(filepath.Join(modules, "tus-js-client")); err != nil {
		t.Skip("tus-js-client is not installed: scripts/web-build.sh installs it into .cache/web")
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed")
	}
	data := clip(t)
	file := filepath.Join(t.TempDir(), "talk.mp4")
	require.NoError(t, os.WriteFile(file, data, 0o644))
	size := int64(len(data))
	for _, tc := range []struct {
		name      string
		chunkSize int // 0: tus-js-client's default, the whole rest of the file
		// the PATCH at dropOffset loses its connection after dropAfter bytes
		dropOffset, dropAfter int64
		offsets               []int64 // that the server acknowledged
		patchesAt5MiB         int
	}{
		// 7 MiB arrived: the first 5 MiB part is kept, the rest is sent again
		{"whole file", 0, 0, 7 * mib, []int64{size}, 1},
		// 2 MiB arrived, less than a part: the chunk is sent again whole
		{"5 MiB chunks", 5 * mib, 5 * mib, 2 * mib, []int64{5 * mib, 10 * mib, size}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var dropped atomic.Bool
			g := start(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPatch && r.Header.Get("Upload-Offset") == strconv.FormatInt(tc.dropOffset, 10) && !dropped.Swap(true) {
					r.Body = &dropAfter{ReadCloser: r.Body, n: tc.dropAfter, w: w}
				}
			})
			opts := map[string]any{
				"nodeModules": modules, "file": file, "endpoint": g.http.URL + "/api/v1/vod/uploads",
				"headers":  map[string]string{"Authorization": consoleAuth, "X-CSRF-Token": csrf},
				"metadata": map[string]string{"filename": "talk.mp4", "filetype": "video/mp4", "title": "Talk ✓ " + xssTitle},
			}
			if tc.chunkSize > 0 {
				opts["chunkSize"] = tc.chunkSize
			}
			cfg, err := json.Marshal(opts)
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "node", filepath.Join("testdata", "tus-js-client.js"), string(cfg))
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			require.NoError(t, err, "tus-js-client: %s", stderr.String())
			var res struct {
				URL     string  `json:"url"`
				Offsets []int64 `json:"offsets"`
			}
			require.NoError(t, json.Unmarshal(out, &res), "%s", out)
			require.True(t, dropped.Load())
			require.Contains(t, g.log.String(), "upload PATCH ended early")
			require.Equal(t, tc.offsets, res.Offsets)
			id := res.URL[strings.LastIndex(res.URL, "/")+1:]
			patchesAt := func(off int64) int {
				return strings.Count(g.log.String(), `msg="upload PATCH" component=vod-library upload=`+id+` offset=`+strconv.FormatInt(off, 10)+" ")
			}
			require.Equal(t, 1, patchesAt(0), "the upload never starts over")
			require.Equal(t, tc.patchesAt5MiB, patchesAt(5*mib), "after the drop, the upload goes on from the 5 MiB stored")
			require.Equal(t, g.http.URL+"/api/v1/vod/uploads/"+id, res.URL, "Location resolved against the endpoint")
			require.Equal(t, size, g.offset(t, "/api/v1/vod/uploads/"+id))

			v := getJSON(t, g, "/api/v1/vod/videos/"+id, http.StatusOK)
			require.Equal(t, "Talk ✓ "+xssTitle, v["title"])
			require.Equal(t, "talk.mp4", v["fileName"])
			require.EqualValues(t, size, v["size"])
			require.Contains(t, []string{"processing", "ready"}, v["status"])
		})
	}
}

// dropAfter is a request body whose connection breaks after n bytes: the server closes it, and the client
// sees it go without an answer.
type dropAfter struct {
	io.ReadCloser
	n int64
	w http.ResponseWriter
}

func (d *dropAfter) Read(p []byte) (int, error) {
	if d.n <= 0 {
		conn, _, err := http.NewResponseController(d.w).Hijack()
		if err == nil {
			conn.Close()
		}
		return 0, errors.New("connection dropped by the test")
	}
	if int64(len(p)) > d.n {
		p = p[:d.n]
	}
	n, err := d.ReadCloser.Read(p)
	d.n -= int64(n)
	return n, err
}
