package hlshttp

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// livePlaylist is a low-latency media playlist of the kind the origin serves, of about 1.6 kB.
func livePlaylist(msn int) []byte {
	var b strings.Builder
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:1\n" +
		"#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.60000\n#EXT-X-PART-INF:PART-TARGET=0.20000\n")
	fmt.Fprintf(&b, "#EXT-X-MEDIA-SEQUENCE:%d\n#EXT-X-MAP:URI=\"22e1ff3b8b15_init.mp4\"\n", msn)
	for i := msn; i < msn+6; i++ {
		fmt.Fprintf(&b, "#EXT-X-PROGRAM-DATE-TIME:2026-12-07T12:28:%02d.518Z\n", i%60)
		if i >= msn+4 {
			for p := 0; p < 5; p++ {
				fmt.Fprintf(&b, "#EXT-X-PART:DURATION=0.20000,URI=\"22e1ff3b8b15_part%d_%d.mp4\"\n", i, p)
			}
		}
		fmt.Fprintf(&b, "#EXTINF:1.00000,\n22e1ff3b8b15_seg%d.mp4\n", i)
	}
	fmt.Fprintf(&b, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"22e1ff3b8b15_part%d_0.mp4\"\n", msn+6)
	return []byte(b.String())
}

// TestPlaylistGzip sends playlists and a segment through Send over a real connection, with the Accept-Encoding
// and Range headers players send, and checks what went out: a playlist compressed for whoever takes gzip
// (and marked as depending on Accept-Encoding for whoever negotiates), everything else as it is.
func TestPlaylistGzip(t *testing.T) {
	big := livePlaylist(6)
	require.Greater(t, len(big), gzipMin)
	small := []byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000\nv.m3u8\n")
	var a Accounting
	mux := http.NewServeMux()
	mux.HandleFunc("/big.m3u8", func(w http.ResponseWriter, r *http.Request) { a.Send(w, r, "playlist", PlaylistType, "no-cache", big) })
	mux.HandleFunc("/small.m3u8", func(w http.ResponseWriter, r *http.Request) {
		a.Send(w, r, "playlist", PlaylistType, "no-cache", small)
	})
	mux.HandleFunc("/seg.mp4", func(w http.ResponseWriter, r *http.Request) { a.Send(w, r, "media", "video/mp4", "max-age=60", big) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	hs := &http.Server{Handler: mux}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { hs.Close() })
	// the transport hands the body over as sent (it asks for nothing itself, and inflates nothing)
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}

	for _, c := range []struct {
		name, path     string
		header         http.Header
		wantGzip       bool
		wantVary       bool
		wantStatus     int
		wantPlainBytes []byte
	}{
		{name: "a browser's playlist", path: "/big.m3u8", header: http.Header{"Accept-Encoding": {"gzip, deflate, br, zstd"}},
			wantGzip: true, wantVary: true, wantStatus: 200, wantPlainBytes: big},
		{name: "gzip among others, any case", path: "/big.m3u8", header: http.Header{"Accept-Encoding": {"br", "GZip;q=0.5"}},
			wantGzip: true, wantVary: true, wantStatus: 200, wantPlainBytes: big},
		{name: "no Accept-Encoding (wrk, ffmpeg)", path: "/big.m3u8", wantStatus: 200, wantPlainBytes: big},
		{name: "gzip refused", path: "/big.m3u8", header: http.Header{"Accept-Encoding": {"gzip;q=0, identity"}},
			wantVary: true, wantStatus: 200, wantPlainBytes: big},
		{name: "another coding only", path: "/big.m3u8", header: http.Header{"Accept-Encoding": {"br"}},
			wantVary: true, wantStatus: 200, wantPlainBytes: big},
		{name: "a byte range", path: "/big.m3u8", header: http.Header{"Accept-Encoding": {"gzip"}, "Range": {"bytes=0-6"}},
			wantStatus: 206, wantPlainBytes: big[:7]},
		{name: "too small to gain", path: "/small.m3u8", header: http.Header{"Accept-Encoding": {"gzip"}},
			wantStatus: 200, wantPlainBytes: small},
		{name: "media, never", path: "/seg.mp4", header: http.Header{"Accept-Encoding": {"gzip"}},
			wantStatus: 200, wantPlainBytes: big},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, "http://"+ln.Addr().String()+c.path, nil)
			require.NoError(t, err)
			for k, v := range c.header {
				req.Header[k] = v
			}
			res, err := client.Do(req)
			require.NoError(t, err)
			defer res.Body.Close()
			raw, err := io.ReadAll(res.Body)
			require.NoError(t, err)
			assert.Equal(t, c.wantStatus, res.StatusCode)
			assert.Equal(t, fmt.Sprint(len(raw)), res.Header.Get("Content-Length"), "Content-Length is of the bytes sent")
			if c.wantVary {
				assert.Equal(t, "Accept-Encoding", res.Header.Get("Vary"))
			} else {
				assert.Empty(t, res.Header.Get("Vary"))
			}
			body := raw
			if c.wantGzip {
				require.Equal(t, "gzip", res.Header.Get("Content-Encoding"))
				zr, err := gzip.NewReader(bytes.NewReader(raw))
				require.NoError(t, err)
				body, err = io.ReadAll(zr)
				require.NoError(t, err)
				assert.Less(t, len(raw)*3, len(body), "a live playlist compresses at least 3 times")
			} else {
				assert.Empty(t, res.Header.Get("Content-Encoding"))
			}
			assert.Equal(t, string(c.wantPlainBytes), string(body))
		})
	}
}

// TestPlaylistGzipShared: the viewers of one version of a playlist get the bytes compressed once; a new
// version is compressed anew, and versions that fall in the same slot each get their own bytes.
func TestPlaylistGzipShared(t *testing.T) {
	var c gzipCache
	v1, v2 := livePlaylist(100), livePlaylist(101)
	first := c.compressed(v1)
	again := c.compressed(bytes.Clone(v1))
	assert.Same(t, &first[0], &again[0], "the same playlist compressed twice")
	other := c.compressed(v2)
	assert.NotSame(t, &first[0], &other[0])
	for _, want := range [][]byte{v1, v2} {
		zr, err := gzip.NewReader(bytes.NewReader(c.compressed(want)))
		require.NoError(t, err)
		got, err := io.ReadAll(zr)
		require.NoError(t, err)
		assert.Equal(t, string(want), string(got))
	}
	// many versions through few slots: what comes out is always the body asked for
	for i := range 3 * gzipSlots {
		want := livePlaylist(200 + i)
		zr, err := gzip.NewReader(bytes.NewReader(c.compressed(want)))
		require.NoError(t, err)
		got, err := io.ReadAll(zr)
		require.NoError(t, err)
		require.Equal(t, string(want), string(got), "version %d", i)
	}
}
