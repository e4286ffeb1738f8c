package segmenter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/media/stream"
)

func TestSegmentBoundaries(t *testing.T) {
	for _, tc := range []struct {
		name       string
		lowLatency bool
		gop        int // frames between IDRs, at 25 fps
		frames     int
		segMin     time.Duration
		wantSegs   int
		firstMSN   uint64
		wantFrames int // per segment
		wantParts  int // per segment
	}{
		{"low latency, 1 s GOP", true, 25, 130, time.Second, 5, 0, 25, 5},
		{"classic fmp4, 1 s GOP", false, 25, 130, time.Second, 5, 0, 25, 0},
		{"low latency, 2 s GOP is longer than the minimum", true, 50, 260, time.Second, 5, 0, 50, 10},
		{"classic, 0.5 s minimum waits for the next IDR", false, 25, 130, 500 * time.Millisecond, 5, 0, 25, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder(t)
			video := h264Track()
			s, err := New(Config{
				Tracks: []*stream.Track{video}, LowLatency: tc.lowLatency, SegmentMinDuration: tc.segMin,
				PartMinDuration: 200 * time.Millisecond, SegmentCount: 100, Prefix: "p", Observer: rec.observer(),
			})
			require.NoError(t, err)
			feed(t, s, video, nil, 0, tc.frames, tc.gop)

			require.Len(t, rec.segs, tc.wantSegs)
			var nextDTS uint64
			for i, seg := range rec.segs {
				require.Equal(t, tc.firstMSN+uint64(i), seg.MSN)
				require.Equal(t, fmt.Sprintf("p_seg%d.mp4", seg.MSN), seg.Name)
				require.Equal(t, time.Duration(tc.wantFrames)*40*time.Millisecond, seg.Duration)
				require.Equal(t, t0.Add(time.Duration(i*tc.wantFrames)*40*time.Millisecond), seg.DateTime)

				samples, dts := trackSamples(t, dataOf(t, seg), 1)
				require.Len(t, samples, tc.wantFrames)
				require.False(t, samples[0].IsNonSyncSample, "segment %d starts on an IDR", seg.MSN)
				for _, smp := range samples[1:] {
					require.True(t, smp.IsNonSyncSample)
					require.Equal(t, uint32(3600), smp.Duration)
				}
				if i > 0 {
					require.Equal(t, nextDTS, dts[0], "segment %d continues the timeline", seg.MSN)
				}
				nextDTS = dts[len(dts)-1] + uint64(samples[len(samples)-1].Duration)

				require.Len(t, seg.Parts, tc.wantParts)
				var joined []byte
				for j, p := range seg.Parts {
					require.Equal(t, seg.MSN, p.MSN)
					require.Equal(t, j, p.Index)
					require.Equal(t, fmt.Sprintf("p_part%d_%d.mp4", seg.MSN, j), p.Name)
					require.Equal(t, 200*time.Millisecond, p.Duration)
					require.Equal(t, j == 0, p.Independent, "part %s", p.Name)
					joined = append(joined, dataOf(t, p)...)
				}
				if tc.lowLatency {
					require.Equal(t, dataOf(t, seg), joined, "a segment is its parts end to end")
				}
			}
			if !tc.lowLatency {
				require.Empty(t, rec.parts, "no part events without low latency")
			}
		})
	}
}

func TestEventOrder(t *testing.T) {
	for _, tc := range []struct {
		name       string
		format     string
		lowLatency bool
		want       []string
	}{
		{"low latency", FormatFMP4, true, []string{
			"init", "part 0.0", "playlist", "part 0.1", "playlist", "part 0.2", "playlist", "part 0.3", "playlist",
			"part 0.4", "segment 0", "playlist", "part 1.0", "playlist", "part 1.1", "playlist",
			"part 1.2", "playlist", "part 1.3", "playlist", "part 1.4", "segment 1", "playlist",
			"part 2.0", "segment 2", "playlist", "ended",
		}},
		{"classic", FormatFMP4, false, []string{"init", "segment 0", "playlist", "segment 1", "playlist", "segment 2", "playlist", "ended"}},
		{"mpegts", FormatMPEGTS, false, []string{"segment 0", "playlist", "segment 1", "playlist", "segment 2", "playlist", "ended"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder(t)
			video, audio := h264Track(), aacTrack()
			s, err := New(Config{
				Tracks: []*stream.Track{video, audio}, Format: tc.format, LowLatency: tc.lowLatency, Prefix: "p",
				Observer: rec.observer(),
			})
			require.NoError(t, err)
			feed(t, s, video, audio, 0, 55, 25)
			s.Close()
			s.Close()
			require.Equal(t, tc.want, rec.events)
			require.True(t, rec.ended.Ended())
			require.NotContains(t, string(rec.ended.Media(MediaOptions{})), "PRELOAD-HINT")
			require.Contains(t, string(rec.ended.Media(MediaOptions{})), "#EXT-X-ENDLIST")
			require.ErrorIs(t, s.Write(videoUnit(video, 55, 25)), ErrEnded)
		})
	}
}

