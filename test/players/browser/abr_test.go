package browser

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/testutil"
	"github.com/nagare-video/nagare/internal/webui"
)

const (
	abrPath = "live/abr"
	// the download rate of the narrow stretch: above what the 120p rendition takes (about 100 kbit/s of
	// video and 64 of audio, and its two low-latency playlists, video and audio, reloaded five times a
	// second each: about 50 kbit/s gzip-compressed with their headers, 150 plain), below the 180p one's and
	// the 240p source's media alone (300 and 364 kbit/s with the audio)
	abrNarrowKbps = 300
	// the same under the DevTools protocol's emulation, which counts whole packets: Chromium's throttle
	// hands each response read a 1,500-byte packet per tick (services/network/throttling), so an LL-HLS
	// viewer's four small answers every part (video and audio parts of 2 kB at 120p, two compressed
	// playlists) cost about six packets per 200 ms: 360 kbit/s of emulated rate for the 120p rendition, 480
	// for 180p, 600 for the source
	abrNarrowKbpsEmulated = 450
	abrNarrowFrom         = 10 * time.Second // after startup
	abrWideFrom           = 30 * time.Second
	abrPlayFor            = 55 * time.Second // at least; then until hls.js is back on the source, abrPlayAtMost at most
	// hls.js climbs back as its estimate of the bandwidth grows and nagare's guard lifts its cap, a rendition
	// per 8 s: runs saw the source 5–7 s (link) and 13–15 s (emulation) after the limit was lifted; hls.js
	// alone once sat on 180p for two minutes in CI (a step up is required; the source is reported)
	abrPlayAtMost = 90 * time.Second
)

// switchBar is issue 14's bar for a player whose link narrows and widens again: no stall longer than one
// part from startup to the end, every player playing on (looseBar's frames). hls.js reports each part
// nagare's guard drops as a non-fatal "aborted" network error: errors are not counted against it. The guard
// holds it in most runs, not yet in every one (docs/abr.md, "Switching without a stall"): make test holds
// the switch tests to looseBar, NAGARE_PLAYERS_STRICT=1 to this.
var switchBar = bar{frameRatio: looseBar.frameRatio, maxStall: maxStall}

// TestBrowserSwitchesLiveRenditions plays a transcoded live stream (the 320x240 source and renditions of
// 180p and 120p made by the origin, video only, sharing the source's audio as one audio rendition) in
// hls.js in low-latency mode in headless Chromium, set up as nagare's pages set it up (hls-live.js's
// settings, the guard of hls-guard.js), and narrows the page's download rate with the DevTools protocol's
// network emulation: hls.js must step down to the 120p rendition while the rate is narrow and back up once
// it is wide again (it is given until abrPlayAtMost to reach the source), and keep playing throughout
// (frames, decoded audio from the audio rendition, no fatal error, no stall longer than one part:
// switchBar, or no long stall: looseBar) on playlists a strict parser accepts.
func TestBrowserSwitchesLiveRenditions(t *testing.T) {
	r := switchRenditions(t, false)
	check(t, &r, abrPlayFor, strictOr(switchBar))
}

// TestBrowserSwitchesLiveRenditionsOnALink is TestBrowserSwitchesLiveRenditions with the stream coming
// through a link narrowed to the same rate (startLink: a proxy whose answers share one paced link, as on
// a phone's network) instead of the DevTools protocol's emulation.
func TestBrowserSwitchesLiveRenditionsOnALink(t *testing.T) {
	r := switchRenditions(t, true)
	check(t, &r, abrPlayFor, strictOr(switchBar))
}

