package stream

import (
	"sync"
	"sync/atomic"
	"time"
)

// Track is one elementary stream of a published stream.
type Track struct {
	Codec Codec
}

// Unit is one access unit (video) or one group of audio frames, as the publisher sent it.
type Unit struct {
	Track *Track
	// NTP is the wall-clock time at which the unit was received.
	NTP time.Time
	// PTS is the presentation time relative to the start of the publication.
	PTS time.Duration
	// Payload is a list of NAL units (H.264/H.265), OBUs (AV1), or frames (VP9, audio).
	Payload [][]byte
	// Size is the number of payload bytes, for accounting.
	Size int
}

// PayloadSize adds up the bytes of a unit's payload (its Size).
func PayloadSize(payload [][]byte) int {
	n := 0
	for _, b := range payload {
		n += len(b)
	}
	return n
}

// Rendition describes a stream that is one rendition of an adaptive stream: a transcoder's output for
// one rung of the source's ladder, published as <app>/<source>_<rung> with the source's timestamps.
type Rendition struct {
	Of   Path   // the source stream
	Rung string // the rung's name
	// Bandwidth is the rendition's nominal peak video bit rate, in bit/s (0: measured only)
	Bandwidth int
	// Kind says what of the ladder the stream is: a rung (transcoded video), or one of the source's own
	// tracks split out of it, since the video of a ladder's variants is video only and its audio one
	// rendition they share (an EXT-X-MEDIA audio group).
	Kind RenditionKind
}

// RenditionKind is what a rendition is to its ladder.
type RenditionKind int

// Kinds of renditions.
const (
	// KindRung is a transcoded rung (video only).
	KindRung RenditionKind = iota
	// KindSourceVideo is the source's video alone: the ladder's top rung, named SourceVideoRung.
	KindSourceVideo
	// KindAudio is the source's audio alone: the audio rendition every variant of the ladder plays,
	// named AudioRung.
	KindAudio
)

// The rung names of the source's split tracks: no rung of a ladder may take them.
const (
	SourceVideoRung = "source"
	AudioRung       = "audio"
)

// ReservedRung reports whether name is one of the names a ladder's own renditions take.
func ReservedRung(name string) bool { return name == SourceVideoRung || name == AudioRung }

// RenditionPath is the path of the rendition named rung of the stream at p.
func RenditionPath(p Path, rung string) (Path, error) {
	return ParsePath(p.App + "/" + p.Name + "_" + rung)
}

// Stream is one live publication: its tracks and the readers consuming it.
type Stream struct {
	Path      Path
	Tracks    []*Track
	Protocol  string // "rtmp", "srt" or "webrtc"
	Remote    string // publisher's address
	StartedAt time.Time
	// Rendition is set when the stream is a rendition of another (a rung of its adaptive ladder).
	Rendition *Rendition

	// close ends the publisher's session; called on takeover or node shutdown.
	close func()
	// keyframe asks the publisher for a keyframe (nil when it cannot be asked)
	keyframe func()

	mu      sync.RWMutex
	readers map[*Reader]struct{}
	done    bool

	bytesIn atomic.Uint64
	total   *atomic.Uint64 // the registry's total, across ended streams too
	units   atomic.Uint64
	dropped atomic.Uint64
}

// Reader receives the units of a stream through a bounded queue. When the queue is full, new units are
// dropped and counted: a slow reader never blocks the publisher or the other readers.
type Reader struct {
	Name    string
	c       chan *Unit
	dropped atomic.Uint64
	stream  *Stream
	track   *Track // if set, the only track whose units the reader gets (AddTrackReader)
	// consume and done, for an inline reader (AddInlineReader), replace the queue
	consume func(*Unit)
	done    func()
}

// Units returns the queue; it is closed when the stream ends or the reader is removed.
func (r *Reader) Units() <-chan *Unit { return r.c }

