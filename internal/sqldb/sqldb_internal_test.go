package sqldb

import (
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"
)

// TestMySQLDSNTimeouts: a DSN without timeouts gets them, so that a database that stops answering cannot
// hold a connection for ever; timeouts the user set are kept.
func TestMySQLDSNTimeouts(t *testing.T) {
	for _, c := range []struct {
		name, dsn         string
		dial, read, write time.Duration
	}{
		{"none set", "u:p@tcp(db:3306)/nagare", mysqlDialTimeout, mysqlReadTimeout, mysqlWriteTimeout},
		{"user's kept", "u:p@tcp(db:3306)/nagare?timeout=1s&readTimeout=7s&writeTimeout=9s", time.Second, 7 * time.Second, 9 * time.Second},
		{"some set", "u:p@tcp(db:3306)/nagare?readTimeout=1m", mysqlDialTimeout, time.Minute, mysqlWriteTimeout},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, err := mysqlDSN(c.dsn)
			require.NoError(t, err)
			cfg, err := mysql.ParseDSN(out)
			require.NoError(t, err)
			require.Equal(t, []time.Duration{c.dial, c.read, c.write}, []time.Duration{cfg.Timeout, cfg.ReadTimeout, cfg.WriteTimeout})
			require.Equal(t, "u", cfg.User)
			require.Equal(t, "p", cfg.Passwd)
			require.Equal(t, "db:3306", cfg.Addr)
			require.Equal(t, "nagare", cfg.DBName)
			require.True(t, cfg.MultiStatements)
		})
	}
	_, err := mysqlDSN("not a dsn")
	require.Error(t, err)
}
