package http1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nagare-video/nagare/internal/netguard"
)

// serve starts a Server for h on 127.0.0.1:0 (its fallback the same handler) and returns its address.
func serve(t *testing.T, h http.Handler, set ...func(*Server)) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Handler: h, Fallback: &http.Server{Handler: h}}
	for _, f := range set {
		f(s)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve returned %v, want http.ErrServerClosed", err)
		}
	})
	return s, ln.Addr().String()
}

// exchange writes raw to a new connection and reads n answers from it.
func exchange(t *testing.T, addr, raw string, n int) ([]*http.Response, []string, net.Conn) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	var resps []*http.Response
	var bodies []string
	for i := 0; i < n; i++ {
		method := "GET"
		if strings.HasPrefix(raw, "HEAD") {
			method = "HEAD"
		}
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("answer %d body: %v", i, err)
		}
		resps, bodies = append(resps, resp), append(bodies, string(b))
	}
	return resps, bodies, c
}

// closed reports whether the server closes c (rather than waiting for a next request).
func closed(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	_, err := c.Read(make([]byte, 1))
	return errors.Is(err, io.EOF)
}

func TestRequestAsNetHTTPGivesIt(t *testing.T) {
	got := make(chan *http.Request, 1)
	_, addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r
		fmt.Fprint(w, "ok")
	}))
	resps, bodies, c := exchange(t, addr, "GET /live/a/index.m3u8?_HLS_msn=12&_HLS_part=3 HTTP/1.1\r\n"+
		"Host: edge.example:8080\r\nUser-Agent: test\r\naccept: */*\r\nX-Multi: 1\r\nX-Multi: 2\r\n"+
		"Pragma: no-cache\r\n\r\n", 1)
	r := <-got
	checks := []struct{ name, got, want string }{
		{"method", r.Method, "GET"},
		{"path", r.URL.Path, "/live/a/index.m3u8"},
		{"query", r.URL.RawQuery, "_HLS_msn=12&_HLS_part=3"},
		{"request URI", r.RequestURI, "/live/a/index.m3u8?_HLS_msn=12&_HLS_part=3"},
		{"host", r.Host, "edge.example:8080"},
		{"proto", r.Proto, "HTTP/1.1"},
		{"user agent", r.UserAgent(), "test"},
		{"lower-case name", r.Header.Get("Accept"), "*/*"},
		{"repeated header", strings.Join(r.Header["X-Multi"], ","), "1,2"},
		{"Host left out of Header", r.Header.Get("Host"), ""},
		{"Pragma: no-cache", r.Header.Get("Cache-Control"), "no-cache"},
		{"remote", r.RemoteAddr, c.LocalAddr().String()},
		{"body", bodies[0], "ok"},
		{"Content-Length", resps[0].Header.Get("Content-Length"), "2"},
		{"sniffed type", resps[0].Header.Get("Content-Type"), "text/plain; charset=utf-8"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: %q, want %q", c.name, c.got, c.want)
		}
	}
	if r.Body != http.NoBody || r.ContentLength != 0 || r.Close {
		t.Errorf("body %v, length %d, close %v: want NoBody, 0, false", r.Body, r.ContentLength, r.Close)
	}
	if resps[0].Header.Get("Date") == "" {
		t.Error("no Date header")
	}
	if err := r.Context().Err(); !errors.Is(err, context.Canceled) {
		t.Errorf("request context after the handler: %v, want canceled", err)
	}
	if r.Context().Value(http.LocalAddrContextKey) == nil {
		t.Error("no LocalAddrContextKey in the request's context")
	}
}

