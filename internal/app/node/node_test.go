package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2"
	"github.com/bluenviron/gohlslib/v2/pkg/codecs"
	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/app/node"
	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/media/pubauth"
	"github.com/nagare-video/nagare/internal/media/stream"
	"github.com/nagare-video/nagare/internal/testutil"
)

func token(p string, ttl time.Duration) string {
	sp, err := stream.ParsePath(p)
	if err != nil {
		panic(err)
	}
	return pubauth.Sign([]byte(testutil.TokenSecret), sp, time.Now().Add(ttl))
}

func rtmpURL(n *node.Node, p string) string {
	return fmt.Sprintf("rtmp://%s/%s?token=%s", n.RTMPAddr(), p, token(p, time.Hour))
}

func srtURL(n *node.Node, p string) string {
	return fmt.Sprintf("srt://%s?streamid=publish:%s?token=%s&pkt_size=1316", n.SRTAddr(), p, token(p, time.Hour))
}

func hlsURL(n *node.Node, p string) string {
	return fmt.Sprintf("http://%s/%s/index.m3u8", n.HTTPAddr(), p)
}

// checkPlayback reads the stream the way a player does: ffprobe on the multivariant playlist, then three
// consecutive segments of each rendition, decoded frame by frame.
func checkPlayback(t *testing.T, n *node.Node, p string, wantSegmentExt string) {
	t.Helper()
	index := hlsURL(n, p)
	testutil.WaitLive(t, index, 15*time.Second)

	streams := testutil.Probe(t, index, false)
	var names []string
	for _, s := range streams {
		names = append(names, s.CodecName)
		if s.CodecType == "video" {
			require.Equal(t, testutil.ClipWidth, s.Width)
			require.Equal(t, testutil.ClipHeight, s.Height)
		}
	}
	require.ElementsMatch(t, []string{"h264", "aac"}, dedupe(names))

	_, body := testutil.Get(t, index)
	renditions := testutil.Renditions(body)
	require.NotEmpty(t, renditions)
	for _, r := range renditions {
		plURL := testutil.Resolve(t, index, r)
		data := testutil.ReadSegments(t, plURL, 3, 20*time.Second)
		f := filepath.Join(t.TempDir(), "segments"+wantSegmentExt)
		require.NoError(t, os.WriteFile(f, data, 0o644))
		for _, s := range testutil.Probe(t, f, true) {
			frames, err := strconv.Atoi(s.NbFrames)
			require.NoError(t, err)
			switch s.CodecType {
			case "video":
				// GOP of 1 s and 1 s segments: each segment holds exactly one GOP
				require.Equal(t, 3*testutil.ClipFPS, frames, "video frames in 3 segments")
			case "audio":
				// about 3 s of 44.1 kHz AAC in 1024-sample frames; audio segments end on the first frame
				// after the video boundary, so each may be a few frames longer or shorter
				require.InDelta(t, 3*44100/1024, frames, 22, "audio frames in 3 segments")
			}
		}
	}
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func TestRTMPToLLHLS(t *testing.T) {
	t.Parallel()
	n, logs := testutil.StartNode(t, nil)
	testutil.Publish(t, rtmpURL(n, "live/rtmp1"), "flv")
	checkPlayback(t, n, "live/rtmp1", ".mp4")

	_, pl := testutil.Get(t, strings.Replace(hlsURL(n, "live/rtmp1"), "index.m3u8", "video1_stream.m3u8", 1))
	require.Contains(t, string(pl), "#EXT-X-PART:")
	require.Contains(t, string(pl), "#EXT-X-PRELOAD-HINT:")
	require.Contains(t, string(pl), "CAN-BLOCK-RELOAD=YES")
	require.NotContains(t, logs.String(), testutil.TokenSecret)
	require.NotContains(t, logs.String(), "token=")
}

func TestSRTToLLHLS(t *testing.T) {
	t.Parallel()
	n, _ := testutil.StartNode(t, nil)
	testutil.Publish(t, srtURL(n, "live/srt1"), "mpegts")
	checkPlayback(t, n, "live/srt1", ".mp4")
}

func TestMPEGTSVariant(t *testing.T) {
	t.Parallel()
	n, _ := testutil.StartNode(t, func(c *config.Config) { c.HLS.Variant = "mpegts" })
	testutil.Publish(t, rtmpURL(n, "live/ts1"), "flv")
	checkPlayback(t, n, "live/ts1", ".ts")
	_, body := testutil.Get(t, hlsURL(n, "live/ts1"))
	_, pl := testutil.Get(t, testutil.Resolve(t, hlsURL(n, "live/ts1"), testutil.Renditions(body)[0]))
	require.Contains(t, string(pl), ".ts")
}

// TestLLHLSClient plays the stream with gohlslib's client, which uses blocking playlist reloads.
func TestLLHLSClient(t *testing.T) {
	t.Parallel()
	n, _ := testutil.StartNode(t, nil)
	testutil.Publish(t, rtmpURL(n, "live/ll"), "flv")
	testutil.WaitLive(t, hlsURL(n, "live/ll"), 15*time.Second)

	videoAUs := make(chan int64, 1000)
	audioAUs := make(chan int64, 1000)
	var trackCodecs []string
	c := &gohlslib.Client{
		URI:                       hlsURL(n, "live/ll"),
		OnDownloadPrimaryPlaylist: func(string) {},
		OnDownloadStreamPlaylist:  func(string) {},
		OnDownloadSegment:         func(string) {},
		OnDownloadPart:            func(string) {},
	}
	c.OnTracks = func(tracks []*gohlslib.Track) error {
		for _, tr := range tracks {
			switch tr.Codec.(type) {
			case *codecs.H264:
				trackCodecs = append(trackCodecs, "h264")
				c.OnDataH26x(tr, func(pts, _ int64, au [][]byte) {
					select {
					case videoAUs <- pts:
					default:
					}
				})
			case *codecs.MPEG4Audio:
				trackCodecs = append(trackCodecs, "aac")
				c.OnDataMPEG4Audio(tr, func(pts int64, aus [][]byte) {
					select {
					case audioAUs <- pts:
					default:
					}
				})
			}
		}
		return nil
	}
	require.NoError(t, c.Start())
	defer c.Close()

	// 2 s of video at 25 fps, in order
	var last int64 = -1
	for i := 0; i < 2*testutil.ClipFPS; i++ {
		select {
		case pts := <-videoAUs:
			require.Greater(t, pts, last)
			last = pts
		case <-time.After(10 * time.Second):
			t.Fatalf("gohlslib client got %d video frames, want %d", i, 2*testutil.ClipFPS)
		}
	}
	select {
	case <-audioAUs:
	case <-time.After(5 * time.Second):
		t.Fatal("gohlslib client got no audio")
	}
	require.ElementsMatch(t, []string{"h264", "aac"}, trackCodecs)
}

func TestPublishAuthentication(t *testing.T) {
	t.Parallel()
	n, logs := testutil.StartNode(t, func(c *config.Config) {
		c.Publish.Keys = map[string]string{"live/keyed": "sekrit-stream-key"}
	})
	addr := n.RTMPAddr()
	cases := []struct {
		name, url, log string
	}{
		{"no credentials", "rtmp://" + addr + "/live/a", "no stream key or token given"},
		{"wrong key", "rtmp://" + addr + "/live/keyed?key=not-the-key", "wrong stream key"},
		{"expired token", "rtmp://" + addr + "/live/b?token=" + token("live/b", -time.Minute), "token expired"},
		{"token for another stream", "rtmp://" + addr + "/live/c?token=" + token("live/other", time.Hour), "signature does not match"},
		{"garbage token", "rtmp://" + addr + "/live/d?token=abc", "invalid token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := testutil.Publish(t, tc.url, "flv")
			exited, out := p.Exited(15 * time.Second)
			require.True(t, exited, "ffmpeg should be refused, output: %s", out)
			logs.WaitFor(t, tc.log, 5*time.Second)
		})
	}
	require.Empty(t, n.Registry().List())
	require.NotContains(t, logs.String(), "sekrit-stream-key")
	require.NotContains(t, logs.String(), "not-the-key")

	// the right key works
	testutil.Publish(t, "rtmp://"+addr+"/live/keyed?key=sekrit-stream-key", "flv")
	testutil.WaitLive(t, hlsURL(n, "live/keyed"), 15*time.Second)

	_, metrics := testutil.Get(t, "http://"+n.HTTPAddr()+"/metrics")
	require.Contains(t, string(metrics), `nagare_publishes_rejected_total{protocol="rtmp",reason="auth"} 5`)
}

