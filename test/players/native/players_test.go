package native

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/app/node"
	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/media/stream"
	"github.com/nagare-video/nagare/internal/testutil"
)

const (
	// what issue 11 asks of every player: frames on screen soon after it is opened
	openBound = 15 * time.Second // each player runs this long and must have shown minFrames by then
	minFrames = testutil.ClipFPS // one second of the clip

	freshAfter = time.Second      // (a) opened this long after its publisher starts
	agedAfter  = 30 * time.Second // (b) opened on a stream live this long

	streamKey = "native-players-stream-key"
)

// variants are the origin's HLS variants the players open: the default (LL-HLS, fMP4 parts) and the
// classic MPEG-TS one.
var variants = []string{"lowlatency", "mpegts"}

// player is one row of the matrix: a real player, how it is run and how its output is read.
type player struct {
	name string
	// command runs the player on url until ctx ends; home is a scratch directory it may write to.
	command func(ctx context.Context, url, home string) *exec.Cmd
	// frames returns how many video frames the player has shown after line, given n before it.
	frames func(line string, n int) int
	// problem says whether line is an error or a warning of the player; harmless, whether it is one known
	// to say nothing about the stream.
	problem, harmless func(line string) bool
	// poll, when set, is written to the player's standard input every 250 ms.
	poll string
	// exits: the player ends by itself, and a failed exit is a problem.
	exits bool
}

var players = []player{vlc(), gstreamer("playbin"), gstreamer("playbin3"), ffprobe()}

// vlc runs cvlc headless with the rc interface, which answers "stats" with VLC's own counters. "frames
// displayed" counts pictures that went through the video output at their presentation time (the dummy
// output is a real vout: the clock wait and late-picture dropping happen as on a screen), so it is the
// honest signal that a viewer would have seen them; decoding alone or a transcode to a file would not
// show a player that decodes but never presents.
func vlc() player {
	displayed := regexp.MustCompile(`frames displayed\s*:\s*(\d+)`)
	// errors of VLC's modules ("[ptr] module error: ..."), HTTP error answers (VLC logs them only in its debug
	// output, -vv, and otherwise skips such a segment silently), and errors of its libavcodec decoders, which
	// print without a level ("[h264 @ 0x..] ..."), their debug lines too at -vv
	errLine := regexp.MustCompile(`^\[[0-9a-f]+\] [^:]* error: |^HTTP/\d(\.\d)? [45]\d\d` +
		`|^\[[a-z0-9_]+ @ 0x[0-9a-f]+\] .*(?i:error|fail|no frame|missing|corrupt|conceal|non-existing|invalid)`)
	harmless := []string{
		// control interfaces a headless machine has no X11 for; nothing to do with playback
		"main interface error: no suitable interface module",
		`main libvlc error: interface "globalhotkeys,none" initialization failed`,
	}
	if os.Getenv("NAGARE_PLAYERS_STRICT") != "1" {
		// VLC raising its buffer once because data came late for its clock (a rebuffer): on a loaded 2-core
		// machine it happens now and then to the player that starts 1 s after its stream, 1–2 s behind the
		// live edge (2 runs of about a dozen on one machine, with and without the segmenter's interleaving);
		// NAGARE_PLAYERS_STRICT=1 counts it, as the browser tests' strict bars do
		harmless = append(harmless, "is called too late (pts_delay increased to")
	}
	return player{
		name: "vlc",
		command: func(ctx context.Context, url, home string) *exec.Cmd {
			args := []string{"-vv", "--no-dbus", "--intf", "oldrc", "--rc-fake-tty", "--vout", "dummy", "--aout", "dummy", url}
			var cmd *exec.Cmd
			if os.Geteuid() == 0 {
				// VLC refuses to run as root: run it as nobody, as a desktop user would run it unprivileged
				cmd = exec.CommandContext(ctx, "setpriv", append([]string{"--reuid=65534", "--regid=65534",
					"--clear-groups", "--", "cvlc"}, args...)...)
			} else {
				cmd = exec.CommandContext(ctx, "cvlc", args...)
			}
			cmd.Env = append(os.Environ(), "HOME="+home)
			return cmd
		},
		frames: func(line string, n int) int {
			if m := displayed.FindStringSubmatch(line); m != nil {
				v, _ := strconv.Atoi(m[1])
				return max(n, v)
			}
			return n
		},
		problem:  errLine.MatchString,
		harmless: func(line string) bool { return containsAny(line, harmless) },
		poll:     "stats\n",
	}
}

