package vod_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/app/node"
	"github.com/nagare-video/nagare/internal/app/vod"
	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/media/recording"
	"github.com/nagare-video/nagare/internal/objstore"
	"github.com/nagare-video/nagare/internal/testutil"
	"github.com/nagare-video/nagare/internal/vod/recordings"
	"github.com/nagare-video/nagare/internal/vod/vodv1"
)

// TestRecordingsBecomeVideos: an origin records a live stream into the storage the VOD service reads; once
// the publisher stops and the recording is stored, the importer adds it to the library as a READY video of
// source RECORDING, with the stream's name and the recording's duration, whose signed HLS and MP4 URLs
// play in ffprobe. Rescans, by the same importer or a new one after a restart, do not add it again.
func TestRecordingsBecomeVideos(t *testing.T) {
	dir, n, r := recordingOrigin(t, func(c *config.Config) { c.Record.MP4 = true })
	ctx := as(context.Background(), adminToken)

	started := time.Now()
	pub := testutil.Publish(t, "rtmp://"+n.RTMPAddr()+"/live/cam", "flv")
	testutil.WaitLive(t, "http://"+n.HTTPAddr()+"/live/cam/index.m3u8", 20*time.Second)
	time.Sleep(4 * time.Second)
	pub.Kill()
	published := time.Since(started).Seconds()
	require.Empty(t, videoIDs(t, r), "nothing is in the library while the stream is live")

	// The recording is stored: playlist, MP4 and the manifest that names them.
	st, err := objstore.NewLocal(dir)
	require.NoError(t, err)
	var key string
	var m recording.Manifest
	require.Eventually(t, func() bool {
		objs, err := st.List(context.Background(), "live/live/cam/")
		require.NoError(t, err)
		for _, o := range objs {
			if strings.HasSuffix(o.Key, "_recording.json") {
				rc, _, err := st.Get(context.Background(), o.Key, nil)
				require.NoError(t, err)
				defer rc.Close()
				key = o.Key
				return json.NewDecoder(rc).Decode(&m) == nil && m.MP4 != ""
			}
		}
		return false
	}, 30*time.Second, 100*time.Millisecond, "no recording manifest with its MP4")
	require.Equal(t, "live/cam", m.Stream)
	require.InDelta(t, published, m.Duration, 3, "the recording lasts about as long as the publication")

	var v *vodv1.Video
	require.Eventually(t, func() bool {
		res, err := r.client.ListVideos(ctx, &vodv1.ListVideosRequest{})
		require.NoError(t, err)
		if len(res.Videos) != 1 {
			return false
		}
		v = res.Videos[0]
		return v.HasMp4 // the manifest is written again once the MP4 is stored (it may be imported before)
	}, 10*time.Second, 50*time.Millisecond, "the recording never became a video with its MP4")
	require.Equal(t, recordings.ID(key), v.Id, "the id follows from the manifest's key")
	require.Equal(t, vodv1.Source_SOURCE_RECORDING, v.Source)
	require.Equal(t, vodv1.Status_STATUS_READY, v.Status)
	require.Equal(t, "live/cam", v.Stream)
	require.Equal(t, "recordings", v.Owner)
	require.Equal(t, vodv1.Visibility_VISIBILITY_PRIVATE, v.Visibility)
	require.InDelta(t, m.Duration, v.DurationSeconds, 0.01)
	require.Equal(t, m.Size, v.Size)

	// It plays through the signed URLs, every frame of it.
	pb, err := r.client.PlaybackURLs(ctx, &vodv1.PlaybackURLsRequest{Id: v.Id})
	require.NoError(t, err)
	require.Contains(t, pb.Hls, "sig=")
	require.NotEmpty(t, pb.Mp4)
	for _, u := range []string{pb.Hls, pb.Mp4} {
		frames := 0
		for _, s := range testutil.Probe(t, u, true) {
			if s.CodecType == "video" {
				frames, _ = strconv.Atoi(s.NbFrames)
			}
		}
		require.InDelta(t, m.Duration*testutil.ClipFPS, frames, 3, "%s: %d frames for %.2f s", u, frames, m.Duration)
	}
	unsigned, _, _ := strings.Cut(pb.Hls, "?")
	code, _ := testutil.Get(t, unsigned)
	require.Equal(t, 403, code, "a private recording needs the signature")

	// Later scans add nothing.
	time.Sleep(5 * vod.RecordingsEvery)
	require.Equal(t, []string{v.Id}, videoIDs(t, r))

	// Nor does a new importer, which has seen nothing yet: after a restart, a second manifest (a copy
	// under another name) is added, and the first recording is still there once.
	r.stop()
	copyKey := strings.TrimSuffix(key, "_recording.json") + "_copy_recording.json"
	require.NoError(t, st.Put(context.Background(), copyKey, strings.NewReader(string(m.JSON())), int64(len(m.JSON())), objstore.PutOptions{}))
	r2 := runVOD(t, r.cfg)
	require.Eventually(t, func() bool { return len(videoIDs(t, r2)) == 2 }, 10*time.Second, 50*time.Millisecond)
	require.ElementsMatch(t, []string{v.Id, recordings.ID(copyKey)}, videoIDs(t, r2))
}

