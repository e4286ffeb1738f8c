package http1

import (
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
)

// holdMax is how much of a body with no declared length is held before its header is sent: a body that
// ends within it gets a Content-Length, a longer one is sent chunked (net/http's rule and size).
const holdMax = 2048

// response is a request's http.ResponseWriter. A connection reuses one for each of its requests (a
// handler must not use its writer after it returns, as with net/http).
type response struct {
	c          *conn
	req        *http.Request
	header     http.Header
	status     int   // 0 until WriteHeader
	sent       bool  // the header is in c.bw
	length     int64 // the Content-Length declared when the status was set; -1 for none
	written    int64 // body bytes the handler wrote
	chunked    bool
	head       bool
	held       []byte // body bytes held until the header is sent
	closeAfter bool   // the connection closes after this answer
}

func (c *conn) newResponse(req *http.Request) *response {
	w := &c.resp
	if w.header == nil {
		w.header = make(http.Header, 8)
	} else {
		clear(w.header)
	}
	*w = response{c: c, req: req, header: w.header, length: -1, head: req.Method == http.MethodHead,
		held: w.held[:0], closeAfter: req.Close}
	return w
}

func (w *response) Header() http.Header { return w.header }

func (w *response) WriteHeader(code int) {
	if code < 100 || code > 999 {
		panic("http1: invalid WriteHeader code " + strconv.Itoa(code)) // as net/http
	}
	if w.status != 0 {
		return // superfluous, as net/http (which logs it)
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		// an informational answer (103 Early Hints) goes out now, with the header set so far
		w.writeStatusLine(code)
		w.writeHeaderMap()
		_, _ = w.c.bw.WriteString("\r\n")
		_ = w.c.bw.Flush()
		return
	}
	w.status = code
	if v := w.header["Content-Length"]; len(v) > 0 {
		if n, err := strconv.ParseInt(v[0], 10, 64); err == nil && n >= 0 {
			w.length = n
		} else {
			delete(w.header, "Content-Length") // as net/http, which logs it
		}
	}
}

func (w *response) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	w.written += int64(len(p))
	if w.length >= 0 && w.written > w.length {
		return 0, http.ErrContentLength
	}
	if w.head {
		return len(p), nil
	}
	if !w.sent {
		if w.length < 0 && len(w.held)+len(p) <= holdMax {
			w.held = append(w.held, p...)
			return len(p), nil
		}
		if err := w.sendHeld(false, p); err != nil {
			return 0, err
		}
	}
	return w.writeBody(p)
}

// sendHeld sends the header, the body bytes held, and (when final) the end of a body: final is the
// handler's return, when the body's length is known.
func (w *response) sendHeld(final bool, next []byte) error {
	sniff := w.held
	if len(sniff) == 0 {
		sniff = next
	}
	w.sendHeader(final, sniff)
	if len(w.held) > 0 {
		held := w.held
		w.held = w.held[:0]
		if _, err := w.writeBody(held); err != nil {
			return err
		}
	}
	return nil
}

// sendHeader writes the status line and header into the connection's buffer. first is the body's start
// (for Content-Type sniffing); final says the body is complete (then an undeclared length is its length).
func (w *response) sendHeader(final bool, first []byte) {
	w.sent = true
	bw := w.c.bw
	allowed := bodyAllowed(w.status)
	w.writeStatusLine(w.status)
	w.writeHeaderMap()
	h := w.header
	if _, ok := h["Date"]; !ok {
		_, _ = bw.WriteString("Date: ")
		_, _ = bw.WriteString(dateValue())
		_, _ = bw.WriteString("\r\n")
	}
	_, haveType := h["Content-Type"]
	if !haveType && allowed && len(first) > 0 && len(h["Content-Encoding"]) == 0 && !w.nosniff() {
		_, _ = bw.WriteString("Content-Type: ")
		_, _ = bw.WriteString(http.DetectContentType(first))
		_, _ = bw.WriteString("\r\n")
	}
	_, haveTE := h["Transfer-Encoding"]
	switch {
	case w.length >= 0 || !allowed || haveTE:
	case final && (!w.head || w.written > 0):
		w.length = w.written
		_, _ = bw.WriteString("Content-Length: ")
		_, _ = bw.Write(strconv.AppendInt(bw.AvailableBuffer(), w.written, 10))
		_, _ = bw.WriteString("\r\n")
	case !w.head:
		w.chunked = true
		_, _ = bw.WriteString("Transfer-Encoding: chunked\r\n")
	default:
		w.closeAfter = true // a HEAD answer of unknown length: net/http closes too
	}
	if w.closeAfter || w.c.s.shutting.Load() {
		w.closeAfter = true
		_, _ = bw.WriteString("Connection: close\r\n")
	}
	_, _ = bw.WriteString("\r\n")
}

func (w *response) writeStatusLine(code int) {
	bw := w.c.bw
	if code == http.StatusOK {
		_, _ = bw.WriteString("HTTP/1.1 200 OK\r\n")
		return
	}
	_, _ = bw.WriteString("HTTP/1.1 ")
	_, _ = bw.Write(strconv.AppendInt(bw.AvailableBuffer(), int64(code), 10))
	_ = bw.WriteByte(' ')
	_, _ = bw.WriteString(http.StatusText(code))
	_, _ = bw.WriteString("\r\n")
}

