// Package hlspush mirrors live HLS into object storage as the segmenter writes it, and stores the segments a recording needs.
package hlspush

// Each stream has one ordered queue and one worker; the workers of all streams share a bounded number of
// uploads in flight. The segmenter's callbacks only enqueue, so slow or absent storage never touches live
// viewers: the queue is bounded (the oldest live objects are skipped), and a playlist is uploaded only
// once every object it names is in the bucket (skipped ones still in the live window are uploaded first).
//
// Recording is the recording package's: for each completed segment the push asks the publication's
// recording (Publication.Take) whether it is recorded, uploads it (with its init section) even when the
// stream is not pushed, keeps it out of the live window's deletions and reports it, stored or lost: a
// recorded segment the backlog must drop stays in the queue as a marker, so the recording lists the gap.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nagare-video/nagare/internal/media/recording"
	"github.com/nagare-video/nagare/internal/media/segmenter"
	"github.com/nagare-video/nagare/internal/media/stream"
	"github.com/nagare-video/nagare/internal/objstore"
)

// Store is what the push needs of object storage.
type Store interface {
	Put(ctx context.Context, key string, r io.Reader, size int64, opts objstore.PutOptions) error
	Delete(ctx context.Context, key string) error
}

// Recorder starts the recording side of each publication (a *recording.Recorder).
type Recorder interface {
	Start(sp stream.Path, rendition *stream.Rendition, base string, started time.Time) *recording.Publication
}

var _ Recorder = (*recording.Recorder)(nil)

// Cache lifetimes and content types of what is pushed.
const (
	PlaylistCache = recording.PlaylistCache
	MediaCache    = recording.MediaCache
	PlaylistType  = recording.PlaylistType
	MP4Type       = recording.MP4Type
	TSType        = "video/mp2t"
	// MediaPlaylist and Multivariant are the playlist names in a stream's prefix.
	MediaPlaylist = "stream.m3u8"
	Multivariant  = "index.m3u8"
	// LLMediaPlaylist and LLMultivariant are the low-latency copies (Config.LowLatency).
	LLMediaPlaylist = "stream_ll.m3u8"
	LLMultivariant  = "index_ll.m3u8"
)

// Config says what is pushed and how.
type Config struct {
	// Push mirrors live streams, those Streams selects ("app/stream" or "app/*"; none = every stream).
	// Without it only recorded segments are uploaded.
	Push    bool
	Streams []string
	// Prefix starts every key: <prefix>/<app>/<stream>/<name>.
	Prefix string
	// LowLatency also pushes an LL-HLS playlist (stream_ll.m3u8, index_ll.m3u8) that lists the parts,
	// without blocking reloads (storage cannot hold a request): players poll it. It changes with every part.
	LowLatency bool
	// KeepOld leaves objects that fell out of the live window in the bucket (for a lifecycle rule to
	// expire); otherwise they are deleted.
	KeepOld bool
	// HideSource lists only the renditions in the multivariant playlist of a stream that has some.
	HideSource bool
	// Concurrency bounds the uploads in flight across all streams.
	Concurrency int
	// Backlog bounds the objects queued per stream; past it the oldest live objects are skipped.
	Backlog int
	// RetryMax bounds the wait between two attempts of an upload.
	RetryMax time.Duration
	// GiveUpAfterEnd bounds how long a stream's uploads go on failing once it has ended (default 1 min).
	GiveUpAfterEnd time.Duration
	// Grace is how long, once Run's context is cancelled, what must still be written (a stream's final
	// playlist, the segments of its recording) has (default 10 s). The rest of the live push stops at once.
	Grace time.Duration
}

// Pusher pushes the streams of one node; Run does the uploads.
type Pusher struct {
	cfg     Config
	store   Store
	rec     Recorder
	log     *slog.Logger
	metrics *Metrics
	sem     chan struct{}

	mu      sync.Mutex
	current map[stream.Path]*streamPush // the latest publication of each path
	started []*streamPush               // publications for Run to start a worker for
	running int                         // workers started and not finished
	wake    chan struct{}
}