// TestTranscodedRecordingIsOneVideo: the recording of a stream that an origin transcodes is one video,
// its HLS the VOD multivariant playlist of the source and every rendition recorded with it (each
// rendition's own recording is not a video of its own), and every rendition plays through the signed URL.
func TestTranscodedRecordingIsOneVideo(t *testing.T) {
	dir, n, r := recordingOrigin(t, func(c *config.Config) {
		c.Transcode.Enabled = true
		c.Transcode.Rungs = []config.Rung{{Name: "180p", Height: 180, VideoBitrate: 200_000}, {Name: "120p", Height: 120, VideoBitrate: 100_000}}
	})
	ctx := as(context.Background(), adminToken)

	pub := testutil.Publish(t, "rtmp://"+n.RTMPAddr()+"/live/abr", "flv")
	for _, p := range []string{"abr", "abr_180p", "abr_120p"} {
		testutil.WaitLive(t, "http://"+n.HTTPAddr()+"/live/"+p+"/index.m3u8", 30*time.Second)
	}
	time.Sleep(4 * time.Second)
	pub.Kill()

	var v *vodv1.Video
	var pb *vodv1.Playback
	require.Eventually(t, func() bool {
		res, err := r.client.ListVideos(ctx, &vodv1.ListVideosRequest{})
		require.NoError(t, err)
		require.LessOrEqual(t, len(res.Videos), 1, "one video, not one per rendition")
		if len(res.Videos) != 1 {
			return false
		}
		v = res.Videos[0]
		pb, err = r.client.PlaybackURLs(ctx, &vodv1.PlaybackURLsRequest{Id: v.Id})
		require.NoError(t, err)
		code, body := testutil.Get(t, pb.Hls)
		return code == 200 && strings.Contains(string(body), "#EXT-X-STREAM-INF")
	}, 60*time.Second, 200*time.Millisecond, "the recording never became one video playing its multivariant playlist")
	require.Equal(t, "live/abr", v.Stream)

	// the live ladder's shape: video-only variants sharing the source's audio, one EXT-X-MEDIA
	_, mv := testutil.Get(t, pb.Hls)
	require.Equal(t, 1, strings.Count(string(mv), "#EXT-X-MEDIA:TYPE=AUDIO"), "%s", mv)
	require.Equal(t, 3, strings.Count(string(mv), `AUDIO="audio"`), "%s", mv)
	sizes := map[string]int{}
	audio := 0
	for _, s := range testutil.Probe(t, pb.Hls, true) {
		switch s.CodecType {
		case "video":
			frames, _ := strconv.Atoi(s.NbFrames)
			sizes[fmt.Sprintf("%dx%d", s.Width, s.Height)] = frames
		case "audio":
			audio++
			frames, _ := strconv.Atoi(s.NbFrames)
			require.Greater(t, frames, 3*44100/1024, "the audio rendition plays through the signed URL")
		}
	}
	require.Equal(t, 1, audio, "one audio rendition")
	require.Len(t, sizes, 3, "the source and both renditions: %v", sizes)
	for size, frames := range sizes {
		require.Greater(t, frames, 3*testutil.ClipFPS, "%s plays through the signed URL (%d frames)", size, frames)
	}
	require.Contains(t, sizes, "160x120")

	// deleting the video removes the recording's playlists and manifests, the renditions' too; the
	// segments stay with the stream's storage
	st, err := objstore.NewLocal(dir)
	require.NoError(t, err)
	listRecording := func() (recorded, media []string) {
		objs, err := st.List(context.Background(), "live/live/abr/")
		require.NoError(t, err)
		for _, o := range objs {
			if strings.Contains(o.Key, "_recording") {
				recorded = append(recorded, o.Key)
			} else if strings.HasSuffix(o.Key, ".mp4") || strings.HasSuffix(o.Key, ".m4s") {
				media = append(media, o.Key)
			}
		}
		return recorded, media
	}
	recorded, media := listRecording()
	require.Len(t, recorded, 11, "the source's playlist, multivariant playlist and manifest, and each rendition's playlist and "+
		"manifest (the rungs', the source's video's and its audio's): %v", recorded)
	_, err = r.client.DeleteVideo(ctx, &vodv1.DeleteVideoRequest{Id: v.Id})
	require.NoError(t, err)
	recorded, after := listRecording()
	require.Empty(t, recorded)
	require.Equal(t, media, after)
}

