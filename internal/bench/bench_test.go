package bench

import (
	"bytes"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPercentile(t *testing.T) {
	for _, tc := range []struct {
		name   string
		sorted []float64
		p      float64
		want   float64
	}{
		{"single", []float64{7}, 95, 7},
		{"median odd", []float64{1, 2, 3}, 50, 2},
		{"median even interpolates", []float64{1, 2, 3, 4}, 50, 2.5},
		{"p95 of 1..20", []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}, 95, 19.05},
		{"p0 is min", []float64{3, 4, 9}, 0, 3},
		{"p100 is max", []float64{3, 4, 9}, 100, 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.InDelta(t, tc.want, Percentile(tc.sorted, tc.p), 1e-9)
		})
	}
	require.True(t, math.IsNaN(Percentile(nil, 50)))
}

func TestSummarize(t *testing.T) {
	s := Summarize([]time.Duration{30 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond})
	require.Equal(t, Summary{N: 3, Min: 10, Median: 20, P95: 29, Max: 30}, s)
	require.Equal(t, Summary{}, Summarize(nil))
}

// A nagare LL-HLS media playlist as its segmenter writes it, right after the first segments.
const nagarePlaylist = `#EXTM3U
#EXT-X-VERSION:10
#EXT-X-TARGETDURATION:1
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.50000,CAN-SKIP-UNTIL=6.00000
#EXT-X-PART-INF:PART-TARGET=0.20000
#EXT-X-MEDIA-SEQUENCE:5
#EXT-X-MAP:URI="04cd_video1_init.mp4?nsid=bd48"
#EXT-X-GAP
#EXTINF:1.00000,
gap.mp4
#EXT-X-GAP
#EXTINF:1.00000,
gap.mp4
#EXTINF:1.00000,
04cd_video1_seg7.mp4?nsid=bd48
#EXT-X-PROGRAM-DATE-TIME:2026-11-21T06:45:50.186Z
#EXT-X-PART:DURATION=0.20000,URI="04cd_video1_part5.mp4?nsid=bd48",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.23300,URI="04cd_video1_part6.mp4?nsid=bd48"
#EXTINF:0.43300,
04cd_video1_seg8.mp4?nsid=bd48
#EXT-X-PART:DURATION=0.20000,URI="04cd_video1_part7.mp4?nsid=bd48",INDEPENDENT=YES
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="04cd_video1_part8.mp4?nsid=bd48"
`

const nginxPlaylist = `#EXTM3U
#EXT-X-VERSION:3
#EXT-X-MEDIA-SEQUENCE:3
#EXT-X-TARGETDURATION:1
#EXT-X-DISCONTINUITY
#EXTINF:1.000,
x1-3.ts
#EXTINF:0.767,
x1-4.ts
`

func TestParseMediaPlaylist(t *testing.T) {
	t.Run("nagare LL-HLS", func(t *testing.T) {
		pl, err := ParseMediaPlaylist([]byte(nagarePlaylist))
		require.NoError(t, err)
		require.Equal(t, uint64(5), pl.MediaSequence)
		require.Len(t, pl.Segments, 4)
		require.True(t, pl.Segments[0].Gap)
		require.Equal(t, uint64(7), pl.Segments[2].MSN)
		require.Equal(t, Segment{
			MSN: 8, Duration: 433 * time.Millisecond, URI: "04cd_video1_seg8.mp4?nsid=bd48",
			Parts: []Part{{Duration: 200 * time.Millisecond, URI: "04cd_video1_part5.mp4?nsid=bd48", Independent: true},
				{Duration: 233 * time.Millisecond, URI: "04cd_video1_part6.mp4?nsid=bd48"}},
		}, pl.Segments[3])
		require.Equal(t, []Part{{Duration: 200 * time.Millisecond, URI: "04cd_video1_part7.mp4?nsid=bd48", Independent: true}}, pl.Parts)
		require.Equal(t, uint64(9), pl.NextMSN())
		require.Equal(t, "04cd_video1_part8.mp4?nsid=bd48", pl.PreloadHint)
		require.Equal(t, uint64(8), pl.LastSegment().MSN)
	})
	t.Run("nginx-rtmp", func(t *testing.T) {
		pl, err := ParseMediaPlaylist([]byte(nginxPlaylist))
		require.NoError(t, err)
		require.Equal(t, []Segment{
			{MSN: 3, Duration: time.Second, URI: "x1-3.ts"},
			{MSN: 4, Duration: 767 * time.Millisecond, URI: "x1-4.ts"},
		}, pl.Segments)
		require.Empty(t, pl.Parts)
	})
	t.Run("no segment yet", func(t *testing.T) {
		pl, err := ParseMediaPlaylist([]byte("#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:0\n"))
		require.NoError(t, err)
		require.Nil(t, pl.LastSegment())
	})
	for _, bad := range []string{"", "<html>404</html>", "#EXTM3U\n#EXTINF:x,\na.ts\n", "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:-1\n"} {
		_, err := ParseMediaPlaylist([]byte(bad))
		require.Error(t, err, "%q", bad)
	}
}

