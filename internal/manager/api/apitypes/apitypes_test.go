package apitypes_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestWireTypesStandAlone: the wire types depend on nothing of the module but the node vocabulary, so a
// client imports them without the server, the store or a cloud SDK.
func TestWireTypesStandAlone(t *testing.T) {
	const module = "github.com/nagare-video/nagare/"
	out, err := exec.Command("go", "list", "-deps", module+"internal/manager/api/apitypes").Output()
	require.NoError(t, err)
	for _, dep := range strings.Fields(string(out)) {
		if rel, ok := strings.CutPrefix(dep, module); ok {
			require.Contains(t, []string{"internal/nodemodel", "internal/manager/api/apitypes"}, rel, "apitypes depends on %s", rel)
		}
	}
}
