// Package hls muxes every live stream of a node into HLS once (LL-HLS with fMP4 parts by default, classic
// fMP4, or classic MPEG-TS) with media/segmenter, and serves it to viewers from memory (or disk). Other
// components can observe every object the segmenter makes (Config.Observe).
package hls

import (
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nagare-video/nagare/internal/media/hlshttp"
	"github.com/nagare-video/nagare/internal/media/mediametrics"
	"github.com/nagare-video/nagare/internal/media/segmenter"
	"github.com/nagare-video/nagare/internal/media/stream"
	"github.com/nagare-video/nagare/internal/media/viewers"
)

// Variants of HLS a node can produce.
const (
	VariantLowLatency = "lowlatency" // LL-HLS: fMP4 segments with parts, blocking reloads, preload hints
	VariantFMP4       = "fmp4"       // classic HLS with fMP4 segments
	VariantMPEGTS     = "mpegts"     // classic HLS with MPEG-TS segments
)

// Config is what the muxers need.
type Config struct {
	Variant         string
	SegmentDuration time.Duration
	PartDuration    time.Duration
	SegmentCount    int
	// QueueLen bounds the units waiting for a muxer; beyond it units are dropped and counted.
	QueueLen int
	// Directory keeps finished segments in files under it instead of in memory ("" = memory).
	Directory string
	// HideSource lists only the renditions in the multivariant playlist of a stream that has some (the
	// ladder's passthrough is off).
	HideSource bool
	// Observe, if set, is called when a stream starts; the observer it returns (nil for none) gets every
	// init section, part, segment and playlist of the stream as it is made (MPEG-TS has no init section
	// nor parts). It must follow segmenter.Observer's contract: never block.
	Observe func(st *stream.Stream) segmenter.Observer
}

// Server serves /<app>/<stream>/<file> for every live stream. It implements stream.Listener.
type Server struct {
	Config  Config
	Metrics *mediametrics.Metrics
	Log     *slog.Logger
	// SessionTimeout is how long a viewer session counts after its last request.
	SessionTimeout time.Duration

	init sync.Once
	acct hlshttp.Accounting

	mu       sync.RWMutex
	muxers   map[stream.Path]*muxer
	sessions viewers.Sessions
}

var _ stream.Listener = (*Server)(nil)

// StreamStarted starts a muxer for s.
func (s *Server) StreamStarted(st *stream.Stream) {
	log := s.Log.With("stream", st.Path.String())
	var source *muxer
	if rd := st.Rendition; rd != nil {
		s.mu.RLock()
		source = s.muxers[rd.Of]
		s.mu.RUnlock()
		if source == nil {
			log.Error("rendition will not be served over HLS", "cause", "its source "+rd.Of.String()+" is not served here")
			return
		}
	}
	mx, err := newMuxer(st, source, s.Config, s.Metrics, log)
	if err != nil {
		log.Error("stream will not be served over HLS", "cause", err)
		return
	}
	// A stream of its own leads its cuts and never waits: its segmenter runs in the publisher's goroutine.
	// So does a transcoded rung's, whose publisher (a transcoder's output, read by a goroutine of its own)
	// is behind its source by an encoder's delay and so seldom waits for its cuts, and may wait when it
	// does: a queue would cost a goroutine's wake-up for each of its frames.
	inline := source == nil || st.Rendition.Kind == stream.KindRung
	var reader *stream.Reader
	if inline {
		reader = st.AddInlineReader("hls", mx.write, mx.end)
	} else {
		reader = st.AddReader("hls", s.queueLen())
	}
	if reader == nil {
		mx.abort()
		return
	}
	s.mu.Lock()
	if s.muxers == nil {
		s.muxers = map[stream.Path]*muxer{}
	}
	if old := s.muxers[st.Path]; old != nil && old.kind() != stream.KindRung && old.source != nil {
		// a stream published under the name of a source's view: the view gives way to it
		old.source.stream.RemoveReader(old.reader)
	}
	s.muxers[st.Path] = mx
	s.mu.Unlock()
	if inline {
		mx.reader = reader // the stream's Write calls it, from the first unit on: after this
	}
	if source == nil {
		return
	}
	source.addRendition(mx)
	if !inline {
		mx.start(reader)
	}
	s.split(source)
}

