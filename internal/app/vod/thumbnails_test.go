package vod_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/objstore"
	"github.com/nagare-video/nagare/internal/testutil"
	"github.com/nagare-video/nagare/internal/vod/vodv1"
)

// TestPosterAndStoryboard: an upload to versitygw is processed into a poster and a storyboard, stored
// beside the video's other objects; PlaybackURLs names them; the playback handler serves the three files
// with their types, signed for a private video (the storyboard's image references carry the signature)
// and refused without it, openly once the video is public; deleting the video removes them.
func TestPosterAndStoryboard(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	g := testutil.StartS3Gateway(t)
	r := startVOD(t, s3Storage(t, g))
	ctx := as(context.Background(), adminToken)
	data := smallClip(t, "12")
	res, id, err := upload(t, ctx, r, &vodv1.UploadStart{Title: "Thumbs", FileName: "thumbs.mp4", Size: int64(len(data))}, data, 1<<20)
	require.NoError(t, err)
	require.True(t, res.Complete)
	v := waitFinal(t, r, id, 3*time.Minute)
	require.Equal(t, vodv1.Status_STATUS_READY, v.Status, v.Failure)
	require.Equal(t, vodv1.Visibility_VISIBILITY_PRIVATE, v.Visibility)

	// stored beside the video's other objects
	st, err := objstore.NewS3(context.Background(), objstore.S3Config{Endpoint: g.Endpoint, Region: "us-east-1",
		Bucket: "vod", PathStyle: true, AccessKey: g.AccessKey, SecretKey: g.SecretKey})
	require.NoError(t, err)
	prefix := r.cfg.VOD.Prefix + "/" + id + "/"
	keys := s3Keys(t, st, prefix)
	for _, f := range []string{"poster.jpg", "storyboard.jpg", "storyboard.vtt", "video.mp4", "hls/index.m3u8"} {
		require.Contains(t, keys, prefix+f)
	}

	pb, err := r.client.PlaybackURLs(ctx, &vodv1.PlaybackURLsRequest{Id: id, TtlSeconds: 600})
	require.NoError(t, err)
	base := "http://" + r.srv.HTTPAddr() + "/vod/" + id
	require.True(t, strings.HasPrefix(pb.Poster, base+"/poster.jpg?"), pb.Poster)
	require.True(t, strings.HasPrefix(pb.Storyboard, base+"/storyboard.vtt?"), pb.Storyboard)
	require.Contains(t, pb.Poster, "sig=")
	require.Contains(t, pb.Storyboard, "sig=")

	// private: nothing without the signature
	for _, f := range []string{"poster.jpg", "storyboard.jpg", "storyboard.vtt"} {
		code, _, body := get(t, base+"/"+f)
		require.Equal(t, http.StatusForbidden, code, "%s: %s", f, body)
	}
	top := v.Renditions[0]
	checkThumbnails(t, pb.Poster, pb.Storyboard, int(top.Width), int(top.Height), v.DurationSeconds, "private, ")

	// public: the same without a signature
	_, err = r.client.UpdateVideo(ctx, &vodv1.UpdateVideoRequest{Id: id, Visibility: vodv1.Visibility_VISIBILITY_PUBLIC})
	require.NoError(t, err)
	pb, err = r.client.PlaybackURLs(ctx, &vodv1.PlaybackURLsRequest{Id: id})
	require.NoError(t, err)
	require.Equal(t, base+"/poster.jpg", pb.Poster)
	require.Equal(t, base+"/storyboard.vtt", pb.Storyboard)
	checkThumbnails(t, pb.Poster, pb.Storyboard, int(top.Width), int(top.Height), v.DurationSeconds, "public, ")

	// deleting the video deletes them with it
	_, err = r.client.DeleteVideo(ctx, &vodv1.DeleteVideoRequest{Id: id})
	require.NoError(t, err)
	require.Empty(t, s3Keys(t, st, prefix))
	for _, f := range []string{"poster.jpg", "storyboard.jpg", "storyboard.vtt"} {
		code, _, body := get(t, base+"/"+f)
		require.Equal(t, http.StatusNotFound, code, "%s: %s", f, body)
	}
}

