package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/app/node"
	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/media/hlspush"
	"github.com/nagare-video/nagare/internal/media/pubauth"
	"github.com/nagare-video/nagare/internal/media/stream"
	"github.com/nagare-video/nagare/internal/media/webrtc/client"
	"github.com/nagare-video/nagare/internal/nodeapi"
	"github.com/nagare-video/nagare/internal/testutil"
	"github.com/nagare-video/nagare/internal/testutil/webrtctest"
)

func whipToken(path string) string {
	p, err := stream.ParsePath(path)
	if err != nil {
		panic(err)
	}
	return pubauth.Sign([]byte(testutil.TokenSecret), p, time.Now().Add(time.Hour))
}

// watch opens a WHEP viewer at endpoint, closed when the test ends.
func watch(t *testing.T, endpoint string) *client.Viewer {
	t.Helper()
	api, err := client.NewAPI()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	v, err := client.Watch(ctx, api, &http.Client{Timeout: 15 * time.Second}, endpoint)
	require.NoError(t, err, "WHEP %s", endpoint)
	t.Cleanup(func() { _ = v.Close(context.Background()) })
	return v
}

// plays waits until v has had a keyframe and enough video and audio packets.
func plays(t *testing.T, v *client.Viewer, name string, audio bool) {
	t.Helper()
	require.Eventually(t, func() bool {
		return v.Keyframes.Load() >= 1 && v.VideoPackets.Load() > 60 && (!audio || v.AudioPackets.Load() > 25)
	}, 20*time.Second, 50*time.Millisecond, "%s: keyframes %d, video packets %d, audio packets %d", name,
		v.Keyframes.Load(), v.VideoPackets.Load(), v.AudioPackets.Load())
	video, _ := v.Codecs.Load("video")
	assert.Equal(t, webrtc.MimeTypeH264, video, name)
	if audio {
		a, _ := v.Codecs.Load("audio")
		assert.Equal(t, webrtc.MimeTypeOpus, a, name)
	}
}

func stats(t *testing.T, n *node.Node) node.Stats {
	t.Helper()
	code, body := testutil.Get(t, "http://"+n.HTTPAddr()+"/api/v1/stats")
	require.Equal(t, http.StatusOK, code)
	var st node.Stats
	require.NoError(t, json.Unmarshal(body, &st))
	return st
}

// TestWHIPPublicationIsAnOrdinaryStream: a WHIP publisher (H.264 + Opus) makes a stream that plays as
// LL-HLS and over WHEP at the origin and through an edge, which takes it from the origin once however
// many viewers it has.
func TestWHIPPublicationIsAnOrdinaryStream(t *testing.T) {
	t.Parallel()
	origin, logs := testutil.StartNode(t, nil)
	edge, _ := testutil.StartNode(t, testutil.EdgeOf("edge", origin))
	const path = "live/whip1"
	base := "http://" + origin.HTTPAddr() + "/" + path
	pub, err := webrtctest.Publish(t, base+"/whip", whipToken(path))
	require.NoError(t, err)
	assert.Equal(t, origin.HTTPAddr(), pub.Node())
	assert.True(t, strings.HasPrefix(pub.Location, base+"/whip/"), pub.Location)
	logs.WaitFor(t, "publishing", 15*time.Second)

	// LL-HLS, read back by ffprobe: H.264, and the Opus turned into AAC (webrtc.hlsAudio)
	assert.ElementsMatch(t, []string{"h264", "aac"}, hlsCodecs(t, base))

	// WHEP at the origin, and two viewers at the edge
	plays(t, watch(t, base+"/whep"), "origin viewer", true)
	edgeBase := "http://" + edge.HTTPAddr() + "/" + path
	v1 := watch(t, edgeBase+"/whep")
	v2 := watch(t, edgeBase+"/whep")
	plays(t, v1, "edge viewer 1", true)
	plays(t, v2, "edge viewer 2", true)

	// the edge pulled once: the origin has its own viewer and the edge's one session
	st := stats(t, origin)
	require.Len(t, st.Streams, 1)
	assert.Equal(t, "webrtc", st.Streams[0].Protocol)
	assert.Equal(t, 2, st.Streams[0].Subscribers-hlsViewers(t, origin), "WHEP sessions at the origin: its viewer and the edge")
	assert.Equal(t, 2, stats(t, edge).Subscribers, "the edge's two WebRTC viewers are connections in its load")

	// the publisher leaves with DELETE: the stream ends and the viewers' sessions with it
	pub.Stop()
	require.Eventually(t, func() bool { return len(stats(t, origin).Streams) == 0 }, 10*time.Second, 50*time.Millisecond)
	require.Eventually(t, func() bool {
		return v1.PC.ConnectionState() == webrtc.PeerConnectionStateClosed ||
			v1.PC.ConnectionState() == webrtc.PeerConnectionStateFailed || time.Since(v1.LastPacket()) > 2*time.Second
	},
		20*time.Second, 100*time.Millisecond, "the edge viewer still receives after the stream ended")
}

