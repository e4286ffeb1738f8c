package bench

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/testutil"
)

func TestLossPercent(t *testing.T) {
	for _, tc := range []struct {
		received, lost uint64
		want           float64
	}{
		{0, 0, 0},
		{100, 0, 0},
		{99, 1, 1},
		{0, 5, 100},
		{990, 10, 1},
	} {
		require.InDelta(t, tc.want, lossPercent(tc.received, tc.lost), 1e-9, "%d received, %d lost", tc.received, tc.lost)
	}
	s := WebRTCLoadStep{Viewers: 2, WindowS: 10, Received: 199, Lost: 1, Bytes: 2 * 10 * 125_000}
	require.InDelta(t, 0.5, s.LossPercent(), 1e-9)
	require.InDelta(t, 1000, s.ViewerKbps(), 1e-9, "125,000 bytes a second each is 1,000 kbit/s")
}

func TestPerCore(t *testing.T) {
	require.InDelta(t, 300.0, perCore(150, 50), 1e-9, "150 viewers on half a core: 300 a core")
	require.InDelta(t, 1000.0, perCore(1000, 100), 1e-9)
	require.Zero(t, perCore(10, 0), "no CPU measured is not infinitely many viewers")
}

func TestStopReason(t *testing.T) {
	ok := WebRTCLoadStep{Viewers: 25, Added: 25, Received: 1000, MachineBusyPercent: 50}
	busy := ok
	busy.MachineBusyPercent = 97
	lossy := ok
	lossy.Lost = 20 // 20 / 1020 ≈ 1.96 %
	barely := ok
	barely.Received, barely.Lost = 990, 10 // exactly 1 %: within the limit
	joinFailed := ok
	joinFailed.JoinFailed = 3
	for _, tc := range []struct {
		name  string
		steps []WebRTCLoadStep
		want  string // part of the reason; "" to go on
	}{
		{"clean", []WebRTCLoadStep{ok}, ""},
		{"loss at the limit goes on", []WebRTCLoadStep{barely}, ""},
		{"loss above the limit", []WebRTCLoadStep{ok, lossy}, "loss 1.96 %"},
		{"viewers that did not join", []WebRTCLoadStep{joinFailed}, "3 of the step's 25"},
		{"one saturated window goes on", []WebRTCLoadStep{ok, busy}, ""},
		{"a saturated window after a calm one goes on", []WebRTCLoadStep{busy, ok}, ""},
		{"two saturated windows", []WebRTCLoadStep{ok, busy, busy}, "saturated"},
		{"the most viewers asked for", []WebRTCLoadStep{{Viewers: 100, Added: 25, Received: 10}}, "-max 100"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := stopReason(tc.steps, 1, 100)
			if tc.want == "" {
				require.Empty(t, got)
			} else {
				require.Contains(t, got, tc.want)
			}
		})
	}
}

func TestBestStep(t *testing.T) {
	r := WebRTCLoadResult{MaxLossPercent: 1, Steps: []WebRTCLoadStep{
		{Viewers: 25, Received: 100},
		{Viewers: 50, Received: 100},
		{Viewers: 75, Received: 90, Lost: 10},
	}}
	b, ok := r.best()
	require.True(t, ok)
	require.Equal(t, 50, b.Viewers, "the last step within the loss limit")
	r.Steps = r.Steps[2:]
	_, ok = r.best()
	require.False(t, ok)
}

func TestStalled(t *testing.T) {
	require.Zero(t, stalled(nil))
	require.Zero(t, stalled([]float64{100, 100, 99}))
	require.Equal(t, 2, stalled([]float64{100, 100, 100, 49, 0}), "under half the median")
}

