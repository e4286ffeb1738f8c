package loadtest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"sync"
	"syscall"
	"time"
)

// h1Client is one virtual player's own HTTP/1.1 client for plain http:// URLs. It does what the player
// needs of net/http's client (keep-alive connections, redirects, chunked and gzip bodies, time-outs, a
// request retried once on a new connection when a reused one turns out closed) on the player's own
// goroutine: a request is written from a reused buffer and its answer read on the same goroutine, with
// only the headers the player needs parsed. net/http's client costs two goroutines per connection, channel
// hand-offs, a header map and a dozen allocations per request: at thousands of players on one core, that
// was most of the generator's CPU.
//
// One goroutine uses an h1Client at a time; abort, from another, cuts what it is waiting for.
type h1Client struct {
	// std makes the requests this client does not (https: the redirect of a plain-http entry to one)
	std *http.Client

	mu      sync.Mutex // conns, against abort
	conns   []*h1Conn  // the least recently used first
	watched context.Context
	unwatch func() bool
	wbuf    []byte           // the request being written
	body    []byte           // the last kept body (valid until the next get) and the scratch of discarded ones
	lr      io.LimitedReader // a Content-Length body
	zr      *gzip.Reader
}

// h1Conn is one keep-alive connection.
type h1Conn struct {
	addr string // host:port
	nc   net.Conn
	br   *bufio.Reader
	used bool // it has answered a request, so it may have been closed by the server since
}

const (
	// maxH1Conns bounds a player's open connections: the manager's, its edge's, and one it moved from.
	maxH1Conns = 3
	// h1ReadBuffer is a connection's read buffer: a 200 ms part of a 600 kbit/s stream and its headers
	// come in one read.
	h1ReadBuffer = 32 << 10
	// maxHeadBytes bounds a response's status line and headers (net/http's bound is 1 MiB; a server that
	// sends more than this to a player is broken).
	maxHeadBytes = 64 << 10
	// maxRedirects is net/http's.
	maxRedirects = 10
	// stdTimeout bounds a request without a time-out of its own, as the net/http client's Timeout did.
	stdTimeout = 30 * time.Second
)

var (
	errHeadTooLarge     = errors.New("response headers too large")
	errMalformedStatus  = errors.New("malformed HTTP status line")
	errMalformedHeader  = errors.New("malformed HTTP header line")
	errBadLength        = errors.New("bad Content-Length")
	errBadTransfer      = errors.New("unsupported Transfer-Encoding")
	errSwitchedProtocol = errors.New("unexpected 101 Switching Protocols")
	errTooManyRedirects = fmt.Errorf("stopped after %d redirects", maxRedirects)
)

// h1Result is a response: its status and body (body only when kept, and valid until the next get), the
// body's length, and the URL that answered (after redirects; set once a response came).
type h1Result struct {
	status int
	body   []byte
	n      int64
	final  *url.URL
}

// get fetches u (a GET, redirects followed) before deadline, or until ctx ends; the body is kept when
// keep is set (read and counted otherwise). A status other than 200 is no error here.
func (c *h1Client) get(ctx context.Context, u *url.URL, deadline time.Time, keep bool) (h1Result, error) {
	c.watch(ctx)
	var referer string
	for redirects := 0; ; redirects++ {
		if u.Scheme != "http" {
			return stdGet(ctx, c.std, u, deadline, keep, referer)
		}
		res, loc, err := c.roundTrip(ctx, u, referer, deadline, keep)
		if err != nil || loc == "" {
			return res, err
		}
		if redirects == maxRedirects {
			return h1Result{}, fmt.Errorf("GET %s: %w", u.Redacted(), errTooManyRedirects)
		}
		next, err := u.Parse(loc)
		if err != nil {
			return h1Result{}, fmt.Errorf("GET %s: redirect to %q: %w", u.Redacted(), loc, err)
		}
		from := *u
		from.User = nil // as net/http's Referer: no credentials
		referer, u = from.String(), next
	}
}

