package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/media/stream"
	"github.com/nagare-video/nagare/internal/testutil"
	"github.com/nagare-video/nagare/internal/testutil/managertest"
)

// ffmpegWrapper writes a script that runs ffmpeg and records its process id in the returned file, so
// that a test can crash or freeze the transcoder's ffmpeg like a real fault would.
func ffmpegWrapper(t *testing.T) (script, pidFile string) {
	dir := t.TempDir()
	script, pidFile = filepath.Join(dir, "ffmpeg.sh"), filepath.Join(dir, "ffmpeg.pid")
	require.NoError(t, os.WriteFile(script, []byte("#!/bin/sh\necho $$ > "+pidFile+"\nexec ffmpeg \"$@\"\n"), 0o755))
	return script, pidFile
}

func ffmpegPID(t *testing.T, pidFile string) int {
	// the script truncates the file before it writes the new id: read again until it has one
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		b, err := os.ReadFile(pidFile)
		require.NoError(t, err)
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil || time.Now().After(deadline) {
			require.NoError(t, err)
			return pid
		}
	}
}

// fastManager starts a manager (managertest's credentials) whose nodes report every second and are
// dead after nodeTimeout.
func fastManager(t *testing.T, nodeTimeout time.Duration) string {
	t.Helper()
	mgr, _ := managertest.Start(t, func(c *config.Config) {
		c.Manager.ReportInterval, c.Manager.NodeTimeout = time.Second, nodeTimeout
	})
	return mgr
}

// multivariant waits until the stream's multivariant playlist lists n variants and returns it.
func multivariant(t *testing.T, url string, n int) *playlist.Multivariant {
	t.Helper()
	var mv *playlist.Multivariant
	require.Eventually(t, func() bool {
		code, body := testutil.Get(t, url)
		if code != http.StatusOK {
			return false
		}
		pl, err := playlist.Unmarshal(body)
		require.NoError(t, err, "%s", body)
		mv = pl.(*playlist.Multivariant)
		return len(mv.Variants) == n
	}, 30*time.Second, 200*time.Millisecond, "the multivariant playlist never listed %d variants", n)
	return mv
}

