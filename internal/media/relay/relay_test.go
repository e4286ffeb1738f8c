package relay

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/media/memfile"
	"github.com/nagare-video/nagare/internal/media/stream"
)

const llPlaylist = `#EXTM3U
#EXT-X-VERSION:10
#EXT-X-TARGETDURATION:1
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.50000,CAN-SKIP-UNTIL=6.00000
#EXT-X-PART-INF:PART-TARGET=0.20000
#EXT-X-MEDIA-SEQUENCE:6
#EXT-X-MAP:URI="p_video1_init.mp4"
#EXT-X-GAP
#EXTINF:1.00000,
gap.mp4
#EXT-X-PART:DURATION=0.20000,URI="p_video1_part0.mp4",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.20000,URI="p_video1_part1.mp4"
#EXTINF:1.00000,
p_video1_seg7.mp4
#EXT-X-PART:DURATION=0.20000,URI="p_video1_part5.mp4",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.20000,URI="p_video1_part6.mp4"
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="p_video1_part7.mp4"
`

func TestParseMediaPlaylist(t *testing.T) {
	st, ok := parseMediaPlaylist([]byte(llPlaylist))
	require.True(t, ok)
	require.Equal(t, playlistState{next: 8, parts: 2, prevParts: 2, blocking: true, target: time.Second, partTarget: 200 * time.Millisecond}, st)
	require.True(t, st.has(7, 0))
	require.True(t, st.has(7, 99), "a part past a complete segment's end means the next segment's part 0")
	require.True(t, st.has(8, 1))
	require.False(t, st.has(8, 2))
	require.False(t, st.has(9, 0))

	early := st
	early.parts = 0
	require.False(t, early.has(7, 2), "= segment 8 part 0, which is not listed yet")
	require.True(t, early.has(7, 1))

	classic := "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:10\n#EXTINF:2,\na.ts\n#EXTINF:2,\nb.ts\n"
	st, ok = parseMediaPlaylist([]byte(classic))
	require.True(t, ok)
	require.Equal(t, playlistState{next: 12, target: 2 * time.Second}, st)

	for _, bad := range []string{"", "<html>", "#EXTM3U\n#EXTINF:1,\na.ts\n"} {
		_, ok := parseMediaPlaylist([]byte(bad))
		require.False(t, ok, "%q", bad)
	}
}

func TestAddSession(t *testing.T) {
	in := "#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",URI=\"audio2_stream.m3u8\"\n\n#EXT-X-STREAM-INF:BANDWIDTH=1\nvideo1_stream.m3u8\nother.m3u8?x=1\n"
	out := string(addSession([]byte(in), "nsid", "abc"))
	require.Contains(t, out, `URI="audio2_stream.m3u8?nsid=abc"`)
	require.Contains(t, out, "\nvideo1_stream.m3u8?nsid=abc\n")
	require.Contains(t, out, "\nother.m3u8?x=1&nsid=abc\n")
	require.Contains(t, out, "#EXT-X-STREAM-INF:BANDWIDTH=1\n")
}

func TestPlausibleMedia(t *testing.T) {
	require.True(t, plausibleMedia(append([]byte{0, 0, 0, 8}, "styp...."...)))
	require.True(t, plausibleMedia(append([]byte{0, 0, 0, 8}, "moof...."...)))
	require.True(t, plausibleMedia(append([]byte{0x47}, make([]byte, 200)...)))
	require.False(t, plausibleMedia([]byte("<html>not media</html>")))
	require.False(t, plausibleMedia(nil))
}

// fakeParent is an LL-HLS parent whose playlist advances one part each time next is called.
type fakeParent struct {
	mu       sync.Mutex
	cond     *sync.Cond
	next     int64 // segment in progress
	parts    int64
	blocking atomic.Int64
	plain    atomic.Int64
	inflight atomic.Int64 // requests being answered
}