// New makes a Pusher. rec records (nil: nothing is); metrics may be nil.
func New(cfg Config, st Store, rec Recorder, log *slog.Logger, metrics *Metrics) *Pusher {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 8
	}
	if cfg.Backlog <= 0 {
		cfg.Backlog = 64
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = 2 * time.Second
	}
	if cfg.GiveUpAfterEnd <= 0 {
		cfg.GiveUpAfterEnd = time.Minute
	}
	if cfg.Grace <= 0 {
		cfg.Grace = 10 * time.Second
	}
	return &Pusher{cfg: cfg, store: st, rec: rec, log: log, metrics: metrics, sem: make(chan struct{}, cfg.Concurrency),
		current: map[stream.Path]*streamPush{}, wake: make(chan struct{}, 1)}
}

// Run runs a worker for each publication Observer is given, until ctx is cancelled. Then the live push
// stops, and for Config.Grace at most the publications that end get their final playlist and the segments
// of their recordings uploaded: Run returns when every worker is done, or when the grace period is over.
func (p *Pusher) Run(ctx context.Context) error {
	final, cancel := recording.WithGrace(ctx, p.cfg.Grace)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	stopping := ctx.Done()
	for {
		p.mu.Lock()
		started := p.started
		p.started = nil
		p.running += len(started)
		idle := p.running == 0
		p.mu.Unlock()
		for _, s := range started {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.run(ctx, final)
				p.mu.Lock()
				p.running--
				p.mu.Unlock()
				p.signal()
			}()
		}
		if ctx.Err() != nil && idle {
			return nil
		}
		select {
		case <-p.wake:
		case <-stopping:
			stopping = nil
		case <-final.Done():
			return nil // the workers return at once: every upload they make ends with final
		}
	}
}

// Pending returns how many publications are still being pushed: a publication is until it has ended and
// its worker is done with it.
func (p *Pusher) Pending() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.running + len(p.started)
}

func (p *Pusher) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Observer returns the observer that pushes the publication st (and the segments of its recordings); its
// worker runs from Run until the segmenter calls Ended. A publication that is neither pushed nor recorded
// uploads nothing until a recording of it is asked for.
func (p *Pusher) Observer(st *stream.Stream) segmenter.Observer {
	selected := st.Path // a rendition is pushed when its source is
	if rd := st.Rendition; rd != nil {
		selected = rd.Of
	}
	s := &streamPush{
		p: p, path: st.Path, push: p.cfg.Push && selected.MatchesAny(p.cfg.Streams), rendition: st.Rendition,
		base:     strings.Trim(path.Join(p.cfg.Prefix, st.Path.App, st.Path.Name), "/"),
		wake:     make(chan struct{}, 1),
		inits:    map[string][]byte{},
		uploaded: map[string]bool{},
		partsUp:  map[string]bool{},
		kept:     map[string]bool{},
		log:      p.log.With("stream", st.Path.String()),
	}
	if rd := st.Rendition; rd != nil {
		// a rendition lives in its source's prefix (<prefix>/<app>/<stream>/<rung>/): the objects of an
		// adaptive stream, and of its recordings, are under one prefix
		s.base = strings.Trim(path.Join(p.cfg.Prefix, rd.Of.App, rd.Of.Name, rd.Rung), "/")
	}
	if p.rec != nil {
		s.rec = p.rec.Start(st.Path, st.Rendition, s.base, st.StartedAt)
	}
	p.mu.Lock()
	p.current[st.Path] = s
	p.started = append(p.started, s)
	p.mu.Unlock()
	p.signal()
	return s
}

// job is one thing to do for a stream, in order.
type job struct {
	kind     jobKind
	name     string
	data     []byte
	seg      segmenter.SegmentInfo // kindSegment (InitName set when there is one), kindPart (MSN)
	take     *recording.Take       // kindSegment: the recording it belongs to, if any
	pl       *segmenter.Playlist   // kindPlaylist, kindEnd
	enqueued time.Time
}

type jobKind int

