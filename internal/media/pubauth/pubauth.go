// Package pubauth decides whether a publisher may publish a stream: a per-stream key, or an
// HMAC-SHA256 signed token with an expiry.
package pubauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nagare-video/nagare/internal/media/stream"
)

// Errors returned by Authorize. They describe the cause without repeating the credential.
var (
	ErrNoCredentials = errors.New("no stream key or token given")
	ErrBadKey        = errors.New("wrong stream key")
	ErrBadToken      = errors.New("invalid token")
	ErrTokenExpired  = errors.New("token expired")
	ErrNotConfigured = errors.New("publishing is not configured on this node (no stream keys, no token secret)")
)

const tokenVersion = "v1"

// maxTokenLen bounds what we parse: a v1 token is about 60 bytes.
const maxTokenLen = 256

// Authorizer checks publish credentials. The zero value refuses everything.
type Authorizer struct {
	// Keys maps "<app>/<stream>" to that stream's key.
	Keys map[string]string
	// TokenSecret signs tokens; empty disables tokens.
	TokenSecret []byte
	// AllowUnauthenticated accepts any publisher (for closed test networks only).
	AllowUnauthenticated bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Authorize checks the credentials a publisher gave in the query of its URL: key=<stream key> or
// token=<signed token>.
func (a *Authorizer) Authorize(p stream.Path, q url.Values) error {
	if a.AllowUnauthenticated {
		return nil
	}
	key, tok := q.Get("key"), q.Get("token")
	wantKey, hasKey := a.Keys[p.String()]
	if len(a.Keys) == 0 && len(a.TokenSecret) == 0 {
		return ErrNotConfigured
	}
	switch {
	case tok != "" && len(a.TokenSecret) > 0:
		return a.checkToken(p, tok)
	case key != "" && hasKey:
		if subtle.ConstantTimeCompare([]byte(key), []byte(wantKey)) != 1 {
			return ErrBadKey
		}
		return nil
	case key != "":
		return fmt.Errorf("%w: no key is set for %s", ErrBadKey, p)
	case tok != "":
		return fmt.Errorf("%w: tokens are not enabled on this node", ErrBadToken)
	default:
		return ErrNoCredentials
	}
}

func (a *Authorizer) checkToken(p stream.Path, tok string) error {
	expires, sig, err := ParseToken(tok)
	if err != nil {
		return err
	}
	if !hmac.Equal(sig, mac(a.TokenSecret, p, expires)) {
		return fmt.Errorf("%w: signature does not match", ErrBadToken)
	}
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	if now().Unix() >= expires {
		return fmt.Errorf("%w at %s", ErrTokenExpired, time.Unix(expires, 0).UTC().Format(time.RFC3339))
	}
	return nil
}

// Sign returns a token that lets its holder publish p until expires.
func Sign(secret []byte, p stream.Path, expires time.Time) string {
	e := expires.Unix()
	return tokenVersion + "." + strconv.FormatInt(e, 10) + "." +
		base64.RawURLEncoding.EncodeToString(mac(secret, p, e))
}

// ParseToken splits a token into its expiry and signature without checking the signature.
func ParseToken(tok string) (expires int64, sig []byte, err error) {
	if len(tok) > maxTokenLen {
		return 0, nil, fmt.Errorf("%w: longer than %d bytes", ErrBadToken, maxTokenLen)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || parts[0] != tokenVersion {
		return 0, nil, fmt.Errorf("%w: want %s.<expiry>.<signature>", ErrBadToken, tokenVersion)
	}
	expires, err = strconv.ParseInt(parts[1], 10, 64)
	if err != nil || expires <= 0 {
		return 0, nil, fmt.Errorf("%w: bad expiry", ErrBadToken)
	}
	sig, err = base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) != sha256.Size {
		return 0, nil, fmt.Errorf("%w: bad signature encoding", ErrBadToken)
	}
	return expires, sig, nil
}

func mac(secret []byte, p stream.Path, expires int64) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte("publish\x00" + p.String() + "\x00" + strconv.FormatInt(expires, 10)))
	return h.Sum(nil)
}