// switchRenditions plays the adaptive stream in hls.js with the download rate narrowed from abrNarrowFrom
// to abrWideFrom after startup, by the DevTools protocol's emulation or (onLink) on a link of that rate,
// checks that the ladder was parsed, played with sound, stepped down and back up, and returns what the
// player reported.
func switchRenditions(t *testing.T, onLink bool) result {
	root, modules := requirePlayers(t)
	trace := os.Getenv("NAGARE_PLAYERS_TRACE")
	origin, _ := testutil.StartNode(t, func(c *config.Config) {
		c.Transcode.Enabled = true
		c.Transcode.Rungs = []config.Rung{
			{Name: "180p", Height: 180, VideoBitrate: 200_000},
			{Name: "120p", Height: 120, VideoBitrate: 80_000, MaxRate: 100_000},
		}
	})
	testutil.Publish(t, publishURL(origin.RTMPAddr(), abrPath), "flv")
	src := "http://" + origin.HTTPAddr() + "/" + abrPath + "/index.m3u8"
	require.Eventually(t, func() bool {
		_, body := testutil.Get(t, src)
		return strings.Count(string(body), "#EXT-X-STREAM-INF") == 3
	}, 30*time.Second, 200*time.Millisecond, "the ladder never appeared in the multivariant playlist")
	_, multivariant := testutil.Get(t, src)
	t.Logf("the multivariant playlist:\n%s", multivariant)
	name, linkURL, narrow := "hlsjs-ll/abr", "", abrNarrowKbpsEmulated
	if onLink {
		l := startLink(t, origin.HTTPAddr())
		src = "http://" + l.addr() + "/" + abrPath + "/index.m3u8"
		name, linkURL, narrow = "hlsjs-ll/abr-link", l.ctrlURL, abrNarrowKbps
	}

	pages := pageServer(root, modules)
	defer pages.Close()
	// hls.js as nagare's pages set it up (catch-up after a stall, faster bandwidth averages), with
	// NAGARE_PLAYERS_ABR_CONFIG's settings on top for investigations
	shipped, err := webui.HLSLiveConfig()
	require.NoError(t, err)
	configure := map[string]any{}
	require.NoError(t, json.Unmarshal(shipped, &configure))
	if c := os.Getenv("NAGARE_PLAYERS_ABR_CONFIG"); c != "" {
		require.NoError(t, json.Unmarshal([]byte(c), &configure))
	}
	_, results := drive(t, root, modules, pages.URL, trace, abrPlayFor, []runPlayer{{
		Name: name, Player: "hlsjs", LowLatency: true, Src: src, Debug: trace != "", Configure: configure,
		// NAGARE_PLAYERS_NO_GUARD=1: hls.js without nagare's guard, for comparison
		Guard: os.Getenv("NAGARE_PLAYERS_NO_GUARD") == "", TraceLoads: true,
		Throttle: []limit{{AfterMs: abrNarrowFrom.Milliseconds(), Kbps: narrow}, {AfterMs: abrWideFrom.Milliseconds()}},
		LinkURL:  linkURL,
		Until:    &until{Height: 240, MaxMs: abrPlayAtMost.Milliseconds()},
	}})
	r := results[0]
	t.Logf("%s\n%s", table(results), abrDetails(&r))
	// the video loads around each stall, to tell why it came
	for _, st := range r.Stalls {
		for _, l := range r.Loads {
			if at := l["atMs"].(float64); at > st.AtMs-1500 && at < st.AtMs+st.Ms+500 && l["type"] == "main" {
				t.Logf("load %v", l)
			}
		}
	}
	var heights []int
	for _, l := range r.Levels {
		heights = append(heights, l.Height)
		assert.Equal(t, fmt.Sprintf("%dx%d", l.Width, l.Height), l.Resolution, "RESOLUTION of the %dp rendition", l.Height)
		assert.Contains(t, l.Codecs, "avc1.", "CODECS of the %dp rendition", l.Height)
		assert.Contains(t, l.Codecs, "mp4a.40.2", "CODECS of the %dp rendition: the audio rendition's too", l.Height)
	}
	assert.ElementsMatch(t, []int{120, 180, 240}, heights, "the renditions hls.js parsed")

	// sound: the one audio rendition, loaded apart from the video and decoded all along
	if assert.Len(t, r.AudioTracks, 1, "the audio renditions hls.js parsed") {
		assert.Contains(t, r.AudioTracks[0].URL, "/live/abr_audio/", "the audio rendition's playlist")
		assert.Equal(t, "2", r.AudioTracks[0].Channels)
	}
	assert.Positive(t, r.AudioFrags, "audio fragments loaded")
	if assert.NotNil(t, r.AudioBytes, "Chromium's webkitAudioDecodedByteCount") && assert.NotNil(t, r.AudioBytesAtStart) {
		assert.Greater(t, *r.AudioBytes, *r.AudioBytesAtStart, "audio decoded since startup")
	}
	require.Len(t, r.Throttled, 2, "the download limit was not applied and lifted")

	// down once the rate is narrow, back up once it is wide again. The switches are stamped when playback
	// reaches the new rendition (LEVEL_SWITCHED, since the URL was given), which lags hls.js's decision by
	// the buffer it holds; the limits are stamped since startup.
	startup := *r.StartupMs
	narrowAt, wideAt := startup+r.Throttled[0].AtMs, startup+r.Throttled[1].AtMs
	var downAt float64
	up, source := false, false
	for _, s := range r.Switches {
		switch {
		case s.AtMs < narrowAt:
		case downAt == 0 && s.Height == 120:
			downAt = s.AtMs
		case downAt > 0 && s.AtMs >= wideAt && s.Height > 120:
			up = true
			source = source || s.Height == 240
		}
	}
	assert.Positive(t, downAt, "hls.js did not step down to 120p once the rate was %d kbit/s", narrow)
	assert.True(t, up, "hls.js did not step up from 120p once the rate was wide again")
	if !source {
		// hls.js climbs as its bandwidth estimate grows, and the source (about 410 kbit/s) needs it above
		// 585 kbit/s: a CI run sat on 180p for two minutes. Reported, not failed.
		t.Logf("hls.js did not reach the source within %s", abrPlayAtMost)
	}
	return r
}

