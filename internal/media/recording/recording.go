// Package recording keeps publications whole in object storage, as VOD, over segments its caller stored.
package recording

// The contract with the caller (the storage push): for each publication it calls Recorder.Start, and for
// each completed segment Publication.Take, which says whether the segment is recorded and in which
// recording. The caller stores every such segment (and its init section) under the publication's base, then
// reports it exactly once, Take.Stored or Take.Lost, in segment order. A recording is written (its VOD
// playlist, its manifest and, when configured, its MP4) once it is stopped and all its segments are
// reported: a segment is never dropped without the recording saying so.
//
// The renditions of an adaptive stream (stream.Rendition) are recorded with their source: from the same
// Set calls, and each recording of the source waits for those of its renditions made at the same time,
// then writes a VOD multivariant playlist of them all.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nagare-video/nagare/internal/media/segmenter"
	"github.com/nagare-video/nagare/internal/media/stream"
	"github.com/nagare-video/nagare/internal/objstore"
)

// Store is what the recorder needs of object storage.
type Store interface {
	Put(ctx context.Context, key string, r io.Reader, size int64, opts objstore.PutOptions) error
	Get(ctx context.Context, key string, rng *objstore.Range) (io.ReadCloser, objstore.ObjectInfo, error)
	Head(ctx context.Context, key string) (objstore.ObjectInfo, error)
}

// Content types and cache lifetimes of what the recorder writes.
const (
	PlaylistType  = "application/vnd.apple.mpegurl"
	PlaylistCache = "max-age=1"
	MP4Type       = "video/mp4"
	MediaCache    = "max-age=86400, immutable"
	ManifestType  = "application/json"
)

// Config says what is recorded and how.
type Config struct {
	// Record records every publication of the streams Streams selects ("app/stream" or "app/*"; none =
	// every stream), on top of those asked for with Set.
	Record  bool
	Streams []string
	// MP4 also writes each recording (of an fMP4 variant) as one MP4 file.
	MP4 bool
	// RetryMax bounds the wait between two attempts of a write.
	RetryMax time.Duration
	// GiveUpAfter bounds how long writing a recording goes on failing (default 1 min).
	GiveUpAfter time.Duration
	// Grace is how long recordings still have to be written once Run's context is cancelled (default 10 s).
	Grace time.Duration
}

// Recorder decides which publications are recorded and writes their recordings.
type Recorder struct {
	cfg     Config
	store   Store
	log     *slog.Logger
	metrics *Metrics

	mu        sync.Mutex
	requested map[stream.Path]bool         // set through Set, on top of Config.Record
	current   map[stream.Path]*Publication // the latest publication of each path

	// Locks are taken in this order: mu, a Publication's mu, qmu.
	qmu        sync.Mutex
	alive      int     // publications not ended
	unfinished int     // recordings stopped whose segments are not all reported yet
	ready      []*Take // complete recordings for Run to write
	wake       chan struct{}
}

// New makes a Recorder; Run writes its recordings. metrics may be nil.
func New(cfg Config, st Store, log *slog.Logger, metrics *Metrics) *Recorder {
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = 2 * time.Second
	}
	if cfg.GiveUpAfter <= 0 {
		cfg.GiveUpAfter = time.Minute
	}
	if cfg.Grace <= 0 {
		cfg.Grace = 10 * time.Second
	}
	return &Recorder{cfg: cfg, store: st, log: log, metrics: metrics, requested: map[stream.Path]bool{},
		current: map[stream.Path]*Publication{}, wake: make(chan struct{}, 1)}
}

// Run writes recordings as they complete, each in a goroutine of its own (an MP4 of hours takes minutes).
// Once ctx is cancelled it goes on for Config.Grace at most, while the publications still end: it returns
// when they have and their recordings are written, or when the grace period is over.
func (r *Recorder) Run(ctx context.Context) error {
	final, cancel := WithGrace(ctx, r.cfg.Grace)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	stopping := ctx.Done()
	for {
		r.qmu.Lock()
		ready := r.ready
		r.ready = nil
		idle := r.alive == 0 && r.unfinished == 0
		r.qmu.Unlock()
		for _, t := range ready {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.write(final, t)
			}()
		}
		if ctx.Err() != nil && idle {
			return nil
		}
		select {
		case <-r.wake:
		case <-stopping:
			stopping = nil
		case <-final.Done():
			r.qmu.Lock()
			left := len(r.ready) + r.unfinished
			r.qmu.Unlock()
			if left > 0 {
				r.log.Error("recordings not written: the node stopped", "recordings", left)
			}
			return nil
		}
	}
}

