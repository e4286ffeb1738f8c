// Package hlshttp is the HTTP side shared by the origin's and the edge's HLS servers: CORS and method
// checks, plain-text errors, sending a body held in memory (byte ranges included), and the accounting of
// bytes and requests.
package hlshttp

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/nagare-video/nagare/internal/httprec"
	"github.com/nagare-video/nagare/internal/media/mediametrics"
)

// Accounting counts the body bytes and the requests a server answered. The zero value works; Metrics
// may be nil.
type Accounting struct {
	Metrics *mediametrics.Metrics

	bytes    atomic.Uint64
	counters sync.Map // requestKey → prometheus.Counter
}

type requestKey struct {
	kind string
	code int
}

// Count records one answer of n body bytes.
func (a *Accounting) Count(kind string, code, n int) {
	a.bytes.Add(uint64(n))
	if a.Metrics == nil {
		return
	}
	a.Metrics.BytesOut.Add(float64(n))
	a.requests(kind, code).Inc()
}

// BytesOut returns the body bytes sent so far.
func (a *Accounting) BytesOut() uint64 { return a.bytes.Load() }

// requests returns the request counter for kind and code, caching the label lookup.
func (a *Accounting) requests(kind string, code int) prometheus.Counter {
	key := requestKey{kind, code}
	if c, ok := a.counters.Load(key); ok {
		return c.(prometheus.Counter)
	}
	c := a.Metrics.HTTPRequests.WithLabelValues(kind, strconv.Itoa(code))
	a.counters.Store(key, c)
	return c
}

// CORS. Players in pages of any origin load the media: hls.js and Shaka after the manager's 302, whose
// redirect makes the page's origin "null", so only * works. No answer allows credentials.
const (
	// corsAllowHeaders are the request headers a player may send: Range (byte ranges of a segment),
	// Authorization (viewer tokens), Content-Type.
	corsAllowHeaders = "Authorization, Content-Type, Range"
	// corsExposeHeaders are the answer headers players read beyond the safelisted ones: the lengths and
	// ranges of what they download, and Age (hls.js estimates a live playlist's age from it).
	corsExposeHeaders = "Accept-Ranges, Age, Content-Length, Content-Range"
	// corsMaxAge lets a browser keep a preflight's answer for two hours (Chromium's ceiling).
	corsMaxAge = "7200"
	// allowedMethods are what the media servers take.
	allowedMethods = "GET, HEAD, OPTIONS"
)

// Header values set on every answer, made once: net/http only reads them, and Header.Set or Add on the
// same key replaces or copies the slice.
var (
	anyOrigin     = []string{"*"}
	exposeHeaders = []string{corsExposeHeaders}
	acceptRanges  = []string{"bytes"}
)

// headerValues holds the few distinct content types and cache policies the servers answer with, each
// as the one-element slice a Header maps it to, so that no answer allocates them; at most
// maxHeaderValues of them, whatever an upstream sends.
var (
	headerValues     sync.Map // string → []string
	headerValueCount atomic.Int32
)

const maxHeaderValues = 64

func headerValue(v string) []string {
	if hv, ok := headerValues.Load(v); ok {
		return hv.([]string)
	}
	hv := []string{v}
	if headerValueCount.Add(1) <= maxHeaderValues {
		headerValues.Store(v, hv)
	}
	return hv
}

// Preflight sets the CORS headers every answer carries, answers OPTIONS (a CORS preflight or not) with
// 204, and refuses methods other than GET and HEAD. It reports whether the request should be served.
func (a *Accounting) Preflight(w http.ResponseWriter, r *http.Request) bool {
	h := w.Header()
	h["Access-Control-Allow-Origin"] = anyOrigin
	h["Access-Control-Expose-Headers"] = exposeHeaders
	if r.Method == http.MethodOptions {
		h.Set("Allow", allowedMethods)
		h.Set("Access-Control-Allow-Methods", allowedMethods)
		h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
		h.Set("Access-Control-Max-Age", corsMaxAge)
		w.WriteHeader(http.StatusNoContent)
		return false
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", allowedMethods)
		a.Fail(w, "other", http.StatusMethodNotAllowed, "only GET and HEAD are allowed")
		return false
	}
	return true
}

