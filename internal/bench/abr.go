package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nagare-video/nagare/internal/config"
	"github.com/nagare-video/nagare/internal/nodestats"
	"github.com/nagare-video/nagare/internal/vod/ladder"
)

// The live ABR benchmark: the ladder a nagare origin makes of a published stream
// (NAGARE_TRANSCODE_ENABLED), against the bare ffmpeg command making the same ladder from the clip, and
// nginx-rtmp making it with `exec ffmpeg` and `hls_variant` (scripts/bench/nginx-abr.conf).
// scripts/bench.sh starts the servers; the bare command is run by the bench itself.

// KindFFmpeg is the bare ffmpeg command of `nagare bench abr`.
const KindFFmpeg = "ffmpeg"

const (
	// abrPoll is how often playlists are polled for publish to playable.
	abrPoll = 20 * time.Millisecond
	// targetABRCPUShare: nagare's process tree at most 110 % of the bare command's CPU.
	targetABRCPUShare = 110.0
	// targetABRDelaySlackMs is what a rendition may lag behind the source at the playlist beyond one part.
	targetABRDelaySlackMs = 200.0
	// abrStartTimeout bounds one publish-to-playable run.
	abrStartTimeout = 20 * time.Second
)

// ABRResult is what `nagare bench abr -kind K` measured.
type ABRResult struct {
	phaseRun
	Kind    string  `json:"kind"` // nagare, nginx-rtmp or ffmpeg
	Clip    string  `json:"clip"`
	WarmupS float64 `json:"warmupS"`
	// DurationS is the CPU measured of each configuration in all, over Rounds windows.
	DurationS float64 `json:"durationS"`
	Rounds    int     `json:"rounds"`
	Runs      int     `json:"runs"`
	// Rungs is the ladder, the source first, as the multivariant playlist lists it (the bare command:
	// as it was asked for).
	Rungs []ABRRung `json:"rungs"`
	// Command is the bare ffmpeg command line, the clip named clip.mp4 and the output directory DIR.
	Command string     `json:"command,omitempty"`
	Starts  []ABRStart `json:"starts,omitempty"`
	// Idle is the server's usage before its first window (not for the bare command).
	Idle *ABRUsage `json:"idle,omitempty"`
	// Windows are the CPU windows in the order they ran; Usage adds up those of the whole ladder.
	Windows []ABRWindow `json:"windows"`
	Usage   ABRUsage    `json:"usage"`
	// Without is, for the bare command, the same ladder without one rung in turn, RungWindowS in all:
	// what a rung costs is the whole ladder's CPU minus the ladder's without it.
	Without     []ABRWithout `json:"without,omitempty"`
	RungWindowS float64      `json:"rungWindowS,omitempty"`
	// Interleaved names the other configurations whose windows took turns with this one's ("ffmpeg": the
	// bare command's, measured by the same `nagare bench abr -kind nagare -ffmpeg-out`).
	Interleaved string `json:"interleaved,omitempty"`
	// FollowedUsage is nagare's in the delay window, after the CPU windows: a stream whose every rung's
	// media playlist the bench followed with blocking reloads.
	FollowedUsage *ABRUsage `json:"followedUsage,omitempty"`
	// PartTargetMs is the source's EXT-X-PART-INF PART-TARGET (nagare).
	PartTargetMs float64 `json:"partTargetMs,omitempty"`
	// Delays are each rendition's delay behind the source at the playlist over the delay window (nagare).
	Delays []ABRDelay `json:"delays,omitempty"`
	// Transcode is what the origin's /api/v1/stats said of the delay window's stream at its end.
	Transcode *ABRTranscode `json:"transcode,omitempty"`
}

// ABRWindow is one CPU window: Config is the kind, or "ffmpeg without <rung>".
type ABRWindow struct {
	Round  int      `json:"round"`
	Config string   `json:"config"`
	Usage  ABRUsage `json:"usage"`
}

// ABRRung is one rung of the ladder.
type ABRRung struct {
	Name       string `json:"name"`
	Resolution string `json:"resolution,omitempty"`
	Bandwidth  int    `json:"bandwidth,omitempty"`
}

// ABRStart is one publication of a new stream until its whole ladder is playable.
type ABRStart struct {
	Run int `json:"run"`
	// ListedMs is from the publisher starting to connect until the multivariant (master) playlist lists
	// every rung.
	ListedMs float64 `json:"listedMs"`
	// PlayableMs is until, besides, every rung's media playlist answered a plain GET with a part (nagare)
	// or a segment (nginx-rtmp, the bare command).
	PlayableMs float64 `json:"playableMs"`
	// FirstPartMs is until every rung's media playlist answered an LL-HLS blocking request for the first
	// part (_HLS_msn=0&_HLS_part=0) with a part (nagare).
	FirstPartMs float64        `json:"firstPartMs,omitempty"`
	Rungs       []ABRRungStart `json:"rungs"`
	Error       string         `json:"error,omitempty"`
}

// ABRRungStart is when one rung became playable in a start.
type ABRRungStart struct {
	Name        string  `json:"name"`
	PlayableMs  float64 `json:"playableMs"`
	FirstPartMs float64 `json:"firstPartMs,omitempty"`
}

// ABRUsage is the usage of a server's whole process tree over the window, its ffmpeg processes apart.
type ABRUsage struct {
	Usage
	// ServerCPUPercent is the CPU of the tree's processes that are not ffmpeg (nagare; nginx's master and
	// workers), FFmpegCPUPercent that of its ffmpeg processes, in % of one core.
	ServerCPUPercent float64 `json:"serverCpuPercent"`
	FFmpegCPUPercent float64 `json:"ffmpegCpuPercent"`
	FFmpegRSSMiB     float64 `json:"ffmpegRssMiB"`
	FFmpegs          int     `json:"ffmpegs"`
	// BenchCPUPercent is this process's: the publisher and the playlist followers.
	BenchCPUPercent float64 `json:"benchCpuPercent"`
}

// ABRWithout is the bare command's usage with one rung left out of the ladder.
type ABRWithout struct {
	Rung  string   `json:"rung"`
	Usage ABRUsage `json:"usage"`
}

// ABRDelay is how much later than the source a rendition's playlist listed the same parts and segments.
type ABRDelay struct {
	Rung     string  `json:"rung"`
	Parts    Summary `json:"parts"`
	Segments Summary `json:"segments"`
	// Missing counts the parts the source listed (a second or more before the window's end) that the
	// rendition never listed; Unmatched, the parts the rendition listed that the source never did.
	Missing   int `json:"missing"`
	Unmatched int `json:"unmatched"`
}

// ABRTranscode is the transcoding of one stream as the origin's /api/v1/stats reports it.
type ABRTranscode struct {
	Stream   string             `json:"stream"`
	Running  bool               `json:"running"`
	Restarts uint64             `json:"restarts"`
	Dropped  uint64             `json:"dropped"`
	Rungs    []ABRTranscodeRung `json:"rungs"`
}

// ABRTranscodeRung is one rung of ABRTranscode.
type ABRTranscodeRung struct {
	Name    string  `json:"name"`
	Width   int     `json:"width"`
	Height  int     `json:"height"`
	Speed   float64 `json:"speed"`
	DelayNs int64   `json:"delayNs"`
}

