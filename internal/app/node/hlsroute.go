package node

import (
	"net/http"
	"strings"
)

// hlsFirst serves the GETs of HLS objects (/<app>/<stream>/<name>.m3u8 or .mp4), by far the most frequent
// requests of a node, without the ServeMux's pattern matching (5 % of a node's CPU under a playlist
// fan-out: every pattern of the API and of WHIP/WHEP is tried before the catch-all that serves HLS).
// Every other request goes through the mux, which would give an HLS object's request to hls all the same.
type hlsFirst struct {
	hls http.Handler
	mux http.Handler
}

func (h hlsFirst) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if isHLSObject(r) {
		h.hls.ServeHTTP(w, r)
		return
	}
	h.mux.ServeHTTP(w, r)
}

// isHLSObject reports whether r is a GET or HEAD of a playlist or a media object at a clean path of
// three elements, none of which an API, WHIP/WHEP or pprof pattern of the node's mux could match
// (theirs start with api, nodeapi or debug, or end otherwise). A path the mux would clean or redirect
// ("//", ".", "..") is left to it.
func isHLSObject(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	p := r.URL.Path
	if !strings.HasSuffix(p, ".m3u8") && !strings.HasSuffix(p, ".mp4") || len(p) < 2 || p[0] != '/' {
		return false
	}
	app, rest, _ := strings.Cut(p[1:], "/")
	stream, name, ok := strings.Cut(rest, "/")
	if !ok || strings.IndexByte(name, '/') >= 0 {
		return false
	}
	for _, e := range [...]string{app, stream, name} {
		if e == "" || e == "." || e == ".." {
			return false
		}
	}
	switch app {
	case "api", "nodeapi", "debug":
		return false
	}
	return true
}