// watch makes the end of ctx cut any request of this client, once per ctx (a player asks with one
// context its whole life: one registration, not one a request).
func (c *h1Client) watch(ctx context.Context) {
	if ctx == c.watched {
		return
	}
	if c.unwatch != nil {
		c.unwatch()
	}
	c.watched, c.unwatch = ctx, context.AfterFunc(ctx, c.abort)
}

// abort cuts what the client waits for (ctx ended): every connection's deadline moves to the past.
func (c *h1Client) abort() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cn := range c.conns {
		_ = cn.nc.SetDeadline(time.Unix(1, 0))
	}
}

// close closes every connection.
func (c *h1Client) close() {
	if c.unwatch != nil {
		c.unwatch()
		c.watched, c.unwatch = nil, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cn := range c.conns {
		_ = cn.nc.Close()
	}
	c.conns = nil
}

// conn is a connection to addr: the open one, or a new one (the least recently used closed beyond
// maxH1Conns). fresh reports a new one.
func (c *h1Client) conn(ctx context.Context, addr string, deadline time.Time, fresh bool) (*h1Conn, error) {
	if !fresh {
		for i, cn := range c.conns {
			if cn.addr == addr {
				if i != len(c.conns)-1 {
					c.mu.Lock()
					copy(c.conns[i:], c.conns[i+1:])
					c.conns[len(c.conns)-1] = cn
					c.mu.Unlock()
				}
				return cn, nil
			}
		}
	}
	d := net.Dialer{Deadline: deadline, KeepAlive: 30 * time.Second} // net/http's default dialer's
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	cn := &h1Conn{addr: addr, nc: nc, br: bufio.NewReaderSize(nc, h1ReadBuffer)}
	c.mu.Lock()
	if len(c.conns) == maxH1Conns {
		_ = c.conns[0].nc.Close()
		c.conns = append(c.conns[:0], c.conns[1:]...)
	}
	c.conns = append(c.conns, cn)
	c.mu.Unlock()
	if ctx.Err() != nil { // ended between the dial and the registration: abort did not see it
		_ = nc.SetDeadline(time.Unix(1, 0))
	}
	return cn, nil
}

// drop closes cn and forgets it.
func (c *h1Client) drop(cn *h1Conn) {
	_ = cn.nc.Close()
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, o := range c.conns {
		if o == cn {
			c.conns = append(c.conns[:i], c.conns[i+1:]...)
			break
		}
	}
}

// roundTrip asks u once; loc is the Location of a redirect to follow ("" for a final answer).
func (c *h1Client) roundTrip(ctx context.Context, u *url.URL, referer string, deadline time.Time, keep bool) (res h1Result, loc string, err error) {
	if u.Host == "" {
		return res, "", fmt.Errorf("GET %s: no host in the URL", u.Redacted())
	}
	addr := hostPort(u)
	c.wbuf = appendRequest(c.wbuf[:0], u, referer)
	var (
		h  head
		cn *h1Conn
	)
	for attempt := 0; ; attempt++ {
		if cn, err = c.conn(ctx, addr, deadline, attempt > 0); err != nil {
			return res, "", c.failed(ctx, u, err)
		}
		h, err = c.exchange(ctx, cn, deadline)
		if err == nil {
			break
		}
		reused := cn.used
		c.drop(cn)
		// a reused connection the server closed while it was idle: once more on a new one, as net/http does
		// (a GET is idempotent)
		if !reused || attempt > 0 || ctx.Err() != nil || !closedIdle(err) {
			return res, "", c.failed(ctx, u, err)
		}
	}
	cn.used = true
	res.status, res.final = h.status, u
	if h.redirect() && h.location != "" {
		// the body of a redirect is left: read a little of it to keep the connection, as net/http does
		if h.length < 0 || h.length > 2<<10 {
			h.close = true
		} else if _, err := cn.br.Discard(int(h.length)); err != nil {
			h.close = true
		}
		if h.close {
			c.drop(cn)
		}
		return h1Result{}, h.location, nil
	}
	var complete bool
	res.body, res.n, complete, err = c.readBody(cn.br, &h, keep)
	if err != nil || !complete || h.close {
		c.drop(cn)
	}
	if err != nil {
		err = c.failed(ctx, u, err)
	}
	return res, "", err
}

// exchange writes the request in c.wbuf on cn and reads the answer's head.
func (c *h1Client) exchange(ctx context.Context, cn *h1Conn, deadline time.Time) (head, error) {
	if err := cn.nc.SetDeadline(deadline); err != nil {
		return head{}, err
	}
	if ctx.Err() != nil { // after abort: its deadline may have been replaced
		return head{}, ctx.Err()
	}
	if _, err := cn.nc.Write(c.wbuf); err != nil {
		return head{}, err
	}
	return readHead(cn.br)
}

// failed is err as the player reports it: the request's URL, and the context's error when it ended or
// the deadline passed.
func (c *h1Client) failed(ctx context.Context, u *url.URL, err error) error {
	if ctx.Err() != nil {
		err = ctx.Err()
	} else if errors.Is(err, os.ErrDeadlineExceeded) {
		err = context.DeadlineExceeded
	}
	return fmt.Errorf("GET %s: %w", u.Redacted(), err)
}

// closedIdle reports an error a reused connection gives when the server had closed it: nothing of an
// answer came.
func closedIdle(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, errNoAnswer)
}

