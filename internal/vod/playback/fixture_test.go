package playback

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/objstore"
)

const mp4Size = 3 << 20

var testSecret = []byte("test-secret-not-for-production")

// testNow is the handler's clock in tests: signatures are made relative to it.
var testNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// fakeLibrary is the Library seam: a map, and an error to fail with.
type fakeLibrary struct {
	media map[string]Media
	mu    sync.Mutex
	err   error
}

func (l *fakeLibrary) fail(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.err = err
}

func (l *fakeLibrary) Media(_ context.Context, id string) (Media, error) {
	l.mu.Lock()
	err := l.err
	l.mu.Unlock()
	if err != nil {
		return Media{}, err
	}
	m, ok := l.media[id]
	if !ok {
		return Media{}, fmt.Errorf("video %q: %w", id, ErrNotFound)
	}
	return m, nil
}

// call is one request to the store.
type call struct {
	op  string // "get" or "head"
	key string
	rng *objstore.Range // get: nil for the whole object
}

// countingObjects records every call to the store it wraps, and fails them on demand. Tests change it
// while the server runs: everything is behind mu.
type countingObjects struct {
	mu      sync.Mutex
	inner   Objects
	calls   []call
	headErr error
	getErr  error
}

func (c *countingObjects) Get(ctx context.Context, key string, rng *objstore.Range) (io.ReadCloser, objstore.ObjectInfo, error) {
	c.mu.Lock()
	var cp *objstore.Range
	if rng != nil {
		r := *rng
		cp = &r
	}
	c.calls = append(c.calls, call{"get", key, cp})
	inner, err := c.inner, c.getErr
	c.mu.Unlock()
	if err != nil {
		return nil, objstore.ObjectInfo{}, err
	}
	return inner.Get(ctx, key, rng)
}

func (c *countingObjects) Head(ctx context.Context, key string) (objstore.ObjectInfo, error) {
	c.mu.Lock()
	c.calls = append(c.calls, call{op: "head", key: key})
	inner, err := c.inner, c.headErr
	c.mu.Unlock()
	if err != nil {
		return objstore.ObjectInfo{}, err
	}
	return inner.Head(ctx, key)
}

// set changes the store or the failures under the lock.
func (c *countingObjects) set(f func(c *countingObjects)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f(c)
}

// take returns the calls made since the last take.
func (c *countingObjects) take() []call {
	c.mu.Lock()
	defer c.mu.Unlock()
	calls := c.calls
	c.calls = nil
	return calls
}