// TestTranscodedLadder publishes a 320x240 stream to an origin that transcodes it: the multivariant
// playlist lists the source's video and every rung not taller than it, video only, sharing one audio
// rendition (the source's AAC); each rendition decodes at its size, the LL-HLS parts of every rendition
// start on the same presentation time as the source's part of the same number (the audio's within an AAC
// frame of it), the storage push and an edge carry the ladder and its audio, and an ffmpeg that crashes or
// hangs is replaced while the source plays on.
func TestTranscodedLadder(t *testing.T) {
	testutil.RequireFFmpeg(t)
	script, pidFile := ffmpegWrapper(t)
	bucket := t.TempDir()
	n, logs := testutil.StartNode(t, func(c *config.Config) {
		c.Storage = config.Storage{Backend: "local", Directory: bucket}
		c.Push.Enabled, c.Push.Prefix = true, "hls"
		c.Publish.Keys = map[string]string{"live/abr": "abr-stream-key"}
		c.Transcode.Enabled = true
		c.Transcode.FFmpeg = script
		c.Transcode.Rungs = []config.Rung{
			{Name: "480p", Height: 480, VideoBitrate: 1_000_000}, // taller than the source: left out
			{Name: "180p", Height: 180, VideoBitrate: 200_000},
			{Name: "120p", Height: 120, VideoBitrate: 100_000, MaxRate: 120_000},
		}
	})
	testutil.Publish(t, "rtmp://"+n.RTMPAddr()+"/live/abr?key=abr-stream-key", "flv")
	base := "http://" + n.HTTPAddr() + "/live/abr/"
	mv := multivariant(t, base+"index.m3u8", 3)

	type want struct {
		uri        string
		resolution string
		minBW      int
	}
	wants := []want{
		{"../abr_source/video1_stream.m3u8", "320x240", 1},
		{"../abr_180p/video1_stream.m3u8", "240x180", 200_000 * 3 / 2},
		{"../abr_120p/video1_stream.m3u8", "160x120", 120_000},
	}
	// one audio rendition, the source's AAC, which every variant plays
	audio := audioGroup(t, mv)
	audioURI := testutil.Resolve(t, base+"index.m3u8", *audio.URI)
	require.Equal(t, "../abr_audio/audio1_stream.m3u8", strings.Split(*audio.URI, "?")[0])
	var media []string
	for i, w := range wants {
		v := mv.Variants[i]
		uri, _, _ := strings.Cut(v.URI, "?")
		require.Equal(t, w.uri, uri, "variant %d", i)
		require.Equal(t, w.resolution, v.Resolution, "variant %d", i)
		require.GreaterOrEqual(t, v.Bandwidth, w.minBW, "variant %d", i)
		require.NotNil(t, v.AverageBandwidth, "variant %d", i)
		require.NotNil(t, v.FrameRate, "variant %d", i)
		require.InDelta(t, 25, *v.FrameRate, 0.01, "variant %d keeps the source's frame rate", i)
		require.Len(t, v.Codecs, 2, "variant %d: its video and the audio rendition's", i)
		require.Regexp(t, `^avc1\.`, v.Codecs[0], "variant %d", i)
		require.Equal(t, "mp4a.40.2", v.Codecs[1], "variant %d", i)
		require.Equal(t, audio.GroupID, v.Audio, "variant %d plays the audio group", i)
		media = append(media, testutil.Resolve(t, base+"index.m3u8", v.URI))
	}
	// a rendition is a stream of its own (Red5's <stream>_<level>), with a multivariant playlist of one
	// video variant, which plays with the ladder's audio rendition
	one := multivariant(t, "http://"+n.HTTPAddr()+"/live/abr_120p/index.m3u8", 1)
	require.Equal(t, "160x120", one.Variants[0].Resolution)
	require.Equal(t, audioGroup(t, one).GroupID, one.Variants[0].Audio)
	// the source's own media playlist, as a plain stream's, still has its audio muxed in
	_, plain := testutil.Get(t, base+"video1_stream.m3u8")
	require.Contains(t, string(plain), "#EXT-X-PART:")
	require.ElementsMatch(t, []string{"video", "audio"}, codecTypes(testutil.Probe(t, base+"video1_stream.m3u8", false)))

	for i, w := range wants {
		streams := testutil.Probe(t, media[i], false)
		require.Equal(t, []string{"video"}, codecTypes(streams), "rendition %s is video only", w.uri)
		require.Equal(t, w.resolution, fmt.Sprintf("%dx%d", streams[0].Width, streams[0].Height), "rendition %s decodes at its size", w.uri)
	}
	audioStreams := testutil.Probe(t, audioURI, false)
	require.Equal(t, []string{"audio"}, codecTypes(audioStreams), "the audio rendition is audio only")
	require.Equal(t, "aac", audioStreams[0].CodecName)

	aligned(t, media, audioURI, time.Minute)

	// the storage push carries every rendition, under the source's prefix, and the source's multivariant
	// playlist there lists them
	stored := filepath.Join(bucket, "hls", "live", "abr")
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(filepath.Join(stored, "index.m3u8"))
		return err == nil && strings.Count(string(b), "#EXT-X-STREAM-INF") == 3 && strings.Contains(string(b), "#EXT-X-MEDIA:")
	}, 10*time.Second, 100*time.Millisecond, "the multivariant playlist in storage never listed the renditions")
	b, err := os.ReadFile(filepath.Join(stored, "index.m3u8"))
	require.NoError(t, err)
	stmv, err := playlist.Unmarshal(b)
	require.NoError(t, err, "%s", b)
	storedAudio := audioGroup(t, stmv.(*playlist.Multivariant))
	require.Equal(t, "audio/stream.m3u8", *storedAudio.URI)
	for i, want := range []string{"source/stream.m3u8", "180p/stream.m3u8", "120p/stream.m3u8"} {
		v := stmv.(*playlist.Multivariant).Variants[i]
		require.Equal(t, want, v.URI)
		require.Equal(t, storedAudio.GroupID, v.Audio, "%s plays the audio group", want)
		require.Len(t, v.Codecs, 2, "%s", want)
	}
	for _, want := range []string{"source/stream.m3u8", "180p/stream.m3u8", "120p/stream.m3u8", "audio/stream.m3u8", "stream.m3u8"} {
		_, err := os.Stat(filepath.Join(stored, filepath.FromSlash(want)))
		require.NoError(t, err, "%s is in storage", want)
	}
	require.Equal(t, []string{"audio"}, codecTypes(testutil.Probe(t, filepath.Join(stored, "audio", "stream.m3u8"), false)))
	require.Equal(t, []string{"video"}, codecTypes(testutil.Probe(t, filepath.Join(stored, "180p", "stream.m3u8"), false)))

	// an edge serves the ladder as the origin does: each rendition is a stream path it pulls once
	edge, _ := testutil.StartNode(t, testutil.EdgeOf("edge", n))
	edgeBase := "http://" + edge.HTTPAddr() + "/live/abr/index.m3u8"
	edgeMV := multivariant(t, edgeBase, 3)
	edgeAudio := audioGroup(t, edgeMV)
	for _, uri := range []string{edgeMV.Variants[0].URI, edgeMV.Variants[1].URI, edgeMV.Variants[2].URI, *edgeAudio.URI} {
		code, body := testutil.Get(t, testutil.Resolve(t, edgeBase, uri))
		require.Equal(t, http.StatusOK, code, "%s from the edge", uri)
		require.Contains(t, string(body), "#EXT-X-PART:", "%s from the edge", uri)
	}
	require.Equal(t, []string{"audio"}, codecTypes(testutil.Probe(t, testutil.Resolve(t, edgeBase, *edgeAudio.URI), false)),
		"the edge's audio rendition")

	// every media playlist reports the others in the ladder, the audio rendition's too
	for _, u := range []string{media[1], audioURI} {
		_, body := testutil.Get(t, u)
		for _, other := range []string{"../abr_source/video1_stream.m3u8", "../abr_120p/video1_stream.m3u8", "../abr_audio/audio1_stream.m3u8"} {
			if !strings.HasPrefix(u, testutil.Resolve(t, base+"index.m3u8", other)) {
				require.Contains(t, string(body), `#EXT-X-RENDITION-REPORT:URI="`+other, "%s", u)
			}
		}
		require.NotContains(t, string(body), `#EXT-X-RENDITION-REPORT:URI="../abr/`, "%s reports the source as published, not in the ladder", u)
	}

	// ffmpeg crashes: it is started again and the renditions come back, the source never stops
	first := ffmpegPID(t, pidFile)
	require.NoError(t, syscall.Kill(first, syscall.SIGKILL))
	logs.WaitFor(t, "ffmpeg failed: restarting", 10*time.Second)
	require.Eventually(t, func() bool { return ffmpegPID(t, pidFile) != first }, 20*time.Second, 100*time.Millisecond)
	multivariant(t, base+"index.m3u8", 3)
	code, _ := testutil.Get(t, media[0])
	require.Equal(t, http.StatusOK, code, "the source plays throughout")

	// ffmpeg hangs: the watchdog kills it after its stall period and starts another
	second := ffmpegPID(t, pidFile)
	require.NoError(t, syscall.Kill(second, syscall.SIGSTOP))
	logs.WaitFor(t, "ffmpeg hung", 20*time.Second)
	require.Eventually(t, func() bool { return ffmpegPID(t, pidFile) != second }, 20*time.Second, 100*time.Millisecond)
	multivariant(t, base+"index.m3u8", 3)
	st := n.Stats().Transcode
	require.Len(t, st, 1)
	require.EqualValues(t, 2, st[0].Restarts)
	require.Len(t, st[0].Rungs, 2)
}

