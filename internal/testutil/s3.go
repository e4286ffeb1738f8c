package testutil

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"go/build"
	"net"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// S3Server starts a versitygw S3 gateway (posix backend on a temp directory, fresh root credentials) on a
// free loopback port, waits until it answers and stops it when the test ends. It skips under -short and
// fails when versitygw is not installed: run scripts/deps.sh.
func S3Server(t testing.TB) (endpoint, accessKey, secretKey string) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs versitygw (skipped with -short)")
	}
	bin, err := exec.LookPath("versitygw")
	if err != nil {
		bin = filepath.Join(build.Default.GOPATH, "bin", "versitygw")
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("versitygw not found: run scripts/deps.sh")
		}
	}
	accessKey, secretKey = randHex(t, 10), randHex(t, 20)
	dir := t.TempDir()
	// The port is picked by listening on :0 and closing; another process can grab it before versitygw
	// binds, so a start that exits early is retried on a new port.
	for attempt := 0; attempt < 3; attempt++ {
		addr := freeAddr(t)
		var out syncBuffer
		cmd := exec.Command(bin, "--port", addr, "--access", accessKey, "--secret", secretKey, "--quiet",
			"posix", dir)
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting versitygw: %v", err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		if waitListening(addr, exited, 10*time.Second) {
			t.Cleanup(func() {
				_ = cmd.Process.Kill()
				<-exited
			})
			return "http://" + addr, accessKey, secretKey
		}
		_ = cmd.Process.Kill()
		<-exited
		t.Logf("versitygw on %s did not start (attempt %d): %s", addr, attempt+1, out.String())
	}
	t.Fatalf("versitygw did not start")
	return "", "", ""
}

func waitListening(addr string, exited <-chan struct{}, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("picking a free port: %v", err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func randHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random: %v", err)
	}
	return hex.EncodeToString(b)
}

// syncBuffer collects a child's output, written from the exec copier goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
