package bench

import (
	"bytes"
	"image/png"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCurveSteps(t *testing.T) {
	for _, tc := range []struct {
		name  string
		pts   []curvePoint
		super []bool
	}{
		// linear with a fixed base: the cost per unit falls
		{"affine", []curvePoint{{Work: 1, Cost: 11}, {Work: 16, Cost: 26}, {Work: 64, Cost: 74}}, []bool{false, false}},
		{"linear", []curvePoint{{Work: 100, Cost: 1}, {Work: 1000, Cost: 10}}, []bool{false}},
		// within the tolerance
		{"a little faster", []curvePoint{{Work: 100, Cost: 1}, {Work: 1000, Cost: 10.9}}, []bool{false}},
		{"quadratic", []curvePoint{{Work: 1000, Cost: 5}, {Work: 10000, Cost: 500}}, []bool{true}},
		{"faster on the last step only", []curvePoint{{Work: 1, Cost: 2}, {Work: 16, Cost: 16}, {Work: 64, Cost: 64}, {Work: 128, Cost: 200}},
			[]bool{false, false, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			steps := curveSteps(tc.pts)
			require.Len(t, steps, len(tc.super))
			for i, s := range steps {
				require.Equal(t, tc.super[i], s.Superlinear, "step %d: %+v", i, s)
			}
		})
	}
	steps := curveSteps([]curvePoint{{Work: 1000, Cost: 5}, {Work: 10000, Cost: 500}})
	require.InDelta(t, 0.005, steps[0].PerUnitFrom, 1e-12)
	require.InDelta(t, 10, steps[0].Ratio, 1e-9)
	require.Empty(t, curveSteps([]curvePoint{{Work: 1, Cost: math.NaN()}, {Work: 2, Cost: 3}}), "a point not measured is no step")
}

func TestPlotPNG(t *testing.T) {
	panels := []plotPanel{
		{Title: "a", XLabel: "streams", YLabel: "%", LogX: true, Series: []plotSeries{
			{Name: "one", X: []float64{1, 16, 64, 128}, Y: []float64{1, 5, 20, 40}, Color: plotColors[0]},
			{Name: "two", X: []float64{1, 16, 64, 128}, Y: []float64{2, math.NaN(), 30, 60}, Color: plotColors[1]},
		}},
		{Title: "b", XLabel: "req/s", YLabel: "ms", Series: []plotSeries{{X: []float64{500, 2000}, Y: []float64{3, 9}, Color: plotColors[0]}}},
		{Title: "empty"},
		{Title: "log axis, one point", LogX: true, Series: []plotSeries{{X: []float64{1000}, Y: []float64{5}, Color: plotColors[0]}}},
	}
	b, err := plotPNG(panels, 3)
	require.NoError(t, err)
	img, err := png.Decode(bytes.NewReader(b))
	require.NoError(t, err)
	require.Equal(t, 3*panelW, img.Bounds().Dx())
	require.Equal(t, 2*panelH, img.Bounds().Dy())
	// the first series' colour is drawn somewhere in the first panel
	found := false
	for y := 0; y < panelH && !found; y++ {
		for x := 0; x < panelW && !found; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			c := plotColors[0]
			found = r>>8 == uint32(c.R) && g>>8 == uint32(c.G) && bl>>8 == uint32(c.B)
		}
	}
	require.True(t, found)
}

func TestNiceCeil(t *testing.T) {
	for v, want := range map[float64]float64{0: 1, 0.3: 0.5, 1: 1, 7: 10, 12: 20, 23: 50, 130: 200, 9000: 10000} {
		require.InDelta(t, want, niceCeil(v), 1e-9, "niceCeil(%v)", v)
	}
	require.Equal(t, "1.5k", shortNum(1500))
	require.Equal(t, "0.25", shortNum(0.25))
	require.Equal(t, "1.7k", shortNum(1699.33))
	require.Equal(t, "4.6k", shortNum(4603.68))
	require.Equal(t, "881", shortNum(881.34))
	require.Equal(t, "12.5", shortNum(12.5))
	require.Equal(t, "64", shortNum(64))
}

func TestMedianByCPUPerRequest(t *testing.T) {
	run := func(cpu, rps float64) FanoutRun {
		return FanoutRun{WrkResult: WrkResult{ReqPerSec: rps}, Usage: Usage{CPUPercent: cpu}}
	}
	tests := []struct {
		name string
		runs []FanoutRun
		want FanoutRun
	}{
		{"one", []FanoutRun{run(10, 1000)}, run(10, 1000)},
		{"three: the middle cost per request, not the middle CPU", []FanoutRun{run(16, 1600), run(11, 1700), run(12, 1650)}, run(12, 1650)},
		{"a burst in one run", []FanoutRun{run(11, 1650), run(17, 1650), run(12, 1650)}, run(12, 1650)},
		{"two: the lower", []FanoutRun{run(20, 1000), run(10, 1000)}, run(10, 1000)},
		{"a run that served nothing counts as the most costly", []FanoutRun{run(5, 0), run(10, 1000), run(12, 1000)}, run(12, 1000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, medianByCPUPerRequest(tt.runs))
		})
	}
}
