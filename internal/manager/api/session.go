package api

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/nagare-video/nagare/internal/manager/api/apitypes"
)

// ---- console sessions: the admin token exchanged for a cookie ----
//
// The operator console signs in once with the admin token and then holds a session cookie, so that the
// token is neither kept by the page nor sent with every call. A session is stateless — the cookie carries
// its id and expiry, signed with a key derived from the admin token (changing the token ends every
// session) — so any manager of a cluster accepts it. Writes also need the X-CSRF-Token header, a value
// derived from the session that a page of another site cannot read; with SameSite=Strict this makes a
// cross-site write impossible twice over. Signing out revokes the session on this manager (kept until it
// would have expired) and clears the cookie.

// SessionCookie is the name of the console's session cookie.
const SessionCookie = "nagare_console"

// CSRFHeader carries the session's CSRF token on every write made with the session cookie.
const CSRFHeader = "X-CSRF-Token"

// DefaultSessionTTL is how long a console session lasts when Server.SessionTTL is zero.
const DefaultSessionTTL = 12 * time.Hour

const sessionIDLen = 16

// sessions holds the console sessions signed out on this manager before their expiry.
type sessions struct {
	mu      sync.Mutex
	revoked map[string]time.Time // session id → its expiry
}

// session is a verified console session.
type session struct {
	id      string
	expires time.Time
}

func (s *Server) sessionTTL() time.Duration {
	if s.SessionTTL > 0 {
		return s.SessionTTL
	}
	return DefaultSessionTTL
}

// DerivedKey is a key of its own for one use, named by label, derived from the admin token: what it signs
// (sessions, share links) reveals nothing of the token, every manager of a cluster derives the same key,
// and a new token withdraws everything signed with the old one.
func (s *Server) DerivedKey(label string) []byte {
	m := hmac.New(sha256.New, []byte(s.AdminToken))
	m.Write([]byte(label))
	return m.Sum(nil)
}

// sign signs sessions and CSRF tokens.
func (s *Server) sign(parts ...[]byte) []byte {
	m := hmac.New(sha256.New, s.DerivedKey("nagare console session v1"))
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

var b64 = base64.RawURLEncoding

// newSession makes a session and its cookie value: base64(expiry ‖ id) "." base64(signature).
func (s *Server) newSession() (session, string, error) {
	id := make([]byte, sessionIDLen)
	if _, err := rand.Read(id); err != nil {
		return session{}, "", fmt.Errorf("console session: %w", err)
	}
	exp := s.now().Add(s.sessionTTL()).Truncate(time.Second)
	payload := binary.BigEndian.AppendUint64(nil, uint64(exp.Unix()))
	payload = append(payload, id...)
	value := b64.EncodeToString(payload) + "." + b64.EncodeToString(s.sign([]byte("session"), payload))
	return session{id: string(id), expires: exp}, value, nil
}

// sessionError says why a session cookie was not accepted; it is an ErrUnauthenticated (401: sign in
// again), with a message of its own.
type sessionError struct{ why string }

func (e *sessionError) Error() string        { return "the console session " + e.why }
func (e *sessionError) Is(target error) bool { return target == ErrUnauthenticated }

// parseSession verifies a cookie value.
func (s *Server) parseSession(value string) (session, error) {
	p64, sig64, ok := strings.Cut(value, ".")
	payload, err1 := b64.DecodeString(p64)
	sig, err2 := b64.DecodeString(sig64)
	if !ok || err1 != nil || err2 != nil || len(payload) != 8+sessionIDLen {
		return session{}, &sessionError{"is malformed"}
	}
	if !hmac.Equal(sig, s.sign([]byte("session"), payload)) {
		return session{}, &sessionError{"was not made with this cluster's admin token"}
	}
	sess := session{id: string(payload[8:]), expires: time.Unix(int64(binary.BigEndian.Uint64(payload)), 0)}
	if !s.now().Before(sess.expires) {
		return session{}, &sessionError{"has expired"}
	}
	if s.sessions.isRevoked(sess.id) {
		return session{}, &sessionError{"was signed out"}
	}
	return sess, nil
}

// csrf is the CSRF token of a session.
func (s *Server) csrf(sess session) string {
	return b64.EncodeToString(s.sign([]byte("csrf"), []byte(sess.id)))
}

// sessionOf finds and verifies the request's session cookie; ok is false without one.
func (s *Server) sessionOf(r *http.Request) (sess session, ok bool, err error) {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return session{}, false, nil
	}
	sess, err = s.parseSession(c.Value)
	return sess, true, err
}