func TestWindowSlides(t *testing.T) {
	rec := newRecorder(t)
	video := h264Track()
	s, err := New(Config{Tracks: []*stream.Track{video}, LowLatency: true, Prefix: "p", Observer: rec.observer()})
	require.NoError(t, err)
	feed(t, s, video, nil, 0, 501, 25) // segments 0..19 complete

	pl := s.Playlist()
	segs := pl.Segments()
	require.Len(t, segs, 7)
	require.Equal(t, uint64(13), segs[0].MSN)
	require.Equal(t, uint64(19), segs[6].MSN)
	require.Equal(t, uint64(20), pl.NextMSN())
	text := string(pl.Media(MediaOptions{}))
	require.Contains(t, text, "#EXT-X-MEDIA-SEQUENCE:13\n")
	require.NotContains(t, text, "GAP")
	require.Equal(t, 10, strings.Count(text, "#EXT-X-PART:"), "parts of the last two segments")

	ctx := context.Background()
	for _, name := range []string{"p_seg5.mp4", "p_part5_0.mp4", "p_seg20.mp4", "p_part20_1.mp4", "p_part13_5.mp4",
		"x_seg13.mp4", "p_seg013.mp4", "p_seg13.mp4.mp4", "p_init.mp4x", "gap.mp4", "p_part13_-1.mp4", "p_seg-1.mp4"} {
		_, err := s.Object(ctx, name)
		require.ErrorIs(t, err, ErrNotFound, name)
	}
	tctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	_, err = s.Object(tctx, "p_part20_0.mp4")
	require.ErrorIs(t, err, context.DeadlineExceeded, "the preload hint waits for its part")
	// what left the window is served for one more window: a player holding the previous playlist finds it
	for _, name := range []string{"p_init.mp4", "p_seg13.mp4", "p_seg19.mp4", "p_part13_4.mp4", "p_part19_0.mp4",
		"p_seg12.mp4", "p_part12_0.mp4", "p_seg6.mp4"} {
		o, err := s.Object(ctx, name)
		require.NoError(t, err, name)
		b, err := o.Bytes()
		require.NoError(t, err)
		require.Equal(t, rec.objects[name], b, name)
		require.Equal(t, len(b), o.Size())
		require.Equal(t, "video/mp4", o.ContentType)
		checkFile(t, o, b)
	}
}

// checkFile checks that o's File, if it has one, holds want from its offset.
func checkFile(t *testing.T, o Object, want []byte) {
	t.Helper()
	f, err := o.File()
	require.NoError(t, err)
	if f == nil {
		return // on the heap: an init section, or a part of the segment being written
	}
	defer f.Close()
	got, err := io.ReadAll(io.LimitReader(f, int64(o.Size())))
	require.NoError(t, err)
	require.Equal(t, want, got)
}

// Complete segments leave the heap for memory files, which are freed when the segment leaves the
// previous window: a request still holding an old playlist finds its objects gone, not other bytes.
func TestMemoryFiles(t *testing.T) {
	if !memoryFiles() {
		t.Skip("no memory files on this system")
	}
	rec := newRecorder(t)
	video := h264Track()
	s, err := New(Config{Tracks: []*stream.Track{video}, LowLatency: true, Prefix: "m", SegmentCount: 3,
		Observer: rec.observer()})
	require.NoError(t, err)
	feed(t, s, video, nil, 0, 76, 25) // segments 0..2 complete
	old := s.Playlist()
	o, ok := old.Object("m_seg1.mp4")
	require.True(t, ok)
	f, err := o.File()
	require.NoError(t, err)
	require.NotNil(t, f, "a complete segment is in a memory file")
	f.Close()
	p, ok := old.Object("m_part1_2.mp4")
	require.True(t, ok)
	checkFile(t, p, rec.objects["m_part1_2.mp4"])

	feed(t, s, video, nil, 76, 226, 25) // segments 3..8: 0..2 left the window, then the previous one
	_, err = o.File()
	require.ErrorIs(t, err, ErrNotFound)
	_, err = p.File()
	require.ErrorIs(t, err, ErrNotFound)
	_, err = o.Bytes()
	require.Error(t, err)
	o, err = s.Object(context.Background(), "m_seg5.mp4") // the previous window is still served
	require.NoError(t, err)
	checkFile(t, o, rec.objects["m_seg5.mp4"])
	s.Close()
}

