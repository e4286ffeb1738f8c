package playback

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseRange(t *testing.T) {
	type br = byteRange
	tests := []struct {
		header  string
		size    int64
		outcome rangeOutcome
		ranges  []byteRange
	}{
		{"bytes=0-0", 1, rangeSatisfiable, []br{{0, 0}}},
		{"bytes=0-", 10, rangeSatisfiable, []br{{0, 9}}},
		{"bytes=-1", 10, rangeSatisfiable, []br{{9, 9}}},
		{"bytes=-10", 10, rangeSatisfiable, []br{{0, 9}}},
		{"bytes=-11", 10, rangeSatisfiable, []br{{0, 9}}},
		{"bytes=-99999999999999999999", 10, rangeSatisfiable, []br{{0, 9}}},
		{"bytes=9-100", 10, rangeSatisfiable, []br{{9, 9}}},
		{"bytes=9223372036854775807-", 10, rangeUnsatisfiable, nil},
		{"bytes=99999999999999999999-", 10, rangeUnsatisfiable, nil},
		{"bytes=99999999999999999999-99999999999999999999", 10, rangeUnsatisfiable, nil},
		{"bytes=10-", 10, rangeUnsatisfiable, nil},
		{"bytes=-0", 10, rangeUnsatisfiable, nil},
		{"bytes=-0,10-20", 10, rangeUnsatisfiable, nil},
		{"bytes=0-0", 0, rangeUnsatisfiable, nil},
		{"bytes=-0", 0, rangeUnsatisfiable, nil},
		{"bytes=-5", 0, rangeIgnored, nil}, // satisfiable, but there is no byte: the (empty) whole
		{"bytes=-5,0-", 0, rangeIgnored, nil},
		{"BYTES=1-2", 10, rangeSatisfiable, []br{{1, 2}}},
		{"bytes=1-2,,\t,4-5 ", 10, rangeSatisfiable, []br{{1, 2}, {4, 5}}},
		{"bytes=4-5,1-2", 10, rangeSatisfiable, []br{{4, 5}, {1, 2}}},
		{"bytes=0-4,5-9", 10, rangeSatisfiable, []br{{0, 4}, {5, 9}}},
		{"bytes=0-4,4-9", 10, rangeIgnored, nil},
		{"bytes=0-9,2-3", 10, rangeIgnored, nil},
		{"bytes=5-,-5", 10, rangeIgnored, nil}, // the same bytes twice
		{"bytes=5-,-6", 10, rangeIgnored, nil},
		{"bytes=20-30,0-1", 10, rangeSatisfiable, []br{{0, 1}}},
		{"", 10, rangeIgnored, nil},
		{"bytes", 10, rangeIgnored, nil},
		{"bytes=", 10, rangeIgnored, nil},
		{"bytes=,", 10, rangeIgnored, nil},
		{"bytes=-", 10, rangeIgnored, nil},
		{"bytes=1", 10, rangeIgnored, nil},
		{"bytes=1-2-3", 10, rangeIgnored, nil},
		{"bytes=2-1", 10, rangeIgnored, nil},
		{"bytes=20-10", 10, rangeIgnored, nil}, // invalid before unsatisfiable
		{"bytes=0-1,2-1", 10, rangeIgnored, nil},
		{"bytes=-1-2", 10, rangeIgnored, nil},
		{"bytes=0x1-2", 10, rangeIgnored, nil},
		{"bytes=1 -2", 10, rangeIgnored, nil},
		{"bytes=１-2", 10, rangeIgnored, nil},
		{"bits=0-1", 10, rangeIgnored, nil},
		{" bytes=0-1", 10, rangeIgnored, nil},
		{"bytes=" + strings.Repeat("0-0,", maxRangeElems), 10, rangeIgnored, nil},
		{"bytes=" + strings.Repeat(",", maxRangeElems-2) + "0-0", 10, rangeSatisfiable, []br{{0, 0}}},
	}
	for _, tt := range tests {
		got, outcome := parseRange(tt.header, tt.size)
		require.Equal(t, tt.outcome, outcome, "%q of %d", tt.header, tt.size)
		require.Equal(t, tt.ranges, got, "%q of %d", tt.header, tt.size)
	}

	var specs []string
	for i := range maxRanges + 1 {
		specs = append(specs, fmt.Sprintf("%d-%d", 2*i, 2*i))
	}
	got, outcome := parseRange("bytes="+strings.Join(specs[:maxRanges], ","), 100)
	require.Equal(t, rangeSatisfiable, outcome)
	require.Len(t, got, maxRanges)
	_, outcome = parseRange("bytes="+strings.Join(specs, ","), 100)
	require.Equal(t, rangeIgnored, outcome, "more than maxRanges: the whole")
}

// FuzzParseRange: parseRange never panics, its ranges are within [0, size), disjoint and at most
// maxRanges, and writing them back as a header parses to the same ranges.
func FuzzParseRange(f *testing.F) {
	for _, seed := range []struct {
		h string
		n int64
	}{
		{"bytes=0-99", 1000}, {"bytes=-500", 1000}, {"bytes=100-", 1000}, {"bytes=0-0,5-9,-1", 10},
		{"bytes=0-", 0}, {"bytes=-1", 0}, {"bytes=99999999999999999999-", 5}, {"bytes=,, ,", 5},
		{"Bytes=1-2", 3}, {"bytes=1-0", 3}, {"bytes=0-1,1-2", 3}, {"bytes=0-9223372036854775807", math.MaxInt64},
	} {
		f.Add(seed.h, seed.n)
	}
	f.Fuzz(func(t *testing.T, header string, size int64) {
		ranges, outcome := parseRange(header, size)
		switch outcome {
		case rangeIgnored, rangeUnsatisfiable:
			require.Empty(t, ranges)
			return
		case rangeSatisfiable:
		default:
			t.Fatalf("outcome %d", outcome)
		}
		require.NotEmpty(t, ranges)
		require.LessOrEqual(t, len(ranges), maxRanges)
		require.False(t, overlapping(ranges))
		var total int64
		specs := make([]string, len(ranges))
		for i, r := range ranges {
			require.True(t, 0 <= r.start && r.start <= r.end && r.end < size, "%+v of %d", r, size)
			total += r.length()
			specs[i] = fmt.Sprintf("%d-%d", r.start, r.end)
		}
		require.LessOrEqual(t, total, size)
		again, outcome := parseRange("bytes="+strings.Join(specs, ","), size)
		require.Equal(t, rangeSatisfiable, outcome)
		require.Equal(t, ranges, again)
	})
}
