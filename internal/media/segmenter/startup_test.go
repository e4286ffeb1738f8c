package segmenter

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/media/stream"
)

// variants are the three kinds of playlist a node serves.
var variants = []struct {
	name       string
	format     string
	lowLatency bool
}{
	{"low latency", FormatFMP4, true},
	{"fmp4", FormatFMP4, false},
	{"mpegts", FormatMPEGTS, false},
}

// requireAllServed checks that every URI of a media playlist names an object the segmenter serves
// now, and that the preload hint, if any, names the part to come (held, not refused). It returns the
// hint ("" for none).
func requireAllServed(t *testing.T, s *Segmenter, text string) string {
	t.Helper()
	uris := playlistURIs([]byte(text))
	require.NotEmpty(t, uris, text)
	for _, u := range uris {
		_, err := s.Object(context.Background(), u)
		require.NoError(t, err, "%s is listed but not served:\n%s", u, text)
	}
	m := regexp.MustCompile(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="([^"]+)"`).FindStringSubmatch(text)
	if m == nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, err := s.Object(ctx, m[1])
	require.ErrorIs(t, err, context.DeadlineExceeded, "the hinted part %s is held until it exists", m[1])
	return m[1]
}

// TestYoungStreamPlaylist: the playlist of a stream opened in its first second lists its real media
// only — no EXT-X-GAP placeholder, whose URI no player can fetch (VLC and GStreamer's hlsdemux gave up on
// it) — and every URI it names is served.
func TestYoungStreamPlaylist(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			video, audio := h264Track(), aacTrack()
			s, err := New(Config{Tracks: []*stream.Track{video, audio}, Format: v.format, LowLatency: v.lowLatency, Prefix: "p"})
			require.NoError(t, err)

			if v.lowLatency {
				// 0.3 s old: a part, no segment yet
				feed(t, s, video, audio, 0, 8, 25)
				text := string(s.Playlist().Media(MediaOptions{}))
				require.NotContains(t, text, "GAP")
				require.Contains(t, text, "#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-MAP:URI=\"p_init.mp4\"\n"+
					"#EXT-X-PART:DURATION=0.20000,URI=\"p_part0_0.mp4\",INDEPENDENT=YES\n"+
					"#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p_part0_1.mp4\"\n", "the playlist opens with the first part")
				require.Equal(t, "p_part0_1.mp4", requireAllServed(t, s, text))
			} else {
				feed(t, s, video, audio, 0, 8, 25)
				require.False(t, s.Playlist().Ready(), "nothing to list before the first segment")
			}

			// 1 s old: the first segment is complete
			feed(t, s, video, audio, 8, 26, 25)
			pl := s.Playlist()
			text := string(pl.Media(MediaOptions{}))
			require.NotContains(t, text, "GAP")
			require.Contains(t, text, "#EXT-X-MEDIA-SEQUENCE:0\n")
			require.Len(t, pl.Segments(), 1)
			require.Equal(t, uint64(0), pl.Segments()[0].MSN)
			require.Equal(t, t0, pl.Segments()[0].DateTime)
			hint := requireAllServed(t, s, text)
			if v.lowLatency {
				require.Equal(t, "p_part1_0.mp4", hint)
				feed(t, s, video, audio, 26, 31, 25)
				_, err := s.Object(context.Background(), hint)
				require.NoError(t, err, "the hinted part is served once it exists")
			}
			for _, opts := range []MediaOptions{{NoBlocking: true}, {NoLowLatency: true}} {
				requireAllServed(t, s, string(s.Playlist().Media(opts)))
			}
		})
	}
}

