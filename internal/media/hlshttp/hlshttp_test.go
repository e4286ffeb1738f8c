package hlshttp

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// server is a media server as the origin's and the edge's are built: Preflight first, then a segment,
// a playlist, or the plain-text error of a missing object.
func server(t *testing.T, a *Accounting) string {
	t.Helper()
	segment := []byte("0123456789abcdefghij")
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.Preflight(w, r) {
			return
		}
		switch r.URL.Path {
		case "/live/s/seg1.mp4":
			a.Send(w, r, "media", "video/mp4", "max-age=60", segment)
		case "/live/s/index.m3u8":
			a.Answer(w, r, "multivariant", http.StatusOK, "", "application/vnd.apple.mpegurl", "no-cache", []byte("#EXTM3U\n"))
		default:
			a.Answer(w, r, "other", http.StatusNotFound, "stream live/x is not live on this node", "", "", nil)
		}
	}))
	t.Cleanup(hs.Close)
	return hs.URL
}

type answer struct {
	status int
	header http.Header
	body   string
}

func get(t *testing.T, method, url string, header http.Header) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	req.Header.Set("Origin", "https://player.example.org")
	for k, vs := range header {
		req.Header[k] = vs
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return answer{res.StatusCode, res.Header, string(b)}
}

// TestPreflight: a browser's preflight of a segment request carrying Range (or a viewer token) is
// answered with 204 and allowed; it was once answered without Access-Control-Allow-Headers, so any
// player sending Range failed.
func TestPreflight(t *testing.T) {
	var a Accounting
	url := server(t, &a)
	for _, path := range []string{"/live/s/seg1.mp4", "/live/s/index.m3u8", "/live/missing/index.m3u8"} {
		res := get(t, "OPTIONS", url+path, http.Header{
			"Access-Control-Request-Method":  {"GET"},
			"Access-Control-Request-Headers": {"range, authorization"},
		})
		require.Equal(t, http.StatusNoContent, res.status, path)
		require.Empty(t, res.body)
		require.Equal(t, "*", res.header.Get("Access-Control-Allow-Origin"))
		require.Equal(t, "GET, HEAD, OPTIONS", res.header.Get("Access-Control-Allow-Methods"))
		require.Equal(t, "GET, HEAD, OPTIONS", res.header.Get("Allow"))
		allowed := strings.Split(strings.ToLower(res.header.Get("Access-Control-Allow-Headers")), ", ")
		require.Contains(t, allowed, "range")
		require.Contains(t, allowed, "authorization")
		require.Equal(t, "7200", res.header.Get("Access-Control-Max-Age"))
		require.Empty(t, res.header.Get("Access-Control-Allow-Credentials"))
	}
	require.Zero(t, a.BytesOut(), "a preflight sends no body")
}

