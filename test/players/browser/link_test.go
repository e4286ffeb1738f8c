package browser

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// link is a TCP proxy in front of a server whose answers (server to player) share one narrow link of a
// settable rate, as a phone's radio link is shared by a player's requests: the bytes leave in packets of
// linkPacket bytes, each sent once the link has carried the packets before it, whatever connection they
// belong to. A request's first byte then waits for the answers ahead of it and its body arrives at the
// link's rate, as on a real network; the DevTools protocol's emulation instead hands a small answer over
// whole after its transfer time, which hls.js counts as time to first byte. The player's requests go up
// unlimited. Its control answers GET /rate?kbps=N (0: unlimited again), as run.mjs calls it for a
// throttle step.
type link struct {
	target  string
	ln      net.Listener
	control *http.Server
	ctrlURL string

	mu   sync.Mutex
	bps  int64     // 0: unlimited
	free time.Time // when the link has sent everything queued so far
}

// linkPacket is a TCP segment's payload on an Ethernet path.
const linkPacket = 1448

// startLink starts a link in front of target (host:port) and its control, closed when t ends.
func startLink(t *testing.T, target string) *link {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	cln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	l := &link{target: target, ln: ln, ctrlURL: "http://" + cln.Addr().String() + "/rate"}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /rate", func(w http.ResponseWriter, r *http.Request) {
		kbps, err := strconv.Atoi(r.URL.Query().Get("kbps"))
		if err != nil || kbps < 0 {
			http.Error(w, "kbps: a rate in kbit/s, 0 for none", http.StatusBadRequest)
			return
		}
		l.setRate(int64(kbps) * 1000)
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.WriteHeader(http.StatusNoContent)
	})
	l.control = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = l.control.Serve(cln) }()
	var conns sync.WaitGroup
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer conns.Done()
				l.proxy(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		l.control.Close()
		conns.Wait()
	})
	return l
}

// addr is where players connect.
func (l *link) addr() string { return l.ln.Addr().String() }

func (l *link) setRate(bps int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bps = bps
	l.free = time.Time{}
}

// slot reserves the link for n bytes and returns when they will have been sent.
func (l *link) slot(n int) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if l.bps == 0 {
		return now
	}
	if l.free.Before(now) {
		l.free = now
	}
	l.free = l.free.Add(time.Duration(int64(n) * 8 * int64(time.Second) / l.bps))
	return l.free
}

// proxy carries one player connection to the target: requests as they come, answers through the link.
func (l *link) proxy(c net.Conn) {
	defer c.Close()
	up, err := net.Dial("tcp", l.target)
	if err != nil {
		return
	}
	defer up.Close()
	go func() {
		_, _ = io.Copy(up, c)
		_ = up.(*net.TCPConn).CloseWrite()
	}()
	buf := make([]byte, linkPacket)
	for {
		n, err := up.Read(buf)
		if n > 0 {
			time.Sleep(time.Until(l.slot(n)))
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				_ = c.(*net.TCPConn).CloseWrite()
			}
			return
		}
	}
}
