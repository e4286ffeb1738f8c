package segmenter

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/media/stream"
)

// TestFollowerCutsWithItsLeader checks that a rendition's segments and parts start on the same samples,
// with the same media sequence numbers, part indexes and dates, as its source's, wherever the rendition
// joins and whatever extra keyframes its encoder makes; and that a follower fed ahead of its leader waits.
func TestFollowerCutsWithItsLeader(t *testing.T) {
	for _, tc := range []struct {
		name        string
		from        int  // the rendition's first frame (its encoder started late)
		gop         int  // the rendition's keyframe interval, a divisor of the source's 25
		aheadOfLead bool // the rendition is written before the source reaches the same instants
	}{
		{"joins mid-GOP", 37, 25, false},
		{"extra keyframes", 10, 5, false},
		{"from the first frame", 0, 25, false},
		{"ahead of its leader", 37, 25, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const frames = 400
			cfg, lv, la, lrec, lead := newLeader(t)

			fv, fa := h264Track(), aacTrack()
			frec := newRecorder(t)
			fcfg := cfg
			fcfg.Tracks, fcfg.Observer, fcfg.Follow = []*stream.Track{fv, fa}, frec.observer(), lead.Cuts()
			follower, err := New(fcfg)
			require.NoError(t, err)

			if tc.aheadOfLead {
				feed(t, lead, lv, la, 0, 1, 25) // the origin only
				done := make(chan struct{})
				go func() {
					defer close(done)
					feed(t, follower, fv, fa, tc.from, frames, tc.gop)
				}()
				time.Sleep(50 * time.Millisecond)
				feed(t, lead, lv, la, 1, frames, 25)
				<-done
			} else {
				feed(t, lead, lv, la, 0, frames, 25)
				feed(t, follower, fv, fa, tc.from, frames, tc.gop)
			}
			lead.Close()
			follower.Close()

			leadSegs := map[uint64]Segment{}
			for _, s := range lrec.segs {
				leadSegs[s.MSN] = s
			}
			// the last segment of each is closed where its own stream ended
			fsegs := frec.segs[:len(frec.segs)-1]
			require.NotEmpty(t, fsegs)
			first := (tc.from + 24) / 25 // the first source segment the rendition can start
			require.Equal(t, uint64(first), fsegs[0].MSN, "the rendition starts at the first source cut it meets")
			for i, fs := range fsegs {
				require.Equal(t, fsegs[0].MSN+uint64(i), fs.MSN, "consecutive numbers")
				ls, ok := leadSegs[fs.MSN]
				require.True(t, ok, "segment %d of the rendition exists in the source", fs.MSN)
				require.Equal(t, ls.Duration, fs.Duration, "segment %d", fs.MSN)
				require.Equal(t, ls.DateTime, fs.DateTime, "segment %d", fs.MSN)
				require.Equal(t, len(ls.Parts), len(fs.Parts), "parts of segment %d", fs.MSN)
				require.True(t, fs.Parts[0].Independent, "segment %d starts with a keyframe", fs.MSN)
				for j := range fs.Parts {
					require.Equal(t, ls.Parts[j].Duration, fs.Parts[j].Duration, "part %d of segment %d", j, fs.MSN)
				}
				// the first video sample of every part has the same decode time
				for j := range fs.Parts {
					_, ld := trackSamples(t, lrec.objects[ls.Parts[j].Name], 1)
					_, fd := trackSamples(t, frec.objects[fs.Parts[j].Name], 1)
					require.NotEmpty(t, fd)
					require.Equal(t, ld[0], fd[0], "part %d of segment %d", j, fs.MSN)
				}
			}
			require.Zero(t, follower.outOfStep)
		})
	}
}

// TestFollowerOfAStalledLeader checks that a follower whose leader stops going forward still writes,
// after waiting a bounded time, and that a follower of a leader that never started refuses samples.
func TestFollowerOfAStalledLeader(t *testing.T) {
	lead, err := New(Config{Tracks: []*stream.Track{h264Track()}, LowLatency: true})
	require.NoError(t, err)
	fv := h264Track()
	follower, err := New(Config{Tracks: []*stream.Track{fv}, LowLatency: true, Follow: lead.Cuts()})
	require.NoError(t, err)
	lead.Close() // ended before it started: waits return at once
	require.Error(t, follower.Write(videoUnit(fv, 0, 25)))
}