// readBody reads the body h announces from br: kept in c.body (up to maxBody, as the net/http client's
// reader was limited) or read and dropped. complete is false when the body was cut at maxBody (the
// connection cannot serve another request then).
func (c *h1Client) readBody(br *bufio.Reader, h *head, keep bool) (body []byte, n int64, complete bool, err error) {
	if !h.hasBody() {
		return c.body[:0], 0, true, nil
	}
	if !h.chunked && !h.gzip && h.length >= 0 && h.length <= maxBody {
		// the common case: a body of known length
		if !keep {
			d, err := br.Discard(int(h.length))
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, int64(d), err == nil, err
		}
		if int64(cap(c.body)) < h.length {
			c.body = make([]byte, h.length)
		}
		d, err := io.ReadFull(br, c.body[:h.length])
		if err == io.EOF {
			err = io.ErrUnexpectedEOF // closed before the body
		}
		return c.body[:d], int64(d), err == nil, err
	}
	// chunked, compressed, until the server closes, or longer than maxBody: rare, and read through a reader
	var r io.Reader = br
	switch {
	case h.chunked:
		r = httputil.NewChunkedReader(br)
	case h.length >= 0:
		c.lr = io.LimitedReader{R: br, N: h.length}
		r = &c.lr
	}
	if h.gzip {
		if c.zr == nil {
			c.zr = new(gzip.Reader)
		}
		if err := c.zr.Reset(r); err != nil {
			return nil, 0, false, err
		}
		r = c.zr
	}
	if cap(c.body) < 4<<10 {
		c.body = make([]byte, 0, 4<<10)
	}
	b := c.body[:0]
	for n < maxBody && err == nil {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		var m int
		m, err = r.Read(b[len(b):min(cap(b), len(b)+int(maxBody-n))])
		n += int64(m)
		if keep {
			b = b[:len(b)+m]
		}
	}
	if keep {
		c.body = b
	} else {
		b = nil
	}
	switch {
	case err == nil:
		// cut at maxBody: the rest is left with the connection, which is closed
	case err != io.EOF:
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
	case h.gzip:
		// the end of the compressed stream, which need not be the end of the body: the connection is closed
		err = nil
	case h.chunked:
		// the chunked reader stops at the last chunk: its trailer is left to read
		err = readTrailer(br)
		complete = err == nil
	case h.length >= 0:
		err = io.ErrUnexpectedEOF // closed before its Content-Length (> maxBody)
	default:
		err = nil // the body ends where the server closed
	}
	return b, n, complete, err
}

