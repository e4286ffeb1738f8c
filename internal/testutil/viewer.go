package testutil

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Viewer keeps playing an HLS stream (its first media playlist, reloaded every 500 ms) until stopped, so
// that the node serving it counts a viewer.
type Viewer struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// Watch starts a Viewer of the multivariant playlist at hlsURL; it stops when the test ends, if not before.
func Watch(t testing.TB, hlsURL string) *Viewer {
	t.Helper()
	status, body := Get(t, hlsURL)
	require.Equal(t, http.StatusOK, status, "%s: %s", hlsURL, body)
	renditions := Renditions(body)
	require.NotEmpty(t, renditions, "%s", body)
	media := Resolve(t, hlsURL, renditions[0])
	ctx, cancel := context.WithCancel(context.Background())
	v := &Viewer{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(v.done)
		for ctx.Err() == nil {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, media, nil)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(v.Stop)
	return v
}

// Stop ends the viewer's requests and waits for the last one to end.
func (v *Viewer) Stop() {
	v.cancel()
	<-v.done
}
