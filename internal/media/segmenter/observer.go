package segmenter

import "time"

// Observer learns of every object as soon as it is complete, in an order that lets it mirror the stream
// elsewhere (object storage, a recording): each init section before the first Part or segment that
// needs it, every Part of a segment before its SegmentComplete, and PlaylistChanged after the objects
// the new playlist names. Ended comes last. In MPEG-TS there is no init section nor parts: only
// SegmentComplete, PlaylistChanged and Ended.
//
// The calls are made synchronously from Write and Close, on the writer's goroutine: an observer must not
// block or do I/O in them. It should copy what it needs (the byte slices are immutable and may be kept)
// into its own bounded queue and return. A slow observer delays the stream for every viewer.
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
	Independent bool   // starts with (or holds) a video random-access point
	Data        []byte // moof+mdat; immutable
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
	// Parts are its parts in low-latency mode; their Data is a sub-slice of the segment's Data.
	Parts []Part
	// Data is the segment: the concatenation of its parts in fMP4, a whole transport stream in MPEG-TS;
	// immutable.
	Data []byte
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

// Info returns what a playlist needs of s.
func (s Segment) Info() SegmentInfo {
	return SegmentInfo{
		MSN: s.MSN, Name: s.Name, Duration: s.Duration, DateTime: s.DateTime,
		InitName: s.InitName, Discontinuity: s.Discontinuity,
	}
}
