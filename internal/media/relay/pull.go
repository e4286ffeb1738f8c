package relay

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nagare-video/nagare/internal/media/stream"
)

const (
	maxPlaylistBytes = 1 << 20
	maxMediaBytes    = 64 << 20
	// failureTTL is how long a failed fetch is remembered: a moment, so a broken parent is not hammered
	// and not trusted for longer than that either.
	failureTTL      = 500 * time.Millisecond
	multivariantTTL = time.Second
	mediaTimeout    = 5 * time.Second
)

// pull is one stream being relayed: its multivariant playlist, its renditions and its objects.
type pull struct {
	s    *Server
	path stream.Path
	// ctx is the pull's life: the shared fetches and the rendition loops stop with it.
	ctx    context.Context
	cancel context.CancelFunc
	used   atomic.Int64 // unix nanoseconds of the last viewer request
	// confirmed is set once the parent has sent something sound for the stream: it exists there.
	confirmed atomic.Bool
	// located is the base URL of the node Locate named for this stream, which it is pulled from instead
	// of the parent; nil: the parent.
	located atomic.Pointer[string]

	mu         sync.Mutex
	renditions map[string]*rendition
	cache      cache
}

func (p *pull) touch()                  { p.used.Store(time.Now().UnixNano()) }
func (p *pull) lastUsedAt() time.Time   { return time.Unix(0, p.used.Load()) }
func (p *pull) stop()                   { p.cancel() }
func (p *pull) rel(file string) string  { return p.path.String() + "/" + file }
func (p *pull) idle(now time.Time) bool { return now.Sub(p.lastUsedAt()) > p.s.idleTimeout() }

// source returns the base URL p is pulled from: the node Locate named for it, else the parent.
func (p *pull) source(ctx context.Context) string {
	if u := p.located.Load(); u != nil {
		return *u
	}
	return p.s.parent(ctx)
}

// fetch gets rel (a file of the stream, with its query) from where p is pulled.
func (p *pull) fetch(ctx context.Context, kind, rel string, timeout time.Duration, maxBytes int64) (*response, error) {
	return p.s.fetch(ctx, p.source(ctx), kind, rel, timeout, maxBytes)
}

// multivariant returns the stream's multivariant playlist, fetched at most once a second. When the node
// it is pulled from does not have it (404) or fails, the node Locate names, if another, is asked instead
// and the stream is pulled from there from then on.
func (p *pull) multivariant() *response {
	return p.cache.get("index.m3u8", multivariantTTL, func() *response {
		from := p.source(p.ctx)
		res, err := p.s.fetch(p.ctx, from, "multivariant", p.rel("index.m3u8"), 10*time.Second, maxPlaylistBytes)
		out := p.checked(res, err, "index.m3u8", true)
		if (out.status == http.StatusNotFound || out.status == http.StatusBadGateway) && from != "" && p.relocate(from) {
			res, err = p.fetch(p.ctx, "multivariant", p.rel("index.m3u8"), 10*time.Second, maxPlaylistBytes)
			out = p.checked(res, err, "index.m3u8", true)
		}
		return out
	})
}

// locateTimeout bounds a Locate call: a viewer of a stream its parent lacks waits for it.
const locateTimeout = 3 * time.Second

// relocate asks Locate where p's stream is, from having failed: true when it names another node, which
// p is pulled from from now on (or the parent again, when that is the one named).
func (p *pull) relocate(from string) bool {
	if p.s.Locate == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(p.ctx, locateTimeout)
	to := strings.TrimRight(p.s.Locate(ctx, p.path), "/")
	cancel()
	if to == "" || to == from {
		return false
	}
	if to == p.s.parent(p.ctx) {
		p.located.Store(nil)
	} else {
		p.located.Store(&to)
	}
	p.s.Log.Info("stream pulled from the node the manager names for it", "stream", p.path.String(), "from", to, "insteadOf", from)
	return true
}

