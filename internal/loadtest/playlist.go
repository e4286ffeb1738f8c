package loadtest

import (
	"bytes"
	"errors"
	"fmt"
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
}

type segment struct {
	msn      uint64
	duration time.Duration
	uri      string
	date     time.Time // EXT-X-PROGRAM-DATE-TIME (zero if none)
	parts    []part
	gap      bool
}

type part struct {
	duration    time.Duration
	uri         string
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
			pending = &variant{bandwidth: bw}
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

func parseMedia(b []byte) (*mediaPlaylist, error) {
	if !bytes.HasPrefix(b, []byte("#EXTM3U")) {
		return nil, errNotPlaylist
	}
	m := &mediaPlaylist{}
	var (
		dur   time.Duration
		date  time.Time
		gap   bool
		parts []part
		err   error
	)
	// one string for the whole playlist, lines cut from it: a blocking reload a part of every player
	// parses one, so this is the generator's hottest allocation
	for rest := string(b); rest != ""; {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "#EXT-X-TARGETDURATION:"):
			m.target, err = seconds(line[len("#EXT-X-TARGETDURATION:"):])
		case strings.HasPrefix(line, "#EXT-X-MEDIA-SEQUENCE:"):
			m.sequence, err = strconv.ParseUint(strings.TrimSpace(line[len("#EXT-X-MEDIA-SEQUENCE:"):]), 10, 63)
		case strings.HasPrefix(line, "#EXT-X-PART-INF:"):
			v, _ := attr(line[len("#EXT-X-PART-INF:"):], "PART-TARGET")
			m.partTarget, err = seconds(v)
		case strings.HasPrefix(line, "#EXT-X-SERVER-CONTROL:"):
			a := line[len("#EXT-X-SERVER-CONTROL:"):]
			v, _ := attr(a, "CAN-BLOCK-RELOAD")
			m.canBlock = v == "YES"
			if v, ok := attr(a, "PART-HOLD-BACK"); ok {
				m.partHold, err = seconds(v)
			}
		case strings.HasPrefix(line, "#EXT-X-MAP:"):
			m.initURI, _ = attr(line[len("#EXT-X-MAP:"):], "URI")
		case strings.HasPrefix(line, "#EXT-X-PROGRAM-DATE-TIME:"):
			date, err = time.Parse(time.RFC3339Nano, strings.TrimSpace(line[len("#EXT-X-PROGRAM-DATE-TIME:"):]))
		case strings.HasPrefix(line, "#EXT-X-PART:"):
			a := line[len("#EXT-X-PART:"):]
			dv, _ := attr(a, "DURATION")
			uri, _ := attr(a, "URI")
			ind, _ := attr(a, "INDEPENDENT")
			var d time.Duration
			d, err = seconds(dv)
			parts = append(parts, part{duration: d, uri: uri, independent: ind == "YES"})
		case strings.HasPrefix(line, "#EXT-X-PRELOAD-HINT:"):
			a := line[len("#EXT-X-PRELOAD-HINT:"):]
			if t, _ := attr(a, "TYPE"); t == "PART" {
				m.preloadHint, _ = attr(a, "URI")
			}
		case strings.HasPrefix(line, "#EXTINF:"):
			d, _, _ := strings.Cut(line[len("#EXTINF:"):], ",")
			dur, err = seconds(d)
		case line == "#EXT-X-GAP":
			gap = true
		case line == "#EXT-X-ENDLIST":
			m.endList = true
		case line == "" || strings.HasPrefix(line, "#"):
		default:
			m.segments = append(m.segments, segment{msn: m.next(), duration: dur, uri: line, date: date, parts: parts, gap: gap})
			if !date.IsZero() {
				date = date.Add(dur)
			}
			dur, gap, parts = 0, false, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", line, err)
		}
	}
	if m.target <= 0 {
		return nil, errors.New("media playlist without EXT-X-TARGETDURATION")
	}
	m.parts, m.nextDate = parts, date
	return m, nil
}