// TestCORSOnEveryAnswer: whole objects, ranges, errors and refused methods all carry
// Access-Control-Allow-Origin (or the page cannot read them) and expose the lengths players read.
func TestCORSOnEveryAnswer(t *testing.T) {
	var a Accounting
	url := server(t, &a)
	check := func(res answer, status int) {
		t.Helper()
		require.Equal(t, status, res.status, "body: %s", res.body)
		require.Equal(t, "*", res.header.Get("Access-Control-Allow-Origin"))
		exposed := strings.Split(res.header.Get("Access-Control-Expose-Headers"), ", ")
		for _, h := range []string{"Content-Length", "Content-Range", "Accept-Ranges", "Age"} {
			require.Contains(t, exposed, h)
		}
	}

	res := get(t, "GET", url+"/live/s/seg1.mp4", nil)
	check(res, http.StatusOK)
	require.Equal(t, "0123456789abcdefghij", res.body)
	require.Equal(t, "20", res.header.Get("Content-Length"))
	require.Equal(t, "bytes", res.header.Get("Accept-Ranges"))
	require.Equal(t, "max-age=60", res.header.Get("Cache-Control"))

	res = get(t, "GET", url+"/live/s/seg1.mp4", http.Header{"Range": {"bytes=5-9"}})
	check(res, http.StatusPartialContent)
	require.Equal(t, "56789", res.body)
	require.Equal(t, "bytes 5-9/20", res.header.Get("Content-Range"))
	require.Equal(t, "5", res.header.Get("Content-Length"))
	require.Equal(t, "video/mp4", res.header.Get("Content-Type"))

	res = get(t, "GET", url+"/live/s/seg1.mp4", http.Header{"Range": {"bytes=15-"}})
	check(res, http.StatusPartialContent)
	require.Equal(t, "fghij", res.body)

	res = get(t, "HEAD", url+"/live/s/seg1.mp4", http.Header{"Range": {"bytes=0-3"}})
	check(res, http.StatusPartialContent)
	require.Empty(t, res.body)
	require.Equal(t, "bytes 0-3/20", res.header.Get("Content-Range"))

	res = get(t, "GET", url+"/live/s/seg1.mp4", http.Header{"Range": {"bytes=30-40"}})
	check(res, http.StatusRequestedRangeNotSatisfiable)
	require.Equal(t, "bytes */20", res.header.Get("Content-Range"))
	unsatisfiable := len(res.body)

	check(get(t, "GET", url+"/live/s/index.m3u8", nil), http.StatusOK)

	res = get(t, "GET", url+"/live/x/index.m3u8", nil)
	check(res, http.StatusNotFound)
	require.Equal(t, "stream live/x is not live on this node\n", res.body)

	res = get(t, "POST", url+"/live/s/seg1.mp4", nil)
	check(res, http.StatusMethodNotAllowed)
	require.Equal(t, "GET, HEAD, OPTIONS", res.header.Get("Allow"))

	// every body byte is counted, the ranges' as the whole objects'
	require.Equal(t, uint64(20+5+5+len("#EXTM3U\n")+len("stream live/x is not live on this node\n")+len("only GET and HEAD are allowed\n")+unsatisfiable),
		a.BytesOut())
}

func TestQueryParam(t *testing.T) {
	want := func(raw string) string {
		q, _ := url.ParseQuery(raw)
		return q.Get("nsid")
	}
	for _, tc := range []struct{ raw, want string }{
		{"", ""},
		{"nsid=abc", "abc"},
		{"_HLS_msn=3&nsid=abc&nsid=def", "abc"},
		{"nsidx=1&xnsid=2", ""},
		{"nsid", ""},
		{"nsid=a%62c", "abc"},
		{"a=1;nsid=abc", ""}, // as net/url: a semicolon spoils the query
	} {
		require.Equal(t, tc.want, QueryParam(tc.raw, "nsid"), tc.raw)
		require.Equal(t, want(tc.raw), QueryParam(tc.raw, "nsid"), tc.raw)
	}
}

// wrapped is a listener whose connections wrap the TCP connection, as netguard's and TLS's do.
type wrapped struct{ net.Listener }

type wrappedConn struct{ net.Conn }

func (c wrappedConn) NetConn() net.Conn { return c.Conn }

func (l wrapped) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	return wrappedConn{c}, err
}