// hlsCodecs waits for a stream's HLS and returns the codecs ffprobe finds in it.
func hlsCodecs(t *testing.T, base string) []string {
	t.Helper()
	testutil.WaitLive(t, base+"/index.m3u8", 15*time.Second)
	var codecs []string
	for _, s := range testutil.Probe(t, base+"/index.m3u8", false) {
		codecs = append(codecs, s.CodecName)
	}
	return codecs
}

// TestWHIPPushedToStorage: a WHIP publication goes to object storage like any stream, and plays from there.
func TestWHIPPushedToStorage(t *testing.T) {
	t.Parallel()
	var b bucket
	origin, _ := testutil.StartNode(t, func(cfg *config.Config) {
		pushConfig(cfg)
		b = localBucket(t, cfg)
	})
	const path = "live/whippush"
	_, err := webrtctest.Publish(t, "http://"+origin.HTTPAddr()+"/"+path+"/whip", whipToken(path))
	require.NoError(t, err)
	mv := b.baseURL + "/hls/" + path + "/" + hlspush.Multivariant
	testutil.WaitLive(t, mv, 20*time.Second)
	require.Eventually(t, func() bool {
		_, body := testutil.Get(t, b.baseURL+"/hls/"+path+"/"+hlspush.MediaPlaylist)
		return len(testutil.ParseMediaPlaylist(body).Segments) >= 2
	}, 20*time.Second, 100*time.Millisecond)
	var codecs []string
	for _, s := range testutil.Probe(t, mv, false) {
		codecs = append(codecs, s.CodecName)
	}
	assert.ElementsMatch(t, []string{"h264", "aac"}, codecs)
}

// TestKeyframesWithoutAStorm: viewers joining a WHIP stream at once each start at a keyframe, which the
// publisher is asked for at most every 500 ms (not once per viewer).
func TestKeyframesWithoutAStorm(t *testing.T) {
	t.Parallel()
	origin, logs := testutil.StartNode(t, nil)
	const path = "live/storm"
	base := "http://" + origin.HTTPAddr() + "/" + path
	pub, err := webrtctest.Publish(t, base+"/whip", whipToken(path))
	require.NoError(t, err)
	logs.WaitFor(t, "publishing", 15*time.Second)
	before := pub.PLIs.Load()
	start := time.Now()
	viewers := make([]*client.Viewer, 12)
	var wg sync.WaitGroup
	for i := range viewers {
		wg.Go(func() { viewers[i] = watch(t, base+"/whep") })
	}
	wg.Wait()
	for i, v := range viewers {
		require.Eventually(t, func() bool { return v.Keyframes.Load() > 0 }, 15*time.Second, 20*time.Millisecond,
			"viewer %d never got a keyframe", i)
	}
	asked := pub.PLIs.Load() - before
	bound := int64(time.Since(start)/(500*time.Millisecond)) + 2
	assert.Positive(t, asked, "nobody asked the publisher for a keyframe for the new viewers")
	assert.LessOrEqual(t, asked, bound, "%d keyframe requests for %d viewers in %s", asked, len(viewers), time.Since(start))
}

// TestWHIPOpusInHLS: with webrtc.hlsAudio opus, a WHIP publication's HLS carries its Opus as published.
func TestWHIPOpusInHLS(t *testing.T) {
	t.Parallel()
	origin, _ := testutil.StartNode(t, func(c *config.Config) { c.WebRTC.HLSAudio = "opus" })
	const path = "live/whipopus"
	base := "http://" + origin.HTTPAddr() + "/" + path
	_, err := webrtctest.Publish(t, base+"/whip", whipToken(path))
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"h264", "opus"}, hlsCodecs(t, base))
}

