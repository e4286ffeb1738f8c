package hls

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/media/mediametrics"
	"github.com/nagare-video/nagare/internal/media/segmenter"
	"github.com/nagare-video/nagare/internal/media/stream"
	"github.com/nagare-video/nagare/internal/media/viewers"
)

// A 1920x1080 baseline SPS with pic_order_cnt_type 2, so that synthetic two-byte slices carry a stream.
var testSPS = []byte{
	0x67, 0x42, 0xc0, 0x28, 0xd9, 0x00, 0x78, 0x02, 0x27, 0xe5, 0x84, 0x00, 0x00, 0x03, 0x00, 0x04,
	0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x60, 0xc9, 0x20,
}

// liveStream is a stream published on a registry that an HLS server listens to, fed by hand at 25 fps
// with a 1 s GOP.
type liveStream struct {
	t      *testing.T
	reg    *stream.Registry
	st     *stream.Stream
	video  *stream.Track
	frame  int
	params [][]byte // the parameter sets in front of each IDR
	server *Server
	http   *httptest.Server
}

func startLive(t *testing.T, variant string, observe func(*stream.Stream) segmenter.Observer) *liveStream {
	t.Helper()
	s := &Server{
		Config: Config{Variant: variant, SegmentDuration: time.Second, PartDuration: 200 * time.Millisecond,
			SegmentCount: 7, Observe: observe},
		Metrics: mediametrics.New(), Log: slog.New(slog.DiscardHandler),
	}
	reg := &stream.Registry{}
	reg.AddListener(s)
	video := &stream.Track{Codec: &stream.H264{SPS: testSPS, PPS: []byte{0x08}}}
	st, err := reg.Publish(stream.PublishRequest{Path: stream.Path{App: "live", Name: "s"}, Tracks: []*stream.Track{video}})
	require.NoError(t, err)
	ls := &liveStream{t: t, reg: reg, st: st, video: video, params: [][]byte{testSPS, {0x08}}, server: s,
		http: httptest.NewServer(s)}
	t.Cleanup(func() {
		reg.Unpublish(st)
		ls.http.Close()
	})
	return ls
}

// fence is a unit of a track the stream does not have: the muxer hands it to the segmenter, which passes
// over it. The muxer writes units one by one, so once it has taken the fence from its queue, every unit
// written before it is in the segmenter.
var fence = &stream.Unit{Track: &stream.Track{Codec: &stream.H264{SPS: testSPS, PPS: []byte{0x08}}}}

// frames writes n more frames and waits until the muxer consumed them.
func (ls *liveStream) frames(n int) {
	ls.t.Helper()
	for i := 0; i < n; i++ {
		pts := time.Duration(ls.frame) * 40 * time.Millisecond
		au := [][]byte{{0x41, byte(ls.frame), 0xAA}}
		if ls.frame%25 == 0 {
			au = append(slices.Clone(ls.params), []byte{0x65, byte(ls.frame), 0xBB})
		}
		ls.st.Write(&stream.Unit{Track: ls.video, NTP: time.Now(), PTS: pts, Payload: au, Size: 3})
		ls.frame++
	}
	ls.st.Write(fence)
	mx := ls.muxer()
	require.Eventually(ls.t, func() bool { return len(mx.queue()) == 0 }, 2*time.Second, time.Millisecond,
		"the muxer never consumed the frames")
}

func (ls *liveStream) muxer() *muxer {
	ls.server.mu.RLock()
	defer ls.server.mu.RUnlock()
	return ls.server.muxers[ls.st.Path]
}

type answer struct {
	code   int
	header http.Header
	body   string
}

