package segmenter_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	mp4codecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"
	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/media/segmenter"
	"github.com/nagare-video/nagare/internal/media/stream"
	"github.com/nagare-video/nagare/internal/testutil"
	"github.com/nagare-video/nagare/internal/testutil/fftest"
)

// joinClips reads clips and returns them as one stream, back to back, as a publisher whose encoder is
// reconfigured without reconnecting sends them: the later clips' units on the first one's tracks and
// timeline.
func joinClips(t *testing.T, clips ...string) ([]*stream.Track, []*stream.Unit) {
	t.Helper()
	var tracks []*stream.Track
	var units []*stream.Unit
	var end time.Duration // of what was joined so far
	for _, c := range clips {
		tr, us := readClip(t, c)
		if tracks == nil {
			tracks = tr
		}
		require.Len(t, tr, len(tracks))
		same := map[*stream.Track]*stream.Track{}
		for i := range tr {
			require.IsType(t, tracks[i].Codec, tr[i].Codec)
			same[tr[i]] = tracks[i]
		}
		start := us[0].PTS
		for _, u := range us {
			start = min(start, u.PTS)
		}
		shift := end - start
		for _, u := range us {
			u.Track = same[u.Track]
			u.PTS += shift
			end = max(end, u.PTS+time.Second/testutil.ClipFPS) // no frame of either track lasts longer
		}
		units = append(units, us...)
	}
	return tracks, units
}

