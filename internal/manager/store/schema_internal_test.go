package store

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/testutil"
)

// TestMySQLColumnsHoldTheLimits: every MySQL column that keeps a limited field is at least as wide as the
// limit, so a value the store accepts is never "Data too long". It reads the migrated schema, so a column
// left narrow (or a limit raised without a migration) fails here.
func TestMySQLColumnsHoldTheLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("needs MariaDB (skipped with -short)")
	}
	ctx := context.Background()
	s, err := Open(ctx, MySQL, testutil.MySQLDSN(t))
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	_, err = s.Migrate(ctx)
	require.NoError(t, err)

	columns := []struct {
		table, column string
		limit         int
	}{
		{"scale_policies", "name", MaxName}, {"scale_policies", "description", MaxDescription},
		{"scale_policies", "type", MaxPolicyType}, {"scale_policies", "version", MaxVersion},
		{"scale_policies", "targets", MaxJSON},
		{"launch_configs", "name", MaxName}, {"launch_configs", "description", MaxDescription},
		{"launch_configs", "image", MaxImage}, {"launch_configs", "version", MaxVersion},
		{"launch_configs", "targets", MaxJSON}, {"launch_configs", "properties", MaxJSON},
		{"launch_configs", "metadata", MaxJSON},
		{"node_groups", "name", MaxName}, {"node_groups", "regions", MaxJSON},
		{"node_groups", "launch_config", MaxName}, {"node_groups", "scale_policy", MaxName},
		{"alarm_thresholds", "role", MaxRole},
		{"nodes", "id", MaxNodeID}, {"nodes", "group_name", MaxName}, {"nodes", "role", MaxRole},
		{"nodes", "state", MaxState}, {"nodes", "region", MaxRegion}, {"nodes", "zone", MaxZone},
		{"nodes", "version", MaxVersion}, {"nodes", "addresses", MaxJSON}, {"nodes", "parent", MaxParent},
		{"nodes", "stats", MaxJSON},
		{"node_events", "node_id", MaxNodeID}, {"node_events", "from_state", MaxState},
		{"node_events", "to_state", MaxState}, {"node_events", "cause", MaxCause},
		{"streams", "name", MaxStreamName}, {"streams", "node_id", MaxNodeID}, {"streams", "protocol", MaxProtocol},
		{"leases", "name", MaxLeaseName}, {"leases", "holder", MaxHolder},
		{"ladders", "stream", MaxStreamName}, {"ladders", "body", MaxJSON},
		{"scale_events", "group_name", MaxName}, {"scale_events", "role", MaxRole},
		{"scale_events", "action", MaxAction}, {"scale_events", "reason", MaxReason},
		{"scale_events", "nodes", MaxJSON}, {"scale_events", "manager", MaxHolder},
		{"trace_samples", "group_name", MaxName}, {"trace_samples", "role", MaxRole},
	}
	for _, c := range columns {
		t.Run(c.table+"."+c.column, func(t *testing.T) {
			// characters for a VARCHAR, bytes for a TEXT; a limit counts bytes, never fewer than characters
			var width int64
			require.NoError(t, s.DB().QueryRowContext(ctx, `SELECT CHARACTER_MAXIMUM_LENGTH FROM information_schema.COLUMNS
				WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = ?`, c.table, c.column).Scan(&width))
			require.GreaterOrEqual(t, width, int64(c.limit))
		})
	}

	var stringColumns int
	require.NoError(t, s.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = DATABASE() AND CHARACTER_MAXIMUM_LENGTH IS NOT NULL AND TABLE_NAME <> 'goose_db_version'`).Scan(&stringColumns))
	require.Len(t, columns, stringColumns, "every string column has a limit checked here")
}

// TestOpenSetsTheCallTimeout: Open gives the store its default deadline per call.
func TestOpenSetsTheCallTimeout(t *testing.T) {
	s, err := Open(context.Background(), SQLite, filepath.Join(t.TempDir(), "n.db"))
	require.NoError(t, err)
	defer s.Close()
	require.Equal(t, DefaultCallTimeout, s.CallTimeout)
}
