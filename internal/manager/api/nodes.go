package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/nagare-video/nagare/internal/cloud"
	"github.com/nagare-video/nagare/internal/manager/store"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

// ---- nodes and cloud instances: the operations ----

func (s *Server) node(id string) (store.Node, error) {
	n, ok := s.Cluster.Node(id)
	if !ok {
		return n, notFoundErr("node", id)
	}
	return n, nil
}

// drainNode takes a node out of routing; its viewers stay until it is empty or its deadline.
func (s *Server) drainNode(ctx context.Context, id string) (store.Node, error) {
	return s.Cluster.Transition(ctx, id, nodemodel.StateDraining, "drained through the API")
}

// terminateNode stops a node now through the cloud controller; its viewers are cut (drain first to spare
// them).
func (s *Server) terminateNode(ctx context.Context, id string) (store.Node, error) {
	n, err := s.node(id)
	if err != nil {
		return store.Node{}, err
	}
	if s.Scaler == nil {
		return store.Node{}, fmt.Errorf("terminating node %s: %w: stop its process instead", id, ErrNoController)
	}
	if err := s.Scaler.Terminate(ctx, n, "terminated through the API"); err != nil {
		return store.Node{}, err
	}
	s.Log.Info("node terminated through the API", "node", id)
	n, _ = s.node(id)
	return n, nil
}

func (s *Server) instances(ctx context.Context) ([]cloud.Instance, error) {
	if s.Instances == nil {
		return nil, fmt.Errorf("listing instances: %w", ErrNoController)
	}
	return s.Instances(ctx)
}

// cloudController names the controller that launches nodes, "none" when nodes register themselves.
func (s *Server) cloudController() string {
	if s.CloudController == "" {
		return "none"
	}
	return s.CloudController
}

func notFoundErr(kind, name string) error {
	return &notFound{kind: kind, name: clip(name)}
}

type notFound struct{ kind, name string }

func (e *notFound) Error() string { return e.kind + " " + strconv.Quote(e.name) + ": not found" }
func (e *notFound) Unwrap() error { return store.ErrNotFound }

// ---- native ----

func (n nativeAPI) listNodes(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, convertAll(n.s.Cluster.Nodes(r.URL.Query().Get("group")), nodeToAPI))
	return nil
}

// promTargets is one group of Prometheus HTTP service discovery (<http_sd_config>) targets.
type promTargets struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

// prometheusTargets answers Prometheus's HTTP service discovery: the metrics endpoint of every node in
// service or draining (both carry load), one group per node with its id, role, group and region as
// labels, the scheme its HTTP port speaks, and /metrics.
func (n nativeAPI) prometheusTargets(w http.ResponseWriter, r *http.Request) error {
	out := []promTargets{}
	for _, node := range n.s.Cluster.Nodes(r.URL.Query().Get("group")) {
		if (node.State != nodemodel.StateInService && node.State != nodemodel.StateDraining) || node.Addresses.HTTP == "" {
			continue
		}
		out = append(out, promTargets{Targets: []string{node.Addresses.HTTP}, Labels: map[string]string{
			"__scheme__": node.Addresses.HTTPScheme(), "__metrics_path__": "/metrics",
			"nagare_node": node.ID, "nagare_role": string(node.Role), "nagare_group": node.Group,
			"nagare_region": node.Region, "nagare_state": string(node.State),
		}})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (n nativeAPI) getNode(w http.ResponseWriter, r *http.Request) error {
	node, err := n.s.node(r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, nodeToAPI(node))
	return nil
}

func (n nativeAPI) drainNode(w http.ResponseWriter, r *http.Request) error {
	node, err := n.s.drainNode(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, nodeToAPI(node))
	return nil
}

func (n nativeAPI) terminateNode(w http.ResponseWriter, r *http.Request) error {
	node, err := n.s.terminateNode(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, nodeToAPI(node))
	return nil
}

func (n nativeAPI) listInstances(w http.ResponseWriter, r *http.Request) error {
	insts, err := n.s.instances(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, convertAll(insts, instanceToAPI))
	return nil
}

// ---- Red5 ----

// cloudController answers {"name": …}; Red5 answers the bare name, which a script's grep still finds.
func (a red5API) cloudController(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"name": a.s.cloudController()})
	return nil
}