func cmdABR(ctx context.Context, args []string, _, stderr io.Writer, log *slog.Logger) error {
	fs := newFlags("abr", stderr)
	kind := fs.String("kind", KindNagare, "nagare (started with NAGARE_TRANSCODE_ENABLED=true), nginx-rtmp (scripts/bench/nginx-abr.conf) or ffmpeg (the bare command, run by the bench)")
	pid := fs.Int("pid", 0, "pid of the server: it and all its descendants are metered (nagare, nginx-rtmp)")
	rtmp := fs.String("rtmp", "", "RTMP base URL including the application, e.g. rtmp://127.0.0.1:1935/live (nagare, nginx-rtmp)")
	httpBase := fs.String("http", "", "HTTP base URL, e.g. http://127.0.0.1:8080 (nagare, nginx-rtmp)")
	clipPath := fs.String("clip", "", "MPEG-TS clip (H.264 + AAC)")
	runs := fs.Int("runs", 3, "publish-to-playable runs, each on a new stream (nagare, nginx-rtmp)")
	warmup := fs.Duration("warmup", 5*time.Second, "time from the start of a stream (of the command) to its window")
	d := fs.Duration("duration", 20*time.Second, "CPU measured of each configuration in all, split over -rounds windows; nagare's delay window")
	rounds := fs.Int("rounds", 2, "windows of each configuration, taking turns (odd rounds in order, even ones in reverse)")
	rungWindow := fs.Duration("rung-window", 10*time.Second, "bare command: CPU measured of the ladder without each rung in all (0: not measured)")
	ffmpegOut := fs.String("ffmpeg-out", "", "nagare, nginx-rtmp: also measure the bare command, its windows taking turns with the server's, into this JSON file")
	ffmpegBin := fs.String("ffmpeg", "ffmpeg", "ffmpeg binary of the bare command")
	dir := fs.String("dir", "", "output directory of the bare command (default: a new temp directory, removed)")
	out := fs.String("out", "", "JSON result file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case *kind != KindNagare && *kind != KindNginxRTMP && *kind != KindFFmpeg:
		return usageErr("-kind: want %s, %s or %s, not %q", KindNagare, KindNginxRTMP, KindFFmpeg, *kind)
	case *clipPath == "" || *out == "":
		return usageErr("-clip and -out are required")
	case *kind != KindFFmpeg && (*pid <= 0 || *rtmp == "" || *httpBase == ""):
		return usageErr("-pid, -rtmp and -http are required for -kind %s", *kind)
	case *kind == KindFFmpeg && *ffmpegOut != "":
		return usageErr("-ffmpeg-out is for a server's kind")
	case *rounds < 1 || *d < time.Duration(*rounds)*time.Second || *warmup < 0 || *rungWindow < 0 || *runs < 0:
		return usageErr("-rounds must be at least 1, -duration at least 1s a round, -warmup, -rung-window and -runs not negative")
	}
	clip, err := LoadClip(*clipPath)
	if err != nil {
		return err
	}
	newResult := func(kind string) *ABRResult {
		res := &ABRResult{Kind: kind, Clip: filepath.Base(*clipPath), WarmupS: warmup.Seconds(), DurationS: d.Seconds(), Rounds: *rounds}
		res.phaseRun, _ = startPhaseRun()
		return res
	}
	began := time.Now()
	var plan []abrWindow
	var bare *bareLadder
	var bareRes *ABRResult
	if *kind == KindFFmpeg || *ffmpegOut != "" {
		bareRes = newResult(KindFFmpeg)
		bare = &bareLadder{bin: *ffmpegBin, clipPath: *clipPath, clip: clip, dir: *dir, warmup: *warmup, log: log}
		cleanup, err := bare.setup(ctx, bareRes)
		if err != nil {
			return err
		}
		defer cleanup()
		plan = bare.plan(bareRes, *d/time.Duration(*rounds), *rungWindow/time.Duration(*rounds))
	}
	var srvRes *ABRResult
	var sr *abrServerRun
	if *kind != KindFFmpeg {
		srvRes = newResult(*kind)
		srvRes.Runs = *runs
		sr = &abrServerRun{res: srvRes, clip: clip, warmup: *warmup, log: log,
			srv: server{Kind: *kind, RTMP: strings.TrimSuffix(*rtmp, "/"), HTTP: strings.TrimSuffix(*httpBase, "/"), PID: *pid}}
		if err := sr.startsAndIdle(ctx); err != nil {
			return err
		}
		plan = append([]abrWindow{{config: *kind, into: srvRes, d: *d / time.Duration(*rounds), run: sr.window}}, plan...)
		if bareRes != nil {
			srvRes.Interleaved, bareRes.Interleaved = KindFFmpeg, *kind
		}
	}
	if err := runRounds(ctx, *rounds, plan, log); err != nil {
		return err
	}
	if bareRes != nil {
		bare.finish(bareRes)
		bareRes.end(began)
		path := *out
		if *kind != KindFFmpeg {
			path = *ffmpegOut
		}
		if err := writeJSON(path, bareRes); err != nil {
			return err
		}
	}
	if srvRes == nil {
		return nil
	}
	srvRes.Usage = combineWindows(srvRes.Windows, *kind)
	if *kind == KindNagare {
		if err := sr.delayWindow(ctx, *d); err != nil {
			return err
		}
	}
	srvRes.end(began)
	return writeJSON(*out, srvRes)
}

// abrWindow is a configuration measured in every round: run starts it, meters it for d (after the
// warm-up) and stops it.
type abrWindow struct {
	config string
	into   *ABRResult
	d      time.Duration
	run    func(ctx context.Context, d time.Duration) (ABRUsage, error)
}

// runRounds runs every window of plan once a round, in order in odd rounds and in reverse in even ones,
// so that a slow drift of the machine's speed weighs on every configuration alike.
func runRounds(ctx context.Context, rounds int, plan []abrWindow, log *slog.Logger) error {
	for r := 1; r <= rounds; r++ {
		order := slices.Clone(plan)
		if r%2 == 0 {
			slices.Reverse(order)
		}
		for _, w := range order {
			u, err := w.run(ctx, w.d)
			if err != nil {
				return fmt.Errorf("%s, round %d: %w", w.config, r, err)
			}
			w.into.Windows = append(w.into.Windows, ABRWindow{Round: r, Config: w.config, Usage: u})
			log.Info("abr window", "config", w.config, "round", r, "cpuPercent", u.CPUPercent,
				"serverCpuPercent", u.ServerCPUPercent, "ffmpegCpuPercent", u.FFmpegCPUPercent, "othersCpuPercent", u.OthersCPUPercent)
		}
	}
	return nil
}

// combineWindows adds up the windows of config: CPU figures weighted by the windows' lengths, peak RSS
// the highest, RSS and process counts the last window's.
func combineWindows(ws []ABRWindow, config string) ABRUsage {
	var out ABRUsage
	for _, w := range ws {
		if w.Config != config {
			continue
		}
		u, s := w.Usage, w.Usage.Seconds
		out.Seconds += s
		out.CPUPercent += s * u.CPUPercent
		out.OthersCPUPercent += s * u.OthersCPUPercent
		out.ServerCPUPercent += s * u.ServerCPUPercent
		out.FFmpegCPUPercent += s * u.FFmpegCPUPercent
		out.BenchCPUPercent += s * u.BenchCPUPercent
		out.PeakRSSMiB = max(out.PeakRSSMiB, u.PeakRSSMiB)
		out.RSSMiB, out.FFmpegRSSMiB, out.Processes, out.FFmpegs = u.RSSMiB, u.FFmpegRSSMiB, u.Processes, u.FFmpegs
	}
	if out.Seconds > 0 {
		for _, v := range []*float64{&out.CPUPercent, &out.OthersCPUPercent, &out.ServerCPUPercent, &out.FFmpegCPUPercent, &out.BenchCPUPercent} {
			*v /= out.Seconds
		}
	}
	return out
}

// abrLadder is the rungs nagare's default configuration makes of a w x h source: those shorter than
// the source, which is itself the top rung (as internal/media/transcode picks them).
func abrLadder(w, h int) []ladder.Variant {
	short := min(w, h)
	var out []ladder.Variant
	for _, v := range config.Default().Transcode.Ladder().For(w, h) {
		if v.Rung.Height < short && v.Name != ladder.SourceName {
			out = append(out, v)
		}
	}
	return out
}

// abrServerRun measures a server making the ladder of what is published to it.
type abrServerRun struct {
	res    *ABRResult
	srv    server
	clip   *Clip
	warmup time.Duration
	log    *slog.Logger
	rungs  int // the multivariant playlist lists the source and these
}

