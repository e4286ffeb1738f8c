package node

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestIsHLSObject(t *testing.T) {
	for _, c := range []struct {
		method, target string
		want           bool
	}{
		{"GET", "/live/s/index.m3u8", true},
		{"GET", "/live/s/video1_stream.m3u8?nsid=ab&_HLS_msn=3&_HLS_part=0", true},
		{"HEAD", "/live/s/22e1ff3b8b15_seg6.mp4", true},
		{"GET", "/live/s/22e1ff3b8b15_part11_0.mp4", true},
		{"GET", "/live/s.mp4/x.mp4", true}, // a stream named s.mp4
		{"POST", "/live/s/index.m3u8", false},
		{"OPTIONS", "/live/s/index.m3u8", false}, // CORS preflights: answered by hls through the mux
		{"GET", "/live/s/whep", false},
		{"GET", "/live/s/seg.ts", false},
		{"GET", "/live/index.m3u8", false},       // two elements
		{"GET", "/a/live/s/index.m3u8", false},   // four
		{"GET", "/live//index.m3u8", false},      // the mux cleans it
		{"GET", "/live/../s/index.m3u8", false},  // four, and the mux cleans it
		{"GET", "/../s/index.m3u8", false},       // ditto
		{"GET", "/live/./index.m3u8", false},     // ditto
		{"GET", "/api/v1/x.m3u8", false},         // the API's
		{"GET", "/nodeapi/v1/x.mp4", false},      // the cluster's
		{"GET", "/debug/pprof/x.mp4", false},     // pprof's
		{"GET", "/live/a%2Fb/index.m3u8", false}, // an escaped slash: four elements once decoded
		{"GET", "/metrics", false},
		{"GET", "/healthz", false},
		{"GET", "/", false},
	} {
		r := httptest.NewRequest(c.method, c.target, nil)
		assert.Equal(t, c.want, isHLSObject(r), "%s %s", c.method, c.target)
	}
}

// TestHLSFirst: an HLS object's request reaches hls without the mux; anything else, the mux.
func TestHLSFirst(t *testing.T) {
	var got string
	h := hlsFirst{
		hls: http.HandlerFunc(func(http.ResponseWriter, *http.Request) { got = "hls" }),
		mux: http.HandlerFunc(func(http.ResponseWriter, *http.Request) { got = "mux" }),
	}
	for target, want := range map[string]string{"/live/s/index.m3u8": "hls", "/api/v1/stats": "mux", "/live/s/whep": "mux"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", target, nil))
		assert.Equal(t, want, got, target)
	}
}