func TestMediaPlaylist(t *testing.T) {
	video := h264Track()
	s, err := New(Config{Tracks: []*stream.Track{video}, LowLatency: true, Prefix: "p"})
	require.NoError(t, err)
	feed(t, s, video, nil, 0, 62, 25) // segments 0 and 1, two parts of 2

	var want strings.Builder
	want.WriteString("#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:1\n" +
		"#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.60000\n" +
		"#EXT-X-PART-INF:PART-TARGET=0.20000\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-MAP:URI=\"p_init.mp4?q=1\"\n")
	for _, msn := range []int{0, 1} {
		fmt.Fprintf(&want, "#EXT-X-PROGRAM-DATE-TIME:2025-03-04T05:06:%02dZ\n", 7+msn)
		for i := 0; i < 5; i++ {
			indep := ""
			if i == 0 {
				indep = ",INDEPENDENT=YES"
			}
			fmt.Fprintf(&want, "#EXT-X-PART:DURATION=0.20000,URI=\"p_part%d_%d.mp4?q=1\"%s\n", msn, i, indep)
		}
		fmt.Fprintf(&want, "#EXTINF:1.00000,\np_seg%d.mp4?q=1\n", msn)
	}
	want.WriteString("#EXT-X-PART:DURATION=0.20000,URI=\"p_part2_0.mp4?q=1\",INDEPENDENT=YES\n" +
		"#EXT-X-PART:DURATION=0.20000,URI=\"p_part2_1.mp4?q=1\"\n" +
		"#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p_part2_2.mp4?q=1\"\n")
	got := s.Playlist().Media(MediaOptions{URI: func(n string) string { return n + "?q=1" }})
	require.Equal(t, want.String(), string(got))

	plain := string(s.Playlist().Media(MediaOptions{NoLowLatency: true}))
	for _, tag := range []string{"SERVER-CONTROL", "PART-INF", "EXT-X-PART", "PRELOAD-HINT", "?q=1"} {
		require.NotContains(t, plain, tag)
	}
	require.Contains(t, plain, "#EXTINF:1.00000,\np_seg1.mp4\n")
	require.Same(t, &s.Playlist().Media(MediaOptions{})[0], &s.Playlist().Media(MediaOptions{})[0],
		"the plain rendering is made once per playlist")
}

func TestClassicPlaylist(t *testing.T) {
	video := h264Track()
	s, err := New(Config{Tracks: []*stream.Track{video}, Prefix: "p", SegmentCount: 3})
	require.NoError(t, err)
	feed(t, s, video, nil, 0, 20, 25)
	require.False(t, s.Playlist().Ready(), "nothing to play before the first segment")
	feed(t, s, video, nil, 20, 126, 25)
	require.Equal(t, "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:2\n"+
		"#EXT-X-MAP:URI=\"p_init.mp4\"\n"+
		"#EXT-X-PROGRAM-DATE-TIME:2025-03-04T05:06:09Z\n#EXTINF:1.00000,\np_seg2.mp4\n"+
		"#EXT-X-PROGRAM-DATE-TIME:2025-03-04T05:06:10Z\n#EXTINF:1.00000,\np_seg3.mp4\n"+
		"#EXT-X-PROGRAM-DATE-TIME:2025-03-04T05:06:11Z\n#EXTINF:1.00000,\np_seg4.mp4\n",
		string(s.Playlist().Media(MediaOptions{})))
	_, err = s.Object(context.Background(), "p_part4_0.mp4")
	require.ErrorIs(t, err, ErrNotFound, "no parts without low latency")
}

// TestFirstPartEarly: a viewer sees the first part one part duration after the first keyframe, not
// after a whole segment.
func TestFirstPartEarly(t *testing.T) {
	rec := newRecorder(t)
	video := h264Track()
	s, err := New(Config{Tracks: []*stream.Track{video}, LowLatency: true, Prefix: "p", Observer: rec.observer()})
	require.NoError(t, err)
	require.False(t, s.Playlist().Ready())
	require.Empty(t, s.Playlist().InitName())

	// frames before the first IDR are dropped: the stream starts at frame 3
	for i := 1; i < 3; i++ {
		require.NoError(t, s.Write(videoUnit(video, i, 25)))
	}
	require.NoError(t, s.Write(videoUnit(video, 3, 3)))
	feed(t, s, video, nil, 4, 8, 25)
	require.False(t, s.Playlist().Ready(), "frames 3-7: 200 ms not reached yet")
	feed(t, s, video, nil, 8, 9, 25)
	pl := s.Playlist()
	require.True(t, pl.Ready())
	require.True(t, pl.Has(0, 0))
	require.False(t, pl.Has(0, 1))
	require.Empty(t, pl.Segments())
	require.Equal(t, "p_init.mp4", pl.InitName())
	text := string(pl.Media(MediaOptions{}))
	require.Contains(t, text, "#EXT-X-PART:DURATION=0.20000,URI=\"p_part0_0.mp4\",INDEPENDENT=YES\n")
	require.Contains(t, text, "#EXT-X-TARGETDURATION:1\n")
	require.NotContains(t, text, "GAP", "the playlist opens with the first part, no placeholder before it")
	require.Equal(t, []string{"init", "part 0.0", "playlist"}, rec.events)
	samples, _ := trackSamples(t, rec.objects["p_part0_0.mp4"], 1)
	require.Len(t, samples, 5)
}

