package stream

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// ErrAlreadyPublishing is returned when a stream name is live and takeover is off.
var ErrAlreadyPublishing = errors.New("stream is already being published")

// Listener learns of streams starting and ending. Calls are made synchronously, in order, outside the
// registry's lock; StreamStarted runs before the first unit is written.
type Listener interface {
	StreamStarted(s *Stream)
	StreamEnded(s *Stream)
}

// Registry is the set of live streams on a node.
type Registry struct {
	// Takeover lets a new publisher replace the live one instead of being refused.
	Takeover bool

	bytesIn atomic.Uint64

	mu        sync.Mutex
	streams   map[Path]*Stream
	listeners []Listener
}

// AddListener registers l for all later publications.
func (r *Registry) AddListener(l Listener) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.listeners = append(r.listeners, l)
}

// PublishRequest describes a publisher that wants a stream name.
type PublishRequest struct {
	Path     Path
	Tracks   []*Track
	Protocol string
	Remote   string
	// Close ends the publisher's connection; used on takeover and shutdown.
	Close func()
	// RequestKeyframe asks the publisher for a keyframe (nil when its protocol cannot: RTMP, SRT).
	RequestKeyframe func()
	// Rendition is set when the publication is a rendition of another stream (a transcoder's output).
	Rendition *Rendition
}

// Publish makes a stream live. With takeover, an existing publisher of the same name is closed and its
// stream ended first.
func (r *Registry) Publish(req PublishRequest) (*Stream, error) {
	s := &Stream{
		Path: req.Path, Tracks: req.Tracks, Protocol: req.Protocol, Remote: req.Remote,
		StartedAt: time.Now(), Rendition: req.Rendition, close: req.Close, keyframe: req.RequestKeyframe, total: &r.bytesIn,
	}
	r.mu.Lock()
	if r.streams == nil {
		r.streams = make(map[Path]*Stream)
	}
	old := r.streams[req.Path]
	if old != nil && !r.Takeover {
		r.mu.Unlock()
		return nil, fmt.Errorf("%s: %w (by %s %s since %s)", req.Path, ErrAlreadyPublishing,
			old.Protocol, old.Remote, old.StartedAt.Format(time.RFC3339))
	}
	r.streams[req.Path] = s
	listeners := append([]Listener(nil), r.listeners...)
	r.mu.Unlock()

	if old != nil {
		old.Close()
		r.finish(old, listeners)
	}
	for _, l := range listeners {
		l.StreamStarted(s)
	}
	return s, nil
}

// Unpublish ends s. It is safe to call more than once and after a takeover.
func (r *Registry) Unpublish(s *Stream) {
	r.mu.Lock()
	if r.streams[s.Path] == s {
		delete(r.streams, s.Path)
	}
	listeners := append([]Listener(nil), r.listeners...)
	r.mu.Unlock()
	r.finish(s, listeners)
}

func (r *Registry) finish(s *Stream, listeners []Listener) {
	if !s.end() {
		return
	}
	for _, l := range listeners {
		l.StreamEnded(s)
	}
}

// Get returns the live stream at p, or nil.
func (r *Registry) Get(p Path) *Stream {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.streams[p]
}

// List returns the live streams ordered by path.
func (r *Registry) List() []*Stream {
	r.mu.Lock()
	out := make([]*Stream, 0, len(r.streams))
	for _, s := range r.streams {
		out = append(out, s)
	}
	r.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Path.String() < out[j].Path.String() })
	return out
}

// CloseAll asks every publisher to stop (node shutdown).
func (r *Registry) CloseAll() {
	for _, s := range r.List() {
		s.Close()
	}
}

// BytesIn returns the media bytes received by all streams since the node started.
func (r *Registry) BytesIn() uint64 { return r.bytesIn.Load() }
