package segmenter

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"
	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/media/stream"
)

// A 1920x1080 baseline SPS with pic_order_cnt_type 2 (decode order = presentation order), so that
// synthetic slices of two bytes are enough for the DTS extractor.
var (
	testSPS = []byte{
		0x67, 0x42, 0xc0, 0x28, 0xd9, 0x00, 0x78, 0x02,
		0x27, 0xe5, 0x84, 0x00, 0x00, 0x03, 0x00, 0x04,
		0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x60, 0xc9,
		0x20,
	}
	testPPS = []byte{0x08}
	t0      = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
)

func h264Track() *stream.Track {
	return &stream.Track{Codec: &stream.H264{SPS: testSPS, PPS: testPPS}}
}

func aacTrack() *stream.Track {
	return &stream.Track{Codec: &stream.MPEG4Audio{Config: mpeg4audio.AudioSpecificConfig{
		Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 44100, ChannelCount: 2,
	}}}
}

// videoUnit is frame i of a 25 fps stream with an IDR every gop frames (SPS and PPS in front, as ingest
// puts them).
func videoUnit(tr *stream.Track, i, gop int) *stream.Unit {
	pts := time.Duration(i) * 40 * time.Millisecond
	au := [][]byte{{0x41, byte(i), 0xAA}}
	if i%gop == 0 {
		au = [][]byte{testSPS, testPPS, {0x65, byte(i), 0xBB}}
	}
	return &stream.Unit{Track: tr, NTP: t0.Add(pts), PTS: pts, Payload: au}
}

// audioUnit is AAC frame i (1024 samples at 44.1 kHz).
func audioUnit(tr *stream.Track, i int) *stream.Unit {
	pts := time.Duration(i) * 1024 * time.Second / 44100
	return &stream.Unit{Track: tr, NTP: t0.Add(pts), PTS: pts, Payload: [][]byte{{0x21, byte(i), 0x01}}}
}

// feed writes video frames [from, to) with a GOP of gop frames, interleaving AAC frames when audio is
// not nil, in timestamp order.
func feed(t testing.TB, s *Segmenter, video, audio *stream.Track, from, to, gop int) {
	t.Helper()
	feedUnits(video, audio, from, to, gop, func(u *stream.Unit, _ int) { require.NoError(t, s.Write(u)) })
}

// feedUnits hands write what feed writes, unit by unit, each with the index of the video frame it is or
// precedes: for a test that alters or drops some on the way.
func feedUnits(video, audio *stream.Track, from, to, gop int, write func(u *stream.Unit, i int)) {
	ai := 0
	if audio != nil {
		ai = int(int64(from) * 40 * 44100 / 1000 / 1024)
	}
	for i := from; i < to; i++ {
		v := videoUnit(video, i, gop)
		for audio != nil {
			a := audioUnit(audio, ai)
			if a.PTS > v.PTS {
				break
			}
			write(a, i)
			ai++
		}
		write(v, i)
	}
}

// recorder is an Observer that checks the event order and keeps every object.
type recorder struct {
	t       testing.TB
	mu      sync.Mutex
	events  []string
	objects map[string][]byte
	inits   []string // names of the init sections, in order
	parts   []Part
	segs    []Segment
	pls     []*Playlist
	ended   *Playlist
}

func newRecorder(t testing.TB) *recorder {
	return &recorder{t: t, objects: map[string][]byte{}}
}

// dataOf returns the bytes of a part or a segment.
func dataOf(t testing.TB, o interface{ Bytes() ([]byte, error) }) []byte {
	t.Helper()
	b, err := o.Bytes()
	require.NoError(t, err)
	return b
}

