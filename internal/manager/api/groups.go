package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"

	"github.com/nagare-video/nagare/internal/manager/api/apitypes"
	"github.com/nagare-video/nagare/internal/manager/store"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

// ---- node groups: the operations both APIs call ----

func newGroupName() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return "group-" + h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// createGroup stores a new group; without a name it gets one of Red5's form, group-<uuid>.
func (s *Server) createGroup(ctx context.Context, g store.NodeGroup) (store.NodeGroup, error) {
	if g.Name == "" {
		g.Name = newGroupName()
	}
	if err := validateGroup(g); err != nil {
		return g, err
	}
	g, err := s.Store.CreateGroup(ctx, g)
	if err == nil {
		s.Log.Info("node group created", "group", g.Name, "launchConfig", g.LaunchConfig, "scalePolicy", g.ScalePolicy)
	}
	return g, err
}

// group returns a group by name or by id.
func (s *Server) group(ctx context.Context, nameOrID string) (store.NodeGroup, error) {
	return s.Store.GetGroup(ctx, nameOrID)
}

func (s *Server) groups(ctx context.Context) ([]store.NodeGroup, error) {
	return s.Store.ListGroups(ctx)
}

// deleteGroup deletes a group (by name or id) and returns it as it was, with the nodes being terminated
// first. With a cloud controller its nodes are terminated and the group goes with the last of them;
// without one, a group with live nodes is refused (409) until they are gone, since nagare cannot stop
// nodes that registered themselves.
func (s *Server) deleteGroup(ctx context.Context, nameOrID string) (store.NodeGroup, []string, error) {
	g, err := s.Store.GetGroup(ctx, nameOrID)
	if err != nil {
		return g, nil, err
	}
	var terminating []string
	if s.Scaler != nil {
		if terminating, err = s.Scaler.DeleteGroup(ctx, g.Name); err != nil {
			return g, nil, err
		}
	} else if err := s.Store.DeleteGroup(ctx, g.Name); err != nil {
		return g, nil, err
	}
	s.Log.Info("node group deleted", "group", g.Name, "terminating", len(terminating))
	return g, terminating, nil
}

// groupNodes returns a group's nodes, of one role or ("") of every role.
func (s *Server) groupNodes(ctx context.Context, nameOrID string, role nodemodel.Role) (store.NodeGroup, []store.Node, error) {
	g, err := s.Store.GetGroup(ctx, nameOrID)
	if err != nil {
		return g, nil, err
	}
	if role != "" && !role.Valid() {
		return g, nil, invalid("role %q is not origin, relay, edge or transcoder", clip(role))
	}
	out := []store.Node{}
	for _, n := range s.Cluster.Nodes(g.Name) {
		if role == "" || n.Role == role {
			out = append(out, n)
		}
	}
	return g, out, nil
}

// launchNode asks the autoscaler for a node of role in the group now (within the role's maxLimit).
func (s *Server) launchNode(ctx context.Context, nameOrID string, role nodemodel.Role) (store.NodeGroup, store.Node, error) {
	g, err := s.Store.GetGroup(ctx, nameOrID)
	if err != nil {
		return g, store.Node{}, err
	}
	if !role.Valid() {
		return g, store.Node{}, invalid("role %q is not origin, relay, edge or transcoder", clip(role))
	}
	if s.Scaler == nil {
		return g, store.Node{}, fmt.Errorf("cannot launch a node of role %s in group %q: %w", role, g.Name, ErrNoController)
	}
	n, err := s.Scaler.Launch(ctx, g.Name, role)
	return g, n, err
}

// ---- native ----

func (n nativeAPI) listGroups(w http.ResponseWriter, r *http.Request) error {
	gs, err := n.s.groups(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, convertAll(gs, groupToAPI))
	return nil
}

func (n nativeAPI) createGroup(w http.ResponseWriter, r *http.Request) error {
	var b apitypes.NewNodeGroup
	if err := decode(r, &b, refuseUnknown); err != nil {
		return err
	}
	g, err := n.s.createGroup(r.Context(), newGroupFromAPI(b))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, groupToAPI(g))
	return nil
}

func (n nativeAPI) getGroup(w http.ResponseWriter, r *http.Request) error {
	g, err := n.s.group(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, groupToAPI(g))
	return nil
}

// deleteGroup answers 204 when the group is gone, 202 with the nodes being terminated when it goes
// with the last of them.
func (n nativeAPI) deleteGroup(w http.ResponseWriter, r *http.Request) error {
	g, terminating, err := n.s.deleteGroup(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	if len(terminating) > 0 {
		writeJSON(w, http.StatusAccepted, apitypes.GroupDeletion{Group: g.Name, Terminating: terminating})
		return nil
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (n nativeAPI) listGroupNodes(w http.ResponseWriter, r *http.Request) error {
	_, nodes, err := n.s.groupNodes(r.Context(), r.PathValue("name"), "")
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, convertAll(nodes, nodeToAPI))
	return nil
}

func (n nativeAPI) launchNode(w http.ResponseWriter, r *http.Request) error {
	_, node, err := n.s.launchNode(r.Context(), r.PathValue("name"), nodemodel.Role(r.PathValue("role")))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, nodeToAPI(node))
	return nil
}

// ---- Red5 ----

func (a red5API) createGroup(w http.ResponseWriter, r *http.Request) error {
	var b red5GroupIn
	if err := decode(r, &b, ignoreUnknown); err != nil {
		return err
	}
	g, err := a.s.createGroup(r.Context(), store.NodeGroup{Name: b.Name, Regions: b.Regions, LaunchConfig: b.LaunchConfig, ScalePolicy: b.ScalePolicy})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, red5GroupOf(g))
	return nil
}

func (a red5API) listGroups(w http.ResponseWriter, r *http.Request) error {
	gs, err := a.s.groups(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, convertAll(gs, red5GroupOf))
	return nil
}

func (a red5API) getGroup(w http.ResponseWriter, r *http.Request) error {
	g, err := a.s.group(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, red5GroupOf(g))
	return nil
}

// deleteGroup answers the group as it was, as Red5 does, whether or not its nodes are still going.
func (a red5API) deleteGroup(w http.ResponseWriter, r *http.Request) error {
	g, _, err := a.s.deleteGroup(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, red5GroupOf(g))
	return nil
}

// listGroupNodes lists the nodes of a group, of every role or (a nagare extension) of the role in the
// path.
func (a red5API) listGroupNodes(w http.ResponseWriter, r *http.Request) error {
	g, nodes, err := a.s.groupNodes(r.Context(), r.PathValue("name"), nodemodel.Role(r.PathValue("role")))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, convertAll(nodes, func(n store.Node) red5Node { return red5NodeOf(n, g) }))
	return nil
}

// launchNode answers the node in the shape of the node list (Red5 answers the group); without a cloud
// controller the error says how nodes join instead.
func (a red5API) launchNode(w http.ResponseWriter, r *http.Request) error {
	role := nodemodel.Role(r.PathValue("role"))
	g, n, err := a.s.launchNode(r.Context(), r.PathValue("name"), role)
	if errors.Is(err, ErrNoController) {
		return fmt.Errorf("cannot launch a new %s node in group %q: %w; nodes join by running `nagare node --role %s --manager <manager URL>` with cluster.group %q",
			role, g.Name, ErrNoController, role, g.Name)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, red5NodeOf(n, g))
	return nil
}