// startsAndIdle measures publish to playable, then the server idle.
func (a *abrServerRun) startsAndIdle(ctx context.Context) error {
	w, h := spsSize(a.clip.SPS)
	a.rungs = 1 + len(abrLadder(w, h))
	for i := 1; i <= a.res.Runs; i++ {
		st, err := measureABRStart(ctx, a.srv, a.clip, streamName("abrstart"), a.rungs)
		st.Run = i
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			st.Error = err.Error()
			a.log.Warn("abr start failed", "server", a.srv.Kind, "run", i, "cause", err)
		} else {
			a.log.Info("abr start", "server", a.srv.Kind, "run", i, "listedMs", st.ListedMs, "playableMs", st.PlayableMs,
				"firstPartMs", st.FirstPartMs)
		}
		a.res.Starts = append(a.res.Starts, st)
		// the server ends the stream and its ladder (nagare's ffmpeg, nginx-rtmp's exec'd one)
		if err := sleepCtx(ctx, time.Second); err != nil {
			return err
		}
	}
	idle, err := meterTree(ctx, a.srv.PID, 2*time.Second)
	if err != nil {
		return err
	}
	a.res.Idle = &idle
	return nil
}

// abrStream is a stream published for a window, its ladder listed.
type abrStream struct {
	name     string
	variants []abrVariant
	started  time.Time
	c        *http.Client
	pubErr   chan error
	stop     context.CancelFunc
}

// publish starts a new stream and waits until the multivariant playlist lists its whole ladder.
func (a *abrServerRun) publish(ctx context.Context) (*abrStream, error) {
	s := &abrStream{name: streamName("abr"), pubErr: make(chan error, 1), c: newHTTPClient(10 * time.Second)}
	pctx, stop := context.WithCancel(ctx)
	s.stop = stop
	p := &Publisher{URL: a.srv.publishURL(s.name), Clip: a.clip}
	s.started = time.Now()
	go func() { s.pubErr <- p.Run(pctx) }()
	lctx, cancel := context.WithTimeout(ctx, abrStartTimeout)
	defer cancel()
	var err error
	if s.variants, _, err = waitLadder(lctx, s.c, a.srv.playlistURL(s.name), s.name, a.rungs); err != nil {
		s.end(ctx)
		return nil, fmt.Errorf("%s: the ladder of %s: %w", a.srv.Kind, s.name, err)
	}
	if a.res.Rungs == nil {
		for _, v := range s.variants {
			a.res.Rungs = append(a.res.Rungs, v.ABRRung)
		}
	}
	return s, nil
}

// publishing reports an error if the stream's publisher has stopped.
func (s *abrStream) publishing() error {
	select {
	case err := <-s.pubErr:
		s.pubErr <- err // for end
		if err != nil {
			return fmt.Errorf("the publisher failed: %w", err)
		}
		return errors.New("the publisher stopped")
	default:
		return nil
	}
}

// end stops the publisher and gives the server a second to end the stream and its ladder.
func (s *abrStream) end(ctx context.Context) {
	s.stop()
	<-s.pubErr
	s.c.CloseIdleConnections()
	_ = sleepCtx(ctx, time.Second)
}

// window publishes a new stream, meters the server for d after the warm-up, with no viewer (the bare
// command has none either), and ends the stream.
func (a *abrServerRun) window(ctx context.Context, d time.Duration) (ABRUsage, error) {
	s, err := a.publish(ctx)
	if err != nil {
		return ABRUsage{}, err
	}
	defer s.end(ctx)
	if err := sleepCtx(ctx, time.Until(s.started.Add(a.warmup))); err != nil {
		return ABRUsage{}, err
	}
	u, err := meterTree(ctx, a.srv.PID, d)
	if err != nil {
		return u, err
	}
	if err := s.publishing(); err != nil {
		return u, err
	}
	if u.FFmpegs == 0 {
		return u, fmt.Errorf("no ffmpeg process under pid %d at the window's end", a.srv.PID)
	}
	return u, nil
}

// delayWindow publishes a new stream and, for d after the warm-up, follows every rung's media playlist
// with blocking reloads: each rendition's delay behind the source.
func (a *abrServerRun) delayWindow(ctx context.Context, d time.Duration) error {
	s, err := a.publish(ctx)
	if err != nil {
		return err
	}
	defer s.end(ctx)
	if err := sleepCtx(ctx, time.Until(s.started.Add(a.warmup))); err != nil {
		return err
	}
	if code, body, _, err := fetch(ctx, s.c, s.variants[0].URL); err == nil && code == http.StatusOK {
		a.res.PartTargetMs = ms(partTarget(body))
	}
	fctx, stopFollow := context.WithCancel(ctx)
	var follow sync.WaitGroup
	obs := make([]*observations, len(s.variants))
	names := make([]string, len(s.variants))
	for i, v := range s.variants {
		obs[i], names[i] = newObservations(), v.Name
		follow.Go(func() {
			block(fctx, s.c, v.URL, func(pl *MediaPlaylist, at time.Time) { obs[i].add(pl, at) })
		})
	}
	u, err := meterTree(ctx, a.srv.PID, d)
	end := time.Now()
	stopFollow()
	follow.Wait()
	if err != nil {
		return err
	}
	if err := s.publishing(); err != nil {
		return err
	}
	a.res.FollowedUsage = &u
	a.res.Delays = abrDelays(names, obs, end.Add(-time.Second))
	if a.res.Transcode, err = transcodeStats(ctx, s.c, a.srv.HTTP, "live/"+s.name); err != nil {
		return err
	}
	a.log.Info("abr delay", "server", a.srv.Kind, "delays", a.res.Delays, "cpuPercent", u.CPUPercent)
	return nil
}

// abrVariant is a variant of a multivariant playlist.
type abrVariant struct {
	ABRRung
	URL string // resolved
}

// parseVariants returns the video variants of a multivariant playlist in its order, their URIs as written
// (an audio-only one, which ffmpeg lists for its audio group, is none).
func parseVariants(b []byte) []abrVariant {
	var out []abrVariant
	var cur *abrVariant
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		tag, val, _ := strings.Cut(line, ":")
		switch {
		case tag == "#EXT-X-STREAM-INF" && attr(val, "RESOLUTION") == "":
			cur = nil
		case tag == "#EXT-X-STREAM-INF":
			cur = &abrVariant{ABRRung: ABRRung{Resolution: attr(val, "RESOLUTION")}}
			cur.Bandwidth, _ = strconv.Atoi(attr(val, "BANDWIDTH"))
		case cur != nil && line != "" && !strings.HasPrefix(line, "#"):
			cur.URL = line
			out = append(out, *cur)
			cur = nil
		}
	}
	return out
}

// rungName names a variant of stream by its URI: a rendition's playlist is in a directory of its own,
// <stream>_<rung> (nagare: ../cam1_480p/video1_stream.m3u8; nginx-rtmp: cam1_480p/index.m3u8, the source
// being cam1_src), the source's is beside the multivariant playlist (nagare: video1_stream.m3u8).
func rungName(stream, uri string) string {
	dir := path.Base(path.Dir(uriPath(uri)))
	if r, ok := strings.CutPrefix(dir, stream+"_"); ok && r != "src" {
		return r
	}
	return ladder.SourceName
}

// waitLadder polls the multivariant playlist u of stream until it lists n variants, and returns them
// with their URLs resolved and when it did.
func waitLadder(ctx context.Context, c *http.Client, u, stream string, n int) ([]abrVariant, time.Time, error) {
	for {
		code, body, at, err := fetch(ctx, c, u)
		if err == nil && code == http.StatusOK {
			if vs := parseVariants(body); len(vs) >= n {
				for i := range vs {
					vs[i].Name = rungName(stream, vs[i].URL)
					if vs[i].URL, err = resolve(u, vs[i].URL); err != nil {
						return nil, at, err
					}
				}
				return vs, at, nil
			}
		}
		if err := sleepCtx(ctx, abrPoll); err != nil {
			return nil, time.Time{}, fmt.Errorf("waiting for %d variants at %s: %w", n, u, err)
		}
	}
}

func hasParts(pl *MediaPlaylist) bool { return len(pl.Parts) > 0 || anyParts(pl) }

// pollRungPlayable polls the media playlist u with plain GETs until it lists a part (parts) or a segment,
// and returns when the answer that did arrived.
func pollRungPlayable(ctx context.Context, c *http.Client, u string, parts bool) (time.Time, error) {
	for {
		code, body, at, err := fetch(ctx, c, u)
		if err == nil && code == http.StatusOK {
			if pl, err := ParseMediaPlaylist(body); err == nil && (parts && hasParts(pl) || !parts && pl.LastSegment() != nil) {
				return at, nil
			}
		}
		if err := sleepCtx(ctx, abrPoll); err != nil {
			return time.Time{}, fmt.Errorf("waiting for %s: %w", u, err)
		}
	}
}