const (
	kindInit jobKind = iota
	kindPart
	kindSegment
	kindPlaylist
	kindEnd
)

// streamPush is the observer and worker of one publication.
type streamPush struct {
	p    *Pusher
	path stream.Path
	push bool
	base string
	// rendition is set for a rendition of another stream (a rung of its ladder): the source's
	// multivariant playlist in the bucket lists it
	rendition *stream.Rendition
	// inBucket are the variants of the media playlists in the bucket, classic [0] and LL-HLS [1], for the
	// multivariant playlist of the source of a rendition
	inBucket [2]atomic.Pointer[segmenter.Variant]
	rec      *recording.Publication // nil without a recorder
	log      *slog.Logger

	mu       sync.Mutex
	inits    map[string][]byte // init sections by name, for the recordings' segments
	lastInit string
	queue    []*job
	pending  *job // the latest playlist, not yet uploaded (older ones are superseded)
	ended    *job
	endedAt  time.Time // when the stream ended; never cleared
	wake     chan struct{}

	// worker state
	live, final  context.Context // the live push's and what must still be written's: see Pusher.Run
	uploaded     map[string]bool // live objects (and init sections) in the bucket
	kept         map[string]bool // segments some recording names: never deleted
	lastMV       string          // the signature of the multivariant playlist in the bucket ("" = none yet)
	listed       []string        // segment names of the last uploaded playlist, for deletion
	partNames    map[uint64][]string
	doomed       []doomed
	lastPlaylist []byte
	partsUp      map[string]bool // parts in the bucket whose segment is still in the window
	lastLL       []byte
	lastLLMV     string
}

// The segmenter's callbacks decide what to queue and queue it in one step under the stream's lock.

func (s *streamPush) Init(name string, data []byte) {
	s.mu.Lock()
	s.inits[name], s.lastInit = data, name
	s.mu.Unlock()
	if !s.push {
		return // a recording's segments bring their init section along
	}
	s.enqueue(func() *job { return &job{kind: kindInit, name: name, data: data} })
}

func (s *streamPush) Part(pt segmenter.Part) {
	if !s.push {
		return
	}
	s.enqueue(func() *job {
		data, err := pt.Bytes() // now: the memory file they are in may be freed before the upload
		if err != nil {
			s.log.Warn("part not pushed", "part", pt.Name, "cause", err)
			return nil
		}
		return &job{kind: kindPart, name: pt.Name, data: data, seg: segmenter.SegmentInfo{MSN: pt.MSN}}
	})
}

func (s *streamPush) SegmentComplete(seg segmenter.Segment) {
	s.enqueue(func() *job {
		take := s.rec.Take() // a recording starts and stops between two segments, never across one
		if !s.push && take == nil {
			return nil
		}
		info := seg.Info()
		if info.InitName == "" {
			info.InitName = s.lastInit // "" in MPEG-TS
		}
		data, err := seg.Bytes()
		if err != nil {
			s.log.Warn("segment not pushed", "segment", seg.Name, "cause", err)
			if take == nil {
				return nil
			}
			return &job{kind: kindSegment, seg: info, take: take} // its recording lists a gap
		}
		return &job{kind: kindSegment, name: seg.Name, data: data, seg: info, take: take}
	})
}

func (s *streamPush) PlaylistChanged(pl *segmenter.Playlist) {
	if !s.push {
		return
	}
	s.mu.Lock()
	s.pending = &job{kind: kindPlaylist, pl: pl, enqueued: time.Now()}
	s.mu.Unlock()
	s.signal()
}

func (s *streamPush) Ended(pl *segmenter.Playlist) {
	s.mu.Lock()
	s.ended = &job{kind: kindEnd, pl: pl, enqueued: time.Now()}
	s.endedAt = time.Now()
	s.mu.Unlock()
	s.signal()
}

