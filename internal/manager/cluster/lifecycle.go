// Package cluster is the stream manager's node registry: nodes register and report over the nodeapi
// protocol, move through the lifecycle pending → running → inservice → draining → terminating →
// terminated (every transition stored with its time and cause), and are marked dead when they fall
// silent. It keeps an in-memory view of the nodes for fast routing, backed by the store.
package cluster

import (
	"fmt"
	"slices"

	"github.com/nagare-video/nagare/internal/manager/store"
)

// transitions lists the states each state may move to.
var transitions = map[string][]string{
	store.StatePending:     {store.StateRunning, store.StateTerminating, store.StateTerminated},
	store.StateRunning:     {store.StateInService, store.StateDraining, store.StateTerminating, store.StateTerminated},
	store.StateInService:   {store.StateDraining, store.StateTerminating, store.StateTerminated},
	store.StateDraining:    {store.StateInService, store.StateTerminating, store.StateTerminated},
	store.StateTerminating: {store.StateTerminated},
	// a terminated node that comes back (it was only silent) registers again
	store.StateTerminated: {store.StateRunning},
}

// CanTransition reports whether a node may move from one state to another.
func CanTransition(from, to string) bool {
	return slices.Contains(transitions[from], to)
}

// sourcesOf returns the states from which to can be reached.
func sourcesOf(to string) []string {
	var out []string
	for _, from := range store.States {
		if CanTransition(from, to) {
			out = append(out, from)
		}
	}
	return out
}

// ErrTransition is returned for a transition the lifecycle does not allow.
type ErrTransition struct{ From, To string }

func (e *ErrTransition) Error() string {
	return fmt.Sprintf("a node cannot go from %s to %s", e.From, e.To)
}
