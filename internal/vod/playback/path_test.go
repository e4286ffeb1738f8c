package playback

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/objstore"
)

// TestHostilePaths sends request targets byte for byte: none is served, none reaches a key outside the
// video's directory.
func TestHostilePaths(t *testing.T) {
	f := newFixture(t)
	long := strings.Repeat("a", 300)
	tests := []struct {
		target string
		status int
	}{
		{"/vod/pub1/../other/source.mp4", 400},
		{"/vod/pub1/../../vod/other/secret.txt", 400},
		{"/vod/pub1/720p/../../other/secret.txt", 400},
		{"/vod/pub1/%2e%2e/other/secret.txt", 400},
		{"/vod/pub1/%2E%2E/%2e%2e/other/secret.txt", 400},
		{"/vod/pub1/..%2f..%2fother%2fsecret.txt", 400},
		{"/vod/pub1/720p%2f..%2f..%2fother%2fsecret.txt", 400},
		{"/vod/pub1/.%2e/other/secret.txt", 400},
		{"/vod/pub1/..", 400},
		{"/vod/pub1/.", 400},
		{"/vod/pub1/./720p/seg_001.m4s", 400},
		{"/vod/pub1//other/secret.txt", 400},
		{"/vod/pub1/%2fvod/other/secret.txt", 400},
		{"/vod/pub1/720p//seg_001.m4s", 400},
		{"/vod/pub1/720p/", 400},
		{"/vod/pub1/", 400},
		{"/vod/pub1/..%5c..%5cother%5csecret.txt", 400},
		{"/vod/pub1/720p%5cseg_001.m4s", 400},
		{"/vod/pub1/720p/seg_001.m4s%00", 400},
		{"/vod/pub1/720p/seg_001.m4s%00.jpg", 400},
		{"/vod/pub1/720p/seg%0a001.m4s", 400},
		{"/vod/pub1/720p/seg%20001.m4s", 400},
		{"/vod/pub1/720p/se%25g.m4s", 400},
		{"/vod/pub1/%c3%a9.m4s", 400},
		{"/vod/pub1/.hidden", 400},
		{"/vod/pub1/720p/.seg_001.m4s.meta.json", 400}, // the local store's sidecar
		{"/vod/pub1/" + long, 400},
		{"/vod/pub1/" + strings.Repeat("d/", 9) + "x.m4s", 400},
		{"/vod/pub1/" + strings.Repeat("abcdefgh/", 60) + "x.m4s", 400},
		{"/vod/pub1/" + strings.Repeat("x", 10_000), 400},
		{"/vod/" + strings.Repeat("a", 65) + ".mp4", 400},
		{"/vod/" + strings.Repeat("a", 65) + "/index.m3u8", 400},
		{"/vod/..%2fother.mp4", 400},
		{"/vod/%2e%2e/other/source.mp4", 400},
		{"/vod/../vod/other/source.mp4", 400},
		{"/vod/pub1%00.mp4", 400},
		{"/vod/pub.1.mp4", 400},
		{"/vod/pub1.mp4/", 400},
		{"/vod/.mp4", 400},
		{"/vod//index.m3u8", 400},
		{"/vod/pub1/720p/seg_404.m4s", 404},
		{"/vod/" + strings.Repeat("a", 64) + ".mp4", 404}, // a valid id that is unknown
	}
	for _, tt := range tests {
		name := tt.target
		if len(name) > 80 {
			name = name[:80]
		}
		t.Run(name, func(t *testing.T) {
			for _, method := range []string{http.MethodGet, http.MethodHead} {
				a := f.doRaw(t, method, tt.target)
				require.Equal(t, tt.status, a.status, "%s %s: %s", method, tt.target, a)
				require.Equal(t, "application/json", a.header.Get("Content-Type"))
			}
			for _, c := range f.objs.take() {
				require.True(t, strings.HasPrefix(c.key, "vod/pub1/hls/"), "%s reached %q", tt.target, c.key)
			}
		})
	}
}

