package api

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/nagare-video/nagare/internal/manager/store"
)

// errorStyle says in which API's body an error is written.
type errorStyle int

const (
	nativeErrors errorStyle = iota // {"error": "..."}
	red5Errors                     // {"errorMessage": "...", "timestamp": <epoch ms>}
)

const (
	nativeBase = "/api/v1"
	// red5Base is where the Red5 Pro Stream Manager 3.1 compatible API lives.
	red5Base = "/streammanager/api/3.1"
	// red5Root is everything of Red5's, where every answer is in Red5's shape.
	red5Root = "/streammanager"
	// consoleAPI holds the console's own calls (its session); the rest of what it does is the native API.
	consoleAPI = "/console/api"
	// siteAPI holds the public site's calls (no sign-in).
	siteAPI = "/site/api"
)

// nativeAPI is /api/v1: it decodes the native JSON, calls the shared operation of the resource and
// encodes the answer in the native shape (apitypes).
type nativeAPI struct{ s *Server }

// red5API is /streammanager/api/3.1: the same operations behind Red5's JSON shapes.
type red5API struct{ s *Server }

// Handler returns the routes of every API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	s.nativeRoutes(mux)
	s.red5Routes(mux)
	mux.HandleFunc("GET /{app}/{stream}/index.m3u8", s.viewerEntry)
	s.webrtcRoutes(mux)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if s.Health != nil {
			s.Health(w, r)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	return &apiMux{s: s, mux: mux}
}

func (s *Server) nativeRoutes(mux *http.ServeMux) {
	n := nativeAPI{s}
	admin := func(h apiHandler) http.HandlerFunc { return s.admin(nativeErrors, h) }
	public := func(h apiHandler) http.HandlerFunc { return s.public(nativeErrors, h) }

	mux.HandleFunc("GET /api/v1/scalepolicies", admin(n.listPolicies))
	mux.HandleFunc("POST /api/v1/scalepolicies", admin(n.createPolicy))
	mux.HandleFunc("GET /api/v1/scalepolicies/{name}", admin(n.getPolicy))
	mux.HandleFunc("PUT /api/v1/scalepolicies/{name}", admin(n.updatePolicy))
	mux.HandleFunc("DELETE /api/v1/scalepolicies/{name}", admin(n.deletePolicy))

	mux.HandleFunc("GET /api/v1/launchconfigs", admin(n.listLaunchConfigs))
	mux.HandleFunc("POST /api/v1/launchconfigs", admin(n.createLaunchConfig))
	mux.HandleFunc("GET /api/v1/launchconfigs/{name}", admin(n.getLaunchConfig))
	mux.HandleFunc("PUT /api/v1/launchconfigs/{name}", admin(n.updateLaunchConfig))
	mux.HandleFunc("DELETE /api/v1/launchconfigs/{name}", admin(n.deleteLaunchConfig))

	mux.HandleFunc("GET /api/v1/nodegroups", admin(n.listGroups))
	mux.HandleFunc("POST /api/v1/nodegroups", admin(n.createGroup))
	mux.HandleFunc("GET /api/v1/nodegroups/{name}", admin(n.getGroup))
	mux.HandleFunc("DELETE /api/v1/nodegroups/{name}", admin(n.deleteGroup))
	mux.HandleFunc("GET /api/v1/nodegroups/{name}/nodes", admin(n.listGroupNodes))
	mux.HandleFunc("POST /api/v1/nodegroups/{name}/nodes/{role}", admin(n.launchNode))
	mux.HandleFunc("GET /api/v1/nodegroups/{name}/rollout", admin(n.getRollout))

	mux.HandleFunc("GET /api/v1/nodes", admin(n.listNodes))
	mux.HandleFunc("GET /api/v1/sd/prometheus", admin(n.prometheusTargets))
	mux.HandleFunc("GET /api/v1/nodes/{id}", admin(n.getNode))
	mux.HandleFunc("GET /api/v1/nodes/{id}/events", admin(n.listNodeEvents))
	mux.HandleFunc("POST /api/v1/nodes/{id}/drain", admin(n.drainNode))
	mux.HandleFunc("POST /api/v1/nodes/{id}/terminate", admin(n.terminateNode))
	mux.HandleFunc("GET /api/v1/instances", admin(n.listInstances))

	mux.HandleFunc("GET /api/v1/events", admin(n.listEvents))
	mux.HandleFunc("GET /api/v1/scaleevents", admin(n.listScaleEvents))

	mux.HandleFunc("GET /api/v1/streams", admin(n.listStreams))
	mux.HandleFunc("PUT /api/v1/streams/{app}/{stream}/recording", admin(n.startRecording))
	mux.HandleFunc("DELETE /api/v1/streams/{app}/{stream}/recording", admin(n.stopRecording))
	mux.HandleFunc("DELETE /api/v1/streams/{app}/{stream}/publisher", admin(n.stopPublisher))
	mux.HandleFunc("GET /api/v1/ladders", admin(n.listLadders))
	mux.HandleFunc("GET /api/v1/streams/{app}/{stream}/ladder", admin(n.getLadder))
	mux.HandleFunc("PUT /api/v1/streams/{app}/{stream}/ladder", admin(n.putLadder))
	mux.HandleFunc("DELETE /api/v1/streams/{app}/{stream}/ladder", admin(n.deleteLadder))

	mux.HandleFunc("POST /api/v1/tokens/publish", admin(n.publishToken))
	// the console's live picture of the cluster (server-sent events)
	mux.HandleFunc("GET /api/v1/watch", admin(n.watch))

	mux.HandleFunc("GET /api/v1/alarms", admin(n.listAlarms))
	mux.HandleFunc("PUT /api/v1/alarms/{role}", admin(n.setAlarm))

	// routing is public, like Red5's event calls
	mux.HandleFunc("GET /api/v1/route/publish/{app}/{stream}", public(n.routePublish))
	mux.HandleFunc("GET /api/v1/route/play/{app}/{stream}", public(n.routePlay))
	// HLS Content Steering: players ask which edge to load from (the edges' playlists name this URL)
	mux.HandleFunc("GET "+SteeringPrefix+"/{app}/{stream}", public(s.steer))

	// the console's sign-in: the admin token exchanged for a session cookie (session.go)
	mux.HandleFunc("POST "+consoleAPI+"/session", public(s.signIn))
	mux.HandleFunc("GET "+consoleAPI+"/session", public(s.getSession))
	mux.HandleFunc("DELETE "+consoleAPI+"/session", public(s.signOut))

	if s.Site != nil {
		mux.HandleFunc("GET "+siteAPI+"/config", public(s.siteConfig))
		mux.HandleFunc("GET "+siteAPI+"/live", public(s.siteLive))
	}
}

