package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/nagare-video/nagare/internal/manager/api/apitypes"
	"github.com/nagare-video/nagare/internal/manager/selector"
	"github.com/nagare-video/nagare/internal/manager/store"
	"github.com/nagare-video/nagare/internal/nodeapi"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

// ---- routing of publishers and viewers: the operations both APIs call ----

// route is where a client should go.
type route struct {
	Node     store.Node
	RTMPURL  string
	RTMPSURL string // RTMP inside TLS, when the node offers it
	SRTURL   string
	HLSURL   string
	WHIPURL  string // the node's WebRTC endpoints (nodes take WHIP on origins only)
	WHEPURL  string
}

func streamPath(app, name string) (string, error) {
	if !validStreamName(app) || !validStreamName(name) {
		return "", invalid("stream %q/%q: names must match [A-Za-z0-9_-]{1,128}", clip(app), clip(name))
	}
	return app + "/" + name, nil
}

func validStreamName(s string) bool {
	return validName(s) && !strings.Contains(s, ".")
}

func (s *Server) routeFor(n store.Node, path string) route {
	rt := route{Node: n}
	if n.Addresses.RTMP != "" {
		rt.RTMPURL = "rtmp://" + n.Addresses.RTMP + "/" + path
	}
	if n.Addresses.RTMPS != "" {
		rt.RTMPSURL = "rtmps://" + n.Addresses.RTMPS + "/" + path
	}
	if n.Addresses.SRT != "" {
		rt.SRTURL = "srt://" + n.Addresses.SRT + "?streamid=publish:" + path
	}
	if base := n.Addresses.HTTPURL(); base != "" {
		rt.HLSURL = base + "/" + path + "/index.m3u8"
		rt.WHIPURL = base + "/" + path + "/whip"
		rt.WHEPURL = base + "/" + path + "/whep"
	}
	return rt
}

// publishRoute picks the origin for a publisher (round robin; a live stream stays where it is).
func (s *Server) publishRoute(path, group string) (route, error) {
	n, err := selector.PickOrigin(s.Cluster.FreshSnapshot(), group, path, s.originCounter.Add(1)-1)
	if err != nil {
		return route{}, err
	}
	full, _ := s.Cluster.Node(n.ID)
	return s.routeFor(full, path), nil
}

// transcodeRoute picks the transcoder node that a publisher of path publishes to when it asks for the
// stream's ladder to be made there (Red5's broadcast with transcode=true): the provisioned one, or the
// transcoder's own for a stream manager.transcodeStreams selects. The transcoder gives the stream and its
// renditions to an origin. A transcoder takes RTMP and SRT, not WHIP.
func (s *Server) transcodeRoute(ctx context.Context, path, group string) (route, error) {
	_, err := s.Store.GetLadder(ctx, path)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if !s.Cluster.TranscodedWithout(path) {
			return route{}, fmt.Errorf("stream %s has no provisioned ladder (POST /streammanager/api/3.1/admin/event/meta/%s first): %w", path, path, err)
		}
	case err != nil:
		return route{}, err
	}
	snap := s.Cluster.FreshSnapshot()
	n, err := selector.PickTranscoder(snap, group, s.transcoderCounter.Add(1)-1)
	if err != nil {
		demand := group
		if o, oerr := selector.PickOrigin(snap, group, path, 0); demand == "" && oerr == nil {
			demand = o.Group // the group the stream would go to
		}
		if s.Scaler != nil && demand != "" && s.Scaler.Unserved(demand, nodemodel.RoleTranscoder) {
			return route{}, fmt.Errorf("publishing %s: %w; a transcoder is being launched, retry shortly", path, err)
		}
		return route{}, fmt.Errorf("publishing %s: %w", path, err)
	}
	full, _ := s.Cluster.Node(n.ID)
	rt := s.routeFor(full, path)
	rt.WHIPURL, rt.WHEPURL, rt.HLSURL = "", "", ""
	return rt, nil
}