func (s *streamPush) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// enqueue adds the job that makeJob returns (nil: none), called under the stream's lock, skipping the
// oldest live-only objects when the backlog is full. A recorded segment is dropped only when nothing else
// can be, and then a marker keeps its place, so that the recording lists the gap in order.
func (s *streamPush) enqueue(makeJob func() *job) {
	s.mu.Lock()
	j := makeJob()
	if j == nil {
		s.mu.Unlock()
		return
	}
	j.enqueued = time.Now()
	s.queue = append(s.queue, j)
	var dropped *job
	if len(s.queue) > s.p.cfg.Backlog {
		victim := -1
		for _, pass := range []func(*job) bool{
			func(q *job) bool { return q.kind == kindPart },
			func(q *job) bool { return q.kind == kindSegment && q.take == nil },
			func(q *job) bool { return q.kind == kindSegment && q.name != "" }, // never a gap marker
		} {
			for i, q := range s.queue {
				if pass(q) {
					victim = i
					break
				}
			}
			if victim >= 0 {
				break
			}
		}
		if victim >= 0 {
			dropped = s.queue[victim]
			if dropped.take != nil {
				s.queue[victim] = &job{kind: kindSegment, seg: dropped.seg, take: dropped.take, enqueued: dropped.enqueued}
			} else {
				s.queue = append(s.queue[:victim], s.queue[victim+1:]...)
			}
		}
	}
	n := len(s.queue)
	s.mu.Unlock()
	if m := s.p.metrics; m != nil {
		m.Backlog.WithLabelValues(s.path.String()).Set(float64(n))
		if dropped != nil {
			m.Skipped.Inc()
		}
	}
	if dropped != nil {
		s.log.Warn("storage backlog full: object skipped", "object", dropped.name, "backlog", s.p.cfg.Backlog)
	}
	s.signal()
}

// next returns the next job: queued media first, then the latest playlist, then the end.
func (s *streamPush) next() *job {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending != nil && !s.p.cfg.LowLatency && !slices.ContainsFunc(s.queue, func(q *job) bool { return q.kind != kindPart }) {
		// the bucket's playlist names the init section and segments only: queued parts need not wait
		j := s.pending
		s.pending = nil
		return j
	}
	if len(s.queue) > 0 {
		j := s.queue[0]
		s.queue = s.queue[1:]
		return j
	}
	if s.pending != nil {
		j := s.pending
		s.pending = nil
		return j
	}
	if s.ended != nil {
		j := s.ended
		s.ended = nil
		return j
	}
	return nil
}

// run works through the stream's jobs until it ends. Live objects are uploaded with live, which Run's
// context ends; what must still be written when the node stops (recorded segments, the end) with final.
func (s *streamPush) run(live, final context.Context) {
	s.live, s.final = live, final
	defer func() {
		if m := s.p.metrics; m != nil {
			m.Backlog.DeleteLabelValues(s.path.String())
		}
	}()
	for {
		j := s.next()
		if j == nil {
			select {
			case <-s.wake:
				continue
			case <-final.Done():
				s.abandon()
				return
			}
		}
		if m := s.p.metrics; m != nil {
			s.mu.Lock()
			m.Backlog.WithLabelValues(s.path.String()).Set(float64(len(s.queue)))
			s.mu.Unlock()
		}
		switch j.kind {
		case kindInit:
			if !s.uploaded[j.name] && s.putMedia(live, j) {
				s.uploaded[j.name] = true
			}
		case kindPart:
			if s.putMedia(live, j) {
				s.partsUp[j.name] = true
				if s.partNames == nil {
					s.partNames = map[uint64][]string{}
				}
				s.partNames[j.seg.MSN] = append(s.partNames[j.seg.MSN], j.name)
			}
		case kindSegment:
			s.segment(j)
		case kindPlaylist:
			s.playlist(live, j.pl)
			s.lowLatencyPlaylist(live, j.pl)
		case kindEnd:
			s.end(j.pl)
			return
		}
	}
}

// abandon gives up on a stream that did not end within the node's grace period: its recording lists
// what was still queued as lost.
func (s *streamPush) abandon() {
	s.mu.Lock()
	queue := s.queue
	s.queue = nil
	s.mu.Unlock()
	for _, j := range queue {
		if j.take != nil {
			j.take.Lost(j.seg.MSN, "node stopped")
		}
	}
	s.forget()
	s.rec.End()
	s.log.Warn("storage push abandoned: the node stopped before the stream ended")
}

