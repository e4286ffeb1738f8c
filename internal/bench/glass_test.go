package bench

import (
	"bytes"
	"context"
	"io"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestStampCodeRoundTrip(t *testing.T) {
	const w, h = 640, 360
	c := defaultStampCode
	cw, ch := c.size()
	require.LessOrEqual(t, c.X+cw, w, "the code must fit the smallest picture -size allows")
	require.LessOrEqual(t, c.Y+ch, h)
	require.Zero(t, c.X%16+c.Y%16+c.Cell%16, "cells on the macroblock grid")

	for _, ms := range []uint32{0, 1, 0x80000000, 0xFFFFFFFF, 0xA5A5A5A5, uint32(time.Now().UnixMilli())} {
		y := bytes.Repeat([]byte{128}, w*h)
		c.draw(y, w, ms)
		got, ok := c.read(y, w)
		require.True(t, ok, "%#x", ms)
		require.Equal(t, ms, got)
	}
}

func TestStampCodeRejects(t *testing.T) {
	const w, h = 640, 360
	c := defaultStampCode
	for _, tc := range []struct {
		name  string
		spoil func(y []byte)
	}{
		{"one data cell flipped", func(y []byte) { fillCell(c, y, w, 2+17, 255-y[cellCenter(c, w, 2+17)]) }},
		{"a CRC cell flipped", func(y []byte) { fillCell(c, y, w, 2+35, 255-y[cellCenter(c, w, 2+35)]) }},
		{"references equal", func(y []byte) { fillCell(c, y, w, 1, lumaWhite) }},
		{"no code at all", func(y []byte) {
			for i := range y {
				y[i] = 90
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			y := bytes.Repeat([]byte{128}, w*h)
			c.draw(y, w, 0x12345678)
			tc.spoil(y)
			_, ok := c.read(y, w)
			require.False(t, ok)
		})
	}
}

func cellCenter(c stampCode, stride, i int) int {
	x, y := c.cell(i)
	return (y+c.Cell/2)*stride + x + c.Cell/2
}

func fillCell(c stampCode, y []byte, stride, i int, v byte) {
	x0, y0 := c.cell(i)
	for row := y0; row < y0+c.Cell; row++ {
		for col := x0; col < x0+c.Cell; col++ {
			y[row*stride+col] = v
		}
	}
}

// The stamps must come through the encoder the benchmark uses: frames from stampSource, encoded with
// encoderArgs, decoded again by ffmpeg, each read back with its time, one frame interval after the last.
func TestStampThroughH264(t *testing.T) {
	if testing.Short() {
		t.Skip("runs ffmpeg for a second")
	}
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg not installed (scripts/deps.sh ffmpeg)")
	}
	const w, h, fps = 640, 368, 25
	flv := filepath.Join(t.TempDir(), "stamped.flv")
	enc := exec.Command("ffmpeg", encoderArgs(w, h, fps, fps, "ultrafast", flv)...)
	stdin, err := enc.StdinPipe()
	require.NoError(t, err)
	var encErr bytes.Buffer
	enc.Stderr = &encErr
	require.NoError(t, enc.Start())
	src := &stampSource{Width: w, Height: h, FPS: fps, Code: defaultStampCode}
	ctx, cancel := context.WithTimeout(context.Background(), 1200*time.Millisecond)
	defer cancel()
	before := time.Now()
	require.NoError(t, src.Run(ctx, stdin))
	require.NoError(t, stdin.Close())
	require.NoError(t, enc.Wait(), encErr.String())

	dec := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-i", flv, "-f", "rawvideo", "-pix_fmt", "yuv420p", "pipe:1")
	raw, err := dec.Output()
	require.NoError(t, err)
	frame := w * h * 3 / 2
	require.Equal(t, src.Frames, len(raw)/frame, "every frame made comes out of the encoder")
	require.GreaterOrEqual(t, src.Frames, fps, "a second of frames")
	var prev uint32
	r := bytes.NewReader(raw)
	buf := make([]byte, frame)
	for n := 0; ; n++ {
		if _, err := io.ReadFull(r, buf); err == io.EOF {
			break
		} else {
			require.NoError(t, err)
		}
		ms, ok := defaultStampCode.read(buf, w)
		require.True(t, ok, "frame %d", n)
		if n == 0 {
			after := int32(ms - uint32(before.UnixMilli()))
			require.True(t, after >= 0 && after < 50, "the first frame is stamped when it was made, not %d ms later", after)
		} else {
			require.InDelta(t, 1000/fps, int64(ms-prev), 1, "frame %d: one frame interval after the last", n)
		}
		prev = ms
	}
}

func TestSummarizeGlass(t *testing.T) {
	r := GlassResult{WarmupS: 5, DurationS: 10, Sessions: []glassSession{
		{HLSVersion: "1.7.4", HLSConfig: `{"lowLatencyMode":true}`, Rendered: 4, Decoded: 3, Failed: 1,
			LatencyMs: []float64{900, 1000, 1100}, AheadMs: []float64{700, 800, 900}},
		{Rendered: 1, Decoded: 1, LatencyMs: []float64{2000}, AheadMs: []float64{1000}},
	}}
	r.Summary = summarizeGlass(r.Sessions, 40)
	g := r.Summary
	require.Equal(t, 5, g.Rendered)
	require.Equal(t, 1, g.Failed)
	require.InDelta(t, 1050, g.Median, 1e-9, "over every session's frames")
	require.Equal(t, []float64{1000, 2000}, g.SessionMedians)
	require.InDelta(t, 240, g.DeliveryMedian, 1e-9, "latency minus buffered ahead, plus the newest frame's duration")
	require.InDelta(t, 850, g.AheadMedian, 1e-9)
	require.Contains(t, r.row(), "**missed** by 50 ms")

	r.Sessions = r.Sessions[:1]
	r.Summary = summarizeGlass(r.Sessions, 40)
	require.Contains(t, r.row(), "| 1000 | 1080 |", "median and p90 (interpolated)")
	require.Contains(t, r.row(), "**met**")
	require.Equal(t, "bufferStalledError ×2, fatal networkError ×1",
		errorCounts([]glassError{{Details: "bufferStalledError"}, {Details: "networkError", Fatal: true}, {Details: "bufferStalledError"}}))
}
