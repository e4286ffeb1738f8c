package transcode

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"image/png"
	"strconv"

	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestBandwidth(t *testing.T) {
	seg := func(d time.Duration, bytes int64) segment { return segment{duration: d, size: bytes} }
	tests := []struct {
		name          string
		target        time.Duration
		segs          []segment
		peak, average int
	}{
		{"steady", 4 * time.Second, []segment{seg(4*time.Second, 500_000), seg(4*time.Second, 500_000)}, 1_000_000, 1_000_000},
		{"one heavy segment", 4 * time.Second,
			[]segment{seg(4*time.Second, 500_000), seg(4*time.Second, 1_500_000), seg(4*time.Second, 500_000)}, 3_000_000, 1_666_666},
		// a short last segment holding a keyframe only counts with its neighbour (0.5 to 1.5 targets)
		{"short last segment", 4 * time.Second,
			[]segment{seg(4*time.Second, 500_000), seg(40*time.Millisecond, 50_000)}, 1_089_108, 1_089_108},
		{"short segments are taken together", 4 * time.Second,
			[]segment{seg(time.Second, 100_000), seg(time.Second, 300_000), seg(time.Second, 100_000), seg(time.Second, 100_000), seg(time.Second, 100_000), seg(time.Second, 100_000), seg(time.Second, 100_000)},
			// the best 2 to 6 s run: the first two segments
			1_600_000, 1_028_571},
		{"shorter than half a target", 10 * time.Second, []segment{seg(2*time.Second, 250_000)}, 1_000_000, 1_000_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			peak, avg := mediaPlaylist{target: tt.target, segments: tt.segs}.bandwidth()
			require.Equal(t, tt.peak, peak)
			require.Equal(t, tt.average, avg)
		})
	}
}

