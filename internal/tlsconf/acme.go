package tlsconf

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
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

// ACME obtains and renews certificates with autocert: on the first handshake for a name, then ahead of
// expiry in the background (autocert retries a failed renewal with backoff; the current certificate
// keeps serving until it expires). Challenges are TLS-ALPN-01 on the TLS listener and HTTP-01 through
// HTTPHandler.
type ACME struct {
	m      *autocert.Manager
	log    *slog.Logger
	failed quiet // the names whose failure was logged
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
		Cache:      autocert.DirCache(c.CacheDir),
		Email:      c.Email,
		Client:     &acme.Client{DirectoryURL: dir, HTTPClient: &http.Client{Transport: tr, Timeout: 30 * time.Second}},
	}
	return &ACME{m: m, log: log, failed: quiet{max: 1000}}, nil
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
