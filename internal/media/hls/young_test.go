package hls

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/media/hlshttp"
)

var (
	uriAttrRE = regexp.MustCompile(`URI="([^"]+)"`)
	hintRE    = regexp.MustCompile(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="([^"]+)"`)
)

// mediaURIs returns the URIs a media playlist names (EXT-X-MAP, parts, segments), the preload hint's
// apart.
func mediaURIs(body string) (uris []string, hint string) {
	for _, line := range strings.Split(body, "\n") {
		switch {
		case line == "":
		case strings.HasPrefix(line, "#EXT-X-PRELOAD-HINT"):
			hint = hintRE.FindStringSubmatch(line)[1]
		case strings.HasPrefix(line, "#"):
			if m := uriAttrRE.FindStringSubmatch(line); m != nil {
				uris = append(uris, m[1])
			}
		default:
			uris = append(uris, line)
		}
	}
	return uris, hint
}

// TestYoungStreamServed: a player opening a stream in its first second — VLC, GStreamer's hlsdemux and
// hlsdemux2, which give up on an object that answers 404, on a playlist of parts alone or (hlsdemux2)
// on a first playlist of a single segment — gets a media playlist that starts with the first real
// segment and names nothing that does not answer 200: the plain request is held until a low-latency
// playlist lists a complete segment (a classic one, or any for GStreamer: two), answered at once then,
// and lists no EXT-X-GAP placeholder.
func TestYoungStreamServed(t *testing.T) {
	const gstreamer = "GStreamer souphttpsrc 1.22.0 libsoup/3.2.2"
	cases := []struct{ variant, userAgent string }{
		{VariantLowLatency, "Mozilla/5.0"}, {VariantLowLatency, gstreamer}, {VariantFMP4, ""}, {VariantMPEGTS, ""},
	}
	for _, tc := range cases {
		t.Run(tc.variant+"/"+tc.userAgent, func(t *testing.T) {
			variant := tc.variant
			twoSegments := variant != VariantLowLatency || tc.userAgent == gstreamer
			ls := startLive(t, variant, nil)
			ls.frames(6) // 0.24 s: a part in low latency, no segment
			index := ls.async("index.m3u8", "User-Agent", tc.userAgent)
			media := ls.async("video1_stream.m3u8", "User-Agent", tc.userAgent)
			requireBlocked(t, media)
			ls.frames(20) // 1.04 s: the IDR of frame 25 completes segment 0
			if twoSegments {
				requireBlocked(t, media)
				ls.frames(25) // 2.04 s: segment 1 is complete
			}
			a := waitAnswer(t, media, 100*time.Millisecond) // at once, not a part later
			require.Equal(t, http.StatusOK, a.code, a.body)
			require.NotContains(t, a.body, "GAP")
			require.Contains(t, a.body, "#EXT-X-MEDIA-SEQUENCE:0\n")
			require.Contains(t, a.body, ls.muxer().seg.Prefix()+"_seg0.")
			if twoSegments {
				require.Contains(t, a.body, ls.muxer().seg.Prefix()+"_seg1.")
			} else {
				require.NotContains(t, a.body, ls.muxer().seg.Prefix()+"_seg1.")
			}

			idx := waitAnswer(t, index, 2*time.Second)
			require.Equal(t, http.StatusOK, idx.code, idx.body)
			lines := strings.Split(strings.TrimSpace(idx.body), "\n")
			start := time.Now()
			viaIndex := ls.get(lines[len(lines)-1])
			require.Equal(t, http.StatusOK, viaIndex.code)
			require.Less(t, time.Since(start), time.Second, "a playlist of two segments waited for a part")
			require.NotContains(t, viaIndex.body, "GAP")

			for _, body := range []string{a.body, viaIndex.body} {
				uris, hint := mediaURIs(body)
				require.NotEmpty(t, uris)
				for _, u := range uris {
					got := ls.get(u)
					require.Equal(t, http.StatusOK, got.code, "%s, named by\n%s", u, body)
					require.NotEmpty(t, got.body, u)
				}
				require.Equal(t, variant == VariantLowLatency, hint != "", body)
			}
			if variant == VariantLowLatency {
				_, hint := mediaURIs(a.body)
				held := ls.async(hint)
				requireBlocked(t, held)
				ls.frames(5)
				require.Equal(t, http.StatusOK, waitAnswer(t, held, 2*time.Second).code, "the hinted part, once it exists")
			}
		})
	}
}

// TestSlowFirstSegmentsServed: when the first two segments take longer than readyTimeout (a long GOP),
// a plain request is answered with what there is rather than refused.
func TestSlowFirstSegmentsServed(t *testing.T) {
	if testing.Short() {
		t.Skip("waits readyTimeout")
	}
	ls := startLive(t, VariantFMP4, nil)
	ls.frames(26) // one segment, and the stream stalls
	media := ls.async("video1_stream.m3u8")
	requireBlocked(t, media)
	a := waitAnswer(t, media, readyTimeout+5*time.Second)
	require.Equal(t, http.StatusOK, a.code, a.body)
	require.Contains(t, a.body, ls.muxer().seg.Prefix()+"_seg0.mp4\n")
	require.NotContains(t, a.body, "_seg1")
}

// TestPlainRequestGetsTheNextPart: on a live low-latency stream, a plain request for the media playlist
// (no blocking directives: a player's first) is answered as the next part is listed, so that the player
// places its start from a fresh live edge; with no new part it is answered within hlshttp.FreshWait with the
// playlist there is. A classic playlist is answered at once.
func TestPlainRequestGetsTheNextPart(t *testing.T) {
	ls := startLive(t, VariantLowLatency, nil)
	ls.frames(56) // 2.24 s: segments 0 and 1 complete, part 0 of segment 2 listed
	part := func(name string) string {
		return `#EXT-X-PART:DURATION=0.20000,URI="` + ls.muxer().seg.Prefix() + name + `"`
	}
	first := ls.get("video1_stream.m3u8")
	require.Equal(t, http.StatusOK, first.code)
	require.Contains(t, first.body, part("_part2_0.mp4"))
	require.NotContains(t, first.body, part("_part2_1.mp4"))

	media := ls.async("video1_stream.m3u8")
	requireBlocked(t, media)
	ls.frames(5) // part 1 of segment 2 completes
	a := waitAnswer(t, media, time.Second)
	require.Equal(t, http.StatusOK, a.code, a.body)
	require.Contains(t, a.body, part("_part2_1.mp4"), "the part completed while the request waited")

	start := time.Now()
	stale := waitAnswer(t, ls.async("video1_stream.m3u8"), 2*time.Second) // no frame comes
	require.Equal(t, http.StatusOK, stale.code)
	longest := hlshttp.FreshWait(time.Hour) // its bound whatever the part target
	require.Less(t, time.Since(start), longest+time.Second, "a stalled stream's playlist comes within hlshttp.FreshWait")

	classic := startLive(t, VariantFMP4, nil)
	classic.frames(56)
	require.Equal(t, http.StatusOK, waitAnswer(t, classic.async("video1_stream.m3u8"), 100*time.Millisecond).code,
		"a classic playlist is answered at once")
}
