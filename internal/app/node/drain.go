package node

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/nagare-video/nagare/internal/nodeapi"
)

// drainPoll is how often a drain call looks whether the node is empty.
const drainPoll = 200 * time.Millisecond

// drainAPI serves nodeapi.PathDrain, which Kubernetes' preStop hook calls before the pod is stopped: the
// node's next reports ask the manager to drain it (no new viewers or publishers; those it has finish
// or come back through the manager), and the call waits until the node is empty or ?timeout= has
// passed, so that SIGTERM comes to a node nobody watches any more. It answers {"drained": <empty>, "connections": <left>}.
func (n *Node) drainAPI(w http.ResponseWriter, r *http.Request) {
	if !n.drainAuth(w, r) {
		return
	}
	var timeout time.Duration
	if s := r.URL.Query().Get("timeout"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 || d > nodeapi.MaxDrainWait {
			jsonError(w, http.StatusBadRequest, "timeout must be a duration between 0s and "+nodeapi.MaxDrainWait.String())
			return
		}
		timeout = d
	}
	if n.agent != nil {
		n.agent.Drain()
	}
	n.log.Info("draining: asked to by the drain endpoint (preStop)", "timeout", timeout, "connections", n.connections())
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(drainPoll)
	defer tick.Stop()
	left := n.connections()
	for left > 0 {
		select {
		case <-deadline.C:
		case <-r.Context().Done():
		case <-tick.C:
			left = n.connections()
			continue
		}
		break
	}
	n.log.Info("draining: done waiting", "connections", left)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"drained": left == 0, "connections": left})
}

// connections counts what keeps a node from being empty: its viewers and, but at edges and relays
// (whose streams come from their parent and end with their viewers), its publishers.
func (n *Node) connections() int {
	c := n.viewers(nil)
	if n.edge == nil {
		c += publishers(n.registry.List())
	}
	return c
}

// drainAuth checks that r carries the node's drain token (nodeapi.DrainToken) or the cluster secret, and
// answers it when not.
func (n *Node) drainAuth(w http.ResponseWriter, r *http.Request) bool {
	if n.cfg.Cluster.Secret == "" {
		jsonError(w, http.StatusForbidden, "the drain endpoint needs cluster.secret")
		return false
	}
	err := nodeapi.NewSecret(nodeapi.DrainToken(n.cfg.Cluster.Secret, n.cfg.Cluster.NodeID)).Check(r)
	if err != nil && n.secret.Check(r) == nil {
		err = nil
	}
	switch {
	case errors.Is(err, nodeapi.ErrNoToken):
		jsonError(w, http.StatusUnauthorized, "missing bearer token (the node's drain token or the cluster secret)")
	case err != nil:
		n.log.Warn("drain call refused", "remote", r.RemoteAddr, "cause", err)
		jsonError(w, http.StatusForbidden, "wrong token")
	default:
		return true
	}
	return false
}
