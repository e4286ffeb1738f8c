package webrtc

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/nagare-video/nagare/internal/media/pubauth"
	"github.com/nagare-video/nagare/internal/media/stream"
)

// maxOffer bounds an SDP offer or a trickle fragment: a browser's offer is 3–6 KB.
const maxOffer = 64 << 10

// Routes adds WHIP and WHEP to mux: POST /<app>/<stream>/whip|whep creates a session, PATCH (trickle ICE)
// and DELETE act on the session URL the POST answered with, OPTIONS answers CORS preflights.
func (s *Server) Routes(mux *http.ServeMux) {
	mux.HandleFunc("POST /{app}/{stream}/whip", s.postWHIP)
	mux.HandleFunc("POST /{app}/{stream}/whep", s.postWHEP)
	for _, kind := range []string{"whip", "whep"} {
		mux.HandleFunc("PATCH /{app}/{stream}/"+kind+"/{id}", s.patch(kind))
		mux.HandleFunc("DELETE /{app}/{stream}/"+kind+"/{id}", s.delete(kind))
		mux.HandleFunc("OPTIONS /{app}/{stream}/"+kind, preflight)
		mux.HandleFunc("OPTIONS /{app}/{stream}/"+kind+"/{id}", preflight)
	}
}

// TakesBody reports whether r is a request of this server that carries a body (an offer, a trickle
// fragment), for the node's guard that refuses bodies everywhere else.
func TakesBody(r *http.Request) bool {
	return (r.Method == http.MethodPost || r.Method == http.MethodPatch) && isPath(r.URL.Path)
}

func setCORS(h http.Header) {
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Expose-Headers", "Location, Link, ETag, Accept-Patch, Retry-After, WWW-Authenticate")
}

func preflight(w http.ResponseWriter, r *http.Request) {
	setCORS(w.Header())
	w.Header().Set("Allow", "POST, PATCH, DELETE, OPTIONS")
	w.Header().Set("Access-Control-Allow-Methods", "POST, PATCH, DELETE, OPTIONS")
	w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type, If-Match")
	w.Header().Set("Access-Control-Max-Age", "7200")
	w.WriteHeader(http.StatusNoContent)
}

// httpError is an error with the status it is answered with.
type httpError struct {
	status int
	err    error
}

func (e *httpError) Error() string { return e.err.Error() }
func (e *httpError) Unwrap() error { return e.err }

func statusErr(status int, format string, args ...any) error {
	return &httpError{status: status, err: fmt.Errorf(format, args...)}
}

// writeError answers err as JSON with its status; the message never holds a credential.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	var he *httpError
	switch {
	case errors.As(err, &he):
		status = he.status
	case errors.Is(err, stream.ErrInvalidPath):
		status = http.StatusBadRequest
	case errors.Is(err, pubauth.ErrNoCredentials):
		status = http.StatusUnauthorized
		w.Header().Set("WWW-Authenticate", `Bearer realm="nagare"`)
	case errors.Is(err, pubauth.ErrBadToken), errors.Is(err, pubauth.ErrTokenExpired), errors.Is(err, pubauth.ErrBadKey),
		errors.Is(err, pubauth.ErrNotConfigured):
		status = http.StatusForbidden
	case errors.Is(err, stream.ErrAlreadyPublishing):
		status = http.StatusConflict
	case errors.Is(err, ErrNoCodec):
		status = http.StatusNotAcceptable
	case errors.Is(err, ErrBadOffer):
		status = http.StatusBadRequest
	case errors.Is(err, ErrNotLive), errors.Is(err, ErrUnknown), errors.Is(err, ErrNotPublishing):
		status = http.StatusNotFound
	case errors.Is(err, ErrTooMany):
		status = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "5")
	case errors.Is(err, ErrRateLimited):
		status = http.StatusTooManyRequests
		w.Header().Set("Retry-After", "10")
	}
	if status >= 500 || status == http.StatusTooManyRequests {
		s.Log.Warn("webrtc request refused", "method", r.Method, "path", r.URL.Path, "status", status, "cause", err)
	} else {
		s.Log.Info("webrtc request refused", "method", r.Method, "path", r.URL.Path, "status", status, "cause", err)
	}
	if status != http.StatusNotFound || !errors.Is(err, ErrUnknown) {
		s.counts.Rejected.Add(1)
	}
	setCORS(w.Header())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}