var partName = regexp.MustCompile(`[0-9a-f]{12}_part(\d+)_(\d+)\.mp4`)

// audioGroup returns the one audio rendition of a multivariant playlist.
func audioGroup(t *testing.T, mv *playlist.Multivariant) *playlist.MultivariantRendition {
	t.Helper()
	require.Len(t, mv.Renditions, 1, "one EXT-X-MEDIA")
	r := mv.Renditions[0]
	require.Equal(t, playlist.MultivariantRenditionTypeAudio, r.Type)
	require.NotEmpty(t, r.GroupID)
	require.NotEmpty(t, r.Name)
	require.True(t, r.Default, "DEFAULT=YES")
	require.True(t, r.Autoselect, "AUTOSELECT=YES")
	require.NotNil(t, r.Channels, "CHANNELS")
	require.NotNil(t, r.URI)
	return r
}

// codecTypes lists the codec_type of each stream ffprobe found.
func codecTypes(streams []testutil.ProbeStream) []string {
	var out []string
	for _, s := range streams {
		out = append(out, s.CodecType)
	}
	return out
}

// aligned reads the LL-HLS parts of every media playlist for a while and requires the first video
// sample of parts of the same media sequence number and index to have the same presentation time, and
// the first sample of the audio rendition's part (audio, when not "") to start within one AAC frame
// after it (an audio frame seldom starts where a video frame does).
func aligned(t *testing.T, media []string, audio string, d time.Duration) {
	t.Helper()
	all := media
	if audio != "" {
		all = append(slices.Clone(media), audio)
	}
	type key struct{ msn, part int }
	pts := map[key][]time.Duration{} // by playlist; -1 = not read yet
	seen := make([]map[string]bool, len(all))
	for i := range seen {
		seen[i] = map[string]bool{}
	}
	scales := map[string]uint32{} // the time scale of track 1 by init section URL
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for ctx.Err() == nil {
		for i, u := range all {
			code, body := testutil.Get(t, u)
			require.Equal(t, http.StatusOK, code)
			m := mapURI.FindSubmatch(body)
			require.NotNil(t, m, "%s has an EXT-X-MAP", u)
			init := testutil.Resolve(t, u, string(m[1]))
			if scales[init] == 0 {
				_, b := testutil.Get(t, init)
				var in fmp4.Init
				require.NoError(t, in.Unmarshal(bytes.NewReader(b)))
				scales[init] = in.Tracks[0].TimeScale
			}
			for _, m := range partName.FindAllStringSubmatch(string(body), -1) {
				full := m[0]
				if seen[i][full] {
					continue
				}
				seen[i][full] = true
				msn, _ := strconv.Atoi(m[1])
				idx, _ := strconv.Atoi(m[2])
				k := key{msn, idx}
				if pts[k] == nil {
					pts[k] = make([]time.Duration, len(all))
					for j := range pts[k] {
						pts[k][j] = -1
					}
				}
				pcode, part := testutil.Get(t, testutil.Resolve(t, u, full))
				if pcode != http.StatusOK {
					continue // left the window meanwhile
				}
				ticks := firstPTS(t, part)
				pts[k][i] = time.Duration(ticks) * time.Second / time.Duration(scales[init])
			}
		}
		time.Sleep(300 * time.Millisecond)
	}
	common := 0
	for k, v := range pts {
		if slices.Contains(v, -1) {
			continue
		}
		common++
		for i := 1; i < len(media); i++ {
			require.Equal(t, v[0], v[i], "part %d.%d of %s starts elsewhere than the source's", k.msn, k.part, media[i])
		}
		if audio != "" {
			// the first AAC frame at or after the video's cut: within a frame (1024 samples at 44.1 kHz,
			// a millisecond more for the FLV's timestamps), far less than a part
			a := v[len(v)-1]
			require.True(t, a >= v[0]-2*time.Millisecond && a <= v[0]+25*time.Millisecond,
				"part %d.%d of the audio rendition starts at %s, the video's at %s", k.msn, k.part, a, v[0])
		}
	}
	require.Greater(t, common, int(d/(400*time.Millisecond)), "parts read in every rendition")
}

var mapURI = regexp.MustCompile(`#EXT-X-MAP:URI="([^"]+)"`)

// firstPTS is the presentation time (on its track's clock) of the first sample of track 1 in an fMP4
// part: the video of a video rendition, the audio of the audio rendition.
func firstPTS(t *testing.T, b []byte) int64 {
	var parts fmp4.Parts
	require.NoError(t, parts.Unmarshal(b))
	for _, p := range parts {
		for _, tr := range p.Tracks {
			if tr.ID == 1 && len(tr.Samples) > 0 {
				return int64(tr.BaseTime) + int64(tr.Samples[0].PTSOffset)
			}
		}
	}
	t.Fatalf("no sample of track 1 in a part")
	return 0
}

