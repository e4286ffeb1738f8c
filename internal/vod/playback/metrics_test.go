package playback

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/vod/vodmetrics"
)

// TestMetrics: every answer is counted once under its route's kind and its status, and the body bytes
// the client received are counted under the kind (HEAD: none).
func TestMetrics(t *testing.T) {
	f := newFixture(t)
	h := *f.h
	h.Metrics = vodmetrics.New(nil, nil)
	srv := httptest.NewServer(&h)
	t.Cleanup(srv.Close)

	cases := []struct {
		method, path string
		header       http.Header
		kind         string
		status       int
	}{
		{http.MethodGet, "/vod/pub1.mp4", nil, "mp4", http.StatusOK},
		{http.MethodHead, "/vod/pub1.mp4", nil, "mp4", http.StatusOK},
		{http.MethodGet, "/vod/pub1.mp4", hdr("Range", "bytes=100-199"), "mp4", http.StatusPartialContent},
		{http.MethodGet, "/vod/proc1.mp4", nil, "mp4", http.StatusConflict},
		{http.MethodGet, "/vod/priv1.mp4", nil, "mp4", http.StatusForbidden},
		{http.MethodGet, "/vod/pub1/index.m3u8", nil, "hls", http.StatusOK},
		{http.MethodGet, "/vod/pub1/720p/seg_001.m4s", nil, "hls", http.StatusOK},
		{http.MethodGet, "/vod/pub1/720p/seg_009.m4s", nil, "hls", http.StatusNotFound},
		{http.MethodGet, "/vod/pub1/poster.jpg", nil, "poster", http.StatusOK},
		{http.MethodGet, "/vod/pub1/storyboard.jpg", nil, "storyboard", http.StatusOK},
		{http.MethodGet, "/vod/pub1/storyboard.vtt", nil, "storyboard", http.StatusOK},
		{http.MethodGet, "/elsewhere", nil, "invalid", http.StatusNotFound},
		{http.MethodPost, "/vod/pub1.mp4", nil, "mp4", http.StatusMethodNotAllowed},
	}
	requests := map[[2]string]float64{}
	bytes := map[string]float64{}
	for _, c := range cases {
		a := do(t, c.method, srv.URL+c.path, c.header)
		require.Equal(t, c.status, a.status, "%s %s: %s", c.method, c.path, a)
		requests[[2]string{c.kind, strconv.Itoa(c.status)}]++
		bytes[c.kind] += float64(len(a.body))
	}
	gotRequests, gotBytes := map[[2]string]float64{}, map[string]float64{}
	families, err := h.Metrics.Registry.Gather()
	require.NoError(t, err)
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			switch mf.GetName() {
			case "nagare_vod_playback_requests_total":
				gotRequests[[2]string{labels["kind"], labels["code"]}] = m.GetCounter().GetValue()
			case "nagare_vod_playback_sent_bytes_total":
				gotBytes[labels["kind"]] = m.GetCounter().GetValue()
			}
		}
	}
	require.Equal(t, requests, gotRequests)
	require.Equal(t, bytes, gotBytes)
	require.GreaterOrEqual(t, gotBytes["mp4"], float64(mp4Size+100), "the whole file and the range")
}
