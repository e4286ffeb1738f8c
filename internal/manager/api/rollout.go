package api

import (
	"context"
	"maps"
	"net/http"
	"slices"

	"github.com/nagare-video/nagare/internal/cloud"
	"github.com/nagare-video/nagare/internal/manager/api/apitypes"
	"github.com/nagare-video/nagare/internal/manager/autoscaler"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

// rolloutEvents is how many of a group's latest scale events are searched for rolling-upgrade steps.
const rolloutEvents = 200

// rollout says how far a group's nodes are from what its launch configuration asks for.
func (s *Server) rollout(ctx context.Context, nameOrID string) (apitypes.Rollout, error) {
	g, err := s.Store.GetGroup(ctx, nameOrID)
	if err != nil {
		return apitypes.Rollout{}, err
	}
	lc, err := s.Store.GetLaunchConfig(ctx, g.LaunchConfig)
	if err != nil {
		return apitypes.Rollout{}, err
	}
	insts := map[string]cloud.Instance{}
	if s.Instances != nil {
		list, err := s.Instances(ctx)
		if err != nil {
			return apitypes.Rollout{}, err
		}
		for _, in := range list {
			insts[in.NodeID] = in
		}
	}
	out := apitypes.Rollout{Group: g.Name, LaunchConfig: lc.Name, Version: autoscaler.ExpectedVersion(lc, s.Version),
		Image: lc.Image, Roles: []apitypes.RoleRollout{}, Events: []apitypes.ScaleEvent{}}
	roles := map[nodemodel.Role]*apitypes.RoleRollout{}
	for _, t := range lc.Targets {
		roles[t.Role] = &apitypes.RoleRollout{Role: t.Role, Nodes: []string{}}
	}
	for _, n := range s.Cluster.Nodes(g.Name) {
		r := roles[n.Role]
		if r == nil {
			r = &apitypes.RoleRollout{Role: n.Role, Nodes: []string{}}
			roles[n.Role] = r
		}
		_, managed := insts[n.ID]
		switch {
		case n.State == nodemodel.StateInService && s.Instances != nil && !managed:
			r.Unmanaged++
		case n.State == nodemodel.StateInService:
			if autoscaler.Outdated(n, insts[n.ID], lc, s.Version) {
				r.Outdated++
				r.Nodes = append(r.Nodes, n.ID)
			} else {
				r.Current++
			}
		case n.State == nodemodel.StatePending || n.State == nodemodel.StateRunning:
			r.Launching++
		case n.State == nodemodel.StateDraining:
			r.Draining++
		}
	}
	out.Done = true
	for _, role := range slices.Sorted(maps.Keys(roles)) {
		r := roles[role]
		slices.Sort(r.Nodes)
		out.Roles = append(out.Roles, *r)
		if r.Outdated > 0 {
			out.Done = false
		}
	}
	evs, err := s.Store.ScaleEvents(ctx, g.Name, rolloutEvents)
	if err != nil {
		return apitypes.Rollout{}, err
	}
	for _, e := range evs {
		if e.Action == autoscaler.ActionRollingUpgrade {
			out.Events = append(out.Events, scaleEventToAPI(e))
		}
	}
	return out, nil
}

func (n nativeAPI) getRollout(w http.ResponseWriter, r *http.Request) error {
	ro, err := n.s.rollout(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ro)
	return nil
}