func newFakeParent() *fakeParent {
	f := &fakeParent{next: 8}
	f.cond = sync.NewCond(&f.mu)
	return f
}

func (f *fakeParent) advance() {
	f.mu.Lock()
	f.parts++
	if f.parts == 5 {
		f.next, f.parts = f.next+1, 0
	}
	f.mu.Unlock()
	f.cond.Broadcast()
}

func (f *fakeParent) playlist() string {
	var b strings.Builder
	b.WriteString("#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES\n")
	fmt.Fprintf(&b, "#EXT-X-MEDIA-SEQUENCE:%d\n#EXTINF:1.0,\nseg%d.mp4\n", f.next-1, f.next-1)
	for i := int64(0); i < f.parts; i++ {
		fmt.Fprintf(&b, "#EXT-X-PART:DURATION=0.2,URI=\"part%d_%d.mp4\"\n", f.next, i)
	}
	return b.String()
}

func (f *fakeParent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.inflight.Add(1)
	defer f.inflight.Add(-1)
	q := r.URL.Query()
	f.mu.Lock()
	if m := q.Get("_HLS_msn"); m != "" {
		f.blocking.Add(1)
		var msn, part int64
		fmt.Sscan(m, &msn)
		fmt.Sscan(q.Get("_HLS_part"), &part)
		stop := context.AfterFunc(r.Context(), func() {
			f.mu.Lock()
			f.cond.Broadcast()
			f.mu.Unlock()
		})
		defer stop()
		for !(msn < f.next || (msn == f.next && part < f.parts)) {
			if r.Context().Err() != nil {
				f.mu.Unlock()
				return
			}
			f.cond.Wait()
		}
	} else {
		f.plain.Add(1)
	}
	body := f.playlist()
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
	_, _ = w.Write([]byte(body))
}

// TestBlockingRequestsShareOneUpstream: many viewers blocked on the next part cost one upstream blocking
// request per part, and all of them are answered when it arrives.
func TestBlockingRequestsShareOneUpstream(t *testing.T) {
	parent := newFakeParent()
	srv := httptest.NewServer(parent)
	defer srv.Close()
	s := &Server{Parent: func(context.Context) string { return srv.URL }, Client: srv.Client(), Log: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = s.Run(ctx) }()
	var atEdge atomic.Int64 // viewer requests the edge is answering
	edge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		atEdge.Add(1)
		defer atEdge.Add(-1)
		s.ServeHTTP(w, r)
	}))
	defer edge.Close()

	get := func(q string) (int, string) {
		resp, err := http.Get(edge.URL + "/live/s/v_stream.m3u8" + q)
		require.NoError(t, err)
		defer resp.Body.Close()
		var b strings.Builder
		_, _ = fmt.Fprint(&b, readAll(t, resp))
		return resp.StatusCode, b.String()
	}
	code, body := get("")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "#EXT-X-MEDIA-SEQUENCE:7")

	for round := 0; round < 3; round++ {
		const viewers = 20
		var wg sync.WaitGroup
		answers := make(chan string, viewers)
		for i := 0; i < viewers; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, b := get(fmt.Sprintf("?_HLS_msn=8&_HLS_part=%d", round))
				answers <- b
			}()
		}
		require.Eventually(t, func() bool { return atEdge.Load() == viewers }, 5*time.Second, 5*time.Millisecond,
			"the viewers never all waited at the edge")
		parent.advance()
		wg.Wait()
		close(answers)
		for b := range answers {
			require.Contains(t, b, fmt.Sprintf("part8_%d.mp4", round), "a viewer got a playlist without the part it waited for")
		}
	}
	// one upstream blocking request per part the parent published (+ the one waiting now)
	require.LessOrEqual(t, parent.blocking.Load(), int64(4))
	require.Equal(t, int64(1), parent.plain.Load())

	code, _ = get("?_HLS_msn=99")
	require.Equal(t, http.StatusBadRequest, code, "a request far past the live edge")
	code, _ = get("?_HLS_part=1")
	require.Equal(t, http.StatusBadRequest, code)
}

