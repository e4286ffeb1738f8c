package loadtest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const llPlaylist = `#EXTM3U
#EXT-X-VERSION:9
#EXT-X-TARGETDURATION:1
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.600
#EXT-X-PART-INF:PART-TARGET=0.200
#EXT-X-MEDIA-SEQUENCE:7
#EXT-X-MAP:URI="p_init.mp4"
#EXT-X-PROGRAM-DATE-TIME:2026-12-03T12:00:00.000Z
#EXT-X-PART:DURATION=0.5,URI="p_part7_0.mp4",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.5,URI="p_part7_1.mp4"
#EXTINF:1.000,
p_seg7.mp4
#EXT-X-PART:DURATION=0.5,URI="p_part8_0.mp4",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.5,URI="p_part8_1.mp4"
#EXTINF:1.000,
p_seg8.mp4
#EXT-X-PART:DURATION=0.2,URI="p_part9_0.mp4",INDEPENDENT=YES
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="p_part9_1.mp4"
`

func TestParseMediaAndStart(t *testing.T) {
	pl, err := parseMedia([]byte(llPlaylist))
	require.NoError(t, err)
	assert.True(t, pl.lowLatency())
	assert.Equal(t, uint64(9), pl.next())
	assert.Equal(t, 600*time.Millisecond, pl.partHold)
	assert.Equal(t, "p_init.mp4", pl.initURI)
	assert.Equal(t, "p_part9_1.mp4", pl.preloadHint)
	require.Len(t, pl.segments, 2)
	assert.Equal(t, time.Date(2026, 12, 3, 12, 0, 1, 0, time.UTC), pl.segments[1].date)
	assert.Equal(t, time.Date(2026, 12, 3, 12, 0, 2, 0, time.UTC), pl.nextDate)

	// 0.6 s of hold-back behind the edge (2.2 s of parts): the start position is at 1.6 s, the latest
	// independent part at or before it is segment 8's first (from 1.0 s), and the player seeks 0.6 s in
	c, skip := start(pl)
	assert.Equal(t, cursor{msn: 8, part: 0}, c)
	assert.Equal(t, 600*time.Millisecond, skip)
	it, next, ok := locate(pl, c, true)
	require.True(t, ok)
	assert.Equal(t, "p_part8_0.mp4", it.uri)
	assert.Equal(t, time.Date(2026, 12, 3, 12, 0, 1, 0, time.UTC), it.date)
	// past segment 8's last part: segment 9's first, then what is not listed yet
	_, next, _ = locate(pl, next, true)
	it, next, ok = locate(pl, next, true)
	require.True(t, ok)
	assert.Equal(t, "p_part9_0.mp4", it.uri)
	_, _, ok = locate(pl, next, true)
	assert.False(t, ok, "part 9.1 is only hinted")
}

func TestParseMultivariant(t *testing.T) {
	mv, err := parseMultivariant([]byte("#EXTM3U\n#EXT-X-CONTENT-STEERING:SERVER-URI=\"http://m/steering/v1/live/s?port=80\",PATHWAY-ID=\"e1\"\n" +
		"#EXT-X-STREAM-INF:BANDWIDTH=200000,CODECS=\"avc1.64000c,mp4a.40.2\",PATHWAY-ID=\"e1\"\nlow.m3u8\n" +
		"#EXT-X-STREAM-INF:BANDWIDTH=900000,PATHWAY-ID=\"e1\"\nhigh.m3u8\n"))
	require.NoError(t, err)
	assert.Equal(t, []variant{{200000, "low.m3u8"}, {900000, "high.m3u8"}}, mv.variants)
	assert.Equal(t, "http://m/steering/v1/live/s?port=80", mv.steeringURI)
	assert.Equal(t, "e1", mv.pathway)

	for _, bad := range []string{"", "hello", "#EXTM3U\n", "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n"} {
		_, err := parseMultivariant([]byte(bad))
		assert.Error(t, err, "%q", bad)
	}
	for _, bad := range []string{"", "#EXTM3U\n#EXTINF:1,\nx.mp4\n", "#EXTM3U\n#EXT-X-TARGETDURATION:x\n", "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:-5,\nx\n"} {
		_, err := parseMedia([]byte(bad))
		assert.Error(t, err, "%q", bad)
	}
}

// FuzzParse feeds the playlist parsers (which read what any server answers) arbitrary bytes: an error
// or a playlist, never a panic, and nothing a player would loop on forever.
func FuzzParse(f *testing.F) {
	f.Add([]byte(llPlaylist))
	f.Add([]byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,PATHWAY-ID=\"a\nx\n#EXT-X-CONTENT-STEERING:SERVER-URI=\""))
	f.Add([]byte("#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-PART:DURATION=0.2,URI=\"a\",INDEPENDENT=YES\n#EXT-X-GAP\n#EXTINF:1,\ng\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if pl, err := parseMedia(b); err == nil {
			c, _ := start(pl)
			for range 1000 { // every listed item once, then not listed: locate always moves on
				_, next, ok := locate(pl, c, pl.lowLatency())
				if !ok {
					break
				}
				if next == c {
					t.Fatalf("locate did not move on from %+v", c)
				}
				c = next
			}
		}
		_, _ = parseMultivariant(b)
	})
}