func (c *countingObjects) gets() []call {
	var gets []call
	for _, cl := range c.take() {
		if cl.op == "get" {
			gets = append(gets, cl)
		}
	}
	return gets
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type fixture struct {
	url   string
	store *objstore.Local
	h     *Handler
	lib   *fakeLibrary
	objs  *countingObjects
	files map[string][]byte // key → bytes, as stored
	logs  *syncBuffer
}

const (
	masterPlaylist = `#EXTM3U
#EXT-X-VERSION:7
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="English, main",DEFAULT=YES,AUTOSELECT=YES,URI="audio/index.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=2500000,RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2",AUDIO="aud"
720p/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360,CODECS="avc1.64001e,mp4a.40.2",AUDIO="aud"
360p/index.m3u8
#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=100000,CODECS="avc1.64001f",URI="720p/iframes.m3u8"
`
	fmp4Playlist = "#EXTM3U\r\n#EXT-X-VERSION:7\r\n#EXT-X-TARGETDURATION:4\r\n#EXT-X-PLAYLIST-TYPE:VOD\r\n" +
		"#EXT-X-MAP:URI=\"init.mp4\"\r\n#EXTINF:4.000,\r\nseg_001.m4s\r\n#EXTINF:4.000,\r\nseg_002.m4s\r\n#EXT-X-ENDLIST\r\n"
	iframePlaylist = `#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:4
#EXT-X-I-FRAMES-ONLY
#EXT-X-MAP:URI="init.mp4",BYTERANGE="100@0"
#EXTINF:4.000,
#EXT-X-BYTERANGE:1000@0
seg_001.m4s
#EXT-X-ENDLIST
`
	tsPlaylist = `#EXTM3U
#EXT-X-TARGETDURATION:4
#EXTINF:4.000,
seg_001.ts
#EXT-X-ENDLIST
`
	audioPlaylist = `#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:4
#EXT-X-MAP:URI="init.mp4"
#EXTINF:4.000,
seg_001.m4s
#EXT-X-ENDLIST
`
	storyboardVTT = `WEBVTT

00:00:00.000 --> 00:00:04.000
storyboard.jpg#xywh=0,0,160,90

00:00:04.000 --> 00:00:08.000
storyboard.jpg#xywh=160,0,160,90
`
)

func randomBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// newFixture stores a 3 MiB MP4 and an HLS tree for video "pub1" in a real objstore.Local, lists the
// videos below in a fake Library and serves a Handler on 127.0.0.1:0:
//
//	pub1 public, unl1 unlisted, priv1 private (all three on pub1's files), proc1 still processing,
//	bare1 ready without any file, broken1 whose MP4 is missing from the store.
//
// Another video's files (vod/other/...) are what hostile paths aim at.
func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	store, err := objstore.NewLocal(tb.TempDir())
	require.NoError(tb, err)
	files := map[string][]byte{
		"vod/pub1/source.mp4":             randomBytes(1, mp4Size),
		"vod/pub1/hls/master.m3u8":        []byte(masterPlaylist),
		"vod/pub1/hls/720p/index.m3u8":    []byte(fmp4Playlist),
		"vod/pub1/hls/720p/iframes.m3u8":  []byte(iframePlaylist),
		"vod/pub1/hls/720p/init.mp4":      randomBytes(2, 700),
		"vod/pub1/hls/720p/seg_001.m4s":   randomBytes(3, 40_000),
		"vod/pub1/hls/720p/seg_002.m4s":   randomBytes(4, 30_000),
		"vod/pub1/hls/360p/index.m3u8":    []byte(tsPlaylist),
		"vod/pub1/hls/360p/seg_001.ts":    randomBytes(5, 18_800),
		"vod/pub1/hls/audio/index.m3u8":   []byte(audioPlaylist),
		"vod/pub1/hls/audio/init.mp4":     randomBytes(6, 500),
		"vod/pub1/hls/audio/seg_001.m4s":  randomBytes(7, 9_000),
		"vod/pub1/hls/subs/en.vtt":        []byte("WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nhello\n"),
		"vod/pub1/poster.jpg":             randomBytes(8, 5_000),
		"vod/pub1/storyboard.jpg":         randomBytes(9, 12_000),
		"vod/pub1/storyboard.vtt":         []byte(storyboardVTT),
		"vod/other/source.mp4":            randomBytes(10, 1000),
		"vod/other/hls/master.m3u8":       []byte(masterPlaylist),
		"vod/other/secret.txt":            []byte("secret"),
		"vod/pub1/hls/720p/seg_003.m4s/x": []byte("a directory where a segment would be"),
	}
	for key, b := range files {
		require.NoError(tb, store.Put(context.Background(), key, bytes.NewReader(b), int64(len(b)), objstore.PutOptions{}))
	}
	pub := Media{
		ID: "pub1", Visibility: Public, Ready: true,
		MP4Key: "vod/pub1/source.mp4", HLSKey: "vod/pub1/hls/master.m3u8",
		PosterKey: "vod/pub1/poster.jpg", StoryboardKey: "vod/pub1/storyboard.jpg", StoryboardVTTKey: "vod/pub1/storyboard.vtt",
		UpdatedAt: testNow.Add(-time.Hour),
	}
	unl, priv, proc := pub, pub, pub
	unl.ID, unl.Visibility = "unl1", Unlisted
	priv.ID, priv.Visibility = "priv1", Private
	proc.ID, proc.Ready = "proc1", false
	lib := &fakeLibrary{media: map[string]Media{
		"pub1": pub, "unl1": unl, "priv1": priv, "proc1": proc,
		"bare1":   {ID: "bare1", Visibility: Public, Ready: true},
		"broken1": {ID: "broken1", Visibility: Public, Ready: true, MP4Key: "vod/broken1/source.mp4"},
	}}
	logs := &syncBuffer{}
	objs := &countingObjects{inner: store}
	h := &Handler{
		Library: lib,
		Objects: objs,
		Secret:  testSecret,
		Log:     slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:     func() time.Time { return testNow },
	}
	srv := httptest.NewServer(h) // on 127.0.0.1:0
	tb.Cleanup(srv.Close)
	return &fixture{url: srv.URL, store: store, h: h, lib: lib, objs: objs, files: files, logs: logs}
}

type answer struct {
	status int
	header http.Header
	body   []byte
	length int64 // Content-Length as the client parsed it
}

func (a answer) String() string {
	return fmt.Sprintf("%d %v %q", a.status, a.header, truncate(a.body))
}

func truncate(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}

// do sends method to u (a full URL) with header.
func do(tb testing.TB, method, u string, header http.Header) answer {
	tb.Helper()
	req, err := http.NewRequest(method, u, nil)
	require.NoError(tb, err)
	return send(tb, req, header)
}

// doRaw sends method with rawPath as the request target byte for byte (no cleaning, no re-escaping).
func (f *fixture) doRaw(tb testing.TB, method, rawPath string) answer {
	tb.Helper()
	base, err := url.Parse(f.url)
	require.NoError(tb, err)
	req, err := http.NewRequest(method, f.url, nil)
	require.NoError(tb, err)
	req.URL = &url.URL{Scheme: base.Scheme, Host: base.Host, Opaque: rawPath}
	return send(tb, req, nil)
}

func send(tb testing.TB, req *http.Request, header http.Header) answer {
	tb.Helper()
	req.Header.Set("Origin", "https://player.example.org")
	for k, vs := range header {
		req.Header[k] = vs
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(tb, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(tb, err)
	return answer{res.StatusCode, res.Header, b, res.ContentLength}
}

// requireJSONError checks an error answer: its status and its {"error": msg} body.
func requireJSONError(tb testing.TB, a answer, status int, msg string) {
	tb.Helper()
	require.Equal(tb, status, a.status, "%s", a)
	require.Equal(tb, "application/json", a.header.Get("Content-Type"))
	require.Equal(tb, "*", a.header.Get("Access-Control-Allow-Origin"))
	if a.header.Get("Content-Length") != "" || len(a.body) > 0 { // HEAD answers carry no body
		require.JSONEq(tb, fmt.Sprintf(`{"error": %q}`, msg), string(a.body))
	}
}
