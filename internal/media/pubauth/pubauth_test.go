package pubauth

import (
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/media/stream"
)

var (
	secret   = []byte("0123456789abcdef-token-secret")
	now      = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	pathA    = stream.Path{App: "live", Name: "a"}
	pathB    = stream.Path{App: "live", Name: "b"}
	keyA     = "key-of-a-9f8e7d"
	keyB     = "key-of-b-1a2b3c"
	fixedNow = func() time.Time { return now }
)

// tamper changes one character in the middle of the signature, so that the decoded bytes differ (the last
// character of unpadded base64 carries padding bits, so changing it may not change the signature).
func tamper(tok string) string {
	b := []byte(tok)
	i := len(b) - 10
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

func TestAuthorize(t *testing.T) {
	keysOnly := &Authorizer{Keys: map[string]string{"live/a": keyA, "live/b": keyB}, Now: fixedNow}
	tokensOnly := &Authorizer{TokenSecret: secret, Now: fixedNow}
	both := &Authorizer{Keys: map[string]string{"live/a": keyA}, TokenSecret: secret, Now: fixedNow}

	validA := Sign(secret, pathA, now.Add(time.Hour))
	validB := Sign(secret, pathB, now.Add(time.Hour))
	expiredA := Sign(secret, pathA, now.Add(-time.Second))
	expiresNowA := Sign(secret, pathA, now)
	otherSecretA := Sign([]byte("another-secret-of-16+"), pathA, now.Add(time.Hour))

	for _, tc := range []struct {
		name string
		a    *Authorizer
		p    stream.Path
		q    url.Values
		want error // nil: accepted
	}{
		{"zero value refuses", &Authorizer{}, pathA, url.Values{"key": {keyA}}, ErrNotConfigured},
		{"zero value refuses tokens", &Authorizer{}, pathA, url.Values{"token": {validA}}, ErrNotConfigured},
		{"empty keys map refuses", &Authorizer{Keys: map[string]string{}}, pathA, url.Values{"key": {keyA}}, ErrNotConfigured},
		{"allow unauthenticated", &Authorizer{AllowUnauthenticated: true}, pathA, nil, nil},
		{"allow unauthenticated ignores a wrong key", &Authorizer{Keys: map[string]string{"live/a": keyA}, AllowUnauthenticated: true}, pathA, url.Values{"key": {"not-the-key-123"}}, nil},

		{"right key", keysOnly, pathA, url.Values{"key": {keyA}}, nil},
		{"right key of the other stream", keysOnly, pathB, url.Values{"key": {keyB}}, nil},
		{"wrong key", keysOnly, pathA, url.Values{"key": {"not-the-key-123"}}, ErrBadKey},
		{"key prefix", keysOnly, pathA, url.Values{"key": {keyA[:len(keyA)-1]}}, ErrBadKey},
		{"key with suffix", keysOnly, pathA, url.Values{"key": {keyA + "x"}}, ErrBadKey},
		{"key of another stream", keysOnly, pathA, url.Values{"key": {keyB}}, ErrBadKey},
		{"key for a stream that has none, tokens on", both, pathB, url.Values{"key": {keyA}}, ErrBadKey},
		{"no credentials", keysOnly, pathA, url.Values{}, ErrNoCredentials},
		{"empty key", keysOnly, pathA, url.Values{"key": {""}}, ErrNoCredentials},
		{"token when tokens are off", keysOnly, pathA, url.Values{"token": {validA}}, ErrBadToken},

		{"valid token", tokensOnly, pathA, url.Values{"token": {validA}}, nil},
		{"valid token, keys also set", both, pathA, url.Values{"token": {validA}}, nil},
		{"token for another stream", tokensOnly, pathA, url.Values{"token": {validB}}, ErrBadToken},
		{"token signed with another secret", tokensOnly, pathA, url.Values{"token": {otherSecretA}}, ErrBadToken},
		{"expired token", tokensOnly, pathA, url.Values{"token": {expiredA}}, ErrTokenExpired},
		{"token expiring now", tokensOnly, pathA, url.Values{"token": {expiresNowA}}, ErrTokenExpired},
		{"tampered signature", tokensOnly, pathA, url.Values{"token": {tamper(validA)}}, ErrBadToken},
		{"tampered expiry", tokensOnly, pathA, url.Values{"token": {strings.Replace(validA, ".", ".1", 1)}}, ErrBadToken},
		{"bad token beats a right key", both, pathA, url.Values{"key": {keyA}, "token": {tamper(validA)}}, ErrBadToken},
		{"garbage token", tokensOnly, pathA, url.Values{"token": {"garbage"}}, ErrBadToken},
		{"wrong version", tokensOnly, pathA, url.Values{"token": {"v2" + validA[2:]}}, ErrBadToken},
		{"four parts", tokensOnly, pathA, url.Values{"token": {validA + ".x"}}, ErrBadToken},
		{"negative expiry", tokensOnly, pathA, url.Values{"token": {"v1.-5." + strings.Repeat("A", 43)}}, ErrBadToken},
		{"zero expiry", tokensOnly, pathA, url.Values{"token": {"v1.0." + strings.Repeat("A", 43)}}, ErrBadToken},
		{"expiry overflows int64", tokensOnly, pathA, url.Values{"token": {"v1.99999999999999999999." + strings.Repeat("A", 43)}}, ErrBadToken},
		{"short signature", tokensOnly, pathA, url.Values{"token": {"v1.1800000000.AAAA"}}, ErrBadToken},
		{"padded signature", tokensOnly, pathA, url.Values{"token": {validA + "="}}, ErrBadToken},
		{"std base64 signature", tokensOnly, pathA, url.Values{"token": {"v1.1800000000." + strings.Repeat("+", 43)}}, ErrBadToken},
		{"huge token", tokensOnly, pathA, url.Values{"token": {validA + strings.Repeat("A", 10<<10)}}, ErrBadToken},
		// Leading zeros keep the expiry's value, so only the length bound refuses this otherwise valid token.
		{"over-long token", tokensOnly, pathA, url.Values{"token": {strings.Replace(validA, ".", "."+strings.Repeat("0", maxTokenLen), 1)}}, ErrBadToken},
		{"no token, tokens only", tokensOnly, pathA, url.Values{}, ErrNoCredentials},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.a.Authorize(tc.p, tc.q)
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.want)
			for _, secretish := range append(tc.q["key"], tc.q["token"]...) {
				if len(secretish) >= 4 {
					require.NotContains(t, err.Error(), secretish, "the error repeats the credential")
				}
			}
			for _, k := range []string{keyA, keyB, string(secret)} {
				require.NotContains(t, err.Error(), k)
			}
		})
	}
}

