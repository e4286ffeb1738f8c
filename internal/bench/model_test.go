package bench

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/loadtest"
)

// A line as model.mjs prints it (model.html's result): the startup runs from the multivariant playlist's
// request (resource timing) to the first frame; the start part is the one holding the start position.
const modelPageLine = `{"browser":"156.0","hlsjsVersion":"1.7.4","hlsjsConfig":"{\"lowLatencyMode\":true}",
"loadSourceAt":800,"joinLateMs":0,"manifestRequestAt":810,"manifestLoaderAt":802,"firstFrameAt":1500,"playingAt":1530,
"firstFrame":{"latencyMs":1100,"mediaTimeS":6.45,"bufferedStartS":6,"bufferedEndS":7},
"latencyMs":[1200,1100,1150],"stalls":1,"errors":[{"atS":1.2,"details":"bufferStalledError","fatal":false}],
"hlsjsLatencyS":1.1,"hlsjsTargetLatencyS":0.6,"partHoldBackS":0.6,"partTargetS":0.2,
"startRequests":[
 {"path":"favicon.ico","startAt":100,"responseStartAt":-300,"endAt":120},
 {"path":"index.m3u8","startAt":810,"responseStartAt":830,"endAt":831},
 {"path":"video1_stream.m3u8","startAt":840,"responseStartAt":900,"endAt":901},
 {"path":"video1_stream.m3u8?_HLS_msn=9&_HLS_part=2","startAt":910,"responseStartAt":1200,"endAt":1201},
 {"path":"ab_init.mp4?nsid=1","startAt":912,"responseStartAt":920,"endAt":921},
 {"path":"ab_part8_0.mp4","startAt":925,"responseStartAt":930,"endAt":940},
 {"path":"ab_part8_1.mp4","startAt":1000,"responseStartAt":1010,"endAt":1020},
 {"path":"ab_part8_2.mp4","startAt":1050,"responseStartAt":1060,"endAt":1070},
 {"path":"ab_part8_3.mp4","startAt":1100,"responseStartAt":1110,"endAt":1120}]}`

func TestModelPagePlay(t *testing.T) {
	pg, err := parseModelPage([]byte(strings.ReplaceAll(modelPageLine, "\n", "")))
	require.NoError(t, err)
	p := pg.play()
	require.Empty(t, p.Error)
	require.InDelta(t, 690, *p.StartupMs, 1e-9, "first frame − the request of the multivariant playlist")
	require.InDelta(t, 1070-810, *p.MediaLoadedMs, 1e-9, "6.45 s is in the third part from the buffer's start")
	require.InDelta(t, 1100, *p.StartLatencyMs, 1e-9)
	require.InDelta(t, 1150, *p.LatencyMedianMs, 1e-9)
	require.Equal(t, 1, p.Stalls)
	require.Equal(t, 1, p.Errors)
	require.Equal(t, "0.45 s", pg.skipped())

	t.Run("no resource timing entry: hls.js's loader stats", func(t *testing.T) {
		pg2 := *pg
		pg2.ManifestRequestAt = 0
		require.InDelta(t, 698, *pg2.play().StartupMs, 1e-9)
	})
	t.Run("no first frame", func(t *testing.T) {
		pg2 := *pg
		pg2.FirstFrameAt = 0
		p := pg2.play()
		require.Nil(t, p.StartupMs)
		require.Equal(t, "no first frame", p.Error)
	})
	t.Run("the driver's error", func(t *testing.T) {
		pg2, err := parseModelPage([]byte(`{"browser":"156.0","error":"no frame within 20 s (player errors: none)"}`))
		require.NoError(t, err)
		p := pg2.play()
		require.Nil(t, p.StartupMs)
		require.Contains(t, p.Error, "no frame within 20 s")
	})
	t.Run("not JSON", func(t *testing.T) {
		_, err := parseModelPage([]byte("Error: browser closed"))
		require.ErrorContains(t, err, "model.mjs output")
	})
}

