package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/nagare-video/nagare/internal/manager/api/apitypes"
	"github.com/nagare-video/nagare/internal/manager/store"
	"github.com/nagare-video/nagare/internal/nodeapi"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

// ---- live streams, their recording and their publishers (native only) ----

// record asks the in-service origins to record (on) or stop recording the stream app/name and returns
// the nodes that agreed.
func (s *Server) record(ctx context.Context, app, name string, on bool) (string, []string, error) {
	path, err := streamPath(app, name)
	if err != nil {
		return "", nil, err
	}
	if s.Record == nil {
		return path, nil, fmt.Errorf("recording %s: %w", path, ErrNoOriginToRecord)
	}
	nodes, err := s.Record(ctx, path, on)
	return path, nodes, err
}

// liveStreams returns every live stream (the store's records, ordered by name) with what the nodes
// carrying it reported of it in their latest load reports.
func (s *Server) liveStreams(ctx context.Context) ([]apitypes.Stream, error) {
	records, err := s.Store.ListStreams(ctx)
	if err != nil {
		return nil, err
	}
	wanted := make(map[string]string, len(records)) // stream → its origin
	for _, r := range records {
		wanted[r.Name] = r.NodeID
	}
	byStream := make(map[string]*carried, len(records))
	for _, n := range s.Cluster.Nodes("") { // ordered by id: so are the edges of each stream
		for _, l := range n.Stats.Loads {
			origin, ok := wanted[l.Name]
			switch {
			case !ok:
				continue
			case byStream[l.Name] == nil:
				byStream[l.Name] = &carried{}
			}
			c := byStream[l.Name]
			switch {
			case n.ID == origin:
				c.Origin = &l
			case n.Role.Pulls():
				c.Others = append(c.Others, nodeLoad{NodeID: n.ID, StreamLoad: l})
			}
		}
	}
	out := make([]apitypes.Stream, len(records))
	for i, r := range records {
		var c carried
		if p := byStream[r.Name]; p != nil {
			c = *p
		}
		out[i] = liveStreamToAPI(r, c)
	}
	return out, nil
}

// carried is what the nodes carrying a live stream reported of it: its origin (nil when the origin did not
// list it) and the edges and relays that did.
type carried struct {
	Origin *nodemodel.StreamLoad
	Others []nodeLoad
}

// nodeLoad is a stream as one node reported it.
type nodeLoad struct {
	NodeID string
	nodemodel.StreamLoad
}

// liveStreamToAPI is the record of a live stream with what its nodes reported of it.
func liveStreamToAPI(r store.StreamRecord, c carried) apitypes.Stream {
	out := streamToAPI(r)
	var viewers apitypes.StreamViewers
	counted := false
	// count adds the viewers of a node that splits them by protocol, and says whether it does (older
	// nodes only give their sum: their share is unknown, not zero)
	count := func(l nodemodel.StreamLoad) bool {
		if l.HLSViewers+l.WebRTCViewers == 0 && l.Subscribers > 0 {
			return false
		}
		viewers.HLS += l.HLSViewers
		viewers.WebRTC += l.WebRTCViewers
		counted = true
		return true
	}
	if o := c.Origin; o != nil {
		out.Codecs, out.Width, out.Height, out.Bitrate = o.Codecs, o.Width, o.Height, o.Bitrate
		out.Renditions = slices.Clone(o.Renditions)
		recording := o.Recording
		out.Recording = &recording
		count(*o)
	}
	for _, e := range c.Others {
		if count(e.StreamLoad) && e.HLSViewers+e.WebRTCViewers > 0 {
			out.Edges = append(out.Edges, apitypes.StreamEdge{NodeID: e.NodeID, HLS: e.HLSViewers, WebRTC: e.WebRTCViewers})
		}
	}
	if counted {
		out.Viewers = &viewers
	}
	return out
}

// stopPublisher asks the origin that carries the stream app/name to close its publisher's connection;
// the publisher may publish again (its credentials still hold).
func (s *Server) stopPublisher(ctx context.Context, app, name string) error {
	path, err := streamPath(app, name)
	if err != nil {
		return err
	}
	rec, err := s.Store.GetStream(ctx, path)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("stream %s is not live: %w", path, store.ErrNotFound)
	case err != nil:
		return err
	}
	n, ok := s.Cluster.Node(rec.NodeID)
	if !ok || n.Addresses.HTTP == "" {
		return fmt.Errorf("%w: origin %s of %s has no HTTP address", ErrNodeUnreachable, rec.NodeID, path)
	}
	ctx, cancel := context.WithTimeout(ctx, proxyTimeout)
	defer cancel()
	pubs := nodeapi.Publishers{Secret: s.ClusterSecret, HTTP: s.nodeClient()}
	switch err := pubs.Stop(ctx, n.Addresses.HTTPURL(), path); {
	case err == nil:
		s.Log.Info("publisher stopped", "stream", path, "node", n.ID, "cause", "stopped by the operator")
		return nil
	case errors.Is(err, nodeapi.ErrNotLive):
		return fmt.Errorf("stream %s is not live on its origin %s: %w", path, n.ID, store.ErrNotFound)
	case errors.Is(err, nodeapi.ErrConflict):
		return fmt.Errorf("%w: origin %s: %v", store.ErrStateConflict, n.ID, err)
	default:
		return unreachable(n, err)
	}
}

func (n nativeAPI) listStreams(w http.ResponseWriter, r *http.Request) error {
	ss, err := n.s.liveStreams(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ss)
	return nil
}

func (n nativeAPI) stopPublisher(w http.ResponseWriter, r *http.Request) error {
	if err := n.s.stopPublisher(r.Context(), r.PathValue("app"), r.PathValue("stream")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (n nativeAPI) startRecording(w http.ResponseWriter, r *http.Request) error {
	return n.recording(w, r, true)
}

func (n nativeAPI) stopRecording(w http.ResponseWriter, r *http.Request) error {
	return n.recording(w, r, false)
}

func (n nativeAPI) recording(w http.ResponseWriter, r *http.Request, on bool) error {
	path, nodes, err := n.s.record(r.Context(), r.PathValue("app"), r.PathValue("stream"), on)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, apitypes.Recording{Stream: path, Recording: on, Nodes: nodes})
	return nil
}
