package api

import (
	"context"
	"fmt"
	"net/http"

	"github.com/nagare-video/nagare/internal/manager/api/apitypes"
)

// ---- live streams and their recording (native only) ----

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

func (n nativeAPI) listStreams(w http.ResponseWriter, r *http.Request) error {
	ss, err := n.s.Store.ListStreams(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, convertAll(ss, streamToAPI))
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
