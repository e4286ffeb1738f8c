package playback

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/objstore"
)

// TestMP4Ranges checks every answer to a Range header against the file's bytes, and that each range was
// read with exactly one ranged Get of exactly that range (the whole object only when it is answered).
func TestMP4Ranges(t *testing.T) {
	f := newFixture(t)
	data := f.files["vod/pub1/source.mp4"]
	u := f.url + "/vod/pub1.mp4"

	head := do(t, http.MethodHead, u, nil)
	require.Equal(t, http.StatusOK, head.status)
	etag, lastMod := head.header.Get("ETag"), head.header.Get("Last-Modified")
	require.Regexp(t, `^"[0-9a-f]{32}"$`, etag, "a strong ETag")
	modTime, err := http.ParseTime(lastMod)
	require.NoError(t, err)
	f.objs.take()

	const size = mp4Size
	r := func(s, e int64) byteRange { return byteRange{s, e} }
	seventeen := make([]string, 17)
	for i := range seventeen {
		seventeen[i] = fmt.Sprintf("%d-%d", i*10, i*10+5)
	}
	tests := []struct {
		name   string
		header http.Header
		status int
		ranges []byteRange // 206: the ranges answered, in order
	}{
		{"no range", nil, 200, nil},
		{"first 100 bytes", hdr("Range", "bytes=0-99"), 206, []byteRange{r(0, 99)}},
		{"one byte", hdr("Range", "bytes=1234-1234"), 206, []byteRange{r(1234, 1234)}},
		{"suffix", hdr("Range", "bytes=-500"), 206, []byteRange{r(size-500, size-1)}},
		{"suffix longer than the file", hdr("Range", "bytes=-99999999"), 206, []byteRange{r(0, size-1)}},
		{"open-ended", hdr("Range", "bytes=100-"), 206, []byteRange{r(100, size-1)}},
		{"last byte open-ended", hdr("Range", fmt.Sprintf("bytes=%d-", size-1)), 206, []byteRange{r(size-1, size-1)}},
		{"end past the end is clamped", hdr("Range", fmt.Sprintf("bytes=%d-%d", size-10, size+1000)), 206, []byteRange{r(size-10, size-1)}},
		{"huge end is clamped", hdr("Range", "bytes=5-99999999999999999999999"), 206, []byteRange{r(5, size-1)}},
		{"unit is case-insensitive", hdr("Range", "Bytes=0-0"), 206, []byteRange{r(0, 0)}},
		{"three ranges", hdr("Range", "bytes=0-9,1000-1999,-10"), 206, []byteRange{r(0, 9), r(1000, 1999), r(size-10, size-1)}},
		{"descending disjoint ranges keep their order", hdr("Range", "bytes=500-599, 0-99"), 206, []byteRange{r(500, 599), r(0, 99)}},
		{"empty elements and whitespace", hdr("Range", "bytes=,0-1 , ,\t4-5,"), 206, []byteRange{r(0, 1), r(4, 5)}},
		{"adjacent ranges are not overlapping", hdr("Range", "bytes=0-9,10-19"), 206, []byteRange{r(0, 9), r(10, 19)}},
		{"unsatisfiable specs are dropped", hdr("Range", fmt.Sprintf("bytes=%d-,0-4", size)), 206, []byteRange{r(0, 4)}},
		{"16 ranges", hdr("Range", "bytes="+strings.Join(seventeen[:16], ",")), 206, sixteenRanges()},
		{"17 ranges: whole", hdr("Range", "bytes="+strings.Join(seventeen, ",")), 200, nil},
		{"overlapping: whole", hdr("Range", "bytes=0-99,50-149"), 200, nil},
		{"overlapping suffix: whole", hdr("Range", "bytes=0-,-10"), 200, nil},
		{"start past the end", hdr("Range", fmt.Sprintf("bytes=%d-", size)), 416, nil},
		{"all past the end", hdr("Range", fmt.Sprintf("bytes=%d-%d,%d-", size+5, size+9, size*2)), 416, nil},
		{"empty suffix", hdr("Range", "bytes=-0"), 416, nil},
		{"malformed: no unit", hdr("Range", "0-99"), 200, nil},
		{"malformed: other unit", hdr("Range", "pages=0-1"), 200, nil},
		{"malformed: no spec", hdr("Range", "bytes="), 200, nil},
		{"malformed: only commas", hdr("Range", "bytes=,,"), 200, nil},
		{"malformed: letters", hdr("Range", "bytes=a-b"), 200, nil},
		{"malformed: end before start", hdr("Range", "bytes=10-5"), 200, nil},
		{"malformed: a bad spec spoils the set", hdr("Range", "bytes=0-1,x"), 200, nil},
		{"malformed: double dash", hdr("Range", "bytes=--5"), 200, nil},
		{"malformed: sign", hdr("Range", "bytes=+1-2"), 200, nil},
		{"malformed: space inside a spec", hdr("Range", "bytes=0 -1"), 200, nil},
		{"malformed: space before =", hdr("Range", "bytes =0-1"), 200, nil},
		{"malformed: parameters", hdr("Range", "bytes=0-1;q=1"), 200, nil},
		{"malformed: two Range fields", http.Header{"Range": {"bytes=0-1", "bytes=2-3"}}, 200, nil},
		{"If-Range with the current ETag", hdr("Range", "bytes=10-19", "If-Range", etag), 206, []byteRange{r(10, 19)}},
		{"If-Range with a stale ETag", hdr("Range", "bytes=10-19", "If-Range", `"0123"`), 200, nil},
		{"If-Range with a weak ETag", hdr("Range", "bytes=10-19", "If-Range", "W/"+etag), 200, nil},
		{"If-Range with the Last-Modified date", hdr("Range", "bytes=10-19", "If-Range", lastMod), 206, []byteRange{r(10, 19)}},
		{"If-Range with an older date", hdr("Range", "bytes=10-19", "If-Range", modTime.Add(-time.Hour).Format(http.TimeFormat)), 200, nil},
		{"If-Range with garbage", hdr("Range", "bytes=10-19", "If-Range", "yesterday"), 200, nil},
		{"If-None-Match current", hdr("If-None-Match", etag), 304, nil},
		{"If-None-Match in a list", hdr("If-None-Match", `"a", `+etag), 304, nil},
		{"If-None-Match weak comparison", hdr("If-None-Match", "W/"+etag), 304, nil},
		{"If-None-Match star", hdr("If-None-Match", "*"), 304, nil},
		{"If-None-Match beats a Range", hdr("If-None-Match", etag, "Range", "bytes=0-1"), 304, nil},
		{"If-None-Match stale", hdr("If-None-Match", `"a", "b"`), 200, nil},
		{"If-None-Match stale wins over If-Modified-Since", hdr("If-None-Match", `"a"`, "If-Modified-Since", lastMod), 200, nil},
		{"If-Modified-Since current", hdr("If-Modified-Since", lastMod), 304, nil},
		{"If-Modified-Since older", hdr("If-Modified-Since", modTime.Add(-time.Second).Format(http.TimeFormat)), 200, nil},
		{"If-Match current with a Range", hdr("If-Match", etag, "Range", "bytes=0-0"), 206, []byteRange{r(0, 0)}},
		{"If-Match stale", hdr("If-Match", `"nope"`), 412, nil},
		{"If-Unmodified-Since older", hdr("If-Unmodified-Since", modTime.Add(-time.Hour).Format(http.TimeFormat)), 412, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := do(t, http.MethodGet, u, tt.header)
			calls := f.objs.take()
			require.Equal(t, tt.status, a.status, "%s", a)
			require.Equal(t, call{op: "head", key: "vod/pub1/source.mp4"}, calls[0], "the headers come from one Head")
			gets := calls[1:]
			require.Equal(t, "*", a.header.Get("Access-Control-Allow-Origin"))
			if tt.status != 304 && tt.status != 412 && tt.status != 416 {
				require.Equal(t, "bytes", a.header.Get("Accept-Ranges"))
				require.Equal(t, etag, a.header.Get("ETag"))
				require.Equal(t, lastMod, a.header.Get("Last-Modified"))
				require.Equal(t, "public, max-age=31536000, immutable", a.header.Get("Cache-Control"))
				require.Equal(t, strconv.Itoa(len(a.body)), a.header.Get("Content-Length"))
			}
			switch tt.status {
			case 200:
				require.Equal(t, "video/mp4", a.header.Get("Content-Type"))
				require.True(t, bytes.Equal(data, a.body), "the whole file")
				require.Equal(t, []call{{op: "get", key: "vod/pub1/source.mp4"}}, gets, "one Get of the whole object")
			case 206:
				got := ranges206(t, a, size)
				require.Len(t, got, len(tt.ranges))
				for i, p := range got {
					require.Equal(t, tt.ranges[i], p.r, "part %d", i)
					require.True(t, bytes.Equal(data[p.r.start:p.r.end+1], p.body), "part %d bytes", i)
				}
				want := make([]call, len(tt.ranges))
				for i, br := range tt.ranges {
					want[i] = call{"get", "vod/pub1/source.mp4", &objstore.Range{Start: br.start, End: br.end}}
				}
				require.Equal(t, want, gets, "one ranged Get of exactly each range")
			case 304:
				require.Empty(t, a.body)
				require.Equal(t, etag, a.header.Get("ETag"))
				require.Empty(t, gets)
			case 412:
				requireJSONError(t, a, 412, "precondition failed")
				require.Empty(t, gets)
			case 416:
				requireJSONError(t, a, 416, "range not satisfiable")
				require.Equal(t, fmt.Sprintf("bytes */%d", size), a.header.Get("Content-Range"))
				require.Empty(t, gets)
			}

			// HEAD answers the same status and headers without a body, and reads nothing.
			h := do(t, http.MethodHead, u, tt.header)
			require.Equal(t, a.status, h.status)
			require.Empty(t, h.body)
			for _, k := range []string{"Content-Length", "Content-Range", "ETag", "Last-Modified", "Accept-Ranges", "Cache-Control"} {
				require.Equal(t, a.header.Get(k), h.header.Get(k), k)
			}
			if !strings.HasPrefix(a.header.Get("Content-Type"), "multipart/") { // a new boundary each time
				require.Equal(t, a.header.Get("Content-Type"), h.header.Get("Content-Type"))
			}
			require.Equal(t, []call{{op: "head", key: "vod/pub1/source.mp4"}}, f.objs.take(), "HEAD reads no byte")
		})
	}
}

