package relay

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/media/segmenter"
	"github.com/nagare-video/nagare/internal/nodeapi"
)

func TestStoragePathway(t *testing.T) {
	base, err := url.Parse("https://cdn.example/hls/live/cam1/index.m3u8")
	require.NoError(t, err)
	// what the storage push writes for a stream with a ladder: renditions sharing the source's audio
	ladder := string(segmenter.Ladder([]segmenter.Variant{
		{URI: "source/stream.m3u8", Bandwidth: 2_200_000, Codecs: []string{"avc1.64001f"}, Resolution: "1280x720", FrameRate: 30},
		{URI: "360p/stream.m3u8", Bandwidth: 700_000, Codecs: []string{"avc1.64001e"}, Resolution: "640x360", FrameRate: 30},
	}, &segmenter.Variant{URI: "audio/stream.m3u8", Bandwidth: 130_000, Codecs: []string{"mp4a.40.2"}, Channels: 2}, nil))
	require.Contains(t, ladder, `GROUP-ID="`, "the ladder has an audio group")

	for _, tc := range []struct {
		name    string
		in      string
		want    []string // lines the output has
		without []string // what it must not have
		err     string
	}{{
		name: "one variant",
		in:   "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-STREAM-INF:BANDWIDTH=2300000,CODECS=\"avc1.64001f,mp4a.40.2\",RESOLUTION=1280x720\nstream.m3u8\n",
		want: []string{
			`#EXT-X-STREAM-INF:BANDWIDTH=2300000,CODECS="avc1.64001f,mp4a.40.2",RESOLUTION=1280x720,PATHWAY-ID="cdn"`,
			"https://cdn.example/hls/live/cam1/stream.m3u8",
		},
		without: []string{"#EXT-X-VERSION", "#EXT-X-INDEPENDENT-SEGMENTS", "#EXTM3U"},
	}, {
		name: "a ladder: its own audio group, absolute URIs",
		in:   ladder,
		want: []string{
			"https://cdn.example/hls/live/cam1/source/stream.m3u8",
			"https://cdn.example/hls/live/cam1/360p/stream.m3u8",
			`URI="https://cdn.example/hls/live/cam1/audio/stream.m3u8"`,
			`-cdn"`,
		},
	}, {
		name: "a pathway ID and a steering tag of its own are replaced or left out",
		in: "#EXTM3U\n#EXT-X-CONTENT-STEERING:SERVER-URI=\"https://evil.example/s\"\n" +
			"#EXT-X-STREAM-INF:BANDWIDTH=1,PATHWAY-ID=\"x\",CLOSED-CAPTIONS=NONE\r\n../other/s.m3u8?sig=1\r\n",
		want:    []string{`#EXT-X-STREAM-INF:BANDWIDTH=1,CLOSED-CAPTIONS=NONE,PATHWAY-ID="cdn"`, "https://cdn.example/hls/live/other/s.m3u8?sig=1"},
		without: []string{"evil", `"x"`, "\r"},
	}, {
		name: "absolute URIs elsewhere are kept",
		in:   "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nhttp://mirror.example/a.m3u8\n",
		want: []string{"http://mirror.example/a.m3u8"},
	}, {
		name: "not a playlist", in: "<html>403</html>", err: "no #EXTM3U",
	}, {
		name: "a media playlist", in: "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\na.mp4\n", err: errNoVariant.Error(),
	}, {
		name: "a URI of another scheme", in: "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\njavascript:alert(1)\n", err: "is not http(s)",
	}, {
		name: "a quoted string that does not end", in: "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,CODECS=\"avc1\nv.m3u8\n", err: "does not end",
	}, {
		name: "a rendition of another scheme", in: "#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",URI=\"file:///etc/passwd\"\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv.m3u8\n", err: "is not http(s)",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := storagePathway([]byte(tc.in), base, "cdn")
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
			for _, w := range tc.want {
				assert.Contains(t, string(out), w)
			}
			for _, w := range tc.without {
				assert.NotContains(t, string(out), w)
			}
			for i, l := range lines {
				if strings.HasPrefix(l, "#EXT-X-STREAM-INF:") {
					assert.Contains(t, l, `PATHWAY-ID="cdn"`)
					require.Less(t, i+1, len(lines))
					assert.Regexp(t, `^https?://`, lines[i+1], "a variant's URI follows it")
				}
				if strings.Contains(l, "GROUP-ID=") || strings.Contains(l, "AUDIO=") {
					assert.Regexp(t, `(GROUP-ID|AUDIO)="[^"]*-cdn"`, l, "groups of the pathway's own")
				}
			}
		})
	}
}

