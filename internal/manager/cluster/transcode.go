package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nagare-video/nagare/internal/manager/selector"
	"github.com/nagare-video/nagare/internal/manager/store"
	"github.com/nagare-video/nagare/internal/nodeapi"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

// transcodeJobs remembers which transcoder node makes the ladder of which stream, so that a stream stays
// with its transcoder while both live, and moves when the transcoder leaves service.
type transcodeJobs struct {
	mu sync.Mutex
	by map[string]string // stream → transcoder node id
	// the streams and ladders read from the store, kept for a second: every transcoder's report reads them
	at      time.Time
	streams []store.StreamRecord
	ladders []store.Ladder
}

// transcodeJobsRefresh is how long the streams and ladders read for the assignment are reused.
const transcodeJobsRefresh = time.Second

// transcodeJobsOf returns the jobs of transcoder t: the streams with a provisioned ladder (or selected
// by TranscodeStreams), live on an in-service origin of t's group, that t makes. A stream without a transcoder (new, or whose transcoder
// left service) goes to the transcoder reporting now if none of the group's in-service transcoders
// has fewer jobs and t is below its capacity (0: no bound). A transcoder at capacity is a full node for
// the autoscaler: its load (the streams it transcodes ÷ capacity) raises the role's alarm.
func (r *Registry) transcodeJobsOf(ctx context.Context, t store.Node) []nodeapi.TranscodeJob {
	if t.State != nodemodel.StateInService {
		return nil
	}
	j := &r.jobs
	j.mu.Lock()
	defer j.mu.Unlock()
	if now := r.now(); now.Sub(j.at) >= transcodeJobsRefresh {
		// a store that does not answer leaves the jobs as the last reading made them
		streams, err := r.Store.ListStreams(ctx)
		var ladders []store.Ladder
		if err == nil {
			ladders, err = r.Store.ListLadders(ctx)
		}
		if err == nil {
			j.at, j.streams, j.ladders = now, streams, ladders
		} else {
			r.Log.Warn("transcoding jobs not updated", "cause", err)
		}
	}
	if j.by == nil {
		j.by = map[string]string{}
	}
	// the transcoders of t's group in service, and how many jobs each has
	count := map[string]int{}
	for _, n := range r.Nodes(t.Group) {
		if n.Role == nodemodel.RoleTranscoder && n.State == nodemodel.StateInService {
			count[n.ID] = 0
		}
	}
	origins := map[string]store.Node{} // of the streams that need a transcoder of this group
	ladders := map[string]store.Ladder{}
	for _, l := range j.ladders {
		ladders[l.Stream] = l
	}
	for _, s := range j.streams {
		_, provisioned := ladders[s.Name]
		selected := r.TranscodedWithout(s.Name) && !nodeapi.IsRendition(s.Protocol)
		if !provisioned && !selected || nodeapi.IsViaTranscoder(s.Protocol) {
			continue // no ladder (or a rendition); or published on a transcoder node, which makes the ladder itself
		}
		o, ok := r.Node(s.NodeID)
		if !ok || o.Role != nodemodel.RoleOrigin || o.State != nodemodel.StateInService || o.Group != t.Group || o.Addresses.HTTP == "" {
			continue
		}
		origins[s.Name] = o
	}
	for stream, tid := range j.by {
		if n, ok := r.Node(tid); ok && n.Group != t.Group {
			continue // another group's
		}
		_, needed := origins[stream]
		if _, up := count[tid]; needed && up {
			count[tid]++
			continue
		}
		delete(j.by, stream) // no longer needed, or its transcoder left service
	}
	waiting := make([]string, 0, len(origins))
	for stream := range origins {
		if _, ok := j.by[stream]; !ok {
			waiting = append(waiting, stream)
		}
	}
	slices.Sort(waiting)
	for len(waiting) > 0 {
		least := true
		for id, c := range count {
			if id != t.ID && c < count[t.ID] {
				least = false
			}
		}
		if !least || (t.Capacity > 0 && count[t.ID] >= t.Capacity) || t.Stats.Overloaded != "" {
			break // not the least busy; full; or falling behind with what it has
		}
		stream := waiting[0]
		waiting = waiting[1:]
		j.by[stream] = t.ID
		count[t.ID]++
		r.Log.Info("transcoding job assigned", "stream", stream, "transcoder", t.ID, "origin", origins[stream].ID)
	}
	if len(waiting) > 0 && r.Unserved != nil && r.transcodersFull(count) {
		for range waiting {
			r.Unserved(t.Group, nodemodel.RoleTranscoder)
		}
	}
	return j.mine(t.ID, origins, ladders)
}