func sixteenRanges() []byteRange {
	rs := make([]byteRange, 16)
	for i := range rs {
		rs[i] = byteRange{int64(i * 10), int64(i*10 + 5)}
	}
	return rs
}

// hdr builds a header from key, value pairs.
func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

type part struct {
	r    byteRange
	body []byte
}

// ranges206 reads the ranges of a 206 answer, single or multipart/byteranges.
func ranges206(t *testing.T, a answer, size int64) []part {
	t.Helper()
	mt, params, err := mime.ParseMediaType(a.header.Get("Content-Type"))
	require.NoError(t, err)
	if mt != "multipart/byteranges" {
		require.Equal(t, "video/mp4", mt)
		return []part{{parseContentRange(t, a.header.Get("Content-Range"), size), a.body}}
	}
	require.Empty(t, a.header.Get("Content-Range"), "a multipart answer has its ranges in its parts")
	mr := multipart.NewReader(bytes.NewReader(a.body), params["boundary"])
	var parts []part
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		require.Equal(t, "video/mp4", p.Header.Get("Content-Type"))
		b, err := io.ReadAll(p)
		require.NoError(t, err)
		parts = append(parts, part{parseContentRange(t, p.Header.Get("Content-Range"), size), b})
	}
	require.Greater(t, len(parts), 1, "a multipart answer is for several ranges")
	return parts
}

