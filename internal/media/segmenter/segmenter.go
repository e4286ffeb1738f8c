// Package segmenter cuts a live stream into HLS segments (fMP4, with LL-HLS parts, or MPEG-TS), and is
// the one source of truth for their boundaries and names: the node serves them over HTTP, and observers
// (object storage push, recording) receive every object the moment it is complete.
package segmenter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"

	"github.com/nagare-video/nagare/internal/media/memfile"
	"github.com/nagare-video/nagare/internal/media/stream"
)

// Defaults of Config.
const (
	DefaultSegmentMinDuration = time.Second
	DefaultPartMinDuration    = 200 * time.Millisecond
	DefaultSegmentCount       = 7
	DefaultSegmentMaxSize     = 50 << 20
)

// startOffset is where the timeline of a publication starts: its first segment's decode time (tfdt in
// fMP4, DTS in MPEG-TS), whatever the publisher's timestamps. It is near zero because GStreamer's
// classic hlsdemux starts its timeline at the position of the first segment it plays within the first
// playlist it loads (about zero in a stream's first seconds) while qtdemux keeps the tfdt: a synced
// sink waits for the difference, which a timeline carrying the stream's age made as long as that age.
// It is above zero so that samples of other tracks a little older than the leading track's first one
// never get a negative base time (fMP4 has none) nor an MPEG-TS program clock reference, which runs
// 100 ms ahead of the decode time, below zero. The wall clock is carried by EXT-X-PROGRAM-DATE-TIME.
const startOffset = time.Second

// maxSampleDurations bounds the distinct sample durations the part duration is adjusted to.
const maxSampleDurations = 16

// Formats of segments.
const (
	FormatFMP4   = "fmp4"   // fMP4 segments after an init section; the only format with LL-HLS parts
	FormatMPEGTS = "mpegts" // MPEG-TS segments, each one decodable alone, for players without fMP4
)

// Config is what a Segmenter needs.
type Config struct {
	// Tracks of the stream. The first H.264/H.265 track and the first AAC/Opus track are carried (in
	// MPEG-TS, unless ADTS cannot describe the AAC configuration); other tracks are ignored.
	Tracks []*stream.Track
	// Format of the segments: FormatFMP4 ("" too) or FormatMPEGTS.
	Format string
	// LowLatency cuts parts (LL-HLS, fMP4 only); without it fMP4 segments are of one fragment.
	LowLatency bool
	// SegmentMinDuration: a segment ends at the first video random-access point (or, without video, the
	// first sample) after this duration.
	SegmentMinDuration time.Duration
	// PartMinDuration is the least duration of a part; it is raised a little so that parts stay within
	// 85% of each other whatever the sample durations, as iOS requires.
	PartMinDuration time.Duration
	// SegmentCount is the number of segments kept and listed. RFC 8216bis §6.2.2 wants a live playlist
	// to keep at least three target durations once it removes segments: 3 or more.
	SegmentCount int
	// SegmentMaxSize bounds a segment in bytes; samples beyond it are refused with ErrTooLarge.
	SegmentMaxSize int
	// Prefix starts every object name ("" = 12 random hex digits). It must be unique per publication and
	// made of [A-Za-z0-9-] only, so that names need no escaping anywhere.
	Prefix string
	// Directory, if set, keeps complete segments in files there instead of in memory (parts of the
	// segment being written stay in memory). The directory is the caller's: the segmenter deletes the
	// files of segments leaving the window, the caller removes the directory after Close.
	Directory string
	// Follow, if set, makes this segmenter a follower: a rendition of an adaptive stream that cuts its
	// segments and parts where the leader whose Cuts these are did, with the same numbers, instead of by
	// its own rules (see Cuts). Its samples must carry the leader's timestamps.
	Follow *Cuts
	// RequestKeyframe, if set, asks the publisher for a keyframe; it must not block. The segmenter calls
	// it when a segment has reached SegmentMinDuration without a random-access point to end at, and again
	// every SegmentMinDuration until one comes: a WebRTC publisher sends keyframes only when asked, and
	// its segments would otherwise never end.
	RequestKeyframe func()
	// Observer, if not nil, learns of every object; see Observer for its contract.
	Observer Observer
	Log      *slog.Logger
}

// Segmenter cuts one stream. Write and Close are called by the stream's reader loop; everything else may
// be called from any goroutine.
type Segmenter struct {
	cfg         Config
	names       names
	tracks      []*track
	byStream    map[*stream.Track]*track
	leading     *track
	contentType string
	obs         Observer
	log         *slog.Logger
	cuts        *Cuts // where this segmenter cut, for followers
	follow      *Cuts // the leader's, for a follower
	// outOfStep counts the segments a follower could not number as its leader did
	outOfStep int
	// beforeStart is the presentation time of the leading track's last sample before a follower led by
	// audio started (haveBefore: there was one)
	beforeStart time.Duration
	haveBefore  bool

	cur atomic.Pointer[Playlist] // the latest playlist; replaced, never changed
	// retired are the last SegmentCount segments to leave the window, still served: a player (or an edge)
	// holding the previous playlist must find them (RFC 8216 §6.2.2). Replaced, never changed.
	retired atomic.Pointer[[]*segEntry]

	wmu sync.Mutex // serializes Write and Close; everything below belongs to the writer
	// ended is set by Close
	ended bool

	ts *tsWriter // MPEG-TS only

	// curInit is the init section of the segment being written (nil before the first sample); inits are
	// those still served, oldest first: curInit's and those of segments listed or retired. A change of the
	// video codec parameters starts a segment with a new one and a discontinuity (RFC 8216 §6.2.1).
	curInit   *initSection
	inits     []*initSection
	initCount int  // init sections made so far, which numbers their names
	segDisc   bool // the segment being written follows a discontinuity
	// segmentsMade counts the segments put in the window
	segmentsMade int
	// discSeq counts the discontinuities of segments that left the window: EXT-X-DISCONTINUITY-SEQUENCE
	discSeq int

	// origin is the decode time, in the stream's terms (stream.Unit.PTS), of the leading track's first
	// sample (originTicks on its clock, exactly): the publication's timeline starts there, at startOffset
	origin      time.Duration
	originTicks int64
	originSet   bool
	started     bool          // the first segment has begun
	segMSN      uint64        // the segment being written
	segStart    time.Duration // its start on the leading track's timeline
	keyAsked    time.Duration // when (leading track's timeline) a keyframe was last asked for
	held        []heldSample  // the leading track's samples waiting for the other tracks (waitsFor)
	segNTP      time.Time
	// anchorNTP is the wall-clock time (to the millisecond) of anchorStart on the leading track's
	// timeline: every segment's EXT-X-PROGRAM-DATE-TIME is derived from it along the media clock, so that
	// the date of segment N+1 minus that of segment N is exactly N's EXTINF (players such as Shaka place
	// segments by their dates, and a date off by a few ms becomes a hole or an overlap)
	anchorNTP   time.Time
	anchorStart time.Duration
	segSize     int
	partIndex   int // the part being written
	partStart   time.Duration
	partIndep   bool
	partSeq     uint32 // mfhd sequence number
	curParts    []*partEntry
	// direct (segments in memory files): each part goes, as it is made, to segFile, the memory file of
	// the segment being written (nil before its first part), so that a complete segment is already off the
	// heap and its bytes were never copied into one buffer nor allocated per part: a part is
	// marshalled into partBuf, reused. segFileFailed: a write to segFile failed, this segment's later
	// parts stay on the heap (and the segment is then made of their bytes, as without direct).
	direct        bool
	segFile       *memfile.File
	segFileFailed bool
	partBuf       []byte
	window        []*segEntry // complete segments, oldest first
	targetDur     int
	partTarget    time.Duration

	sampleDurations map[time.Duration]struct{}
	adjustedPart    time.Duration
	freezePart      bool
}

