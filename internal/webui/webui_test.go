package webui

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func get(t *testing.T, h http.Handler, method, target string, header http.Header) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := rec.Result()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res, string(b)
}

// assetRefs are the /webui/ URLs a page loads.
var assetRefs = regexp.MustCompile(`(?:src|href)="(/webui/[^"]+)"`)

func TestPages(t *testing.T) {
	h := Handler()
	for _, target := range []string{
		"/live/proxy-publisher.html", "/live/proxy-subscriber.html",
		"/my_App-2/proxy-publisher.html?streamName=s1&verbose=1", "/" + strings.Repeat("a", 128) + "/proxy-subscriber.html",
	} {
		t.Run(target, func(t *testing.T) {
			res, body := get(t, h, http.MethodGet, target, nil)
			require.Equal(t, http.StatusOK, res.StatusCode)
			require.Equal(t, "text/html; charset=utf-8", res.Header.Get("Content-Type"))
			require.Equal(t, "no-cache", res.Header.Get("Cache-Control"))
			require.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"))
			require.Equal(t, "no-referrer", res.Header.Get("Referrer-Policy"), "the page's URL may hold a token")
			require.NotEmpty(t, res.Header.Get("ETag"))
			csp := res.Header.Get("Content-Security-Policy")
			require.Contains(t, csp, "script-src 'self';")
			require.NotContains(t, csp, "unsafe-inline")
			require.NotContains(t, csp, "unsafe-eval")
			require.Contains(t, csp, "default-src 'none'")

			// every script and style the page names is served, versioned for keeps
			refs := assetRefs.FindAllStringSubmatch(body, -1)
			require.Len(t, refs, 2, "a stylesheet and a module script: %s", body)
			for _, ref := range refs {
				require.Regexp(t, `^/webui/v-[0-9a-f]{12}/(js|css)/`, ref[1])
				ares, abody := get(t, h, http.MethodGet, ref[1], nil)
				require.Equal(t, http.StatusOK, ares.StatusCode, ref[1])
				require.NotEmpty(t, abody)
				require.Equal(t, "public, max-age=31536000, immutable", ares.Header.Get("Cache-Control"), ref[1])
			}
		})
	}
}

func TestPageHeadersDiffer(t *testing.T) {
	h := Handler()
	pub, _ := get(t, h, http.MethodGet, "/live/proxy-publisher.html", nil)
	sub, _ := get(t, h, http.MethodGet, "/live/proxy-subscriber.html", nil)
	require.Contains(t, pub.Header.Get("Content-Security-Policy"), "frame-ancestors 'self'", "a page that opens the camera must not be framed by other sites")
	require.Contains(t, pub.Header.Get("Permissions-Policy"), "camera=(self)")
	require.Contains(t, sub.Header.Get("Content-Security-Policy"), "frame-ancestors *", "a player may be embedded")
	require.Contains(t, sub.Header.Get("Permissions-Policy"), "camera=()")
}

func TestNotFound(t *testing.T) {
	h := Handler()
	for _, target := range []string{
		"/", "/live/", "/live", "/live/unknown.html", "/live/index.html", "/bad.app/proxy-publisher.html",
		"/bad%20app/proxy-publisher.html", "/" + strings.Repeat("a", 129) + "/proxy-publisher.html",
		"/live/x/proxy-publisher.html", "/live/proxy-publisher.html/", "/live/proxy-publisher.htm",
		"/webui/", "/webui/js/", "/webui/js/nope.js", "/webui/pages/proxy-publisher.html",
		"/webui/proxy-publisher.html", "/webui/v-000000000000/js/nope.js", "/webui/../live/proxy-publisher.html",
		"/webui/js/../css/pages.css",
	} {
		res, _ := get(t, h, http.MethodGet, target, nil)
		require.Equal(t, http.StatusNotFound, res.StatusCode, target)
	}
}

func TestAssets(t *testing.T) {
	h := Handler()
	u := load()
	for _, tc := range []struct{ path, ctype string }{
		{"js/publisher.js", "text/javascript; charset=utf-8"},
		{"js/subscriber.js", "text/javascript; charset=utf-8"},
		{"js/common.js", "text/javascript; charset=utf-8"},
		{"css/pages.css", "text/css; charset=utf-8"},
		{"vendor/hls.min.js", "text/javascript; charset=utf-8"},
		{"vendor/hls.js.LICENSE.txt", "text/plain; charset=utf-8"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			for _, c := range []struct{ prefix, cache string }{
				{"/webui/v-" + u.version + "/", "public, max-age=31536000, immutable"},
				{"/webui/", "no-cache"},
				// a page of another build (another manager during a rolling upgrade) still gets the file
				{"/webui/v-0123456789ab/", "no-cache"},
			} {
				res, body := get(t, h, http.MethodGet, c.prefix+tc.path, nil)
				require.Equal(t, http.StatusOK, res.StatusCode)
				require.Equal(t, tc.ctype, res.Header.Get("Content-Type"))
				require.Equal(t, c.cache, res.Header.Get("Cache-Control"), c.prefix+tc.path)
				require.Equal(t, "*", res.Header.Get("Access-Control-Allow-Origin"))
				require.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"))
				require.NotEmpty(t, body)

				etag := res.Header.Get("ETag")
				require.Regexp(t, `^"[0-9a-f]{20}"$`, etag)
				res, body = get(t, h, http.MethodGet, c.prefix+tc.path, http.Header{"If-None-Match": {etag}})
				require.Equal(t, http.StatusNotModified, res.StatusCode)
				require.Empty(t, body)
			}
		})
	}
}

