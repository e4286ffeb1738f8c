package playback

import (
	"cmp"
	"math"
	"slices"
	"strings"
)

// byteRange is an inclusive range [start, end] of a representation, always within [0, size).
type byteRange struct {
	start, end int64
}

func (b byteRange) length() int64 { return b.end - b.start + 1 }

// rangeOutcome is what to answer a Range header with.
type rangeOutcome int

const (
	// rangeIgnored: send the whole representation with 200 (no Range header, or one to ignore).
	rangeIgnored rangeOutcome = iota
	// rangeSatisfiable: send the ranges with 206.
	rangeSatisfiable
	// rangeUnsatisfiable: answer 416 with Content-Range: bytes */size.
	rangeUnsatisfiable
)

// Limits on a Range header (RFC 9110 §14.2 lets a server ignore a range set that looks like an attack).
const (
	// maxRanges is the most range-specs a Range header may hold to be honoured.
	maxRanges = 16
	// maxRangeElems bounds the list elements, empty ones included, of a range set.
	maxRangeElems = 64
)

// parseRange parses a Range header (RFC 9110 §14.1.1) for a representation of size bytes. The choices
// RFC 9110 leaves to the server:
//   - a header that is not "bytes=" followed by a valid range set (the unit is case-insensitive; optional
//     whitespace around list elements and empty elements are accepted) is ignored: 200, whole;
//   - more than maxRanges range-specs, or satisfiable ranges that overlap, are ignored too: the whole
//     representation is cheaper to send than the ranges and never bigger;
//   - unsatisfiable specs (first-pos at or past the end, "-0") are dropped; if none remains, 416;
//   - a last-pos past the end is clamped to size-1, a suffix longer than the representation is all of it;
//   - a zero-length representation has no byte to range over: a non-zero suffix-range (the only spec
//     RFC 9110 calls satisfiable then) is answered like no Range header, anything else with 416.
//
// Satisfiable ranges are returned in the order asked for; they are non-empty, within [0, size) and
// pairwise disjoint.
func parseRange(header string, size int64) ([]byteRange, rangeOutcome) {
	unit, set, ok := strings.Cut(header, "=")
	if !ok || !strings.EqualFold(unit, "bytes") || size < 0 {
		return nil, rangeIgnored
	}
	var (
		ranges     []byteRange
		specs      int
		emptySizes bool // a non-zero suffix-range of a zero-length representation
	)
	elems := strings.Split(set, ",")
	if len(elems) > maxRangeElems {
		return nil, rangeIgnored
	}
	for _, spec := range elems {
		spec = strings.Trim(spec, " \t")
		if spec == "" {
			continue
		}
		specs++
		if specs > maxRanges {
			return nil, rangeIgnored
		}
		first, last, ok := strings.Cut(spec, "-")
		if !ok {
			return nil, rangeIgnored
		}
		if first == "" { // suffix-range
			n, ok := parseDigits(last)
			if !ok {
				return nil, rangeIgnored
			}
			switch {
			case n == 0:
			case size == 0:
				emptySizes = true
			default:
				ranges = append(ranges, byteRange{max(0, size-n), size - 1})
			}
			continue
		}
		start, ok := parseDigits(first)
		if !ok {
			return nil, rangeIgnored
		}
		end := int64(math.MaxInt64)
		if last != "" {
			if end, ok = parseDigits(last); !ok || end < start {
				return nil, rangeIgnored
			}
		}
		if start < size {
			ranges = append(ranges, byteRange{start, min(end, size-1)})
		}
	}
	switch {
	case specs == 0:
		return nil, rangeIgnored
	case len(ranges) == 0 && emptySizes:
		return nil, rangeIgnored
	case len(ranges) == 0:
		return nil, rangeUnsatisfiable
	case overlapping(ranges):
		return nil, rangeIgnored
	}
	return ranges, rangeSatisfiable
}

// parseDigits parses 1*DIGIT. A number too big for an int64 is math.MaxInt64: as a position it is past
// any end, as a suffix length longer than any representation, which is what the huge number means.
func parseDigits(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n > (math.MaxInt64-int64(c-'0'))/10 {
			n = math.MaxInt64
			continue
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func overlapping(ranges []byteRange) bool {
	if len(ranges) < 2 {
		return false
	}
	sorted := slices.Clone(ranges)
	slices.SortFunc(sorted, func(a, b byteRange) int { return cmp.Compare(a.start, b.start) })
	for i := 1; i < len(sorted); i++ {
		if sorted[i].start <= sorted[i-1].end {
			return true
		}
	}
	return false
}
