package nodeapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// NewHandler serves the node API for b: it authenticates every request with the cluster secret,
// decodes and validates the body strictly, calls b, and maps b's errors to status codes. An empty
// secret refuses every request.
func NewHandler(secret string, b Backend, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if secret == "" {
		log.Error("node api: the cluster secret is empty, every node will be refused")
	}
	return &handler{secret: NewSecret(secret), b: b, log: log}
}

type handler struct {
	secret Secret
	b      Backend
	log    *slog.Logger
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if cause := h.authorize(r); cause != "" {
		h.log.Warn("node api request refused", "remote", r.RemoteAddr, "cause", cause)
		w.Header().Set("WWW-Authenticate", `Bearer realm="nagare nodes"`)
		writeError(w, http.StatusUnauthorized, "missing or wrong cluster secret")
		return
	}
	switch r.URL.Path {
	case PathRegister:
		serve(h, w, r, h.b.Register)
	case PathReport:
		serve(h, w, r, h.b.Report)
	case PathLadder:
		serve(h, w, r, h.b.Ladder)
	case PathOrigin:
		serve(h, w, r, h.b.Origin)
	case PathParent:
		serve(h, w, r, h.b.Parent)
	case PathStream:
		serve(h, w, r, func(ctx context.Context, ev StreamEvent) (noContent, error) {
			return noContent{}, h.b.StreamEvent(ctx, ev)
		})
	default:
		writeError(w, http.StatusNotFound, "no such node api endpoint")
	}
}

// authorize returns why r is refused, or "" when it carries the cluster secret. The cause never holds
// the token.
func (h *handler) authorize(r *http.Request) string {
	if err := h.secret.Check(r); err != nil {
		return err.Error()
	}
	return ""
}

// Why a request does not carry the cluster secret.
var (
	ErrNoToken     = errors.New("no Bearer token")
	ErrWrongSecret = errors.New("wrong cluster secret")
	ErrNoSecret    = errors.New("no cluster secret is configured")
)

// Secret checks that a request carries the cluster secret as a Bearer token, in constant time whatever
// the length of the guess (it compares hashes).
type Secret struct {
	sum  [sha256.Size]byte
	none bool
}

// NewSecret returns the check of secret; with an empty secret every request is refused.
func NewSecret(secret string) Secret {
	return Secret{sum: sha256.Sum256([]byte(secret)), none: secret == ""}
}

// Check returns nil when r carries the secret, else why not (ErrNoToken, ErrNoSecret, ErrWrongSecret,
// wrapped with detail); the error never holds the token.
func (s Secret) Check(r *http.Request) error {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return fmt.Errorf("%w: no Authorization header", ErrNoToken)
	}
	scheme, token, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return fmt.Errorf("%w: Authorization is not a Bearer token", ErrNoToken)
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return fmt.Errorf("%w: empty Bearer token", ErrNoToken)
	}
	if s.none {
		return ErrNoSecret
	}
	sum := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(sum[:], s.sum[:]) != 1 {
		return ErrWrongSecret
	}
	return nil
}

// noContent is the response of an endpoint that answers 204.
type noContent struct{}

// serve handles one endpoint: POST only, strict decoding, validation, then call.
func serve[Req interface{ Validate() error }, Resp any](h *handler, w http.ResponseWriter, r *http.Request, call func(context.Context, Req) (Resp, error)) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed, use POST", clip(r.Method)))
		return
	}
	var req Req
	if status, msg := decode(w, r, &req); status != 0 {
		writeError(w, status, msg)
		return
	}
	if err := req.Validate(); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	resp, err := call(r.Context(), req)
	if err != nil {
		h.backendError(w, r, err)
		return
	}
	if _, ok := any(resp).(noContent); ok {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// decode reads exactly one JSON object of at most MaxBodyBytes into v, refusing unknown fields. It
// returns the status and message of the problem, or 0.
func decode(w http.ResponseWriter, r *http.Request, v any) (int, string) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		// one JSON value only: anything after it but white space is refused
		if _, err = dec.Token(); errors.Is(err, io.EOF) {
			return 0, ""
		} else if err == nil {
			return http.StatusBadRequest, "request body must hold a single JSON object, found more after it"
		}
	}
	var (
		maxErr    *http.MaxBytesError
		syntaxErr *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &maxErr):
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", maxErr.Limit)
	case errors.Is(err, io.EOF):
		return http.StatusBadRequest, "empty request body, want a JSON object"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return http.StatusBadRequest, "malformed JSON: the body ends in the middle of a value"
	case errors.As(err, &syntaxErr):
		return http.StatusBadRequest, fmt.Sprintf("malformed JSON at byte %d: %s", syntaxErr.Offset, syntaxErr.Error())
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return http.StatusBadRequest, fmt.Sprintf("request body must be a JSON object, not %s", cut(typeErr.Value))
		}
		return http.StatusBadRequest, fmt.Sprintf("field %q: want %s, got %s", typeErr.Field, jsonKind(typeErr.Type), cut(typeErr.Value))
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if s, uerr := strconv.Unquote(name); uerr == nil {
			name = s
		}
		return http.StatusBadRequest, fmt.Sprintf("unknown field %s", clip(name))
	}
	return http.StatusBadRequest, "malformed request body"
}

// jsonKind names the JSON value that fills a Go type, for error messages.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "another type"
}

// backendError answers err from the Backend. Only the sentinels' messages reach the node; anything else
// is logged and answered with a generic message, since it may hold internal detail.
func (h *handler) backendError(w http.ResponseWriter, r *http.Request, err error) {
	var throttle *ThrottleError
	switch {
	case errors.Is(err, ErrUnknownNode):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, ErrTooManyReports):
		wait := time.Second
		if errors.As(err, &throttle) && throttle.RetryAfter > wait {
			wait = throttle.RetryAfter
		}
		w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
		writeError(w, http.StatusTooManyRequests, err.Error())
	case errors.Is(err, ErrConflict):
		writeError(w, http.StatusConflict, err.Error())
	case errors.Is(err, ErrInvalid):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, ErrUnavailable):
		h.log.Warn("node api request not served", "path", r.URL.Path, "remote", r.RemoteAddr, "cause", err)
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, ErrUnavailable.Error())
	default:
		level := slog.LevelError
		if r.Context().Err() != nil {
			level = slog.LevelDebug // the node went away; nothing is wrong with the manager
		}
		h.log.Log(r.Context(), level, "node api request failed", "path", r.URL.Path, "remote", r.RemoteAddr, "err", err)
		writeError(w, http.StatusInternalServerError, "internal error in the stream manager")
	}
}

type errorBody struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorBody{Error: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // messages name <app>/<stream>; this is no HTML
	_ = enc.Encode(v)
}
