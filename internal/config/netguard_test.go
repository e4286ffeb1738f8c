package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestConnectionLimits pins the errors of the connection caps and the manager's request read timeout.
func TestConnectionLimits(t *testing.T) {
	for _, tc := range []struct {
		name     string
		mutate   func(c *Config)
		validate func(c *Config) error
		want     string // "" means valid
	}{
		{"node cap zero", func(c *Config) { c.Node.MaxConnections = 0 }, (*Config).Validate,
			"node.maxConnections: must be between 1 and 1048576, not 0"},
		{"node cap too high", func(c *Config) { c.Node.MaxConnections = 1<<20 + 1 }, (*Config).Validate,
			"node.maxConnections: must be between 1 and 1048576, not 1048577"},
		{"node cap of one", func(c *Config) { c.Node.MaxConnections = 1 }, (*Config).Validate, ""},
		{"manager cap negative", func(c *Config) { c.Manager.MaxConnections = -1 }, (*Config).ValidateManager,
			"manager.maxConnections: must be between 1 and 1048576, not -1"},
		{"manager cap of a million", func(c *Config) { c.Manager.MaxConnections = 1 << 20 }, (*Config).ValidateManager, ""},
		{"manager read timeout zero", func(c *Config) { c.Manager.ReadTimeout = 0 }, (*Config).ValidateManager,
			"manager.readTimeout: must be between 100ms and 5m, not 0s"},
		{"manager read timeout too long", func(c *Config) { c.Manager.ReadTimeout = 6 * time.Minute }, (*Config).ValidateManager,
			"manager.readTimeout: must be between 100ms and 5m, not 6m0s"},
		{"manager read timeout bounds", func(c *Config) { c.Manager.ReadTimeout = 100 * time.Millisecond }, (*Config).ValidateManager, ""},
		{"store timeout zero", func(c *Config) { c.Manager.StoreTimeout = 0 }, (*Config).ValidateManager,
			"manager.storeTimeout: must be between 100ms and 1m, not 0s"},
		{"store timeout of a minute", func(c *Config) { c.Manager.StoreTimeout = time.Minute }, (*Config).ValidateManager, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			c.Manager.AdminToken, c.Cluster.Secret = "admin-token-0123456789", "cluster-secret-0123456789"
			tc.mutate(&c)
			err := tc.validate(&c)
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, tc.want)
		})
	}
}

func TestConnectionLimitsFromFileAndEnv(t *testing.T) {
	p := writeFile(t, "node: {maxConnections: 500}\nmanager: {maxConnections: 600, readTimeout: 3s}\n")
	c, err := Load(p, []string{"NAGARE_NODE_MAX_CONNECTIONS=700"})
	require.NoError(t, err)
	require.Equal(t, 700, c.Node.MaxConnections, "the environment overrides the file")
	require.Equal(t, 600, c.Manager.MaxConnections)
	require.Equal(t, 3*time.Second, c.Manager.ReadTimeout)
	d := Default()
	require.Equal(t, 10000, d.Node.MaxConnections)
	require.Equal(t, 10000, d.Manager.MaxConnections)
	require.Equal(t, 10*time.Second, d.Manager.ReadTimeout)
}
