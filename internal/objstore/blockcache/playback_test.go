package blockcache_test

import (
	"context"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/objstore/blockcache"
	"github.com/nagare-video/nagare/internal/vod/playback"
)

// oneVideo is a playback Library of one public video.
type oneVideo struct{ m playback.Media }

func (l oneVideo) Media(_ context.Context, id string) (playback.Media, error) {
	if id != l.m.ID {
		return playback.Media{}, fmt.Errorf("video %q: %w", id, playback.ErrNotFound)
	}
	return l.m, nil
}

// answer is what the test compares of a playback answer: multipart parts are compared by their headers
// and bodies, the boundary being random.
type answer struct {
	status  int
	headers map[string]string
	body    []byte
	parts   []string
}

func get(t *testing.T, url, rangeHeader string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if rangeHeader != "" {
		req.Header.Set("Range", rangeHeader)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode, headers: map[string]string{}}
	for _, h := range []string{"Content-Length", "Content-Range", "ETag", "Last-Modified", "Accept-Ranges", "Cache-Control"} {
		a.headers[h] = resp.Header.Get(h)
	}
	mt, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt != "multipart/byteranges" {
		a.headers["Content-Type"] = resp.Header.Get("Content-Type")
		a.body, err = io.ReadAll(resp.Body)
		require.NoError(t, err)
		return a
	}
	delete(a.headers, "Content-Length") // depends on the boundary's length
	mr := multipart.NewReader(resp.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return a
		}
		require.NoError(t, err)
		b, err := io.ReadAll(p)
		require.NoError(t, err)
		a.parts = append(a.parts, fmt.Sprintf("%s %s %x", p.Header.Get("Content-Type"), p.Header.Get("Content-Range"), b))
	}
}

// TestPlaybackOverTheCache: the playback handler answers the same over the cache as over the store, and
// once the blocks are kept it no longer asks the store anything.
func TestPlaybackOverTheCache(t *testing.T) {
	const size = 5<<20 + 12345
	src := newSource(t)
	data := randomBytes(size, 7)
	src.put(t, testKey, data, mod1)
	lib := oneVideo{playback.Media{ID: "v1", Visibility: playback.Public, Ready: true, MP4Key: testKey}}
	direct := httptest.NewServer(&playback.Handler{Library: lib, Objects: src.local})
	defer direct.Close()
	cache := blockcache.New(src, blockcache.Config{Size: 64 << 20})
	cached := httptest.NewServer(&playback.Handler{Library: lib, Objects: cache})
	defer cached.Close()

	ranges := []string{
		"",
		"bytes=0-1",
		"bytes=0-1048575",
		"bytes=1048576-2097151",
		"bytes=1000000-3000000",
		"bytes=-500",
		"bytes=5000000-",
		fmt.Sprintf("bytes=%d-%d", size-10, size+1000),
		"bytes=0-0,2097150-2097160,-3",
		fmt.Sprintf("bytes=%d-", size),
	}
	for pass := 1; pass <= 2; pass++ {
		gets0, heads0 := src.counts()
		for _, rh := range ranges {
			want, got := get(t, direct.URL+"/vod/v1.mp4", rh), get(t, cached.URL+"/vod/v1.mp4", rh)
			require.Equal(t, want.status, got.status, "Range %q", rh)
			require.Equal(t, want.headers, got.headers, "Range %q", rh)
			requireBytes(t, want.body, got.body)
			require.Equal(t, want.parts, got.parts, "Range %q", rh)
		}
		gets, heads := src.counts()
		if pass == 2 {
			require.Equal(t, gets0, gets, "no Get of the store once the blocks are kept")
			require.Equal(t, heads0, heads, "no Head of the store within HeadTTL")
		}
	}
	require.Equal(t, 206, get(t, cached.URL+"/vod/v1.mp4", "bytes=5-9").status)
	requireBytes(t, data[5:10], get(t, cached.URL+"/vod/v1.mp4", "bytes=5-9").body)
}