// WithGrace returns a context that is cancelled grace after ctx is: what must still be written when a
// node stops (the end of a stream, a recording) gets that long, and no longer.
func WithGrace(ctx context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	final, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var mu sync.Mutex
	var timer *time.Timer
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		timer = time.AfterFunc(grace, cancel)
	})
	return final, func() {
		stop()
		mu.Lock()
		if timer != nil {
			timer.Stop()
		}
		mu.Unlock()
		cancel()
	}
}

func (r *Recorder) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Set starts (or stops) recording sp: a publication of it that is live now is recorded from its next
// segment on (stopping ends that recording, which is then written at once), and its next publications
// are recorded whole. Stopping does not override Config.Record for the next publications.
func (r *Recorder) Set(sp stream.Path, on bool) {
	r.mu.Lock()
	defer r.mu.Unlock() // held throughout, so that calls and new publications take effect in order
	if on {
		r.requested[sp] = true
	} else {
		delete(r.requested, sp)
	}
	if cur := r.current[sp]; cur != nil {
		cur.set(on)
	}
	for _, cur := range r.current {
		if cur.rendition != nil && cur.rendition.Of == sp {
			cur.set(on)
		}
	}
}

// Now reports whether the publication of sp that is live now is being recorded.
func (r *Recorder) Now(sp stream.Path) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	cur := r.current[sp]
	if cur == nil {
		return false
	}
	cur.mu.Lock()
	defer cur.mu.Unlock()
	return cur.cur != nil && !cur.ended
}

// Next reports whether sp's next publication will be recorded.
func (r *Recorder) Next(sp stream.Path) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.next(sp)
}

func (r *Recorder) next(sp stream.Path) bool {
	return r.requested[sp] || r.cfg.Record && sp.MatchesAny(r.cfg.Streams)
}

// Start begins a publication of sp whose segments its caller stores under base (base/<name>); started
// is when it started. It is recorded whole if Set or Config.Record says so; a rendition (not nil) of
// another stream, if its source's live publication is being recorded (or, without one, would be).
func (r *Recorder) Start(sp stream.Path, rendition *stream.Rendition, base string, started time.Time) *Publication {
	if started.IsZero() {
		started = time.Now()
	}
	p := &Publication{r: r, path: sp, rendition: rendition, base: base, started: started, log: r.log.With("stream", sp.String())}
	r.mu.Lock()
	defer r.mu.Unlock()
	on := r.next(sp)
	if rendition != nil {
		p.source = r.current[rendition.Of]
		// without a live publication of the source, the rule for the source's next one applies
		on = on || (p.source == nil && r.next(rendition.Of))
	}
	if t := newTake(p, true); p.joinSource(t) || on {
		p.cur = t
	}
	r.current[sp] = p
	r.qmu.Lock()
	r.alive++
	r.qmu.Unlock()
	return p
}

// Publication is one publication of a stream, as far as recording it goes.
type Publication struct {
	r         *Recorder
	path      stream.Path
	rendition *stream.Rendition // set for a rendition of another stream
	source    *Publication      // a rendition's source's publication, when it was live at the start
	base      string
	started   time.Time
	log       *slog.Logger

	mu      sync.Mutex
	cur     *Take // the recording segments completed now go to; nil when not recording
	n       int   // recordings of this publication that got a segment so far
	ended   bool
	variant *segmenter.Variant // what a multivariant playlist says of the stream (Describe)
}

// joinSource makes t, a new recording of a rendition, one of the recording of its source under way, and
// reports whether there is one (called with p.mu held, or before p is shared).
func (p *Publication) joinSource(t *Take) bool {
	src := p.source
	if src == nil {
		return false
	}
	src.mu.Lock()
	defer src.mu.Unlock()
	if st := src.cur; st != nil && !src.ended {
		st.renditions = append(st.renditions, t)
		return true
	}
	return false
}

