package loadtest

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestWriteHTML: the page has a chart per view with the scale events marked, the totals, the worst
// viewers, and escapes what the manager or the edges put in it.
func TestWriteHTML(t *testing.T) {
	startup := 120.0
	rep := &Report{URL: "http://127.0.0.1:5080/live/s/index.m3u8", Started: time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC), Duration: 3,
		Totals: Totals{Viewers: 2, Started: 2, ViewersCut: 1},
		Viewers: []ViewerStats{{ID: 0, StartupMs: &startup, LongestStallMs: 12000, Cut: true, Hosts: map[string]int{"127.0.0.2:8080": 9}},
			{ID: 1, Hosts: map[string]int{}}},
		Timeline: []Tick{
			{At: 1, Viewers: 2, Hosts: map[string]int{"127.0.0.2:8080": 2}, LoadP50Ms: 3},
			{At: 2, Viewers: 2, Stalled: 1, Hosts: map[string]int{"127.0.0.2:8080": 1, "127.0.0.3:8080": 1}, LoadP99Ms: 40},
		},
		ScaleEvents: []ScaleEvent{{At: 1.5, Role: "edge", Action: "scale-out", Reason: "<script>alert(1)</script>"}},
	}
	var b bytes.Buffer
	require.NoError(t, WriteHTML(&b, rep))
	out := b.String()
	require.Equal(t, 5, strings.Count(out, "<svg"), "one chart per view")
	require.Equal(t, 5, strings.Count(out, `class="m"`), "the scale event on every chart")
	require.Contains(t, out, "127.0.0.3:8080", "a line per edge")
	require.Contains(t, out, "&lt;script&gt;alert(1)&lt;/script&gt;")
	require.NotContains(t, out, "<script>")
	require.Contains(t, out, `<span class="bad">cut</span>`)
	require.NotContains(t, out, "http://cdn", "nothing fetched")

	// an empty run still renders
	b.Reset()
	require.NoError(t, WriteHTML(&b, &Report{URL: "http://127.0.0.1/x"}))
}