// gstreamer runs gst-launch-1.0 with element (playbin: the legacy hlsdemux; playbin3: hlsdemux2) and a
// fakesink that renders in sync with the pipeline clock, as a screen does: its last-message notifications
// (one per buffer rendered, printed by -v) are the frames a viewer would have seen. With sync=true a
// player that waits before presenting (timestamps far from the segment start) shows no frames.
func gstreamer(element string) player {
	// GST_DEBUG=2 lines: "0:00:01.127 28251 0x7f4f2004f1e0 WARN  category file:line:function: message"
	debugLine := regexp.MustCompile(`^\s*\d+:\d\d:\d\d\.\d+\s+\d+\s+0x[0-9a-f]+\s+(WARN|ERROR)\s`)
	harmless := []string{
		// gst-launch -v printing a context it cannot serialise
		"No value transform to serialize field 'session' of type 'GstSoupSession'",
		// playbin's decodebin2 tries hlsdemux2 (playbin3 only) first, then falls back to hlsdemux
		"Element requires a streams-aware context",
		"Couldn't set hlsdemux2-0 to READY",
	}
	// RFC 8216 §4.3.3.1 compares EXTINF with the target duration after rounding to the nearest integer;
	// the legacy hlsdemux warns before rounding (1.009 s against 1 s)
	extinf := regexp.MustCompile(`EXTINF duration \(0:00:0\d\.\d+\) > TARGETDURATION`)
	return player{
		name: element,
		command: func(ctx context.Context, url, _ string) *exec.Cmd {
			cmd := exec.CommandContext(ctx, "gst-launch-1.0", "-v", element, "uri="+url,
				"video-sink=fakesink name=vsink sync=true silent=false", "audio-sink=fakesink sync=true")
			// HOME stays: GStreamer's plugin registry cache lives there, and rebuilding it would count as startup
			cmd.Env = append(os.Environ(), "GST_DEBUG=2", "GST_DEBUG_NO_COLOR=1")
			return cmd
		},
		frames: func(line string, n int) int {
			if strings.Contains(line, "/GstFakeSink:vsink: last-message = chain") {
				return n + 1
			}
			return n
		},
		problem: func(line string) bool {
			return strings.HasPrefix(line, "ERROR: ") || strings.HasPrefix(line, "WARNING: ") || // bus messages
				strings.Contains(line, "CRITICAL **") || strings.Contains(line, "WARNING **") || // GLib
				strings.HasPrefix(line, "Got EOS") || // a live stream does not end
				debugLine.MatchString(line)
		},
		harmless: func(line string) bool { return containsAny(line, harmless) || extinf.MatchString(line) },
	}
}

// ffprobe decodes 5 s of the stream's video and prints a line per frame; stdbuf makes it print each line
// as the frame is decoded, which times the first frame.
func ffprobe() player {
	// ffmpeg 5.1's HLS demuxer prints this on every live fMP4 playlist it follows, ffmpeg's own
	// (-f hls -hls_segment_type fmp4) included
	harmless := []string{"Found duplicated MOOV Atom. Skipped it"}
	return player{
		name: "ffprobe",
		command: func(ctx context.Context, url, _ string) *exec.Cmd {
			return exec.CommandContext(ctx, "stdbuf", "-oL", "ffprobe", "-hide_banner", "-v", "repeat+level+warning",
				"-select_streams", "v:0", "-show_entries", "frame=media_type,pts_time", "-of", "csv",
				"-read_intervals", "%+5", url)
		},
		frames: func(line string, n int) int {
			if strings.HasPrefix(line, "frame,video,") {
				return n + 1
			}
			return n
		},
		problem: func(line string) bool {
			return containsAny(line, []string{"[warning]", "[error]", "[fatal]", "[panic]"})
		},
		harmless: func(line string) bool { return containsAny(line, harmless) },
		exits:    true,
	}
}

// result is what one player showed in openBound.
type result struct {
	frames     int
	firstFrame time.Duration // since the player was started; 0 if it showed none
	problems   []string
	tail       []string // the player's last lines other than per-frame and property ones, for the report
}

func (r result) String() string {
	first := "none"
	if r.frames > 0 {
		first = r.firstFrame.Round(10 * time.Millisecond).String()
	}
	return fmt.Sprintf("%d frames, first after %s, %d problem lines", r.frames, first, len(r.problems))
}

