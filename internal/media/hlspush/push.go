// Package hlspush mirrors live HLS into object storage as the segmenter writes it: the init section, every
// part and segment as soon as it is complete, and the playlists after the media they name, so viewers or a
// CDN can play straight from the bucket. It also records streams whole, as VOD, over the same segments.
//
// Each stream has one ordered queue and one worker; the workers of all streams share a bounded number of
// uploads in flight. The segmenter's callbacks only enqueue, so slow or absent storage never touches live
// viewers: the queue is bounded (the oldest live objects are skipped), a playlist is uploaded only once
// every object it names is in the bucket (skipped ones still in the live window are uploaded first), and
// recorded segments are never dropped silently — when they must be, the recording marks the gap.
package hlspush

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nagare-video/nagare/internal/media/segmenter"
	"github.com/nagare-video/nagare/internal/media/stream"
	"github.com/nagare-video/nagare/internal/objstore"
)

// Store is what the push needs of object storage.
type Store interface {
	Put(ctx context.Context, key string, r io.Reader, size int64, opts objstore.PutOptions) error
	Get(ctx context.Context, key string, rng *objstore.Range) (io.ReadCloser, objstore.ObjectInfo, error)
	Head(ctx context.Context, key string) (objstore.ObjectInfo, error)
	Delete(ctx context.Context, key string) error
}

// Cache lifetimes and content types of what is pushed.
const (
	PlaylistCache = "max-age=1"
	MediaCache    = "max-age=86400, immutable"
	PlaylistType  = "application/vnd.apple.mpegurl"
	MP4Type       = "video/mp4"
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
	// Push mirrors live streams; Record keeps them whole as VOD. Either selects streams by Streams
	// patterns ("app/stream" or "app/*"; none = every stream).
	Push          bool
	PushStreams   []string
	Record        bool
	RecordStreams []string
	// RecordMP4 also writes each recording as one MP4 file when it ends.
	RecordMP4 bool
	// Prefix starts every key: <prefix>/<app>/<stream>/<name>.
	Prefix string
	// LowLatency also pushes an LL-HLS playlist (stream_ll.m3u8, index_ll.m3u8) that lists the parts,
	// without blocking reloads (storage cannot hold a request): players poll it. It changes with every part.
	LowLatency bool
	// KeepOld leaves objects that fell out of the live window in the bucket (for a lifecycle rule to
	// expire); otherwise they are deleted.
	KeepOld bool
	// Concurrency bounds the uploads in flight across all streams.
	Concurrency int
	// Backlog bounds the objects queued per stream; past it the oldest live objects are skipped.
	Backlog int
	// RetryMax bounds the wait between two attempts of an upload.
	RetryMax time.Duration
	// GiveUpAfterEnd bounds how long a stream's uploads go on failing once it has ended (default 1 min).
	GiveUpAfterEnd time.Duration
}

// Pusher pushes the streams of one node.
type Pusher struct {
	cfg     Config
	store   Store
	log     *slog.Logger
	metrics *Metrics
	sem     chan struct{}

	mu        sync.Mutex
	recording map[stream.Path]bool        // set through the API, on top of Config.Record
	current   map[stream.Path]*streamPush // the latest publication of each path
	wg        sync.WaitGroup
}

// New makes a Pusher. metrics may be nil.
func New(cfg Config, st Store, log *slog.Logger, metrics *Metrics) *Pusher {
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
	return &Pusher{cfg: cfg, store: st, log: log, metrics: metrics, sem: make(chan struct{}, cfg.Concurrency),
		recording: map[stream.Path]bool{}, current: map[stream.Path]*streamPush{}}
}

// SetRecording starts (or stops) recording sp: a publication of it that is live now is recorded from its
// next segment on (stopping ends that recording, which is then stored at once), and its next publications
// are recorded whole. Stopping does not override Config.Record for the next publications.
func (p *Pusher) SetRecording(sp stream.Path, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock() // held throughout, so that calls and new publications take effect in order
	if on {
		p.recording[sp] = true
	} else {
		delete(p.recording, sp)
	}
	if cur := p.current[sp]; cur != nil {
		cur.setRecording(on)
	}
}

