package hls

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/media/mediametrics"
	"github.com/nagare-video/nagare/internal/media/stream"
)

// TestLadderSharesOneAudio publishes a source with video and AAC audio, then a video-only rendition of
// it: before the rendition the source's multivariant playlist is a plain stream's (audio muxed, no
// EXT-X-MEDIA); with it, the source's video and audio are split out as renditions of their own, and the
// multivariant playlist lists video-only variants that share one audio rendition, all cut with the same
// media sequence numbers. When the source ends, so do its split renditions.
func TestLadderSharesOneAudio(t *testing.T) {
	s := &Server{
		Config: Config{Variant: VariantLowLatency, SegmentDuration: time.Second, PartDuration: 200 * time.Millisecond,
			SegmentCount: 7},
		Metrics: mediametrics.New(), Log: slog.New(slog.DiscardHandler),
	}
	reg := &stream.Registry{}
	reg.AddListener(s)
	web := httptest.NewServer(s)
	defer web.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(web.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	multivariant := func(path string) *playlist.Multivariant {
		code, body := get(path)
		require.Equal(t, http.StatusOK, code, body)
		pl, err := playlist.Unmarshal([]byte(body))
		require.NoError(t, err, body)
		return pl.(*playlist.Multivariant)
	}

	video := &stream.Track{Codec: &stream.H264{SPS: testSPS, PPS: []byte{0x08}}}
	audio := &stream.Track{Codec: &stream.MPEG4Audio{Config: mpeg4audio.AudioSpecificConfig{
		Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 44100, ChannelCount: 2}}}
	src, err := reg.Publish(stream.PublishRequest{Path: stream.Path{App: "live", Name: "s"}, Tracks: []*stream.Track{video, audio}})
	require.NoError(t, err)
	rvideo := &stream.Track{Codec: &stream.H264{SPS: testSPS, PPS: []byte{0x08}}}
	var rendition *stream.Stream

	// frames writes video frames [from, to) at 25 fps (an IDR a second) with the AAC frames up to each,
	// to the source and, once it is published, to the rendition (the same pictures, as ffmpeg's would be)
	aframe := 0
	frames := func(from, to int) {
		for i := from; i < to; i++ {
			pts := time.Duration(i) * 40 * time.Millisecond
			for ; time.Duration(aframe)*1024*time.Second/44100 <= pts; aframe++ {
				apts := time.Duration(aframe) * 1024 * time.Second / 44100
				src.Write(&stream.Unit{Track: audio, NTP: time.Now(), PTS: apts, Payload: [][]byte{{0x21, byte(aframe), 0x01}}, Size: 3})
			}
			au := [][]byte{{0x41, byte(i), 0xAA}}
			if i%25 == 0 {
				au = [][]byte{testSPS, {0x08}, {0x65, byte(i), 0xBB}}
			}
			src.Write(&stream.Unit{Track: video, NTP: time.Now(), PTS: pts, Payload: au, Size: 3})
			if rendition != nil {
				rendition.Write(&stream.Unit{Track: rvideo, NTP: time.Now(), PTS: pts, Payload: au, Size: 3})
			}
			time.Sleep(2 * time.Millisecond)
		}
	}

	frames(0, 60)
	require.Eventually(t, func() bool { code, _ := get("/live/s/video1_stream.m3u8"); return code == http.StatusOK },
		5*time.Second, 10*time.Millisecond)
	plain := multivariant("/live/s/index.m3u8")
	require.Empty(t, plain.Renditions, "a plain stream has no audio group")
	require.Len(t, plain.Variants, 1)
	require.Equal(t, []string{"avc1.42c028", "mp4a.40.2"}, plain.Variants[0].Codecs, "audio muxed with the video")
	require.Empty(t, plain.Variants[0].Audio)

	rendition, err = reg.Publish(stream.PublishRequest{
		Path: stream.Path{App: "live", Name: "s_180p"}, Tracks: []*stream.Track{rvideo},
		Rendition: &stream.Rendition{Of: src.Path, Rung: "180p", Bandwidth: 300_000},
	})
	require.NoError(t, err)
	var mv *playlist.Multivariant
	for i := 60; ; i += 10 {
		frames(i, i+10)
		mv = multivariant("/live/s/index.m3u8")
		if len(mv.Variants) == 2 {
			break
		}
		require.Less(t, i, 400, "the ladder never appeared: %+v", mv)
	}
	require.Len(t, mv.Renditions, 1, "one EXT-X-MEDIA")
	a := mv.Renditions[0]
	require.Equal(t, playlist.MultivariantRenditionTypeAudio, a.Type)
	require.True(t, a.Default)
	require.True(t, a.Autoselect)
	require.Equal(t, "2", *a.Channels)
	require.Equal(t, "../s_audio/audio1_stream.m3u8", strings.Split(*a.URI, "?")[0])
	uris := []string{}
	for _, v := range mv.Variants {
		uris = append(uris, strings.Split(v.URI, "?")[0])
		require.Equal(t, a.GroupID, v.Audio)
		require.Equal(t, []string{"avc1.42c028", "mp4a.40.2"}, v.Codecs, "the variant's video and the audio rendition's")
	}
	require.Equal(t, []string{"../s_source/video1_stream.m3u8", "../s_180p/video1_stream.m3u8"}, uris)
	require.GreaterOrEqual(t, mv.Variants[1].Bandwidth, 300_000, "at least the rung's video peak, and the audio on top")

	// the audio rendition is audio only, and every playlist of the ladder is at the same media
	// sequence number and reports the others
	frames(400, 450)
	for _, p := range []string{"/live/s_audio/audio1_stream.m3u8", "/live/s_source/video1_stream.m3u8", "/live/s_180p/video1_stream.m3u8"} {
		code, body := get(p)
		require.Equal(t, http.StatusOK, code, p)
		require.Contains(t, body, "#EXT-X-PART:", p)
		require.Equal(t, 2, strings.Count(body, "#EXT-X-RENDITION-REPORT:"), "%s reports the two others:\n%s", p, body)
		require.NotContains(t, body, `URI="../s/`, "%s reports the ladder's renditions, not the source as published", p)
	}
	seq := func(p string) string {
		_, body := get(p)
		for l := range strings.SplitSeq(body, "\n") {
			if strings.HasPrefix(l, "#EXT-X-MEDIA-SEQUENCE:") {
				return l
			}
		}
		return ""
	}
	require.Equal(t, seq("/live/s_180p/video1_stream.m3u8"), seq("/live/s_audio/audio1_stream.m3u8"))
	require.Equal(t, seq("/live/s_180p/video1_stream.m3u8"), seq("/live/s_source/video1_stream.m3u8"))
	// a rendition asked for alone plays with the ladder's audio
	one := multivariant("/live/s_180p/index.m3u8")
	require.Len(t, one.Variants, 1)
	require.Len(t, one.Renditions, 1)
	require.Equal(t, one.Renditions[0].GroupID, one.Variants[0].Audio)
	// the source's own media playlist stays as a plain stream's
	code, _ := get("/live/s/video1_stream.m3u8")
	require.Equal(t, http.StatusOK, code)

	reg.Unpublish(rendition)
	reg.Unpublish(src)
	for _, p := range []string{"/live/s_audio/index.m3u8", "/live/s_source/index.m3u8"} {
		code, _ := get(p)
		require.Equal(t, http.StatusNotFound, code, "%s ended with its source", p)
	}
}
