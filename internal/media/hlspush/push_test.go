package hlspush_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/media/hlspush"
	"github.com/nagare-video/nagare/internal/media/segmenter"
	"github.com/nagare-video/nagare/internal/media/stream"
	"github.com/nagare-video/nagare/internal/objstore"
)

// flaky is a local store that can be taken down.
type flaky struct {
	*objstore.Local
	down atomic.Bool
	puts atomic.Int64
}

var errDown = errors.New("storage is down")

func (f *flaky) Put(ctx context.Context, key string, r io.Reader, size int64, o objstore.PutOptions) error {
	if f.down.Load() {
		return errDown
	}
	f.puts.Add(1)
	return f.Local.Put(ctx, key, r, size, o)
}

func newFlaky(t *testing.T) *flaky {
	l, err := objstore.NewLocal(t.TempDir())
	require.NoError(t, err)
	return &flaky{Local: l}
}

func segment(msn uint64) segmenter.Segment {
	return segmenter.Segment{MSN: msn, Name: fmt.Sprintf("p_seg%d.mp4", msn), Duration: time.Second,
		DateTime: time.Date(2026, 11, 21, 10, 0, int(msn), 0, time.UTC), Data: bytes.Repeat([]byte{byte(msn)}, 100)}
}

// object reads a whole object.
func object(t *testing.T, st *flaky, key string) []byte {
	t.Helper()
	rc, _, err := st.Get(context.Background(), key, nil)
	require.NoError(t, err, key)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	require.NoError(t, err, key)
	return b
}

func manifest(t *testing.T, st *flaky) hlspush.Manifest {
	objs, err := st.List(context.Background(), "rec/live/cam/")
	require.NoError(t, err)
	for _, o := range objs {
		if strings.HasSuffix(o.Key, "_recording.json") {
			rc, _, err := st.Get(context.Background(), o.Key, nil)
			require.NoError(t, err)
			defer rc.Close()
			var m hlspush.Manifest
			require.NoError(t, json.NewDecoder(rc).Decode(&m))
			return m
		}
	}
	t.Fatalf("no manifest among %v", objs)
	return hlspush.Manifest{}
}

