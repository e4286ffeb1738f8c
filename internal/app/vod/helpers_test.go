package vod_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/nagare-video/nagare/internal/app/vod"
	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/objstore"
	"github.com/nagare-video/nagare/internal/testutil"
	"github.com/nagare-video/nagare/internal/testutil/vodtest"
	"github.com/nagare-video/nagare/internal/vod/vodv1"
)

const (
	adminToken  = vodtest.AdminToken
	tokenSecret = vodtest.TokenSecret
)

// rig is a running VOD service with its config.
type rig struct {
	cfg    config.Config
	srv    *vod.Server
	log    *testutil.LogBuffer
	client vodv1.VideoServiceClient
	conn   *grpc.ClientConn
	stop   func()
}

// s3Storage points cfg at a fresh versitygw bucket.
func s3Storage(t *testing.T, g *testutil.S3Gateway) func(*config.Config) {
	t.Helper()
	st, err := objstore.NewS3(context.Background(), objstore.S3Config{Endpoint: g.Endpoint, Region: "us-east-1", Bucket: "vod",
		PathStyle: true, AccessKey: g.AccessKey, SecretKey: g.SecretKey})
	require.NoError(t, err)
	require.NoError(t, st.CreateBucket(context.Background()))
	return func(c *config.Config) {
		c.Storage = config.Storage{Backend: "s3", Endpoint: g.Endpoint, Region: "us-east-1", Bucket: "vod",
			PathStyle: true, AccessKeyID: g.AccessKey, SecretAccessKey: g.SecretKey}
	}
}

// startVOD starts a VOD service (vodtest.Config as mutate changes it) and stops it at the end of the test.
func startVOD(t *testing.T, mutate ...func(*config.Config)) *rig {
	t.Helper()
	cfg := vodtest.Config(t)
	for _, m := range mutate {
		m(&cfg)
	}
	return runVOD(t, cfg)
}

func runVOD(t *testing.T, cfg config.Config) *rig {
	t.Helper()
	s := vodtest.Run(t, cfg)
	return &rig{cfg: s.Cfg, srv: s.Server, log: s.Log, client: s.Client, conn: s.Conn, stop: s.Stop}
}

// as is ctx carrying a bearer token.
func as(ctx context.Context, token string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

// clip makes an H.264/AAC MP4 of seconds at 640x360 whose noise makes it large (crf 14: about 2.5 MB a
// second), so that an upload spans several parts.
func clip(t *testing.T, seconds int, crf int) string {
	t.Helper()
	testutil.RequireFFmpeg(t)
	out := filepath.Join(t.TempDir(), "clip.mp4")
	cmd := exec.Command("ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", strconv.Itoa(seconds), "-vf", "noise=alls=40:allf=t",
		"-c:v", "libx264", "-preset", "ultrafast", "-crf", strconv.Itoa(crf), "-g", "50", "-c:a", "aac", "-b:a", "128k", "-shortest", out)
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", b)
	return out
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	return b
}

// send streams start and then data as chunks of chunk bytes (the stream is not closed). When the server
// ends the stream early, the error is the server's status.
func send(t *testing.T, stream vodv1.VideoService_UploadClient, start *vodv1.UploadStart, data []byte, chunk int) error {
	t.Helper()
	err := stream.Send(&vodv1.UploadRequest{Data: &vodv1.UploadRequest_Start{Start: start}})
	for off := 0; err == nil && off < len(data); off += chunk {
		end := min(off+chunk, len(data))
		err = stream.Send(&vodv1.UploadRequest{Data: &vodv1.UploadRequest_Chunk{Chunk: data[off:end]}})
	}
	if errors.Is(err, io.EOF) {
		_, err = stream.CloseAndRecv()
	}
	return err
}
