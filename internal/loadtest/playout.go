package loadtest

import "time"

// playout models a player's buffer playing in real time: playback starts once the media at the start
// position is loaded (hls.js loads from an independent part and seeks into it, to PART-HOLD-BACK behind
// the live edge) and the first frame is shown firstFrame later; the playhead advances with the wall clock
// while media is buffered ahead of it, and a stall lasts from the instant the playhead reaches the end of
// the buffer to the load that puts resume of media ahead of it again.
type playout struct {
	// skip is the media a player seeks past in what it loads first: from the independent part it loads
	// from to its start position
	skip time.Duration
	// firstFrame is how long a player takes from the media at its start position being loaded to its
	// first frame shown (a decoder's set-up, the seek, its preroll); the playhead does not move meanwhile
	firstFrame time.Duration
	// startWork is the player's own work on each playlist and object it loads before its first frame
	// (hls.js: parsing, remuxing, appending to the MediaSource, the browser's set-up of the next
	// request), during which it asks for nothing; after the start that work hides behind playback
	startWork time.Duration
	began     time.Time // the player's first request
	started   bool
	playing   bool
	buffered  time.Duration // media loaded, from the first load on
	playhead  time.Duration // at ref, while playing; where it stopped, while stalled
	ref       time.Time
	stallAt   time.Time
	date0     time.Time     // the program date of media time 0 (zero if the playlist has none)
	resume    time.Duration // media a stalled player waits for
	// rtc: a WebRTC viewer, which has no buffer to play out: live follows it instead of advance
	rtc bool
	// left: the viewer has left (finish); nothing plays out any more
	left bool
}

// advance moves the playhead to now, opening a stall where the buffer ran out.
func (o *playout) advance(now time.Time, st *ViewerStats) {
	if !o.playing || o.rtc || o.left {
		return
	}
	ph := o.playhead + now.Sub(o.ref)
	if ph < o.buffered {
		o.playhead, o.ref = ph, now
		return
	}
	o.stallAt = o.ref.Add(o.buffered - o.playhead)
	o.playhead, o.playing = o.buffered, false
	st.Stalls++
}

// stalled returns how long the open stall has lasted at now (0 when playing).
func (o *playout) stalled(now time.Time) time.Duration {
	if !o.started || o.playing {
		return 0
	}
	return now.Sub(o.stallAt)
}

// append adds a loaded part or segment of it.duration.
func (o *playout) append(now time.Time, it item, st *ViewerStats) {
	o.advance(now, st)
	if o.buffered == 0 && !it.date.IsZero() {
		o.date0 = it.date
	}
	o.buffered += it.duration
	switch {
	case !o.started && o.buffered <= o.skip:
		// the start position is not loaded yet
	case !o.started:
		// the first frame shows firstFrame from now at the start position: the same, for what follows,
		// as a playhead that set out from firstFrame before the start position now
		o.started, o.playing, o.ref = true, true, now
		o.playhead = o.skip - o.firstFrame
		o.resume = it.duration
		ms := float64((now.Sub(o.began) + o.firstFrame).Microseconds()) / 1000
		st.StartupMs = &ms
	case !o.playing && o.buffered-o.playhead >= o.resume:
		st.endStall(o.stallAt, now.Sub(o.stallAt))
		o.playing, o.ref = true, now
	}
	if !o.date0.IsZero() {
		lat := float64(now.Sub(o.date0.Add(o.playhead)).Microseconds()) / 1000
		if len(st.LatencyMs) >= maxLatencySamples {
			st.LatencyMs = st.LatencyMs[1:]
		}
		st.LatencyMs = append(st.LatencyMs, lat)
	}
}

// finish closes the stall open at now, if any, into st: the viewer leaves.
func (o *playout) finish(now time.Time, st *ViewerStats) {
	o.advance(now, st)
	if d := o.stalled(now); d > 0 {
		st.endStall(o.stallAt, d)
	}
	o.left = true
}