// firstPart asks u for its first part with an LL-HLS blocking request, again until one lists a part.
func firstPart(ctx context.Context, c *http.Client, u string) (time.Time, error) {
	b, err := url.Parse(u)
	if err != nil {
		return time.Time{}, err
	}
	q := b.Query()
	q.Set("_HLS_msn", "0")
	q.Set("_HLS_part", "0")
	b.RawQuery = q.Encode()
	return pollRungPlayable(ctx, c, b.String(), true)
}

// measureABRStart publishes a new stream and polls until its whole ladder is playable.
func measureABRStart(ctx context.Context, srv server, clip *Clip, stream string, rungs int) (ABRStart, error) {
	ctx, cancel := context.WithTimeout(ctx, abrStartTimeout)
	defer cancel()
	pctx, stop := context.WithCancel(ctx)
	p := &Publisher{URL: srv.publishURL(stream), Clip: clip}
	done := make(chan error, 1)
	t0 := time.Now()
	go func() { done <- p.Run(pctx) }()
	defer func() {
		stop()
		<-done
	}()

	c := newHTTPClient(10 * time.Second)
	defer c.CloseIdleConnections()
	variants, listed, err := waitLadder(ctx, c, srv.playlistURL(stream), stream, rungs)
	if err != nil {
		return ABRStart{}, err
	}
	st := ABRStart{ListedMs: ms(listed.Sub(t0)), Rungs: make([]ABRRungStart, len(variants))}
	errs := make([]error, 2*len(variants))
	var wg sync.WaitGroup
	for i, v := range variants {
		st.Rungs[i].Name = v.Name
		wg.Go(func() {
			at, err := pollRungPlayable(ctx, c, v.URL, srv.lowLatency())
			st.Rungs[i].PlayableMs, errs[2*i] = ms(at.Sub(t0)), err
		})
		if srv.lowLatency() {
			wg.Go(func() {
				at, err := firstPart(ctx, c, v.URL)
				st.Rungs[i].FirstPartMs, errs[2*i+1] = ms(at.Sub(t0)), err
			})
		}
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return st, err
	}
	for _, r := range st.Rungs {
		st.PlayableMs = max(st.PlayableMs, r.PlayableMs)
		st.FirstPartMs = max(st.FirstPartMs, r.FirstPartMs)
	}
	return st, nil
}

// partTarget reads EXT-X-PART-INF's PART-TARGET from a media playlist (0 if it has none).
func partTarget(b []byte) time.Duration {
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "#EXT-X-PART-INF:"); ok {
			if d, err := parseSeconds(attr(v, "PART-TARGET")); err == nil {
				return d
			}
		}
	}
	return 0
}

// abrDelays compares when each rendition's playlist first listed a part or segment with when the
// source's did (obs[0] is the source's). What either playlist listed in its first answer is left out;
// the source's parts listed after settle are not counted missing from a rendition.
func abrDelays(names []string, obs []*observations, settle time.Time) []ABRDelay {
	src := obs[0]
	var out []ABRDelay
	for i := 1; i < len(obs); i++ {
		r := obs[i]
		d := ABRDelay{Rung: names[i]}
		var parts, segs []time.Duration
		for k, s := range src.parts {
			rs, ok := r.parts[k]
			switch {
			case !ok:
				if !s.Stale && s.At.Before(settle) {
					d.Missing++
				}
			case !s.Stale && !rs.Stale:
				parts = append(parts, rs.At.Sub(s.At))
			}
		}
		for k, rs := range r.parts {
			if _, ok := src.parts[k]; !ok && !rs.Stale {
				d.Unmatched++
			}
		}
		for msn, s := range src.segments {
			if rs, ok := r.segments[msn]; ok && !s.Stale && !rs.Stale {
				segs = append(segs, rs.At.Sub(s.At))
			}
		}
		d.Parts, d.Segments = Summarize(parts), Summarize(segs)
		out = append(out, d)
	}
	return out
}

// transcodeStats returns what the origin's /api/v1/stats says of the transcoding of stream.
func transcodeStats(ctx context.Context, c *http.Client, base, stream string) (*ABRTranscode, error) {
	code, body, _, err := fetch(ctx, c, base+"/api/v1/stats")
	if err != nil {
		return nil, fmt.Errorf("stats: %w", err)
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("stats: status %d", code)
	}
	var s struct {
		Transcode []ABRTranscode `json:"transcode"`
	}
	if err := json.Unmarshal(body, &s); err != nil {
		return nil, fmt.Errorf("stats: %w", err)
	}
	for i := range s.Transcode {
		if s.Transcode[i].Stream == stream {
			return &s.Transcode[i], nil
		}
	}
	return nil, fmt.Errorf("stats: no transcoding of %s", stream)
}

// treeMeter meters a process and all its descendants over a window, its ffmpeg processes apart.
type treeMeter struct {
	pid      int
	t0       time.Time
	procs0   map[int]float64
	self0    float64
	peak     uint64
	stopped  chan struct{}
	finished chan struct{}
}

func startTreeMeter(pid int) (*treeMeter, error) {
	if _, _, err := nodestats.Process(pid); err != nil {
		return nil, fmt.Errorf("server process %d: %w", pid, err)
	}
	self0, _, _ := nodestats.Process(0)
	m := &treeMeter{pid: pid, t0: time.Now(), procs0: procTimes(), self0: self0,
		stopped: make(chan struct{}), finished: make(chan struct{})}
	go func() {
		defer close(m.finished)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-m.stopped:
				return
			case <-t.C:
				var rss uint64
				for _, p := range append([]int{pid}, descendants(pid)...) {
					if _, r, err := nodestats.Process(p); err == nil {
						rss += r
					}
				}
				m.peak = max(m.peak, rss)
			}
		}
	}()
	return m, nil
}

func (m *treeMeter) stop() (ABRUsage, error) {
	close(m.stopped)
	<-m.finished
	procs := procTimes()
	self1, _, _ := nodestats.Process(0)
	el := time.Since(m.t0).Seconds()
	if _, ok := procs[m.pid]; !ok {
		return ABRUsage{}, fmt.Errorf("server process %d exited during the window", m.pid)
	}
	u := ABRUsage{Usage: Usage{Seconds: el}}
	pct := func(cpu float64) float64 { return 100 * cpu / el }
	exclude := map[int]bool{os.Getpid(): true}
	var rss, ffRSS uint64
	for _, p := range append([]int{m.pid}, descendants(m.pid)...) {
		exclude[p] = true
		after, ok := procs[p]
		if !ok {
			continue // started after the snapshot
		}
		cpu := after - m.procs0[p] // a process started in the window counts from 0
		_, r, err := nodestats.Process(p)
		if err != nil {
			continue // exited meanwhile
		}
		u.Processes++
		rss += r
		if isFFmpeg(p) {
			u.FFmpegs++
			u.FFmpegCPUPercent += pct(cpu)
			ffRSS += r
		} else {
			u.ServerCPUPercent += pct(cpu)
		}
	}
	for _, p := range descendants(os.Getpid()) {
		exclude[p] = true
	}
	u.CPUPercent = u.ServerCPUPercent + u.FFmpegCPUPercent
	u.RSSMiB, u.PeakRSSMiB, u.FFmpegRSSMiB = mib(rss), mib(max(m.peak, rss)), mib(ffRSS)
	u.OthersCPUPercent = pct(othersCPU(m.procs0, procs, exclude))
	u.BenchCPUPercent = pct(self1 - m.self0)
	return u, nil
}

// meterTree meters pid's tree for d.
func meterTree(ctx context.Context, pid int, d time.Duration) (ABRUsage, error) {
	m, err := startTreeMeter(pid)
	if err != nil {
		return ABRUsage{}, err
	}
	werr := sleepCtx(ctx, d)
	u, err := m.stop()
	if werr != nil {
		return u, werr
	}
	return u, err
}

