package playback

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/nagare-video/nagare/internal/objstore"
)

// ErrNotFound is what a Library's error wraps for an unknown id.
var ErrNotFound = errors.New("video not found")

// httpError is an answer other than the resource: its status and the message of its JSON body.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

var (
	errMethod       = &httpError{http.StatusMethodNotAllowed, "only GET, HEAD and OPTIONS are allowed"}
	errNoRoute      = &httpError{http.StatusNotFound, "not found"}
	errInvalidID    = &httpError{http.StatusBadRequest, "invalid video id"}
	errInvalidPath  = &httpError{http.StatusBadRequest, "invalid path"}
	errSigRequired  = &httpError{http.StatusForbidden, "signed URL required"}
	errExpired      = &httpError{http.StatusForbidden, "signed URL expired"}
	errBadSignature = &httpError{http.StatusForbidden, "bad signature"}
	errProcessing   = &httpError{http.StatusConflict, "video is still processing"}
	errNoMP4        = &httpError{http.StatusNotFound, "video has no progressive MP4"}
	errNoHLS        = &httpError{http.StatusNotFound, "video has no HLS rendition"}
	errNoPoster     = &httpError{http.StatusNotFound, "video has no poster"}
	errNoStoryboard = &httpError{http.StatusNotFound, "video has no storyboard"}
	errPrecondition = &httpError{http.StatusPreconditionFailed, "precondition failed"}
	errUnsatisfied  = &httpError{http.StatusRequestedRangeNotSatisfiable, "range not satisfiable"}
	// errChanged: the object was replaced between the Head that fixed the answer's headers and the Get.
	errChanged = &httpError{http.StatusServiceUnavailable, "object changed while being read, retry"}
	// errTooLarge: a playlist to rewrite is larger than maxTextSize.
	errTooLarge = &httpError{http.StatusBadGateway, "playlist too large"}
)

// libraryError marks a failure of the Library (not an unknown id).
type libraryError struct{ err error }

func (e libraryError) Error() string { return "looking up video: " + e.err.Error() }
func (e libraryError) Unwrap() error { return e.err }

// classify maps an error to the status and message of the answer, and the level to log it at (0 = no log).
func classify(err error) (status int, msg string, level logLevel) {
	var he *httpError
	var le libraryError
	switch {
	case errors.As(err, &he):
		switch {
		case he == errChanged:
			return he.status, he.msg, logWarn // a race with a writer, not a fault
		case he.status >= 500:
			return he.status, he.msg, logError
		}
		return he.status, he.msg, logNone
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound, ErrNotFound.Error(), logNone
	case errors.Is(err, context.Canceled):
		// The client went away; nobody reads the answer.
		return http.StatusServiceUnavailable, "request canceled", logDebug
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, "timed out", logError
	case errors.As(err, &le):
		return http.StatusServiceUnavailable, "video library unavailable", logError
	case errors.Is(err, objstore.ErrNotFound):
		return http.StatusNotFound, "not found", logNone
	case errors.Is(err, objstore.ErrInvalidRange):
		// Ranges are checked against the size Head reported, so the object shrank in between.
		return errChanged.status, errChanged.msg, logWarn
	}
	return http.StatusBadGateway, "storage error", logError
}

type logLevel int

const (
	logNone logLevel = iota
	logDebug
	logWarn
	logError
)

// fail answers with err's status and JSON body, and logs server-side failures. Only the path is logged:
// the query holds the signature of private videos.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, msg, level := classify(err)
	switch level {
	case logDebug:
		h.log().Debug("vod playback aborted", "method", r.Method, "path", r.URL.Path, "err", err)
	case logWarn:
		h.log().Warn("vod playback failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	case logError:
		h.log().Error("vod playback failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	}
	writeError(w, status, msg)
}

// warnMissing logs an object that Media names but the store does not have.
func (h *Handler) warnMissing(r *http.Request, res resource, err error) {
	if res.declared && errors.Is(err, objstore.ErrNotFound) {
		h.log().Warn("vod object missing", "path", r.URL.Path, "key", res.key)
	}
}

func writeError(w http.ResponseWriter, status int, msg string) {
	body, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{msg})
	body = append(body, '\n')
	hdr := w.Header()
	for _, k := range []string{"ETag", "Last-Modified", "Accept-Ranges"} {
		hdr.Del(k)
	}
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	hdr.Set("Cache-Control", cacheError)
	hdr.Set("X-Content-Type-Options", "nosniff")
	if status == http.StatusServiceUnavailable {
		hdr.Set("Retry-After", "1")
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