// playRoute picks the edge (or origin) for a viewer.
func (s *Server) playRoute(path, group, region string) (route, error) {
	p, err := s.play(path, group, region, false)
	if err != nil {
		return route{}, err
	}
	return p.route, nil
}

// play is where a viewer of path goes: the choice made once per snapshot of the cluster (see playChoice),
// and the demand for an edge that this viewer makes, told to the autoscaler on every request. An HLS
// viewer (hls) whom no edge can take goes to the storage push's copy when there is one (playChoice.spill).
func (s *Server) play(path, group, region string, hls bool) (*playChoice, error) {
	p := remembered(s, &s.playMemo, group+"\x00"+path+"\x00"+region, func(snap selector.Snapshot) *playChoice {
		n, err := selector.PickEdge(snap, group, path, region, s.Weights)
		p := &playChoice{node: n, err: err}
		if err == nil {
			full, _ := s.Cluster.Node(n.ID)
			p.route = s.routeFor(full, path)
			// the stream is live (an origin carries it), the group has edges, but none can take the viewer
			if s.StorageURL != "" && n.Role != nodemodel.RoleEdge {
				if home, ok := selector.SpillHome(snap, group, region); ok {
					p.spill = s.spillURL(home, path)
				}
			}
		}
		return p
	})
	demand := group
	if demand == "" && p.err == nil {
		// the viewer named no group: the edges it needs are those of the group whose origin (or relay)
		// it would otherwise load, where the stream is
		demand = p.node.Group
	}
	// the autoscaler hears of every viewer no edge takes, those storage serves meanwhile included
	launching := s.Scaler != nil && (p.err != nil || p.node.Role != nodemodel.RoleEdge) && s.Scaler.Unserved(demand, nodemodel.RoleEdge)
	switch {
	case hls && p.spill != "":
		return p, nil
	case launching:
		// every edge is full (or there is none yet) and one is being launched: the viewer waits for it
		// rather than loading the origin
		return nil, fmt.Errorf("playing %s: %w", path, ErrScalingOut)
	case p.err != nil:
		return nil, p.err
	}
	return p, nil
}

// spillURL is where a viewer of path that no edge can take goes, home being the full edge it counts on
// (selector.SpillHome). When the edges offer the storage pathway: home's multivariant playlist, asking it
// to start the viewer on that pathway (nodeapi.StartPathwayParam); the viewer plays from storage as it
// would from the bucket's playlist, and steering brings it back to an edge once one has room, which the
// bucket's own playlist, without a steering tag, never could. Otherwise (or when home has no HTTP
// address) the bucket's playlist itself.
func (s *Server) spillURL(home selector.Node, path string) string {
	bucket := s.StorageURL + "/" + path + "/" + s.StoragePlaylist
	if s.SteeringStorage == "" {
		return bucket
	}
	full, _ := s.Cluster.Node(home.ID)
	rt := s.routeFor(full, path)
	if rt.HLSURL == "" {
		return bucket
	}
	return rt.HLSURL + "?" + nodeapi.StartPathwayParam + "=" + url.QueryEscape(s.SteeringStorage)
}

// playChoice is where the viewers of one stream (in one group and region) go while a snapshot of the
// cluster stands, with the answers that send them there: each is written once, on its first request,
// and replayed to the others (at thousands of viewers a second, encoding each answer anew was most of
// the manager's own work).
type playChoice struct {
	node  selector.Node
	err   error
	route route
	// spill, when set, is where HLS viewers go instead of route when the group has edges, none can take a
	// viewer, and the origin would (see Server.StorageURL): the storage push's copy of the stream, through
	// a full edge's multivariant playlist when edges offer the storage pathway (see spillURL)
	spill string

	redirectOnce sync.Once
	redirect     *recorded // the viewer entry's 302 (to route's node, or to spill)
	red5Once     sync.Once
	red5         *recorded // Red5's subscribe answer
}

// recorded is an answer written once and replayed: its headers' values are shared by every response
// that replays it (the server copies them when it writes the header; nothing changes them).
type recorded struct {
	header http.Header
	code   int
	body   []byte
	// bodyOnHead: the answer's writer wrote its body for HEAD too (the server sends none either way,
	// but counts its length)
	bodyOnHead bool
}