func isFFmpeg(pid int) bool {
	return strings.TrimSpace(readFile("/proc/"+strconv.Itoa(pid)+"/comm")) == "ffmpeg"
}

// bareLadder runs the bare ffmpeg command: the clip read in real time, looping, made into the same
// ladder as nagare's (the source copied, every rung encoded with the same x264 settings, AAC copied) as
// fMP4 HLS with 1 s segments in a directory.
type bareLadder struct {
	bin, clipPath string
	input         string // the clip as the command reads it
	clip          *Clip
	dir           string
	warmup        time.Duration
	log           *slog.Logger
	variants      []ladder.Variant // the rungs encoded
}

// setup makes the ladder and the command's input; cleanup removes what setup made.
func (b *bareLadder) setup(ctx context.Context, res *ABRResult) (cleanup func(), err error) {
	cleanup = func() {}
	w, h := spsSize(b.clip.SPS)
	if b.variants = abrLadder(w, h); len(b.variants) == 0 {
		return cleanup, fmt.Errorf("the clip (%dx%d) is smaller than every rung", w, h)
	}
	res.Rungs = []ABRRung{{Name: ladder.SourceName, Resolution: fmt.Sprintf("%dx%d", w, h)}}
	for _, v := range b.variants {
		res.Rungs = append(res.Rungs, ABRRung{Name: v.Name, Resolution: fmt.Sprintf("%dx%d", v.Width, v.Height), Bandwidth: v.PeakRate()})
	}
	if b.dir == "" {
		dir, err := os.MkdirTemp("", "nagare-bench-abr-")
		if err != nil {
			return cleanup, err
		}
		cleanup = func() { os.RemoveAll(dir) }
		b.dir = dir
	} else if err := os.MkdirAll(b.dir, 0o755); err != nil {
		return cleanup, err
	}
	// the clip copied into MP4: ffmpeg 5.1 loops an MPEG-TS input badly when its ADTS audio goes through the
	// bitstream filter that fMP4 needs (after the first loop, every audio packet fails)
	mp4 := filepath.Join(b.dir, "clip.mp4")
	remux := exec.CommandContext(ctx, b.bin, "-hide_banner", "-loglevel", "error", "-y", "-i", b.clipPath,
		"-map", "0:v:0", "-map", "0:a:0", "-c", "copy", "-f", "mp4", mp4)
	if out, err := remux.CombinedOutput(); err != nil {
		return cleanup, fmt.Errorf("copying the clip into MP4: %w: %s", err, out)
	}
	b.input = mp4
	res.Command = shellJoin(append([]string{"ffmpeg"}, bareLadderArgs("clip.mp4", "DIR", config.Default().Transcode.Preset, b.variants)...))
	return cleanup, nil
}

// plan is the command's windows: the whole ladder for d, and the ladder without each rung for
// rungWindow (none if 0).
func (b *bareLadder) plan(res *ABRResult, d, rungWindow time.Duration) []abrWindow {
	plan := []abrWindow{{config: KindFFmpeg, into: res, d: d, run: func(ctx context.Context, d time.Duration) (ABRUsage, error) {
		st, u, err := b.once(ctx, fmt.Sprintf("all-%d", len(res.Windows)), b.variants, d)
		if err == nil && len(res.Starts) == 0 {
			st.Run = 1
			res.Starts = []ABRStart{st}
		}
		return u, err
	}}}
	if rungWindow <= 0 || len(b.variants) < 2 {
		return plan
	}
	res.RungWindowS = rungWindow.Seconds() * float64(res.Rounds)
	for i, v := range b.variants {
		rest := slices.Delete(slices.Clone(b.variants), i, i+1)
		plan = append(plan, abrWindow{config: KindFFmpeg + " without " + v.Name, into: res, d: rungWindow,
			run: func(ctx context.Context, d time.Duration) (ABRUsage, error) {
				_, u, err := b.once(ctx, fmt.Sprintf("without-%s-%d", v.Name, len(res.Windows)), rest, d)
				return u, err
			}})
	}
	return plan
}

// finish adds up the windows of each configuration.
func (b *bareLadder) finish(res *ABRResult) {
	res.Usage = combineWindows(res.Windows, KindFFmpeg)
	if res.RungWindowS == 0 {
		return
	}
	for _, v := range b.variants {
		res.Without = append(res.Without, ABRWithout{Rung: v.Name, Usage: combineWindows(res.Windows, KindFFmpeg+" without "+v.Name)})
	}
}

// once runs the command for variants into a subdirectory sub, waits until every rung lists a segment
// (start says when), and meters it for d from the warm-up's end.
func (b *bareLadder) once(ctx context.Context, sub string, variants []ladder.Variant, d time.Duration) (ABRStart, ABRUsage, error) {
	dir := filepath.Join(b.dir, sub)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return ABRStart{}, ABRUsage{}, err
	}
	logPath := filepath.Join(dir, "ffmpeg.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return ABRStart{}, ABRUsage{}, err
	}
	defer logf.Close()
	cmd := exec.Command(b.bin, bareLadderArgs(b.input, dir, config.Default().Transcode.Preset, variants)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return ABRStart{}, ABRUsage{}, fmt.Errorf("starting %s: %w", b.bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	failed := func(err error) error {
		return fmt.Errorf("bare ffmpeg (%s): %w: %s", sub, err, strings.ReplaceAll(lastLines(readFile(logPath), 5), "\n", " | "))
	}
	defer interrupt(cmd, exited, 5*time.Second)

	var st ABRStart
	names := append([]string{ladder.SourceName}, variantNames(variants)...)
	ready := make(chan error, 1)
	rctx, cancel := context.WithTimeout(ctx, abrStartTimeout)
	go func() { ready <- waitFiles(rctx, dir, names, t0, &st) }()
	select {
	case err := <-ready:
		cancel()
		if err != nil {
			return st, ABRUsage{}, failed(err)
		}
	case err := <-exited:
		cancel()
		<-ready
		exited <- err
		return st, ABRUsage{}, failed(fmt.Errorf("exited before its ladder was ready (%v)", err))
	}
	st.Run = 1
	if err := sleepCtx(ctx, time.Until(t0.Add(b.warmup))); err != nil {
		return st, ABRUsage{}, err
	}
	u, err := meterTree(ctx, cmd.Process.Pid, d)
	if err != nil {
		return st, u, failed(err)
	}
	select {
	case err := <-exited:
		exited <- err
		return st, u, failed(fmt.Errorf("exited during the window (%v)", err))
	default:
	}
	return st, u, nil
}

// waitFiles polls dir until index.m3u8 lists every variant and each variant's playlist lists a
// segment, and records when in st.
func waitFiles(ctx context.Context, dir string, names []string, t0 time.Time, st *ABRStart) error {
	st.Rungs = make([]ABRRungStart, len(names))
	for i, n := range names {
		st.Rungs[i].Name = n
	}
	for {
		now := time.Now()
		if st.ListedMs == 0 {
			if b, err := os.ReadFile(filepath.Join(dir, "index.m3u8")); err == nil && len(parseVariants(b)) >= len(names) {
				st.ListedMs = ms(now.Sub(t0))
			}
		}
		done := st.ListedMs > 0
		for i := range st.Rungs {
			r := &st.Rungs[i]
			if r.PlayableMs == 0 {
				b, err := os.ReadFile(filepath.Join(dir, r.Name, "stream.m3u8"))
				if pl, perr := ParseMediaPlaylist(b); err == nil && perr == nil && pl.LastSegment() != nil {
					r.PlayableMs = ms(now.Sub(t0))
				}
			}
			if r.PlayableMs == 0 {
				done = false
			}
			st.PlayableMs = max(st.PlayableMs, r.PlayableMs, st.ListedMs)
		}
		if done {
			return nil
		}
		if err := sleepCtx(ctx, abrPoll); err != nil {
			return fmt.Errorf("waiting for the ladder in %s: %w", dir, err)
		}
	}
}

func variantNames(vs []ladder.Variant) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.Name
	}
	return out
}

