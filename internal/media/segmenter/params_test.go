package segmenter

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	mp4codecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"
	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/media/stream"
)

// A 640x360 baseline SPS and its PPS from x264 (pic_order_cnt_type 2, like testSPS): the parameters an
// encoder reconfigured mid-stream sends.
var (
	testSPS2 = []byte{
		0x67, 0x42, 0xc0, 0x1e, 0xd9, 0x00, 0xa0, 0x2f, 0xf9, 0x70, 0x11, 0x00, 0x00, 0x03, 0x00, 0x01,
		0x00, 0x00, 0x03, 0x00, 0x32, 0x0f, 0x16, 0x2e, 0x48,
	}
	testPPS2 = []byte{0x68, 0xcb, 0x83, 0xcb, 0x20}
)

// params is a set of H.264 parameters of the tests.
type params struct{ sps, pps []byte }

func (p params) equal(q params) bool { return bytes.Equal(p.sps, q.sps) && bytes.Equal(p.pps, q.pps) }

var (
	paramsA = params{testSPS, testPPS}
	paramsB = params{testSPS2, testPPS2}
	paramsC = params{testSPS, []byte{0x68, 0x01}} // A with another PPS
)

// paramsUnit is frame i of a 25 fps stream with an IDR every 10 frames (0.4 s, shorter than the
// segments), the IDRs carrying p in-band unless outOfBand.
func paramsUnit(tr *stream.Track, i int, p params, outOfBand bool) *stream.Unit {
	u := videoUnit(tr, i, 10)
	if i%10 == 0 {
		u.Payload = [][]byte{p.sps, p.pps, {0x65, byte(i), 0xBB}}
		if outOfBand {
			u.Payload = u.Payload[2:]
		}
	}
	return u
}

// TestParameterChange: new video parameters at a random-access point end the segment there (however
// short) and start the next with a new init section and a discontinuity; parameters anywhere else are
// only remembered for the next random-access point.
func TestParameterChange(t *testing.T) {
	// segments of 1 s at least are cut at frames 30, 60, 90 and 120 of a 130-frame stream, unless a
	// change cuts one earlier
	for _, tc := range []struct {
		name string
		// write writes frame i (of [0, 130)) and returns whether it did; the default writes paramsA
		write func(t *testing.T, s *Segmenter, tr *stream.Track, i int) bool
		// starts are the frames where segments start, and params the parameters of each segment
		starts []int
		params []params
	}{
		{
			name:   "same parameters repeated",
			starts: []int{0, 30, 60, 90, 120},
			params: []params{paramsA, paramsA, paramsA, paramsA, paramsA},
		},
		{
			name: "new SPS and PPS at an IDR before the minimum duration",
			write: func(t *testing.T, s *Segmenter, tr *stream.Track, i int) bool {
				if i >= 40 {
					require.NoError(t, s.Write(paramsUnit(tr, i, paramsB, false)))
					return true
				}
				return false
			},
			starts: []int{0, 30, 40, 70, 100},
			params: []params{paramsA, paramsA, paramsB, paramsB, paramsB},
		},
		{
			name: "new PPS only",
			write: func(t *testing.T, s *Segmenter, tr *stream.Track, i int) bool {
				if i >= 60 {
					require.NoError(t, s.Write(paramsUnit(tr, i, paramsC, false)))
					return true
				}
				return false
			},
			starts: []int{0, 30, 60, 90, 120},
			params: []params{paramsA, paramsA, paramsC, paramsC, paramsC},
		},
		{
			name: "back and forth",
			write: func(t *testing.T, s *Segmenter, tr *stream.Track, i int) bool {
				if i >= 40 && i < 80 {
					require.NoError(t, s.Write(paramsUnit(tr, i, paramsB, false)))
					return true
				}
				return false
			},
			starts: []int{0, 30, 40, 70, 80, 110},
			params: []params{paramsA, paramsA, paramsB, paramsB, paramsA, paramsA},
		},
		{
			name: "parameter sets on a non-IDR access unit",
			write: func(t *testing.T, s *Segmenter, tr *stream.Track, i int) bool {
				if i == 45 {
					u := videoUnit(tr, i, 10)
					u.Payload = append([][]byte{testSPS2, testPPS2}, u.Payload...)
					require.NoError(t, s.Write(u))
					return true
				}
				return false
			},
			starts: []int{0, 30, 60, 90, 120},
			params: []params{paramsA, paramsA, paramsA, paramsA, paramsA},
		},
		{
			name: "parameter sets ahead of the IDR they apply to",
			write: func(t *testing.T, s *Segmenter, tr *stream.Track, i int) bool {
				if i == 45 {
					// an access unit of parameter sets only, then IDRs without any
					require.NoError(t, s.Write(&stream.Unit{Track: tr, PTS: 1799 * time.Millisecond, Payload: [][]byte{testSPS2, testPPS2}}))
				}
				if i >= 45 {
					require.NoError(t, s.Write(paramsUnit(tr, i, paramsB, true)))
					return true
				}
				return false
			},
			starts: []int{0, 30, 50, 80, 110},
			params: []params{paramsA, paramsA, paramsB, paramsB, paramsB},
		},
	} {
		for _, format := range []struct {
			name       string
			format     string
			lowLatency bool
		}{{"low latency", FormatFMP4, true}, {"classic", FormatFMP4, false}, {"mpegts", FormatMPEGTS, false}} {
			t.Run(tc.name+"/"+format.name, func(t *testing.T) {
				rec := newRecorder(t)
				video := h264Track()
				s, err := New(Config{
					Tracks: []*stream.Track{video}, Format: format.format, LowLatency: format.lowLatency,
					SegmentCount: 100, Prefix: "p", Observer: rec.observer(),
				})
				require.NoError(t, err)
				for i := 0; i < 130; i++ {
					if tc.write == nil || !tc.write(t, s, video, i) {
						require.NoError(t, s.Write(paramsUnit(video, i, paramsA, false)))
					}
				}
				s.Close()
				checkParameterChange(t, rec, format.format, tc.starts, tc.params)
			})
		}
	}
}