// readSDP reads an offer or a trickle fragment of the given content type, bounded.
func readSDP(r *http.Request, contentType string) (string, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != contentType {
		return "", statusErr(http.StatusUnsupportedMediaType, "Content-Type must be %s, not %q", contentType, r.Header.Get("Content-Type"))
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxOffer+1))
	if err != nil {
		return "", statusErr(http.StatusBadRequest, "reading the body: %v", err)
	}
	if len(b) > maxOffer {
		return "", statusErr(http.StatusRequestEntityTooLarge, "body larger than %d bytes", maxOffer)
	}
	return string(b), nil
}

// remoteIP is the client's address without the port.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// admitOffer applies the per-address offer bound and reads the offer.
func (s *Server) admitOffer(r *http.Request) (stream.Path, string, error) {
	p, err := stream.ParsePath(r.PathValue("app") + "/" + r.PathValue("stream"))
	if err != nil {
		return p, "", err
	}
	client := remoteIP(r)
	if s.ClientIP != nil {
		client = s.ClientIP(r)
	}
	if !s.limiter.allow(client, time.Now()) {
		return p, "", fmt.Errorf("%w (%d a minute)", ErrRateLimited, s.OffersPerMinute)
	}
	offer, err := readSDP(r, "application/sdp")
	if err != nil {
		return p, "", err
	}
	return p, offer, nil
}

// answer writes 201 with the SDP answer, the session's absolute Location and the ICE servers.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, ss *session, sdp string) {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	h := w.Header()
	setCORS(h)
	h.Set("Content-Type", "application/sdp")
	h.Set("Location", fmt.Sprintf("%s://%s/%s/%s/%s", scheme, r.Host, ss.path, ss.kind, ss.id))
	h.Set("ETag", `"`+ss.id+`"`)
	h.Set("Accept-Patch", "application/trickle-ice-sdpfrag")
	h.Set("Cache-Control", "no-store")
	for _, ice := range s.ICEServers {
		link := fmt.Sprintf(`<%s>; rel="ice-server"`, ice.URL)
		if ice.Username != "" {
			link += fmt.Sprintf(`; username="%s"; credential="%s"; credential-type="password"`, ice.Username, ice.Credential)
		}
		h.Add("Link", link)
	}
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, sdp)
}

// patch takes trickled ICE candidates for a session (RFC 9725 §4.3.1). An ICE restart is not offered.
func (s *Server) patch(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ss, err := s.lookup(kind, r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if m := r.Header.Get("If-Match"); m != "" && m != "*" && m != `"`+ss.id+`"` {
			s.writeError(w, r, statusErr(http.StatusPreconditionFailed, "If-Match %q does not name this session", m))
			return
		}
		frag, err := readSDP(r, "application/trickle-ice-sdpfrag")
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		for line := range strings.Lines(frag) {
			line = strings.TrimSpace(line)
			cand, ok := strings.CutPrefix(line, "a=candidate:")
			if !ok {
				continue
			}
			if err := ss.pc.AddICECandidate(webrtc.ICECandidateInit{Candidate: "candidate:" + cand}); err != nil {
				s.writeError(w, r, statusErr(http.StatusBadRequest, "candidate %q: %v", clip(line), err))
				return
			}
		}
		setCORS(w.Header())
		w.WriteHeader(http.StatusNoContent)
	}
}

func (s *Server) delete(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ss, err := s.lookup(kind, r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		ss.close("DELETE by the client")
		setCORS(w.Header())
		w.WriteHeader(http.StatusOK)
	}
}

func (s *Server) lookup(kind string, r *http.Request) (*session, error) {
	p, err := stream.ParsePath(r.PathValue("app") + "/" + r.PathValue("stream"))
	if err != nil {
		return nil, err
	}
	id := r.PathValue("id")
	ss := s.session(kind, p, id)
	if ss == nil {
		return nil, fmt.Errorf("%w %q", ErrUnknown, clip(id))
	}
	return ss, nil
}

// clip shortens what a client sent before it goes into a log line or an answer.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// offerLimiter bounds the offers each client address makes in a minute.
type offerLimiter struct {
	max int
	mu  sync.Mutex
	m   map[string]*window
}

type window struct {
	start time.Time
	n     int
}

func newOfferLimiter(max int) *offerLimiter { return &offerLimiter{max: max, m: map[string]*window{}} }

func (l *offerLimiter) allow(ip string, now time.Time) bool {
	if l.max <= 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.m[ip]
	if w == nil || now.Sub(w.start) >= time.Minute {
		if len(l.m) > 100000 { // a flood from many addresses: forget the old windows
			for k, old := range l.m {
				if now.Sub(old.start) >= time.Minute {
					delete(l.m, k)
				}
			}
		}
		w = &window{start: now}
		l.m[ip] = w
	}
	w.n++
	return w.n <= l.max
}
