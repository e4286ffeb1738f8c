package api

import (
	"context"
	"net/http"
	"strconv"

	"github.com/nagare-video/nagare/internal/manager/store"
)

// ---- node lifecycle events and scale events (native only) ----

// nodeEvents returns the latest events of a node, or ("") of every node, oldest first.
func (s *Server) nodeEvents(ctx context.Context, nodeID string, limit int) ([]store.NodeEvent, error) {
	if nodeID != "" {
		if _, err := s.node(nodeID); err != nil {
			return nil, err
		}
	}
	return s.Store.NodeEvents(ctx, nodeID, limit)
}

// limitParam is the limit query parameter, 1–1000, 100 when it is missing or out of range.
func limitParam(r *http.Request) int {
	n, err := strconv.Atoi(r.URL.Query().Get("limit"))
	if err != nil || n < 1 || n > 1000 {
		return 100
	}
	return n
}

func (n nativeAPI) listNodeEvents(w http.ResponseWriter, r *http.Request) error {
	evs, err := n.s.nodeEvents(r.Context(), r.PathValue("id"), limitParam(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, convertAll(evs, nodeEventToAPI))
	return nil
}

func (n nativeAPI) listEvents(w http.ResponseWriter, r *http.Request) error {
	evs, err := n.s.nodeEvents(r.Context(), "", limitParam(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, convertAll(evs, nodeEventToAPI))
	return nil
}

func (n nativeAPI) listScaleEvents(w http.ResponseWriter, r *http.Request) error {
	evs, err := n.s.Store.ScaleEvents(r.Context(), r.URL.Query().Get("group"), limitParam(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, convertAll(evs, scaleEventToAPI))
	return nil
}
