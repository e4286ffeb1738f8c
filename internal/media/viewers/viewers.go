// Package viewers counts distinct HLS viewers honestly: each viewer gets a session id, signed by the node,
// that its later requests carry; a viewer is a session seen recently, not a request rate.
package viewers

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"time"

	"github.com/nagare-video/nagare/internal/media/stream"
)

// Param is the query parameter that carries a viewer's session id.
const Param = "nsid"

// RelayHeader marks a request from an edge or relay: it is not a viewer, and the playlists it gets carry
// no session id (the edge hands out its own).
const RelayHeader = "X-Nagare-Relay"

// Sessions counts distinct viewers. A session id is 8 random bytes and a 4-byte MAC under a key, so
// viewers cannot inflate the count with made-up ids.
type Sessions struct {
	// Key signs the session ids (at least 16 bytes; set before first use). The nodes of a cluster share
	// one, so that a player moved to another edge by content steering, whose URLs keep the session id its
	// first edge gave it, is counted there too. Empty: a random key of this node's own.
	Key []byte

	once sync.Once
	key  []byte
	mu   sync.Mutex
	seen map[string]sessionEntry
}

type sessionEntry struct {
	path stream.Path
	last time.Time
}

const maxSessions = 200000

func (ss *Sessions) init() {
	ss.once.Do(func() {
		if len(ss.Key) >= 16 {
			ss.key = ss.Key
		} else {
			ss.key = make([]byte, 32)
			_, _ = rand.Read(ss.key)
		}
		ss.seen = map[string]sessionEntry{}
	})
}

func (ss *Sessions) mac(b []byte) []byte {
	h := hmac.New(sha256.New, ss.key)
	h.Write(b)
	return h.Sum(nil)[:4]
}

// ClusterKey derives the session key of a cluster's nodes from its secret.
func ClusterKey(secret string) []byte {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte("nagare viewer sessions"))
	return h.Sum(nil)
}

// NewID returns a new session id.
func (ss *Sessions) NewID() string {
	ss.init()
	b := make([]byte, 8, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(append(b, ss.mac(b)...))
}

// Valid reports whether id was issued by this node.
func (ss *Sessions) Valid(id string) bool {
	ss.init()
	if len(id) != 24 {
		return false
	}
	b, err := hex.DecodeString(id)
	if err != nil || hex.EncodeToString(b) != id { // lower case only: one id, one spelling
		return false
	}
	return hmac.Equal(b[8:], ss.mac(b[:8]))
}

// Touch records a request of session id for stream p.
func (ss *Sessions) Touch(id string, p stream.Path) {
	ss.init()
	now := time.Now()
	ss.mu.Lock()
	e, ok := ss.seen[id]
	n := len(ss.seen)
	ss.mu.Unlock()
	if !ok && (n >= maxSessions || !ss.Valid(id)) {
		return
	}
	if ok && e.path == p && now.Sub(e.last) < 100*time.Millisecond {
		return
	}
	ss.mu.Lock()
	ss.seen[id] = sessionEntry{path: p, last: now}
	ss.mu.Unlock()
}

// Count returns live sessions of p (all streams if p is nil) and forgets expired ones.
func (ss *Sessions) Count(p *stream.Path, timeout time.Duration) int {
	ss.init()
	now := time.Now()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	n := 0
	for id, e := range ss.seen {
		if now.Sub(e.last) > timeout {
			delete(ss.seen, id)
			continue
		}
		if p == nil || e.path == *p {
			n++
		}
	}
	return n
}

// CountByStream returns the live sessions of every stream that has some, in one pass, and forgets
// expired ones.
func (ss *Sessions) CountByStream(timeout time.Duration) map[stream.Path]int {
	ss.init()
	now := time.Now()
	out := map[stream.Path]int{}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for id, e := range ss.seen {
		if now.Sub(e.last) > timeout {
			delete(ss.seen, id)
			continue
		}
		out[e.path]++
	}
	return out
}

// DropStream forgets the sessions of a stream that ended.
func (ss *Sessions) DropStream(p stream.Path) {
	ss.init()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for id, e := range ss.seen {
		if e.path == p {
			delete(ss.seen, id)
		}
	}
}
