// Package playback is the HTTP side of nagare's VOD service: it serves a video's progressive MP4 (with
// byte ranges), its HLS playlists and segments, its poster and storyboard, and checks signed URLs for
// private videos.
package playback

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/nagare-video/nagare/internal/httprec"
	"github.com/nagare-video/nagare/internal/objstore"
	"github.com/nagare-video/nagare/internal/vod/vodmetrics"
)

// Visibility says who may play a video. The zero value is Private, so a Media whose visibility was
// forgotten is refused rather than published.
type Visibility int

// Visibilities.
const (
	// Private videos play only through URLs signed with the Handler's Secret.
	Private Visibility = iota
	// Unlisted videos play for anyone who knows the id.
	Unlisted
	// Public videos play for anyone.
	Public
)

func (v Visibility) String() string {
	switch v {
	case Private:
		return "private"
	case Unlisted:
		return "unlisted"
	case Public:
		return "public"
	}
	return "unknown"
}

// Media is what the handler needs to know of a video.
type Media struct {
	ID         string
	Visibility Visibility
	// Ready is false while the video is still being processed: it is answered with 409.
	Ready bool
	// MP4Key is the object key of the progressive MP4 ("" = none).
	MP4Key string
	// HLSKey is the object key of the multivariant (or only) playlist; the other HLS files are resolved
	// relative to its directory ("" = no HLS).
	HLSKey                                     string
	PosterKey, StoryboardKey, StoryboardVTTKey string
	UpdatedAt                                  time.Time
}

// Library looks videos up. Media returns an error wrapping ErrNotFound for an unknown id.
type Library interface {
	Media(ctx context.Context, id string) (Media, error)
}

// Objects is the part of the object store (objstore.Local or objstore.S3) the handler reads.
type Objects interface {
	Get(ctx context.Context, key string, rng *objstore.Range) (io.ReadCloser, objstore.ObjectInfo, error)
	Head(ctx context.Context, key string) (objstore.ObjectInfo, error)
}

// Handler serves the playback routes, meant to be mounted at the root of an HTTP server:
//
//	/vod/<id>.mp4               the progressive MP4 (byte ranges, conditional requests)
//	/vod/<id>/index.m3u8        the playlist at HLSKey
//	/vod/<id>/poster.jpg        PosterKey
//	/vod/<id>/storyboard.jpg    StoryboardKey
//	/vod/<id>/storyboard.vtt    StoryboardVTTKey
//	/vod/<id>/<path>            any other HLS file, relative to HLSKey's directory
//
// The three fixed names take precedence over HLS files of the same name, and index.m3u8 is always
// HLSKey, whatever its base name.
//
// Answers other than the file carry a JSON body {"error": "..."}: 400 for an id or a path that cannot be
// valid (checked before any lookup), 404 for an unknown video or file, 403 for a private video without a
// valid signature, 409 while the video is processing, 405 for methods other than GET, HEAD and OPTIONS
// (OPTIONS is a CORS preflight: 204), 304/412/416 for conditional and range requests, 503 when the
// Library fails or an object changed while being read, 502 for other store failures.
type Handler struct {
	Library Library
	Objects Objects
	// Secret signs the URLs of private videos (see Sign). Empty, private videos never play.
	Secret []byte
	Log    *slog.Logger // nil: discard
	Now    func() time.Time
	// Metrics counts the answers by kind (nil: not counted).
	Metrics *vodmetrics.Metrics
}

// Cache lifetimes. Playlists are short-lived so that a re-packaged video is picked up; segments and the
// MP4 are immutable at their URL; posters may be replaced by their owner.
const (
	cachePlaylist = "max-age=60"
	cacheMedia    = "max-age=31536000, immutable"
	cacheImage    = "max-age=3600"
	cacheError    = "no-store"
)

// resource is an object to answer with.
type resource struct {
	key      string
	ctype    string
	cache    string // Cache-Control without "public"/"private"
	rewrite  func(body []byte, query string) []byte
	declared bool // the key comes from Media (missing is an inconsistency worth a log line)
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *Handler) log() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.New(slog.DiscardHandler)
}

