package playback

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSignURI(t *testing.T) {
	const q = "exp=1&sig=S"
	for _, tt := range []struct{ in, out string }{
		{"seg.m4s", "seg.m4s?exp=1&sig=S"},
		{"720p/index.m3u8", "720p/index.m3u8?exp=1&sig=S"},
		{"../init.mp4", "../init.mp4?exp=1&sig=S"},
		{"/vod/x/seg.m4s", "/vod/x/seg.m4s?exp=1&sig=S"},
		{"seg.m4s?v=2", "seg.m4s?v=2&exp=1&sig=S"},
		{"seg.m4s?", "seg.m4s?exp=1&sig=S"},
		{"sb.jpg#xywh=0,0,1,1", "sb.jpg?exp=1&sig=S#xywh=0,0,1,1"},
		{"a/b:c.m4s", "a/b:c.m4s?exp=1&sig=S"}, // a colon after a slash is no scheme
		// Not served here: the signature must not leave for another host or scheme.
		{"https://cdn.example.org/seg.m4s", "https://cdn.example.org/seg.m4s"},
		{"//cdn.example.org/seg.m4s", "//cdn.example.org/seg.m4s"},
		{"skd://key-id", "skd://key-id"},
		{"data:text/plain;base64,AAAA", "data:text/plain;base64,AAAA"},
		{"", ""},
	} {
		require.Equal(t, tt.out, signURI(tt.in, q), tt.in)
	}
}

func TestRewritePlaylist(t *testing.T) {
	const q = "exp=1&sig=S"
	in := "#EXTM3U\r\n" +
		"#EXT-X-SESSION-DATA:DATA-ID=\"x\",URI=\"https://example.org/d.json\"\n" +
		"#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"x,URI=\\\",URI=\"audio/index.m3u8\"\n" +
		"#EXT-X-KEY:METHOD=AES-128,URI=\"key.bin\",IV=0x1\n" +
		"#EXT-X-MAP: URI=\"init.mp4\",BYTERANGE=\"10@0\"\n" +
		"#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p1.m4s\"\n" +
		"#EXTINF:4.0,title=URI=\"no\"\n" +
		"seg 1.m4s\n" +
		"# a comment with URI=\"c\"\n" +
		"  seg2.m4s  \n" +
		"\n" +
		"#EXT-X-BROKEN:URI=\"unterminated\n" +
		"#EXT-X-STREAM-INF:BANDWIDTH=1,CODECS=\"a,b\"\n" +
		"https://cdn.example.org/v.m3u8\n" +
		"last.m4s"
	want := "#EXTM3U\r\n" +
		"#EXT-X-SESSION-DATA:DATA-ID=\"x\",URI=\"https://example.org/d.json\"\n" +
		"#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"x,URI=\\\",URI=\"audio/index.m3u8?exp=1&sig=S\"\n" +
		"#EXT-X-KEY:METHOD=AES-128,URI=\"key.bin?exp=1&sig=S\",IV=0x1\n" +
		"#EXT-X-MAP: URI=\"init.mp4?exp=1&sig=S\",BYTERANGE=\"10@0\"\n" +
		"#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p1.m4s?exp=1&sig=S\"\n" +
		"#EXTINF:4.0,title=URI=\"no\"\n" +
		"seg 1.m4s?exp=1&sig=S\n" +
		"# a comment with URI=\"c\"\n" +
		"seg2.m4s?exp=1&sig=S\n" +
		"\n" +
		"#EXT-X-BROKEN:URI=\"unterminated\n" +
		"#EXT-X-STREAM-INF:BANDWIDTH=1,CODECS=\"a,b\"\n" +
		"https://cdn.example.org/v.m3u8\n" +
		"last.m4s?exp=1&sig=S"
	require.Equal(t, want, string(rewritePlaylist([]byte(in), q)))
}

func TestRewriteVTT(t *testing.T) {
	in := "WEBVTT\r\n\r\nNOTE made by nagare\r\n\r\n1\r\n00:00.000 --> 00:04.000\r\nsb.jpg#xywh=0,0,1,1\r\n\r\n" +
		"00:04.000 --> 00:08.000 align:start\nsb.jpg#xywh=1,0,1,1\nnot a url\n"
	want := "WEBVTT\r\n\r\nNOTE made by nagare\r\n\r\n1\r\n00:00.000 --> 00:04.000\r\nsb.jpg?q=1#xywh=0,0,1,1\r\n\r\n" +
		"00:04.000 --> 00:08.000 align:start\nsb.jpg?q=1#xywh=1,0,1,1\nnot a url\n"
	require.Equal(t, want, string(rewriteVTT([]byte(in), "q=1")))
}