func parseContentRange(t *testing.T, cr string, size int64) byteRange {
	t.Helper()
	var br byteRange
	var total int64
	_, err := fmt.Sscanf(cr, "bytes %d-%d/%d", &br.start, &br.end, &total)
	require.NoError(t, err, cr)
	require.Equal(t, size, total, cr)
	return br
}

// TestMP4Errors: the store answers that fix the status of an MP4 request.
func TestMP4Errors(t *testing.T) {
	f := newFixture(t)

	a := do(t, http.MethodGet, f.url+"/vod/broken1.mp4", nil)
	requireJSONError(t, a, http.StatusNotFound, "not found")
	require.Contains(t, f.logs.String(), "vod object missing", "a key the library names but the store lacks is logged")

	a = do(t, http.MethodGet, f.url+"/vod/bare1.mp4", nil)
	requireJSONError(t, a, http.StatusNotFound, "video has no progressive MP4")

	f.objs.set(func(c *countingObjects) {
		c.headErr = fmt.Errorf("heading %q: connection refused", "vod/pub1/source.mp4")
	})
	a = do(t, http.MethodGet, f.url+"/vod/pub1.mp4", nil)
	requireJSONError(t, a, http.StatusBadGateway, "storage error")
	f.objs.set(func(c *countingObjects) {
		c.headErr, c.getErr = nil, fmt.Errorf("getting: %w", objstore.ErrInvalidRange)
	})
	a = do(t, http.MethodGet, f.url+"/vod/pub1.mp4", hdr("Range", "bytes=0-9"))
	requireJSONError(t, a, http.StatusServiceUnavailable, "object changed while being read, retry")
	require.Equal(t, "1", a.header.Get("Retry-After"))
	require.Contains(t, f.logs.String(), "connection refused")
}