// webrtcRoutes are WHIP and WHEP: the redirects, and the proxy mode for clients that follow none.
func (s *Server) webrtcRoutes(mux *http.ServeMux) {
	public := func(h apiHandler) http.HandlerFunc { return s.public(nativeErrors, h) }

	mux.HandleFunc("POST /{app}/{stream}/whip", s.webrtcEntry(kindWHIP))
	mux.HandleFunc("POST /{app}/{stream}/whep", s.webrtcEntry(kindWHEP))

	mux.HandleFunc("POST "+proxyBase+"/whip/{app}/{stream}", public(s.proxyOffer(kindWHIP)))
	mux.HandleFunc("POST "+proxyBase+"/whep/{app}/{stream}", public(s.proxyOffer(kindWHEP)))
	mux.HandleFunc("PATCH "+proxyBase+"/session/{node}/{app}/{stream}/{kind}/{id}", public(s.proxySession))
	mux.HandleFunc("DELETE "+proxyBase+"/session/{node}/{app}/{stream}/{kind}/{id}", public(s.proxySession))
}

func (s *Server) red5Routes(mux *http.ServeMux) {
	r5 := red5API{s}
	admin := func(h apiHandler) http.HandlerFunc { return s.admin(red5Errors, h) }
	public := func(h apiHandler) http.HandlerFunc { return s.public(red5Errors, h) }
	const b = red5Base

	mux.HandleFunc("POST "+b+"/admin/configurations/scalepolicy", admin(r5.createPolicy))
	mux.HandleFunc("GET "+b+"/admin/configurations/scalepolicy/{name}", admin(r5.getPolicy))
	mux.HandleFunc("GET "+b+"/admin/configurations/scalepolicies", admin(r5.listPolicies))
	mux.HandleFunc("DELETE "+b+"/admin/configurations/scalepolicy/{name}", admin(r5.deletePolicy))

	mux.HandleFunc("POST "+b+"/admin/configurations/launchconfig", admin(r5.createLaunchConfig))
	mux.HandleFunc("GET "+b+"/admin/configurations/launchconfig/{name}", admin(r5.getLaunchConfig))
	mux.HandleFunc("GET "+b+"/admin/configurations/launchconfigs", admin(r5.listLaunchConfigs))
	mux.HandleFunc("DELETE "+b+"/admin/configurations/launchconfig/{name}", admin(r5.deleteLaunchConfig))

	mux.HandleFunc("POST "+b+"/admin/nodegroup", admin(r5.createGroup))
	mux.HandleFunc("GET "+b+"/admin/nodegroup", admin(r5.listGroups))
	mux.HandleFunc("GET "+b+"/admin/nodegroup/{name}", admin(r5.getGroup))
	mux.HandleFunc("DELETE "+b+"/admin/nodegroup/{name}", admin(r5.deleteGroup))
	mux.HandleFunc("GET "+b+"/admin/nodegroup/{name}/node", admin(r5.listGroupNodes))
	mux.HandleFunc("GET "+b+"/admin/nodegroup/{name}/node/{role}", admin(r5.listGroupNodes))
	mux.HandleFunc("POST "+b+"/admin/nodegroup/{name}/node/{role}", admin(r5.launchNode))

	mux.HandleFunc("POST "+b+"/admin/alarm/scaleout/default", admin(r5.setAlarm))
	mux.HandleFunc("GET "+b+"/admin/alarm/scaleout/default", admin(r5.listAlarms))

	mux.HandleFunc("GET "+b+"/admin/debug/cloudcontroller", admin(r5.cloudController))

	mux.HandleFunc("POST "+b+"/admin/event/meta/{scope}/{stream}", admin(r5.provision))
	mux.HandleFunc("GET "+b+"/admin/event/meta/{scope}/{stream}", admin(r5.getProvision))
	mux.HandleFunc("DELETE "+b+"/admin/event/meta/{scope}/{stream}", admin(r5.deleteProvision))

	mux.HandleFunc("GET "+b+"/event/{scope}/{stream}", public(r5.event))
}

