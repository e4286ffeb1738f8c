package segmenter_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"
	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/media/segmenter"
	"github.com/nagare-video/nagare/internal/media/stream"
	"github.com/nagare-video/nagare/internal/testutil"
)

// readClip decodes an MPEG-TS file into a stream's tracks and units, as the SRT ingest does.
func readClip(t *testing.T, path string) ([]*stream.Track, []*stream.Unit) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	r := &mpegts.Reader{R: bufio.NewReader(f)}
	require.NoError(t, r.Initialize())
	td := mpegts.NewTimeDecoder()
	ticks := func(v int64) time.Duration {
		return time.Duration(v/90000)*time.Second + time.Duration(v%90000)*time.Second/90000
	}
	var tracks []*stream.Track
	var units []*stream.Unit
	for _, tt := range r.Tracks() {
		switch c := tt.Codec.(type) {
		case *tscodecs.H264:
			st := &stream.Track{Codec: &stream.H264{}}
			tracks = append(tracks, st)
			r.OnDataH264(tt, func(pts, _ int64, au [][]byte) error {
				units = append(units, &stream.Unit{Track: st, NTP: time.Now(), PTS: ticks(td.Decode(pts)), Payload: au})
				return nil
			})
		case *tscodecs.H265:
			st := &stream.Track{Codec: &stream.H265{}}
			tracks = append(tracks, st)
			r.OnDataH265(tt, func(pts, _ int64, au [][]byte) error {
				units = append(units, &stream.Unit{Track: st, NTP: time.Now(), PTS: ticks(td.Decode(pts)), Payload: au})
				return nil
			})
		case *tscodecs.MPEG4Audio:
			st := &stream.Track{Codec: &stream.MPEG4Audio{Config: c.Config}}
			tracks = append(tracks, st)
			r.OnDataMPEG4Audio(tt, func(pts int64, aus [][]byte) error {
				units = append(units, &stream.Unit{Track: st, NTP: time.Now(), PTS: ticks(td.Decode(pts)), Payload: aus})
				return nil
			})
		case *tscodecs.Opus:
			st := &stream.Track{Codec: &stream.Opus{ChannelCount: 2}}
			tracks = append(tracks, st)
			r.OnDataOpus(tt, func(pts int64, packets [][]byte) error {
				units = append(units, &stream.Unit{Track: st, NTP: time.Now(), PTS: ticks(td.Decode(pts)), Payload: packets})
				return nil
			})
		}
	}
	for {
		if err := r.Read(); err != nil {
			require.True(t, errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF), "reading clip: %v", err)
			break
		}
	}
	return tracks, units
}

// cut writes the units into a new segmenter and returns the init section and the segments.
// bytesOf returns the bytes of a part or a segment.
func bytesOf(t testing.TB, o interface{ Bytes() ([]byte, error) }) []byte {
	t.Helper()
	b, err := o.Bytes()
	require.NoError(t, err)
	return b
}

func cut(t *testing.T, cfg segmenter.Config, units []*stream.Unit) (init []byte, segs []segmenter.Segment, parts []byte) {
	t.Helper()
	cfg.Observer = segmenter.Funcs{
		OnInit: func(_ string, data []byte) { init = data },
		OnPart: func(p segmenter.Part) { parts = append(parts, bytesOf(t, p)...) },
		OnSegmentComplete: func(s segmenter.Segment) {
			segs = append(segs, s.WithBytes(bytesOf(t, s))) // kept: its memory file may be freed before it is read
			if s.MSN > 0 && s.Duration < 900*time.Millisecond {
				t.Errorf("segment %d lasts %s", s.MSN, s.Duration)
			}
		},
	}
	s, err := segmenter.New(cfg)
	require.NoError(t, err)
	for _, u := range units {
		require.NoError(t, s.Write(u))
	}
	s.Close()
	return init, segs, parts
}

