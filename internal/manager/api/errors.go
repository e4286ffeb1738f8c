package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/nagare-video/nagare/internal/manager/api/apitypes"
	"github.com/nagare-video/nagare/internal/manager/autoscaler"
	"github.com/nagare-video/nagare/internal/manager/cluster"
	"github.com/nagare-video/nagare/internal/manager/selector"
	"github.com/nagare-video/nagare/internal/manager/store"
)

// Errors of the API layer itself.
var (
	ErrInvalid         = errors.New("invalid request")
	ErrUnauthenticated = errors.New("missing admin token")
	ErrForbidden       = errors.New("wrong admin token")
	ErrNoController    = errors.New("no cloud controller is configured")
	// ErrScalingOut: every node that could take the viewer is full and the autoscaler is adding one.
	ErrScalingOut = errors.New("every edge is full; a new edge is being launched, retry shortly")
	// ErrNoOriginToRecord: no in-service origin could be asked to record.
	ErrNoOriginToRecord = errors.New("no in-service origin answered")
	// ErrAtMax: a launch would pass the role's maxLimit.
	ErrAtMax = autoscaler.ErrAtMax
	// ErrMethodNotAllowed: the path is a call of the API, but not with this method.
	ErrMethodNotAllowed = errors.New("method not allowed")
	// ErrTooLarge: a proxied offer or trickle fragment is larger than the proxy takes.
	ErrTooLarge = errors.New("request body too large")
	// ErrNodeUnreachable: a node the proxy mode forwards to did not answer (or not usably).
	ErrNodeUnreachable = errors.New("the node did not answer")
	// ErrNoPublishTokens: the manager was given no secret to sign publish tokens with.
	ErrNoPublishTokens = errors.New("publish tokens are not configured")
	// ErrTooManyRequests: a client passed its rate (steering requests).
	ErrTooManyRequests = errors.New("too many requests from this address")
)

// status maps an error to its HTTP status.
func status(err error) int {
	var te *cluster.ErrTransition
	switch {
	case errors.Is(err, ErrInvalid), errors.Is(err, store.ErrReference), errors.Is(err, autoscaler.ErrInvalidInput),
		errors.Is(err, store.ErrInvalid): // a *store.FieldError names the field and its limit
		return http.StatusBadRequest
	case errors.Is(err, ErrUnauthenticated):
		return http.StatusUnauthorized
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrMethodNotAllowed):
		return http.StatusMethodNotAllowed
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrNodeUnreachable):
		return http.StatusBadGateway
	case errors.Is(err, ErrTooManyRequests):
		return http.StatusTooManyRequests
	case errors.Is(err, store.ErrExists), errors.Is(err, store.ErrInUse), errors.Is(err, ErrAtMax), errors.Is(err, store.ErrStateConflict), errors.As(err, &te):
		return http.StatusConflict
	case errors.Is(err, selector.ErrNoOrigin), errors.Is(err, selector.ErrNoEdge), errors.Is(err, selector.ErrNoTranscoder), errors.Is(err, ErrNoController),
		errors.Is(err, ErrScalingOut), errors.Is(err, ErrNoOriginToRecord), errors.Is(err, ErrNoPublishTokens),
		errors.Is(err, store.ErrUnavailable): // the database did not answer within the store's deadline
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// message is what the client is told: the error's own text for client errors, for no node (503) and for
// a node that did not answer (502, whose text names the node and the network error, never the URL), a
// generic text for the other server errors (whose cause is logged instead).
func message(code int, err error) string {
	if code >= 500 && code != http.StatusServiceUnavailable && code != http.StatusBadGateway {
		return "internal error; the cause is in the manager's log"
	}
	return err.Error()
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// red5Error is the error body of the Red5-compatible API.
type red5Error struct {
	ErrorMessage string `json:"errorMessage"`
	Timestamp    int64  `json:"timestamp"`
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error, style errorStyle) {
	code := status(err)
	switch {
	case errors.Is(err, store.ErrUnavailable):
		s.Log.Warn("store does not answer", "method", r.Method, "path", r.URL.Path, "cause", err)
	case code == http.StatusServiceUnavailable:
		s.Log.Info("no node to route to", "method", r.Method, "path", r.URL.Path, "cause", err)
	case code == http.StatusBadGateway:
		s.Log.Warn("node did not answer", "method", r.Method, "path", r.URL.Path, "cause", err)
	case code >= 500:
		s.Log.Error("request failed", "method", r.Method, "path", r.URL.Path, "cause", err)
	}
	if code == http.StatusServiceUnavailable || code == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "2")
	}
	if style == red5Errors {
		writeJSON(w, code, red5Error{ErrorMessage: message(code, err), Timestamp: s.now().UnixMilli()})
		return
	}
	writeJSON(w, code, apitypes.Error{Error: message(code, err), Field: fieldOf(err)})
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}