func TestParseCPULine(t *testing.T) {
	busy, total := parseCPULine("cpu  100 5 50 800 40 3 2 0 0 0")
	require.InDelta(t, 160.0, busy, 1e-9, "user+nice+system+irq+softirq+steal")
	require.InDelta(t, 1000.0, total, 1e-9, "idle and iowait count in the total only")
	busy, total = parseCPULine("cpu0 1 2 3 4 5")
	require.Zero(t, busy+total, "a single CPU's line is not the machine's")
	busy, total = parseCPULine("cpu  1 x 3 4 5")
	require.Zero(t, busy+total)
}

func TestSummarizeWebRTCGlass(t *testing.T) {
	p := webrtcGlassPage{
		Rendered: 5, Decoded: 4, Failed: 1, Published: 60,
		LatencyMs:  []float64{40, 50, 60, 100},
		ReceivedMs: []float64{10, 20, 20, 30},
		StatsStart: webrtcStats{
			Inbound:  &inboundVideo{JitterBufferDelay: 1, JitterBufferEmittedCount: 100, FramesDecoded: 100, TotalDecodeTime: 0.2, FramesReceived: 100, FreezeCount: 1},
			Outbound: &outboundVideo{FramesEncoded: 100, TotalEncodeTime: 1},
		},
		StatsEnd: webrtcStats{
			Inbound:  &inboundVideo{JitterBufferDelay: 1.5, JitterBufferEmittedCount: 150, FramesDecoded: 150, TotalDecodeTime: 0.3, FramesReceived: 152, FreezeCount: 3, TotalFreezesDuration: 0.4},
			Outbound: &outboundVideo{FramesEncoded: 160, TotalEncodeTime: 1.6},
		},
	}
	s := summarizeWebRTCGlass(p, 2)
	require.InDelta(t, 55.0, s.Median, 1e-9)
	require.InDelta(t, 40.0, s.Min, 1e-9)
	require.InDelta(t, 100.0, s.Max, 1e-9)
	require.InDelta(t, 20.0, s.ReceivedMedian, 1e-9)
	require.InDelta(t, 35.0, s.ShownMedian, 1e-9, "latency minus received, frame by frame: 30, 30, 40, 70")
	require.InDelta(t, 10.0, s.JitterBufferMs, 1e-9, "0.5 s over 50 frames")
	require.InDelta(t, 2.0, s.DecodeMs, 1e-9)
	require.InDelta(t, 10.0, s.EncodeMs, 1e-9, "0.6 s over 60 frames")
	require.InDelta(t, 2.5, s.RenderedFPS, 1e-9)
	require.InDelta(t, 30.0, s.PublishedFPS, 1e-9)
	require.InDelta(t, 2.0, s.Freezes, 1e-9)
	require.InDelta(t, 2.0, s.FramesLost, 1e-9, "52 received, 50 decoded")

	empty := summarizeWebRTCGlass(webrtcGlassPage{}, 2)
	require.True(t, math.IsNaN(empty.Median))
	require.True(t, math.IsNaN(empty.JitterBufferMs), "no statistics: not measured, not zero")
}

func TestNextKeyframe(t *testing.T) {
	v := []Frame{{Key: true}, {}, {}, {Key: true}, {}}
	require.Equal(t, 3, nextKeyframe(v, 1))
	require.Equal(t, 0, nextKeyframe(v, 3), "wraps to the clip's start")
	require.Equal(t, 0, nextKeyframe([]Frame{{Key: true}, {}}, 0), "the only keyframe")
}