// checkParameterChange checks the segments that rec got against the frames where they start and their
// parameters: a new init section (numbered from 1) and a discontinuity where the parameters change, and
// parameters in force that are those of the samples.
func checkParameterChange(t *testing.T, rec *recorder, format string, starts []int, want []params) {
	t.Helper()
	n := names{prefix: "p", ext: extFMP4}
	require.Len(t, rec.segs, len(starts))
	var wantInits []string
	initNum := 1
	for i, seg := range rec.segs {
		end := 130
		if i+1 < len(starts) {
			end = starts[i+1]
		}
		require.Equal(t, time.Duration(end-starts[i])*40*time.Millisecond, seg.Duration, "segment %d", i)
		disc := i > 0 && !want[i].equal(want[i-1])
		require.Equal(t, disc, seg.Discontinuity, "segment %d", i)
		require.Equal(t, seg.Discontinuity, seg.Info().Discontinuity)
		require.Equal(t, seg.InitName, seg.Info().InitName)
		if format == FormatMPEGTS {
			require.Empty(t, seg.InitName)
			video, _ := readTS(t, dataOf(t, seg))
			require.Len(t, video, end-starts[i])
			require.Contains(t, video[0].units, want[i].sps, "segment %d opens with its SPS", i)
			require.Contains(t, video[0].units, want[i].pps, "segment %d opens with its PPS", i)
			continue
		}
		if disc {
			initNum++
		}
		require.Equal(t, n.init(initNum), seg.InitName, "segment %d", i)
		if !slices.Contains(wantInits, seg.InitName) {
			wantInits = append(wantInits, seg.InitName)
		}
		var in fmp4.Init
		require.NoError(t, in.Unmarshal(bytes.NewReader(rec.objects[seg.InitName])))
		codec := in.Tracks[0].Codec.(*mp4codecs.H264)
		require.True(t, want[i].equal(params{codec.SPS, codec.PPS}), "init section of segment %d", i)
		samples, _ := trackSamples(t, dataOf(t, seg), 1)
		require.Len(t, samples, end-starts[i])
		require.False(t, samples[0].IsNonSyncSample)
		if disc {
			// the observer got the new init section right after the last segment of the old one
			events := strings.Join(rec.events, ",")
			require.Contains(t, events, fmt.Sprintf("segment %d,init,", rec.segs[i-1].MSN))
		}
	}
	require.Equal(t, wantInits, rec.inits)
}

