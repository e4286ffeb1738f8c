package manager_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/testutil"
	"github.com/nagare-video/nagare/internal/testutil/acmetest"
	"github.com/nagare-video/nagare/internal/testutil/managertest"
	"github.com/nagare-video/nagare/internal/testutil/tlstest"
)

// shortLived is the lifetime of the certificates pebble issues in these tests: autocert renews a
// certificate when a third of its lifetime remains, here about 20 s after it was issued.
const shortLived = 30 * time.Second

// acmeManager runs a manager on port whose certificate for name comes from the ACME directory (TLS-ALPN-01
// only), trusting ca for the directory's HTTPS, with the production defaults for everything else.
func acmeManager(t *testing.T, name string, port int, directory string, ca *tlstest.CA) *testutil.LogBuffer {
	t.Helper()
	_, logs := managertest.StartStoppable(t, func(c *config.Config) {
		c.Manager.Address = "127.0.0.1:" + strconv.Itoa(port)
		c.TLS.ACME = config.ACME{Domains: []string{name}, DirectoryURL: directory, CacheDir: t.TempDir(), CAFile: ca.File}
	})
	return logs
}

func skipShort(t *testing.T) {
	if testing.Short() {
		t.Skip("an ACME integration test: pebble, and certificates that live 30 s")
	}
}

// handshaker makes new TLS connections to name on 127.0.0.1:port, verifying the certificate against
// pebble's root, and returns the leaf served.
func handshaker(root []byte, name string, port int) func() (*x509.Certificate, error) {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(root)
	cfg := &tls.Config{RootCAs: pool, ServerName: name}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	return func() (*x509.Certificate, error) {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0], nil
	}
}

// keptConn is an HTTPS client on one connection, dialled once: a viewer that stays connected.
type keptConn struct {
	client *http.Client
	dials  atomic.Int32
	url    string
}

func newKeptConn(t *testing.T, root []byte, name string, port int) *keptConn {
	t.Helper()
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(root))
	k := &keptConn{url: fmt.Sprintf("https://%s:%d/healthz", name, port)}
	dialer := &tls.Dialer{Config: &tls.Config{RootCAs: pool, ServerName: name}}
	k.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		MaxConnsPerHost: 1,
		DialTLSContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			k.dials.Add(1)
			return dialer.DialContext(ctx, network, "127.0.0.1:"+strconv.Itoa(port))
		},
	}}
	t.Cleanup(k.client.CloseIdleConnections)
	return k
}