func TestVirtualPlay(t *testing.T) {
	startup := 100.0
	rep := &loadtest.Report{
		Viewers: []loadtest.ViewerStats{{StartupMs: &startup, LatencyMs: []float64{900, 900, 950}, Stalls: 0}},
		Timeline: []loadtest.Tick{
			{At: 1, Viewers: 1, LatencyP50Ms: 900}, // in the warm-up
			{At: 2, Viewers: 1, LatencyP50Ms: 900},
			{At: 3, Viewers: 1, LatencyP50Ms: 950},
			{At: 4, Viewers: 1, LatencyP50Ms: 1000},
			{At: 5, Viewers: 1, LatencyP50Ms: 1000}, // after the window
			{At: 6, Viewers: 0},
		},
	}
	p := virtualPlay(rep, 40*time.Millisecond, 1500*time.Millisecond, 3*time.Second)
	require.Empty(t, p.Error)
	require.Equal(t, []float64{900, 950, 1000}, p.LatencyMs, "from 1.6 s to 4.6 s")
	require.InDelta(t, 950, *p.LatencyMedianMs, 1e-9)
	require.InDelta(t, 60, *p.MediaLoadedMs, 1e-9, "its startup less its first-frame time")
	require.InDelta(t, 900, *p.StartLatencyMs, 1e-9)

	never := virtualPlay(&loadtest.Report{Viewers: []loadtest.ViewerStats{{LastError: "HTTP 404"}}}, 0, time.Second, time.Second)
	require.Nil(t, never.StartupMs)
	require.Equal(t, "did not start: HTTP 404", never.Error)

	short := virtualPlay(rep, 0, 10*time.Second, time.Second)
	require.Nil(t, short.LatencyMedianMs)
	require.Equal(t, "no latency sample after the warm-up", short.Error)
}

func TestSummarizeModel(t *testing.T) {
	play := func(startup, latency float64) ModelPlay {
		return ModelPlay{StartupMs: ptr(startup), MediaLoadedMs: ptr(startup / 2), LatencyMedianMs: ptr(latency)}
	}
	sessions := []ModelSession{
		{N: 1, HLSJS: play(600, 1000), Virtual: play(100, 1200)},
		{N: 2, HLSJS: play(800, 1100), Virtual: play(50, 800)},
		{N: 3, HLSJS: ModelPlay{Error: "no first frame", Stalls: 2}, Virtual: play(70, 1000)},
	}
	s := summarizeModel(sessions)
	require.Equal(t, 2, s.HLSJS.Started, "a session without a first frame is not counted")
	require.InDelta(t, 700, s.HLSJS.StartupMedianMs, 1e-9)
	require.InDelta(t, 600, s.HLSJS.StartupMinMs, 1e-9)
	require.InDelta(t, 800, s.HLSJS.StartupMaxMs, 1e-9)
	require.InDelta(t, 1050, s.HLSJS.LatencyMedianMs, 1e-9)
	require.Equal(t, 2, s.HLSJS.Stalls)
	require.Equal(t, 3, s.Virtual.Started)
	require.InDelta(t, 70, s.Virtual.StartupMedianMs, 1e-9)
	require.InDelta(t, 1000, s.Virtual.LatencyMedianMs, 1e-9)
	require.InDelta(t, 800, s.Virtual.LatencyMinMs, 1e-9)
	require.InDelta(t, 1200, s.Virtual.LatencyMaxMs, 1e-9)
	require.InDelta(t, 70.0/700, s.StartupRatio, 1e-9)
	require.InDelta(t, 1000.0/1050, s.LatencyRatio, 1e-9)

	r := &ModelResult{Sessions: sessions, Summary: s, Clip: "clip.ts", WarmupS: 2, DurationS: 3}
	var b strings.Builder
	r.render(func(format string, a ...any) { fmt.Fprintf(&b, format, a...) })
	out := b.String()
	require.Contains(t, out, "| 700 ms (600–800, 2 sessions) | 70 ms (50–100, 3 sessions) | 0.10 | **missed**: the model's is 90 % lower |")
	require.Contains(t, out, "| 0.95 | **met** |")
	require.Contains(t, out, "session 3, hls.js: no first frame")
	require.Equal(t, "nagare bench model -clip clip.ts -sessions 3 -warmup 2s -duration 3s", r.command())

	none := summarizeModel([]ModelSession{{HLSJS: ModelPlay{Error: "x"}, Virtual: play(1, 1)}})
	require.Zero(t, none.StartupRatio, "no ratio without hls.js's figure")
	require.Equal(t, "not measured", modelVerdict(none.StartupRatio))
}

func TestModelVerdict(t *testing.T) {
	for _, tc := range []struct {
		ratio float64
		want  string
	}{
		{1, "**met**"},
		{0.8, "**met**"},
		{1.2, "**met**"},
		{0.79, "**missed**: the model's is 21 % lower"},
		{1.5, "**missed**: the model's is 50 % higher"},
		{0, "not measured"},
	} {
		require.Equal(t, tc.want, modelVerdict(tc.ratio), "ratio %v", tc.ratio)
	}
}