func (ls *liveStream) get(path string, header ...string) answer {
	ls.t.Helper()
	req, err := http.NewRequest(http.MethodGet, ls.http.URL+"/live/s/"+path, nil)
	require.NoError(ls.t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(ls.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(ls.t, err)
	return answer{resp.StatusCode, resp.Header, string(b)}
}

// async runs get in the background.
func (ls *liveStream) async(path string, header ...string) <-chan answer {
	c := make(chan answer, 1)
	go func() { c <- ls.get(path, header...) }()
	return c
}

func waitAnswer(t *testing.T, c <-chan answer, within time.Duration) answer {
	t.Helper()
	select {
	case a := <-c:
		return a
	case <-time.After(within):
		t.Fatalf("no answer within %s", within)
		return answer{}
	}
}

func requireBlocked(t *testing.T, c <-chan answer) {
	t.Helper()
	select {
	case a := <-c:
		t.Fatalf("answered %d before its media existed: %s", a.code, a.body)
	case <-time.After(50 * time.Millisecond):
	}
}

func TestLowLatencyServing(t *testing.T) {
	var mu sync.Mutex
	var events []string
	ls := startLive(t, VariantLowLatency, func(st *stream.Stream) segmenter.Observer {
		require.Equal(t, "live/s", st.Path.String())
		return segmenter.Funcs{
			OnInit: func(name string, _ []byte) { mu.Lock(); events = append(events, "init"); mu.Unlock() },
			OnPart: func(p segmenter.Part) { mu.Lock(); events = append(events, p.Name); mu.Unlock() },
		}
	})
	prefix := ls.muxer().seg.Prefix()

	// the multivariant playlist waits for the first part, which comes one part duration after the
	// first keyframe
	index := ls.async("index.m3u8")
	ls.frames(5)
	requireBlocked(t, index)
	ls.frames(1)
	a := waitAnswer(t, index, 2*time.Second)
	require.Equal(t, http.StatusOK, a.code, a.body)
	require.Equal(t, "application/vnd.apple.mpegurl", a.header.Get("Content-Type"))
	require.Equal(t, "private, max-age=30", a.header.Get("Cache-Control"), "a viewer's own session")
	require.Contains(t, a.body, `CODECS="avc1.42c028",RESOLUTION=1920x1080`)
	uri := strings.TrimSpace(a.body[strings.LastIndex(strings.TrimSpace(a.body), "\n"):])
	require.True(t, strings.HasPrefix(uri, "video1_stream.m3u8?"+viewers.Param+"="), uri)
	nsid := strings.TrimPrefix(uri, "video1_stream.m3u8?"+viewers.Param+"=")

	relayed := ls.get("index.m3u8", viewers.RelayHeader, "1")
	require.Equal(t, http.StatusOK, relayed.code)
	require.Contains(t, relayed.body, "\nvideo1_stream.m3u8\n", "an edge gets no session")
	require.Equal(t, "public, max-age=30", relayed.header.Get("Cache-Control"))

	// before the first segment, an LL-HLS player's blocking request gets the parts (a plain request
	// waits for the segment: TestYoungStreamServed)
	pl := ls.get(uri + "&_HLS_msn=0&_HLS_part=0")
	require.Equal(t, http.StatusOK, pl.code)
	require.Equal(t, "no-cache", pl.header.Get("Cache-Control"))
	// the session rides on the playlist's URL: the media URIs are every viewer's, and so is the playlist
	require.Contains(t, pl.body, `#EXT-X-PART:DURATION=0.20000,URI="`+prefix+`_part0_0.mp4",INDEPENDENT=YES`)
	require.Contains(t, pl.body, `#EXT-X-PRELOAD-HINT:TYPE=PART,URI="`+prefix+`_part0_1.mp4"`)
	require.Contains(t, pl.body, `#EXT-X-MAP:URI="`+prefix+`_init.mp4"`)
	require.NotContains(t, pl.body, nsid)
	require.Equal(t, ls.get("video1_stream.m3u8?_HLS_msn=0&_HLS_part=0").body, pl.body, "another viewer's playlist")
	require.Equal(t, 1, ls.server.Viewers(nil))

	// blocking reload: held until the part exists, the _HLS_ parameters left out of the URIs
	blocked := ls.async("video1_stream.m3u8?_HLS_msn=0&_HLS_part=2&nsid=" + nsid)
	hint := ls.async(prefix + "_part0_1.mp4")
	requireBlocked(t, blocked)
	requireBlocked(t, hint)
	ls.frames(5)
	a = waitAnswer(t, hint, 2*time.Second)
	require.Equal(t, http.StatusOK, a.code)
	require.Equal(t, "video/mp4", a.header.Get("Content-Type"))
	require.Equal(t, "public, max-age=3600", a.header.Get("Cache-Control"))
	requireBlocked(t, blocked)
	ls.frames(5)
	a = waitAnswer(t, blocked, 2*time.Second)
	require.Equal(t, http.StatusOK, a.code)
	require.Contains(t, a.body, prefix+`_part0_2.mp4"`)
	require.NotContains(t, a.body, "_HLS_")

	for _, tc := range []struct {
		path string
		code int
	}{
		{"video1_stream.m3u8?_HLS_msn=abc", http.StatusBadRequest},
		{"video1_stream.m3u8?_HLS_part=1", http.StatusBadRequest},
		{"video1_stream.m3u8?_HLS_msn=0&_HLS_part=-1", http.StatusBadRequest},
		{"video1_stream.m3u8?_HLS_msn=99", http.StatusBadRequest},
		{"video1_stream.m3u8?_HLS_msn=0&_HLS_part=0", http.StatusOK}, // already there
		{"audio2_stream.m3u8", http.StatusNotFound},
		{"other.m3u8", http.StatusNotFound},
		{"gap.mp4", http.StatusNotFound}, // named by no playlist
		{prefix + "_seg99.mp4", http.StatusNotFound},
		{prefix + "_part0_9.mp4", http.StatusNotFound},
		{"000000000000_init.mp4", http.StatusNotFound},
		{prefix + "_init.mp4", http.StatusOK},
		{prefix + "_part0_0.mp4", http.StatusOK},
	} {
		start := time.Now()
		a := ls.get(tc.path)
		require.Equal(t, tc.code, a.code, "%s: %s", tc.path, a.body)
		require.Less(t, time.Since(start), time.Second, "%s must answer at once", tc.path)
	}

	// a blocking request honours its context: the handler returns when the viewer goes away. It comes
	// with a session of its own, which counts once the handler has the request (just before it blocks).
	second := ls.get("index.m3u8").body
	secondID := second[strings.LastIndex(second, viewers.Param+"=")+len(viewers.Param)+1:]
	secondID = strings.TrimSpace(secondID)
	require.NotEqual(t, nsid, secondID)
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequest(http.MethodGet, "/live/s/video1_stream.m3u8?_HLS_msn=1&_HLS_part=3&"+viewers.Param+"="+secondID, nil).WithContext(ctx)
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		ls.server.ServeHTTP(rec, req)
		close(done)
	}()
	require.Eventually(t, func() bool { return ls.server.Viewers(nil) == 2 }, 2*time.Second, time.Millisecond,
		"the blocking request never reached the handler")
	select {
	case <-done:
		t.Fatalf("a request for a part that does not exist yet answered %d", rec.Code)
	default:
	}
	cancel()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("a blocking request outlived its context")
	}
	require.Equal(t, http.StatusServiceUnavailable, rec.Code, "the viewer that went away gets no playlist")

	ls.frames(20) // segment 0 complete
	counter := func(name string) float64 {
		families, err := ls.server.Metrics.Registry.Gather()
		require.NoError(t, err)
		for _, f := range families {
			if f.GetName() == name {
				return f.GetMetric()[0].GetCounter().GetValue()
			}
		}
		return -1
	}
	require.Eventually(t, func() bool {
		return counter("nagare_hls_segments_total") == 1 && counter("nagare_hls_parts_total") == 7 // 5 of 0, 2 of 1
	}, 2*time.Second, 5*time.Millisecond, "segments %v, parts %v", counter("nagare_hls_segments_total"), counter("nagare_hls_parts_total"))

	mu.Lock()
	require.Equal(t, []string{"init", prefix + "_part0_0.mp4", prefix + "_part0_1.mp4"}, events[:3])
	mu.Unlock()

	// the stream ends: waiting requests get the final playlist, and the stream is gone
	waiting := ls.async("video1_stream.m3u8?_HLS_msn=2&_HLS_part=0")
	requireBlocked(t, waiting)
	ls.reg.Unpublish(ls.st)
	final := waitAnswer(t, waiting, 2*time.Second)
	require.Equal(t, http.StatusOK, final.code)
	require.Contains(t, final.body, "#EXT-X-ENDLIST")
	require.Equal(t, http.StatusNotFound, ls.get("index.m3u8").code)
}

