package transcode

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/media/stream"
	"github.com/nagare-video/nagare/internal/vod/ladder"
)

// A 1920x1080 baseline SPS (pic_order_cnt_type 2: decode order is presentation order).
var testSPS = []byte{
	0x67, 0x42, 0xc0, 0x28, 0xd9, 0x00, 0x78, 0x02, 0x27, 0xe5, 0x84, 0x00, 0x00, 0x03, 0x00, 0x04,
	0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x60, 0xc9, 0x20,
}

// collector keeps the units of the one stream published in a registry; done is closed when it ended
// and every unit was taken.
type collector struct {
	stream.Registry
	units []*stream.Unit
	done  chan struct{}
}

func (c *collector) StreamStarted(st *stream.Stream) {
	r := st.AddReader("test", 4096)
	go func() {
		defer close(c.done)
		for u := range r.Units() {
			c.units = append(c.units, u)
		}
	}()
}
func (c *collector) StreamEnded(*stream.Stream) {}

// TestTSRoundTrip writes a stream as MPEG-TS (WriteTS) and publishes it back (PublishTS), as an origin and
// a transcoder node do across the network: every unit arrives with its presentation time unchanged, from
// the first keyframe on, parameter sets in band, audio too; times past the 33-bit wrap of MPEG-TS too.
func TestTSRoundTrip(t *testing.T) {
	for _, start := range []time.Duration{0, 26*time.Hour + 30*time.Minute + 30*time.Second} { // crosses 2^33 / 90 kHz (26 h 30 min 33 s) mid-run
		t.Run(start.String(), func(t *testing.T) {
			video := &stream.Track{Codec: &stream.H264{SPS: testSPS, PPS: []byte{0x68, 0xce, 0x38, 0x80}}}
			audio := &stream.Track{Codec: &stream.MPEG4Audio{Config: mpeg4audio.AudioSpecificConfig{
				Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 48000, ChannelCount: 2}}}
			var src stream.Registry
			st, err := src.Publish(stream.PublishRequest{Path: stream.Path{App: "live", Name: "src"}, Tracks: []*stream.Track{video, audio}})
			require.NoError(t, err)
			reader := st.AddReader("ts", TSQueue)

			dst := &collector{done: make(chan struct{})}
			dst.AddListener(dst)
			pr, pw := io.Pipe()
			published := make(chan error, 1)
			go func() {
				published <- PublishTS(&dst.Registry, pr, Publication{Path: stream.Path{App: "live", Name: "copy"}}, slog.New(slog.DiscardHandler))
			}()
			written := make(chan error, 1)
			go func() {
				err := WriteTS(context.Background(), st, reader, pw, nil)
				pw.CloseWithError(err)
				written <- err
			}()

			var want []time.Duration
			st.Write(&stream.Unit{Track: video, PTS: start, Payload: [][]byte{{0x41, 0x9a, 0x00}}}) // before any keyframe: skipped
			for i := 1; i <= 100; i++ {
				pts := start + time.Duration(i)*40*time.Millisecond
				au := [][]byte{{0x41, 0x9a, byte(i)}}
				if i%25 == 1 {
					au = [][]byte{{0x65, 0x88, byte(i)}} // an IDR without its parameter sets: they are added
				}
				st.Write(&stream.Unit{Track: video, PTS: pts, Payload: au})
				want = append(want, pts)
				st.Write(&stream.Unit{Track: audio, PTS: pts + 5*time.Millisecond, Payload: [][]byte{{0x21, 0x10, byte(i)}}})
			}
			src.Unpublish(st)
			require.NoError(t, <-written)
			require.NoError(t, <-published)

			<-dst.done
			var got []time.Duration
			audioUnits := 0
			for _, u := range dst.units {
				if _, ok := u.Track.Codec.(*stream.H264); ok {
					got = append(got, u.PTS)
					if len(got) == 1 {
						require.True(t, stream.IsH264RandomAccess(u.Payload))
						require.True(t, slices.ContainsFunc(u.Payload, func(n []byte) bool { return n[0]&0x1f == 7 }), "the SPS is in band")
					}
				} else {
					audioUnits++
				}
			}
			require.Equal(t, want, got, "every video unit, its time unchanged")
			require.Positive(t, audioUnits)
		})
	}
}

// TestVariantsOf: rungs taller than the source are left out, and with the passthrough those as tall as
// it; sizes follow its aspect ratio.
func TestVariantsOf(t *testing.T) {
	l := ladder.Ladder{AudioBitrate: 128_000, Passthrough: true, Rungs: []ladder.Rung{
		{Name: "720p", Height: 720, VideoBitrate: 2_500_000}, {Name: "480p", Height: 480, VideoBitrate: 1_000_000},
		{Name: "360p", Height: 360, VideoBitrate: 600_000}}}
	size := func(vs []ladder.Variant) (out [][3]any) {
		for _, v := range vs {
			out = append(out, [3]any{v.Name, v.Width, v.Height})
		}
		return out
	}
	require.Equal(t, [][3]any{{"480p", 854, 480}, {"360p", 640, 360}}, size(variantsOf(l, 1280, 720)), "720p: its own rung is the source")
	require.Equal(t, [][3]any{{"720p", 1280, 720}, {"480p", 854, 480}, {"360p", 640, 360}}, size(variantsOf(l, 1920, 1080)))
	require.Equal(t, [][3]any{{"480p", 480, 854}, {"360p", 360, 640}}, size(variantsOf(l, 720, 1280)), "portrait")
	require.Empty(t, variantsOf(l, 320, 240), "smaller than every rung")

	// without the passthrough, the rung of the source's own height is made: the source is not offered
	l.Passthrough = false
	require.Equal(t, [][3]any{{"720p", 1280, 720}, {"480p", 854, 480}, {"360p", 640, 360}}, size(variantsOf(l, 1280, 720)))
	require.Empty(t, variantsOf(l, 320, 240), "never upscaled")
}
