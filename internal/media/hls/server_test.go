package hls

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/media/mediametrics"
	"github.com/nagare-video/nagare/internal/media/stream"
)

func TestSplitRequestPath(t *testing.T) {
	live := stream.Path{App: "live", Name: "s"}
	file128 := strings.Repeat("f", 128)

	for _, tc := range []struct {
		name    string
		in      string
		path    stream.Path
		file    string
		wantErr error // nil: accepted
	}{
		{"multivariant", "/live/s/index.m3u8", live, "index.m3u8", nil},
		{"media playlist", "/live/s/video_stream.m3u8", live, "video_stream.m3u8", nil},
		{"part", "/live/s/abc123_part_4.mp4", live, "abc123_part_4.mp4", nil},
		{"init", "/a_b-C/9/init.mp4", stream.Path{App: "a_b-C", Name: "9"}, "init.mp4", nil},
		{"no leading slash", "live/s/x.ts", live, "x.ts", nil},
		{"128-byte file", "/live/s/" + file128, live, file128, nil},
		{"dots inside a file name", "/live/s/a..b", live, "a..b", nil},

		{"empty", "", stream.Path{}, "", stream.ErrInvalidPath},
		{"root", "/", stream.Path{}, "", stream.ErrInvalidPath},
		{"no file", "/live/s", stream.Path{}, "", stream.ErrInvalidPath},
		{"dot dot component", "/live/s/../x", stream.Path{}, "", stream.ErrInvalidPath},
		{"dot dot file", "/live/s/..", stream.Path{}, "", errBadFile},
		{"dot dot app", "/../s/x", stream.Path{}, "", stream.ErrInvalidPath},
		{"escaped dot dot", "/live/s/%2e%2e", stream.Path{}, "", errBadFile},
		{"escaped slash", "/live/s%2f..%2fx/y", stream.Path{}, "", stream.ErrInvalidPath},
		{"escaped NUL", "/live/s/a%00.ts", stream.Path{}, "", errBadFile},
		{"raw NUL", "/live/s/a\x00.ts", stream.Path{}, "", errBadFile},
		{"trailing slash", "/live/s/", stream.Path{}, "", errBadFile},
		{"hidden file", "/live/s/.hidden", stream.Path{}, "", errBadFile},
		{"single dot", "/live/s/.", stream.Path{}, "", errBadFile},
		{"double slash", "//live/s/x", stream.Path{}, "", stream.ErrInvalidPath},
		{"extra component", "/live/s/t/x", stream.Path{}, "", stream.ErrInvalidPath},
		{"space", "/live/s/a b.ts", stream.Path{}, "", errBadFile},
		{"backslash", `/live/s/..\x`, stream.Path{}, "", errBadFile},
		{"unicode", "/live/s/é.ts", stream.Path{}, "", errBadFile},
		{"129-byte file", "/live/s/" + file128 + "f", stream.Path{}, "", errBadFile},
		{"10 kB file", "/live/s/" + strings.Repeat("f", 10<<10), stream.Path{}, "", errBadFile},
		{"10 kB stream name", "/live/" + strings.Repeat("s", 10<<10) + "/x", stream.Path{}, "", stream.ErrInvalidPath},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, file, err := splitRequestPath(tc.in)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				require.Empty(t, file)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.path, p)
			require.Equal(t, tc.file, file)
		})
	}
}

func FuzzSplitRequestPath(f *testing.F) {
	for _, s := range []string{
		"/live/s/index.m3u8", "/live/s/../x", "/live/s/%2e%2e", "/live/s/", "/live/s/.hidden", "/live/s/..",
		"live/s/x", "//live/s/x", "/", "", "/live/s/a\x00", "/live/s/é", "/live/s/" + strings.Repeat("f", 129),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		p, file, err := splitRequestPath(in)
		if err != nil {
			require.True(t, errors.Is(err, stream.ErrInvalidPath) || errors.Is(err, errBadFile), "unexpected error %v", err)
			require.Empty(t, file)
			return
		}
		require.Equal(t, strings.TrimPrefix(in, "/"), p.String()+"/"+file)
		again, err := stream.ParsePath(p.String())
		require.NoError(t, err)
		require.Equal(t, p, again)
		require.NotEmpty(t, file)
		require.LessOrEqual(t, len(file), 128)
		require.NotEqual(t, byte('.'), file[0])
		for i := 0; i < len(file); i++ {
			c := file[i]
			ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.'
			require.True(t, ok, "byte %q at %d of %q", c, i, file)
		}
	})
}

