package playback

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSign(t *testing.T) {
	exp := time.Unix(1_900_000_000, 0)
	q := Sign([]byte("k"), "abc", exp)
	require.Equal(t, "1900000000", q.Get("exp"))
	m := hmac.New(sha256.New, []byte("k"))
	m.Write([]byte("vod\x00abc\x001900000000"))
	require.Equal(t, base64.RawURLEncoding.EncodeToString(m.Sum(nil)), q.Get("sig"))
	require.NotContains(t, q.Get("sig"), "=", "unpadded")
	require.NotEqual(t, q.Get("sig"), Sign([]byte("k"), "abd", exp).Get("sig"))
	require.NotEqual(t, q.Get("sig"), Sign([]byte("k"), "abc", exp.Add(time.Second)).Get("sig"))
	require.Len(t, q, 2)
}

func TestURLs(t *testing.T) {
	hls, mp4, poster, sb := URLs("https://cdn.example.org/", "abc", nil)
	require.Equal(t, "https://cdn.example.org/vod/abc/index.m3u8", hls)
	require.Equal(t, "https://cdn.example.org/vod/abc.mp4", mp4)
	require.Equal(t, "https://cdn.example.org/vod/abc/poster.jpg", poster)
	require.Equal(t, "https://cdn.example.org/vod/abc/storyboard.vtt", sb)

	q := Sign([]byte("k"), "abc", time.Unix(1_900_000_000, 0))
	hls, mp4, _, _ = URLs("https://example.org/play", "abc", q)
	require.Equal(t, "https://example.org/play/vod/abc/index.m3u8?"+q.Encode(), hls)
	require.Equal(t, "https://example.org/play/vod/abc.mp4?"+q.Encode(), mp4)
}

