package segmenter

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/media/stream"
)

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		format     string
		lowLatency bool
		want       string // error message, "" for none
	}{
		{"", true, ""},
		{FormatFMP4, true, ""},
		{FormatFMP4, false, ""},
		{FormatMPEGTS, false, ""},
		{FormatMPEGTS, true, "invalid segment format: mpegts has no low-latency mode (LL-HLS parts are fMP4)"},
		{"webm", false, `invalid segment format "webm" (want "fmp4" or "mpegts")`},
		{"MPEGTS", false, `invalid segment format "MPEGTS" (want "fmp4" or "mpegts")`},
	} {
		t.Run(fmt.Sprintf("%q lowLatency=%v", tc.format, tc.lowLatency), func(t *testing.T) {
			s, err := New(Config{Tracks: []*stream.Track{h264Track()}, Format: tc.format, LowLatency: tc.lowLatency})
			if tc.want != "" {
				require.ErrorIs(t, err, ErrFormat)
				require.EqualError(t, err, tc.want)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.lowLatency, s.LowLatency())
			if tc.format == FormatMPEGTS {
				require.Equal(t, FormatMPEGTS, s.Format())
				require.Equal(t, "video/mp2t", s.ContentType())
			} else {
				require.Equal(t, FormatFMP4, s.Format())
				require.Equal(t, "video/mp4", s.ContentType())
			}
		})
	}
}

// nalTypes returns the H.264 NAL unit types of an access unit.
func nalTypes(au [][]byte) []h264.NALUType {
	out := make([]h264.NALUType, len(au))
	for i, n := range au {
		out[i] = h264.NALUType(n[0] & 0x1F)
	}
	return out
}

