package segmenter

import (
	"bytes"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/codecparams"
	hlscodecs "github.com/bluenviron/gohlslib/v2/pkg/codecs"
	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
)

// EXT-X-VERSION of the playlists: the lowest each one needs (RFC 8216bis §8), since players refuse a
// version above the one they know. Decimal EXTINF durations need 3; EXT-X-MAP in a media playlist
// without EXT-X-I-FRAMES-ONLY needs 6. Nothing else written here needs a version: the LL-HLS tags
// (EXT-X-PART, -PART-INF, -SERVER-CONTROL, -PRELOAD-HINT), EXT-X-PROGRAM-DATE-TIME, EXT-X-DISCONTINUITY
// and EXT-X-INDEPENDENT-SEGMENTS have none, and no playlist uses EXT-X-SKIP (9), EXT-X-DEFINE (8, 11
// with QUERYPARAM) or I-frame playlists.
const (
	versionFMP4   = 6
	versionMPEGTS = 3
)

// partHoldBackFactor sets PART-HOLD-BACK to this many part targets: RFC 8216bis §4.4.3.8 says it
// SHOULD be at least three, and Apple's authoring specification requires it.
const partHoldBackFactor = 3

// NoPart asks Wait for a complete segment rather than a part.
const NoPart = -1

// URIFunc rewrites the name of an object or playlist into the URI a playlist gives for it, e.g. to
// append a viewer's session query or an object-storage base URL. nil keeps names as they are (URIs
// relative to the playlist).
type URIFunc func(name string) string

func (f URIFunc) apply(name string) string {
	if f == nil {
		return name
	}
	return f(name)
}

// Playlist is the state of a segmenter at one moment: the segments of the window, the parts of the
// segment being written, and what they need to be rendered. It never changes once published.
type Playlist struct {
	names       names
	lowLatency  bool
	contentType string
	curInit     *initSection   // of the segment being written; nil before the first sample
	inits       []*initSection // served: curInit's and those of segments listed or retired
	segDisc     bool           // the segment being written follows a discontinuity
	discSeq     int            // EXT-X-DISCONTINUITY-SEQUENCE
	segments    []*segEntry    // complete segments, oldest first
	parts       []*partEntry   // complete parts of segment nextMSN
	nextMSN     uint64         // the segment being written
	targetDur   int
	partTarget  time.Duration
	ended       bool
	changed     chan struct{} // closed when a newer playlist replaces this one

	plainOnce sync.Once
	plain     []byte
}

// Ready reports whether the playlist lists something to play.
func (p *Playlist) Ready() bool {
	if p.curInit == nil {
		return false // no media yet
	}
	return len(p.parts) > 0 && p.lowLatency || len(p.segments) > 0
}

// Ended reports whether the stream ended (the playlist renders with EXT-X-ENDLIST).
func (p *Playlist) Ended() bool { return p.ended }

// LowLatency reports whether the playlist has parts.
func (p *Playlist) LowLatency() bool { return p.lowLatency }

// NextMSN returns the media sequence number of the segment being written.
func (p *Playlist) NextMSN() uint64 { return p.nextMSN }

// PartTarget is the playlist's part target duration (0 without parts).
func (p *Playlist) PartTarget() time.Duration { return p.partTarget }

// TargetDuration returns EXT-X-TARGETDURATION.
func (p *Playlist) TargetDuration() time.Duration { return time.Duration(p.targetDur) * time.Second }

// LastSegment returns the newest complete segment listed (ok false before the first).
func (p *Playlist) LastSegment() (info SegmentInfo, ok bool) {
	if len(p.segments) == 0 {
		return SegmentInfo{}, false
	}
	return p.segments[len(p.segments)-1].info, true
}

// SegmentCount returns the number of complete segments listed.
func (p *Playlist) SegmentCount() int { return len(p.segments) }

// Segments returns the complete segments of the window, oldest first.
func (p *Playlist) Segments() []SegmentInfo {
	out := make([]SegmentInfo, 0, len(p.segments))
	for _, s := range p.segments {
		out = append(out, s.info)
	}
	return out
}

// InitName returns the name of the init section of the newest segment listed (of the segment being
// written before one is complete): "" before it exists, and always in MPEG-TS.
func (p *Playlist) InitName() string {
	if n := len(p.segments); n > 0 {
		return p.segments[n-1].info.InitName
	}
	if p.curInit == nil {
		return ""
	}
	return p.curInit.name
}