func TestClassicServing(t *testing.T) {
	for _, tc := range []struct {
		variant, ext, ctype, version string
		init                         bool
	}{
		{VariantFMP4, ".mp4", "video/mp4", "6", true},
		{VariantMPEGTS, ".ts", "video/mp2t", "3", false},
	} {
		t.Run(tc.variant, func(t *testing.T) {
			var mu sync.Mutex
			var events []string
			ls := startLive(t, tc.variant, func(*stream.Stream) segmenter.Observer {
				return segmenter.Funcs{
					OnInit:            func(name string, _ []byte) { mu.Lock(); events = append(events, name); mu.Unlock() },
					OnPart:            func(p segmenter.Part) { mu.Lock(); events = append(events, p.Name); mu.Unlock() },
					OnSegmentComplete: func(s segmenter.Segment) { mu.Lock(); events = append(events, s.Name); mu.Unlock() },
				}
			})
			prefix := ls.muxer().seg.Prefix()
			ls.frames(20)
			index := ls.async("index.m3u8")
			requireBlocked(t, index)
			ls.frames(6)
			a := waitAnswer(t, index, 2*time.Second)
			require.Equal(t, http.StatusOK, a.code)
			require.True(t, strings.HasPrefix(a.body, "#EXTM3U\n#EXT-X-VERSION:"+tc.version+"\n"), a.body)
			require.Contains(t, a.body, `CODECS="avc1.42c028",RESOLUTION=1920x1080`)

			// a second segment: a plain request waits for two (TestYoungStreamServed)
			ls.frames(25)
			pl := ls.get("video1_stream.m3u8?_HLS_msn=5&_HLS_part=0") // no blocking reloads: answered at once
			require.Equal(t, http.StatusOK, pl.code)
			require.Equal(t, "public, max-age=1", pl.header.Get("Cache-Control"))
			require.True(t, strings.HasPrefix(pl.body, "#EXTM3U\n#EXT-X-VERSION:"+tc.version+"\n"), pl.body)
			require.NotContains(t, pl.body, "EXT-X-PART")
			require.NotContains(t, pl.body, "SERVER-CONTROL")
			require.NotContains(t, pl.body, "GAP")
			require.Equal(t, tc.init, strings.Contains(pl.body, `#EXT-X-MAP:URI="`+prefix+`_init.mp4"`))
			seg := prefix + "_seg0" + tc.ext
			require.Contains(t, pl.body, "#EXTINF:1.00000,\n"+seg+"\n")

			a = ls.get(seg)
			require.Equal(t, http.StatusOK, a.code)
			require.Equal(t, tc.ctype, a.header.Get("Content-Type"))
			require.Equal(t, "public, max-age=3600", a.header.Get("Cache-Control"))
			if !tc.init {
				require.Equal(t, byte(0x47), a.body[0], "an MPEG-TS packet")
				require.Equal(t, http.StatusNotFound, ls.get(prefix+"_init.mp4").code)
			}

			want := []string{seg, prefix + "_seg1" + tc.ext}
			if tc.init {
				want = append([]string{prefix + "_init.mp4"}, want...)
			}
			mu.Lock()
			require.Equal(t, want, events, "the observer gets every object")
			mu.Unlock()
		})
	}
}