// forget makes the stream no longer its path's latest publication.
func (s *streamPush) forget() (latest bool) {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	latest = s.p.current[s.path] == s
	if latest {
		delete(s.p.current, s.path)
	}
	return latest
}

// segment uploads a segment and, when it is recorded, reports it to its recording.
func (s *streamPush) segment(j *job) {
	if j.take == nil {
		if s.putMedia(s.live, j) {
			s.uploaded[j.name] = true // for the live playlist and its sweep
		}
		return
	}
	if j.name == "" { // a recorded segment the backlog had to drop
		j.take.Lost(j.seg.MSN, "storage backlog full")
		return
	}
	if !s.initUploaded(j.seg.InitName) || !s.putMedia(s.final, j) {
		j.take.Lost(j.seg.MSN, "upload failed")
		return
	}
	if s.push {
		s.uploaded[j.name] = true
		s.kept[j.name] = true // the live window's sweep must leave it
	}
	j.take.Stored(j.seg, int64(len(j.data)))
}

// initUploaded makes sure the init section name ("" for none) is in the bucket, for a recorded segment.
func (s *streamPush) initUploaded(name string) bool {
	if name == "" || s.uploaded[name] {
		return true
	}
	s.mu.Lock()
	data, ok := s.inits[name]
	s.mu.Unlock()
	if !ok || !s.putMedia(s.final, &job{kind: kindInit, name: name, data: data, enqueued: time.Now()}) {
		return false
	}
	s.uploaded[name] = true
	return true
}

// playlist uploads pl after every object it names, then deletes what left the window.
func (s *streamPush) playlist(ctx context.Context, pl *segmenter.Playlist) {
	if !pl.Ready() {
		return
	}
	segs := pl.Segments()
	if len(segs) == 0 {
		return // the classic playlist in the bucket lists whole segments only
	}
	names := make([]string, 0, len(segs)+1)
	names = append(names, pl.InitNames()...) // several after a codec parameter change; none in MPEG-TS
	for _, sg := range segs {
		names = append(names, sg.Name)
	}
	for _, name := range names {
		if s.uploaded[name] {
			continue
		}
		// skipped while storage was slow, still in the live window: upload it now
		obj, ok := pl.Object(name)
		if !ok {
			return
		}
		data, err := obj.Bytes()
		if err != nil {
			return
		}
		if !s.putMedia(ctx, &job{kind: kindSegment, name: name, data: data, enqueued: time.Now()}) {
			return // the playlist must not name it: try again with the next playlist
		}
		s.uploaded[name] = true
	}
	body := pl.Media(segmenter.MediaOptions{NoLowLatency: true})
	if bytes.Equal(body, s.lastPlaylist) {
		return // it changes with whole segments only, not with every part
	}
	if !s.put(ctx, MediaPlaylist, body, PlaylistType, PlaylistCache, time.Now(), "playlist") {
		return
	}
	s.lastPlaylist = body
	s.lastMV = s.putVariant(ctx, Multivariant, s.lastMV, pl.Variant(MediaPlaylist), 0)
	s.sweep(ctx, segs, pl.TargetDuration())
}

// lowLatencyPlaylist uploads the LL-HLS copy of pl once every part it names is in the bucket.
func (s *streamPush) lowLatencyPlaylist(ctx context.Context, pl *segmenter.Playlist) {
	if !s.p.cfg.LowLatency || !pl.LowLatency() || s.lastMV == "" {
		return
	}
	body := pl.Media(segmenter.MediaOptions{NoBlocking: true})
	if bytes.Equal(body, s.lastLL) {
		return
	}
	for _, init := range pl.InitNames() {
		if !s.uploaded[init] {
			return // the classic playlist's upload gave up on it: so does this one
		}
	}
	for _, name := range partURIs(body) {
		if s.partsUp[name] {
			continue
		}
		obj, ok := pl.Object(name)
		if !ok {
			return
		}
		data, err := obj.Bytes()
		if err != nil || !s.putMedia(ctx, &job{kind: kindPart, name: name, data: data, enqueued: time.Now()}) {
			return
		}
		s.partsUp[name] = true
	}
	if !s.put(ctx, LLMediaPlaylist, body, PlaylistType, PlaylistCache, time.Now(), "playlist") {
		return
	}
	s.lastLL = body
	s.lastLLMV = s.putVariant(ctx, LLMultivariant, s.lastLLMV, pl.Variant(LLMediaPlaylist), 1)
}