// TestExtrasFailVideoReady: when ffmpeg cannot make the poster and the storyboard, the video is ready
// without them, the cause is logged, and neither PlaybackURLs nor the handler offers them.
func TestExtrasFailVideoReady(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	ffmpeg := failingFFmpeg(t, "poster.jpg", ".thumbnails/%05d.png")
	r := startVOD(t, func(c *config.Config) { c.VOD.FFmpeg = ffmpeg })
	ctx := as(context.Background(), adminToken)
	data := smallClip(t, "3")
	res, id, err := upload(t, ctx, r, &vodv1.UploadStart{Title: "Bare", FileName: "bare.mp4", Size: int64(len(data)),
		Visibility: vodv1.Visibility_VISIBILITY_PUBLIC}, data, 1<<20)
	require.NoError(t, err)
	require.True(t, res.Complete)
	v := waitFinal(t, r, id, 3*time.Minute)
	require.Equal(t, vodv1.Status_STATUS_READY, v.Status, v.Failure)
	require.True(t, v.HasMp4)

	logs := r.log.String()
	require.Regexp(t, `level=WARN msg="the video has no poster" .*err="making the poster: exit status 1: refused poster.jpg`, logs)
	require.Regexp(t, `level=WARN msg="the video has no storyboard" .*err="making the storyboard: exit status 1: refused .thumbnails/%05d.png`, logs)

	pb, err := r.client.PlaybackURLs(ctx, &vodv1.PlaybackURLsRequest{Id: id})
	require.NoError(t, err)
	require.NotEmpty(t, pb.Hls)
	require.NotEmpty(t, pb.Mp4)
	require.Empty(t, pb.Poster)
	require.Empty(t, pb.Storyboard)
	base := "http://" + r.srv.HTTPAddr() + "/vod/" + id
	for f, want := range map[string]string{"poster.jpg": "video has no poster", "storyboard.jpg": "video has no storyboard",
		"storyboard.vtt": "video has no storyboard"} {
		code, _, body := get(t, base+"/"+f)
		require.Equal(t, http.StatusNotFound, code, f)
		require.Contains(t, string(body), want)
	}
	code, _, _ := get(t, pb.Mp4)
	require.Equal(t, http.StatusOK, code)
	require.NotContains(t, localObjects(t, r, r.cfg.VOD.Prefix+"/"+id+"/"), r.cfg.VOD.Prefix+"/"+id+"/poster.jpg")
}

// checkThumbnails fetches the poster and the storyboard track at their URLs and each image the track's
// cues name (resolved against the track's URL, as a player does): the poster is a JPEG of w x h, the cues
// cover the video's duration one after the other, and each names a tile inside the sprite.
func checkThumbnails(t *testing.T, posterURL, vttURL string, w, h int, duration float64, scope string) {
	t.Helper()
	code, hdr, body := get(t, posterURL)
	require.Equal(t, http.StatusOK, code, "%s", body)
	require.Equal(t, "image/jpeg", hdr.Get("Content-Type"))
	require.True(t, strings.HasPrefix(hdr.Get("Cache-Control"), scope), hdr.Get("Cache-Control"))
	poster, err := jpeg.Decode(bytes.NewReader(body))
	require.NoError(t, err)
	require.Equal(t, image.Rect(0, 0, w, h), poster.Bounds())

	code, hdr, body = get(t, vttURL)
	require.Equal(t, http.StatusOK, code, "%s", body)
	require.Equal(t, "text/vtt", hdr.Get("Content-Type"))
	require.True(t, strings.HasPrefix(hdr.Get("Cache-Control"), scope), hdr.Get("Cache-Control"))
	cues := parseVTT(t, string(body))
	require.GreaterOrEqual(t, len(cues), 11, "one thumbnail a second, in more than one row")

	track, err := url.Parse(vttURL)
	require.NoError(t, err)
	sprites := map[string]image.Image{}
	var end time.Duration
	for i, c := range cues {
		require.Equal(t, end, c.start, "cue %d starts where the previous one ended", i)
		require.Greater(t, c.end, c.start, "cue %d", i)
		end = c.end
		ref, err := track.Parse(c.image)
		require.NoError(t, err)
		require.Equal(t, track.Query(), ref.Query(), "the image is signed as the track is")
		frag, ok := strings.CutPrefix(ref.Fragment, "xywh=")
		require.True(t, ok, "cue %d: %s", i, c.image)
		ref.Fragment = ""
		sprite, ok := sprites[ref.String()]
		if !ok {
			code, hdr, body := get(t, ref.String())
			require.Equal(t, http.StatusOK, code, "%s: %s", ref, body)
			require.Equal(t, "image/jpeg", hdr.Get("Content-Type"))
			sprite, err = jpeg.Decode(bytes.NewReader(body))
			require.NoError(t, err)
			sprites[ref.String()] = sprite
		}
		var x, y, tw, th int
		_, err = fmt.Sscanf(frag, "%d,%d,%d,%d", &x, &y, &tw, &th)
		require.NoError(t, err, frag)
		require.Equal(t, 160, tw)
		tile := image.Rect(x, y, x+tw, y+th)
		require.True(t, tile.In(sprite.Bounds()), "cue %d: %v is outside the sprite's %v", i, tile, sprite.Bounds())
	}
	require.Len(t, sprites, 1, "every cue names the one sprite")
	require.InDelta(t, duration, end.Seconds(), 0.1, "the cues cover the duration")
}

