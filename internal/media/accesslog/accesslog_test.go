package accesslog_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/media/accesslog"
	"github.com/nagare-video/nagare/internal/objstore"
)

func TestLogAndUpload(t *testing.T) {
	dir := t.TempDir()
	l, err := accesslog.Open(filepath.Join(dir, "logs", "access.log"))
	require.NoError(t, err)
	h := l.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.Error(w, "no", http.StatusNotFound)
			return
		}
		_, _ = io.WriteString(w, "hello")
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()

	get := func(path, agent string) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		req.Header.Set("User-Agent", agent)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	get("/live/cam/index.m3u8?nsid=secret-session&token=secret-token", "hls.js")
	get("/missing", "evil\"agent\twith tab\\")
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() { defer wg.Done(); get("/live/cam/seg1.mp4", "player") }()
	}
	wg.Wait()
	require.NoError(t, l.Close())
	get("/after-close", "x") // not logged, no panic

	b, err := os.ReadFile(l.Path())
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	require.Len(t, lines, 22, "one line per request, hostile values kept on one line")
	require.Contains(t, lines[0], `"GET /live/cam/index.m3u8 HTTP/1.1" 200 5 "" "hls.js"`)
	require.NotContains(t, string(b), "secret", "query strings (sessions, tokens) are not logged")
	require.Contains(t, lines[1], `" 404 3 "" "evil\"agent\twith tab\\"`)
	require.True(t, strings.HasPrefix(lines[0], "127.0.0.1 - - ["))

	st, err := objstore.NewLocal(filepath.Join(dir, "objects"))
	require.NoError(t, err)
	key := accesslog.Key("", "node-edge-1", time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC))
	require.Equal(t, "accesslogs/nogroup/node-edge-1/20261121T100000.000Z.log", key)
	require.NoError(t, accesslog.Upload(context.Background(), st, l.Path(), key))
	rc, info, err := st.Get(context.Background(), key, nil)
	require.NoError(t, err)
	got, _ := io.ReadAll(rc)
	rc.Close()
	require.Equal(t, b, got)
	require.Equal(t, "text/plain; charset=utf-8", info.ContentType)

	require.Error(t, accesslog.Upload(context.Background(), st, filepath.Join(dir, "nope.log"), key))
}
