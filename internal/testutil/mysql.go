package testutil

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"testing"

	_ "github.com/go-sql-driver/mysql" // the MariaDB test server
	"github.com/stretchr/testify/require"
)

// MySQLAddr is the MariaDB server of the test rig (scripts/deps.sh starts one when none answers).
const MySQLAddr = "127.0.0.1:3306"

// MySQLDSN creates a fresh database on the rig's MariaDB (root, no password) for this test and drops it
// when the test ends. It fails the test if MariaDB does not answer: run scripts/deps.sh.
func MySQLDSN(t testing.TB) string {
	t.Helper()
	admin, err := sql.Open("mysql", "root@tcp("+MySQLAddr+")/")
	require.NoError(t, err)
	t.Cleanup(func() { admin.Close() })
	require.NoError(t, admin.Ping(), "MariaDB at %s: run scripts/deps.sh", MySQLAddr)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "nagare_test_" + hex.EncodeToString(b)
	_, err = admin.Exec("CREATE DATABASE " + name + " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = admin.Exec("DROP DATABASE " + name) })
	return "root@tcp(" + MySQLAddr + ")/" + name
}