func TestWait(t *testing.T) {
	video := h264Track()
	s, err := New(Config{Tracks: []*stream.Track{video}, LowLatency: true, Prefix: "p"})
	require.NoError(t, err)
	ctx := context.Background()

	t.Run("cancelled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			_, err := s.Wait(cctx, 2, 0)
			done <- err
		}()
		time.Sleep(20 * time.Millisecond)
		cancel()
		select {
		case err := <-done:
			require.ErrorIs(t, err, context.Canceled)
		case <-time.After(2 * time.Second):
			t.Fatal("Wait ignored its context")
		}
		tctx, cancel2 := context.WithTimeout(ctx, 30*time.Millisecond)
		defer cancel2()
		_, err := s.WaitReady(tctx)
		require.ErrorIs(t, err, context.DeadlineExceeded)
	})

	t.Run("released by the part", func(t *testing.T) {
		got := make(chan *Playlist, 1)
		go func() {
			pl, err := s.Wait(ctx, 0, 2)
			require.NoError(t, err)
			got <- pl
		}()
		feed(t, s, video, nil, 0, 11, 25) // parts 0.0 and 0.1
		select {
		case <-got:
			t.Fatal("released before part 2 exists")
		case <-time.After(20 * time.Millisecond):
		}
		feed(t, s, video, nil, 11, 16, 25)
		select {
		case pl := <-got:
			require.True(t, pl.Has(0, 2))
		case <-time.After(2 * time.Second):
			t.Fatal("not released by part 2")
		}
	})

	t.Run("part past the end of a segment", func(t *testing.T) {
		feed(t, s, video, nil, 16, 26, 25) // segment 0 complete with 5 parts, nothing of 1 yet
		pl := s.Playlist()
		require.True(t, pl.Has(0, 4))
		require.True(t, pl.Has(0, NoPart))
		require.False(t, pl.Has(0, 5), "= part 0 of segment 1")
		require.False(t, pl.Has(1, 0))
		require.False(t, pl.Has(1, NoPart))
		feed(t, s, video, nil, 26, 31, 25)
		require.True(t, s.Playlist().Has(0, 5))
		require.True(t, s.Playlist().Has(0, 99))
		require.False(t, s.Playlist().Has(1, NoPart))
	})

	t.Run("preload hint object", func(t *testing.T) {
		hint := "p_part1_1.mp4"
		require.Contains(t, string(s.Playlist().Media(MediaOptions{})), `#EXT-X-PRELOAD-HINT:TYPE=PART,URI="`+hint+`"`)
		got := make(chan Object, 1)
		go func() {
			o, err := s.Object(ctx, hint)
			require.NoError(t, err)
			got <- o
		}()
		time.Sleep(20 * time.Millisecond)
		feed(t, s, video, nil, 31, 36, 25)
		select {
		case o := <-got:
			require.Equal(t, hint, o.Name)
			require.Positive(t, o.Size())
		case <-time.After(2 * time.Second):
			t.Fatal("the preload hint was not answered")
		}
		_, err := s.Object(ctx, "p_part1_9.mp4")
		require.ErrorIs(t, err, ErrNotFound, "only the hinted part is waited for")
	})

	t.Run("stream ends", func(t *testing.T) {
		done := make(chan error, 1)
		go func() {
			_, err := s.Wait(ctx, 13, 0)
			done <- err
		}()
		go func() {
			_, err := s.Object(ctx, "p_part1_2.mp4")
			done <- err
		}()
		time.Sleep(20 * time.Millisecond)
		s.Close()
		for i := 0; i < 2; i++ {
			select {
			case err := <-done:
				if err != nil {
					require.ErrorIs(t, err, ErrEnded)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("a waiter outlived the stream")
			}
		}
		_, err := s.Wait(ctx, 100, 0)
		require.ErrorIs(t, err, ErrEnded)
		pl, err := s.Wait(ctx, 1, NoPart)
		require.NoError(t, err, "the last segment was completed by Close")
		require.True(t, pl.Ended())
	})
}

func TestMultivariant(t *testing.T) {
	video, audio := h264Track(), aacTrack()
	s, err := New(Config{Tracks: []*stream.Track{audio, video}, LowLatency: true, Prefix: "p"})
	require.NoError(t, err)
	feed(t, s, video, audio, 0, 10, 25)
	early := s.Playlist().Variant("video1_stream.m3u8")
	require.Positive(t, early.Bandwidth, "measured over the parts before the first segment")
	feed(t, s, video, audio, 10, 80, 25)

	v := s.Playlist().Variant("video1_stream.m3u8")
	require.Equal(t, []string{"avc1.42c028", "mp4a.40.2"}, v.Codecs, "video first whatever the track order")
	require.Equal(t, "1920x1080", v.Resolution)
	require.Positive(t, v.AverageBandwidth)
	require.GreaterOrEqual(t, v.Bandwidth, v.AverageBandwidth)

	got := string(Multivariant([]Variant{v}, func(n string) string { return n + "?nsid=abc" }))
	require.Equal(t, fmt.Sprintf("#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-INDEPENDENT-SEGMENTS\n\n"+
		"#EXT-X-STREAM-INF:BANDWIDTH=%d,AVERAGE-BANDWIDTH=%d,CODECS=\"avc1.42c028,mp4a.40.2\",RESOLUTION=1920x1080,FRAME-RATE=30.000\n"+
		"video1_stream.m3u8?nsid=abc\n", v.Bandwidth, v.AverageBandwidth), got)

	aonly, err := New(Config{Tracks: []*stream.Track{aacTrack()}, LowLatency: true})
	require.NoError(t, err)
	require.Equal(t, "audio/mp4", aonly.ContentType())
}