func TestReadMediaPlaylist(t *testing.T) {
	const good = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:0\n" +
		"#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"init.mp4\"\n" +
		"#EXTINF:4.000000,\nseg_00000.m4s\n#EXTINF:1.500000,\nseg_00001.m4s\n#EXT-X-ENDLIST\n"
	tests := []struct {
		name, playlist, err string
	}{
		{"good", good, ""},
		{"not ended", strings.Replace(good, "#EXT-X-ENDLIST\n", "", 1), "not a complete VOD playlist"},
		{"not VOD", strings.Replace(good, "#EXT-X-PLAYLIST-TYPE:VOD\n", "", 1), "not a complete VOD playlist"},
		{"no init", strings.Replace(good, "#EXT-X-MAP:URI=\"init.mp4\"\n", "", 1), "no EXT-X-MAP"},
		{"no segments", "#EXTM3U\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXT-X-ENDLIST\n", "no segments"},
		{"outside the directory", strings.Replace(good, "seg_00001.m4s", "../seg_00001.m4s", 1), `"../seg_00001.m4s" is not a file next to the playlist`},
		{"missing segment", strings.Replace(good, "seg_00001.m4s", "seg_00002.m4s", 1), "no such file"},
		{"no EXTINF", strings.Replace(good, "#EXTINF:1.500000,\n", "", 1), "seg_00001.m4s has no EXTINF"},
		{"bad EXTINF", strings.Replace(good, "1.500000", "x", 1), `"#EXTINF:x,"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, size := range map[string]int{"init.mp4": 10, "seg_00000.m4s": 1000, "seg_00001.m4s": 300} {
				require.NoError(t, os.WriteFile(filepath.Join(dir, name), make([]byte, size), 0o644))
			}
			require.NoError(t, os.WriteFile(filepath.Join(dir, "index.m3u8"), []byte(tt.playlist), 0o644))
			pl, err := readMediaPlaylist(dir, "index.m3u8")
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, mediaPlaylist{target: 4 * time.Second, init: "init.mp4", segments: []segment{
				{"seg_00000.m4s", 4 * time.Second, 1000}, {"seg_00001.m4s", 1500 * time.Millisecond, 300},
			}}, pl)
			require.Equal(t, 5500*time.Millisecond, pl.duration())
		})
	}
}

func TestAttr(t *testing.T) {
	list := `URI="init,1.mp4",BYTERANGE="100@0",X=plain`
	for name, want := range map[string]string{"URI": "init,1.mp4", "BYTERANGE": "100@0", "X": "plain"} {
		v, ok := attr(list, name)
		require.True(t, ok, name)
		require.Equal(t, want, v)
	}
	_, ok := attr(list, "Y")
	require.False(t, ok)
}

func TestMasterPlaylist(t *testing.T) {
	got := masterPlaylist([]Rendition{
		{Name: "720p", Width: 1280, Height: 720, Bandwidth: 2_900_000, AverageBandwidth: 2_600_000,
			Codecs: "avc1.64001f,mp4a.40.2", FrameRate: 29.97002997},
		{Name: "360p", Width: 640, Height: 360, Bandwidth: 700_000, AverageBandwidth: 650_000, Codecs: "avc1.64001e"},
	})
	require.Equal(t, `#EXTM3U
#EXT-X-VERSION:7
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-STREAM-INF:BANDWIDTH=2900000,AVERAGE-BANDWIDTH=2600000,CODECS="avc1.64001f,mp4a.40.2",RESOLUTION=1280x720,FRAME-RATE=29.970
720p/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=700000,AVERAGE-BANDWIDTH=650000,CODECS="avc1.64001e",RESOLUTION=640x360
360p/index.m3u8
`, string(got))
}

func TestStoryboard(t *testing.T) {
	tests := []struct {
		name     string
		duration time.Duration
		w, h     int
		interval time.Duration
		tileH    int
	}{
		{"8 s", 8 * time.Second, 1280, 720, time.Second, 90},
		{"very short", 200 * time.Millisecond, 640, 360, time.Second, 90},
		{"an hour: 100 thumbnails", time.Hour, 1920, 1080, 36 * time.Second, 90},
		{"150 s", 150 * time.Second, 1920, 1080, 1500 * time.Millisecond, 90},
		{"portrait", 3 * time.Second, 180, 320, time.Second, 284},
		{"4:3", 25 * time.Second, 640, 480, time.Second, 120},
		{"a line", 25 * time.Second, 4000, 2, time.Second, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := job{src: source{Info: Info{Width: tt.w, Height: tt.h}, videoDuration: tt.duration}}
			sb := j.storyboard()
			require.Equal(t, storyboard{interval: tt.interval, duration: tt.duration, w: 160, h: tt.tileH}, sb)
		})
	}

	sb := storyboard{interval: 1500 * time.Millisecond, count: 3, w: 160, h: 90, cols: 2, rows: 2,
		duration: 4100 * time.Millisecond}
	require.Equal(t, `WEBVTT

00:00:00.000 --> 00:00:01.500
storyboard.jpg#xywh=0,0,160,90

00:00:01.500 --> 00:00:03.000
storyboard.jpg#xywh=160,0,160,90

00:00:03.000 --> 00:00:04.100
storyboard.jpg#xywh=0,90,160,90
`, string(sb.vtt()))
	require.Equal(t, "01:02:03.004", vttTime(time.Hour+2*time.Minute+3*time.Second+4*time.Millisecond))
}

func TestStoryboardAssemble(t *testing.T) {
	writeThumb := func(t *testing.T, dir string, i, w, h int, c color.Gray) {
		img := image.NewGray(image.Rect(0, 0, w, h))
		draw.Draw(img, img.Bounds(), image.NewUniform(c), image.Point{}, draw.Src)
		var b bytes.Buffer
		require.NoError(t, png.Encode(&b, img))
		require.NoError(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("%05d.png", i)), b.Bytes(), 0o644))
	}
	shade := func(i int) color.Gray { return color.Gray{Y: uint8(20 + 15*i)} }

	for _, tt := range []struct{ count, cols, rows int }{{1, 1, 1}, {10, 10, 1}, {13, 10, 2}} {
		t.Run(strconv.Itoa(tt.count), func(t *testing.T) {
			dir, out := t.TempDir(), filepath.Join(t.TempDir(), "sprite.jpg")
			for i := range tt.count {
				writeThumb(t, dir, i+1, 160, 90, shade(i)) // ffmpeg counts from 1
			}
			sb := storyboard{w: 160, h: 90, interval: time.Second, duration: time.Duration(tt.count) * time.Second}
			require.NoError(t, sb.assemble(dir, out))
			require.Equal(t, []int{tt.count, tt.cols, tt.rows}, []int{sb.count, sb.cols, sb.rows})

			f, err := os.Open(out)
			require.NoError(t, err)
			defer f.Close()
			sprite, err := jpeg.Decode(f)
			require.NoError(t, err)
			require.Equal(t, image.Rect(0, 0, 160*tt.cols, 90*tt.rows), sprite.Bounds())
			for i := range tt.count {
				// the middle of tile i has thumbnail i's shade
				y := color.GrayModel.Convert(sprite.At(i%tt.cols*160+80, i/tt.cols*90+45)).(color.Gray).Y
				require.InDelta(t, shade(i).Y, y, 3, "tile %d", i)
			}
		})
	}

	t.Run("no thumbnails", func(t *testing.T) {
		sb := storyboard{w: 160, h: 90}
		require.ErrorContains(t, sb.assemble(t.TempDir(), filepath.Join(t.TempDir(), "s.jpg")), "no thumbnails")
	})
	t.Run("a thumbnail of another size", func(t *testing.T) {
		dir := t.TempDir()
		writeThumb(t, dir, 1, 160, 90, shade(0))
		writeThumb(t, dir, 2, 160, 92, shade(1))
		sb := storyboard{w: 160, h: 90}
		require.ErrorContains(t, sb.assemble(dir, filepath.Join(t.TempDir(), "s.jpg")), "00002.png is (160,92), not 160x90")
	})
}

func TestPosterSize(t *testing.T) {
	for _, tt := range []struct{ w, h, pw, ph int }{
		{1920, 1080, 1280, 720}, {1280, 720, 1280, 720}, {3840, 1600, 1280, 534}, {1080, 1920, 1080, 1920}, {640, 360, 640, 360},
	} {
		w, h := posterSize(tt.w, tt.h)
		require.Equal(t, [2]int{tt.pw, tt.ph}, [2]int{w, h}, "%dx%d", tt.w, tt.h)
	}
}

func TestProbeOutput(t *testing.T) {
	const h264 = `{"index": 1, "codec_type": "video", "codec_name": "h264", "width": 1920, "height": 1080,
		"pix_fmt": "yuv420p", "sample_aspect_ratio": "1:1", "avg_frame_rate": "30000/1001", "r_frame_rate": "60/1",
		"duration": "9.5"`
	const aac = `{"index": 2, "codec_type": "audio", "codec_name": "aac", "sample_rate": "96000"}`
	const cover = `{"index": 0, "codec_type": "video", "codec_name": "mjpeg", "width": 600, "height": 600,
		"disposition": {"attached_pic": 1}}`
	format := func(name, duration string) string {
		return `"format": {"format_name": "` + name + `", "duration": "` + duration + `"}`
	}
	tests := []struct {
		name string
		json string
		want func(s *source)
		err  string
	}{
		{"cover art is not the video", `{"streams": [` + cover + `,` + h264 + `},` + aac + `], ` + format("mov,mp4", "10.0") + `}`,
			func(s *source) {}, ""},
		{"phone portrait", `{"streams": [` + h264 + `, "side_data_list": [{"side_data_type": "Display Matrix", "rotation": -90}]}], ` + format("mov,mp4", "10.0") + `}`,
			func(s *source) {
				s.Width, s.Height, s.Rotation = 1080, 1920, 90
				s.HasAudio, s.AudioCodec, s.audioIndex, s.sampleRate = false, "", -1, 0
			}, ""},
		{"upside down, rotate tag", `{"streams": [` + h264 + `, "tags": {"rotate": "180"}}], ` + format("mov,mp4", "10.0") + `}`,
			func(s *source) {
				s.Rotation = 180
				s.HasAudio, s.AudioCodec, s.audioIndex, s.sampleRate = false, "", -1, 0
			}, ""},
		{"anamorphic", `{"streams": [` + strings.Replace(h264, `"1:1"`, `"4:3"`, 1) + `}], ` + format("mov,mp4", "10.0") + `}`,
			func(s *source) {
				s.Width = 2560
				s.HasAudio, s.AudioCodec, s.audioIndex, s.sampleRate = false, "", -1, 0
			}, ""},
		{"no average frame rate", `{"streams": [` + strings.Replace(h264, `"30000/1001"`, `"0/0"`, 1) + `}], ` + format("mov,mp4", "10.0") + `}`,
			func(s *source) {
				s.FrameRate = 60
				s.HasAudio, s.AudioCodec, s.audioIndex, s.sampleRate = false, "", -1, 0
			}, ""},
		{"no container duration", `{"streams": [` + h264 + `}], ` + format("matroska,webm", "") + `}`,
			func(s *source) {
				s.Duration, s.FormatName = 9500*time.Millisecond, "matroska,webm"
				s.HasAudio, s.AudioCodec, s.audioIndex, s.sampleRate = false, "", -1, 0
			}, ""},
		{"no duration", `{"streams": [` + strings.Replace(h264, `"9.5"`, `"N/A"`, 1) + `}], ` + format("matroska,webm", "") + `}`,
			nil, "not a video: no duration (matroska,webm)"},
		{"audio only", `{"streams": [` + aac + `], ` + format("mov,mp4", "10.0") + `}`, nil, "not a video: no video stream (mov,mp4)"},
		{"only cover art", `{"streams": [` + cover + `,` + aac + `], ` + format("mp3", "10.0") + `}`, nil, "not a video: no video stream (mp3)"},
		{"a picture", `{"streams": [` + strings.Replace(cover, `"attached_pic": 1`, `"attached_pic": 0`, 1) + `], ` + format("png_pipe", "0.04") + `}`,
			nil, "not a video: a still image (png_pipe)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p probeOutput
			require.NoError(t, json.Unmarshal([]byte(tt.json), &p))
			got, err := p.source()
			if tt.err != "" {
				require.ErrorIs(t, err, ErrNotVideo)
				require.EqualError(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			want := source{
				Info: Info{Duration: 10 * time.Second, Width: 1920, Height: 1080, VideoCodec: "h264", AudioCodec: "aac",
					FrameRate: 30000.0 / 1001, HasAudio: true, FormatName: "mov,mp4"},
				videoIndex: 1, audioIndex: 2, videoDuration: 9500 * time.Millisecond, pixFmt: "yuv420p", sampleRate: 96000,
			}
			tt.want(&want)
			require.Equal(t, want, got)
		})
	}
}

func TestProgressParser(t *testing.T) {
	var got []int
	advanced := 0
	p := &progressParser{total: 10 * time.Second, report: func(pct int) { got = append(got, pct) },
		advanced: func() { advanced++ }}
	for _, l := range []string{"frame=1", "out_time_us=N/A", "out_time_us=0", "progress=continue",
		"out_time_us=50000", "out_time_us=100000", "out_time_us=150000", "out_time_us=150000",
		"out_time_us=120000", "out_time_us=5000000", "out_time_us=12000000", "progress=end"} {
		p.line(l)
	}
	// whole percents, each once, never backwards, at most 100
	require.Equal(t, []int{1, 50, 100}, got)
	require.Equal(t, 5, advanced, "out_time_us growing")
}

func TestLineWriter(t *testing.T) {
	var lines []string
	w := &lineWriter{line: func(l string) { lines = append(lines, l) }}
	for _, s := range []string{"a", "b\nc\r", "\n\nd\r\ne", "\n", "partial"} {
		n, err := w.Write([]byte(s))
		require.NoError(t, err)
		require.Equal(t, len(s), n)
	}
	require.Equal(t, []string{"ab", "c", "d", "e"}, lines)
}

// TestFFmpegRun runs sh in ffmpeg's place.
func TestFFmpegRun(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	sh := func(script string) ffmpegRun {
		return ffmpegRun{bin: "sh", args: []string{"-c", script}, log: log, stall: time.Minute, dir: t.TempDir()}
	}

	t.Run("failure carries the last stderr lines", func(t *testing.T) {
		logs.Reset()
		script := `for i in $(seq 1 20); do echo "line $i" >&2; done
