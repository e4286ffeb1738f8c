// Package api is the stream manager's HTTP interface: the native /api/v1 (JSON, Bearer admin token),
// the Red5 Pro Stream Manager 3.1 compatible /streammanager/api/3.1 (accessToken query), the viewer
// entry point GET /<app>/<stream>/index.m3u8 that redirects to the best edge, and WHIP/WHEP
// (POST /<app>/<stream>/whip|whep, redirected to a node, or forwarded by the /proxy calls).
//
// routes.go holds the route tables, one line per call. Each resource has its file (policies.go,
// launchconfigs.go, groups.go, nodes.go, alarms.go, events.go, streams.go, routing.go, webrtc.go) with its
// operations on *Server, which validate, call the store or the cluster and log, and the handlers of
// the two APIs (nativeAPI, red5API), which only decode their own JSON, call the one operation and encode
// the answer: the native shapes are in apitypes, Red5's in red5.go.
package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nagare-video/nagare/internal/cloud"
	"github.com/nagare-video/nagare/internal/manager/autoscaler"
	"github.com/nagare-video/nagare/internal/manager/selector"
	"github.com/nagare-video/nagare/internal/manager/steering"
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
	GetStream(ctx context.Context, name string) (store.StreamRecord, error)
	ScaleEvents(ctx context.Context, group string, limit int) ([]store.ScaleEvent, error)
	PutLadder(ctx context.Context, l store.Ladder) error
	GetLadder(ctx context.Context, stream string) (store.Ladder, error)
	ListLadders(ctx context.Context) ([]store.Ladder, error)
	DeleteLadder(ctx context.Context, stream string) error
}

// clusterView is what the API needs of the node registry.
type clusterView interface {
	Nodes(group string) []store.Node
	Node(id string) (store.Node, bool)
	FreshSnapshot() selector.Snapshot
	Snapshot() *selector.Snapshot
	Transition(ctx context.Context, id string, to nodemodel.State, cause string) (store.Node, error)
	// TranscodedWithout reports whether transcoders make a ladder of stream name without a provisioned one.
	TranscodedWithout(name string) bool
}

// scaler is what the API needs of the autoscaler.
type scaler interface {
	// Launch starts a node of role in group now (within its maxLimit; ErrAtMax beyond).
	Launch(ctx context.Context, group string, role nodemodel.Role) (store.Node, error)
	// Unserved records a viewer no node of role could take and says whether more are on the way.
	Unserved(group string, role nodemodel.Role) bool
	// DeleteGroup terminates the group's nodes and deletes it once they are gone; it returns them.
	DeleteGroup(ctx context.Context, group string) ([]string, error)
	// Terminate stops a node's instance now, whatever its viewers.
	Terminate(ctx context.Context, n store.Node, cause string) error
}

// Server serves the manager's HTTP API.
type Server struct {
	Store      configStore
	Cluster    clusterView
	AdminToken string
	// ClusterSecret signs the client address the WHIP/WHEP proxy mode names to nodes.
	ClusterSecret string
	Weights       selector.Weights
	// SteeringTTL is the TTL of the steering manifests (GET /steering/v1/...; 5 s when zero).
	SteeringTTL time.Duration
	// SteeringStorage is the storage pathway's ID when edges offer one (see steering.Request.Storage).
	SteeringStorage string
	// StorageURL, when set, is where players read the storage push's copy of the streams, down to the
	// push's prefix (manager.steering.cdn.url), and StoragePlaylist the multivariant playlist's name
	// there: a new HLS viewer whom no edge of a group that has edges can take (every one full, or being
	// launched) is sent there rather than to the stream's origin or away with 503.
	StorageURL, StoragePlaylist string
	steerLimit                  clientLimits
	// Version is the software version nodes must run when their launch configuration names none (the
	// manager's own).
	Version string
	// CloudController names the controller that launches nodes ("" when nodes register themselves).
	CloudController string
	// Scaler launches nodes and hears of unserved viewers (nil without a cloud controller).
	Scaler scaler
	// Instances lists what the cloud controller runs (nil without one).
	Instances func(ctx context.Context) ([]cloud.Instance, error)
	// Record asks the in-service origins to record (or stop recording) a stream's next publications and
	// returns the nodes that agreed (nil: recording is not available).
	Record func(ctx context.Context, stream string, on bool) ([]string, error)
	// Health answers /healthz (nil: a plain 200 "ok"); the manager's checks its store.
	Health http.HandlerFunc
	// NodeTransport, if set, is the transport of the calls to the nodes (its TLS trusts their
	// certificates); nil: a plain one.
	NodeTransport *http.Transport
	Log           *slog.Logger
	Now           func() time.Time
	// SessionTTL is how long a console session lasts (DefaultSessionTTL when zero).
	SessionTTL time.Duration
	// Trace gives the autoscaler's recent view of every group's roles to the console, as the managers
	// ticking the groups stored it (an autoscaler.TraceReader's Roles; nil: none).
	Trace func(ctx context.Context) ([]autoscaler.RoleTrace, error)
	// PublishToken signs a publish token for a stream (nil: the console cannot make one).
	PublishToken func(stream string, ttl time.Duration) (string, time.Time, error)

	// Site, when set, serves the public site's live calls (/site/api/config, /site/api/live).
	Site *SiteConfig

	sessions sessions
	watch    watchHub

	nodeOnce          sync.Once
	nodeHTTP          *http.Client
	originCounter     atomic.Uint64
	transcoderCounter atomic.Uint64
	playMemo          atomic.Pointer[snapshotMemo[*playChoice]]
	steerMemo         atomic.Pointer[snapshotMemo[steering.Decision]]
}