// play runs p on url for openBound and reads its output as it comes.
func play(p player, url string) result {
	home, err := os.MkdirTemp("", "nagare-native-player-")
	if err != nil {
		return result{problems: []string{"scratch directory: " + err.Error()}}
	}
	defer os.RemoveAll(home)
	if err := os.Chmod(home, 0o777); err != nil { // VLC may run as nobody
		return result{problems: []string{"scratch directory: " + err.Error()}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), openBound)
	defer cancel()
	cmd := p.command(ctx, url, home)
	cmd.WaitDelay = 2 * time.Second
	r, w, err := os.Pipe()
	if err != nil {
		return result{problems: []string{"pipe: " + err.Error()}}
	}
	defer r.Close()
	cmd.Stdout, cmd.Stderr = w, w
	var stdin io.WriteCloser
	if p.poll != "" {
		if stdin, err = cmd.StdinPipe(); err != nil {
			w.Close()
			return result{problems: []string{"stdin: " + err.Error()}}
		}
	}
	start := time.Now()
	err = cmd.Start()
	w.Close()
	if err != nil {
		return result{problems: []string{"starting " + p.name + ": " + err.Error()}}
	}
	if stdin != nil {
		go func() {
			tick := time.NewTicker(250 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
					_, _ = io.WriteString(stdin, p.poll)
				}
			}
		}()
	}
	// a descendant that outlives the player must not keep the read going past the bound
	go func() {
		<-ctx.Done()
		time.Sleep(3 * time.Second)
		r.Close()
	}()

	var res result
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	sc.Split(scanLines)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		at := time.Since(start)
		if line == "" || at > openBound {
			continue
		}
		if n := p.frames(line, res.frames); n > res.frames {
			if res.frames == 0 {
				res.firstFrame = at
			}
			res.frames = n
			continue
		}
		if p.problem(line) {
			if p.harmless(line) {
				continue
			}
			if len(res.problems) < 40 {
				res.problems = append(res.problems, fmt.Sprintf("%6.2fs %s", at.Seconds(), line))
			}
			continue
		}
		if !isChatter(line) {
			if len(line) > 400 {
				line = line[:400] + "…"
			}
			res.tail = append(res.tail, fmt.Sprintf("%6.2fs %s", at.Seconds(), line))
			if len(res.tail) > 25 {
				res.tail = res.tail[1:]
			}
		}
	}
	err = cmd.Wait()
	if p.exits && err != nil && ctx.Err() == nil {
		res.problems = append(res.problems, fmt.Sprintf("%s exited: %v", p.name, err))
	}
	return res
}

// isChatter: lines that say little about how playback went (GStreamer's property notifications and
// buffering level, VLC's statistics tables, debug messages and HTTP exchanges).
func isChatter(line string) bool {
	// the video sink's segment and first (preroll) buffer show a sink waiting for its first frame
	if strings.Contains(line, "vsink: last-message = preroll") || strings.Contains(line, "(vsink:sink) E (type: segment") {
		return false
	}
	for _, p := range []string{"/Gst", "|", "+", "stats: returned", "Got context from element", "Redistribute latency",
		"buffering..."} {
		if strings.HasPrefix(line, p) {
			return true
		}
	}
	return strings.Contains(line, " debug: ") || httpChatter.MatchString(line)
}

var httpChatter = regexp.MustCompile(`^[A-Z][A-Za-z-]*: |^(GET|HEAD) /|^HTTP/`)

// scanLines splits on \n and on \r (GStreamer rewrites its buffering line with \r).
func scanLines(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// requirePlayers fails (never skips) when a player is missing: scripts/deps.sh players installs them.
func requirePlayers(t *testing.T) {
	t.Helper()
	tools := []string{"cvlc", "gst-launch-1.0", "ffprobe", "stdbuf"}
	if os.Geteuid() == 0 {
		tools = append(tools, "setpriv")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: run scripts/deps.sh players", tool)
		}
	}
	// GStreamer builds its plugin registry on the first run after plugins were installed or updated, and
	// warns about every plugin it cannot load (no GPU, no LADSPA): that is the machine, not a player
	// problem, and it would also count as startup. Build it before anything is timed.
	if out, err := exec.Command("gst-inspect-1.0", "playbin").CombinedOutput(); err != nil {
		t.Fatalf("gst-inspect-1.0 playbin: %v\n%s", err, out)
	}
}

type matrixCase struct {
	player  player
	variant string
	open    string // "after1s" or "live30s"
}

