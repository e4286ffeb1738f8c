package recording_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/media/recording"
	"github.com/nagare-video/nagare/internal/media/segmenter"
	"github.com/nagare-video/nagare/internal/media/stream"
	"github.com/nagare-video/nagare/internal/objstore"
)

var cam = stream.Path{App: "live", Name: "cam"}

// startRecorder runs a recorder over a local store until the test ends.
func startRecorder(t *testing.T, cfg recording.Config) (*recording.Recorder, *objstore.Local) {
	st, err := objstore.NewLocal(t.TempDir())
	require.NoError(t, err)
	rec := recording.New(cfg, st, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rec.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return rec, st
}

// stored plays the storage push: it puts the segment (and its init section) in st and reports it.
func stored(t *testing.T, st *objstore.Local, take *recording.Take, seg segmenter.SegmentInfo, data []byte) {
	t.Helper()
	if seg.InitName != "" {
		put(t, st, seg.InitName, []byte("init:"+seg.InitName))
	}
	put(t, st, seg.Name, data)
	take.Stored(seg, int64(len(data)))
}

func put(t *testing.T, st *objstore.Local, name string, data []byte) {
	t.Helper()
	require.NoError(t, st.Put(context.Background(), "rec/live/cam/"+name, bytes.NewReader(data), int64(len(data)), objstore.PutOptions{}))
}

func info(msn uint64, init string) segmenter.SegmentInfo {
	ext := ".mp4"
	if init == "" {
		ext = ".ts"
	}
	return segmenter.SegmentInfo{MSN: msn, Name: fmt.Sprintf("p_seg%d%s", msn, ext), Duration: time.Second,
		DateTime: time.Date(2026, 11, 21, 10, 0, int(msn), 0, time.UTC), InitName: init}
}

func object(t *testing.T, st *objstore.Local, key string) []byte {
	t.Helper()
	rc, _, err := st.Get(context.Background(), key, nil)
	require.NoError(t, err, key)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	require.NoError(t, err)
	return b
}

// waitManifest waits for the recording manifest key (written again once the MP4 is there) and reads it.
func waitManifest(t *testing.T, st *objstore.Local, key string, withMP4 bool) recording.Manifest {
	t.Helper()
	var m recording.Manifest
	require.Eventually(t, func() bool {
		var err error
		m, err = recording.ReadManifest(context.Background(), st, key)
		return err == nil && (!withMP4 || m.MP4 != "")
	}, 10*time.Second, 5*time.Millisecond, "no manifest %s", key)
	return m
}

// TestStartedAndStoppedMidStream: a recording asked for while a publication is live takes the segments
// completed from then on, is written as soon as it is stopped and its segments are reported, and a
// second one of the same publication gets its own name.
func TestStartedAndStoppedMidStream(t *testing.T) {
	rec, st := startRecorder(t, recording.Config{})
	pub := rec.Start(cam, nil, "rec/live/cam", time.Now())
	require.Nil(t, pub.Take(), "not recorded until asked for")
	require.False(t, rec.Now(cam))

	rec.Set(cam, true)
	require.True(t, rec.Now(cam))
	require.True(t, rec.Next(cam))
	var takes []*recording.Take
	for range 3 {
		takes = append(takes, pub.Take())
	}
	rec.Set(cam, false) // its segments are still being stored: it is written once they are
	require.False(t, rec.Now(cam))
	require.Nil(t, pub.Take())
	for i, take := range takes {
		require.NotNil(t, take)
		stored(t, st, take, info(uint64(i+2), "p_init.mp4"), bytes.Repeat([]byte{1}, 100))
	}
	m := waitManifest(t, st, "rec/live/cam/p_recording.json", false)
	require.Equal(t, 3, m.Segments)
	require.InDelta(t, 3.0, m.Duration, 0.001)
	require.Equal(t, info(2, "").DateTime, m.Start)
	require.Equal(t, int64(300), m.Size)
	require.Empty(t, m.Gaps)
	vod := string(object(t, st, m.Playlist))
	require.Contains(t, vod, "#EXT-X-PLAYLIST-TYPE:VOD\n")
	require.Contains(t, vod, "#EXT-X-MEDIA-SEQUENCE:2\n")
	require.Contains(t, vod, "p_seg4.mp4\n#EXT-X-ENDLIST\n")

	rec.Set(cam, true)
	rec.Set(cam, false) // stopped before a segment: nothing to write, and no name taken
	rec.Set(cam, true)
	take := pub.Take()
	pub.End()
	require.False(t, rec.Now(cam))
	stored(t, st, take, info(6, "p_init.mp4"), []byte("six"))
	m = waitManifest(t, st, "rec/live/cam/p_recording2.json", false)
	require.Equal(t, 1, m.Segments)
}

// TestGapsAreListed: segments reported lost are listed in the manifest and start a discontinuity in the
// playlist; the MP4 holds the init section and every stored segment.
func TestGapsAreListed(t *testing.T) {
	rec, st := startRecorder(t, recording.Config{Record: true, MP4: true})
	pub := rec.Start(cam, nil, "rec/live/cam", time.Now())
	for msn := uint64(1); msn <= 6; msn++ {
		take := pub.Take()
		require.NotNil(t, take, "recorded whole")
		switch msn {
		case 3, 4:
			take.Lost(msn, "storage backlog full")
		case 5:
			take.Lost(msn, "upload failed")
		default:
			stored(t, st, take, info(msn, "p_init.mp4"), bytes.Repeat([]byte{byte(msn)}, 100))
		}
	}
	pub.End()
	m := waitManifest(t, st, "rec/live/cam/p_recording.json", true)
	require.Equal(t, []recording.Gap{{FromMSN: 3, ToMSN: 4, Reason: "storage backlog full"}, {FromMSN: 5, ToMSN: 5, Reason: "upload failed"}}, m.Gaps)
	require.Equal(t, 3, m.Segments)
	vod := string(object(t, st, m.Playlist))
	require.Contains(t, vod, "p_seg2.mp4\n#EXT-X-DISCONTINUITY\n")
	mp4 := object(t, st, m.MP4)
	require.Len(t, mp4, len("init:p_init.mp4")+300)
	require.True(t, bytes.HasPrefix(mp4, []byte("init:p_init.mp4\x01")))
	require.True(t, bytes.HasSuffix(mp4, bytes.Repeat([]byte{6}, 100)))
}

// TestMPEGTS: MPEG-TS segments have no init section; the recording is named after its first segment, its
// playlist has no EXT-X-MAP and there is no MP4.
func TestMPEGTS(t *testing.T) {
	rec, st := startRecorder(t, recording.Config{Record: true, MP4: true})
	pub := rec.Start(cam, nil, "rec/live/cam", time.Now())
	for msn := uint64(1); msn <= 3; msn++ {
		stored(t, st, pub.Take(), info(msn, ""), []byte("ts"))
	}
	pub.End()
	m := waitManifest(t, st, "rec/live/cam/p_recording.json", false)
	require.Equal(t, "rec/live/cam/p_recording.m3u8", m.Playlist)
	require.Equal(t, 3, m.Segments)
	require.Empty(t, m.MP4, "record.mp4 applies to fMP4 variants")
	vod := string(object(t, st, m.Playlist))
	require.NotContains(t, vod, "EXT-X-MAP")
	require.Contains(t, vod, "p_seg1.ts\n")
}

// TestAcrossAParameterChange: when the codec parameters change mid-stream the VOD playlist follows the
// new init section after a discontinuity, and no MP4 is made (one MP4 holds one init section).
func TestAcrossAParameterChange(t *testing.T) {
	rec, st := startRecorder(t, recording.Config{Record: true, MP4: true})
	pub := rec.Start(cam, nil, "rec/live/cam", time.Now())
	for msn := uint64(1); msn <= 4; msn++ {
		sg := info(msn, "p_init.mp4")
		if msn >= 3 {
			sg.InitName, sg.Discontinuity = "p_init2.mp4", msn == 3
		}
		stored(t, st, pub.Take(), sg, []byte("seg"))
	}
	pub.End()
	m := waitManifest(t, st, "rec/live/cam/p_recording.json", false)
	require.Equal(t, 4, m.Segments)
	require.Empty(t, m.MP4)
	vod := string(object(t, st, m.Playlist))
	require.Contains(t, vod, "#EXT-X-MAP:URI=\"p_init.mp4\"\n")
	require.Contains(t, vod, "p_seg2.mp4\n#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"p_init2.mp4\"\n")
	require.Equal(t, 1, strings.Count(vod, "#EXT-X-DISCONTINUITY\n"))
}

// TestSelection: Config.Record with Streams and Set decide which next publications are recorded whole.
func TestSelection(t *testing.T) {
	rec, _ := startRecorder(t, recording.Config{Record: true, Streams: []string{"live/a", "news/*"}})
	for _, tc := range []struct {
		path string
		want bool
	}{{"live/a", true}, {"live/b", false}, {"news/x", true}} {
		p, err := stream.ParsePath(tc.path)
		require.NoError(t, err)
		require.Equal(t, tc.want, rec.Next(p), tc.path)
		pub := rec.Start(p, nil, "x", time.Time{})
		defer pub.End()
		take := pub.Take()
		require.Equal(t, tc.want, take != nil, tc.path)
		if take != nil {
			take.Lost(1, "test")
		}
	}
	b := stream.Path{App: "live", Name: "b"}
	rec.Set(b, true)
	require.True(t, rec.Next(b))
	require.True(t, rec.Now(b), "the live publication too")
	rec.Set(stream.Path{App: "live", Name: "a"}, false)
	require.True(t, rec.Next(stream.Path{App: "live", Name: "a"}), "stopping does not override Config.Record")
}

// hanging is storage that never answers: every call blocks until its context ends.
type hanging struct{}

func (hanging) Put(ctx context.Context, _ string, _ io.Reader, _ int64, _ objstore.PutOptions) error {
	<-ctx.Done()
	return ctx.Err()
}

func (hanging) Get(ctx context.Context, _ string, _ *objstore.Range) (io.ReadCloser, objstore.ObjectInfo, error) {
	<-ctx.Done()
	return nil, objstore.ObjectInfo{}, ctx.Err()
}

func (hanging) Head(ctx context.Context, _ string) (objstore.ObjectInfo, error) {
	<-ctx.Done()
	return objstore.ObjectInfo{}, ctx.Err()
}

// TestRunReturnsWhenStorageHangs: a recording being written to storage that never answers, and a
// publication that never ends, hold Run no longer than the grace period after its context is cancelled.
func TestRunReturnsWhenStorageHangs(t *testing.T) {
	rec := recording.New(recording.Config{Record: true, Grace: 300 * time.Millisecond}, hanging{},
		slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rec.Run(ctx) }()
	ended := rec.Start(cam, nil, "rec/live/cam", time.Now())
	ended.Take().Stored(info(1, "p_init.mp4"), 10)
	ended.End() // written from now on, which never succeeds
	rec.Start(stream.Path{App: "live", Name: "lives"}, nil, "rec/live/lives", time.Now()).Take()
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
}

// TestRenditionsRecordedWithSource: the renditions of an adaptive stream are recorded when and while
// their source is; the source's recording waits for theirs and writes a VOD multivariant playlist of
// them all, with each one's codecs and resolution and the bandwidth of its recorded segments.
func TestRenditionsRecordedWithSource(t *testing.T) {
	rec, st := startRecorder(t, recording.Config{})
	low := stream.Path{App: "live", Name: "cam_360p"}
	src := rec.Start(cam, nil, "rec/live/cam", time.Now())
	rnd := rec.Start(low, &stream.Rendition{Of: cam, Rung: "360p", Bandwidth: 900_000}, "rec/live/cam/360p", time.Now())
	require.Nil(t, rnd.Take(), "not recorded while its source is not")
	rec.Set(cam, true)
	require.True(t, rec.Now(low), "the source's recording takes its renditions along")

	seg := func(pub *recording.Publication, prefix string, msn uint64, size int) {
		take := pub.Take()
		require.NotNil(t, take)
		data := bytes.Repeat([]byte{1}, size)
		sg := info(msn, "p_init.mp4")
		for name, b := range map[string][]byte{sg.InitName: []byte("init"), sg.Name: data} {
			require.NoError(t, st.Put(context.Background(), prefix+name, bytes.NewReader(b), int64(len(b)), objstore.PutOptions{}))
		}
		take.Stored(sg, int64(size))
	}
	for msn := uint64(2); msn <= 4; msn++ {
		seg(src, "rec/live/cam/", msn, 4000)
	}
	src.Describe(segmenter.Variant{Codecs: []string{"avc1.64001f", "mp4a.40.2"}, Resolution: "1280x720", FrameRate: 25})
	src.End() // the source ends first; its recording waits for the rendition's
	for msn, size := range []int{0, 0, 1000, 3000, 1000} {
		if msn >= 2 {
			seg(rnd, "rec/live/cam/360p/", uint64(msn), size)
		}
	}
	rnd.Describe(segmenter.Variant{Codecs: []string{"avc1.64001e", "mp4a.40.2"}, Resolution: "640x360", FrameRate: 25})
	rnd.End()

	var m recording.Manifest
	require.Eventually(t, func() bool {
		var err error
		m, err = recording.ReadManifest(context.Background(), st, "rec/live/cam/p_recording.json")
		return err == nil && m.Multivariant != ""
	}, 10*time.Second, 5*time.Millisecond, "the source's manifest never named a multivariant playlist")
	require.Equal(t, "rec/live/cam/p_recording_multivariant.m3u8", m.Multivariant)
	require.Equal(t, []string{"rec/live/cam/360p/p_recording.m3u8"}, m.Renditions)
	require.Equal(t, "rec/live/cam/p_recording.m3u8", m.Playlist, "the source's own VOD playlist stays")
	rm := waitManifest(t, st, "rec/live/cam/360p/p_recording.json", false)
	require.Equal(t, "live/cam", rm.RenditionOf)
	require.Equal(t, 3, rm.Segments)

	mv := string(object(t, st, m.Multivariant))
	require.Contains(t, mv, "#EXTM3U\n")
	require.Contains(t, mv, `BANDWIDTH=32000,AVERAGE-BANDWIDTH=32000,CODECS="avc1.64001f,mp4a.40.2",RESOLUTION=1280x720`)
	require.Contains(t, mv, "\np_recording.m3u8\n")
	// 3000 bytes in one second is the peak; 5000 bytes in three the average
	require.Contains(t, mv, `BANDWIDTH=24000,AVERAGE-BANDWIDTH=13333,CODECS="avc1.64001e,mp4a.40.2",RESOLUTION=640x360`)
	require.Contains(t, mv, "\n360p/p_recording.m3u8\n")
	require.Less(t, strings.Index(mv, "1280x720"), strings.Index(mv, "640x360"), "the source first")
}

// TestLadderRecordedWithItsAudioGroup: the recording of a ladder whose source's video and audio are
// split out of it (the live ladder's audio group) gets a VOD multivariant playlist of the same shape:
// the source's video alone first, then the rungs, every one video only and naming the one audio
// rendition, whose codecs and bandwidth each variant adds to its own.
func TestLadderRecordedWithItsAudioGroup(t *testing.T) {
	rec, st := startRecorder(t, recording.Config{})
	rec.Set(cam, true)
	src := rec.Start(cam, nil, "rec/live/cam", time.Now())
	type pub struct {
		p      *recording.Publication
		prefix string
		codecs []string
		res    string
	}
	start := func(rung string, kind stream.RenditionKind, codecs []string, res string) pub {
		p := rec.Start(stream.Path{App: "live", Name: "cam_" + rung}, &stream.Rendition{Of: cam, Rung: rung, Kind: kind},
			"rec/live/cam/"+rung, time.Now())
		return pub{p, "rec/live/cam/" + rung + "/", codecs, res}
	}
	pubs := []pub{
		{src, "rec/live/cam/", []string{"avc1.64001f", "mp4a.40.2"}, "1280x720"},
		start(stream.SourceVideoRung, stream.KindSourceVideo, []string{"avc1.64001f"}, "1280x720"),
		start("360p", stream.KindRung, []string{"avc1.64001e"}, "640x360"),
		start(stream.AudioRung, stream.KindAudio, []string{"mp4a.40.2"}, ""),
	}
	for _, p := range pubs {
		for msn := uint64(2); msn <= 4; msn++ {
			take := p.p.Take()
			require.NotNil(t, take)
			sg := info(msn, "p_init.mp4")
			data := bytes.Repeat([]byte{1}, 1000)
			for name, b := range map[string][]byte{sg.InitName: []byte("init"), sg.Name: data} {
				require.NoError(t, st.Put(context.Background(), p.prefix+name, bytes.NewReader(b), int64(len(b)), objstore.PutOptions{}))
			}
			take.Stored(sg, 1000)
		}
		v := segmenter.Variant{Codecs: p.codecs, Resolution: p.res}
		if p.res == "" {
			v.Channels = 2
		} else {
			v.FrameRate = 25
		}
		p.p.Describe(v)
		p.p.End()
	}
	var m recording.Manifest
	require.Eventually(t, func() bool {
		var err error
		m, err = recording.ReadManifest(context.Background(), st, "rec/live/cam/p_recording.json")
		return err == nil && m.Multivariant != ""
	}, 10*time.Second, 5*time.Millisecond, "the source's manifest never named a multivariant playlist")
	require.ElementsMatch(t, []string{"rec/live/cam/source/p_recording.m3u8", "rec/live/cam/360p/p_recording.m3u8",
		"rec/live/cam/audio/p_recording.m3u8"}, m.Renditions)
	mv := string(object(t, st, m.Multivariant))
	require.Equal(t, 1, strings.Count(mv, "#EXT-X-MEDIA:"), mv)
	require.Contains(t, mv, `#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="main",AUTOSELECT=YES,DEFAULT=YES,CHANNELS="2",URI="audio/p_recording.m3u8"`)
	require.Equal(t, 2, strings.Count(mv, "#EXT-X-STREAM-INF:"), mv)
	// 1000 bytes a second of video and as much of audio
	require.Contains(t, mv, `BANDWIDTH=16000,AVERAGE-BANDWIDTH=16000,CODECS="avc1.64001f,mp4a.40.2",RESOLUTION=1280x720,FRAME-RATE=25.000,AUDIO="audio"`+"\nsource/p_recording.m3u8\n")
	require.Contains(t, mv, `CODECS="avc1.64001e,mp4a.40.2",RESOLUTION=640x360,FRAME-RATE=25.000,AUDIO="audio"`+"\n360p/p_recording.m3u8\n")
	require.NotContains(t, mv, "\np_recording.m3u8\n", "the source as published (audio muxed) is not in the ladder")
}
