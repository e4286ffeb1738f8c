package bench

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func fp(v float64) *float64 { return &v }

func TestParseWebDriverOut(t *testing.T) {
	pages := []webPage{{Name: "live", Path: "/live/live/web"}, {Name: "console", Path: "/console/cluster"}}
	out, err := parseWebDriverOut([]byte(`{"browser": "Chromium 156", "loads": [
		{"page": "live", "cache": "cold", "run": 1, "ttfbMs": 6.5, "fcpMs": 160, "viewMs": 134.4, "firstFrameMs": 506.1,
		 "playerReadyMs": null, "submitMs": null,
		 "bytes": {"page": {"requests": 6, "wireBytes": 207210, "decodedBytes": 643173, "compressed": 5},
		           "media": {"requests": 11, "cached": 2, "wireBytes": 228536}}},
		{"page": "console", "cache": "warm", "run": 1, "error": "no view within 20 s"},
		{"page": "console-signin", "cache": "cold", "run": 1, "viewMs": 700, "submitMs": 600}
	]}`+"\n"), pages)
	require.NoError(t, err)
	require.Equal(t, "Chromium 156", out.Browser)
	require.Len(t, out.Loads, 3)
	l := out.Loads[0]
	require.Equal(t, "/live/live/web", l.Path)
	require.Equal(t, 6.5, *l.TTFBMs)
	require.Equal(t, 506.1, *l.FirstFrameMs)
	require.Nil(t, l.PlayerReadyMs, "null stays unknown, not 0")
	require.Nil(t, l.DCLMs, "absent stays unknown")
	require.Equal(t, WebByteCount{Requests: 6, Compressed: 5, WireBytes: 207210, DecodedBytes: 643173}, l.Bytes.Page)
	require.Equal(t, int64(228536), l.Bytes.Media.WireBytes)
	require.Equal(t, "no view within 20 s", out.Loads[1].Error)
	require.Equal(t, "/console/cluster", out.Loads[2].Path, "the sign-in loads the console")

	_, err = parseWebDriverOut([]byte(`{"browser": "x", "loads": []}`), pages)
	require.Error(t, err, "no loads is a failed run")
	_, err = parseWebDriverOut([]byte(`render.mjs: boom`), pages)
	require.Error(t, err)
}

func TestWebStatOf(t *testing.T) {
	loads := []WebLoad{
		{ViewMs: fp(100)}, {ViewMs: fp(300)}, {ViewMs: fp(200)}, {ViewMs: fp(400)}, {ViewMs: fp(500)},
		{ViewMs: fp(9999), Error: "no view within 20 s"}, // a failed load does not count
		{}, // nor one without the figure
	}
	s := webStatOf(loads, webTiming(func(l WebLoad) *float64 { return l.ViewMs }))
	require.Equal(t, 5, s.N)
	require.Equal(t, 300.0, s.Median)
	require.InDelta(t, 460.0, s.P90, 1e-9) // between the 4th and 5th of 5: 400 + 0.6 × 100
	require.Equal(t, "300 / 460", webMsCell(s))

	none := webStatOf(loads, webTiming(func(l WebLoad) *float64 { return l.FirstFrameMs }))
	require.Equal(t, 0, none.N)
	require.Equal(t, "–", webMsCell(none))

	signIn := webStatOf([]WebLoad{
		{SubmitMs: fp(600), ViewMs: fp(700)}, {SubmitMs: fp(500), ViewMs: fp(620)}, {ViewMs: fp(10)},
	}, webSignInMs)
	require.Equal(t, 2, signIn.N)
	require.Equal(t, 110.0, signIn.Median)
}

func TestGroupLoads(t *testing.T) {
	loads := []WebLoad{
		{Page: "live", Cache: "cold", Run: 1}, {Page: "live", Cache: "warm", Run: 1},
		{Page: "console", Cache: "cold", Run: 1}, {Page: "live", Cache: "cold", Run: 2, Error: "x"},
		{Page: "live", Cache: "warm", Run: 2},
	}
	g := groupLoads(loads)
	require.Len(t, g, 3)
	require.Equal(t, []string{"live/cold", "live/warm", "console/cold"},
		[]string{g[0].Page + "/" + g[0].Cache, g[1].Page + "/" + g[1].Cache, g[2].Page + "/" + g[2].Cache})
	require.Len(t, g[0].Loads, 2)
	require.Equal(t, []string{"x"}, g[0].failures())
	require.Empty(t, g[1].failures())
}

func TestSSECounterCount(t *testing.T) {
	// a data line longer than the reader's buffer whose tail reads like an event line is not one
	long := "data: " + strings.Repeat("x", 64<<10-len("data: ")) + "event: cluster\n"
	stream := "retry: 2000\n\n" +
		"event: cluster\ndata: {\"nodes\":[]}\n\n" +
		": ping\n\n" +
		long + "\n" +
		"event: cluster\ndata: {}\n\n" +
		"event: clusters\ndata: {}\n\n"
	var c sseCounter
	require.NoError(t, c.count(strings.NewReader(stream)))
	require.Equal(t, int64(2), c.events.Load())
}

