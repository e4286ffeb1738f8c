package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/media/hlspush"
	"github.com/nagare-video/nagare/internal/media/recording"
	"github.com/nagare-video/nagare/internal/objstore"
	"github.com/nagare-video/nagare/internal/testutil"
)

// bucket is where a test's node pushes, and how a player reads it back.
type bucket struct {
	store   objstore.Store
	baseURL string // <baseURL>/<key> is an object's public URL
	gw      *testutil.S3Gateway
}

func localBucket(t *testing.T, cfg *config.Config) bucket {
	dir := t.TempDir()
	cfg.Storage.Backend, cfg.Storage.Directory = "local", dir
	st, err := objstore.NewLocal(dir)
	require.NoError(t, err)
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	return bucket{store: st, baseURL: srv.URL}
}

// s3Bucket is a versitygw bucket that anyone may read.
func s3Bucket(t *testing.T, cfg *config.Config) bucket {
	b := bareS3Bucket(t, cfg)
	require.NoError(t, b.store.(*objstore.S3).AllowPublicRead(context.Background(), ""))
	return b
}

// bareS3Bucket is a versitygw bucket as created: no policy (only its owner reads it), no CORS rule.
func bareS3Bucket(t *testing.T, cfg *config.Config) bucket {
	gw, storage, st := testutil.S3Bucket(t, "live")
	cfg.Storage = storage
	return bucket{store: st, baseURL: gw.Endpoint + "/live", gw: gw}
}

func pushConfig(cfg *config.Config) {
	cfg.Push.Enabled, cfg.Push.Prefix, cfg.Push.LowLatency = true, "hls", true
	cfg.Record.Enabled, cfg.Record.MP4 = true, true
	cfg.HLS.SegmentDuration, cfg.HLS.PartDuration = time.Second, 200*time.Millisecond
}

// watchBucket reads the stream's playlist from the bucket every 50 ms until stopped and checks that every
// object it names is there. It returns the violations seen and the number of playlists checked.
func watchBucket(t *testing.T, b bucket, prefix string) (stop func() ([]string, int)) {
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var violations []string
	checked := 0
	done := make(chan struct{})
	client := &http.Client{Timeout: 5 * time.Second}
	get := func(u string) (int, []byte) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		res, err := client.Do(req)
		if err != nil {
			return 0, nil
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, body
	}
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			for _, playlist := range []string{hlspush.MediaPlaylist, hlspush.LLMediaPlaylist} {
				code, body := get(b.baseURL + "/" + prefix + "/" + playlist)
				if code != http.StatusOK {
					continue
				}
				pl := testutil.ParseMediaPlaylist(body)
				names := append(pl.Inits, pl.Segments...)
				names = append(names, partURIs(body)...)
				for _, name := range names {
					if c, _ := get(b.baseURL + "/" + prefix + "/" + name); c != http.StatusOK && ctx.Err() == nil {
						mu.Lock()
						violations = append(violations, fmt.Sprintf("%s names %s, which answers %d", playlist, name, c))
						mu.Unlock()
					}
				}
				mu.Lock()
				checked++
				mu.Unlock()
			}
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return func() ([]string, int) {
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		return violations, checked
	}
}

