package stream

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParsePath(t *testing.T) {
	name128 := strings.Repeat("a", MaxNameLen)
	name129 := strings.Repeat("a", MaxNameLen+1)

	for _, tc := range []struct {
		name string
		in   string
		want Path // zero means the path must be refused
	}{
		{"simple", "live/stream1", Path{App: "live", Name: "stream1"}},
		{"leading slash", "/live/stream1", Path{App: "live", Name: "stream1"}},
		{"all allowed characters", "a_b-C/9", Path{App: "a_b-C", Name: "9"}},
		{"128-byte names", name128 + "/" + name128, Path{App: name128, Name: name128}},

		{"empty", "", Path{}},
		{"slash only", "/", Path{}},
		{"one component", "live", Path{}},
		{"empty app", "/stream1", Path{}},
		{"empty app after leading slash", "//live/stream1", Path{}},
		{"empty name", "live/", Path{}},
		{"three components", "live/a/b", Path{}},
		{"trailing slash", "live/stream1/", Path{}},
		{"dot dot name", "live/..", Path{}},
		{"dot dot app", "../stream1", Path{}},
		{"dot dot prefix", "../live/stream1", Path{}},
		{"dot name", "live/.", Path{}},
		{"escaped NUL", "live/a%00", Path{}},
		{"raw NUL", "live/a\x00", Path{}},
		{"escaped dot dot", "live/%2e%2e", Path{}},
		{"escaped slash", "live%2fa/b", Path{}},
		{"space", "live/my stream", Path{}},
		{"tab", "live/a\tb", Path{}},
		{"newline", "live/a\n", Path{}},
		{"backslash", `live/a\b`, Path{}},
		{"query", "live/a?key=1", Path{}},
		{"129-byte name", "live/" + name129, Path{}},
		{"129-byte app", name129 + "/s", Path{}},
		{"10 kB name", "live/" + strings.Repeat("x", 10<<10), Path{}},
		{"unicode", "live/stréam", Path{}},
		{"fullwidth letters", "live/ｓｔｒｅａｍ", Path{}},
		{"unicode slash lookalike", "live∕stream", Path{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePath(tc.in)
			if tc.want == (Path{}) {
				require.ErrorIs(t, err, ErrInvalidPath)
				require.Equal(t, Path{}, got)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
			require.Equal(t, strings.TrimPrefix(tc.in, "/"), got.String())
		})
	}
}

func TestValidName(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"stream1", true},
		{"a_b-C", true},
		{"9", true},
		{strings.Repeat("z", MaxNameLen), true},
		{"", false},
		{strings.Repeat("z", MaxNameLen+1), false},
		{".", false},
		{"..", false},
		{"a.b", false},
		{"a/b", false},
		{"a b", false},
		{"a%00", false},
		{"é", false},
		{"a\x00", false},
		{"a\xff", false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			require.Equal(t, tc.want, ValidName(tc.in))
		})
	}
}

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{
		"live/stream1", "/live/stream1", "a_b-C/9", "live/../x", "../live/s", "live/%2e%2e", "live/a%00",
		"live/a b", "live/", "/s", "live/a/b", "//live/s", "live/stréam", "live/\xff",
		strings.Repeat("a", MaxNameLen) + "/" + strings.Repeat("b", MaxNameLen+1),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		p, err := ParsePath(in)
		if err != nil {
			require.True(t, errors.Is(err, ErrInvalidPath), "error %v does not wrap ErrInvalidPath", err)
			return
		}
		s := p.String()
		require.Equal(t, strings.TrimPrefix(in, "/"), s)
		again, err := ParsePath(s)
		require.NoError(t, err)
		require.Equal(t, p, again)
		require.True(t, ValidName(p.App))
		require.True(t, ValidName(p.Name))
		require.Equal(t, 1, strings.Count(s, "/"))
		for i := 0; i < len(s); i++ {
			c := s[i]
			ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '/'
			require.True(t, ok, "byte %q at %d of %q", c, i, s)
		}
	})
}
