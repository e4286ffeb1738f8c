package testutil

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"go/build"
	"net"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/objstore"
)

// S3Server starts a versitygw S3 gateway (posix backend on a temp directory, fresh root credentials) on a
// free loopback port, waits until it answers and stops it when the test ends. It skips under -short and
// fails when versitygw is not installed: run scripts/deps.sh.
func S3Server(t testing.TB) (endpoint, accessKey, secretKey string) {
	t.Helper()
	g := StartS3Gateway(t)
	return g.Endpoint, g.AccessKey, g.SecretKey
}

// S3Gateway is a versitygw process that a test can stop and start again on the same port and data, to
// play a storage outage.
type S3Gateway struct {
	Endpoint, AccessKey, SecretKey string

	t      testing.TB
	bin    string
	dir    string
	addr   string
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// StartS3Gateway starts versitygw as S3Server does and returns it for Stop and Start.
func StartS3Gateway(t testing.TB) *S3Gateway {
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
	g := &S3Gateway{t: t, bin: bin, dir: t.TempDir(), AccessKey: randHex(t, 10), SecretKey: randHex(t, 20)}
	// The port is picked by listening on :0 and closing; another process can grab it before versitygw
	// binds, so a start that exits early is retried on a new port.
	for attempt := 0; attempt < 3; attempt++ {
		g.addr = freeAddr(t)
		out, ok := g.start()
		if ok {
			g.Endpoint = "http://" + g.addr
			t.Cleanup(g.Stop)
			return g
		}
		t.Logf("versitygw on %s did not start (attempt %d): %s", g.addr, attempt+1, out)
	}
	t.Fatalf("versitygw did not start")
	return nil
}

func (g *S3Gateway) start() (string, bool) {
	var out LogBuffer
	cmd := exec.Command(g.bin, "--port", g.addr, "--access", g.AccessKey, "--secret", g.SecretKey, "--quiet", "posix", g.dir)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		g.t.Fatalf("starting versitygw: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	if !WaitListening(g.addr, exited, 10*time.Second) {
		_ = cmd.Process.Kill()
		<-exited
		return out.String(), false
	}
	g.mu.Lock()
	g.cmd, g.exited = cmd, exited
	g.mu.Unlock()
	return "", true
}

// Stop kills the gateway (storage down); the data stays.
func (g *S3Gateway) Stop() {
	g.mu.Lock()
	cmd, exited := g.cmd, g.exited
	g.cmd = nil
	g.mu.Unlock()
	if cmd != nil {
		_ = cmd.Process.Kill()
		<-exited
	}
}

// Restart starts the gateway again on the same address and data (storage back).
func (g *S3Gateway) Restart() {
	g.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, ok := g.start()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("versitygw did not restart on %s: %s", g.addr, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// WaitListening waits until addr accepts TCP connections; false if the process exited or time ran out.
func WaitListening(addr string, exited <-chan struct{}, timeout time.Duration) bool {
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

// S3Bucket starts versitygw (StartS3Gateway), creates bucket in it as created (no policy, no CORS rule)
// and returns the gateway, the storage settings a node pushes to it with (path style) and a client.
func S3Bucket(t testing.TB, bucket string) (*S3Gateway, config.Storage, *objstore.S3) {
	t.Helper()
	gw := StartS3Gateway(t)
	ctx := context.Background()
	st, err := objstore.NewS3(ctx, objstore.S3Config{Endpoint: gw.Endpoint, Bucket: bucket, AccessKey: gw.AccessKey,
		SecretKey: gw.SecretKey, PathStyle: true})
	require.NoError(t, err)
	require.NoError(t, st.CreateBucket(ctx))
	return gw, config.Storage{Backend: "s3", Endpoint: gw.Endpoint, Bucket: bucket, PathStyle: true,
		AccessKeyID: gw.AccessKey, SecretAccessKey: gw.SecretKey}, st
}
