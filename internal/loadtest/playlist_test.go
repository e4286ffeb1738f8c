package loadtest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
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
		"#EXT-X-STREAM-INF:BANDWIDTH=900000,PATHWAY-ID=\"e1\"\nhigh.m3u8\n" +
		"#EXT-X-STREAM-INF:BANDWIDTH=900000,PATHWAY-ID=\"cdn\"\nhttps://cdn.example/live/s/high.m3u8\n"))
	require.NoError(t, err)
	assert.Equal(t, []variant{{200000, "low.m3u8", "e1"}, {900000, "high.m3u8", "e1"}, {900000, "https://cdn.example/live/s/high.m3u8", "cdn"}},
		mv.variants)
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

// parseMediaReference is parseMedia as it was before it was made fast: the fast one must parse every
// input as this one does.
func parseMediaReference(b []byte) (*refPlaylist, error) {
	if !bytes.HasPrefix(b, []byte("#EXTM3U")) {
		return nil, errNotPlaylist
	}
	m := &refPlaylist{}
	var (
		dur   time.Duration
		date  time.Time
		gap   bool
		parts []refPart
		err   error
	)
	// one string for the whole playlist, lines cut from it: a blocking reload a part of every player
	// parses one, so this is the generator's hottest allocation
	for rest := string(b); rest != ""; {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "#EXT-X-TARGETDURATION:"):
			m.target, err = seconds(line[len("#EXT-X-TARGETDURATION:"):])
		case strings.HasPrefix(line, "#EXT-X-MEDIA-SEQUENCE:"):
			m.sequence, err = strconv.ParseUint(strings.TrimSpace(line[len("#EXT-X-MEDIA-SEQUENCE:"):]), 10, 63)
		case strings.HasPrefix(line, "#EXT-X-PART-INF:"):
			v, _ := attr(line[len("#EXT-X-PART-INF:"):], "PART-TARGET")
			m.partTarget, err = seconds(v)
		case strings.HasPrefix(line, "#EXT-X-SERVER-CONTROL:"):
			a := line[len("#EXT-X-SERVER-CONTROL:"):]
			v, _ := attr(a, "CAN-BLOCK-RELOAD")
			m.canBlock = v == "YES"
			if v, ok := attr(a, "PART-HOLD-BACK"); ok {
				m.partHold, err = seconds(v)
			}
		case strings.HasPrefix(line, "#EXT-X-MAP:"):
			m.initURI, _ = attr(line[len("#EXT-X-MAP:"):], "URI")
		case strings.HasPrefix(line, "#EXT-X-PROGRAM-DATE-TIME:"):
			date, err = time.Parse(time.RFC3339Nano, strings.TrimSpace(line[len("#EXT-X-PROGRAM-DATE-TIME:"):]))
		case strings.HasPrefix(line, "#EXT-X-PART:"):
			a := line[len("#EXT-X-PART:"):]
			dv, _ := attr(a, "DURATION")
			uri, _ := attr(a, "URI")
			ind, _ := attr(a, "INDEPENDENT")
			var d time.Duration
			d, err = seconds(dv)
			parts = append(parts, refPart{duration: d, uri: uri, independent: ind == "YES"})
		case strings.HasPrefix(line, "#EXT-X-PRELOAD-HINT:"):
			a := line[len("#EXT-X-PRELOAD-HINT:"):]
			if t, _ := attr(a, "TYPE"); t == "PART" {
				m.preloadHint, _ = attr(a, "URI")
			}
		case strings.HasPrefix(line, "#EXTINF:"):
			d, _, _ := strings.Cut(line[len("#EXTINF:"):], ",")
			dur, err = seconds(d)
		case line == "#EXT-X-GAP":
			gap = true
		case line == "#EXT-X-ENDLIST":
			m.endList = true
		case line == "" || strings.HasPrefix(line, "#"):
		default:
			m.segments = append(m.segments, refSegment{msn: m.sequence + uint64(len(m.segments)), duration: dur, uri: line, date: date, parts: parts, gap: gap})
			if !date.IsZero() {
				date = date.Add(dur)
			}
			dur, gap, parts = 0, false, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", line, err)
		}
	}
	if m.target <= 0 {
		return nil, errors.New("media playlist without EXT-X-TARGETDURATION")
	}
	m.parts, m.nextDate = parts, date
	return m, nil
}

// refPlaylist, refSegment and refPart are what the reference parser makes: the playlist with its URIs
// as strings.
type refPlaylist struct {
	target, partTarget, partHold time.Duration
	canBlock                     bool
	sequence                     uint64
	segments                     []refSegment
	parts                        []refPart
	nextDate                     time.Time
	endList                      bool
	initURI, preloadHint         string
}

type refSegment struct {
	msn      uint64
	duration time.Duration
	uri      string
	date     time.Time
	parts    []refPart
	gap      bool
}

type refPart struct {
	duration    time.Duration
	uri         string
	independent bool
}

// refOf is m as the reference parser makes it.
func refOf(m *mediaPlaylist) *refPlaylist {
	if m == nil {
		return nil
	}
	parts := func(ps []part) []refPart {
		var out []refPart
		for _, p := range ps {
			out = append(out, refPart{p.duration, m.uri(p.uri), p.independent})
		}
		return out
	}
	r := &refPlaylist{target: m.target, partTarget: m.partTarget, partHold: m.partHold, canBlock: m.canBlock,
		sequence: m.sequence, parts: parts(m.parts), nextDate: m.nextDate, endList: m.endList, initURI: m.initURI,
		preloadHint: m.preloadHint}
	for _, s := range m.segments {
		r.segments = append(r.segments, refSegment{s.msn, s.duration, m.uri(s.uri), s.date, parts(s.parts), s.gap})
	}
	return r
}

