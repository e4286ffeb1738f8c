package tlsconf

import (
	"bytes"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/testutil/tlstest"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestLoadRefusals: a pair that cannot serve is refused at start, the error naming the file and the cause.
func TestLoadRefusals(t *testing.T) {
	ca := tlstest.NewCA(t)
	cert, key := ca.Issue(t, "good", time.Time{}, time.Time{})
	_, otherKey := ca.Issue(t, "other", time.Time{}, time.Time{})
	expired, expiredKey := ca.Issue(t, "expired", time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
	early, earlyKey := ca.Issue(t, "early", time.Now().Add(time.Hour), time.Now().Add(48*time.Hour))
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	require.NoError(t, os.WriteFile(garbage, []byte("not a certificate"), 0o600))
	for _, tc := range []struct {
		name, cert, key string
		want            []string // in the error
	}{
		{"missing certificate", "/nonexistent/cert.pem", key, []string{"/nonexistent/cert.pem", "no such file"}},
		{"missing key", cert, "/nonexistent/key.pem", []string{"/nonexistent/key.pem", "no such file"}},
		{"key of another certificate", cert, otherKey, []string{cert, otherKey, "private key does not match public key"}},
		{"expired", expired, expiredKey, []string{expired, "expired on"}},
		{"not yet valid", early, earlyKey, []string{early, "is not valid before"}},
		{"not PEM", garbage, key, []string{garbage, "failed to find any PEM data"}},
		{"key is a certificate", cert, cert, []string{cert, "found a certificate rather than a key"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.cert, tc.key, nil)
			require.Error(t, err)
			for _, w := range tc.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
	c, err := Load(cert, key, nil)
	require.NoError(t, err)
	require.Equal(t, "good", c.Current().Leaf.Subject.CommonName)
	_, err = ClientConfig("/nonexistent/ca.pem")
	require.ErrorContains(t, err, "/nonexistent/ca.pem")
	_, err = ClientConfig(garbage)
	require.ErrorContains(t, err, "holds no PEM certificate")
}

// serve runs an HTTPS server of c on 127.0.0.1:0 answering the common name of the certificate it served.
func serve(t *testing.T, c *Certificate, log *slog.Logger) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.TLS.ServerName+" ok")
	})}
	tlsLn := Wrap(srv, ln, c, log)
	go func() { _ = srv.Serve(tlsLn) }()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// TestReload: new files are served from the next handshake on without a restart, a connection made
// before goes on, and a broken new pair leaves the current one in service (logged once).
func TestReload(t *testing.T) {
	ca := tlstest.NewCA(t)
	cert, key := ca.Issue(t, "first", time.Time{}, time.Time{})
	logs := &syncBuf{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	c, err := Load(cert, key, log)
	require.NoError(t, err)
	addr := serve(t, c, log)
	clientCfg, err := ClientConfig(ca.File)
	require.NoError(t, err)
	served := func(conn *tls.Conn) string { return conn.ConnectionState().PeerCertificates[0].Subject.CommonName }
	dial := func() *tls.Conn {
		conn, err := tls.Dial("tcp", addr, clientCfg)
		require.NoError(t, err)
		return conn
	}
	live := dial()
	defer live.Close()
	require.Equal(t, "first", served(live))

	// a certificate of the same CA replaces the files
	next, nextKey := ca.Issue(t, "second", time.Time{}, time.Time{})
	replace := func(certPEM, keyPEM string) {
		for src, dst := range map[string]string{certPEM: cert, keyPEM: key} {
			b, err := os.ReadFile(src)
			require.NoError(t, err)
			tmp := dst + ".tmp"
			require.NoError(t, os.WriteFile(tmp, b, 0o600))
			require.NoError(t, os.Rename(tmp, dst))
		}
	}
	replace(next, nextKey)
	require.Eventually(t, func() bool {
		conn := dial()
		defer conn.Close()
		return served(conn) == "second"
	}, 5*time.Second, 100*time.Millisecond, "the new certificate was never served")
	require.Contains(t, logs.String(), "certificate reloaded")

	// the connection made before still works
	tr := &http.Transport{DialTLS: func(string, string) (net.Conn, error) { return live, nil }}
	resp, err := (&http.Client{Transport: tr}).Get("https://" + addr + "/")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "max-age=31536000", resp.Header.Get("Strict-Transport-Security"))

	// a broken pair: the second certificate stays, and the cause is logged once
	require.NoError(t, os.WriteFile(key, []byte("broken"), 0o600))
	time.Sleep(2 * checkEvery)
	for range 3 {
		conn := dial()
		require.Equal(t, "second", served(conn))
		conn.Close()
		time.Sleep(checkEvery)
	}
	require.Equal(t, 1, strings.Count(logs.String(), "new certificate not loaded"), logs.String())
}

// TestPlaintextClient: an HTTP request to the TLS port fails its handshake, logged once per address.
func TestPlaintextClient(t *testing.T) {
	ca := tlstest.NewCA(t)
	cert, key := ca.Issue(t, "srv", time.Time{}, time.Time{})
	logs := &syncBuf{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	c, err := Load(cert, key, log)
	require.NoError(t, err)
	addr := serve(t, c, log)
	for range 3 {
		resp, err := http.Get("http://" + addr + "/")
		if err == nil {
			resp.Body.Close()
			require.Equal(t, http.StatusBadRequest, resp.StatusCode)
		}
	}
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "tls handshake failed") }, 5*time.Second, 50*time.Millisecond)
	time.Sleep(200 * time.Millisecond)
	require.Equal(t, 1, strings.Count(logs.String(), "tls handshake failed"), logs.String())
}

