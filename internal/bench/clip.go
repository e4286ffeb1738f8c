package bench

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"
)

// Clip is a pre-encoded H.264 (+ AAC) clip held in memory, ready to be sent in real time.
type Clip struct {
	SPS, PPS []byte
	Audio    *mpeg4audio.AudioSpecificConfig // nil without an audio track
	// Frames are in send order (DTS, video before audio at equal times); times are relative to the
	// first video frame, which is a keyframe.
	Frames []Frame
	// Period is the length of one pass of the clip: where the timestamps of the next loop start.
	Period time.Duration
}

// Frame is one video access unit or one AAC access unit.
type Frame struct {
	Video bool
	Key   bool
	DTS   time.Duration
	PTS   time.Duration
	AU    [][]byte // NAL units (video) or a single AAC access unit
}

// LoadClip reads an MPEG-TS file with an H.264 track and optionally an AAC track.
func LoadClip(path string) (*Clip, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening clip: %w", err)
	}
	defer f.Close()
	c, err := readClip(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("reading clip %s: %w", path, err)
	}
	return c, nil
}

func ticksToDuration(t int64) time.Duration {
	return time.Duration(t) * time.Second / 90000
}

func readClip(r io.Reader) (*Clip, error) {
	tr := &mpegts.Reader{R: r}
	if err := tr.Initialize(); err != nil {
		return nil, err
	}
	c := &Clip{}
	var video, audio []Frame
	haveVideo := false
	for _, t := range tr.Tracks() {
		switch codec := t.Codec.(type) {
		case *tscodecs.H264:
			if haveVideo {
				continue
			}
			haveVideo = true
			tr.OnDataH264(t, func(pts, dts int64, au [][]byte) error {
				key := h264.IsRandomAccess(au)
				if len(video) == 0 && !key {
					return nil
				}
				out := make([][]byte, 0, len(au))
				for _, n := range au {
					if len(n) == 0 {
						continue
					}
					switch h264.NALUType(n[0] & 0x1f) {
					case h264.NALUTypeSPS:
						if c.SPS == nil {
							c.SPS = n
						}
					case h264.NALUTypePPS:
						if c.PPS == nil {
							c.PPS = n
						}
					case h264.NALUTypeAccessUnitDelimiter:
						continue
					}
					out = append(out, n)
				}
				video = append(video, Frame{Video: true, Key: key, DTS: ticksToDuration(dts), PTS: ticksToDuration(pts), AU: out})
				return nil
			})
		case *tscodecs.MPEG4Audio:
			if c.Audio != nil {
				continue
			}
			conf := codec.Config
			c.Audio = &conf
			rate := int64(conf.SampleRate)
			tr.OnDataMPEG4Audio(t, func(pts int64, aus [][]byte) error {
				for i, au := range aus {
					d := ticksToDuration(pts) + time.Duration(int64(i)*mpeg4audio.SamplesPerAccessUnit)*time.Second/time.Duration(rate)
					audio = append(audio, Frame{DTS: d, PTS: d, AU: [][]byte{au}})
				}
				return nil
			})
		}
	}
	if !haveVideo {
		return nil, errNoVideo
	}
	for {
		if err := tr.Read(); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, err
		}
	}
	if len(video) < 2 || c.SPS == nil || c.PPS == nil {
		return nil, errNoVideo
	}
	c.Frames, c.Period = interleave(video, audio)
	return c, nil
}

// interleave makes times relative to the first video frame, drops audio from before it, and orders
// the frames by DTS. The period is the video length plus one frame duration.
func interleave(video, audio []Frame) ([]Frame, time.Duration) {
	t0 := video[0].DTS
	frames := make([]Frame, 0, len(video)+len(audio))
	for _, f := range video {
		f.DTS -= t0
		f.PTS -= t0
		frames = append(frames, f)
	}
	last := frames[len(frames)-1].DTS
	step := last / time.Duration(len(video)-1)
	period := (last + step).Round(time.Millisecond)
	for _, f := range audio {
		f.DTS -= t0
		f.PTS -= t0
		if f.DTS < 0 || f.DTS >= period {
			continue
		}
		frames = append(frames, f)
	}
	sort.SliceStable(frames, func(i, j int) bool {
		if frames[i].DTS != frames[j].DTS {
			return frames[i].DTS < frames[j].DTS
		}
		return frames[i].Video && !frames[j].Video
	})
	return frames, period
}

// spsSize returns the picture size an SPS announces (0, 0 if it cannot be parsed).
func spsSize(sps []byte) (int, int) {
	var s h264.SPS
	if err := s.Unmarshal(sps); err != nil {
		return 0, 0
	}
	return s.Width(), s.Height()
}

// Kbps is the clip's bit rate, video and audio together, in kbit/s.
func (c *Clip) Kbps() float64 {
	var n int
	for _, f := range c.Frames {
		for _, au := range f.AU {
			n += len(au)
		}
	}
	if c.Period <= 0 {
		return 0
	}
	return float64(n) * 8 / 1000 / c.Period.Seconds()
}