func TestVOD(t *testing.T) {
	segs := []SegmentInfo{
		{MSN: 7, Name: "p_seg7.mp4", Duration: 2 * time.Second, DateTime: t0},
		{MSN: 8, Name: "p_seg8.mp4", Duration: 2600 * time.Millisecond},
	}
	got := string(VOD("p_init.mp4", segs, func(n string) string { return "rec/" + n }))
	require.Equal(t, "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-TARGETDURATION:3\n"+
		"#EXT-X-MEDIA-SEQUENCE:7\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-MAP:URI=\"rec/p_init.mp4\"\n"+
		"#EXT-X-PROGRAM-DATE-TIME:2025-03-04T05:06:07Z\n#EXTINF:2.00000,\nrec/p_seg7.mp4\n"+
		"#EXTINF:2.60000,\nrec/p_seg8.mp4\n#EXT-X-ENDLIST\n", got)

	ts := []SegmentInfo{{MSN: 7, Name: "p_seg7.ts", Duration: 2 * time.Second}}
	require.Equal(t, "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-TARGETDURATION:2\n"+
		"#EXT-X-MEDIA-SEQUENCE:7\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXTINF:2.00000,\np_seg7.ts\n#EXT-X-ENDLIST\n",
		string(VOD("", ts, nil)), "MPEG-TS: no init section")
}

func TestAudioOnlyCutsOnTime(t *testing.T) {
	rec := newRecorder(t)
	audio := aacTrack()
	s, err := New(Config{Tracks: []*stream.Track{audio}, LowLatency: true, Prefix: "a", Observer: rec.observer()})
	require.NoError(t, err)
	for i := 0; i < 44*5+3; i++ {
		require.NoError(t, s.Write(audioUnit(audio, i)))
	}
	require.Len(t, rec.segs, 5)
	frame := 1024 * time.Second / 44100
	for _, seg := range rec.segs {
		require.GreaterOrEqual(t, seg.Duration, time.Second)
		require.Less(t, seg.Duration, time.Second+2*frame)
		for _, p := range seg.Parts {
			require.True(t, p.Independent, "every audio part is independent")
			require.GreaterOrEqual(t, p.Duration, 180*time.Millisecond, "%s", p.Name)
		}
	}
}

func TestMuxedAudioFollowsVideo(t *testing.T) {
	rec := newRecorder(t)
	video, audio := h264Track(), aacTrack()
	s, err := New(Config{Tracks: []*stream.Track{video, audio}, Prefix: "p", Observer: rec.observer()})
	require.NoError(t, err)
	// audio before the first video frame is dropped; then audio and video interleave
	for i := 0; i < 10; i++ {
		require.NoError(t, s.Write(audioUnit(audio, i)))
	}
	feed(t, s, video, audio, 0, 130, 25)
	require.Len(t, rec.segs, 5)
	total := 0
	for _, seg := range rec.segs {
		v, _ := trackSamples(t, dataOf(t, seg), 1)
		a, _ := trackSamples(t, dataOf(t, seg), 2)
		require.Len(t, v, 25)
		require.InDelta(t, 43, len(a), 2, "about a second of audio in segment %d", seg.MSN)
		total += len(a)
	}
	require.InDelta(t, 5*44100/1024, total, 3)
}

// TestRobustness: hostile or broken input never panics, and the segmenter keeps going afterwards.
func TestRobustness(t *testing.T) {
	for _, format := range []string{FormatFMP4, FormatMPEGTS} {
		t.Run(format, func(t *testing.T) { testRobustness(t, format) })
	}
}

func testRobustness(t *testing.T, format string) {
	video, audio := h264Track(), aacTrack()
	other := &stream.Track{Codec: &stream.VP9{}}
	opus := &stream.Track{Codec: &stream.Opus{ChannelCount: 2}}
	s, err := New(Config{Tracks: []*stream.Track{other, video, audio, opus}, Format: format,
		LowLatency: format == FormatFMP4, Prefix: "p"})
	require.NoError(t, err)
	units := []*stream.Unit{
		nil,
		{Track: nil},
		{Track: other, Payload: [][]byte{{1, 2, 3}}},
		{Track: opus, Payload: [][]byte{{0xfc}}}, // a second audio track is not carried
		{Track: audio, PTS: -time.Hour, Payload: [][]byte{{1}}},
		{Track: video, Payload: nil},
		{Track: video, Payload: [][]byte{{}, {}}},
		{Track: video, Payload: [][]byte{{0x65}}}, // IDR of one byte
		{Track: video, Payload: [][]byte{{0x67}, {0x68}, {0x65, 0x88}}},
		{Track: video, Payload: [][]byte{{0x06, 0x05}}}, // SEI only
		{Track: audio, Payload: [][]byte{{}}},
	}
	for _, u := range units {
		_ = s.Write(u)
	}
	feed(t, s, video, audio, 0, 30, 25)
	// time going backwards, repeated and jumping timestamps
	for _, pts := range []time.Duration{500 * time.Millisecond, 0, 1200 * time.Millisecond, 1200 * time.Millisecond, 90 * time.Second, time.Second} {
		u := videoUnit(video, 30, 1)
		u.PTS = pts
		_ = s.Write(u)
		_ = s.Write(&stream.Unit{Track: audio, PTS: pts, Payload: [][]byte{{1, 2}}})
	}
	feed(t, s, video, audio, 2300, 2400, 25)
	pl := s.Playlist()
	require.True(t, pl.Ready())
	for _, si := range pl.Segments() {
		require.GreaterOrEqual(t, si.Duration, time.Duration(0))
		o, err := s.Object(context.Background(), si.Name)
		require.NoError(t, err)
		b, err := o.Bytes()
		require.NoError(t, err)
		readSegment(t, format, b)
	}
	s.Close()

	_, err = New(Config{Tracks: []*stream.Track{other}, Format: format})
	require.ErrorIs(t, err, ErrNoTracks)
	_, err = New(Config{Format: format})
	require.ErrorIs(t, err, ErrNoTracks)
}

