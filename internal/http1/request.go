package http1

import (
	"bytes"
	"context"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"
)

// readRequest reads the next request's header block from the connection. It returns the request; nil
// and no error for one this server does not take, its bytes still unread in c.br; or an error when the
// connection is to close (the client went away, or was silent too long).
func (c *conn) readRequest(ctx context.Context, remote string) (*http.Request, error) {
	if c.br.Buffered() == 0 {
		if err := c.setReadDeadline(time.Now().Add(c.s.idleTimeout())); err != nil {
			return nil, err
		}
		if _, err := c.br.Peek(1); err != nil {
			return nil, err
		}
	}
	headerDeadline := false
	for {
		buf, _ := c.br.Peek(c.br.Buffered())
		end, ok := headerEnd(buf)
		if !ok {
			return nil, nil // a bare LF: net/http's
		}
		if end > 0 {
			req := parseRequest(ctx, buf[:end], remote)
			if req != nil {
				_, _ = c.br.Discard(end)
			}
			return req, nil
		}
		if len(buf) >= c.br.Size() {
			return nil, nil // larger than the buffer: net/http's, which allows more or answers 431
		}
		if !headerDeadline {
			headerDeadline = true
			if err := c.setReadDeadline(time.Now().Add(c.s.readHeaderTimeout())); err != nil {
				return nil, err
			}
		}
		if _, err := c.br.Peek(len(buf) + 1); err != nil {
			return nil, err
		}
	}
}

// headerEnd returns the length of the header block at the start of b (through its empty line), 0 when b
// holds no complete one yet, and false when a line ends in a bare LF (not this server's to read).
func headerEnd(b []byte) (int, bool) {
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return 0, true
		}
		j += i
		if j == 0 || b[j-1] != '\r' {
			return 0, false
		}
		if j == i+1 { // an empty line
			return j + 1, i > 0 // a block that starts with one is net/http's
		}
		i = j + 1
	}
}

// parseRequest makes the request of a complete header block, or returns nil for one this server does
// not take. The block is copied once, into a string that the target, header names and values share.
func parseRequest(ctx context.Context, block []byte, remote string) *http.Request {
	s := string(block[:len(block)-2]) // without the empty line
	line, rest, _ := strings.Cut(s, "\r\n")
	method, target, proto, ok := requestLine(line)
	if !ok {
		return nil
	}
	u := requestURL(target)
	if u == nil {
		return nil
	}

	n := strings.Count(rest, "\r\n") + 1
	if rest == "" {
		n = 0
	}
	h := make(http.Header, n)
	vals := make([]string, n)
	hosts, cl := 0, 0
	host := ""
	for i := 0; rest != ""; i++ {
		line, rest, _ = strings.Cut(rest, "\r\n")
		key, value, ok := headerLine(line)
		if !ok {
			return nil
		}
		switch key {
		case "Host":
			hosts++
			host = value
			continue // net/http keeps it in Request.Host only
		case "Content-Length":
			if cl++; value != "0" || cl > 1 {
				return nil // a body: net/http's
			}
		case "Transfer-Encoding", "Expect", "Upgrade":
			return nil
		}
		if v, dup := h[key]; dup {
			h[key] = append(v, value)
			continue
		}
		vals[i] = value
		h[key] = vals[i : i+1 : i+1]
	}
	if hosts != 1 || !httpguts.ValidHostHeader(host) {
		return nil // net/http answers 400
	}
	closeAfter := false
	if conn, ok := h["Connection"]; ok {
		if httpguts.HeaderValuesContainsToken(conn, "upgrade") {
			return nil
		}
		closeAfter = httpguts.HeaderValuesContainsToken(conn, "close")
	}
	if accept := h["Accept"]; len(accept) > 0 && strings.Contains(accept[0], "text/event-stream") {
		return nil // an answer that never ends: net/http notices the client going away, this server would not
	}
	if p, ok := h["Pragma"]; ok && len(p) > 0 && p[0] == "no-cache" {
		if _, ok := h["Cache-Control"]; !ok {
			h["Cache-Control"] = []string{"no-cache"} // as net/http (RFC 7234 §5.4)
		}
	}
	return (&http.Request{
		Method:     method,
		URL:        u,
		Proto:      proto,
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     h,
		Body:       http.NoBody,
		Host:       host,
		RemoteAddr: remote,
		RequestURI: target,
		Close:      closeAfter,
	}).WithContext(ctx) // the one copy on the heap: Request's context can be set no other way
}

// requestLine splits "METHOD SP target SP HTTP/1.1" and reports whether it is one this server takes.
func requestLine(line string) (method, target, proto string, ok bool) {
	method, rest, ok1 := strings.Cut(line, " ")
	target, proto, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || proto != "HTTP/1.1" || method == "CONNECT" || !isToken(method) {
		return "", "", "", false
	}
	return method, target, proto, true
}

// requestURL parses an origin-form target ("/path?query") as url.ParseRequestURI would, without it for
// the usual plain ones; nil for a target this server does not take.
func requestURL(target string) *url.URL {
	if target == "" || target[0] != '/' {
		return nil // "*", absolute and authority forms: net/http's
	}
	path, query, hasQuery := strings.Cut(target, "?")
	plain := true
	for i := 0; i < len(path); i++ {
		if !plainPathByte(path[i]) {
			plain = false
			break
		}
	}
	for i := 0; i < len(query); i++ {
		if b := query[i]; b <= ' ' || b >= 0x7f || b == '#' {
			return nil
		}
	}
	if plain {
		return &url.URL{Path: path, RawQuery: query, ForceQuery: hasQuery && query == ""}
	}
	for i := 0; i < len(path); i++ {
		if b := path[i]; b <= ' ' || b >= 0x7f || b == '#' {
			return nil
		}
	}
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return nil // net/http answers 400
	}
	return u
}

// plainPathByte reports whether b stands for itself in a path: url.URL keeps no RawPath for a path of
// such bytes (no escapes, nothing that EscapedPath would escape).
func plainPathByte(b byte) bool {
	switch {
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		return true
	}
	return strings.IndexByte("-._~$&+,/:;=@", b) >= 0
}

// headerLine splits "Name: value" into the canonical name and the trimmed value, and reports whether it
// is a line net/http would accept as is (no folding, a token name, no control bytes in the value).
func headerLine(line string) (key, value string, ok bool) {
	name, value, found := strings.Cut(line, ":")
	if !found || !isToken(name) {
		return "", "", false
	}
	value = strings.Trim(value, " \t")
	if !httpguts.ValidHeaderFieldValue(value) {
		return "", "", false
	}
	if !isCanonical(name) {
		name = textproto.CanonicalMIMEHeaderKey(name)
	}
	return name, value, true
}

// isCanonical reports whether name is already in textproto's canonical form ("Content-Type").
func isCanonical(name string) bool {
	upper := true
	for i := 0; i < len(name); i++ {
		b := name[i]
		switch {
		case upper && 'a' <= b && b <= 'z', !upper && 'A' <= b && b <= 'Z':
			return false
		}
		upper = b == '-'
	}
	return true
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !httpguts.IsTokenRune(rune(s[i])) {
			return false
		}
	}
	return true
}
