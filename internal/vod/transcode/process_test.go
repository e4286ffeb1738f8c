package transcode_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/testutil/fftest"
	"github.com/nagare-video/nagare/internal/vod/ladder"
	"github.com/nagare-video/nagare/internal/vod/transcode"
)

func TestProcessH264(t *testing.T) {
	t.Parallel()
	src := fftest.EncodeClip(t, "h264", 1280, 720, 8*fftest.ClipFPS) // H.264 Main + AAC in MPEG-TS
	out := t.TempDir()
	var prog progressLog
	opts := testOptions(t)
	opts.Preset = "veryfast" // B-frames, unlike ultrafast
	res, err := transcode.Process(context.Background(), opts, src, out, prog.add)
	require.NoError(t, err)

	require.Equal(t, "h264", res.Info.VideoCodec)
	require.Equal(t, 1280, res.Info.Width)
	require.InDelta(t, 8, res.Info.Duration.Seconds(), 0.1)

	// never upscaled: no 1080p
	require.Equal(t, []string{"720p 1280x720", "480p 854x480", "360p 640x360"}, renditionSizes(res))
	var extinfs [][]string
	var keyframes [][]float64
	for _, r := range res.Renditions {
		pl := filepath.Join(out, r.Playlist)
		sizes := fftest.FrameSizes(t, pl)
		size := fmt.Sprintf("%dx%d", r.Width, r.Height)
		require.Len(t, sizes, 1, "every frame of %s is %s: %v", r.Name, size, sizes)
		require.InDelta(t, 8*fftest.ClipFPS, sizes[size], 2, r.Name)
		require.InDelta(t, 8, probeDuration(t, pl), 0.5, r.Name)
		extinfs = append(extinfs, extinf(t, pl))
		keyframes = append(keyframes, keyframeTimes(t, pl))
		require.Equal(t, 25.0, r.FrameRate)
	}
	// segments start on the same instants in every rendition
	require.Equal(t, []string{"4.000000", "4.000000"}, extinfs[0])
	for i := range extinfs {
		require.Equal(t, extinfs[0], extinfs[i], res.Renditions[i].Name)
		require.InDeltaSlice(t, keyframes[0], keyframes[i], 0.001, res.Renditions[i].Name)
	}
	// one keyframe per segment, at its start
	require.Len(t, keyframes[0], 2)
	require.InDelta(t, 4, keyframes[0][1]-keyframes[0][0], 0.001)

	checkMaster(t, out, res)

	// video.mp4 is the source's streams copied: x264 would have made High profile from our encode
	require.True(t, res.MP4)
	require.True(t, res.MP4Remuxed)
	mp4 := filepath.Join(out, "video.mp4")
	require.Equal(t, []string{"h264 Main 1280x720", "aac LC"}, streams(t, mp4))
	require.Equal(t, map[string]int{"1280x720": 8 * fftest.ClipFPS}, fftest.FrameSizes(t, mp4))
	requireFastStart(t, mp4)

	requireJPEG(t, filepath.Join(out, "poster.jpg"), 1280, 720)
	checkStoryboard(t, out, res, 90)

	require.Equal(t, walk(t, out), res.Files)
	require.Contains(t, res.Files, "hls/720p/init.mp4")
	require.Contains(t, res.Files, "hls/360p/seg_00001.m4s")
	prog.check(t)
}

