package segmenter

import "time"

// Observer learns of every object as soon as it is complete, in an order that lets it mirror the stream
// elsewhere (object storage, a recording): each init section before the first Part or segment that
// needs it, every Part of a segment before its SegmentComplete, and PlaylistChanged after the objects
// the new playlist names. Ended comes last. In MPEG-TS there is no init section nor parts: only
// SegmentComplete, PlaylistChanged and Ended.
//
// The calls are made synchronously from Write and Close, on the writer's goroutine: an observer must not
// block or do I/O in them. It should copy what it needs (the byte slices are immutable and may be kept;
// a Part's or Segment's Bytes must be taken during the call, the memory file they come from may be
// freed later) into its own bounded queue and return. A slow observer delays the stream for every viewer.
type Observer interface {
	// Init is called with each fMP4 initialization section (never in MPEG-TS): once before the first
	// part or segment, and again, under a new name, when the video codec parameters change mid-stream,
	// before the first part or segment that needs it (Segment.InitName names it).
	Init(name string, data []byte)
	// Part is called for every complete part (low-latency mode only).
	Part(p Part)
	// SegmentComplete is called when a segment is complete.
	SegmentComplete(s Segment)
	// PlaylistChanged is called after every change of the media playlist; pl renders it.
	PlaylistChanged(pl *Playlist)
	// Ended is called once when the stream ended, after the last segment was completed; pl is the
	// final playlist (it renders with EXT-X-ENDLIST).
	Ended(pl *Playlist)
}

// Funcs is an Observer made of optional functions.
type Funcs struct {
	OnInit            func(name string, data []byte)
	OnPart            func(p Part)
	OnSegmentComplete func(s Segment)
	OnPlaylistChanged func(pl *Playlist)
	OnEnded           func(pl *Playlist)
}

var _ Observer = Funcs{}

func (f Funcs) Init(name string, data []byte) {
	if f.OnInit != nil {
		f.OnInit(name, data)
	}
}

func (f Funcs) Part(p Part) {
	if f.OnPart != nil {
		f.OnPart(p)
	}
}

func (f Funcs) SegmentComplete(s Segment) {
	if f.OnSegmentComplete != nil {
		f.OnSegmentComplete(s)
	}
}

func (f Funcs) PlaylistChanged(pl *Playlist) {
	if f.OnPlaylistChanged != nil {
		f.OnPlaylistChanged(pl)
	}
}

func (f Funcs) Ended(pl *Playlist) {
	if f.OnEnded != nil {
		f.OnEnded(pl)
	}
}

// Part is a complete LL-HLS partial segment.
type Part struct {
	MSN         uint64 // media sequence number of the segment it belongs to
	Index       int    // position in that segment, from 0
	Name        string
	Duration    time.Duration
	Independent bool // starts with (or holds) a video random-access point
	src         blob // moof+mdat
}

// Bytes returns the part's bytes (moof+mdat), which must not be modified: read from the memory file the
// segmenter wrote them to, or its own when they are on the heap.
func (p Part) Bytes() ([]byte, error) { return p.src.bytes() }

// WithBytes returns p whose bytes are data: for a part kept after the call that gave it (its Bytes
// then never fail) or made elsewhere.
func (p Part) WithBytes(data []byte) Part {
	p.src = blob{data: data}
	return p
}

// Segment is a complete media segment.
type Segment struct {
	MSN      uint64
	Name     string
	Duration time.Duration
	// DateTime is the wall-clock time of its first sample (EXT-X-PROGRAM-DATE-TIME).
	DateTime time.Time
	// InitName is the init section the segment needs ("" in MPEG-TS).
	InitName string
	// Discontinuity is set on the first segment after a change of the video codec parameters: its
	// playlist entry gets EXT-X-DISCONTINUITY (and, in fMP4, a new EXT-X-MAP).
	Discontinuity bool
	// Parts are its parts in low-latency mode; the segment's bytes are theirs end to end.
	Parts []Part
	src   blob
}

// Bytes returns the segment's bytes, which must not be modified: the concatenation of its parts in fMP4,
// a whole transport stream in MPEG-TS.
func (s Segment) Bytes() ([]byte, error) { return s.src.bytes() }

// WithBytes returns s whose bytes are data: for a segment kept after the call that gave it (its Bytes
// then never fail) or made elsewhere.
func (s Segment) WithBytes(data []byte) Segment {
	s.src = blob{data: data}
	return s
}

// SegmentInfo is what a playlist needs of a segment: enough for a recorder to render a VOD playlist
// of segments it stored.
type SegmentInfo struct {
	MSN           uint64
	Name          string
	Duration      time.Duration
	DateTime      time.Time
	InitName      string // the init section the segment needs ("" in MPEG-TS)
	Discontinuity bool   // the first segment after a change of the video codec parameters
}

// segment returns the segment of info whose bytes are src (its Parts to be added).
func (i SegmentInfo) segment(src blob) Segment {
	return Segment{
		MSN: i.MSN, Name: i.Name, Duration: i.Duration, DateTime: i.DateTime,
		InitName: i.InitName, Discontinuity: i.Discontinuity, src: src,
	}
}

// Info returns what a playlist needs of s.
func (s Segment) Info() SegmentInfo {
	return SegmentInfo{
		MSN: s.MSN, Name: s.Name, Duration: s.Duration, DateTime: s.DateTime,
		InitName: s.InitName, Discontinuity: s.Discontinuity,
	}
}
