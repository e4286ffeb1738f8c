package aws

import (
	"fmt"
	"github.com/nagare-video/nagare/internal/testutil"
	"net"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// One moto_server serves the whole package: it takes a second or two to start, and tests keep apart by
// each using its own tag prefix. TestMain stops it.
var moto struct {
	once     sync.Once
	endpoint string
	err      error
	cmd      *exec.Cmd
	exited   chan struct{}
	out      testutil.LogBuffer
}

func TestMain(m *testing.M) {
	code := m.Run()
	if moto.cmd != nil {
		_ = moto.cmd.Process.Kill()
		<-moto.exited
	}
	os.Exit(code)
}

// motoEndpoint returns the URL of the package's moto_server, starting it on first use. It skips under
// -short and when moto_server is not installed.
func motoEndpoint(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs moto_server (skipped with -short)")
	}
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		t.Skip("moto_server not on PATH: install moto[server] (pip install 'moto[server]') to run the EC2 tests")
	}
	moto.once.Do(func() { moto.endpoint, moto.err = startMoto(bin) })
	if moto.err != nil {
		t.Fatal(moto.err)
	}
	return moto.endpoint
}

func startMoto(bin string) (string, error) {
	// The port is picked by listening on :0 and closing; another process can take it before moto binds,
	// so a start that exits early is retried on a new port.
	for range 3 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", fmt.Errorf("picking a port: %w", err)
		}
		addr := l.Addr().(*net.TCPAddr)
		l.Close()
		cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", fmt.Sprint(addr.Port))
		cmd.Stdout, cmd.Stderr = &moto.out, &moto.out
		killWithParent(cmd)
		if err := cmd.Start(); err != nil {
			return "", fmt.Errorf("starting moto_server: %w", err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		if testutil.WaitListening(addr.String(), exited, 20*time.Second) {
			moto.cmd, moto.exited = cmd, exited
			return "http://" + addr.String(), nil
		}
		_ = cmd.Process.Kill()
		<-exited
	}
	return "", fmt.Errorf("moto_server did not start: %s", moto.out.String())
}