// TestProcessReencode: an MPEG-4 part 2 + MP2 source gets an H.264/AAC video.mp4; a custom ladder with
// passthrough and a frame rate cap.
func TestProcessReencode(t *testing.T) {
	t.Parallel()
	src := clip(t, "src.avi", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25",
		"-f", "lavfi", "-i", "sine=frequency=300:sample_rate=48000", "-t", "6", "-c:v", "mpeg4", "-q:v", "5",
		"-c:a", "mp2")
	opts := testOptions(t)
	opts.Preset = "veryfast" // B-frames, unlike ultrafast: none here, the frame rates differ
	opts.Ladder = ladder.Ladder{
		Rungs:        []ladder.Rung{{Name: "240p", Height: 240, VideoBitrate: 300_000, FrameRate: 12.5}},
		AudioBitrate: 64_000,
		Passthrough:  true,
	}
	out := t.TempDir()
	var prog progressLog
	res, err := transcode.Process(context.Background(), opts, src, out, prog.add)
	require.NoError(t, err)
	require.Equal(t, "mpeg4", res.Info.VideoCodec)
	require.Equal(t, "mp2", res.Info.AudioCodec)

	// the source's size is the top rendition, encoded
	require.Equal(t, []string{"source 640x360", "240p 426x240"}, renditionSizes(res))
	require.Equal(t, []float64{25, 12.5}, []float64{res.Renditions[0].FrameRate, res.Renditions[1].FrameRate})
	frames := []int{6 * 25, 6 * 25 / 2}
	for i, r := range res.Renditions {
		pl := filepath.Join(out, r.Playlist)
		sizes := fftest.FrameSizes(t, pl)
		require.InDelta(t, frames[i], sizes[fmt.Sprintf("%dx%d", r.Width, r.Height)], 2, "%s: %v", r.Name, sizes)
		require.Len(t, sizes, 1)
		require.InDelta(t, 6, probeDuration(t, pl), 0.5)
	}
	// aligned despite the frame rates
	require.Equal(t, []string{"4.000000", "2.000000"}, extinf(t, filepath.Join(out, res.Renditions[0].Playlist)))
	require.Equal(t, extinf(t, filepath.Join(out, res.Renditions[0].Playlist)),
		extinf(t, filepath.Join(out, res.Renditions[1].Playlist)))
	require.Equal(t, keyframeTimes(t, filepath.Join(out, res.Renditions[0].Playlist)),
		keyframeTimes(t, filepath.Join(out, res.Renditions[1].Playlist)))
	master := checkMaster(t, out, res)
	require.Contains(t, master, "FRAME-RATE=12.500")

	require.True(t, res.MP4)
	require.False(t, res.MP4Remuxed)
	mp4 := filepath.Join(out, "video.mp4")
	st := streams(t, mp4)
	require.Len(t, st, 2)
	require.Regexp(t, `^h264 .+ 640x360$`, st[0])
	require.Equal(t, "aac LC", st[1])
	require.InDelta(t, 6, probeDuration(t, mp4), 0.3)
	require.InDelta(t, 6*25, fftest.FrameSizes(t, mp4)["640x360"], 2)
	requireFastStart(t, mp4)

	requireJPEG(t, filepath.Join(out, "poster.jpg"), 640, 360)
	checkStoryboard(t, out, res, 90)
	require.Equal(t, walk(t, out), res.Files)
	prog.check(t)
}

// TestProcessSmallRotatedNoAudio: a phone's portrait video without sound, smaller than every rung.
func TestProcessSmallRotatedNoAudio(t *testing.T) {
	t.Parallel()
	plain := clip(t, "plain.mp4", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25", "-t", "3",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")
	// ffmpeg 5.1 turns the rotate tag into a display matrix of 90° counterclockwise (decoding it equals
	// transpose=cclock): players turn the picture 270° clockwise
	src := clip(t, "rotated.mp4", "-i", plain, "-c", "copy", "-metadata:s:v:0", "rotate=90")

	out := t.TempDir()
	res, err := transcode.Process(context.Background(), testOptions(t), src, out, nil)
	require.NoError(t, err)
	require.Equal(t, 270, res.Info.Rotation)
	require.False(t, res.Info.HasAudio)

	// the lowest rung at the source's own (displayed) size
	require.Equal(t, []string{"360p 180x320"}, renditionSizes(res))
	require.Equal(t, map[string]int{"180x320": 75}, fftest.FrameSizes(t, filepath.Join(out, res.Renditions[0].Playlist)))
	require.Regexp(t, `^avc1\.[0-9a-f]{6}$`, res.Renditions[0].Codecs)
	checkMaster(t, out, res)

	require.True(t, res.MP4Remuxed)
	info, err := transcode.Probe(context.Background(), "ffprobe", filepath.Join(out, "video.mp4"))
	require.NoError(t, err)
	require.Equal(t, []any{270, 180, 320, false}, []any{info.Rotation, info.Width, info.Height, info.HasAudio})

	requireJPEG(t, filepath.Join(out, "poster.jpg"), 180, 320)
	checkStoryboard(t, out, res, 284)
}

