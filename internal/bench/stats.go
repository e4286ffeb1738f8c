package bench

import (
	"math"
	"slices"
	"time"
)

// Summary describes a sample of durations, in milliseconds.
type Summary struct {
	N      int     `json:"n"`
	Min    float64 `json:"minMs"`
	Median float64 `json:"medianMs"`
	P95    float64 `json:"p95Ms"`
	Max    float64 `json:"maxMs"`
}

// Percentile returns the p-th percentile (0..100) of sorted by linear interpolation between the
// closest ranks, or NaN for an empty sample.
func Percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	if p <= 0 {
		return sorted[0]
	}
	if p >= 100 {
		return sorted[len(sorted)-1]
	}
	rank := p / 100 * float64(len(sorted)-1)
	lo := int(math.Floor(rank))
	frac := rank - float64(lo)
	if lo+1 >= len(sorted) {
		return sorted[lo]
	}
	return sorted[lo] + frac*(sorted[lo+1]-sorted[lo])
}

// Summarize returns the summary of ds.
func Summarize(ds []time.Duration) Summary {
	ms := make([]float64, len(ds))
	for i, d := range ds {
		ms[i] = float64(d) / float64(time.Millisecond)
	}
	slices.Sort(ms)
	s := Summary{N: len(ms)}
	if len(ms) == 0 {
		return s
	}
	s.Min, s.Max = ms[0], ms[len(ms)-1]
	s.Median = Percentile(ms, 50)
	s.P95 = Percentile(ms, 95)
	return s
}
