package nodeapi

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Sentinels shared by the handler (a Backend returns them) and the client (it returns them for the
// matching status), so that both sides test errors with errors.Is.
var (
	// ErrUnknownNode (404): the manager has no such node; the node should register again.
	ErrUnknownNode = errors.New("unknown node")
	// ErrTooManyReports (429): the node reports too often; it should wait Retry-After.
	ErrTooManyReports = errors.New("too many reports")
	// ErrConflict (409): the request contradicts the manager's state, e.g. an id already registered
	// by another live node.
	ErrConflict = errors.New("conflict")
	// ErrUnauthorized (401): the cluster secret is missing or wrong.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrInvalid (400, 413): the request is malformed or fails validation.
	ErrInvalid = errors.New("invalid request")
	// ErrUnavailable (503): the manager cannot do it now (its store does not answer); try again later.
	ErrUnavailable = errors.New("manager unavailable")
	// ErrNotLive (404 from a node's PathPublishers): the stream is not published on that node.
	ErrNotLive = errors.New("stream is not live")
)

// ThrottleError is ErrTooManyReports with the wait the manager asks for; a Backend returns it to set
// the Retry-After header.
type ThrottleError struct {
	RetryAfter time.Duration
}

func (e *ThrottleError) Error() string {
	return fmt.Sprintf("%v: retry after %v", ErrTooManyReports, e.RetryAfter)
}

// Is makes a ThrottleError match ErrTooManyReports.
func (e *ThrottleError) Is(target error) bool { return target == ErrTooManyReports }

// Error is a non-2xx answer from the manager. It unwraps to the sentinel matching its status.
type Error struct {
	Status  int    // HTTP status code
	Message string // the manager's {"error": ...} message
	// RetryAfter is the Retry-After of a 429 (0 when absent).
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	return fmt.Sprintf("manager answered %d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

// Unwrap returns the sentinel for e.Status, or nil.
func (e *Error) Unwrap() error {
	switch e.Status {
	case http.StatusUnauthorized:
		return ErrUnauthorized
	case http.StatusNotFound:
		return ErrUnknownNode
	case http.StatusConflict:
		return ErrConflict
	case http.StatusTooManyRequests:
		return ErrTooManyReports
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		return ErrInvalid
	case http.StatusServiceUnavailable:
		return ErrUnavailable
	}
	return nil
}
