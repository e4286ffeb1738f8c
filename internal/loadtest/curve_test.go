package loadtest

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseCurve(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		want     []CurvePoint
		err      string
	}{
		{"header, comments, blanks", "seconds,viewers\n# up and down\n0,0\n\n10, 100\n20,0\n",
			[]CurvePoint{{0, 0}, {10 * time.Second, 100}, {20 * time.Second, 0}}, ""},
		{"fractions of seconds", "0,5\n1.5,5", []CurvePoint{{0, 5}, {1500 * time.Millisecond, 5}}, ""},
		{"not starting at 0", "1,0\n2,3", nil, "must start at 0 s"},
		{"time going back", "0,0\n5,1\n5,2", nil, "not after the previous point"},
		{"negative viewers", "0,0\n5,-1", nil, "viewers \"-1\""},
		{"too many viewers", "0,0\n5,100001", nil, "from 0 to 100000"},
		{"no comma", "0,0\n5 3", nil, "is not seconds,viewers"},
		{"NaN", "0,0\nNaN,3", nil, "is not seconds,viewers"},
		{"one point", "0,10", nil, "at least two points"},
		{"empty", "", nil, "at least two points"},
		{"a week and more", "0,0\n700000,1", nil, "outside 0 to a week"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCurve(strings.NewReader(tt.in))
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

// TestCurveSeats: the audience at each instant is what the curve says; the last to join leave first, and
// one who comes back after a dip is a new viewer.
func TestCurveSeats(t *testing.T) {
	c := []CurvePoint{{0, 0}, {time.Second, 10}, {2 * time.Second, 10}, {3 * time.Second, 4}, {4 * time.Second, 6}, {5 * time.Second, 0}}
	seats, err := curveSeats(c)
	require.NoError(t, err)
	require.Len(t, seats, 12, "10 up, 6 leave, 2 new join, all leave")
	for _, at := range []time.Duration{500 * time.Millisecond, 1500 * time.Millisecond, 3 * time.Second, 4 * time.Second, 4500 * time.Millisecond} {
		n := 0
		for _, s := range seats {
			if s.join <= at && at < s.leave {
				n++
			}
		}
		require.Equal(t, curveAt(c, at), n, "at %s", at)
	}
	require.Equal(t, 10, peak(seats))
	_, err = curveSeats([]CurvePoint{{0, 0}, {time.Second, 0}})
	require.ErrorContains(t, err, "no viewer")
}

func FuzzParseCurve(f *testing.F) {
	f.Add("0,0\n10,100\n20,0\n")
	f.Add("s,v\n0,1\n1e9,2")
	f.Fuzz(func(t *testing.T, in string) {
		c, err := ParseCurve(strings.NewReader(in))
		if err != nil {
			return
		}
		for i := 1; i < len(c); i++ {
			require.Greater(t, c[i].At, c[i-1].At)
		}
	})
}