func TestProcessTruncated(t *testing.T) {
	t.Parallel()
	// moov first, so ffprobe reads the whole index and the duration of a file that has half its media
	src := clip(t, "whole.mp4", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25", "-f", "lavfi",
		"-i", "sine", "-t", "6", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac",
		"-movflags", "+faststart")
	st, err := os.Stat(src)
	require.NoError(t, err)
	require.NoError(t, os.Truncate(src, st.Size()/2))
	info, err := transcode.Probe(context.Background(), "ffprobe", src)
	require.NoError(t, err, "ffprobe accepts the file")
	require.InDelta(t, 6, info.Duration.Seconds(), 0.1)

	out := t.TempDir()
	res, err := transcode.Process(context.Background(), testOptions(t), src, out, nil)
	require.ErrorIs(t, err, transcode.ErrIncomplete)
	require.Zero(t, res)
	require.Empty(t, walk(t, out), "a failure leaves nothing behind")
}

func TestProcessCancel(t *testing.T) {
	t.Parallel()
	src := clip(t, "src.mkv", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25", "-t", "8",
		"-c:v", "mpeg4", "-q:v", "5")
	out := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var cancelled time.Time
	opts := testOptions(t)
	opts.Preset = "veryfast" // several seconds of work, cancelled at the first report from ffmpeg
	res, err := transcode.Process(ctx, opts, src, out, func(p int) {
		if p > 0 && cancelled.IsZero() {
			cancelled = time.Now()
			cancel()
		}
	})
	require.ErrorIs(t, err, context.Canceled)
	require.Zero(t, res)
	require.False(t, cancelled.IsZero(), "ffmpeg reported no progress")
	require.Less(t, time.Since(cancelled), 2*time.Second)
	require.Empty(t, processesWith(t, out), "ffmpeg still runs")
	require.Empty(t, walk(t, out))
}

func TestProcessErrors(t *testing.T) {
	t.Parallel()
	fftest.Require(t)
	text := filepath.Join(t.TempDir(), "notes.mp4")
	require.NoError(t, os.WriteFile(text, []byte("not a video\n"), 0o644))

	_, err := transcode.Process(context.Background(), testOptions(t), text, t.TempDir(), nil)
	require.ErrorIs(t, err, transcode.ErrNotVideo)

	opts := testOptions(t)
	opts.Preset = "veryfast" // B-frames, unlike ultrafast: none here, the frame rates differ
	opts.Ladder = ladder.Ladder{Rungs: []ladder.Rung{{Name: "x", Height: 3, VideoBitrate: 1}}, AudioBitrate: 1}
	_, err = transcode.Process(context.Background(), opts, text, t.TempDir(), nil)
	require.ErrorIs(t, err, ladder.ErrInvalid)

	ok := clip(t, "ok.mp4", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25", "-t", "1",
		"-c:v", "libx264", "-preset", "ultrafast")
	opts = testOptions(t)
	opts.FFmpeg = "/nonexistent/ffmpeg"
	_, err = transcode.Process(context.Background(), opts, ok, t.TempDir(), nil)
	require.ErrorContains(t, err, "transcoding: fork/exec /nonexistent/ffmpeg")

	// a source where an output goes is refused, not deleted
	out := t.TempDir()
	inside := filepath.Join(out, "video.mp4")
	require.NoError(t, os.Rename(text, inside))
	_, err = transcode.Process(context.Background(), testOptions(t), inside, out, nil)
	require.ErrorContains(t, err, "is where Process writes video.mp4")
	require.FileExists(t, inside)

	// ffmpeg's failure comes with its last words
	opts = testOptions(t)
	opts.Preset = "nosuch"
	out = t.TempDir()
	_, err = transcode.Process(context.Background(), opts, ok, out, nil)
	require.Error(t, err)
	require.Regexp(t, `^transcoding: exit status 1: (.|\n)*invalid preset 'nosuch'`, err.Error())
	require.Empty(t, walk(t, out))
}

