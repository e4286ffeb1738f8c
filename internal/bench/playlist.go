package bench

import (
	"bufio"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// MediaPlaylist is what the benchmark needs from an HLS media playlist.
type MediaPlaylist struct {
	MediaSequence uint64
	Segments      []Segment
	// Parts lists the parts of the segment in progress (MSN = last segment's + 1).
	Parts       []Part
	PreloadHint string
}

// Segment is a media segment with its media sequence number.
type Segment struct {
	MSN      uint64
	Duration time.Duration
	URI      string
	Gap      bool
	Parts    []Part
}

// Part is an LL-HLS partial segment.
type Part struct {
	Duration    time.Duration
	URI         string
	Independent bool
}

// NextMSN is the media sequence number of the segment after the last one listed.
func (p *MediaPlaylist) NextMSN() uint64 {
	return p.MediaSequence + uint64(len(p.Segments))
}

// LastSegment returns the last segment that is not a gap, or nil.
func (p *MediaPlaylist) LastSegment() *Segment {
	for i := len(p.Segments) - 1; i >= 0; i-- {
		if !p.Segments[i].Gap {
			return &p.Segments[i]
		}
	}
	return nil
}

// ParseMediaPlaylist parses the tags the benchmark uses and ignores the others.
func ParseMediaPlaylist(b []byte) (*MediaPlaylist, error) {
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	pl := &MediaPlaylist{}
	first := true
	var (
		dur     time.Duration
		gap     bool
		parts   []Part
		skipped uint64
	)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if first {
			if line != "#EXTM3U" {
				return nil, errNotPlaylist
			}
			first = false
			continue
		}
		tag, val, _ := strings.Cut(line, ":")
		switch {
		case line == "":
		case tag == "#EXT-X-MEDIA-SEQUENCE":
			n, err := strconv.ParseUint(val, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("media sequence %q: %w", val, err)
			}
			pl.MediaSequence = n
		case tag == "#EXT-X-SKIP":
			n, err := strconv.ParseUint(attr(val, "SKIPPED-SEGMENTS"), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("skip %q: %w", val, err)
			}
			skipped = n
		case tag == "#EXTINF":
			d, err := parseSeconds(strings.TrimSuffix(strings.SplitN(val, ",", 2)[0], ","))
			if err != nil {
				return nil, fmt.Errorf("EXTINF %q: %w", val, err)
			}
			dur = d
		case tag == "#EXT-X-GAP":
			gap = true
		case tag == "#EXT-X-PART":
			d, err := parseSeconds(attr(val, "DURATION"))
			if err != nil {
				return nil, fmt.Errorf("part %q: %w", val, err)
			}
			parts = append(parts, Part{Duration: d, URI: attr(val, "URI"), Independent: attr(val, "INDEPENDENT") == "YES"})
		case tag == "#EXT-X-PRELOAD-HINT":
			pl.PreloadHint = attr(val, "URI")
		case strings.HasPrefix(line, "#"):
		default:
			pl.Segments = append(pl.Segments, Segment{
				MSN: pl.MediaSequence + skipped + uint64(len(pl.Segments)), Duration: dur, URI: line, Gap: gap, Parts: parts,
			})
			dur, gap, parts = 0, false, nil
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if first {
		return nil, errNotPlaylist
	}
	pl.MediaSequence += skipped
	pl.Parts = parts
	return pl, nil
}

// VariantURI returns the first variant of a multivariant playlist, or "" if b is a media playlist.
func VariantURI(b []byte) string {
	next := false
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "#EXT-X-STREAM-INF"):
			next = true
		case next && line != "" && !strings.HasPrefix(line, "#"):
			return line
		}
	}
	return ""
}

// attr returns an attribute of a tag's attribute list, unquoted.
func attr(list, name string) string {
	for len(list) > 0 {
		var kv string
		// split at the next comma outside quotes
		inQuote := false
		i := 0
		for ; i < len(list); i++ {
			if list[i] == '"' {
				inQuote = !inQuote
			}
			if list[i] == ',' && !inQuote {
				break
			}
		}
		kv, list = list[:i], list[min(i+1, len(list)):]
		k, v, _ := strings.Cut(kv, "=")
		if strings.TrimSpace(k) == name {
			return strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	return ""
}

func parseSeconds(s string) (time.Duration, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || f < 0 || f > 3600 {
		return 0, fmt.Errorf("bad duration %q", s)
	}
	return time.Duration(math.Round(f*1e6)) * time.Microsecond, nil
}

// resolve returns ref relative to base.
func resolve(base, ref string) (string, error) {
	b, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	r, err := url.Parse(ref)
	if err != nil {
		return "", err
	}
	return b.ResolveReference(r).String(), nil
}

// uriPath strips the query from a playlist URI, so that a segment is known by its name alone.
func uriPath(u string) string {
	p, _, _ := strings.Cut(u, "?")
	return p
}