// putVariant uploads the multivariant playlist name of v (the media playlist just uploaded, of kind
// ll: 0 classic, 1 LL-HLS), with the renditions of the stream in the bucket, unless the bucket holds one
// of the same variants, codecs, resolutions and frame rates (last, a signature): it changes with the
// codec parameters and the renditions, not with every measure of the bandwidth. It returns the
// signature of the bucket's playlist.
func (s *streamPush) putVariant(ctx context.Context, name, last string, v segmenter.Variant, ll int) string {
	s.inBucket[ll].Store(&v)
	variants := []segmenter.Variant{v}
	var audio *segmenter.Variant
	rv, split := s.p.renditionsOf(s.path, ll)
	if rd := s.rendition; rd != nil {
		// a rendition alone plays with its ladder's audio
		rv = nil
		if _, src := s.p.renditionsOf(rd.Of, ll); rd.Kind != stream.KindAudio && src.audio != nil {
			a := *src.audio
			a.URI = "../" + a.URI
			audio = &a
		}
	}
	switch {
	case audio != nil, len(rv) == 0:
	case split.audio != nil && (split.video != nil || s.p.cfg.HideSource):
		// a ladder: video-only variants (the source's video alone first) sharing the source's audio
		variants, audio = rv, split.audio
		if !s.p.cfg.HideSource {
			variants = append([]segmenter.Variant{*split.video}, rv...)
		}
	case v.HasAudio():
		// the rungs are video only: the source plays alone until its audio is split out in the bucket
	case s.p.cfg.HideSource:
		variants = rv
	default:
		variants = append(variants, rv...)
	}
	var sig strings.Builder
	if audio != nil {
		fmt.Fprintf(&sig, "audio %s %s %d\n", audio.URI, strings.Join(audio.Codecs, ","), audio.Channels)
	}
	for _, v := range variants {
		fmt.Fprintf(&sig, "%s %s %s %g\n", v.URI, strings.Join(v.Codecs, ","), v.Resolution, v.FrameRate)
	}
	if sig.String() == last {
		return last
	}
	if !s.put(ctx, name, segmenter.Ladder(variants, audio, nil), PlaylistType, PlaylistCache, time.Now(), "playlist") {
		return last
	}
	return sig.String()
}

// splitViews are the variants of a source's own video and audio split out of it for its ladder
// (stream.KindSourceVideo, stream.KindAudio), nil when not in the bucket.
type splitViews struct {
	video, audio *segmenter.Variant
}

// renditionsOf returns the variants of the rungs of the stream at source whose media playlists of kind
// ll are in the bucket, the highest bit rate first, and those of the source's split video and audio,
// with URIs relative to the source's playlists.
func (p *Pusher) renditionsOf(source stream.Path, ll int) ([]segmenter.Variant, splitViews) {
	var split splitViews
	if ll != 0 && ll != 1 {
		return nil, split
	}
	media := []string{MediaPlaylist, LLMediaPlaylist}[ll]
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []segmenter.Variant
	for _, r := range p.current {
		if r.rendition == nil || r.rendition.Of != source || !r.push {
			continue
		}
		v := r.inBucket[ll].Load()
		if v == nil {
			continue
		}
		rv := *v
		rv.URI = r.rendition.Rung + "/" + media
		switch r.rendition.Kind {
		case stream.KindSourceVideo:
			split.video = &rv
		case stream.KindAudio:
			split.audio = &rv
		default:
			rv.Bandwidth = max(rv.Bandwidth, r.rendition.Bandwidth)
			out = append(out, rv)
		}
	}
	slices.SortFunc(out, func(a, b segmenter.Variant) int { return b.Bandwidth - a.Bandwidth })
	return out, split
}