// split makes the views of src, a source that just got a rendition, once: its video alone and its
// audio alone, each a stream of its own (<stream>_source, <stream>_audio) read from the source and cut
// where the source is, for the ladder's multivariant playlist to list video-only variants sharing one
// audio rendition. Observers (the storage push, recording) get them as renditions of the source. A
// source without both video and audio is not split: its renditions are its only other variants.
func (s *Server) split(src *muxer) {
	s.mu.Lock()
	defer s.mu.Unlock() // held throughout, so that StreamEnded of the source finds the views made
	if src.splitTried || s.muxers[src.stream.Path] != src {
		return
	}
	src.splitTried = true
	video := slices.IndexFunc(src.stream.Tracks, segmenter.IsVideo)
	audio := slices.IndexFunc(src.stream.Tracks, segmenter.IsAudio)
	if video < 0 || audio < 0 {
		return
	}
	vs := &views{}
	if vs.audio = s.startView(src, src.stream.Tracks[audio], stream.AudioRung, stream.KindAudio); vs.audio == nil {
		return
	}
	if !s.Config.HideSource {
		vs.video = s.startView(src, src.stream.Tracks[video], stream.SourceVideoRung, stream.KindSourceVideo)
		if vs.video == nil {
			// the ladder cannot list the source without its audio: it stays as it was, audio muxed
			src.stream.RemoveReader(vs.audio.reader)
			delete(s.muxers, vs.audio.stream.Path)
			return
		}
	}
	src.views.Store(vs)
}

// startView starts the muxer of one track of src as the rendition rung of it; s.mu is held.
func (s *Server) startView(src *muxer, t *stream.Track, rung string, kind stream.RenditionKind) *muxer {
	p, err := stream.RenditionPath(src.stream.Path, rung)
	if err != nil {
		s.Log.Error("no ladder audio group", "stream", src.stream.Path.String(), "cause", err)
		return nil
	}
	log := s.Log.With("stream", p.String())
	if s.muxers[p] != nil {
		log.Error("the source's "+rung+" will not be split out of it", "cause", "a stream of that name is live")
		return nil
	}
	st := &stream.Stream{
		Path: p, Tracks: []*stream.Track{t}, Protocol: src.stream.Protocol, Remote: src.stream.Remote,
		StartedAt: time.Now(), Rendition: &stream.Rendition{Of: src.stream.Path, Rung: rung, Kind: kind},
	}
	mx, err := newMuxer(st, src, s.Config, s.Metrics, log)
	if err != nil {
		log.Error("the source's "+rung+" will not be split out of it", "cause", err)
		return nil
	}
	reader := src.stream.AddReader("hls-"+rung, s.queueLen())
	if reader == nil {
		mx.abort() // the source ended
		return nil
	}
	s.muxers[p] = mx
	mx.start(reader)
	return mx
}

func (s *Server) queueLen() int {
	if s.Config.QueueLen > 0 {
		return s.Config.QueueLen
	}
	return 512
}

// StreamEnded stops serving s.
func (s *Server) StreamEnded(st *stream.Stream) {
	s.mu.Lock()
	mx := s.muxers[st.Path]
	if mx != nil && mx.publication() == st {
		delete(s.muxers, st.Path)
	} else {
		mx = nil
	}
	s.mu.Unlock()
	if mx != nil {
		if mx.source != nil {
			mx.source.removeRendition(mx)
		}
		<-mx.finished()
		if vs := mx.views.Load(); vs != nil {
			// the source's end closed their readers: they end with it
			for _, v := range []*muxer{vs.video, vs.audio} {
				if v == nil {
					continue
				}
				<-v.finished()
				s.mu.Lock()
				if s.muxers[v.stream.Path] == v {
					delete(s.muxers, v.stream.Path)
				}
				s.mu.Unlock()
			}
		}
	}
	s.sessions.DropStream(st.Path)
}

// SetSessionKey sets the key of the viewer session ids (see viewers.Sessions.Key); before serving.
func (s *Server) SetSessionKey(k []byte) { s.sessions.Key = k }

