package ctl_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCtlSpeaksOnlyTheWireFormat: ctl is a client of the native API and decodes its answers into the
// API's own types (manager/api/apitypes). It must not depend on the manager's store, server or cloud
// controllers — directly or not — or a change inside the manager (a renamed column) would change what
// ctl reads.
func TestCtlSpeaksOnlyTheWireFormat(t *testing.T) {
	const module = "github.com/nagare-video/nagare/"
	out, err := exec.Command("go", "list", "-deps", module+"internal/ctl").Output()
	require.NoError(t, err)
	deps := strings.Fields(string(out))
	for _, dep := range deps {
		rel, ok := strings.CutPrefix(dep, module)
		if !ok || rel == "internal/manager/api/apitypes" {
			continue
		}
		for _, ban := range []string{"internal/manager/", "internal/cloud", "internal/app/"} {
			require.False(t, strings.HasPrefix(rel, ban), "ctl depends on %s", rel)
		}
	}
	require.Contains(t, deps, module+"internal/manager/api/apitypes")
}
