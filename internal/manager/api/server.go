// Package api is the stream manager's HTTP interface: the native /api/v1 (JSON, Bearer admin token),
// the Red5 Pro Stream Manager 3.1 compatible /streammanager/api/3.1 (accessToken query), and the viewer
// entry point GET /<app>/<stream>/index.m3u8 that redirects to the best edge.
package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nagare-video/nagare/internal/cloud"
	"github.com/nagare-video/nagare/internal/manager/selector"
	"github.com/nagare-video/nagare/internal/manager/store"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

// configStore is what the API needs of the store.
type configStore interface {
	CreatePolicy(ctx context.Context, p store.ScalePolicy) (store.ScalePolicy, error)
	GetPolicy(ctx context.Context, name string) (store.ScalePolicy, error)
	ListPolicies(ctx context.Context) ([]store.ScalePolicy, error)
	UpdatePolicy(ctx context.Context, p store.ScalePolicy) (store.ScalePolicy, error)
	DeletePolicy(ctx context.Context, name string) error
	CreateLaunchConfig(ctx context.Context, c store.LaunchConfig) (store.LaunchConfig, error)
	GetLaunchConfig(ctx context.Context, name string) (store.LaunchConfig, error)
	ListLaunchConfigs(ctx context.Context) ([]store.LaunchConfig, error)
	UpdateLaunchConfig(ctx context.Context, c store.LaunchConfig) (store.LaunchConfig, error)
	DeleteLaunchConfig(ctx context.Context, name string) error
	CreateGroup(ctx context.Context, g store.NodeGroup) (store.NodeGroup, error)
	GetGroup(ctx context.Context, nameOrID string) (store.NodeGroup, error)
	ListGroups(ctx context.Context) ([]store.NodeGroup, error)
	DeleteGroup(ctx context.Context, name string) error
	SetAlarmThreshold(ctx context.Context, role nodemodel.Role, pct int) error
	AlarmThresholds(ctx context.Context) ([]store.AlarmThreshold, error)
	NodeEvents(ctx context.Context, nodeID string, limit int) ([]store.NodeEvent, error)
	ListStreams(ctx context.Context) ([]store.StreamRecord, error)
	ScaleEvents(ctx context.Context, group string, limit int) ([]store.ScaleEvent, error)
}

// clusterView is what the API needs of the node registry.
type clusterView interface {
	Nodes(group string) []store.Node
	Node(id string) (store.Node, bool)
	FreshSnapshot() selector.Snapshot
	Snapshot() *selector.Snapshot
	Transition(ctx context.Context, id string, to nodemodel.State, cause string) (store.Node, error)
}

// scaler is what the API needs of the autoscaler.
type scaler interface {
	// Launch starts a node of role in group now (within its maxLimit; ErrAtMax beyond).
	Launch(ctx context.Context, group string, role nodemodel.Role) (store.Node, error)
	// Unserved records a viewer no node of role could take and says whether more are on the way.
	Unserved(group string, role nodemodel.Role) bool
	// DeleteGroup terminates the group's nodes and deletes it once they are gone; it returns them.
	DeleteGroup(ctx context.Context, group string) ([]string, error)
}

// Server serves the manager's HTTP API.
type Server struct {
	Store      configStore
	Cluster    clusterView
	AdminToken string
	Weights    selector.Weights
	// CloudController names the controller that launches nodes ("" when nodes register themselves).
	CloudController string
	// Scaler launches nodes and hears of unserved viewers (nil without a cloud controller).
	Scaler scaler
	// Instances lists what the cloud controller runs (nil without one).
	Instances func(ctx context.Context) ([]cloud.Instance, error)
	// Record asks the in-service origins to record (or stop recording) a stream's next publications and
	// returns the nodes that agreed (nil: recording is not available).
	Record func(ctx context.Context, stream string, on bool) ([]string, error)
	Log    *slog.Logger
	Now    func() time.Time

	originCounter atomic.Uint64
	edgeMemo      atomic.Pointer[edgeMemo]
}

// edgeMemo remembers edge choices for one snapshot of the cluster. Selection is a pure function of the
// snapshot, so every viewer routed while the snapshot stands would get the same answer: computing it
// once keeps routing cheap with thousands of nodes.
type edgeMemo struct {
	snap    *selector.Snapshot
	size    atomic.Int64
	choices sync.Map // group \x00 path \x00 region → edgeChoice
}

type edgeChoice struct {
	node selector.Node
	err  error
}

// maxMemo bounds the remembered choices per snapshot (hostile clients can ask for any stream name).
const maxMemo = 10000

// maxBody bounds request bodies.
const maxBody = 1 << 20

// Handler returns the routes of every API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	s.nativeRoutes(mux)
	s.red5Routes(mux)
	mux.HandleFunc("GET /{app}/{stream}/index.m3u8", s.viewerEntry)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	return mux
}

// authorized checks the admin token, from the Authorization header or (Red5) the accessToken query.
func (s *Server) authorized(r *http.Request) error {
	tok := ""
	if h := r.Header.Get("Authorization"); h != "" {
		tok, _ = strings.CutPrefix(h, "Bearer ")
	} else {
		tok = r.URL.Query().Get("accessToken")
	}
	if tok == "" {
		return ErrUnauthenticated
	}
	if subtle.ConstantTimeCompare([]byte(tok), []byte(s.AdminToken)) != 1 {
		return ErrForbidden
	}
	return nil
}

