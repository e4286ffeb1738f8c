package segmenter

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/media/stream"
)

// TestLateAudioStaysInItsSegment: audio that arrives 130 ms behind the video (a WHIP publication's AAC,
// made from its Opus by ffmpeg) still goes into the part and the segment in which it starts: every segment
// and part starts its audio with the video, and the audio runs on without a hole or a frame twice.
// Written as it arrives, the audio before each cut opened the next segment, and hls.js stalled at the end
// of the one before, whose audio ended early.
func TestLateAudioStaysInItsSegment(t *testing.T) {
	const lag = 130 * time.Millisecond
	for _, v := range variants {
		if v.format != FormatFMP4 {
			continue
		}
		t.Run(v.name, func(t *testing.T) {
			s, rec, video, audio := newAV(t, v.format, v.lowLatency)
			var late []*stream.Unit
			feedUnits(video, audio, 0, 130, 25, func(u *stream.Unit, _ int) {
				if u.Track == audio {
					late = append(late, u)
					return
				}
				for len(late) > 0 && late[0].PTS+lag <= u.PTS {
					require.NoError(t, s.Write(late[0]))
					late = late[1:]
				}
				require.NoError(t, s.Write(u))
			})
			for _, u := range late {
				require.NoError(t, s.Write(u))
			}
			s.Close()
			require.Len(t, rec.segs, 6)
			segs := newAVChecker(t)
			segs.early = interleaveSlack
			for _, seg := range rec.segs[:len(rec.segs)-1] { // the last one ends with the stream
				segs.check(fmt.Sprintf("segment %d", seg.MSN), dataOf(t, seg))
			}
			require.Zero(t, segs.skipped, "audio frames lost")
			if v.lowLatency {
				parts := newAVChecker(t)
				parts.early = interleaveSlack
				for _, p := range rec.parts[:len(rec.parts)-1] {
					parts.check(fmt.Sprintf("part %d.%d", p.MSN, p.Index), dataOf(t, p))
				}
				require.Zero(t, parts.skipped, "audio frames lost")
			}
		})
	}
}

// TestVideoDoesNotWaitForSilentAudio: when the audio stops (or runs far behind), the video is not held
// for it: segments and parts keep coming, at most maxInterleave behind the video written.
func TestVideoDoesNotWaitForSilentAudio(t *testing.T) {
	s, rec, video, audio := newAV(t, FormatFMP4, true)
	feedUnits(video, audio, 0, 250, 25, func(u *stream.Unit, i int) {
		if u.Track == audio && i >= 50 {
			return // the audio goes quiet after two seconds
		}
		require.NoError(t, s.Write(u))
	})
	// frames 0..249 written (10 s): the video is never held more than maxInterleave, so the parts made
	// hold every frame but those of the last maxInterleave and of the part being written
	frames := 0
	for _, p := range rec.parts {
		v, _ := trackSamples(t, dataOf(t, p), 1)
		frames += len(v)
	}
	behind := (maxInterleave + s.Playlist().PartTarget()) / (40 * time.Millisecond)
	require.GreaterOrEqual(t, frames, 250-int(behind)-2, "video frames in parts")
	require.GreaterOrEqual(t, len(rec.segs), 8)
}

// TestKeyframeAsked: a segment that reaches its duration without a keyframe asks the publisher for one,
// again every segment duration until it comes; a publisher with keyframes on time is never asked.
func TestKeyframeAsked(t *testing.T) {
	tests := []struct {
		name   string
		gop    int // frames between keyframes (25 fps)
		frames int
		asks   int64
	}{
		{"keyframes every second", 25, 200, 0},
		{"one keyframe only", 10000, 90, 3},   // 3.56 s: asked at 1, 2 and 3 s
		{"keyframes every 2.4 s", 60, 150, 5}, // 6 s: at 1, 2; 3.4, 4.4; 5.8
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var asks atomic.Int64
			video := h264Track()
			s, err := New(Config{Tracks: []*stream.Track{video}, LowLatency: true, SegmentMinDuration: time.Second,
				Prefix: "p", RequestKeyframe: func() { asks.Add(1) }})
			require.NoError(t, err)
			feed(t, s, video, nil, 0, tc.frames, tc.gop)
			require.Equal(t, tc.asks, asks.Load())
		})
	}
}
