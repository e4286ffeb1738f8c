package hlspush_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/media/hlspush"
	"github.com/nagare-video/nagare/internal/media/recording"
	"github.com/nagare-video/nagare/internal/media/segmenter"
	"github.com/nagare-video/nagare/internal/media/stream"
	"github.com/nagare-video/nagare/internal/objstore"
)

// flaky is a local store that can be taken down.
type flaky struct {
	*objstore.Local
	down  atomic.Bool
	puts  atomic.Int64
	fails atomic.Int64
}

var errDown = errors.New("storage is down")

func (f *flaky) Put(ctx context.Context, key string, r io.Reader, size int64, o objstore.PutOptions) error {
	if f.down.Load() {
		f.fails.Add(1)
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

var cam = stream.Path{App: "live", Name: "cam"}

// setup is a pusher and its recorder, both running until the test ends.
type setup struct {
	p   *hlspush.Pusher
	rec *recording.Recorder
	rm  *recording.Metrics
	// stop cancels both and waits for their Run to return.
	stop func()
}

func start(t *testing.T, st *flaky, cfg hlspush.Config, rcfg recording.Config) setup {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	rm := recording.NewMetrics(prometheus.NewRegistry())
	rec := recording.New(rcfg, st, log, rm)
	p := hlspush.New(cfg, st, rec, log, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { _ = p.Run(ctx); done <- struct{}{} }()
	go func() { _ = rec.Run(ctx); done <- struct{}{} }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		<-done
		<-done
	}
	t.Cleanup(stop)
	return setup{p: p, rec: rec, rm: rm, stop: stop}
}

// value reads a counter.
func value(t *testing.T, c prometheus.Counter) float64 {
	var m dto.Metric
	require.NoError(t, c.Write(&m))
	return m.GetCounter().GetValue()
}

func segment(msn uint64) segmenter.Segment {
	return segmenter.Segment{MSN: msn, Name: fmt.Sprintf("p_seg%d.mp4", msn), Duration: time.Second,
		DateTime: time.Date(2026, 11, 21, 10, 0, int(msn), 0, time.UTC)}.WithBytes(bytes.Repeat([]byte{byte(msn)}, 100))
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

// waitManifest waits for the recording manifest key (written again once the MP4 is there) and reads it.
func waitManifest(t *testing.T, st *flaky, key string, withMP4 bool) recording.Manifest {
	t.Helper()
	var m recording.Manifest
	require.Eventually(t, func() bool {
		var err error
		m, err = recording.ReadManifest(context.Background(), st, key)
		return err == nil && (!withMP4 || m.MP4 != "")
	}, 10*time.Second, 5*time.Millisecond, "no manifest %s", key)
	return m
}

// TestRecordingMarksWhatTheBacklogDropped: storage goes down, the bounded backlog overflows, and the
// recording comes out with the lost segments listed as a gap and a discontinuity — not truncated.
func TestRecordingMarksWhatTheBacklogDropped(t *testing.T) {
	st := newFlaky(t)
	s := start(t, st, hlspush.Config{Prefix: "rec", Backlog: 4, RetryMax: 10 * time.Millisecond},
		recording.Config{Record: true, MP4: true})
	obs := s.p.Observer(&stream.Stream{Path: cam, StartedAt: time.Now()})
	obs.Init("p_init.mp4", []byte("init"))
	obs.SegmentComplete(segment(1))
	require.Eventually(t, func() bool { return st.puts.Load() == 2 }, 5*time.Second, time.Millisecond)

	st.down.Store(true)
	for msn := uint64(2); msn <= 12; msn++ {
		obs.SegmentComplete(segment(msn)) // never blocks, whatever storage does
	}
	require.Eventually(t, func() bool { return st.fails.Load() >= 2 }, 5*time.Second, time.Millisecond,
		"the worker retries against the storage that is down")
	st.down.Store(false)
	obs.SegmentComplete(segment(13))
	obs.Ended(nil)

	m := waitManifest(t, st, "rec/live/cam/p_recording.json", true)
	require.NotEmpty(t, m.Gaps)
	missing := 0
	for _, g := range m.Gaps {
		missing += int(g.ToMSN-g.FromMSN) + 1
		require.Equal(t, "storage backlog full", g.Reason)
	}
	require.Equal(t, 13, m.Segments+missing, "every segment is either recorded or reported missing")
	require.Less(t, m.Segments, 13)
	require.InDelta(t, float64(m.Segments), m.Duration, 0.001)
	require.Equal(t, float64(missing), value(t, s.rm.Gaps))
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
// after the stream ended, while the node runs on, and its recording reports every segment lost.
func TestGivesUpAfterTheStreamEnded(t *testing.T) {
	st := newFlaky(t)
	st.down.Store(true)
	s := start(t, st, hlspush.Config{Prefix: "rec", RetryMax: 10 * time.Millisecond, GiveUpAfterEnd: 200 * time.Millisecond},
		recording.Config{Record: true})
	obs := s.p.Observer(&stream.Stream{Path: cam})
	obs.Init("p_init.mp4", []byte("init"))
	for msn := uint64(1); msn <= 3; msn++ {
		obs.SegmentComplete(segment(msn))
	}
	obs.Ended(nil)
	require.Eventually(t, func() bool { return s.p.Pending() == 0 }, 10*time.Second, 5*time.Millisecond,
		"the worker never gave up")
	require.Equal(t, 3.0, value(t, s.rm.Gaps))
	require.Equal(t, 1.0, value(t, s.rm.Failed), "a recording none of whose segments is stored is reported lost")
}

// TestNothingSelectedNothingUploaded: a stream that is neither pushed nor recorded puts nothing in the
// bucket; asking for its recording applies to the next publications too.
func TestNothingSelectedNothingUploaded(t *testing.T) {
	st := newFlaky(t)
	s := start(t, st, hlspush.Config{Push: true, Streams: []string{"live/other", "news/*"}}, recording.Config{})
	obs := s.p.Observer(&stream.Stream{Path: cam})
	obs.Init("p_init.mp4", []byte("init"))
	obs.SegmentComplete(segment(1))
	obs.Ended(nil)
	require.Eventually(t, func() bool { return s.p.Pending() == 0 }, 5*time.Second, time.Millisecond)
	require.Zero(t, st.puts.Load())
	require.False(t, s.rec.Next(cam))
	s.rec.Set(cam, true)
	require.True(t, s.rec.Next(cam))
}

// TestOnlyRecordedSegmentsUploaded: a stream that is not pushed uploads the segments of a recording asked
// for while it is live (from the next segment on) and their init section, and nothing else; a pushed one
// keeps what a recording names out of the live window's deletions.
func TestOnlyRecordedSegmentsUploaded(t *testing.T) {
	st := newFlaky(t)
	s := start(t, st, hlspush.Config{Prefix: "rec", RetryMax: 10 * time.Millisecond}, recording.Config{})
	obs := s.p.Observer(&stream.Stream{Path: cam, StartedAt: time.Now()})
	obs.Init("p_init.mp4", []byte("init"))
	obs.SegmentComplete(segment(1))
	s.rec.Set(cam, true)
	for msn := uint64(2); msn <= 4; msn++ {
		obs.SegmentComplete(segment(msn))
	}
	s.rec.Set(cam, false)
	obs.SegmentComplete(segment(5))
	m := waitManifest(t, st, "rec/live/cam/p_recording.json", false)
	require.Equal(t, 3, m.Segments)
	require.Equal(t, segment(2).DateTime, m.Start)

	s.rec.Set(cam, true)
	obs.SegmentComplete(segment(6))
	obs.Ended(nil)
	waitManifest(t, st, "rec/live/cam/p_recording2.json", false)
	require.Eventually(t, func() bool { return s.p.Pending() == 0 }, 5*time.Second, time.Millisecond)
	for _, key := range []string{"rec/live/cam/p_recording2.m3u8", "rec/live/cam/p_init.mp4",
		"rec/live/cam/p_seg2.mp4", "rec/live/cam/p_seg4.mp4", "rec/live/cam/p_seg6.mp4"} {
		_, err := st.Head(context.Background(), key)
		require.NoError(t, err, key)
	}
	for _, key := range []string{"rec/live/cam/p_seg1.mp4", "rec/live/cam/p_seg5.mp4"} {
		_, err := st.Head(context.Background(), key)
		require.ErrorIs(t, err, objstore.ErrNotFound, "%s was recorded by nobody", key)
	}
}

// TestRecordingAcrossAParameterChange: segments name the init section they need; the push uploads the
// new one when the codec parameters change and the recording follows both.
func TestRecordingAcrossAParameterChange(t *testing.T) {
	st := newFlaky(t)
	s := start(t, st, hlspush.Config{Prefix: "rec"}, recording.Config{Record: true, MP4: true})
	obs := s.p.Observer(&stream.Stream{Path: cam, StartedAt: time.Now()})
	obs.Init("p_init.mp4", []byte("init"))
	for msn := uint64(1); msn <= 4; msn++ {
		sg := segment(msn)
		if msn == 3 {
			obs.Init("p_init2.mp4", []byte("init2"))
			sg.Discontinuity = true
		}
		obs.SegmentComplete(sg) // without InitName: the latest init section is the segment's
	}
	obs.Ended(nil)
	m := waitManifest(t, st, "rec/live/cam/p_recording.json", false)
	require.Equal(t, 4, m.Segments)
	require.Equal(t, "init2", string(object(t, st, "rec/live/cam/p_init2.mp4")))
	vod := string(object(t, st, m.Playlist))
	require.Contains(t, vod, "p_seg2.mp4\n#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"p_init2.mp4\"\n")
}

// hanging is storage that never answers: every call blocks until its context ends.
type hanging struct {
	inFlight atomic.Int64
	calls    atomic.Int64
}

func (h *hanging) wait(ctx context.Context) error {
	h.calls.Add(1)
	h.inFlight.Add(1)
	defer h.inFlight.Add(-1)
	<-ctx.Done()
	return ctx.Err()
}

func (h *hanging) Put(ctx context.Context, _ string, _ io.Reader, _ int64, _ objstore.PutOptions) error {
	return h.wait(ctx)
}

func (h *hanging) Get(ctx context.Context, _ string, _ *objstore.Range) (io.ReadCloser, objstore.ObjectInfo, error) {
	return nil, objstore.ObjectInfo{}, h.wait(ctx)
}

func (h *hanging) Head(ctx context.Context, _ string) (objstore.ObjectInfo, error) {
	return objstore.ObjectInfo{}, h.wait(ctx)
}

func (h *hanging) Delete(ctx context.Context, _ string) error { return h.wait(ctx) }

// TestRunReturnsWhenStorageHangs: with storage that never answers, a pusher and its recorder return from
// Run soon after their context is cancelled — the live push at once, the end of a stream and its
// recording after the grace period — with no upload left running. (They used to retry for a minute.)
func TestRunReturnsWhenStorageHangs(t *testing.T) {
	st := &hanging{}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	rec := recording.New(recording.Config{Record: true, MP4: true, Grace: 300 * time.Millisecond}, st, log, nil)
	p := hlspush.New(hlspush.Config{Push: true, Prefix: "hls", Concurrency: 2, Grace: 300 * time.Millisecond}, st, rec, log, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() { done <- p.Run(ctx) }()
	go func() { done <- rec.Run(ctx) }()

	// one stream that ends (its final playlist and recording must be written), one that never does
	for _, name := range []string{"ends", "lives"} {
		obs := p.Observer(&stream.Stream{Path: stream.Path{App: "live", Name: name}})
		obs.Init("p_init.mp4", []byte("init"))
		for msn := uint64(1); msn <= 5; msn++ {
			obs.SegmentComplete(segment(msn))
		}
		if name == "ends" {
			obs.Ended(nil)
		}
	}
	require.Eventually(t, func() bool { return st.inFlight.Load() == 2 }, 5*time.Second, time.Millisecond,
		"both upload slots are taken by calls that never return")

	cancel()
	for range 2 {
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return after its context was cancelled")
		}
	}
	require.Zero(t, st.inFlight.Load(), "an upload outlived Run")
	require.Zero(t, p.Pending())
}
