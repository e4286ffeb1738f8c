package loadtest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPlayout: playback starts with the first media, a stall opens where the buffer runs out and closes
// when media to resume with arrives; a viewer who left neither stalls nor counts in the audience.
func TestPlayout(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	part := item{duration: 200 * time.Millisecond}
	var st ViewerStats
	o := playout{began: t0}

	o.append(at(100), part, &st)
	require.True(t, o.started && o.playing)
	require.InDelta(t, 100, *st.StartupMs, 1e-9)
	o.append(at(150), part, &st) // 400 ms buffered from 100 ms on: runs out at 500 ms
	o.advance(at(450), &st)
	require.Zero(t, st.Stalls)
	o.advance(at(700), &st)
	require.Equal(t, 1, st.Stalls, "the buffer ran out at 500 ms")
	require.Equal(t, 200*time.Millisecond, o.stalled(at(700)))
	o.append(at(800), part, &st)
	require.True(t, o.playing)
	require.InDelta(t, 300, st.LongestStallMs, 1e-9, "from 500 to 800 ms")
	require.Len(t, st.StallLog, 1)
	require.Equal(t, at(500), st.StallLog[0].At, "the stall began when the buffer ran out")
	require.InDelta(t, 300, st.StallLog[0].Ms, 1e-9)

	o.finish(at(900), &st)
	require.True(t, o.left)
	o.advance(at(5000), &st)
	require.Equal(t, 1, st.Stalls, "a viewer who left does not stall")

	p := &player{st: st}
	p.po = o
	tick := sample([]*player{p}, 5*time.Second)
	require.Zero(t, tick.Viewers, "a viewer who left is not in the audience")
	require.Equal(t, 1, tick.Stalls, "but its stalls count in the run's")
}

// TestPlayoutStartsAtItsStartPosition: a player that loads from an independent part plays once the media
// at its start position (skip into what it loads) is in, and shows its first frame firstFrame later,
// which its startup and latency include.
func TestPlayoutStartsAtItsStartPosition(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	part := item{duration: 200 * time.Millisecond, date: t0.Add(-2 * time.Second)}
	var st ViewerStats
	o := playout{began: t0, skip: 300 * time.Millisecond, firstFrame: 250 * time.Millisecond}

	o.append(at(100), part, &st)
	require.False(t, o.started, "200 ms loaded, the start position is 300 ms in")
	require.Nil(t, st.StartupMs)
	o.append(at(150), part, &st)
	require.True(t, o.started && o.playing)
	require.InDelta(t, 400, *st.StartupMs, 1e-9, "150 ms to load, 250 ms to the first frame")
	// the first frame at 400 ms shows media 300 ms in, program date t0-1.7 s: 2.1 s behind live
	require.InDelta(t, 2100, st.LatencyMs[len(st.LatencyMs)-1], 1e-9)
	// 100 ms of media ahead of the start position: it runs out 100 ms after the first frame
	o.advance(at(490), &st)
	require.Zero(t, st.Stalls)
	o.advance(at(510), &st)
	require.Equal(t, 1, st.Stalls)
}

// TestStartWork: before its first frame a virtual player works on each playlist and object it loaded
// (Config.StartWork) and asks for nothing meanwhile, as hls.js loads its start one object after another;
// once it plays, it asks for the next object at once.
func TestStartWork(t *testing.T) {
	const work = 80 * time.Millisecond
	var (
		mu   sync.Mutex
		seen []time.Time // when each request arrived
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, time.Now())
		mu.Unlock()
		switch r.URL.Path {
		case "/live/s/index.m3u8":
			fmt.Fprint(w, "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000000\nmedia.m3u8\n")
		case "/live/s/media.m3u8":
			fmt.Fprint(w, "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:0\n"+
				"#EXT-X-MAP:URI=\"init.mp4\"\n"+
				"#EXTINF:1.0,\ns0.mp4\n#EXTINF:1.0,\ns1.mp4\n#EXTINF:1.0,\ns2.mp4\n#EXTINF:1.0,\ns3.mp4\n#EXT-X-ENDLIST\n")
		default:
			_, _ = w.Write(make([]byte, 1000))
		}
	}))
	defer srv.Close()

	rep, err := Run(context.Background(), Config{URL: srv.URL + "/live/s/index.m3u8", Viewers: 1, Hold: 2 * time.Second,
		StartWork: work, FirstFrame: -1})
	require.NoError(t, err)
	v := rep.Viewers[0]
	require.NotNil(t, v.StartupMs, "%+v", v)
	require.Zero(t, v.Errors, v.LastError)
	mu.Lock()
	defer mu.Unlock()
	// multivariant, media playlist, init, the first segment (where a classic player starts: three target
	// durations behind the end), then the rest
	require.Len(t, seen, 6)
	for i := 1; i < 4; i++ {
		assert.GreaterOrEqual(t, seen[i].Sub(seen[i-1]), work, "request %d came during the work on the one before", i)
	}
	assert.GreaterOrEqual(t, *v.StartupMs, float64(4*work/time.Millisecond), "four loads, each followed by its work")
}