// TestPrivateAccess: a private video plays only through a URL signed for it and not expired; the
// others play without one.
func TestPrivateAccess(t *testing.T) {
	f := newFixture(t)
	good := Sign(testSecret, "priv1", testNow.Add(time.Hour))
	with := func(edit func(q url.Values)) string {
		q := url.Values{}
		for k, v := range good {
			q[k] = append([]string(nil), v...)
		}
		edit(q)
		return q.Encode()
	}
	flip := func(s string) string { // change the last significant character
		c := byte('A')
		if s[len(s)-2] == 'A' {
			c = 'B'
		}
		return s[:len(s)-2] + string(c) + s[len(s)-1:]
	}
	tests := []struct {
		name, query string
		status      int
		msg         string
	}{
		{"good", good.Encode(), 200, ""},
		{"no signature", "", 403, "signed URL required"},
		{"exp only", "exp=" + good.Get("exp"), 403, "signed URL required"},
		{"sig only", "sig=" + good.Get("sig"), 403, "signed URL required"},
		{"expired", Sign(testSecret, "priv1", testNow.Add(-time.Second)).Encode(), 403, "signed URL expired"},
		{"expiring now", Sign(testSecret, "priv1", testNow).Encode(), 403, "signed URL expired"},
		{"tampered signature", with(func(q url.Values) { q.Set("sig", flip(q.Get("sig"))) }), 403, "bad signature"},
		{"tampered expiry", with(func(q url.Values) {
			exp, _ := strconv.ParseInt(q.Get("exp"), 10, 64)
			q.Set("exp", strconv.FormatInt(exp+86400, 10))
		}), 403, "bad signature"},
		{"expired and re-dated", with(func(q url.Values) {
			old := Sign(testSecret, "priv1", testNow.Add(-time.Hour))
			q.Set("sig", old.Get("sig"))
		}), 403, "bad signature"},
		{"signed for another video", Sign(testSecret, "pub1", testNow.Add(time.Hour)).Encode(), 403, "bad signature"},
		{"signed with another secret", Sign([]byte("other"), "priv1", testNow.Add(time.Hour)).Encode(), 403, "bad signature"},
		{"padded signature", with(func(q url.Values) { q.Set("sig", q.Get("sig")+"=") }), 403, "bad signature"},
		{"standard base64", with(func(q url.Values) { q.Set("sig", strings.NewReplacer("-", "+", "_", "/").Replace(q.Get("sig"))) }), 0, ""},
		{"empty signature", with(func(q url.Values) { q.Set("sig", "") }), 403, "bad signature"},
		{"two signatures", with(func(q url.Values) { q.Add("sig", q.Get("sig")) }), 403, "bad signature"},
		{"two expiries", with(func(q url.Values) { q.Add("exp", "1") }), 403, "bad signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.status == 0 { // the same bytes in another alphabet: good only if nothing changed
				if tt.query == good.Encode() {
					tt.status = 200
				} else {
					tt.status, tt.msg = 403, "bad signature"
				}
			}
			for _, p := range []string{"/vod/priv1.mp4", "/vod/priv1/index.m3u8", "/vod/priv1/720p/seg_001.m4s", "/vod/priv1/poster.jpg", "/vod/priv1/storyboard.vtt"} {
				a := do(t, http.MethodGet, f.url+p+"?"+tt.query, nil)
				if tt.status == 200 {
					require.Equal(t, 200, a.status, "%s: %s", p, a)
					require.True(t, strings.HasPrefix(a.header.Get("Cache-Control"), "private, "), "a private video is never kept by a shared cache")
					continue
				}
				requireJSONError(t, a, tt.status, tt.msg)
			}
			if tt.status != 200 {
				require.Empty(t, f.objs.take(), "a refused request reads nothing")
			}
			f.objs.take()
		})
	}

	// The public and unlisted videos play by id; a signature does not matter to them.
	for _, p := range []string{"/vod/pub1.mp4", "/vod/unl1.mp4", "/vod/pub1.mp4?exp=1&sig=bogus"} {
		require.Equal(t, 200, do(t, http.MethodGet, f.url+p, nil).status, p)
	}

	// Without a secret no signature holds, not even one made with the empty key.
	noSecret := *f.h
	noSecret.Secret = nil
	w := httptest.NewRecorder()
	noSecret.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/vod/priv1.mp4?"+Sign(nil, "priv1", testNow.Add(time.Hour)).Encode(), nil))
	require.Equal(t, http.StatusForbidden, w.Code)
	require.JSONEq(t, `{"error": "bad signature"}`, w.Body.String())

	// Nothing of a signature reaches the log, even of a request that failed in the store.
	f.objs.set(func(c *countingObjects) { c.getErr = errDatabaseDown })
	a := do(t, http.MethodGet, f.url+"/vod/priv1.mp4?"+good.Encode(), nil)
	requireJSONError(t, a, http.StatusBadGateway, "storage error")
	require.Contains(t, f.logs.String(), "/vod/priv1.mp4")
	require.NotContains(t, f.logs.String(), good.Get("sig"))
	require.NotContains(t, f.logs.String(), string(testSecret))
}

// uriAttr matches the URI attributes of a playlist's tags.
var uriAttr = regexp.MustCompile(`(?:^|[:,])URI="([^"]*)"`)

// playlistURIs returns the URI lines and URI attributes of a playlist.
func playlistURIs(body string) []string {
	var uris []string
	for line := range strings.Lines(body) {
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
		case strings.HasPrefix(line, "#"):
			for _, m := range uriAttr.FindAllStringSubmatch(line, -1) {
				uris = append(uris, m[1])
			}
		default:
			uris = append(uris, line)
		}
	}
	return uris
}

