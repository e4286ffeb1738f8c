package vod_test

import (
	"context"
	"net/http"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/testutil/tlstest"
	"github.com/nagare-video/nagare/internal/testutil/vodtest"
	"github.com/nagare-video/nagare/internal/tlsconf"
)

// TestVODOverTLS: with tls.certFile and tls.keyFile the VOD service's gRPC and HTTP serve TLS: a client
// trusting the CA and grpc-health-probe -tls are served, a plaintext gRPC client is not, and playback
// answers with HSTS.
func TestVODOverTLS(t *testing.T) {
	ca := tlstest.NewCA(t)
	cert, key := ca.Issue(t, "vod", time.Time{}, time.Time{})
	cfg := vodtest.Config(t)
	cfg.TLS = config.TLS{CertFile: cert, KeyFile: key, CAFile: ca.File}
	r := runVOD(t, cfg)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// over TLS; the service is unknown to the health server until its first check of the store and the
	// storage (TestHealthFollowsStorage), which may come a moment after the listener serves
	require.Eventually(t, func() bool {
		res, err := healthpb.NewHealthClient(r.conn).Check(ctx, &healthpb.HealthCheckRequest{Service: serviceName})
		if status.Code(err) == codes.NotFound {
			return false
		}
		require.NoError(t, err)
		require.Equal(t, healthpb.HealthCheckResponse_SERVING, res.Status)
		return true
	}, 5*time.Second, 20*time.Millisecond, "the service never reported its health")

	out, err := exec.CommandContext(ctx, healthProbe(t), "-addr="+r.srv.GRPCAddr(), "-service="+serviceName,
		"-tls", "-tls-ca-cert="+ca.File).CombinedOutput()
	require.NoError(t, err, "%s", out)

	plain, err := grpc.NewClient(r.srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer plain.Close()
	_, err = healthpb.NewHealthClient(plain).Check(ctx, &healthpb.HealthCheckRequest{})
	require.Error(t, err, "a plaintext client on the TLS port")

	tc, err := tlsconf.ClientConfig(ca.File)
	require.NoError(t, err)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 10 * time.Second}
	resp, err := client.Get("https://" + r.srv.HTTPAddr() + "/vod/no-such-video/index.m3u8")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.Equal(t, "max-age=31536000", resp.Header.Get("Strict-Transport-Security"))
}