func TestAnswers(t *testing.T) {
	big := strings.Repeat("x", 5000)
	mux := http.NewServeMux()
	mux.HandleFunc("/small", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
		io.WriteString(w, "#EXTM3U\n")
	})
	mux.HandleFunc("/declared", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "5")
		io.WriteString(w, "hello")
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, big) })
	mux.HandleFunc("/empty", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("/nocontent", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
		if _, err := w.Write([]byte("x")); !errors.Is(err, http.ErrBodyNotAllowed) {
			panic(fmt.Sprintf("a body on 204: %v", err))
		}
	})
	mux.HandleFunc("/toolong", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "2")
		io.WriteString(w, "ab")
		if _, err := io.WriteString(w, "c"); !errors.Is(err, http.ErrContentLength) {
			panic(fmt.Sprintf("more than declared: %v", err))
		}
	})
	mux.HandleFunc("/short", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		io.WriteString(w, "abc")
	})
	mux.HandleFunc("/flushed", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "part one,")
		w.(http.Flusher).Flush()
		io.WriteString(w, "part two")
	})
	mux.HandleFunc("/injected", func(w http.ResponseWriter, r *http.Request) {
		w.Header()["X-Evil"] = []string{"a\r\nSet-Cookie: b"}
		w.Header()["Bad Name"] = []string{"c"}
		w.WriteHeader(http.StatusTeapot)
	})
	_, addr := serve(t, mux)

	cases := []struct {
		name, raw     string
		status        int
		body          string
		length        int64 // -1: chunked
		header, value string
		closes        bool
	}{
		{name: "small body gets a length", raw: "GET /small HTTP/1.1\r\nHost: a\r\n\r\n", status: 200, body: "#EXTM3U\n", length: 8,
			header: "Content-Type", value: "application/vnd.apple.mpegurl"},
		{name: "declared length", raw: "GET /declared HTTP/1.1\r\nHost: a\r\n\r\n", status: 200, body: "hello", length: 5},
		{name: "HEAD keeps the length, sends no body", raw: "HEAD /declared HTTP/1.1\r\nHost: a\r\n\r\n", status: 200, body: "", length: 5},
		{name: "long body is chunked", raw: "GET /big HTTP/1.1\r\nHost: a\r\n\r\n", status: 200, body: big, length: -1},
		{name: "nothing written", raw: "GET /empty HTTP/1.1\r\nHost: a\r\n\r\n", status: 200, body: "", length: 0},
		{name: "204", raw: "GET /nocontent HTTP/1.1\r\nHost: a\r\n\r\n", status: 204, body: "", length: 0},
		{name: "more than declared refused", raw: "GET /toolong HTTP/1.1\r\nHost: a\r\n\r\n", status: 200, body: "ab", length: 2},
		{name: "not found", raw: "GET /nothing HTTP/1.1\r\nHost: a\r\n\r\n", status: 404, body: "404 page not found\n", length: 19},
		{name: "flushed: chunked", raw: "GET /flushed HTTP/1.1\r\nHost: a\r\n\r\n", status: 200, body: "part one,part two", length: -1},
		{name: "no header injection", raw: "GET /injected HTTP/1.1\r\nHost: a\r\n\r\n", status: 418, length: 0,
			header: "X-Evil", value: "a Set-Cookie: b"},
		{name: "Connection: close", raw: "GET /small HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", status: 200, body: "#EXTM3U\n",
			length: 8, closes: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resps, bodies, c := exchange(t, addr, tc.raw, 1)
			r := resps[0]
			if r.StatusCode != tc.status || bodies[0] != tc.body {
				t.Errorf("%d %q, want %d %q", r.StatusCode, bodies[0], tc.status, tc.body)
			}
			if r.ContentLength != tc.length {
				t.Errorf("length %d, want %d (chunked: -1)", r.ContentLength, tc.length)
			}
			if tc.header != "" && r.Header.Get(tc.header) != tc.value {
				t.Errorf("%s: %q, want %q", tc.header, r.Header.Get(tc.header), tc.value)
			}
			if r.Header.Get("Set-Cookie") != "" || r.Header.Get("Bad Name") != "" {
				t.Errorf("injected header fields: %v", r.Header)
			}
			if got := closed(c); got != tc.closes {
				t.Errorf("connection closed: %v, want %v", got, tc.closes)
			}
		})
	}

	t.Run("short body closes the connection", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET /short HTTP/1.1\r\nHost: a\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, err := io.ReadAll(c)
		if err != nil || !strings.HasSuffix(string(b), "\r\n\r\nabc") {
			t.Errorf("read %q, %v: want the answer with its 3 bytes, then EOF", b, err)
		}
	})
}

func TestKeepAliveAndPipelining(t *testing.T) {
	_, addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.Path)
	}))
	var raw strings.Builder
	for i := range 50 {
		fmt.Fprintf(&raw, "GET /seg%d.mp4 HTTP/1.1\r\nHost: a\r\n\r\n", i)
	}
	_, bodies, c := exchange(t, addr, raw.String(), 50)
	for i, b := range bodies {
		if want := fmt.Sprintf("/seg%d.mp4", i); b != want {
			t.Fatalf("answer %d: %q, want %q", i, b, want)
		}
	}
	if closed(c) {
		t.Error("the connection closed after the pipelined requests")
	}

	// net/http's client, one connection reused
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	for i := range 20 {
		resp, err := client.Get(fmt.Sprintf("http://%s/p%d", addr, i))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != fmt.Sprintf("/p%d", i) {
			t.Fatalf("request %d: %q", i, b)
		}
	}
}