// FuzzStoragePathway: whatever storage answers, no panic, and what goes into a player's playlist is
// only renditions and variants of the storage pathway with http(s) URIs.
func FuzzStoragePathway(f *testing.F) {
	f.Add([]byte("#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",URI=\"a.m3u8\"\n#EXT-X-STREAM-INF:BANDWIDTH=1,AUDIO=\"a\"\nv.m3u8\n"))
	f.Add([]byte("#EXTM3U\n#EXT-X-STREAM-INF:A=\"x,y\",B=1,C\nv.m3u8\n"))
	f.Add([]byte("#EXTM3U\n#EXT-X-STREAM-INF:=\n\n#x\n//h/v\n"))
	base, _ := url.Parse("http://cdn.example/live/s/index.m3u8")
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := storagePathway(in, base, "cdn")
		if err != nil {
			return
		}
		lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
		for i, l := range lines {
			switch {
			case strings.HasPrefix(l, "#EXT-X-MEDIA:"):
			case strings.HasPrefix(l, "#EXT-X-STREAM-INF:"):
				if !strings.HasSuffix(l, `,PATHWAY-ID="cdn"`) || i+1 >= len(lines) {
					t.Fatalf("variant line %q", l)
				}
			case strings.HasPrefix(l, "http://"), strings.HasPrefix(l, "https://"):
				if i == 0 || !strings.HasPrefix(lines[i-1], "#EXT-X-STREAM-INF:") {
					t.Fatalf("URI line %q not after a variant", l)
				}
			default:
				t.Fatalf("line %q", l)
			}
		}
	})
}