// bareLadderArgs is the bare command: clip (MP4) read in real time, looping; the source copied as the first
// variant and every rung encoded as nagare's transcoder encodes it (internal/media/transcode ffmpegArgs:
// libx264 with the preset, -tune zerolatency, high profile, no B-frames, keyframes on the source's, the
// source's frame timing, the rung's bit rate and peak); the AAC copied once, as the audio rendition every
// variant shares (nagare's audio group); fMP4 HLS with 1 s segments, 7 in the playlist, into
// dir/<variant>/ (the audio into dir/audio/), the multivariant playlist dir/index.m3u8.
func bareLadderArgs(clip, dir, preset string, variants []ladder.Variant) []string {
	a := []string{"-hide_banner", "-loglevel", "error", "-nostats", "-re", "-stream_loop", "-1", "-i", clip}
	for range 1 + len(variants) {
		a = append(a, "-map", "0:v:0")
	}
	a = append(a, "-map", "0:a:0", "-c:v:0", "copy")
	streams := []string{"a:0,agroup:audio,name:audio", "v:0,agroup:audio,name:" + ladder.SourceName}
	for i, v := range variants {
		s := strconv.Itoa(i + 1)
		peak := strconv.Itoa(v.PeakRate())
		a = append(a, "-c:v:"+s, "libx264", "-filter:v:"+s, fmt.Sprintf("scale=%d:%d", v.Width, v.Height),
			"-preset:v:"+s, preset, "-tune:v:"+s, "zerolatency", "-profile:v:"+s, "high", "-bf:v:"+s, "0",
			"-force_key_frames:v:"+s, "source", "-sc_threshold:v:"+s, "0",
			"-fps_mode:v:"+s, "passthrough", "-enc_time_base:v:"+s, "-1",
			"-b:v:"+s, strconv.Itoa(v.VideoBitrate), "-maxrate:v:"+s, peak, "-bufsize:v:"+s, peak)
		streams = append(streams, fmt.Sprintf("v:%s,agroup:audio,name:%s", s, v.Name))
	}
	return append(a, "-c:a", "copy",
		"-f", "hls", "-hls_segment_type", "fmp4", "-hls_time", "1", "-hls_list_size", "7",
		"-hls_flags", "delete_segments+independent_segments",
		"-var_stream_map", strings.Join(streams, " "), "-master_pl_name", "index.m3u8",
		"-hls_segment_filename", path.Join(dir, "%v", "seg%d.m4s"), path.Join(dir, "%v", "stream.m3u8"))
}

// shellJoin writes args as a shell command line, quoting what needs it.
func shellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.IndexFunc(a, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.,:/=+@%", r))
		}) < 0 {
			out[i] = a
			continue
		}
		out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(out, " ")
}

// abrHeading starts the live ABR section; scripts/bench.sh splices it in like the VOD section.
const abrHeading = "## 12. Live ABR ladder"

// abrResults are the JSON files of the abr phase; any may be missing.
type abrResults struct {
	Nagare, FFmpeg, NginxRTMP *ABRResult
}

func loadABRResults(dir string) (*abrResults, error) {
	r := &abrResults{}
	found := false
	for name, v := range map[string]**ABRResult{"abr-nagare.json": &r.Nagare, "abr-ffmpeg.json": &r.FFmpeg, "abr-nginx-rtmp.json": &r.NginxRTMP} {
		err := readJSON(filepath.Join(dir, name), v)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		found = true
	}
	if !found {
		return nil, fmt.Errorf("no abr-*.json in %s", dir)
	}
	return r, nil
}

// all returns the results present, in the order the phase runs them.
func (r *abrResults) all() []*ABRResult {
	var out []*ABRResult
	for _, x := range []*ABRResult{r.Nagare, r.FFmpeg, r.NginxRTMP} {
		if x != nil {
			out = append(out, x)
		}
	}
	return out
}

// ok returns the starts that did not fail, and how many did.
func (x *ABRResult) ok() (starts []ABRStart, failed int) {
	if x == nil {
		return nil, 0
	}
	for _, s := range x.Starts {
		if s.Error != "" {
			failed++
			continue
		}
		starts = append(starts, s)
	}
	return starts, failed
}

// delayTargetMs is one part plus the slack (a 200 ms part when the playlist said none).
func (x *ABRResult) delayTargetMs() float64 {
	part := 200.0
	if x != nil && x.PartTargetMs > 0 {
		part = x.PartTargetMs
	}
	return part + targetABRDelaySlackMs
}

func (x *ABRResult) cpu() float64 {
	if x == nil {
		return nan()
	}
	return x.Usage.CPUPercent
}