// partURIs returns the URIs of the EXT-X-PART lines of a media playlist.
func partURIs(body []byte) []string {
	var out []string
	for line := range strings.SplitSeq(string(body), "\n") {
		if !strings.HasPrefix(line, "#EXT-X-PART:") {
			continue
		}
		if _, rest, ok := strings.Cut(line, `URI="`); ok {
			if uri, _, ok := strings.Cut(rest, `"`); ok {
				out = append(out, uri)
			}
		}
	}
	return out
}

// sweep deletes segments (and their parts) that left the live window — one window's duration later, as
// HLS asks, so a player holding the previous playlist still finds them — unless they are recorded or the
// configuration leaves old objects to a bucket lifecycle rule.
func (s *streamPush) sweep(ctx context.Context, segs []segmenter.SegmentInfo, target time.Duration) {
	now := time.Now()
	listed := make(map[string]bool, len(segs))
	for _, sg := range segs {
		listed[sg.Name] = true
	}
	oldest := segs[0].MSN
	for msn, parts := range s.partNames {
		if msn < oldest {
			for _, n := range parts {
				if !s.p.cfg.KeepOld {
					s.doomed = append(s.doomed, doomed{name: n, at: now})
				}
				delete(s.partsUp, n)
			}
			delete(s.partNames, msn)
		}
	}
	for _, name := range s.listed {
		if listed[name] {
			continue
		}
		if !s.kept[name] && !s.p.cfg.KeepOld {
			s.doomed = append(s.doomed, doomed{name: name, at: now})
		}
		delete(s.uploaded, name)
	}
	s.listed = s.listed[:0]
	for _, sg := range segs {
		s.listed = append(s.listed, sg.Name)
	}
	grace := time.Duration(len(segs)+1) * target
	i := 0
	for ; i < len(s.doomed) && now.Sub(s.doomed[i].at) >= grace; i++ {
		s.delete(ctx, s.doomed[i].name)
	}
	s.doomed = s.doomed[i:]
}

// doomed is an object that left the live window, deleted once the grace period is over.
type doomed struct {
	name string
	at   time.Time
}

func (s *streamPush) delete(ctx context.Context, name string) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if !s.acquire(ctx) {
		return
	}
	err := s.p.store.Delete(ctx, s.key(name))
	<-s.p.sem
	if err != nil && !errors.Is(err, objstore.ErrNotFound) {
		s.log.Debug("deleting an old object", "object", name, "cause", err)
	}
}

// end uploads the final playlist and hands the recording in progress, all of whose segments are in the
// bucket or reported lost, to the recorder. It writes with final: a stream that ends when the node stops
// still gets its final playlist, within the node's grace period.
func (s *streamPush) end(pl *segmenter.Playlist) {
	latest := s.forget()
	// the final playlist (with EXT-X-ENDLIST), unless the stream was published again meanwhile: the new
	// publication's playlist must not be overwritten by the old one's end
	if s.push && pl != nil && latest {
		s.playlist(s.final, pl)
		s.lowLatencyPlaylist(s.final, pl)
	}
	for _, d := range s.doomed {
		s.delete(s.final, d.name)
	}
	s.doomed = nil
	if pl != nil {
		s.rec.Describe(pl.Variant(""))
	}
	s.rec.End()
}
func (s *streamPush) key(name string) string { return s.base + "/" + name }

// putMedia uploads an init section, part or segment with retries; false when it had to give up.
func (s *streamPush) putMedia(ctx context.Context, j *job) bool {
	kind := "segment"
	switch j.kind {
	case kindPart:
		kind = "part"
	case kindInit:
		kind = "init"
	}
	return s.put(ctx, j.name, j.data, mediaType(j.name), MediaCache, j.enqueued, kind)
}

