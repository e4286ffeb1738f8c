package segmenter

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/media/stream"
)

// TestDatesFollowTheMediaClock: units arrive with network jitter, yet each segment's
// EXT-X-PROGRAM-DATE-TIME is the previous one's plus its EXTINF exactly (players that place segments by
// their dates, such as Shaka, otherwise see holes and overlaps); when the wall clock runs away from the
// media clock (the publisher stalled), the dates are anchored on the wall clock again.
func TestDatesFollowTheMediaClock(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			s, rec, video, audio := newAV(t, v.format, v.lowLatency)
			rng := rand.New(rand.NewPCG(1, 2))
			stall := time.Duration(0)
			write := func(u *stream.Unit, i int) {
				if i == 200 { // 8 s in: the publisher stalls 5 s, then goes on with continuous timestamps
					stall = 5 * time.Second
				}
				u.NTP = u.NTP.Add(stall + time.Duration(rng.IntN(80_000))*time.Microsecond) // 0–80 ms late
				require.NoError(t, s.Write(u))
			}
			feedUnits(video, audio, 0, 301, 25, write) // 40 ms frames, a keyframe every 25: a segment a second
			require.GreaterOrEqual(t, len(rec.segs), 10)
			reanchored := 0
			for i := 1; i < len(rec.segs); i++ {
				prev, cur := rec.segs[i-1], rec.segs[i]
				require.Zero(t, cur.DateTime.Nanosecond()%int(time.Millisecond), "dates are whole milliseconds")
				if want := prev.DateTime.Add(prev.Duration); !cur.DateTime.Equal(want) {
					reanchored++
					require.Greater(t, cur.DateTime.Sub(want), 4*time.Second, "segment %d: only the stall re-anchors the dates", cur.MSN)
				}
			}
			require.Equal(t, 1, reanchored, "the 5 s stall anchors the dates on the wall clock again, once")
		})
	}
}