func TestVariantURI(t *testing.T) {
	mv := `#EXTM3U
#EXT-X-VERSION:10
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="audio2",URI="audio2_stream.m3u8?nsid=74fa"

#EXT-X-STREAM-INF:BANDWIDTH=2399528,CODECS="avc1.64001f,mp4a.40.2",RESOLUTION=1280x720,AUDIO="audio"
video1_stream.m3u8?nsid=74fa
`
	require.Equal(t, "video1_stream.m3u8?nsid=74fa", VariantURI([]byte(mv)))
	require.Empty(t, VariantURI([]byte(nginxPlaylist)))
	u, err := resolve("http://127.0.0.1:8080/live/s/index.m3u8", "video1_stream.m3u8?nsid=74fa")
	require.NoError(t, err)
	require.Equal(t, "http://127.0.0.1:8080/live/s/video1_stream.m3u8?nsid=74fa", u)
}

func TestAttribute(t *testing.T) {
	t0 := time.Unix(1000, 0)
	// 10 fps, keyframe every second; frame k sent at t0 + k*100ms + 1ms
	var sent []SentFrame
	for k := range 40 {
		m := time.Duration(k) * 100 * time.Millisecond
		sent = append(sent, SentFrame{Media: m, At: t0.Add(m + time.Millisecond), Key: k%10 == 0})
	}
	at := func(media, lag time.Duration) time.Time { return t0.Add(media + time.Millisecond + lag) }
	o := newObservations()
	// the first fetch lists segment 7 and its parts: stale, used for timing only
	o.add(&MediaPlaylist{MediaSequence: 7, Segments: []Segment{{MSN: 7, Duration: time.Second, Parts: []Part{
		{Duration: 500 * time.Millisecond}, {Duration: 500 * time.Millisecond},
	}}}}, at(time.Second, 50*time.Millisecond))
	// segment 8 listed 3 ms after the keyframe at 2 s was sent; its parts as they came
	o.add(&MediaPlaylist{MediaSequence: 7, Segments: []Segment{{MSN: 7, Duration: time.Second}}, Parts: []Part{
		{Duration: 500 * time.Millisecond},
	}}, at(1500*time.Millisecond, 2*time.Millisecond))
	o.add(&MediaPlaylist{MediaSequence: 7, Segments: []Segment{
		{MSN: 7, Duration: time.Second},
		{MSN: 8, Duration: time.Second, Parts: []Part{{Duration: 500 * time.Millisecond}, {Duration: 500 * time.Millisecond}}},
	}}, at(2*time.Second, 3*time.Millisecond))
	// segment 9 ends at 3 s but claims 1.23 s: its end matches no frame
	o.add(&MediaPlaylist{MediaSequence: 7, Segments: []Segment{
		{MSN: 8, Duration: time.Second}, {MSN: 9, Duration: 1230 * time.Millisecond},
	}}, at(3*time.Second, 4*time.Millisecond))

	a := o.attribute(sent, 10*time.Millisecond)
	require.Equal(t, []time.Duration{3 * time.Millisecond}, a.Segments)
	require.Equal(t, []time.Duration{2 * time.Millisecond, 3 * time.Millisecond}, a.Parts)
	require.Equal(t, 1, a.Unattributed)
}