// TestObjectChangedBetweenHeadAndGet: the headers come from Head; a Get that finds another object (here:
// replaced by one of another size) must not send its bytes under them.
func TestObjectChangedBetweenHeadAndGet(t *testing.T) {
	f := newFixture(t)
	f.objs.set(func(c *countingObjects) { c.inner = &replacingObjects{Local: f.store} })
	a := do(t, http.MethodGet, f.url+"/vod/pub1.mp4", hdr("Range", "bytes=0-9"))
	requireJSONError(t, a, http.StatusServiceUnavailable, "object changed while being read, retry")
}

// replacingObjects replaces the object between Head and Get.
type replacingObjects struct{ *objstore.Local }

func (r *replacingObjects) Get(ctx context.Context, key string, rng *objstore.Range) (io.ReadCloser, objstore.ObjectInfo, error) {
	if err := r.Put(ctx, key, strings.NewReader("new"), 3, objstore.PutOptions{}); err != nil {
		return nil, objstore.ObjectInfo{}, err
	}
	return r.Local.Get(ctx, key, rng)
}

// TestRoutes: content types, caching and statuses of every route of a public video.
func TestRoutes(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		path, key, ctype, cache string
	}{
		{"/vod/pub1/index.m3u8", "vod/pub1/hls/master.m3u8", "application/vnd.apple.mpegurl", "public, max-age=60"},
		{"/vod/pub1/720p/index.m3u8", "vod/pub1/hls/720p/index.m3u8", "application/vnd.apple.mpegurl", "public, max-age=60"},
		{"/vod/pub1/720p/init.mp4", "vod/pub1/hls/720p/init.mp4", "video/mp4", "public, max-age=31536000, immutable"},
		{"/vod/pub1/720p/seg_001.m4s", "vod/pub1/hls/720p/seg_001.m4s", "video/iso.segment", "public, max-age=31536000, immutable"},
		{"/vod/pub1/360p/seg_001.ts", "vod/pub1/hls/360p/seg_001.ts", "video/mp2t", "public, max-age=31536000, immutable"},
		{"/vod/pub1/subs/en.vtt", "vod/pub1/hls/subs/en.vtt", "text/vtt", "public, max-age=31536000, immutable"},
		{"/vod/pub1/poster.jpg", "vod/pub1/poster.jpg", "image/jpeg", "public, max-age=3600"},
		{"/vod/pub1/storyboard.jpg", "vod/pub1/storyboard.jpg", "image/jpeg", "public, max-age=3600"},
		{"/vod/pub1/storyboard.vtt", "vod/pub1/storyboard.vtt", "text/vtt", "public, max-age=3600"},
		{"/vod/unl1/720p/seg_002.m4s", "vod/pub1/hls/720p/seg_002.m4s", "video/iso.segment", "public, max-age=31536000, immutable"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			a := do(t, http.MethodGet, f.url+tt.path, nil)
			require.Equal(t, http.StatusOK, a.status, "%s", a)
			require.Equal(t, f.files[tt.key], a.body, "public files are served as stored")
			require.Equal(t, tt.ctype, a.header.Get("Content-Type"))
			require.Equal(t, tt.cache, a.header.Get("Cache-Control"))
			require.Equal(t, "nosniff", a.header.Get("X-Content-Type-Options"))
			require.Equal(t, []call{{op: "head", key: tt.key}, {op: "get", key: tt.key}}, f.objs.take())

			// Segments take byte ranges too (EXT-X-BYTERANGE).
			a = do(t, http.MethodGet, f.url+tt.path, hdr("Range", "bytes=1-3"))
			require.Equal(t, http.StatusPartialContent, a.status)
			require.Equal(t, f.files[tt.key][1:4], a.body)
			f.objs.take()
		})
	}

	for _, tt := range []struct {
		path   string
		status int
		msg    string
	}{
		{"/", 404, "not found"},
		{"/vod", 404, "not found"},
		{"/vod/", 404, "not found"},
		{"/vod/pub1", 404, "not found"},
		{"/vod/pub1.webm", 404, "not found"},
		{"/other/pub1.mp4", 404, "not found"},
		{"/vod/nope.mp4", 404, "video not found"},
		{"/vod/nope/index.m3u8", 404, "video not found"},
		{"/vod/pub1/720p/seg_999.m4s", 404, "not found"},
		{"/vod/pub1/720p/seg_003.m4s", 404, "not found"}, // a directory in the local store
		{"/vod/pub1/720p", 404, "not found"},
		{"/vod/proc1.mp4", 409, "video is still processing"},
		{"/vod/proc1/index.m3u8", 409, "video is still processing"},
		{"/vod/bare1/index.m3u8", 404, "video has no HLS rendition"},
		{"/vod/bare1/720p/seg_001.m4s", 404, "video has no HLS rendition"},
		{"/vod/bare1/poster.jpg", 404, "video has no poster"},
		{"/vod/bare1/storyboard.jpg", 404, "video has no storyboard"},
		{"/vod/bare1/storyboard.vtt", 404, "video has no storyboard"},
	} {
		a := do(t, http.MethodGet, f.url+tt.path, nil)
		requireJSONError(t, a, tt.status, tt.msg)
		require.Equal(t, "no-store", a.header.Get("Cache-Control"), tt.path)
		h := do(t, http.MethodHead, f.url+tt.path, nil)
		require.Equal(t, tt.status, h.status, tt.path)
		require.Empty(t, h.body)
	}
	require.NotContains(t, f.logs.String(), "level=ERROR")
}