// TestWHIPLadderHasAACAudio: a transcoded WHIP publication (H.264 + Opus) has one audio rendition for its
// ladder, and it is the AAC made from the Opus (webrtc.hlsAudio's default), so that players without Opus
// (Safari before 17, many TVs) play every rendition with sound.
func TestWHIPLadderHasAACAudio(t *testing.T) {
	t.Parallel()
	origin, _ := testutil.StartNode(t, func(c *config.Config) {
		c.Transcode.Enabled = true
		c.Transcode.Rungs = []config.Rung{{Name: "120p", Height: 120, VideoBitrate: 100_000}}
	})
	const path = "live/whipladder"
	base := "http://" + origin.HTTPAddr() + "/" + path
	_, err := webrtctest.Publish(t, base+"/whip", whipToken(path))
	require.NoError(t, err)
	var multivariant string
	require.Eventually(t, func() bool {
		_, body := testutil.Get(t, base+"/index.m3u8")
		multivariant = string(body)
		return strings.Count(multivariant, "#EXT-X-STREAM-INF") == 2
	}, 30*time.Second, 200*time.Millisecond, "the ladder never appeared:\n%s", multivariant)
	assert.Contains(t, multivariant, `#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio"`)
	for line := range strings.Lines(multivariant) {
		if strings.HasPrefix(line, "#EXT-X-STREAM-INF") {
			assert.Contains(t, line, `mp4a.40.2"`, "every variant plays the AAC audio rendition")
			assert.NotContains(t, line, "opus")
		}
	}
	audio := "http://" + origin.HTTPAddr() + "/live/whipladder_audio/audio1_stream.m3u8"
	var codecs []string
	for _, s := range testutil.Probe(t, audio, false) {
		codecs = append(codecs, s.CodecName)
	}
	assert.Equal(t, []string{"aac"}, codecs, "the audio rendition, read back by ffprobe")
}

// hlsViewers is the origin's HLS viewer count (ffprobe above made one).
func hlsViewers(t *testing.T, n *node.Node) int { return metric(t, n, "nagare_viewers") }