func TestHeadAndMethods(t *testing.T) {
	h := Handler()
	res, body := get(t, h, http.MethodHead, "/live/proxy-subscriber.html", nil)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Empty(t, body)
	require.NotEmpty(t, res.Header.Get("Content-Length"))
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		res, _ = get(t, h, m, "/live/proxy-publisher.html", nil)
		require.Equal(t, http.StatusMethodNotAllowed, res.StatusCode, m)
		require.Equal(t, "GET, HEAD", res.Header.Get("Allow"))
	}
}

// TestMount: the manager's API gets every request the pages do not take, writes to page paths included.
func TestMount(t *testing.T) {
	var got []string
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Method+" "+r.URL.Path)
		w.WriteHeader(http.StatusTeapot)
	})
	h := Mount(next, Options{})
	res, _ := get(t, h, http.MethodGet, "/live/proxy-publisher.html", nil)
	require.Equal(t, http.StatusOK, res.StatusCode)
	res, _ = get(t, h, http.MethodGet, "/webui/js/common.js", nil)
	require.Equal(t, http.StatusOK, res.StatusCode)
	for _, r := range []struct{ method, path string }{
		{http.MethodGet, "/live/stream1/index.m3u8"}, {http.MethodPost, "/live/stream1/whip"},
		{http.MethodGet, "/api/v1/nodes"}, {http.MethodOptions, "/live/proxy-publisher.html"},
		{http.MethodPost, "/live/proxy-publisher.html"}, {http.MethodGet, "/webui/nope.js"},
	} {
		res, _ = get(t, h, r.method, r.path, nil)
		require.Equal(t, http.StatusTeapot, res.StatusCode, "%s %s", r.method, r.path)
	}
	require.Len(t, got, 6)
}

// TestPagesHaveNoInlineCode: the CSP allows only 'self' scripts and styles, so inline code would be
// blocked in the browser.
func TestPagesHaveNoInlineCode(t *testing.T) {
	inlineScript := regexp.MustCompile(`(?s)<script[^>]*>\s*[^<\s]`)
	handlerAttr := regexp.MustCompile(`(?i)\s(on[a-z]+|style)=`)
	for _, pg := range pages {
		b, err := assets.ReadFile("assets/pages/" + pg.name)
		require.NoError(t, err)
		require.NotRegexp(t, inlineScript, string(b), pg.name)
		require.NotRegexp(t, handlerAttr, string(b), pg.name)
		require.NotContains(t, string(b), "<style", pg.name)
		require.Contains(t, string(b), `type="module"`, pg.name)
	}
}

// TestModuleReferences: every module a script imports, and hls.js, which the subscriber loads relative to
// itself, is embedded (a missing file would show up only in a browser).
func TestModuleReferences(t *testing.T) {
	u := load()
	ref := regexp.MustCompile(`(?:from\s+'|new URL\(')(\.{1,2}/[^']+)'`)
	checked := 0
	for name := range u.assets {
		if !strings.HasPrefix(name, "js/") {
			continue
		}
		b, err := assets.ReadFile("assets/" + name)
		require.NoError(t, err)
		for _, m := range ref.FindAllStringSubmatch(string(b), -1) {
			target := resolve(name, m[1])
			_, ok := u.assets[target]
			require.True(t, ok, "%s refers to %s (%s), which is not embedded", name, m[1], target)
			checked++
		}
	}
	require.GreaterOrEqual(t, checked, 3)
}

func resolve(from, rel string) string {
	parts := strings.Split(from, "/")
	parts = parts[:len(parts)-1]
	for _, seg := range strings.Split(rel, "/") {
		switch seg {
		case ".":
		case "..":
			parts = parts[:len(parts)-1]
		default:
			parts = append(parts, seg)
		}
	}
	return strings.Join(parts, "/")
}

// TestVendoredHlsJS: the embedded hls.js is the release web/package-lock.json pins (scripts/web-build.sh
// -check compares the bytes).
func TestVendoredHlsJS(t *testing.T) {
	lock, err := os.ReadFile("../../web/package-lock.json")
	require.NoError(t, err)
	var l struct {
		Packages map[string]struct{ Version string } `json:"packages"`
	}
	require.NoError(t, json.Unmarshal(lock, &l))
	want := l.Packages["node_modules/hls.js"].Version
	require.NotEmpty(t, want, "web/package-lock.json pins no hls.js")

	b, err := assets.ReadFile("assets/vendor/hls.min.js")
	require.NoError(t, err)
	require.Greater(t, len(b), 100_000)
	require.Contains(t, string(b), `="`+want+`"`, "the embedded hls.min.js is not hls.js %s: run scripts/web-build.sh", want)
	require.Contains(t, string(b), ".Hls=", "hls.min.js defines window.Hls")
	lic, err := assets.ReadFile("assets/vendor/hls.js.LICENSE.txt")
	require.NoError(t, err)
	require.Contains(t, string(lic), "Apache License")
}

func TestValidName(t *testing.T) {
	for s, ok := range map[string]bool{
		"live": true, "a": true, "A-z_09": true, strings.Repeat("x", 128): true,
		"": false, strings.Repeat("x", 129): false, "a.b": false, "a/b": false, "a b": false, "é": false, "..": false,
	} {
		require.Equal(t, ok, ValidName(s), "%q", s)
	}
}

func TestHLSLiveConfig(t *testing.T) {
	raw, err := HLSLiveConfig()
	require.NoError(t, err)
	var cfg map[string]any
	require.NoError(t, json.Unmarshal(raw, &cfg))
	require.Equal(t, true, cfg["lowLatencyMode"], "the pages play LL-HLS")
	require.Greater(t, cfg["maxLiveSyncPlaybackRate"], 1.0, "a player that fell behind catches up")
}