// TestIdleStreamStopsPulling: with no viewers, the edge stops asking its parent.
func TestIdleStreamStopsPulling(t *testing.T) {
	parent := newFakeParent()
	srv := httptest.NewServer(parent)
	defer srv.Close()
	s := &Server{Parent: func(context.Context) string { return srv.URL }, Client: srv.Client(), Log: slog.New(slog.DiscardHandler),
		IdleTimeout: 300 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = s.Run(ctx) }()
	edge := httptest.NewServer(s)
	defer edge.Close()

	resp, err := http.Get(edge.URL + "/live/s/v_stream.m3u8")
	require.NoError(t, err)
	resp.Body.Close()
	require.Len(t, s.Streams(), 1)
	// the parent keeps publishing parts; the edge follows them while the stream is in use
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				parent.advance()
			}
		}
	}()
	defer close(stop)
	require.Eventually(t, func() bool { return len(s.Streams()) == 0 }, 5*time.Second, 50*time.Millisecond)
	// no loop left means nothing of the edge can ask the parent any more; none of its requests is pending
	require.Eventually(t, func() bool { return s.looping.Load() == 0 && parent.inflight.Load() == 0 },
		5*time.Second, 20*time.Millisecond, "the edge still pulls a stream nobody watches")
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}

// notFoundParent answers 404 for every stream but live/real, and counts the requests per stream.
type notFoundParent struct {
	mu       sync.Mutex
	requests map[string]int
}

func (f *notFoundParent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 3)
	name := parts[0] + "/" + parts[1]
	f.mu.Lock()
	if f.requests == nil {
		f.requests = map[string]int{}
	}
	f.requests[name]++
	f.mu.Unlock()
	if name == "live/real" && parts[2] == "index.m3u8" {
		_, _ = w.Write([]byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv_stream.m3u8\n"))
		return
	}
	http.NotFound(w, r)
}

func (f *notFoundParent) count(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests[name]
}

func (f *notFoundParent) total() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.requests {
		n += c
	}
	return n
}

// startEdge runs s in front of nothing but its parent; the test's end stops it and checks that Run
// returned with no loop left.
func startEdge(t *testing.T, s *Server) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	edge := httptest.NewServer(s)
	t.Cleanup(func() {
		edge.Close()
		cancel()
		require.NoError(t, <-done)
		require.Zero(t, s.looping.Load())
	})
	return edge.URL
}

func status(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func (s *Server) pullCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.streams)
}

