// Package relay is the HLS-aware cache of edge and relay nodes: it pulls a stream's playlists, segments
// and parts from a parent (an origin, or a relay in front of origins) and serves them to many viewers,
// fetching each object from the parent once however many ask at once, holding LL-HLS blocking playlist
// requests locally with a single upstream blocking request per rendition, and pulling a stream only
// while it has viewers. A relay is an edge whose clients are edges: both run this code.
package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nagare-video/nagare/internal/media/hlshttp"
	"github.com/nagare-video/nagare/internal/media/mediametrics"
	"github.com/nagare-video/nagare/internal/media/memfile"
	"github.com/nagare-video/nagare/internal/media/stream"
	"github.com/nagare-video/nagare/internal/media/viewers"
	"github.com/nagare-video/nagare/internal/nodeapi"
)

// Server serves HLS pulled from a parent.
type Server struct {
	// Parent returns the parent's base URL (http://host:port); "" while none is assigned. It may take a
	// moment (an edge without a parent asks its manager for one) and should give up with ctx.
	Parent func(ctx context.Context) string
	// Locate, when set, names the base URL of a node that carries path, asked when the node a stream is
	// pulled from answers 404 or fails for its multivariant playlist: in a cluster with several origins
	// and no relay in front of them, a child has one parent and each origin has its own streams, so the
	// manager names the origin where the stream is live (or where it went, when its publisher moved).
	// "" when it knows none. It should give up with ctx, and bound how often it asks: a made-up stream
	// name makes it ask.
	Locate func(ctx context.Context, path stream.Path) string
	// Client makes the upstream requests; each request has its own deadline.
	Client  *http.Client
	Metrics *mediametrics.Metrics
	Log     *slog.Logger
	// IdleTimeout stops pulling a stream that has had no viewer for this long.
	IdleTimeout time.Duration
	// SessionTimeout is how long a viewer session counts after its last request.
	SessionTimeout time.Duration
	// ObjectTTL is how long a segment or part stays cached (its useful life in the live window).
	ObjectTTL time.Duration
	// NotFoundTTL is how long a stream the parent answered 404 for is answered 404 here without asking
	// the parent again (0 means 1 s).
	NotFoundTTL time.Duration
	// Steering, when it returns non-nil, makes the multivariant playlists served to players name the
	// steering server and this node's pathway (HLS Content Steering).
	Steering func() *Steering

	sessions viewers.Sessions
	storage  storageVariants // the storage pathway's variants of each stream (Steering.Storage)
	// draining: the manager moves this edge's players elsewhere (content steering), so a session that
	// stops asking ends sooner, and the edge is let go once its last player has left
	draining atomic.Bool
	init     sync.Once
	acct     hlshttp.Accounting
	// loops are the rendition loops; Run waits for them. looping counts them, for tests.
	loops   sync.WaitGroup
	looping atomic.Int64
	// held counts the viewers' requests waiting for a part, for tests
	held atomic.Int64

	mu      sync.Mutex
	streams map[stream.Path]*pull
	missing missingSet
	stopped bool // Run has returned, or is returning: no new pull and no new loop
}

// errNoParent is returned while the node has no parent to pull from.
var errNoParent = errors.New("no parent assigned yet")

func (s *Server) idleTimeout() time.Duration {
	if s.IdleTimeout > 0 {
		return s.IdleTimeout
	}
	return 30 * time.Second
}

func (s *Server) notFoundTTL() time.Duration {
	if s.NotFoundTTL > 0 {
		return s.NotFoundTTL
	}
	return defaultNotFoundTTL
}

func (s *Server) objectTTL() time.Duration {
	if s.ObjectTTL > 0 {
		return s.ObjectTTL
	}
	return time.Minute
}

// unconfirmedIdle is how long a pull the parent never answered soundly is kept without requests (its
// failures are remembered that long, so a broken parent is not hammered).
const unconfirmedIdle = 5 * time.Second

// Run stops idle pulls and forgets expired objects until ctx is cancelled. It then stops every pull and
// returns once their rendition loops have exited; requests after that are answered 503. Requests may
// come before Run: the loops they start are stopped and waited for all the same.
func (s *Server) Run(ctx context.Context) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.stop()
			return nil
		case now := <-t.C:
			s.sweep(now)
		}
	}
}

// stop ends every pull and waits for the rendition loops.
func (s *Server) stop() {
	s.mu.Lock()
	s.stopped = true
	pulls := s.streams
	s.streams = nil
	s.mu.Unlock()
	for _, p := range pulls {
		p.stop()
	}
	s.loops.Wait()
}

// spawn runs f(ctx) on a goroutine that Run waits for; false when the server has stopped.
func (s *Server) spawn(ctx context.Context, f func(context.Context)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return false
	}
	s.looping.Add(1)
	s.loops.Go(func() {
		defer s.looping.Add(-1)
		f(ctx)
	})
	return true
}

