package relay

import (
	"time"

	"github.com/nagare-video/nagare/internal/media/stream"
)

const (
	// defaultNotFoundTTL is how long a stream the parent does not have is answered 404 without asking
	// again: a flood of made-up names costs one upstream request per name per second, and a stream that
	// starts just after a viewer asked for it is reachable a second later.
	defaultNotFoundTTL = time.Second
	// maxMissing bounds the streams remembered as missing; past it the oldest are forgotten, which costs
	// one more upstream request each, never memory.
	maxMissing = 8192
)

// missingSet remembers the streams the parent answered 404 for, for a while. Entries expire in the
// order they were added (one TTL for all), so a FIFO keeps both expiry and eviction O(1). Not safe for
// concurrent use: Server.mu guards it.
type missingSet struct {
	until map[stream.Path]time.Time
	order []missingEntry // oldest first; may hold entries since re-added (their until differs)
}

type missingEntry struct {
	path  stream.Path
	until time.Time
}

// has reports whether path is remembered as missing at now.
func (m *missingSet) has(path stream.Path, now time.Time) bool {
	until, ok := m.until[path]
	return ok && now.Before(until)
}

// add remembers path as missing until now+ttl; ttl must be the same at every call.
func (m *missingSet) add(path stream.Path, now time.Time, ttl time.Duration) {
	if m.until == nil {
		m.until = map[stream.Path]time.Time{}
	}
	m.expire(now)
	for len(m.order) >= maxMissing {
		m.pop()
	}
	until := now.Add(ttl)
	m.until[path] = until
	m.order = append(m.order, missingEntry{path: path, until: until})
}

// expire forgets the entries that have expired at now.
func (m *missingSet) expire(now time.Time) {
	for len(m.order) > 0 && !now.Before(m.order[0].until) {
		m.pop()
	}
	if len(m.order) == 0 {
		m.order = nil // let the backing array go after a flood
	}
}

func (m *missingSet) pop() {
	e := m.order[0]
	m.order[0] = missingEntry{}
	m.order = m.order[1:]
	if m.until[e.path].Equal(e.until) {
		delete(m.until, e.path)
	}
}

func (m *missingSet) len() int { return len(m.until) }