// readTrailer reads a chunked body's trailer, up to its empty line.
func readTrailer(br *bufio.Reader) error {
	total := 0
	for {
		line, err := readLine(br, &total)
		if err != nil {
			return err
		}
		if len(line) == 0 {
			return nil
		}
	}
}

// head is what the player needs of a response's status line and headers.
type head struct {
	status   int
	length   int64 // Content-Length; -1 when none
	chunked  bool
	gzip     bool // Content-Encoding: gzip (asked for, as net/http does, and decoded)
	close    bool // the connection closes after this response
	location string
}

func (h *head) redirect() bool {
	switch h.status {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect,
		http.StatusPermanentRedirect:
		return true
	}
	return false
}

// hasBody is RFC 9112 §6.3: no body for 1xx, 204 and 304 answers.
func (h *head) hasBody() bool {
	return h.status >= 200 && h.status != http.StatusNoContent && h.status != http.StatusNotModified
}

// errNoAnswer: the connection closed before a byte of the answer.
var errNoAnswer = errors.New("server closed the connection before answering")

// readHead reads a response's status line and headers, skipping informational (1xx) answers.
func readHead(br *bufio.Reader) (head, error) {
	if _, err := br.Peek(1); err != nil {
		if err == io.EOF {
			err = errNoAnswer
		}
		return head{}, err
	}
	total := 0
	for informational := 0; ; informational++ {
		h, err := readOneHead(br, &total)
		if err != nil || h.status >= 200 {
			return h, err
		}
		if h.status == http.StatusSwitchingProtocols {
			return head{}, errSwitchedProtocol
		}
		if informational == 5 {
			return head{}, fmt.Errorf("too many 1xx informational responses")
		}
	}
}

func readOneHead(br *bufio.Reader, total *int) (head, error) {
	h := head{length: -1}
	line, err := readLine(br, total)
	if err != nil {
		return h, err
	}
	// HTTP/1.x SP 3DIGIT [SP reason]
	if len(line) < len("HTTP/1.x 200") || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[7] < '0' || line[7] > '9' ||
		line[8] != ' ' || (len(line) > 12 && line[12] != ' ') {
		return h, fmt.Errorf("%w: %q", errMalformedStatus, clipLine(line))
	}
	for _, d := range line[9:12] {
		if d < '0' || d > '9' {
			return h, fmt.Errorf("%w: %q", errMalformedStatus, clipLine(line))
		}
		h.status = h.status*10 + int(d-'0')
	}
	if h.status < 100 {
		return h, fmt.Errorf("%w: %q", errMalformedStatus, clipLine(line))
	}
	http10 := line[7] == '0'
	keepAlive := false
	for {
		line, err := readLine(br, total)
		if err != nil {
			return h, err
		}
		if len(line) == 0 {
			break
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || bytes.IndexAny(line[:colon], " \t") >= 0 {
			return h, fmt.Errorf("%w: %q", errMalformedHeader, clipLine(line))
		}
		name, value := line[:colon], bytes.TrimSpace(line[colon+1:])
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, ok := parseLength(value)
			if !ok || (h.length >= 0 && n != h.length) {
				return h, fmt.Errorf("%w: %q", errBadLength, clipLine(value))
			}
			h.length = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			if http10 {
				continue
			}
			if !bytes.EqualFold(value, []byte("chunked")) || h.chunked {
				return h, fmt.Errorf("%w: %q", errBadTransfer, clipLine(value))
			}
			h.chunked = true
		case bytes.EqualFold(name, []byte("Connection")):
			for _, tok := range bytes.Split(value, []byte(",")) {
				tok = bytes.TrimSpace(tok)
				h.close = h.close || bytes.EqualFold(tok, []byte("close"))
				keepAlive = keepAlive || bytes.EqualFold(tok, []byte("keep-alive"))
			}
		case bytes.EqualFold(name, []byte("Content-Encoding")):
			h.gzip = bytes.EqualFold(value, []byte("gzip"))
		case bytes.EqualFold(name, []byte("Location")):
			h.location = string(value)
		}
	}
	if http10 && !keepAlive {
		h.close = true
	}
	if h.chunked {
		h.length = -1 // RFC 9112 §6.3: Transfer-Encoding overrides Content-Length
	}
	return h, nil
}