// InitNames returns every init section the playlist names, oldest first: those of the segments, then
// (low latency) that of the parts of the segment being written; InitName's before anything is listed.
// Empty in MPEG-TS.
func (p *Playlist) InitNames() []string {
	var out []string
	add := func(name string) {
		// segments of one init section follow one another: comparing with the last one is enough
		if name != "" && (len(out) == 0 || out[len(out)-1] != name) {
			out = append(out, name)
		}
	}
	for _, se := range p.segments {
		add(se.info.InitName)
	}
	if p.curInit != nil && (len(out) == 0 || p.lowLatency && len(p.parts) > 0) {
		add(p.curInit.name)
	}
	return out
}

// version returns the playlist's EXT-X-VERSION.
func (p *Playlist) version() int {
	if p.names.ext == extMPEGTS {
		return versionMPEGTS
	}
	return versionFMP4
}

// Has reports whether the playlist lists part `part` of segment msn (NoPart: the complete segment msn)
// or something later. A part index past the last part of a complete segment means part 0 of the next.
func (p *Playlist) Has(msn uint64, part int) bool {
	for {
		if msn < p.nextMSN {
			if part < 0 {
				return true
			}
			n, known := p.partCount(msn)
			if !known || part < n {
				return true
			}
			msn, part = msn+1, 0
			continue
		}
		return msn == p.nextMSN && part >= 0 && p.lowLatency && part < len(p.parts)
	}
}

// LastPart returns the last part the playlist lists (what an EXT-X-RENDITION-REPORT of it says), and
// false when it lists none.
func (p *Playlist) LastPart() (msn uint64, part int, ok bool) {
	if !p.lowLatency {
		return 0, 0, false
	}
	if len(p.parts) > 0 {
		return p.nextMSN, len(p.parts) - 1, true
	}
	if n := len(p.segments); n > 0 && len(p.segments[n-1].parts) > 0 {
		last := p.segments[n-1]
		return last.info.MSN, len(last.parts) - 1, true
	}
	return 0, 0, false
}

// partCount returns the number of parts of complete segment msn, if the window still has it.
func (p *Playlist) partCount(msn uint64) (int, bool) {
	if !p.lowLatency {
		return 0, false
	}
	se := p.segment(msn)
	if se == nil {
		return 0, false
	}
	return len(se.parts), true
}

func (p *Playlist) segment(msn uint64) *segEntry {
	if len(p.segments) == 0 || msn < p.segments[0].info.MSN {
		return nil
	}
	i := msn - p.segments[0].info.MSN
	if i >= uint64(len(p.segments)) {
		return nil
	}
	return p.segments[i]
}

// Object returns the init section, segment or part of that name if the playlist has it.
func (p *Playlist) Object(name string) (Object, bool) {
	kind, msn, part := p.names.parse(name)
	switch kind {
	case kindInit:
		for _, in := range p.inits {
			if in.name == name {
				return Object{Name: name, ContentType: p.contentType, b: blob{data: in.data}}, true
			}
		}
	case kindSegment:
		if se := p.segment(msn); se != nil {
			return Object{Name: name, ContentType: p.contentType, b: se.blob}, true
		}
	case kindPart:
		if !p.lowLatency {
			break
		}
		if msn == p.nextMSN && part < len(p.parts) {
			return Object{Name: name, ContentType: p.contentType, b: p.parts[part].blob}, true
		}
		if se := p.segment(msn); se != nil && part < len(se.parts) {
			return Object{Name: name, ContentType: p.contentType, b: se.parts[part].blob}, true
		}
	}
	return Object{}, false
}

// MediaOptions changes how a media playlist is rendered.
type MediaOptions struct {
	// URI rewrites every URI of the playlist.
	URI URIFunc
	// NoLowLatency leaves out the LL-HLS tags and parts: for copies served by something that cannot
	// hold blocking reloads, such as an object store.
	NoLowLatency bool
	// NoBlocking keeps the parts but promises no blocking reload and hints no part yet to come: an LL-HLS
	// copy for storage that serves only what exists, which players poll.
	NoBlocking bool
}

// Media renders the media playlist.
func (p *Playlist) Media(opts MediaOptions) []byte {
	if opts.URI == nil && !opts.NoLowLatency && !opts.NoBlocking {
		p.plainOnce.Do(func() { p.plain = p.render(opts) })
		return p.plain
	}
	return p.render(opts)
}