// readSegment reads a segment back, failing the test if it cannot be read.
func readSegment(t testing.TB, format string, b []byte) {
	t.Helper()
	if format == FormatMPEGTS {
		checkTSPackets(t, b) // a segment may lack a track, which the TS reader does not accept
	} else {
		readFragments(t, b)
	}
}

func TestSegmentMaxSize(t *testing.T) {
	video := h264Track()
	s, err := New(Config{Tracks: []*stream.Track{video}, SegmentMaxSize: 50, Prefix: "p"})
	require.NoError(t, err)
	var tooLarge int
	for i := 0; i < 60; i++ {
		if err := s.Write(videoUnit(video, i, 25)); errors.Is(err, ErrTooLarge) {
			tooLarge++
		}
	}
	require.Positive(t, tooLarge)
}

func TestDiskStorage(t *testing.T) {
	dir := t.TempDir()
	rec := newRecorder(t)
	video := h264Track()
	s, err := New(Config{Tracks: []*stream.Track{video}, LowLatency: true, Prefix: "d", SegmentCount: 7,
		Directory: dir, Observer: rec.observer()})
	require.NoError(t, err)
	feed(t, s, video, nil, 0, 501, 25) // segments 0..19: 13..19 in the window, 6..12 still served
	files, err := filepath.Glob(filepath.Join(dir, "*.mp4"))
	require.NoError(t, err)
	require.Len(t, files, 14, "files of segments that left the window a window ago are deleted")
	for _, name := range []string{"d_seg13.mp4", "d_part13_3.mp4", "d_seg19.mp4", "d_part19_4.mp4", "d_init.mp4", "d_seg6.mp4"} {
		o, err := s.Object(context.Background(), name)
		require.NoError(t, err, name)
		b, err := o.Bytes()
		require.NoError(t, err)
		require.Equal(t, rec.objects[name], b, name)
	}
	_, err = os.Stat(filepath.Join(dir, "d_seg5.mp4"))
	require.ErrorIs(t, err, os.ErrNotExist)
	s.Close()
}

func TestNames(t *testing.T) {
	mp4, ts := names{prefix: "p", ext: extFMP4}, names{prefix: "p", ext: extMPEGTS}
	for _, tc := range []struct {
		names names
		name  string
		kind  objectKind
		msn   uint64
		part  int
	}{
		{mp4, "p_init.mp4", kindInit, 1, 0},
		{mp4, "p_init2.mp4", kindInit, 2, 0},
		{mp4, "p_init1048576.mp4", kindInit, 1 << 20, 0},
		{mp4, "p_init0.mp4", kindNone, 0, 0},
		{mp4, "p_init1.mp4", kindNone, 0, 0}, // the first one has no number
		{mp4, "p_init02.mp4", kindNone, 0, 0},
		{mp4, "p_init+2.mp4", kindNone, 0, 0},
		{mp4, "p_init2.mp4.mp4", kindNone, 0, 0},
		{mp4, "p_init2.ts", kindNone, 0, 0},
		{mp4, "p_init99999999.mp4", kindNone, 0, 0},
		{mp4, "p_init.mp4x", kindNone, 0, 0},
		{mp4, "p_seg0.mp4", kindSegment, 0, 0},
		{mp4, "p_seg18446744073709551615.mp4", kindSegment, 1<<64 - 1, 0},
		{mp4, "p_part12_3.mp4", kindPart, 12, 3},
		{mp4, "p_seg012.mp4", kindNone, 0, 0},
		{mp4, "p_part12_03.mp4", kindNone, 0, 0},
		{mp4, "p_part12.mp4", kindNone, 0, 0},
		{mp4, "p_part_1.mp4", kindNone, 0, 0},
		{mp4, "p_seg+1.mp4", kindNone, 0, 0},
		{mp4, "p_seg1.ts", kindNone, 0, 0},
		{mp4, "q_seg1.mp4", kindNone, 0, 0},
		{mp4, "p_seg99999999999999999999.mp4", kindNone, 0, 0},
		{mp4, "p_part1_99999999.mp4", kindNone, 0, 0},
		{mp4, "", kindNone, 0, 0},
		{ts, "p_seg0.ts", kindSegment, 0, 0},
		{ts, "p_seg18446744073709551615.ts", kindSegment, 1<<64 - 1, 0},
		{ts, "p_seg012.ts", kindNone, 0, 0},
		{ts, "p_seg1.mp4", kindNone, 0, 0},
		{ts, "p_seg1.ts.ts", kindNone, 0, 0},
		{ts, "q_seg1.ts", kindNone, 0, 0},
		{ts, "p_init.mp4", kindNone, 0, 0}, // MPEG-TS has no init section
		{ts, "p_init2.mp4", kindNone, 0, 0},
		{ts, "p_init.ts", kindNone, 0, 0},
		{ts, "p_part1_0.ts", kindNone, 0, 0}, // nor parts
	} {
		t.Run(tc.name+tc.names.ext, func(t *testing.T) {
			kind, msn, part := tc.names.parse(tc.name)
			require.Equal(t, tc.kind, kind)
			require.Equal(t, tc.msn, msn)
			require.Equal(t, tc.part, part)
			switch kind {
			case kindInit:
				require.Equal(t, tc.name, tc.names.init(int(msn)))
			case kindSegment:
				require.Equal(t, tc.name, tc.names.segment(msn))
			case kindPart:
				require.Equal(t, tc.name, tc.names.part(msn, part))
			}
		})
	}
	require.Len(t, newPrefix(), 12)
	require.NotEqual(t, newPrefix(), newPrefix())
}