// RecordingNow reports whether the publication of sp that is live now is being recorded.
func (p *Pusher) RecordingNow(sp stream.Path) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	cur := p.current[sp]
	if cur == nil {
		return false
	}
	cur.mu.Lock()
	defer cur.mu.Unlock()
	return cur.recordOn && cur.endedAt.IsZero()
}

// Recording reports whether sp's next publication will be recorded.
func (p *Pusher) Recording(sp stream.Path) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.recordingNext(sp)
}

func (p *Pusher) recordingNext(sp stream.Path) bool {
	return p.recording[sp] || p.cfg.Record && matches(p.cfg.RecordStreams, sp)
}

// matches reports whether sp is selected by patterns (none selects everything).
func matches(patterns []string, sp stream.Path) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, pat := range patterns {
		if pat == sp.String() || pat == sp.App+"/*" || pat == "*" {
			return true
		}
	}
	return false
}

// Wait blocks until every stream's worker has finished (after the streams ended).
func (p *Pusher) Wait() { p.wg.Wait() }

// Observer returns the observer that pushes and records the publication st; it runs until the segmenter
// calls Ended. A publication that is neither pushed nor recorded uploads nothing until a recording of it
// is asked for.
func (p *Pusher) Observer(st *stream.Stream) segmenter.Observer {
	s := &streamPush{
		p: p, path: st.Path, push: p.cfg.Push && matches(p.cfg.PushStreams, st.Path),
		base:     strings.Trim(path.Join(p.cfg.Prefix, st.Path.App, st.Path.Name), "/"),
		started:  st.StartedAt,
		wake:     make(chan struct{}, 1),
		uploaded: map[string]bool{},
		partsUp:  map[string]bool{},
		kept:     map[string]bool{},
		log:      p.log.With("stream", st.Path.String()),
	}
	if s.started.IsZero() {
		s.started = time.Now()
	}
	p.mu.Lock()
	s.recordOn = p.recordingNext(st.Path)
	s.wholeRecord = s.recordOn
	p.current[st.Path] = s
	p.mu.Unlock()
	p.wg.Add(1)
	go s.run()
	return s
}

// job is one thing to do for a stream, in order.
type job struct {
	kind     jobKind
	name     string
	data     []byte
	record   bool                  // kindInit, kindSegment: part of a recording
	seg      segmenter.SegmentInfo // kindSegment
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
	kindRecordEnd // a recording stopped through the API while the stream goes on
)

// streamPush is the observer and worker of one publication.
type streamPush struct {
	p           *Pusher
	path        stream.Path
	push        bool
	wholeRecord bool // recorded from its start
	base        string
	started     time.Time
	log         *slog.Logger

	mu       sync.Mutex
	recordOn bool // segments completed now are recorded
	initJob  *job // kept to start a recording mid-stream
	queue    []*job
	pending  *job // the latest playlist, not yet uploaded (older ones are superseded)
	ended    *job
	endedAt  time.Time // when the stream ended; never cleared
	wake     chan struct{}

	// worker state
	uploaded     map[string]bool // live objects in the bucket
	initName     string
	rec          *recording         // the recording in progress, if any
	recordings   int                // recordings of this publication so far
	kept         map[string]bool    // segments some recording names: never deleted
	lastMV       *segmenter.Variant // what the bucket's multivariant playlist describes
	listed       []string           // segment names of the last uploaded playlist, for deletion
	partNames    map[uint64][]string
	doomed       []doomed
	lastPlaylist []byte
	partsUp      map[string]bool // parts in the bucket whose segment is still in the window
	lastLL       []byte
	lastLLMV     *segmenter.Variant
}

// recording is one recording of a publication: whole, or from a start to a stop through the API.
type recording struct {
	n        int // 1 for the first of the publication
	recorded []segmenter.SegmentInfo
	gaps     []Gap
	lastMSN  uint64
	haveMSN  bool
	bytes    int64
	started  time.Time
	initName string // set when it is stored
}

// Gap is a part of a recording that could not be stored.
type Gap struct {
	// FromMSN and ToMSN are the first and last missing segments.
	FromMSN uint64 `json:"fromMsn"`
	ToMSN   uint64 `json:"toMsn"`
	Reason  string `json:"reason"`
}

// The segmenter's callbacks and setRecording decide what to queue and queue it in one step under the
// stream's lock, so that a recording starts and stops between two segments, never across one.