// TestDiscontinuityPlaylists pins the playlists around a parameter change: EXT-X-DISCONTINUITY and the
// new EXT-X-MAP before the segment (or the parts) of the new parameters, then, once the segments before
// have left the window, the new init section in the header and EXT-X-DISCONTINUITY-SEQUENCE.
func TestDiscontinuityPlaylists(t *testing.T) {
	t.Run("classic", func(t *testing.T) {
		rec := newRecorder(t)
		video := h264Track()
		s, err := New(Config{Tracks: []*stream.Track{video}, Prefix: "p", SegmentCount: 3, Observer: rec.observer()})
		require.NoError(t, err)
		feedParams := func(from, to int, p params) {
			for i := from; i < to; i++ {
				require.NoError(t, s.Write(paramsUnit(video, i, p, false)))
			}
		}
		feedParams(0, 40, paramsA) // segment 0 [0, 30), 1 from 30
		feedParams(40, 71, paramsB)
		// segment 1 [30, 40) was cut by the change, 2 [40, 70) follows the discontinuity
		require.Equal(t, "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:0\n"+
			"#EXT-X-MAP:URI=\"p_init.mp4\"\n"+
			"#EXT-X-PROGRAM-DATE-TIME:2025-03-04T05:06:07Z\n#EXTINF:1.20000,\np_seg0.mp4\n"+
			"#EXT-X-PROGRAM-DATE-TIME:2025-03-04T05:06:08.2Z\n#EXTINF:0.40000,\np_seg1.mp4\n"+
			"#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"p_init2.mp4\"\n"+
			"#EXT-X-PROGRAM-DATE-TIME:2025-03-04T05:06:08.6Z\n#EXTINF:1.20000,\np_seg2.mp4\n",
			string(s.Playlist().Media(MediaOptions{})))
		pl := s.Playlist()
		require.Equal(t, "p_init2.mp4", pl.InitName(), "the newest segment's")
		require.Equal(t, []string{"p_init.mp4", "p_init2.mp4"}, pl.InitNames())
		require.Equal(t, []SegmentInfo{
			{MSN: 0, Name: "p_seg0.mp4", Duration: 1200 * time.Millisecond, DateTime: t0, InitName: "p_init.mp4"},
			{MSN: 1, Name: "p_seg1.mp4", Duration: 400 * time.Millisecond, DateTime: t0.Add(1200 * time.Millisecond), InitName: "p_init.mp4"},
			{MSN: 2, Name: "p_seg2.mp4", Duration: 1200 * time.Millisecond, DateTime: t0.Add(1600 * time.Millisecond), InitName: "p_init2.mp4", Discontinuity: true},
		}, pl.Segments())
		v := pl.Variant("v.m3u8")
		require.Equal(t, "640x360", v.Resolution, "the multivariant playlist follows the new parameters")
		require.Equal(t, []string{"avc1.42c01e"}, v.Codecs)

		// segments 3 and 4: segment 2 opens the window, its discontinuity still listed (the header's
		// EXT-X-MAP is its init section)
		feedParams(71, 131, paramsB)
		text := string(s.Playlist().Media(MediaOptions{}))
		require.Contains(t, text, "#EXT-X-MEDIA-SEQUENCE:2\n#EXT-X-MAP:URI=\"p_init2.mp4\"\n#EXT-X-DISCONTINUITY\n"+
			"#EXT-X-PROGRAM-DATE-TIME:2025-03-04T05:06:08.6Z\n#EXTINF:1.20000,\np_seg2.mp4\n")
		require.NotContains(t, text, "DISCONTINUITY-SEQUENCE")
		require.Equal(t, []string{"p_init2.mp4"}, s.Playlist().InitNames())

		// segment 5: segment 2 and its discontinuity left the window
		feedParams(131, 161, paramsB)
		text = string(s.Playlist().Media(MediaOptions{}))
		require.Equal(t, "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:3\n"+
			"#EXT-X-DISCONTINUITY-SEQUENCE:1\n#EXT-X-MAP:URI=\"p_init2.mp4\"\n"+
			"#EXT-X-PROGRAM-DATE-TIME:2025-03-04T05:06:09.8Z\n#EXTINF:1.20000,\np_seg3.mp4\n"+
			"#EXT-X-PROGRAM-DATE-TIME:2025-03-04T05:06:11Z\n#EXTINF:1.20000,\np_seg4.mp4\n"+
			"#EXT-X-PROGRAM-DATE-TIME:2025-03-04T05:06:12.2Z\n#EXTINF:1.20000,\np_seg5.mp4\n", text)

		// the old init section is served as long as a retired segment needs it
		ctx := context.Background()
		_, err = s.Object(ctx, "p_init.mp4")
		require.NoError(t, err, "segments 0 and 1 are still served")
		feedParams(161, 251, paramsB) // segments 6, 7, 8: 0 and 1 are forgotten
		_, err = s.Object(ctx, "p_seg1.mp4")
		require.ErrorIs(t, err, ErrNotFound)
		_, err = s.Object(ctx, "p_init.mp4")
		require.ErrorIs(t, err, ErrNotFound, "no segment served needs it")
		o, err := s.Object(ctx, "p_init2.mp4")
		require.NoError(t, err)
		b, err := o.Bytes()
		require.NoError(t, err)
		require.Equal(t, rec.objects["p_init2.mp4"], b)
		_, err = s.Object(ctx, "p_init3.mp4")
		require.ErrorIs(t, err, ErrNotFound)

		s.Close()
		require.Contains(t, string(rec.ended.Media(MediaOptions{})), "#EXT-X-DISCONTINUITY-SEQUENCE:1\n")
	})

	t.Run("low latency", func(t *testing.T) {
		video := h264Track()
		s, err := New(Config{Tracks: []*stream.Track{video}, LowLatency: true, Prefix: "p", SegmentCount: 10})
		require.NoError(t, err)
		for i := 0; i < 51; i++ {
			p := paramsA
			if i >= 40 {
				p = paramsB
			}
			require.NoError(t, s.Write(paramsUnit(video, i, p, false)))
			if i == 40 {
				// the change cut segment 1; no part of 2 yet: the hint of its first part comes after the
				// tags that say it needs the new init section
				require.True(t, strings.HasSuffix(string(s.Playlist().Media(MediaOptions{})), "p_seg1.mp4\n"+
					"#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"p_init2.mp4\"\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p_part2_0.mp4\"\n"),
					"%s", s.Playlist().Media(MediaOptions{}))
			}
		}
		// segment 0 [0, 30), 1 [30, 40) cut by the change, two parts of 2
		text := string(s.Playlist().Media(MediaOptions{}))
		require.Contains(t, text, "#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-MAP:URI=\"p_init.mp4\"\n#EXT-X-PROGRAM-DATE-TIME:")
		require.Contains(t, text, "#EXT-X-PART:DURATION=0.20000,URI=\"p_part1_1.mp4\"\n#EXTINF:0.40000,\np_seg1.mp4\n"+
			"#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"p_init2.mp4\"\n"+
			"#EXT-X-PART:DURATION=0.20000,URI=\"p_part2_0.mp4\",INDEPENDENT=YES\n"+
			"#EXT-X-PART:DURATION=0.20000,URI=\"p_part2_1.mp4\"\n"+
			"#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p_part2_2.mp4\"\n", "the parts of the new segment follow the discontinuity")
		pl := s.Playlist()
		require.Equal(t, "p_init.mp4", pl.InitName(), "the newest complete segment's")
		require.Equal(t, []string{"p_init.mp4", "p_init2.mp4"}, pl.InitNames(), "the parts' too")
		classic := string(pl.Media(MediaOptions{NoLowLatency: true}))
		require.NotContains(t, classic, "p_init2.mp4", "without parts, nothing of the new parameters is listed yet")
		require.NotContains(t, classic, "DISCONTINUITY")

		for i := 51; i < 76; i++ {
			require.NoError(t, s.Write(paramsUnit(video, i, paramsB, false)))
		}
		text = string(s.Playlist().Media(MediaOptions{}))
		require.Equal(t, 1, strings.Count(text, "#EXT-X-DISCONTINUITY\n"))
		require.Contains(t, text, "p_seg1.mp4\n#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"p_init2.mp4\"\n"+
			"#EXT-X-PROGRAM-DATE-TIME:2025-03-04T05:06:08.6Z\n#EXT-X-PART:DURATION=0.20000,URI=\"p_part2_0.mp4\",INDEPENDENT=YES\n")
		require.Contains(t, text, "p_seg2.mp4\n#EXT-X-PART:DURATION=0.20000,URI=\"p_part3_0.mp4\",INDEPENDENT=YES\n",
			"no tag before the parts of a segment without a change")
		require.NotContains(t, text, "GAP")
	})

	t.Run("mpegts", func(t *testing.T) {
		video := h264Track()
		s, err := New(Config{Tracks: []*stream.Track{video}, Format: FormatMPEGTS, Prefix: "p", SegmentCount: 2})
		require.NoError(t, err)
		for i := 0; i < 101; i++ {
			p := paramsA
			if i >= 40 {
				p = paramsB
			}
			require.NoError(t, s.Write(paramsUnit(video, i, p, false)))
		}
		// segments 0, 1 | 2 [40, 70), 3 [70, 100)
		text := string(s.Playlist().Media(MediaOptions{}))
		require.Contains(t, text, "#EXT-X-MEDIA-SEQUENCE:2\n#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:2025-03-04T05:06:08.6Z\n"+
			"#EXTINF:1.20000,\np_seg2.ts\n#EXT-X-PROGRAM-DATE-TIME:2025-03-04T05:06:09.8Z\n#EXTINF:1.20000,\np_seg3.ts\n")
		require.NotContains(t, text, "MAP")
		require.Empty(t, s.Playlist().InitNames())
		require.Empty(t, s.Playlist().InitName())
		require.Equal(t, "640x360", s.Playlist().Variant("v.m3u8").Resolution)
		for i := 101; i < 131; i++ {
			require.NoError(t, s.Write(paramsUnit(video, i, paramsB, false)))
		}
		require.Contains(t, string(s.Playlist().Media(MediaOptions{})),
			"#EXT-X-MEDIA-SEQUENCE:3\n#EXT-X-DISCONTINUITY-SEQUENCE:1\n#EXT-X-PROGRAM-DATE-TIME")
	})
}