// FuzzWrite feeds arbitrary units; the segmenter must neither panic nor produce unreadable objects.
func FuzzWrite(f *testing.F) {
	f.Add([]byte{0, 0x65, 1, 0x41, 2, 0x21, 0, 0x65})
	f.Add([]byte{2, 0xff, 2, 0, 0, 0x67, 0, 0x68, 1, 0x41})
	f.Add([]byte{0, 0x41, 0, 0x65, 0, 0x65, 0, 0x65, 0, 0x65})
	f.Add([]byte{0x80, 0x65, 1, 0x41, 2, 0x21, 0, 0x65, 2, 0x30, 0, 0x65})
	f.Fuzz(func(t *testing.T, data []byte) {
		video, audio := h264Track(), aacTrack()
		format := FormatFMP4
		if len(data) > 0 && data[0]&0x80 != 0 {
			format = FormatMPEGTS
		}
		s, err := New(Config{Tracks: []*stream.Track{video, audio}, Format: format, LowLatency: format == FormatFMP4,
			Prefix: "f", SegmentMinDuration: 100 * time.Millisecond, PartMinDuration: 50 * time.Millisecond})
		require.NoError(t, err)
		var pts time.Duration
		for i := 0; i+1 < len(data); i += 2 {
			op, b := data[i], data[i+1]
			pts += time.Duration(int8(b)) * time.Millisecond * 7
			switch op % 4 {
			case 0:
				sps, pps := testSPS, testPPS
				if b&0x40 != 0 {
					sps, pps = testSPS2, testPPS2 // the encoder changes resolution
				}
				_ = s.Write(&stream.Unit{Track: video, PTS: pts, Payload: [][]byte{sps, pps, {0x65, b}}})
			case 1:
				_ = s.Write(&stream.Unit{Track: video, PTS: pts, Payload: [][]byte{{b, b, b}}})
			case 2:
				_ = s.Write(&stream.Unit{Track: audio, PTS: pts, Payload: [][]byte{{b}, {}}})
			case 3:
				_ = s.Write(&stream.Unit{Track: video, PTS: pts, Payload: [][]byte{{b}}})
			}
		}
		s.Close()
		pl := s.Playlist()
		for _, si := range pl.Segments() {
			o, ok := pl.Object(si.Name)
			require.True(t, ok)
			b, err := o.Bytes()
			require.NoError(t, err)
			readSegment(t, format, b)
		}
		for _, name := range pl.InitNames() {
			_, ok := pl.Object(name)
			require.True(t, ok, "%s is named but not served", name)
		}
		require.Equal(t, strings.Count(string(pl.Media(MediaOptions{})), "#EXT-X-MAP:"), len(pl.InitNames()))
	})
}

// TestPartTargetFromSegmentEnds: parts that end with their segment count toward the part target (here
// every part does: all frames are IDRs and segments are as short as parts).
func TestPartTargetFromSegmentEnds(t *testing.T) {
	video := h264Track()
	s, err := New(Config{Tracks: []*stream.Track{video}, LowLatency: true, Prefix: "p",
		SegmentMinDuration: 200 * time.Millisecond, PartMinDuration: 200 * time.Millisecond})
	require.NoError(t, err)
	feed(t, s, video, nil, 0, 6, 1)
	text := string(s.Playlist().Media(MediaOptions{}))
	require.Contains(t, text, "#EXT-X-PART-INF:PART-TARGET=0.20000\n")
	require.Contains(t, text, "#EXT-X-PART:DURATION=0.20000,URI=\"p_part0_0.mp4\",INDEPENDENT=YES\n#EXTINF:0.20000,\np_seg0.mp4\n")
}

