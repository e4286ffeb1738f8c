package relay

import (
	"bufio"
	"bytes"
	"strconv"
	"strings"
	"time"
)

// playlistState is what the edge needs to know of a media playlist: where the live edge is.
type playlistState struct {
	// next is the media sequence number of the segment being written; parts is how many of its parts
	// are complete.
	next, parts int64
	// prevParts is how many parts the last complete segment has.
	prevParts int64
	// blocking says the parent answers blocking reloads (LL-HLS).
	blocking bool
	target   time.Duration
	// partTarget is the parent's PART-TARGET (0 without parts).
	partTarget time.Duration
}

// parseMediaPlaylist reads the live edge from a media playlist.
func parseMediaPlaylist(b []byte) (playlistState, bool) {
	var st playlistState
	if !bytes.HasPrefix(b, []byte("#EXTM3U")) {
		return st, false
	}
	var seq, segments, partsSince int64
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "#EXT-X-MEDIA-SEQUENCE:"):
			seq, _ = strconv.ParseInt(strings.TrimSpace(line[len("#EXT-X-MEDIA-SEQUENCE:"):]), 10, 64)
		case strings.HasPrefix(line, "#EXT-X-TARGETDURATION:"):
			if v, err := strconv.Atoi(strings.TrimSpace(line[len("#EXT-X-TARGETDURATION:"):])); err == nil {
				st.target = time.Duration(v) * time.Second
			}
		case strings.HasPrefix(line, "#EXT-X-PART-INF:"):
			if _, v, ok := strings.Cut(line, "PART-TARGET="); ok {
				if f, err := strconv.ParseFloat(strings.TrimSpace(strings.SplitN(v, ",", 2)[0]), 64); err == nil && f > 0 {
					st.partTarget = time.Duration(f * float64(time.Second))
				}
			}
		case strings.HasPrefix(line, "#EXT-X-SERVER-CONTROL:"):
			st.blocking = strings.Contains(line, "CAN-BLOCK-RELOAD=YES")
		case strings.HasPrefix(line, "#EXT-X-SKIP:"):
			if _, v, ok := strings.Cut(line, "SKIPPED-SEGMENTS="); ok {
				n, _ := strconv.ParseInt(strings.SplitN(v, ",", 2)[0], 10, 64)
				segments += n
			}
		case strings.HasPrefix(line, "#EXTINF:"):
			segments++
			st.prevParts, partsSince = partsSince, 0
		case strings.HasPrefix(line, "#EXT-X-PART:"):
			partsSince++
		}
	}
	if st.target <= 0 {
		return st, false
	}
	st.next = seq + segments
	st.parts = partsSince
	return st, true
}

// has reports whether the playlist already lists part `part` of segment msn, with the semantics of
// blocking reloads: a part index past the end of a complete segment means the next segment's first part.
func (st playlistState) has(msn, part int64) bool {
	if msn == st.next-1 && st.prevParts > 0 && part >= st.prevParts {
		msn, part = st.next, 0
	}
	return msn < st.next || (msn == st.next && part < st.parts)
}

// addSession appends nsid=id to every URI of a multivariant playlist, so that a viewer's later requests
// carry the session this edge gave it.
func addSession(b []byte, param, id string) []byte {
	var out bytes.Buffer
	out.Grow(len(b) + 256)
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	withID := func(uri string) string {
		if strings.Contains(uri, "?") {
			return uri + "&" + param + "=" + id
		}
		return uri + "?" + param + "=" + id
	}
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
		case !strings.HasPrefix(line, "#"):
			line = withID(line)
		default:
			if i := strings.Index(line, `URI="`); i >= 0 {
				j := strings.IndexByte(line[i+5:], '"')
				if j >= 0 {
					line = line[:i+5] + withID(line[i+5:i+5+j]) + line[i+5+j:]
				}
			}
		}
		out.WriteString(line)
		out.WriteByte('\n')
	}
	return out.Bytes()
}

// plausibleMedia rejects bodies that cannot be an fMP4 or MPEG-TS object, so that a parent answering
// garbage with 200 does not get it cached and served.
func plausibleMedia(b []byte) bool {
	if len(b) >= 188 && b[0] == 0x47 {
		return true // MPEG-TS sync byte
	}
	if len(b) >= 8 {
		switch string(b[4:8]) {
		case "ftyp", "styp", "moof", "moov", "sidx", "prft", "emsg":
			return true
		}
	}
	return false
}