// Fail answers with a plain-text error.
func (a *Accounting) Fail(w http.ResponseWriter, kind string, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(code)
	n, _ := w.Write([]byte(msg + "\n"))
	a.Count(kind, code, n)
}

// Answer sends body (status 200), or fails with status and msg (the status text when msg is empty).
func (a *Accounting) Answer(w http.ResponseWriter, r *http.Request, kind string, status int, msg, ctype, cache string, body []byte) {
	if status != http.StatusOK {
		if msg == "" {
			msg = http.StatusText(status)
		}
		a.Fail(w, kind, status, msg)
		return
	}
	a.Send(w, r, kind, ctype, cache, body)
}

// Send answers 200 with body and its length, or, to a request with a Range header, 206 with the ranges
// asked for (416 when none can be satisfied). A playlist goes out gzip-compressed to a client that takes
// it (encodePlaylist).
func (a *Accounting) Send(w http.ResponseWriter, r *http.Request, kind, ctype, cache string, body []byte) {
	if ctype == PlaylistType {
		body = encodePlaylist(w.Header(), r, body)
	}
	var ranges io.ReadSeeker
	if r.Header.Get("Range") != "" {
		ranges = bytes.NewReader(body)
	}
	if !a.sendHeader(w, r, kind, ctype, cache, len(body), ranges) {
		return
	}
	n, _ := w.Write(body)
	a.Count(kind, http.StatusOK, n)
}

// PlaylistType is the content type of HLS playlists (RFC 8216 §4).
const PlaylistType = "application/vnd.apple.mpegurl"

// FreshWait is how long the origin and the edge hold a plain request (no blocking directives: a player's
// first, or a poll) for a live low-latency playlist of part target partTarget, waiting for its next part:
// one and a half part targets, and never more than 500 ms whatever the part target. A player places its
// start from the newest part it sees (hls.js: PART-HOLD-BACK behind it) and by default never catches up,
// so a playlist answered at once, up to a part old, kept it up to a part further behind live all along.
func FreshWait(partTarget time.Duration) time.Duration {
	return min(partTarget*3/2, 500*time.Millisecond)
}

// File is what SendFile sends from: an *os.File, or a *memfile.Handle (sent with internal/sendfile by
// the connections of internal/netguard).
type File interface {
	io.ReadSeeker
	io.ReaderAt
	io.Closer
}

// SendFile is Send for size bytes of f from its current offset, which go out with sendfile: the kernel
// hands the file's pages to the socket without copying them through the process. It closes f.
func (a *Accounting) SendFile(w http.ResponseWriter, r *http.Request, kind, ctype, cache string, f File, size int) {
	defer f.Close()
	var ranges io.ReadSeeker
	if r.Header.Get("Range") != "" {
		off, err := f.Seek(0, io.SeekCurrent)
		if err != nil {
			a.Fail(w, kind, http.StatusInternalServerError, "reading the object failed")
			return
		}
		ranges = io.NewSectionReader(f, off, int64(size))
	}
	if !a.sendHeader(w, r, kind, ctype, cache, size, ranges) {
		return
	}
	// io.Copy hands the limited file to the response's ReadFrom, which gives it to the TCP connection's:
	// sendfile. internal/http1 sends the header with MSG_MORE so that it leaves with the file's first
	// bytes; under net/http (TLS, or a connection handed over) the connection that ConnContext gave is
	// corked meanwhile, to the same end.
	// HTTP/1 only: an HTTP/2 connection carries other responses, which the cork would hold back.
	var rc syscall.RawConn
	if r.ProtoMajor == 1 {
		rc, _ = r.Context().Value(connKey{}).(syscall.RawConn)
	}
	cork(rc, 1)
	n, _ := io.Copy(w, &io.LimitedReader{R: f, N: int64(size)})
	cork(rc, 0)
	a.Count(kind, http.StatusOK, int(n))
}

