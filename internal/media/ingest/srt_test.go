package ingest

import (
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseStreamID(t *testing.T) {
	for _, tc := range []struct {
		name    string
		id      string
		mode    string
		path    string
		q       url.Values
		wantErr string // substring; "" means success
	}{
		{"publish", "publish:live/s", "publish", "live/s", url.Values{}, ""},
		{"publish with token", "publish:live/s?token=x", "publish", "live/s", url.Values{"token": {"x"}}, ""},
		{"publish with key and token", "publish:live/s?key=k&token=t", "publish", "live/s", url.Values{"key": {"k"}, "token": {"t"}}, ""},
		{"publish with escaped key", "publish:live/s?key=a%2Bb", "publish", "live/s", url.Values{"key": {"a+b"}}, ""},
		{"read", "read:live/s", "read", "live/s", url.Values{}, ""},
		{"publish with empty path", "publish:", "publish", "", url.Values{}, ""},
		{"publish keeps a hostile path for ParsePath to refuse", "publish:../../etc/passwd", "publish", "../../etc/passwd", url.Values{}, ""},
		{"access control form", "#!::r=live/s,m=publish,token=x", "publish", "live/s", url.Values{"token": {"x"}}, ""},
		{"access control form, any order", "#!::m=publish,key=k,u=alice,r=live/s", "publish", "live/s", url.Values{"key": {"k"}}, ""},
		{"access control form defaults to request", "#!::r=live/s", "request", "live/s", url.Values{}, ""},
		{"access control form, read", "#!::r=live/s,m=request", "request", "live/s", url.Values{}, ""},
		{"access control form keeps value after =", "#!::r=live/s,m=publish,token=a=b", "publish", "live/s", url.Values{"token": {"a=b"}}, ""},
		{"512 bytes", "publish:live/" + strings.Repeat("s", 512-len("publish:live/")), "publish",
			"live/" + strings.Repeat("s", 512-len("publish:live/")), url.Values{}, ""},

		{"empty", "", "", "", nil, "publish:<app>/<stream>"},
		{"garbage", "garbage", "", "", nil, "publish:<app>/<stream>"},
		{"unknown mode", "play:live/s", "", "", nil, "publish:<app>/<stream>"},
		{"request is only for the access control form", "request:live/s", "", "", nil, "publish:<app>/<stream>"},
		{"mode is case sensitive", "PUBLISH:live/s", "", "", nil, "publish:<app>/<stream>"},
		{"bad query escape", "publish:live/s?key=%zz", "", "", nil, "stream id query"},
		{"semicolon in query", "publish:live/s?key=a;token=b", "", "", nil, "stream id query"},
		{"access control form without r", "#!::m=publish,token=x", "", "", nil, "r=<app>/<stream>"},
		{"access control form with empty r", "#!::r=,m=publish", "", "", nil, "r=<app>/<stream>"},
		{"access control form, nothing", "#!::", "", "", nil, "r=<app>/<stream>"},
		{"513 bytes", "publish:live/" + strings.Repeat("s", 513-len("publish:live/")), "", "", nil, "longer than 512"},
		{"600 bytes", "publish:live/s?token=" + strings.Repeat("x", 600), "", "", nil, "longer than 512"},
		{"600 bytes, access control form", "#!::r=live/s,token=" + strings.Repeat("x", 600), "", "", nil, "longer than 512"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mode, path, q, err := ParseStreamID(tc.id)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				require.Empty(t, mode)
				require.Empty(t, path)
				require.Nil(t, q)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.mode, mode)
			require.Equal(t, tc.path, path)
			require.Equal(t, tc.q, q)
		})
	}
}

func TestParseStreamIDErrorDoesNotRepeatCredential(t *testing.T) {
	for _, id := range []string{
		"publish:live/s?token=" + strings.Repeat("T", 600),
		"publish:live/s?token=s3cr3t-t0k3n;x",
		"bogus:live/s?key=s3cr3t-t0k3n",
		"#!::m=publish,key=s3cr3t-t0k3n",
	} {
		_, _, _, err := ParseStreamID(id)
		require.Error(t, err)
		require.NotContains(t, err.Error(), "s3cr3t")
		require.NotContains(t, err.Error(), "TTTT")
	}
}

func FuzzParseStreamID(f *testing.F) {
	for _, s := range []string{
		"publish:live/s", "publish:live/s?token=x", "publish:live/s?key=k&token=t", "read:live/s",
		"#!::r=live/s,m=publish,token=x", "#!::r=live/s", "#!::m=publish", "#!::", "#!::,,,=,==",
		"publish:live/s?key=%zz", "publish:live/s?a;b", "publish:", ":", "", "garbage",
		"#!::r=live/s,m=publish,token=v1.1800000000.AAAA",
		"publish:live/" + strings.Repeat("s", 600),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		mode, path, q, err := ParseStreamID(id)
		if err != nil {
			require.Empty(t, mode)
			require.Empty(t, path)
			require.Nil(t, q)
			return
		}
		require.LessOrEqual(t, len(id), maxStreamIDLen)
		require.NotNil(t, q)
		if strings.HasPrefix(id, "#!::") {
			require.NotEmpty(t, path)
			require.Contains(t, id, "r="+path)
		} else {
			require.Contains(t, []string{"publish", "read"}, mode)
			require.Contains(t, id, mode+":"+path)
		}
	})
}
