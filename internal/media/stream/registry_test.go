package stream

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// recorder is a Listener that records the order of the calls it gets.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) StreamStarted(s *Stream) { r.add("started", s) }
func (r *recorder) StreamEnded(s *Stream)   { r.add("ended", s) }

func (r *recorder) add(what string, s *Stream) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf("%s %s %s", what, s.Path, s.Remote))
}

func (r *recorder) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events...)
}

var testPath = Path{App: "live", Name: "s"}

// recv receives from a reader's queue, failing instead of hanging when nothing comes.
func recv(t *testing.T, r *Reader) (*Unit, bool) {
	t.Helper()
	select {
	case u, ok := <-r.Units():
		return u, ok
	case <-time.After(5 * time.Second):
		t.Fatalf("reader %s: no unit and queue not closed", r.Name)
		return nil, false
	}
}

func TestRegistryPublishUnpublish(t *testing.T) {
	var r Registry
	rec := &recorder{}
	r.AddListener(rec)

	require.Nil(t, r.Get(testPath))
	s, err := r.Publish(PublishRequest{Path: testPath, Protocol: "rtmp", Remote: "a"})
	require.NoError(t, err)
	require.Same(t, s, r.Get(testPath))
	require.Equal(t, []*Stream{s}, r.List())
	require.Equal(t, []string{"started live/s a"}, rec.get())

	r.Unpublish(s)
	require.Nil(t, r.Get(testPath))
	require.Empty(t, r.List())
	require.Equal(t, []string{"started live/s a", "ended live/s a"}, rec.get())

	// The name is free again.
	s2, err := r.Publish(PublishRequest{Path: testPath, Protocol: "srt", Remote: "b"})
	require.NoError(t, err)
	require.Same(t, s2, r.Get(testPath))
}

func TestRegistryDuplicateRefused(t *testing.T) {
	var r Registry
	rec := &recorder{}
	r.AddListener(rec)
	closed := false
	s, err := r.Publish(PublishRequest{Path: testPath, Protocol: "rtmp", Remote: "a", Close: func() { closed = true }})
	require.NoError(t, err)

	s2, err := r.Publish(PublishRequest{Path: testPath, Protocol: "srt", Remote: "b"})
	require.Nil(t, s2)
	require.True(t, errors.Is(err, ErrAlreadyPublishing), "got %v", err)
	require.Contains(t, err.Error(), "live/s")
	require.False(t, closed, "a refused publisher must not close the live one")
	require.Same(t, s, r.Get(testPath))
	require.Equal(t, []string{"started live/s a"}, rec.get())
}

func TestRegistryTakeover(t *testing.T) {
	r := Registry{Takeover: true}
	rec := &recorder{}
	r.AddListener(rec)

	closedOld := 0
	old, err := r.Publish(PublishRequest{Path: testPath, Remote: "old", Close: func() { closedOld++ }})
	require.NoError(t, err)
	oldReader := old.AddReader("r", 4)
	require.NotNil(t, oldReader)

	s, err := r.Publish(PublishRequest{Path: testPath, Remote: "new"})
	require.NoError(t, err)
	require.NotSame(t, old, s)
	require.Equal(t, 1, closedOld, "the old publisher's Close must be called once")
	require.Same(t, s, r.Get(testPath))
	require.Equal(t, []string{"started live/s old", "ended live/s old", "started live/s new"}, rec.get())

	_, ok := recv(t, oldReader)
	require.False(t, ok, "readers of the old stream must see their queue closed")
	require.Nil(t, old.AddReader("late", 1), "an ended stream takes no readers")

	// The old publisher notices it was closed and unpublishes: this must not end the new stream.
	r.Unpublish(old)
	require.Same(t, s, r.Get(testPath))
	require.Equal(t, []string{"started live/s old", "ended live/s old", "started live/s new"}, rec.get())
}