func TestProbe(t *testing.T) {
	t.Parallel()
	fftest.Require(t)
	dir := t.TempDir()
	good := clip(t, "good.mp4", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30000/1001",
		"-f", "lavfi", "-i", "sine", "-t", "2", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac")
	audio := clip(t, "audio.m4a", "-f", "lavfi", "-i", "sine", "-t", "2", "-c:a", "aac")
	image := clip(t, "image.jpg", "-f", "lavfi", "-i", "testsrc2=size=320x180", "-frames:v", "1")
	anamorphic := clip(t, "dv.mkv", "-f", "lavfi", "-i", "testsrc2=size=720x576:rate=25", "-t", "1",
		"-vf", "setsar=16/11", "-c:v", "mpeg4") // PAL 16:9
	text := filepath.Join(dir, "video.mp4")
	require.NoError(t, os.WriteFile(text, []byte("hello\n"), 0o644))

	info, err := transcode.Probe(context.Background(), "ffprobe", good)
	require.NoError(t, err)
	require.InDelta(t, 2, info.Duration.Seconds(), 0.1)
	info.Duration = 0
	require.InDelta(t, 29.97, info.FrameRate, 0.01)
	info.FrameRate = 0
	require.Equal(t, transcode.Info{Width: 640, Height: 360, VideoCodec: "h264", AudioCodec: "aac",
		HasAudio: true, FormatName: "mov,mp4,m4a,3gp,3g2,mj2"}, info)

	info, err = transcode.Probe(context.Background(), "ffprobe", anamorphic)
	require.NoError(t, err)
	require.Equal(t, []any{1048, 576, false}, []any{info.Width, info.Height, info.HasAudio})

	for name, tt := range map[string]struct{ path, reason string }{
		"audio only": {audio, "no video stream"},
		"text":       {text, "ffprobe: file:" + text + ": Invalid data found when processing input"},
		"missing":    {filepath.Join(dir, "missing.mp4"), "No such file or directory"},
		"image":      {image, "a still image"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := transcode.Probe(context.Background(), "ffprobe", tt.path)
			require.ErrorIs(t, err, transcode.ErrNotVideo)
			require.ErrorContains(t, err, tt.reason)
		})
	}

	_, err = transcode.Probe(context.Background(), "/nonexistent/ffprobe", good)
	require.Error(t, err)
	require.NotErrorIs(t, err, transcode.ErrNotVideo, "a missing ffprobe says nothing about the file")
}

// helpers