// newIDWithLetter returns a session id with at least one hex letter in it.
func newIDWithLetter(t *testing.T, ss *sessions) string {
	t.Helper()
	for i := 0; i < 1000; i++ {
		if id := ss.newID(); strings.ContainsAny(id, "abcdef") {
			return id
		}
	}
	t.Fatal("1000 session ids without a hex letter")
	return ""
}

func TestSessionIDs(t *testing.T) {
	var ss sessions
	id := ss.newID()
	require.Len(t, id, 24)
	require.True(t, ss.valid(id))
	require.NotEqual(t, id, ss.newID(), "ids are random")

	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == '0' {
			b[i] = '1'
		} else {
			b[i] = '0'
		}
		return string(b)
	}
	var other sessions
	for _, tc := range []struct{ name, id string }{
		{"random part tampered", flip(id, 0)},
		{"mac tampered", flip(id, 23)},
		{"truncated", id[:22]},
		{"extended", id + "00"},
		{"empty", ""},
		{"not hex", "zz" + id[2:]},
		{"all zero", strings.Repeat("0", 24)},
		{"id of another node", other.newID()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.False(t, ss.valid(tc.id))
		})
	}
}

func TestSessionsCount(t *testing.T) {
	a := stream.Path{App: "live", Name: "a"}
	b := stream.Path{App: "live", Name: "b"}
	var ss sessions
	require.Equal(t, 0, ss.count(nil, time.Hour))

	id1, id2, id3 := ss.newID(), ss.newID(), ss.newID()
	ss.touch(id1, a)
	ss.touch(id1, a) // the same viewer again
	ss.touch(id2, a)
	ss.touch(id3, b)
	ss.touch("forged00000000000000000", a)
	ss.touch(strings.Repeat("0", 24), a)
	ss.touch(flipLast(id1), a)
	require.Equal(t, 3, ss.count(nil, time.Hour))
	require.Equal(t, 2, ss.count(&a, time.Hour))
	require.Equal(t, 1, ss.count(&b, time.Hour))

	// A viewer that moves to another stream counts there only.
	ss.touch(id2, b)
	require.Equal(t, 1, ss.count(&a, time.Hour))
	require.Equal(t, 2, ss.count(&b, time.Hour))

	ss.dropStream(b)
	require.Equal(t, 1, ss.count(nil, time.Hour))

	// Entries older than the timeout are forgotten, not just left out of the count.
	time.Sleep(30 * time.Millisecond)
	require.Equal(t, 0, ss.count(nil, 10*time.Millisecond))
	require.Equal(t, 0, ss.count(nil, time.Hour))
}

func flipLast(id string) string {
	if strings.HasSuffix(id, "0") {
		return id[:len(id)-1] + "1"
	}
	return id[:len(id)-1] + "0"
}

// hex.DecodeString accepts upper case too: unless valid() insists on the lower-case spelling the server
// hands out, one real id has up to 2^24 spellings that each count as a viewer.
func TestSessionsCaseVariantOfIDIsNotANewViewer(t *testing.T) {
	a := stream.Path{App: "live", Name: "a"}
	var ss sessions
	id := newIDWithLetter(t, &ss)
	ss.touch(id, a)
	ss.touch(strings.ToUpper(id), a)
	require.Equal(t, 1, ss.count(&a, time.Hour), "a case variant of a session id counted as another viewer")
}

func TestServerViewers(t *testing.T) {
	s := &Server{Log: slog.New(slog.DiscardHandler), SessionTimeout: time.Hour}
	a := stream.Path{App: "live", Name: "a"}
	s.sessions.touch(s.sessions.newID(), a)
	require.Equal(t, 1, s.Viewers(nil))
	require.Equal(t, 1, s.Viewers(&a))
	require.Equal(t, 0, s.Viewers(&stream.Path{App: "live", Name: "b"}))

	require.Equal(t, 10*time.Second, (&Server{}).sessionTimeout())
	require.Equal(t, 12*time.Second, (&Server{Config: Config{SegmentDuration: 4 * time.Second}}).sessionTimeout())
}