// A node with stream keys but none for this stream is configured: the cause must not be ErrNotConfigured
// ("no stream keys, no token secret"), which would mislead the operator.
func TestAuthorizeStreamWithoutKeyOnKeysOnlyNodeIsNotNotConfigured(t *testing.T) {
	a := &Authorizer{Keys: map[string]string{"live/a": keyA}, Now: fixedNow}
	for _, tc := range []struct {
		name string
		q    url.Values
		want error
	}{
		{"key of another stream", url.Values{"key": {keyA}}, ErrBadKey},
		{"no credentials", url.Values{}, ErrNoCredentials},
		{"token while tokens are off", url.Values{"token": {Sign(secret, pathB, now.Add(time.Hour))}}, ErrBadToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := a.Authorize(pathB, tc.q)
			require.ErrorIs(t, err, tc.want)
			require.NotErrorIs(t, err, ErrNotConfigured)
			require.NotContains(t, err.Error(), keyA)
		})
	}
}

func TestAuthorizeUsesRealClockByDefault(t *testing.T) {
	a := &Authorizer{TokenSecret: secret}
	require.NoError(t, a.Authorize(pathA, url.Values{"token": {Sign(secret, pathA, time.Now().Add(time.Minute))}}))
	require.ErrorIs(t, a.Authorize(pathA, url.Values{"token": {Sign(secret, pathA, time.Now().Add(-time.Minute))}}), ErrTokenExpired)
}

func TestSignParseRoundTrip(t *testing.T) {
	exp := now.Add(90 * time.Minute)
	tok := Sign(secret, pathA, exp)
	require.True(t, strings.HasPrefix(tok, "v1."), tok)
	require.LessOrEqual(t, len(tok), maxTokenLen)
	require.Equal(t, tok, url.QueryEscape(tok), "a token must travel in a query without escaping")

	gotExp, sig, err := ParseToken(tok)
	require.NoError(t, err)
	require.Equal(t, exp.Unix(), gotExp)
	require.Len(t, sig, sha256.Size)
	require.Equal(t, mac(secret, pathA, exp.Unix()), sig)

	require.NotEqual(t, tok, Sign(secret, pathB, exp), "the signature covers the path")
	require.NotEqual(t, tok, Sign(secret, pathA, exp.Add(time.Second)), "the signature covers the expiry")
}

func FuzzParseToken(f *testing.F) {
	signed := Sign(secret, pathA, now.Add(time.Hour))
	for _, s := range []string{
		signed,
		tamper(signed),
		Sign(secret, stream.Path{App: "a", Name: strings.Repeat("b", stream.MaxNameLen)}, time.Unix(1<<40, 0)),
		"", ".", "..", "v1..", "v1.1.", "v1.-1." + strings.Repeat("A", 43), "v1.0." + strings.Repeat("A", 43),
		"v1.+1." + strings.Repeat("A", 43), "v1.1." + strings.Repeat("A", 42), "v1.1." + strings.Repeat("A", 44),
		"v1.9223372036854775807." + base64.RawURLEncoding.EncodeToString(make([]byte, 32)),
		"v1.1.x.y", "v2.1.AAAA", "garbage", strings.Repeat("v1.", 100),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		expires, sig, err := ParseToken(tok)
		if err != nil {
			require.ErrorIs(t, err, ErrBadToken)
			require.Nil(t, sig)
			return
		}
		require.Len(t, sig, sha256.Size)
		require.Positive(t, expires)
		require.LessOrEqual(t, len(tok), maxTokenLen)

		// Whatever parses must be refused unless its signature is right for the path.
		a := &Authorizer{TokenSecret: secret, Now: func() time.Time { return time.Unix(0, 0) }}
		err = a.Authorize(pathB, url.Values{"token": {tok}})
		if err == nil {
			require.Equal(t, mac(secret, pathB, expires), sig)
		}
	})
}
