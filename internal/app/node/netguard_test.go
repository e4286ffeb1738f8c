package node_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/testutil"
)

// TestHTTPRefusesBodies is issue 10's slow-body finding: 300 requests that announce a 200,000-byte body
// and send none held an origin's or an edge's HTTP port open for good (net/http waits to drain the body
// after the handler). No endpoint of a node takes a body, so each is answered 413 at once and closed.
func TestHTTPRefusesBodies(t *testing.T) {
	origin, _ := testutil.StartNode(t, nil)
	edge, _ := testutil.StartNode(t, testutil.EdgeOf("edge", origin))
	for _, tc := range []struct {
		role string
		addr string
	}{{"origin", origin.HTTPAddr()}, {"edge", edge.HTTPAddr()}} {
		t.Run(tc.role, func(t *testing.T) {
			t.Parallel()
			requests := []string{"POST /live/cam/index.m3u8", "GET /live/cam/index.m3u8", "GET /healthz",
				"PUT /api/v1/recordings/live/cam", "OPTIONS /live/cam/stream.m3u8", "POST /metrics"}
			conns := make([]net.Conn, 300)
			for i := range conns {
				c, err := net.Dial("tcp", tc.addr)
				require.NoError(t, err)
				defer c.Close()
				_, err = fmt.Fprintf(c, "%s HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n", requests[i%len(requests)])
				require.NoError(t, err)
				conns[i] = c
			}
			deadline := time.Now().Add(5 * time.Second)
			for i, c := range conns {
				require.NoError(t, c.SetReadDeadline(deadline))
				got, err := io.ReadAll(c)
				require.False(t, isTimeout(err), "connection %d (%s) still open: read %q", i, requests[i%len(requests)], got)
				require.True(t, strings.HasPrefix(string(got), "HTTP/1.1 413 "), "%q", got)
				require.Contains(t, string(got), `{"error":"this endpoint takes no request body"}`)
			}
			res, err := http.Get("http://" + tc.addr + "/healthz")
			require.NoError(t, err)
			res.Body.Close()
			require.Equal(t, http.StatusOK, res.StatusCode)
		})
	}
}

// TestConnectionCap checks node.maxConnections on the HTTP port of an origin and an edge and on the RTMP
// port: with the cap's worth of connections open, one more is closed at once rather than served (or left
// to wait), and once they close the port serves again.
func TestConnectionCap(t *testing.T) {
	const capacity = 10
	limit := func(c *config.Config) { c.Node.MaxConnections = capacity }
	origin, _ := testutil.StartNode(t, limit)
	edge, _ := testutil.StartNode(t, func(c *config.Config) { testutil.EdgeOf("edge", origin)(c); limit(c) })
	for _, tc := range []struct {
		name string
		addr string
	}{{"origin http", origin.HTTPAddr()}, {"edge http", edge.HTTPAddr()}, {"origin rtmp", origin.RTMPAddr()}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// silent: held until the header (HTTP) or handshake (RTMP) timeout, 5 s and more
			release := testutil.RequireCapped(t, tc.addr, capacity)
			release()
			if strings.HasSuffix(tc.name, "rtmp") {
				require.Eventually(t, func() bool { return rtmpAnswers(tc.addr) }, 5*time.Second, 20*time.Millisecond)
				return
			}
			testutil.WaitHealthy(t, tc.addr)
		})
	}
}

// rtmpAnswers reports whether addr answers an RTMP handshake (C0+C1) with S0.
func rtmpAnswers(addr string) bool {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write(append([]byte{3}, make([]byte, 1536)...)); err != nil {
		return false
	}
	s0 := make([]byte, 1)
	_, err = io.ReadFull(c, s0)
	return err == nil && s0[0] == 3
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