// TestAudioFollowerCutsWithItsLeader checks the audio of a stream split out of it (the ladder's audio
// rendition): a follower of the source's cuts whose only track is the source's audio starts at the first
// segment cut of the source after it joins, with the source's numbers, part indexes and dates, and starts
// every part with the first audio frame at or after the source's cut (an AAC frame never starts exactly
// where a video frame does).
func TestAudioFollowerCutsWithItsLeader(t *testing.T) {
	for _, join := range []int{0, 37} { // the video frame at which the follower starts reading
		t.Run("joins at frame "+strconv.Itoa(join), func(t *testing.T) {
			const frames = 400
			cfg, lv, la, lrec, lead := newLeader(t)
			frec := newRecorder(t)
			fcfg := cfg
			fcfg.Tracks, fcfg.Observer, fcfg.Follow = []*stream.Track{la}, frec.observer(), lead.Cuts()
			follower, err := New(fcfg)
			require.NoError(t, err)
			require.Equal(t, "audio/mp4", follower.ContentType())

			feed(t, lead, lv, la, 0, frames, 25)
			// the same stream's units, as a reader of it that started at frame join gets them: the
			// follower takes the audio and passes over the video
			feed(t, follower, lv, la, join, frames, 25)
			lead.Close()
			follower.Close()

			leadSegs := map[uint64]Segment{}
			for _, s := range lrec.segs {
				leadSegs[s.MSN] = s
			}
			fsegs := frec.segs[:len(frec.segs)-1] // the last one is closed where the follower's stream ended
			require.NotEmpty(t, fsegs)
			require.Equal(t, uint64((join+24)/25), fsegs[0].MSN, "the audio starts at the first source cut after it joins")
			frame := time.Second * 1024 / 44100
			for i, fs := range fsegs {
				require.Equal(t, fsegs[0].MSN+uint64(i), fs.MSN, "consecutive numbers")
				ls, ok := leadSegs[fs.MSN]
				require.True(t, ok, "segment %d of the audio exists in the source", fs.MSN)
				require.Equal(t, ls.DateTime, fs.DateTime, "segment %d", fs.MSN)
				require.Equal(t, len(ls.Parts), len(fs.Parts), "parts of segment %d", fs.MSN)
				require.InDelta(t, ls.Duration, fs.Duration, float64(frame), "segment %d", fs.MSN)
				for j := range fs.Parts {
					require.True(t, fs.Parts[j].Independent, "every audio part is independent")
					_, ld := trackSamples(t, lrec.objects[ls.Parts[j].Name], 1)
					_, fd := trackSamples(t, frec.objects[fs.Parts[j].Name], 1)
					require.NotEmpty(t, fd)
					video := time.Duration(ld[0]) * time.Second / 90000
					audio := time.Duration(fd[0]) * time.Second / 44100
					require.GreaterOrEqual(t, audio, video-time.Millisecond, "part %d of segment %d", j, fs.MSN)
					require.Less(t, audio, video+frame, "part %d of segment %d starts with the first audio frame after the cut", j, fs.MSN)
				}
			}
			require.Zero(t, follower.outOfStep)
		})
	}
}

// newLeader is a low-latency segmenter of a video and an audio track, its recorder, and the configuration
// its followers start from.
func newLeader(t *testing.T) (cfg Config, lv, la *stream.Track, lrec *recorder, lead *Segmenter) {
	t.Helper()
	cfg = Config{LowLatency: true, SegmentCount: 30, PartMinDuration: 200 * time.Millisecond}
	lv, la = h264Track(), aacTrack()
	lrec = newRecorder(t)
	lcfg := cfg
	lcfg.Tracks, lcfg.Observer = []*stream.Track{lv, la}, lrec.observer()
	lead, err := New(lcfg)
	require.NoError(t, err)
	return cfg, lv, la, lrec, lead
}