// recordingOrigin starts an origin that pushes and records every stream into a local bucket (mutate
// changes the rest) and a VOD service importing the recordings from it, scanning every 200 ms; it returns
// the bucket's directory.
func recordingOrigin(t *testing.T, mutate func(*config.Config)) (string, *node.Node, *rig) {
	t.Helper()
	testutil.RequireFFmpeg(t)
	shortScans(t)
	dir := t.TempDir()
	storage := config.Storage{Backend: "local", Directory: dir}
	n, _ := testutil.StartNode(t, func(c *config.Config) {
		c.Storage = storage
		c.Push.Enabled, c.Push.Prefix = true, "live"
		c.Record.Enabled = true
		c.Publish.AllowUnauthenticated = true
		c.HLS.SegmentDuration, c.HLS.PartDuration = time.Second, 200*time.Millisecond
		mutate(c)
	})
	r := startVOD(t, func(c *config.Config) {
		c.Storage = storage
		c.Push.Prefix = "live"
		c.VOD.Recordings = true
	})
	return dir, n, r
}

// shortScans makes the importer scan storage every 200 ms for the rest of the test.
func shortScans(t *testing.T) {
	old := vod.RecordingsEvery
	vod.RecordingsEvery = 200 * time.Millisecond
	t.Cleanup(func() { vod.RecordingsEvery = old })
}

// TestRecordingManifestRewritten: the recorder writes a recording's manifest as soon as its playlist is
// stored and again, naming the MP4, once that is stored too (minutes later for a long recording in S3).
// A video imported from the first manifest gets its MP4 from the second.
func TestRecordingManifestRewritten(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	shortScans(t)
	dir := t.TempDir()
	r := startVOD(t, func(c *config.Config) {
		c.Storage = config.Storage{Backend: "local", Directory: dir}
		c.Push.Prefix = "live"
		c.VOD.Recordings = true
	})
	st, err := objstore.NewLocal(dir)
	require.NoError(t, err)
	const key = "live/live/cam/seg_recording.json"
	m := recording.Manifest{Stream: "live/cam", Start: time.Now().Add(-time.Minute), End: time.Now(), Duration: 60,
		Size: 1 << 20, Segments: 60, Playlist: "live/live/cam/seg_recording.m3u8"}
	put := func() {
		b := m.JSON()
		require.NoError(t, st.Put(context.Background(), key, strings.NewReader(string(b)), int64(len(b)), objstore.PutOptions{}))
	}
	get := func() *vodv1.Video {
		v, err := r.client.GetVideo(as(context.Background(), adminToken), &vodv1.GetVideoRequest{Id: recordings.ID(key)})
		if err != nil {
			return nil
		}
		return v
	}

	put()
	require.Eventually(t, func() bool { return get() != nil }, 10*time.Second, 50*time.Millisecond)
	require.False(t, get().HasMp4)
	m.MP4 = "live/live/cam/seg_recording.mp4"
	put()
	require.Eventually(t, func() bool { return get().HasMp4 }, 10*time.Second, 50*time.Millisecond,
		"the video never got the MP4 its rewritten manifest names")
	require.Len(t, videoIDs(t, r), 1)
	require.Equal(t, vodv1.Status_STATUS_READY, get().Status)
}