// TestNotFoundEndsPull: a 404 from the parent for a stream's multivariant playlist ends the pull at once
// and is remembered for NotFoundTTL, so that made-up names cost one upstream request each whatever is
// asked of them, and nothing is left behind; a made-up object of a real stream ends nothing.
func TestNotFoundEndsPull(t *testing.T) {
	parent := &notFoundParent{}
	srv := httptest.NewServer(parent)
	defer srv.Close()
	s := &Server{Parent: func(context.Context) string { return srv.URL }, Client: srv.Client(), Log: slog.New(slog.DiscardHandler),
		NotFoundTTL: time.Hour}
	edge := startEdge(t, s)

	for _, tc := range []struct {
		name, file string
		upstream   int // the object itself, then the multivariant playlist that decides
	}{
		{"index", "index.m3u8", 1},
		{"playlist", "video1_stream.m3u8", 2},
		{"blocking", "video1_stream.m3u8?_HLS_msn=3&_HLS_part=0", 2},
		{"segment", "seg7.mp4", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "live/made_up_" + tc.name
			for i := 0; i < 20; i++ {
				require.Equal(t, http.StatusNotFound, status(t, edge+"/"+name+"/"+tc.file))
				require.Zero(t, s.pullCount(), "a pull of a stream the parent does not have remains")
			}
			require.Equal(t, tc.upstream, parent.count(name), "requests to the parent for %s", name)
			// other files of the same stream are answered from memory too
			require.Equal(t, http.StatusNotFound, status(t, edge+"/"+name+"/other.mp4"))
			require.Equal(t, tc.upstream, parent.count(name))
		})
	}

	// a made-up object and a made-up playlist of a stream the parent has end nothing
	require.Equal(t, http.StatusNotFound, status(t, edge+"/live/real/nope_seg1.mp4"))
	require.Equal(t, http.StatusNotFound, status(t, edge+"/live/real/nope.m3u8"))
	require.Equal(t, http.StatusOK, status(t, edge+"/live/real/index.m3u8"))
	require.Equal(t, 1, s.pullCount())
	require.Equal(t, []stream.Path{mustPath(t, "live/real")}, s.Streams())

	// a burst of 2,500 made-up names: one upstream request each, no pull, no loop, none listed
	before := parent.total()
	const names, workers = 2500, 50
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for w := 0; w < workers; w++ {
		wg.Go(func() {
			for i := next.Add(1); i <= names; i = next.Add(1) {
				for _, file := range []string{"index.m3u8", "index.m3u8", "video1_stream.m3u8"} {
					if code := status(t, fmt.Sprintf("%s/live/flood_%d/%s", edge, i, file)); code != http.StatusNotFound {
						t.Errorf("flood_%d/%s: %d", i, file, code)
					}
				}
			}
		})
	}
	wg.Wait()
	require.Equal(t, names, parent.total()-before, "one upstream request per name")
	require.Equal(t, 1, s.pullCount(), "only the real stream is pulled")
	require.Len(t, s.Streams(), 1)
	require.Zero(t, s.looping.Load())
	s.mu.Lock()
	require.LessOrEqual(t, s.missing.len(), maxMissing)
	s.mu.Unlock()
}

// TestNotFoundIsRememberedBriefly: once NotFoundTTL has passed, the edge asks the parent again, so a
// stream that starts after a viewer asked for it becomes reachable.
func TestNotFoundIsRememberedBriefly(t *testing.T) {
	var exists atomic.Bool
	var requests atomic.Int64
	parent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if !exists.Load() {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv_stream.m3u8\n"))
	}))
	defer parent.Close()
	s := &Server{Parent: func(context.Context) string { return parent.URL }, Client: parent.Client(), Log: slog.New(slog.DiscardHandler),
		NotFoundTTL: 200 * time.Millisecond}
	edge := startEdge(t, s)

	require.Equal(t, http.StatusNotFound, status(t, edge+"/live/late/index.m3u8"))
	require.Equal(t, int64(1), requests.Load())
	exists.Store(true)
	require.Eventually(t, func() bool { return status(t, edge+"/live/late/index.m3u8") == http.StatusOK },
		5*time.Second, 20*time.Millisecond)
	require.Equal(t, int64(2), requests.Load(), "the 404 was not remembered until it expired")
}

func TestMissingSetIsBounded(t *testing.T) {
	var m missingSet
	now := time.Now()
	paths := make([]stream.Path, maxMissing+100)
	for i := range paths {
		paths[i] = mustPath(t, fmt.Sprintf("live/s%d", i))
		m.add(paths[i], now, time.Second)
	}
	require.Equal(t, maxMissing, m.len())
	require.Len(t, m.order, maxMissing)
	require.False(t, m.has(paths[0], now), "the oldest is forgotten first")
	require.True(t, m.has(paths[len(paths)-1], now))
	require.False(t, m.has(paths[len(paths)-1], now.Add(time.Second)), "expired")

	// re-adding an expired name keeps one entry for it
	later := now.Add(2 * time.Second)
	m.add(paths[0], later, time.Second)
	require.Equal(t, 1, m.len())
	require.True(t, m.has(paths[0], later))
	m.expire(later.Add(time.Second))
	require.Zero(t, m.len())
	require.Empty(t, m.order)
}

