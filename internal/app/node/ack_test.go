package node_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/bench"
	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/testutil"
)

// TestPublisherAskingForAcknowledgements: a publisher that asks the node to acknowledge what it receives
// (RTMP window acknowledgements, as gortmplib-based encoders do) is kept past the read timeout.
func TestPublisherAskingForAcknowledgements(t *testing.T) {
	t.Parallel()
	n, _ := testutil.StartNode(t, func(c *config.Config) { c.Node.ReadTimeout = time.Second })
	clip, err := bench.LoadClip(testutil.Clip(t, "ts"))
	require.NoError(t, err)
	p := &bench.Publisher{URL: rtmpURL(n, "live/acks"), Clip: clip, Duration: 4 * time.Second, AckWindow: 64 << 10}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, p.Run(ctx), "the node dropped a publisher that asks for acknowledgements")
}