// Dropped returns how many units this reader lost because its queue was full.
func (r *Reader) Dropped() uint64 { return r.dropped.Load() }

// AddReader attaches a reader with a queue of queueLen units. It returns nil if the stream has ended.
func (s *Stream) AddReader(name string, queueLen int) *Reader {
	return s.add(&Reader{Name: name, c: make(chan *Unit, queueLen), stream: s})
}

// AddTrackReader is AddReader for the units of track t alone (all of them if t is nil): the others never
// enter its queue, nor wake its goroutine.
func (s *Stream) AddTrackReader(name string, queueLen int, t *Track) *Reader {
	return s.add(&Reader{Name: name, c: make(chan *Unit, queueLen), stream: s, track: t})
}

// add attaches r, unless the stream has ended (nil).
func (s *Stream) add(r *Reader) *Reader {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return nil
	}
	if s.readers == nil {
		s.readers = make(map[*Reader]struct{})
	}
	s.readers[r] = struct{}{}
	return r
}

// AddInlineReader attaches a reader without a queue: consume is called with every unit in Write, on the
// publisher's goroutine, and done once when the stream ends or the reader is removed. It is for a reader
// whose work is short and never waits (the HLS muxer of a stream of its own: a segmenter, whose
// observers only queue): handing each unit to a goroutine of its own cost more than the work, in thread
// wake-ups and context switches, on a node with many streams. It returns nil if the stream has ended.
func (s *Stream) AddInlineReader(name string, consume func(*Unit), done func()) *Reader {
	return s.add(&Reader{Name: name, stream: s, consume: consume, done: done})
}

// RemoveReader detaches r and closes its queue (or, inline, calls its done).
func (s *Stream) RemoveReader(r *Reader) {
	s.mu.Lock()
	_, ok := s.readers[r]
	if ok {
		delete(s.readers, r)
		if r.consume == nil {
			close(r.c)
		}
	}
	s.mu.Unlock()
	if ok && r.done != nil {
		r.done()
	}
}

// Write hands u to every reader without blocking.
func (s *Stream) Write(u *Unit) {
	s.bytesIn.Add(uint64(u.Size))
	if s.total != nil {
		s.total.Add(uint64(u.Size))
	}
	s.units.Add(1)
	s.mu.RLock()
	defer s.mu.RUnlock()
	for r := range s.readers {
		if r.consume != nil {
			r.consume(u)
			continue
		}
		if r.track != nil && r.track != u.Track {
			continue
		}
		select {
		case r.c <- u:
		default:
			r.dropped.Add(1)
			s.dropped.Add(1)
		}
	}
}

// end closes every reader's queue. It reports false if the stream had already ended.
func (s *Stream) end() bool {
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		return false
	}
	s.done = true
	var inline []*Reader
	for r := range s.readers {
		if r.consume != nil {
			inline = append(inline, r)
			continue
		}
		close(r.c)
	}
	s.readers = nil
	s.mu.Unlock()
	for _, r := range inline {
		if r.done != nil {
			r.done()
		}
	}
	return true
}

// Close asks the publisher to stop; the publisher then unpublishes.
func (s *Stream) Close() {
	if s.close != nil {
		s.close()
	}
}

// RequestKeyframe asks the publisher for a keyframe, where its protocol allows it (WebRTC); it reports
// whether it could ask. Callers rate-limit: a publisher asked too often spends its bitrate on keyframes.
func (s *Stream) RequestKeyframe() bool {
	if s.keyframe == nil {
		return false
	}
	s.keyframe()
	return true
}

// BytesIn returns the payload bytes received so far.
func (s *Stream) BytesIn() uint64 { return s.bytesIn.Load() }

// Units returns the number of units received so far.
func (s *Stream) UnitCount() uint64 { return s.units.Load() }

// Dropped returns the number of units dropped across all readers.
func (s *Stream) Dropped() uint64 { return s.dropped.Load() }