func TestNoMediaYet(t *testing.T) {
	ls := startLive(t, VariantLowLatency, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req := httptest.NewRequest(http.MethodGet, "/live/s/index.m3u8", nil).WithContext(ctx)
	rec := httptest.NewRecorder()
	ls.server.ServeHTTP(rec, req)
	require.Equal(t, http.StatusServiceUnavailable, rec.Code, "a viewer that gave up")
}

// queue returns the units still queued for the muxer.
func (mx *muxer) queue() <-chan *stream.Unit { return mx.reader.Units() }

func TestPlaylistQuery(t *testing.T) {
	for _, tc := range []struct{ in, multivariant, media string }{
		{"", "", ""},
		{"nsid=abc", "nsid=abc", ""},
		{"_HLS_msn=3&_HLS_part=1&nsid=abc", "nsid=abc", ""},
		{"_HLS_skip=YES", "", ""},
		{`a="><x`, "a=%22%3E%3Cx", "a=%22%3E%3Cx"},
		{"a=%zz", "", ""},
		{"b=2&a=1", "b=2&a=1", "b=2&a=1"}, // a plain query is kept as the viewer sent it
		{"_HLS_msn=3&b=2&&a=1&_HLS_part=0", "b=2&a=1", "b=2&a=1"},
		{"a=%41%2f", "a=%41%2f", "a=%41%2f"},
		{"a=%4", "", ""},
		{"nsid=abc&x=a b", "nsid=abc&x=a+b", "x=a+b"},
		{"x=\n&_HLS_msn=1", "x=%0A", "x=%0A"},
		{"token=t&nsid=abc&_HLS_msn=1", "token=t&nsid=abc", "token=t"},
		{"nsidx=1&nsid=abc", "nsidx=1&nsid=abc", "nsidx=1"},
		{"a=1&nsid", "a=1&nsid", "a=1"},
	} {
		require.Equal(t, tc.multivariant, playlistQuery(tc.in, false), "multivariant: %s", tc.in)
		require.Equal(t, tc.media, playlistQuery(tc.in, true), "media: %s", tc.in)
	}
}

// A multivariant playlist is rendered once for its variants; each viewer's copy differs by its query.
func TestLadderTemplate(t *testing.T) {
	mx := &muxer{}
	video := []segmenter.Variant{{URI: "video.m3u8", Bandwidth: 2_000_000, Codecs: []string{"avc1.64001f"},
		Resolution: "1280x720", FrameRate: 30}}
	audio := &segmenter.Variant{URI: "audio.m3u8", Bandwidth: 128_000, Codecs: []string{"mp4a.40.2"}, Channels: 2}
	for _, query := range []string{"nagare_session=a1", "nagare_session=b2&token=x"} {
		require.Equal(t, string(segmenter.Ladder(video, audio, withQuery(query))), string(mx.ladder(video, audio, query)))
	}
	first := mx.ladderTmpl.Load()
	mx.ladder(slices.Clone(video), audio, "nagare_session=c3")
	require.Same(t, first, mx.ladderTmpl.Load(), "the same variants: not rendered again")

	more := append(slices.Clone(video), segmenter.Variant{URI: "360p/index.m3u8", Bandwidth: 600_000,
		Codecs: []string{"avc1.64001e"}, Resolution: "640x360"})
	require.Equal(t, string(segmenter.Ladder(more, audio, withQuery("s=1"))), string(mx.ladder(more, audio, "s=1")))
	faster := slices.Clone(more)
	faster[1].Bandwidth = 700_000
	require.Equal(t, string(segmenter.Ladder(faster, audio, withQuery("s=1"))), string(mx.ladder(faster, audio, "s=1")))
	require.Equal(t, string(segmenter.Ladder(faster, nil, withQuery("s=1"))), string(mx.ladder(faster, nil, "s=1")))
	require.Equal(t, string(segmenter.Ladder(faster, nil, nil)), string(mx.ladder(faster, nil, "")), "no query")
}

// FuzzPlaylistQuery: whatever query a viewer sends, what goes into a playlist's URIs cannot end a quoted
// attribute or a line, holds no blocking-reload parameter, and (for a media playlist) no session id.
func FuzzPlaylistQuery(f *testing.F) {
	for _, seed := range []string{"", "nsid=abc", "_HLS_msn=3&_HLS_part=1&nsid=abc", `a="><x`, "a=%zz", "x=\n&_HLS_msn=1",
		"token=t&nsid=abc", "a=1&nsid", "nsid=%22&b=%0A", "&&&", "=&=", "_HLS_=x", "a=1;b=2"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		for _, dropSession := range []bool{false, true} {
			q := playlistQuery(raw, dropSession)
			if strings.ContainsAny(q, "\"\r\n\x00 #") {
				t.Fatalf("playlistQuery(%q, %v) = %q: a character that can end a URI in a playlist", raw, dropSession, q)
			}
			for kv := range strings.SplitSeq(q, "&") {
				key, _, _ := strings.Cut(kv, "=")
				if strings.HasPrefix(key, "_HLS_") || dropSession && key == viewers.Param {
					t.Fatalf("playlistQuery(%q, %v) = %q keeps %q", raw, dropSession, q, key)
				}
			}
		}
	})
}