// authorizedSession authorizes an admin call made with the session cookie, and returns the session: any
// valid session may read; a write must carry the session's CSRF token.
func (s *Server) authorizedSession(r *http.Request) (session, error) {
	sess, ok, err := s.sessionOf(r)
	switch {
	case !ok:
		return session{}, ErrUnauthenticated
	case err != nil:
		return session{}, err
	}
	if safeMethod(r.Method) {
		return sess, nil
	}
	got, want := r.Header.Get(CSRFHeader), s.csrf(sess)
	if got == "" {
		return session{}, fmt.Errorf("%w: a write with the console session needs the %s header", ErrForbidden, CSRFHeader)
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return session{}, fmt.Errorf("%w: the %s header does not belong to this session", ErrForbidden, CSRFHeader)
	}
	return sess, nil
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

func (ss *sessions) revoke(sess session, now time.Time) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.revoked == nil {
		ss.revoked = map[string]time.Time{}
	}
	for id, exp := range ss.revoked {
		if !now.Before(exp) {
			delete(ss.revoked, id) // expired anyway
		}
	}
	ss.revoked[sess.id] = sess.expires
}

func (ss *sessions) isRevoked(id string) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	_, ok := ss.revoked[id]
	return ok
}

func (s *Server) setSessionCookie(w http.ResponseWriter, r *http.Request, value string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: value, Path: "/", Expires: expires,
		MaxAge: max(int(expires.Sub(s.now()).Seconds()), -1), HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil,
	})
}

// ---- the session calls of the console: /console/api/session ----

type signIn struct {
	Token string `json:"token"`
}

func sessionAnswer(s *Server, sess session) apitypes.Session {
	return apitypes.Session{SignedIn: true, CSRF: s.csrf(sess), ExpiresAt: sess.expires.UTC()}
}

// signIn exchanges the admin token for a session cookie.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request) error {
	var in signIn
	if err := decode(r, &in, refuseUnknown); err != nil {
		return err
	}
	if in.Token == "" {
		return invalidField("token", "give the admin token")
	}
	got, want := sha256.Sum256([]byte(in.Token)), sha256.Sum256([]byte(s.AdminToken))
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		s.Log.Warn("console sign-in refused", "remote", r.RemoteAddr, "cause", "wrong admin token")
		return fmt.Errorf("%w: that is not the admin token", ErrForbidden)
	}
	sess, value, err := s.newSession()
	if err != nil {
		return err
	}
	s.setSessionCookie(w, r, value, sess.expires)
	s.Log.Info("console signed in", "remote", r.RemoteAddr, "expires", sess.expires)
	writeJSON(w, http.StatusOK, sessionAnswer(s, sess))
	return nil
}

// getSession says whether the request's session is valid, and gives its CSRF token to the page again
// (after a reload the page has only the cookie, which it cannot read). Without a valid session the answer
// is still 200, {"signedIn": false, "reason": ...}: asking is not a failure, and a browser would log a 401
// as an error on every visit to the sign-in form.
func (s *Server) getSession(w http.ResponseWriter, r *http.Request) error {
	sess, ok, err := s.sessionOf(r)
	switch {
	case !ok:
		writeJSON(w, http.StatusOK, apitypes.Session{Reason: "sign in with the admin token"})
	case err != nil:
		writeJSON(w, http.StatusOK, apitypes.Session{Reason: message(status(err), err)})
	default:
		writeJSON(w, http.StatusOK, sessionAnswer(s, sess))
	}
	return nil
}

// signOut ends the session on this manager and clears the cookie.
func (s *Server) signOut(w http.ResponseWriter, r *http.Request) error {
	sess, err := s.authorizedSession(r)
	if err != nil {
		return err
	}
	s.sessions.revoke(sess, s.now())
	s.setSessionCookie(w, r, "", time.Unix(0, 0))
	s.Log.Info("console signed out", "remote", r.RemoteAddr)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
