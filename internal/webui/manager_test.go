package webui_test

import (
	"io"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/testutil/managertest"
)

// TestServedByManager: a real manager serves the pages and their assets through its whole HTTP stack
// (connection guard, body guard, metrics), and the API behind them still answers its own paths.
func TestServedByManager(t *testing.T) {
	base, _ := managertest.Start(t, nil)
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	fetch := func(method, path string) (*http.Response, string) {
		req, err := http.NewRequest(method, base+path, nil)
		require.NoError(t, err)
		res, err := c.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return res, string(b)
	}

	for _, p := range []string{"/live/proxy-publisher.html?streamName=stream1", "/other/proxy-subscriber.html?streamName=s&view=hls"} {
		res, body := fetch(http.MethodGet, p)
		require.Equal(t, http.StatusOK, res.StatusCode, p)
		require.Equal(t, "text/html; charset=utf-8", res.Header.Get("Content-Type"))
		require.Contains(t, res.Header.Get("Content-Security-Policy"), "script-src 'self'")
		for _, m := range regexp.MustCompile(`(?:src|href)="(/webui/[^"]+)"`).FindAllStringSubmatch(body, -1) {
			ares, abody := fetch(http.MethodGet, m[1])
			require.Equal(t, http.StatusOK, ares.StatusCode, m[1])
			require.NotEmpty(t, abody)
		}
	}
	res, body := fetch(http.MethodGet, "/webui/vendor/hls.min.js")
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Greater(t, len(body), 100_000)

	// what the pages do not serve is the API's: its 404 for an unknown page, its viewer entry, its health
	res, _ = fetch(http.MethodGet, "/live/nope.html")
	require.Equal(t, http.StatusNotFound, res.StatusCode)
	res, _ = fetch(http.MethodGet, "/bad.app/proxy-publisher.html")
	require.Equal(t, http.StatusNotFound, res.StatusCode)
	res, _ = fetch(http.MethodGet, "/live/stream1/index.m3u8")
	require.Equal(t, http.StatusServiceUnavailable, res.StatusCode, "no edge yet: the viewer entry answers")
	require.Equal(t, "*", res.Header.Get("Access-Control-Allow-Origin"))
	res, _ = fetch(http.MethodGet, "/healthz")
	require.Equal(t, http.StatusOK, res.StatusCode)
	res, _ = fetch(http.MethodPost, "/live/proxy-publisher.html")
	require.NotEqual(t, http.StatusOK, res.StatusCode)
}