// TestWatchStream follows a stream as the consoles of the bench do: the bytes counted are those on the
// wire, compressed or not.
func TestWatchStream(t *testing.T) {
	events := "retry: 2000\n\n" + strings.Repeat("event: cluster\ndata: {\"nodes\":[\"a\",\"b\",\"c\"]}\n\n", 50)
	for _, gz := range []bool{false, true} {
		t.Run(fmt.Sprintf("gzip=%v", gz), func(t *testing.T) {
			var wire bytes.Buffer
			if gz {
				zw := gzip.NewWriter(&wire)
				_, _ = zw.Write([]byte(events))
				require.NoError(t, zw.Close())
			} else {
				wire.WriteString(events)
			}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") != "Bearer tok" {
					http.Error(w, "no", http.StatusUnauthorized)
					return
				}
				w.Header().Set("Content-Type", "text/event-stream")
				if gz {
					require.Contains(t, r.Header.Get("Accept-Encoding"), "gzip")
					w.Header().Set("Content-Encoding", "gzip")
				}
				_, _ = w.Write(wire.Bytes())
			}))
			defer srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()

			var c sseCounter
			enc, err := watchStream(ctx, srv.Client(), srv.URL, "tok", &c)
			require.NoError(t, err)
			require.Equal(t, map[bool]string{true: "gzip"}[gz], enc)
			require.Equal(t, int64(50), c.events.Load())
			require.Equal(t, int64(wire.Len()), c.bytes.Load())
			if gz {
				require.Less(t, c.bytes.Load(), int64(len(events)))
			}

			_, err = watchStream(ctx, srv.Client(), srv.URL, "wrong", &sseCounter{})
			require.ErrorContains(t, err, "401")
		})
	}
}

func TestRenderWeb(t *testing.T) {
	r := &WebResult{
		Browser: "Chromium 156", Runs: 2, Nodes: 100, ReportIntervalS: 2,
		Loads: []WebLoad{
			{Page: "console", Path: "/console/cluster", Cache: "cold", Run: 1, TTFBMs: fp(4), ViewMs: fp(400),
				Bytes: WebBytes{Page: WebByteCount{Requests: 8, Compressed: 5, WireBytes: 259 << 10, DecodedBytes: 800 << 10}}},
			{Page: "console", Path: "/console/cluster", Cache: "cold", Run: 2, Error: "no view within 20 s"},
			{Page: "live", Path: "/live/live/web", Cache: "warm", Run: 1, ViewMs: fp(150), FirstFrameMs: fp(560),
				Bytes: WebBytes{Media: WebByteCount{Requests: 9, WireBytes: 213 << 10}}},
			{Page: webSignInPage, Path: "/console/cluster", Cache: "cold", Run: 1, SubmitMs: fp(280), ViewMs: fp(380)},
			{Page: "watch", Path: "/watch/v_abc", Cache: "cold", Run: 1, ViewMs: fp(240), FirstFrameMs: fp(500)},
		},
		VideoID: "v_abc",
		Skipped: []WebSkip{{Page: "watch", Reason: "the site does not serve videos"}},
		Watch: []WebWatchRun{
			{Consoles: 0, Usage: Usage{Seconds: 20, CPUPercent: 0.5}, ReportsPerSec: 50},
			{Consoles: 20, Usage: Usage{Seconds: 20, CPUPercent: 6.25}, EventsPerSec: 1, BytesPerSec: 50 << 10, ReportsPerSec: 50},
		},
	}
	var b bytes.Buffer
	renderWeb(func(f string, a ...any) { fmt.Fprintf(&b, f, a...) }, r, Machine{Date: "2026-12-04 22:00 UTC", CPUs: 2, CPU: "AMD EPYC"}, "make bench")
	out := b.String()
	require.True(t, strings.HasPrefix(out, webHeading+"\n\n"))
	require.Contains(t, out, "| console, cluster view `/console/cluster` | cold | 1 (1 failed) | 4 / 4 | – | – | 400 / 400 | – | – |\n")
	require.Contains(t, out, "| site, live page `/live/live/web` | warm | 1 | – | – | – | 150 / 150 | – | 560 / 560 |\n")
	require.Contains(t, out, "| site, watch page `/watch/<id>` | cold | 1 | – | – | – | 240 / 240 | – | 500 / 500 |\n")
	require.Contains(t, out, "| console, sign-in, then the cluster view `/console/cluster` | cold | 1 | – | – | – | 380 / 380 | – | – |\n")
	require.Contains(t, out, "submit to the cluster view shown (its first node row): 100 / 100 ms")
	require.Contains(t, out, "Failed loads of console (cold): no view within 20 s.")
	require.Contains(t, out, "Not measured: watch — the site does not serve videos.")
	require.Contains(t, out, "| console, cluster view `/console/cluster` | cold | 8 (0) | 259 KiB | 800 KiB | 5: 0.00 KiB / 0.00 KiB | – |\n")
	require.Contains(t, out, "| site, live page `/live/live/web` | warm | 9 (0) | 0.00 KiB | 0.00 KiB | 0: 0.00 KiB / 0.00 KiB | 213 KiB |\n")
	require.Contains(t, out, "| 20 | 20 s | 6.25 | 0.00 | 1.00 | 50.0 | 50.0 | 50.0 | 0.00 | 0 | **missed** by 1.25 points |\n")
	require.Contains(t, out, "| 0 | 20 s | 0.50 | 0.00 | – | – | – | 50.0 | 0.00 | 0 | – |\n")
	require.Contains(t, out, "The 20 consoles cost the manager 5.75 points of one core")

	// spliced into a report, the section replaces its old self and nothing else
	doc := "# Benchmarks\n\n## 15. Cost curves\n\ncurves\n\n" + webHeading + "\n\nold\n"
	got := string(spliceSection([]byte(doc), b.Bytes(), webHeading))
	require.True(t, strings.HasPrefix(got, "# Benchmarks\n\n## 15. Cost curves\n\ncurves\n\n"+webHeading))
	require.NotContains(t, got, "old\n")
}