// apiMux answers the requests no route takes under /api/v1, /streammanager and /proxy in the API's own JSON
// error shape, where http.ServeMux would answer plain text. The native API keeps the mux's 405 and its
// Allow header; Red5's answers any call it does not have with a 404, as Red5 documents.
type apiMux struct {
	s   *Server
	mux *http.ServeMux
}

func (m *apiMux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setCORS(w.Header())
	if r.Method == http.MethodOptions {
		m.options(w, r)
		return
	}
	style, ok := apiOf(r.URL.Path)
	if ok {
		if h, pattern := m.mux.Handler(r); pattern == "" {
			m.unrouted(w, r, h, style)
			return
		}
	}
	m.mux.ServeHTTP(w, r)
}

// apiOf says which API path belongs to, if any.
func apiOf(path string) (errorStyle, bool) {
	switch {
	case path == nativeBase || strings.HasPrefix(path, nativeBase+"/"):
		return nativeErrors, true
	case path == red5Root || strings.HasPrefix(path, red5Root+"/"):
		return red5Errors, true
	case path == proxyBase || strings.HasPrefix(path, proxyBase+"/"):
		return nativeErrors, true // WHIP/WHEP proxy mode
	case path == consoleAPI || strings.HasPrefix(path, consoleAPI+"/"), path == siteAPI || strings.HasPrefix(path, siteAPI+"/"):
		return nativeErrors, true
	}
	return 0, false
}

// unrouted answers a request no route takes. The mux's own answer (h: 404, or 405 with Allow) is
// recorded to learn which it is, then written again as the API's error.
func (m *apiMux) unrouted(w http.ResponseWriter, r *http.Request, h http.Handler, style errorStyle) {
	rec := &statusRecorder{header: http.Header{}}
	h.ServeHTTP(rec, r)
	call := r.Method + " " + clip(strings.TrimPrefix(r.URL.Path, red5Base))
	if style == nativeErrors && rec.code == http.StatusMethodNotAllowed {
		allow := rec.header.Get("Allow") + ", " + http.MethodOptions // options answers every route
		w.Header().Set("Allow", allow)
		m.s.fail(w, r, fmt.Errorf("%s: %w; %s allows %s", call, ErrMethodNotAllowed, clip(r.URL.Path), allow), style)
		return
	}
	m.s.fail(w, r, fmt.Errorf("%s is not a call of this API: %w", call, store.ErrNotFound), style)
}

// statusRecorder keeps the status and headers written to it and discards the body.
type statusRecorder struct {
	header http.Header
	code   int
}

func (c *statusRecorder) Header() http.Header { return c.header }

func (c *statusRecorder) Write(b []byte) (int, error) {
	if c.code == 0 {
		c.code = http.StatusOK
	}
	return len(b), nil
}

func (c *statusRecorder) WriteHeader(code int) {
	if c.code == 0 {
		c.code = code
	}
}