func TestSRTAuthentication(t *testing.T) {
	t.Parallel()
	n, logs := testutil.StartNode(t, nil)
	p := testutil.Publish(t, fmt.Sprintf("srt://%s?streamid=publish:live/x&pkt_size=1316", n.SRTAddr()), "mpegts")
	exited, _ := p.Exited(15 * time.Second)
	require.True(t, exited)
	logs.WaitFor(t, "no stream key or token given", 5*time.Second)
	require.Empty(t, n.Registry().List())
}

func TestDuplicatePublisher(t *testing.T) {
	t.Parallel()
	t.Run("refused", func(t *testing.T) {
		t.Parallel()
		n, logs := testutil.StartNode(t, nil)
		first := testutil.Publish(t, rtmpURL(n, "live/dup"), "flv")
		testutil.WaitLive(t, hlsURL(n, "live/dup"), 15*time.Second)
		second := testutil.Publish(t, rtmpURL(n, "live/dup"), "flv")
		exited, _ := second.Exited(15 * time.Second)
		require.True(t, exited, "second publisher must be refused")
		logs.WaitFor(t, "stream is already being published", 5*time.Second)
		// an SRT publisher of the same name is refused too
		third := testutil.Publish(t, srtURL(n, "live/dup"), "mpegts")
		exited, _ = third.Exited(15 * time.Second)
		require.True(t, exited)
		// the first one carries on
		exited, _ = first.Exited(0)
		require.False(t, exited)
		code, _ := testutil.Get(t, hlsURL(n, "live/dup"))
		require.Equal(t, http.StatusOK, code)
	})
	t.Run("takeover", func(t *testing.T) {
		t.Parallel()
		n, _ := testutil.StartNode(t, func(c *config.Config) { c.Publish.Takeover = true })
		first := testutil.Publish(t, rtmpURL(n, "live/take"), "flv")
		testutil.WaitLive(t, hlsURL(n, "live/take"), 15*time.Second)
		old := n.Registry().Get(stream.Path{App: "live", Name: "take"})
		testutil.Publish(t, srtURL(n, "live/take"), "mpegts")
		require.Eventually(t, func() bool {
			s := n.Registry().Get(stream.Path{App: "live", Name: "take"})
			return s != nil && s != old && s.Protocol == "srt"
		}, 15*time.Second, 50*time.Millisecond)
		exited, _ := first.Exited(15 * time.Second)
		require.True(t, exited, "the first publisher is disconnected")
		testutil.WaitLive(t, hlsURL(n, "live/take"), 15*time.Second)
	})
}