echo "[swscaler @ 0x1] deprecated pixel format used, make sure you did set range correctly" >&2
exit 3`
		err := sh(script).run(context.Background())
		require.EqualError(t, err, "exit status 3: line 13\nline 14\nline 15\nline 16\nline 17\nline 18\nline 19\nline 20")
		require.Contains(t, logs.String(), `level=WARN msg=ffmpeg stderr="line 1"`)
		require.NotContains(t, logs.String(), "deprecated pixel format")
	})

	t.Run("a flood of warnings is logged up to a limit", func(t *testing.T) {
		logs.Reset()
		require.NoError(t, sh(`for i in $(seq 1 300); do echo "warning $i" >&2; done`).run(context.Background()))
		require.Equal(t, maxLogged+1, strings.Count(logs.String(), "\n"))
		require.Contains(t, logs.String(), "further stderr output is not logged")
	})

	t.Run("progress", func(t *testing.T) {
		r := sh(`printf 'out_time_us=N/A\nprogress=continue\nout_time_us=1000000\nout_time_us=2000000\nprogress=end\n'`)
		r.total = 2 * time.Second
		var got []int
		r.progress = func(p int) { got = append(got, p) }
		require.NoError(t, r.run(context.Background()))
		require.Equal(t, []int{50, 100}, got)
	})

	t.Run("stall", func(t *testing.T) {
		r := sh(`echo out_time_us=1000; exec sleep 30`)
		r.stall = 300 * time.Millisecond
		start := time.Now()
		err := r.run(context.Background())
		require.ErrorIs(t, err, ErrStalled)
		require.Less(t, time.Since(start), 5*time.Second)
	})

	t.Run("progress keeps it alive", func(t *testing.T) {
		r := sh(`for i in $(seq 1 8); do echo out_time_us=$i; sleep 0.1; done`)
		r.stall = 400 * time.Millisecond
		require.NoError(t, r.run(context.Background()))
	})

	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := sh(`exec sleep 30`).run(ctx)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.Less(t, time.Since(start), 5*time.Second)
	})

	t.Run("missing binary", func(t *testing.T) {
		r := sh("")
		r.bin = "/nonexistent/ffmpeg"
		require.ErrorContains(t, r.run(context.Background()), "no such file or directory")
	})
}
