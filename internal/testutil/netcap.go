package testutil

import (
	"errors"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// RequireCapped opens capacity silent connections to addr, then one more, and requires that the extra one
// is closed at once (not served, not left waiting). It returns a function that closes the held ones.
func RequireCapped(t *testing.T, addr string, capacity int) (release func()) {
	t.Helper()
	held := make([]net.Conn, 0, capacity)
	release = func() {
		for _, c := range held {
			c.Close()
		}
	}
	t.Cleanup(release)
	for range capacity {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		held = append(held, c)
	}
	// the port accepts in order, so this one comes after the cap's worth that are held
	over, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer over.Close()
	require.NoError(t, over.SetReadDeadline(time.Now().Add(3*time.Second)))
	_, err = over.Read(make([]byte, 1))
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "a connection beyond the cap is served or left waiting")
	require.True(t, errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET), "%v", err)
	return release
}

// WaitHealthy waits until http://addr/healthz answers 200.
func WaitHealthy(t *testing.T, addr string) {
	t.Helper()
	require.Eventually(t, func() bool {
		res, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	}, 5*time.Second, 20*time.Millisecond, "%s does not serve /healthz", addr)
}

// SharedLoopbackPort returns a TCP port free on every one of the loopback addresses: nodes that must
// listen on one port of several hosts (HLS content steering replaces the host name, never the port).
func SharedLoopbackPort(t testing.TB, hosts ...string) string {
	t.Helper()
	for range 20 {
		ln, err := net.Listen("tcp", net.JoinHostPort(hosts[0], "0"))
		require.NoError(t, err)
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		ln.Close()
		free := true
		for _, h := range hosts[1:] {
			l, err := net.Listen("tcp", net.JoinHostPort(h, port))
			if err != nil {
				free = false
				break
			}
			l.Close()
		}
		if free {
			return port
		}
	}
	t.Fatalf("no port free on all of %v", hosts)
	return ""
}
