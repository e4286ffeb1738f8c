package tlsconf

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// ACMEConfig says how a server obtains its certificate from an ACME authority (Let's Encrypt, or a
// private one).
type ACMEConfig struct {
	Domains      []string // the names the certificate is for; a handshake for any other is refused
	Email        string   // the account's contact ("" none)
	DirectoryURL string   // "" = Let's Encrypt's production directory
	CacheDir     string   // the account key and the certificates, kept across restarts
	// CAFile is the PEM of the authority that signs the ACME server's own HTTPS certificate (a private ACME
	// server); "" = the system's roots.
	CAFile string
}

// ACME obtains and renews certificates with autocert: on the first handshake for a name (a failure is
// retried on a handshake a minute later at the earliest), then in the background when a third of the
// certificate's lifetime (30 days at most) remains. A failed renewal is retried every 30 to 60 minutes,
// while the current certificate keeps serving until it expires. autocert logs nothing: a certificate
// stored (obtained or renewed) is logged, and so is one in service past its renewal (once an hour).
// Challenges are TLS-ALPN-01 on the TLS listener and HTTP-01 through HTTPHandler.
type ACME struct {
	m       *autocert.Manager
	log     *slog.Logger
	failed  quiet // the names whose failure was logged
	overdue quiet // the names whose renewal was logged overdue
}

// NewACME prepares the manager of certificates; nothing is asked of the authority before a handshake.
func NewACME(c ACMEConfig, log *slog.Logger) (*ACME, error) {
	if len(c.Domains) == 0 {
		return nil, fmt.Errorf("tls.acme: no domain")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tr, err := Transport(c.CAFile)
	if err != nil {
		return nil, err
	}
	dir := c.DirectoryURL
	if dir == "" {
		dir = autocert.DefaultACMEDirectory
	}
	m := &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		HostPolicy: autocert.HostWhitelist(c.Domains...),
		Cache:      loggingCache{Cache: autocert.DirCache(c.CacheDir), log: log},
		Email:      c.Email,
		Client:     &acme.Client{DirectoryURL: dir, HTTPClient: &http.Client{Transport: tr, Timeout: 30 * time.Second}},
	}
	return &ACME{m: m, log: log, failed: quiet{max: 1000}, overdue: quiet{max: 1000, every: time.Hour}}, nil
}

// ServerConfig is the TLS configuration of a server whose certificate comes from ACME (TLS-ALPN-01
// answered on it).
func (a *ACME) ServerConfig() *tls.Config {
	cfg := a.m.TLSConfig()
	cfg.MinVersion = tls.VersionTLS12
	get := cfg.GetCertificate
	cfg.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		cert, err := get(hello)
		if err != nil && hello.ServerName != "" && a.failed.first(hello.ServerName) {
			a.log.Error("acme: no certificate for the name (retried on the next handshake)", "name", hello.ServerName, "cause", err)
		}
		if err == nil && cert.Leaf != nil && !slices.Contains(hello.SupportedProtos, acme.ALPNProto) {
			if due, late := renewalOverdue(cert.Leaf, time.Now()); late && a.overdue.first(hello.ServerName) {
				a.log.Error("acme: certificate not renewed (the authority or the challenge fails; retried every 30 to 60 minutes)",
					"name", hello.ServerName, "renewalDue", due.UTC().Format(time.RFC3339), "notAfter", cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
			}
		}
		return cert, err
	}
	return cfg
}

// HTTPHandler answers HTTP-01 challenges and redirects every other request to https.
func (a *ACME) HTTPHandler() http.Handler { return a.m.HTTPHandler(nil) }

// Obtain asks for the certificate of name now (a server may do it at start rather than on the first
// handshake).
func (a *ACME) Obtain(ctx context.Context, name string) (*tls.Certificate, error) {
	hello := &tls.ClientHelloInfo{ServerName: name, SupportedProtos: []string{"h2", "http/1.1"},
		CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}, SignatureSchemes: []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256},
		SupportedCurves: []tls.CurveID{tls.CurveP256}, SupportedVersions: []uint16{tls.VersionTLS13, tls.VersionTLS12}}
	type result struct {
		cert *tls.Certificate
		err  error
	}
	done := make(chan result, 1)
	go func() {
		c, err := a.m.GetCertificate(hello)
		done <- result{c, err}
	}()
	select {
	case r := <-done:
		return r.cert, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// renewalOverdue reports when leaf was due for renewal, and whether it is in service well past that:
// autocert renews when a third of the lifetime (30 days at most) remains, up to a tenth of that (an hour
// at most) later, and retries a failed attempt every 30 to 60 minutes, so a certificate still in service
// a quarter of that window (6 hours at most) after it was due saw its renewal fail.
func renewalOverdue(leaf *x509.Certificate, now time.Time) (due time.Time, late bool) {
	window := min(leaf.NotAfter.Sub(leaf.NotBefore)/3, 30*24*time.Hour)
	due = leaf.NotAfter.Add(-window)
	return due, now.After(due.Add(min(window/4, 6*time.Hour)))
}

// loggingCache is autocert's cache, logging the certificates autocert stores: it stores one when it
// obtains or renews it, and serves it from then on.
type loggingCache struct {
	autocert.Cache
	log *slog.Logger
}

func (c loggingCache) Put(ctx context.Context, key string, data []byte) error {
	if err := c.Cache.Put(ctx, key, data); err != nil {
		return err
	}
	if strings.HasSuffix(key, "+token") { // a TLS-ALPN-01 challenge's
		return nil
	}
	for rest := data; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			return nil // the account key
		}
		if b.Type == "CERTIFICATE" {
			if leaf, err := x509.ParseCertificate(b.Bytes); err == nil {
				c.log.Info("acme: certificate stored and in service", "name", key, "serial", leaf.SerialNumber.Text(16),
					"notAfter", leaf.NotAfter.UTC().Format(time.RFC3339))
			}
			return nil
		}
	}
}