// metric reads a metric without labels from the node's /metrics.
func metric(t *testing.T, n *node.Node, name string) int {
	t.Helper()
	code, body := testutil.Get(t, "http://"+n.HTTPAddr()+"/metrics")
	require.Equal(t, http.StatusOK, code)
	for line := range strings.Lines(string(body)) {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			var f float64
			_, _ = fmt.Sscan(strings.TrimSpace(v), &f)
			return int(f)
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// TestRTMPPlaysOverWHEPWithSound: an RTMP publication (H.264 + AAC) plays over WHEP with its audio turned
// into Opus; a viewer asking for a keyframe does not break the others.
func TestRTMPPlaysOverWHEPWithSound(t *testing.T) {
	t.Parallel()
	origin, _ := testutil.StartNode(t, nil)
	const path = "live/rtmp2rtc"
	testutil.Publish(t, "rtmp://"+origin.RTMPAddr()+"/"+path+"?token="+whipToken(path), "flv")
	base := "http://" + origin.HTTPAddr() + "/" + path
	testutil.WaitLive(t, base+"/index.m3u8", 15*time.Second)
	v := watch(t, base+"/whep")
	plays(t, v, "RTMP viewer", true)
	// the viewer started at a keyframe: its first video packet was one
	assert.Positive(t, v.FirstKeyframe())
}

// TestWebRTCRefusals: each bad request gets its status and a JSON reason, and the node carries on.
func TestWebRTCRefusals(t *testing.T) {
	t.Parallel()
	origin, logs := testutil.StartNode(t, func(c *config.Config) {
		c.WebRTC.ConnectTimeout = time.Second
		c.WebRTC.OffersPerMinute = 0
	})
	edge, _ := testutil.StartNode(t, testutil.EdgeOf("edge", origin))
	const path = "live/refusals"
	base := "http://" + origin.HTTPAddr() + "/" + path
	pub, err := webrtctest.Publish(t, base+"/whip", whipToken(path))
	require.NoError(t, err)
	logs.WaitFor(t, "publishing", 15*time.Second)

	offer := browserOffer(t, true)
	vp8Only := strings.NewReplacer("H264", "VP9", "opus", "G722").Replace(offer)
	post := func(url, contentType, auth, body string) (int, string) {
		req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", contentType)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		return do(t, req)
	}
	other := "http://" + origin.HTTPAddr() + "/live/other"
	for _, tc := range []struct {
		name   string
		status int
		send   func() (int, string)
		reason string
	}{
		{"no token", 401, func() (int, string) { return post(other+"/whip", "application/sdp", "", offer) }, "no stream key or token"},
		{"wrong token", 403, func() (int, string) { return post(other+"/whip", "application/sdp", "Bearer v1.1.abc", offer) }, "invalid token"},
		{"wrong key", 403, func() (int, string) { return post(other+"/whip", "application/sdp", "Bearer nope", offer) }, ""},
		{"live name", 409, func() (int, string) {
			return post(base+"/whip", "application/sdp", "Bearer "+whipToken(path), offer)
		}, "already being published"},
		{"malformed SDP", 400, func() (int, string) {
			return post(other+"/whip", "application/sdp", "Bearer "+whipToken("live/other"), "v=0\r\nthis is not sdp")
		}, "malformed SDP"},
		{"no supported codec", 406, func() (int, string) {
			return post(other+"/whip", "application/sdp", "Bearer "+whipToken("live/other"), vp8Only)
		}, "nagare takes H264"},
		{"WHEP offer with no supported codec", 406, func() (int, string) { return post(base+"/whep", "application/sdp", "", vp8Only) },
			"nagare takes H264"},
		{"wrong content type", 415, func() (int, string) { return post(base+"/whep", "text/plain", "", offer) }, "application/sdp"},
		{"offer too large", 413, func() (int, string) {
			return post(base+"/whep", "application/sdp", "", strings.Repeat("a", 70<<10))
		}, "larger than"},
		{"hostile name", 400, func() (int, string) {
			return post("http://"+origin.HTTPAddr()+"/live/a%20b/whep", "application/sdp", "", offer)
		}, "invalid stream path"},
		{"WHEP of a stream not live", 404, func() (int, string) { return post(other+"/whep", "application/sdp", "", offer) }, "not live"},
		{"WHEP at the edge of a stream not live", 404, func() (int, string) {
			return post("http://"+edge.HTTPAddr()+"/live/nothing/whep", "application/sdp", "", offer)
		}, "not live"},
		{"WHIP at an edge", 404, func() (int, string) {
			return post("http://"+edge.HTTPAddr()+"/"+path+"/whip", "application/sdp", "", offer)
		}, "WHEP only"},
		{"PATCH of an unknown session", 404, func() (int, string) {
			req, _ := http.NewRequest(http.MethodPatch, base+"/whep/0123", strings.NewReader("a=end-of-candidates\r\n"))
			req.Header.Set("Content-Type", "application/trickle-ice-sdpfrag")
			return do(t, req)
		}, "unknown session"},
		{"DELETE of an unknown session", 404, func() (int, string) {
			req, _ := http.NewRequest(http.MethodDelete, base+"/whip/0123", nil)
			return do(t, req)
		}, "unknown session"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := tc.send()
			assert.Equal(t, tc.status, status, body)
			var e struct{ Error string }
			require.NoError(t, json.Unmarshal([]byte(body), &e), "not JSON: %s", body)
			assert.Contains(t, e.Error, tc.reason)
		})
	}

	// garbage on the UDP and TCP media port
	conn, err := net.Dial("udp", origin.WebRTCAddr())
	require.NoError(t, err)
	for i := range 200 {
		_, _ = conn.Write([]byte(strings.Repeat(string(rune('a'+i%26)), 1+i*7%1200)))
	}
	conn.Close()
	tcp, err := net.Dial("tcp", origin.WebRTCAddr())
	require.NoError(t, err)
	_, _ = tcp.Write([]byte("GET / HTTP/1.1\r\n\r\n\x00\x01\x02garbage"))
	tcp.Close()

	// a viewer whose ICE never connects is reaped after webrtc.connectTimeout, and counted
	// (pion's offer made without gathering has no candidate: ICE has nothing to reach)
	status, body := post(base+"/whep", "application/sdp", "", offer)
	require.Equal(t, http.StatusCreated, status, body)
	logs.WaitFor(t, "ICE did not connect within 1s", 10*time.Second)
	assert.Equal(t, 1, metric(t, origin, "nagare_webrtc_ice_timeouts_total"))
	assert.GreaterOrEqual(t, metric(t, origin, "nagare_webrtc_refused_total"), 10, "the origin's refusals above")

	// through all of it the stream kept playing, over WHEP, and PATCH with a candidate works
	v := watch(t, base+"/whep")
	plays(t, v, "viewer after the refusals", true)
	req, _ := http.NewRequest(http.MethodPatch, v.Location, strings.NewReader("a=candidate:1 1 udp 2130706431 127.0.0.1 9 typ host\r\na=end-of-candidates\r\n"))
	req.Header.Set("Content-Type", "application/trickle-ice-sdpfrag")
	status, body = do(t, req)
	assert.Equal(t, http.StatusNoContent, status, body)
	// a publisher that vanishes without DELETE: the session is reaped and the stream ends
	pub.Vanish()
	require.Eventually(t, func() bool { return len(stats(t, origin).Streams) == 0 }, 30*time.Second, 100*time.Millisecond,
		"the stream of a vanished WHIP publisher did not end")
}

// TestWebRTCOfferFlood: the offers one address may make in a minute are bounded; behind the manager's
// proxy mode, the address is the client's the manager names (signed with the cluster secret).
func TestWebRTCOfferFlood(t *testing.T) {
	t.Parallel()
	const secret = "flood-cluster-secret-0123456789"
	origin, _ := testutil.StartNode(t, func(c *config.Config) { c.WebRTC.OffersPerMinute, c.Cluster.Secret = 3, secret })
	offer := browserOffer(t, true)
	offers := func(n int, sign func(http.Header)) []int {
		var statuses []int
		for range n {
			req, _ := http.NewRequest(http.MethodPost, "http://"+origin.HTTPAddr()+"/live/none/whep", strings.NewReader(offer))
			req.Header.Set("Content-Type", "application/sdp")
			sign(req.Header)
			status, _ := do(t, req)
			statuses = append(statuses, status)
		}
		return statuses
	}
	none := func(http.Header) {}
	assert.Equal(t, []int{404, 404, 404, 429, 429}, offers(5, none))
	// the manager forwarding for two clients: each has its own bound
	for _, client := range []string{"203.0.113.1", "203.0.113.2"} {
		assert.Equal(t, []int{404, 404, 404, 429}, offers(4, func(h http.Header) { nodeapi.SignClient(h, secret, client) }), client)
	}
	// a name signed with another secret is not believed: the connection's address, already over its bound
	assert.Equal(t, []int{429}, offers(1, func(h http.Header) { nodeapi.SignClient(h, "forged-secret-0123456789", "203.0.113.3") }))
}

// TestPprofWithWebRTC: a node with the profiler on starts (its routes once overlapped WHIP's) and serves it.
func TestPprofWithWebRTC(t *testing.T) {
	t.Parallel()
	for _, role := range []string{"origin", "edge"} {
		mutate := func(c *config.Config) { c.Node.Pprof = true }
		if role == "edge" {
			mutate = func(c *config.Config) { c.Node.Pprof, c.Node.Role, c.Node.Parent = true, "edge", "http://127.0.0.1:1" }
		}
		n, _ := testutil.StartNode(t, mutate)
		code, _ := testutil.Get(t, "http://"+n.HTTPAddr()+"/debug/pprof/")
		assert.Equal(t, http.StatusOK, code, role)
	}
}

// TestWebRTCPreflight: a page on another origin may POST an offer with a bearer and read the Location.
func TestWebRTCPreflight(t *testing.T) {
	t.Parallel()
	origin, _ := testutil.StartNode(t, nil)
	req, _ := http.NewRequest(http.MethodOptions, "http://"+origin.HTTPAddr()+"/live/x/whip", nil)
	req.Header.Set("Origin", "https://example.com")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)
	assert.Equal(t, "*", resp.Header.Get("Access-Control-Allow-Origin"))
	assert.Contains(t, resp.Header.Get("Access-Control-Allow-Headers"), "Authorization")
	assert.Contains(t, resp.Header.Get("Access-Control-Expose-Headers"), "Location")
}

func do(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = io.Copy(&b, resp.Body)
	return resp.StatusCode, b.String()
}

// browserOffer is a recvonly (or sendonly) offer for H.264 and Opus, as a browser makes it.
func browserOffer(t *testing.T, recv bool) string {
	t.Helper()
	api, err := client.NewAPI()
	require.NoError(t, err)
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	require.NoError(t, err)
	defer pc.Close()
	dir := webrtc.RTPTransceiverDirectionRecvonly
	if !recv {
		dir = webrtc.RTPTransceiverDirectionSendonly
	}
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		_, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: dir})
		require.NoError(t, err)
	}
	offer, err := pc.CreateOffer(nil)
	require.NoError(t, err)
	return offer.SDP
}