type connKey struct{}

// ConnContext, an http.Server's ConnContext, lets SendFile reach the TCP connection under c (through the
// wrappers that offer NetConn, TLS's included) to cork it while it sends, as nginx does with tcp_nopush.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	for {
		if tc, ok := c.(*net.TCPConn); ok {
			rc, err := tc.SyscallConn()
			if err != nil {
				return ctx
			}
			return context.WithValue(ctx, connKey{}, rc)
		}
		u, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			return ctx
		}
		c = u.NetConn()
	}
}

// cork sets TCP_CORK on the connection (on: 1, off: 0, which sends what it held); rc nil does nothing.
func cork(rc syscall.RawConn, on int) {
	if rc == nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_CORK, on)
	})
}

// sendHeader writes the header of a 200 answer of size bytes and reports whether its body is to be
// written; a request with a Range header is answered from ranges (206, or 416) instead.
func (a *Accounting) sendHeader(w http.ResponseWriter, r *http.Request, kind, ctype, cache string, size int, ranges io.ReadSeeker) bool {
	h := w.Header()
	h["Content-Type"] = headerValue(ctype)
	if cache != "" {
		h["Cache-Control"] = headerValue(cache)
	}
	h["Accept-Ranges"] = acceptRanges
	h["Date"] = dateHeader()
	if ranges != nil {
		cw := httprec.New(w)
		http.ServeContent(cw, r, "", time.Time{}, ranges)
		a.Count(kind, cw.Status(), int(cw.Bytes()))
		return false
	}
	h["Content-Length"] = []string{strconv.Itoa(size)}
	w.WriteHeader(http.StatusOK)
	return r.Method != http.MethodHead
}

// dateHeader is the Date header of answers now: formatted once a second, where net/http would format it
// for every answer.
func dateHeader() []string {
	now := time.Now()
	if d := lastDate.Load(); d != nil && d.sec == now.Unix() {
		return d.value
	}
	d := &date{sec: now.Unix(), value: []string{now.UTC().Format(http.TimeFormat)}}
	lastDate.Store(d)
	return d.value
}

type date struct {
	sec   int64
	value []string // shared by the answers of that second: never changed
}

var lastDate atomic.Pointer[date]

// BlockingParams reads an LL-HLS blocking playlist request's _HLS_msn and _HLS_part (RFC 8216bis
// §6.2.5.2) from the raw query; part is -1 without _HLS_part, and blocking false (with no error) for a
// plain request.
func BlockingParams(raw string) (msn uint64, part int, blocking bool, err error) {
	if !strings.Contains(raw, "_HLS_") {
		return 0, -1, false, nil // a plain request, the usual one
	}
	m, p := QueryParam(raw, "_HLS_msn"), QueryParam(raw, "_HLS_part")
	if m == "" {
		if p != "" {
			return 0, -1, false, errors.New("_HLS_part without _HLS_msn")
		}
		return 0, -1, false, nil
	}
	if msn, err = strconv.ParseUint(m, 10, 63); err != nil {
		return 0, -1, false, errors.New("_HLS_msn must be a non-negative integer")
	}
	part = -1
	if p != "" {
		v, err := strconv.ParseUint(p, 10, 31)
		if err != nil {
			return 0, -1, false, errors.New("_HLS_part must be a non-negative integer")
		}
		part = int(v)
	}
	return msn, part, true, nil
}

// QueryParam returns the first value of key in the raw query, as url.Values.Get would, without parsing
// the whole query into a map on every media request.
func QueryParam(raw, key string) string {
	if strings.ContainsAny(raw, "%+;") {
		q, _ := url.ParseQuery(raw)
		return q.Get(key) // escapes: let net/url decode them
	}
	for kv := range strings.SplitSeq(raw, "&") {
		if k, v, _ := strings.Cut(kv, "="); k == key {
			return v
		}
	}
	return ""
}
