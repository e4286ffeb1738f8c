package e2e

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/media/pubauth"
	"github.com/nagare-video/nagare/internal/media/stream"
	"github.com/nagare-video/nagare/internal/media/webrtc/client"
	"github.com/nagare-video/nagare/internal/testutil/webrtctest"
)

// TestWebRTCWalkthrough is step 3.15 of the walk-through over WebRTC, with the manager as the only
// address clients know: a WHIP publisher posts to the manager and is sent (307) to the origin; a WHEP
// viewer is sent to edge 1 (capacity 1); a second viewer finds it full, is answered 503 with
// Retry-After while the autoscaler launches edge 2, and lands there; both keep receiving.
func TestWebRTCWalkthrough(t *testing.T) {
	c := startScalingGroup(t)
	tok := pubauth.Sign([]byte(publishSecret), stream.Path{App: "live", Name: "stream1"}, time.Now().Add(time.Hour))
	// the token goes in the query: a client following a redirect to another host drops Authorization
	pub, err := webrtctest.Publish(t, c.base+"/live/stream1/whip?token="+url.QueryEscape(tok), "")
	require.NoError(t, err)
	origin := c.nodesIn("origin", "inservice")[0]
	require.Equal(t, origin["addresses"].(map[string]any)["http"], pub.Node(), "the publisher reached %s", pub.Endpoint)

	api, err := client.NewAPI()
	require.NoError(t, err)
	whep := func() (*client.Viewer, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		return client.Watch(ctx, api, &http.Client{Timeout: 15 * time.Second}, c.base+"/live/stream1/whep")
	}
	var v1 *client.Viewer
	require.Eventually(t, func() bool {
		v1, err = whep()
		return err == nil
	}, 30*time.Second, 250*time.Millisecond, "the first viewer never got a session: %v", err)
	t.Cleanup(func() { _ = v1.Close(context.Background()) })
	receiving := func(v *client.Viewer) func() bool {
		return func() bool { return v.Keyframes.Load() > 0 && v.AudioPackets.Load() > 25 }
	}
	require.Eventually(t, receiving(v1), 20*time.Second, 100*time.Millisecond, "viewer 1 receives nothing")
	require.Eventually(t, func() bool { return c.connections(c.edge1) >= 1 }, 20*time.Second, 200*time.Millisecond,
		"edge 1 never reported its WebRTC viewer")

	// the second viewer: 503 + Retry-After while edge 2 launches, then a session on it
	_, err = whep()
	var refused *client.StatusError
	require.ErrorAs(t, err, &refused)
	require.Equal(t, http.StatusServiceUnavailable, refused.Status, refused.Body)
	require.NotEmpty(t, refused.Header.Get("Retry-After"))
	var v2 *client.Viewer
	require.Eventually(t, func() bool {
		v2, err = whep()
		return err == nil || !errors.As(err, &refused)
	}, 60*time.Second, 500*time.Millisecond, "no second edge: %v", err)
	require.NoError(t, err)
	t.Cleanup(func() { _ = v2.Close(context.Background()) })
	require.True(t, c.has("scale-out", "edge"), "%+v", c.events())
	require.NotEqual(t, v1.Node(), v2.Node(), "both viewers on one edge of capacity 1")
	require.Eventually(t, receiving(v2), 20*time.Second, 100*time.Millisecond, "viewer 2 receives nothing")

	// both keep playing
	before1, before2 := v1.VideoPackets.Load(), v2.VideoPackets.Load()
	time.Sleep(2 * time.Second)
	require.Greater(t, v1.VideoPackets.Load(), before1, "viewer 1 stopped receiving")
	require.Greater(t, v2.VideoPackets.Load(), before2, "viewer 2 stopped receiving")
}