func (r *recorder) observer() Observer {
	return Funcs{
		OnInit: func(name string, data []byte) {
			r.mu.Lock()
			defer r.mu.Unlock()
			if len(r.inits) == 0 {
				require.Empty(r.t, r.objects, "init must come first")
			}
			require.NotContains(r.t, r.objects, name, "an init section is made once")
			r.events = append(r.events, "init")
			r.objects[name] = data
			r.inits = append(r.inits, name)
		},
		OnPart: func(p Part) {
			r.mu.Lock()
			defer r.mu.Unlock()
			require.Contains(r.t, r.objects, names{prefix: strings.SplitN(p.Name, "_", 2)[0]}.init(1), "part before init")
			r.events = append(r.events, fmt.Sprintf("part %d.%d", p.MSN, p.Index))
			p = p.WithBytes(dataOf(r.t, p)) // kept: its memory file may be freed before the test reads it
			r.objects[p.Name] = dataOf(r.t, p)
			r.parts = append(r.parts, p)
		},
		OnSegmentComplete: func(s Segment) {
			r.mu.Lock()
			defer r.mu.Unlock()
			for _, p := range s.Parts {
				prev, ok := r.objects[p.Name]
				require.True(r.t, ok, "part %s of segment %s was never announced", p.Name, s.Name)
				require.Equal(r.t, prev, dataOf(r.t, p), "part %s changed", p.Name)
			}
			if s.InitName != "" {
				require.Contains(r.t, r.objects, s.InitName, "segment %s before its init section", s.Name)
			}
			r.events = append(r.events, fmt.Sprintf("segment %d", s.MSN))
			s = s.WithBytes(dataOf(r.t, s))
			s.Parts = slices.Clone(s.Parts)
			for i, p := range s.Parts {
				s.Parts[i] = p.WithBytes(dataOf(r.t, p))
			}
			r.objects[s.Name] = dataOf(r.t, s)
			r.segs = append(r.segs, s)
		},
		OnPlaylistChanged: func(pl *Playlist) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.events = append(r.events, "playlist")
			r.pls = append(r.pls, pl)
			// every URI the playlist names exists already (the preload hint names the part to come): no
			// placeholder, from the first playlist on
			for _, u := range playlistURIs(pl.Media(MediaOptions{})) {
				require.Contains(r.t, r.objects, u, "the playlist names an object the observer never got")
			}
		},
		OnEnded: func(pl *Playlist) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.events = append(r.events, "ended")
			r.ended = pl
		},
	}
}

var uriRE = regexp.MustCompile(`URI="([^"]+)"`)

// playlistURIs returns the URIs of a media playlist, except the preload hint's.
func playlistURIs(b []byte) []string {
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case line == "":
		case strings.HasPrefix(line, "#EXT-X-PRELOAD-HINT"):
		case strings.HasPrefix(line, "#"):
			if m := uriRE.FindStringSubmatch(line); m != nil {
				out = append(out, m[1])
			}
		default:
			out = append(out, line)
		}
	}
	return out
}

// decoded is one fMP4 fragment's tracks as read back.
type decoded struct {
	tracks map[int]*fmp4.PartTrack
}

// readFragments reads back the moof/mdat pairs of a segment or part.
func readFragments(t testing.TB, b []byte) []decoded {
	t.Helper()
	var ps fmp4.Parts
	require.NoError(t, ps.Unmarshal(b))
	var out []decoded
	for _, p := range ps {
		d := decoded{tracks: map[int]*fmp4.PartTrack{}}
		for _, pt := range p.Tracks {
			d.tracks[pt.ID] = pt
		}
		out = append(out, d)
	}
	return out
}

// trackSamples returns the samples of track id in b, with their decode times.
func trackSamples(t testing.TB, b []byte, id int) (samples []*fmp4.Sample, dts []uint64) {
	t.Helper()
	for _, f := range readFragments(t, b) {
		pt := f.tracks[id]
		if pt == nil {
			continue
		}
		d := pt.BaseTime
		for _, s := range pt.Samples {
			samples = append(samples, s)
			dts = append(dts, d)
			d += uint64(s.Duration)
		}
	}
	return samples, dts
}

// tsPES is a PES packet read back from MPEG-TS: a video access unit or a group of audio frames.
type tsPES struct {
	pts, dts int64
	units    [][]byte // NAL units or audio frames
}

