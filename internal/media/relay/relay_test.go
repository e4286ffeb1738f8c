package relay

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

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
	require.Equal(t, playlistState{next: 8, parts: 2, prevParts: 2, blocking: true, target: time.Second}, st)
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
	s := &Server{Parent: func() string { return srv.URL }, Client: srv.Client(), Log: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = s.Run(ctx) }()
	edge := httptest.NewServer(s)
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
		time.Sleep(200 * time.Millisecond) // all blocked at the edge
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
	s := &Server{Parent: func() string { return srv.URL }, Client: srv.Client(), Log: slog.New(slog.DiscardHandler),
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
	time.Sleep(200 * time.Millisecond)
	n := parent.blocking.Load()
	time.Sleep(500 * time.Millisecond)
	require.Equal(t, n, parent.blocking.Load(), "the edge still pulls a stream nobody watches")
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

// TestMadeUpPlaylistsCostNothing: requests for playlists the parent does not have get a 404 and leave
// no follower behind.
func TestMadeUpPlaylistsCostNothing(t *testing.T) {
	var requests atomic.Int64
	parent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		http.NotFound(w, r)
	}))
	defer parent.Close()
	s := &Server{Parent: func() string { return parent.URL }, Client: parent.Client(), Log: slog.New(slog.DiscardHandler)}
	edge := httptest.NewServer(s)
	defer edge.Close()
	for i := 0; i < 100; i++ {
		resp, err := http.Get(fmt.Sprintf("%s/live/s/made_up_%d.m3u8", edge.URL, i))
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusNotFound, resp.StatusCode)
	}
	p := s.pullFor(mustPath(t, "live/s"))
	require.Eventually(t, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return len(p.renditions) == 0
	}, 2*time.Second, 20*time.Millisecond, "followers of made-up playlists remain")
	require.LessOrEqual(t, requests.Load(), int64(100))
}

func mustPath(t *testing.T, s string) stream.Path {
	t.Helper()
	p, err := stream.ParsePath(s)
	require.NoError(t, err)
	return p
}
