package node_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2"
	"github.com/bluenviron/gohlslib/v2/pkg/codecs"
	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/app/node"
	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/testutil"
)

// upstream returns the edge's count of requests to its parent with the given kind and result.
func upstream(t *testing.T, n *node.Node, kind, result string) int {
	t.Helper()
	_, m := testutil.Get(t, "http://"+n.HTTPAddr()+"/metrics")
	re := regexp.MustCompile(`nagare_upstream_requests_total\{kind="` + kind + `",result="` + result + `"\} (\d+)`)
	if sm := re.FindSubmatch(m); sm != nil {
		v, _ := strconv.Atoi(string(sm[1]))
		return v
	}
	return 0
}

// viewer fetches what a player fetches through base: the multivariant playlist, the first rendition's
// playlist, its init file and its two newest segments. It returns the media objects it got.
func viewer(t *testing.T, base, path string) map[string][]byte {
	t.Helper()
	index := base + "/" + path + "/index.m3u8"
	code, body := testutil.Get(t, index)
	require.Equal(t, http.StatusOK, code)
	pl := testutil.Resolve(t, index, testutil.Renditions(body)[0])
	// a young stream's first playlist may list a single segment: reload until it lists two
	var mp testutil.MediaPlaylist
	require.Eventually(t, func() bool {
		code, plBody := testutil.Get(t, pl)
		require.Equal(t, http.StatusOK, code)
		mp = testutil.ParseMediaPlaylist(plBody)
		return len(mp.Segments) >= 2
	}, 10*time.Second, 100*time.Millisecond, "no second segment listed")
	objects := map[string][]byte{}
	for _, o := range append([]string{mp.Init}, mp.Segments[len(mp.Segments)-2:]...) {
		u := testutil.Resolve(t, pl, o)
		code, b := testutil.Get(t, u)
		require.Equal(t, http.StatusOK, code, u)
		name := u[strings.LastIndex(u, "/")+1:]
		name, _, _ = strings.Cut(name, "?")
		objects[name] = b
	}
	return objects
}

// TestEdgeCoalescesRequests: however many viewers ask for an object at once, the edge fetches it from
// the origin once, and serves exactly the origin's bytes.
func TestEdgeCoalescesRequests(t *testing.T) {
	t.Parallel()
	origin, _ := testutil.StartNode(t, nil)
	edge, _ := testutil.StartNode(t, testutil.EdgeOf("edge", origin))
	testutil.Publish(t, rtmpURL(origin, "live/fan"), "flv")
	testutil.ReadSegments(t, "http://"+origin.HTTPAddr()+"/live/fan/video1_stream.m3u8", 3, 20*time.Second)

	const viewers = 24
	var mu sync.Mutex
	fetched := map[string][]byte{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < viewers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for name, b := range viewer(t, "http://"+edge.HTTPAddr(), "live/fan") {
				mu.Lock()
				if prev, ok := fetched[name]; ok {
					require.True(t, bytes.Equal(prev, b), "two viewers got different bytes for %s", name)
				}
				fetched[name] = b
				mu.Unlock()
			}
		}()
	}
	close(start)
	wg.Wait()
	require.Equal(t, len(fetched), upstream(t, edge, "media", "200"),
		"%d viewers fetched %d distinct objects: the edge must have asked the origin once for each", viewers, len(fetched))
	require.Equal(t, 1, upstream(t, edge, "multivariant", "200"))

	// the bytes are the origin's
	for name, b := range fetched {
		code, ob := testutil.Get(t, "http://"+origin.HTTPAddr()+"/live/fan/"+name)
		require.Equal(t, http.StatusOK, code)
		require.True(t, bytes.Equal(ob, b), "%s differs between origin and edge", name)
	}

	// the edge counts its viewers: every viewer fetched a media playlist with its own session
	_, body := testutil.Get(t, "http://"+edge.HTTPAddr()+"/api/v1/stats")
	require.Contains(t, string(body), fmt.Sprintf(`"subscribers": %d`, viewers))
}