// TestHandsOff: what this server does not take reaches net/http with the connection's bytes intact,
// and net/http answers it as it always has.
func TestHandsOff(t *testing.T) {
	answer := func(by string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			b, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			fmt.Fprintf(w, "%s: %s %s %s body=%q", by, r.Method, r.URL.Path, r.Proto, b)
		}
	}
	_, addr := serve(t, answer("own"), func(s *Server) { s.Fallback.Handler = answer("net/http") })
	cases := []struct {
		name, raw string
		status    []int // one per answer
		bodies    []string
	}{
		{"POST with a body", "POST /whip HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nv=0\r\n",
			[]int{200}, []string{`net/http: POST /whip HTTP/1.1 body="v=0\r\n"`}},
		{"chunked body", "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
			[]int{200}, []string{`net/http: POST /x HTTP/1.1 body="abc"`}},
		{"GETs, then a POST, pipelined", "GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n" +
			"POST /c HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhiGET /d HTTP/1.1\r\nHost: a\r\n\r\n",
			[]int{200, 200, 200, 200}, []string{`own: GET /a HTTP/1.1 body=""`, `own: GET /b HTTP/1.1 body=""`,
				`net/http: POST /c HTTP/1.1 body="hi"`, `net/http: GET /d HTTP/1.1 body=""`}},
		{"HTTP/1.0", "GET /old HTTP/1.0\r\n\r\n", []int{200}, []string{`net/http: GET /old HTTP/1.0 body=""`}},
		{"absolute target", "GET http://a/abs HTTP/1.1\r\nHost: a\r\n\r\n", []int{200}, []string{`net/http: GET /abs HTTP/1.1 body=""`}},
		{"bare LF", "GET /lf HTTP/1.1\nHost: a\n\n", []int{200}, []string{`net/http: GET /lf HTTP/1.1 body=""`}},
		{"event stream", "GET /watch HTTP/1.1\r\nHost: a\r\nAccept: text/event-stream\r\n\r\n", []int{200},
			[]string{`net/http: GET /watch HTTP/1.1 body=""`}},
		{"a body of none", "DELETE /p HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", []int{200},
			[]string{`own: DELETE /p HTTP/1.1 body=""`}},
		{"missing Host", "GET / HTTP/1.1\r\n\r\n", []int{400}, nil},
		{"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", []int{400}, nil},
		{"invalid header name", "GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n", []int{400}, nil},
		{"control byte in a value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n", []int{400}, nil},
		{"garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", []int{400}, nil},
		{"header larger than the buffer", "GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("y", 2*readBufferSize) + "\r\n\r\n",
			[]int{200}, []string{`net/http: GET / HTTP/1.1 body=""`}},
		{"header larger than net/http's limit", "GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("y", 1<<20+4096) + "\r\n\r\n",
			[]int{431}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resps, bodies, _ := exchange(t, addr, tc.raw, len(tc.status))
			for i, r := range resps {
				if r.StatusCode != tc.status[i] {
					t.Errorf("answer %d: status %d, want %d (%q)", i, r.StatusCode, tc.status[i], bodies[i])
				}
				if tc.bodies != nil && bodies[i] != tc.bodies[i] {
					t.Errorf("answer %d: %q, want %q", i, bodies[i], tc.bodies[i])
				}
			}
		})
	}
}

func TestConnStates(t *testing.T) {
	var mu sync.Mutex
	var states []string
	record := func(c net.Conn, st http.ConnState) {
		mu.Lock()
		defer mu.Unlock()
		kind := "own"
		if _, ok := c.(*bufferedConn); ok {
			kind = "handed"
		}
		states = append(states, kind+":"+st.String())
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) })
	_, addr := serve(t, h, func(s *Server) { s.ConnState = record; s.Fallback.ConnState = record })
	_, _, c := exchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\n\r\nPOST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx", 2)
	c.Close()
	want := "own:new own:active own:idle own:hijacked handed:new handed:active handed:idle handed:closed"
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		got := strings.Join(states, " ")
		mu.Unlock()
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("states %q, want %q", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestTimeouts(t *testing.T) {
	_, addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), func(s *Server) {
		s.IdleTimeout, s.ReadHeaderTimeout = 300*time.Millisecond, 200*time.Millisecond
	})
	cases := []struct{ name, raw string }{
		{"idle after a request", "GET / HTTP/1.1\r\nHost: a\r\n\r\n"},
		{"silent from the start", ""},
		{"header never finished", "GET / HTTP/1.1\r\nHost: a\r\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			io.WriteString(c, tc.raw)
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadAll(c); err != nil {
				t.Errorf("the server did not close the connection: %v", err)
			}
		})
	}
}

