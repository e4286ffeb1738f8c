package manager_test

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/testutil/acmetest"
	"github.com/nagare-video/nagare/internal/testutil/managertest"
	"github.com/nagare-video/nagare/internal/testutil/tlstest"
)

// TestACME: a manager with tls.acme obtains its certificate from pebble (Let's Encrypt's ACME test
// server), which validates the challenge by connecting to the manager, and serves it with HSTS; its
// HTTP-01 port redirects to https. Restarted while the authority is down, it serves the certificate it
// keeps in its cache; a manager with nothing cached and no authority says why in its log.
func TestACME(t *testing.T) {
	const name = "manager.nagare.test"
	ca := tlstest.NewCA(t)
	port, httpPort := acmetest.FreePort(t), acmetest.FreePort(t)
	pebble := acmetest.Start(t, ca, port, httpPort)
	cache := t.TempDir()
	acme := func(c *config.Config) {
		c.Manager.Address = "127.0.0.1:" + strconv.Itoa(port)
		c.TLS.ACME = config.ACME{Domains: []string{name}, Email: "ops@nagare.test", DirectoryURL: pebble.Directory,
			CacheDir: cache, CAFile: ca.File, HTTPAddress: "127.0.0.1:" + strconv.Itoa(httpPort)}
	}
	stop, logs := startACMEManager(t, acme)
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "acme: certificate ready") },
		60*time.Second, 100*time.Millisecond, "no certificate from pebble")

	client := pebble.ClientFor(t, name)
	base := "https://" + name + ":" + strconv.Itoa(port)
	resp, err := client.Get(base + "/healthz")
	require.NoError(t, err, "the manager's certificate does not verify against pebble's root")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	require.Equal(t, "max-age=31536000", resp.Header.Get("Strict-Transport-Security"))
	require.Equal(t, name, resp.TLS.PeerCertificates[0].DNSNames[0])

	noRedirect := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, err := http.NewRequest(http.MethodGet, "http://127.0.0.1:"+strconv.Itoa(httpPort)+"/api/v1/nodes", nil)
	require.NoError(t, err)
	req.Host = name
	resp, err = noRedirect.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode)
	require.Equal(t, "https://"+name+"/api/v1/nodes", resp.Header.Get("Location"))

	// the authority goes away; the manager restarts and serves the certificate from its cache
	root := pebble.ClientFor(t, name) // pebble's root, fetched while it runs
	pebble.Stop()
	stop()
	stop, _ = startACMEManager(t, acme)
	resp, err = root.Get(base + "/healthz")
	require.NoError(t, err, "the cached certificate was not served")
	resp.Body.Close()
	stop()

	// nothing cached and no authority: handshakes fail, and the log says why
	_, logs = startACMEManager(t, func(c *config.Config) {
		acme(c)
		c.TLS.ACME.CacheDir = t.TempDir()
	})
	_, err = root.Get(base + "/healthz")
	require.Error(t, err)
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "acme: certificate not obtained") },
		30*time.Second, 100*time.Millisecond)
}

// startACMEManager runs a manager; stop ends it before the test does (the next one may take its port).
func startACMEManager(t *testing.T, mutate func(*config.Config)) (stop func(), logs interface{ String() string }) {
	t.Helper()
	return managertest.StartStoppable(t, mutate)
}