// TestTranscodeLeavesWhatItCannot checks the sources a ladder is not made of, and the end of a source:
// an audio-only stream is served as it is (the log says why it is not transcoded), a source smaller
// than every rung is served alone, and when a transcoded source ends, its renditions and its ffmpeg end
// with it.
func TestTranscodeLeavesWhatItCannot(t *testing.T) {
	testutil.RequireFFmpeg(t)
	script, pidFile := ffmpegWrapper(t)
	n, logs := testutil.StartNode(t, func(c *config.Config) {
		c.Publish.Keys = map[string]string{"live/sound": "sound-stream-key", "live/tiny": "tiny-stream-key", "live/ends": "ends-stream-key"}
		c.Transcode.Enabled = true
		c.Transcode.FFmpeg = script
		c.Transcode.Streams = []string{"live/*"}
		c.Transcode.Rungs = []config.Rung{{Name: "120p", Height: 120, VideoBitrate: 100_000}}
	})
	base := "http://" + n.HTTPAddr() + "/live/"

	sound := testutil.Publish(t, "rtmp://"+n.RTMPAddr()+"/live/sound?key=sound-stream-key", "flv", "-map", "0:a", "-c", "copy")
	logs.WaitFor(t, "the source has no H.264 or H.265 video", 15*time.Second)
	multivariant(t, base+"sound/index.m3u8", 1)
	sound.Kill()

	tiny := testutil.Publish(t, "rtmp://"+n.RTMPAddr()+"/live/tiny?key=tiny-stream-key", "flv",
		"-vf", "scale=160:96", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-c:a", "copy")
	logs.WaitFor(t, "the source is smaller than every rung", 15*time.Second)
	mv := multivariant(t, base+"tiny/index.m3u8", 1)
	require.Equal(t, "160x96", mv.Variants[0].Resolution)
	tiny.Kill()

	ends := testutil.Publish(t, "rtmp://"+n.RTMPAddr()+"/live/ends?key=ends-stream-key", "flv")
	multivariant(t, base+"ends/index.m3u8", 2)
	pid := ffmpegPID(t, pidFile)
	ends.Kill()
	require.Eventually(t, func() bool {
		return len(n.Registry().List()) == 0 && syscall.Kill(pid, 0) != nil
	}, 15*time.Second, 100*time.Millisecond, "the renditions or ffmpeg outlived their source")
	require.Empty(t, n.Stats().Transcode)
}

// TestProvisionedLadder provisions a stream's ladder at a real manager the Red5 way; the origin in its
// care that transcodes asks for it when the stream starts and makes those renditions, named as Red5
// names them (<stream>_<level>), instead of its configured ones.
func TestProvisionedLadder(t *testing.T) {
	testutil.RequireFFmpeg(t)
	const admin, secret = managertest.AdminToken, managertest.ClusterSecret
	mgr := fastManager(t, 5*time.Second)
	body := `{"meta": {"stream": [{"name": "prov_1", "level": 1, "properties": {"videoBR": 150000, "videoWidth": 240, "videoHeight": 180}},
		{"name": "prov_2", "level": 2, "properties": {"videoBR": 80000, "videoWidth": 160, "videoHeight": 120}}]}}`
	resp, err := http.Post(mgr+"/streammanager/api/3.1/admin/event/meta/live/prov?accessToken="+admin, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	n, logs := testutil.StartNode(t, func(c *config.Config) {
		c.Cluster.ManagerURL, c.Cluster.Secret, c.Cluster.NodeID = mgr, secret, "provisioned-origin"
		c.Publish.Keys = map[string]string{"live/prov": "prov-stream-key"}
		c.Transcode.Enabled = true // its own rungs (720p, 480p, 360p) are all taller than the source
	})
	logs.WaitFor(t, "registered with the stream manager", 10*time.Second)
	testutil.Publish(t, "rtmp://"+n.RTMPAddr()+"/live/prov?key=prov-stream-key", "flv")
	mv := multivariant(t, "http://"+n.HTTPAddr()+"/live/prov/index.m3u8", 3)
	require.Equal(t, "../prov_1/video1_stream.m3u8", strings.Split(mv.Variants[1].URI, "?")[0])
	require.Equal(t, "240x180", mv.Variants[1].Resolution)
	require.Equal(t, "../prov_2/video1_stream.m3u8", strings.Split(mv.Variants[2].URI, "?")[0])
	require.Equal(t, "160x120", mv.Variants[2].Resolution)
	require.Contains(t, logs.String(), "provisioned ladder")
}

// TestLadderFollowsAResize publishes over SRT a stream whose encoder changes the picture size mid-stream
// (320x240, then 640x360, parameter sets in band): the origin makes the ladder again for the new size,
// and the multivariant playlist lists the new source and renditions at the sizes the new source gets.
func TestLadderFollowsAResize(t *testing.T) {
	testutil.RequireFFmpeg(t)
	n, logs := testutil.StartNode(t, func(c *config.Config) {
		c.Transcode.Enabled = true
		c.Transcode.Rungs = []config.Rung{{Name: "180p", Height: 180, VideoBitrate: 200_000}}
	})
	dir := t.TempDir()
	var list strings.Builder
	for i, size := range []string{"320x240", "640x360"} {
		clip := filepath.Join(dir, fmt.Sprintf("part%d.ts", i))
		out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
			"-f", "lavfi", "-i", "testsrc2=size="+size+":rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
			"-t", "6", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-bf", "0", "-c:a", "aac", "-f", "mpegts", clip).CombinedOutput()
		require.NoError(t, err, "%s", out)
		fmt.Fprintf(&list, "file '%s'\n", clip)
	}
	listFile := filepath.Join(dir, "list.txt")
	require.NoError(t, os.WriteFile(listFile, []byte(list.String()), 0o644))
	pub := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-f", "concat", "-safe", "0", "-i", listFile,
		"-c", "copy", "-f", "mpegts", srtURL(n, "live/resize"))
	require.NoError(t, pub.Start())
	t.Cleanup(func() { _ = pub.Process.Kill(); _ = pub.Wait() })

	base := "http://" + n.HTTPAddr() + "/live/resize/index.m3u8"
	mv := multivariant(t, base, 2)
	require.Equal(t, []string{"320x240", "240x180"}, []string{mv.Variants[0].Resolution, mv.Variants[1].Resolution})
	logs.WaitFor(t, "source resized: ladder made again", 15*time.Second)
	require.Eventually(t, func() bool {
		_, body := testutil.Get(t, base)
		pl, err := playlist.Unmarshal(body)
		if err != nil {
			return false
		}
		v := pl.(*playlist.Multivariant).Variants
		return len(v) == 2 && v[0].Resolution == "640x360" && v[1].Resolution == "320x180"
	}, 15*time.Second, 200*time.Millisecond, "the ladder never followed the new size")
}

// TestTranscoderNodes runs a manager, an origin and a transcoder node (the Red5 role): a stream with a
// provisioned ladder, published to the origin, is given to the transcoder, which takes it from the origin
// and gives its renditions back; the origin serves them in step with the source. When the transcoder
// goes away, the job moves to another one and the renditions come back.
func TestTranscoderNodes(t *testing.T) {
	testutil.RequireFFmpeg(t)
	const admin, secret = managertest.AdminToken, managertest.ClusterSecret
	mgr := fastManager(t, 3*time.Second)
	req, err := http.NewRequest(http.MethodPut, mgr+"/api/v1/streams/live/tx/ladder",
		strings.NewReader(`{"rungs": [{"name": "180p", "height": 180, "videoBitrate": 200000}, {"name": "120p", "height": 120, "videoBitrate": 100000}]}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	join := func(c *config.Config, id string) {
		c.Cluster.ManagerURL, c.Cluster.Secret, c.Cluster.NodeID = mgr, secret, id
	}
	origin, _ := testutil.StartNode(t, func(c *config.Config) {
		join(c, "tx-origin")
		c.Publish.Keys = map[string]string{"live/tx": "tx-stream-key"}
	})
	transcoder := func(id string) (*testutil.LogBuffer, func()) {
		_, logs, stop := testutil.StartStoppableNode(t, func(c *config.Config) {
			join(c, id)
			c.Node.Role = "transcoder"
		})
		return logs, stop
	}
	logs1, stop1 := transcoder("tx-transcoder-1")
	testutil.Publish(t, "rtmp://"+origin.RTMPAddr()+"/live/tx?key=tx-stream-key", "flv")
	base := "http://" + origin.HTTPAddr() + "/live/tx/"
	mv := multivariant(t, base+"index.m3u8", 3)
	require.Equal(t, "../tx_180p/video1_stream.m3u8", strings.Split(mv.Variants[1].URI, "?")[0])
	require.Equal(t, "240x180", mv.Variants[1].Resolution)
	require.Contains(t, logs1.String(), "transcoding job")
	var media []string
	for _, v := range mv.Variants {
		media = append(media, testutil.Resolve(t, base+"index.m3u8", v.URI))
	}
	aligned(t, media, testutil.Resolve(t, base+"index.m3u8", *audioGroup(t, mv).URI), 8*time.Second)
	// the origin reports the source's ladder, which the manager shows with the source
	require.Eventually(t, func() bool {
		s, ok := liveStream(t, mgr, "live/tx")
		return ok && slices.Equal(s.Renditions, []string{"live/tx_120p", "live/tx_180p"})
	}, 10*time.Second, 200*time.Millisecond, "the manager never showed the renditions of live/tx")

	// the transcoder goes away: the renditions leave, and come back from another transcoder
	logs2, _ := transcoder("tx-transcoder-2")
	stop1()
	stopped := time.Now()
	rendition, err := stream.ParsePath("live/tx_180p")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		st := origin.Registry().Get(rendition)
		return strings.Contains(logs2.String(), "transcoding job") && st != nil && st.StartedAt.After(stopped)
	}, 30*time.Second, 200*time.Millisecond, "the job never moved to the second transcoder")
	multivariant(t, base+"index.m3u8", 3)
}

// TestTranscoderNodesMakeTheirOwnLadder: with manager.transcodeStreams, a live stream that nobody
// provisioned a ladder for is given to a transcoder node all the same, which makes its own ladder (its
// transcode.rungs); a stream the setting does not select stays without renditions.
func TestTranscoderNodesMakeTheirOwnLadder(t *testing.T) {
	testutil.RequireFFmpeg(t)
	mgr, _ := managertest.Start(t, func(c *config.Config) {
		c.Manager.ReportInterval, c.Manager.NodeTimeout = time.Second, 3*time.Second
		c.Manager.TranscodeStreams = []string{"live/*"}
	})
	join := func(c *config.Config, id string) {
		c.Cluster.ManagerURL, c.Cluster.Secret, c.Cluster.NodeID = mgr, managertest.ClusterSecret, id
	}
	origin, _ := testutil.StartNode(t, func(c *config.Config) {
		join(c, "own-origin")
		c.Publish.Keys = map[string]string{"live/own": "own-stream-key", "other/plain": "plain-stream-key"}
	})
	_, logs, _ := testutil.StartStoppableNode(t, func(c *config.Config) {
		join(c, "own-transcoder")
		c.Node.Role = "transcoder"
		c.Transcode.Rungs = []config.Rung{{Name: "144p", Height: 144, VideoBitrate: 150_000}}
	})
	testutil.Publish(t, "rtmp://"+origin.RTMPAddr()+"/live/own?key=own-stream-key", "flv")
	testutil.Publish(t, "rtmp://"+origin.RTMPAddr()+"/other/plain?key=plain-stream-key", "flv")
	base := "http://" + origin.HTTPAddr() + "/live/own/"
	mv := multivariant(t, base+"index.m3u8", 2)
	require.Equal(t, "../own_144p/video1_stream.m3u8", strings.Split(mv.Variants[1].URI, "?")[0], "the transcoder's own rung")
	require.Equal(t, "192x144", mv.Variants[1].Resolution)
	require.Contains(t, logs.String(), "transcoding job")

	// other/plain is not selected: a playlist of its own, no ladder
	code, body := testutil.Get(t, "http://"+origin.HTTPAddr()+"/other/plain/index.m3u8")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, 1, strings.Count(string(body), "#EXT-X-STREAM-INF"), "%s", body)
	require.NotContains(t, logs.String(), "other/plain")
}

// TestRed5TranscodePublish: Red5's way of transcoding: the ladder provisioned with the Red5 call, the
// publisher asks the manager with transcode=true, publishes to the transcoder node it is sent to, and
// the origin serves the stream and its renditions, which the transcoder makes from the stream published
// to it (no transcoder takes it back from the origin as a job).
func TestRed5TranscodePublish(t *testing.T) {
	testutil.RequireFFmpeg(t)
	const admin, secret = managertest.AdminToken, managertest.ClusterSecret
	mgr := fastManager(t, 3*time.Second)
	red5 := mgr + "/streammanager/api/3.1"
	resp, err := http.Post(red5+"/admin/event/meta/live/rx?accessToken="+admin, "application/json", strings.NewReader(`{"meta": {"stream": [
		{"name": "rx_1", "level": 1, "properties": {"videoBR": 200000, "videoWidth": 240, "videoHeight": 180}},
		{"name": "rx_2", "level": 2, "properties": {"videoBR": 100000, "videoWidth": 160, "videoHeight": 120}}]}}`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	join := func(c *config.Config, id string) {
		c.Cluster.ManagerURL, c.Cluster.Secret, c.Cluster.NodeID = mgr, secret, id
	}
	origin, _ := testutil.StartNode(t, func(c *config.Config) { join(c, "rx-origin") })
	transcoder, logs := testutil.StartNode(t, func(c *config.Config) {
		join(c, "rx-transcoder")
		c.Node.Role = "transcoder"
		c.Publish.Keys = map[string]string{"live/rx": "rx-stream-key"}
	})

	var ev struct{ NodeID, RTMPURL, ServerAddress string }
	require.Eventually(t, func() bool {
		code, body := testutil.Get(t, red5+"/event/live/rx?action=broadcast&transcode=true")
		return code == http.StatusOK && json.Unmarshal(body, &ev) == nil
	}, 20*time.Second, 200*time.Millisecond, "no transcoder to publish to")
	require.Equal(t, "rx-transcoder", ev.NodeID)
	require.Equal(t, "rtmp://"+transcoder.RTMPAddr()+"/live/rx", ev.RTMPURL)

	testutil.Publish(t, ev.RTMPURL+"?key=rx-stream-key", "flv")
	base := "http://" + origin.HTTPAddr() + "/live/rx/"
	mv := multivariant(t, base+"index.m3u8", 3)
	require.Equal(t, "../rx_1/video1_stream.m3u8", strings.Split(mv.Variants[1].URI, "?")[0])
	require.Equal(t, "240x180", mv.Variants[1].Resolution)
	var media []string
	for _, v := range mv.Variants {
		media = append(media, testutil.Resolve(t, base+"index.m3u8", v.URI))
	}
	aligned(t, media, testutil.Resolve(t, base+"index.m3u8", *audioGroup(t, mv).URI), 8*time.Second)

	src := origin.Registry().Get(stream.Path{App: "live", Name: "rx"})
	require.NotNil(t, src)
	require.Equal(t, "transcoder/rtmp", src.Protocol)
	// its publisher is the transcoder's: the origin cannot stop it
	status, body := call(t, http.MethodDelete, mgr+"/api/v1/streams/live/rx/publisher", admin)
	require.Equal(t, http.StatusConflict, status, body)
	require.Contains(t, body, "published to a transcoder node")
	require.NotNil(t, origin.Registry().Get(stream.Path{App: "live", Name: "rx"}))
	require.NotContains(t, logs.String(), "transcoding job", "the stream published here is no job")
	code, _ := testutil.Get(t, "http://"+transcoder.HTTPAddr()+"/live/rx/index.m3u8")
	require.Equal(t, http.StatusNotFound, code, "a transcoder serves no media")
}

// TestTranscoderEndpointsRefuse: an origin's source and rendition endpoints want the cluster secret,
// sound names and a live source, and say precisely what is wrong.
func TestTranscoderEndpointsRefuse(t *testing.T) {
	testutil.RequireFFmpeg(t)
	const secret = "endpoints-cluster-secret-0123456789"
	n, _ := testutil.StartNode(t, func(c *config.Config) {
		c.Cluster.Secret = secret
		c.Publish.Keys = map[string]string{"live/src": "src-stream-key", "live/src_taken": "taken-stream-key"}
	})
	testutil.Publish(t, "rtmp://"+n.RTMPAddr()+"/live/src?key=src-stream-key", "flv")
	testutil.Publish(t, "rtmp://"+n.RTMPAddr()+"/live/src_taken?key=taken-stream-key", "flv")
	testutil.WaitLive(t, "http://"+n.HTTPAddr()+"/live/src_taken/index.m3u8", 20*time.Second)
	base := "http://" + n.HTTPAddr()
	for _, tc := range []struct {
		name, method, path, token string
		status                    int
		msg                       string
	}{
		{"no token", "GET", "/api/v1/sources/live/src", "", http.StatusUnauthorized, "missing bearer token"},
		{"wrong token", "GET", "/api/v1/sources/live/src", "wrong-secret-0123456789", http.StatusForbidden, "wrong token"},
		{"unknown source", "GET", "/api/v1/sources/live/none", secret, http.StatusNotFound, "not published on this node"},
		{"hostile name", "GET", "/api/v1/sources/live/%2e%2e", secret, http.StatusBadRequest, "invalid stream path"},
		{"rendition of nothing", "POST", "/api/v1/renditions/live/none_1?of=none&rung=1&bandwidth=1", secret, http.StatusNotFound, "not published on this node"},
		{"rendition misnamed", "POST", "/api/v1/renditions/live/other?of=src&rung=1&bandwidth=1", secret, http.StatusBadRequest, "must be live/src_<rung>"},
		{"bandwidth", "POST", "/api/v1/renditions/live/src_1?of=src&rung=1&bandwidth=x", secret, http.StatusBadRequest, "bandwidth"},
		{"no token to publish", "POST", "/api/v1/renditions/live/src_1?of=src&rung=1&bandwidth=1", "", http.StatusUnauthorized, "missing bearer token"},
		{"name taken", "POST", "/api/v1/renditions/live/src_taken?of=src&rung=taken&bandwidth=1", secret, http.StatusConflict, "already being published"},
		{"source without protocol", "POST", "/api/v1/sources/live/new", secret, http.StatusBadRequest, "protocol must be"},
		{"source with a hostile protocol", "POST", "/api/v1/sources/live/new?protocol=%3Cb%3E", secret, http.StatusBadRequest, "protocol must be"},
		{"no token to give a source", "POST", "/api/v1/sources/live/new?protocol=rtmp", "", http.StatusUnauthorized, "missing bearer token"},
		{"source taken", "POST", "/api/v1/sources/live/src?protocol=rtmp", secret, http.StatusConflict, "already being published"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			if tc.method == "POST" {
				clip, err := os.ReadFile(testutil.Clip(t, "ts"))
				require.NoError(t, err)
				body = bytes.NewReader(clip)
			}
			req, err := http.NewRequest(tc.method, base+tc.path, body)
			require.NoError(t, err)
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			require.Equal(t, tc.status, resp.StatusCode, "%s", b)
			require.Contains(t, string(b), tc.msg)
		})
	}
	require.NotNil(t, n.Registry().Get(stream.Path{App: "live", Name: "src"}), "the source lives on")
}

// TestLadderWithoutPassthrough: with transcode.passthrough off, the rung as tall as the source is made
// and the multivariant playlist lists the renditions only, here and in storage.
func TestLadderWithoutPassthrough(t *testing.T) {
	testutil.RequireFFmpeg(t)
	bucket := t.TempDir()
	n, _ := testutil.StartNode(t, func(c *config.Config) {
		c.Storage = config.Storage{Backend: "local", Directory: bucket}
		c.Push.Enabled, c.Push.Prefix = true, "hls"
		c.Publish.Keys = map[string]string{"live/pt": "pt-stream-key"}
		c.Transcode.Enabled, c.Transcode.Passthrough = true, false
		c.Transcode.Rungs = []config.Rung{{Name: "240p", Height: 240, VideoBitrate: 250_000}, {Name: "120p", Height: 120, VideoBitrate: 100_000}}
	})
	testutil.Publish(t, "rtmp://"+n.RTMPAddr()+"/live/pt?key=pt-stream-key", "flv")
	mv := multivariant(t, "http://"+n.HTTPAddr()+"/live/pt/index.m3u8", 2)
	var uris []string
	for _, v := range mv.Variants {
		uris = append(uris, strings.Split(v.URI, "?")[0])
	}
	require.Equal(t, []string{"../pt_240p/video1_stream.m3u8", "../pt_120p/video1_stream.m3u8"}, uris)
	require.Equal(t, "320x240", mv.Variants[0].Resolution)
	require.Equal(t, audioGroup(t, mv).GroupID, mv.Variants[1].Audio, "the renditions share the source's audio")
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(filepath.Join(bucket, "hls", "live", "pt", "index.m3u8"))
		return err == nil && strings.Count(string(b), "#EXT-X-STREAM-INF") == 2 && !strings.Contains(string(b), "\nstream.m3u8") &&
			strings.Contains(string(b), `#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="main",AUTOSELECT=YES,DEFAULT=YES,CHANNELS="2",URI="audio/stream.m3u8"`)
	}, 15*time.Second, 100*time.Millisecond, "the multivariant playlist in storage lists the source")
}

// TestRungFrameRate: a rung whose frame rate is capped at half the source's keeps one frame in two, and
// every keyframe at the source's time, so that its segments still start with the source's.
func TestRungFrameRate(t *testing.T) {
	testutil.RequireFFmpeg(t)
	n, _ := testutil.StartNode(t, func(c *config.Config) {
		c.Publish.Keys = map[string]string{"live/fps": "fps-stream-key"}
		c.Transcode.Enabled = true
		c.Transcode.Rungs = []config.Rung{{Name: "120p", Height: 120, VideoBitrate: 100_000, FrameRate: 12.5}}
	})
	testutil.Publish(t, "rtmp://"+n.RTMPAddr()+"/live/fps?key=fps-stream-key", "flv")
	base := "http://" + n.HTTPAddr() + "/live/fps/index.m3u8"
	mv := multivariant(t, base, 2)
	require.NotNil(t, mv.Variants[1].FrameRate)
	require.InDelta(t, 12.5, *mv.Variants[1].FrameRate, 0.01, "FRAME-RATE of the capped rung")
	rendition := testutil.Resolve(t, base, mv.Variants[1].URI)
	source := testutil.Resolve(t, base, mv.Variants[0].URI)
	seg := testutil.ReadSegments(t, rendition, 3, 20*time.Second)
	f := filepath.Join(t.TempDir(), "rendition.mp4")
	require.NoError(t, os.WriteFile(f, seg, 0o644))
	streams := testutil.Probe(t, f, true)
	frames, err := strconv.Atoi(streams[0].NbFrames)
	require.NoError(t, err)
	// 3 segments of 1 s (the clip's GOP): 12.5 frames a second, and a keyframe more where the source's
	// falls on a frame dropped otherwise
	require.GreaterOrEqual(t, frames, 37, "frames in 3 s")
	require.LessOrEqual(t, frames, 41, "frames in 3 s: one in two is dropped")

	// each segment of the rendition starts on the source's segment of the same number
	_, body := testutil.Get(t, rendition)
	pl := testutil.ParseMediaPlaylist(body)
	for _, name := range pl.Segments[len(pl.Segments)-2:] {
		m := regexp.MustCompile(`_seg(\d+)\.mp4`).FindStringSubmatch(name)
		_, sb := testutil.Get(t, source)
		srcName := regexp.MustCompile(`[0-9a-f]{12}_seg` + m[1] + `\.mp4`).FindString(string(sb))
		require.NotEmpty(t, srcName, "segment %s in the source", m[1])
		_, a := testutil.Get(t, testutil.Resolve(t, rendition, name))
		_, b := testutil.Get(t, testutil.Resolve(t, source, srcName))
		require.Equal(t, firstPTS(t, b), firstPTS(t, a), "segment %s", m[1])
	}
}

// TestOverloadedOrigin: an origin whose ffmpeg makes the ladder at half real time (as on a saturated
// CPU; here ffmpeg reads its input at half speed) tells its manager it is overloaded, with the cause, and
// the manager sends new publishers elsewhere rather than to it.
func TestOverloadedOrigin(t *testing.T) {
	testutil.RequireFFmpeg(t)
	const admin, secret = managertest.AdminToken, managertest.ClusterSecret
	mgr := fastManager(t, 5*time.Second)
	slow := filepath.Join(t.TempDir(), "ffmpeg.sh")
	require.NoError(t, os.WriteFile(slow, []byte("#!/bin/sh\nexec ffmpeg -readrate 0.5 \"$@\"\n"), 0o755))
	origin, logs := testutil.StartNode(t, func(c *config.Config) {
		c.Cluster.ManagerURL, c.Cluster.Secret, c.Cluster.NodeID = mgr, secret, "slow-origin"
		c.Publish.Keys = map[string]string{"live/slow": "slow-stream-key"}
		c.Transcode.Enabled, c.Transcode.FFmpeg = true, slow
		c.Transcode.Rungs = []config.Rung{{Name: "120p", Height: 120, VideoBitrate: 100_000}}
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("node log:\n%s", logs.String())
		}
	})
	get := func(path string, v any) int {
		req, err := http.NewRequest(http.MethodGet, mgr+path, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		if v != nil {
			require.NoError(t, json.NewDecoder(resp.Body).Decode(v))
		}
		return resp.StatusCode
	}
	require.Eventually(t, func() bool { return get("/api/v1/route/publish/live/other", nil) == http.StatusOK },
		20*time.Second, 200*time.Millisecond, "the origin never took publishers")

	pub := testutil.Publish(t, "rtmp://"+origin.RTMPAddr()+"/live/slow?key=slow-stream-key", "flv")
	var node struct {
		Stats struct{ Overloaded string }
	}
	require.Eventually(t, func() bool {
		return get("/api/v1/nodes/slow-origin", &node) == http.StatusOK && node.Stats.Overloaded != ""
	}, 40*time.Second, 250*time.Millisecond, "the manager never heard the origin is overloaded")
	require.Regexp(t, `^live/slow: (rung 120p at 0\.[0-9]+× real time|rung 120p .* behind its source|[0-9]+ source units dropped .*)$`, node.Stats.Overloaded)
	require.Contains(t, logs.String(), "node overloaded")
	require.Equal(t, node.Stats.Overloaded, origin.Stats().Overloaded)
	require.Eventually(t, func() bool { return get("/api/v1/route/publish/live/other", nil) == http.StatusServiceUnavailable },
		10*time.Second, 200*time.Millisecond, "an overloaded origin still takes new publishers")

	// the publisher goes: the rendition, however far behind, ends within a few seconds (ffmpeg is killed
	// rather than left to work through its backlog)
	pub.Kill()
	require.Eventually(t, func() bool { return origin.Registry().Get(stream.Path{App: "live", Name: "slow_120p"}) == nil },
		12*time.Second, 100*time.Millisecond, "the rendition outlived its source")
}
