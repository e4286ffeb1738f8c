package transcode

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nagare-video/nagare/internal/media/stream"
	"github.com/nagare-video/nagare/internal/nodeapi"
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

// read publishes the rendition ffmpeg writes to r as a stream of the node, until r ends.
func (j *job) read(rg *rung, r io.Reader) error {
	err := PublishTS(j.t.reg, r, Publication{
		Path: rg.path, Protocol: nodeapi.ProtocolTranscode, Remote: "ffmpeg", Close: j.kill,
		Rendition: &stream.Rendition{Of: j.src.Path, Rung: rg.variant.Name, Bandwidth: rg.bandwidth},
		OnVideo:   rg.observe,
	}, j.log)
	if err != nil {
		return fmt.Errorf("rendition %s: %w", rg.variant.Name, err)
	}
	return nil
}