func TestAnnexB(t *testing.T) {
	sps, pps, idr, p := []byte{0x67, 1}, []byte{0x68, 2}, []byte{0x65, 3}, []byte{0x41, 4}
	start := []byte{0, 0, 0, 1}
	join := func(nals ...[]byte) []byte {
		var b []byte
		for _, n := range nals {
			b = append(append(b, start...), n...)
		}
		return b
	}
	require.Equal(t, join(sps, pps, idr), annexB([][]byte{idr}, true, sps, pps), "parameter sets before a keyframe")
	require.Equal(t, join(sps, pps, idr), annexB([][]byte{sps, pps, idr}, true, sps, pps), "not twice")
	require.Equal(t, join(p), annexB([][]byte{p}, false, sps, pps))
	require.Equal(t, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001f", h264Fmtp([]byte{0x67, 0x64, 0x00, 0x28}))
	require.Contains(t, h264Fmtp(nil), "42e01f")
}

// The page draws and reads the stamp with glass-stamp.mjs: it must agree with stampCode, cell for
// cell, both ways (node runs the module).
func TestStampModuleMatchesGo(t *testing.T) {
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed")
	}
	module, err := filepath.Abs("../../test/players/web/glass-stamp.mjs")
	require.NoError(t, err)
	c := defaultStampCode
	w, h := c.size()
	const stride = 640
	values := []uint32{0, 1, 0x80000000, 0xFFFFFFFF, 0x12345678, uint32(time.Now().UnixMilli())}
	type input struct {
		MS   float64 `json:"ms"`
		RGBA string  `json:"rgba"`
	}
	var in []input
	var wantCells [][]bool
	for _, v := range values {
		y := bytes.Repeat([]byte{128}, stride*360)
		c.draw(y, stride, v)
		rgba := make([]byte, 0, w*h*4)
		for row := c.Y; row < c.Y+h; row++ {
			for col := c.X; col < c.X+w; col++ {
				l := y[row*stride+col]
				rgba = append(rgba, l, l, l, 255)
			}
		}
		cells := make([]bool, stampCells)
		for i := range cells {
			cells[i] = y[cellCenter(c, stride, i)] == lumaWhite
		}
		wantCells = append(wantCells, cells)
		// the page stamps the epoch time in ms, of which the low 32 bits are drawn
		in = append(in, input{MS: float64(v) + 4*(1<<32), RGBA: base64.StdEncoding.EncodeToString(rgba)})
	}
	script := fmt.Sprintf(`
import { readFileSync } from 'node:fs';
import { parseCode, cellsOf, readStamp, since } from %q;
const code = parseCode(%q);
const out = JSON.parse(readFileSync(0, 'utf8')).map(({ ms, rgba }) => ({
  cells: cellsOf(ms),
  read: readStamp(code, Buffer.from(rgba, 'base64')),
  since: since(ms + 25.5, ms %% 2 ** 32),
}));
console.log(JSON.stringify(out));
`, module, c.String())
	cmd := exec.Command(nodeBin, "--input-type=module", "-e", script)
	b, err := json.Marshal(in)
	require.NoError(t, err)
	cmd.Stdin = bytes.NewReader(b)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	require.NoError(t, err)
	var got []struct {
		Cells []bool  `json:"cells"`
		Read  float64 `json:"read"`
		Since float64 `json:"since"`
	}
	require.NoError(t, json.Unmarshal(out, &got))
	require.Len(t, got, len(values))
	for i, v := range values {
		require.Equal(t, wantCells[i], got[i].Cells, "cells the page draws for %#x", v)
		require.Equal(t, float64(v), got[i].Read, "the page reads what Go drew: %#x", v)
		require.InDelta(t, 25.5, got[i].Since, 1e-6, "%#x", v)
	}
}

