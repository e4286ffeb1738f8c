package segmenter

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
)

// Object names. Every name starts with the segmenter's prefix, random per publication, so that a stream
// published again never reuses a name a cache (an edge, a CDN, a player) may still hold:
//
//	<prefix>_init.mp4           the fMP4 initialization section (MPEG-TS has none)
//	<prefix>_init<n>.mp4        the n-th one (n >= 2), after the codec parameters changed mid-stream
//	<prefix>_seg<msn>.mp4       the fMP4 segment with media sequence number msn
//	<prefix>_seg<msn>.ts        the MPEG-TS segment with media sequence number msn
//	<prefix>_part<msn>_<i>.mp4  part i (from 0) of segment msn (low-latency only, so fMP4 only)
//
// Names use only [a-z0-9_.], which every object store and URL accepts unescaped.

// Extensions of segments and parts.
const (
	extFMP4   = ".mp4"
	extMPEGTS = ".ts"
)

// newPrefix returns 12 random hex digits.
func newPrefix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// names makes and reads the object names of one segmenter.
type names struct {
	prefix string
	ext    string // of segments and parts
}

// init names the n-th init section of the stream, from 1; the first keeps the name it had before
// parameter changes were handled, so that its URL is the same for every stream.
func (n names) init(i int) string {
	if i <= 1 {
		return n.prefix + "_init.mp4"
	}
	return n.prefix + "_init" + strconv.Itoa(i) + ".mp4"
}

func (n names) segment(msn uint64) string {
	return n.prefix + "_seg" + strconv.FormatUint(msn, 10) + n.ext
}

func (n names) part(msn uint64, i int) string {
	return n.prefix + "_part" + strconv.FormatUint(msn, 10) + "_" + strconv.Itoa(i) + n.ext
}

// objectKind is what a name designates.
type objectKind int

const (
	kindNone objectKind = iota
	kindInit
	kindSegment
	kindPart
)

// parse is the inverse of the name methods above; it reports kindNone for anything else, including
// names of another prefix or format. For an init section, msn is its number (from 1).
func (n names) parse(name string) (kind objectKind, msn uint64, part int) {
	rest, ok := strings.CutPrefix(name, n.prefix+"_")
	if !ok {
		return kindNone, 0, 0
	}
	if num, ok := strings.CutPrefix(rest, "init"); ok && n.ext == extFMP4 {
		num, ok = strings.CutSuffix(num, ".mp4")
		if !ok {
			return kindNone, 0, 0
		}
		if num == "" {
			return kindInit, 1, 0
		}
		// the first one has no number: "init1" would be a second name for it
		if i, ok := parseUint(num); ok && i >= 2 && i <= 1<<20 {
			return kindInit, i, 0
		}
		return kindNone, 0, 0
	}
	rest, ok = strings.CutSuffix(rest, n.ext)
	if !ok {
		return kindNone, 0, 0
	}
	switch {
	case strings.HasPrefix(rest, "seg"):
		m, ok := parseUint(rest[3:])
		if !ok {
			return kindNone, 0, 0
		}
		return kindSegment, m, 0
	case strings.HasPrefix(rest, "part") && n.ext == extFMP4:
		m, i, ok := strings.Cut(rest[4:], "_")
		if !ok {
			return kindNone, 0, 0
		}
		m1, ok1 := parseUint(m)
		p, ok2 := parseUint(i)
		if !ok1 || !ok2 || p > 1<<20 {
			return kindNone, 0, 0
		}
		return kindPart, m1, int(p)
	}
	return kindNone, 0, 0
}

// parseUint accepts canonical decimal numbers only (no sign, no leading zero), so that one object has
// exactly one name.
func parseUint(s string) (uint64, bool) {
	if s == "" || len(s) > 20 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}
