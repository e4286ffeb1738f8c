package loadtest

import (
	"net/url"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestResolve: the fast resolution of part and segment URIs gives what url.URL.Parse gives.
func TestResolve(t *testing.T) {
	bases := []string{
		"http://127.0.0.1:8080/live/s/video1_stream.m3u8?nsid=3f73c8a0f7797302f4e8e580",
		"http://user:pw@edge.example:80/live/s/v.m3u8",
		"http://127.0.0.1:8080/v.m3u8",
		"http://127.0.0.1:8080",
		"http://127.0.0.1:8080/a/./b/../v.m3u8",
		"http://127.0.0.1:8080/a%2Fb/v.m3u8",
		"http://127.0.0.1:8080/live/s/v.m3u8#frag",
	}
	refs := []string{
		"edebe9dc5a96_part2_0.mp4", "seg-1.ts", "a~b_c.d", ".", "..", "", "..x", "./p.mp4", "../p.mp4", "/abs.mp4",
		"p.mp4?x=1", "p_3_1.mp4?nsid=dc2c5f12481c73ee04d6452e", "p.mp4?", "p.mp4?a b", "p.mp4?a%zz&b=/c?d", "p.mp4?x#f", "p.mp4#f", "http://other:81/p.mp4", "//other/p.mp4", "p%20q.mp4", "p q.mp4", "a/b.mp4", "é.mp4",
	}
	for _, b := range bases {
		base, err := url.Parse(b)
		require.NoError(t, err)
		for _, ref := range refs {
			want, wantErr := base.Parse(ref)
			got, err := resolve(base, ref)
			if wantErr != nil {
				assert.Error(t, err, "%s + %s", b, ref)
				continue
			}
			require.NoError(t, err, "%s + %s", b, ref)
			assert.Equal(t, want, got, "%s + %s", b, ref)
			assert.Equal(t, want.String(), got.String(), "%s + %s", b, ref)
		}
	}
}

func FuzzResolve(f *testing.F) {
	f.Add("http://127.0.0.1:8080/live/s/video1_stream.m3u8?nsid=3", "edebe9dc5a96_part2_0.mp4")
	f.Add("http://h/a/./b/v.m3u8", "p.mp4")
	f.Add("http://h/a/b/v.m3u8?nsid=1", "p.mp4?nsid=1")
	f.Fuzz(func(t *testing.T, b, ref string) {
		base, err := url.Parse(b)
		if err != nil {
			return
		}
		want, wantErr := base.Parse(ref)
		got, err := resolve(base, ref)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("%q + %q: error %v, url.Parse's %v", b, ref, err, wantErr)
		}
		if err == nil && *got != *want {
			t.Fatalf("%q + %q: %#v, url.Parse's %#v", b, ref, got, want)
		}
	})
}

// TestReloads: a blocking reload's URL is the one url.Values makes of the media playlist's query with
// _HLS_msn and _HLS_part set (as the player made it before), for any query.
func TestReloads(t *testing.T) {
	var r reloads
	for _, m := range []string{
		"http://127.0.0.1:8080/live/s/video1_stream.m3u8?nsid=3f73c8a0f7797302f4e8e580",
		"http://127.0.0.1:8080/live/s/v.m3u8",
		"http://127.0.0.1:8080/live/s/v.m3u8?A=1&_HLS_a=2&_HLS_n=3&_HLS_q=4&z=5&a=6",
		"http://127.0.0.1:8080/live/s/v.m3u8?_HLS_msn=1&_HLS_part=2&x=a+b&x=c%26d&token=%2F",
		"http://127.0.0.1:8080/live/s/v.m3u8?_HLS_skip=YES",
		"http://127.0.0.1:8080/live/s/v.m3u8?",
	} {
		media, err := url.Parse(m)
		require.NoError(t, err)
		for _, c := range []cursor{{msn: 0}, {msn: 17, part: 3}, {msn: 1 << 40, part: 12}} {
			q := media.Query()
			q.Set("_HLS_msn", strconv.FormatUint(c.msn, 10))
			q.Set("_HLS_part", strconv.Itoa(c.part))
			want := *media
			want.RawQuery = q.Encode()
			assert.Equal(t, want, *r.url(media, c.msn, c.part), m)
		}
	}
}