// TestRunWaitsForLoops: Run returns only once every rendition loop has exited, whatever they were doing
// (here: blocked on upstream blocking requests), and the edge answers 503 afterwards.
func TestRunWaitsForLoops(t *testing.T) {
	parent := newFakeParent()
	srv := httptest.NewServer(parent)
	defer srv.Close()
	s := &Server{Parent: func(context.Context) string { return srv.URL }, Client: srv.Client(), Log: slog.New(slog.DiscardHandler)}
	edge := httptest.NewServer(s)
	defer edge.Close()

	// a loop may start before Run does: it is waited for all the same
	require.Equal(t, http.StatusOK, status(t, edge.URL+"/live/early/v_stream.m3u8"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	const streams = 5
	for i := 0; i < streams; i++ {
		for _, r := range []string{"v1", "v2"} {
			require.Equal(t, http.StatusOK, status(t, fmt.Sprintf("%s/live/s%d/%s_stream.m3u8", edge.URL, i, r)))
		}
	}
	require.Equal(t, int64(2*streams+1), s.looping.Load())
	// every loop waits on the parent with a blocking request
	require.Eventually(t, func() bool { return parent.inflight.Load() == 2*streams+1 }, 5*time.Second, 5*time.Millisecond)
	// and a viewer waits at the edge for a part that will not come
	waiting := make(chan int, 1)
	go func() { waiting <- status(t, edge.URL+"/live/s0/v1_stream.m3u8?_HLS_msn=8&_HLS_part=3") }()
	require.Eventually(t, func() bool { return s.held.Load() == 1 }, 5*time.Second, time.Millisecond)

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
	require.Zero(t, s.looping.Load(), "Run returned before its loops")
	// the waiting viewer gets the latest playlist (its next request finds the node stopping)
	require.Equal(t, http.StatusOK, <-waiting)
	require.Equal(t, http.StatusServiceUnavailable, status(t, edge.URL+"/live/s0/v1_stream.m3u8"))
	require.Zero(t, s.pullCount())
	require.Eventually(t, func() bool { return parent.inflight.Load() == 0 }, 5*time.Second, 5*time.Millisecond,
		"an upstream request of a stopped edge is still open")
}

func mustPath(t *testing.T, s string) stream.Path {
	t.Helper()
	p, err := stream.ParsePath(s)
	require.NoError(t, err)
	return p
}

// TestDrainingEndsQuietSessionsSooner: while the edge drains, a viewer that has stopped asking (steered to
// another edge) stops counting after a third of SessionTimeout (3 s at least), so the manager can let the edge go.
func TestDrainingEndsQuietSessionsSooner(t *testing.T) {
	s := &Server{SessionTimeout: 9 * time.Second}
	p := stream.Path{App: "live", Name: "s"}
	s.sessions.Touch(s.sessions.NewID(), p)
	require.Equal(t, 1, s.Viewers(&p))
	time.Sleep(3100 * time.Millisecond)
	require.Equal(t, 1, s.Viewers(&p), "not draining: the session counts for SessionTimeout")
	s.SetDraining(true)
	require.Equal(t, 0, s.Viewers(&p), "draining: a session quiet for 3 s has left")
}

// TestMediaFromMemoryFiles: a cached segment is kept in a memory file and served from it, whole and in
// byte ranges, with the bytes the parent sent; leaving the cache frees it.
func TestMediaFromMemoryFiles(t *testing.T) {
	if !memfile.Supported() {
		t.Skip("no memory files on this system")
	}
	seg := make([]byte, 200<<10)
	for i := range seg {
		seg[i] = byte(i * 7)
	}
	copy(seg, "\x00\x00\x00\x18moof")
	var fetched atomic.Int64
	parent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/live/s/index.m3u8":
			_, _ = io.WriteString(w, "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv.m3u8\n")
		case "/live/s/seg1.mp4":
			fetched.Add(1)
			w.Header().Set("Content-Type", "video/mp4")
			_, _ = w.Write(seg)
		default:
			http.NotFound(w, r)
		}
	}))
	defer parent.Close()
	s := &Server{Parent: func(context.Context) string { return parent.URL }, Client: parent.Client(), Log: slog.New(slog.DiscardHandler),
		ObjectTTL: 200 * time.Millisecond}
	edge := startEdge(t, s)

	for range 3 {
		resp, err := http.Get(edge + "/live/s/seg1.mp4")
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, "video/mp4", resp.Header.Get("Content-Type"))
		require.Equal(t, seg, body)
	}
	require.EqualValues(t, 1, fetched.Load(), "one upstream request per object")

	req, err := http.NewRequest(http.MethodGet, edge+"/live/s/seg1.mp4", nil)
	require.NoError(t, err)
	req.Header.Set("Range", "bytes=1000-1999")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusPartialContent, resp.StatusCode)
	require.Equal(t, seg[1000:2000], body)

	p, _ := s.pullFor(mustPath(t, "live/s"))
	require.NotNil(t, p)
	res := p.object("seg1.mp4")
	require.NotNil(t, res.mem, "kept in a memory file")
	require.Nil(t, res.body)
	time.Sleep(250 * time.Millisecond) // past its TTL
	p.cache.sweep(time.Now())
	_, err = res.mem.Open(0)
	require.ErrorIs(t, err, memfile.ErrReleased, "freed when it left the cache")
}