// abrDetails renders the renditions hls.js parsed, its switches and the limits applied.
func abrDetails(r *result) string {
	var b strings.Builder
	for _, l := range r.Levels {
		fmt.Fprintf(&b, "level %dx%d %d bit/s CODECS=%q\n", l.Width, l.Height, l.Bitrate, l.Codecs)
	}
	for _, s := range r.Switches {
		fmt.Fprintf(&b, "switch to %dp at %.1fs\n", s.Height, s.AtMs/1000)
	}
	if len(r.Estimates) > 0 {
		b.WriteString("hls.js's bandwidth estimate (kbit/s) @ level, every 5 s:")
		for i, e := range r.Estimates {
			if i%5 == 0 {
				fmt.Fprintf(&b, " %.0fs %d@%d", e.AtMs/1000, e.BW/1000, e.Level)
			}
		}
		b.WriteString("\n")
	}
	for _, g := range r.GuardActs {
		fmt.Fprintf(&b, "guard: estimate started again from %d kbit/s at %.1fs\n", g.BW/1000, g.AtMs/1000)
	}
	for _, st := range r.Stalls {
		fmt.Fprintf(&b, "stall of %.2fs at %.1fs\n", st.Ms/1000, st.AtMs/1000)
	}
	for _, l := range r.Throttled {
		fmt.Fprintf(&b, "download limit %d kbit/s from %.1fs after startup\n", l.Kbps, l.AtMs/1000)
	}
	for _, a := range r.AudioTracks {
		fmt.Fprintf(&b, "audio rendition %q group %q channels %q %s\n", a.Name, a.GroupID, a.Channels, a.URL)
	}
	if r.AudioBytes != nil && r.AudioBytesAtStart != nil {
		fmt.Fprintf(&b, "audio: %d fragments loaded, %d bytes decoded (%d at startup)\n", r.AudioFrags, *r.AudioBytes, *r.AudioBytesAtStart)
	}
	return b.String()
}