// TestTimelineStartsNearZero: whatever the timestamps of a publication (here it is 2 min 24 s old when
// its first keyframe reaches the segmenter, as after an SRT publisher's reconnection or a segmenter
// started late), its first segment starts at startOffset on the media timeline (tfdt, MPEG-TS DTS),
// while EXT-X-PROGRAM-DATE-TIME carries the wall clock. A change of parameters keeps the timeline
// running (a discontinuity, not a new origin); a new publication starts near zero again.
func TestTimelineStartsNearZero(t *testing.T) {
	const age = 144 * time.Second
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			for pub, wall := range []time.Time{t0, t0.Add(time.Hour)} {
				rec := newRecorder(t)
				video, audio := h264Track(), aacTrack()
				s, err := New(Config{Tracks: []*stream.Track{video, audio}, Format: v.format, LowLatency: v.lowLatency,
					Prefix: "p" + strconv.Itoa(pub), SegmentCount: 100, Observer: rec.observer()})
				require.NoError(t, err)
				ai := 0
				write := func(u *stream.Unit) {
					u.PTS += age * time.Duration(pub+1)
					u.NTP = wall.Add(u.NTP.Sub(t0))
					require.NoError(t, s.Write(u))
				}
				for i := 0; i < 111; i++ { // segments [0, 30), [30, 50) cut by the change, [50, 80), [80, 110)
					p := paramsA
					if i >= 50 {
						p = paramsB
					}
					vu := paramsUnit(video, i, p, false)
					for {
						au := audioUnit(audio, ai)
						if au.PTS > vu.PTS {
							break
						}
						write(au)
						ai++
					}
					write(vu)
				}
				require.Len(t, rec.segs, 4)
				first := rec.segs[0]
				require.Equal(t, wall, first.DateTime, "EXT-X-PROGRAM-DATE-TIME is the wall clock")
				require.Contains(t, string(s.Playlist().Media(MediaOptions{})),
					"#EXT-X-PROGRAM-DATE-TIME:"+wall.Format("2006-01-02T15:04:05Z07:00")+"\n")

				var videoDTS, audioDTS []int64 // first decode time of each segment, on the track's clock
				for _, seg := range rec.segs {
					if v.format == FormatMPEGTS {
						vp, ap := readTS(t, dataOf(t, seg))
						videoDTS = append(videoDTS, vp[0].dts)
						audioDTS = append(audioDTS, rescale(ap[0].dts, 90000, 44100))
						continue
					}
					_, vd := trackSamples(t, dataOf(t, seg), 1)
					_, ad := trackSamples(t, dataOf(t, seg), 2)
					videoDTS = append(videoDTS, int64(vd[0]))
					audioDTS = append(audioDTS, int64(ad[0]))
				}
				require.Equal(t, int64(startOffset/time.Millisecond*90), videoDTS[0],
					"the first segment of publication %d starts at %s, not at the stream's age", pub+1, startOffset)
				require.InDelta(t, float64(startOffset/time.Millisecond*44100/1000), float64(audioDTS[0]), 1024,
					"audio starts with video")
				require.LessOrEqual(t, startOffset, time.Second, "near zero")
				want := int64(startOffset / time.Millisecond * 90)
				for i, seg := range rec.segs {
					require.Equal(t, want, videoDTS[i], "segment %d continues the timeline", i)
					want += int64(seg.Duration / time.Millisecond * 90)
				}
				require.True(t, rec.segs[2].Discontinuity, "the change of parameters")
				s.Close()
			}
		})
	}
}

var (
	partTargetRE   = regexp.MustCompile(`#EXT-X-PART-INF:PART-TARGET=([0-9.]+)`)
	partHoldBackRE = regexp.MustCompile(`PART-HOLD-BACK=([0-9.]+)`)
)

// TestPartHoldBack: PART-HOLD-BACK is at least three part targets (RFC 8216bis §4.4.3.8 SHOULD, Apple's
// authoring specification MUST), whatever the part target comes to.
func TestPartHoldBack(t *testing.T) {
	for _, tc := range []struct {
		part time.Duration
		fps  int
	}{
		{200 * time.Millisecond, 25},
		{200 * time.Millisecond, 30}, // raised to a multiple of the frame duration
		{333 * time.Millisecond, 25},
		{time.Second, 24},
	} {
		t.Run(tc.part.String()+"/"+strconv.Itoa(tc.fps), func(t *testing.T) {
			video := h264Track()
			s, err := New(Config{Tracks: []*stream.Track{video}, LowLatency: true, PartMinDuration: tc.part, Prefix: "p"})
			require.NoError(t, err)
			for i := 0; i < 4*tc.fps; i++ {
				pts := time.Duration(i) * time.Second / time.Duration(tc.fps)
				au := [][]byte{{0x41, byte(i), 0xAA}}
				if i%tc.fps == 0 {
					au = [][]byte{testSPS, testPPS, {0x65, byte(i), 0xBB}}
				}
				require.NoError(t, s.Write(&stream.Unit{Track: video, NTP: t0.Add(pts), PTS: pts, Payload: au}))
			}
			for _, opts := range []MediaOptions{{}, {NoBlocking: true}} {
				text := string(s.Playlist().Media(opts))
				target, err := strconv.ParseFloat(partTargetRE.FindStringSubmatch(text)[1], 64)
				require.NoError(t, err)
				holdBack, err := strconv.ParseFloat(partHoldBackRE.FindStringSubmatch(text)[1], 64)
				require.NoError(t, err)
				require.GreaterOrEqual(t, target, tc.part.Seconds()-1e-9)
				require.GreaterOrEqual(t, holdBack, 3*target-1e-9, text)
				require.Less(t, holdBack, 3*target+0.002, "no more latency than needed")
			}
		})
	}
}