// ServeHTTP serves GET and HEAD on the playback routes, answers CORS preflights and refuses other methods.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt, rerr := parseRoute(r.URL.Path)
	if h.Metrics != nil {
		mw := httprec.New(w)
		// deferred: an answer cut short (abort's panic) is counted too
		defer func() { h.Metrics.Served(rt.kind.metricKind(rerr), mw.Status(), mw.Bytes()) }()
		w = mw
	}
	setCORS(w.Header())
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodOptions:
		preflight(w)
		return
	default:
		w.Header().Set("Allow", allowedMethods)
		h.fail(w, r, errMethod)
		return
	}
	if rerr != nil {
		h.fail(w, r, rerr)
		return
	}
	m, err := h.Library.Media(r.Context(), rt.id)
	switch {
	case errors.Is(err, ErrNotFound):
		h.fail(w, r, ErrNotFound)
		return
	case err != nil:
		h.fail(w, r, libraryError{err})
		return
	}
	query, err := h.authorize(r, rt.id, m)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if !m.Ready {
		h.fail(w, r, errProcessing)
		return
	}
	res, err := rt.resolve(m, query != "")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	scope := "public, "
	if m.Visibility != Public && m.Visibility != Unlisted {
		// A shared cache that drops query strings must not hand a private video to anyone.
		scope = "private, "
	}
	res.cache = scope + res.cache
	if res.rewrite != nil {
		h.serveRewritten(w, r, res, query)
		return
	}
	h.serveObject(w, r, res)
}

// Route kinds.
type routeKind int

const (
	routeMP4 routeKind = iota
	routePlaylist
	routePoster
	routeStoryboard
	routeStoryboardVTT
	routeHLSFile
)

// metricKind is the kind's label in the metrics: mp4, hls, poster, storyboard; invalid for a path that
// is no route.
func (k routeKind) metricKind(parseErr error) string {
	switch {
	case parseErr != nil:
		return "invalid"
	case k == routeMP4:
		return "mp4"
	case k == routePoster:
		return "poster"
	case k == routeStoryboard || k == routeStoryboardVTT:
		return "storyboard"
	}
	return "hls"
}

type route struct {
	id   string
	kind routeKind
	sub  string // routeHLSFile: the validated path below the playlist's directory
}

// parseRoute checks the request path before anything is looked up: an id or a path that cannot be valid
// never reaches the Library or the store.
func parseRoute(p string) (route, error) {
	rest, ok := strings.CutPrefix(p, "/vod/")
	if !ok {
		return route{}, errNoRoute
	}
	id, sub, nested := strings.Cut(rest, "/")
	if !nested {
		id, ok = strings.CutSuffix(rest, ".mp4")
		if !ok {
			return route{}, errNoRoute
		}
		if !validID(id) {
			return route{}, errInvalidID
		}
		return route{id: id, kind: routeMP4}, nil
	}
	if !validID(id) {
		return route{}, errInvalidID
	}
	switch sub {
	case "index.m3u8":
		return route{id: id, kind: routePlaylist}, nil
	case "poster.jpg":
		return route{id: id, kind: routePoster}, nil
	case "storyboard.jpg":
		return route{id: id, kind: routeStoryboard}, nil
	case "storyboard.vtt":
		return route{id: id, kind: routeStoryboardVTT}, nil
	}
	if !validSubPath(sub) {
		return route{}, errInvalidPath
	}
	return route{id: id, kind: routeHLSFile, sub: sub}, nil
}

// resolve maps the route to an object of m. signed says text resources must be rewritten so that the
// URLs in them carry the request's signature.
func (rt route) resolve(m Media, signed bool) (resource, error) {
	var (
		res   resource
		nokey error
	)
	switch rt.kind {
	case routeMP4:
		res, nokey = resource{key: m.MP4Key, ctype: "video/mp4", cache: cacheMedia}, errNoMP4
	case routePlaylist:
		res, nokey = resource{key: m.HLSKey, ctype: mimePlaylist, cache: cachePlaylist}, errNoHLS
	case routePoster:
		res, nokey = resource{key: m.PosterKey, ctype: contentTypeOf(m.PosterKey, "image/jpeg"), cache: cacheImage}, errNoPoster
	case routeStoryboard:
		res, nokey = resource{key: m.StoryboardKey, ctype: contentTypeOf(m.StoryboardKey, "image/jpeg"), cache: cacheImage}, errNoStoryboard
	case routeStoryboardVTT:
		res, nokey = resource{key: m.StoryboardVTTKey, ctype: "text/vtt", cache: cacheImage}, errNoStoryboard
		if signed {
			res.rewrite = rewriteVTT
		}
	case routeHLSFile:
		if m.HLSKey == "" {
			return resource{}, errNoHLS
		}
		key, ok := hlsKey(m.HLSKey, rt.sub)
		if !ok {
			return resource{}, errInvalidPath
		}
		res = resource{key: key, ctype: contentTypeOf(key, ""), cache: cacheMedia}
	}
	if res.key == "" {
		return resource{}, nokey
	}
	res.declared = rt.kind != routeHLSFile
	if rt.kind == routePlaylist || (rt.kind == routeHLSFile && isPlaylist(res.key)) {
		res.ctype, res.cache = mimePlaylist, cachePlaylist
		if signed {
			res.rewrite = rewritePlaylist
		}
	}
	return res, nil
}
