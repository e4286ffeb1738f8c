package loadtest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readResponse reads one response from raw as the h1Client does.
func readResponse(r io.Reader, keep bool) (h head, body []byte, n int64, complete bool, err error) {
	br := bufio.NewReaderSize(r, h1ReadBuffer)
	c := &h1Client{}
	if h, err = readHead(br); err != nil {
		return h, nil, 0, false, err
	}
	body, n, complete, err = c.readBody(br, &h, keep)
	return h, body, n, complete, err
}

func gzipped(s string) string {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	_, _ = w.Write([]byte(s))
	_ = w.Close()
	return b.String()
}

// TestReadResponse: the h1Client's response parser on well-formed answers of every framing, and on the
// broken ones a server (or the network) may send: each is a clear error, none a panic or a hang.
func TestReadResponse(t *testing.T) {
	long := strings.Repeat("a", 40<<10)
	for _, tc := range []struct {
		name     string
		raw      string
		status   int
		body     string
		complete bool   // the connection can serve another request
		close    bool   // the answer says the connection closes
		location string // of a redirect
		err      error  // errors.Is
		errText  string // or the message contains
	}{
		{name: "content-length", raw: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", status: 200, body: "hello", complete: true},
		{name: "no reason, bare LF, lower case", raw: "HTTP/1.1 200\ncontent-length:  5 \n\nhello", status: 200, body: "hello", complete: true},
		{name: "the same length twice", raw: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nhi", status: 200, body: "hi", complete: true},
		{name: "empty body", raw: "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", status: 404, complete: true},
		{name: "a long header line", raw: "HTTP/1.1 200 OK\r\nSet-Cookie: " + long + "\r\nContent-Length: 2\r\n\r\nhi", status: 200, body: "hi", complete: true},
		{name: "chunked", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n",
			status: 200, body: "hello world", complete: true},
		{name: "chunked with a trailer", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n2\r\nhi\r\n0\r\nX-Sum: 1\r\n\r\n",
			status: 200, body: "hi", complete: true},
		{name: "chunked wins over content-length", raw: "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
			status: 200, body: "hi", complete: true},
		{name: "until close", raw: "HTTP/1.1 200 OK\r\n\r\nall of it", status: 200, body: "all of it"},
		{name: "HTTP/1.0 closes", raw: "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi", status: 200, body: "hi", complete: true, close: true},
		{name: "HTTP/1.0 keep-alive", raw: "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nhi", status: 200, body: "hi", complete: true},
		{name: "connection close", raw: "HTTP/1.1 200 OK\r\nConnection: x, close\r\nContent-Length: 2\r\n\r\nhi", status: 200, body: "hi", complete: true, close: true},
		{name: "204 has no body", raw: "HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n", status: 204, complete: true},
		{name: "304 has no body", raw: "HTTP/1.1 304 Not Modified\r\n\r\n", status: 304, complete: true},
		{name: "100 continue first", raw: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", status: 200, body: "hi", complete: true},
		{name: "redirect", raw: "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.2:8080/x\r\nContent-Length: 0\r\n\r\n", status: 302,
			location: "http://127.0.0.2:8080/x", complete: true},
		{name: "gzip", raw: "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: " + fmt.Sprint(len(gzipped("hello"))) + "\r\n\r\n" + gzipped("hello"),
			status: 200, body: "hello"},
		{name: "gzip chunked", raw: "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n" +
			fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(gzipped("hello")), gzipped("hello")), status: 200, body: "hello"},

		{name: "nothing", raw: "", err: errNoAnswer},
		{name: "garbage", raw: "hello\r\n\r\n", err: errMalformedStatus},
		{name: "HTTP/2 status line", raw: "HTTP/2 200\r\n\r\n", err: errMalformedStatus},
		{name: "a four-digit status", raw: "HTTP/1.1 2000 OK\r\n\r\n", err: errMalformedStatus},
		{name: "a status of letters", raw: "HTTP/1.1 2x0 OK\r\n\r\n", err: errMalformedStatus},
		{name: "a status below 100", raw: "HTTP/1.1 099 OK\r\n\r\n", err: errMalformedStatus},
		{name: "a binary status line", raw: "\x00\x01\x02\xff\n", err: errMalformedStatus},
		{name: "a header without a colon", raw: "HTTP/1.1 200 OK\r\nContent-Length 5\r\n\r\nhello", err: errMalformedHeader},
		{name: "a folded header", raw: "HTTP/1.1 200 OK\r\n X-A: b\r\n\r\n", err: errMalformedHeader},
		{name: "a header name with a space", raw: "HTTP/1.1 200 OK\r\nContent Length: 5\r\n\r\n", err: errMalformedHeader},
		{name: "content-length letters", raw: "HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n", err: errBadLength},
		{name: "content-length negative", raw: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", err: errBadLength},
		{name: "content-length empty", raw: "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", err: errBadLength},
		{name: "content-length huge", raw: "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", err: errBadLength},
		{name: "content-length twice, different", raw: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nhi", err: errBadLength},
		{name: "content-length list", raw: "HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nhi", err: errBadLength},
		{name: "transfer-encoding gzip", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", err: errBadTransfer},
		{name: "transfer-encoding twice", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", err: errBadTransfer},
		{name: "switching protocols", raw: "HTTP/1.1 101 Switching Protocols\r\n\r\n", err: errSwitchedProtocol},
		{name: "endless 1xx", raw: strings.Repeat("HTTP/1.1 103 Early Hints\r\n\r\n", 10), errText: "1xx"},
		{name: "huge headers", raw: "HTTP/1.1 200 OK\r\n" + strings.Repeat("X-Pad: "+strings.Repeat("p", 1000)+"\r\n", 70) + "\r\n", err: errHeadTooLarge},
		{name: "one huge header line", raw: "HTTP/1.1 200 OK\r\nX-Pad: " + strings.Repeat("p", 100<<10) + "\r\n\r\n", err: errHeadTooLarge},
		{name: "closed in the status line", raw: "HTTP/1.1 20", err: io.ErrUnexpectedEOF},
		{name: "closed in the headers", raw: "HTTP/1.1 200 OK\r\nContent-Len", err: io.ErrUnexpectedEOF},
		{name: "closed in the body", raw: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhel", status: 200, err: io.ErrUnexpectedEOF},
		{name: "closed before the body", raw: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", status: 200, err: io.ErrUnexpectedEOF},
		{name: "chunked, a bad size", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", status: 200, errText: "chunk"},
		{name: "chunked, a negative size", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n", status: 200, errText: "chunk"},
		{name: "chunked, a size too large", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\nhello\r\n", status: 200, errText: "chunk"},
		{name: "chunked, no CRLF after the data", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhiXX0\r\n\r\n", status: 200, errText: "chunk"},
		{name: "chunked, closed in a chunk", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\nhel", status: 200, err: io.ErrUnexpectedEOF},
		{name: "chunked, closed before the last chunk", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n", status: 200, err: io.ErrUnexpectedEOF},
		{name: "chunked, closed in the trailer", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\nX-A", status: 200, err: io.ErrUnexpectedEOF},
		{name: "gzip, not gzip", raw: "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 21\r\n\r\nhello world, not gzip", status: 200, errText: "gzip"},
		{name: "gzip, cut short", raw: "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n" + gzipped("hello")[:12], status: 200, err: io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, keep := range []bool{true, false} {
				h, body, n, complete, err := readResponse(strings.NewReader(tc.raw), keep)
				if tc.err != nil || tc.errText != "" {
					require.Error(t, err, "keep %v", keep)
					if tc.err != nil {
						assert.ErrorIs(t, err, tc.err, "keep %v", keep)
					}
					assert.Contains(t, err.Error(), tc.errText, "keep %v", keep)
					assert.False(t, complete, "a broken answer leaves a usable connection (keep %v)", keep)
					if tc.status != 0 {
						assert.Equal(t, tc.status, h.status)
					}
					continue
				}
				require.NoError(t, err, "keep %v", keep)
				assert.Equal(t, tc.status, h.status)
				assert.Equal(t, int64(len(tc.body)), n, "bytes read (keep %v)", keep)
				if keep {
					assert.Equal(t, tc.body, string(body))
				} else {
					assert.Empty(t, body)
				}
				assert.Equal(t, tc.complete, complete, "complete (keep %v)", keep)
				assert.Equal(t, tc.close, h.close, "close")
				assert.Equal(t, tc.location, h.location)
			}
		})
	}
}

// TestReadResponseLimit: a body longer than maxBody is cut there (as the net/http client's reader was
// limited), without an error, and the connection is not used again.
func TestReadResponseLimit(t *testing.T) {
	for _, hdr := range []string{fmt.Sprintf("Content-Length: %d", maxBody+10), "Transfer-Encoding: chunked", ""} {
		body := io.Reader(zeros{})
		if strings.Contains(hdr, "chunked") {
			body = httputilChunks{}
		}
		raw := io.MultiReader(strings.NewReader("HTTP/1.1 200 OK\r\n"+hdr+"\r\n\r\n"), body)
		_, _, n, complete, err := readResponse(raw, false)
		require.NoError(t, err, hdr)
		assert.Equal(t, int64(maxBody), n, hdr)
		assert.False(t, complete, hdr)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// httputilChunks is an endless chunked body of 4 KiB chunks.
type httputilChunks struct{}

func (httputilChunks) Read(p []byte) (int, error) {
	chunk := "1000\r\n" + strings.Repeat("z", 4096) + "\r\n"
	n := 0
	for n+len(chunk) <= len(p) {
		n += copy(p[n:], chunk)
	}
	if n == 0 {
		return copy(p, chunk), nil // a partial chunk: the reader above asks again
	}
	return n, nil
}

// FuzzReadResponse: whatever a server sends, the parser returns (no panic; the input is finite, so no
// hang) and what it reports is consistent.
func FuzzReadResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX: y\r\n\r\n",
		"HTTP/1.0 302 Found\r\nLocation: /x\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n" + gzipped("hello"),
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n",
		"garbage",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, keep := range []bool{true, false} {
			h, body, n, complete, err := readResponse(bytes.NewReader(raw), keep)
			if n < 0 || n > int64(len(raw)) && !h.gzip {
				t.Fatalf("%d body bytes read of %d", n, len(raw))
			}
			if keep && err == nil && int64(len(body)) != n {
				t.Fatalf("kept %d bytes, counted %d", len(body), n)
			}
			if err == nil && complete && h.hasBody() && !h.chunked && !h.gzip && h.length >= 0 && n != h.length {
				t.Fatalf("Content-Length %d, read %d", h.length, n)
			}
			if err != nil && complete {
				t.Fatalf("an error (%v) leaves the connection usable", err)
			}
		}
	})
}

// rawServer accepts connections on loopback and answers each request read on them with answer(n), n
// counting requests over all connections; it records the requests' heads.
type rawServer struct {
	ln       net.Listener
	accepts  atomic.Int32
	requests chan string
}

func startRaw(t *testing.T, answer func(n int, c net.Conn) bool) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &rawServer{ln: ln, requests: make(chan string, 100)}
	t.Cleanup(func() { ln.Close() })
	var n atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepts.Add(1)
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					var req strings.Builder
					for {
						line, err := br.ReadString('\n')
						if err != nil {
							return
						}
						req.WriteString(line)
						if line == "\r\n" {
							break
						}
					}
					select {
					case s.requests <- req.String():
					default:
					}
					if !answer(int(n.Add(1)), c) {
						return
					}
				}
			}()
		}
	}()
	return s
}

func (s *rawServer) url(path string) *url.URL {
	return &url.URL{Scheme: "http", Host: s.ln.Addr().String(), Path: path}
}

func newH1(t *testing.T) *h1Client {
	c := &h1Client{std: http.DefaultClient}
	t.Cleanup(c.close)
	return c
}

func ok(c net.Conn, body string) bool {
	_, err := fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	return err == nil
}

// TestH1KeepsItsConnection: requests reuse one connection, written as net/http writes them (the
// request target escaped, the Host, its User-Agent, gzip accepted).
func TestH1KeepsItsConnection(t *testing.T) {
	s := startRaw(t, func(n int, c net.Conn) bool { return ok(c, fmt.Sprint("answer ", n)) })
	c := newH1(t)
	for i := 1; i <= 3; i++ {
		u := s.url("/live/s/v.m3u8")
		u.RawQuery = "_HLS_msn=5&_HLS_part=1&nsid=a b"
		res, err := c.get(context.Background(), u, time.Now().Add(5*time.Second), true)
		require.NoError(t, err)
		assert.Equal(t, 200, res.status)
		assert.Equal(t, fmt.Sprint("answer ", i), string(res.body))
		assert.Equal(t, u, res.final)
		assert.Equal(t, "GET /live/s/v.m3u8?_HLS_msn=5&_HLS_part=1&nsid=a%20b HTTP/1.1\r\nHost: "+s.ln.Addr().String()+
			"\r\nUser-Agent: Go-http-client/1.1\r\nAccept-Encoding: gzip\r\n\r\n", <-s.requests)
	}
	assert.EqualValues(t, 1, s.accepts.Load(), "connections")
}

// TestH1Reconnects: a connection the server closed (after an answer saying so, or silently while idle)
// is replaced without an error; a fresh connection closed without an answer is an error, not a loop.
func TestH1Reconnects(t *testing.T) {
	t.Run("connection close", func(t *testing.T) {
		s := startRaw(t, func(n int, c net.Conn) bool {
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi")
			return false
		})
		c := newH1(t)
		for range 3 {
			_, err := c.get(context.Background(), s.url("/"), time.Now().Add(5*time.Second), false)
			require.NoError(t, err)
		}
		assert.EqualValues(t, 3, s.accepts.Load())
	})
	t.Run("closed while idle", func(t *testing.T) {
		s := startRaw(t, func(n int, c net.Conn) bool {
			ok(c, "hi")
			return false // closed after each answer, without saying so
		})
		c := newH1(t)
		for range 3 {
			res, err := c.get(context.Background(), s.url("/"), time.Now().Add(5*time.Second), true)
			require.NoError(t, err)
			assert.Equal(t, "hi", string(res.body))
			time.Sleep(20 * time.Millisecond) // the close reaches this side
		}
		assert.EqualValues(t, 3, s.accepts.Load())
	})
	t.Run("never answers", func(t *testing.T) {
		s := startRaw(t, func(int, net.Conn) bool { return false })
		c := newH1(t)
		_, err := c.get(context.Background(), s.url("/"), time.Now().Add(5*time.Second), true)
		require.ErrorIs(t, err, errNoAnswer)
		assert.EqualValues(t, 1, s.accepts.Load())
	})
	t.Run("refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		ln.Close()
		c := newH1(t)
		_, err = c.get(context.Background(), &url.URL{Scheme: "http", Host: addr, Path: "/"}, time.Now().Add(5*time.Second), true)
		require.ErrorIs(t, err, syscall.ECONNREFUSED)
	})
}

// TestH1TimesOut: a server that holds the request costs the player its deadline and no more; the end of
// the player's context cuts the request at once.
func TestH1TimesOut(t *testing.T) {
	hold := make(chan struct{})
	t.Cleanup(func() { close(hold) })
	s := startRaw(t, func(n int, c net.Conn) bool {
		if n == 1 {
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhel") // the rest never comes
		}
		<-hold
		return false
	})
	c := newH1(t)
	began := time.Now()
	res, err := c.get(context.Background(), s.url("/"), time.Now().Add(300*time.Millisecond), false)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, int64(3), res.n, "bytes read before the time-out")
	assert.Less(t, time.Since(began), 3*time.Second)

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	began = time.Now()
	_, err = c.get(ctx, s.url("/"), time.Now().Add(time.Minute), true)
	require.ErrorIs(t, err, context.Canceled)
	assert.Less(t, time.Since(began), 3*time.Second)
}

// TestH1Redirects: redirects are followed (relative and absolute, to another host), with the Referer
// net/http sends; a loop ends after maxRedirects; a redirect to https is made by the net/http client.
func TestH1Redirects(t *testing.T) {
	final := startRaw(t, func(n int, c net.Conn) bool { return ok(c, "edge") })
	var entry *rawServer
	entry = startRaw(t, func(n int, c net.Conn) bool {
		loc := "/next"
		if n == 2 {
			loc = final.url("/live/s/index.m3u8").String()
		}
		_, err := fmt.Fprintf(c, "HTTP/1.1 302 Found\r\nLocation: %s\r\nContent-Length: 3\r\n\r\nabc", loc)
		return err == nil
	})
	c := newH1(t)
	res, err := c.get(context.Background(), entry.url("/live/s/index.m3u8"), time.Now().Add(5*time.Second), true)
	require.NoError(t, err)
	assert.Equal(t, "edge", string(res.body))
	assert.Equal(t, final.url("/live/s/index.m3u8").String(), res.final.String())
	<-entry.requests
	assert.Contains(t, <-entry.requests, "GET /next HTTP/1.1\r\n")
	assert.Contains(t, <-final.requests, "Referer: "+entry.url("/next").String()+"\r\n")
	assert.EqualValues(t, 1, entry.accepts.Load(), "the redirect's connection was kept")

	loop := startRaw(t, func(n int, c net.Conn) bool {
		_, err := fmt.Fprintf(c, "HTTP/1.1 307 Temporary Redirect\r\nLocation: /again\r\nContent-Length: 0\r\n\r\n")
		return err == nil
	})
	_, err = c.get(context.Background(), loop.url("/"), time.Now().Add(5*time.Second), true)
	require.ErrorIs(t, err, errTooManyRedirects)

	tls := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "secure") }))
	t.Cleanup(tls.Close)
	toTLS := startRaw(t, func(n int, c net.Conn) bool {
		_, err := fmt.Fprintf(c, "HTTP/1.1 302 Found\r\nLocation: %s/x\r\nContent-Length: 0\r\n\r\n", tls.URL)
		return err == nil
	})
	c.std = tls.Client()
	res, err = c.get(context.Background(), toTLS.url("/"), time.Now().Add(5*time.Second), true)
	require.NoError(t, err)
	assert.Equal(t, "secure", string(res.body))
	assert.Equal(t, "https", res.final.Scheme)
}

// TestH1AgainstNetHTTPServer: the answers of Go's own server, whatever their framing (a Content-Length,
// chunked when flushed, gzip when the handler compresses), read as net/http's client reads them.
func TestH1AgainstNetHTTPServer(t *testing.T) {
	big := strings.Repeat("0123456789", 10_000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/chunked":
			for i := range 5 {
				fmt.Fprint(w, big[i*1000:(i+1)*1000])
				w.(http.Flusher).Flush()
			}
		case "/gzip":
			w.Header().Set("Content-Encoding", "gzip")
			gz := gzip.NewWriter(w)
			_, _ = gz.Write([]byte(big))
			_ = gz.Close()
		case "/missing":
			http.NotFound(w, r)
		default:
			_, _ = w.Write([]byte(big))
		}
	}))
	t.Cleanup(srv.Close)
	base, err := url.Parse(srv.URL)
	require.NoError(t, err)
	c := newH1(t)
	for path, want := range map[string]string{"/big": big, "/chunked": big[:5000], "/gzip": big, "/missing": "404 page not found\n"} {
		for _, keep := range []bool{true, false} {
			res, err := c.get(context.Background(), base.JoinPath(path), time.Now().Add(5*time.Second), keep)
			require.NoError(t, err, path)
			assert.Equal(t, int64(len(want)), res.n, path)
			if keep {
				assert.Equal(t, want, string(res.body), path)
			}
		}
	}
	res, err := c.get(context.Background(), base.JoinPath("/missing"), time.Now().Add(5*time.Second), true)
	require.NoError(t, err)
	assert.Equal(t, http.StatusNotFound, res.status)
}