// TestPrivatePlaylistsSigned crawls a private video's HLS tree as a player would, from the URL that URLs
// and Sign give: every URI of every playlist carries the signature and leads to its file.
func TestPrivatePlaylistsSigned(t *testing.T) {
	f := newFixture(t)
	q := Sign(testSecret, "priv1", testNow.Add(time.Hour))
	start, _, _, _ := URLs(f.url, "priv1", q)

	seen := map[string]bool{}
	queue := []string{start}
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		pu, err := url.Parse(u)
		require.NoError(t, err)
		page := pu.Path
		if seen[page] {
			continue
		}
		seen[page] = true
		a := do(t, http.MethodGet, u, nil)
		require.Equal(t, http.StatusOK, a.status, "%s: %s", page, a)
		key := "vod/pub1/hls/" + strings.TrimPrefix(page, "/vod/priv1/")
		if page == "/vod/priv1/index.m3u8" {
			key = "vod/pub1/hls/master.m3u8"
		}
		if a.header.Get("Content-Type") != "application/vnd.apple.mpegurl" {
			require.Equal(t, f.files[key], a.body, "media is served as stored: %s", page)
			continue
		}
		require.Equal(t, "private, max-age=60", a.header.Get("Cache-Control"))
		require.Equal(t, strconv.Itoa(len(a.body)), a.header.Get("Content-Length"))
		uris := playlistURIs(string(a.body))
		require.Len(t, uris, len(playlistURIs(string(f.files[key]))), "no URI lost or added: %s", page)
		require.NotEmpty(t, uris)
		for _, ref := range uris {
			ru, err := url.Parse(ref)
			require.NoError(t, err, ref)
			require.Equal(t, q, ru.Query(), "%s in %s carries the signature", ref, page)
			queue = append(queue, pu.ResolveReference(ru).String())

			// Without the signature the same file is refused.
			unsigned := *pu.ResolveReference(ru)
			unsigned.RawQuery = ""
			requireJSONError(t, do(t, http.MethodGet, unsigned.String(), nil), 403, "signed URL required")
		}
		// The rewriting changes nothing but the URIs: removing the query gives the stored playlist back.
		require.Equal(t, string(f.files[key]), strings.ReplaceAll(string(a.body), "?"+q.Encode(), ""), page)
	}
	for _, p := range []string{"index.m3u8", "720p/index.m3u8", "720p/iframes.m3u8", "720p/init.mp4", "720p/seg_001.m4s",
		"720p/seg_002.m4s", "360p/index.m3u8", "360p/seg_001.ts", "audio/index.m3u8", "audio/init.mp4", "audio/seg_001.m4s"} {
		require.True(t, seen["/vod/priv1/"+p], "the crawl reached %s", p)
	}

	// A conditional request of a rewritten playlist: the ETag is of the rewritten body.
	a := do(t, http.MethodGet, start, nil)
	require.Equal(t, http.StatusNotModified, do(t, http.MethodGet, start, hdr("If-None-Match", a.header.Get("ETag"))).status)
	// Ranges are not honoured on a rewritten playlist.
	require.Equal(t, http.StatusOK, do(t, http.MethodGet, start, hdr("Range", "bytes=0-3")).status)
	h := do(t, http.MethodHead, start, nil)
	require.Equal(t, http.StatusOK, h.status)
	require.Equal(t, a.header.Get("Content-Length"), h.header.Get("Content-Length"))
	require.Empty(t, h.body)

	// A public video's playlists are served as stored.
	pub, _, _, _ := URLs(f.url, "pub1", nil)
	require.Equal(t, f.files["vod/pub1/hls/master.m3u8"], do(t, http.MethodGet, pub, nil).body)
}

// TestPrivateStoryboardSigned: the image references of a private storyboard track carry the signature.
func TestPrivateStoryboardSigned(t *testing.T) {
	f := newFixture(t)
	q := Sign(testSecret, "priv1", testNow.Add(time.Hour))
	_, _, _, sb := URLs(f.url, "priv1", q)
	a := do(t, http.MethodGet, sb, nil)
	require.Equal(t, http.StatusOK, a.status, "%s", a)
	require.Equal(t, "text/vtt", a.header.Get("Content-Type"))
	want := strings.ReplaceAll(storyboardVTT, "storyboard.jpg#", "storyboard.jpg?"+q.Encode()+"#")
	require.Equal(t, want, string(a.body))

	base, err := url.Parse(sb)
	require.NoError(t, err)
	img, err := base.Parse("storyboard.jpg?" + q.Encode() + "#xywh=0,0,160,90")
	require.NoError(t, err)
	a = do(t, http.MethodGet, img.String(), nil)
	require.Equal(t, http.StatusOK, a.status)
	require.Equal(t, f.files["vod/pub1/storyboard.jpg"], a.body)
}