// checkTSPackets checks that b is made of whole TS packets and starts with PAT, PMT and the start of a
// PES packet of the leading track.
func checkTSPackets(t testing.TB, b []byte) {
	t.Helper()
	require.Zero(t, len(b)%188, "whole TS packets")
	require.GreaterOrEqual(t, len(b), 3*188)
	for i := 0; i < len(b); i += 188 {
		require.Equal(t, byte(0x47), b[i], "sync byte of packet %d", i/188)
	}
	pid := func(i int) int { return int(b[i*188+1]&0x1f)<<8 | int(b[i*188+2]) }
	require.Equal(t, []int{0, 4096, 256}, []int{pid(0), pid(1), pid(2)}, "PAT, PMT, then the leading track")
	require.NotZero(t, b[2*188+1]&0x40, "a PES packet starts")
}

// readTS reads an MPEG-TS segment alone, as a player that starts with it does (the reader wants a PES
// packet of every track).
func readTS(t testing.TB, b []byte) (video, audio []tsPES) {
	t.Helper()
	checkTSPackets(t, b)
	r := &mpegts.Reader{R: bytes.NewReader(b)}
	require.NoError(t, r.Initialize())
	r.OnDecodeError(func(err error) { t.Errorf("decoding MPEG-TS: %v", err) })
	for _, tr := range r.Tracks() {
		switch tr.Codec.(type) {
		case *tscodecs.H264:
			r.OnDataH264(tr, func(pts, dts int64, au [][]byte) error {
				video = append(video, tsPES{pts, dts, au})
				return nil
			})
		case *tscodecs.MPEG4Audio:
			r.OnDataMPEG4Audio(tr, func(pts int64, aus [][]byte) error {
				audio = append(audio, tsPES{pts, pts, aus})
				return nil
			})
		default:
			t.Fatalf("unexpected track %T", tr.Codec)
		}
	}
	for {
		err := r.Read()
		if errors.Is(err, io.EOF) {
			return video, audio
		}
		require.NoError(t, err)
	}
}

// newAV starts a segmenter of a video and an AAC track that keeps 100 segments, and its recorder.
func newAV(t testing.TB, format string, lowLatency bool) (s *Segmenter, rec *recorder, video, audio *stream.Track) {
	t.Helper()
	rec = newRecorder(t)
	video, audio = h264Track(), aacTrack()
	s, err := New(Config{Tracks: []*stream.Track{video, audio}, Format: format, LowLatency: lowLatency,
		Prefix: "p", SegmentCount: 100, Observer: rec.observer()})
	require.NoError(t, err)
	return s, rec, video, audio
}

// avChecker checks objects (the segments, or the parts) one after the other: each starts its audio with
// its video (less than a frame after it; a tick before at most, by which the audio's timeline was kept
// continuous), the audio runs on from where the object before ended, and its frames come in order, none
// twice; skipped counts the frames missing (one at a time: frames the source lacked).
type avChecker struct {
	t        testing.TB
	next     int   // the payload counter of the next audio frame; -1 before the first object
	audioEnd int64 // where the audio of the object before ended, in ticks
	skipped  int
	// early is how much before the video the audio may start beyond the tick (0 but for audio that
	// arrives late, which the segmenter lets end up to interleaveSlack short of a cut)
	early time.Duration
}

func newAVChecker(t testing.TB) *avChecker { return &avChecker{t: t, next: -1} }

func (c *avChecker) check(what string, b []byte) {
	t := c.t
	t.Helper()
	const frame = 1024.0 / 44100
	vs, vd := trackSamples(t, b, 1)
	as, ad := trackSamples(t, b, 2)
	require.NotEmpty(t, vs, what)
	require.NotEmpty(t, as, what)
	if c.next >= 0 {
		require.Equal(t, c.audioEnd, int64(ad[0]), "%s: audio starts where the part before ended", what)
	}
	c.audioEnd = int64(ad[len(ad)-1]) + int64(as[len(as)-1].Duration)
	vStart, aStart := float64(vd[0])/90000, float64(ad[0])/44100
	require.GreaterOrEqual(t, aStart, vStart-1.0/44100-c.early.Seconds()-1e-9, "%s: audio starts before the video", what)
	require.Less(t, aStart, vStart+frame, "%s: audio starts a frame or more after the video", what)
	for _, a := range as {
		if c.next >= 0 && byte(c.next) != a.Payload[1] {
			require.Equal(t, byte(c.next+1), a.Payload[1], "%s: audio frames in order, none lost or twice", what)
			c.skipped++
		}
		c.next = int(a.Payload[1]) + 1
	}
}
