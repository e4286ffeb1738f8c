// Package ingest accepts publishers over RTMP and SRT, checks their credentials, and turns what they
// send into the units of a live stream.
package ingest

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/nagare-video/nagare/internal/media/mediametrics"
	"github.com/nagare-video/nagare/internal/media/pubauth"
	"github.com/nagare-video/nagare/internal/media/stream"
)

// ErrUnsupportedCodec is returned when a publisher sends a codec nagare cannot mux to HLS.
var ErrUnsupportedCodec = errors.New("unsupported codec")

// ErrNoTracks is returned when a publisher sends no usable track.
var ErrNoTracks = errors.New("no usable video or audio track")

type registry interface {
	Get(p stream.Path) *stream.Stream
	Publish(req stream.PublishRequest) (*stream.Stream, error)
	Unpublish(s *stream.Stream)
}

type authorizer interface {
	Authorize(p stream.Path, q url.Values) error
}

// defaultReadTimeout drops a publisher that sends nothing for this long.
const defaultReadTimeout = 10 * time.Second

// connSet tracks open connections so that shutdown can close them all, including one accepted while
// shutdown was under way.
type connSet[T interface {
	comparable
	io.Closer
}] struct {
	mu     sync.Mutex
	m      map[T]struct{}
	closed bool
}

// add tracks c; it closes c and reports false if the set is already closed.
func (s *connSet[T]) add(c T) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.Close()
		return false
	}
	if s.m == nil {
		s.m = map[T]struct{}{}
	}
	s.m[c] = struct{}{}
	return true
}

func (s *connSet[T]) remove(c T) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, c)
}

func (s *connSet[T]) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for c := range s.m {
		c.Close()
	}
}

// gate decides, before any media is read, whether a publish attempt may go on.
type gate struct {
	registry registry
	auth     authorizer
	takeover bool
	metrics  *mediametrics.Metrics
}

// admit checks the stream path, the credentials and whether the name is free. The returned error is safe
// to log: it never contains the key or token.
func (g *gate) admit(protocol, rawPath string, q url.Values) (stream.Path, error) {
	p, err := stream.ParsePath(rawPath)
	if err != nil {
		g.metrics.Rejected(protocol, "bad_path")
		return p, err
	}
	if err := g.auth.Authorize(p, q); err != nil {
		g.metrics.Rejected(protocol, "auth")
		return p, fmt.Errorf("publish %s refused: %w", p, err)
	}
	if !g.takeover && g.registry.Get(p) != nil {
		g.metrics.Rejected(protocol, "duplicate")
		return p, fmt.Errorf("publish %s refused: %w", p, stream.ErrAlreadyPublishing)
	}
	return p, nil
}

func (g *gate) publish(req stream.PublishRequest) (*stream.Stream, error) {
	s, err := g.registry.Publish(req)
	if err != nil {
		g.metrics.Rejected(req.Protocol, "duplicate")
		return nil, err
	}
	g.metrics.Published(req.Protocol)
	return s, nil
}

// logTracks logs what a publisher sends.
func logTracks(log *slog.Logger, s *stream.Stream) {
	codecs := make([]string, len(s.Tracks))
	for i, t := range s.Tracks {
		codecs[i] = t.Codec.String()
	}
	log.Info("publishing", "tracks", codecs)
}

var _ authorizer = (*pubauth.Authorizer)(nil)