func TestPublisherVanishes(t *testing.T) {
	t.Parallel()
	n, logs := testutil.StartNode(t, nil)
	p := testutil.Publish(t, rtmpURL(n, "live/gone"), "flv")
	other := testutil.Publish(t, rtmpURL(n, "live/stays"), "flv")
	testutil.WaitLive(t, hlsURL(n, "live/gone"), 15*time.Second)
	testutil.WaitLive(t, hlsURL(n, "live/stays"), 15*time.Second)
	time.Sleep(300 * time.Millisecond) // somewhere inside a GOP
	p.Kill()
	logs.WaitFor(t, "publisher of live/gone gone", 15*time.Second)
	require.Eventually(t, func() bool {
		code, _ := testutil.Get(t, hlsURL(n, "live/gone"))
		return code == http.StatusNotFound
	}, 5*time.Second, 50*time.Millisecond)
	// the other stream carries on, and the name can be published again
	exited, _ := other.Exited(0)
	require.False(t, exited)
	code, _ := testutil.Get(t, hlsURL(n, "live/stays"))
	require.Equal(t, http.StatusOK, code)
	testutil.Publish(t, rtmpURL(n, "live/gone"), "flv")
	testutil.WaitLive(t, hlsURL(n, "live/gone"), 15*time.Second)
}