// IsVideo and IsAudio tell the tracks a segmenter carries: H.264 or H.265 video, AAC or Opus audio (it
// takes the first of each and leaves other tracks out).
func IsVideo(t *stream.Track) bool {
	if t == nil {
		return false
	}
	switch t.Codec.(type) {
	case *stream.H264, *stream.H265:
		return true
	}
	return false
}

func IsAudio(t *stream.Track) bool {
	if t == nil {
		return false
	}
	switch t.Codec.(type) {
	case *stream.MPEG4Audio, *stream.Opus:
		return true
	}
	return false
}

// New returns a segmenter for the given tracks.
func New(cfg Config) (*Segmenter, error) {
	if cfg.SegmentMinDuration <= 0 {
		cfg.SegmentMinDuration = DefaultSegmentMinDuration
	}
	if cfg.PartMinDuration <= 0 {
		cfg.PartMinDuration = DefaultPartMinDuration
	}
	if cfg.SegmentCount <= 0 {
		cfg.SegmentCount = DefaultSegmentCount
	}
	if cfg.SegmentMaxSize <= 0 {
		cfg.SegmentMaxSize = DefaultSegmentMaxSize
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	ext := extFMP4
	switch cfg.Format {
	case "", FormatFMP4:
		cfg.Format = FormatFMP4
	case FormatMPEGTS:
		if cfg.LowLatency {
			return nil, fmt.Errorf("%w: %s has no low-latency mode (LL-HLS parts are fMP4)", ErrFormat, FormatMPEGTS)
		}
		ext = extMPEGTS
	default:
		return nil, fmt.Errorf("%w %q (want %q or %q)", ErrFormat, cfg.Format, FormatFMP4, FormatMPEGTS)
	}
	s := &Segmenter{
		cfg: cfg, names: names{prefix: cfg.Prefix, ext: ext}, byStream: map[*stream.Track]*track{},
		obs: cfg.Observer, log: cfg.Log, cuts: newCuts(), follow: cfg.Follow,
		sampleDurations: map[time.Duration]struct{}{}, adjustedPart: cfg.PartMinDuration,
	}
	if s.names.prefix == "" {
		s.names.prefix = newPrefix()
	}
	s.direct = cfg.Directory == "" && memoryFiles()
	var video, audio *stream.Track
	for _, t := range cfg.Tracks {
		switch {
		case IsVideo(t) && video == nil:
			video = t
		case IsAudio(t) && audio == nil:
			audio = t
		}
	}
	for _, st := range []*stream.Track{video, audio} {
		if st == nil {
			continue
		}
		t := newTrack(len(s.tracks)+1, st.Codec, cfg.Format)
		if t == nil {
			continue
		}
		s.tracks = append(s.tracks, t)
		s.byStream[st] = t
	}
	if len(s.tracks) == 0 {
		return nil, ErrNoTracks
	}
	s.leading = s.tracks[0]
	s.leading.leading = true
	switch {
	case cfg.Format == FormatMPEGTS:
		s.contentType = "video/mp2t" // audio only too, as players expect
		ts, err := newTSWriter(s.tracks)
		if err != nil {
			return nil, err
		}
		s.ts = ts
	case s.leading.isVideo():
		s.contentType = "video/mp4"
	default:
		s.contentType = "audio/mp4"
	}
	s.targetDur = max(1, int(math.Round(cfg.SegmentMinDuration.Seconds())))
	s.cur.Store(s.snapshot())
	return s, nil
}

// Cuts returns the record of where this segmenter cuts, for followers (Config.Follow). A follower records
// none: renditions follow their source, never another rendition.
func (s *Segmenter) Cuts() *Cuts { return s.cuts }

// Prefix returns the prefix of every object name.
func (s *Segmenter) Prefix() string { return s.names.prefix }

// Format returns the format of the segments.
func (s *Segmenter) Format() string { return s.cfg.Format }

// ContentType returns the MIME type of the init section, segments and parts.
func (s *Segmenter) ContentType() string { return s.contentType }

// LowLatency reports whether parts are cut.
func (s *Segmenter) LowLatency() bool { return s.cfg.LowLatency }

// Playlist returns the current playlist (never nil; not Ready before the first part or segment).
func (s *Segmenter) Playlist() *Playlist { return s.cur.Load() }

// Write adds a unit of one of the stream's tracks. Units of other tracks are ignored. An error means a
// sample was dropped — this unit, or the one before it of the same track, which a sample is held for
// until the next gives its duration — or that a new init section could not be made (the segments go on
// with the old one); the segmenter carries on.
func (s *Segmenter) Write(u *stream.Unit) error {
	if u == nil {
		return nil
	}
	t := s.byStream[u.Track]
	if t == nil {
		return nil
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.ended {
		return ErrEnded
	}
	samples, randomAccess, err := t.samplesOf(u)
	if err != nil {
		return err
	}
	for _, smp := range samples {
		at := toDuration(smp.dts, t.clockRate)
		if t.leading && s.follow == nil && (len(s.held) > 0 || s.waitsFor(at)) {
			s.held = append(s.held, heldSample{t: t, randomAccess: randomAccess, smp: smp, at: at})
			continue
		}
		if !t.leading {
			t.reached, t.started = at+toDuration(int64(t.defaultDuration()), t.clockRate), true
		}
		if err := s.writeSample(t, randomAccess, smp); err != nil {
			return errors.Join(err, s.release(false))
		}
	}
	return s.release(false)
}

const (
	// maxInterleave bounds how long (in media time) the leading track's samples wait for the other tracks.
	maxInterleave = 500 * time.Millisecond
	// interleaveSlack is how far short of a sample of the leading track another track may end without the
	// sample waiting: RTMP's timestamps are rounded to the millisecond, and an interleaving publisher's
	// audio frame that starts with a video frame may come just after it; its predecessor's end, estimated
	// from rounded timestamps, falls a millisecond or two short of the video frame.
	interleaveSlack = 2 * time.Millisecond
)

// heldSample is a sample of the leading track waiting for the other tracks to reach it.
type heldSample struct {
	t            *track
	randomAccess bool
	smp          *sample
	at           time.Duration
}

// waitsFor reports whether a sample of the leading track at `at` must wait for another track: one that
// has started and whose samples so far end before it, by less than maxInterleave. A segment and a part
// are cut at a sample of the leading track, and a sample of another track belongs to the part in which it
// starts: the leading track's samples wait until the others have reached them, so that the cut finds the
// others' samples before it already there. Most publishers interleave (RTMP, SRT) and nothing waits; a
// track made by a transcoder (a WHIP publication's AAC, from its Opus through ffmpeg) arrives ~0.1 s late,
// and its frames before a cut would otherwise open the next segment: players that start a segment at its
// earliest sample (hls.js) see the previous one end early and stall there. A track further behind (gone
// quiet) is not waited for.
func (s *Segmenter) waitsFor(at time.Duration) bool {
	for _, t := range s.tracks {
		if !t.leading && t.started && t.reached+interleaveSlack < at && at-t.reached <= maxInterleave {
			return true
		}
	}
	return false
}

// release writes the held samples of the leading track that need not wait any longer (all of them with
// all): those the other tracks have reached, and any that waited maxInterleave while the leading track
// went on.
func (s *Segmenter) release(all bool) error {
	var errs error
	n := 0
	for ; n < len(s.held); n++ {
		h := s.held[n]
		if !all && s.held[len(s.held)-1].at-h.at <= maxInterleave && s.waitsFor(h.at) {
			break
		}
		errs = errors.Join(errs, s.writeSample(h.t, h.randomAccess, h.smp))
	}
	if n > 0 {
		m := copy(s.held, s.held[n:])
		clear(s.held[m:]) // no sample kept alive behind the slice's end
		s.held = s.held[:m]
	}
	return errs
}

// writeSample queues smp and writes the sample before it, whose duration smp tells, then cuts a part or
// a segment if the leading track reached a boundary (gohlslib's rules).
func (s *Segmenter) writeSample(t *track, randomAccess bool, smp *sample) error {
	if !s.originSet {
		if !t.leading {
			return nil // before the leading track's first sample: no segment could hold it
		}
		if s.follow != nil {
			origin, ok := s.follow.waitOrigin()
			if !ok {
				return errors.New("the leading rendition has not started")
			}
			s.origin, s.originTicks, s.originSet = origin, toTicks(origin, t.clockRate), true
		} else {
			s.origin, s.originTicks, s.originSet = toDuration(smp.dts, t.clockRate), smp.dts, true
			s.cuts.setOrigin(s.origin)
		}
	}
	if t.leading {
		smp.dts -= s.originTicks
	} else {
		smp.dts -= toTicks(s.origin, t.clockRate)
	}
	smp.dts += toTicks(startOffset, t.clockRate)
	if smp.dts < 0 {
		return fmt.Errorf("timestamp %s before the start of the stream",
			toDuration(smp.dts, t.clockRate)-startOffset)
	}
	prev := t.next
	t.next = smp
	if prev == nil {
		if t.leading && s.curInit == nil {
			// the first init section holds the parameters of the first sample: a change at the next
			// random-access point, however close, is then one like any other. The sample is kept
			// whatever happens: on failure, finishPart tries again and reports it.
			_ = s.newInit()
		}
		return nil
	}
	d := smp.dts - prev.dts
	if d < 0 {
		// time went backwards: keep the timeline monotonic, the sample shows for no time
		smp.dts, d = prev.dts, 0
	}
	if prev.early {
		// written at the cut that followed its start, with its track's usual duration: the track's timeline
		// goes on from its end, so that the next part's samples start where it ends, as they would have
		// had its duration been measured. Otherwise timestamps rounded to the millisecond (RTMP's) leave a
		// hole or an overlap of up to a millisecond there at every cut, and a hole in the source (a
		// publisher's loop, a lost frame) stays a hole in the media: browsers' Media Source buffers show
		// it as a gap, which players jump or stall at. The sample after this one takes the difference.
		if end := prev.dts + int64(prev.Duration); smp.dts > end-int64(prev.Duration) {
			smp.dts = end
		}
		if d > 0 {
			t.lastDur = uint32(min(d, math.MaxUint32))
		}
		return nil
	}
	prev.Duration = uint32(min(d, math.MaxUint32))
	if d > 0 {
		t.lastDur = prev.Duration
	}

	if s.follow != nil {
		return s.followSample(t, randomAccess, prev, smp)
	}
	if !s.started {
		if !t.leading {
			return nil // segments start on the leading track
		}
		s.startFirstSegment(toDuration(prev.dts, t.clockRate), prev.ntp)
		s.cuts.add(cut{pts: presentation(prev, t), msn: s.segMSN, date: s.segNTP})
	}
	if t.leading {
		s.adjustPartDuration(toDuration(d, t.clockRate))
	}
	// a sample refused for its size still lets the segment end at the next random-access point: a
	// segment too large would otherwise never end, and refuse every sample after
	err := s.addToPart(t, prev)
	if !t.leading {
		return err
	}
	msn, part := s.segMSN, s.partIndex
	err = s.cut(t, randomAccess, smp, err)
	if s.segMSN != msn || s.partIndex != part {
		s.cuts.add(cut{pts: presentation(smp, t), msn: s.segMSN, part: s.partIndex, date: s.segNTP, disc: s.segDisc})
	} else {
		s.cuts.advance(presentation(smp, t))
	}
	return err
}

// presentation returns the presentation time of a sample on the timeline.
func presentation(smp *sample, t *track) time.Duration {
	return toDuration(smp.dts+int64(smp.PTSOffset), t.clockRate)
}

// cut ends the part or the segment being written before smp, the leading track's next sample, when
// the rules say so; err is that of adding the sample before it.
func (s *Segmenter) cut(t *track, randomAccess bool, smp *sample, err error) error {
	next := toDuration(smp.dts, t.clockRate)
	if !randomAccess && s.cfg.RequestKeyframe != nil && next >= s.keyframeDue() {
		s.keyAsked = next
		s.cfg.RequestKeyframe()
	}
	switch {
	case randomAccess && s.curInit != nil && t.paramsVersion != s.curInit.version:
		// new codec parameters: the segment ends here however short it is, and the next one needs a
		// new init section (RFC 8216 §4.3.2.3, §4.3.2.5)
		s.freezePart = true
		return errors.Join(err, s.rotateSegment(next, smp.ntp, true))
	case randomAccess && next-s.segStart >= s.cfg.SegmentMinDuration:
		s.freezePart = true
		return errors.Join(err, s.rotateSegment(next, smp.ntp, false))
	case err != nil:
		return err
	case s.cfg.LowLatency && next-s.partStart >= s.adjustedPart:
		return s.rotatePart(next)
	}
	return nil
}

// keyframeDue is when the segment being written should ask for a keyframe: once it has its least
// duration, then a segment duration after each ask.
func (s *Segmenter) keyframeDue() time.Duration {
	if s.keyAsked >= s.segStart {
		return s.keyAsked + s.cfg.SegmentMinDuration
	}
	return s.segStart + s.cfg.SegmentMinDuration
}

// followSample is writeSample's second half for a follower: the first segment starts at the leader's
// first segment cut that one of its random-access points meets, and every later cut is the leader's.
func (s *Segmenter) followSample(t *track, randomAccess bool, prev, smp *sample) error {
	next := toDuration(smp.dts, t.clockRate)
	if !s.started {
		if !t.leading || prev.IsNonSyncSample {
			return nil // prev is before the first segment
		}
		var k cut
		var ok bool
		if pts := presentation(prev, t); t.isVideo() {
			k, ok = s.follow.segmentAt(pts)
		} else {
			// the audio of the leader's stream split out (its audio rendition): an audio frame seldom
			// starts where a video frame does, so the first segment starts with the first frame at or
			// after a segment cut of the leader, as the leader's own copy of the audio does
			if s.haveBefore {
				k, ok = s.follow.segmentBetween(s.beforeStart, pts)
			} else {
				k, ok = s.follow.segmentAt(pts) // the stream's first frame, on the leader's first cut
			}
			s.beforeStart, s.haveBefore = pts, true
		}
		if !ok {
			return nil
		}
		s.startFirstSegment(toDuration(prev.dts, t.clockRate), k.date)
		s.segMSN, s.segNTP, s.segDisc = k.msn, k.date, k.disc
	}
	err := s.addToPart(t, prev)
	if !t.leading {
		return err
	}
	k, ok := s.follow.next(presentation(smp, t), s.segMSN, s.partIndex)
	if !ok {
		return err
	}
	if k.msn == s.segMSN {
		err = errors.Join(err, s.rotatePart(next))
	} else {
		newParams := randomAccess && s.curInit != nil && t.paramsVersion != s.curInit.version
		if !randomAccess {
			s.log.Warn("a rendition's segment starts without a keyframe: its encoder did not follow the source's", "segment", k.msn)
		}
		err = errors.Join(err, s.rotateSegment(next, k.date, newParams))
		if s.segMSN != k.msn {
			// the rendition skipped a whole segment of the source (its encoder stalled): numbers must stay
			// consecutive within a playlist, so this one stays out of step until the rendition restarts
			s.outOfStep++
			if s.outOfStep == 1 {
				s.log.Warn("rendition out of step with its source", "segment", s.segMSN, "source", k.msn)
			}
		}
		s.segNTP, s.segDisc = k.date, s.segDisc || k.disc
	}
	return err
}

func (s *Segmenter) startFirstSegment(start time.Duration, ntp time.Time) {
	s.started = true
	s.anchorNTP, s.anchorStart = ntp.Truncate(time.Millisecond), start
	s.segStart, s.segNTP, s.partStart = start, s.anchorNTP, start
}

// maxDateDrift is how far the media clock may run from the wall clock before the dates are anchored
// again (a publisher that stalled and resumed without a burst, an encoder whose clock runs fast or slow).
const maxDateDrift = 2 * time.Second

// dateOf returns the EXT-X-PROGRAM-DATE-TIME of a segment starting at start on the leading track's
// timeline, received at the wall-clock time received; a new init section (which comes with a
// discontinuity) or a drift past maxDateDrift anchors the dates there again.
func (s *Segmenter) dateOf(start time.Duration, received time.Time, discontinuity bool) time.Time {
	derived := s.anchorNTP.Add(start - s.anchorStart)
	drift := received.Sub(derived)
	if discontinuity || drift > maxDateDrift || drift < -maxDateDrift {
		if !discontinuity {
			s.log.Info("media clock and wall clock apart: program dates anchored again", "drift", drift.Round(time.Millisecond).String())
		}
		s.anchorNTP, s.anchorStart = received.Truncate(time.Millisecond), start
		return s.anchorNTP
	}
	return derived
}

func (s *Segmenter) addToPart(t *track, smp *sample) error {
	if s.segSize+smp.size() > s.cfg.SegmentMaxSize {
		return ErrTooLarge
	}
	s.segSize += smp.size()
	if len(t.samples) == 0 {
		t.partBase = smp.dts
	}
	if t.leading && !smp.IsNonSyncSample {
		s.partIndep = true
	}
	t.samples = append(t.samples, smp)
	return nil
}

// partDurationCompatible reports whether parts of duration part, made of samples of duration sample,
// stay above 85% of the part target (iOS refuses shorter parts).
func partDurationCompatible(part, sample time.Duration) bool {
	if sample > part {
		return false
	}
	f := part / sample
	if part%sample != 0 {
		f++
	}
	f *= sample
	return part > f*85/100
}

// adjustPartDuration raises the part duration until it suits every sample duration seen so far (until
// the first segment is complete, after which it stays).
func (s *Segmenter) adjustPartDuration(d time.Duration) {
	if !s.cfg.LowLatency || s.freezePart || d <= 0 {
		return
	}
	if _, ok := s.sampleDurations[d]; ok || len(s.sampleDurations) >= maxSampleDurations {
		return // bounded: a publisher with erratic timestamps must not cost quadratic time
	}
	s.sampleDurations[d] = struct{}{}
	p := s.cfg.PartMinDuration
	for ; p < 5*time.Second; p += 5 * time.Millisecond {
		ok := true
		for sd := range s.sampleDurations {
			if !partDurationCompatible(p, sd) {
				ok = false
				break
			}
		}
		if ok {
			break
		}
	}
	s.adjustedPart = p
}

// finishPart closes the part being written at end. It returns nil if the part holds no sample. An
// MPEG-TS segment is written as one part, never announced.
func (s *Segmenter) finishPart(end time.Duration) (*partEntry, error) {
	s.writeEarly(end)
	var data []byte
	var err error
	switch {
	case s.ts != nil:
		data, err = s.ts.segment(s.tracks)
	case s.direct && !s.segFileFailed:
		data, err = s.fmp4Part(s.partBuf)
	default:
		data, err = s.fmp4Part(nil)
	}
	if err != nil || data == nil {
		return nil, err
	}
	if s.curInit == nil {
		// the attempt at the first sample failed: the part cannot be played without one
		if err := s.newInit(); err != nil {
			return nil, err
		}
	}
	pe := &partEntry{
		Part: Part{
			MSN: s.segMSN, Index: s.partIndex, Name: s.names.part(s.segMSN, s.partIndex),
			Duration: end - s.partStart, Independent: s.partIndep,
		},
		blob: blob{data: data},
	}
	if s.direct {
		pe.blob = s.toSegmentFile(pe.Name, data)
	}
	s.partIndex++
	s.partStart, s.partIndep = end, false
	s.curParts = append(s.curParts, pe)
	if s.cfg.LowLatency && s.obs != nil {
		s.obs.Part(pe.public())
	}
	return pe, nil
}

// writeEarly puts into the part ending at end the sample each other track holds (its duration is known
// only when the next one arrives, after the cut) if it starts before end, with the duration its track's
// samples last had: a sample belongs to the part in which it starts. Every segment then starts with its
// leading track's sample, at the time its EXT-X-PROGRAM-DATE-TIME gives: otherwise an audio frame starting
// up to one frame before the cut opened the next segment, and hls.js, whose timeline starts a segment at
// its earliest sample, placed segments that much apart from their dates when it aligned a new playlist
// by them (a move to another edge), and could wait a whole segment for a part to start at.
func (s *Segmenter) writeEarly(end time.Duration) {
	for _, t := range s.tracks {
		smp := t.next
		if t.leading || smp == nil || smp.early || toDuration(smp.dts, t.clockRate) >= end {
			continue
		}
		smp.Duration = t.defaultDuration()
		if s.addToPart(t, smp) == nil {
			smp.early = true
		}
	}
}

// toSegmentFile appends a part's bytes to the memory file of the segment being written and returns
// where they are; they stay on the heap if that fails.
func (s *Segmenter) toSegmentFile(name string, data []byte) blob {
	if s.segFileFailed {
		return blob{data: data}
	}
	var err error
	if s.segFile == nil {
		s.segFile, err = memfile.Create(s.names.segment(s.segMSN))
	}
	var off int64
	if err == nil {
		off, err = s.segFile.Append(data)
	}
	if err != nil {
		s.log.Warn("part kept on the heap", "part", name, "cause", err)
		s.segFileFailed = true
		s.partBuf = nil // data belongs to the part now
		return blob{data: data}
	}
	if s.ts == nil {
		s.partBuf = data[:0] // the next part is marshalled into the same bytes
	}
	return blob{mem: s.segFile, off: off, n: len(data)}
}

// dropSegmentFile releases the memory file of the segment being written when the segment did not keep
// it (a failure), and starts the next segment without one.
func (s *Segmenter) dropSegmentFile() {
	if s.segFile != nil {
		s.segFile.Release()
		s.segFile = nil
	}
	s.segFileFailed = false
}

// fmp4Part writes the samples of the part being written as one fragment, into dst's bytes when they
// are large enough (nil without samples).
func (s *Segmenter) fmp4Part(dst []byte) ([]byte, error) {
	var tracks []fragmentTrack
	for _, t := range s.tracks {
		if len(t.samples) == 0 {
			continue
		}
		tracks = append(tracks, fragmentTrack{id: uint32(t.id), baseTime: uint64(t.partBase), samples: t.samples})
		t.samples = nil
	}
	if len(tracks) == 0 {
		return nil, nil
	}
	b := marshalFragment(dst, s.partSeq, tracks)
	s.partSeq++
	return b, nil
}

// initSection is what the segments of one set of codec parameters share: their init section (fMP4;
// MPEG-TS carries the parameters in band and has no name nor data here) and what a multivariant
// playlist says of them. It never changes once made.
type initSection struct {
	name    string
	data    []byte
	variant *variantInfo
	version int // the leading track's paramsVersion it was made from
}

// newInit makes the init section of the codec parameters in force, for the segments from the one being
// written on, and tells the observer.
func (s *Segmenter) newInit() error {
	in := &initSection{variant: newVariantInfo(s.tracks), version: s.leading.paramsVersion}
	if s.ts == nil {
		var fi fmp4.Init
		for _, t := range s.tracks {
			fi.Tracks = append(fi.Tracks, &fmp4.InitTrack{ID: t.id, TimeScale: uint32(t.clockRate), Codec: t.mp4Codec()})
		}
		var buf seekablebuffer.Buffer
		if err := fi.Marshal(&buf); err != nil {
			return fmt.Errorf("writing init section: %w", err)
		}
		in.name, in.data = s.names.init(s.initCount+1), buf.Bytes()
	}
	s.initCount++
	s.curInit = in
	s.inits = append(s.inits, in)
	if s.obs != nil && in.data != nil {
		s.obs.Init(in.name, in.data)
	}
	return nil
}

// rotatePart closes the part being written and publishes it.
func (s *Segmenter) rotatePart(end time.Duration) error {
	pe, err := s.finishPart(end)
	if err != nil || pe == nil {
		return err
	}
	s.updatePartTarget()
	s.publish()
	return nil
}

// rotateSegment closes the segment being written at end and starts the next one, after a discontinuity
// with a new init section if newParams.
func (s *Segmenter) rotateSegment(end time.Duration, nextNTP time.Time, newParams bool) error {
	made := s.segmentsMade
	err := s.completeSegment(end)
	if s.cfg.LowLatency {
		s.updatePartTarget()
	}
	s.segMSN++
	s.segStart, s.segNTP, s.partStart = end, s.dateOf(end, nextNTP, newParams), end
	s.segSize, s.partIndex, s.partIndep = 0, 0, false
	s.curParts = nil
	if s.segmentsMade != made {
		// the discontinuity is carried by the first segment actually made after it: one left empty
		// (its samples refused) must not lose it, or the discontinuity sequence would drift
		s.segDisc = false
	}
	if newParams {
		// on failure the segments go on with the old init section, and the next random-access point
		// tries again
		prev := s.curInit.variant
		if ierr := s.newInit(); ierr != nil {
			err = errors.Join(err, ierr)
		} else {
			s.segDisc = true
			s.log.Info("codec parameters changed: new init section, discontinuity", "segment", s.segMSN,
				"init", s.curInit.name, "from", prev.resolution+" "+strings.Join(prev.codecs, ","),
				"to", s.curInit.variant.resolution+" "+strings.Join(s.curInit.variant.codecs, ","))
		}
	}
	s.publish()
	return err
}

// completeSegment closes the part and the segment being written and puts the segment in the window.
func (s *Segmenter) completeSegment(end time.Duration) error {
	defer s.dropSegmentFile()
	if _, err := s.finishPart(end); err != nil {
		return err
	}
	if len(s.curParts) == 0 {
		return nil
	}
	se := &segEntry{init: s.curInit, info: SegmentInfo{
		MSN: s.segMSN, Name: s.names.segment(s.segMSN), Duration: end - s.segStart, DateTime: s.segNTP,
		InitName: s.curInit.name, Discontinuity: s.segDisc,
	}}
	if s.segFile != nil && !s.segFileFailed {
		s.keepFile(se)
	} else if err := s.keepBytes(se); err != nil {
		return err
	}
	s.window = append(s.window, se)
	s.segmentsMade++
	s.trimWindow()
	if td := int(math.Round(se.info.Duration.Seconds())); td > s.targetDur {
		if len(s.window) > 1 {
			s.log.Warn("segment duration grew past the target duration: iOS players may stall",
				"target", s.targetDur, "segment", se.info.Duration.String())
		}
		s.targetDur = td
	}
	return nil
}

// keepFile makes the memory file every part of the segment was written to the segment's bytes (direct:
// nothing to copy).
func (s *Segmenter) keepFile(se *segEntry) {
	f := s.segFile
	s.segFile = nil
	if err := f.Seal(); err != nil {
		s.log.Debug("segment left unsealed", "segment", se.info.Name, "cause", err) // its bytes are whole
	}
	se.size = f.Size()
	se.blob = blob{mem: f, n: se.size}
	if s.cfg.LowLatency {
		se.parts = s.curParts // already ranges of f
	}
	if s.obs != nil {
		seg := se.info.segment(se.blob)
		for _, p := range se.parts {
			seg.Parts = append(seg.Parts, p.public())
		}
		s.obs.SegmentComplete(seg)
	}
}

// keepBytes makes the segment of its parts' bytes, one buffer that the observer is given, and moves it
// off the heap (offHeap).
func (s *Segmenter) keepBytes(se *segEntry) error {
	var data []byte
	if len(s.curParts) == 1 && s.curParts[0].mem == nil {
		data = s.curParts[0].data
	} else {
		n := 0
		for _, p := range s.curParts {
			n += p.size()
		}
		data = make([]byte, 0, n)
		for _, p := range s.curParts {
			b, err := p.bytes() // on the heap, or in a memory file whose later writes failed
			if err != nil {
				return fmt.Errorf("segment %s: part %s: %w", se.info.Name, p.Name, err)
			}
			data = append(data, b...)
		}
	}
	se.size = len(data)
	seg := se.info.segment(blob{data: data})
	off := 0
	for _, p := range s.curParts {
		// the parts become views of the segment, so that each byte is held once
		n := p.size()
		np := &partEntry{Part: p.Part, blob: blob{data: data[off : off+n : off+n]}}
		off += n
		if s.cfg.LowLatency {
			se.parts = append(se.parts, np)
			seg.Parts = append(seg.Parts, np.public())
		}
	}
	se.blob = blob{data: data}
	if s.obs != nil {
		s.obs.SegmentComplete(seg)
	}
	s.offHeap(se)
	return nil
}

// offHeap moves a complete segment's bytes (and its parts', which are ranges of them) out of the Go heap:
// to a file of Config.Directory, or to a memory file (the default, where the system has them).
func (s *Segmenter) offHeap(se *segEntry) {
	var b blob
	switch {
	case s.cfg.Directory != "":
		path := filepath.Join(s.cfg.Directory, se.info.Name)
		if err := os.WriteFile(path, se.data, 0o644); err != nil {
			s.log.Warn("segment kept in memory", "segment", se.info.Name, "cause", err)
			return
		}
		b = blob{file: path, n: len(se.data)}
	case memoryFiles():
		mf, err := memfile.New(se.info.Name, se.data)
		if err != nil {
			s.log.Warn("segment kept on the heap", "segment", se.info.Name, "cause", err)
			return
		}
		b = blob{mem: mf, n: len(se.data)}
	default:
		return
	}
	se.blob = b
	for _, p := range se.parts {
		n := len(p.data)
		p.blob = b
		p.off, p.n = b.off, n
		b.off += int64(n)
	}
}

// memoryFiles reports, once, whether segments can be kept in memory files.
var memoryFiles = sync.OnceValue(func() bool {
	if memfile.Supported() {
		return true
	}
	slog.Warn("this system has no memory files (memfd): live segments are kept on the Go heap")
	return false
})

// freeSegment frees the bytes of a segment that is no longer served.
func (s *Segmenter) freeSegment(se *segEntry) {
	switch {
	case se.mem != nil:
		se.mem.Release()
	case se.file != "":
		if err := os.Remove(se.file); err != nil {
			s.log.Warn("removing old segment", "cause", err)
		}
	}
}

// trimWindow drops the oldest segments beyond SegmentCount.
func (s *Segmenter) trimWindow() {
	var retired []*segEntry
	if r := s.retired.Load(); r != nil {
		retired = *r
	}
	changed := false
	for len(s.window) > s.cfg.SegmentCount {
		old := s.window[0]
		s.window = s.window[1:]
		retired = append(retired, old)
		changed = true
		if old.info.Discontinuity {
			// its EXT-X-DISCONTINUITY leaves the playlist: the header counts it (RFC 8216 §6.2.1)
			s.discSeq++
		}
	}
	if !changed {
		return
	}
	for len(retired) > s.cfg.SegmentCount {
		s.freeSegment(retired[0])
		retired = retired[1:]
	}
	retired = slices.Clone(retired)
	s.retired.Store(&retired)
	s.dropUnusedInits(retired)
}

// dropUnusedInits forgets the init sections older than that of the oldest segment still served (their
// order is that of the segments).
func (s *Segmenter) dropUnusedInits(retired []*segEntry) {
	oldest := s.curInit
	if all := slices.Concat(retired, s.window); len(all) > 0 {
		oldest = all[0].init
	}
	if i := slices.Index(s.inits, oldest); i > 0 {
		s.inits = slices.Clone(s.inits[i:])
	}
}

// retiredObject returns a segment or part that left the window recently.
func (s *Segmenter) retiredObject(name string) (Object, bool) {
	r := s.retired.Load()
	if r == nil {
		return Object{}, false
	}
	kind, msn, part := s.names.parse(name)
	for _, se := range *r {
		if se.info.MSN != msn {
			continue
		}
		switch {
		case kind == kindSegment:
			return Object{Name: name, ContentType: s.contentType, b: se.blob}, true
		case kind == kindPart && part < len(se.parts):
			return Object{Name: name, ContentType: s.contentType, b: se.parts[part].blob}, true
		}
	}
	return Object{}, false
}

// updatePartTarget sets the part target to the longest part in the window, in whole milliseconds.
func (s *Segmenter) updatePartTarget() {
	var longest time.Duration
	for _, se := range s.window {
		for _, p := range se.parts {
			longest = max(longest, p.Duration)
		}
	}
	for _, p := range s.curParts {
		longest = max(longest, p.Duration)
	}
	longest = (longest + time.Millisecond - 1).Truncate(time.Millisecond)
	if s.partTarget != 0 && longest != s.partTarget {
		s.log.Debug("part target changed", "from", s.partTarget.String(), "to", longest.String())
	}
	s.partTarget = longest
}

// publish makes the writer's state the current playlist and tells waiters and the observer.
func (s *Segmenter) publish() {
	pl := s.snapshot()
	old := s.cur.Swap(pl)
	close(old.changed)
	if s.obs != nil {
		if pl.Ready() {
			s.obs.PlaylistChanged(pl)
		}
		if pl.ended {
			s.obs.Ended(pl)
		}
	}
}

func (s *Segmenter) snapshot() *Playlist {
	return &Playlist{
		names: s.names, lowLatency: s.cfg.LowLatency, contentType: s.contentType,
		curInit: s.curInit, inits: slices.Clone(s.inits), segDisc: s.segDisc, discSeq: s.discSeq,
		segments: slices.Clone(s.window), parts: slices.Clone(s.curParts),
		nextMSN: s.segMSN, targetDur: s.targetDur, partTarget: s.partTarget,
		ended: s.ended, changed: make(chan struct{}),
	}
}

// Close ends the stream: the samples still queued are written with an estimated duration, the segment
// being written is completed (however short), the observer learns of it and of the end, and waiters
// return ErrEnded. Close is safe to call more than once.
func (s *Segmenter) Close() {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.ended {
		return
	}
	if err := s.release(true); err != nil {
		s.log.Warn("writing the last samples", "cause", err)
	}
	s.ended = true
	defer s.cuts.end()
	if s.started {
		end := s.partStart
		for _, t := range s.tracks {
			smp := t.next
			t.next = nil
			if smp == nil || smp.early {
				continue
			}
			smp.Duration = t.defaultDuration()
			if err := s.addToPart(t, smp); err != nil {
				continue
			}
			if t.leading {
				end = toDuration(smp.dts+int64(smp.Duration), t.clockRate)
			}
		}
		if err := s.completeSegment(end); err != nil {
			s.log.Warn("completing the last segment", "cause", err)
		}
		s.curParts = nil
		s.segMSN++
	}
	s.publish()
}

// Wait returns the first playlist that lists part `part` of segment msn (part NoPart: the complete
// segment msn), or a later one. As LL-HLS requires, a part index past the end of a complete segment
// means part 0 of the next segment. Wait returns early with ctx's error when ctx is done, and with
// ErrEnded when the stream ended first; the playlist returned is then the latest.
func (s *Segmenter) Wait(ctx context.Context, msn uint64, part int) (*Playlist, error) {
	return s.waitFor(ctx, func(pl *Playlist) bool { return pl.Has(msn, part) })
}

// WaitReady returns the first playlist that lists something to play: a part in low-latency mode, a
// segment otherwise.
func (s *Segmenter) WaitReady(ctx context.Context) (*Playlist, error) {
	return s.waitFor(ctx, (*Playlist).Ready)
}

// WaitSegments returns the first playlist that lists n complete segments (or fewer, if the window is
// smaller), for players that cannot start on less; see hls for which.
func (s *Segmenter) WaitSegments(ctx context.Context, n int) (*Playlist, error) {
	n = min(n, s.cfg.SegmentCount)
	return s.waitFor(ctx, func(pl *Playlist) bool { return len(pl.segments) >= n })
}

func (s *Segmenter) waitFor(ctx context.Context, ok func(*Playlist) bool) (*Playlist, error) {
	for {
		pl := s.cur.Load()
		if ok(pl) {
			return pl, nil
		}
		if pl.ended {
			return pl, ErrEnded
		}
		select {
		case <-pl.changed:
		case <-ctx.Done():
			return pl, ctx.Err()
		}
	}
}

// Object returns the init section, a segment or a part by name. A request for the part named by the
// playlist's preload hint waits (within ctx, and three target durations at most) until that part is
// complete, as LL-HLS players expect.
func (s *Segmenter) Object(ctx context.Context, name string) (Object, error) {
	pl := s.cur.Load()
	if o, ok := pl.Object(name); ok {
		return o, nil
	}
	if o, ok := s.retiredObject(name); ok {
		return o, nil
	}
	kind, msn, part := s.names.parse(name)
	if kind != kindPart || pl.ended || msn != pl.nextMSN || part != len(pl.parts) {
		return Object{}, ErrNotFound
	}
	ctx, cancel := context.WithTimeout(ctx, 3*max(pl.TargetDuration(), time.Second))
	defer cancel()
	pl, err := s.Wait(ctx, msn, part)
	if err != nil {
		return Object{}, err
	}
	if o, ok := pl.Object(name); ok {
		return o, nil
	}
	return Object{}, ErrNotFound
}

// blob is bytes on the heap, or a range of a memory file or of a file of Config.Directory.
type blob struct {
	data []byte
	mem  *memfile.File
	file string
	off  int64
	n    int
}

func (b blob) size() int {
	if b.mem != nil || b.file != "" {
		return b.n
	}
	return len(b.data)
}

func (b blob) bytes() ([]byte, error) {
	if b.mem != nil {
		out := make([]byte, b.n)
		if _, err := b.mem.ReadAt(out, b.off); err != nil {
			return nil, err
		}
		return out, nil
	}
	f, err := b.open()
	if err != nil || f == nil {
		return b.data, err
	}
	defer f.Close()
	out := make([]byte, b.n)
	if _, err := io.ReadFull(f, out); err != nil {
		return nil, err
	}
	return out, nil
}

// open returns a descriptor of the blob's file positioned at its first byte (nil for bytes on the heap).
func (b blob) open() (File, error) {
	switch {
	case b.mem != nil:
		h, err := b.mem.Open(b.off)
		if err != nil {
			return nil, err
		}
		return h, nil
	case b.file != "":
		f, err := os.Open(b.file)
		if err != nil {
			return nil, err
		}
		if _, err := f.Seek(b.off, io.SeekStart); err != nil {
			f.Close()
			return nil, err
		}
		return f, nil
	}
	return nil, nil
}

// File is a reader of an object's bytes, positioned at its first byte: an *os.File (net sends it with
// sendfile) or a *memfile.Handle (internal/sendfile does). Close gives it back.
type File interface {
	io.ReadSeeker
	io.ReaderAt
	io.Closer
}

// segEntry is a segment of the window.
type segEntry struct {
	info  SegmentInfo
	init  *initSection
	size  int
	parts []*partEntry
	blob
}

// partEntry is a part of the window.
type partEntry struct {
	Part
	blob
}

// public returns the part as an observer is given it.
func (pe *partEntry) public() Part {
	p := pe.Part
	p.src = pe.blob
	return p
}

// Object is an immutable object: init section, segment or part.
type Object struct {
	Name        string
	ContentType string
	b           blob
}

// Bytes returns the object's bytes (read from its file when segments are kept on disk). The slice must
// not be modified.
func (o Object) Bytes() ([]byte, error) {
	b, err := o.b.bytes()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", o.Name, err)
	}
	return b, nil
}

// Size returns the object's length in bytes.
func (o Object) Size() int { return o.b.size() }

// File returns, for an object kept in a file (a memory file, or a file of Config.Directory), a
// descriptor of its own positioned at the object's first byte, from which the object's Size
// bytes can be sent with sendfile; the caller closes it. It returns nil for an object on the heap (use
// Bytes), and ErrNotFound when the object left the window and was freed meanwhile.
func (o Object) File() (File, error) {
	f, err := o.b.open()
	if errors.Is(err, memfile.ErrReleased) || errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", o.Name, err)
	}
	return f, nil
}