func TestRegistryTakeoverWhenCloseUnpublishesSynchronously(t *testing.T) {
	r := Registry{Takeover: true}
	rec := &recorder{}
	r.AddListener(rec)
	var old *Stream
	old, err := r.Publish(PublishRequest{Path: testPath, Remote: "old", Close: func() { r.Unpublish(old) }})
	require.NoError(t, err)

	s, err := r.Publish(PublishRequest{Path: testPath, Remote: "new"})
	require.NoError(t, err)
	require.Same(t, s, r.Get(testPath))
	require.Equal(t, []string{"started live/s old", "ended live/s old", "started live/s new"}, rec.get())
}

func TestRegistryUnpublishTwice(t *testing.T) {
	var r Registry
	rec := &recorder{}
	r.AddListener(rec)
	s, err := r.Publish(PublishRequest{Path: testPath, Remote: "a"})
	require.NoError(t, err)
	rd := s.AddReader("r", 1)

	r.Unpublish(s)
	r.Unpublish(s)
	require.Equal(t, []string{"started live/s a", "ended live/s a"}, rec.get())
	s.RemoveReader(rd) // after the stream ended: must not close the queue a second time
	s.Write(&Unit{Size: 1})
	require.Nil(t, r.Get(testPath))
}

func TestRegistryCloseAll(t *testing.T) {
	var r Registry
	var mu sync.Mutex
	var closed []string
	for _, name := range []string{"b", "a"} {
		_, err := r.Publish(PublishRequest{Path: Path{App: "live", Name: name}, Close: func() {
			mu.Lock()
			defer mu.Unlock()
			closed = append(closed, name)
		}})
		require.NoError(t, err)
	}
	r.CloseAll()
	require.Equal(t, []string{"a", "b"}, closed, "CloseAll closes every publisher, in path order")
}

func TestSlowReaderDoesNotBlockWrite(t *testing.T) {
	var r Registry
	s, err := r.Publish(PublishRequest{Path: testPath})
	require.NoError(t, err)
	slow := s.AddReader("slow", 2)
	fast := s.AddReader("fast", 100)

	const n = 10
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < n; i++ {
			s.Write(&Unit{PTS: time.Duration(i), Size: 1})
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Write blocked on a reader whose queue is full")
	}

	require.Equal(t, uint64(n-2), slow.Dropped())
	require.Equal(t, uint64(0), fast.Dropped())
	require.Equal(t, uint64(n-2), s.Dropped())
	require.Equal(t, uint64(n), s.UnitCount())

	// The slow reader keeps the oldest units; the fast one has them all, in order.
	for i := 0; i < 2; i++ {
		u, ok := recv(t, slow)
		require.True(t, ok)
		require.Equal(t, time.Duration(i), u.PTS)
	}
	for i := 0; i < n; i++ {
		u, ok := recv(t, fast)
		require.True(t, ok)
		require.Equal(t, time.Duration(i), u.PTS)
	}
}

func TestRemoveReaderClosesQueue(t *testing.T) {
	var r Registry
	s, err := r.Publish(PublishRequest{Path: testPath})
	require.NoError(t, err)
	rd := s.AddReader("r", 4)
	other := s.AddReader("other", 4)

	s.Write(&Unit{Size: 3})
	s.RemoveReader(rd)
	s.RemoveReader(rd) // twice is safe
	s.Write(&Unit{Size: 5})

	u, ok := recv(t, rd)
	require.True(t, ok, "units queued before removal are still delivered")
	require.Equal(t, 3, u.Size)
	_, ok = recv(t, rd)
	require.False(t, ok, "the queue is closed after RemoveReader")
	require.Len(t, other.Units(), 2, "the other reader still gets units")

	r.Unpublish(s)
	for i := 0; i < 2; i++ {
		_, ok = recv(t, other)
		require.True(t, ok)
	}
	_, ok = recv(t, other)
	require.False(t, ok, "Unpublish closes the queues of the remaining readers")
}