// Viewers returns the number of live viewer sessions of p ("" for all streams).
func (s *Server) Viewers(p *stream.Path) int {
	return s.sessions.Count(p, s.sessionTimeout())
}

// ViewersByStream returns the live viewer sessions of every stream that has some.
func (s *Server) ViewersByStream() map[stream.Path]int {
	return s.sessions.CountByStream(s.sessionTimeout())
}

// Media is what the HLS of a stream carries, as its multivariant playlist announces it.
type Media struct {
	Codecs        []string // RFC 6381, one per track
	Width, Height int      // the video's picture size; 0 without video
}

// Media returns what the HLS of the stream at p carries now: the codec parameters of its newest init
// section. It is false when p is not served here or has no media yet.
func (s *Server) Media(p stream.Path) (Media, bool) {
	s.mu.RLock()
	mx := s.muxers[p]
	s.mu.RUnlock()
	if mx == nil {
		return Media{}, false
	}
	v := mx.seg.Playlist().Variant(mx.playlist)
	if len(v.Codecs) == 0 {
		return Media{}, false
	}
	m := Media{Codecs: v.Codecs}
	if w, h, ok := strings.Cut(v.Resolution, "x"); ok {
		m.Width, _ = strconv.Atoi(w)
		m.Height, _ = strconv.Atoi(h)
	}
	return m, true
}

func (s *Server) sessionTimeout() time.Duration {
	if s.SessionTimeout > 0 {
		return s.SessionTimeout
	}
	return max(10*time.Second, 3*s.Config.SegmentDuration)
}

// ServeHTTP serves playlists, init files, segments and parts.
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
	s.mu.RLock()
	mx := s.muxers[path]
	s.mu.RUnlock()
	if mx == nil {
		s.fail(w, "other", http.StatusNotFound, "stream "+path.String()+" is not live on this node")
		return
	}

	if mx.source != nil {
		// a rendition's viewers are its adaptive stream's
		path = mx.source.stream.Path
	}
	switch {
	case file == "index.m3u8":
		s.multivariant(w, r, mx)
	case strings.HasSuffix(file, ".m3u8"):
		s.touchSession(r, path)
		// a blocking reload is held by the muxer until the part exists
		s.send(w, r, "playlist", mx.mediaPlaylist(r, file))
	default:
		s.touchSession(r, path)
		s.send(w, r, "media", mx.media(r, file))
	}
}

// multivariant serves index.m3u8, giving the viewer a session id that every later URL carries. The
// session counts as a viewer from its first media playlist or segment request on.
func (s *Server) multivariant(w http.ResponseWriter, r *http.Request, mx *muxer) {
	q := r.URL.Query()
	newSession := false
	if r.Header.Get(viewers.RelayHeader) != "" {
		// an edge or relay: it counts its own viewers
	} else if id := q.Get(viewers.Param); id == "" || !s.sessions.Valid(id) {
		q.Set(viewers.Param, s.sessions.NewID())
		r2 := r.Clone(r.Context())
		r2.URL.RawQuery = q.Encode()
		r = r2
		newSession = true
	}
	o := mx.multivariant(r)
	if newSession && o.status == http.StatusOK {
		// the body carries a session made for this viewer: no shared cache may hand it to another
		o2 := *o
		o2.cache = strings.Replace(o2.cache, "public", "private", 1)
		o = &o2
	}
	s.send(w, r, "multivariant", o)
}

func (s *Server) touchSession(r *http.Request, p stream.Path) {
	if id := hlshttp.QueryParam(r.URL.RawQuery, viewers.Param); id != "" {
		s.sessions.Touch(id, p)
	}
}

func (s *Server) send(w http.ResponseWriter, r *http.Request, kind string, o *object) {
	if o.file != nil {
		s.acct.SendFile(w, r, kind, o.ctype, o.cache, o.file, o.size)
		return
	}
	s.acct.Answer(w, r, kind, o.status, o.msg, o.ctype, o.cache, o.body)
	o.recycle()
}

func (s *Server) fail(w http.ResponseWriter, kind string, code int, msg string) {
	s.acct.Fail(w, kind, code, msg)
}

// BytesOut returns the HLS body bytes sent since the node started.
func (s *Server) BytesOut() uint64 { return s.acct.BytesOut() }
