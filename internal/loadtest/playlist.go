package loadtest

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// multivariant is what a virtual player reads of a multivariant playlist.
type multivariant struct {
	variants []variant
	// steering: EXT-X-CONTENT-STEERING's SERVER-URI and PATHWAY-ID ("" without the tag)
	steeringURI, pathway string
}

type variant struct {
	bandwidth int
	uri       string
	pathway   string // PATHWAY-ID ("" for none)
}

// mediaPlaylist is what a virtual player reads of a media playlist.
type mediaPlaylist struct {
	target      time.Duration // EXT-X-TARGETDURATION
	partTarget  time.Duration // EXT-X-PART-INF (0: no parts)
	partHold    time.Duration // PART-HOLD-BACK
	canBlock    bool          // CAN-BLOCK-RELOAD=YES
	sequence    uint64        // EXT-X-MEDIA-SEQUENCE
	segments    []segment     // complete segments, in order
	parts       []part        // the parts of the segment in progress (MSN = next())
	nextDate    time.Time     // the program date of the segment in progress (zero if unknown)
	endList     bool
	initURI     string
	preloadHint string
	// text is the playlist's text: the URIs of its segments and parts are spans of it, made strings only
	// when loaded (a player loads one part of the twenty or so each reload lists)
	text    []byte
	partBuf []part // the array of every part, for parseMediaInto to reuse
}

// span is where a URI is in its playlist's text.
type span struct{ at, end int32 }

// uri is the URI at s.
func (m *mediaPlaylist) uri(s span) string { return string(m.text[s.at:s.end]) }

type segment struct {
	msn      uint64
	duration time.Duration
	uri      span
	date     time.Time // EXT-X-PROGRAM-DATE-TIME (zero if none)
	parts    []part
	gap      bool
}

type part struct {
	duration    time.Duration
	uri         span
	independent bool
}

// next is the media sequence number of the segment in progress (after the last complete one).
func (m *mediaPlaylist) next() uint64 { return m.sequence + uint64(len(m.segments)) }

// lowLatency reports whether the playlist serves parts with blocking reloads.
func (m *mediaPlaylist) lowLatency() bool { return m.partTarget > 0 && m.canBlock }

// errNotPlaylist is returned for a body that does not start with #EXTM3U.
var errNotPlaylist = errors.New("not an HLS playlist (no #EXTM3U)")

// attrs splits an attribute list (KEY=VALUE,KEY="QUOTED,VALUE").
func attrs(s string) map[string]string {
	out := map[string]string{}
	eachAttr(s, func(k, v string) bool {
		out[k] = v
		return true
	})
	return out
}

// attr returns the value of attribute key in an attribute list, without building a map (parseMedia reads
// a few attributes of every part of every playlist).
func attr(s, key string) (value string, ok bool) {
	eachAttr(s, func(k, v string) bool {
		if k == key {
			value, ok = v, true
			return false
		}
		return true
	})
	return value, ok
}

// eachAttr calls f with every attribute of an attribute list (quotes removed) until it returns false.
func eachAttr(s string, f func(k, v string) bool) {
	for s != "" {
		k, rest, ok := strings.Cut(s, "=")
		if !ok {
			break
		}
		var v string
		if strings.HasPrefix(rest, `"`) {
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				v, rest = rest[1:], ""
			} else {
				v, rest = rest[1:1+end], rest[2+end:]
			}
			rest = strings.TrimPrefix(rest, ",")
		} else {
			v, rest, _ = strings.Cut(rest, ",")
		}
		if !f(strings.TrimSpace(k), v) {
			return
		}
		s = rest
	}
}

func seconds(s string) (time.Duration, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || f < 0 || f > 86400 {
		return 0, fmt.Errorf("bad duration %q", s)
	}
	return time.Duration(f * float64(time.Second)), nil
}

// isMedia reports whether b is a media playlist rather than a multivariant one.
func isMedia(b []byte) bool {
	return bytes.Contains(b, []byte("#EXT-X-TARGETDURATION:"))
}

func parseMultivariant(b []byte) (*multivariant, error) {
	if !bytes.HasPrefix(b, []byte("#EXTM3U")) {
		return nil, errNotPlaylist
	}
	mv := &multivariant{}
	var pending *variant
	for rest := string(b); rest != ""; {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "#EXT-X-STREAM-INF:"):
			a := attrs(line[len("#EXT-X-STREAM-INF:"):])
			bw, _ := strconv.Atoi(a["BANDWIDTH"])
			pending = &variant{bandwidth: bw, pathway: a["PATHWAY-ID"]}
		case strings.HasPrefix(line, "#EXT-X-CONTENT-STEERING:"):
			a := attrs(line[len("#EXT-X-CONTENT-STEERING:"):])
			mv.steeringURI, mv.pathway = a["SERVER-URI"], a["PATHWAY-ID"]
		case line == "" || strings.HasPrefix(line, "#"):
		case pending != nil:
			pending.uri = line
			mv.variants = append(mv.variants, *pending)
			pending = nil
		}
	}
	if len(mv.variants) == 0 {
		return nil, errors.New("multivariant playlist without a variant")
	}
	return mv, nil
}

