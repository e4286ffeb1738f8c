package library

import (
	"encoding/base64"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"12345", 12345, true},
		{"007", 7, true},
		{"999999999999999999", 999999999999999999, true},
		{"", 0, false},
		{"-1", 0, false},
		{"+1", 0, false},
		{" 1", 0, false},
		{"1 ", 0, false},
		{"1e6", 0, false},
		{"0x10", 0, false},
		{"1000000000000000000", 0, false}, // 19 digits
		{"٣", 0, false},                   // a digit, but not an ASCII one
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseSize("Upload-Length", tc.in)
			if !tc.ok {
				require.Error(t, err)
				require.Contains(t, err.Error(), "Upload-Length")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestParseMetadata(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, tc := range []struct {
		name string
		in   string
		want map[string]string
	}{
		{"empty", "", map[string]string{}},
		{"tus-js-client", "filename " + b64("clip.mp4") + ",filetype " + b64("video/mp4") + ",title " + b64("Keynote 2026"),
			map[string]string{"filename": "clip.mp4", "filetype": "video/mp4", "title": "Keynote 2026"}},
		{"spaces around pairs", " title " + b64("a") + " , filename " + b64("b.mp4"), map[string]string{"title": "a", "filename": "b.mp4"}},
		{"a key alone", "is_confidential,title " + b64("x"), map[string]string{"is_confidential": "", "title": "x"}},
		{"utf-8 and markup", "title " + b64(`<img src=x onerror=alert(1)> ✓`), map[string]string{"title": `<img src=x onerror=alert(1)> ✓`}},
		{"duplicate key", "title " + b64("a") + ",title " + b64("b"), nil},
		{"not base64", "title !!!", nil},
		{"unpadded base64", "title YQ", nil},
		{"empty key", "title " + b64("a") + ", ", nil},
		{"empty pair", "title " + b64("a") + ",,filename " + b64("b"), nil},
		{"two spaces", "title  " + b64("a"), nil},
		{"control character in key", "ti\x01tle " + b64("a"), nil},
		{"non-ASCII key", "tïtle " + b64("a"), nil},
		{"too many pairs", strings.Repeat("k,", maxMetadataPairs) + "k", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseMetadata(tc.in)
			if tc.want == nil {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

// FuzzParseMetadata: whatever the header, parsing does not panic, and what it accepts survives being
// written out again (in the form tus-js-client writes) and read back.
func FuzzParseMetadata(f *testing.F) {
	f.Add("filename Y2xpcC5tcDQ=,title S2V5bm90ZQ==")
	f.Add("a,b c2Vjb25k, c  ,d")
	f.Add(" x ,")
	f.Fuzz(func(t *testing.T, in string) {
		m, err := parseMetadata(in)
		if err != nil {
			return
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			require.NotEmpty(t, k)
			require.NotContains(t, k, ",")
			require.NotContains(t, k, " ")
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var pairs []string
		for _, k := range keys {
			if m[k] == "" {
				pairs = append(pairs, k)
			} else {
				pairs = append(pairs, k+" "+base64.StdEncoding.EncodeToString([]byte(m[k])))
			}
		}
		back, err := parseMetadata(strings.Join(pairs, ","))
		require.NoError(t, err)
		require.Equal(t, m, back)
	})
}

// FuzzParseSize: an accepted Upload-Length or Upload-Offset is what strconv reads in it, never negative;
// anything strconv reads as a non-negative int64 in plain digits is accepted.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"0", "5242880", "-1", "+7", "99999999999999999999", " 1", "1_000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := parseSize("Upload-Offset", in)
		plain := in != "" && strings.Trim(in, "0123456789") == ""
		want, serr := strconv.ParseInt(in, 10, 64)
		if err != nil {
			require.False(t, plain && serr == nil && len(in) <= maxSizeDigits, "%q refused: %v", in, err)
			return
		}
		require.True(t, plain, "%q accepted", in)
		require.NoError(t, serr)
		require.Equal(t, want, got)
		require.GreaterOrEqual(t, got, int64(0))
	})
}
