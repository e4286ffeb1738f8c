package manager_test

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
	"github.com/nagare-video/nagare/internal/testutil/managertest"
)

// startSQLite runs a manager on a SQLite store of its own and returns its address.
func startSQLite(t *testing.T, mutate func(*config.Config)) string {
	t.Helper()
	base, _ := managertest.Start(t, func(c *config.Config) {
		c.Manager.AdminToken, c.Cluster.Secret = token, secret
		mutate(c)
	})
	return strings.TrimPrefix(base, "http://")
}

// TestSlowBodies is issue 10's slow-body finding on the manager: 300 unauthenticated requests that
// announce a 200,000-byte body and send none held the port open for good. A body on a request that takes
// none is refused at once; any other must arrive within manager.readTimeout, or the connection is closed.
func TestSlowBodies(t *testing.T) {
	const readTimeout = 500 * time.Millisecond
	addr := startSQLite(t, func(c *config.Config) { c.Manager.ReadTimeout = readTimeout })
	for _, tc := range []struct {
		name     string
		requests []string
		status   string // the answer, if any, before the server closes
		within   time.Duration
	}{
		{"writes, unauthenticated", []string{"POST /api/v1/scalepolicies", "PUT /api/v1/alarms/edge",
			"POST /streammanager/api/3.1/admin/configurations/scalepolicy"}, "HTTP/1.1 401 ", readTimeout + 2*time.Second},
		{"node protocol, unauthenticated", []string{"POST /nodeapi/register", "POST /nodeapi/report"}, "",
			readTimeout + 2*time.Second},
		{"reads with a body", []string{"GET /healthz", "GET /live/cam/index.m3u8", "DELETE /api/v1/nodegroups/g",
			"GET /streammanager/api/3.1/event/live/cam?action=subscribe"}, "HTTP/1.1 413 ", 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			conns := make([]net.Conn, 100)
			start := time.Now()
			for i := range conns {
				c, err := net.Dial("tcp", addr)
				require.NoError(t, err)
				defer c.Close()
				_, err = fmt.Fprintf(c, "%s HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n", tc.requests[i%len(tc.requests)])
				require.NoError(t, err)
				conns[i] = c
			}
			for i, c := range conns {
				require.NoError(t, c.SetReadDeadline(start.Add(tc.within)))
				got, err := io.ReadAll(c)
				require.False(t, isTimeout(err), "connection %d (%s) still open after %s: read %q",
					i, tc.requests[i%len(tc.requests)], tc.within, got)
				require.True(t, strings.HasPrefix(string(got), tc.status), "%q", got)
			}
		})
	}

	t.Run("a body that arrives is read", func(t *testing.T) {
		t.Parallel()
		req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/api/v1/scalepolicies",
			strings.NewReader(`{"name":"p1","targets":[{"role":"edge","minLimit":1,"maxLimit":2,"scaleAdjustment":1}]}`))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		require.Equal(t, http.StatusCreated, res.StatusCode, "%s", b)
	})
}

// TestConnectionCap checks manager.maxConnections: with the cap's worth of connections open, one more is
// closed at once rather than served or left to wait, and once they close the port serves again.
func TestConnectionCap(t *testing.T) {
	const capacity = 10
	addr := startSQLite(t, func(c *config.Config) { c.Manager.MaxConnections = capacity })
	release := testutil.RequireCapped(t, addr, capacity) // silent: held until the 5 s header timeout
	release()
	testutil.WaitHealthy(t, addr)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