func TestPushToStorage(t *testing.T) {
	testutil.RequireFFmpeg(t)
	for _, backend := range []string{"local", "s3"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			var b bucket
			n, _ := testutil.StartNode(t, func(cfg *config.Config) {
				pushConfig(cfg)
				if backend == "s3" {
					b = s3Bucket(t, cfg)
				} else {
					b = localBucket(t, cfg)
				}
			})
			prefix := "hls/live/cam" + backend
			stopWatch := watchBucket(t, b, prefix)
			started := time.Now()
			pub := testutil.Publish(t, rtmpURL(n, "live/cam"+backend), "flv")

			// the bucket plays with a standard player while the stream is live
			mv := b.baseURL + "/" + prefix + "/" + hlspush.Multivariant
			testutil.WaitLive(t, mv, 20*time.Second)
			require.Eventually(t, func() bool {
				_, body := testutil.Get(t, b.baseURL+"/"+prefix+"/"+hlspush.MediaPlaylist)
				return len(testutil.ParseMediaPlaylist(body).Segments) >= 3
			}, 20*time.Second, 100*time.Millisecond)
			for _, playlist := range []string{hlspush.Multivariant, hlspush.LLMultivariant} {
				var codecs []string
				for _, s := range testutil.Probe(t, b.baseURL+"/"+prefix+"/"+playlist, false) {
					codecs = append(codecs, s.CodecName)
				}
				require.ElementsMatch(t, []string{"h264", "aac"}, codecs, playlist)
			}
			_, ll := testutil.Get(t, b.baseURL+"/"+prefix+"/"+hlspush.LLMediaPlaylist)
			require.NotEmpty(t, partURIs(ll), "the LL-HLS copy lists parts")
			require.Contains(t, string(ll), "#EXT-X-SERVER-CONTROL:PART-HOLD-BACK=")
			require.NotContains(t, string(ll), "CAN-BLOCK-RELOAD", "storage cannot hold a blocking reload")
			require.NotContains(t, string(ll), "gap.mp4")
			require.NotContains(t, string(ll), "PRELOAD-HINT", "it never names a part that is not there yet")

			// content types and cache lifetimes
			info, err := b.store.Head(context.Background(), prefix+"/"+hlspush.MediaPlaylist)
			require.NoError(t, err)
			require.Equal(t, hlspush.PlaylistType, info.ContentType)
			require.Equal(t, hlspush.PlaylistCache, info.CacheControl)
			_, body := testutil.Get(t, b.baseURL+"/"+prefix+"/"+hlspush.MediaPlaylist)
			seg := testutil.ParseMediaPlaylist(body).Segments[0]
			info, err = b.store.Head(context.Background(), prefix+"/"+seg)
			require.NoError(t, err)
			require.Equal(t, hlspush.MP4Type, info.ContentType)
			require.Equal(t, hlspush.MediaCache, info.CacheControl)

			waitSegments(t, b.baseURL+"/"+prefix+"/"+hlspush.MediaPlaylist, "", 7) // about 8 s published
			pub.Kill()
			published := time.Since(started)

			// the recording: a VOD playlist, a manifest and an MP4 of the whole publication
			m := waitManifest(t, b, prefix, 20*time.Second, true)
			violations, checked := stopWatch()
			require.Empty(t, violations, "the bucket's playlist named objects that were not there")
			require.Greater(t, checked, 20)

			require.Equal(t, "live/cam"+backend, m.Stream)
			require.Empty(t, m.Gaps)
			// the recording spans the publication, less the moments before the first keyframe and after
			// the last complete segment
			require.InDelta(t, published.Seconds()-1, m.Duration, 1.6, "recorded %.2f s of %.2f s", m.Duration, published.Seconds())
			require.Positive(t, m.Size)
			vod := b.baseURL + "/" + m.Playlist
			_, vodBody := testutil.Get(t, vod)
			require.Contains(t, string(vodBody), "#EXT-X-PLAYLIST-TYPE:VOD")
			require.Contains(t, string(vodBody), "#EXT-X-ENDLIST")
			require.NotContains(t, string(vodBody), "#EXT-X-DISCONTINUITY")
			require.NotEmpty(t, m.MP4)
			for _, u := range []string{vod, b.baseURL + "/" + m.MP4} {
				streams := testutil.Probe(t, u, true)
				require.Len(t, streams, 2, u)
				for _, s := range streams {
					if s.CodecType == "video" {
						frames, _ := strconv.Atoi(s.NbFrames)
						require.InDelta(t, m.Duration*testutil.ClipFPS, frames, 3, "%s: %d frames for %.2f s", u, frames, m.Duration)
					}
				}
			}
			require.True(t, strings.HasPrefix(path.Base(m.Playlist), path.Base(m.MP4[:strings.LastIndex(m.MP4, "_")])))
		})
	}
}