func testOptions(t *testing.T) transcode.Options {
	return transcode.Options{Preset: "ultrafast", Threads: 2, Log: slog.New(slog.NewTextHandler(testWriter{t}, nil))}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// clip runs ffmpeg with args and the output name (a file of a temporary directory) last.
func clip(t *testing.T, name string, args ...string) string {
	t.Helper()
	fftest.Require(t)
	path := filepath.Join(t.TempDir(), name)
	args = append(append([]string{"-hide_banner", "-loglevel", "error", "-y"}, args...), path)
	out, err := exec.Command("ffmpeg", args...).CombinedOutput()
	require.NoError(t, err, "%s", out)
	return path
}

func ffprobe(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ffprobe", append([]string{"-v", "error"}, args...)...).Output()
	require.NoError(t, err, "ffprobe %v", args)
	return strings.TrimSpace(string(out))
}

func probeDuration(t *testing.T, path string) float64 {
	d, err := strconv.ParseFloat(ffprobe(t, "-show_entries", "format=duration", "-of", "csv=p=0", path), 64)
	require.NoError(t, err)
	return d
}

// streams is "codec profile WxH" for video, "codec profile" for audio.
func streams(t *testing.T, path string) []string {
	var out []string
	for _, l := range strings.Split(ffprobe(t, "-show_entries", "stream=codec_type,codec_name,profile,width,height",
		"-of", "csv=p=0", path), "\n") {
		f := strings.Split(l, ",") // codec_name,profile,codec_type,width,height
		require.GreaterOrEqual(t, len(f), 3, l)
		if f[2] == "video" {
			out = append(out, fmt.Sprintf("%s %s %sx%s", f[0], f[1], f[3], f[4]))
		} else {
			out = append(out, f[0]+" "+f[1])
		}
	}
	return out
}

// keyframeTimes are the times of the keyframes of a playlist's video.
func keyframeTimes(t *testing.T, playlist string) []float64 {
	var times []float64
	for _, l := range strings.Fields(ffprobe(t, "-select_streams", "v:0", "-skip_frame", "nokey",
		"-show_entries", "frame=pts_time", "-of", "csv=p=0", playlist)) {
		f, err := strconv.ParseFloat(strings.TrimSuffix(l, ","), 64)
		require.NoError(t, err, l)
		times = append(times, f)
	}
	return times
}

// extinf is a media playlist's segment durations, as written.
func extinf(t *testing.T, playlist string) []string {
	data, err := os.ReadFile(playlist)
	require.NoError(t, err)
	var d []string
	for _, m := range regexp.MustCompile(`(?m)^#EXTINF:([0-9.]+),$`).FindAllStringSubmatch(string(data), -1) {
		d = append(d, m[1])
	}
	require.Contains(t, string(data), "#EXT-X-PLAYLIST-TYPE:VOD\n")
	require.Contains(t, string(data), "#EXT-X-ENDLIST")
	require.Contains(t, string(data), `#EXT-X-MAP:URI="init.mp4"`)
	require.Regexp(t, `(?m)^seg_\d+\.m4s$`, string(data))
	return d
}

func renditionSizes(res transcode.Result) []string {
	var s []string
	for _, r := range res.Renditions {
		s = append(s, fmt.Sprintf("%s %dx%d", r.Name, r.Width, r.Height))
	}
	return s
}

// checkMaster checks the multivariant playlist against the result and the renditions' real streams.
func checkMaster(t *testing.T, out string, res transcode.Result) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(out, "hls", "index.m3u8"))
	require.NoError(t, err)
	master := string(data)
	infRe := regexp.MustCompile(`^#EXT-X-STREAM-INF:BANDWIDTH=(\d+),AVERAGE-BANDWIDTH=(\d+),CODECS="avc1\.([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})(,mp4a\.40\.2)?",RESOLUTION=(\d+x\d+),FRAME-RATE=\d+\.\d{3}$`)
	var infs, uris []string
	for _, l := range strings.Split(strings.TrimSpace(master), "\n")[3:] {
		if strings.HasPrefix(l, "#") {
			infs = append(infs, l)
		} else {
			uris = append(uris, l)
		}
	}
	require.True(t, strings.HasPrefix(master, "#EXTM3U\n"))
	require.Len(t, infs, len(res.Renditions))
	profiles := map[string]string{"42": "Baseline", "4d": "Main", "64": "High"}
	for i, r := range res.Renditions {
		m := infRe.FindStringSubmatch(infs[i])
		require.NotNil(t, m, infs[i])
		require.Equal(t, r.Name+"/index.m3u8", uris[i])
		require.Equal(t, fmt.Sprintf("%dx%d", r.Width, r.Height), m[7])
		peak, _ := strconv.Atoi(m[1])
		avg, _ := strconv.Atoi(m[2])
		require.Positive(t, avg)
		require.LessOrEqual(t, avg, peak)
		require.Equal(t, r.Bandwidth, peak)
		// the playlist's segments, measured independently: the average over the whole duration
		var size int64
		dir := filepath.Join(out, filepath.Dir(r.Playlist))
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".m4s") {
				st, err := e.Info()
				require.NoError(t, err)
				size += st.Size()
			}
		}
		require.InEpsilon(t, float64(size*8)/probeDuration(t, filepath.Join(out, r.Playlist)), avg, 0.02)

		// CODECS tells the profile and level the stream has
		// (the HLS demuxer's program lists the stream again: the first line is enough)
		line, _, _ := strings.Cut(ffprobe(t, "-select_streams", "v:0", "-show_entries", "stream=profile,level",
			"-of", "csv=p=0", filepath.Join(out, r.Playlist)), "\n")
		vs := strings.Split(line, ",")
		require.Contains(t, vs[0], profiles[m[3]], "%s: CODECS profile %s", r.Name, m[3])
		level, err := strconv.ParseInt(m[5], 16, 32)
		require.NoError(t, err)
		require.Equal(t, vs[1], strconv.Itoa(int(level)))
		require.Equal(t, res.Info.HasAudio, m[6] != "", "audio codec iff the source has audio")
	}
	return master
}

// requireFastStart checks that the moov box comes before mdat.
func requireFastStart(t *testing.T, path string) {
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var boxes []string
	r := bufio.NewReader(f)
	for {
		var h [8]byte
		if _, err := io.ReadFull(r, h[:]); err == io.EOF {
			break
		} else {
			require.NoError(t, err)
		}
		size := int64(binary.BigEndian.Uint32(h[:4]))
		boxes = append(boxes, string(h[4:]))
		header := int64(8)
		if size == 1 {
			var ext [8]byte
			_, err := io.ReadFull(r, ext[:])
			require.NoError(t, err)
			size, header = int64(binary.BigEndian.Uint64(ext[:])), 16
		}
		require.GreaterOrEqual(t, size, header, "box sizes: %v", boxes)
		_, err := r.Discard(int(size - header))
		require.NoError(t, err)
	}
	moov, mdat := -1, -1
	for i, b := range boxes {
		if b == "moov" && moov < 0 {
			moov = i
		}
		if b == "mdat" && mdat < 0 {
			mdat = i
		}
	}
	require.True(t, moov >= 0 && mdat > moov, "moov before mdat: %v", boxes)
}

