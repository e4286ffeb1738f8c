package relay

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/media/stream"
)

func TestAddSteering(t *testing.T) {
	in := "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-INDEPENDENT-SEGMENTS\n\n" +
		"#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"main\",URI=\"../cam1_audio/a.m3u8?nsid=1\"\n" +
		"#EXT-X-STREAM-INF:BANDWIDTH=500000,CODECS=\"avc1.64001f,mp4a.40.2\",AUDIO=\"audio\"\n../cam1_source/v.m3u8?nsid=1\n" +
		"#EXT-X-STREAM-INF:BANDWIDTH=200000,CODECS=\"avc1.64000c,mp4a.40.2\",AUDIO=\"audio\"\n../cam1_180p/v.m3u8?nsid=1\n"
	path, err := stream.ParsePath("live/cam1")
	require.NoError(t, err)
	st := &Steering{ServerURI: "https://mgr.example/steering/v1", Pathway: "edge-7"}
	for _, tc := range []struct {
		host    string
		tls     bool
		session string
		server  string
	}{
		{"edge7.example:8080", false, "", `https://mgr.example/steering/v1/live/cam1?port=8080`},
		{"edge7.example", true, "", `https://mgr.example/steering/v1/live/cam1?port=443`},
		{"edge7.example", false, "", `https://mgr.example/steering/v1/live/cam1?port=80`},
		// the player's token: the first 8 bytes of SHA-256 of its session id (as sha256sum has them), not the id
		{"edge7.example:8080", false, "0123456789abcdef01234567", `https://mgr.example/steering/v1/live/cam1?port=8080&player=8865fea8edb69716&home=edge-7`},
		{"edge7.example:x", false, "0123456789abcdef01234567", `https://mgr.example/steering/v1/live/cam1?player=8865fea8edb69716&home=edge-7`},
	} {
		out := string(addSteering([]byte(in), st, path, tc.host, tc.tls, tc.session, st.Pathway, nil))
		assert.Equal(t, "#EXTM3U\n#EXT-X-VERSION:6\n"+
			`#EXT-X-CONTENT-STEERING:SERVER-URI="`+tc.server+`",PATHWAY-ID="edge-7"`+"\n"+
			"#EXT-X-INDEPENDENT-SEGMENTS\n\n"+
			"#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"main\",URI=\"../cam1_audio/a.m3u8?nsid=1\"\n"+
			"#EXT-X-STREAM-INF:BANDWIDTH=500000,CODECS=\"avc1.64001f,mp4a.40.2\",AUDIO=\"audio\",PATHWAY-ID=\"edge-7\"\n../cam1_source/v.m3u8?nsid=1\n"+
			"#EXT-X-STREAM-INF:BANDWIDTH=200000,CODECS=\"avc1.64000c,mp4a.40.2\",AUDIO=\"audio\",PATHWAY-ID=\"edge-7\"\n../cam1_180p/v.m3u8?nsid=1\n",
			out, "host %s", tc.host)
	}
}

// TestPlayerToken: one player, one token, on any edge; two players, two tokens; and a token the steering
// server accepts that does not give the session id away.
func TestPlayerToken(t *testing.T) {
	a, b := playerToken("0123456789abcdef01234567"), playerToken("fedcba9876543210fedcba98")
	assert.Equal(t, a, playerToken("0123456789abcdef01234567"))
	assert.NotEqual(t, a, b)
	assert.Regexp(t, `^[0-9a-f]{16}$`, a)
	assert.NotContains(t, "0123456789abcdef01234567", a)
}