// parseMedia parses a media playlist.
func parseMedia(b []byte) (*mediaPlaylist, error) { return parseMediaInto(b, nil, nil, &durations{}) }

// reloadParser parses the playlists of a player's successive reloads.
type reloadParser struct {
	spare *mediaPlaylist // the playlist replaced by the last one parsed: its memory is the next one's
	durs  durations
}

// parse parses the playlist that replaces prev (which the player stops using when it succeeds).
func (r *reloadParser) parse(b []byte, prev *mediaPlaylist) (*mediaPlaylist, error) {
	m, err := parseMediaInto(b, r.spare, prev, &r.durs)
	if err == nil {
		r.spare = prev
	}
	return m, err
}

// parseMediaInto parses a media playlist as parseMedia does, for a player that reloads one five times a
// second: into reuse's memory when reuse is set (a playlist nobody uses any more: its text, segment and
// part arrays are overwritten), with prev's (the playlist it replaces) initialization section URI when it
// is the same, and the durations durs has parsed before. This is the generator's hottest code after the
// system calls: once the arrays have grown, a reload allocates only its preload hint.
func parseMediaInto(b []byte, reuse, prev *mediaPlaylist, durs *durations) (*mediaPlaylist, error) {
	if !bytes.HasPrefix(b, []byte("#EXTM3U")) {
		return nil, errNotPlaylist
	}
	if len(b) > math.MaxInt32 {
		return nil, errors.New("media playlist too large")
	}
	if prev == reuse {
		prev = nil
	}
	m := reuse
	var (
		segments []segment
		all      []part // every part, in order
		text     []byte
	)
	if m == nil {
		m = &mediaPlaylist{}
	} else {
		segments, all, text = m.segments[:0], m.partBuf[:0], m.text[:0]
		*m = mediaPlaylist{}
	}
	m.text = append(text, b...)
	// where x, a slice of m.text, is in it (a slice keeps the capacity to the end of its array)
	spanOf := func(x []byte) span {
		if len(x) == 0 {
			return span{}
		}
		at := int32(cap(m.text) - cap(x))
		return span{at, at + int32(len(x))}
	}
	var (
		dur   time.Duration
		date  time.Time
		gap   bool
		first int // the first part of the segment in progress, in all
		err   error
	)
	// the parts since first, as the segment's own slice (nil when none)
	parts := func() []part {
		if len(all) == first {
			return nil
		}
		return all[first:len(all):len(all)]
	}
	for rest := m.text; len(rest) > 0; {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte("\n"))
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if line[0] != '#' {
			segments = append(segments, segment{msn: m.sequence + uint64(len(segments)), duration: dur, uri: spanOf(line),
				date: date, parts: parts(), gap: gap})
			if !date.IsZero() {
				date = date.Add(dur)
			}
			dur, gap, first = 0, false, len(all)
			continue
		}
		tag, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			switch string(line) {
			case "#EXT-X-GAP":
				gap = true
			case "#EXT-X-ENDLIST":
				m.endList = true
			}
			continue
		}
		switch string(tag) {
		case "#EXT-X-PART":
			var dv, uri []byte
			var seenDur, seenURI, seenInd, ind bool
			eachAttrBytes(value, func(k, v []byte) bool {
				switch {
				case string(k) == "DURATION" && !seenDur:
					dv, seenDur = v, true
				case string(k) == "URI" && !seenURI:
					uri, seenURI = v, true
				case string(k) == "INDEPENDENT" && !seenInd:
					ind, seenInd = string(v) == "YES", true
				}
				return true
			})
			var d time.Duration
			d, err = durs.seconds(dv)
			all = append(all, part{duration: d, uri: spanOf(uri), independent: ind})
		case "#EXT-X-PROGRAM-DATE-TIME":
			date, err = parseDate(bytes.TrimSpace(value))
		case "#EXTINF":
			d, _, _ := bytes.Cut(value, []byte(","))
			dur, err = durs.seconds(d)
		case "#EXT-X-TARGETDURATION":
			m.target, err = durs.seconds(value)
		case "#EXT-X-MEDIA-SEQUENCE":
			m.sequence, err = parseSequence(bytes.TrimSpace(value))
		case "#EXT-X-PART-INF":
			v, _ := attrBytes(value, "PART-TARGET")
			m.partTarget, err = durs.seconds(v)
		case "#EXT-X-SERVER-CONTROL":
			v, _ := attrBytes(value, "CAN-BLOCK-RELOAD")
			m.canBlock = string(v) == "YES"
			if v, ok := attrBytes(value, "PART-HOLD-BACK"); ok {
				m.partHold, err = durs.seconds(v)
			}
		case "#EXT-X-MAP":
			v, _ := attrBytes(value, "URI")
			if prev != nil && string(v) == prev.initURI {
				m.initURI = prev.initURI
			} else {
				m.initURI = string(v)
			}
		case "#EXT-X-PRELOAD-HINT":
			if t, _ := attrBytes(value, "TYPE"); string(t) == "PART" {
				v, _ := attrBytes(value, "URI")
				m.preloadHint = string(v)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", line, err)
		}
	}
	if m.target <= 0 {
		return nil, errors.New("media playlist without EXT-X-TARGETDURATION")
	}
	if len(segments) > 0 {
		m.segments = segments
	}
	m.parts, m.nextDate, m.partBuf = parts(), date, all
	return m, nil
}