func TestShutdown(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(started)
			<-release
		}
		io.WriteString(w, "done")
	})
	s, addr := serve(t, h)
	_, _, idle := exchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 1)
	busy, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	io.WriteString(busy, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
	<-started

	// a hook registered for Shutdown runs once the listener is closed: it releases the request in
	// flight here, as the node's edge releases the players' blocking reloads
	hooked := make(chan bool, 1)
	s.RegisterOnShutdown(func() {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		hooked <- err != nil
	})
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	if !closed(idle) {
		t.Error("the idle connection stayed open during Shutdown")
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a request in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	if refused := <-hooked; !refused {
		t.Error("the Shutdown hook ran while the listener still accepted")
	}
	close(release)
	busy.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, _ := io.ReadAll(busy)
	if !strings.Contains(string(b), "Connection: close") || !strings.HasSuffix(string(b), "done") {
		t.Errorf("the request in flight got %q: want its answer, with Connection: close", b)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("still accepting after Shutdown")
	}
}

func TestPanickingHandler(t *testing.T) {
	_, addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/panic" {
			panic("boom")
		}
		io.WriteString(w, "fine")
	}))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /panic HTTP/1.1\r\nHost: a\r\n\r\n")
	if !closed(c) {
		t.Error("the connection of a panicking handler stayed open")
	}
	if _, bodies, _ := exchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 1); bodies[0] != "fine" {
		t.Errorf("after a panic: %q", bodies[0])
	}
}

// TestReadFrom: a body given to the writer's ReadFrom with a declared length goes to the connection's
// ReadFrom (sendfile for a file), after the header.
func TestReadFrom(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seg.mp4")
	data := []byte(strings.Repeat("0123456789", 30_000))
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Open(path)
		if err != nil {
			panic(err)
		}
		defer f.Close()
		f.Seek(10, io.SeekStart)
		w.Header().Set("Content-Type", "video/mp4")
		w.Header().Set("Content-Length", fmt.Sprint(len(data)-20))
		if _, ok := w.(io.ReaderFrom); !ok {
			panic("no ReadFrom")
		}
		io.Copy(w, &io.LimitedReader{R: f, N: int64(len(data) - 20)})
	}))
	_, bodies, c := exchange(t, addr, "GET /a HTTP/1.1\r\nHost: a\r\n\r\n", 1)
	if bodies[0] != string(data[10:len(data)-10]) {
		t.Errorf("body of %d bytes, want %d", len(bodies[0]), len(data)-20)
	}
	if closed(c) {
		t.Error("connection closed after a file answer")
	}
}

// TestEmptyBodyIsNotHeld: an answer of declared length 0 given to ReadFrom on a connection of
// internal/netguard (which sends a header before a file with MSG_MORE) leaves at once: nothing of it
// waits in the socket for a body that will not come (the kernel would hold it up to 200 ms).
func TestEmptyBodyIsNotHeld(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("MSG_MORE and TCP_INFO are Linux's")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	held := make(chan int, 1)
	s := &Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "video/mp4")
			w.Header().Set("Content-Length", "0")
			io.Copy(w, &io.LimitedReader{R: strings.NewReader(""), N: 0})
		}),
		Fallback: &http.Server{},
		ConnState: func(c net.Conn, st http.ConnState) {
			if st != http.StateIdle {
				return
			}
			tc := c.(interface{ NetConn() net.Conn }).NetConn().(*net.TCPConn)
			rc, _ := tc.SyscallConn()
			_ = rc.Control(func(fd uintptr) {
				info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
				if err == nil {
					held <- int(info.Notsent_bytes)
				}
			})
		},
	}
	go s.Serve(netguard.New(ln, 4, nil))
	defer s.Close()
	resps, _, _ := exchange(t, ln.Addr().String(), "GET /empty HTTP/1.1\r\nHost: a\r\n\r\n", 1)
	if resps[0].StatusCode != http.StatusOK || resps[0].ContentLength != 0 {
		t.Fatalf("answer %d, length %d", resps[0].StatusCode, resps[0].ContentLength)
	}
	if n := <-held; n != 0 {
		t.Errorf("%d bytes of the answer held in the socket after it was sent", n)
	}
}