func TestUnsupportedCodec(t *testing.T) {
	t.Parallel()
	n, logs := testutil.StartNode(t, nil)
	p := testutil.Publish(t, rtmpURL(n, "live/mp3"), "flv", "-c:v", "copy", "-c:a", "libmp3lame", "-b:a", "64k")
	exited, _ := p.Exited(20 * time.Second)
	require.True(t, exited)
	logs.WaitFor(t, "unsupported codec", 5*time.Second)
	require.Empty(t, n.Registry().List())
}

func TestBadInputOnMediaPorts(t *testing.T) {
	t.Parallel()
	n, logs := testutil.StartNode(t, func(c *config.Config) { c.Node.ReadTimeout = 2 * time.Second })
	live := testutil.Publish(t, rtmpURL(n, "live/ok"), "flv")
	testutil.WaitLive(t, hlsURL(n, "live/ok"), 15*time.Second)

	garbage := []byte(strings.Repeat("GET / HTTP/1.1\r\n\x00\xff garbage ", 200))
	t.Run("rtmp garbage", func(t *testing.T) {
		c, err := net.Dial("tcp", n.RTMPAddr())
		require.NoError(t, err)
		defer c.Close()
		_, _ = c.Write(garbage)
		requireClosedByPeer(t, c, 5*time.Second)
	})
	t.Run("rtmp truncated handshake", func(t *testing.T) {
		c, err := net.Dial("tcp", n.RTMPAddr())
		require.NoError(t, err)
		defer c.Close()
		_, err = c.Write([]byte{0x03, 0, 0, 0, 0, 1, 2})
		require.NoError(t, err)
		requireClosedByPeer(t, c, 10*time.Second) // dropped after the read timeout
	})
	t.Run("srt garbage", func(t *testing.T) {
		c, err := net.Dial("udp", n.SRTAddr())
		require.NoError(t, err)
		defer c.Close()
		for i := 0; i < 50; i++ {
			_, _ = c.Write(garbage[:1000])
		}
	})
	t.Run("hostile stream names", func(t *testing.T) {
		for _, name := range []string{"live/..%2f..%2fetc", "live/a%00b", "live/has%20space", "live/" + strings.Repeat("x", 10000), "live/a/b"} {
			p := testutil.Publish(t, fmt.Sprintf("rtmp://%s/%s?token=x", n.RTMPAddr(), name), "flv")
			exited, _ := p.Exited(15 * time.Second)
			require.True(t, exited, "publish to %.40q must be refused", name)
		}
	})
	logs.WaitFor(t, "invalid stream path", 5*time.Second)
	// the live stream never noticed
	exited, _ := live.Exited(0)
	require.False(t, exited)
	code, _ := testutil.Get(t, hlsURL(n, "live/ok"))
	require.Equal(t, http.StatusOK, code)
	require.Len(t, n.Registry().List(), 1)
}

func requireClosedByPeer(t *testing.T, c net.Conn, within time.Duration) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(within))
	buf := make([]byte, 4096)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		var ne net.Error
		require.False(t, errorsAs(err, &ne) && ne.Timeout(), "connection still open after %s", within)
		return
	}
}