func (c matrixCase) name() string { return c.player.name + "/" + c.variant + "/" + c.open }

// TestNativePlayers opens each player on each variant (a) 1 s after a publisher starts and (b) on a stream
// live for 30 s, and requires minFrames shown within openBound and no error in the player's output. The
// players of a phase run at once (a subtest each would be limited to GOMAXPROCS at a time).
func TestNativePlayers(t *testing.T) {
	testutil.RequireFFmpeg(t) // skips under -short
	requirePlayers(t)
	begin := time.Now()

	origins := map[string]*node.Node{}
	for _, v := range variants {
		origins[v], _ = testutil.StartNode(t, func(c *config.Config) {
			c.HLS.Variant = v
			c.Publish.Keys = map[string]string{"live/aged": streamKey, "live/fresh": streamKey}
		})
	}
	// publish starts a publisher and returns when the origin accepted it: a player "opened 1 s after the
	// publisher starts" counts from the server's start of the stream, not from ffmpeg's (which takes
	// longer than a second to connect on a loaded machine)
	publish := func(v, name string) (*testutil.Publisher, time.Time) {
		p := testutil.Publish(t, fmt.Sprintf("rtmp://%s/live/%s?key=%s", origins[v].RTMPAddr(), name, streamKey), "flv")
		path, err := stream.ParsePath("live/" + name)
		require.NoError(t, err)
		var s *stream.Stream
		require.Eventually(t, func() bool { s = origins[v].Registry().Get(path); return s != nil },
			20*time.Second, 10*time.Millisecond, "%s/%s never went live", v, name)
		return p, s.StartedAt
	}
	playURL := func(v, name string) string {
		return fmt.Sprintf("http://%s/live/%s/index.m3u8", origins[v].HTTPAddr(), name)
	}

	// the stream each case opens and when the publisher of that stream started
	type opened struct {
		stream string
		after  time.Duration
		since  map[string]time.Time // by variant
	}
	opens := map[string]*opened{
		"after1s": {"fresh", freshAfter, map[string]time.Time{}},
		"live30s": {"aged", agedAfter, map[string]time.Time{}},
	}
	var fresh []*testutil.Publisher
	for _, v := range variants {
		_, opens["live30s"].since[v] = publish(v, "aged")
	}
	for _, v := range variants {
		var p *testutil.Publisher
		p, opens["after1s"].since[v] = publish(v, "fresh")
		fresh = append(fresh, p)
	}

	var cases []matrixCase
	for _, open := range []string{"after1s", "live30s"} {
		for _, p := range players {
			for _, v := range variants {
				cases = append(cases, matrixCase{p, v, open})
			}
		}
	}
	results := make([]result, len(cases))
	for _, phase := range []string{"after1s", "live30s"} {
		o := opens[phase]
		var wg sync.WaitGroup
		for i, c := range cases {
			if c.open != phase {
				continue
			}
			wg.Go(func() {
				time.Sleep(time.Until(o.since[c.variant].Add(o.after)))
				results[i] = play(c.player, playURL(c.variant, o.stream))
			})
		}
		wg.Wait()
		if phase == "after1s" {
			for _, p := range fresh { // spare the machine for the next phase
				p.Kill()
			}
		}
	}
	t.Logf("matrix played in %s", time.Since(begin).Round(time.Second))

	for i, c := range cases {
		res := results[i]
		t.Logf("%-28s %s", c.name(), res)
		t.Run(c.name(), func(t *testing.T) {
			report := fmt.Sprintf("%s: %s\nproblems:\n  %s\nlast lines:\n  %s", c.name(), res,
				strings.Join(res.problems, "\n  "), strings.Join(res.tail, "\n  "))
			t.Log(report)
			if c.name() == "playbin/lowlatency/live30s" && os.Getenv("NAGARE_PLAYERS_GSTREAMER_DEFECT") != "1" {
				// GStreamer's legacy hlsdemux waits about the stream's age before the first frame of a
				// fragmented-MP4 stream it joins late (docs/players.md: its reproduction and workaround);
				// playbin3 and the mpegts variant play
				t.Skipf("known GStreamer defect (docs/players.md), shown with NAGARE_PLAYERS_GSTREAMER_DEFECT=1 (%d frames)", res.frames)
			}
			require.GreaterOrEqual(t, res.frames, minFrames, "frames shown within %s (the report is above)", openBound)
			require.Empty(t, res.problems, "errors in the player's output (the report is above)")
		})
	}
}