// object returns an init file, segment or part, fetched once and kept for its useful life.
func (p *pull) object(file string) *response {
	return p.cache.get(file, p.s.objectTTL(), func() *response {
		res, err := p.fetch(p.ctx, "media", p.rel(file), mediaTimeout, maxMediaBytes)
		res = p.checked(res, err, file, false)
		res.offHeap(p.rel(file))
		return res
	})
}

// checked turns a fetch result into what viewers get: the parent's answer if it is sound, 404 if the
// parent has no such object, 502 for anything else (logged with its cause).
func (p *pull) checked(res *response, err error, file string, playlist bool) *response {
	switch {
	case errors.Is(err, errNoParent):
		return &response{status: http.StatusServiceUnavailable, msg: "this node has no parent yet"}
	case err != nil:
		p.s.Log.Warn("parent fetch failed", "stream", p.path.String(), "object", file, "cause", err)
		return &response{status: http.StatusBadGateway, msg: "the parent did not answer"}
	case res.status == http.StatusNotFound:
		return &response{status: http.StatusNotFound, msg: "not found at the parent"}
	case res.status != http.StatusOK:
		p.s.Log.Warn("parent answered an error", "stream", p.path.String(), "object", file, "status", res.status)
		return &response{status: http.StatusBadGateway, msg: "the parent answered " + http.StatusText(res.status)}
	case playlist && !isPlaylist(res.body), !playlist && !plausibleMedia(res.body):
		p.s.Log.Warn("parent sent a corrupt object", "stream", p.path.String(), "object", file, "bytes", len(res.body))
		return &response{status: http.StatusBadGateway, msg: "the parent sent a corrupt object"}
	}
	p.confirmed.Store(true)
	return res
}

func isPlaylist(b []byte) bool { return len(b) >= 7 && string(b[:7]) == "#EXTM3U" }

// maxRenditions bounds the media playlists followed per stream (a real stream has a handful).
const maxRenditions = 32

// rendition returns the follower of a media playlist, or nil when the stream already has too many.
func (p *pull) rendition(file string) *rendition {
	p.mu.Lock()
	defer p.mu.Unlock()
	rd := p.renditions[file]
	if rd == nil {
		if len(p.renditions) >= maxRenditions {
			return nil
		}
		rd = &rendition{p: p, file: file, changed: make(chan struct{})}
		p.renditions[file] = rd
	}
	return rd
}

// forget drops a rendition the parent does not have.
func (p *pull) forget(rd *rendition) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.renditions[rd.file] == rd {
		delete(p.renditions, rd.file)
	}
	rd.mu.Lock()
	rd.running = false
	rd.mu.Unlock()
}

// ---- immutable object cache with request coalescing ----

type cache struct {
	mu      sync.Mutex
	objects map[string]*object
}

type object struct {
	ready   chan struct{}
	res     *response
	expires time.Time
}

// get returns the cached answer for key, or calls fetch once for all the requests that ask at the same
// time. Sound answers live for ttl, failures for failureTTL.
func (c *cache) get(key string, ttl time.Duration, fetch func() *response) *response {
	now := time.Now()
	c.mu.Lock()
	o := c.objects[key]
	if o != nil {
		select {
		case <-o.ready:
			if now.After(o.expires) {
				o = nil
			}
		default:
		}
	}
	if o != nil {
		c.mu.Unlock()
		<-o.ready
		return o.res
	}
	o = &object{ready: make(chan struct{})}
	c.objects[key] = o
	c.mu.Unlock()

	o.res = fetch()
	if o.res.status == http.StatusOK {
		o.expires = time.Now().Add(ttl)
	} else {
		o.expires = time.Now().Add(failureTTL)
	}
	close(o.ready)
	return o.res
}

func (c *cache) sweep(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, o := range c.objects {
		select {
		case <-o.ready:
			if now.After(o.expires) {
				delete(c.objects, k)
				o.res.release()
			}
		default:
		}
	}
}