func (s *streamPush) Init(name string, data []byte) {
	s.enqueue(func() *job {
		s.initJob = &job{kind: kindInit, name: name, data: data}
		if !s.push && !s.recordOn {
			return nil
		}
		return &job{kind: kindInit, name: name, data: data}
	})
}

// setRecording starts or stops recording this publication from the next segment on.
func (s *streamPush) setRecording(on bool) {
	s.enqueue(func() *job {
		if s.recordOn == on || !s.endedAt.IsZero() {
			return nil
		}
		s.recordOn = on
		switch {
		case !on:
			return &job{kind: kindRecordEnd}
		case s.initJob != nil:
			// the recording's segments need the init section in the bucket (a no-op when it is there)
			return &job{kind: kindInit, name: s.initJob.name, data: s.initJob.data, record: true}
		default:
			return nil // Init, still to come, will queue it
		}
	})
}

func (s *streamPush) Part(pt segmenter.Part) {
	if !s.push {
		return
	}
	s.enqueue(func() *job {
		return &job{kind: kindPart, name: pt.Name, data: pt.Data, seg: segmenter.SegmentInfo{MSN: pt.MSN}}
	})
}

func (s *streamPush) SegmentComplete(seg segmenter.Segment) {
	s.enqueue(func() *job {
		if !s.push && !s.recordOn {
			return nil
		}
		return &job{kind: kindSegment, name: seg.Name, data: seg.Data, seg: seg.Info(), record: s.recordOn}
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
// can be, and then the recording marks the gap.
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
			func(q *job) bool { return q.kind == kindSegment && !q.record },
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
			if dropped.kind == kindSegment && dropped.record {
				// the recording keeps a marker in its place, so the gap is reported in order
				s.queue[victim] = &job{kind: kindSegment, seg: dropped.seg, enqueued: dropped.enqueued, record: true}
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

func (s *streamPush) run() {
	defer s.p.wg.Done()
	for {
		j := s.next()
		if j == nil {
			<-s.wake
			continue
		}
		if m := s.p.metrics; m != nil {
			s.mu.Lock()
			m.Backlog.WithLabelValues(s.path.String()).Set(float64(len(s.queue)))
			s.mu.Unlock()
		}
		switch j.kind {
		case kindInit:
			s.initName = j.name
			if !s.uploaded[j.name] && s.putMedia(j) {
				s.uploaded[j.name] = true
			}
		case kindPart:
			if s.putMedia(j) {
				s.partsUp[j.name] = true
				if s.partNames == nil {
					s.partNames = map[uint64][]string{}
				}
				s.partNames[j.seg.MSN] = append(s.partNames[j.seg.MSN], j.name)
			}
		case kindSegment:
			s.segment(j)
		case kindPlaylist:
			s.playlist(j.pl)
			s.lowLatencyPlaylist(j.pl)
		case kindRecordEnd:
			s.storeRecording()
		case kindEnd:
			s.end(j.pl)
			if m := s.p.metrics; m != nil {
				m.Backlog.DeleteLabelValues(s.path.String())
			}
			return
		}
	}
}

func (s *streamPush) segment(j *job) {
	if j.name == "" { // a recorded segment the backlog had to drop
		s.markGap(j.seg.MSN, "storage backlog full")
		return
	}
	if !s.putMedia(j) {
		if j.record {
			s.markGap(j.seg.MSN, "upload failed")
		}
		return
	}
	if s.push {
		s.uploaded[j.name] = true // for the live playlist and its sweep
	}
	if j.record {
		rec := s.recording(j.enqueued)
		if rec.haveMSN && j.seg.MSN > rec.lastMSN+1 {
			rec.addGap(rec.lastMSN+1, j.seg.MSN-1, "segments missing")
		}
		rec.recorded = append(rec.recorded, j.seg)
		rec.bytes += int64(len(j.data))
		rec.lastMSN, rec.haveMSN = j.seg.MSN, true
		if s.push {
			s.kept[j.name] = true // the live window's sweep must leave it
		}
	}
}

// recording returns the recording in progress, starting one (at the time given) if there is none.
func (s *streamPush) recording(at time.Time) *recording {
	if s.rec == nil {
		s.recordings++
		s.rec = &recording{n: s.recordings, started: at}
		if s.recordings == 1 && s.wholeRecord {
			s.rec.started = s.started // recorded from the publication's start
		}
	}
	return s.rec
}

func (s *streamPush) markGap(msn uint64, reason string) {
	rec := s.recording(time.Now())
	rec.addGap(msn, msn, reason)
	rec.lastMSN, rec.haveMSN = msn, true
	s.log.Error("recording gap", "msn", msn, "cause", reason)
	if m := s.p.metrics; m != nil {
		m.Gaps.Inc()
	}
}

func (r *recording) addGap(from, to uint64, reason string) {
	if n := len(r.gaps); n > 0 && r.gaps[n-1].ToMSN+1 == from && r.gaps[n-1].Reason == reason {
		r.gaps[n-1].ToMSN = to
		return
	}
	r.gaps = append(r.gaps, Gap{FromMSN: from, ToMSN: to, Reason: reason})
}

// playlist uploads pl after every object it names, then deletes what left the window.
func (s *streamPush) playlist(pl *segmenter.Playlist) {
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
		if !s.putMedia(&job{kind: kindSegment, name: name, data: data, enqueued: time.Now()}) {
			return // the playlist must not name it: try again with the next playlist
		}
		s.uploaded[name] = true
	}
	body := pl.Media(segmenter.MediaOptions{NoLowLatency: true})
	if bytes.Equal(body, s.lastPlaylist) {
		return // it changes with whole segments only, not with every part
	}
	if !s.put(MediaPlaylist, body, PlaylistType, PlaylistCache, time.Now(), "playlist") {
		return
	}
	s.lastPlaylist = body
	s.lastMV = s.putVariant(Multivariant, s.lastMV, pl.Variant(MediaPlaylist))
	s.sweep(segs, pl.TargetDuration())
}

// lowLatencyPlaylist uploads the LL-HLS copy of pl once every part it names is in the bucket.
func (s *streamPush) lowLatencyPlaylist(pl *segmenter.Playlist) {
	if !s.p.cfg.LowLatency || !pl.LowLatency() || s.lastMV == nil {
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
		if err != nil || !s.putMedia(&job{kind: kindPart, name: name, data: data, enqueued: time.Now()}) {
			return
		}
		s.partsUp[name] = true
	}
	if !s.put(LLMediaPlaylist, body, PlaylistType, PlaylistCache, time.Now(), "playlist") {
		return
	}
	s.lastLL = body
	s.lastLLMV = s.putVariant(LLMultivariant, s.lastLLMV, pl.Variant(LLMediaPlaylist))
}

// putVariant uploads the multivariant playlist name of v unless the bucket holds one of the same codecs,
// resolution and frame rate (last): it changes with the codec parameters, not with every measure of the
// bandwidth. It returns the variant the bucket's playlist describes.
func (s *streamPush) putVariant(name string, last *segmenter.Variant, v segmenter.Variant) *segmenter.Variant {
	if last != nil && slices.Equal(last.Codecs, v.Codecs) && last.Resolution == v.Resolution && last.FrameRate == v.FrameRate {
		return last
	}
	if !s.put(name, segmenter.Multivariant([]segmenter.Variant{v}, nil), PlaylistType, PlaylistCache, time.Now(), "playlist") {
		return last
	}
	return &v
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
func (s *streamPush) sweep(segs []segmenter.SegmentInfo, target time.Duration) {
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
		s.delete(s.doomed[i].name)
	}
	s.doomed = s.doomed[i:]
}

// doomed is an object that left the live window, deleted once the grace period is over.
type doomed struct {
	name string
	at   time.Time
}

func (s *streamPush) delete(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.p.sem <- struct{}{}
	err := s.p.store.Delete(ctx, s.key(name))
	<-s.p.sem
	if err != nil && !errors.Is(err, objstore.ErrNotFound) {
		s.log.Debug("deleting an old object", "object", name, "cause", err)
	}
}

// end uploads the final playlist and, when recording, the VOD playlist, the MP4 and the manifest.
func (s *streamPush) end(pl *segmenter.Playlist) {
	s.p.mu.Lock()
	latest := s.p.current[s.path] == s
	if latest {
		delete(s.p.current, s.path)
	}
	s.p.mu.Unlock()
	// the final playlist (with EXT-X-ENDLIST), unless the stream was published again meanwhile: the new
	// publication's playlist must not be overwritten by the old one's end
	if s.push && pl != nil && latest {
		s.playlist(pl)
		s.lowLatencyPlaylist(pl)
	}
	for _, d := range s.doomed {
		s.delete(d.name)
	}
	s.doomed = nil
	s.storeRecording()
}

// storeRecording ends the recording in progress and stores it (its VOD playlist, its manifest and, when
// configured, its MP4) in a goroutine of its own: writing an MP4 of hours takes minutes, which the live
// push of a stream that goes on must not wait for. Its segments are in the bucket already: the worker
// uploaded them before it got here.
func (s *streamPush) storeRecording() {
	r := s.rec
	s.rec = nil
	if r == nil || len(r.recorded) == 0 {
		return
	}
	r.initName = r.recorded[0].InitName
	if r.initName == "" {
		r.initName = s.initName // MPEG-TS: "" too
	}
	s.p.wg.Add(1)
	go func() {
		defer s.p.wg.Done()
		s.writeRecording(r)
	}()
}

func (s *streamPush) writeRecording(r *recording) {
	name := s.recordingName(r)
	s.put(name+".m3u8", s.vod(r), PlaylistType, PlaylistCache, time.Now(), "recording")
	m := Manifest{
		Stream: s.path.String(), Start: r.started.UTC(), Playlist: s.key(name + ".m3u8"), Segments: len(r.recorded),
		Size: r.bytes, Gaps: r.gaps,
	}
	var dur time.Duration
	for _, sg := range r.recorded {
		dur += sg.Duration
	}
	m.Duration = dur.Seconds()
	m.End = m.Start.Add(dur)
	if first := r.recorded[0].DateTime; !first.IsZero() {
		m.Start = first.UTC()
		last := r.recorded[len(r.recorded)-1]
		m.End = last.DateTime.Add(last.Duration).UTC()
	}
	if m.Gaps == nil {
		m.Gaps = []Gap{}
	}
	// the manifest first (the recording is usable from the VOD playlist), then again with the MP4
	s.put(name+".json", m.JSON(), "application/json", "no-cache", time.Now(), "recording")
	switch {
	case s.p.cfg.RecordMP4 && r.initName == "":
		s.log.Warn("recording has no MP4: its segments have no init section (record.mp4 needs an fMP4 variant)")
	case s.p.cfg.RecordMP4 && slices.ContainsFunc(r.recorded, func(sg segmenter.SegmentInfo) bool { return sg.InitName != "" && sg.InitName != r.initName }):
		s.log.Warn("recording has no MP4: the codec parameters changed during it (one MP4 holds one init section); its VOD playlist plays it whole")
	case s.p.cfg.RecordMP4:
		if err := s.mp4(name+".mp4", r); err != nil {
			s.log.Error("recording MP4 not written", "cause", err)
		} else {
			m.MP4 = s.key(name + ".mp4")
			s.put(name+".json", m.JSON(), "application/json", "no-cache", time.Now(), "recording")
		}
	}
	s.log.Info("recording stored", "playlist", m.Playlist, "duration", dur.Round(time.Millisecond).String(),
		"segments", len(r.recorded), "gaps", len(r.gaps))
}

// recordingName names the publication's n-th recording after the segments' own prefix, unique per
// publication: <prefix>_recording, then <prefix>_recording2, ...
func (s *streamPush) recordingName(r *recording) string {
	base := "recording"
	first := r.initName // MPEG-TS has no init section: its first recorded segment names it
	if first == "" && len(r.recorded) > 0 {
		first = r.recorded[0].Name
	}
	if i := strings.LastIndex(first, "_"); i > 0 {
		base = first[:i] + "_recording"
	}
	if r.n > 1 {
		base += strconv.Itoa(r.n)
	}
	return base
}

// vod renders r's playlist over its segments; a gap, like a codec parameter change, starts a
// discontinuity.
func (s *streamPush) vod(r *recording) []byte {
	segs := slices.Clone(r.recorded)
	segs[0].Discontinuity = false // a playlist does not open with one
	for i := 1; i < len(segs); i++ {
		if segs[i].MSN != segs[i-1].MSN+1 {
			segs[i].Discontinuity = true
		}
	}
	return segmenter.VOD(r.initName, segs, nil)
}

// mp4 writes init + every recorded segment as one fragmented MP4, streamed from the bucket one object at
// a time. The sizes come from the store first, since a single PUT needs the length up front.
func (s *streamPush) mp4(name string, r *recording) error {
	keys := make([]string, 0, len(r.recorded)+1)
	keys = append(keys, s.key(r.initName))
	for _, sg := range r.recorded {
		keys = append(keys, s.key(sg.Name))
	}
	// a minute, plus a second per 8 MB: generous for object storage, bounded for a node that stops
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute+time.Duration(r.bytes>>23)*time.Second)
	defer cancel()
	var total int64
	for _, k := range keys {
		info, err := s.p.store.Head(ctx, k)
		if err != nil {
			return fmt.Errorf("reading %s: %w", k, err)
		}
		total += info.Size
	}
	body := &chain{ctx: ctx, store: s.p.store, keys: keys}
	defer body.close()
	s.p.sem <- struct{}{} // one of the uploads in flight, however long it takes
	defer func() { <-s.p.sem }()
	return s.p.store.Put(ctx, s.key(name), body, total, objstore.PutOptions{ContentType: MP4Type, CacheControl: MediaCache})
}

// chain reads objects one after the other, opening each when the previous one is done.
type chain struct {
	ctx   context.Context
	store Store
	keys  []string
	cur   io.ReadCloser
}

func (c *chain) Read(p []byte) (int, error) {
	for {
		if c.cur == nil {
			if len(c.keys) == 0 {
				return 0, io.EOF
			}
			rc, _, err := c.store.Get(c.ctx, c.keys[0], nil)
			if err != nil {
				return 0, fmt.Errorf("reading %s: %w", c.keys[0], err)
			}
			c.cur, c.keys = rc, c.keys[1:]
		}
		n, err := c.cur.Read(p)
		if errors.Is(err, io.EOF) {
			c.cur.Close()
			c.cur = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (c *chain) close() {
	if c.cur != nil {
		c.cur.Close()
	}
}

func (s *streamPush) key(name string) string { return s.base + "/" + name }

// putMedia uploads an init section, part or segment with retries; false when it had to give up.
func (s *streamPush) putMedia(j *job) bool {
	kind := "segment"
	switch j.kind {
	case kindPart:
		kind = "part"
	case kindInit:
		kind = "init"
	}
	return s.put(j.name, j.data, mediaType(j.name), MediaCache, j.enqueued, kind)
}

// mediaType is the content type of a media object by its name.
func mediaType(name string) string {
	if strings.HasSuffix(name, ".ts") {
		return TSType
	}
	return MP4Type
}

// put uploads one object, retrying with backoff. It gives up on a live object once newer work for the
// stream has piled up past the backlog, and on anything once the stream has ended and storage stays down
// for a minute: the push must not outlive the node by much.
func (s *streamPush) put(name string, data []byte, ctype, cache string, since time.Time, kind string) bool {
	wait := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		s.p.sem <- struct{}{}
		start := time.Now()
		err := s.p.store.Put(ctx, s.key(name), bytes.NewReader(data), int64(len(data)),
			objstore.PutOptions{ContentType: ctype, CacheControl: cache})
		<-s.p.sem
		cancel()
		m := s.p.metrics
		if err == nil {
			if m != nil {
				m.Uploads.WithLabelValues(kind).Inc()
				m.Latency.WithLabelValues(kind).Observe(time.Since(start).Seconds())
				m.Lag.WithLabelValues(kind).Observe(time.Since(since).Seconds())
			}
			return true
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
		time.Sleep(wait)
		wait = min(2*wait, s.p.cfg.RetryMax)
	}
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
}

// JSON renders m.
func (m Manifest) JSON() []byte {
	b, _ := json.MarshalIndent(m, "", "  ")
	return b
}

// Metrics are the push's Prometheus series.
type Metrics struct {
	Uploads  *prometheus.CounterVec
	Failures *prometheus.CounterVec
	Latency  *prometheus.HistogramVec // one upload
	Lag      *prometheus.HistogramVec // from the object being complete to it being in the bucket
	Backlog  *prometheus.GaugeVec
	Skipped  prometheus.Counter
	Gaps     prometheus.Counter
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
		Gaps: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nagare_recording_gaps_total", Help: "Recorded segments that could not be stored (marked in the recording).",
		}),
	}
	reg.MustRegister(m.Uploads, m.Failures, m.Latency, m.Lag, m.Backlog, m.Skipped, m.Gaps)
	return m
}