func requireJPEG(t *testing.T, path string, w, h int) image.Image {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	img, err := jpeg.Decode(f)
	require.NoError(t, err)
	require.Equal(t, image.Rect(0, 0, w, h), img.Bounds())
	return img
}

// checkStoryboard checks the sprite (tiles of 160 x tileH, 10 a row, none of them black), that there
// is one per second of the lowest rendition's frames (these clips are under 100 s), and that the cues
// cover the duration without gaps, one per tile.
func checkStoryboard(t *testing.T, out string, res transcode.Result, tileH int) {
	t.Helper()
	duration := res.Info.Duration
	var pts []float64
	for _, l := range strings.Fields(ffprobe(t, "-select_streams", "v:0", "-show_entries", "frame=pts_time",
		"-of", "csv=p=0", filepath.Join(out, res.Renditions[len(res.Renditions)-1].Playlist))) {
		f, err := strconv.ParseFloat(strings.TrimSuffix(l, ","), 64)
		require.NoError(t, err, l)
		pts = append(pts, f)
	}
	tiles := int(pts[len(pts)-1]-pts[0]) + 1 // a thumbnail at each whole second with a frame at or after it
	cols := min(tiles, 10)
	rows := (tiles + cols - 1) / cols
	img := requireJPEG(t, filepath.Join(out, "storyboard.jpg"), cols*160, rows*tileH)
	data, err := os.ReadFile(filepath.Join(out, "storyboard.vtt"))
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(data), "WEBVTT\n\n"))
	cueRe := regexp.MustCompile(`(?m)^(\d\d):(\d\d):(\d\d)\.(\d{3}) --> (\d\d):(\d\d):(\d\d)\.(\d{3})\nstoryboard\.jpg#xywh=(\d+),(\d+),(\d+),(\d+)$`)
	cues := cueRe.FindAllStringSubmatch(string(data), -1)
	require.Len(t, cues, tiles, "%s", data)
	ts := func(f []string) time.Duration {
		n := make([]int, 4)
		for i := range n {
			n[i], _ = strconv.Atoi(f[i])
		}
		return time.Duration(n[0])*time.Hour + time.Duration(n[1])*time.Minute +
			time.Duration(n[2])*time.Second + time.Duration(n[3])*time.Millisecond
	}
	var end time.Duration
	for i, c := range cues {
		require.Equal(t, end, ts(c[1:5]), "cue %d starts where the previous one ended", i)
		end = ts(c[5:9])
		require.Greater(t, end, ts(c[1:5]))
		x, _ := strconv.Atoi(c[9])
		y, _ := strconv.Atoi(c[10])
		require.Equal(t, []string{"160", strconv.Itoa(tileH)}, []string{c[11], c[12]})
		require.Equal(t, [2]int{i % cols * 160, i / cols * tileH}, [2]int{x, y})
		// testsrc2 is colourful everywhere: a black tile would be a thumbnail ffmpeg never made
		var sum uint32
		for py := y; py < y+tileH; py += 4 {
			for px := x; px < x+160; px += 4 {
				r, g, b, _ := img.At(px, py).RGBA()
				sum += (r + g + b) >> 8
			}
		}
		require.Greater(t, sum/uint32(40*tileH/4), uint32(60), "tile %d is black", i)
	}
	require.InDelta(t, duration.Seconds(), end.Seconds(), 0.05, "the cues cover the duration")
}

// walk lists the files under dir, slash-separated, sorted.
func walk(t *testing.T, dir string) []string {
	var files []string
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		files = append(files, filepath.ToSlash(rel))
		return err
	}))
	return files
}

// processesWith lists the processes whose command line mentions s.
func processesWith(t *testing.T, s string) []string {
	cmdlines, err := filepath.Glob("/proc/[0-9]*/cmdline")
	require.NoError(t, err)
	var found []string
	for _, c := range cmdlines {
		data, err := os.ReadFile(c)
		if err == nil && strings.Contains(string(data), s) {
			found = append(found, c+": "+strings.ReplaceAll(string(data), "\x00", " "))
		}
	}
	return found
}

// progressLog records progress calls, which come from another goroutine.
type progressLog struct {
	mu sync.Mutex
	p  []int
}

