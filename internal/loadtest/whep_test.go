package loadtest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/testutil"
)

// TestWebRTCAudience: WebRTC viewers (WHEP) of a real node all start from a keyframe, receive media,
// and report no error; a WHEP endpoint that refuses every offer makes every viewer retry, each failure
// counted with its cause.
func TestWebRTCAudience(t *testing.T) {
	testutil.RequireFFmpeg(t)
	n, _ := testutil.StartNode(t, nil)
	publishLive(t, n, "live/rtc")

	rep, err := Run(context.Background(), Config{URL: "http://" + n.HTTPAddr() + "/live/rtc/whep", WHEP: true,
		Viewers: 4, Ramp: time.Second, Hold: 6 * time.Second})
	require.NoError(t, err)
	tot := rep.Totals
	t.Logf("%+v", tot)
	assert.Equal(t, 4, tot.Started, "viewers that never started: %+v", rep.Viewers)
	assert.Zero(t, tot.Errors, "errors: %+v", rep.Viewers)
	assert.Zero(t, tot.ViewersCut)
	for _, v := range rep.Viewers {
		assert.Positive(t, v.Bytes, "viewer %d", v.ID)
		assert.Equal(t, n.HTTPAddr(), v.LastHost, "viewer %d", v.ID)
	}

	refuse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error":"no such stream"}`, http.StatusNotFound)
	}))
	defer refuse.Close()
	rep, err = Run(context.Background(), Config{URL: refuse.URL + "/live/none/whep", WHEP: true, Viewers: 2, Hold: 2500 * time.Millisecond})
	require.NoError(t, err)
	assert.Zero(t, rep.Totals.Started)
	assert.GreaterOrEqual(t, rep.Totals.Errors, 4, "every viewer retries about once a second")
	assert.Contains(t, rep.Viewers[0].LastError, "404")
}