func TestVODDiscontinuity(t *testing.T) {
	segs := []SegmentInfo{
		{MSN: 7, Name: "p_seg7.mp4", Duration: 2 * time.Second, InitName: "p_init.mp4"},
		{MSN: 8, Name: "p_seg8.mp4", Duration: 2 * time.Second, InitName: "p_init2.mp4", Discontinuity: true},
		{MSN: 9, Name: "p_seg9.mp4", Duration: 2 * time.Second, InitName: "p_init2.mp4"},
		{MSN: 12, Name: "p_seg12.mp4", Duration: 2 * time.Second, InitName: "p_init2.mp4", Discontinuity: true},
	}
	require.Equal(t, "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-TARGETDURATION:2\n"+
		"#EXT-X-MEDIA-SEQUENCE:7\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-MAP:URI=\"rec/p_init.mp4\"\n"+
		"#EXTINF:2.00000,\nrec/p_seg7.mp4\n"+
		"#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"rec/p_init2.mp4\"\n#EXTINF:2.00000,\nrec/p_seg8.mp4\n"+
		"#EXTINF:2.00000,\nrec/p_seg9.mp4\n"+
		"#EXT-X-DISCONTINUITY\n#EXTINF:2.00000,\nrec/p_seg12.mp4\n#EXT-X-ENDLIST\n",
		string(VOD("", segs, func(n string) string { return "rec/" + n })))

	// segments without InitName take VOD's init
	old := []SegmentInfo{{MSN: 1, Name: "p_seg1.mp4", Duration: time.Second}, segs[1]}
	require.Equal(t, "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-TARGETDURATION:2\n"+
		"#EXT-X-MEDIA-SEQUENCE:1\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-MAP:URI=\"p_init.mp4\"\n#EXTINF:1.00000,\np_seg1.mp4\n"+
		"#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"p_init2.mp4\"\n#EXTINF:2.00000,\np_seg8.mp4\n#EXT-X-ENDLIST\n",
		string(VOD("p_init.mp4", old, nil)))

	ts := []SegmentInfo{{MSN: 7, Name: "p_seg7.ts", Duration: time.Second}, {MSN: 8, Name: "p_seg8.ts", Duration: time.Second, Discontinuity: true}}
	require.Equal(t, "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-TARGETDURATION:1\n"+
		"#EXT-X-MEDIA-SEQUENCE:7\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXTINF:1.00000,\np_seg7.ts\n"+
		"#EXT-X-DISCONTINUITY\n#EXTINF:1.00000,\np_seg8.ts\n#EXT-X-ENDLIST\n", string(VOD("", ts, nil)))
}
