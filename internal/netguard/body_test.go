package netguard

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const bodyTimeout = 300 * time.Millisecond

// guarded serves BodyGuard{WriteMethods} with a ReadTimeout of bodyTimeout, as nagare's servers are set up,
// over handlers that read a body (/echo), ignore it
// (/unauthorized), or hold the response like an LL-HLS blocking playlist request (/hold, after reading
// the body if any). /hold answers 200 only if its request context lived through the hold.
func guarded(t *testing.T) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_, _ = io.WriteString(w, strconv.Itoa(len(b)))
	})
	mux.HandleFunc("/unauthorized", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "no", http.StatusUnauthorized)
	})
	mux.HandleFunc("/hold", func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		select {
		case <-time.After(3 * bodyTimeout):
			_, _ = io.WriteString(w, "held")
		case <-r.Context().Done():
			http.Error(w, "cancelled", http.StatusGatewayTimeout)
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{
		Handler:           BodyGuard{Takes: WriteMethods}.Handler(mux),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       bodyTimeout,
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// exchange sends raw (headers, maybe a partial body) and reads until the server closes the connection. It
// returns the response's status line and how long the server took to close; it fails the test if the
// server keeps the connection open for 5 s.
func exchange(t *testing.T, addr, raw string) (string, time.Duration) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	start := time.Now()
	_, err = io.WriteString(c, raw)
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	got, err := io.ReadAll(c)
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "the server still holds the connection after 5 s; read %q", got)
	status, _, _ := strings.Cut(string(got), "\r\n")
	return status, time.Since(start)
}

func TestBodyGuard(t *testing.T) {
	addr := guarded(t)
	for _, tc := range []struct {
		name       string
		raw        string
		wantStatus string // "" when the server may close without answering
		atLeast    time.Duration
	}{
		{"GET announcing a body it never sends", "GET /hold HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n",
			"HTTP/1.1 413", 0},
		{"HEAD with a body", "HEAD /hold HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", "HTTP/1.1 413", 0},
		{"OPTIONS with a chunked body", "OPTIONS /hold HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
			"HTTP/1.1 413", 0},
		{"DELETE with a body", "DELETE /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n", "HTTP/1.1 413", 0},
		{"POST whose body never comes, to a handler that reads it",
			"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n", "", bodyTimeout},
		{"POST whose body never comes, to a handler that ignores it",
			"POST /unauthorized HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n", "HTTP/1.1 401", bodyTimeout},
		{"POST whose body stops half way", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello", "",
			bodyTimeout},
		{"PUT with a chunked body that never ends", "PUT /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
			"", bodyTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			status, took := exchange(t, addr, tc.raw)
			if tc.wantStatus != "" {
				require.Equal(t, tc.wantStatus+" "+http.StatusText(mustAtoi(t, tc.wantStatus[9:])), status)
			}
			// the server's deadline may start (at accept) a little before the client's clock (after the dial)
			// does; a tenth of slack keeps the point: the connection is not closed at once
			require.GreaterOrEqual(t, took, tc.atLeast*9/10)
			require.Less(t, took, tc.atLeast+2*time.Second, "closed within the body timeout")
		})
	}
}

func mustAtoi(t *testing.T, s string) int {
	n, err := strconv.Atoi(s)
	require.NoError(t, err)
	return n
}

// TestBodyGuardRefusalIsJSON checks the refusal's body.
func TestBodyGuardRefusalIsJSON(t *testing.T) {
	addr := guarded(t)
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	_, err = io.WriteString(c, "GET /hold HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n")
	require.NoError(t, err)
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode)
	require.Equal(t, "application/json", res.Header.Get("Content-Type"))
	require.True(t, res.Close, "the connection is closed rather than drained")
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.JSONEq(t, `{"error":"this endpoint takes no request body"}`, string(b))
}

// TestBodyGuardKeepsRequestsThatTakeTheirTime checks what the guard and the read timeout must leave alone:
// bodies that arrive, and requests (with or without a body) whose response takes longer than the read
// timeout, as LL-HLS blocking playlist requests do.
func TestBodyGuardKeepsRequestsThatTakeTheirTime(t *testing.T) {
	addr := guarded(t)
	for _, tc := range []struct {
		name, method, path, body, want string
	}{
		{"POST with a body", http.MethodPost, "/echo", "hello", "5"},
		{"GET held longer than the body timeout", http.MethodGet, "/hold", "", "held"},
		{"POST held longer than the body timeout after its body", http.MethodPost, "/hold", "hello", "held"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			req, err := http.NewRequest(tc.method, "http://"+addr+tc.path, body)
			require.NoError(t, err)
			res, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer res.Body.Close()
			b, err := io.ReadAll(res.Body)
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, res.StatusCode, string(b))
			require.Equal(t, tc.want, string(b))
		})
	}
}