func TestBytesIn(t *testing.T) {
	var r Registry
	a, err := r.Publish(PublishRequest{Path: Path{App: "live", Name: "a"}})
	require.NoError(t, err)
	b, err := r.Publish(PublishRequest{Path: Path{App: "live", Name: "b"}})
	require.NoError(t, err)

	a.Write(&Unit{Size: 100})
	a.Write(&Unit{Size: 50})
	b.Write(&Unit{Size: 7})
	require.Equal(t, uint64(150), a.BytesIn())
	require.Equal(t, uint64(7), b.BytesIn())
	require.Equal(t, uint64(157), r.BytesIn())

	// The registry's total survives the end of a stream.
	r.Unpublish(a)
	b.Write(&Unit{Size: 3})
	require.Equal(t, uint64(160), r.BytesIn())
	require.Equal(t, uint64(150), a.BytesIn())
}

func TestRegistryConcurrentUse(t *testing.T) {
	// Run under -race: publishers, writers, readers and listeners at once.
	r := Registry{Takeover: true}
	r.AddListener(&recorder{})
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := Path{App: "live", Name: fmt.Sprintf("s%d", i%3)}
			for j := 0; j < 50; j++ {
				s, err := r.Publish(PublishRequest{Path: p})
				require.NoError(t, err)
				rd := s.AddReader("r", 4) // nil when another publisher already took over
				s.Write(&Unit{Size: 1})
				s.Write(&Unit{Size: 1})
				if rd != nil {
					s.RemoveReader(rd)
				}
				_ = r.List()
				r.Unpublish(s)
			}
		}()
	}
	wg.Wait()
	require.Equal(t, uint64(8*50*2), r.BytesIn())
}

// TestInlineReader: an inline reader gets every unit in order, in Write itself, beside queued readers;
// done comes once, when the stream ends or the reader is removed, and nothing after it.
func TestInlineReader(t *testing.T) {
	var r Registry
	s, err := r.Publish(PublishRequest{Path: testPath})
	require.NoError(t, err)
	var got []time.Duration
	ends := 0
	in := s.AddInlineReader("inline", func(u *Unit) { got = append(got, u.PTS) }, func() { ends++ })
	require.NotNil(t, in)
	queued := s.AddReader("queued", 10)
	var removedGot []time.Duration
	removedEnds := 0
	removed := s.AddInlineReader("removed", func(u *Unit) { removedGot = append(removedGot, u.PTS) }, func() { removedEnds++ })

	for i := range 3 {
		s.Write(&Unit{PTS: time.Duration(i), Size: 1})
	}
	require.Equal(t, []time.Duration{0, 1, 2}, got, "consumed in Write, in order")
	s.RemoveReader(removed)
	s.RemoveReader(removed) // a second removal does nothing
	require.Equal(t, 1, removedEnds)
	s.Write(&Unit{PTS: 3, Size: 1})
	require.Equal(t, []time.Duration{0, 1, 2}, removedGot, "nothing after removal")
	require.Equal(t, []time.Duration{0, 1, 2, 3}, got)
	require.Zero(t, ends)

	r.Unpublish(s)
	r.Unpublish(s)
	require.Equal(t, 1, ends, "done once when the stream ends")
	for i := range 4 {
		u, ok := recv(t, queued)
		require.True(t, ok)
		require.Equal(t, time.Duration(i), u.PTS)
	}
	require.Nil(t, s.AddInlineReader("late", func(*Unit) {}, func() {}), "an ended stream takes no readers")
}

func TestTrackReader(t *testing.T) {
	var r Registry
	video, audio := &Track{}, &Track{}
	s, err := r.Publish(PublishRequest{Path: testPath, Tracks: []*Track{video, audio}})
	require.NoError(t, err)
	videoOnly := s.AddTrackReader("video", 10, video)
	all := s.AddTrackReader("all", 10, nil)
	for i := range 4 {
		tr := video
		if i%2 == 1 {
			tr = audio
		}
		s.Write(&Unit{Track: tr, PTS: time.Duration(i), Size: 1})
	}
	r.Unpublish(s)
	var got, gotAll []time.Duration
	for u := range videoOnly.Units() {
		require.Same(t, video, u.Track)
		got = append(got, u.PTS)
	}
	for u := range all.Units() {
		gotAll = append(gotAll, u.PTS)
	}
	require.Equal(t, []time.Duration{0, 2}, got, "the other track's units never queued")
	require.Equal(t, []time.Duration{0, 1, 2, 3}, gotAll)
}