// Describe tells what a multivariant playlist says of the publication (its codecs, resolution, frame
// rate; the bandwidth of a recording is measured over its own segments).
func (p *Publication) Describe(v segmenter.Variant) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.variant = &v
}

// Take returns the recording a segment completed now belongs to, nil when it is not recorded. The caller
// must report the segment to it, once, with Stored or Lost. A nil Publication records nothing.
func (p *Publication) Take() *Take {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.cur
	if t == nil || p.ended {
		return nil
	}
	if t.n == 0 { // its first segment: numbered now, so a recording without segments takes no name
		p.n++
		t.n = p.n
		t.started = time.Now()
		if t.whole && t.n == 1 {
			t.started = p.started // recorded from the publication's start
		}
	}
	t.pending++
	return t
}

// set starts or stops recording from the next segment on; called with the recorder's lock held.
func (p *Publication) set(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.ended || (p.cur != nil) == on:
	case on:
		p.cur = newTake(p, false)
		p.joinSource(p.cur)
	default:
		p.stop()
	}
}

// stop ends the recording in progress; called with p.mu held.
func (p *Publication) stop() {
	t := p.cur
	p.cur = nil
	if t == nil {
		return
	}
	t.stopped = true
	if t.pending > 0 {
		p.r.qmu.Lock()
		p.r.unfinished++
		p.r.qmu.Unlock()
		return
	}
	t.finish()
}

// End ends the publication: its recording in progress is written once its segments are reported.
func (p *Publication) End() {
	if p == nil {
		return
	}
	r := p.r
	r.mu.Lock()
	if r.current[p.path] == p {
		delete(r.current, p.path)
	}
	p.mu.Lock()
	if !p.ended {
		p.ended = true
		p.stop()
		r.qmu.Lock()
		r.alive--
		r.qmu.Unlock()
	}
	p.mu.Unlock()
	r.mu.Unlock()
	r.signal()
}

// Take is one recording of a publication: whole, or from a start to a stop through Set.
type Take struct {
	pub   *Publication
	whole bool // started with the publication

	// under pub.mu
	n        int // 1 for the first of the publication; 0 until its first segment
	pending  int // segments given out by Publication.Take and not reported yet
	stopped  bool
	recorded []segmenter.SegmentInfo
	gaps     []Gap
	sizes    []int64 // of the recorded segments
	lastMSN  uint64
	haveMSN  bool
	bytes    int64
	started  time.Time
	// renditions are the recordings of the source's renditions made with this one (a source's)
	renditions []*Take

	// settled is closed once the recording is written, or known never to be
	settled chan struct{}
}

func newTake(p *Publication, whole bool) *Take {
	return &Take{pub: p, whole: whole, settled: make(chan struct{})}
}

// Stored reports that seg, of size bytes, is in storage under the publication's base. seg.InitName
// names its init section ("" in MPEG-TS), which must be there too.
func (t *Take) Stored(seg segmenter.SegmentInfo, size int64) {
	p := t.pub
	p.mu.Lock()
	defer p.mu.Unlock()
	if t.haveMSN && seg.MSN > t.lastMSN+1 {
		t.addGap(t.lastMSN+1, seg.MSN-1, "segments missing")
	}
	t.recorded = append(t.recorded, seg)
	t.sizes = append(t.sizes, size)
	t.bytes += size
	t.lastMSN, t.haveMSN = seg.MSN, true
	t.reported()
}