// writeHeaderMap writes the handler's header fields, sorted by name as net/http does; a field with an
// invalid name is left out and line breaks in values become spaces (no header injection).
func (w *response) writeHeaderMap() {
	var arr [16]string
	keys := arr[:0]
	for k := range w.header {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	bw := w.c.bw
	for _, k := range keys {
		if !httpguts.ValidHeaderFieldName(k) {
			continue
		}
		for _, v := range w.header[k] {
			if strings.ContainsAny(v, "\r\n") {
				v = strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ").Replace(v)
			}
			_, _ = bw.WriteString(k)
			_, _ = bw.WriteString(": ")
			_, _ = bw.WriteString(strings.TrimSpace(v))
			_, _ = bw.WriteString("\r\n")
		}
	}
}

func (w *response) nosniff() bool {
	v := w.header["X-Content-Type-Options"]
	return len(v) > 0 && strings.EqualFold(strings.TrimSpace(v[0]), "nosniff")
}

// writeBody writes body bytes after the header, chunked or not.
func (w *response) writeBody(p []byte) (int, error) {
	bw := w.c.bw
	if w.chunked {
		_, _ = bw.Write(strconv.AppendInt(bw.AvailableBuffer(), int64(len(p)), 16))
		_, _ = bw.WriteString("\r\n")
		n, err := bw.Write(p)
		if err == nil {
			_, err = bw.WriteString("\r\n")
		}
		return w.failed(n, err)
	}
	return w.failed(bw.Write(p))
}

func (w *response) failed(n int, err error) (int, error) {
	if err != nil {
		w.closeAfter = true
	}
	return n, err
}

// finish completes the answer when the handler returns.
func (w *response) finish() {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.sent {
		if w.sendHeld(true, nil) != nil {
			return
		}
	}
	if w.chunked {
		if _, err := w.c.bw.WriteString("0\r\n\r\n"); err != nil {
			w.closeAfter = true
		}
	}
	if w.length >= 0 && w.written < w.length && !w.head && bodyAllowed(w.status) {
		w.closeAfter = true // the client waits for bytes that will not come
	}
}

// Flush sends the header and what the handler wrote (http.Flusher).
func (w *response) Flush() { _ = w.FlushError() }

// FlushError is Flush for http.ResponseController.
func (w *response) FlushError() error {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.sent {
		if err := w.sendHeld(false, nil); err != nil {
			return err
		}
	}
	return w.failedErr(w.c.bw.Flush())
}

func (w *response) failedErr(err error) error {
	_, err = w.failed(0, err)
	return err
}

// ReadFrom sends src after the header with the connection's ReadFrom (sendfile for files) when the
// answer has a declared length; otherwise it copies through Write.
func (w *response) ReadFrom(src io.Reader) (int64, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	rf, ok := w.c.rwc.(io.ReaderFrom)
	_, haveType := w.header["Content-Type"]
	if !ok || w.length < 0 || w.head || !bodyAllowed(w.status) || (!w.sent && !haveType) {
		return io.Copy(writerOnly{w}, src)
	}
	if !w.sent {
		w.sendHeader(false, nil)
	}
	// the header waits for the body's first bytes (MSG_MORE): one packet, as nginx's tcp_nopush makes.
	// Only when bytes are to follow: a header held for an empty body would wait for nothing.
	if m, ok := w.c.rwc.(interface{ MoreFollows() }); ok && w.c.bw.Buffered() > 0 && w.length > w.written {
		m.MoreFollows()
	}
	if err := w.c.bw.Flush(); err != nil {
		return 0, w.failedErr(err)
	}
	n, err := rf.ReadFrom(src)
	w.written += n
	if w.written > w.length {
		w.closeAfter = true // more than declared: the stream is broken, do not reuse it
	}
	return n, w.failedErr(err)
}

// writerOnly hides ReadFrom from io.Copy.
type writerOnly struct{ io.Writer }

// SetReadDeadline and SetWriteDeadline are for http.ResponseController.
func (w *response) SetReadDeadline(t time.Time) error {
	w.c.readDeadline = t
	return w.c.rwc.SetReadDeadline(t)
}

func (w *response) SetWriteDeadline(t time.Time) error { return w.c.rwc.SetWriteDeadline(t) }

func bodyAllowed(status int) bool {
	return !(status >= 100 && status < 200) && status != http.StatusNoContent && status != http.StatusNotModified
}

// dateValue is the Date header's value now, formatted once a second.
func dateValue() string {
	now := time.Now().Unix()
	if d := lastDate.Load(); d != nil && d.sec == now {
		return d.value
	}
	d := &date{sec: now, value: time.Unix(now, 0).UTC().Format(http.TimeFormat)}
	lastDate.Store(d)
	return d.value
}

type date struct {
	sec   int64
	value string
}

var lastDate atomic.Pointer[date]