func TestMethods(t *testing.T) {
	f := newFixture(t)
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, "PROPFIND"} {
		a := do(t, m, f.url+"/vod/pub1.mp4", nil)
		requireJSONError(t, a, http.StatusMethodNotAllowed, "only GET, HEAD and OPTIONS are allowed")
		require.Equal(t, "GET, HEAD, OPTIONS", a.header.Get("Allow"))
	}
	require.Empty(t, f.objs.take(), "a refused method reads nothing")
}

// TestPreflight: a player's preflight of a request carrying Range is allowed, on any path.
func TestPreflight(t *testing.T) {
	f := newFixture(t)
	for _, p := range []string{"/vod/pub1.mp4", "/vod/priv1/720p/seg_001.m4s", "/vod/nope/index.m3u8", "/elsewhere"} {
		a := do(t, http.MethodOptions, f.url+p, hdr("Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "range"))
		require.Equal(t, http.StatusNoContent, a.status, p)
		require.Empty(t, a.body)
		require.Equal(t, "*", a.header.Get("Access-Control-Allow-Origin"))
		require.Equal(t, "GET, HEAD, OPTIONS", a.header.Get("Access-Control-Allow-Methods"))
		require.Contains(t, strings.Split(strings.ToLower(a.header.Get("Access-Control-Allow-Headers")), ", "), "range")
		require.Equal(t, "7200", a.header.Get("Access-Control-Max-Age"))
		require.Empty(t, a.header.Get("Access-Control-Allow-Credentials"))
	}
	require.Empty(t, f.objs.take())

	a := do(t, http.MethodGet, f.url+"/vod/pub1.mp4", hdr("Range", "bytes=0-0"))
	require.Equal(t, "*", a.header.Get("Access-Control-Allow-Origin"))
	exposed := strings.Split(a.header.Get("Access-Control-Expose-Headers"), ", ")
	for _, h := range []string{"Content-Length", "Content-Range", "Accept-Ranges", "ETag"} {
		require.Contains(t, exposed, h)
	}
}

// TestLibraryFailure: a failing library is 503 and a log line; an unknown id is a plain 404.
func TestLibraryFailure(t *testing.T) {
	f := newFixture(t)
	f.lib.fail(fmt.Errorf("querying videos: %w", errDatabaseDown))
	a := do(t, http.MethodGet, f.url+"/vod/pub1.mp4", nil)
	requireJSONError(t, a, http.StatusServiceUnavailable, "video library unavailable")
	require.Contains(t, f.logs.String(), "database down")
	require.Empty(t, f.objs.take())
}

var errDatabaseDown = fmt.Errorf("database down")

// flakyObjects fails (or cuts short) every Get after the first ok ones.
type flakyObjects struct {
	Objects
	mu  sync.Mutex
	ok  int
	cut bool // cut the body short instead of failing the Get
}

func (o *flakyObjects) Get(ctx context.Context, key string, rng *objstore.Range) (io.ReadCloser, objstore.ObjectInfo, error) {
	o.mu.Lock()
	o.ok--
	fail := o.ok < 0
	o.mu.Unlock()
	if fail && !o.cut {
		return nil, objstore.ObjectInfo{}, errDatabaseDown
	}
	body, info, err := o.Objects.Get(ctx, key, rng)
	if err != nil || !fail {
		return body, info, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(body, 5), body}, info, nil
}

// TestStoreFailsMidAnswer: once the status is sent, a store failure cuts the answer, which the client
// sees as an error, never as a complete short body; and it is logged.
func TestStoreFailsMidAnswer(t *testing.T) {
	for _, tt := range []struct {
		name  string
		ok    int
		cut   bool
		rng   string
		logs  string
		inLog string
	}{
		{"second part's Get fails", 1, false, "bytes=0-99999,200000-299999", "vod playback cut short", "database down"},
		{"second part cut short", 1, true, "bytes=0-99999,200000-299999", "vod playback cut short", "unexpected EOF"},
		{"single range cut short", 0, true, "bytes=0-99999", "vod playback cut short", "unexpected EOF"},
		{"whole cut short", 0, true, "", "vod playback cut short", "unexpected EOF"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.objs.set(func(c *countingObjects) { c.inner = &flakyObjects{Objects: f.store, ok: tt.ok, cut: tt.cut} })
			req, err := http.NewRequest(http.MethodGet, f.url+"/vod/pub1.mp4", nil)
			require.NoError(t, err)
			if tt.rng != "" {
				req.Header.Set("Range", tt.rng)
			}
			// The cut comes before the status when the little sent was still buffered.
			res, err := http.DefaultClient.Do(req)
			if err == nil {
				defer res.Body.Close()
				require.Contains(t, []int{200, 206}, res.StatusCode)
				_, err = io.ReadAll(res.Body)
			}
			require.Error(t, err, "the client sees the answer cut")
			require.Eventually(t, func() bool { return strings.Contains(f.logs.String(), tt.logs) }, 5*time.Second, 10*time.Millisecond)
			require.Contains(t, f.logs.String(), tt.inLog)
		})
	}
}