// TestRelayTierWithTwoEdges: origin → relay → two edges; a real LL-HLS client plays through an edge, and
// both edges serve the origin's bytes.
func TestRelayTierWithTwoEdges(t *testing.T) {
	t.Parallel()
	origin, _ := testutil.StartNode(t, nil)
	relay, _ := testutil.StartNode(t, testutil.EdgeOf("relay", origin))
	edge1, _ := testutil.StartNode(t, testutil.EdgeOf("edge", relay))
	edge2, _ := testutil.StartNode(t, testutil.EdgeOf("edge", relay))
	testutil.Publish(t, rtmpURL(origin, "live/tier"), "flv")
	testutil.ReadSegments(t, "http://"+origin.HTTPAddr()+"/live/tier/video1_stream.m3u8", 3, 20*time.Second)

	frames := make(chan int64, 1000)
	c := &gohlslib.Client{
		URI:                       "http://" + edge1.HTTPAddr() + "/live/tier/index.m3u8",
		OnDownloadPrimaryPlaylist: func(string) {},
		OnDownloadStreamPlaylist:  func(string) {},
		OnDownloadSegment:         func(string) {},
		OnDownloadPart:            func(string) {},
	}
	c.OnTracks = func(tracks []*gohlslib.Track) error {
		for _, tr := range tracks {
			if _, ok := tr.Codec.(*codecs.H264); ok {
				c.OnDataH26x(tr, func(pts, _ int64, _ [][]byte) {
					select {
					case frames <- pts:
					default:
					}
				})
			}
		}
		return nil
	}
	require.NoError(t, c.Start())
	defer c.Close()
	for i := 0; i < 2*testutil.ClipFPS; i++ {
		select {
		case <-frames:
		case <-time.After(15 * time.Second):
			t.Fatalf("LL-HLS client through origin → relay → edge got %d frames", i)
		}
	}

	a := viewer(t, "http://"+edge1.HTTPAddr(), "live/tier")
	b := viewer(t, "http://"+edge2.HTTPAddr(), "live/tier")
	common := 0
	for name, ab := range a {
		if bb, ok := b[name]; ok {
			common++
			require.True(t, bytes.Equal(ab, bb), "%s differs between the two edges", name)
			_, ob := testutil.Get(t, "http://"+origin.HTTPAddr()+"/live/tier/"+name)
			require.True(t, bytes.Equal(ab, ob), "%s differs between edge and origin", name)
		}
	}
	require.Positive(t, common)
	// the relay pulled each object once for both edges
	require.LessOrEqual(t, upstream(t, relay, "media", "200"), upstream(t, edge1, "media", "200")+upstream(t, edge2, "media", "200"))
}

// TestEdgeSurvivesOriginRestart: the origin dies and comes back on the same address; the edge's viewers
// see a stall (the last good playlist), never a broken playlist, and then the stream again.
func TestEdgeSurvivesOriginRestart(t *testing.T) {
	t.Parallel()
	origin, _, stop := testutil.StartStoppableNode(t, nil)
	edge, edgeLogs := testutil.StartNode(t, testutil.EdgeOf("edge", origin))
	pub := testutil.Publish(t, rtmpURL(origin, "live/phoenix"), "flv")
	pl := "http://" + edge.HTTPAddr() + "/live/phoenix/video1_stream.m3u8"
	testutil.ReadSegments(t, pl, 2, 20*time.Second)

	addrs := [3]string{origin.RTMPAddr(), origin.SRTAddr(), origin.HTTPAddr()}
	stop()
	pub.Kill()
	// during the outage the edge keeps answering with a sound playlist
	for i := 0; i < 5; i++ {
		code, body := testutil.Get(t, pl)
		require.Equal(t, http.StatusOK, code)
		require.True(t, bytes.HasPrefix(body, []byte("#EXTM3U")))
		time.Sleep(200 * time.Millisecond)
	}
	edgeLogs.WaitFor(t, "parent fetch failed", 10*time.Second)

	origin2, _ := testutil.StartNode(t, func(c *config.Config) {
		c.RTMP.Address, c.SRT.Address, c.HTTP.Address = addrs[0], addrs[1], addrs[2]
	})
	testutil.Publish(t, rtmpURL(origin2, "live/phoenix"), "flv")
	_, fresh := testutil.Get(t, "http://"+origin2.HTTPAddr()+"/live/phoenix/index.m3u8")
	require.NotEmpty(t, fresh)
	// the edge follows the new stream: its playlist names the new origin's segments
	require.Eventually(t, func() bool {
		_, ob := testutil.Get(t, "http://"+origin2.HTTPAddr()+"/live/phoenix/video1_stream.m3u8")
		_, eb := testutil.Get(t, pl)
		op, ep := testutil.ParseMediaPlaylist(ob), testutil.ParseMediaPlaylist(eb)
		return op.Init != "" && op.Init == ep.Init && len(ep.Segments) > 0
	}, 30*time.Second, 200*time.Millisecond)
}

