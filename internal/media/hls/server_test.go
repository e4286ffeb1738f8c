package hls

import (
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

func TestServerViewers(t *testing.T) {
	s := &Server{Log: slog.New(slog.DiscardHandler), SessionTimeout: time.Hour}
	a := stream.Path{App: "live", Name: "a"}
	s.sessions.Touch(s.sessions.NewID(), a)
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