func TestAttributeSkipsAfterAMissingPart(t *testing.T) {
	t0 := time.Unix(0, 0)
	sent := []SentFrame{{Media: 0, At: t0}, {Media: 200 * time.Millisecond, At: t0.Add(200 * time.Millisecond)},
		{Media: 400 * time.Millisecond, At: t0.Add(400 * time.Millisecond)}}
	o := newObservations()
	o.add(&MediaPlaylist{}, t0) // primes
	o.parts[partKey{0, 1}] = seen{Duration: 200 * time.Millisecond, At: t0.Add(time.Second)}
	o.segments[0] = seen{Duration: time.Second, At: t0, Stale: true}
	a := o.attribute(sent, 10*time.Millisecond)
	require.Empty(t, a.Parts)
	require.Equal(t, 1, a.Unattributed)
}

func TestParseWrk(t *testing.T) {
	out := `Running 1s test @ http://127.0.0.1:41082/nothere
  2 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   463.19us  771.29us   6.68ms   88.73%
    Req/Sec    17.39k     6.34k   26.52k    57.14%
  Latency Distribution
     50%  152.00us
     75%  382.00us
     90%    1.39ms
     99%    3.67ms
  36333 requests in 1.10s, 10.67MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 36333
Requests/sec:  33043.82
Transfer/sec:      9.71MB
`
	r, err := ParseWrk(out)
	require.NoError(t, err)
	require.Equal(t, WrkResult{
		Requests: 36333, Seconds: 1.1, ReqPerSec: 33043.82, Non2xx: 36333, SocketErrors: 5,
		LatencyP50Ms: 0.152, LatencyP99Ms: 3.67,
	}, r)
	_, err = ParseWrk("unable to connect to 127.0.0.1:1 Connection refused\n")
	require.ErrorIs(t, err, errWrkOutput)
}

func TestVerdict(t *testing.T) {
	require.Equal(t, "**met**", Verdict(95, 90, true, " points"))
	require.Equal(t, "**missed** by 12.5 points", Verdict(77.5, 90, true, " points"))
	require.Equal(t, "**met**", Verdict(1.2, 30, false, " ms"))
	require.Equal(t, "**missed** by 402 ms", Verdict(1002, 600, false, " ms"))
	require.Equal(t, "not measured", Verdict(math.NaN(), 600, false, " ms"))
}

func TestParseTarget(t *testing.T) {
	tg, err := parseTarget("name=nagare,kind=nagare,pid=42,playlist=http://127.0.0.1:1/live/fan/index.m3u8")
	require.NoError(t, err)
	require.Equal(t, fanoutTarget{Name: "nagare", Kind: "nagare", PID: 42, Playlist: "http://127.0.0.1:1/live/fan/index.m3u8"}, tg)
	tg, err = parseTarget("kind=static,pid=7,url=http://127.0.0.1:2/,www=/tmp/www,copy-from=http://x/index.m3u8")
	require.NoError(t, err)
	require.Equal(t, "static", tg.Name)
	require.Equal(t, "http://127.0.0.1:2", tg.URL)
	for _, bad := range []string{
		"kind=nagare,playlist=http://x", "kind=nagare,pid=1", "kind=static,pid=1,url=http://x",
		"kind=srs,pid=1,playlist=http://x", "kind=nagare,pid=1,playlist=http://x,color=red", "pid",
	} {
		_, err := parseTarget(bad)
		require.Error(t, err, bad)
	}
}

func TestRTMPURL(t *testing.T) {
	u, err := rtmpURL("rtmp://127.0.0.1:1935/live/s1?token=abc")
	require.NoError(t, err)
	require.Equal(t, "rtmp://127.0.0.1:1935/live#s1?token=abc", u.String())
	u, err = rtmpURL("rtmp://127.0.0.1:1935/live#s2")
	require.NoError(t, err)
	require.Equal(t, "s2", u.Fragment)
	_, err = rtmpURL("rtmp://127.0.0.1:1935/live/")
	require.Error(t, err)
}