// TestRecordingMarksWhatTheBacklogDropped: storage goes down, the bounded backlog overflows, and the
// recording comes out with the lost segments listed as a gap and a discontinuity — not truncated.
func TestRecordingMarksWhatTheBacklogDropped(t *testing.T) {
	st := newFlaky(t)
	p := hlspush.New(hlspush.Config{Record: true, RecordMP4: true, Prefix: "rec", Backlog: 4, RetryMax: 10 * time.Millisecond},
		st, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	obs := p.Observer(&stream.Stream{Path: stream.Path{App: "live", Name: "cam"}, StartedAt: time.Now()})
	require.NotNil(t, obs)
	obs.Init("p_init.mp4", []byte("init"))
	obs.SegmentComplete(segment(1))
	require.Eventually(t, func() bool { return st.puts.Load() == 2 }, 5*time.Second, time.Millisecond)

	st.down.Store(true)
	for msn := uint64(2); msn <= 12; msn++ {
		obs.SegmentComplete(segment(msn)) // never blocks, whatever storage does
	}
	time.Sleep(50 * time.Millisecond)
	st.down.Store(false)
	obs.SegmentComplete(segment(13))
	obs.Ended(nil)
	p.Wait()

	m := manifest(t, st)
	require.NotEmpty(t, m.Gaps)
	missing := 0
	for _, g := range m.Gaps {
		missing += int(g.ToMSN-g.FromMSN) + 1
		require.Equal(t, "storage backlog full", g.Reason)
	}
	require.Equal(t, 13, m.Segments+missing, "every segment is either recorded or reported missing")
	require.Less(t, m.Segments, 13)
	require.InDelta(t, float64(m.Segments), m.Duration, 0.001)
	b := object(t, st, m.Playlist)
	require.Contains(t, string(b), "#EXT-X-DISCONTINUITY")
	require.Contains(t, string(b), "#EXT-X-ENDLIST")
	rc, info, err := st.Get(context.Background(), m.MP4, nil)
	require.NoError(t, err)
	mp4, _ := io.ReadAll(rc)
	rc.Close()
	require.Equal(t, int64(len("init")+100*m.Segments), info.Size, "init followed by every recorded segment")
	require.True(t, bytes.HasPrefix(mp4, []byte("init\x01")))
}

// TestGivesUpAfterTheStreamEnded: with storage down for good, a stream's worker stops trying a while
// after the stream ended, so nothing leaks.
func TestGivesUpAfterTheStreamEnded(t *testing.T) {
	st := newFlaky(t)
	st.down.Store(true)
	p := hlspush.New(hlspush.Config{Record: true, Prefix: "rec", RetryMax: 10 * time.Millisecond, GiveUpAfterEnd: 200 * time.Millisecond},
		st, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	obs := p.Observer(&stream.Stream{Path: stream.Path{App: "live", Name: "cam"}})
	obs.Init("p_init.mp4", []byte("init"))
	for msn := uint64(1); msn <= 3; msn++ {
		obs.SegmentComplete(segment(msn))
	}
	obs.Ended(nil)
	done := make(chan struct{})
	go func() { p.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the worker never gave up")
	}
}

// TestNothingSelectedNothingUploaded: a stream that is neither pushed nor recorded puts nothing in the
// bucket; asking for its recording applies to the next publications too.
func TestNothingSelectedNothingUploaded(t *testing.T) {
	st := newFlaky(t)
	p := hlspush.New(hlspush.Config{Push: true, PushStreams: []string{"live/other", "news/*"}}, st, slog.Default(), nil)
	obs := p.Observer(&stream.Stream{Path: stream.Path{App: "live", Name: "cam"}})
	obs.Init("p_init.mp4", []byte("init"))
	obs.SegmentComplete(segment(1))
	obs.Ended(nil)
	p.Wait()
	require.Zero(t, st.puts.Load())
	require.False(t, p.Recording(stream.Path{App: "live", Name: "cam"}))
	p.SetRecording(stream.Path{App: "live", Name: "cam"}, true)
	require.True(t, p.Recording(stream.Path{App: "live", Name: "cam"}))
}

// TestRecordingStartedAndStoppedMidStream: a recording asked for while a stream is live starts at the next
// segment and is stored as soon as it is stopped; a second one of the same publication gets its own name,
// and the segments a recording names outlive the live window.
func TestRecordingStartedAndStoppedMidStream(t *testing.T) {
	st := newFlaky(t)
	p := hlspush.New(hlspush.Config{Prefix: "rec", RetryMax: 10 * time.Millisecond},
		st, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	cam := stream.Path{App: "live", Name: "cam"}
	obs := p.Observer(&stream.Stream{Path: cam, StartedAt: time.Now()})
	obs.Init("p_init.mp4", []byte("init"))
	obs.SegmentComplete(segment(1))
	require.False(t, p.RecordingNow(cam))

	p.SetRecording(cam, true)
	require.True(t, p.RecordingNow(cam))
	for msn := uint64(2); msn <= 4; msn++ {
		obs.SegmentComplete(segment(msn))
	}
	p.SetRecording(cam, false)
	require.False(t, p.RecordingNow(cam))
	obs.SegmentComplete(segment(5))
	var m hlspush.Manifest
	require.Eventually(t, func() bool {
		rc, _, err := st.Get(context.Background(), "rec/live/cam/p_recording.json", nil)
		if err != nil {
			return false
		}
		defer rc.Close()
		return json.NewDecoder(rc).Decode(&m) == nil
	}, 5*time.Second, 5*time.Millisecond, "the recording is stored when it is stopped, while the stream goes on")
	require.Equal(t, 3, m.Segments)
	require.InDelta(t, 3.0, m.Duration, 0.001)
	require.Equal(t, segment(2).DateTime, m.Start)
	require.Empty(t, m.Gaps)

	p.SetRecording(cam, true)
	obs.SegmentComplete(segment(6))
	obs.Ended(nil)
	p.Wait()
	for _, key := range []string{"rec/live/cam/p_recording2.json", "rec/live/cam/p_recording2.m3u8", "rec/live/cam/p_init.mp4",
		"rec/live/cam/p_seg2.mp4", "rec/live/cam/p_seg4.mp4", "rec/live/cam/p_seg6.mp4"} {
		_, err := st.Head(context.Background(), key)
		require.NoError(t, err, key)
	}
	for _, key := range []string{"rec/live/cam/p_seg1.mp4", "rec/live/cam/p_seg5.mp4"} {
		_, err := st.Head(context.Background(), key)
		require.ErrorIs(t, err, objstore.ErrNotFound, "%s was recorded by nobody", key)
	}
	vod := object(t, st, "rec/live/cam/p_recording.m3u8")
	require.Contains(t, string(vod), "#EXT-X-MEDIA-SEQUENCE:2\n")
	require.Contains(t, string(vod), "p_seg4.mp4\n#EXT-X-ENDLIST\n")
	require.NotContains(t, string(vod), "p_seg5.mp4")
}

// TestMPEGTSRecording: MPEG-TS segments have no init section; the recording is named after its first
// segment, its playlist has no EXT-X-MAP, and the segments are typed video/mp2t.
func TestMPEGTSRecording(t *testing.T) {
	st := newFlaky(t)
	p := hlspush.New(hlspush.Config{Record: true, RecordMP4: true, Prefix: "rec"},
		st, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	obs := p.Observer(&stream.Stream{Path: stream.Path{App: "live", Name: "cam"}, StartedAt: time.Now()})
	for msn := uint64(1); msn <= 3; msn++ {
		sg := segment(msn)
		sg.Name = strings.Replace(sg.Name, ".mp4", ".ts", 1)
		obs.SegmentComplete(sg)
	}
	obs.Ended(nil)
	p.Wait()
	m := manifest(t, st)
	require.Equal(t, "rec/live/cam/p_recording.m3u8", m.Playlist)
	require.Equal(t, 3, m.Segments)
	require.Empty(t, m.MP4, "record.mp4 applies to fMP4 variants")
	vod := object(t, st, m.Playlist)
	require.NotContains(t, string(vod), "EXT-X-MAP")
	require.Contains(t, string(vod), "p_seg1.ts\n")
	info, err := st.Head(context.Background(), "rec/live/cam/p_seg2.ts")
	require.NoError(t, err)
	require.Equal(t, hlspush.TSType, info.ContentType)
}

// TestRecordingAcrossAParameterChange: when the codec parameters change mid-stream the segmenter starts a
// new init section and a discontinuity; the recording's VOD playlist follows both, and no MP4 is made
// (one MP4 holds one init section).
func TestRecordingAcrossAParameterChange(t *testing.T) {
	st := newFlaky(t)
	p := hlspush.New(hlspush.Config{Record: true, RecordMP4: true, Prefix: "rec"},
		st, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	obs := p.Observer(&stream.Stream{Path: stream.Path{App: "live", Name: "cam"}, StartedAt: time.Now()})
	obs.Init("p_init.mp4", []byte("init"))
	for msn := uint64(1); msn <= 4; msn++ {
		sg := segment(msn)
		sg.InitName = "p_init.mp4"
		if msn == 3 {
			obs.Init("p_init2.mp4", []byte("init2"))
			sg.Discontinuity = true
		}
		if msn >= 3 {
			sg.InitName = "p_init2.mp4"
		}
		obs.SegmentComplete(sg)
	}
	obs.Ended(nil)
	p.Wait()
	m := manifest(t, st)
	require.Equal(t, 4, m.Segments)
	require.Empty(t, m.MP4)
	require.Equal(t, "init2", string(object(t, st, "rec/live/cam/p_init2.mp4")))
	vod := string(object(t, st, m.Playlist))
	require.Contains(t, vod, "#EXT-X-MAP:URI=\"p_init.mp4\"\n")
	require.Contains(t, vod, "p_seg2.mp4\n#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"p_init2.mp4\"\n")
	require.Equal(t, 1, strings.Count(vod, "#EXT-X-DISCONTINUITY\n"))
}