// FuzzParseMediaAsReference: parseMedia gives what the plain parser gives (the same playlist, or an
// error with the same message), on the playlists of the tests and of a real node and on anything else.
func FuzzParseMediaAsReference(f *testing.F) {
	node, err := os.ReadFile("testdata/lowlatency.m3u8")
	require.NoError(f, err)
	f.Add(node)
	f.Add([]byte(llPlaylist))
	f.Add([]byte("#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-PART:DURATION=0.2,URI=\"a\",INDEPENDENT=YES\n#EXT-X-GAP\n#EXTINF:1,\ng\n"))
	f.Add([]byte("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-PART:URI=\"a\",DURATION=0.2,DURATION=x\n#EXT-X-GAP:1\n#EXT-X-ENDLIST\n"))
	f.Add([]byte("#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-PART:DURATION=\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		want, wantErr := parseMediaReference(b)
		// parsed anew, and into the memory of a playlist parsed before (as a player does)
		used, err := parseMedia(node)
		require.NoError(t, err)
		other, err := parseMedia([]byte(llPlaylist))
		require.NoError(t, err)
		for _, reuse := range []*mediaPlaylist{nil, used} {
			got, err := parseMediaInto(b, reuse, other, &durations{})
			if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
				t.Fatalf("error %v, the reference's %v", err, wantErr)
			}
			if !reflect.DeepEqual(refOf(got), want) {
				t.Fatalf("parsed (reusing %v)\n%+v\nthe reference\n%+v", reuse != nil, got, want)
			}
		}
	})
}

// livePlaylist is a node's LL-HLS playlist at its part `n` (five 200 ms parts a segment, a window of
// four segments), as a player's blocking reloads see it grow.
func livePlaylist(n int) []byte {
	msn, part := n/5, n%5
	first := max(0, msn-4)
	var b strings.Builder
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:1\n"+
		"#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.60000\n#EXT-X-PART-INF:PART-TARGET=0.20000\n"+
		"#EXT-X-MEDIA-SEQUENCE:%d\n#EXT-X-MAP:URI=\"s_init.mp4?nsid=1\"\n", first)
	at := time.Date(2026, 12, 5, 23, 10, 11, 462e6, time.UTC)
	for s := first; s <= msn; s++ {
		fmt.Fprintf(&b, "#EXT-X-PROGRAM-DATE-TIME:%s\n", at.Add(time.Duration(s)*time.Second).Format("2006-01-02T15:04:05.000Z"))
		last := 5
		if s == msn {
			last = part
		}
		for p := range last {
			ind := ""
			if p == 0 {
				ind = ",INDEPENDENT=YES"
			}
			fmt.Fprintf(&b, "#EXT-X-PART:DURATION=0.20000,URI=\"s_part%d_%d.mp4?nsid=1\"%s\n", s, p, ind)
		}
		if s < msn {
			fmt.Fprintf(&b, "#EXTINF:1.00000,\ns_seg%d.mp4?nsid=1\n", s)
		}
	}
	fmt.Fprintf(&b, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"s_part%d_%d.mp4?nsid=1\"\n", msn, part)
	return []byte(b.String())
}

// TestReloadParser: a player's successive playlists, parsed into the memory of the one before last and
// with the strings of the last, are what the reference parser makes of each; and a reload allocates no
// more than its new URIs.
func TestReloadParser(t *testing.T) {
	var r reloadParser
	var pl *mediaPlaylist
	for n := range 60 {
		b := livePlaylist(n)
		got, err := r.parse(b, pl)
		require.NoError(t, err, "part %d", n)
		want, err := parseMediaReference(b)
		require.NoError(t, err)
		require.Equal(t, want, refOf(got), "part %d", n)
		pl = got
	}
	n := 60
	allocs := testing.AllocsPerRun(50, func() {
		n++
		fresh, err := r.parse(livePlaylist(n), pl)
		require.NoError(t, err)
		pl = fresh
	})
	// livePlaylist's own string and bytes, then the hint's URI
	fresh := testing.AllocsPerRun(50, func() { _ = livePlaylist(n) })
	if !raceEnabled {
		assert.LessOrEqual(t, allocs-fresh, 1.0, "allocations a reload")
	}
}

// FuzzParseDate: parseDate is time.Parse(time.RFC3339Nano, …), error for error.
// (The corpus in testdata/fuzz/FuzzParseDate holds the inputs that failed once.)
func FuzzParseDate(f *testing.F) {
	for _, s := range []string{"2026-12-05T23:10:11.462Z", "2026-12-05T23:10:11Z", "2024-02-29T00:00:00.1Z",
		"2026-02-29T00:00:00Z", "2026-02-30T00:00:00Z", "2026-12-05T24:00:00Z", "2026-12-05T23:60:00Z",
		"2026-12-05T23:10:60Z", "2026-12-05T23:10:11.1234567891Z", "2026-12-05t23:10:11z", "2026-12-05T23:10:11+09:00",
		"2026-13-05T23:10:11Z", "2026-00-05T23:10:11Z", "0000-01-01T00:00:00Z", "2026-12-05T23:10:11.Z", "2026-1a-05T23:10:11Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseDate([]byte(s))
		want, wantErr := time.Parse(time.RFC3339Nano, s)
		// (a zone other than Z is a new *time.Location each time: compared by its name and offset)
		if (err == nil) != (wantErr == nil) || !got.Equal(want) || got.String() != want.String() ||
			(want.Location() == time.UTC) != (got.Location() == time.UTC) {
			t.Fatalf("%q: %v %v, time.Parse's %v %v", s, got, err, want, wantErr)
		}
	})
}