// partURIs returns the URIs of a media playlist's EXT-X-PART lines.
func partURIs(body []byte) []string {
	var out []string
	for _, line := range strings.Split(string(body), "\n") {
		if _, rest, ok := strings.Cut(line, `#EXT-X-PART:`); ok {
			if _, uri, ok := strings.Cut(rest, `URI="`); ok {
				uri, _, _ = strings.Cut(uri, `"`)
				out = append(out, uri)
			}
		}
	}
	return out
}

// waitManifest waits for the recording manifest under prefix and reads it.
func waitManifest(t *testing.T, b bucket, prefix string, timeout time.Duration, withMP4 bool) recording.Manifest {
	t.Helper()
	var m recording.Manifest
	require.Eventually(t, func() bool {
		objs, err := b.store.List(context.Background(), prefix+"/")
		if err != nil {
			return false
		}
		for _, o := range objs {
			if strings.HasSuffix(o.Key, "_recording.json") {
				rc, _, err := b.store.Get(context.Background(), o.Key, nil)
				if err != nil {
					return false
				}
				defer rc.Close()
				// the manifest is written again once the MP4 is there
				return json.NewDecoder(rc).Decode(&m) == nil && (!withMP4 || m.MP4 != "")
			}
		}
		return false
	}, timeout, 200*time.Millisecond, "no recording manifest")
	return m
}

// waitSegments waits until the media playlist u has listed n segments completed after the one named
// after ("": any), counting every segment it lists as it slides.
func waitSegments(t *testing.T, u, after string, n int) {
	t.Helper()
	seen := map[string]bool{}
	require.Eventually(t, func() bool {
		code, body := testutil.Get(t, u)
		if code != http.StatusOK {
			return false
		}
		segs := testutil.ParseMediaPlaylist(body).Segments
		from := 0
		for i := range segs {
			segs[i], _, _ = strings.Cut(segs[i], "?")
			if segs[i] == after {
				from = i + 1
			}
		}
		for _, sg := range segs[from:] {
			if sg != after {
				seen[sg] = true
			}
		}
		return len(seen) >= n
	}, 30*time.Second, 100*time.Millisecond, "%s: fewer than %d new segments", u, n)
}

// lastSegment returns the newest complete segment a media playlist lists.
func lastSegment(t *testing.T, u string) string {
	code, body := testutil.Get(t, u)
	if code != http.StatusOK {
		return ""
	}
	segs := testutil.ParseMediaPlaylist(body).Segments
	if len(segs) == 0 {
		return ""
	}
	s, _, _ := strings.Cut(segs[len(segs)-1], "?")
	return s
}

// TestPushSurvivesStorageOutage stops the S3 server mid-stream: the node's own viewers never stall, the
// bucket catches up when storage is back, and the recording marks the segments it could not keep.
func TestPushSurvivesStorageOutage(t *testing.T) {
	testutil.RequireFFmpeg(t)
	var b bucket
	n, logs := testutil.StartNode(t, func(cfg *config.Config) {
		pushConfig(cfg)
		cfg.Push.Backlog = 6
		b = s3Bucket(t, cfg)
	})
	prefix := "hls/live/outage"
	pub := testutil.Publish(t, rtmpURL(n, "live/outage"), "flv")
	origin := "http://" + n.HTTPAddr() + "/live/outage/index.m3u8"
	testutil.WaitLive(t, origin, 20*time.Second)
	_, mv := testutil.Get(t, origin)
	media := testutil.Resolve(t, origin, testutil.Renditions(mv)[0])
	bucketPlaylist := b.baseURL + "/" + prefix + "/" + hlspush.MediaPlaylist
	require.Eventually(t, func() bool { return lastSegment(t, bucketPlaylist) != "" }, 20*time.Second, 100*time.Millisecond)
	stopWatch := watchBucket(t, b, prefix)

	// storage goes down for 10 s; the node's playlist keeps moving all along
	b.gw.Stop()
	last, lastChange := lastSegment(t, media), time.Now()
	var longest time.Duration
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if s := lastSegment(t, media); s != last {
			longest = max(longest, time.Since(lastChange))
			last, lastChange = s, time.Now()
		}
	}
	longest = max(longest, time.Since(lastChange))
	require.Less(t, longest, 2500*time.Millisecond, "the node's own playlist stalled while storage was down")
	b.gw.Restart()

	// the bucket catches up with the live edge
	require.Eventually(t, func() bool {
		return lastSegment(t, bucketPlaylist) == lastSegment(t, media)
	}, 20*time.Second, 100*time.Millisecond, "the bucket never caught up")
	violations, _ := stopWatch()
	require.Empty(t, violations)
	require.Contains(t, logs.String(), "storage backlog full")

	// the recording goes on and marks what it lost
	pub.Kill()
	m := waitManifest(t, b, prefix, 30*time.Second, false)
	require.NotEmpty(t, m.Gaps, "the lost segments are marked")
	_, vod := testutil.Get(t, b.baseURL+"/"+m.Playlist)
	require.Contains(t, string(vod), "#EXT-X-DISCONTINUITY")
	require.NotEmpty(t, testutil.Probe(t, b.baseURL+"/"+m.Playlist, false))
}