// Lost reports that the segment msn could not be stored: the recording lists it as a gap.
func (t *Take) Lost(msn uint64, reason string) {
	p := t.pub
	p.log.Error("recording gap", "msn", msn, "cause", reason)
	if m := p.r.metrics; m != nil {
		m.Gaps.Inc()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	t.addGap(msn, msn, reason)
	t.lastMSN, t.haveMSN = msn, true
	t.reported()
}

// reported counts one segment reported; called with pub.mu held.
func (t *Take) reported() {
	t.pending--
	if t.stopped && t.pending == 0 {
		r := t.pub.r
		r.qmu.Lock()
		r.unfinished--
		r.qmu.Unlock()
		t.finish()
	}
}

func (t *Take) addGap(from, to uint64, reason string) {
	if n := len(t.gaps); n > 0 && t.gaps[n-1].ToMSN+1 == from && t.gaps[n-1].Reason == reason {
		t.gaps[n-1].ToMSN = to
		return
	}
	t.gaps = append(t.gaps, Gap{FromMSN: from, ToMSN: to, Reason: reason})
}

// finish hands t to Run once it is stopped and every segment of it is reported; called with pub.mu
// held. From then on nothing changes it.
func (t *Take) finish() {
	p := t.pub
	r := p.r
	defer r.signal()
	switch {
	case len(t.recorded) > 0:
		r.qmu.Lock()
		r.ready = append(r.ready, t)
		r.qmu.Unlock()
	case len(t.gaps) > 0:
		p.log.Error("recording lost: none of its segments could be stored", "gaps", len(t.gaps))
		if m := r.metrics; m != nil {
			m.Failed.Inc()
		}
	default: // asked for and stopped before a segment completed
	}
	if len(t.recorded) == 0 {
		close(t.settled)
	}
}

// Gap is a part of a recording that could not be stored.
type Gap struct {
	// FromMSN and ToMSN are the first and last missing segments.
	FromMSN uint64 `json:"fromMsn"`
	ToMSN   uint64 `json:"toMsn"`
	Reason  string `json:"reason"`
}

// Manifest describes a recording for the VOD service.
type Manifest struct {
	Stream   string    `json:"stream"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Duration float64   `json:"duration"` // seconds
	Size     int64     `json:"size"`     // bytes of media
	Segments int       `json:"segments"`
	Playlist string    `json:"playlist"`
	MP4      string    `json:"mp4,omitempty"`
	Gaps     []Gap     `json:"gaps"`
	// Multivariant is the VOD multivariant playlist of the recording of an adaptive stream: the stream
	// and the recordings of its renditions made with it (Renditions, their VOD playlists).
	Multivariant string   `json:"multivariant,omitempty"`
	Renditions   []string `json:"renditions,omitempty"`
	// RenditionOf names the source of the recording of a rendition (the source's recording lists it).
	RenditionOf string `json:"renditionOf,omitempty"`
}

// JSON renders m.
func (m Manifest) JSON() []byte {
	b, _ := json.MarshalIndent(m, "", "  ")
	return b
}

// name names the publication's n-th recording after the segments' own prefix, unique per publication:
// <prefix>_recording, then <prefix>_recording2, ...
func (t *Take) name() string {
	base := "recording"
	first := t.recorded[0].InitName // MPEG-TS has no init section: its first recorded segment names it
	if first == "" {
		first = t.recorded[0].Name
	}
	if i := strings.LastIndex(first, "_"); i > 0 {
		base = first[:i] + "_recording"
	}
	if t.n > 1 {
		base += strconv.Itoa(t.n)
	}
	return base
}

// Metrics are the recorder's Prometheus series.
type Metrics struct {
	Gaps   prometheus.Counter
	Stored prometheus.Counter
	Failed prometheus.Counter
}

// NewMetrics registers the series with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Gaps: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nagare_recording_gaps_total", Help: "Recorded segments that could not be stored (marked in the recording).",
		}),
		Stored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nagare_recordings_stored_total", Help: "Recordings written (VOD playlist and manifest).",
		}),
		Failed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nagare_recordings_failed_total", Help: "Recordings that could not be written.",
		}),
	}
	reg.MustRegister(m.Gaps, m.Stored, m.Failed)
	return m
}

// ErrBadManifest reports a manifest that is not one (ReadManifest).
var ErrBadManifest = errors.New("malformed recording manifest")

// ReadManifest reads the manifest stored under key.
func ReadManifest(ctx context.Context, st interface {
	Get(ctx context.Context, key string, rng *objstore.Range) (io.ReadCloser, objstore.ObjectInfo, error)
}, key string) (Manifest, error) {
	var m Manifest
	rc, _, err := st.Get(ctx, key, nil)
	if err != nil {
		return m, fmt.Errorf("reading manifest %s: %w", key, err)
	}
	defer rc.Close()
	if err := json.NewDecoder(rc).Decode(&m); err != nil {
		return m, fmt.Errorf("%w %s: %w", ErrBadManifest, key, err)
	}
	return m, nil
}
