package loadtest

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// CurvePoint is one point of an audience curve: Viewers in play At the time from the start of the run.
type CurvePoint struct {
	At      time.Duration
	Viewers int
}

// ParseCurve reads an audience curve as CSV: one "seconds,viewers" line per point, seconds increasing from
// 0, viewers between 0 and 100000; blank lines, lines starting with # and a header line that is not a
// number are skipped. Between two points the audience changes linearly; it is 0 after the last.
func ParseCurve(r io.Reader) ([]CurvePoint, error) {
	var out []CurvePoint
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		at, v, ok := strings.Cut(line, ",")
		secs, err := strconv.ParseFloat(strings.TrimSpace(at), 64)
		if err != nil && len(out) == 0 && n == 1 {
			continue // a header
		}
		if !ok || err != nil || math.IsNaN(secs) || math.IsInf(secs, 0) {
			return nil, fmt.Errorf("curve line %d: %q is not seconds,viewers", n, clip(line))
		}
		viewers, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || viewers < 0 || viewers > maxViewers {
			return nil, fmt.Errorf("curve line %d: viewers %q is not a whole number from 0 to %d", n, clip(v), maxViewers)
		}
		p := CurvePoint{At: time.Duration(secs * float64(time.Second)), Viewers: viewers}
		switch {
		case secs < 0 || secs > 7*24*3600:
			return nil, fmt.Errorf("curve line %d: %v s is outside 0 to a week", n, secs)
		case len(out) == 0 && p.At != 0:
			return nil, fmt.Errorf("curve line %d: the curve must start at 0 s", n)
		case len(out) > 0 && p.At <= out[len(out)-1].At:
			return nil, fmt.Errorf("curve line %d: %v s is not after the previous point", n, secs)
		}
		out = append(out, p)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading the curve: %w", err)
	}
	if len(out) < 2 {
		return nil, fmt.Errorf("a curve needs at least two points")
	}
	return out, nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// curveStep is the resolution at which a curve is turned into seats.
const curveStep = 100 * time.Millisecond

// at is the audience at t (0 before the first point and after the last).
func curveAt(c []CurvePoint, t time.Duration) int {
	for i := 1; i < len(c); i++ {
		a, b := c[i-1], c[i]
		if t >= a.At && t <= b.At {
			f := float64(t-a.At) / float64(b.At-a.At)
			return int(math.Round(float64(a.Viewers) + f*float64(b.Viewers-a.Viewers)))
		}
	}
	return 0
}

// curveSeats turns a curve into seats: seat i is taken while the curve is above i, so the latest to join
// are the first to leave.
func curveSeats(c []CurvePoint) ([]seat, error) {
	if len(c) < 2 {
		return nil, fmt.Errorf("a curve needs at least two points")
	}
	end := c[len(c)-1].At
	var seats []seat
	open := map[int]time.Duration{} // seat → when it was taken
	prev := 0
	for t := time.Duration(0); t <= end+curveStep; t += curveStep {
		n := curveAt(c, t)
		for i := prev; i < n; i++ {
			open[i] = t
		}
		for i := n; i < prev; i++ {
			seats = append(seats, seat{open[i], t})
			delete(open, i)
		}
		if len(seats)+len(open) > maxViewers {
			return nil, fmt.Errorf("the curve makes more than %d viewers", maxViewers)
		}
		prev = n
	}
	if len(seats) == 0 {
		return nil, fmt.Errorf("the curve has no viewer")
	}
	return seats, nil
}