func TestInterleave(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	video := []Frame{
		{Video: true, Key: true, DTS: ms(1400), PTS: ms(1400)},
		{Video: true, DTS: ms(1433), PTS: ms(1433)},
		{Video: true, DTS: ms(1467), PTS: ms(1467)},
		{Video: true, DTS: ms(1500), PTS: ms(1500)},
	}
	audio := []Frame{{DTS: ms(1390)}, {DTS: ms(1400)}, {DTS: ms(1421)}, {DTS: ms(1510)}, {DTS: ms(1540)}}
	frames, period := interleave(video, audio)
	require.Equal(t, ms(133), period) // 4 frames of 33.3 ms, in whole milliseconds
	var order []string
	for _, f := range frames {
		kind := "a"
		if f.Video {
			kind = "v"
		}
		order = append(order, kind+f.DTS.String())
	}
	require.Equal(t, []string{"v0s", "a0s", "a21ms", "v33ms", "v67ms", "v100ms", "a110ms"}, order)
}

func TestParentPID(t *testing.T) {
	ppid, ok := parentPID([]byte("1234 (nginx: worker (x)) S 1200 1234 1234 0 -1 4194624 120 0 0 0 1 2 0 0 20 0 1 0"))
	require.True(t, ok)
	require.Equal(t, 1200, ppid)
	_, ok = parentPID([]byte("garbage"))
	require.False(t, ok)
}

func TestRenderTargets(t *testing.T) {
	r := &results{
		Fanout: []*FanoutResult{{Runs: []FanoutRun{
			{Server: KindNagare, What: "segment", Conns: 64, WrkResult: WrkResult{ReqPerSec: 950}},
			{Server: KindNagareEdge, What: "segment", Conns: 64, WrkResult: WrkResult{ReqPerSec: 800}},
			{Server: KindNginxRTMP, What: "segment", Conns: 64, WrkResult: WrkResult{ReqPerSec: 900}},
			{Server: staticKind, What: "segment", Conns: 64, WrkResult: WrkResult{ReqPerSec: 1000}},
			{Server: KindNagare, What: "playlist", Conns: 64, WrkResult: WrkResult{ReqPerSec: 400}},
			{Server: staticKind, What: "playlist", Conns: 64, WrkResult: WrkResult{ReqPerSec: 1000}},
		}}},
		Latency: []*LatencyResult{{Server: KindNagare, Playable: Summary{N: 1, Median: 1004}}},
		Ingest: []*IngestRun{
			{Server: KindNagare, Streams: 4, Usage: Usage{CPUPercent: 2, RSSMiB: 30}},
			{Server: KindNagare, Streams: 16, Usage: Usage{CPUPercent: 6, RSSMiB: 40}},
			{Server: KindNginxRTMP, Streams: 4, Usage: Usage{CPUPercent: 3, RSSMiB: 17}},
			{Server: KindNginxRTMP, Streams: 16, Usage: Usage{CPUPercent: 5, RSSMiB: 17},
				Files: KeptFiles{DirBytes: 13 << 20, DirFiles: 20}},
		},
	}
	var b bytes.Buffer
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	renderTargets(p, r)
	out := b.String()
	require.Contains(t, out, "| segment fan-out, origin, 64 conns (req/s; % of static nginx) | ≥ nginx-rtmp's | 950 (95.0 %) | **met** | 900 (90.0 %) |")
	require.Contains(t, out, "| segment fan-out, edge, 64 conns (req/s; % of static nginx) | ≥ nginx-rtmp's | 800 (80.0 %) | **missed** by 100 req/s | 900 (90.0 %) |")
	require.Contains(t, out, "| playlist fan-out, origin, 64 conns (req/s; % of static nginx) | ≥ nginx-rtmp's | 400 (40.0 %) | not measured | – (– %) |")
	require.Contains(t, out, "| publish to playable (median) | ≤ 1300 ms | 1004 ms | **met** |")
	require.Contains(t, out, "| 4 ingest streams, CPU (% of one core) | ≤ nginx-rtmp's | 2.00 % | **met** | 3.00 % |")
	require.Contains(t, out, "| 16 ingest streams, CPU (% of one core) | ≤ nginx-rtmp's | 6.00 % | **missed** by 1.00 points | 5.00 % |")
	// nginx-rtmp's total is its RSS and its HLS files: 17 + 13 = 30 MiB; 1.5 × that is 45
	require.Contains(t, out, "| 16 ingest streams, memory: RSS + files kept (section 4) | ≤ 1.5 × nginx-rtmp's | 40.0 MiB (1.33 ×) | **met** | 30.0 MiB |")
	require.Contains(t, out, "| publish to first LL-HLS part listed (median) | ≤ 600 ms | – ms | not measured |")
}
