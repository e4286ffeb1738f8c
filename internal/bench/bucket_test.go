package bench

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPlaylistObjects(t *testing.T) {
	for _, tc := range []struct {
		name     string
		playlist string
		want     []hlsObject
	}{
		{"nagare LL-HLS: gaps and the preload hint left out, queries stripped", nagarePlaylist, []hlsObject{
			{"04cd_video1_seg7.mp4", false},
			{"04cd_video1_part5.mp4", true}, {"04cd_video1_part6.mp4", true}, {"04cd_video1_seg8.mp4", false},
			{"04cd_video1_part7.mp4", true},
		}},
		{"nginx-rtmp", nginxPlaylist, []hlsObject{{"x1-3.ts", false}, {"x1-4.ts", false}}},
		{"a directory in the URI", "#EXTM3U\n#EXTINF:1,\n../v/a_seg3.mp4?x=1\n#EXTINF:1,\nhttp://cdn/live/a/a_seg4.mp4\n",
			[]hlsObject{{"a_seg3.mp4", false}, {"a_seg4.mp4", false}}},
		{"nothing yet", "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:0\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pl, err := ParseMediaPlaylist([]byte(tc.playlist))
			require.NoError(t, err)
			require.Equal(t, tc.want, playlistObjects(pl))
		})
	}
}

func TestAvailabilityLags(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	a := newAvailability()
	for _, o := range []struct {
		name            string
		part            bool
		complete, ready int // ms; ready 0: never
	}{
		{"before-window.mp4", true, -10, 50},
		{"p1.mp4", true, 0, 40},
		{"p2.mp4", true, 200, 300},
		{"p3.mp4", true, 400, 0},
		{"s1.mp4", false, 400, 420},
		{"s2.mp4", false, 900, 1000},
		{"after-window.mp4", false, 1000, 1010},
	} {
		require.True(t, a.complete(hlsObject{o.name, o.part}, at(o.complete)))
		if o.ready != 0 {
			a.readable(o.name, at(o.ready))
		}
	}
	require.False(t, a.complete(hlsObject{"p1.mp4", true}, at(5)), "an object is complete once")
	a.readable("p1.mp4", at(45))      // a later answer does not move the first
	a.readable("unknown.mp4", at(45)) // nor does an object never complete count
	a.name([]hlsObject{{"s1.mp4", false}}, at(450))
	a.name([]hlsObject{{"s1.mp4", false}, {"after-window.mp4", false}}, at(460))

	parts := a.lags(true, at(0), at(1000))
	require.Equal(t, bucketLags{
		N: 3, Readable: []time.Duration{40 * time.Millisecond, 100 * time.Millisecond}, NotReadable: 1, NotNamed: 3,
	}, sorted(parts))
	segs := a.lags(false, at(0), at(1000))
	require.Equal(t, bucketLags{
		N: 2, Readable: []time.Duration{20 * time.Millisecond, 100 * time.Millisecond},
		Named: []time.Duration{50 * time.Millisecond}, NotNamed: 1,
	}, sorted(segs))

	// pending: p3 is not readable, s2 is not named
	require.Equal(t, 2, a.pending(at(0), at(1000)))
	a.readable("p3.mp4", at(900))
	a.name([]hlsObject{{"s2.mp4", false}}, at(1100))
	require.Equal(t, 0, a.pending(at(0), at(1000)))
}

func sorted(l bucketLags) bucketLags {
	for _, s := range [][]time.Duration{l.Readable, l.Named} {
		for i := 1; i < len(s); i++ {
			for j := i; j > 0 && s[j] < s[j-1]; j-- {
				s[j], s[j-1] = s[j-1], s[j]
			}
		}
	}
	return l
}

func TestAvailabilitySilent(t *testing.T) {
	t0 := time.Unix(1000, 0)
	a := newAvailability()
	require.False(t, a.silent(t0.Add(time.Hour), time.Second), "nothing complete yet")
	a.complete(hlsObject{"a.mp4", true}, t0)
	require.False(t, a.silent(t0.Add(time.Second), time.Second))
	require.True(t, a.silent(t0.Add(1001*time.Millisecond), time.Second))
	a.readable("a.mp4", t0.Add(2*time.Second))
	require.False(t, a.silent(t0.Add(time.Hour), time.Second))
}