func (l *progressLog) add(p int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.p = append(l.p, p)
}

func (l *progressLog) check(t *testing.T) {
	l.mu.Lock()
	defer l.mu.Unlock()
	require.GreaterOrEqual(t, len(l.p), 3, "%v", l.p)
	require.Equal(t, 0, l.p[0])
	require.Equal(t, 100, l.p[len(l.p)-1])
	for i := 1; i < len(l.p); i++ {
		require.Greater(t, l.p[i], l.p[i-1], "%v", l.p)
	}
}

// TestProcessExtrasFail: the poster and the storyboard are extras. When ffmpeg cannot make one, Process
// succeeds without it, says why, and keeps the other; the MP4 is no extra.
func TestProcessExtrasFail(t *testing.T) {
	t.Parallel()
	h264 := clip(t, "h264.mp4", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25", "-t", "3",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")
	mpeg4 := clip(t, "mpeg4.mkv", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25", "-t", "3",
		"-c:v", "mpeg4", "-q:v", "5")
	for _, tt := range []struct {
		name, src string
		// the ffmpeg run with this argument exits with code, without running
		arg  string
		code int
		// wantPoster, wantStoryboard: the error expected of the poster and of the storyboard ("" = made)
		wantPoster, wantStoryboard string
		wantErr                    string
	}{
		{name: "poster fails", src: h264, arg: "poster.jpg", code: 1,
			wantPoster: "making the poster: exit status 1: refused poster.jpg"},
		{name: "poster never written", src: mpeg4, arg: "poster.jpg", code: 0,
			wantPoster: "making the poster: ffmpeg did not write it"},
		{name: "storyboard fails", src: mpeg4, arg: ".thumbnails/%05d.png", code: 1,
			wantStoryboard: "making the storyboard: exit status 1: refused .thumbnails/%05d.png"},
		{name: "storyboard empty", src: h264, arg: ".thumbnails/%05d.png", code: 0,
			wantStoryboard: "making the storyboard: storyboard: ffmpeg made no thumbnails"},
		{name: "the MP4 is no extra", src: mpeg4, arg: "video.mp4", code: 1,
			wantErr: "writing the MP4: exit status 1: refused video.mp4"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := testOptions(t)
			opts.FFmpeg = failingFFmpeg(t, tt.arg, tt.code)
			out := t.TempDir()
			res, err := transcode.Process(context.Background(), opts, tt.src, out, nil)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				require.Empty(t, walk(t, out), "a failure leaves nothing behind")
				return
			}
			require.NoError(t, err)
			require.Equal(t, walk(t, out), res.Files)
			require.FileExists(t, filepath.Join(out, "video.mp4"))
			require.FileExists(t, filepath.Join(out, "hls/index.m3u8"))
			extras := map[string][]string{"poster": {"poster.jpg"}, "storyboard": {"storyboard.jpg", "storyboard.vtt"}}
			for kind, want := range map[string]struct {
				err     error
				wantErr string
			}{"poster": {res.PosterErr, tt.wantPoster}, "storyboard": {res.StoryboardErr, tt.wantStoryboard}} {
				for _, f := range extras[kind] {
					if want.wantErr == "" {
						require.NoError(t, want.err, kind)
						require.Contains(t, res.Files, f)
					} else {
						require.ErrorContains(t, want.err, want.wantErr, kind)
						require.NotContains(t, res.Files, f)
					}
				}
			}
			if tt.wantPoster == "" {
				requireJPEG(t, filepath.Join(out, "poster.jpg"), 320, 180)
			}
			if tt.wantStoryboard == "" {
				checkStoryboard(t, out, res, 90)
			}
		})
	}
}

// failingFFmpeg is an ffmpeg that exits with code, saying "refused <arg>", when one of its arguments is
// arg, and is the real ffmpeg otherwise.
func failingFFmpeg(t *testing.T, arg string, code int) string {
	t.Helper()
	real, err := exec.LookPath("ffmpeg")
	require.NoError(t, err)
	name := filepath.Join(t.TempDir(), "ffmpeg")
	script := fmt.Sprintf(`#!/bin/sh
for a in "$@"; do
  if [ "$a" = %q ]; then echo "refused $a" >&2; exit %d; fi
done
exec %q "$@"
`, arg, code, real)
	require.NoError(t, os.WriteFile(name, []byte(script), 0o755))
	return name
}
