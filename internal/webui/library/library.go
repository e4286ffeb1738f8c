// Package library is the browser's way to the VOD library: the console's JSON API and tus uploads under
// /api/v1/vod/, and the public site's video list and watch data under /site/api/, both in front of the VOD
// service's gRPC API (nagare.vod.v1.VideoService).
//
// It imports the generated client (internal/vod/vodv1), so the manager package itself must not import
// it (the import boundaries of internal/boundaries_test.go): the composition root builds these handlers
// and hands them to the manager as plain http.Handlers.
package library

import (
	"context"
	"errors"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/nagare-video/nagare/internal/vod/vodv1"
)

// Authorizer decides whether a console request may reach the VOD library. Authorize returns true to let
// the request through; otherwise it has written the refusal itself (401 or 403 and the JSON error body,
// as the manager answers its own API), and the handler writes nothing more. Headers the handler set before
// asking (Tus-Resumable on the tus endpoints) are part of that refusal.
//
// The manager implements it with the admin token or the console session cookie, plus the X-CSRF-Token
// check for requests that change something (POST, PATCH, DELETE; tus-js-client sends the header on each
// request, HEAD included).
type Authorizer interface {
	Authorize(w http.ResponseWriter, r *http.Request) bool
}

// AuthorizerFunc adapts a function to Authorizer.
type AuthorizerFunc func(w http.ResponseWriter, r *http.Request) bool

// Authorize calls f(w, r).
func (f AuthorizerFunc) Authorize(w http.ResponseWriter, r *http.Request) bool { return f(w, r) }

const (
	// callTimeout bounds every unary call to the VOD service.
	callTimeout = 30 * time.Second
	// urlTTL is how long the signed playback URLs of a private video are asked to stay valid: long enough
	// to watch a long video in one go.
	urlTTL = 6 * time.Hour
	// playbackConcurrency bounds the PlaybackURLs calls made at once for one page of videos.
	playbackConcurrency = 8
)

// vod is the VOD service as both handlers call it: every call carries the service's admin token.
type vod struct {
	c     vodv1.VideoServiceClient
	token string
}

// outgoing adds the bearer token to ctx's outgoing metadata.
func (v vod) outgoing(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+v.token)
}

// call is ctx for one unary call: the token, and callTimeout.
func (v vod) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(v.outgoing(ctx), callTimeout)
}

// playbacks asks for the playback URLs of the ready videos of vs, a few at a time; the answer is indexed
// like vs (nil for a video that is not ready, or stopped being ready meanwhile).
func (v vod) playbacks(ctx context.Context, vs []*vodv1.Video, ttl time.Duration) ([]*vodv1.Playback, error) {
	out := make([]*vodv1.Playback, len(vs))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(playbackConcurrency)
	for i, vid := range vs {
		if vid.GetStatus() != vodv1.Status_STATUS_READY {
			continue
		}
		g.Go(func() error {
			p, err := v.playback(ctx, vid.GetId(), ttl)
			out[i] = p
			return err
		})
	}
	return out, g.Wait()
}

// playback asks for one video's playback URLs; a video that is gone or no longer ready has none (nil, nil).
func (v vod) playback(ctx context.Context, id string, ttl time.Duration) (*vodv1.Playback, error) {
	ctx, cancel := v.call(ctx)
	defer cancel()
	p, err := v.c.PlaybackURLs(ctx, &vodv1.PlaybackURLsRequest{Id: id, TtlSeconds: int64(ttl / time.Second)})
	switch status.Code(err) {
	case codes.OK:
		return p, nil
	case codes.NotFound, codes.FailedPrecondition:
		return nil, nil
	}
	return nil, err
}

// withPlayback reads a video and, when it is ready, its playback URLs.
func (v vod) withPlayback(ctx context.Context, id string, ttl time.Duration) (*vodv1.Video, *vodv1.Playback, error) {
	cctx, cancel := v.call(ctx)
	vid, err := v.c.GetVideo(cctx, &vodv1.GetVideoRequest{Id: id})
	cancel()
	if err != nil {
		return nil, nil, err
	}
	if vid.GetStatus() != vodv1.Status_STATUS_READY {
		return vid, nil, nil
	}
	p, err := v.playback(ctx, id, ttl)
	return vid, p, err
}

// errNoRoute: nothing is served at the path.
var errNoRoute = errors.New("not found")

// notFound and notAllowed answer the paths and methods the handlers do not serve, in JSON like the rest.
func notFound(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusNotFound, errorBody{Error: errNoRoute.Error()})
}

func notAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeJSON(w, http.StatusMethodNotAllowed, errorBody{Error: "method " + r.Method + " not allowed (allowed: " + allow + ")"})
	}
}