// TestSendFile: a file goes out whole, from its offset, through a corked connection reached under a
// wrapper; ranges of it too; HEAD sends no body.
func TestSendFile(t *testing.T) {
	data := make([]byte, 300<<10)
	for i := range data {
		data[i] = byte(i * 13)
	}
	path := filepath.Join(t.TempDir(), "seg.mp4")
	require.NoError(t, os.WriteFile(path, data, 0o644))
	var a Accounting
	var corkable atomic.Bool
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, ok := r.Context().Value(connKey{}).(syscall.RawConn)
		corkable.Store(ok)
		f, err := os.Open(path)
		require.NoError(t, err)
		_, err = f.Seek(1000, io.SeekStart)
		require.NoError(t, err)
		a.SendFile(w, r, "media", "video/mp4", "public, max-age=3600", f, 200<<10)
	}))
	hs.Listener = wrapped{hs.Listener}
	hs.Config.ConnContext = ConnContext
	hs.Start()
	defer hs.Close()

	for range 3 { // on one connection: corked and uncorked each time
		resp, err := http.Get(hs.URL)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, "video/mp4", resp.Header.Get("Content-Type"))
		require.Equal(t, data[1000:1000+200<<10], body)
		require.True(t, corkable.Load(), "the TCP connection is reached under the wrapper")
	}

	req, err := http.NewRequest(http.MethodGet, hs.URL, nil)
	require.NoError(t, err)
	req.Header.Set("Range", "bytes=10-19")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusPartialContent, resp.StatusCode)
	require.Equal(t, data[1010:1020], body)

	resp, err = http.Head(hs.URL)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, "204800", resp.Header.Get("Content-Length"))
	require.EqualValues(t, 3*(200<<10)+10, a.BytesOut())
}

// BenchmarkSendPlaylist is the cost of answering a 3 kB LL-HLS playlist.
func BenchmarkSendPlaylist(b *testing.B) {
	var playlist strings.Builder
	playlist.WriteString("#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:1\n")
	for i := range 35 {
		fmt.Fprintf(&playlist, "#EXT-X-PART:DURATION=0.20000,URI=\"3ffdb0d3f9d9_part%d_%d.mp4?nsid=cebc91be646ef57776134696\"\n", i/5, i%5)
	}
	body := []byte(playlist.String())
	a := &Accounting{}
	r := httptest.NewRequest(http.MethodGet, "/live/s/video1_stream.m3u8", nil)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		a.Send(discard{}, r, "playlist", PlaylistType, "no-cache", body)
	}
}

// discard is a ResponseWriter that keeps nothing.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}

func TestBlockingParams(t *testing.T) {
	for _, tc := range []struct {
		raw      string
		msn      uint64
		part     int
		blocking bool
		err      string
	}{
		{raw: "", part: -1},
		{raw: "nsid=ab12", part: -1},
		{raw: "nsid=ab12&_HLS_msn=41&_HLS_part=3", msn: 41, part: 3, blocking: true},
		{raw: "_HLS_msn=41", msn: 41, part: -1, blocking: true},
		{raw: "_HLS_part=3&_HLS_msn=7&_HLS_skip=YES", msn: 7, part: 3, blocking: true},
		{raw: "_HLS_msn=%34%31&_HLS_part=0", msn: 41, part: 0, blocking: true}, // escaped digits
		{raw: "_HLS_skip=YES", part: -1},
		{raw: "_HLS_part=3", part: -1, err: "_HLS_part without _HLS_msn"},
		{raw: "_HLS_msn=-1", part: -1, err: "_HLS_msn must be a non-negative integer"},
		{raw: "_HLS_msn=99999999999999999999", part: -1, err: "_HLS_msn must be a non-negative integer"},
		{raw: "_HLS_msn=4&_HLS_part=x", part: -1, err: "_HLS_part must be a non-negative integer"},
	} {
		msn, part, blocking, err := BlockingParams(tc.raw)
		if tc.err != "" {
			require.EqualError(t, err, tc.err, tc.raw)
			require.False(t, blocking, tc.raw)
			continue
		}
		require.NoError(t, err, tc.raw)
		require.Equal(t, []any{tc.msn, tc.part, tc.blocking}, []any{msn, part, blocking}, tc.raw)
	}
}

func TestDateHeader(t *testing.T) {
	before := time.Now().Truncate(time.Second)
	d, err := http.ParseTime(dateHeader()[0])
	require.NoError(t, err)
	require.False(t, d.Before(before))
	require.False(t, d.After(time.Now()))
	for {
		sec := time.Now().Unix()
		a, b := dateHeader(), dateHeader()
		if time.Now().Unix() == sec { // else a second turned between the two: try again
			require.Same(t, &a[0], &b[0], "made once a second")
			return
		}
	}
}
