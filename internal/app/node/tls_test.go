package node_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/media/stream"
	"github.com/nagare-video/nagare/internal/testutil"
	"github.com/nagare-video/nagare/internal/testutil/managertest"
	"github.com/nagare-video/nagare/internal/testutil/tlstest"
	"github.com/nagare-video/nagare/internal/tlsconf"
)

// TestClusterOverTLS runs a manager, an origin and an edge that serve TLS from certificate files of a
// CA they trust (tls.caFile): nodes register and report over HTTPS, the publisher is routed to the
// origin's RTMPS port and publishes there, the viewer entry redirects to the
// edge's https URL, the edge pulls from the origin over HTTPS, the manager's recording command reaches the
// origin over HTTPS, ffprobe plays the stream through the manager with the CA, and every answer carries
// HSTS.
func TestClusterOverTLS(t *testing.T) {
	testutil.RequireFFmpeg(t)
	ca := tlstest.NewCA(t)
	cert, key := ca.Issue(t, "nagare", time.Time{}, time.Time{})
	withTLS := func(c *config.Config) { c.TLS = config.TLS{CertFile: cert, KeyFile: key, CAFile: ca.File} }
	mgr, _ := managertest.Start(t, func(c *config.Config) {
		withTLS(c)
		c.Manager.ReportInterval = time.Second
	})
	require.True(t, strings.HasPrefix(mgr, "https://"))
	join := func(c *config.Config, id string) {
		withTLS(c)
		c.Cluster.ManagerURL, c.Cluster.Secret, c.Cluster.NodeID = mgr, managertest.ClusterSecret, id
	}
	origin, _ := testutil.StartNode(t, func(c *config.Config) {
		join(c, "tls-origin")
		c.Storage = config.Storage{Backend: "local", Directory: t.TempDir()} // where the recording goes
		c.Publish.Keys = map[string]string{"live/tls": "tls-stream-key"}
		c.RTMPS = config.Listen{Enabled: true, Address: "127.0.0.1:0"}
	})
	edge, edgeLogs := testutil.StartNode(t, func(c *config.Config) {
		join(c, "tls-edge")
		c.Node.Role = "edge"
	})

	clientTLS, err := tlsconf.ClientConfig(ca.File)
	require.NoError(t, err)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS}, Timeout: 10 * time.Second}
	get := func(url string) (*http.Response, string) {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+managertest.AdminToken)
		resp, err := client.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	var nodes []struct {
		ID, State string
		Addresses struct{ TLS bool }
	}
	require.Eventually(t, func() bool {
		_, body := get(mgr + "/api/v1/nodes")
		in := 0
		if json.Unmarshal([]byte(body), &nodes) == nil {
			for _, n := range nodes {
				if n.State == "inservice" && n.Addresses.TLS {
					in++
				}
			}
		}
		return in == 2
	}, 20*time.Second, 200*time.Millisecond, "the nodes never came into service over HTTPS, with https addresses")
	var body string

	// the publisher asks where to publish and takes RTMPS
	var route struct{ RTMPSURL string }
	_, body = get(mgr + "/api/v1/route/publish/live/tls")
	require.NoError(t, json.Unmarshal([]byte(body), &route), body)
	require.Equal(t, "rtmps://"+origin.RTMPSAddr()+"/live/tls", route.RTMPSURL)
	testutil.Publish(t, route.RTMPSURL+"?key=tls-stream-key", "flv")
	entry := mgr + "/live/tls/index.m3u8"
	var resp *http.Response
	require.Eventually(t, func() bool {
		resp, body = get(entry)
		return resp.StatusCode == http.StatusOK && strings.Contains(body, "#EXT-X-STREAM-INF")
	}, 30*time.Second, 250*time.Millisecond, "the stream never played through the manager and the edge over HTTPS")
	require.Equal(t, "https://"+edge.HTTPAddr()+"/live/tls/index.m3u8", resp.Request.URL.String(), "the redirect is to the edge's https URL")
	require.Equal(t, "max-age=31536000", resp.Header.Get("Strict-Transport-Security"))
	require.NotContains(t, edgeLogs.String(), "certificate signed by unknown authority")
	require.Equal(t, "rtmps", origin.Registry().Get(stream.Path{App: "live", Name: "tls"}).Protocol)

	// the manager's command reaches the origin over HTTPS
	req, err := http.NewRequest(http.MethodPut, mgr+"/api/v1/streams/live/tls/recording", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+managertest.AdminToken)
	rec, err := client.Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(rec.Body)
	rec.Body.Close()
	require.Equal(t, http.StatusOK, rec.StatusCode, "%s", b)
	require.Contains(t, string(b), "tls-origin")

	// a third-party player: ffprobe through the manager, trusting the CA
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-ca_file", ca.File, "-tls_verify", "1",
		"-show_entries", "stream=codec_type", "-of", "csv=p=0", entry).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "video")

	// a client that does not trust the CA is refused
	_, err = (&http.Client{Timeout: 5 * time.Second}).Get(entry)
	require.ErrorContains(t, err, "certificate")
	// plain HTTP on the TLS port gets no stream
	plain, err := http.Get("http://" + edge.HTTPAddr() + "/live/tls/index.m3u8")
	if err == nil {
		plain.Body.Close()
		require.Equal(t, http.StatusBadRequest, plain.StatusCode)
	}
	var hs tls.ConnectionState
	conn, err := tls.Dial("tcp", origin.HTTPAddr(), clientTLS)
	require.NoError(t, err)
	hs = conn.ConnectionState()
	conn.Close()
	require.GreaterOrEqual(t, hs.Version, uint16(tls.VersionTLS12))
}