// get asks for /healthz and reads the whole answer, leaving the connection open for the next request.
func (k *keptConn) get(t *testing.T) *x509.Certificate {
	t.Helper()
	resp, err := k.client.Get(k.url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", b)
	return resp.TLS.PeerCertificates[0]
}

// shortLivedRig is a manager serving name with a certificate from a pebble that issues short-lived ones,
// its first certificate, and a viewer's connection opened with it.
type shortLivedRig struct {
	pebble    *acmetest.Pebble
	logs      *testutil.LogBuffer
	handshake func() (*x509.Certificate, error)
	first     *x509.Certificate
	viewer    *keptConn
}

func startShortLived(t *testing.T, name string) shortLivedRig {
	t.Helper()
	ca := tlstest.NewCA(t)
	port := acmetest.FreePort(t)
	r := shortLivedRig{pebble: acmetest.StartWith(t, ca, acmetest.Options{TLSPort: port, HTTPPort: acmetest.FreePort(t), Validity: shortLived})}
	r.logs = acmeManager(t, name, port, r.pebble.Directory, ca)
	r.logs.WaitFor(t, "acme: certificate ready", 60*time.Second)
	root := r.pebble.Root(t)
	r.handshake = handshaker(root, name, port)
	var err error
	r.first, err = r.handshake()
	require.NoError(t, err, "the first certificate does not verify against pebble's root")
	require.LessOrEqual(t, r.first.NotAfter.Sub(r.first.NotBefore), shortLived, "pebble did not issue a short-lived certificate")
	r.viewer = newKeptConn(t, root, name, port)
	return r
}

// TestACMERenewal: a manager renews its ACME certificate from pebble ahead of expiry, without a restart
// and while serving: every handshake until the renewal gets the first certificate, the renewed one (a new
// serial, a later expiry) is served from a handshake made before the first expires, a viewer's
// connection opened before the renewal is still the one answering after it, and the log says so.
func TestACMERenewal(t *testing.T) {
	skipShort(t)
	t.Parallel()
	const name = "renew.nagare.test"
	r := startShortLived(t, name)
	logs, handshake, first, viewer := r.logs, r.handshake, r.first, r.viewer
	require.Equal(t, first.SerialNumber, viewer.get(t).SerialNumber)

	var renewed *x509.Certificate
	for renewed == nil {
		leaf, err := handshake()
		require.NoError(t, err, "a handshake failed before the renewal")
		if leaf.SerialNumber.Cmp(first.SerialNumber) != 0 {
			renewed = leaf
			break
		}
		require.True(t, time.Now().Before(first.NotAfter), "still the first certificate at its expiry (%s): not renewed", first.NotAfter)
		time.Sleep(100 * time.Millisecond)
	}
	require.True(t, renewed.NotAfter.After(first.NotAfter), "the renewed certificate ends %s, the first %s", renewed.NotAfter, first.NotAfter)
	require.Equal(t, []string{name}, renewed.DNSNames)
	for range 3 { // it stays in service
		leaf, err := handshake()
		require.NoError(t, err)
		require.Equal(t, renewed.SerialNumber, leaf.SerialNumber)
	}

	// the viewer's connection outlived the renewal: answered on the same connection, which keeps the
	// certificate it was made with
	require.Equal(t, first.SerialNumber, viewer.get(t).SerialNumber)
	require.EqualValues(t, 1, viewer.dials.Load(), "the viewer had to connect again")

	require.Contains(t, logs.String(), "serial="+first.SerialNumber.Text(16))
	logs.WaitFor(t, "serial="+renewed.SerialNumber.Text(16), 5*time.Second) // "acme: certificate stored and in service"
	require.NotContains(t, logs.String(), "acme: no certificate for the name")
}

// TestACMEAuthorityDown: the authority goes away before the certificate is due for renewal; the manager
// keeps serving its certificate past the renewal point (every handshake verifies and gets it) and logs
// that the renewal failed.
func TestACMEAuthorityDown(t *testing.T) {
	skipShort(t)
	t.Parallel()
	const name = "down.nagare.test"
	r := startShortLived(t, name)
	pebble, logs, handshake, first, viewer := r.pebble, r.logs, r.handshake, r.first, r.viewer
	viewer.get(t)
	pebble.Stop()

	const overdue = "acme: certificate not renewed"
	renewalDue := first.NotAfter.Add(-first.NotAfter.Sub(first.NotBefore) / 3)
	handshakes := 0
	for !strings.Contains(logs.String(), overdue) {
		require.True(t, time.Now().Before(first.NotAfter), "no %q logged before the certificate expired:\n%s", overdue, logs.String())
		leaf, err := handshake()
		require.NoError(t, err, "a handshake failed while the authority is down")
		require.Equal(t, first.SerialNumber, leaf.SerialNumber)
		handshakes++
		time.Sleep(100 * time.Millisecond)
	}
	require.True(t, time.Now().After(renewalDue), "the renewal was called overdue before it was due")
	require.Positive(t, handshakes)
	leaf, err := handshake() // past the renewal point, still in service
	require.NoError(t, err)
	require.Equal(t, first.SerialNumber, leaf.SerialNumber)
	viewer.get(t)
	require.EqualValues(t, 1, viewer.dials.Load())
	require.Equal(t, 1, strings.Count(logs.String(), overdue), "logged once an hour at most:\n%s", logs.String())
	require.Contains(t, logs.String(), "name="+name)
}

// TestACMEFirstIssuanceRetried: a manager that starts while its authority is down serves no certificate
// and says why; handshakes do not hammer the authority (the failure stands for a minute), and the first
// handshake after that minute obtains the certificate from the authority, now up, without a restart.
func TestACMEFirstIssuanceRetried(t *testing.T) {
	skipShort(t)
	t.Parallel()
	const name = "late.nagare.test"
	ca := tlstest.NewCA(t)
	port, pebblePort := acmetest.FreePort(t), acmetest.FreePort(t)
	logs := acmeManager(t, name, port, fmt.Sprintf("https://127.0.0.1:%d/dir", pebblePort), ca)
	logs.WaitFor(t, "acme: certificate not obtained", 30*time.Second)
	failedAt := time.Now()

	pebble := acmetest.StartWith(t, ca, acmetest.Options{Port: pebblePort, TLSPort: port, HTTPPort: acmetest.FreePort(t)})
	handshake := handshaker(pebble.Root(t), name, port)
	if time.Since(failedAt) < 45*time.Second {
		_, err := handshake()
		require.Error(t, err, "the failure of a minute ago should stand: the authority is not asked on every handshake")
	}
	var leaf *x509.Certificate
	require.Eventually(t, func() bool {
		var err error
		leaf, err = handshake()
		return err == nil
	}, 2*time.Minute, time.Second, "no certificate after the authority came back")
	require.Equal(t, []string{name}, leaf.DNSNames)
	require.GreaterOrEqual(t, time.Since(failedAt), 55*time.Second, "retried sooner than autocert's minute")
	require.Contains(t, logs.String(), "serial="+leaf.SerialNumber.Text(16))
}