func renderABR(p printer, r *abrResults, m Machine, command string) {
	var loadStart, loadEnd, date string
	var seconds float64
	for _, x := range r.all() {
		if loadStart == "" {
			loadStart = x.LoadStart
		}
		loadEnd, date = x.LoadEnd, x.Date
		if x.Kind != KindFFmpeg || x.Interleaved == "" {
			seconds += x.Seconds // the interleaved bare command ran within the server's command
		}
	}
	ng, bare, nx := r.Nagare, r.FFmpeg, r.NginxRTMP
	window, warmup, runs, rounds, rungWindow := 20.0, 5.0, 3, 2, 10.0
	for _, x := range r.all() {
		window, warmup, rounds = x.DurationS, x.WarmupS, max(1, x.Rounds)
		if x.Kind != KindFFmpeg {
			runs = x.Runs
		} else {
			rungWindow = x.RungWindowS
		}
	}
	interleaved := ng != nil && ng.Interleaved == KindFFmpeg
	rungs := "–"
	if x := r.all(); len(x) > 0 && len(x[0].Rungs) > 0 {
		var names []string
		for _, g := range x[0].Rungs {
			n := g.Name + " " + g.Resolution
			for _, v := range abrLadderRungs() {
				if v.Name == g.Name {
					n += fmt.Sprintf(", %d kbit/s (peak %d)", v.VideoBitrate/1000, v.PeakRate()/1000)
				}
			}
			names = append(names, n)
		}
		rungs = strings.Join(names, "; ")
	}

	p("%s\n\n", abrHeading)
	p("Live transcoding on an origin (`NAGARE_TRANSCODE_ENABLED=true` with the default ladder, docs/abr.md): the\n")
	p("clip is published over RTMP to a `nagare node`, whose one ffmpeg per stream decodes it once and encodes every\n")
	p("rung shorter than the source (libx264 preset veryfast, `-tune zerolatency`, high profile, no B-frames,\n")
	p("keyframes on the source's, the rung's bit rate with a peak of 1.5 ×, AAC copied); its multivariant playlist\n")
	p("lists the source and the renditions as LL-HLS (1 s segments, 200 ms parts). Against it, in the same run, from\n")
	p("the same clip and on the same machine: the **bare ffmpeg command** making the same ladder\n")
	p("(the source copied, the same encodes with the same x264 settings, AAC copied) as fMP4 HLS with 1 s segments,\n")
	p("run by the bench — what transcoding costs at all; and **nginx-rtmp** making it the way its users do\n")
	p("(`scripts/bench/nginx-abr.conf`): `exec ffmpeg` per published stream pulls it back over RTMP, copies the\n")
	p("source and encodes both rungs with the same settings, and pushes the three as FLV to an application with\n")
	p("`hls on`, `hls_nested on`, `hls_fragment 1s` and an `hls_variant` per rung, which writes the master playlist.\n")
	p("Measured in its own phase, whose run is described here.\n\n")
	p("| | |\n|---|---|\n")
	p("| Date | %s |\n", orDash(date))
	p("| Ladder | %s |\n", rungs)
	if interleaved {
		p("| Command | `%s`, which runs `nagare bench abr -kind nagare -runs %d -rounds %d -warmup %.0fs -duration %.0fs -rung-window %.0fs -ffmpeg-out abr-ffmpeg.json` against a node (it runs the bare command itself) and `nagare bench abr -kind nginx-rtmp -runs %d -rounds %d -warmup %.0fs -duration %.0fs` against nginx (the phase's measurements took %.0f s) |\n",
			command, runs, rounds, warmup, window, rungWindow, runs, rounds, warmup, window, seconds)
	} else {
		p("| Command | `%s`, which runs `nagare bench abr` of each kind, `-runs %d -rounds %d -warmup %.0fs -duration %.0fs` (the phase's measurements took %.0f s) |\n",
			command, runs, rounds, warmup, window, seconds)
	}
	p("| CPU | %s, %d logical CPUs (nproc) |\n| Memory | %s |\n| Kernel | %s |\n", m.CPU, m.CPUs, m.Memory, m.Kernel)
	p("| Load average (1, 5, 15 min) | %s at start, %s at end |\n", orDash(loadStart), orDash(loadEnd))
	p("| Tools | ffmpeg %s (libx264), %s with libnginx-mod-rtmp %s |\n\n", m.FFmpeg, m.Nginx, orDash(m.NginxRTMP))

	share := 100 * ng.cpu() / bare.cpu()
	p("| Target | Goal | measured | Verdict |\n|---|---|---|---|\n")
	p("| CPU of the ladder: nagare (the node and its ffmpeg) ÷ the bare ffmpeg command | ≤ %.0f %% | %s %% (%s %% ÷ %s %% of one core) | %s |\n",
		targetABRCPUShare, num(share), num(ng.cpu()), num(bare.cpu()), Verdict(share, targetABRCPUShare, false, " points"))
	if ng != nil {
		for _, d := range ng.Delays {
			p("| %s behind the source at the playlist (p95 of its parts) | ≤ %.0f ms (one part + %.0f ms) | %s ms | %s |\n",
				d.Rung, ng.delayTargetMs(), targetABRDelaySlackMs, num(d.Parts.P95), Verdict(d.Parts.P95, ng.delayTargetMs(), false, " ms"))
		}
	}
	p("\n")

	p("### CPU\n\n")
	p("One stream, no viewer, %.0f s in all per configuration: %d windows of %s s, each from %.0f s after the start\n", window, rounds, num(window/float64(rounds)), warmup)
	p("of a new publication (a new run of the bare command), which ends after it. ")
	if interleaved {
		p("nagare's windows, the bare\n")
		p("command's and those of the bare command without each rung (below) took turns: round 1 in that order, round 2\n")
		p("in the reverse, so that a slow drift of this VM's speed, which repeated runs show, weighs on all alike.\n")
		p("nginx-rtmp's windows came after, in rounds of their own. ")
	} else {
		p("The configurations were measured one\n")
		p("after the other. ")
	}
	p("CPU is from `/proc/<pid>/stat` (utime + stime) of the\n")
	p("server's whole process tree (every descendant: nginx-rtmp's exec'd ffmpeg is a child of its worker), in %% of\n")
	p("one core, split into ffmpeg processes and the server's own; RSS is the tree's at the end of the last window.\n")
	p("nagare's own process receives the RTMP stream, hands it to its ffmpeg over a pipe (MPEG-TS), reads every rung\n")
	p("back and makes LL-HLS of all of them; its second row is the delay window below (every rung's playlist\n")
	p("followed with blocking requests, about five a second per rung). The bare command reads the clip from a file\n")
	p("(no RTMP ingest) and makes classic HLS (no parts). Per stream is the tree's CPU above the same server idle\n")
	p("(2 s after the publish-to-playable runs). Bench is this process's CPU (the publisher, the followers); others,\n")
	p("the rest of the machine's.\n\n")
	p("| | processes | CPU %% of one core | of which the server's own | of which ffmpeg | per stream (above idle) | ÷ the bare command | RSS MiB (of which ffmpeg) | peak RSS MiB | bench CPU %% | others CPU %% |\n")
	p("|---|---|---|---|---|---|---|---|---|---|---|\n")
	type cpuRow struct {
		label string
		x     *ABRResult
		u     *ABRUsage
	}
	rows := []cpuRow{{"nagare: `nagare node` and its ffmpeg", ng, nil}}
	if ng != nil && ng.FollowedUsage != nil {
		rows = append(rows, cpuRow{"nagare, while its playlists were followed (the delay window)", ng, ng.FollowedUsage})
	}
	rows = append(rows, cpuRow{"the bare ffmpeg command (file in, fMP4 HLS out)", bare, nil},
		cpuRow{"nginx-rtmp: nginx and its exec'd ffmpeg", nx, nil})
	for _, row := range rows {
		x := row.x
		if x == nil {
			p("| %s | not measured |\n", row.label)
			continue
		}
		u := x.Usage
		if row.u != nil {
			u = *row.u
		}
		perStream := "–"
		if x.Idle != nil {
			perStream = num(u.CPUPercent - x.Idle.CPUPercent)
		}
		server := num(u.ServerCPUPercent)
		if x.Kind == KindFFmpeg {
			server = "–"
		}
		p("| %s | %d | %s | %s | %s | %s | %s %% | %s (%s) | %s | %s | %s |\n", row.label, u.Processes, num(u.CPUPercent), server,
			num(u.FFmpegCPUPercent), perStream, num(100*u.CPUPercent/bare.cpu()), num(u.RSSMiB), num(u.FFmpegRSSMiB),
			num(u.PeakRSSMiB), num(u.BenchCPUPercent), num(u.OthersCPUPercent))
	}
	p("\n")
	if ng != nil && bare != nil {
		p("nagare's ffmpeg, which makes the renditions only, used %s %% of one core against %s %% for the bare command,\n",
			num(ng.Usage.FFmpegCPUPercent), num(bare.Usage.CPUPercent))
		p("which also copies the source and writes the HLS of all three; nagare's own process (the ingest, the pipes,\n")
		p("LL-HLS of the source and both renditions) used %s %%.", num(ng.Usage.ServerCPUPercent))
		if gap, ffGap := ng.cpu()-bare.cpu(), ng.Usage.FFmpegCPUPercent-bare.cpu(); gap > 0 {
			p(" Of the tree's %s points above the bare command,\n", num(gap))
			p("the node's own process accounts for %s and its ffmpeg for %s (negative: below the bare command): ",
				num(ng.Usage.ServerCPUPercent), num(ffGap))
			if ffGap < ng.Usage.ServerCPUPercent {
				p("the gap is\n")
				p("mostly work of nagare's that the bare command does not do (it receives no stream over the network, writes\n")
				p("no LL-HLS, and makes no rendition into a stream of a server), not how nagare runs its ffmpeg.")
			} else {
				p("the gap is\nmostly in how nagare runs its ffmpeg.")
			}
		}
		p("\n\n")
	}
	renderABRWindows(p, r)
	if bare != nil && len(bare.Without) > 0 {
		p("**Per rung.** One ffmpeg decodes the source once and encodes every rung, so its CPU has no per-rung split;\n")
		p("what a rung costs is measured as the bare command's CPU with the whole ladder minus its CPU with the same\n")
		p("ladder but that rung (%.0f s in all, in the windows above). What remains is shared by the rungs: decoding,\n", bare.RungWindowS)
		p("the source's copy, audio and HLS muxing. nagare's ffmpeg runs the same encodes (its speed, as the node\n")
		p("reports it, is in the next table).\n\n")
		p("| rung | size | bit rate (peak) | the ladder without it, CPU %% | the rung's cost, %% of one core | share of the ladder |\n")
		p("|---|---|---|---|---|---|\n")
		whole, sum := bare.Usage.CPUPercent, 0.0
		for _, w := range bare.Without {
			g := ABRRung{Name: w.Rung}
			for _, x := range bare.Rungs {
				if x.Name == w.Rung {
					g = x
				}
			}
			cost := whole - w.Usage.CPUPercent
			sum += cost
			p("| %s | %s | %s kbit/s | %s | %s | %s %% |\n", w.Rung, orDash(g.Resolution), rate(g), num(w.Usage.CPUPercent), num(cost), num(100*cost/whole))
		}
		p("| shared (the whole ladder − the rungs' costs) | | | | %s | %s %% |\n\n", num(whole-sum), num(100*(whole-sum)/whole))
	}

	p("### Renditions behind the source\n\n")
	if ng == nil || len(ng.Delays) == 0 {
		p("Not measured in this run.\n\n")
	} else {
		p("In a window of %.0f s of its own after nagare's CPU windows (a new stream, the same warm-up), the bench\n", window)
		p("followed the source's and each rendition's media playlist at once with LL-HLS blocking reloads\n")
		p("(`_HLS_msn`/`_HLS_part` asking for the part after the last one listed, which the node answers the moment\n")
		p("that part exists) and recorded when each part and segment was first listed in each. A rendition's part has\n")
		p("the media sequence number and part index of the source's part of the same instant, so its delay is its\n")
		p("listing time minus the source's listing time of the same (MSN, part); what a playlist's first answer\n")
		p("already listed is left out. Missing: parts the source listed (a second or more before the window's end)\n")
		p("that the rendition never did; unmatched: the reverse. Speed and delay in ffmpeg are the node's own figures\n")
		p("at the window's end (`/api/v1/stats` `transcode[]`: media made per wall-clock time over 2 s, and the rung's\n")
		p("latest frame behind the latest source frame given to ffmpeg). Part target: %s ms.\n\n", num(ng.PartTargetMs))
		p("| rung | parts compared | median ms | p95 ms | max ms | segments compared | median ms | p95 ms | missing | unmatched | speed | delay in ffmpeg ms | target |\n")
		p("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, d := range ng.Delays {
			speed, inFF := "–", "–"
			if t := ng.Transcode; t != nil {
				for _, tr := range t.Rungs {
					if tr.Name == d.Rung {
						speed, inFF = num(tr.Speed), num(float64(tr.DelayNs)/1e6)
					}
				}
			}
			p("| %s | %d | %s | %s | %s | %d | %s | %s | %d | %d | %s | %s | p95 ≤ %.0f ms: %s |\n", d.Rung, d.Parts.N, num(d.Parts.Median),
				num(d.Parts.P95), num(d.Parts.Max), d.Segments.N, num(d.Segments.Median), num(d.Segments.P95), d.Missing, d.Unmatched,
				speed, inFF, ng.delayTargetMs(), Verdict(d.Parts.P95, ng.delayTargetMs(), false, " ms"))
		}
		p("\n")
		if t := ng.Transcode; t != nil && (t.Restarts > 0 || t.Dropped > 0 || !t.Running) {
			p("The transcoding of the delay window's stream had %s and %s lost because ffmpeg did not keep\n",
				plural(float64(t.Restarts), "restart"), plural(float64(t.Dropped), "source unit"))
			p("up (running at the end: %v).\n\n", t.Running)
		}
	}

	p("### Publish to playable\n\n")
	p("Each run publishes a new stream (the bench's publisher, from the clip, in real time) and polls every %.0f ms,\n", float64(abrPoll/time.Millisecond))
	p("from the publisher starting to connect: the ladder is listed when the multivariant playlist (nginx-rtmp: the\n")
	p("master playlist `<stream>.m3u8`) lists every rung; playable when, besides, every rung's media playlist has\n")
	p("answered a plain GET with a part (nagare) or a segment (nginx-rtmp). A plain request for a stream that has\n")
	p("no complete segment yet is held by nagare until it has one (section 1), as classic players need; an LL-HLS player's\n")
	p("blocking request for the first part (`_HLS_msn=0&_HLS_part=0`) is answered as soon as the part exists: the\n")
	p("last columns. The runs of a server follow each other a second apart. The bare command's row is its own start\n")
	p("(no ingest: ffmpeg reading the file), from its start to the files listing a segment, for reference.\n\n")
	p("| server | runs (failed) | ladder listed, median ms | every rung playable (plain GET), median ms | min ms | max ms | every rung's first part (blocking request), median ms | min ms | max ms |\n")
	p("|---|---|---|---|---|---|---|---|---|\n")
	for _, row := range []struct {
		label string
		x     *ABRResult
	}{{"nagare", ng}, {"nginx-rtmp (exec ffmpeg, hls_variant)", nx}, {"the bare ffmpeg command (from the file)", bare}} {
		starts, failed := row.x.ok()
		if row.x == nil {
			continue
		}
		vals := func(f func(ABRStart) float64) (med, lo, hi float64) {
			vs := make([]float64, 0, len(starts))
			for _, s := range starts {
				vs = append(vs, f(s))
			}
			slices.Sort(vs)
			if len(vs) == 0 {
				return nan(), nan(), nan()
			}
			return Percentile(vs, 50), vs[0], vs[len(vs)-1]
		}
		lm, _, _ := vals(func(s ABRStart) float64 { return s.ListedMs })
		pm, plo, phi := vals(func(s ABRStart) float64 { return s.PlayableMs })
		fp := "– | – | –"
		if row.x.Kind == KindNagare {
			fm, flo, fhi := vals(func(s ABRStart) float64 { return s.FirstPartMs })
			fp = fmt.Sprintf("%s | %s | %s", num(fm), num(flo), num(fhi))
		}
		p("| %s | %d (%d) | %s | %s | %s | %s | %s |\n", row.label, len(starts), failed, num(lm), num(pm), num(plo), num(phi), fp)
	}
	p("\n")
	var failures []string
	for _, x := range r.all() {
		for _, s := range x.Starts {
			if s.Error != "" {
				failures = append(failures, fmt.Sprintf("%s run %d: %s", x.Kind, s.Run, s.Error))
			}
		}
	}
	for _, f := range failures {
		p("- %s\n", f)
	}
	if len(failures) > 0 {
		p("\n")
	}

	if bare != nil && bare.Command != "" {
		p("The bare command (`DIR` a temporary directory; `clip.mp4` the clip copied into MP4 with `ffmpeg -i clip.ts\n")
		p("-c copy clip.mp4`, because ffmpeg 5.1 loops an MPEG-TS input badly when its ADTS audio goes through the\n")
		p("bitstream filter fMP4 needs; the bench runs it with the ladder's rungs, and again without each rung for the\n")
		p("per-rung figures):\n\n")
		p("```sh\n%s\n```\n\n", bare.Command)
	}
	var busy []string
	for _, x := range r.all() {
		if x.Usage.OthersCPUPercent > othersLimit {
			busy = append(busy, fmt.Sprintf("%s (%s %%)", x.Kind, num(x.Usage.OthersCPUPercent)))
		}
	}
	if len(busy) > 0 {
		p("Other processes used a noticeable share of the CPUs (\"others\" above %.0f %% of one core) during the windows of\n", othersLimit)
		p("%s: those figures are less reliable than the rest.\n\n", strings.Join(busy, ", "))
	}
	p("Raw results: `.cache/bench/last-run/abr-nagare.json`, `abr-ffmpeg.json` and `abr-nginx-rtmp.json`.\n")
}