// TestParameterChangePlays publishes two real clips of different sizes back to back, as one stream,
// and checks that the served playlist decodes to every frame of both at the right size, and that each
// init section describes the segments that need it.
func TestParameterChangePlays(t *testing.T) {
	testutil.RequireFFmpeg(t)
	const frames1, frames2 = 70, 75 // the first clip ends 0.8 s after a keyframe: a short segment
	for _, codec := range []string{"h264", "hevc"} {
		small, large := fftest.EncodeClip(t, codec, 320, 240, frames1), fftest.EncodeClip(t, codec, 640, 360, frames2)
		want := map[string]int{"320x240": frames1, "640x360": frames2}
		require.Equal(t, map[string]int{"320x240": frames1}, fftest.FrameSizes(t, small))
		require.Equal(t, map[string]int{"640x360": frames2}, fftest.FrameSizes(t, large))
		sizes := []string{"320x240", "640x360"}

		for _, tc := range []struct {
			name       string
			format     string
			lowLatency bool
		}{
			{"low latency", segmenter.FormatFMP4, true},
			{"classic fmp4", segmenter.FormatFMP4, false},
			{"mpegts", segmenter.FormatMPEGTS, false},
		} {
			t.Run(codec+"/"+tc.name, func(t *testing.T) {
				tracks, units := joinClips(t, small, large)
				var events []string
				objects := map[string][]byte{}
				var variants []segmenter.Variant
				s, err := segmenter.New(segmenter.Config{
					Tracks: tracks, Format: tc.format, LowLatency: tc.lowLatency, SegmentCount: 100, Prefix: "p",
					Observer: segmenter.Funcs{
						OnInit: func(name string, data []byte) {
							events = append(events, name)
							objects[name] = data
						},
						OnPart: func(p segmenter.Part) { events = append(events, p.Name) },
						OnSegmentComplete: func(s segmenter.Segment) {
							events = append(events, s.Name)
							objects[s.Name] = bytesOf(t, s)
						},
						OnPlaylistChanged: func(pl *segmenter.Playlist) { variants = append(variants, pl.Variant("v.m3u8")) },
					},
				})
				require.NoError(t, err)
				for _, u := range units {
					require.NoError(t, s.Write(u))
				}
				s.Close()

				pl := s.Playlist()
				segs := pl.Segments()
				require.Len(t, segs, 6, "3 + 3 segments, the third one short")
				require.Less(t, segs[2].Duration, time.Second, "cut by the change before the minimum duration")
				inits := []string{"p_init.mp4", "p_init2.mp4"}
				if tc.format == segmenter.FormatMPEGTS {
					inits = []string{"", ""}
				}
				for i, sg := range segs {
					require.Equal(t, i == 3, sg.Discontinuity, "segment %d", i)
					require.Equal(t, inits[i/3], sg.InitName, "segment %d", i)
				}
				require.Equal(t, "640x360", variants[len(variants)-1].Resolution)
				require.Equal(t, "320x240", variants[0].Resolution)
				require.NotEqual(t, variants[0].Codecs[0], variants[len(variants)-1].Codecs[0], "a higher level")

				text := string(pl.Media(segmenter.MediaOptions{}))
				require.Equal(t, 1, strings.Count(text, "#EXT-X-DISCONTINUITY\n"), text)
				if tc.format == segmenter.FormatMPEGTS {
					require.NotContains(t, text, "MAP")
					require.Contains(t, text, "p_seg2.ts\n#EXT-X-DISCONTINUITY\n")
				} else {
					require.Equal(t, []string{"p_init.mp4"}, events[:1])
					// the new init section comes between the last segment of the old and the new objects
					last := slices.Index(events, segs[2].Name)
					require.Equal(t, "p_init2.mp4", events[last+1], events)
					require.NotContains(t, events[:last], "p_init2.mp4")
					require.True(t, strings.HasPrefix(events[last+2], "p_part"+fmt.Sprint(segs[3].MSN)+"_0") ||
						events[last+2] == segs[3].Name, events)
					require.Contains(t, text, "#EXT-X-MAP:URI=\"p_init.mp4\"\n")
					require.Contains(t, text, segs[2].Name+"\n#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"p_init2.mp4\"\n")
					require.Equal(t, []string{"p_init.mp4", "p_init2.mp4"}, pl.InitNames())

					// each init section declares its half's size, and decodes with its segments alone (ffprobe
					// takes the size from an in-band SPS where there is one: hence the first check)
					for half, name := range inits {
						require.Equal(t, sizes[half], initSize(t, objects[name]), name)
						var file []byte
						file = append(file, objects[name]...)
						for _, sg := range segs[half*3 : half*3+3] {
							file = append(file, objects[sg.Name]...)
						}
						st := probeFile(t, "half.mp4", file)
						require.Equal(t, sizes[half], fmt.Sprintf("%dx%d", st.Width, st.Height), name)
						require.Equal(t, strconv.Itoa(want[sizes[half]]), st.NbFrames, name)
					}
				}

				// with a window of two segments, the discontinuity leaves it at the end: the header counts it
				// and names the new init section alone
				win, err := segmenter.New(segmenter.Config{Tracks: tracks, Format: tc.format, LowLatency: tc.lowLatency,
					SegmentCount: 2, Prefix: "q"})
				require.NoError(t, err)
				for _, u := range units {
					require.NoError(t, win.Write(u))
				}
				before := string(win.Playlist().Media(segmenter.MediaOptions{}))
				require.Contains(t, before, "#EXT-X-DISCONTINUITY\n", "segments 3 and 4 are listed")
				require.NotContains(t, before, "DISCONTINUITY-SEQUENCE")
				win.Close()
				after := string(win.Playlist().Media(segmenter.MediaOptions{}))
				require.Contains(t, after, "#EXT-X-DISCONTINUITY-SEQUENCE:1\n", "segments 4 and 5 are listed")
				require.NotContains(t, after, "#EXT-X-DISCONTINUITY\n")
				if tc.format != segmenter.FormatMPEGTS {
					require.Contains(t, after, "#EXT-X-MAP:URI=\"q_init2.mp4\"\n")
					require.NotContains(t, after, "q_init.mp4")
				}

				// what a player gets from the served playlist
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					name := strings.TrimPrefix(r.URL.Path, "/")
					if name == "media.m3u8" {
						_, _ = w.Write(s.Playlist().Media(segmenter.MediaOptions{}))
						return
					}
					o, err := s.Object(r.Context(), name)
					if err != nil {
						http.NotFound(w, r)
						return
					}
					b, err := o.Bytes()
					require.NoError(t, err)
					w.Header().Set("Content-Type", o.ContentType)
					_, _ = w.Write(b)
				}))
				defer srv.Close()
				require.Equal(t, want, fftest.FrameSizes(t, srv.URL+"/media.m3u8"))
			})
		}
	}
}

// initSize returns the video size an init section declares in its parameter sets.
func initSize(t *testing.T, data []byte) string {
	t.Helper()
	var in fmp4.Init
	require.NoError(t, in.Unmarshal(bytes.NewReader(data)))
	switch c := in.Tracks[0].Codec.(type) {
	case *mp4codecs.H264:
		var sps h264.SPS
		require.NoError(t, sps.Unmarshal(c.SPS))
		return fmt.Sprintf("%dx%d", sps.Width(), sps.Height())
	case *mp4codecs.H265:
		var sps h265.SPS
		require.NoError(t, sps.Unmarshal(c.SPS))
		return fmt.Sprintf("%dx%d", sps.Width(), sps.Height())
	}
	t.Fatalf("no video track first in the init section but %T", in.Tracks[0].Codec)
	return ""
}

// probeFile decodes a file and returns its video stream.
func probeFile(t *testing.T, name string, data []byte) testutil.ProbeStream {
	t.Helper()
	f := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(f, data, 0o644))
	for _, st := range testutil.Probe(t, f, true) {
		if st.CodecType == "video" {
			return st
		}
	}
	t.Fatalf("no video in %s", name)
	return testutil.ProbeStream{}
}
