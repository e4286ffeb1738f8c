package node

import (
	"fmt"
	"sync"
	"time"

	"github.com/nagare-video/nagare/internal/media/transcode"
)

// A node that transcodes says it is overloaded when its transcoding falls behind real time (CPU is a
// transcoding node's limit, not connections): a rung slower than real time, a rung far behind its
// source, or source units dropped because ffmpeg does not take them. The manager then gives it nothing
// new and counts it full, so that the autoscaler adds a node, rather than the node serving renditions
// ever further behind without a word.

const (
	// behindSpeed is the speed (× real time, over a rung's window) below which a rung falls behind.
	behindSpeed = 0.9
	// behindDelay is how far behind the frames given to ffmpeg a rung's output may be.
	behindDelay = 3 * time.Second
	// behindLooks is how many reports in a row must find the transcoding behind before the node says it
	// is overloaded: a moment's hiccup (a restart, a keyframe burst) is not an overload.
	behindLooks = 2
)

// overload watches the transcoding from one load report to the next.
type overload struct {
	mu      sync.Mutex
	dropped map[string]uint64 // each job's dropped source units at the last look
	strikes int
	said    string // the overload the node reports now ("" none)
}

// check looks at the transcoding's state and returns the overload to report ("" none): the first cause
// found, once behindLooks reports in a row have found one.
func (o *overload) check(jobs []transcode.JobStats) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	cause := ""
	dropped := make(map[string]uint64, len(jobs))
	for _, j := range jobs {
		dropped[j.Stream] = j.Dropped
		if !j.Running || cause != "" {
			continue
		}
		if last, ok := o.dropped[j.Stream]; ok && j.Dropped > last {
			cause = fmt.Sprintf("%s: %d source units dropped since the last report (ffmpeg does not keep up)", j.Stream, j.Dropped-last)
			continue
		}
		for _, r := range j.Rungs {
			switch {
			case r.Speed > 0 && r.Speed < behindSpeed:
				cause = fmt.Sprintf("%s: rung %s at %.2f× real time", j.Stream, r.Name, r.Speed)
			case r.Delay > behindDelay:
				cause = fmt.Sprintf("%s: rung %s %s behind its source", j.Stream, r.Name, r.Delay.Round(100*time.Millisecond))
			default:
				continue
			}
			break
		}
	}
	o.dropped = dropped
	if cause == "" {
		o.strikes = 0
	} else {
		o.strikes++
	}
	if o.strikes < behindLooks {
		cause = ""
	}
	o.said = cause
	return cause
}

// now returns the overload reported last ("" none).
func (o *overload) now() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.said
}
