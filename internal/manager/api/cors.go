package api

import (
	"net/http"
	"strings"
)

// CORS. A player or a console in a page of any other origin calls the manager: hls.js and Shaka load
// the viewer entry (and follow its 302), pages ask the routing calls and Red5's event call where to
// publish and play, a WHIP or WHEP client posts its offer (and PATCHes and DELETEs its session in the
// proxy mode), and an operator's console calls the admin API. Every answer therefore carries
// Access-Control-Allow-Origin: * — redirects and errors included, or the browser hides them from the
// page — and OPTIONS answers the preflight of any route with 204.
//
// The admin API is open to every origin too. That is safe only because its credential is the
// Authorization header (or the accessToken query), never a cookie: a browser sends it only when the
// page itself holds the token, so another site cannot borrow a logged-in operator's authority. No
// answer allows credentials (the viewer entry's sticky cookie is not sent cross-origin, which only
// costs a cross-origin viewer the stickiness).
const (
	// corsAllowHeaders are the request headers a page may send: Range (players), Authorization (the
	// admin token, a WHIP stream key, tokens of later calls), Content-Type (JSON bodies, SDP offers,
	// trickle ICE fragments), If-Match (a WHIP/WHEP session's PATCH).
	corsAllowHeaders = "Authorization, Content-Type, If-Match, Range"
	// corsExposeHeaders are the answer headers a page may read beyond the safelisted ones: Location
	// (a WHIP/WHEP session's URL), Link (its ICE servers), ETag (its If-Match) and Accept-Patch (trickle
	// ICE) included.
	corsExposeHeaders = "Retry-After, WWW-Authenticate, Allow, Location, Link, ETag, Accept-Patch"
	// corsMaxAge lets a browser keep a preflight's answer for two hours (Chromium's ceiling).
	corsMaxAge = "7200"
)

// corsMethods are the methods the routes may take, in the order Allow lists them.
var corsMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// The values of the headers every answer carries, shared by all (the server copies them when it writes
// the header; nothing changes them): no allocation per request.
var (
	corsAllowOriginValue   = []string{"*"}
	corsExposeHeadersValue = []string{corsExposeHeaders}
)

// setCORS puts the headers every answer carries.
func setCORS(h http.Header) {
	h["Access-Control-Allow-Origin"] = corsAllowOriginValue
	h["Access-Control-Expose-Headers"] = corsExposeHeadersValue
}

// allowed returns the methods a route takes at r's path ("" when no route takes the path).
func (m *apiMux) allowed(r *http.Request) string {
	var methods []string
	for _, method := range corsMethods {
		probe := *r
		probe.Method = method
		if _, pattern := m.mux.Handler(&probe); pattern != "" {
			methods = append(methods, method)
		}
	}
	if len(methods) == 0 {
		return ""
	}
	return strings.Join(append(methods, http.MethodOptions), ", ")
}

// options answers OPTIONS: 204 with Allow for any path a route takes, and, for a CORS preflight, what
// the browser may send. A path no route takes is answered as the GET of it would be (404).
func (m *apiMux) options(w http.ResponseWriter, r *http.Request) {
	allow := m.allowed(r)
	if allow == "" {
		probe := *r
		probe.Method = http.MethodGet
		if style, ok := apiOf(r.URL.Path); ok {
			h, _ := m.mux.Handler(&probe)
			m.unrouted(w, &probe, h, style)
			return
		}
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Allow", allow)
	if r.Header.Get("Origin") != "" && r.Header.Get("Access-Control-Request-Method") != "" {
		h.Set("Access-Control-Allow-Methods", allow)
		h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
		h.Set("Access-Control-Max-Age", corsMaxAge)
	}
	w.WriteHeader(http.StatusNoContent)
}
