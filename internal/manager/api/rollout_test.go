package api_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/manager/api/apitypes"
)

// TestRollout: a group whose nodes run what the launch configuration asks for is done; a new
// nagare.version makes every in-service node outdated; a bad surge is refused with the field named.
func TestRollout(t *testing.T) {
	e := newEnv(t)
	e.group("g", 100)
	e.join(fixtureNode{id: "edge-1", role: "edge", group: "g", http: "10.0.0.1:8080"})
	e.join(fixtureNode{id: "edge-2", role: "edge", group: "g", http: "10.0.0.2:8080"})

	var lc apitypes.LaunchConfig
	e.native("GET", "/launchconfigs/g", "").must(t, http.StatusOK, &lc)
	lc.Properties = []apitypes.KV{{Key: apitypes.VersionProperty, Value: "test"}}
	e.native("PUT", "/launchconfigs/g", mustJSON(t, lc)).must(t, http.StatusOK, nil)

	var ro apitypes.Rollout
	e.native("GET", "/nodegroups/g/rollout", "").must(t, http.StatusOK, &ro)
	require.True(t, ro.Done, "%+v", ro)
	require.Equal(t, "test", ro.Version)

	lc.Properties = []apitypes.KV{{Key: apitypes.VersionProperty, Value: "2.0.0"}, {Key: apitypes.MaxSurgeProperty, Value: "2"}}
	e.native("PUT", "/launchconfigs/g", mustJSON(t, lc)).must(t, http.StatusOK, nil)
	e.native("GET", "/nodegroups/g/rollout", "").must(t, http.StatusOK, &ro)
	require.False(t, ro.Done)
	require.Equal(t, "2.0.0", ro.Version)
	var edge apitypes.RoleRollout
	for _, r := range ro.Roles {
		if r.Role == "edge" {
			edge = r
		}
	}
	require.Equal(t, apitypes.RoleRollout{Role: "edge", Outdated: 2, Nodes: []string{"edge-1", "edge-2"}}, edge)

	for _, bad := range []string{"0", "-1", "two", ""} {
		lc.Properties = []apitypes.KV{{Key: apitypes.MaxSurgeProperty, Value: bad}}
		res := e.native("PUT", "/launchconfigs/g", mustJSON(t, lc))
		require.Equal(t, http.StatusBadRequest, res.status, "surge %q", bad)
		requireNativeError(t, res, "nagare.rollout.maxSurge")
	}
	res := e.native("GET", "/nodegroups/nope/rollout", "")
	require.Equal(t, http.StatusNotFound, res.status)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}