func TestServeHTTPWithoutStream(t *testing.T) {
	for _, tc := range []struct {
		name   string
		method string
		target string
		code   int
	}{
		{"unknown stream", http.MethodGet, "/live/s/index.m3u8", http.StatusNotFound},
		{"unknown stream, media playlist", http.MethodGet, "/live/s/video.m3u8?_HLS_msn=5&_HLS_part=1", http.StatusNotFound},
		{"unknown stream, segment", http.MethodGet, "/live/s/seg7.mp4", http.StatusNotFound},
		{"unknown stream, HEAD", http.MethodHead, "/live/s/index.m3u8", http.StatusNotFound},
		{"dot dot", http.MethodGet, "/live/s/../x", http.StatusBadRequest},
		{"escaped dot dot", http.MethodGet, "/live/s/%2e%2e", http.StatusBadRequest},
		{"escaped dot dot in stream", http.MethodGet, "/live/%2e%2e/index.m3u8", http.StatusBadRequest},
		{"escaped slash", http.MethodGet, "/live%2fs/x/index.m3u8", http.StatusBadRequest},
		{"escaped NUL", http.MethodGet, "/live/s/index.m3u8%00", http.StatusBadRequest},
		{"hidden file", http.MethodGet, "/live/s/.hidden", http.StatusBadRequest},
		{"trailing slash", http.MethodGet, "/live/s/", http.StatusBadRequest},
		{"root", http.MethodGet, "/", http.StatusBadRequest},
		{"script in path", http.MethodGet, "/live/%3Cscript%3E/index.m3u8", http.StatusBadRequest},
		{"long file", http.MethodGet, "/live/s/" + strings.Repeat("f", 10<<10), http.StatusBadRequest},
		{"POST", http.MethodPost, "/live/s/index.m3u8", http.StatusMethodNotAllowed},
		{"PUT", http.MethodPut, "/live/s/seg1.mp4", http.StatusMethodNotAllowed},
		{"DELETE hostile path", http.MethodDelete, "/live/s/../x", http.StatusMethodNotAllowed},
		{"OPTIONS", http.MethodOptions, "/live/s/index.m3u8", http.StatusNoContent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Server{Log: slog.New(slog.DiscardHandler)}
			req := httptest.NewRequest(tc.method, tc.target, nil)
			rec := httptest.NewRecorder()

			done := make(chan struct{})
			go func() {
				defer close(done)
				s.ServeHTTP(rec, req)
			}()
			select {
			case <-done:
			case <-time.After(2 * time.Second):
				t.Fatal("ServeHTTP did not answer at once")
			}

			require.Equal(t, tc.code, rec.Code)
			require.Equal(t, "*", rec.Header().Get("Access-Control-Allow-Origin"))
			body := rec.Body.String()
			if tc.code == http.StatusNoContent {
				require.Empty(t, body)
				require.Contains(t, rec.Header().Get("Access-Control-Allow-Methods"), "GET")
				return
			}
			require.Equal(t, "text/plain; charset=utf-8", rec.Header().Get("Content-Type"))
			require.Equal(t, "no-cache", rec.Header().Get("Cache-Control"))
			if tc.method != http.MethodHead {
				require.NotEmpty(t, body)
			}
			require.NotContains(t, body, "<script", "the error body reflects the request")
			require.NotContains(t, body, "%2e")
			if tc.code == http.StatusNotFound {
				require.Contains(t, body, "live/s")
			}
			require.Equal(t, uint64(len(body)), s.BytesOut())
			require.Zero(t, s.Viewers(nil), "a refused request must not create a viewer session")
		})
	}
}

// requestCount reads nagare_http_requests_total{kind,code} from the node's registry.
func requestCount(t *testing.T, m *mediametrics.Metrics, kind, code string) float64 {
	t.Helper()
	families, err := m.Registry.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != "nagare_http_requests_total" {
			continue
		}
		for _, mt := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range mt.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["kind"] == kind && labels["code"] == code {
				return mt.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func TestServeHTTPCountsRequests(t *testing.T) {
	m := mediametrics.New()
	s := &Server{Log: slog.New(slog.DiscardHandler), Metrics: m}
	const workers, perWorker = 8, 25
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < perWorker; j++ {
				for _, tc := range []struct{ method, target string }{
					{http.MethodGet, "/live/s/index.m3u8"},
					{http.MethodGet, "/live/s/%2e%2e"},
					{http.MethodPost, "/live/s/index.m3u8"},
				} {
					s.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(tc.method, tc.target, nil))
				}
			}
		}()
	}
	wg.Wait()
	require.Equal(t, float64(workers*perWorker), requestCount(t, m, "other", "404"))
	require.Equal(t, float64(workers*perWorker), requestCount(t, m, "other", "400"))
	require.Equal(t, float64(workers*perWorker), requestCount(t, m, "other", "405"))
	require.Zero(t, requestCount(t, m, "other", "200"))
}
