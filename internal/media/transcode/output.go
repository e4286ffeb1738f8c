package transcode

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"

	"github.com/nagare-video/nagare/internal/media/stream"
	"github.com/nagare-video/nagare/internal/vod/ladder"
)

// rung is one rendition of a job: ffmpeg's output for it, read back and published as a stream.
type rung struct {
	variant ladder.Variant
	path    stream.Path
	// bandwidth is the nominal peak video bit rate
	bandwidth int

	lastOut atomic.Int64 // wall-clock time (Unix ns) of the latest unit out

	mu          sync.Mutex
	speed       float64 // media time made per wall-clock time over the latest window
	windowStart time.Time
	windowPTS   time.Duration
	lastPTS     time.Duration
}

// speedWindow is the period over which a rung's speed (× real time) is measured.
const speedWindow = 2 * time.Second

// observe notes a video unit of presentation time pts made at now.
func (r *rung) observe(pts time.Duration, now time.Time) {
	r.lastOut.Store(now.UnixNano())
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lastPTS = pts
	if r.windowStart.IsZero() {
		r.windowStart, r.windowPTS = now, pts
		return
	}
	if el := now.Sub(r.windowStart); el >= speedWindow {
		r.speed = float64(pts-r.windowPTS) / float64(el)
		r.windowStart, r.windowPTS = now, pts
	}
}

// RungStats is what a rendition is doing.
type RungStats struct {
	Name   string  `json:"name"`
	Stream string  `json:"stream"`
	Width  int     `json:"width"`
	Height int     `json:"height"`
	Speed  float64 `json:"speed"` // × real time over the latest window; below 1 the rung falls behind
	// Delay is how far the rung's latest frame is behind the latest frame given to ffmpeg.
	Delay time.Duration `json:"delayNs"`
}

// read publishes the rendition ffmpeg writes to r (MPEG-TS, the source's timestamps plus tsBase) as a
// stream of reg, until r ends. The stream is unpublished when read returns.
func (j *job) read(rg *rung, r io.Reader) error {
	tr := &mpegts.Reader{R: bufio.NewReaderSize(r, 64<<10)}
	if err := tr.Initialize(); err != nil {
		return fmt.Errorf("reading rendition %s: %w", rg.variant.Name, err)
	}
	var tracks []*stream.Track
	bind := map[*stream.Track]*mpegts.Track{}
	for _, t := range tr.Tracks() {
		var st *stream.Track
		switch c := t.Codec.(type) {
		case *tscodecs.H264:
			st = &stream.Track{Codec: &stream.H264{}}
		case *tscodecs.MPEG4Audio:
			st = &stream.Track{Codec: &stream.MPEG4Audio{Config: c.Config}}
		default:
			continue
		}
		tracks = append(tracks, st)
		bind[st] = t
	}
	if len(tracks) == 0 {
		return fmt.Errorf("rendition %s: ffmpeg wrote no H.264 nor AAC track", rg.variant.Name)
	}
	st, err := j.t.reg.Publish(stream.PublishRequest{
		Path: rg.path, Tracks: tracks, Protocol: "transcode", Remote: "ffmpeg",
		Close:     j.kill,
		Rendition: &stream.Rendition{Of: j.src.Path, Rung: rg.variant.Name, Bandwidth: rg.bandwidth},
	})
	if err != nil {
		return fmt.Errorf("publishing rendition %s: %w", rg.path, err)
	}
	defer j.t.reg.Unpublish(st)

	// timestamps come back as ffmpeg got them: 33-bit MPEG-TS times, unwrapped from the first one on
	var td mpegts.TimeDecoder
	var first int64
	firstSet := false
	at := func(raw int64) time.Duration {
		if !firstSet {
			first, firstSet = raw, true
		}
		v := first + td.Decode(raw)
		return time.Duration(v/90000)*time.Second + time.Duration(v%90000)*time.Second/90000 - tsBase
	}
	decodeErrors := 0
	tr.OnDecodeError(func(err error) {
		decodeErrors++
		if decodeErrors%100 == 1 {
			j.log.Warn("rendition decode error", "rung", rg.variant.Name, "cause", err, "count", decodeErrors)
		}
	})
	for track, tsTrack := range bind {
		switch track.Codec.(type) {
		case *stream.H264:
			tr.OnDataH264(tsTrack, func(pts, _ int64, au [][]byte) error {
				now := time.Now()
				u := &stream.Unit{Track: track, NTP: now, PTS: at(pts), Payload: au, Size: stream.PayloadSize(au)}
				rg.observe(u.PTS, now)
				st.Write(u)
				return nil
			})
		case *stream.MPEG4Audio:
			tr.OnDataMPEG4Audio(tsTrack, func(pts int64, aus [][]byte) error {
				st.Write(&stream.Unit{Track: track, NTP: time.Now(), PTS: at(pts), Payload: aus, Size: stream.PayloadSize(aus)})
				return nil
			})
		}
	}
	for {
		if err := tr.Read(); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil
			}
			return fmt.Errorf("reading rendition %s: %w", rg.variant.Name, err)
		}
	}
}