func TestRecordingAPIWantsTheClusterSecret(t *testing.T) {
	const secret = "node-cluster-secret-0123456789"
	n, _ := testutil.StartNode(t, func(cfg *config.Config) { cfg.Cluster.Secret = secret })
	u := "http://" + n.HTTPAddr() + "/api/v1/recordings/live/cam"
	for _, tc := range []struct {
		auth string
		code int
	}{
		{"", http.StatusUnauthorized},
		{"Basic abc", http.StatusUnauthorized},
		{"Bearer wrong-secret-0123456789", http.StatusForbidden},
		{"Bearer " + secret, http.StatusOK},
	} {
		req, _ := http.NewRequest(http.MethodPut, u, nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		var body map[string]any
		require.NoError(t, json.NewDecoder(res.Body).Decode(&body))
		res.Body.Close()
		require.Equal(t, tc.code, res.StatusCode, "%q: %v", tc.auth, body)
		if tc.code == http.StatusOK {
			require.Equal(t, true, body["recording"])
		}
	}
}

// TestRecordingStartedWhileLive: a recording asked for through the node's API while the stream is live
// starts at the next segment and is stored, playable, when it is stopped, while the stream goes on.
func TestRecordingStartedWhileLive(t *testing.T) {
	testutil.RequireFFmpeg(t)
	const secret = "node-cluster-secret-0123456789"
	var b bucket
	n, _ := testutil.StartNode(t, func(cfg *config.Config) {
		cfg.Cluster.Secret = secret
		cfg.Record.MP4, cfg.Push.Prefix = true, "rec"
		cfg.HLS.SegmentDuration, cfg.HLS.PartDuration = time.Second, 200*time.Millisecond
		b = localBucket(t, cfg)
	})
	call := func(method string) map[string]any {
		req, _ := http.NewRequest(method, "http://"+n.HTTPAddr()+"/api/v1/recordings/live/cam", nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		var body map[string]any
		require.NoError(t, json.NewDecoder(res.Body).Decode(&body))
		require.Equal(t, http.StatusOK, res.StatusCode, "%v", body)
		return body
	}
	pub := testutil.Publish(t, rtmpURL(n, "live/cam"), "flv")
	defer pub.Kill()
	live := hlsURL(n, "live/cam")
	testutil.WaitLive(t, live, 20*time.Second)
	_, mv := testutil.Get(t, live)
	media := testutil.Resolve(t, live, testutil.Renditions(mv)[0])
	waitSegments(t, media, "", 2)
	objs, err := b.store.List(context.Background(), "rec/")
	require.NoError(t, err)
	require.Empty(t, objs, "nothing is stored before the recording is asked for")

	before := lastSegment(t, media)
	require.Equal(t, map[string]any{"stream": "live/cam", "recording": true, "recordingNow": true}, call(http.MethodPut))
	waitSegments(t, media, before, 4) // about 4 s
	require.Equal(t, map[string]any{"stream": "live/cam", "recording": false, "recordingNow": false}, call(http.MethodDelete))
	stopped := time.Now()
	m := waitManifest(t, b, "rec/live/cam", 20*time.Second, true)
	require.Less(t, time.Since(stopped), 10*time.Second, "stored when stopped, not when the stream ends")
	exited, out := pub.Exited(0)
	require.False(t, exited, "the publication goes on: %s", out)
	require.InDelta(t, 3.5, m.Duration, 1.6, "about the 4 s between the calls, in whole segments")
	require.Empty(t, m.Gaps)
	for _, u := range []string{b.baseURL + "/" + m.Playlist, b.baseURL + "/" + m.MP4} {
		for _, s := range testutil.Probe(t, u, true) {
			if s.CodecType == "video" {
				frames, _ := strconv.Atoi(s.NbFrames)
				require.InDelta(t, m.Duration*testutil.ClipFPS, frames, 3, "%s: %d frames for %.2f s", u, frames, m.Duration)
			}
		}
	}
}

// TestPushMPEGTS: the mpegts variant is pushed and recorded from the same segmenter: .ts segments without
// an init section, playable from the bucket live and as a recording.
func TestPushMPEGTS(t *testing.T) {
	testutil.RequireFFmpeg(t)
	var b bucket
	n, _ := testutil.StartNode(t, func(cfg *config.Config) {
		pushConfig(cfg)
		cfg.HLS.Variant, cfg.Push.LowLatency, cfg.Record.MP4 = "mpegts", false, false
		b = localBucket(t, cfg)
	})
	prefix := "hls/live/ts"
	stopWatch := watchBucket(t, b, prefix)
	pub := testutil.Publish(t, rtmpURL(n, "live/ts"), "flv")
	testutil.WaitLive(t, b.baseURL+"/"+prefix+"/"+hlspush.Multivariant, 20*time.Second)
	var pl testutil.MediaPlaylist
	require.Eventually(t, func() bool {
		_, body := testutil.Get(t, b.baseURL+"/"+prefix+"/"+hlspush.MediaPlaylist)
		pl = testutil.ParseMediaPlaylist(body)
		return len(pl.Segments) >= 3
	}, 20*time.Second, 100*time.Millisecond)
	require.Empty(t, pl.Init, "MPEG-TS has no init section")
	seg := pl.Segments[0]
	require.True(t, strings.HasSuffix(seg, ".ts"), seg)
	info, err := b.store.Head(context.Background(), prefix+"/"+seg)
	require.NoError(t, err)
	require.Equal(t, hlspush.TSType, info.ContentType)
	var codecs []string
	for _, s := range testutil.Probe(t, b.baseURL+"/"+prefix+"/"+hlspush.Multivariant, false) {
		codecs = append(codecs, s.CodecName)
	}
	require.ElementsMatch(t, []string{"h264", "aac"}, codecs)

	waitSegments(t, b.baseURL+"/"+prefix+"/"+hlspush.MediaPlaylist, "", 5) // about 6 s published
	pub.Kill()
	m := waitManifest(t, b, prefix, 20*time.Second, false)
	violations, checked := stopWatch()
	require.Empty(t, violations, "the bucket's playlist named objects that were not there")
	require.Greater(t, checked, 10)
	require.Empty(t, m.Gaps)
	for _, s := range testutil.Probe(t, b.baseURL+"/"+m.Playlist, true) {
		if s.CodecType == "video" {
			frames, _ := strconv.Atoi(s.NbFrames)
			require.InDelta(t, m.Duration*testutil.ClipFPS, frames, 3, "%d frames for %.2f s", frames, m.Duration)
		}
	}
}

// TestPushBucketCheckAtStart: an origin that pushes to a bucket checks at start, with a probe object read
// back without credentials, that players can read the bucket: it warns (and says how to fix it) when they
// cannot or when browsers of another origin cannot, sets the policy and the CORS rule itself with
// push.publicRead and push.cors, and leaves no probe object behind.
func TestPushBucketCheckAtStart(t *testing.T) {
	const (
		notPublic = `level=WARN msg="players cannot read the pushed HLS from the bucket without credentials; set push.publicRead: true or run 'nagare bucket setup' (not needed if a CDN with credentials of its own serves the bucket)"`
		noCORS    = `level=WARN msg="browser players on another origin cannot read the pushed HLS from the bucket (CORS); set push.cors: true or run 'nagare bucket setup' (not needed if a CDN in front of the bucket adds CORS headers)"`
		playable  = `level=INFO msg="players can read the pushed HLS from the bucket without credentials, browsers from any origin"`
	)
	for _, tc := range []struct {
		name             string
		publicRead, cors bool
		want             string
		cause            string
	}{
		{"as created", false, false, notPublic, `answered 403`},
		{"cors only", false, true, notPublic, `put-public-access-block`},
		{"publicRead only", true, false, noCORS, `put-bucket-cors`},
		{"publicRead and cors", true, true, playable, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var b bucket
			_, logs := testutil.StartNode(t, func(cfg *config.Config) {
				pushConfig(cfg)
				cfg.Push.PublicRead, cfg.Push.CORS = tc.publicRead, tc.cors
				b = bareS3Bucket(t, cfg)
			})
			require.Eventually(t, func() bool { return strings.Contains(logs.String(), tc.want) }, 30*time.Second,
				50*time.Millisecond, "no %q in:\n%s", tc.want, logs)
			out := logs.String()
			line := out[strings.Index(out, tc.want):]
			line, _, _ = strings.Cut(line, "\n")
			require.Contains(t, line, tc.cause)
			for _, other := range []string{notPublic, noCORS, playable} {
				if other != tc.want {
					require.NotContains(t, out, other)
				}
			}
			require.NotContains(t, out, "level=ERROR")
			objs, err := b.store.List(context.Background(), "hls/")
			require.NoError(t, err)
			require.Empty(t, objs, "the probe object is deleted")
		})
	}
}

// TestPushBucketPlayable: with push.publicRead and push.cors a bucket as created plays: the pushed
// playlists and segments answer a reader without credentials, and a browser on another origin gets
// Access-Control-Allow-Origin on the preflight of a ranged GET and on the GET.
func TestPushBucketPlayable(t *testing.T) {
	testutil.RequireFFmpeg(t)
	var b bucket
	n, logs := testutil.StartNode(t, func(cfg *config.Config) {
		pushConfig(cfg)
		cfg.Record.Enabled = false
		cfg.Push.PublicRead, cfg.Push.CORS = true, true
		b = bareS3Bucket(t, cfg)
	})
	pub := testutil.Publish(t, rtmpURL(n, "live/open"), "flv")
	defer pub.Kill()
	prefix := b.baseURL + "/hls/live/open/"
	testutil.WaitLive(t, prefix+hlspush.Multivariant, 30*time.Second)
	var pl testutil.MediaPlaylist
	require.Eventually(t, func() bool {
		_, body := testutil.Get(t, prefix+hlspush.MediaPlaylist)
		pl = testutil.ParseMediaPlaylist(body)
		return len(pl.Segments) >= 1
	}, 20*time.Second, 100*time.Millisecond)
	require.NotContains(t, logs.String(), "level=WARN msg=\"players cannot read")
	const origin = "http://127.0.0.1:9"
	for _, name := range append([]string{hlspush.Multivariant, hlspush.MediaPlaylist, hlspush.LLMediaPlaylist}, pl.Segments[0]) {
		u := prefix + name
		req, _ := http.NewRequest(http.MethodOptions, u, nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", http.MethodGet)
		req.Header.Set("Access-Control-Request-Headers", "range")
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, http.StatusOK, res.StatusCode, "preflight %s", u)
		require.Equal(t, "*", res.Header.Get("Access-Control-Allow-Origin"), "preflight %s", u)

		req, _ = http.NewRequest(http.MethodGet, u, nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Range", "bytes=0-")
		res, err = http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		require.Contains(t, []int{http.StatusOK, http.StatusPartialContent}, res.StatusCode, "GET %s", u)
		require.Equal(t, "*", res.Header.Get("Access-Control-Allow-Origin"), "GET %s", u)
		require.Contains(t, res.Header.Get("Access-Control-Expose-Headers"), "Content-Range", "GET %s", u)
	}
}