// parseLength parses a Content-Length value: decimal digits only, at most 18 of them.
func parseLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, d := range v {
		if d < '0' || d > '9' {
			return 0, false
		}
		n = n*10 + int64(d-'0')
	}
	return n, true
}

// readLine reads a line of a response's head without its CRLF (or LF), counting its bytes in total
// against maxHeadBytes. The line is valid until the next read of br (or of the client's line buffer).
func readLine(br *bufio.Reader, total *int) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	*total += len(line)
	if err == bufio.ErrBufferFull {
		// a line longer than the read buffer (rare: a long cookie): collect it, still bounded
		long := append([]byte(nil), line...)
		for err == bufio.ErrBufferFull && *total <= maxHeadBytes {
			line, err = br.ReadSlice('\n')
			*total += len(line)
			long = append(long, line...)
		}
		line = long
	}
	if *total > maxHeadBytes {
		return nil, errHeadTooLarge
	}
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF // closed in the middle of the head
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// clipLine shortens what an error quotes of a bad line.
func clipLine(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

// appendRequest appends the GET request of u to b, with net/http's headers (its User-Agent, gzip
// accepted, and the Referer of a redirect).
func appendRequest(b []byte, u *url.URL, referer string) []byte {
	b = append(b, "GET "...)
	b = appendTarget(b, u)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, u.Host...)
	b = append(b, "\r\nUser-Agent: Go-http-client/1.1\r\n"...)
	if referer != "" {
		b = append(b, "Referer: "...)
		b = appendClean(b, referer)
		b = append(b, "\r\n"...)
	}
	return append(b, "Accept-Encoding: gzip\r\n\r\n"...)
}

// appendTarget appends u's request target (path and query, as net/http makes it of u.String()) with no
// byte that would break the request line.
func appendTarget(b []byte, u *url.URL) []byte {
	p := u.EscapedPath()
	if p == "" || p[0] != '/' {
		b = append(b, '/') // as url.URL.String puts it between the host and a relative path
	}
	b = appendClean(b, p)
	if u.ForceQuery || u.RawQuery != "" {
		b = append(b, '?')
		b = appendClean(b, u.RawQuery)
	}
	return b
}

// appendClean appends s with control characters and spaces percent-encoded.
func appendClean(b []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f {
			b = append(b, '%', hex[c>>4], hex[c&15])
		} else {
			b = append(b, c)
		}
	}
	return b
}

// hostPort is the address to dial for u: its host and port (80 when it names none).
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	return net.JoinHostPort(u.Hostname(), "80")
}

// stdGet fetches u with a net/http client, for what the h1Client does not do, and for a player without one
// (a Config.Client of the caller's).
func stdGet(ctx context.Context, client *http.Client, u *url.URL, deadline time.Time, keep bool, referer string) (h1Result, error) {
	if !deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return h1Result{}, err
	}
	if referer != "" {
		req.Header.Set("Referer", referer)
	}
	res, err := client.Do(req)
	if err != nil {
		return h1Result{}, err
	}
	defer res.Body.Close()
	out := h1Result{status: res.StatusCode, final: res.Request.URL}
	if keep {
		out.body, err = readAll(res, maxBody)
		out.n = int64(len(out.body))
	} else {
		out.n, err = io.Copy(io.Discard, io.LimitReader(res.Body, maxBody))
	}
	return out, err
}

// readAll reads a response body of at most limit bytes into a buffer sized by its Content-Length when
// it has one (playlists do: one allocation instead of a growing series).
func readAll(res *http.Response, limit int64) ([]byte, error) {
	if res.ContentLength < 0 || res.ContentLength > limit {
		return io.ReadAll(io.LimitReader(res.Body, limit))
	}
	b := make([]byte, res.ContentLength)
	if _, err := io.ReadFull(res.Body, b); err != nil {
		return nil, err
	}
	return b, nil
}
