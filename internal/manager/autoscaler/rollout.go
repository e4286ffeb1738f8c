package autoscaler

import (
	"strconv"

	"github.com/nagare-video/nagare/internal/cloud"
	"github.com/nagare-video/nagare/internal/manager/api/apitypes"
	"github.com/nagare-video/nagare/internal/manager/store"
	"github.com/nagare-video/nagare/internal/nodemodel"
)

// MaxSurgeProperty is the launch configuration property bounding how many nodes of a role a rolling
// upgrade launches ahead (and so has out of service) at once; 1 when unset.
const MaxSurgeProperty = apitypes.MaxSurgeProperty

// ActionRollingUpgrade is the scale event action of a rolling upgrade's step.
const ActionRollingUpgrade = "rolling-upgrade"

// Outdated reports whether node n, an in-service node of lc's group, runs other software than lc asks
// for: another version than ExpectedVersion (managerVersion when lc names none), or an instance made from
// another image than lc's, where the cloud controller says what an instance was made from (inst.Image).
// Outdated nodes are replaced one step at a time by a rolling upgrade.
func Outdated(n store.Node, inst cloud.Instance, lc store.LaunchConfig, managerVersion string) bool {
	if n.State != nodemodel.StateInService {
		return false
	}
	if want := ExpectedVersion(lc, managerVersion); want != "" && n.Version != want {
		return true
	}
	return lc.Image != "" && inst.Image != "" && inst.Image != lc.Image
}

func maxSurge(lc store.LaunchConfig) int {
	for _, p := range lc.Properties {
		if p.Key == MaxSurgeProperty {
			if n, err := strconv.Atoi(p.Value); err == nil && n > 0 {
				return n
			}
		}
	}
	return 1
}
