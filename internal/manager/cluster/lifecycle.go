// Package cluster is the stream manager's node registry: nodes register and report over the nodeapi
// protocol, move through the lifecycle pending → running → inservice → draining → terminating →
// terminated (every transition stored with its time and cause), and are marked dead when they fall
// silent. It keeps an in-memory view of the nodes for fast routing, backed by the store.
package cluster

import (
	"fmt"
	"slices"

	"github.com/nagare-video/nagare/internal/nodemodel"
)

// transitions lists the states each state may move to.
var transitions = map[nodemodel.State][]nodemodel.State{
	nodemodel.StatePending:     {nodemodel.StateRunning, nodemodel.StateTerminating, nodemodel.StateTerminated},
	nodemodel.StateRunning:     {nodemodel.StateInService, nodemodel.StateDraining, nodemodel.StateTerminating, nodemodel.StateTerminated},
	nodemodel.StateInService:   {nodemodel.StateDraining, nodemodel.StateTerminating, nodemodel.StateTerminated},
	nodemodel.StateDraining:    {nodemodel.StateInService, nodemodel.StateTerminating, nodemodel.StateTerminated},
	nodemodel.StateTerminating: {nodemodel.StateTerminated},
	// a terminated node that comes back (it was only silent) registers again
	nodemodel.StateTerminated: {nodemodel.StateRunning},
}

// CanTransition reports whether a node may move from one state to another.
func CanTransition(from, to nodemodel.State) bool {
	return slices.Contains(transitions[from], to)
}

// sourcesOf returns the states from which to can be reached.
func sourcesOf(to nodemodel.State) []nodemodel.State {
	var out []nodemodel.State
	for _, from := range nodemodel.States {
		if CanTransition(from, to) {
			out = append(out, from)
		}
	}
	return out
}

// ErrTransition is returned for a transition the lifecycle does not allow.
type ErrTransition struct{ From, To nodemodel.State }

func (e *ErrTransition) Error() string {
	return fmt.Sprintf("a node cannot go from %s to %s", e.From, e.To)
}
