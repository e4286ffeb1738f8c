package webui

import (
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestAppRoutes: the console answers at every path of its router, the site (when on) at its pages, with the
// framing each allows; the viewer entry, WHIP/WHEP and the console's and site's own calls go to the API; the
// applications' hashed files are kept for a year and every one a page names is there.
func TestAppRoutes(t *testing.T) {
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	for _, c := range []struct {
		site           bool
		method, path   string
		status         int
		frameAncestors string // of the page served; "" for the API
	}{
		{false, "GET", "/console", 200, "'none'"},
		{false, "GET", "/console/cluster", 200, "'none'"},
		{false, "GET", "/console/streams/live/s1", 200, "'none'"},
		{false, "GET", "/console/api/session", 418, ""},
		{false, "POST", "/console/api/session", 418, ""},
		{false, "GET", "/", 418, ""},
		{false, "GET", "/watch/v_1", 418, ""},
		{true, "GET", "/", 200, "'self'"},
		{true, "HEAD", "/", 200, "'self'"},
		{true, "GET", "/watch/v_1", 200, "'self'"},
		{true, "GET", "/live/live/s1", 200, "'self'"},
		{true, "GET", "/embed/watch/v_1", 200, "*"},
		{true, "GET", "/embed/live/live/s1", 200, "*"},
		{true, "GET", "/live/s1/index.m3u8", 418, ""},
		{true, "POST", "/live/s1/whip", 418, ""},
		{true, "GET", "/watch/..%2fx", 418, ""},
		{true, "GET", "/watch/a/b", 418, ""},
		{true, "GET", "/site/api/live", 418, ""},
		{true, "GET", "/api/v1/nodes", 418, ""},
	} {
		h := Mount(api, Options{Site: c.site})
		res, body := get(t, h, c.method, c.path, nil)
		require.Equal(t, c.status, res.StatusCode, "%s %s (site %v)", c.method, c.path, c.site)
		if c.frameAncestors == "" {
			continue
		}
		csp := res.Header.Get("Content-Security-Policy")
		require.Contains(t, csp, "script-src 'self';", c.path)
		require.NotContains(t, csp, "unsafe-inline", c.path)
		require.True(t, strings.HasSuffix(csp, "frame-ancestors "+c.frameAncestors), "%s: %s", c.path, csp)
		require.Equal(t, "text/html; charset=utf-8", res.Header.Get("Content-Type"))
		require.Equal(t, "no-cache", res.Header.Get("Cache-Control"))
		if c.method == "GET" {
			require.Contains(t, body, `<div id="app">`)
		}
	}

	h := Mount(api, Options{Site: true})
	for _, page := range []string{"/console", "/"} {
		_, body := get(t, h, "GET", page, nil)
		refs := assetRefs.FindAllStringSubmatch(body, -1)
		require.NotEmpty(t, refs, page)
		for _, m := range refs {
			res, _ := get(t, h, "GET", m[1], nil)
			require.Equal(t, http.StatusOK, res.StatusCode, m[1])
			require.Equal(t, "public, max-age=31536000, immutable", res.Header.Get("Cache-Control"), m[1])
		}
	}
	// the entries are pages, not files of the asset tree
	res, _ := get(t, h, "GET", appAssets+"../console.html", nil)
	require.NotEqual(t, http.StatusOK, res.StatusCode)
	res, _ = get(t, h, "GET", Prefix+"app/console.html", nil)
	require.Equal(t, http.StatusTeapot, res.StatusCode)
}

// TestGzip: scripts, styles and pages go gzipped to browsers that take it, plain to the others and to Range
// requests, each with its own ETag.
func TestGzip(t *testing.T) {
	h := Mount(nil, Options{Site: true})
	_, page := get(t, h, "GET", "/", nil)
	m := assetRefs.FindStringSubmatch(page)
	require.NotNil(t, m)
	plain, body := get(t, h, "GET", m[1], nil)
	require.Empty(t, plain.Header.Get("Content-Encoding"))
	gz, gzBody := get(t, h, "GET", m[1], http.Header{"Accept-Encoding": {"br, gzip;q=0.8"}})
	require.Equal(t, "gzip", gz.Header.Get("Content-Encoding"))
	require.Equal(t, "Accept-Encoding", gz.Header.Get("Vary"))
	require.NotEqual(t, plain.Header.Get("ETag"), gz.Header.Get("ETag"))
	zr, err := gzip.NewReader(strings.NewReader(gzBody))
	require.NoError(t, err)
	unzipped, err := io.ReadAll(zr)
	require.NoError(t, err)
	require.Equal(t, body, string(unzipped))
	for _, refuse := range []string{"gzip;q=0", "br, gzip; q=0.000"} {
		refused, _ := get(t, h, "GET", m[1], http.Header{"Accept-Encoding": {refuse}})
		require.Empty(t, refused.Header.Get("Content-Encoding"), refuse)
	}
	weighted, _ := get(t, h, "GET", m[1], http.Header{"Accept-Encoding": {"gzip; q=0.5"}})
	require.Equal(t, "gzip", weighted.Header.Get("Content-Encoding"))
	ranged, _ := get(t, h, "GET", m[1], http.Header{"Accept-Encoding": {"gzip"}, "Range": {"bytes=0-9"}})
	require.Equal(t, http.StatusPartialContent, ranged.StatusCode)
	require.Empty(t, ranged.Header.Get("Content-Encoding"))
}

// TestHLSLiveSettingsAgree: the console and the site (web/src/common/hls-live.ts) play live streams with the
// settings of the older pages (assets/js/hls-live.js), which the player tests read.
func TestHLSLiveSettingsAgree(t *testing.T) {
	js, err := HLSLiveConfig()
	require.NoError(t, err)
	var want map[string]any
	require.NoError(t, json.Unmarshal(js, &want))
	src, err := os.ReadFile("../../web/src/common/hls-live.ts")
	require.NoError(t, err)
	_, obj, ok := strings.Cut(string(src), "export const HLS_LIVE = ")
	require.True(t, ok, "hls-live.ts exports HLS_LIVE")
	obj, _, ok = strings.Cut(obj, "} as const;")
	require.True(t, ok)
	// the TypeScript object literal as JSON: quote the keys, drop the trailing comma
	obj = regexp.MustCompile(`(?m)^\s*([A-Za-z]+):`).ReplaceAllString(obj, `"$1":`)
	obj = regexp.MustCompile(`,\s*$`).ReplaceAllString(strings.TrimSpace(obj), "") + "}"
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(obj), &got), obj)
	require.Equal(t, want, got)
}