func (p *Playlist) render(opts MediaOptions) []byte {
	ll := p.lowLatency && !opts.NoLowLatency
	pl := &playlist.Media{
		Version:        p.version(),
		TargetDuration: p.targetDur,
		MediaSequence:  int(p.nextMSN),
		Endlist:        p.ended,
	}
	if p.discSeq > 0 {
		n := p.discSeq
		pl.DiscontinuitySequence = &n
	}
	// the playlist starts at the publication's first segment, with no placeholder before it: every URI
	// it names answers. A player that wants more behind the live edge than there is yet starts at the
	// first segment (RFC 8216bis §6.3.3) and the hold-back fills up as the stream goes on.
	segments := p.segments
	if len(segments) > 0 {
		pl.MediaSequence = int(segments[0].info.MSN)
	}
	if ll {
		partHoldBack := p.partTarget * partHoldBackFactor
		pl.ServerControl = &playlist.MediaServerControl{CanBlockReload: !p.ended && !opts.NoBlocking, PartHoldBack: &partHoldBack}
		pl.PartInf = &playlist.MediaPartInf{PartTarget: p.partTarget}
	}
	// the header's EXT-X-MAP is the init section of the first segment listed (of the parts before
	// one is complete); a later one follows the discontinuity where it starts
	var maps initMaps
	if p.curInit != nil {
		maps.current = p.curInit.name
	}
	if len(segments) > 0 {
		maps.current = segments[0].info.InitName
	}
	if maps.current != "" {
		pl.Map = &playlist.MediaMap{URI: opts.URI.apply(maps.current)}
	}
	for i, se := range segments {
		dt := se.info.DateTime
		ms := &playlist.MediaSegment{Duration: se.info.Duration, URI: opts.URI.apply(se.info.Name)}
		if !dt.IsZero() {
			ms.DateTime = &dt
		}
		ms.Discontinuity = maps.segment(se.info.Discontinuity, se.info.InitName, opts.URI)
		// parts are listed for the last two segments, as gohlslib does: enough for a player at the live
		// edge, and the playlist stays small
		if ll && len(segments)-i <= 2 {
			for _, pe := range se.parts {
				ms.Parts = append(ms.Parts, mediaPart(pe, opts.URI))
			}
		}
		pl.Segments = append(pl.Segments, ms)
	}
	var opening string // tags before the parts of the segment being written
	if ll {
		for _, pe := range p.parts {
			pl.Parts = append(pl.Parts, mediaPart(pe, opts.URI))
		}
		// right after a change, before its first part, the opening tags precede the preload hint: a player
		// fetching the hinted part learns that it needs the new init section
		if p.curInit != nil && maps.segment(p.segDisc, p.curInit.name, opts.URI) {
			last := len(maps.lines) - 1
			opening = "#EXT-X-DISCONTINUITY\n" + maps.lines[last]
			maps.lines = maps.lines[:last]
		}
		if !p.ended && !opts.NoBlocking {
			// always present: hls.js loops without it
			pl.PreloadHint = &playlist.MediaPreloadHint{URI: opts.URI.apply(p.names.part(p.nextMSN, len(p.parts)))}
		}
	}
	b, _ := pl.Marshal() // Marshal never fails
	if opening != "" {
		// the playlist library writes the parts of the segment being written right after the segments,
		// with no tag of their own: the opening tags go in between, found by rendering without the parts
		head := *pl
		head.Parts, head.PreloadHint = nil, nil
		hb, _ := head.Marshal()
		b = slices.Concat(hb, []byte(opening), b[len(hb):])
	}
	b = maps.insert(b)
	if ll && opts.NoBlocking {
		// the playlist library writes a leading comma when CAN-BLOCK-RELOAD is left out
		b = bytes.Replace(b, []byte("#EXT-X-SERVER-CONTROL:,"), []byte("#EXT-X-SERVER-CONTROL:"), 1)
	}
	return b
}

// initMaps follows the init section in force down a playlist, for the EXT-X-MAP tags that change it
// after an EXT-X-DISCONTINUITY: the playlist library writes only the header's.
type initMaps struct {
	current string   // the init section in force
	lines   []string // for each discontinuity so far, the EXT-X-MAP line that follows it ("" for none)
}

// segment reports whether the next segment follows a discontinuity: one it was cut at (disc), or a
// change of init section, which only a change of parameters makes.
func (m *initMaps) segment(disc bool, init string, uri URIFunc) bool {
	line := ""
	if init != m.current {
		line = "#EXT-X-MAP:URI=\"" + uri.apply(init) + "\"\n"
		m.current = init
	}
	if !disc && line == "" {
		return false
	}
	m.lines = append(m.lines, line)
	return true
}

// insert puts the EXT-X-MAP lines after their EXT-X-DISCONTINUITY tags in b, a rendered playlist.
func (m *initMaps) insert(b []byte) []byte {
	if !slices.ContainsFunc(m.lines, func(l string) bool { return l != "" }) {
		return b
	}
	const tag = "\n#EXT-X-DISCONTINUITY\n"
	out := make([]byte, 0, len(b)+len(m.lines)*64)
	for _, line := range m.lines {
		i := bytes.Index(b, []byte(tag))
		if i < 0 {
			break
		}
		i += len(tag)
		out = append(append(out, b[:i]...), line...)
		b = b[i:]
	}
	return append(out, b...)
}

