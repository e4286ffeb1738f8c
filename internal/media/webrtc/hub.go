package webrtc

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/nagare-video/nagare/internal/media/stream"
)

// hubLinger keeps a stream's hub (and an edge's upstream session) for a while after its last viewer
// leaves, so that a viewer who reloads does not cost a new upstream session and a keyframe wait.
const hubLinger = 5 * time.Second

// source feeds a hub: the node's own stream (origin) or a WHEP session to the parent (edge).
type source interface {
	// hasVideo and hasAudio say which tracks viewers get.
	hasVideo() bool
	hasAudio() bool
	// keyframe asks the source for a keyframe (already rate-limited by the hub).
	keyframe()
	// stop ends the feed; the hub's done channel closes once it has.
	stop()
}

// hub fans one stream's RTP out to its viewers. It is fed by exactly one goroutine (the source's), which
// calls writeVideo and writeAudio; viewers join and leave under the server's lock.
type hub struct {
	path    stream.Path
	src     source
	done    chan struct{} // closed when the source has ended
	viewers atomic.Pointer[[]*viewer]

	mu       sync.Mutex
	asks     coalescer
	idleFrom time.Time // when the last viewer left (zero while someone watches)
	stopped  bool      // idle for too long: the source is being stopped, no viewer may join
	counts   *Counts
}

// viewer is one WHEP session's end of the hub: its own tracks (so that pion rewrites SSRC and payload
// type for it alone), and whether it has had a keyframe yet.
type viewer struct {
	sess    *session
	video   *boundTrack
	audio   *boundTrack
	waitKey atomic.Bool // no video until the start of a keyframe: a decoder cannot start mid-GOP
}

// boundTrack is a viewer's track that knows when pion has bound it to the session (once DTLS is up):
// before that, what is written to it goes nowhere, so a keyframe written then would be lost.
type boundTrack struct {
	*webrtc.TrackLocalStaticRTP
	bound  atomic.Bool
	onBind func()
}

// Bind is called by pion when the session starts sending.
func (t *boundTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	p, err := t.TrackLocalStaticRTP.Bind(ctx)
	if err == nil && !t.bound.Swap(true) && t.onBind != nil {
		t.onBind()
	}
	return p, err
}

func newHub(p stream.Path, counts *Counts) *hub {
	h := &hub{path: p, done: make(chan struct{}), counts: counts}
	h.viewers.Store(&[]*viewer{})
	return h
}

func (h *hub) viewerCount() int { return len(*h.viewers.Load()) }

// add makes v a viewer; it reports false when the hub is ending.
func (h *hub) add(v *viewer) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case <-h.done:
		return false
	default:
	}
	if h.stopped {
		return false
	}
	old := *h.viewers.Load()
	next := make([]*viewer, 0, len(old)+1)
	next = append(append(next, old...), v)
	h.viewers.Store(&next)
	h.idleFrom = time.Time{}
	return true
}

func (h *hub) remove(v *viewer) {
	h.mu.Lock()
	defer h.mu.Unlock()
	old := *h.viewers.Load()
	next := make([]*viewer, 0, len(old))
	for _, o := range old {
		if o != v {
			next = append(next, o)
		}
	}
	h.viewers.Store(&next)
	if len(next) == 0 {
		h.idleFrom = time.Now()
	}
}

// idle reports whether the hub has had no viewer for hubLinger.
func (h *hub) idle(now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(*h.viewers.Load()) == 0 && !h.idleFrom.IsZero() && now.Sub(h.idleFrom) > hubLinger {
		h.stopped = true
	}
	return h.stopped
}

// askKeyframe passes a viewer's request for a keyframe (a join, a PLI or FIR) to the source, at most
// every keyframeAskEvery: a hundred viewers joining at once cost the publisher one keyframe.
func (h *hub) askKeyframe() { h.asks.do(keyframeAskEvery, h.src.keyframe) }

// coalescer runs a call at most every interval: a call within the interval is not dropped but made once
// at the interval's end, however many came meanwhile (a viewer who joined just after a keyframe went out
// still gets one).
type coalescer struct {
	mu      sync.Mutex
	last    time.Time
	pending bool
}

func (c *coalescer) do(every time.Duration, f func()) {
	c.mu.Lock()
	if c.pending {
		c.mu.Unlock()
		return
	}
	wait := every - time.Since(c.last)
	if wait <= 0 {
		c.last = time.Now()
		c.mu.Unlock()
		f()
		return
	}
	c.pending = true
	c.mu.Unlock()
	time.AfterFunc(wait, func() {
		c.mu.Lock()
		c.pending, c.last = false, time.Now()
		c.mu.Unlock()
		f()
	})
}

// writeVideo sends one video packet to every viewer; keyStart marks the first packet of a keyframe.
func (h *hub) writeVideo(pkt *rtp.Packet, keyStart bool) {
	n := 0
	for _, v := range *h.viewers.Load() {
		if v.video == nil {
			continue
		}
		if v.waitKey.Load() {
			if !keyStart || !v.video.bound.Load() {
				continue
			}
			v.waitKey.Store(false)
		}
		if v.video.WriteRTP(pkt) == nil {
			n++
		}
	}
	h.sent(n, pkt)
}

func (h *hub) writeAudio(pkt *rtp.Packet) {
	n := 0
	for _, v := range *h.viewers.Load() {
		if v.audio != nil && v.audio.WriteRTP(pkt) == nil {
			n++
		}
	}
	h.sent(n, pkt)
}

func (h *hub) sent(n int, pkt *rtp.Packet) {
	if n > 0 {
		h.counts.PacketsOut.Add(uint64(n))
		h.counts.BytesOut.Add(uint64(n * (pkt.MarshalSize())))
	}
}