// admin wraps a handler that needs the admin token.
func (s *Server) admin(red5 bool, h func(w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := s.authorized(r); err != nil {
			s.Log.Warn("admin call refused", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "cause", err)
			s.fail(w, r, err, red5)
			return
		}
		if err := h(w, r); err != nil {
			s.fail(w, r, err, red5)
		}
	}
}

// public wraps a handler open to anyone.
func (s *Server) public(red5 bool, h func(w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.fail(w, r, err, red5)
		}
	}
}

// decode reads one JSON value into v. strict refuses unknown fields.
func decode(r *http.Request, v any, strict bool) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody+1))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.Is(err, io.EOF):
			return invalid("empty body: a JSON object is expected")
		case errors.As(err, &se):
			return invalid("malformed JSON at byte %d: %v", se.Offset, se)
		case errors.As(err, &te):
			return invalid("field %q must be %s, not %s", te.Field, te.Type, te.Value)
		case strings.HasPrefix(err.Error(), "json: unknown field"):
			return invalid("%s", strings.TrimPrefix(err.Error(), "json: "))
		default:
			return invalid("reading JSON: %v", err)
		}
	}
	if dec.More() {
		return invalid("more than one JSON value in the body")
	}
	return nil
}

// ---- routing of publishers and viewers ----

// route is where a client should go.
type route struct {
	Node    store.Node
	RTMPURL string
	SRTURL  string
	HLSURL  string
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
	if n.Addresses.SRT != "" {
		rt.SRTURL = "srt://" + n.Addresses.SRT + "?streamid=publish:" + path
	}
	if n.Addresses.HTTP != "" {
		rt.HLSURL = "http://" + n.Addresses.HTTP + "/" + path + "/index.m3u8"
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

// playRoute picks the edge (or origin) for a viewer.
func (s *Server) playRoute(path, group, region string) (route, error) {
	n, err := s.pickEdge(group, path, region)
	demand := group
	if demand == "" && err == nil {
		// the viewer named no group: the edges it needs are those of the group whose origin (or relay)
		// it would otherwise load, where the stream is
		demand = n.Group
	}
	if s.Scaler != nil && (err != nil || n.Role != nodemodel.RoleEdge) && s.Scaler.Unserved(demand, nodemodel.RoleEdge) {
		// every edge is full (or there is none yet) and one is being launched: the viewer waits for it
		// rather than loading the origin
		return route{}, fmt.Errorf("playing %s: %w", path, ErrScalingOut)
	}
	if err != nil {
		return route{}, err
	}
	full, _ := s.Cluster.Node(n.ID)
	return s.routeFor(full, path), nil
}

func (s *Server) pickEdge(group, path, region string) (selector.Node, error) {
	snap := s.Cluster.Snapshot()
	memo := s.edgeMemo.Load()
	if memo == nil || memo.snap != snap {
		memo = &edgeMemo{snap: snap}
		s.edgeMemo.Store(memo)
	}
	key := group + "\x00" + path + "\x00" + region
	if c, ok := memo.choices.Load(key); ok {
		return c.(edgeChoice).node, c.(edgeChoice).err
	}
	fresh := *snap
	fresh.Now = s.now()
	n, err := selector.PickEdge(fresh, group, path, region, s.Weights)
	if memo.size.Add(1) <= maxMemo {
		memo.choices.Store(key, edgeChoice{node: n, err: err})
	}
	return n, err
}

// stickyCookie keeps a viewer on its node for the session.
const stickyCookie = "nagare_node"

// viewerEntry answers GET /<app>/<stream>/index.m3u8 with a redirect to the chosen node, so any HLS
// player plays through the manager without an SDK.
func (s *Server) viewerEntry(w http.ResponseWriter, r *http.Request) {
	path, err := streamPath(r.PathValue("app"), r.PathValue("stream"))
	if err != nil {
		s.fail(w, r, err, false)
		return
	}
	var rt route
	if c, err := r.Cookie(stickyCookie); err == nil {
		if n, ok := s.Cluster.Node(c.Value); ok && s.stillServes(n, path) {
			rt = s.routeFor(n, path)
		}
	}
	if rt.HLSURL == "" {
		rt, err = s.playRoute(path, r.URL.Query().Get("group"), r.URL.Query().Get("region"))
		if err != nil {
			s.fail(w, r, err, false)
			return
		}
	}
	if rt.HLSURL == "" {
		s.fail(w, r, fmt.Errorf("%w: node %s has no HTTP address", selector.ErrNoEdge, rt.Node.ID), false)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: stickyCookie, Value: rt.Node.ID, Path: "/" + path + "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, rt.HLSURL, http.StatusFound)
}

// stillServes reports whether a viewer's sticky node can keep serving it.
func (s *Server) stillServes(n store.Node, path string) bool {
	snap := s.Cluster.FreshSnapshot()
	for _, sn := range snap.Nodes {
		if sn.ID == n.ID {
			// a full node keeps the viewers it has: only state and freshness matter here
			if sn.State != nodemodel.StateInService || snap.StaleAfter > 0 && snap.Now.Sub(sn.LastReport) > snap.StaleAfter {
				return false
			}
			return sn.Role == nodemodel.RoleEdge || sn.Role == nodemodel.RoleOrigin && containsString(sn.LiveStreams, path)
		}
	}
	return false
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
