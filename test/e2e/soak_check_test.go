package e2e

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/nagare-video/nagare/internal/manager/api/apitypes"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

// TestOutOfService: the soak's check of viewers sent to an edge out of service reads the manager's node
// events as stretches per host, from the event that took the node there out of service to the next node
// in service at that address.
func TestOutOfService(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	seen := &nodeBook{addr: map[string]string{"a": "h1:80", "b": "h1:80", "c": "h2:80"}, pid: map[string]int{}}
	ev := func(id string, s int, to nodemodel.State) apitypes.NodeEvent {
		return apitypes.NodeEvent{NodeID: id, To: to, At: at(s), Cause: "test"}
	}
	events := []apitypes.NodeEvent{ // out of order, as a test may read them
		ev("b", 30, nodemodel.StateInService),
		ev("a", 0, nodemodel.StateInService),
		ev("a", 10, nodemodel.StateDraining),
		ev("a", 20, nodemodel.StateTerminated),
		ev("c", 5, nodemodel.StateInService),
		ev("c", 40, nodemodel.StateTerminated), // found dead: no node after it
		ev("x", 1, nodemodel.StateDraining),    // a node never seen with an address
	}
	out := outOfService(events, seen)
	if assert.Len(t, out["h1:80"], 1) {
		o := out["h1:80"][0]
		assert.Equal(t, at(10), o.from, "from the drain (the termination after it does not start another)")
		assert.Equal(t, at(30), o.to, "to the next node in service at the address")
	}
	if assert.Len(t, out["h2:80"], 1) {
		assert.Equal(t, at(40), out["h2:80"][0].from)
		assert.True(t, out["h2:80"][0].to.After(time.Now()), "a dead node with no successor stays out of service")
	}
	assert.Len(t, out, 2, "only hosts of known nodes")
}