// probeFrames decodes a file with ffprobe and returns the frames of each stream by codec name.
func probeFrames(t *testing.T, name string, data []byte) map[string]int {
	t.Helper()
	f := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(f, data, 0o644))
	out := map[string]int{}
	for _, st := range testutil.Probe(t, f, true) {
		frames, err := strconv.Atoi(st.NbFrames)
		require.NoError(t, err)
		out[st.CodecName] = frames
		if st.CodecType == "video" {
			require.Equal(t, testutil.ClipWidth, st.Width)
			require.Equal(t, testutil.ClipHeight, st.Height)
		}
	}
	return out
}

// TestRealClipPlays cuts a real ffmpeg clip and checks with ffprobe that init + segments decode to every
// frame of it, that the parts are the same bytes as the segments, and that MPEG-TS segments decode
// alone.
func TestRealClipPlays(t *testing.T) {
	tracks, units := readClip(t, testutil.Clip(t, "ts"))
	require.Len(t, tracks, 2)

	for _, tc := range []struct {
		name       string
		format     string
		lowLatency bool
		ext        string
	}{
		{"low latency", segmenter.FormatFMP4, true, ".mp4"},
		{"classic fmp4", segmenter.FormatFMP4, false, ".mp4"},
		{"mpegts", segmenter.FormatMPEGTS, false, ".ts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			init, segs, parts := cut(t, segmenter.Config{Tracks: tracks, Format: tc.format, LowLatency: tc.lowLatency}, units)
			require.Len(t, segs, 10, "a 10 s clip with 1 s GOPs")
			all := init
			for _, s := range segs {
				all = append(all, bytesOf(t, s)...)
			}
			if tc.lowLatency {
				require.Equal(t, all[len(init):], parts)
			}
			frames := probeFrames(t, "all"+tc.ext, all)
			require.Equal(t, 10*testutil.ClipFPS, frames["h264"], "every video frame of the clip")
			require.InDelta(t, 10*44100/1024, frames["aac"], 3, "every audio frame of the clip")

			if tc.format != segmenter.FormatMPEGTS {
				return
			}
			require.Nil(t, init)
			audio := 0
			for _, s := range segs {
				alone := probeFrames(t, s.Name, bytesOf(t, s))
				require.Equal(t, testutil.ClipFPS, alone["h264"], "segment %s alone", s.Name)
				audio += alone["aac"]
			}
			// audio follows the publisher's interleaving, so a segment holds more or less than a second of it
			require.Equal(t, frames["aac"], audio, "the segments decoded one by one give every audio frame")
		})
	}
}

// TestRealClipHEVCOpusMPEGTS: H.265 and Opus, as SRT publishers send them, in MPEG-TS segments.
func TestRealClipHEVCOpusMPEGTS(t *testing.T) {
	testutil.RequireFFmpeg(t)
	clip := filepath.Join(t.TempDir(), "hevc.ts")
	out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=%d", testutil.ClipWidth, testutil.ClipHeight, testutil.ClipFPS),
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "3",
		"-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "keyint=25:min-keyint=25:scenecut=0:bframes=0:log-level=error",
		"-c:a", "libopus", "-b:a", "48k", "-ac", "2", "-f", "mpegts", clip).CombinedOutput()
	require.NoError(t, err, "encoding: %s", out)
	tracks, units := readClip(t, clip)
	require.Len(t, tracks, 2)

	_, segs, _ := cut(t, segmenter.Config{Tracks: tracks, Format: segmenter.FormatMPEGTS}, units)
	require.Len(t, segs, 3)
	var all []byte
	audio := 0
	for _, s := range segs {
		all = append(all, bytesOf(t, s)...)
		alone := probeFrames(t, s.Name, bytesOf(t, s))
		require.Equal(t, testutil.ClipFPS, alone["hevc"], "segment %s alone", s.Name)
		audio += alone["opus"]
	}
	frames := probeFrames(t, "all.ts", all)
	require.Equal(t, 3*testutil.ClipFPS, frames["hevc"])
	require.InDelta(t, 150, frames["opus"], 2, "3 s of 20 ms frames")
	require.Equal(t, frames["opus"], audio, "the segments decoded one by one give every audio frame")
}