// TestReloadRefusals: files replaced by a pair that cannot serve leave the current certificate in service
// (every handshake gets it), the cause is logged naming the file, and a good pair written afterwards is
// served.
func TestReloadRefusals(t *testing.T) {
	ca := tlstest.NewCA(t)
	_, otherKey := ca.Issue(t, "other", time.Time{}, time.Time{})
	expired, expiredKey := ca.Issue(t, "expired", time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
	early, earlyKey := ca.Issue(t, "early", time.Now().Add(time.Hour), time.Now().Add(48*time.Hour))
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	require.NoError(t, os.WriteFile(garbage, []byte("not a certificate"), 0o600))
	clientCfg, err := ClientConfig(ca.File)
	require.NoError(t, err)

	for _, tc := range []struct {
		name string
		// break replaces the files (certFile, keyFile) in service; want is in the logged cause
		brk func(t *testing.T, certFile, keyFile string) (want []string)
	}{
		{"expired pair", func(t *testing.T, certFile, keyFile string) []string {
			install(t, expired, certFile)
			install(t, expiredKey, keyFile)
			return []string{certFile, "expired on"}
		}},
		{"not yet valid pair", func(t *testing.T, certFile, keyFile string) []string {
			install(t, early, certFile)
			install(t, earlyKey, keyFile)
			return []string{certFile, "is not valid before"}
		}},
		{"key of another certificate", func(t *testing.T, certFile, keyFile string) []string {
			install(t, otherKey, keyFile)
			return []string{certFile, keyFile, "private key does not match public key"}
		}},
		{"certificate not PEM", func(t *testing.T, certFile, keyFile string) []string {
			install(t, garbage, certFile)
			return []string{certFile, "failed to find any PEM data"}
		}},
		{"key removed", func(t *testing.T, certFile, keyFile string) []string {
			require.NoError(t, os.Remove(keyFile))
			return []string{keyFile, "no such file"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			good, goodKey := ca.Issue(t, "current", time.Time{}, time.Time{})
			dir := t.TempDir()
			certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
			install(t, good, certFile)
			install(t, goodKey, keyFile)
			logs := &syncBuf{}
			log := slog.New(slog.NewTextHandler(logs, nil))
			c, err := Load(certFile, keyFile, log)
			require.NoError(t, err)
			addr := serve(t, c, log)
			served := func() string {
				conn, err := tls.Dial("tcp", addr, clientCfg)
				require.NoError(t, err, "a handshake failed")
				defer conn.Close()
				return conn.ConnectionState().PeerCertificates[0].Subject.CommonName
			}
			require.Equal(t, "current", served())

			want := tc.brk(t, certFile, keyFile)
			require.Eventually(t, func() bool {
				require.Equal(t, "current", served(), "the broken pair replaced the one in service")
				return strings.Contains(logs.String(), "new certificate not loaded")
			}, 10*time.Second, 50*time.Millisecond, "the failed reload was not logged")
			for _, w := range want {
				require.Contains(t, logs.String(), w)
			}
			require.NotContains(t, logs.String(), "certificate reloaded")
			// still the current one a check later, and the failure logged once
			time.Sleep(checkEvery + 100*time.Millisecond)
			require.Equal(t, "current", served())
			require.Equal(t, 1, strings.Count(logs.String(), "new certificate not loaded"), logs.String())

			// the operator fixes the files: served from the next check on
			next, nextKey := ca.Issue(t, "fixed", time.Time{}, time.Time{})
			install(t, next, certFile)
			install(t, nextKey, keyFile)
			require.Eventually(t, func() bool { return served() == "fixed" }, 10*time.Second, 50*time.Millisecond)
			require.Contains(t, logs.String(), "certificate reloaded")
		})
	}
}

// install copies src over dst the way certificate tools do: a new file renamed into place.
func install(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	require.NoError(t, err)
	tmp := dst + ".tmp"
	require.NoError(t, os.WriteFile(tmp, b, 0o600))
	require.NoError(t, os.Rename(tmp, dst))
}

// TestStampTellsRenamedFilesApart: a file installed by a rename is a new version even with the size and
// modification time of the one it replaced (both written within one tick of the coarse clock).
func TestStampTellsRenamedFilesApart(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(name, []byte("first version"), 0o600))
	before, err := stampOf(name)
	require.NoError(t, err)
	tmp := name + ".tmp"
	require.NoError(t, os.WriteFile(tmp, []byte("other version"), 0o600)) // same size
	require.NoError(t, os.Chtimes(tmp, before.mod, before.mod))
	require.NoError(t, os.Rename(tmp, name))
	after, err := stampOf(name)
	require.NoError(t, err)
	require.Equal(t, before.size, after.size)
	require.True(t, before.mod.Equal(after.mod))
	require.NotEqual(t, before, after)
}