// mediaType is the content type of a media object by its name.
func mediaType(name string) string {
	if strings.HasSuffix(name, ".ts") {
		return TSType
	}
	return MP4Type
}

// acquire takes one of the uploads in flight, false when ctx ends first.
func (s *streamPush) acquire(ctx context.Context) bool {
	select {
	case s.p.sem <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

// put uploads one object, retrying with backoff, until ctx ends. It gives up on a live object once newer
// work for the stream has piled up past the backlog, and on anything once the stream has ended and
// storage stays down for Config.GiveUpAfterEnd.
func (s *streamPush) put(ctx context.Context, name string, data []byte, ctype, cache string, since time.Time, kind string) bool {
	wait := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		start := time.Now()
		err := s.putOnce(ctx, name, data, objstore.PutOptions{ContentType: ctype, CacheControl: cache})
		m := s.p.metrics
		if err == nil {
			if m != nil {
				m.Uploads.WithLabelValues(kind).Inc()
				m.Latency.WithLabelValues(kind).Observe(time.Since(start).Seconds())
				m.Lag.WithLabelValues(kind).Observe(time.Since(since).Seconds())
			}
			return true
		}
		if ctx.Err() != nil {
			s.log.Debug("upload abandoned: the node stopped", "object", name)
			return false
		}
		if m != nil {
			m.Failures.WithLabelValues(kind).Inc()
		}
		if attempt == 1 || attempt%20 == 0 {
			s.log.Warn("upload failed, retrying", "object", name, "attempt", attempt, "cause", err)
		}
		s.mu.Lock()
		backlog, endedAt := len(s.queue), s.endedAt
		s.mu.Unlock()
		switch {
		case (kind == "part" || kind == "playlist") && backlog > 0:
			return false // newer work supersedes it
		case !endedAt.IsZero() && time.Since(endedAt) > s.p.cfg.GiveUpAfterEnd:
			s.log.Error("upload abandoned after the stream ended", "object", name, "cause", err)
			return false
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return false
		case <-timer.C:
		}
		wait = min(2*wait, s.p.cfg.RetryMax)
	}
}

// putOnce is one attempt of an upload, bounded in time.
func (s *streamPush) putOnce(ctx context.Context, name string, data []byte, opts objstore.PutOptions) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if !s.acquire(ctx) {
		return ctx.Err()
	}
	defer func() { <-s.p.sem }()
	return s.p.store.Put(ctx, s.key(name), bytes.NewReader(data), int64(len(data)), opts)
}

// Metrics are the push's Prometheus series.
type Metrics struct {
	Uploads  *prometheus.CounterVec
	Failures *prometheus.CounterVec
	Latency  *prometheus.HistogramVec // one upload
	Lag      *prometheus.HistogramVec // from the object being complete to it being in the bucket
	Backlog  *prometheus.GaugeVec
	Skipped  prometheus.Counter
}

// NewMetrics registers the series with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	buckets := prometheus.ExponentialBuckets(0.001, 2, 16)
	m := &Metrics{
		Uploads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nagare_storage_uploads_total", Help: "Objects uploaded to object storage, by kind.",
		}, []string{"kind"}),
		Failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nagare_storage_upload_failures_total", Help: "Failed upload attempts (each is retried), by kind.",
		}, []string{"kind"}),
		Latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "nagare_storage_upload_seconds", Help: "Time of one successful upload, by kind.", Buckets: buckets,
		}, []string{"kind"}),
		Lag: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "nagare_storage_availability_lag_seconds", Help: "From an object being complete to it being in the bucket, by kind.", Buckets: buckets,
		}, []string{"kind"}),
		Backlog: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "nagare_storage_backlog", Help: "Objects waiting for upload, by stream.",
		}, []string{"stream"}),
		Skipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nagare_storage_skipped_total", Help: "Live objects skipped because the backlog was full.",
		}),
	}
	reg.MustRegister(m.Uploads, m.Failures, m.Latency, m.Lag, m.Backlog, m.Skipped)
	return m
}
