package aws

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/cloud"
)

// TestBootScriptRoundTrip runs the boot script with sh (into a temp directory, printing the environment
// instead of starting a node) and checks that every hostile value reaches the node byte for byte and
// that none of them runs anything.
func TestBootScriptRoundTrip(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	dir := t.TempDir()
	pwned := filepath.Join(dir, "pwned")
	env := map[string]string{
		"NAGARE_CLUSTER_SECRET": "s3cr3t'\"`$HOME\\",
		"SINGLE_QUOTES":         "it's 'quoted' ''",
		"DOLLAR":                "$PATH ${HOME} $(touch " + pwned + ") $((1+1))",
		"BACKTICK":              "`touch " + pwned + "`",
		"NEWLINES":              "line1\nline2\n\nline4\n",
		"HEREDOC_END":           "x\nNAGARE_ENV_EOF\ntouch " + pwned + "\nNAGARE_ENV_EOF_",
		"SEMICOLON":             "a; touch " + pwned + "; b && c || d | e > f < g &",
		"GLOB":                  "* ? [a-z] ~",
		"EMPTY":                 "",
		"SPACES":                "  leading and trailing  ",
		"TAB_CR":                "a\tb\rc",
		"UNICODE":               "日本語 ✓",
		"BACKSLASH_END":         `trailing\`,
	}
	script, err := bootScript(env, filepath.Join(dir, "etc", "nagare"), "env -0")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(script, "#!/bin/sh\n"))

	var stdout, stderr bytes.Buffer
	cmd := exec.Command("sh", "-c", script)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=/nonexistent"}
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "script failed: %s\n%s", stderr.String(), script)

	got := map[string]string{}
	for kv := range strings.SplitSeq(strings.TrimSuffix(stdout.String(), "\x00"), "\x00") {
		k, v, _ := strings.Cut(kv, "=")
		got[k] = v
	}
	for k, want := range env {
		require.Contains(t, got, k)
		require.Equal(t, want, got[k], "value of %s", k)
	}
	require.NoFileExists(t, pwned, "a value was executed")

	fi, err := os.Stat(filepath.Join(dir, "etc", "nagare", "node.env"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "the env file holds the cluster secret")
}

func TestBootScriptProduction(t *testing.T) {
	t.Parallel()
	script, err := bootScript(map[string]string{"NAGARE_CLUSTER_SECRET": "it's $ecret"}, envDir, nodeCommand)
	require.NoError(t, err)
	require.Contains(t, script, "cat > '/etc/nagare/node.env' <<'NAGARE_ENV_EOF'\n")
	require.Contains(t, script, "\nNAGARE_CLUSTER_SECRET='it'\\''s $ecret'\n")
	require.Contains(t, script, "\nset -a\n. '/etc/nagare/node.env'\nset +a\n")
	require.True(t, strings.HasSuffix(script, "\nexec nagare node\n"))
}

// TestBootScriptHeredocMarker: a value holding the end marker as a line moves the marker.
func TestBootScriptHeredocMarker(t *testing.T) {
	t.Parallel()
	script, err := bootScript(map[string]string{"A": "x\nNAGARE_ENV_EOF\nNAGARE_ENV_EOF_\n"}, envDir, nodeCommand)
	require.NoError(t, err)
	require.Contains(t, script, "<<'NAGARE_ENV_EOF__'\n")
	require.Contains(t, script, "\nNAGARE_ENV_EOF__\nset -a\n")
}

func TestBootScriptRejects(t *testing.T) {
	t.Parallel()
	const secret = "very-secret-value"
	tests := []struct {
		name string
		env  map[string]string
	}{
		{"key with space", map[string]string{"A B": secret}},
		{"key starts with digit", map[string]string{"1A": secret}},
		{"key with command", map[string]string{"A;touch x": secret}},
		{"key with dollar", map[string]string{"$A": secret}},
		{"empty key", map[string]string{"": secret}},
		{"NUL in value", map[string]string{"A": secret + "\x00"}},
		{"too big for EC2", map[string]string{"A": strings.Repeat(secret, 2000)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := bootScript(tt.env, envDir, nodeCommand)
			require.ErrorIs(t, err, cloud.ErrInvalidSpec)
			require.NotContains(t, err.Error(), secret, "errors must not carry values")
		})
	}
}