// snapshotMemo remembers what was computed from one snapshot of the cluster. Selection (of an edge, of
// a steering answer) is a pure function of the snapshot and the question, so everyone asking while the
// snapshot stands would get the same answer: computing it once keeps routing cheap with thousands of
// nodes.
type snapshotMemo[V any] struct {
	snap   *selector.Snapshot
	size   atomic.Int64
	values sync.Map // key → V
}

// remembered returns the value of key for the cluster's current snapshot: the one remembered in *m, or
// compute's over that snapshot (with Now set to the present), remembered while maxMemo allows.
func remembered[V any](s *Server, m *atomic.Pointer[snapshotMemo[V]], key string, compute func(selector.Snapshot) V) V {
	snap := s.Cluster.Snapshot()
	memo := m.Load()
	if memo == nil || memo.snap != snap {
		memo = &snapshotMemo[V]{snap: snap}
		m.Store(memo)
	}
	if v, ok := memo.values.Load(key); ok {
		return v.(V)
	}
	fresh := *snap
	fresh.Now = s.now()
	v := compute(fresh)
	if memo.size.Add(1) <= maxMemo {
		memo.values.Store(key, v)
	}
	return v
}

// maxMemo bounds the remembered choices per snapshot (hostile clients can ask for any stream name).
const maxMemo = 10000

// maxBody bounds request bodies.
const maxBody = 1 << 20

// adminRealm is the realm named in the WWW-Authenticate header of the native API's 401 answers.
const adminRealm = `Bearer realm="nagare manager"`

// authorized checks the admin token: an `Authorization: Bearer <token>` header, or (Red5's way, and
// accepted by both APIs) the accessToken query parameter. A header wins over the query; a header of any
// other scheme is refused rather than taken for the token. The comparison is of SHA-256 sums, so it
// takes the same time whatever the length of the guess. Without either, the console's session cookie
// (session.go) may stand for the token.
func (s *Server) authorized(r *http.Request) error {
	tok := ""
	if r.Header.Get("Authorization") == "" && !r.URL.Query().Has("accessToken") {
		if _, err := r.Cookie(SessionCookie); err == nil {
			_, err := s.authorizedSession(r) // the console's session cookie: valid, or refused with its cause
			return err
		}
	}
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, rest, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return fmt.Errorf("%w: the Authorization header must be \"Bearer <admin token>\"", ErrUnauthenticated)
		}
		tok = strings.TrimSpace(rest)
	} else {
		tok = r.URL.Query().Get("accessToken")
	}
	if tok == "" {
		return ErrUnauthenticated
	}
	got, want := sha256.Sum256([]byte(tok)), sha256.Sum256([]byte(s.AdminToken))
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		return ErrForbidden
	}
	return nil
}

// Authorize lets a request of another part of the manager (the console's VOD library) through with the
// admin token or the console session, as an admin call of the native API; otherwise it writes the native
// API's refusal and returns false.
func (s *Server) Authorize(w http.ResponseWriter, r *http.Request) bool {
	if err := s.authorized(r); err != nil {
		s.refuse(w, r, err, nativeErrors)
		return false
	}
	return true
}

// refuse answers an admin call that is not authorized.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, err error, style errorStyle) {
	// the path only: a query may hold a token
	s.Log.Warn("admin call refused", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "cause", err)
	if style == nativeErrors && errors.Is(err, ErrUnauthenticated) {
		w.Header().Set("WWW-Authenticate", adminRealm)
	}
	s.fail(w, r, err, style)
}

// apiHandler serves one call and returns its error, which the wrapper writes in its API's error style.
type apiHandler func(w http.ResponseWriter, r *http.Request) error

// admin wraps a handler that needs the admin token.
func (s *Server) admin(style errorStyle, h apiHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := s.authorized(r); err != nil {
			s.refuse(w, r, err, style)
			return
		}
		if err := h(w, r); err != nil {
			s.fail(w, r, err, style)
		}
	}
}

// public wraps a handler open to anyone.
func (s *Server) public(style errorStyle, h apiHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.fail(w, r, err, style)
		}
	}
}

// unknownFields says what decode does with a field the body's type does not have.
type unknownFields int

const (
	refuseUnknown unknownFields = iota // the native API: a typo is a 400 that names the field
	ignoreUnknown                      // the Red5 API: operators' scripts carry fields nagare does not use
)

// decode reads one JSON value into v.
func decode(r *http.Request, v any, unknown unknownFields) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody+1))
	if unknown == refuseUnknown {
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