// TestEdgeAddsTheStoragePathway: with a storage pathway, the multivariant playlist an edge serves a
// player names the variants of the stream's playlist in storage after its own, read once and reused;
// a stream storage does not have (404), or storage that does not answer, leaves the playlist as it was.
func TestEdgeAddsTheStoragePathway(t *testing.T) {
	const mv = "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-STREAM-INF:BANDWIDTH=2300000,CODECS=\"avc1.64001f,mp4a.40.2\"\nstream.m3u8\n"
	parent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/index.m3u8") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
		_, _ = io.WriteString(w, mv)
	}))
	defer parent.Close()
	var reads atomic.Int64
	hang := make(chan struct{})
	defer close(hang)
	storage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reads.Add(1)
		switch r.URL.Path {
		case "/hls/live/cam1/index.m3u8":
			_, _ = io.WriteString(w, mv)
		case "/hls/live/hung/index.m3u8":
			select {
			case <-hang:
			case <-r.Context().Done():
			}
		default:
			http.NotFound(w, r)
		}
	}))
	defer storage.Close()
	st := &Steering{ServerURI: "http://mgr.example/steering/v1", Pathway: "edge-1",
		Storage: storage.URL + "/hls", StoragePlaylist: "index.m3u8", StoragePathway: "cdn"}
	s := &Server{Parent: func(context.Context) string { return parent.URL }, Client: parent.Client(),
		Log: slog.New(slog.DiscardHandler), Steering: func() *Steering { return st }}
	edge := startEdge(t, s)

	get := func(path string, query ...string) string {
		t.Helper()
		resp, err := http.Get(edge + "/" + path + "/index.m3u8" + strings.Join(query, ""))
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		return readAll(t, resp)
	}
	body := get("live/cam1")
	assert.Contains(t, body, `#EXT-X-STREAM-INF:BANDWIDTH=2300000,CODECS="avc1.64001f,mp4a.40.2",PATHWAY-ID="edge-1"`+"\nstream.m3u8?")
	assert.True(t, strings.HasSuffix(body, `#EXT-X-STREAM-INF:BANDWIDTH=2300000,CODECS="avc1.64001f,mp4a.40.2",PATHWAY-ID="cdn"`+"\n"+storage.URL+"/hls/live/cam1/stream.m3u8\n"),
		"the storage pathway comes last:\n%s", body)
	for range 5 {
		get("live/cam1")
	}
	assert.EqualValues(t, 1, reads.Load(), "storage's playlist is read once, not for every player")

	// the pathway a player starts on: the edge's, or storage's for a viewer the manager spilled there
	start := func(body string) string {
		for line := range strings.Lines(body) {
			if strings.HasPrefix(line, "#EXT-X-CONTENT-STEERING:") {
				_, id, _ := strings.Cut(strings.TrimSpace(line), "PATHWAY-ID=")
				return id
			}
		}
		return ""
	}
	assert.Equal(t, `"edge-1"`, start(body))
	spilled := get("live/cam1", "?"+nodeapi.StartPathwayParam+"=cdn")
	assert.Equal(t, `"cdn"`, start(spilled), "a spilled viewer starts on storage:\n%s", spilled)
	assert.Contains(t, spilled, "home=edge-1", "with this edge as its home")
	assert.Contains(t, spilled, `PATHWAY-ID="edge-1"`+"\nstream.m3u8?", "this edge's variants are there to come back to")
	assert.Equal(t, `"edge-1"`, start(get("live/cam1", "?"+nodeapi.StartPathwayParam+"=edge-9")), "only the storage pathway can be asked for")
	assert.Equal(t, `"edge-1"`, start(get("live/cam1", "?"+nodeapi.StartPathwayParam+"=%22%0A")))

	body = get("live/absent", "?"+nodeapi.StartPathwayParam+"=cdn")
	assert.NotContains(t, body, `PATHWAY-ID="cdn"`, "a stream storage does not have")
	assert.Contains(t, body, `PATHWAY-ID="edge-1"`)
	assert.Equal(t, `"edge-1"`, start(body), "no storage pathway to start on")

	// storage that does not answer: the first player waits storageWait at most, and gets the edge alone
	body = get("live/hung")
	assert.NotContains(t, body, `PATHWAY-ID="cdn"`)
	assert.Contains(t, body, `PATHWAY-ID="edge-1"`)

	// steering without storage: nothing added, nothing read
	st = &Steering{ServerURI: st.ServerURI, Pathway: "edge-1"}
	before := reads.Load()
	assert.NotContains(t, get("live/cam1"), `PATHWAY-ID="cdn"`)
	assert.Equal(t, before, reads.Load())
}

// TestStorageVariantsRefresh: what was read is used for storageRefresh, then read again in the
// background; a failed read is tried again after storageRetry.
func TestStorageVariantsRefresh(t *testing.T) {
	var reads atomic.Int64
	var fail atomic.Bool
	storage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reads.Add(1)
		if fail.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv.m3u8\n")
	}))
	defer storage.Close()
	st := &Steering{Storage: storage.URL, StoragePlaylist: "index.m3u8", StoragePathway: "cdn"}
	var v storageVariants
	path := mustPath(t, "live/cam1")
	ctx := context.Background()
	nolog := func(string, ...any) {}
	require.NotNil(t, v.variants(ctx, storage.Client(), st, path, nolog))
	require.EqualValues(t, 1, reads.Load())

	// older than storageRefresh: served what was read, read again meanwhile
	fail.Store(true)
	age := func(d time.Duration) {
		v.mu.Lock()
		for _, e := range v.streams {
			e.fetched = e.fetched.Add(-d)
		}
		v.mu.Unlock()
	}
	age(storageRefresh)
	require.NotNil(t, v.variants(ctx, storage.Client(), st, path, nolog), "served what was read while reading again")
	require.Eventually(t, func() bool { return v.variants(ctx, storage.Client(), st, path, nolog) == nil }, 5*time.Second, 10*time.Millisecond,
		"a failed read leaves no storage pathway")
	n := reads.Load()
	require.EqualValues(t, 2, n)
	require.Nil(t, v.variants(ctx, storage.Client(), st, path, nolog))
	require.Equal(t, n, reads.Load(), "a failure is not tried again at once")

	fail.Store(false)
	age(storageRetry)
	v.variants(ctx, storage.Client(), st, path, nolog)
	require.Eventually(t, func() bool { return v.variants(ctx, storage.Client(), st, path, nolog) != nil }, 5*time.Second, 10*time.Millisecond,
		"tried again after storageRetry")
}