// TestStreamOfAnotherOrigin: with several origins and one parent, a stream the parent lacks is pulled
// from the node Locate names, and followed there when it moves; streams the parent has never ask.
func TestStreamOfAnotherOrigin(t *testing.T) {
	parent := &notFoundParent{} // has live/real only
	ps := httptest.NewServer(parent)
	defer ps.Close()
	b, c := newFakeParent(), newFakeParent()
	var bGone atomic.Bool
	bs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if bGone.Load() {
			http.NotFound(w, r)
			return
		}
		b.ServeHTTP(w, r)
	}))
	defer bs.Close()
	cs := httptest.NewServer(c)
	defer cs.Close()

	var mu sync.Mutex
	asked := map[string]int{}
	s := &Server{Parent: func(context.Context) string { return ps.URL }, Client: ps.Client(), Log: slog.New(slog.DiscardHandler),
		Locate: func(_ context.Context, p stream.Path) string {
			mu.Lock()
			defer mu.Unlock()
			asked[p.String()]++
			switch {
			case p.String() != "live/b":
				return ""
			case bGone.Load():
				return cs.URL + "/"
			}
			return bs.URL
		}}
	calls := func(name string) int {
		mu.Lock()
		defer mu.Unlock()
		return asked[name]
	}
	edge := startEdge(t, s)

	require.Equal(t, http.StatusOK, status(t, edge+"/live/b/index.m3u8"))
	require.Equal(t, http.StatusOK, status(t, edge+"/live/b/v_stream.m3u8"))
	require.Equal(t, 1, calls("live/b"))
	require.Equal(t, 1, parent.count("live/b"), "after the parent said no, the stream is pulled from where Locate said")
	require.Positive(t, b.plain.Load())

	require.Equal(t, http.StatusOK, status(t, edge+"/live/real/index.m3u8"))
	require.Zero(t, calls("live/real"), "a stream the parent has asks nobody")

	require.Equal(t, http.StatusNotFound, status(t, edge+"/live/nothing/index.m3u8"))
	require.Equal(t, 1, calls("live/nothing"))

	// the publisher moves to another origin: the edge finds it there
	bGone.Store(true)
	require.Eventually(t, func() bool {
		return status(t, edge+"/live/b/index.m3u8") == http.StatusOK && c.plain.Load()+c.blocking.Load() > 0
	}, 10*time.Second, 100*time.Millisecond)
	require.Equal(t, http.StatusOK, status(t, edge+"/live/b/v_stream.m3u8"))
}