func TestBadHTTPRequests(t *testing.T) {
	t.Parallel()
	n, _ := testutil.StartNode(t, nil)
	testutil.Publish(t, rtmpURL(n, "live/web"), "flv")
	testutil.WaitLive(t, hlsURL(n, "live/web"), 15*time.Second)
	base := "http://" + n.HTTPAddr()
	cases := []struct {
		path string
		want int
	}{
		{"/live/nosuch/index.m3u8", http.StatusNotFound},
		{"/live/web/nosuch_seg1.mp4", http.StatusNotFound},
		{"/live/web/x_video1_part99999999.mp4", http.StatusNotFound},
		{"/live/..%2f..%2fetc/passwd", http.StatusBadRequest},
		{"/live/web%00/index.m3u8", http.StatusBadRequest},
		{"/live/we%20b/index.m3u8", http.StatusBadRequest},
		{"/live/" + strings.Repeat("a", 10000) + "/index.m3u8", http.StatusBadRequest},
		{"/live/web/.hidden", http.StatusBadRequest},
		{"/index.m3u8", http.StatusBadRequest},
		{"/live/web/video1_stream.m3u8?_HLS_msn=abc", http.StatusBadRequest},
	}
	for _, tc := range cases {
		start := time.Now()
		code, _ := testutil.Get(t, base+tc.path)
		require.Equal(t, tc.want, code, "%.60s", tc.path)
		require.Less(t, time.Since(start), 2*time.Second, "%.60s must answer at once", tc.path)
	}
}

// TestSlowReader: a viewer that stops reading does not hold up the others.
func TestSlowReader(t *testing.T) {
	t.Parallel()
	n, _ := testutil.StartNode(t, nil)
	testutil.Publish(t, rtmpURL(n, "live/slow"), "flv")
	index := hlsURL(n, "live/slow")
	testutil.WaitLive(t, index, 15*time.Second)
	_, body := testutil.Get(t, index)
	plURL := testutil.Resolve(t, index, testutil.Renditions(body)[0])
	testutil.ReadSegments(t, plURL, 2, 20*time.Second)
	_, plBody := testutil.Get(t, plURL)
	pl := testutil.ParseMediaPlaylist(plBody)
	seg := testutil.Resolve(t, plURL, pl.Segments[len(pl.Segments)-1])
	u := strings.TrimPrefix(seg, "http://"+n.HTTPAddr())

	floodSlowReaders(t, n.HTTPAddr(), u)
	// a normal viewer still gets segments and fresh playlists
	start := time.Now()
	testutil.ReadSegments(t, plURL, 3, 20*time.Second)
	require.Less(t, time.Since(start), 5*time.Second)
}