// TranscodedWithout reports whether stream name ("app/stream") is made a ladder of without one
// provisioned: TranscodeStreams selects it ("app/stream", "app/*" or "*", as the nodes' transcode.streams).
func (r *Registry) TranscodedWithout(name string) bool {
	return slices.ContainsFunc(r.TranscodeStreams, func(pat string) bool { return nodemodel.StreamMatches(pat, name) })
}

// Origin answers a node asking where a stream is.
//
// A transcoder asks where a stream published on it goes: the origin where the stream is live, else one of
// the node's group, chosen as for any publisher. An edge or relay asks where to pull a stream that its
// parent does not carry (several origins in its group and no relay in front of them): the origin on
// which the stream is live (selector.StreamSource); ErrUnavailable when none is.
func (r *Registry) Origin(_ context.Context, req nodeapi.OriginRequest) (nodeapi.OriginResponse, error) {
	t, ok := r.Node(req.ID)
	if !ok {
		return nodeapi.OriginResponse{}, fmt.Errorf("node %q: %w", req.ID, nodeapi.ErrUnknownNode)
	}
	var (
		o   selector.Node
		err error
	)
	switch {
	case t.Role == nodemodel.RoleTranscoder:
		o, err = selector.PickOrigin(r.FreshSnapshot(), t.Group, req.Stream, r.originPick.Add(1)-1)
	case t.Role.Pulls():
		var found bool
		if o, found = selector.StreamSource(r.FreshSnapshot(), selector.Node{ID: t.ID, Group: t.Group, Role: t.Role}, req.Stream); !found {
			err = errors.New("it is live on no origin")
		}
	default:
		return nodeapi.OriginResponse{}, fmt.Errorf("%w: node %q is a %s, which asks no origin for streams", nodeapi.ErrInvalid, t.ID, t.Role)
	}
	if err != nil {
		return nodeapi.OriginResponse{}, fmt.Errorf("%w: stream %s of %s %s: %w", nodeapi.ErrUnavailable, req.Stream, t.Role, t.ID, err)
	}
	full, ok := r.Node(o.ID)
	if !ok || full.Addresses.HTTP == "" {
		return nodeapi.OriginResponse{}, fmt.Errorf("%w: origin %s has no HTTP address", nodeapi.ErrUnavailable, o.ID)
	}
	return nodeapi.OriginResponse{Origin: full.Addresses.HTTPURL()}, nil
}

// transcodersFull reports whether every transcoder counted has as many jobs as its capacity (one without
// a capacity is never full) or is overloaded.
func (r *Registry) transcodersFull(count map[string]int) bool {
	for id, c := range count {
		n, ok := r.Node(id)
		if !ok || (n.Stats.Overloaded == "" && (n.Capacity <= 0 || c < n.Capacity)) {
			return false
		}
	}
	return true
}

// ladderResponse is a stored ladder as the node protocol carries it.
func ladderResponse(l store.Ladder) nodeapi.LadderResponse {
	out := nodeapi.LadderResponse{Found: true, AudioBitrate: l.AudioBitrate}
	for _, rg := range l.Rungs {
		out.Rungs = append(out.Rungs, nodeapi.Rung{Name: rg.Name, Height: rg.Height, VideoBitrate: rg.VideoBitrate, MaxRate: rg.MaxRate, FrameRate: rg.FrameRate})
	}
	return out
}

// mine lists the jobs of transcoder id (j.mu held).
func (j *transcodeJobs) mine(id string, origins map[string]store.Node, ladders map[string]store.Ladder) []nodeapi.TranscodeJob {
	var out []nodeapi.TranscodeJob
	for stream, tid := range j.by {
		o, ok := origins[stream]
		if tid != id || !ok {
			continue
		}
		job := nodeapi.TranscodeJob{Stream: stream, Origin: o.Addresses.HTTPURL()}
		if l, ok := ladders[stream]; ok {
			resp := ladderResponse(l)
			job.Ladder = &resp
		}
		out = append(out, job)
	}
	slices.SortFunc(out, func(a, b nodeapi.TranscodeJob) int { return strings.Compare(a.Stream, b.Stream) })
	return out
}