// TestEdgeBadParent: a parent that answers garbage, errors, truncated bodies or nothing at all.
func TestEdgeBadParent(t *testing.T) {
	t.Parallel()
	var mode atomic.Value
	mode.Store("ok")
	var requests atomic.Int64
	parent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		switch mode.Load().(string) {
		case "garbage":
			_, _ = w.Write([]byte("<html>definitely not media</html>"))
		case "5xx":
			http.Error(w, "boom", http.StatusInternalServerError)
		case "truncated":
			w.Header().Set("Content-Length", "100000")
			_, _ = w.Write(bytes.Repeat([]byte{0x47}, 1000))
		case "hang":
			<-r.Context().Done()
		default:
			w.Header().Set("Content-Type", "video/mp4")
			_, _ = w.Write(append([]byte{0, 0, 0, 8, 's', 't', 'y', 'p'}, make([]byte, 100)...))
		}
	}))
	defer parent.Close()
	edge, logs := testutil.StartNode(t, func(c *config.Config) {
		c.Node.Role = "edge"
		c.Node.Parent = parent.URL
	})
	base := "http://" + edge.HTTPAddr()

	for i, tc := range []struct {
		mode string
		want int
		log  string
	}{
		{"garbage", http.StatusBadGateway, "parent sent a corrupt object"},
		{"5xx", http.StatusBadGateway, "parent answered an error"},
		{"truncated", http.StatusBadGateway, "parent fetch failed"},
		{"ok", http.StatusOK, ""},
	} {
		mode.Store(tc.mode)
		obj := fmt.Sprintf("%s/live/s/obj%d_seg1.mp4", base, i)
		code, _ := testutil.Get(t, obj)
		require.Equal(t, tc.want, code, tc.mode)
		if tc.log != "" {
			logs.WaitFor(t, tc.log, 5*time.Second)
		}
	}

	// a failure is remembered for a moment only: once the parent is sound, the object is served
	mode.Store("5xx")
	code, _ := testutil.Get(t, base+"/live/s/later_seg1.mp4")
	require.Equal(t, http.StatusBadGateway, code)
	mode.Store("ok")
	require.Eventually(t, func() bool {
		code, _ := testutil.Get(t, base+"/live/s/later_seg1.mp4")
		return code == http.StatusOK
	}, 3*time.Second, 100*time.Millisecond)

	// hostile paths never reach the parent
	before := requests.Load()
	for _, p := range []string{"/live/..%2f..%2fetc/passwd", "/live/a%00b/index.m3u8", "/live/x/../../y.mp4", "/live/" + strings.Repeat("a", 5000) + "/index.m3u8"} {
		code, _ := testutil.Get(t, base+p)
		require.Contains(t, []int{http.StatusBadRequest, http.StatusNotFound}, code, p)
	}
	require.Equal(t, before, requests.Load(), "a hostile path reached the parent")

	// a hanging parent: the viewer gets an answer within the edge's timeouts, not a hang
	mode.Store("hang")
	start := time.Now()
	code, _ = testutil.Get(t, base+"/live/s/hang_seg1.mp4")
	require.Equal(t, http.StatusBadGateway, code)
	require.Less(t, time.Since(start), 12*time.Second)
}

// TestEdgeSlowReaders: viewers that stop reading do not hold up the others at the edge.
func TestEdgeSlowReaders(t *testing.T) {
	t.Parallel()
	origin, _ := testutil.StartNode(t, nil)
	edge, _ := testutil.StartNode(t, testutil.EdgeOf("edge", origin))
	testutil.Publish(t, rtmpURL(origin, "live/slowedge"), "flv")
	pl := "http://" + edge.HTTPAddr() + "/live/slowedge/video1_stream.m3u8"
	testutil.ReadSegments(t, pl, 2, 20*time.Second)
	_, body := testutil.Get(t, pl)
	mp := testutil.ParseMediaPlaylist(body)
	floodSlowReaders(t, edge.HTTPAddr(), "/live/slowedge/"+mp.Segments[len(mp.Segments)-1])
	start := time.Now()
	testutil.ReadSegments(t, pl, 3, 20*time.Second)
	require.Less(t, time.Since(start), 5*time.Second)
}
