package hls

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"
	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/media/stream"
	"github.com/nagare-video/nagare/internal/media/viewers"
	"github.com/nagare-video/nagare/internal/testutil/fftest"
)

// A 640x360 baseline SPS and PPS from x264: what an encoder reconfigured mid-stream sends.
var (
	testSPS2 = []byte{
		0x67, 0x42, 0xc0, 0x1e, 0xd9, 0x00, 0xa0, 0x2f, 0xf9, 0x70, 0x11, 0x00, 0x00, 0x03, 0x00, 0x01,
		0x00, 0x00, 0x03, 0x00, 0x32, 0x0f, 0x16, 0x2e, 0x48,
	}
	testPPS2 = []byte{0x68, 0xcb, 0x83, 0xcb, 0x20}
)

// TestParameterChangeServing: after the publisher's encoder changes resolution, viewers get a
// multivariant playlist of the new one, a media playlist that starts a discontinuity with the new init
// section (with their session in its URI), and both init sections.
func TestParameterChangeServing(t *testing.T) {
	ls := startLive(t, VariantLowLatency, nil)
	prefix := ls.muxer().seg.Prefix()
	ls.frames(50)
	a := ls.get("index.m3u8", viewers.RelayHeader, "1")
	require.Contains(t, a.body, `CODECS="avc1.42c028",RESOLUTION=1920x1080`)

	ls.params = [][]byte{testSPS2, testPPS2}
	ls.frames(31) // segment 1 ends at frame 50, 2 follows the discontinuity, two parts of 3
	a = ls.get("index.m3u8", viewers.RelayHeader, "1")
	require.Contains(t, a.body, `CODECS="avc1.42c01e",RESOLUTION=640x360`, "the new parameters")

	pl := ls.get("video1_stream.m3u8?token=abc")
	require.Equal(t, http.StatusOK, pl.code)
	require.Contains(t, pl.body, `#EXT-X-MAP:URI="`+prefix+`_init.mp4?token=abc"`+"\n")
	require.Contains(t, pl.body, prefix+"_seg1.mp4?token=abc\n#EXT-X-DISCONTINUITY\n"+
		`#EXT-X-MAP:URI="`+prefix+`_init2.mp4?token=abc"`+"\n")
	require.Equal(t, 1, strings.Count(pl.body, "#EXT-X-DISCONTINUITY\n"))
	require.Contains(t, ls.get("video1_stream.m3u8").body, `#EXT-X-MAP:URI="`+prefix+`_init2.mp4"`+"\n")

	for _, tc := range []struct {
		name string
		code int
	}{
		{prefix + "_init.mp4", http.StatusOK}, // segments 0 and 1 still need it
		{prefix + "_init2.mp4", http.StatusOK},
		{prefix + "_init3.mp4", http.StatusNotFound},
		{prefix + "_init1.mp4", http.StatusNotFound},
	} {
		a := ls.get(tc.name)
		require.Equal(t, tc.code, a.code, tc.name)
		if tc.code == http.StatusOK {
			require.Equal(t, "video/mp4", a.header.Get("Content-Type"))
		}
	}
}

// TestParameterChangePlays publishes two real clips of different sizes back to back on one stream and
// decodes what each variant serves with ffprobe: every frame listed, at the size of its clip.
func TestParameterChangePlays(t *testing.T) {
	fftest.Require(t)
	small, large := fftest.EncodeClip(t, "h264", 320, 240, 70), fftest.EncodeClip(t, "h264", 640, 360, 75)
	for _, variant := range []string{VariantLowLatency, VariantFMP4, VariantMPEGTS} {
		t.Run(variant, func(t *testing.T) {
			ls := startLive(t, variant, nil) // its track's out-of-band parameters are replaced at the first IDR
			end := time.Duration(0)
			for _, clip := range []string{small, large} {
				for _, u := range readVideo(t, clip, end) {
					u.Track = ls.video
					ls.st.Write(u)
					end = max(end, u.PTS+40*time.Millisecond)
				}
			}
			ls.frames(0) // wait until the muxer took every frame

			a := ls.get("index.m3u8", viewers.RelayHeader, "1")
			require.Contains(t, a.body, "RESOLUTION=640x360")

			// a live playlist is played from its live edge, for ever: a proxy ends it, so that ffprobe
			// reads every segment it lists
			proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				resp, err := http.Get(ls.http.URL + r.URL.RequestURI())
				if err != nil {
					http.Error(w, err.Error(), http.StatusBadGateway)
					return
				}
				defer resp.Body.Close()
				w.WriteHeader(resp.StatusCode)
				_, _ = io.Copy(w, resp.Body)
				if strings.HasSuffix(r.URL.Path, ".m3u8") && resp.StatusCode == http.StatusOK {
					_, _ = io.WriteString(w, "#EXT-X-ENDLIST\n")
				}
			}))
			defer proxy.Close()
			// the segments of the first clip, and the first two of the second (the third is being written)
			require.Equal(t, map[string]int{"320x240": 70, "640x360": 50}, fftest.FrameSizes(t, proxy.URL+"/live/s/video1_stream.m3u8"))
		})
	}
}

// readVideo reads the H.264 access units of an MPEG-TS file as units starting at start.
func readVideo(t *testing.T, path string, start time.Duration) []*stream.Unit {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	r := &mpegts.Reader{R: bufio.NewReader(f)}
	require.NoError(t, r.Initialize())
	td := mpegts.NewTimeDecoder()
	var units []*stream.Unit
	for _, tt := range r.Tracks() {
		if _, ok := tt.Codec.(*tscodecs.H264); ok {
			r.OnDataH264(tt, func(pts, _ int64, au [][]byte) error {
				d := time.Duration(td.Decode(pts)) * time.Second / 90000
				units = append(units, &stream.Unit{NTP: time.Now(), PTS: d, Payload: au, Size: 1})
				return nil
			})
		}
	}
	for {
		if err := r.Read(); err != nil {
			require.True(t, errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF), "reading %s: %v", path, err)
			break
		}
	}
	require.NotEmpty(t, units)
	first := units[0].PTS
	for _, u := range units {
		u.PTS += start - first
	}
	return units
}
