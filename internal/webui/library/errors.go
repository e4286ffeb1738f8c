package library

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// httpError is an error of the HTTP layer itself, with its status (the VOD service's own errors arrive as
// gRPC statuses and are mapped by statusOf).
type httpError struct {
	code  int
	msg   string
	field string // the JSON field a validation error is about
}

func (e *httpError) Error() string { return e.msg }

func failf(code int, format string, args ...any) error {
	return &httpError{code: code, msg: fmt.Sprintf(format, args...)}
}

func fieldf(field, format string, args ...any) error {
	return &httpError{code: http.StatusBadRequest, msg: fmt.Sprintf(format, args...), field: field}
}

// retryAfter is the Retry-After of a 503: the VOD service or its storage does not answer for a while.
const retryAfter = "5"

// statusOf maps an error to its HTTP status and the message the client is told.
func statusOf(err error) (int, string) {
	var he *httpError
	if errors.As(err, &he) {
		return he.code, he.msg
	}
	st, ok := status.FromError(err)
	if !ok {
		return http.StatusInternalServerError, err.Error()
	}
	msg := st.Message()
	switch st.Code() {
	case codes.InvalidArgument, codes.OutOfRange:
		return http.StatusBadRequest, msg
	case codes.NotFound:
		return http.StatusNotFound, msg
	case codes.FailedPrecondition, codes.AlreadyExists, codes.Aborted:
		// Aborted: changed or being written meanwhile; tus clients retry a 409 after asking for the offset
		return http.StatusConflict, msg
	case codes.PermissionDenied:
		return http.StatusForbidden, msg
	case codes.ResourceExhausted:
		return http.StatusRequestEntityTooLarge, msg
	case codes.Unavailable:
		return http.StatusServiceUnavailable, "the VOD service is unavailable: " + msg
	case codes.DeadlineExceeded:
		return http.StatusGatewayTimeout, "the VOD service did not answer in time"
	case codes.Unauthenticated:
		// the manager's own credentials were refused, not the browser's: a 401 would send the console
		// back to its sign-in form for nothing
		return http.StatusBadGateway, "the VOD service refused the manager's token (check vod.adminToken): " + msg
	case codes.DataLoss:
		return http.StatusUnprocessableEntity, msg
	}
	return http.StatusInternalServerError, "the VOD service failed: " + msg
}

// errorBody is the JSON of every error answer.
type errorBody struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "no-store")
	}
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers err: its status, Retry-After on a 503, and {"error": ...}. Server-side failures are
// logged; when public, their text stays in the log and the client reads a generic one.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error, public bool) {
	code, msg := statusOf(err)
	if code >= 500 {
		log.Warn("VOD library request failed", "method", r.Method, "path", r.URL.Path, "status", code, "err", err)
		if code == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", retryAfter)
		}
		if public {
			msg = strings.ToLower(http.StatusText(code))
		}
	}
	body := errorBody{Error: msg}
	var he *httpError
	if errors.As(err, &he) {
		body.Field = he.field
	}
	writeJSON(w, code, body)
}