func mediaPart(pe *partEntry, uri URIFunc) *playlist.MediaPart {
	return &playlist.MediaPart{Duration: pe.Duration, URI: uri.apply(pe.Name), Independent: pe.Independent}
}

// VOD renders a complete playlist of the given segments, oldest first: what a recorder serves once a
// recording is over. A segment needs its InitName, or init when that is "" (both "" for MPEG-TS). A
// segment with Discontinuity, or whose init section differs from the one before, follows an
// EXT-X-DISCONTINUITY, and a new EXT-X-MAP in the latter case.
func VOD(init string, segments []SegmentInfo, uri URIFunc) []byte {
	vod := playlist.MediaPlaylistTypeVOD
	pl := &playlist.Media{
		Version:             versionMPEGTS,
		IndependentSegments: true,
		TargetDuration:      1,
		PlaylistType:        &vod,
		Endlist:             true,
	}
	initOf := func(s SegmentInfo) string {
		if s.InitName != "" {
			return s.InitName
		}
		return init
	}
	maps := initMaps{current: init}
	if len(segments) > 0 {
		pl.MediaSequence = int(segments[0].MSN)
		maps.current = initOf(segments[0])
	}
	if maps.current != "" {
		pl.Version, pl.Map = versionFMP4, &playlist.MediaMap{URI: uri.apply(maps.current)}
	}
	for _, s := range segments {
		pl.TargetDuration = max(pl.TargetDuration, int(math.Round(s.Duration.Seconds())))
		ms := &playlist.MediaSegment{Duration: s.Duration, URI: uri.apply(s.Name)}
		if !s.DateTime.IsZero() {
			dt := s.DateTime
			ms.DateTime = &dt
		}
		ms.Discontinuity = maps.segment(s.Discontinuity, initOf(s), uri)
		pl.Segments = append(pl.Segments, ms)
	}
	b, _ := pl.Marshal()
	return maps.insert(b)
}

// Variant is one entry (EXT-X-STREAM-INF) of a multivariant playlist.
type Variant struct {
	// URI of the media playlist (a name, rewritten by Multivariant's URIFunc).
	URI              string
	Bandwidth        int // peak, bits/s
	AverageBandwidth int
	Codecs           []string // RFC 6381 codec strings
	Resolution       string   // WxH, "" without video
	FrameRate        float64  // 0 if unknown
	Channels         int      // audio channels of the first audio track (0: none, or unknown)

	version int // EXT-X-VERSION of the media playlist (0: fMP4's)
}

// HasAudio reports whether the variant's media carries audio (muxed with its video, or alone).
func (v Variant) HasAudio() bool {
	return v.Channels > 0 || len(v.Codecs) > 1 || v.Resolution == "" && len(v.Codecs) > 0
}

// AudioGroup is the GROUP-ID of the audio rendition the variants of a ladder share.
const AudioGroup = "audio"

// Variant describes the playlist for a multivariant playlist, with its media playlist at uri. Bandwidth
// is measured over the window's segments (over the parts so far before the first segment is complete).
func (p *Playlist) Variant(uri string) Variant {
	v := Variant{URI: uri, version: p.version()}
	if p.curInit != nil {
		// the newest parameters: those a player joining now ends up with
		vi := p.curInit.variant
		v.Codecs, v.Resolution, v.FrameRate, v.Channels = vi.codecs, vi.resolution, vi.frameRate, vi.channels
	}
	var size, peak int
	var dur time.Duration
	for _, se := range p.segments {
		if se.info.Duration <= 0 {
			continue
		}
		size += se.size
		dur += se.info.Duration
		peak = max(peak, int(float64(se.size)*8/se.info.Duration.Seconds()))
	}
	if dur == 0 {
		for _, pe := range p.parts {
			size += pe.size()
			dur += pe.Duration
		}
		if dur > 0 {
			peak = int(float64(size) * 8 / dur.Seconds())
		}
	}
	if dur > 0 {
		v.AverageBandwidth = int(float64(size) * 8 / dur.Seconds())
	}
	v.Bandwidth = max(peak, v.AverageBandwidth, 1)
	return v
}

// Multivariant renders a multivariant playlist of the given variants, of the version of their media
// playlists.
func Multivariant(variants []Variant, uri URIFunc) []byte { return Ladder(variants, nil, uri) }