func TestMPEGTSSegments(t *testing.T) {
	dir := t.TempDir()
	rec := newRecorder(t)
	video, audio := h264Track(), aacTrack()
	s, err := New(Config{
		Tracks: []*stream.Track{video, audio}, Format: FormatMPEGTS, Prefix: "p", SegmentCount: 3,
		Directory: dir, Observer: rec.observer(),
	})
	require.NoError(t, err)
	feed(t, s, video, audio, 0, 130, 25) // segments 0..4 complete, 5 begun

	require.Equal(t, []string{"segment 0", "playlist", "segment 1", "playlist", "segment 2", "playlist",
		"segment 3", "playlist", "segment 4", "playlist"}, rec.events, "no init, no parts")
	pl := s.Playlist()
	require.Empty(t, pl.InitName())
	require.Equal(t, "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:2\n"+
		"#EXT-X-PROGRAM-DATE-TIME:2025-03-04T05:06:09Z\n#EXTINF:1.00000,\np_seg2.ts\n"+
		"#EXT-X-PROGRAM-DATE-TIME:2025-03-04T05:06:10Z\n#EXTINF:1.00000,\np_seg3.ts\n"+
		"#EXT-X-PROGRAM-DATE-TIME:2025-03-04T05:06:11Z\n#EXTINF:1.00000,\np_seg4.ts\n",
		string(pl.Media(MediaOptions{})))

	// every segment decodes alone, and the timestamps run on from one segment to the next
	nextDTS := int64(startOffset / time.Second * 90000)
	var audioFrames int
	var nextAudio int64 = -1
	for i, seg := range rec.segs {
		require.Equal(t, uint64(i), seg.MSN)
		require.Equal(t, fmt.Sprintf("p_seg%d.ts", i), seg.Name)
		require.Equal(t, time.Second, seg.Duration)
		require.Equal(t, t0.Add(time.Duration(i)*time.Second), seg.DateTime)
		require.Empty(t, seg.Parts)

		v, a := readTS(t, dataOf(t, seg))
		require.Len(t, v, 25)
		require.Equal(t, []h264.NALUType{h264.NALUTypeSPS, h264.NALUTypePPS, h264.NALUTypeIDR}, nalTypes(v[0].units),
			"segment %d opens with an IDR and its parameter sets", i)
		for _, f := range v {
			require.Equal(t, nextDTS, f.dts)
			require.Equal(t, f.dts, f.pts)
			nextDTS += 3600
		}
		require.NotEmpty(t, a)
		for _, f := range a {
			if nextAudio >= 0 {
				require.InDelta(t, nextAudio, f.pts, 1, "audio of segment %d follows on", i)
			}
			audioFrames += len(f.units)
			nextAudio = f.pts + int64(len(f.units))*1024*90000/44100
		}
	}
	require.InDelta(t, 5*44100/1024, audioFrames, 2)

	// the window and the segments that left it are served; nothing else
	ctx := context.Background()
	for _, name := range []string{"p_seg0.ts", "p_seg1.ts", "p_seg2.ts", "p_seg4.ts"} {
		o, err := s.Object(ctx, name)
		require.NoError(t, err, name)
		require.Equal(t, "video/mp2t", o.ContentType)
		b, err := o.Bytes()
		require.NoError(t, err)
		require.Equal(t, rec.objects[name], b, name)
	}
	for _, name := range []string{"p_seg5.ts", "p_seg4.mp4", "p_init.mp4", "p_init.ts", "p_part4_0.ts", "p_part5_0.ts"} {
		_, err := s.Object(ctx, name)
		require.ErrorIs(t, err, ErrNotFound, name)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	require.NoError(t, err)
	require.Len(t, files, 5)

	v := pl.Variant("video1_stream.m3u8")
	require.Equal(t, []string{"avc1.42c028", "mp4a.40.2"}, v.Codecs)
	require.Equal(t, "1920x1080", v.Resolution)
	require.True(t, strings.HasPrefix(string(Multivariant([]Variant{v}, nil)),
		"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n\n#EXT-X-STREAM-INF:BANDWIDTH="))

	s.Close()
	require.Equal(t, []string{"segment 5", "playlist", "ended"}, rec.events[len(rec.events)-3:])
	last := rec.segs[len(rec.segs)-1]
	require.Equal(t, "p_seg5.ts", last.Name)
	v5, _ := readTS(t, dataOf(t, last))
	require.Len(t, v5, 5)
	require.Contains(t, string(rec.ended.Media(MediaOptions{})), "p_seg5.ts\n#EXT-X-ENDLIST\n")
}

func TestMPEGTSAudioOnly(t *testing.T) {
	rec := newRecorder(t)
	audio := aacTrack()
	s, err := New(Config{Tracks: []*stream.Track{audio}, Format: FormatMPEGTS, Prefix: "a", Observer: rec.observer()})
	require.NoError(t, err)
	require.Equal(t, "video/mp2t", s.ContentType())
	for i := 0; i < 44*3+3; i++ {
		require.NoError(t, s.Write(audioUnit(audio, i)))
	}
	require.Len(t, rec.segs, 3)
	for _, seg := range rec.segs {
		v, a := readTS(t, dataOf(t, seg))
		require.Empty(t, v)
		frames := 0
		for _, f := range a {
			frames += len(f.units)
		}
		require.InDelta(t, 44, frames, 1)
		// the writer repeats PAT and PMT before every PES packet of the leading track: frames that
		// follow one another share a packet, so that this costs little
		require.Less(t, len(a), frames/4, "audio frames grouped in PES packets")
	}
}

// TestMPEGTSAudioTimestamps: audio timestamps that jitter by whole milliseconds (RTMP's) are written
// contiguous; a real gap is kept.
func TestMPEGTSAudioTimestamps(t *testing.T) {
	rec := newRecorder(t)
	audio := aacTrack()
	s, err := New(Config{Tracks: []*stream.Track{audio}, Format: FormatMPEGTS, Prefix: "a", Observer: rec.observer()})
	require.NoError(t, err)
	for i := 0; i < 60; i++ {
		u := audioUnit(audio, i)
		u.PTS = u.PTS.Round(time.Millisecond)
		if i >= 50 {
			u.PTS += 500 * time.Millisecond
		}
		require.NoError(t, s.Write(u))
	}
	s.Close()
	var pts []int64
	for _, seg := range rec.segs {
		_, a := readTS(t, dataOf(t, seg))
		for _, f := range a {
			for i := range f.units {
				pts = append(pts, f.pts+rescale(int64(i)*1024, 44100, 90000))
			}
		}
	}
	require.Len(t, pts, 60)
	first := rescale(int64(startOffset/time.Second)*44100, 44100, 90000)
	for i, p := range pts {
		want := first + rescale(int64(i)*1024, 44100, 90000)
		if i >= 50 {
			want = first + rescale(toTicks(audioUnit(audio, 50).PTS.Round(time.Millisecond)+500*time.Millisecond, 44100)+int64(i-50)*1024, 44100, 90000)
		}
		require.InDelta(t, want, p, 1, "frame %d", i)
	}
}

// TestMPEGTSParameterSets: a publisher that sends the parameter sets out of band only (RTMP does) still
// gets segments that decode alone.
func TestMPEGTSParameterSets(t *testing.T) {
	rec := newRecorder(t)
	video := h264Track()
	s, err := New(Config{Tracks: []*stream.Track{video}, Format: FormatMPEGTS, Prefix: "p", Observer: rec.observer()})
	require.NoError(t, err)
	for i := 0; i < 60; i++ {
		u := videoUnit(video, i, 25)
		u.Payload = u.Payload[len(u.Payload)-1:]
		require.NoError(t, s.Write(u))
	}
	require.Len(t, rec.segs, 2)
	for _, seg := range rec.segs {
		v, _ := readTS(t, dataOf(t, seg))
		require.Equal(t, []h264.NALUType{h264.NALUTypeSPS, h264.NALUTypePPS, h264.NALUTypeIDR}, nalTypes(v[0].units))
		require.Equal(t, []h264.NALUType{h264.NALUTypeNonIDR}, nalTypes(v[1].units))
	}
}

// TestMPEGTSCodecs: a track MPEG-TS cannot carry is left out as fMP4 leaves out a codec it does not know.
func TestMPEGTSCodecs(t *testing.T) {
	aac := func(typ mpeg4audio.ObjectType, rate int) *stream.Track {
		return &stream.Track{Codec: &stream.MPEG4Audio{Config: mpeg4audio.AudioSpecificConfig{
			Type: typ, SampleRate: rate, ChannelConfig: 2, ChannelCount: 2,
		}}}
	}
	for _, tc := range []struct {
		name  string
		track *stream.Track
		fmp4  bool
		ts    bool
	}{
		{"H.264", h264Track(), true, true},
		{"H.265", &stream.Track{Codec: &stream.H265{}}, true, true},
		{"AAC-LC", aac(mpeg4audio.ObjectTypeAACLC, 44100), true, true},
		{"HE-AAC signalled explicitly: not in ADTS", aac(mpeg4audio.ObjectTypeSBR, 44100), true, false},
		{"AAC at a rate ADTS cannot name", aac(mpeg4audio.ObjectTypeAACLC, 44000), true, false},
		{"Opus stereo", &stream.Track{Codec: &stream.Opus{ChannelCount: 2}}, true, true},
		{"Opus, 9 channels", &stream.Track{Codec: &stream.Opus{ChannelCount: 9}}, true, false},
		{"VP9", &stream.Track{Codec: &stream.VP9{}}, false, false},
		{"AV1", &stream.Track{Codec: &stream.AV1{}}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for format, want := range map[string]bool{FormatFMP4: tc.fmp4, FormatMPEGTS: tc.ts} {
				_, err := New(Config{Tracks: []*stream.Track{tc.track}, Format: format})
				if want {
					require.NoError(t, err, format)
				} else {
					require.ErrorIs(t, err, ErrNoTracks, format)
				}
			}
		})
	}
}
