package bench

import (
	"bytes"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseVariantsNamesRungs(t *testing.T) {
	for _, tc := range []struct {
		name, stream, base, body string
		want                     []abrVariant
	}{{
		name: "nagare", stream: "cam1", base: "http://h/live/cam1/index.m3u8",
		body: "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-INDEPENDENT-SEGMENTS\n\n" +
			`#EXT-X-STREAM-INF:BANDWIDTH=2535184,AVERAGE-BANDWIDTH=2315240,CODECS="avc1.64001f,mp4a.40.2",RESOLUTION=1280x720,FRAME-RATE=30.000` + "\n" +
			"video1_stream.m3u8?nsid=abc\n" +
			`#EXT-X-STREAM-INF:BANDWIDTH=1500000,CODECS="avc1.64001f,mp4a.40.2",RESOLUTION=854x480` + "\n" +
			"../cam1_480p/video1_stream.m3u8?nsid=abc\n" +
			`#EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=640x360` + "\n" +
			"../cam1_360p/video1_stream.m3u8?nsid=abc\n",
		want: []abrVariant{
			{ABRRung{"source", "1280x720", 2535184}, "http://h/live/cam1/video1_stream.m3u8?nsid=abc"},
			{ABRRung{"480p", "854x480", 1500000}, "http://h/live/cam1_480p/video1_stream.m3u8?nsid=abc"},
			{ABRRung{"360p", "640x360", 900000}, "http://h/live/cam1_360p/video1_stream.m3u8?nsid=abc"},
		},
	}, {
		name: "nginx-rtmp hls_variant, nested", stream: "cam1", base: "http://h/hls/cam1.m3u8",
		body: "#EXTM3U\n#EXT-X-VERSION:3\n" +
			"#EXT-X-STREAM-INF:PROGRAM-ID=1,BANDWIDTH=2628000,RESOLUTION=1280x720\ncam1_src/index.m3u8\n" +
			"#EXT-X-STREAM-INF:PROGRAM-ID=1,BANDWIDTH=1628000,RESOLUTION=854x480\ncam1_480p/index.m3u8\n",
		want: []abrVariant{
			{ABRRung{"source", "1280x720", 2628000}, "http://h/hls/cam1_src/index.m3u8"},
			{ABRRung{"480p", "854x480", 1628000}, "http://h/hls/cam1_480p/index.m3u8"},
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got := parseVariants([]byte(tc.body))
			require.Len(t, got, len(tc.want))
			for i := range got {
				got[i].Name = rungName(tc.stream, got[i].URL)
				u, err := resolve(tc.base, got[i].URL)
				require.NoError(t, err)
				got[i].URL = u
			}
			require.Equal(t, tc.want, got)
		})
	}
	require.Empty(t, parseVariants([]byte("#EXTM3U\n#EXTINF:1.0,\nseg0.ts\n")), "a media playlist has no variants")
}

func TestPartTarget(t *testing.T) {
	pl := "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.60000\n" +
		"#EXT-X-PART-INF:PART-TARGET=0.20000\n#EXT-X-MEDIA-SEQUENCE:0\n"
	require.Equal(t, 200*time.Millisecond, partTarget([]byte(pl)))
	require.Zero(t, partTarget([]byte("#EXTM3U\n#EXT-X-TARGETDURATION:1\n")))
}

func TestABRDelays(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	src, r := newObservations(), newObservations()
	// the first answers (stale) list part (0,0) and segment 0
	src.parts[partKey{0, 0}] = seen{At: at(0), Stale: true}
	r.parts[partKey{0, 0}] = seen{At: at(5), Stale: true}
	src.segments[0] = seen{At: at(0), Stale: true}
	r.segments[0] = seen{At: at(5), Stale: true}
	// then parts 1..4 of segment 0 and part 0 of segment 1, the rendition 150..190 ms later
	for i, lag := range []int{150, 160, 170, 180} {
		src.parts[partKey{0, i + 1}] = seen{At: at(200 * (i + 1))}
		r.parts[partKey{0, i + 1}] = seen{At: at(200*(i+1) + lag)}
	}
	src.parts[partKey{1, 0}] = seen{At: at(1000)}
	r.parts[partKey{1, 0}] = seen{At: at(1190)}
	src.segments[1] = seen{At: at(1000)} // segments are listed when their next part is
	r.segments[1] = seen{At: at(1190)}
	// the source's part (1,1) never reached the rendition; (1,2) came after the settle time
	src.parts[partKey{1, 1}] = seen{At: at(1200)}
	src.parts[partKey{1, 2}] = seen{At: at(1400)}
	// a part only the rendition listed
	r.parts[partKey{2, 0}] = seen{At: at(2000)}

	got := abrDelays([]string{"source", "480p"}, []*observations{src, r}, at(1300))
	require.Len(t, got, 1)
	d := got[0]
	require.Equal(t, "480p", d.Rung)
	require.Equal(t, 5, d.Parts.N, "the stale parts are left out")
	require.InDelta(t, 170, d.Parts.Median, 1e-9)
	require.InDelta(t, 150, d.Parts.Min, 1e-9)
	require.InDelta(t, 190, d.Parts.Max, 1e-9)
	require.Equal(t, 1, d.Segments.N)
	require.InDelta(t, 190, d.Segments.Median, 1e-9)
	require.Equal(t, 1, d.Missing)
	require.Equal(t, 1, d.Unmatched)
}

func TestBareLadderArgs(t *testing.T) {
	variants := abrLadder(1280, 720)
	require.Equal(t, []string{"480p", "360p"}, variantNames(variants), "the 720p rung is as tall as the source: left out")
	args := bareLadderArgs("/c/clip.mp4", "/out", "veryfast", variants)
	joined := strings.Join(args, " ")
	for _, want := range []string{
		"-re -stream_loop -1 -i /c/clip.mp4",
		"-map 0:v:0 -map 0:v:0 -map 0:v:0 -map 0:a:0 -c:v:0 copy",
		"-c:v:1 libx264 -filter:v:1 scale=854:480 -preset:v:1 veryfast -tune:v:1 zerolatency -profile:v:1 high -bf:v:1 0 " +
			"-force_key_frames:v:1 source -sc_threshold:v:1 0 -fps_mode:v:1 passthrough -enc_time_base:v:1 -1 " +
			"-b:v:1 1000000 -maxrate:v:1 1500000 -bufsize:v:1 1500000",
		"-c:v:2 libx264 -filter:v:2 scale=640:360",
		"-b:v:2 600000 -maxrate:v:2 900000 -bufsize:v:2 900000",
		"-c:a copy",
		"-f hls -hls_segment_type fmp4 -hls_time 1",
		"-master_pl_name index.m3u8 -hls_segment_filename /out/%v/seg%d.m4s /out/%v/stream.m3u8",
	} {
		require.Contains(t, joined, want)
	}
	i := slices.Index(args, "-var_stream_map")
	require.Positive(t, i)
	require.Equal(t, "a:0,agroup:audio,name:audio v:0,agroup:audio,name:source v:1,agroup:audio,name:480p v:2,agroup:audio,name:360p", args[i+1])

	require.Equal(t, `ffmpeg -i clip.ts -var_stream_map 'v:0,a:0 v:1,a:1' -metadata 'title=it'\''s' DIR/%v/seg%d.m4s`,
		shellJoin([]string{"ffmpeg", "-i", "clip.ts", "-var_stream_map", "v:0,a:0 v:1,a:1", "-metadata", "title=it's", "DIR/%v/seg%d.m4s"}))
}

func TestCombineWindows(t *testing.T) {
	ws := []ABRWindow{
		{Round: 1, Config: "a", Usage: ABRUsage{Usage: Usage{Seconds: 10, CPUPercent: 30, RSSMiB: 100, PeakRSSMiB: 120, OthersCPUPercent: 2, Processes: 2},
			ServerCPUPercent: 5, FFmpegCPUPercent: 25, FFmpegs: 1, BenchCPUPercent: 4}},
		{Round: 1, Config: "b", Usage: ABRUsage{Usage: Usage{Seconds: 10, CPUPercent: 99}}},
		{Round: 2, Config: "a", Usage: ABRUsage{Usage: Usage{Seconds: 30, CPUPercent: 50, RSSMiB: 110, PeakRSSMiB: 115, OthersCPUPercent: 6, Processes: 3},
			ServerCPUPercent: 10, FFmpegCPUPercent: 40, FFmpegs: 2, BenchCPUPercent: 8}},
	}
	got := combineWindows(ws, "a")
	require.InDelta(t, 40, got.Seconds, 1e-9)
	require.InDelta(t, 45, got.CPUPercent, 1e-9, "weighted by the windows' lengths")
	require.InDelta(t, 8.75, got.ServerCPUPercent, 1e-9)
	require.InDelta(t, 36.25, got.FFmpegCPUPercent, 1e-9)
	require.InDelta(t, 5, got.OthersCPUPercent, 1e-9)
	require.InDelta(t, 7, got.BenchCPUPercent, 1e-9)
	require.InDelta(t, 120, got.PeakRSSMiB, 1e-9, "the highest peak")
	require.InDelta(t, 110, got.RSSMiB, 1e-9, "the last window's")
	require.Equal(t, 3, got.Processes)
	require.Equal(t, 2, got.FFmpegs)
	require.Zero(t, combineWindows(ws, "c").CPUPercent)
}

func TestLoadAndRenderABR(t *testing.T) {
	dir := t.TempDir()
	_, err := loadABRResults(dir)
	require.Error(t, err, "no result at all")

	rungs := []ABRRung{{Name: "source", Resolution: "1280x720"}, {Name: "480p", Resolution: "854x480"}, {Name: "360p", Resolution: "640x360"}}
	ng := &ABRResult{
		phaseRun: phaseRun{Date: "2026-01-01 00:00 UTC", Seconds: 40, LoadStart: "1 1 1", LoadEnd: "2 2 2"},
		Kind:     KindNagare, WarmupS: 5, DurationS: 20, Rounds: 2, Runs: 2, Rungs: rungs, PartTargetMs: 200, Interleaved: KindFFmpeg,
		Windows: []ABRWindow{
			{Round: 1, Config: KindNagare, Usage: ABRUsage{Usage: Usage{Seconds: 10, CPUPercent: 42, OthersCPUPercent: 1}}},
			{Round: 2, Config: KindNagare, Usage: ABRUsage{Usage: Usage{Seconds: 10, CPUPercent: 46, OthersCPUPercent: 3}}},
		},
		Starts: []ABRStart{
			{Run: 1, ListedMs: 500, PlayableMs: 2100, FirstPartMs: 550},
			{Run: 2, Error: "waiting for 3 variants: context deadline exceeded"},
		},
		Idle:          &ABRUsage{Usage: Usage{CPUPercent: 0.5}},
		Usage:         ABRUsage{Usage: Usage{CPUPercent: 44, RSSMiB: 150, PeakRSSMiB: 160, Processes: 2, OthersCPUPercent: 30}, ServerCPUPercent: 6, FFmpegCPUPercent: 38, FFmpegRSSMiB: 90, FFmpegs: 1},
		FollowedUsage: &ABRUsage{Usage: Usage{CPUPercent: 46, Processes: 2}, ServerCPUPercent: 8, FFmpegCPUPercent: 38},
		Delays: []ABRDelay{
			{Rung: "480p", Parts: Summary{N: 100, Median: 170, P95: 180, Max: 500}, Segments: Summary{N: 20, Median: 170, P95: 175, Max: 176}},
			{Rung: "360p", Parts: Summary{N: 100, Median: 300, P95: 450, Max: 500}},
		},
		Transcode: &ABRTranscode{Stream: "live/abr", Running: true, Restarts: 1, Rungs: []ABRTranscodeRung{{Name: "480p", Speed: 1, DelayNs: 167e6}}},
	}
	bare := &ABRResult{
		phaseRun: phaseRun{Seconds: 40},
		Kind:     KindFFmpeg, WarmupS: 5, DurationS: 20, Rounds: 2, Rungs: rungs, RungWindowS: 10, Command: "ffmpeg -re -i clip.ts",
		Interleaved: KindNagare,
		Windows: []ABRWindow{
			{Round: 1, Config: KindFFmpeg, Usage: ABRUsage{Usage: Usage{Seconds: 10, CPUPercent: 39}}},
			{Round: 1, Config: "ffmpeg without 480p", Usage: ABRUsage{Usage: Usage{Seconds: 5, CPUPercent: 21}}},
			{Round: 2, Config: "ffmpeg without 480p", Usage: ABRUsage{Usage: Usage{Seconds: 5, CPUPercent: 23}}},
			{Round: 2, Config: KindFFmpeg, Usage: ABRUsage{Usage: Usage{Seconds: 10, CPUPercent: 41}}},
		},
		Starts: []ABRStart{{Run: 1, ListedMs: 1300, PlayableMs: 1300}},
		Usage:  ABRUsage{Usage: Usage{CPUPercent: 40, Processes: 1}, FFmpegCPUPercent: 40, FFmpegs: 1},
		Without: []ABRWithout{
			{Rung: "480p", Usage: ABRUsage{Usage: Usage{CPUPercent: 22}}},
			{Rung: "360p", Usage: ABRUsage{Usage: Usage{CPUPercent: 28}}},
		},
	}
	require.NoError(t, writeJSON(filepath.Join(dir, "abr-nagare.json"), ng))
	require.NoError(t, writeJSON(filepath.Join(dir, "abr-ffmpeg.json"), bare))
	r, err := loadABRResults(dir)
	require.NoError(t, err)
	require.Nil(t, r.NginxRTMP)
	require.Equal(t, ng.Delays, r.Nagare.Delays)

	var b bytes.Buffer
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	renderABR(p, r, Machine{CPUs: 2, CPU: "test CPU"}, "make bench")
	doc := b.String()
	require.True(t, strings.HasPrefix(doc, abrHeading+"\n"))
	require.Contains(t, doc, "| Ladder | source 1280x720; 480p 854x480, 1000 kbit/s (peak 1500); 360p 640x360, 600 kbit/s (peak 900) |")
	require.Contains(t, doc, "| ≤ 110 % | 110 % (44.0 % ÷ 40.0 % of one core) | **met** |")
	require.Contains(t, doc, "| 480p behind the source at the playlist (p95 of its parts) | ≤ 400 ms (one part + 200 ms) | 180 ms | **met** |")
	require.Contains(t, doc, "| 360p behind the source at the playlist (p95 of its parts) | ≤ 400 ms (one part + 200 ms) | 450 ms | **missed** by 50.0 ms |")
	require.Contains(t, doc, "| nagare: `nagare node` and its ffmpeg | 2 | 44.0 | 6.00 | 38.0 | 43.5 | 110 % | 150 (90.0) | 160 |")
	require.Contains(t, doc, "| nagare, while its playlists were followed (the delay window) | 2 | 46.0 | 8.00 | 38.0 | 45.5 | 115 % |")
	require.Contains(t, doc, "| nginx-rtmp: nginx and its exec'd ffmpeg | not measured |")
	require.Contains(t, doc, "nagare's ffmpeg, which makes the renditions only, used 38.0 % of one core against 40.0 % for the bare command,")
	require.Contains(t, doc, "LL-HLS of the source and both renditions) used 6.00 %.")
	require.Contains(t, doc, "(the phase's measurements took 40 s)", "the interleaved bare command's time is within nagare's")
	require.Contains(t, doc, "| 480p | 854x480 | 1000 (1500) kbit/s | 22.0 | 18.0 | 45.0 % |")
	require.Contains(t, doc, "| 360p | 640x360 | 600 (900) kbit/s | 28.0 | 12.0 | 30.0 % |")
	require.Contains(t, doc, "| shared (the whole ladder − the rungs' costs) | | | | 10.0 | 25.0 % |")
	require.Contains(t, doc, "| 480p | 100 | 170 | 180 | 500 | 20 | 170 | 175 | 0 | 0 | 1.00 | 167 | p95 ≤ 400 ms: **met** |")
	require.Contains(t, doc, "| nagare | 1 (1) | 500 | 2100 | 2100 | 2100 | 550 | 550 | 550 |")
	require.Contains(t, doc, "| the bare ffmpeg command (from the file) | 1 (0) | 1300 | 1300 | 1300 | 1300 | – | – | – |")
	require.Contains(t, doc, "- nagare run 2: waiting for 3 variants: context deadline exceeded")
	require.Contains(t, doc, "1 restart and 0 source units lost because ffmpeg did not keep\nup (running at the end: true)")
	require.Contains(t, doc, "during the windows of\nnagare (30.0 %)")
	require.Contains(t, doc, "```sh\nffmpeg -re -i clip.ts\n```")
	require.Contains(t, doc, "`nagare bench abr -kind nagare -runs 2 -rounds 2 -warmup 5s -duration 20s -rung-window 10s -ffmpeg-out abr-ffmpeg.json`")
	require.Contains(t, doc, "2 windows of 10.0 s, each from 5 s after the start")
	require.Contains(t, doc, "nagare's windows, the bare\ncommand's and those of the bare command without each rung (below) took turns")
	require.Contains(t, doc, "| configuration | round 1 | round 2 | all |\n|---|---|---|---|\n")
	require.Contains(t, doc, "| nagare | 42.0 (1.00) | 46.0 (3.00) | 44.0 |\n| ffmpeg | 39.0 (0.00) | 41.0 (0.00) | 40.0 |\n| ffmpeg without 480p | 21.0 (0.00) | 23.0 (0.00) | 22.0 |\n")
	require.NotContains(t, doc, "%!", "a formatting mistake")
	require.NotContains(t, doc, "NaN")

	// spliced after section 11, or in its place on a second run
	report := []byte("# Benchmarks\n\n" + webrtcHeading + "\n\nold\n")
	once := spliceSection(report, b.Bytes(), abrHeading)
	require.True(t, strings.HasPrefix(string(once), "# Benchmarks\n\n"+webrtcHeading+"\n\nold\n\n"+abrHeading+"\n"))
	require.Equal(t, string(once), string(spliceSection(once, b.Bytes(), abrHeading)))
}