// Ladder renders a multivariant playlist of the given variants, of the version of their media playlists,
// whose variants share the audio rendition audio (nil: none; each variant carries its own audio, if
// any). audio is then listed once as the EXT-X-MEDIA of group AudioGroup, and every variant names it:
// its CODECS lists the audio's codecs after its own, and its BANDWIDTH and AVERAGE-BANDWIDTH include
// the audio's (RFC 8216bis §4.4.6.2: the variant is its video and the audio played with it).
func Ladder(variants []Variant, audio *Variant, uri URIFunc) []byte {
	pl := &playlist.Multivariant{Version: versionMPEGTS, IndependentSegments: true}
	if audio != nil {
		a := *audio // the caller's stays as it is
		audio = &a
		if audio.version == 0 {
			audio.version = versionFMP4
		}
		pl.Version = max(pl.Version, audio.version)
		u := uri.apply(audio.URI)
		r := &playlist.MultivariantRendition{
			Type: playlist.MultivariantRenditionTypeAudio, GroupID: AudioGroup, Name: "main",
			Default: true, Autoselect: true, URI: &u,
		}
		if audio.Channels > 0 {
			ch := strconv.Itoa(audio.Channels)
			r.Channels = &ch
		}
		pl.Renditions = append(pl.Renditions, r)
	}
	for _, v := range variants {
		if v.version == 0 {
			v.version = versionFMP4
		}
		pl.Version = max(pl.Version, v.version)
		mv := &playlist.MultivariantVariant{
			Bandwidth: v.Bandwidth, Codecs: v.Codecs, URI: uri.apply(v.URI), Resolution: v.Resolution,
		}
		if audio != nil {
			mv.Audio = AudioGroup
			mv.Codecs = slices.Concat(v.Codecs, audio.Codecs)
			mv.Bandwidth += audio.Bandwidth
			if v.AverageBandwidth > 0 {
				v.AverageBandwidth += max(audio.AverageBandwidth, 0)
			}
		}
		if v.AverageBandwidth > 0 {
			avg := v.AverageBandwidth
			mv.AverageBandwidth = &avg
		}
		if v.FrameRate > 0 {
			fr := v.FrameRate
			mv.FrameRate = &fr
		}
		pl.Variants = append(pl.Variants, mv)
	}
	b, _ := pl.Marshal()
	return b
}

// Equal reports whether a multivariant playlist says the same of v and o.
func (v Variant) Equal(o Variant) bool {
	return v.URI == o.URI && v.Bandwidth == o.Bandwidth && v.AverageBandwidth == o.AverageBandwidth &&
		slices.Equal(v.Codecs, o.Codecs) && v.Resolution == o.Resolution && v.FrameRate == o.FrameRate &&
		v.Channels == o.Channels && v.version == o.version
}

// variantInfo is what a multivariant playlist says of the tracks, made with each init section.
type variantInfo struct {
	codecs     []string
	resolution string
	frameRate  float64
	channels   int
}

func newVariantInfo(tracks []*track) *variantInfo {
	vi := &variantInfo{}
	for _, t := range tracks {
		var c hlscodecs.Codec
		switch {
		case t.h264 != nil:
			c = &hlscodecs.H264{SPS: t.h264.SPS, PPS: t.h264.PPS}
			var sps h264.SPS
			if sps.Unmarshal(t.h264.SPS) == nil {
				vi.resolution = strconv.Itoa(sps.Width()) + "x" + strconv.Itoa(sps.Height())
				vi.frameRate = sps.FPS()
			}
		case t.h265 != nil:
			c = &hlscodecs.H265{VPS: t.h265.VPS, SPS: t.h265.SPS, PPS: t.h265.PPS}
			var sps h265.SPS
			if sps.Unmarshal(t.h265.SPS) == nil {
				vi.resolution = strconv.Itoa(sps.Width()) + "x" + strconv.Itoa(sps.Height())
				vi.frameRate = sps.FPS()
			}
		case t.aac != nil:
			c = &hlscodecs.MPEG4Audio{Config: t.aac.Config}
			vi.channels = t.aac.Config.ChannelCount
		default:
			c = &hlscodecs.Opus{ChannelCount: t.opus.ChannelCount}
			vi.channels = t.opus.ChannelCount
		}
		if s := safeCodecString(c); s != "" {
			vi.codecs = append(vi.codecs, s)
		}
	}
	return vi
}

// safeCodecString returns the RFC 6381 string of c, or "" when its parameters cannot be read.
func safeCodecString(c hlscodecs.Codec) (s string) {
	defer func() {
		if recover() != nil {
			s = ""
		}
	}()
	return codecparams.Marshal(c)
}
