package config

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestValidatePushBucketSetup pins the errors of push.publicRead and push.cors (kept apart from
// TestValidate's table while another change edits that file) and that both load from YAML and NAGARE_*.
func TestValidatePushBucketSetup(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(c *Config)
		want   string
	}{
		{"publicRead on local", func(c *Config) { c.Push.PublicRead = true },
			`push.publicRead: needs storage.backend s3 (a local directory is as public as the web server that serves it)`},
		{"cors on local", func(c *Config) { c.Push.CORS = true },
			`push.cors: needs storage.backend s3 (set CORS headers in the web server that serves the local directory)`},
		{"both on s3", func(c *Config) {
			c.Storage.Backend, c.Storage.Bucket = "s3", "live"
			c.Push.PublicRead, c.Push.CORS = true, true
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.mutate(&c)
			err := c.Validate()
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, tc.want)
		})
	}
	require.Equal(t, "NAGARE_PUSH_PUBLIC_READ", EnvName("push.publicRead"))
	require.Equal(t, "NAGARE_PUSH_CORS", EnvName("push.cors"))
	c, err := Load("", []string{"NAGARE_STORAGE_BACKEND=s3", "NAGARE_STORAGE_BUCKET=live",
		"NAGARE_PUSH_PUBLIC_READ=true", "NAGARE_PUSH_CORS=true"})
	require.NoError(t, err)
	require.True(t, c.Push.PublicRead)
	require.True(t, c.Push.CORS)
}
