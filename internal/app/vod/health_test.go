package vod_test

import (
	"context"
	"errors"
	"go/build"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/nagare-video/nagare/internal/app/vod"
	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/testutil"
	"github.com/nagare-video/nagare/internal/vod/vodv1"
)

const serviceName = "nagare.vod.v1.VideoService"

// shortHealth checks the dependencies every 200 ms for the rest of the test.
func shortHealth(t *testing.T) {
	old := vod.HealthEvery
	vod.HealthEvery = 200 * time.Millisecond
	t.Cleanup(func() { vod.HealthEvery = old })
}

// healthProbe finds the grpc-health-probe binary (scripts/deps.sh installs it).
func healthProbe(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("grpc-health-probe"); err == nil {
		return p
	}
	p := filepath.Join(build.Default.GOPATH, "bin", "grpc-health-probe")
	if _, err := exec.LookPath(p); err != nil {
		t.Fatalf("grpc-health-probe not found in PATH or %s: run scripts/deps.sh", filepath.Dir(p))
	}
	return p
}

// probe runs grpc-health-probe against the service and returns its exit code and output.
func probe(t *testing.T, bin, addr, service string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-addr="+addr, "-service="+service).CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), string(out)
	}
	require.NoError(t, err, "%s", out)
	return 0, string(out)
}

// TestHealthFollowsStorage: the gRPC health of the VOD service (readiness) follows its object storage. A
// Watch stream sees SERVING, NOT_SERVING once versitygw is killed and SERVING again once it is back, while
// the server as a whole ("", liveness) stays SERVING; an upload while storage is down is UNAVAILABLE (the
// client retries) and keeps nothing; grpc-health-probe, as a readiness probe runs it, exits 0 only while
// the service is serving.
func TestHealthFollowsStorage(t *testing.T) {
	shortHealth(t)
	g := testutil.StartS3Gateway(t)
	bin := healthProbe(t)
	r := startVOD(t, s3Storage(t, g))
	health := healthpb.NewHealthClient(r.conn)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	watch, err := health.Watch(ctx, &healthpb.HealthCheckRequest{Service: serviceName})
	require.NoError(t, err)
	next := func(want healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		for {
			m, err := watch.Recv()
			require.NoError(t, err)
			if m.Status == want {
				return
			}
			// the service starts as SERVICE_UNKNOWN until its first check; nothing else comes in between
			require.Equal(t, healthpb.HealthCheckResponse_SERVICE_UNKNOWN, m.Status, "waiting for %s", want)
		}
	}
	check := func(service string) healthpb.HealthCheckResponse_ServingStatus {
		t.Helper()
		res, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
		require.NoError(t, err)
		return res.Status
	}
	next(healthpb.HealthCheckResponse_SERVING)
	require.Equal(t, healthpb.HealthCheckResponse_SERVING, check(""))
	code, out := probe(t, bin, r.srv.GRPCAddr(), serviceName)
	require.Equal(t, 0, code, "grpc-health-probe while serving: %s", out)

	g.Stop()
	next(healthpb.HealthCheckResponse_NOT_SERVING)
	require.Equal(t, healthpb.HealthCheckResponse_NOT_SERVING, check(serviceName))
	code, out = probe(t, bin, r.srv.GRPCAddr(), serviceName)
	require.NotEqual(t, 0, code, "grpc-health-probe while storage is down: %s", out)
	require.Contains(t, out, "NOT_SERVING")
	// Liveness: the process is fine, a restart would not bring storage back.
	require.Equal(t, healthpb.HealthCheckResponse_SERVING, check(""))
	code, out = probe(t, bin, r.srv.GRPCAddr(), "")
	require.Equal(t, 0, code, "the server as a whole is alive: %s", out)

	data := smallClip(t, "1")
	_, _, err = upload(t, as(ctx, adminToken), r, &vodv1.UploadStart{FileName: "down.mp4", Size: int64(len(data))}, data, 256<<10)
	require.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
	require.Contains(t, err.Error(), "object storage failed")

	g.Restart()
	next(healthpb.HealthCheckResponse_SERVING)
	require.Equal(t, healthpb.HealthCheckResponse_SERVING, check(""))
	code, out = probe(t, bin, r.srv.GRPCAddr(), serviceName)
	require.Equal(t, 0, code, "grpc-health-probe once storage is back: %s", out)

	// The upload the client retries now goes through, and nothing of the failed one is in the library.
	res, _, err := upload(t, as(ctx, adminToken), r, &vodv1.UploadStart{FileName: "back.mp4", Size: int64(len(data)), Sha256: sha(data)}, data, 256<<10)
	require.NoError(t, err)
	require.True(t, res.Complete)
	require.Equal(t, []string{res.UploadId}, videoIDs(t, r))
}

// TestMySQLStore: the library on MariaDB. A small upload completes, is processed and reaches READY with
// its metadata, and the listing pages through it: the MySQL schema in real use.
func TestMySQLStore(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	dsn := testutil.MySQLDSN(t)
	r := startVOD(t, func(c *config.Config) { c.VOD.StoreEngine, c.VOD.StoreDSN = "mysql", dsn })
	ctx := as(context.Background(), adminToken)
	data := smallClip(t, "2")
	var ids []string
	for _, title := range []string{"first", "second"} {
		res, _, err := upload(t, ctx, r, &vodv1.UploadStart{Title: title, FileName: title + ".mp4", Size: int64(len(data)), Sha256: sha(data),
			Visibility: vodv1.Visibility_VISIBILITY_PUBLIC}, data, 256<<10)
		require.NoError(t, err)
		require.True(t, res.Complete)
		ids = append(ids, res.UploadId)
	}
	for _, id := range ids {
		v := waitFinal(t, r, id, time.Minute)
		require.Equal(t, vodv1.Status_STATUS_READY, v.Status, v.Failure)
		require.InDelta(t, 2, v.DurationSeconds, 0.2)
		require.Equal(t, int32(320), v.Width)
		require.Equal(t, "aac", v.AudioCodec)
		require.NotEmpty(t, v.Renditions)
		require.True(t, v.HasMp4)
	}
	// Two pages of one, then nothing.
	var seen []string
	token := ""
	for range 2 {
		page, err := r.client.ListVideos(ctx, &vodv1.ListVideosRequest{PageSize: 1, PageToken: token, Status: vodv1.Status_STATUS_READY})
		require.NoError(t, err)
		require.Len(t, page.Videos, 1)
		seen = append(seen, page.Videos[0].Id)
		token = page.NextPageToken
		require.NotEmpty(t, token)
	}
	require.ElementsMatch(t, ids, seen)
	last, err := r.client.ListVideos(ctx, &vodv1.ListVideosRequest{PageSize: 1, PageToken: token})
	require.NoError(t, err)
	require.Empty(t, last.Videos)
}