// Each part goes to its segment's memory file as it is made: the segment being written is served from it
// already, and a complete segment is that file, never copied; an observer reads the bytes it wants. A write that
// fails keeps the segment's later parts on the heap, and the segment is still whole.
func TestPartsGoStraightToMemoryFiles(t *testing.T) {
	if !memoryFiles() {
		t.Skip("no memory files on this system")
	}
	video, audio := h264Track(), aacTrack()
	cfg := Config{Tracks: []*stream.Track{video, audio}, LowLatency: true, Prefix: "d", SegmentCount: 3}
	// an observer that reads no bytes (the node's counters) costs none
	var parts, segments int
	cfg.Observer = Funcs{
		OnPart:            func(Part) { parts++ },
		OnSegmentComplete: func(Segment) { segments++ },
	}
	s, err := New(cfg)
	require.NoError(t, err)
	require.True(t, s.direct)
	// the reference: the same stream through a segmenter whose observer keeps every object's bytes
	rec := newRecorder(t)
	cfg.Observer = rec.observer()
	ref, err := New(cfg)
	require.NoError(t, err)
	both := func(from, to int) {
		feed(t, s, video, audio, from, to, 25)
		feed(t, ref, video, audio, from, to, 25)
	}
	inFile := func(name string) bool {
		t.Helper()
		o, ok := s.Playlist().Object(name)
		require.True(t, ok, name)
		checkFile(t, o, rec.objects[name])
		b, err := o.Bytes()
		require.NoError(t, err)
		require.Equal(t, rec.objects[name], b, name)
		f, err := o.File()
		require.NoError(t, err)
		if f == nil {
			return false
		}
		f.Close()
		return true
	}

	both(0, 61) // segments 0 and 1 complete, parts 0 and 1 of segment 2 made
	for _, name := range []string{"d_seg0.mp4", "d_seg1.mp4", "d_part0_3.mp4", "d_part1_0.mp4", "d_part2_0.mp4", "d_part2_1.mp4"} {
		require.True(t, inFile(name), "%s is in a memory file", name)
	}
	require.Len(t, s.Playlist().parts, 2)

	// the memory file stops taking writes: the rest of segment 2 stays on the heap
	require.NoError(t, s.segFile.Seal())
	both(61, 71)
	require.True(t, inFile("d_part2_0.mp4"), "a part written before the failure is still served")
	for _, name := range []string{"d_part2_2.mp4", "d_part2_3.mp4"} {
		require.False(t, inFile(name), "%s is on the heap (its bytes checked)", name)
	}
	both(71, 76) // the complete segment is made of its parts' bytes and then moved to a memory file
	require.True(t, inFile("d_seg2.mp4"))
	require.True(t, inFile("d_part2_3.mp4"))
	both(76, 101) // segment 3 goes to a new memory file
	require.True(t, inFile("d_seg3.mp4"))
	require.True(t, inFile("d_part3_2.mp4"))

	old, ok := s.Playlist().Object("d_seg1.mp4")
	require.True(t, ok)
	both(101, 226) // segment 1 left the window, then the previous window
	_, err = old.File()
	require.ErrorIs(t, err, ErrNotFound, "its memory file was released")
	s.Close()
	ref.Close()
	require.True(t, inFile("d_seg8.mp4"), "the last segment, completed by Close")
	require.Equal(t, len(rec.parts), parts)
	require.Equal(t, len(rec.segs), segments)
}

// TestSegmentsStartOnTheLeadingTrack: an audio frame that starts before a cut is in the part before it,
// though its duration is known only from the next frame, after the cut: every segment and part starts
// with the video (at the time its EXT-X-PROGRAM-DATE-TIME gives; hls.js starts a segment at its earliest
// sample), its first audio frame less than a frame later, no frame is lost or written twice, and the
// audio timeline has no hole or overlap from part to part though the timestamps come rounded to the
// millisecond, as RTMP's do, and the source lacks the frame after every other segment's cut (as a
// publisher looping a file does): browsers' Media Source buffers show such a hole as a gap that players
// stall at or jump.
func TestSegmentsStartOnTheLeadingTrack(t *testing.T) {
	for _, v := range variants {
		if v.format != FormatFMP4 {
			continue
		}
		t.Run(v.name, func(t *testing.T) {
			s, rec, video, audio := newAV(t, v.format, v.lowLatency)
			drop, dropped := false, 0
			feedUnits(video, audio, 0, 130, 25, func(u *stream.Unit, i int) {
				if u.Track == video {
					require.NoError(t, s.Write(u))
					drop = i > 0 && i%50 == 0 // the audio frame after the cut, every other segment
					return
				}
				u.PTS = u.PTS.Round(time.Millisecond)
				if drop {
					dropped++
					drop = false
					return
				}
				require.NoError(t, s.Write(u))
			})
			s.Close()
			require.Len(t, rec.segs, 6)
			segs := newAVChecker(t)
			for _, seg := range rec.segs {
				segs.check(fmt.Sprintf("segment %d", seg.MSN), dataOf(t, seg))
			}
			require.Equal(t, 2, dropped)
			require.Equal(t, dropped, segs.skipped, "audio frames missing but those the source lacked")
			if v.lowLatency {
				parts := newAVChecker(t)
				for _, p := range rec.parts {
					parts.check(fmt.Sprintf("part %d.%d", p.MSN, p.Index), dataOf(t, p))
				}
			}
		})
	}
}
