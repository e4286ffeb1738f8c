package testutil

import (
	"bufio"
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// MediaPlaylist is the part of a media playlist the tests look at.
type MediaPlaylist struct {
	Init     string   // the first EXT-X-MAP URI, if any
	Inits    []string // every EXT-X-MAP URI (a codec parameter change adds one)
	Segments []string // URIs of complete, non-gap segments, oldest first
	Parts    int      // EXT-X-PART lines
}

// ParseMediaPlaylist extracts segment and init URIs.
func ParseMediaPlaylist(b []byte) MediaPlaylist {
	var pl MediaPlaylist
	gap := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "#EXT-X-MAP:"):
			if _, rest, ok := strings.Cut(line, `URI="`); ok {
				uri, _, _ := strings.Cut(rest, `"`)
				if pl.Init == "" {
					pl.Init = uri
				}
				pl.Inits = append(pl.Inits, uri)
			}
		case strings.HasPrefix(line, "#EXT-X-PART:"):
			pl.Parts++
		case line == "#EXT-X-GAP":
			gap = true
		case line == "" || strings.HasPrefix(line, "#"):
		default:
			if !gap {
				pl.Segments = append(pl.Segments, line)
			}
			gap = false
		}
	}
	return pl
}

// Renditions returns the media playlist URIs named in a multivariant playlist.
func Renditions(b []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if _, rest, ok := strings.Cut(line, `URI="`); ok && strings.HasPrefix(line, "#EXT-X-MEDIA:") {
			u, _, _ := strings.Cut(rest, `"`)
			out = append(out, u)
		} else if line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	return out
}

// Resolve resolves ref against base.
func Resolve(t testing.TB, base, ref string) string {
	t.Helper()
	b, err := url.Parse(base)
	require.NoError(t, err)
	r, err := url.Parse(ref)
	require.NoError(t, err)
	return b.ResolveReference(r).String()
}

// ReadSegments waits until the media playlist at plURL lists n complete segments, then downloads the
// init file (if any) and the n newest consecutive segments, concatenated: a playable file.
func ReadSegments(t testing.TB, plURL string, n int, timeout time.Duration) []byte {
	t.Helper()
	var pl MediaPlaylist
	require.Eventually(t, func() bool {
		code, body := Get(t, plURL)
		if code != http.StatusOK {
			return false
		}
		pl = ParseMediaPlaylist(body)
		return len(pl.Segments) >= n
	}, timeout, 100*time.Millisecond, "playlist %s never listed %d segments", plURL, n)
	var out bytes.Buffer
	if pl.Init != "" {
		code, body := Get(t, Resolve(t, plURL, pl.Init))
		require.Equal(t, http.StatusOK, code)
		out.Write(body)
	}
	for _, s := range pl.Segments[len(pl.Segments)-n:] {
		code, body := Get(t, Resolve(t, plURL, s))
		require.Equal(t, http.StatusOK, code, "segment %s", s)
		out.Write(body)
	}
	return out.Bytes()
}