// attrBytes is attr on bytes.
func attrBytes(s []byte, key string) (value []byte, ok bool) {
	eachAttrBytes(s, func(k, v []byte) bool {
		if string(k) == key {
			value, ok = v, true
			return false
		}
		return true
	})
	return value, ok
}

// eachAttrBytes is eachAttr on bytes.
func eachAttrBytes(s []byte, f func(k, v []byte) bool) {
	for len(s) > 0 {
		k, rest, ok := bytes.Cut(s, []byte("="))
		if !ok {
			break
		}
		var v []byte
		if len(rest) > 0 && rest[0] == '"' {
			end := bytes.IndexByte(rest[1:], '"')
			if end < 0 {
				v, rest = rest[1:], nil
			} else {
				v, rest = rest[1:1+end], rest[2+end:]
			}
			rest = bytes.TrimPrefix(rest, []byte(","))
		} else {
			v, rest, _ = bytes.Cut(rest, []byte(","))
		}
		if !f(bytes.TrimSpace(k), v) {
			return
		}
		s = rest
	}
}

// parseSequence is strconv.ParseUint(s, 10, 63), without a string for the common case.
func parseSequence(s []byte) (uint64, error) {
	if len(s) == 0 || len(s) > 18 {
		return strconv.ParseUint(string(s), 10, 63)
	}
	var n uint64
	for _, c := range s {
		if c < '0' || c > '9' {
			return strconv.ParseUint(string(s), 10, 63)
		}
		n = n*10 + uint64(c-'0')
	}
	return n, nil
}

// parseDate is time.Parse(time.RFC3339Nano, s), without a string for the form a server writes
// (2026-12-05T23:10:11.462Z); anything else is left to time.Parse.
func parseDate(s []byte) (time.Time, error) {
	// 2006-01-02T15:04:05Z or with a fraction of 1 to 9 digits before the Z
	n := len(s)
	if n < 20 || n == 21 || n > 30 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' ||
		s[n-1] != 'Z' || (n > 20 && s[19] != '.') {
		return time.Parse(time.RFC3339Nano, string(s))
	}
	num := func(b []byte) int {
		v := 0
		for _, c := range b {
			if c < '0' || c > '9' {
				return -1
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	year, month, day := num(s[0:4]), num(s[5:7]), num(s[8:10])
	hour, minute, sec := num(s[11:13]), num(s[14:16]), num(s[17:19])
	nsec := 0
	if n > 20 {
		frac := s[20 : n-1]
		if nsec = num(frac); nsec >= 0 {
			for range 9 - len(frac) {
				nsec *= 10
			}
		}
	}
	if year < 0 || month < 1 || month > 12 || day < 1 || day > daysIn(time.Month(month), year) || hour < 0 || hour > 23 ||
		minute < 0 || minute > 59 || sec < 0 || sec > 59 || nsec < 0 {
		return time.Parse(time.RFC3339Nano, string(s))
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC), nil
}

func daysIn(m time.Month, year int) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// durations remembers the last durations parsed: a player's playlists repeat their target, part and
// segment durations.
type durations struct {
	s [4]string
	d [4]time.Duration
}

func (c *durations) seconds(b []byte) (time.Duration, error) {
	for i := range c.s {
		if len(b) > 0 && string(b) == c.s[i] {
			return c.d[i], nil
		}
	}
	s := string(b)
	d, err := seconds(s)
	if err == nil {
		copy(c.s[1:], c.s[:])
		copy(c.d[1:], c.d[:])
		c.s[0], c.d[0] = s, d
	}
	return d, err
}
