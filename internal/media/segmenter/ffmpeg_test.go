package segmenter_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
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
		case *tscodecs.MPEG4Audio:
			st := &stream.Track{Codec: &stream.MPEG4Audio{Config: c.Config}}
			tracks = append(tracks, st)
			r.OnDataMPEG4Audio(tt, func(pts int64, aus [][]byte) error {
				units = append(units, &stream.Unit{Track: st, NTP: time.Now(), PTS: ticks(td.Decode(pts)), Payload: aus})
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

// TestRealClipPlays cuts a real ffmpeg clip and checks with ffprobe that init + segments decode to every
// frame of it, and that the parts are the same bytes as the segments.
func TestRealClipPlays(t *testing.T) {
	tracks, units := readClip(t, testutil.Clip(t, "ts"))
	require.Len(t, tracks, 2)

	for _, lowLatency := range []bool{true, false} {
		t.Run("lowLatency="+strconv.FormatBool(lowLatency), func(t *testing.T) {
			var init []byte
			var segs, parts bytes.Buffer
			var segCount int
			s, err := segmenter.New(segmenter.Config{
				Tracks: tracks, LowLatency: lowLatency,
				Observer: segmenter.Funcs{
					OnInit: func(_ string, data []byte) { init = data },
					OnPart: func(p segmenter.Part) { parts.Write(p.Data) },
					OnSegmentComplete: func(s segmenter.Segment) {
						segCount++
						segs.Write(s.Data)
						if s.MSN > 0 && s.Duration < 900*time.Millisecond {
							t.Errorf("segment %d lasts %s", s.MSN, s.Duration)
						}
					},
				},
			})
			require.NoError(t, err)
			for _, u := range units {
				require.NoError(t, s.Write(u))
			}
			s.Close()
			require.InDelta(t, 10, segCount, 1, "a 10 s clip with 1 s GOPs")
			if lowLatency {
				require.Equal(t, segs.Bytes(), parts.Bytes())
			}

			f := filepath.Join(t.TempDir(), "all.mp4")
			require.NoError(t, os.WriteFile(f, append(init, segs.Bytes()...), 0o644))
			streams := testutil.Probe(t, f, true)
			require.Len(t, streams, 2)
			for _, st := range streams {
				frames, err := strconv.Atoi(st.NbFrames)
				require.NoError(t, err)
				switch st.CodecType {
				case "video":
					require.Equal(t, "h264", st.CodecName)
					require.Equal(t, testutil.ClipWidth, st.Width)
					require.Equal(t, testutil.ClipHeight, st.Height)
					require.Equal(t, 10*testutil.ClipFPS, frames, "every video frame of the clip")
				case "audio":
					require.Equal(t, "aac", st.CodecName)
					require.InDelta(t, 10*44100/1024, frames, 3, "every audio frame of the clip")
				}
			}
		})
	}
}
