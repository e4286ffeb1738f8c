package ctl_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCtlSpeaksOnlyTheWireFormat: ctl is a client of the manager's native API, whose answers it decodes
// into the API's own types (manager/api/apitypes), and of the VOD service's gRPC API (the generated
// vod/vodv1). It must not depend on the manager's or the VOD service's store, server or cloud
// controllers — directly or not — or a change inside a server (a renamed column) would change what ctl
// reads.
func TestCtlSpeaksOnlyTheWireFormat(t *testing.T) {
	const module = "github.com/nagare-video/nagare/"
	allowed := map[string]bool{"internal/manager/api/apitypes": true, "internal/vod/vodv1": true}
	out, err := exec.Command("go", "list", "-deps", module+"internal/ctl").Output()
	require.NoError(t, err)
	deps := strings.Fields(string(out))
	for _, dep := range deps {
		rel, ok := strings.CutPrefix(dep, module)
		if !ok || allowed[rel] {
			continue
		}
		for _, ban := range []string{"internal/manager/", "internal/cloud", "internal/app/", "internal/vod/"} {
			require.False(t, strings.HasPrefix(rel, ban), "ctl depends on %s", rel)
		}
	}
	for rel := range allowed {
		require.Contains(t, deps, module+rel)
	}
}
