package node

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/media/stream"
)

// TestBitrates: a stream's bit rate is what it brought in since the previous report (since it started,
// at the first), a report that comes again at once keeps the last rate, and an ended stream is forgotten.
func TestBitrates(t *testing.T) {
	var reg stream.Registry
	start := time.Now()
	publish := func(name string) *stream.Stream {
		s, err := reg.Publish(stream.PublishRequest{Path: stream.Path{App: "live", Name: name}, Protocol: "rtmp"})
		require.NoError(t, err)
		return s
	}
	a := publish("a")
	a.StartedAt = start // the clock of the test
	send := func(s *stream.Stream, bytes int) { s.Write(&stream.Unit{Size: bytes}) }
	var b bitrates
	for _, tc := range []struct {
		name  string
		after time.Duration // since start
		bytes int           // brought in since the step before
		want  int64
	}{
		{"too young to tell", 500 * time.Millisecond, 50_000, 0},
		{"since it started", 2 * time.Second, 200_000, 1_000_000},              // 250 kB in 2 s
		{"since the last report", 4 * time.Second, 500_000, 2_000_000},         // 500 kB in 2 s
		{"a report again at once", 4100 * time.Millisecond, 10_000, 2_000_000}, // kept
		{"then measured over both", 5 * time.Second, 115_000, 1_000_000},       // 125 kB in 1 s
		{"silent", 7 * time.Second, 0, 0},
	} {
		send(a, tc.bytes)
		got := b.measure([]*stream.Stream{a}, start.Add(tc.after))
		require.Equal(t, tc.want, got[a], tc.name)
	}

	// a stream published again under the same name starts over; the ended one is forgotten
	reg.Unpublish(a)
	a2 := publish("a")
	a2.StartedAt = start.Add(7 * time.Second)
	send(a2, 100_000)
	got := b.measure([]*stream.Stream{a2}, start.Add(8*time.Second))
	require.Equal(t, int64(800_000), got[a2])
	require.Len(t, b.last, 1)
}
