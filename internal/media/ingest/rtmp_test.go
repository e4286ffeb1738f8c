package ingest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/message"
	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/media/mediametrics"
	"github.com/nagare-video/nagare/internal/media/pubauth"
	"github.com/nagare-video/nagare/internal/media/stream"
)

// TestRTMPDropsASilentPublisher: a publisher that keeps sending is kept for longer than the read timeout
// (the deadline moves with its messages, though not on every one), and one that falls silent is dropped
// within about the timeout.
func TestRTMPDropsASilentPublisher(t *testing.T) {
	const timeout = 500 * time.Millisecond
	s := &RTMPServer{
		Address: "127.0.0.1:0", ReadTimeout: timeout, Registry: &stream.Registry{},
		Auth: &pubauth.Authorizer{AllowUnauthenticated: true}, Metrics: mediametrics.New(),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	require.NoError(t, s.Listen())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = s.Run(ctx) }()

	ictx, icancel := context.WithTimeout(ctx, 10*time.Second)
	defer icancel()
	c := &gortmplib.Client{URL: &url.URL{Scheme: "rtmp", Host: s.Addr().String(), Path: "/live/silent"}, Publish: true}
	require.NoError(t, c.Initialize(ictx))
	defer c.Close()

	// data messages (no media yet: the server is still waiting for the tracks) for three timeouts
	for end := time.Now().Add(3 * timeout); time.Now().Before(end); {
		require.NoError(t, c.Write(&message.DataAMF0{ChunkStreamID: 4, MessageStreamID: 1, Payload: []any{"nagare-test"}}),
			"the server dropped a publisher that was sending")
		time.Sleep(timeout / 5)
	}
	nc := c.NetConn()
	require.NoError(t, nc.SetReadDeadline(time.Now().Add(timeout/5)))
	_, err := nc.Read(make([]byte, 1))
	var ne net.Error
	require.True(t, errors.As(err, &ne) && ne.Timeout(), "the connection of a publisher that was sending ended: %v", err)

	// silent from now on: dropped within about the timeout
	require.NoError(t, nc.SetReadDeadline(time.Now().Add(4*timeout)))
	buf := make([]byte, 4096)
	for {
		_, err = nc.Read(buf)
		if err != nil {
			break
		}
	}
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "a silent publisher was not dropped within %s", 4*timeout)
}
