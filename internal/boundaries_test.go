// Package internal_test enforces the import rules of docs/design.md: the data plane (media/) and the
// control plane (manager/) meet only through nodeapi/ (the wire) and nodemodel/ (the shared words).
package internal_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const module = "github.com/nagare-video/nagare/"

// forbidden maps a package prefix to the prefixes it must never import, directly or not.
var forbidden = map[string][]string{
	"internal/media/":    {"internal/manager/", "internal/cloud/", "internal/app/", "internal/cli"},
	"internal/manager/":  {"internal/media/", "internal/vod/", "internal/app/", "internal/cli"},
	"internal/vod/":      {"internal/manager/", "internal/cloud/", "internal/app/", "internal/cli"},
	"internal/sqldb/":    {"internal/manager/", "internal/vod/", "internal/media/", "internal/app/"},
	"internal/cloud/":    {"internal/media/", "internal/app/", "internal/cli"},
	"internal/nodeapi/":  {"internal/media/", "internal/manager/", "internal/cloud/", "internal/app/"},
	"internal/objstore/": {"internal/media/", "internal/manager/", "internal/app/"},
	// the vocabulary every part shares depends on nothing of the module
	"internal/nodemodel/": {"internal/"},
	// the ladder is shared by the VOD and the live transcoders
	"internal/vod/ladder/": {"internal/"},
}

func TestImportBoundaries(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps=false", "-json", module+"...").Output()
	require.NoError(t, err)
	dec := json.NewDecoder(strings.NewReader(string(out)))
	checked := 0
	for dec.More() {
		var p struct {
			ImportPath string
			Deps       []string
		}
		require.NoError(t, dec.Decode(&p))
		rel := strings.TrimPrefix(p.ImportPath, module)
		for prefix, bans := range forbidden {
			if !strings.HasPrefix(rel+"/", prefix) {
				continue
			}
			checked++
			for _, dep := range p.Deps {
				drel, ok := strings.CutPrefix(dep, module)
				if !ok {
					continue
				}
				for _, ban := range bans {
					require.False(t, strings.HasPrefix(drel+"/", ban) || strings.HasPrefix(drel, ban),
						"%s imports %s (directly or through another package): %s must not depend on %s", rel, drel, prefix, ban)
				}
			}
		}
	}
	require.Positive(t, checked, "no package checked: is the module path right?")
}