func TestHLSKey(t *testing.T) {
	for _, tt := range []struct {
		playlist, sub, key string
	}{
		{"vod/a/hls/master.m3u8", "720p/seg_1.m4s", "vod/a/hls/720p/seg_1.m4s"},
		{"vod/a/hls/master.m3u8", "init.mp4", "vod/a/hls/init.mp4"},
		{"master.m3u8", "720p/x.ts", "720p/x.ts"},
		{"vod/a/hls/master.m3u8", "../x", ""},
		{"vod/a/hls/master.m3u8", "720p/../../x", ""},
		{"vod/a/hls/master.m3u8", "/etc/passwd", ""},
		{"vod/a/hls/master.m3u8", "a//b", ""},
		{"vod/a/hls/master.m3u8", "a\\b", ""},
		{"vod/a/hls/master.m3u8", "", ""},
		{"vod/a/hls/master.m3u8", "a/", ""},
		{"vod/a/hls/master.m3u8", ".x", ""},
		{"vod/a/hls/master.m3u8", strings.Repeat("a", objstore.MaxElemLen+1), ""},
		{strings.Repeat("p/", 510) + "m.m3u8", "seg.m4s", ""}, // the joined key is too long
	} {
		key, ok := hlsKey(tt.playlist, tt.sub)
		require.Equal(t, tt.key != "", ok, "%q + %q", tt.playlist, tt.sub)
		require.Equal(t, tt.key, key)
	}
}

// FuzzPath feeds request paths below a video to the resolution and to the whole handler: a resolved key
// is valid and below the playlist's directory, and the handler never touches a key outside it.
func FuzzPath(f *testing.F) {
	for _, s := range []string{"720p/seg_001.m4s", "index.m3u8", "../other/secret.txt", "%2e%2e/x", "a//b", "a\\b",
		"a\x00b", ".hidden", "720p/.seg_001.m4s.meta.json", "poster.jpg", "/abs", strings.Repeat("a/", 20)} {
		f.Add(s)
	}
	store, err := objstore.NewLocal(f.TempDir())
	require.NoError(f, err)
	const playlist = "vod/fz/hls/master.m3u8"
	for _, key := range []string{playlist, "vod/fz/hls/720p/seg_001.m4s", "vod/other/secret.txt"} {
		require.NoError(f, store.Put(f.Context(), key, strings.NewReader("x"), 1, objstore.PutOptions{}))
	}
	objs := &countingObjects{inner: store}
	h := &Handler{
		Library: &fakeLibrary{media: map[string]Media{"fz": {ID: "fz", Visibility: Public, Ready: true, HLSKey: playlist, MP4Key: "vod/fz/hls/720p/seg_001.m4s"}}},
		Objects: objs,
	}
	f.Fuzz(func(t *testing.T, sub string) {
		if key, ok := hlsKey(playlist, sub); ok {
			require.True(t, objstore.ValidKey(key), key)
			require.True(t, strings.HasPrefix(key, "vod/fz/hls/"), key)
			require.Equal(t, path.Clean(key), key)
			require.NotContains(t, key, "..")
		}

		// The same string as a raw request target, escaped or not.
		for _, target := range []string{"/vod/fz/" + sub, "/vod/fz/" + url.PathEscape(sub), "/vod/" + sub} {
			u, err := url.ParseRequestURI(target)
			if err != nil {
				continue
			}
			req := httptest.NewRequest(http.MethodGet, "http://example.org/", nil)
			req.URL, req.RequestURI = u, target
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			switch w.Code {
			case 200, 206, 400, 404, 416:
			default:
				t.Fatalf("%q: status %d", target, w.Code)
			}
			for _, c := range objs.take() {
				require.True(t, strings.HasPrefix(c.key, "vod/fz/hls/"), "%q reached %q", target, c.key)
			}
		}
	})
}
