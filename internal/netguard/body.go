package netguard

import (
	"io"
	"net/http"
	"time"
)

// BodyGuard refuses a body on a request that takes none (413 with a JSON error, and the connection closed)
// before a byte of it is read: otherwise net/http waits, with no deadline of its own, to drain up to
// 256 KiB of it after the handler, and a client that announces a body and sends nothing holds the
// connection. The bodies it lets through are bounded by the server's ReadTimeout, which does not cut off
// long-held responses (LL-HLS blocking playlist requests): net/http lifts the read deadline once the
// request has been read.
type BodyGuard struct {
	// Takes reports whether a request may carry a body (nil: none may).
	Takes func(*http.Request) bool
}

// WriteMethods takes the bodies of POST, PUT and PATCH requests.
func WriteMethods(r *http.Request) bool {
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
		return true
	}
	return false
}

// Handler guards next. It must be given the server's own ResponseWriter, or a wrapper with Unwrap, to
// reach the connection's read deadline.
func (g BodyGuard) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// ContentLength is 0 without a body, -1 for a chunked one
		if r.ContentLength == 0 || (g.Takes != nil && g.Takes(r)) {
			next.ServeHTTP(w, r)
			return
		}
		// a deadline already passed makes net/http's drain of the body fail at once
		_ = http.NewResponseController(w).SetReadDeadline(time.Now())
		w.Header().Set("Connection", "close")
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		_, _ = io.WriteString(w, `{"error":"this endpoint takes no request body"}`+"\n")
	})
}
