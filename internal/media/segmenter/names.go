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
//	<prefix>_init.mp4           the fMP4 initialization section
//	<prefix>_seg<msn>.mp4       the segment with media sequence number msn
//	<prefix>_part<msn>_<i>.mp4  part i (from 0) of segment msn (low-latency only)
//
// Names use only [a-z0-9_.], which every object store and URL accepts unescaped.

// newPrefix returns 12 random hex digits.
func newPrefix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func initName(prefix string) string { return prefix + "_init.mp4" }

func segmentName(prefix string, msn uint64) string {
	return prefix + "_seg" + strconv.FormatUint(msn, 10) + ".mp4"
}

func partName(prefix string, msn uint64, i int) string {
	return prefix + "_part" + strconv.FormatUint(msn, 10) + "_" + strconv.Itoa(i) + ".mp4"
}

// objectKind is what a name designates.
type objectKind int

const (
	kindNone objectKind = iota
	kindInit
	kindSegment
	kindPart
)

// parseName is the inverse of the name functions above; it reports kindNone for anything else,
// including names of another prefix.
func parseName(prefix, name string) (kind objectKind, msn uint64, part int) {
	rest, ok := strings.CutPrefix(name, prefix+"_")
	if !ok {
		return kindNone, 0, 0
	}
	rest, ok = strings.CutSuffix(rest, ".mp4")
	if !ok {
		return kindNone, 0, 0
	}
	switch {
	case rest == "init":
		return kindInit, 0, 0
	case strings.HasPrefix(rest, "seg"):
		n, ok := parseUint(rest[3:])
		if !ok {
			return kindNone, 0, 0
		}
		return kindSegment, n, 0
	case strings.HasPrefix(rest, "part"):
		m, i, ok := strings.Cut(rest[4:], "_")
		if !ok {
			return kindNone, 0, 0
		}
		n, ok1 := parseUint(m)
		p, ok2 := parseUint(i)
		if !ok1 || !ok2 || p > 1<<20 {
			return kindNone, 0, 0
		}
		return kindPart, n, int(p)
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