func (s *Server) sweep(now time.Time) {
	s.mu.Lock()
	s.missing.expire(now)
	var idle []*pull
	for path, p := range s.streams {
		limit := s.idleTimeout()
		if !p.confirmed.Load() {
			limit = min(limit, unconfirmedIdle)
		}
		if now.Sub(p.lastUsedAt()) > limit {
			delete(s.streams, path)
			idle = append(idle, p)
		}
	}
	live := make([]*pull, 0, len(s.streams))
	for _, p := range s.streams {
		live = append(live, p)
	}
	s.mu.Unlock()
	for _, p := range idle {
		p.stop()
		if p.confirmed.Load() {
			s.sessions.DropStream(p.path)
			s.Log.Info("stopped pulling idle stream", "stream", p.path.String())
		}
	}
	for _, p := range live {
		p.cache.sweep(now)
	}
}

// pullFor returns the pull of path, starting one if needed; or, without one, the answer for a stream
// the parent was just found not to have, or for a server that has stopped.
func (s *Server) pullFor(path stream.Path) (*pull, *response) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.stopped:
		return nil, &response{status: http.StatusServiceUnavailable, msg: "this node is stopping"}
	case s.missing.has(path, now):
		return nil, &response{status: http.StatusNotFound, msg: "not found at the parent"}
	}
	if s.streams == nil {
		s.streams = map[stream.Path]*pull{}
	}
	p := s.streams[path]
	if p == nil {
		ctx, cancel := context.WithCancel(context.Background())
		p = &pull{s: s, path: path, ctx: ctx, cancel: cancel, renditions: map[string]*rendition{}}
		p.cache.objects = map[string]*object{}
		s.streams[path] = p
	}
	p.touch()
	return p, nil
}

// notAtParent ends p at once, and answers its stream 404 for NotFoundTTL, when the parent answered 404
// for its multivariant playlist and never sent anything sound for it: the stream does not exist there.
// A stream that played keeps its pull through a 404, which may be a publisher reconnecting.
func (s *Server) notAtParent(p *pull) {
	s.mu.Lock()
	drop := s.streams[p.path] == p && !p.confirmed.Load()
	if drop {
		delete(s.streams, p.path)
		s.missing.add(p.path, time.Now(), s.notFoundTTL())
	}
	s.mu.Unlock()
	if drop {
		p.stop()
	}
}

// Viewers returns the live viewer sessions of p (all streams if nil). While the edge drains, a session
// counts for a third of SessionTimeout (at least 3 s) after its last request: players request every part
// or segment, so one that has been quiet that long has moved to another edge.
func (s *Server) Viewers(p *stream.Path) int { return s.sessions.Count(p, s.sessionTimeout()) }

// ViewersByStream returns the live viewer sessions of every stream that has some, counted as Viewers does.
func (s *Server) ViewersByStream() map[stream.Path]int {
	return s.sessions.CountByStream(s.sessionTimeout())
}

func (s *Server) sessionTimeout() time.Duration {
	t := s.SessionTimeout
	if t <= 0 {
		t = 10 * time.Second
	}
	if s.draining.Load() {
		t = max(3*time.Second, t/3)
	}
	return t
}

// SetSessionKey sets the key of the viewer session ids (see viewers.Sessions.Key); before serving.
func (s *Server) SetSessionKey(k []byte) { s.sessions.Key = k }

// SetDraining says whether the manager drains this edge (see Viewers).
func (s *Server) SetDraining(on bool) { s.draining.Store(on) }

// BytesOut returns the body bytes sent to clients.
func (s *Server) BytesOut() uint64 { return s.acct.BytesOut() }

// Streams returns the streams being pulled: those the parent has sent something sound for, so that
// requests for made-up names never show up here.
func (s *Server) Streams() []stream.Path {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]stream.Path, 0, len(s.streams))
	for path, p := range s.streams {
		if p.confirmed.Load() {
			out = append(out, path)
		}
	}
	return out
}