type cue struct {
	start, end time.Duration
	image      string
}

var cueTiming = regexp.MustCompile(`^(\d\d):(\d\d):(\d\d)\.(\d\d\d) --> (\d\d):(\d\d):(\d\d)\.(\d\d\d)$`)

// parseVTT reads a storyboard track: a WEBVTT header, then blocks of a timing line and one payload line.
func parseVTT(t *testing.T, s string) []cue {
	t.Helper()
	blocks := strings.Split(strings.TrimSpace(s), "\n\n")
	require.Equal(t, "WEBVTT", blocks[0])
	ts := func(f []string) time.Duration {
		var n [4]int
		for i := range n {
			n[i], _ = strconv.Atoi(f[i])
		}
		return time.Duration(n[0])*time.Hour + time.Duration(n[1])*time.Minute + time.Duration(n[2])*time.Second +
			time.Duration(n[3])*time.Millisecond
	}
	var cues []cue
	for _, b := range blocks[1:] {
		lines := strings.Split(b, "\n")
		require.Len(t, lines, 2, "cue %q", b)
		m := cueTiming.FindStringSubmatch(lines[0])
		require.NotNil(t, m, "cue timing %q", lines[0])
		cues = append(cues, cue{start: ts(m[1:5]), end: ts(m[5:9]), image: lines[1]})
	}
	return cues
}

func get(t *testing.T, u string) (int, http.Header, []byte) {
	t.Helper()
	resp, err := http.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, body
}

func s3Keys(t *testing.T, st *objstore.S3, prefix string) []string {
	t.Helper()
	infos, err := st.List(context.Background(), prefix)
	require.NoError(t, err)
	keys := []string{}
	for _, o := range infos {
		keys = append(keys, o.Key)
	}
	return keys
}

// failingFFmpeg is an ffmpeg that fails, saying "refused <arg>", when one of its arguments is one of args,
// and is the real ffmpeg otherwise.
func failingFFmpeg(t *testing.T, args ...string) string {
	t.Helper()
	testutil.RequireFFmpeg(t)
	real, err := exec.LookPath("ffmpeg")
	require.NoError(t, err)
	var cases strings.Builder
	for _, a := range args {
		fmt.Fprintf(&cases, "    %q) echo \"refused $a\" >&2; exit 1;;\n", a)
	}
	script := fmt.Sprintf("#!/bin/sh\nfor a in \"$@\"; do\n  case \"$a\" in\n%s  esac\ndone\nexec %q \"$@\"\n", cases.String(), real)
	name := filepath.Join(t.TempDir(), "ffmpeg")
	require.NoError(t, os.WriteFile(name, []byte(script), 0o755))
	return name
}
