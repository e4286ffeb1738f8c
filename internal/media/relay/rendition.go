package relay

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/nagare-video/nagare/internal/media/hlshttp"
)

// rendition keeps the current media playlist of one rendition. While viewers watch, one loop keeps it
// current: with an LL-HLS parent it sends one blocking request for the next part at a time, so the edge
// learns of a part the moment the parent lists it; with a classic parent it polls.
type rendition struct {
	p    *pull
	file string

	mu      sync.Mutex
	changed chan struct{} // closed and replaced at every update
	current *response     // the latest sound playlist
	state   playlistState
	failure *response // the latest failure, while there is no sound playlist
	good    time.Time // when the parent last sent a sound playlist
	running bool
}

// staleGrace is how long the last sound playlist is served after the parent stopped answering, or
// answered that the stream is gone: long enough for an origin restart or a publisher reconnect to look
// like a stall to viewers, short enough that an ended stream ends.
func (st playlistState) staleGrace() time.Duration {
	return max(3*st.target, 3*time.Second)
}

// serve answers a viewer: for a blocking request the first playlist that lists the requested part,
// waiting up to three target durations for it; for a plain one of a low-latency playlist, the playlist
// as its next part is listed, within hlshttp.FreshWait (as the origin does: a player places its
// start from the newest part it sees); otherwise the current playlist.
func (rd *rendition) serve(ctx context.Context, msn, part int64, blocking bool) *response {
	rd.ensureLoop()
	// made when the request must wait: most (a reload for a part the edge has) are answered at once
	var deadline *time.Timer
	arm := func(d time.Duration) {
		if deadline == nil {
			deadline = time.NewTimer(d)
		} else {
			deadline.Reset(d)
		}
	}
	defer func() {
		if deadline != nil {
			deadline.Stop()
		}
	}()
	armed := false
	for {
		rd.mu.Lock()
		cur, st, fail, changed := rd.current, rd.state, rd.failure, rd.changed
		rd.mu.Unlock()
		if cur != nil {
			if !blocking && !armed && st.blocking && st.partTarget > 0 {
				// a plain request: wait for the next part
				blocking, msn, part = true, st.next, st.parts
				arm(hlshttp.FreshWait(st.partTarget))
				armed = true
			}
			if !blocking || st.has(msn, part) {
				return cur
			}
			if msn > st.next+1 {
				return &response{status: http.StatusBadRequest, msg: fmt.Sprintf("_HLS_msn %d is beyond the live edge (%d)", msn, st.next)}
			}
			if !armed {
				// LL-HLS: answer a blocking request within three target durations of the request
				arm(3 * st.target)
				armed = true
			}
		} else if fail != nil {
			return fail
		}
		if deadline == nil {
			arm(10 * time.Second) // no playlist from the parent yet
		}
		var late, cancelled, stopped bool
		rd.p.s.held.Add(1)
		select {
		case <-changed:
		case <-deadline.C:
			late = true
		case <-ctx.Done():
			cancelled = true
		case <-rd.p.ctx.Done():
			stopped = true
		}
		rd.p.s.held.Add(-1)
		switch {
		case cancelled:
			return &response{status: http.StatusServiceUnavailable, msg: "request cancelled"}
		case (late || stopped) && cur != nil:
			// the part is late: give the latest, the player asks again. Or the node is stopping (or the
			// stream left it) and the part will not come from here: the latest playlist, rather than a 503
			// that hls.js retries on this node a second later, lets the player's next request find the node
			// gone (its connection refused), which makes it move to another pathway at once, within the
			// buffer it holds
			return cur
		case late:
			return &response{status: http.StatusGatewayTimeout, msg: "the parent has not answered yet"}
		case stopped:
			return &response{status: http.StatusServiceUnavailable, msg: "the stream is no longer pulled"}
		}
	}
}

// serving reports whether the rendition still has a sound playlist to give.
func (rd *rendition) serving() bool {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	return rd.current != nil && time.Since(rd.good) <= rd.state.staleGrace()
}

// ensureLoop starts the loop unless it runs; it runs with the pull's context, and Run waits for it.
func (rd *rendition) ensureLoop() {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if !rd.running && rd.p.s.spawn(rd.p.ctx, rd.loop) {
		rd.running = true
	}
}

func (rd *rendition) publish(cur *response, st playlistState, fail *response) {
	rd.mu.Lock()
	switch {
	case cur != nil:
		rd.current, rd.state, rd.failure, rd.good = cur, st, nil, time.Now()
	case rd.current == nil || time.Since(rd.good) > rd.state.staleGrace():
		rd.current, rd.failure = nil, fail
	default:
		// keep serving the last sound playlist through a parent outage: viewers stall, nothing breaks
	}
	close(rd.changed)
	rd.changed = make(chan struct{})
	rd.mu.Unlock()
}

// loop keeps the playlist current until the stream is idle or ctx, the pull's, is done.
func (rd *rendition) loop(ctx context.Context) {
	p := rd.p
	backoff := 100 * time.Millisecond
	for {
		rd.mu.Lock()
		if ctx.Err() != nil || p.idle(time.Now()) {
			// decided under the lock, so that a viewer arriving now starts a new loop
			rd.running = false
			rd.mu.Unlock()
			return
		}
		st, have := rd.state, rd.current != nil
		rd.mu.Unlock()
		rel, timeout, kind := p.rel(rd.file), 10*time.Second, "playlist"
		if have && st.blocking {
			rel += fmt.Sprintf("?_HLS_msn=%d&_HLS_part=%d", st.next, st.parts)
			timeout, kind = 3*st.target+2*time.Second, "blocking"
		}
		res, err := p.fetch(ctx, kind, rel, timeout, maxPlaylistBytes)
		if ctx.Err() != nil {
			continue // the loop ends at the top
		}
		if err == nil && res.status == http.StatusBadRequest && have {
			// the parent restarted its stream and our position means nothing to it: start over
			rd.mu.Lock()
			rd.state = playlistState{}
			rd.current = nil
			rd.mu.Unlock()
			continue
		}
		res = p.checked(res, err, rd.file, true)
		if res.status == http.StatusNotFound && !rd.serving() {
			// the parent has no such playlist: answer the waiting viewers and forget it, so that made-up
			// names cost one upstream request each and no goroutine
			rd.publish(nil, playlistState{}, res)
			p.forget(rd)
			return
		}
		if res.status != http.StatusOK {
			rd.publish(nil, playlistState{}, res)
			if res.status == http.StatusNotFound || res.status == http.StatusBadGateway {
				// the stream may have moved to another origin (its publisher reconnected there): the
				// multivariant playlist, refreshed at most once a second, finds where it went
				p.multivariant()
			}
			sleep(ctx, backoff)
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		next, ok := parseMediaPlaylist(res.body)
		if !ok {
			p.s.Log.Warn("parent sent an unreadable media playlist", "stream", p.path.String(), "playlist", rd.file)
			rd.publish(nil, playlistState{}, &response{status: http.StatusBadGateway, msg: "the parent sent an unreadable playlist"})
			sleep(ctx, backoff)
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		rd.publish(res, next, nil)
		if !next.blocking {
			// a classic parent: poll a few times per target duration
			sleep(ctx, max(next.target/3, 300*time.Millisecond))
		}
	}
}

// sleep waits d, or less when ctx is done first.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