func TestReadSegmentClock(t *testing.T) {
	for _, tc := range []struct {
		name, playlist string
		base           string
		segment, part  time.Duration
		err            string
	}{
		{
			name: "the last whole segment, its parts between its date and its duration",
			playlist: "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-PART-INF:PART-TARGET=0.20000\n" +
				"#EXT-X-PROGRAM-DATE-TIME:2026-12-05T22:15:14.703Z\n#EXTINF:1.00000,\nseg0.mp4\n" +
				"#EXT-X-PROGRAM-DATE-TIME:2026-12-05T22:15:15.703Z\n#EXT-X-PART:DURATION=0.20000,URI=\"p1_0.mp4\",INDEPENDENT=YES\n" +
				"#EXTINF:1.00000,\nseg1.mp4\n#EXT-X-PROGRAM-DATE-TIME:2026-12-05T22:15:16.703Z\n#EXT-X-PART:DURATION=0.20000,URI=\"p2_0.mp4\"\n",
			base: "2026-12-05T22:15:15.703Z", segment: time.Second, part: 200 * time.Millisecond,
		},
		{
			name:     "classic HLS, two-second segments",
			playlist: "#EXTM3U\n#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:00Z\n#EXTINF:2.000,\na.ts\n",
			base:     "2026-01-01T00:00:00Z", segment: 2 * time.Second,
		},
		{name: "no date", playlist: "#EXTM3U\n#EXTINF:1.0,\na.ts\n", err: "no segment with a program date"},
		{name: "a bad date", playlist: "#EXTM3U\n#EXT-X-PROGRAM-DATE-TIME:yesterday\n#EXTINF:1.0,\na.ts\n", err: "program date"},
		{name: "a bad part target", playlist: "#EXTM3U\n#EXT-X-PART-INF:PART-TARGET=soon\n", err: "part target"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := readSegmentClock([]byte(tc.playlist))
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			want, perr := time.Parse(time.RFC3339Nano, tc.base)
			require.NoError(t, perr)
			require.True(t, want.Equal(c.base), "base %s", c.base)
			require.Equal(t, tc.segment, c.segment)
			require.Equal(t, tc.part, c.part)
		})
	}
}

// The sessions' joins spread over the parts of a segment and over the time within a part at once.
func TestSegmentClockPhase(t *testing.T) {
	ms := time.Millisecond
	phases := func(c segmentClock, n int) []time.Duration {
		var out []time.Duration
		for k := range n {
			out = append(out, c.phase(k, n))
		}
		return out
	}
	ll := segmentClock{segment: time.Second, part: 200 * ms}
	require.Equal(t, []time.Duration{20 * ms, 260 * ms, 500 * ms, 740 * ms, 980 * ms}, phases(ll, 5),
		"every part once, 0.1, 0.3, 0.5, 0.7 and 0.9 of the way into it")
	require.Equal(t, []time.Duration{33333333, 300 * ms, 766666666}, phases(ll, 3), "parts 0, 1 and 3")
	require.Equal(t, []time.Duration{250 * ms, 750 * ms}, phases(segmentClock{segment: time.Second}, 2), "no parts")
	ll.lead = 30 * ms
	require.Equal(t, []time.Duration{990 * ms, 230 * ms, 470 * ms, 710 * ms, 950 * ms}, phases(ll, 5),
		"joining 30 ms before, so that the first playlist request lands there (the first in the segment before)")
	ll.margin = 40 * ms
	require.Equal(t, []time.Duration{22 * ms, 246 * ms, 470 * ms, 694 * ms, 918 * ms}, phases(ll, 5),
		"landing 52, 76, 100, 124 and 148 ms into a part: 40 ms clear of the listings")
}

func TestSegmentClockJoinAt(t *testing.T) {
	base := time.Date(2026, 12, 5, 22, 0, 0, 0, time.UTC)
	c := segmentClock{base: base, segment: time.Second}
	ms := time.Millisecond
	for _, tc := range []struct {
		name     string
		earliest time.Time
		phase    time.Duration
		want     time.Time
	}{
		{"later in the same segment", base.Add(10*time.Second + 100*ms), 500 * ms, base.Add(10*time.Second + 500*ms)},
		{"the next segment", base.Add(10*time.Second + 700*ms), 500 * ms, base.Add(11*time.Second + 500*ms)},
		{"exactly then", base.Add(3*time.Second + 500*ms), 500 * ms, base.Add(3*time.Second + 500*ms)},
		{"before the base", base.Add(-1*time.Second - 900*ms), 200 * ms, base.Add(-2*time.Second + 200*ms)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := c.joinAt(tc.phase, tc.earliest)
			require.True(t, tc.want.Equal(got), "got %s, want %s", got, tc.want)
		})
	}
}
