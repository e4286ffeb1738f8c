package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/nagare-video/nagare/internal/manager/steering"
)

// SteeringPrefix is where the manager answers HLS Content Steering requests:
// GET /steering/v1/<app>/<stream>?_HLS_pathway=<node>&port=<the edge's port>.
const SteeringPrefix = "/steering/v1"

// defaultSteeringTTL is the manifests' TTL when the server is not told one.
const defaultSteeringTTL = 5 * time.Second

// steer answers a player's steering request with a steering manifest (RFC 8216bis §7.1): the pathway
// (edge) to load from, cloned from the player's own when it is new to the player. Every answer is the
// player's own (no-store); a player whose edge serves it stays there.
func (s *Server) steer(w http.ResponseWriter, r *http.Request) error {
	path, err := streamPath(r.PathValue("app"), r.PathValue("stream"))
	if err != nil {
		return err
	}
	q := r.URL.Query()
	req := steering.Request{Path: path, Pathway: q.Get("_HLS_pathway"), Port: q.Get("port"),
		Group: q.Get("group"), Region: q.Get("region")}
	if req.Pathway != "" && !steering.ValidPathway(req.Pathway) {
		return invalid("_HLS_pathway %q is not a pathway ID ([A-Za-z0-9._-], at most 64)", clip(req.Pathway))
	}
	if req.Port != "" {
		if p, err := strconv.Atoi(req.Port); err != nil || p < 1 || p > 65535 {
			return invalid("port %q must be a TCP port", clip(req.Port))
		}
	}
	d := steering.Decide(s.Cluster.FreshSnapshot(), req, s.Weights)
	if d.Moved {
		s.Log.Debug("steering a player to another edge", "stream", path, "from", req.Pathway, "to", d.Priority[0], "reason", d.Reason)
	}
	ttl := s.SteeringTTL
	if ttl <= 0 {
		ttl = defaultSteeringTTL
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, d.Manifest(int(ttl/time.Second), ""))
	return nil
}
