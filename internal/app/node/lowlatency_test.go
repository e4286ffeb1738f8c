package node_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/testutil"
)

// TestFirstPartBeforeFirstSegment: an LL-HLS viewer gets the first part of a stream about one part
// duration after its first keyframe, long before the first segment is complete. It asks with a blocking
// request: a plain one waits for two complete segments, which players that know nothing of parts need
// (hls.TestYoungStreamServed).
func TestFirstPartBeforeFirstSegment(t *testing.T) {
	t.Parallel()
	n, _ := testutil.StartNode(t, nil)
	testutil.Publish(t, rtmpURL(n, "live/early"), "flv")
	index := hlsURL(n, "live/early")
	testutil.WaitLive(t, index, 15*time.Second)
	// the multivariant playlist is answered once the first part exists; with 1 s segments and 200 ms
	// parts the first segment is still about 800 ms away
	code, body := testutil.Get(t, strings.Replace(index, "index.m3u8", "video1_stream.m3u8?_HLS_msn=0&_HLS_part=0", 1))
	require.Equal(t, http.StatusOK, code)
	pl := testutil.ParseMediaPlaylist(body)
	require.Positive(t, pl.Parts, "the first part is listed:\n%s", body)
	require.Empty(t, pl.Segments, "no complete segment yet:\n%s", body)
	require.NotEmpty(t, pl.Init)
	code, _ = testutil.Get(t, testutil.Resolve(t, index, pl.Init))
	require.Equal(t, http.StatusOK, code)
}