// record runs write against a recorder; the answer it writes is then replayed by serve.
func record(write func(w http.ResponseWriter), bodyOnHead bool) *recorded {
	rec := &recorder{answer: recorded{header: http.Header{}, code: http.StatusOK, bodyOnHead: bodyOnHead}}
	write(rec)
	return &rec.answer
}

func (a *recorded) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	for k, v := range a.header {
		h[k] = v
	}
	w.WriteHeader(a.code)
	if r.Method != http.MethodHead || a.bodyOnHead {
		_, _ = w.Write(a.body)
	}
}

type recorder struct{ answer recorded }

func (r *recorder) Header() http.Header  { return r.answer.header }
func (r *recorder) WriteHeader(code int) { r.answer.code = code }
func (r *recorder) Write(b []byte) (int, error) {
	r.answer.body = append(r.answer.body, b...)
	return len(b), nil
}

// ---- native ----

func (n nativeAPI) routePublish(w http.ResponseWriter, r *http.Request) error {
	path, err := streamPath(r.PathValue("app"), r.PathValue("stream"))
	if err != nil {
		return err
	}
	rt, err := n.s.publishRoute(path, r.URL.Query().Get("group"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, apitypes.Route{Stream: path, NodeID: rt.Node.ID, Role: rt.Node.Role, Region: rt.Node.Region,
		RTMPURL: rt.RTMPURL, RTMPSURL: rt.RTMPSURL, SRTURL: rt.SRTURL, WHIPURL: rt.WHIPURL})
	return nil
}

func (n nativeAPI) routePlay(w http.ResponseWriter, r *http.Request) error {
	path, err := streamPath(r.PathValue("app"), r.PathValue("stream"))
	if err != nil {
		return err
	}
	rt, err := n.s.playRoute(path, r.URL.Query().Get("group"), r.URL.Query().Get("region"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, apitypes.Route{Stream: path, NodeID: rt.Node.ID, Role: rt.Node.Role, Region: rt.Node.Region,
		HLSURL: rt.HLSURL, WHEPURL: rt.WHEPURL})
	return nil
}

// ---- Red5 ----

// event is GET /event/<scope>/<stream>?action=broadcast|subscribe: where a publisher or a subscriber
// goes.
func (a red5API) event(w http.ResponseWriter, r *http.Request) error {
	scope, name := r.PathValue("scope"), r.PathValue("stream")
	path, err := streamPath(scope, name)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	ev := red5Event{Name: name, Scope: "/" + scope}
	var rt route
	switch action := q.Get("action"); action {
	case "broadcast":
		transcode := false
		if v := q.Get("transcode"); v != "" {
			if transcode, err = strconv.ParseBool(v); err != nil {
				return invalid("transcode %q must be true or false", clip(v))
			}
		}
		if transcode {
			rt, err = a.s.transcodeRoute(r.Context(), path, q.Get("group"))
		} else {
			rt, err = a.s.publishRoute(path, q.Get("group"))
		}
		if err != nil {
			return err
		}
		ev.ServerAddress, ev.Port = serverOf(rt.Node.Addresses.RTMP, rt.Node.Addresses.SRT, rt.Node.Addresses.HTTP)
		ev.RTMPURL, ev.RTMPSURL, ev.SRTURL, ev.WHIPURL = rt.RTMPURL, rt.RTMPSURL, rt.SRTURL, rt.WHIPURL
	case "subscribe":
		p, err := a.s.play(path, q.Get("group"), q.Get("region"), false)
		if err != nil {
			return err
		}
		p.red5Once.Do(func() {
			rt := p.route
			ev.ServerAddress, ev.Port = serverOf(rt.Node.Addresses.HTTP, rt.Node.Addresses.RTMP)
			ev.HLSURL, ev.WHEPURL = rt.HLSURL, rt.WHEPURL
			ev.Region, ev.NodeID = rt.Node.Region, rt.Node.ID
			p.red5 = record(func(w http.ResponseWriter) { writeJSON(w, http.StatusOK, ev) }, true)
		})
		p.red5.serve(w, r)
		return nil
	default:
		return invalid("action %q must be broadcast or subscribe", clip(action))
	}
	ev.Region, ev.NodeID = rt.Node.Region, rt.Node.ID
	writeJSON(w, http.StatusOK, ev)
	return nil
}

// ---- the viewer entry ----

// stickyCookie keeps a viewer on its node for the session.
const stickyCookie = "nagare_node"

// viewerEntry answers GET /<app>/<stream>/index.m3u8 with a redirect to the chosen node, so any HLS
// player plays through the manager without an SDK.
func (s *Server) viewerEntry(w http.ResponseWriter, r *http.Request) {
	path, err := streamPath(r.PathValue("app"), r.PathValue("stream"))
	if err != nil {
		s.fail(w, r, err, nativeErrors)
		return
	}
	if c, err := r.Cookie(stickyCookie); err == nil {
		if n, ok := s.Cluster.Node(c.Value); ok && s.stillServes(n, path) {
			if rt := s.routeFor(n, path); rt.HLSURL != "" {
				redirectViewer(w, r, rt, path)
				return
			}
		}
	}
	var group, region string
	if r.URL.RawQuery != "" {
		q := r.URL.Query()
		group, region = q.Get("group"), q.Get("region")
	}
	p, err := s.play(path, group, region, true)
	if err != nil {
		s.fail(w, r, err, nativeErrors)
		return
	}
	if p.spill == "" && p.route.HLSURL == "" {
		s.fail(w, r, fmt.Errorf("%w: node %s has no HTTP address", selector.ErrNoEdge, p.route.Node.ID), nativeErrors)
		return
	}
	// where p sends the viewer (a choice spills to storage or not for as long as it stands)
	send := func(w http.ResponseWriter, r *http.Request) {
		if p.spill != "" {
			// no sticky cookie: the viewer's next visit tries the edges again
			w.Header().Set("Cache-Control", "no-store")
			http.Redirect(w, r, p.spill, http.StatusFound)
			return
		}
		redirectViewer(w, r, p.route, path)
	}
	if _, hadCT := w.Header()["Content-Type"]; hadCT {
		send(w, r) // http.Redirect writes another answer then (none sets one)
		return
	}
	p.redirectOnce.Do(func() {
		// a GET: http.Redirect writes its body for GET only, and serve leaves it out for HEAD
		get := &http.Request{Method: http.MethodGet, URL: r.URL}
		p.redirect = record(func(w http.ResponseWriter) { send(w, get) }, false)
	})
	p.redirect.serve(w, r)
}

// redirectViewer sends a viewer to rt's node, and keeps it there for the session with a cookie.
func redirectViewer(w http.ResponseWriter, r *http.Request, rt route, path string) {
	http.SetCookie(w, &http.Cookie{Name: stickyCookie, Value: rt.Node.ID, Path: "/" + path + "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, rt.HLSURL, http.StatusFound)
}

// stillServes reports whether a viewer's sticky node can keep serving it.
func (s *Server) stillServes(n store.Node, path string) bool {
	snap := s.Cluster.FreshSnapshot()
	// the snapshot's nodes are ordered by ID
	i, found := slices.BinarySearchFunc(snap.Nodes, n.ID, func(sn selector.Node, id string) int { return strings.Compare(sn.ID, id) })
	if !found {
		return false
	}
	sn := &snap.Nodes[i]
	// a full node keeps the viewers it has: only state and freshness matter here
	if sn.State != nodemodel.StateInService || snap.StaleAfter > 0 && snap.Now.Sub(sn.LastReport) > snap.StaleAfter {
		return false
	}
	return sn.Role == nodemodel.RoleEdge || sn.Role == nodemodel.RoleOrigin && containsString(sn.LiveStreams, path)
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// hostOf returns the host part of a host:port address.
func hostOf(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return h
}
