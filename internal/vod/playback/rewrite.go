package playback

import (
	"strings"
)

// rewritePlaylist appends query to every URI of an HLS playlist: each URI line and each URI="..."
// attribute of a tag (EXT-X-MAP, EXT-X-MEDIA, EXT-X-I-FRAME-STREAM-INF, EXT-X-KEY, EXT-X-PART, ...), so
// that a player following them stays signed. Everything else, line endings included, is kept byte for
// byte.
func rewritePlaylist(body []byte, query string) []byte {
	return rewriteLines(body, func(line string, _ *bool) string {
		switch {
		case strings.HasPrefix(line, "#EXT"):
			return rewriteAttrs(line, query)
		case strings.HasPrefix(line, "#"), strings.TrimSpace(line) == "":
			return line
		}
		return signURI(strings.TrimSpace(line), query)
	})
}

// rewriteVTT appends query to the image references of a storyboard WebVTT track: the cue payload lines
// without whitespace ("storyboard.jpg#xywh=0,0,160,90"). Only storyboards go through it: caption text
// is not URLs.
func rewriteVTT(body []byte, query string) []byte {
	return rewriteLines(body, func(line string, inCue *bool) string {
		switch {
		case strings.TrimSpace(line) == "":
			*inCue = false
		case strings.Contains(line, "-->"):
			*inCue = true
		case *inCue && !strings.ContainsAny(line, " \t"):
			return signURI(line, query)
		}
		return line
	})
}

// rewriteLines applies f to each line of body, without its "\n" or "\r\n", which it keeps. f may keep
// state across lines in the bool.
func rewriteLines(body []byte, f func(line string, state *bool) string) []byte {
	var (
		out   strings.Builder
		state bool
	)
	out.Grow(len(body) + len(body)/4)
	for line := range strings.SplitAfterSeq(string(body), "\n") {
		content := strings.TrimRight(line, "\r\n")
		out.WriteString(f(content, &state))
		out.WriteString(line[len(content):])
	}
	return []byte(out.String())
}

// rewriteAttrs signs the URI attribute of a tag line "#EXT-X-...:NAME=value,NAME="quoted",...". A line
// that is no attribute list (#EXTINF:4.0,) is kept as is; so is anything after a malformed attribute.
func rewriteAttrs(line, query string) string {
	colon := strings.IndexByte(line, ':')
	if colon < 0 {
		return line
	}
	var b strings.Builder
	b.WriteString(line[:colon+1])
	s := line[colon+1:]
	for s != "" {
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			break
		}
		name := strings.TrimLeft(s[:eq], " \t")
		if !validAttrName(name) {
			break
		}
		b.WriteString(s[:eq+1])
		s = s[eq+1:]
		var val string
		if strings.HasPrefix(s, `"`) {
			end := strings.IndexByte(s[1:], '"')
			if end < 0 {
				break
			}
			val, s = s[:end+2], s[end+2:]
			if name == "URI" {
				val = `"` + signURI(val[1:len(val)-1], query) + `"`
			}
		} else {
			end := strings.IndexByte(s, ',')
			if end < 0 {
				end = len(s)
			}
			val, s = s[:end], s[end:]
		}
		b.WriteString(val)
		if s == "" || s[0] != ',' {
			break
		}
		b.WriteByte(',')
		s = s[1:]
	}
	b.WriteString(s)
	return b.String()
}

// validAttrName accepts an HLS attribute name: [A-Z0-9-]+.
func validAttrName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// signURI appends query to a relative reference ("seg_1.m4s", "720p/index.m3u8", "/vod/x/a.m4s"),
// before its fragment. A URI with a scheme (https:, data:, skd:) or a host ("//cdn/...") is left alone:
// it is not served here, and the signature must not leak to another host.
func signURI(u, query string) string {
	if u == "" || strings.HasPrefix(u, "//") {
		return u
	}
	if i := strings.IndexAny(u, ":/?#"); i >= 0 && u[i] == ':' {
		return u
	}
	frag := ""
	if i := strings.IndexByte(u, '#'); i >= 0 {
		u, frag = u[:i], u[i:]
	}
	switch {
	case !strings.Contains(u, "?"):
		u += "?"
	case !strings.HasSuffix(u, "?") && !strings.HasSuffix(u, "&"):
		u += "&"
	}
	return u + query + frag
}