// ServeHTTP serves /<app>/<stream>/<file>.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.init.Do(func() { s.acct.Metrics = s.Metrics })
	if !s.acct.Preflight(w, r) {
		return
	}
	path, file, err := stream.SplitRequestPath(r.URL.EscapedPath())
	if err != nil {
		s.fail(w, "other", http.StatusBadRequest, err.Error())
		return
	}
	raw := r.URL.RawQuery
	if !strings.HasSuffix(file, ".m3u8") && !strings.HasSuffix(file, ".mp4") && !strings.HasSuffix(file, ".ts") {
		s.fail(w, "other", http.StatusNotFound, "no such object")
		return
	}
	kind := "media"
	switch {
	case file == "index.m3u8":
		kind = "multivariant"
	case strings.HasSuffix(file, ".m3u8"):
		kind = "playlist"
	}
	p, refused := s.pullFor(path)
	if p == nil {
		s.send(w, r, kind, refused)
		return
	}
	relayed := r.Header.Get(viewers.RelayHeader) != ""
	if id := hlshttp.QueryParam(raw, viewers.Param); id != "" && file != "index.m3u8" {
		s.sessions.Touch(id, path)
	}

	var res *response
	switch kind {
	case "multivariant":
		res = p.multivariant()
		if res.status == http.StatusOK && !relayed {
			id := hlshttp.QueryParam(raw, viewers.Param)
			if id == "" || !s.sessions.Valid(id) {
				id = s.sessions.NewID()
			}
			body := addSession(res.body, viewers.Param, id)
			if s.Steering != nil {
				if st := s.Steering(); st != nil {
					var extra []byte
					if st.Storage != "" {
						extra = s.storage.variants(r.Context(), s.Client, st, path, s.Log.Warn)
					}
					// a viewer the manager spilled to storage (every edge full) starts on the storage
					// pathway, with this edge as its home, so that it is steered back to an edge later
					initial := st.Pathway
					if extra != nil && hlshttp.QueryParam(raw, nodeapi.StartPathwayParam) == st.StoragePathway {
						initial = st.StoragePathway
					}
					body = addSteering(body, st, path, r.Host, r.TLS != nil, id, initial, extra)
				}
			}
			res = &response{status: res.status, ctype: res.ctype, cache: res.cache, body: body}
		}
	case "playlist":
		msn, part, blocking, err := hlshttp.BlockingParams(raw)
		if err != nil {
			s.fail(w, kind, http.StatusBadRequest, err.Error())
			return
		}
		rd := p.rendition(file)
		if rd == nil {
			s.fail(w, kind, http.StatusNotFound, "no such playlist")
			return
		}
		res = rd.serve(r.Context(), int64(msn), int64(max(part, 0)), blocking)
	default:
		res = p.object(file)
	}
	if res.status == http.StatusNotFound && !p.confirmed.Load() {
		// nothing of this stream has played here: if the parent does not have the stream at all, the pull
		// ends now rather than at its idle timeout. A made-up object or playlist of a real stream does
		// not count: only the stream's own multivariant playlist decides.
		if kind == "multivariant" || p.multivariant().status == http.StatusNotFound {
			s.notAtParent(p)
		}
	}
	s.send(w, r, kind, res)
}

// response is an answer ready to send.
type response struct {
	status int
	ctype  string
	cache  string
	body   []byte
	msg    string
	// mem holds the body instead, out of the heap, for media kept in the cache (see offHeap)
	mem *memfile.File
}

// minMemfileBytes is the least media object kept in a memory file: below it, a body on the heap costs
// less to send than a file (a reference to take, sendfile).
const minMemfileBytes = 16 << 10

// offHeap moves a sound media answer's body into a memory file, from which responses go out with
// sendfile and which the garbage collector neither scans nor doubles.
func (res *response) offHeap(name string) {
	if res.status != http.StatusOK || len(res.body) < minMemfileBytes || !memfile.Supported() {
		return
	}
	mf, err := memfile.New(name, res.body)
	if err != nil {
		return // it stays on the heap
	}
	res.mem, res.body = mf, nil
}

// release frees the memory file of an answer that left the cache.
func (res *response) release() {
	if res.mem != nil {
		res.mem.Release()
	}
}

func (s *Server) send(w http.ResponseWriter, r *http.Request, kind string, res *response) {
	if res.mem != nil {
		f, err := res.mem.Open(0)
		if err != nil {
			// it left the cache the instant after this request found it
			s.acct.Fail(w, kind, http.StatusServiceUnavailable, "the object is being replaced: ask again")
			return
		}
		s.acct.SendFile(w, r, kind, res.ctype, res.cache, f, res.mem.Size())
		return
	}
	s.acct.Answer(w, r, kind, res.status, res.msg, res.ctype, res.cache, res.body)
}

func (s *Server) fail(w http.ResponseWriter, kind string, code int, msg string) {
	s.acct.Fail(w, kind, code, msg)
}

// parent returns the parent's base URL, "" while there is none.
func (s *Server) parent(ctx context.Context) string {
	if s.Parent == nil {
		return ""
	}
	return strings.TrimRight(s.Parent(ctx), "/")
}

// fetch gets one object from parent, the base URL of the node a stream is pulled from.
func (s *Server) fetch(ctx context.Context, parent, kind, rel string, timeout time.Duration, maxBytes int64) (*response, error) {
	if parent == "" {
		return nil, errNoParent
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, parent+"/"+rel, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set(viewers.RelayHeader, "1")
	resp, err := s.Client.Do(req)
	if err != nil {
		s.countUpstream(kind, "error")
		return nil, fmt.Errorf("parent %s: %w", parent, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBytes+1))
	if err != nil {
		s.countUpstream(kind, "error")
		return nil, fmt.Errorf("parent %s: reading %s: %w", parent, rel, err)
	}
	if int64(len(body)) > maxBytes {
		s.countUpstream(kind, "error")
		return nil, fmt.Errorf("parent %s: %s is larger than %d bytes", parent, rel, maxBytes)
	}
	s.countUpstream(kind, strconv.Itoa(resp.StatusCode))
	return &response{status: resp.StatusCode, ctype: resp.Header.Get("Content-Type"), cache: resp.Header.Get("Cache-Control"), body: body}, nil
}

// countUpstream counts a request to the parent by object kind and result.
func (s *Server) countUpstream(kind, result string) {
	if s.Metrics != nil {
		s.Metrics.Upstream.WithLabelValues(kind, result).Inc()
	}
}