func TestLoadAndRenderWebRTC(t *testing.T) {
	dir := t.TempDir()
	_, err := loadWebRTCResults(dir)
	require.Error(t, err, "no result at all")

	load := &WebRTCLoadResult{
		phaseRun: phaseRun{Date: "2026-01-01 00:00 UTC", Seconds: 100, LoadStart: "1 1 1", LoadEnd: "2 2 2"},
		Stream:   "live/load", Step: 25, HoldS: 10, SettleS: 2, MaxLossPercent: 1, MaxViewers: 2000, CPUs: 2,
		EdgeIdle: Usage{RSSMiB: 50},
		Steps: []WebRTCLoadStep{
			{Viewers: 25, Added: 25, WindowS: 10, Received: 37500, Bytes: 25 * 10 * 130_000, Edge: Usage{CPUPercent: 10, RSSMiB: 60, OthersCPUPercent: 20}, Origin: &Usage{CPUPercent: 5}, ClientsCPUPercent: 12, MachineBusyPercent: 30, EdgeSessions: 25},
			{Viewers: 50, Added: 25, WindowS: 10, Received: 75000, Lost: 1500, Edge: Usage{CPUPercent: 20, RSSMiB: 70}, ClientsCPUPercent: 24, MachineBusyPercent: 60, EdgeSessions: -1},
		},
		Stop: "loss 1.96 % above 1 %",
	}
	require.NoError(t, writeJSON(filepath.Join(dir, "webrtc-load.json"), load))
	r, err := loadWebRTCResults(dir)
	require.NoError(t, err)
	require.Nil(t, r.Glass)
	require.Nil(t, r.Start)
	require.Equal(t, load.Steps, r.Load.Steps)

	var b bytes.Buffer
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	renderWebRTC(p, r, Machine{CPUs: 2, CPU: "test CPU"}, "make bench")
	doc := b.String()
	require.True(t, strings.HasPrefix(doc, webrtcHeading+"\n"))
	require.Contains(t, doc, "| WHEP viewers per edge core (viewers ÷ the edge's CPU in cores, at the largest step within 1.00 % loss: 25 viewers) | ≥ 1,000 | 250 | **missed** by 750 viewers |")
	require.Contains(t, doc, "| glass to glass, Chromium → WHIP → origin → edge → WHEP → Chromium (median) | ≤ 200 ms | – ms | not measured |")
	require.Contains(t, doc, "### Glass to glass\n\nNot measured in this run.")
	require.Contains(t, doc, "| 25 | 0.00 | 0.00 | 0.00 | 0 | 1040 (0.00) | 10.0 | 250 | 0.40 | 60.0 | 0.40 | 5.00 | 12.0 | 0.48 | 15.0 | 30.0 | 25 |")
	require.Contains(t, doc, "Stopped: loss 1.96 % above 1 %.")
	require.NotContains(t, doc, "%!", "a formatting mistake")
	require.NotContains(t, doc, "NaN")

	glass := &WebRTCGlassResult{Runs: []WebRTCGlassRun{{
		Source: "whip", Path: "page → page", Size: "1280x720", FPS: 30, WarmupS: 3, DurationS: 2,
		Page: webrtcGlassPage{Rendered: 2, Decoded: 2, Published: 60, LatencyMs: []float64{40, 60}, ReceivedMs: []float64{10, 20},
			StatsStart: webrtcStats{Inbound: &inboundVideo{}}, StatsEnd: webrtcStats{Inbound: &inboundVideo{FramesReceived: 30, FramesDecoded: 30}}},
		AtOrigin: &frameStats{Frames: 31, Seconds: 2, Gaps: 3, LongestGapMs: 620},
	}}}
	start := &WebRTCStartResult{PollMs: 20, Clip: "/x/clip-1m.ts", Runs: []WebRTCStartRun{
		{Publisher: "whip", Run: 1, LiveMs: 40, FirstKey: 60, Offers: 2},
		{Publisher: "rtmp", Run: 1, LiveMs: 30, FirstKey: 1000, Offers: 1},
		{Publisher: "rtmp", Run: 2, Error: "no keyframe"},
	}}
	require.NoError(t, writeJSON(filepath.Join(dir, "webrtc-glass.json"), glass))
	require.NoError(t, writeJSON(filepath.Join(dir, "webrtc-start.json"), start))
	r, err = loadWebRTCResults(dir)
	require.NoError(t, err)
	b.Reset()
	renderWebRTC(p, r, Machine{CPUs: 2}, "make bench")
	doc = b.String()
	require.Contains(t, doc, "| ≤ 200 ms | 50.0 ms | **met** |")
	require.Contains(t, doc, "**The WHIP publication loses frames.** The page drew and sent 30.0 frames a second; its viewer at the edge received 15.0")
	require.Contains(t, doc, "A Go WHEP viewer at the origin, over the whole run, received 15.0 frames a second, with 3 gaps longer than 150 ms")
	require.Equal(t, "1 gap", plural(1, "gap"))
	require.Equal(t, "0 gaps", plural(0, "gap"))
	require.Contains(t, doc, "| WHIP (Go, pion) | 1 (0) | 40.0 | 60.0 | 60.0 | 60.0 | 2.00 |")
	require.Contains(t, doc, "| RTMP (Go, gortmplib) | 1 (1) | 30.0 | 1000 | 1000 | 1000 | 1.00 |")
	require.Contains(t, doc, "- rtmp run 2: no keyframe")
	require.NotContains(t, doc, "%!")
}