func TestStatsAndMetrics(t *testing.T) {
	t.Parallel()
	n, _ := testutil.StartNode(t, nil)
	testutil.Publish(t, rtmpURL(n, "live/stats"), "flv")
	index := hlsURL(n, "live/stats")
	testutil.WaitLive(t, index, 15*time.Second)

	// two viewer sessions, each fetching its playlists several times
	for v := 0; v < 2; v++ {
		_, body := testutil.Get(t, index)
		pl := testutil.Resolve(t, index, testutil.Renditions(body)[0])
		require.Contains(t, pl, "nsid=")
		for i := 0; i < 3; i++ {
			code, _ := testutil.Get(t, pl)
			require.Equal(t, http.StatusOK, code)
		}
	}
	// many requests without a session do not count as viewers
	for i := 0; i < 20; i++ {
		testutil.Get(t, strings.Replace(index, "index.m3u8", "video1_stream.m3u8", 1))
	}

	_, body := testutil.Get(t, "http://"+n.HTTPAddr()+"/api/v1/stats")
	var st node.Stats
	require.NoError(t, json.Unmarshal(body, &st))
	require.Equal(t, "origin", st.Role)
	require.Equal(t, 1, st.Publishers)
	require.Equal(t, 2, st.Subscribers)
	require.Equal(t, 3, st.Connections)
	require.Positive(t, st.BytesIn)
	require.Positive(t, st.BytesOut)
	require.Positive(t, st.MemoryBytes)
	require.Len(t, st.Streams, 1)
	require.Equal(t, "live/stats", st.Streams[0].Name)
	require.Equal(t, 2, st.Streams[0].Subscribers)
	require.Equal(t, []string{"H264", "AAC 44100 Hz 2 ch"}, st.Streams[0].Tracks)

	_, m := testutil.Get(t, "http://"+n.HTTPAddr()+"/metrics")
	for _, want := range []string{"nagare_streams 1", "nagare_publishers 1", "nagare_viewers 2",
		`nagare_publishes_total{protocol="rtmp"} 1`, "nagare_bytes_in_total", "nagare_bytes_out_total",
		"nagare_hls_segments_total", "nagare_dropped_frames_total 0", "process_resident_memory_bytes"} {
		require.Contains(t, string(m), want)
	}
}

func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.RTMP.Address, cfg.SRT.Address, cfg.HTTP.Address = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.WebRTC.Address = "127.0.0.1:0"
	cfg.Publish.TokenSecret = testutil.TokenSecret
	logs := &testutil.LogBuffer{}
	n, err := node.New(cfg, newLogger(logs))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()

	p := testutil.Publish(t, rtmpURL(n, "live/bye"), "flv")
	testutil.WaitLive(t, hlsURL(n, "live/bye"), 15*time.Second)

	// a blocking playlist request in flight when the node stops gets an answer, not a reset
	_, body := testutil.Get(t, hlsURL(n, "live/bye"))
	pl := testutil.Resolve(t, hlsURL(n, "live/bye"), testutil.Renditions(body)[0])
	_, plBody := testutil.Get(t, pl)
	msn := nextMSN(string(plBody)) + 1 // a segment that is not complete yet: the request blocks
	require.Equal(t, 1, n.Stats().Subscribers)
	// the blocking request comes with a session of its own, which counts once the node's handler has it
	_, body = testutil.Get(t, hlsURL(n, "live/bye"))
	blocking := testutil.Resolve(t, hlsURL(n, "live/bye"), testutil.Renditions(body)[0])
	require.NotEqual(t, pl, blocking)
	inflight := make(chan int, 1)
	go func() {
		resp, err := http.Get(fmt.Sprintf("%s&_HLS_msn=%d", blocking, msn))
		if err != nil {
			inflight <- -1
			return
		}
		resp.Body.Close()
		inflight <- resp.StatusCode
	}()
	require.Eventually(t, func() bool { return n.Stats().Subscribers == 2 }, 10*time.Second, 5*time.Millisecond,
		"the blocking request never reached the node")
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("node did not stop")
	}
	exited, _ := p.Exited(10 * time.Second)
	require.True(t, exited, "the publisher's connection is closed")
	select {
	case code := <-inflight:
		require.NotEqual(t, -1, code, "in-flight request was cut off")
	case <-time.After(5 * time.Second):
		t.Fatal("in-flight request never answered")
	}
}

// nextMSN returns the media sequence number of the segment being written.
func nextMSN(pl string) int {
	seq, n := 0, 0
	for _, line := range strings.Split(pl, "\n") {
		if v, ok := strings.CutPrefix(line, "#EXT-X-MEDIA-SEQUENCE:"); ok {
			seq, _ = strconv.Atoi(strings.TrimSpace(v))
		}
		if strings.HasPrefix(line, "#EXTINF:") {
			n++
		}
	}
	return seq + n
}