func TestParseCloseWrite(t *testing.T) {
	for _, tc := range []struct {
		line, name string
		ok         bool
	}{
		{"CLOSE_WRITE,CLOSE bench-1.ts", "bench-1.ts", true},
		{"CLOSE_WRITE bench-2.ts", "bench-2.ts", true},
		{"MOVED_TO bench.m3u8", "", false},
		{"CLOSE_WRITE,CLOSE ", "", false},
		{"Watches established.", "", false},
		{"", "", false},
	} {
		t.Run(tc.line, func(t *testing.T) {
			name, ok := parseCloseWrite(tc.line)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.name, name)
		})
	}
}

func TestSyncDurations(t *testing.T) {
	log := []byte("99.000000000 99.5\n100.250000000 101.000000000\ngarbage\n102.0 101.0\n103.5 103.75\n110.0 110.2\n")
	got := syncDurations(log, time.Unix(100, 0), time.Unix(110, 0))
	require.Len(t, got, 2, "the run before the window, the one after it and the bad lines are left out")
	require.InDelta(t, 750, ms(got[0]), 1e-3)
	require.InDelta(t, 250, ms(got[1]), 1e-3)
}

func TestProbe(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.Equal(t, http.MethodHead, r.Method)
		switch n := calls.Add(1); {
		case r.URL.Path == "/b/never":
			w.WriteHeader(http.StatusForbidden) // what an anonymous HEAD of a missing key may get
		case n <= 2:
			w.WriteHeader(http.StatusNotFound)
		case n <= 4:
			w.Header().Set("Content-Length", "10") // uploaded while still being written
		default:
			w.Header().Set("Content-Length", "100")
		}
	}))
	defer srv.Close()
	c := srv.Client()

	start := time.Now()
	at, ok := probe(context.Background(), c, srv.URL+"/b/obj", 100)
	require.True(t, ok)
	require.Equal(t, int32(5), calls.Load(), "readable only once whole")
	require.True(t, at.After(start))
	require.GreaterOrEqual(t, at.Sub(start), 4*probeEvery)

	calls.Store(4)
	_, ok = probe(context.Background(), c, srv.URL+"/b/obj", -1)
	require.True(t, ok, "any size will do")

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, ok = probe(ctx, c, srv.URL+"/b/never", -1)
	require.False(t, ok)
}

// TestFollowObjects serves an LL-HLS playlist that gains a part per blocking request and checks that
// every new object is reported once, and none of those the first playlist listed.
func TestFollowObjects(t *testing.T) {
	var mu sync.Mutex
	var queries []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		queries = append(queries, r.URL.RawQuery)
		n := len(queries) // playlist version n has n parts after the first segment
		mu.Unlock()
		if n > 6 {
			<-r.Context().Done()
			return
		}
		var b strings.Builder
		b.WriteString("#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:1\n#EXT-X-PART:DURATION=0.2,URI=\"p1_0.mp4\"\n#EXTINF:0.2,\ns1.mp4\n")
		for i := range n {
			seg, part := 2+i/3, i%3
			fmt.Fprintf(&b, "#EXT-X-PART:DURATION=0.2,URI=\"p%d_%d.mp4\"\n", seg, part)
			if part == 2 {
				fmt.Fprintf(&b, "#EXTINF:0.6,\ns%d.mp4\n", seg)
			}
		}
		w.Write([]byte(b.String()))
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var got []hlsObject
	followObjects(ctx, srv.Client(), srv.URL+"/live/x/video.m3u8?nsid=1", func(o hlsObject, _ time.Time) {
		got = append(got, o)
		if len(got) == 7 {
			cancel()
		}
	})
	require.Equal(t, []hlsObject{
		{"p2_1.mp4", true}, {"p2_2.mp4", true}, {"s2.mp4", false}, {"p3_0.mp4", true}, {"p3_1.mp4", true},
		{"p3_2.mp4", true}, {"s3.mp4", false},
	}, got)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, "nsid=1", queries[0])
	require.Equal(t, "_HLS_msn=2&_HLS_part=1&nsid=1", queries[1], "asks for the part after the last one listed")
	require.Equal(t, "_HLS_msn=3&_HLS_part=0&nsid=1", queries[3])
}

