package segmenter

import (
	"sync"
	"time"
)

// Cuts is the record of where a segmenter (the leader: the source of an adaptive stream) started its
// segments and parts, for the segmenters of the stream's other renditions (followers) to cut at the same
// instants with the same media sequence numbers and part indexes: the LL-HLS renditions of a ladder then
// line up part for part, as players switching between them need (RFC 8216bis §6.2.4: the same media
// sequence number is the same content in every variant).
//
// A cut is named by the presentation time of the first sample after it, on the timeline every
// segmenter of the stream shares: the leader's (its first sample's decode time at startOffset). The
// renditions' samples carry the source's timestamps (the transcoder keeps them), so a follower's
// keyframe forced on a source keyframe has the presentation time of a cut.
type Cuts struct {
	mu        sync.Mutex
	originSet bool
	origin    time.Duration // the stream time (stream.Unit.PTS) of the leader's timeline start
	list      []cut         // the recent cuts, in order
	progress  time.Duration // every cut at or before this presentation time is in list
	ended     bool
	// changed is closed and replaced when anything above changes while waiters > 0 (most streams have
	// no follower: their leader's every sample must not cost a channel)
	changed chan struct{}
	waiters int
}

type cut struct {
	pts  time.Duration // of the first sample after the cut, on the timeline
	msn  uint64
	part int       // 0: a segment starts here
	date time.Time // the segment's EXT-X-PROGRAM-DATE-TIME
	disc bool      // the segment follows a discontinuity
}

// cutsKept bounds the record: followers are behind their leader by an encoder's delay, far less than
// the 200 s of 200 ms parts this keeps.
const cutsKept = 1024

// followWait bounds how long a follower waits for its leader to reach a sample's time before going on
// without a cut (a leader that stalls must not stall its renditions for good).
const followWait = 3 * time.Second

func newCuts() *Cuts { return &Cuts{changed: make(chan struct{})} }

// notify wakes the waiters, if any; c.mu is held.
func (c *Cuts) notify() {
	if c.waiters > 0 {
		close(c.changed)
		c.changed = make(chan struct{})
	}
}

func (c *Cuts) setOrigin(origin time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.origin, c.originSet = origin, true
	c.notify()
}

func (c *Cuts) add(k cut) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.list) >= 2*cutsKept {
		c.list = append(c.list[:0], c.list[len(c.list)-cutsKept:]...)
	}
	c.list = append(c.list, k)
	c.progress = max(c.progress, k.pts)
	c.notify()
}

func (c *Cuts) advance(pts time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if pts > c.progress {
		c.progress = pts
		c.notify()
	}
}

func (c *Cuts) end() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ended {
		c.ended = true
		c.notify()
	}
}

// waitOrigin returns the leader's origin, waiting for it at most followWait.
func (c *Cuts) waitOrigin() (time.Duration, bool) {
	ok := c.waitFor(func() bool { return c.originSet })
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.origin, ok && c.originSet
}

// waitFor waits, at most followWait, until cond (called with c.mu held) holds or the leader ended. It
// reports whether cond holds.
func (c *Cuts) waitFor(cond func() bool) bool {
	c.mu.Lock()
	if ok := cond(); ok || c.ended {
		c.mu.Unlock()
		return ok
	}
	c.waiters++
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.waiters--
		c.mu.Unlock()
	}()
	timer := time.NewTimer(followWait)
	defer timer.Stop()
	for {
		c.mu.Lock()
		ok, ended, changed := cond(), c.ended, c.changed
		c.mu.Unlock()
		if ok || ended {
			return ok
		}
		select {
		case <-changed:
		case <-timer.C:
			return false
		}
	}
}

// cutTolerance absorbs the rounding of timestamps carried through an encoder at another clock rate.
const cutTolerance = time.Millisecond

// next returns the latest cut at or before pts that comes after part `part` of segment msn, once the
// leader has gone as far as pts (or waited followWait for it).
func (c *Cuts) next(pts time.Duration, msn uint64, part int) (cut, bool) {
	c.waitFor(func() bool { return c.progress+cutTolerance >= pts })
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.list) - 1; i >= 0; i-- {
		k := c.list[i]
		if k.msn < msn || (k.msn == msn && k.part <= part) {
			return cut{}, false
		}
		if k.pts <= pts+cutTolerance {
			return k, true
		}
	}
	return cut{}, false
}

// segmentAt returns the segment cut at pts, if the leader made one there.
func (c *Cuts) segmentAt(pts time.Duration) (cut, bool) {
	c.waitFor(func() bool { return c.progress+cutTolerance >= pts })
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.list) - 1; i >= 0; i-- {
		k := c.list[i]
		if k.pts+cutTolerance < pts {
			break
		}
		if k.part == 0 && k.pts <= pts+cutTolerance {
			return k, true
		}
	}
	return cut{}, false
}

// segmentBetween returns the segment cut after the presentation time after and at or before upto, if
// the leader made one there: where a follower whose samples never fall on the leader's (audio) starts.
func (c *Cuts) segmentBetween(after, upto time.Duration) (cut, bool) {
	c.waitFor(func() bool { return c.progress+cutTolerance >= upto })
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.list) - 1; i >= 0; i-- {
		k := c.list[i]
		if k.pts <= after+cutTolerance {
			break
		}
		if k.part == 0 && k.pts <= upto+cutTolerance {
			return k, true
		}
	}
	return cut{}, false
}