// requiredVersion is the lowest EXT-X-VERSION a playlist's tags need (RFC 8216bis §8).
func requiredVersion(text string) int {
	v := 1
	need := func(n int, ok bool) {
		if ok {
			v = max(v, n)
		}
	}
	iframes := strings.Contains(text, "#EXT-X-I-FRAMES-ONLY")
	need(3, regexp.MustCompile(`(?m)^#EXTINF:[0-9]*\.`).MatchString(text))
	need(4, strings.Contains(text, "#EXT-X-BYTERANGE") || iframes || strings.Contains(text, "BYTERANGE-"))
	need(5, strings.Contains(text, "#EXT-X-MAP"))
	need(6, strings.Contains(text, "#EXT-X-MAP") && !iframes)
	need(7, strings.Contains(text, "INSTREAM-ID=\"SERVICE"))
	need(8, strings.Contains(text, "#EXT-X-DEFINE") || strings.Contains(text, "{$"))
	need(9, strings.Contains(text, "#EXT-X-SKIP") || strings.Contains(text, "CAN-SKIP-UNTIL"))
	need(10, strings.Contains(text, "CAN-SKIP-DATERANGES"))
	need(11, strings.Contains(text, "QUERYPARAM="))
	return v
}

func declaredVersion(t *testing.T, text string) int {
	t.Helper()
	m := regexp.MustCompile(`^#EXTM3U\n#EXT-X-VERSION:([0-9]+)\n`).FindStringSubmatch(text)
	require.NotNil(t, m, text)
	n, err := strconv.Atoi(m[1])
	require.NoError(t, err)
	return n
}

// TestVersionLines: every playlist declares the lowest version its tags need — 6 for fMP4 (EXT-X-MAP
// without I-frames only), 3 for MPEG-TS (decimal durations) — LL-HLS tags needing none; a multivariant
// playlist declares the highest of its media playlists.
func TestVersionLines(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			video, audio := h264Track(), aacTrack()
			s, err := New(Config{Tracks: []*stream.Track{video, audio}, Format: v.format, LowLatency: v.lowLatency, Prefix: "p"})
			require.NoError(t, err)
			feed(t, s, video, audio, 0, 60, 25)
			want := 6
			if v.format == FormatMPEGTS {
				want = 3
			}
			pl := s.Playlist()
			for _, opts := range []MediaOptions{{}, {NoBlocking: true}, {NoLowLatency: true}} {
				text := string(pl.Media(opts))
				require.Equal(t, want, declaredVersion(t, text), text)
				require.Equal(t, requiredVersion(text), declaredVersion(t, text), text)
			}
			s.Close()
			text := string(s.Playlist().Media(MediaOptions{}))
			require.Equal(t, want, declaredVersion(t, text), "the final playlist: %s", text)

			mv := string(Multivariant([]Variant{pl.Variant("v.m3u8")}, nil))
			require.Equal(t, want, declaredVersion(t, mv), mv)

			segs := pl.Segments()
			vod := string(VOD(segs[0].InitName, segs, nil))
			require.Equal(t, want, declaredVersion(t, vod), vod)
			require.Equal(t, requiredVersion(vod), declaredVersion(t, vod), vod)
		})
	}
	mixed := Multivariant([]Variant{{URI: "a.m3u8", version: versionMPEGTS}, {URI: "b.m3u8", version: versionFMP4}}, nil)
	require.Equal(t, 6, declaredVersion(t, string(mixed)))
}
