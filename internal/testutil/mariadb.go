package testutil

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// MariaDB is a private MariaDB server that one test started and may freeze, unlike the shared one behind
// MySQLDSN.
type MariaDB struct {
	// Addr is the server's loopback TCP address.
	Addr string
	cmd  *exec.Cmd
	done chan struct{}
	logs string
}

// StartMariaDB starts a MariaDB server of the test's own: a fresh data directory in t.TempDir, a free
// 127.0.0.1 port, no grant tables (root without a password). It stops when the test ends. It skips under
// -short and fails when mariadbd or mariadb-install-db is missing (Debian's mariadb-server has them).
func StartMariaDB(t testing.TB) *MariaDB {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a MariaDB server (skipped with -short)")
	}
	mariadbd := lookPath(t, "mariadbd", "/usr/sbin/mariadbd")
	install := lookPath(t, "mariadb-install-db", "/usr/bin/mariadb-install-db", "/usr/bin/mysql_install_db")
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	// a Unix socket path must stay under 108 bytes, which a test's temporary directory may not
	sockDir, err := os.MkdirTemp("", "mariadb-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(sockDir) })

	var asUser []string
	if os.Geteuid() == 0 {
		asUser = []string{"--user=root"} // mariadbd refuses to run as root unless told to
	}
	args := append([]string{"--no-defaults", "--datadir=" + data, "--auth-root-authentication-method=normal", "--skip-test-db"}, asUser...)
	out, err := exec.Command(install, args...).CombinedOutput()
	require.NoError(t, err, "%s: %s", install, out)

	port := freePort(t)
	m := &MariaDB{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), done: make(chan struct{}), logs: filepath.Join(dir, "error.log")}
	args = append([]string{
		"--no-defaults", "--datadir=" + data, "--socket=" + filepath.Join(sockDir, "mariadb.sock"),
		"--pid-file=" + filepath.Join(dir, "mariadb.pid"), "--log-error=" + m.logs,
		"--bind-address=127.0.0.1", "--port=" + strconv.Itoa(port), "--skip-grant-tables", "--skip-log-bin",
		"--innodb-buffer-pool-size=32M",
	}, asUser...)
	m.cmd = exec.Command(mariadbd, args...)
	// the server must not outlive a test binary that dies without running its cleanups
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(t, m.cmd.Start())
	go func() {
		_ = m.cmd.Wait()
		close(m.done)
	}()
	t.Cleanup(m.stop)

	admin, err := sql.Open("mysql", "root@tcp("+m.Addr+")/?timeout=1s")
	require.NoError(t, err)
	defer admin.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err = admin.PingContext(ctx)
		cancel()
		if err == nil {
			return m
		}
		select {
		case <-m.done:
			t.Fatalf("mariadbd exited before answering: %s", m.log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("mariadbd did not answer within 30 s: %v\n%s", err, m.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// DSN creates the database name on the server and returns its DSN.
func (m *MariaDB) DSN(t testing.TB, name string) string {
	t.Helper()
	admin, err := sql.Open("mysql", "root@tcp("+m.Addr+")/")
	require.NoError(t, err)
	defer admin.Close()
	_, err = admin.Exec("CREATE DATABASE " + name + " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
	require.NoError(t, err)
	return "root@tcp(" + m.Addr + ")/" + name
}

// Freeze stops the server's process (SIGSTOP): connections stay open and nothing answers, as with a
// database that hangs.
func (m *MariaDB) Freeze(t testing.TB) {
	t.Helper()
	require.NoError(t, m.cmd.Process.Signal(syscall.SIGSTOP))
	// the signal is only queued: a thread running on another CPU may still answer a query until it stops.
	// Frozen means every thread is stopped (state T in /proc/<pid>/task/<tid>/stat).
	require.Eventually(t, func() bool { return allStopped(m.cmd.Process.Pid) }, 10*time.Second, 5*time.Millisecond,
		"mariadbd did not stop after SIGSTOP")
}

// allStopped reports whether every thread of process pid is stopped.
func allStopped(pid int) bool {
	stats, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	if err != nil || len(stats) == 0 {
		return false
	}
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			return false
		}
		// "<tid> (<comm>) <state> ...": the command may hold spaces and parentheses, the state follows the last ')'
		i := bytes.LastIndexByte(b, ')')
		if i < 0 || i+2 >= len(b) || (b[i+2] != 'T' && b[i+2] != 't') {
			return false
		}
	}
	return true
}

// Thaw lets a frozen server run again (SIGCONT).
func (m *MariaDB) Thaw(t testing.TB) {
	t.Helper()
	require.NoError(t, m.cmd.Process.Signal(syscall.SIGCONT))
}

func (m *MariaDB) stop() {
	_ = m.cmd.Process.Signal(syscall.SIGCONT) // a frozen server cannot handle SIGTERM
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.done:
	case <-time.After(20 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.done
	}
}

func (m *MariaDB) log() string {
	b, err := os.ReadFile(m.logs)
	if err != nil {
		return fmt.Sprintf("(no error log: %v)", err)
	}
	return string(b)
}

// lookPath finds the first of the programs on PATH or at the absolute paths given.
func lookPath(t testing.TB, names ...string) string {
	t.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	t.Fatalf("none of %v found: install mariadb-server (scripts/deps.sh)", names)
	return ""
}

// freePort returns a loopback TCP port that nothing listens on now.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	return port
}
