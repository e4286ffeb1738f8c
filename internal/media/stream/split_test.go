package stream

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSplitRequestPath(t *testing.T) {
	live := Path{App: "live", Name: "s"}
	file128 := strings.Repeat("f", 128)

	for _, tc := range []struct {
		name    string
		in      string
		path    Path
		file    string
		wantErr error // nil: accepted
	}{
		{"multivariant", "/live/s/index.m3u8", live, "index.m3u8", nil},
		{"media playlist", "/live/s/video_stream.m3u8", live, "video_stream.m3u8", nil},
		{"part", "/live/s/abc123_part_4.mp4", live, "abc123_part_4.mp4", nil},
		{"init", "/a_b-C/9/init.mp4", Path{App: "a_b-C", Name: "9"}, "init.mp4", nil},
		{"no leading slash", "live/s/x.ts", live, "x.ts", nil},
		{"128-byte file", "/live/s/" + file128, live, file128, nil},
		{"dots inside a file name", "/live/s/a..b", live, "a..b", nil},

		{"empty", "", Path{}, "", ErrInvalidPath},
		{"root", "/", Path{}, "", ErrInvalidPath},
		{"no file", "/live/s", Path{}, "", ErrInvalidPath},
		{"dot dot component", "/live/s/../x", Path{}, "", ErrInvalidPath},
		{"dot dot file", "/live/s/..", Path{}, "", ErrBadFile},
		{"dot dot app", "/../s/x", Path{}, "", ErrInvalidPath},
		{"escaped dot dot", "/live/s/%2e%2e", Path{}, "", ErrBadFile},
		{"escaped slash", "/live/s%2f..%2fx/y", Path{}, "", ErrInvalidPath},
		{"escaped NUL", "/live/s/a%00.ts", Path{}, "", ErrBadFile},
		{"raw NUL", "/live/s/a\x00.ts", Path{}, "", ErrBadFile},
		{"trailing slash", "/live/s/", Path{}, "", ErrBadFile},
		{"hidden file", "/live/s/.hidden", Path{}, "", ErrBadFile},
		{"single dot", "/live/s/.", Path{}, "", ErrBadFile},
		{"double slash", "//live/s/x", Path{}, "", ErrInvalidPath},
		{"extra component", "/live/s/t/x", Path{}, "", ErrInvalidPath},
		{"space", "/live/s/a b.ts", Path{}, "", ErrBadFile},
		{"backslash", `/live/s/..\x`, Path{}, "", ErrBadFile},
		{"unicode", "/live/s/é.ts", Path{}, "", ErrBadFile},
		{"129-byte file", "/live/s/" + file128 + "f", Path{}, "", ErrBadFile},
		{"10 kB file", "/live/s/" + strings.Repeat("f", 10<<10), Path{}, "", ErrBadFile},
		{"10 kB stream name", "/live/" + strings.Repeat("s", 10<<10) + "/x", Path{}, "", ErrInvalidPath},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, file, err := SplitRequestPath(tc.in)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				require.Empty(t, file)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.path, p)
			require.Equal(t, tc.file, file)
		})
	}
}

func FuzzSplitRequestPath(f *testing.F) {
	for _, s := range []string{
		"/live/s/index.m3u8", "/live/s/../x", "/live/s/%2e%2e", "/live/s/", "/live/s/.hidden", "/live/s/..",
		"live/s/x", "//live/s/x", "/", "", "/live/s/a\x00", "/live/s/é", "/live/s/" + strings.Repeat("f", 129),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		p, file, err := SplitRequestPath(in)
		if err != nil {
			require.True(t, errors.Is(err, ErrInvalidPath) || errors.Is(err, ErrBadFile), "unexpected error %v", err)
			require.Empty(t, file)
			return
		}
		require.Equal(t, strings.TrimPrefix(in, "/"), p.String()+"/"+file)
		again, err := ParsePath(p.String())
		require.NoError(t, err)
		require.Equal(t, p, again)
		require.NotEmpty(t, file)
		require.LessOrEqual(t, len(file), 128)
		require.NotEqual(t, byte('.'), file[0])
		for i := 0; i < len(file); i++ {
			c := file[i]
			ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.'
			require.True(t, ok, "byte %q at %d of %q", c, i, file)
		}
	})
}
