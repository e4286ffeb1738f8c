// Package tlsconf serves TLS from certificate files: read at start (a missing, unreadable, mismatched or
// expired pair is an error naming the file), read again when either file changes, without a restart
// (a new pair that does not load leaves the current one in service, with the cause logged), and the
// client side's trust in the cluster's certificates (a CA file, or the system's roots).
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
)

// checkEvery bounds how often the files are looked at (a stat each) while handshakes come in.
const checkEvery = time.Second

// Certificate is a certificate and key read from PEM files, kept current with the files.
type Certificate struct {
	certFile, keyFile string
	log               *slog.Logger

	mu      sync.Mutex
	cur     *tls.Certificate
	stamp   [2]stamp  // of the files the current pair came from
	failed  [2]stamp  // of the files whose pair last failed to load (logged once)
	checked time.Time // when the files were last looked at
}

// stamp tells a version of a file apart from another. The inode tells apart a file installed by a
// rename (certbot, cert-manager, an operator's mv) from the one it replaced even when both have the same
// size and were written within one tick of the kernel's coarse clock, which modification times are
// taken from.
type stamp struct {
	mod  time.Time
	size int64
	ino  uint64
}

func stampOf(name string) (stamp, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return stamp{}, err
	}
	st := stamp{mod: fi.ModTime(), size: fi.Size()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.ino = sys.Ino
	}
	return st, nil
}

// Load reads the pair; the error names the file at fault.
func Load(certFile, keyFile string, log *slog.Logger) (*Certificate, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Certificate{certFile: certFile, keyFile: keyFile, log: log}
	cert, st, err := c.read()
	if err != nil {
		return nil, err
	}
	c.cur, c.stamp, c.checked = cert, st, time.Now()
	return c, nil
}

// read loads the pair as the files are now.
func (c *Certificate) read() (*tls.Certificate, [2]stamp, error) {
	var st [2]stamp
	var pem [2][]byte
	for i, name := range []string{c.certFile, c.keyFile} {
		var err error
		if st[i], err = stampOf(name); err != nil {
			return nil, st, fmt.Errorf("tls: %w", err)
		}
		if pem[i], err = os.ReadFile(name); err != nil {
			return nil, st, fmt.Errorf("tls: %w", err)
		}
	}
	cert, err := tls.X509KeyPair(pem[0], pem[1])
	if err != nil {
		return nil, st, fmt.Errorf("tls: certificate %s with key %s: %w", c.certFile, c.keyFile, err)
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, st, fmt.Errorf("tls: certificate %s: %w", c.certFile, err)
		}
		cert.Leaf = leaf
	}
	if now := time.Now(); now.After(leaf.NotAfter) {
		return nil, st, fmt.Errorf("tls: certificate %s expired on %s", c.certFile, leaf.NotAfter.UTC().Format(time.RFC3339))
	} else if now.Before(leaf.NotBefore) {
		return nil, st, fmt.Errorf("tls: certificate %s is not valid before %s", c.certFile, leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	return &cert, st, nil
}

// Current returns the pair in service, reading the files again first if they changed (at most once per
// checkEvery).
func (c *Certificate) Current() *tls.Certificate {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if now.Sub(c.checked) < checkEvery {
		return c.cur
	}
	c.checked = now
	var st [2]stamp
	for i, name := range []string{c.certFile, c.keyFile} {
		s, err := stampOf(name)
		if err != nil {
			st = [2]stamp{} // unreadable: tried (and logged) below, once
			break
		}
		st[i] = s
	}
	if st == c.stamp || (st == c.failed && st != [2]stamp{}) {
		return c.cur
	}
	cert, read, err := c.read()
	if err != nil {
		if read != c.failed {
			c.failed = read
			c.log.Error("tls: new certificate not loaded; the current one stays in service", "cause", err)
		}
		return c.cur
	}
	c.cur, c.stamp, c.failed = cert, read, [2]stamp{}
	c.log.Info("tls: certificate reloaded", "cert", c.certFile, "notAfter", cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	return c.cur
}

// ServerConfig is the TLS configuration of a server presenting the pair (Go's cipher defaults, TLS 1.2
// at least, HTTP/2 and HTTP/1.1 offered).
func (c *Certificate) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2", "http/1.1"},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return c.Current(), nil
		},
	}
}

// ClientConfig is the TLS configuration of a client of the cluster's servers: trusting the certificates
// of caFile (PEM), or the system's roots when caFile is "".
func ClientConfig(caFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile == "" {
		return cfg, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("tls: %s holds no PEM certificate", caFile)
	}
	cfg.RootCAs = pool
	return cfg, nil
}

// Transport is an HTTP transport whose TLS trusts caFile (see ClientConfig).
func Transport(caFile string) (*http.Transport, error) {
	cfg, err := ClientConfig(caFile)
	if err != nil {
		return nil, err
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = cfg
	return t, nil
}

// HSTS adds Strict-Transport-Security to the answers of h given over TLS.
func HSTS(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil {
			w.Header().Set("Strict-Transport-Security", "max-age=31536000")
		}
		h.ServeHTTP(w, r)
	})
}

// Wrap makes srv serve TLS with c: its handler adds HSTS, its error log is ErrorLog's, and it must serve
// the listener returned, which wraps ln.
func Wrap(srv *http.Server, ln net.Listener, c *Certificate, log *slog.Logger) net.Listener {
	return WrapConfig(srv, ln, c.ServerConfig(), log)
}

// WrapConfig is Wrap with a TLS configuration of the caller's (ACME's).
func WrapConfig(srv *http.Server, ln net.Listener, cfg *tls.Config, log *slog.Logger) net.Listener {
	srv.Handler = HSTS(srv.Handler)
	srv.ErrorLog = ErrorLog(log)
	return tls.NewListener(ln, cfg)
}

// ErrorLog is the http.Server.ErrorLog of a TLS server: its lines go to log at warning level, and TLS
// handshake failures (a plaintext client, a scanner) once per client address and minute at most.
func ErrorLog(to *slog.Logger) *log.Logger {
	return log.New(&serverLog{log: to, hosts: quiet{max: 10_000}}, "", 0)
}

type serverLog struct {
	log   *slog.Logger
	hosts quiet // the client hosts whose handshake failure was logged
}

func (s *serverLog) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	const prefix = "http: TLS handshake error from "
	if rest, ok := strings.CutPrefix(line, prefix); ok {
		addr, cause, _ := strings.Cut(rest, ": ")
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			host = addr
		}
		if s.hosts.first(host) {
			s.log.Warn("tls handshake failed (logged once a minute per address)", "remote", addr, "cause", cause)
		}
		return len(p), nil
	}
	s.log.Warn("http server", "msg", line)
	return len(p), nil
}

// quietFor is how long something said of one key (a client host, a name) is not said again.
const quietFor = time.Minute

// quiet keeps what repeats from flooding the log: first reports whether key has not been said within
// every (quietFor when zero), and marks it said. It forgets everything past max keys (a scan from many
// addresses must not grow it for good). The zero value (with max set) is ready.
type quiet struct {
	max   int
	every time.Duration

	mu   sync.Mutex
	said map[string]time.Time
}

func (q *quiet) first(key string) bool {
	now := time.Now()
	q.mu.Lock()
	defer q.mu.Unlock()
	every := q.every
	if every == 0 {
		every = quietFor
	}
	if last, ok := q.said[key]; ok && now.Sub(last) < every {
		return false
	}
	if q.said == nil || len(q.said) >= q.max {
		q.said = map[string]time.Time{}
	}
	q.said[key] = now
	return true
}