func TestThousands(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567"} {
		require.Equal(t, want, thousands(v))
	}
}

// The commands of the webrtc phase against a real origin and edge (in this process): publish to the
// first WHEP keyframe with both publishers, and two steps of viewers.
func TestWebRTCCommandsAgainstNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two nodes and publishes for about 15 s")
	}
	open := func(c *config.Config) {
		c.Publish.AllowUnauthenticated = true
		c.WebRTC.OffersPerMinute = 0
	}
	origin, _ := testutil.StartNode(t, open)
	edge, _ := testutil.StartNode(t, func(c *config.Config) {
		testutil.EdgeOf("edge", origin)(c)
		open(c)
	})
	originURL, edgeURL := "http://"+origin.HTTPAddr(), "http://"+edge.HTTPAddr()
	rtmp := "rtmp://" + origin.RTMPAddr() + "/live"
	dir := t.TempDir()
	run := func(args ...string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		code := Main(context.Background(), args, &stdout, &stderr)
		require.Zero(t, code, "nagare bench %s: %s%s", args[0], stdout.String(), stderr.String())
	}

	run("webrtc-start", "-origin", originURL, "-edge", edgeURL, "-rtmp", rtmp, "-clip", testutil.Clip(t, "ts"),
		"-runs", "1", "-out", filepath.Join(dir, "webrtc-start.json"))
	var start WebRTCStartResult
	require.NoError(t, readJSON(filepath.Join(dir, "webrtc-start.json"), &start))
	require.Len(t, start.Runs, 2)
	for _, r := range start.Runs {
		require.Empty(t, r.Error, r.Publisher)
		require.Positive(t, r.LiveMs, r.Publisher)
		require.GreaterOrEqual(t, r.FirstKey, r.LiveMs, "%s: the keyframe comes after the session", r.Publisher)
		require.Less(t, r.FirstKey, 10_000.0, r.Publisher)
	}

	testutil.Publish(t, rtmp+"/load", "flv")
	run("webrtc", "-edge", edgeURL, "-stream", "live/load", "-edge-pid", strconv.Itoa(os.Getpid()), "-step", "2",
		"-hold", "1s", "-settle", "200ms", "-max", "4", "-out", filepath.Join(dir, "webrtc-load.json"))
	var load WebRTCLoadResult
	require.NoError(t, readJSON(filepath.Join(dir, "webrtc-load.json"), &load))
	require.Len(t, load.Steps, 2)
	require.Contains(t, load.Stop, "-max 4")
	for i, s := range load.Steps {
		require.Equal(t, 2*(i+1), s.Viewers)
		require.Zero(t, s.JoinFailed)
		require.Positive(t, s.Received, "step %d", i)
		require.Less(t, s.LossPercent(), 1.0, "loopback, four viewers")
		require.Equal(t, s.Viewers, s.EdgeSessions, "the edge counts the viewers")
		require.Positive(t, s.Edge.CPUPercent)
	}
}