// renderABRWindows lists every CPU window by configuration and round, in % of one core.
func renderABRWindows(p printer, r *abrResults) {
	rounds := 0
	var configs []string
	byConfig := map[string]map[int]ABRUsage{}
	for _, x := range r.all() {
		for _, w := range x.Windows {
			if byConfig[w.Config] == nil {
				configs = append(configs, w.Config)
				byConfig[w.Config] = map[int]ABRUsage{}
			}
			byConfig[w.Config][w.Round] = w.Usage
			rounds = max(rounds, w.Round)
		}
	}
	if rounds < 2 {
		return
	}
	p("Every window, CPU %% of one core (others' CPU in parentheses):\n\n| configuration |")
	for i := 1; i <= rounds; i++ {
		p(" round %d |", i)
	}
	p(" all |\n|---|")
	for range rounds + 1 {
		p("---|")
	}
	p("\n")
	for _, c := range configs {
		var all []ABRWindow
		p("| %s |", c)
		for i := 1; i <= rounds; i++ {
			u, ok := byConfig[c][i]
			if !ok {
				p(" – |")
				continue
			}
			p(" %s (%s) |", num(u.CPUPercent), num(u.OthersCPUPercent))
			all = append(all, ABRWindow{Round: i, Config: c, Usage: u})
		}
		p(" %s |\n", num(combineWindows(all, c).CPUPercent))
	}
	p("\n")
}

// rate writes a rung's bit rate in kbit/s with its peak; the source's is not set.
func rate(g ABRRung) string {
	for _, v := range abrLadderRungs() {
		if v.Name == g.Name {
			return fmt.Sprintf("%d (%d)", v.VideoBitrate/1000, v.PeakRate()/1000)
		}
	}
	return "–"
}

// abrLadderRungs are the rungs of nagare's default ladder.
func abrLadderRungs() []ladder.Rung { return config.Default().Transcode.Ladder().Rungs }