// TestSRTHEVCOpus carries H.265 and Opus (in MPEG-TS over SRT) through to fMP4 LL-HLS.
func TestSRTHEVCOpus(t *testing.T) {
	t.Parallel()
	n, _ := testutil.StartNode(t, nil)
	testutil.Publish(t, srtURL(n, "live/hevc"), "mpegts",
		"-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "keyint=25:min-keyint=25:scenecut=0:log-level=error",
		"-c:a", "libopus", "-ar", "48000", "-b:a", "48k")
	index := hlsURL(n, "live/hevc")
	testutil.WaitLive(t, index, 20*time.Second)
	var names []string
	for _, s := range testutil.Probe(t, index, false) {
		names = append(names, s.CodecName)
	}
	require.ElementsMatch(t, []string{"hevc", "opus"}, dedupe(names))
	_, body := testutil.Get(t, index)
	for _, r := range testutil.Renditions(body) {
		data := testutil.ReadSegments(t, testutil.Resolve(t, index, r), 2, 20*time.Second)
		f := filepath.Join(t.TempDir(), "seg.mp4")
		require.NoError(t, os.WriteFile(f, data, 0o644))
		for _, s := range testutil.Probe(t, f, true) {
			frames, err := strconv.Atoi(s.NbFrames)
			require.NoError(t, err)
			require.Positive(t, frames, "%s frames decoded", s.CodecName)
		}
	}
}

// TestDiskStorage keeps segments in files; they are played the same and removed when the node stops.
func TestDiskStorage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	n, _, stop := testutil.StartStoppableNode(t, func(c *config.Config) {
		c.HLS.Storage, c.HLS.Directory = "disk", dir
	})
	p := testutil.Publish(t, rtmpURL(n, "live/disk"), "flv")
	checkPlayback(t, n, "live/disk", ".mp4")
	files, err := filepath.Glob(filepath.Join(dir, "nagare-hls-*", "live_disk_*", "*.mp4"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "segments are files")
	p.Kill()
	stop()
	left, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, left, "segment files outlived the node")
}

// floodSlowReaders opens 50 connections that each ask for path 20 times and never read the answers.
func floodSlowReaders(t *testing.T, addr, path string) {
	t.Helper()
	for i := 0; i < 50; i++ {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(1024)
		}
		for j := 0; j < 20; j++ {
			_, err = fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path)
			require.NoError(t, err)
		}
	}
}

// TestSRTEncryption: with srt.passphrase the SRT port takes only encrypted callers with that passphrase
// (ffmpeg's libsrt, AES-256 here); one without it, or with another, is refused at the handshake and
// publishes nothing.
func TestSRTEncryption(t *testing.T) {
	testutil.RequireFFmpeg(t)
	const secret = "correct-horse-battery-staple"
	n, logs := testutil.StartNode(t, func(c *config.Config) {
		c.Publish.AllowUnauthenticated = true
		c.SRT.Passphrase = secret
	})
	url := func(stream, extra string) string {
		return fmt.Sprintf("srt://%s?streamid=publish:live/%s&pkt_size=1316%s", n.SRTAddr(), stream, extra)
	}
	for _, tc := range []struct{ name, stream, extra string }{
		{"no passphrase", "plain", ""},
		{"another passphrase", "wrong", "&passphrase=not-the-right-one&pbkeylen=32"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := testutil.Publish(t, url(tc.stream, tc.extra), "mpegts")
			exited, out := p.Exited(20 * time.Second)
			require.True(t, exited, "ffmpeg was not refused")
			t.Logf("ffmpeg: %s", out)
			require.Nil(t, n.Registry().Get(stream.Path{App: "live", Name: tc.stream}))
		})
	}
	testutil.Publish(t, url("secret", "&passphrase="+secret+"&pbkeylen=32"), "mpegts")
	testutil.WaitLive(t, "http://"+n.HTTPAddr()+"/live/secret/index.m3u8", 20*time.Second)
	require.NotContains(t, logs.String(), secret, "the passphrase is never logged")
}
