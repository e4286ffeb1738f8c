package tlsconf

import (
	"context"
	"crypto/x509"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/acme/autocert"

	"github.com/nagare-video/nagare/internal/testutil/tlstest"
)

// TestRenewalOverdue pins when a certificate still in service is called overdue: a quarter of autocert's
// renewal window (6 hours at most) past the point where autocert renews it.
func TestRenewalOverdue(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	for _, tc := range []struct {
		name     string
		lifetime time.Duration
		at       time.Duration // after NotBefore
		due      time.Duration // after NotBefore
		late     bool
	}{
		{"90 days, fresh", 90 * day, time.Hour, 60 * day, false},
		{"90 days, renewal due", 90 * day, 60*day + time.Minute, 60 * day, false},
		{"90 days, a few failed retries", 90 * day, 60*day + 5*time.Hour, 60 * day, false},
		{"90 days, 6 hours of failures", 90 * day, 60*day + 6*time.Hour + time.Second, 60 * day, true},
		{"1 year: renewed 30 days ahead", 365 * day, 335*day + 7*time.Hour, 335 * day, true},
		{"24 hours, 3 hours after due", 24 * time.Hour, 16*time.Hour + 3*time.Hour, 16 * time.Hour, true},
		{"24 hours, an hour after due", 24 * time.Hour, 17 * time.Hour, 16 * time.Hour, false},
		{"30 s, just due", 30 * time.Second, 21 * time.Second, 20 * time.Second, false},
		{"30 s, 3 s after due", 30 * time.Second, 23 * time.Second, 20 * time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leaf := &x509.Certificate{NotBefore: start, NotAfter: start.Add(tc.lifetime)}
			due, late := renewalOverdue(leaf, start.Add(tc.at))
			require.Equal(t, start.Add(tc.due), due)
			require.Equal(t, tc.late, late)
		})
	}
}

// TestLoggingCache: what autocert stores goes to the cache, and a certificate (not the account key, not
// a challenge's certificate) is logged with its serial and expiry.
func TestLoggingCache(t *testing.T) {
	ca := tlstest.NewCA(t)
	certFile, keyFile := ca.Issue(t, "stored", time.Time{}, time.Time{})
	certPEM, err := os.ReadFile(certFile)
	require.NoError(t, err)
	keyPEM, err := os.ReadFile(keyFile)
	require.NoError(t, err)
	logs := &syncBuf{}
	dir := t.TempDir()
	c := loggingCache{Cache: autocert.DirCache(dir), log: slog.New(slog.NewTextHandler(logs, nil))}
	ctx := context.Background()

	require.NoError(t, c.Put(ctx, "acme_account+key", keyPEM))
	require.NoError(t, c.Put(ctx, "example.test+token", append(append([]byte{}, keyPEM...), certPEM...)))
	require.Empty(t, logs.String())
	require.NoError(t, c.Put(ctx, "example.test", append(append([]byte{}, keyPEM...), certPEM...)))
	got, err := c.Get(ctx, "example.test")
	require.NoError(t, err)
	require.Equal(t, append(append([]byte{}, keyPEM...), certPEM...), got)
	require.Equal(t, 1, strings.Count(logs.String(), "acme: certificate stored and in service"), logs.String())
	require.Contains(t, logs.String(), "name=example.test")
	require.Contains(t, logs.String(), "serial=")
}