func TestWatchClosed(t *testing.T) {
	if testing.Short() {
		t.Skip("runs inotifywait (skipped with -short)")
	}
	if _, err := exec.LookPath("inotifywait"); err != nil {
		t.Skip("inotifywait not installed: scripts/deps.sh bench")
	}
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan string, 10)
	wait, err := watchClosed(ctx, dir, func(name string, _ time.Time) { got <- name })
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a.ts"), []byte("x"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "b.tmp"), []byte("x"), 0o644))
	require.NoError(t, os.Rename(filepath.Join(dir, "b.tmp"), filepath.Join(dir, "b.m3u8")))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "c.ts"), []byte("x"), 0o644))
	require.Equal(t, "a.ts", <-got)
	require.Equal(t, "b.tmp", <-got)
	require.Equal(t, "c.ts", <-got, "a rename is not a close_write")
	cancel()
	wait()
}

func TestRenderBucket(t *testing.T) {
	ds := func(msList ...int) []time.Duration {
		var out []time.Duration
		for _, m := range msList {
			out = append(out, time.Duration(m)*time.Millisecond)
		}
		return out
	}
	t0 := time.Unix(1000, 0)
	base := bucketResult{
		Stream: "live/bucket-1", Warmup: 5 * time.Second, From: t0, To: t0.Add(45 * time.Second),
		NagareParts:    bucketLags{N: 3, Readable: ds(20, 30, 40), NotNamed: 3},
		NagareSegments: bucketLags{N: 2, Readable: ds(30, 50), Named: ds(40, 60)},
		Watch:          &bucketLags{N: 2, Readable: ds(900, 1100), Named: ds(1000, 1200)},
		Syncs:          ds(800, 900),
	}
	render := func(r bucketResult) string {
		var b bytes.Buffer
		renderBucket(&b, &r)
		return b.String()
	}

	out := render(base)
	require.Contains(t, out, "| nagare push | part | 3 | 30.0 | 39.0 | 40.0 | not listed | – | 0 / – | p95 ≤ 150 ms: **met** |")
	require.Contains(t, out, "| watcher: inotifywait + aws s3 sync | segment | 2 | 1000.0 | 1090.0 | 1100.0 | 1100.0 | 1190.0 | 0 / 0 | – |")
	require.Contains(t, out, "| readable from the bucket | 25× | 22× | **met** |")
	require.Contains(t, out, "| named by the bucket's playlist | 22× | 20× | **met** |")
	require.Contains(t, out, "Stream live/bucket-1; window 45 s (after 5 s of warm-up); bucket polled every 5 ms (every 25 ms once an object had been awaited 1 s).")
	require.Contains(t, out, "ran `aws s3 sync` 2 times in the window (every 22.50 s on average), each taking 850 ms median")

	slow := base
	slow.NagareParts = bucketLags{N: 3, Readable: ds(20, 30, 400), NotNamed: 3}
	slow.NagareSegments = bucketLags{N: 2, Readable: ds(300, 500), Named: ds(40, 60)}
	out = render(slow)
	require.Contains(t, out, "p95 ≤ 150 ms: **missed** (363.0 ms, 0 never readable)")
	require.Contains(t, out, "| readable from the bucket | 2.5× | 2.2× | **missed** (below 10×) |")

	lost := base
	lost.NagareParts = bucketLags{N: 4, Readable: ds(20, 30, 40), NotReadable: 1, NotNamed: 4}
	require.Contains(t, render(lost), "p95 ≤ 150 ms: **missed** (39.0 ms, 1 never readable)")

	alone := base
	alone.Watch, alone.Syncs = nil, nil
	out = render(alone)
	require.NotContains(t, out, "watcher")
	require.NotContains(t, out, "÷")
}
