package hlshttp

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

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
