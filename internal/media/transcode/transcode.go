// Package transcode makes the adaptive ladder of live streams. One ffmpeg per source stream decodes it
// once and encodes every rung of the ladder (libx264, no B-frames, keyframes forced on the source's,
// the source's timestamps and frame rate kept); each rung comes back as a stream of its own,
// <app>/<stream>_<rung>, marked as a rendition of the source, which the HLS muxer segments in step with
// the source (segmenter.Cuts) and lists in the source's multivariant playlist. The source itself is the
// top rung, untouched.
package transcode

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nagare-video/nagare/internal/media/stream"
	"github.com/nagare-video/nagare/internal/rawio"
	"github.com/nagare-video/nagare/internal/vod/ladder"
)

// Config is what a Transcoder needs.
type Config struct {
	// Streams selects the streams transcoded: "app/stream", "app/*" or "*" (none = every stream).
	Streams []string
	// Ladder is the rungs below the source. Rungs as tall as the source or taller are left out (the
	// source is the top rung; nothing is upscaled). The rungs are video only: the ladder's audio is the
	// source's, which the HLS muxer splits out as the one audio rendition every variant plays
	// (AudioBitrate is not used).
	Ladder ladder.Ladder
	FFmpeg string // the ffmpeg binary
	Preset string // libx264's preset ("" = veryfast)
	// QueueLen bounds the source units waiting for ffmpeg; beyond it they are dropped and counted.
	QueueLen int
	// Stall is how long ffmpeg may take input without writing a frame before it is killed as hung
	// (0 = 10 s).
	Stall time.Duration
	// LadderOf, if set, returns the ladder provisioned for a stream (found false: Ladder applies). It
	// is asked once per publication, before ffmpeg starts; an error also leaves Ladder in force.
	LadderOf func(ctx context.Context, p stream.Path) (l ladder.Ladder, found bool, err error)
	Log      *slog.Logger
}

// registry is where renditions are published.
type registry interface {
	Publish(req stream.PublishRequest) (*stream.Stream, error)
	Unpublish(s *stream.Stream)
}

// Transcoder runs a job per selected stream. It implements stream.Listener.
type Transcoder struct {
	cfg Config
	reg registry
	log *slog.Logger

	mu     sync.Mutex
	jobs   map[*stream.Stream]*job
	closed bool
	wg     sync.WaitGroup
}

var _ stream.Listener = (*Transcoder)(nil)

// New returns a transcoder publishing renditions to reg.
func New(cfg Config, reg registry) (*Transcoder, error) {
	if err := cfg.Ladder.Validate(); err != nil {
		return nil, err
	}
	if cfg.FFmpeg == "" {
		cfg.FFmpeg = "ffmpeg"
	}
	if cfg.Preset == "" {
		cfg.Preset = "veryfast"
	}
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = 1024
	}
	if cfg.Stall <= 0 {
		cfg.Stall = 10 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Transcoder{cfg: cfg, reg: reg, log: cfg.Log, jobs: map[*stream.Stream]*job{}}, nil
}

// Selects reports whether streams at p are transcoded.
func (t *Transcoder) Selects(p stream.Path) bool { return p.MatchesAny(t.cfg.Streams) }

// StreamStarted starts transcoding st if it is selected (a rendition never is).
func (t *Transcoder) StreamStarted(st *stream.Stream) {
	if st.Rendition != nil || !t.Selects(st.Path) {
		return
	}
	// ffmpeg is given the video alone (the rungs are video only): the audio's units would only wake the
	// job's goroutine
	reader := st.AddTrackReader("transcode", t.cfg.QueueLen, videoOf(st))
	if reader == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	j := &job{t: t, src: st, reader: reader, cancel: cancel,
		finished: make(chan struct{}), log: t.log.With("stream", st.Path.String())}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		cancel()
		st.RemoveReader(reader)
		return
	}
	t.jobs[st] = j
	t.wg.Add(1)
	t.mu.Unlock()
	go func() {
		defer t.wg.Done()
		j.run(ctx)
	}()
}

// endWait bounds how long the end of a source waits for ffmpeg to turn it into the end of every
// rendition: an ffmpeg slower than real time still has seconds of the source before it, and the feed
// blocks writing into its full stdin; past the bound ffmpeg is killed (the renditions end at once).
const endWait = 5 * time.Second

// StreamEnded stops st's job, once ffmpeg has turned the end of the source into the end of every
// rendition, or endWait later.
func (t *Transcoder) StreamEnded(st *stream.Stream) {
	t.mu.Lock()
	j := t.jobs[st]
	delete(t.jobs, st)
	t.mu.Unlock()
	if j == nil {
		return
	}
	select {
	case <-j.finished:
	case <-time.After(endWait):
		j.ending.Store(true)
		j.log.Warn("ffmpeg had not ended the renditions after the source ended: killed", "waited", endWait.String())
		j.kill()
		<-j.finished
	}
}

// Close stops every job and waits for them.
func (t *Transcoder) Close() {
	t.mu.Lock()
	t.closed = true
	for _, j := range t.jobs {
		j.cancel()
	}
	t.mu.Unlock()
	t.wg.Wait()
}

// Stats returns what every job is doing, by source stream.
func (t *Transcoder) Stats() []JobStats {
	t.mu.Lock()
	jobs := make([]*job, 0, len(t.jobs))
	for _, j := range t.jobs {
		jobs = append(jobs, j)
	}
	t.mu.Unlock()
	out := make([]JobStats, 0, len(jobs))
	for _, j := range jobs {
		out = append(out, j.stats())
	}
	slices.SortFunc(out, func(a, b JobStats) int { return strings.Compare(a.Stream, b.Stream) })
	return out
}

// JobStats is what the transcoding of one source is doing.
type JobStats struct {
	Stream   string      `json:"stream"`
	Running  bool        `json:"running"` // ffmpeg is up
	Restarts uint64      `json:"restarts"`
	Dropped  uint64      `json:"dropped"` // source units lost because ffmpeg did not keep up
	Rungs    []RungStats `json:"rungs"`
}

// job transcodes one source stream for as long as it is live, restarting ffmpeg when it fails.
type job struct {
	t      *Transcoder
	src    *stream.Stream
	reader *stream.Reader
	cancel context.CancelFunc
	log    *slog.Logger

	finished chan struct{} // closed when run returns

	ladder   ladder.Ladder // this publication's: provisioned, or the configuration's
	restarts atomic.Uint64
	running  atomic.Bool
	ending   atomic.Bool  // the source ended and ffmpeg was killed for being slow to end: no restart
	lastIn   atomic.Int64 // the latest presentation time handed to ffmpeg

	mu    sync.Mutex
	rungs []*rung
	proc  *os.Process
}

// kill ends the ffmpeg of the moment (a rendition asked to stop, a hang).
func (j *job) kill() {
	j.mu.Lock()
	p := j.proc
	j.mu.Unlock()
	if p != nil {
		_ = p.Kill()
	}
}

func (j *job) stats() JobStats {
	s := JobStats{Stream: j.src.Path.String(), Running: j.running.Load(), Restarts: j.restarts.Load(), Dropped: j.reader.Dropped()}
	j.mu.Lock()
	rungs := j.rungs
	j.mu.Unlock()
	lastIn := time.Duration(j.lastIn.Load())
	for _, r := range rungs {
		r.mu.Lock()
		rs := RungStats{Name: r.variant.Name, Stream: r.path.String(), Width: r.variant.Width, Height: r.variant.Height,
			Speed: r.speed, Delay: max(0, lastIn-r.lastPTS)}
		r.mu.Unlock()
		s.Rungs = append(s.Rungs, rs)
	}
	return s
}

// Backoff bounds between ffmpeg restarts; a run that lasted healthyRun resets it.
const (
	minBackoff = 500 * time.Millisecond
	maxBackoff = 30 * time.Second
	healthyRun = 30 * time.Second
)

// errResized ends a run when the source's picture size changes: the ladder is made again for the new
// size, and the renditions start again (a new publication each: players see a discontinuity).
var errResized = errors.New("the source's picture size changed")

// errNoLadder is returned for a source whose renditions cannot be named (its name is too long for
// <name>_<rung>): trying again would not help.
var errNoLadder = errors.New("no ladder for this stream")

// errSourceEnded ends a run when the source stream ended.
var errSourceEnded = errors.New("the source ended")

func (j *job) run(ctx context.Context) {
	defer close(j.finished)
	defer j.src.RemoveReader(j.reader)
	units := j.reader.Units()
	j.ladder = j.t.ladderFor(ctx, j.src.Path, j.log)
	backoff := minBackoff
	var first *stream.Unit // the keyframe the next run starts with
	for {
		if first == nil {
			var ok bool
			if first, ok = j.nextKeyframe(ctx, units); !ok {
				return
			}
		}
		started := time.Now()
		next, err := j.once(ctx, first, units)
		first = next
		switch {
		case errors.Is(err, errSourceEnded), ctx.Err() != nil, j.ending.Load():
			return
		case errors.Is(err, errNoVideo), errors.Is(err, errNoLadder):
			j.log.Info("not transcoded", "cause", err)
			drain(ctx, units)
			return
		case errors.Is(err, errResized):
			j.log.Info("source resized: ladder made again", "cause", err)
			continue
		}
		j.restarts.Add(1)
		if time.Since(started) >= healthyRun {
			backoff = minBackoff
		}
		j.log.Warn("ffmpeg failed: restarting", "cause", err, "in", backoff.String(), "restarts", j.restarts.Load())
		if !j.sleep(ctx, units, backoff) {
			return
		}
		backoff = min(2*backoff, maxBackoff)
		first = nil
	}
}

// drain takes the units of a stream that is not transcoded until it ends or ctx is done.
func drain(ctx context.Context, units <-chan *stream.Unit) {
	for {
		select {
		case _, ok := <-units:
			if !ok {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// videoOf returns the first video track of st (nil if it has none).
func videoOf(st *stream.Stream) *stream.Track {
	for _, t := range st.Tracks {
		if t != nil && t.Codec != nil && t.Codec.IsVideo() {
			return t
		}
	}
	return nil
}

// nextKeyframe drops units until a video keyframe, which it returns.
func (j *job) nextKeyframe(ctx context.Context, units <-chan *stream.Unit) (*stream.Unit, bool) {
	video := videoOf(j.src)
	for {
		select {
		case u, ok := <-units:
			if !ok {
				return nil, false
			}
			if video == nil {
				return u, true // once: the run finds there is no video to transcode
			}
			if u.Track == video && (stream.IsH264RandomAccess(u.Payload) || stream.IsH265RandomAccess(u.Payload)) {
				return u, true
			}
		case <-ctx.Done():
			return nil, false
		}
	}
}

// sleep waits d, draining the source meanwhile; false if the source ended or ctx is done.
func (j *job) sleep(ctx context.Context, units <-chan *stream.Unit, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case _, ok := <-units:
			if !ok {
				return false
			}
		case <-timer.C:
			return true
		case <-ctx.Done():
			return false
		}
	}
}

// once runs ffmpeg from the keyframe first until it fails, the source ends or ctx is done. It returns
// the unit the next run should start with when it knows it (a keyframe of a new size).
func (j *job) once(ctx context.Context, first *stream.Unit, units <-chan *stream.Unit) (*stream.Unit, error) {
	probe, err := newInput(io.Discard, j.src.Tracks)
	if err != nil {
		return nil, err
	}
	w, h, fps := probe.picture(first)
	if w == 0 || h == 0 {
		return nil, errors.New("the source's picture size cannot be read from its parameter sets")
	}
	variants := variantsOf(j.ladder, w, h)
	if len(variants) == 0 {
		j.log.Info("the source is smaller than every rung: not transcoded", "size", fmt.Sprintf("%dx%d", w, h))
		drain(ctx, units)
		return nil, errSourceEnded
	}
	args := ffmpegArgs(j.t.cfg.Preset, variants, fps)

	rungs := make([]*rung, len(variants))
	readers := make([]*os.File, len(variants))
	writers := make([]*os.File, len(variants))
	defer func() {
		for _, f := range slices.Concat(readers, writers) {
			if f != nil {
				f.Close()
			}
		}
	}()
	for i, v := range variants {
		p, err := stream.RenditionPath(j.src.Path, v.Name)
		if err != nil {
			return nil, fmt.Errorf("%w: rendition %s of %s: %w", errNoLadder, v.Name, j.src.Path, err)
		}
		rungs[i] = &rung{variant: v, path: p, bandwidth: v.PeakRate()}
		if readers[i], writers[i], err = os.Pipe(); err != nil {
			return nil, fmt.Errorf("pipe: %w", err)
		}
	}

	cmd := exec.Command(j.t.cfg.FFmpeg, args...)
	cmd.ExtraFiles = writers
	ffmpegIn, stdin, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("ffmpeg stdin: %w", err)
	}
	defer stdin.Close()
	cmd.Stdin = ffmpegIn
	stderr, err := cmd.StderrPipe()
	if err != nil {
		ffmpegIn.Close()
		return nil, fmt.Errorf("ffmpeg stderr: %w", err)
	}
	err = cmd.Start()
	ffmpegIn.Close() // ffmpeg has its copy
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", j.t.cfg.FFmpeg, err)
	}
	for i := range writers {
		writers[i].Close()
		writers[i] = nil
	}
	j.mu.Lock()
	j.proc, j.rungs = cmd.Process, rungs
	j.mu.Unlock()
	j.running.Store(true)
	defer j.running.Store(false)
	sizes := make([]string, len(variants))
	for i, v := range variants {
		sizes[i] = fmt.Sprintf("%s %dx%d %dk", v.Name, v.Width, v.Height, v.VideoBitrate/1000)
	}
	j.log.Info("transcoding", "source", fmt.Sprintf("%dx%d", w, h), "rungs", strings.Join(sizes, ", "))

	tail := newStderrTail(stderr, j.log)
	var outputs sync.WaitGroup
	for i, rg := range rungs {
		r := raw(readers[i])
		outputs.Go(func() {
			if err := j.read(rg, r); err != nil {
				j.log.Warn("rendition ended", "rung", rg.variant.Name, "cause", err)
				j.kill() // the others would go on without it: start again whole
			}
		})
	}
	var exitErr error
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		outputs.Wait()
		<-tail.done
		exitErr = cmd.Wait()
	}()
	// the watchdog kills an ffmpeg that takes input and makes nothing: a write to its full stdin would
	// otherwise block for good
	var hung atomic.Value
	stopWatch := make(chan struct{})
	defer close(stopWatch)
	go j.watch(rungs, time.Now(), &hung, stopWatch)

	feedErr := j.feed(ctx, first, units, raw(stdin), w, h, exited)
	stdin.Close()
	var next *stream.Unit
	if re, ok := feedErr.(resized); ok {
		next, feedErr = re.first, errResized
	}
	if errors.Is(feedErr, errSourceEnded) || errors.Is(feedErr, errResized) || ctx.Err() != nil {
		// the end of the input ends ffmpeg, which ends every rendition; one that does not is killed
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			j.kill()
			<-exited
		}
		if ctx.Err() != nil {
			return nil, errSourceEnded
		}
		return next, feedErr
	}
	j.kill()
	<-exited
	if h, ok := hung.Load().(string); ok {
		feedErr = fmt.Errorf("ffmpeg hung (%s): %w", h, feedErr)
	}
	return nil, tail.err(errors.Join(feedErr, exitErr))
}

// raw reads or writes f, an end of a pipe to ffmpeg, with raw system calls where it can (rawio): a
// rendition arrives in many small writes, and the source leaves in one a frame; each of them made as an
// ordinary system call wakes the runtime's monitor, which then polls for a while.
func raw(f *os.File) io.ReadWriter {
	if c := rawio.NewFile(f); c != nil {
		return c
	}
	return f
}

// watch kills ffmpeg, saying why in hung, when a rung makes nothing for the stall period; it returns
// when stop is closed.
func (j *job) watch(rungs []*rung, started time.Time, hung *atomic.Value, stop <-chan struct{}) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if s := j.stalled(rungs, started); s != "" {
				hung.Store(s)
				j.kill()
				return
			}
		case <-stop:
			return
		}
	}
}

// resized carries the keyframe of the new size out of feed.
type resized struct{ first *stream.Unit }

func (resized) Error() string { return errResized.Error() }

// feed writes the source to ffmpeg from first on until the source ends (errSourceEnded), its size
// changes (resized), ffmpeg exits, or ctx is done.
func (j *job) feed(ctx context.Context, first *stream.Unit, units <-chan *stream.Unit, stdin io.Writer, w, h int,
	exited <-chan struct{}) error {
	// video only: the rungs have no audio of their own
	in, err := newInput(bufio.NewWriterSize(stdin, 64<<10), slices.DeleteFunc(slices.Clone(j.src.Tracks), func(t *stream.Track) bool {
		switch t.Codec.(type) {
		case *stream.H264, *stream.H265:
			return false
		}
		return true
	}))
	if err != nil {
		return err
	}
	bw := in.w.W.(*bufio.Writer)
	write := func(u *stream.Unit) error {
		if err := in.write(u); err != nil {
			if errors.Is(err, io.ErrClosedPipe) || errors.Is(err, os.ErrClosed) {
				return fmt.Errorf("ffmpeg stopped reading: %w", err)
			}
			j.log.Debug("source unit not given to ffmpeg", "cause", err)
			return nil
		}
		if u.Track == in.video {
			j.lastIn.Store(int64(u.PTS))
		}
		return nil
	}
	if err := write(first); err != nil {
		return err
	}
	for {
		select {
		case u, ok := <-units:
			if !ok {
				return errors.Join(errSourceEnded, bw.Flush())
			}
			if in.keyframe(u) {
				if nw, nh := in.size(u); nw != 0 && (nw != w || nh != h) {
					return resized{first: u}
				}
			}
			if err := write(u); err != nil {
				return err
			}
			if len(units) == 0 {
				// nothing more waiting: what there is goes to ffmpeg now
				if err := bw.Flush(); err != nil {
					return fmt.Errorf("ffmpeg stopped reading: %w", err)
				}
			}
		case <-exited:
			return errors.New("ffmpeg exited")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// stalled names a rung that wrote nothing for the stall period while the source went on ("" if none).
func (j *job) stalled(rungs []*rung, started time.Time) string {
	now := time.Now()
	for _, r := range rungs {
		last := started
		if ns := r.lastOut.Load(); ns != 0 {
			last = time.Unix(0, ns)
		}
		if now.Sub(last) > j.t.cfg.Stall {
			return fmt.Sprintf("rung %s wrote nothing for %s", r.variant.Name, now.Sub(last).Round(time.Second))
		}
	}
	return ""
}

// ladderFor returns the ladder of a publication of p: the one provisioned for it, when there is one and
// it is sound, else the configuration's.
func (t *Transcoder) ladderFor(ctx context.Context, p stream.Path, log *slog.Logger) ladder.Ladder {
	if t.cfg.LadderOf == nil {
		return t.cfg.Ladder
	}
	ctx, cancel := context.WithTimeout(ctx, provisionWait)
	defer cancel()
	l, found, err := t.cfg.LadderOf(ctx, p)
	switch {
	case err != nil:
		log.Warn("the provisioned ladder could not be read: the configured one applies", "cause", err)
		return t.cfg.Ladder
	case !found:
		return t.cfg.Ladder
	}
	if l.AudioBitrate == 0 {
		l.AudioBitrate = t.cfg.Ladder.AudioBitrate
	}
	l.Passthrough = t.cfg.Ladder.Passthrough
	if err := l.Validate(); err != nil {
		log.Warn("the provisioned ladder is not usable: the configured one applies", "cause", err)
		return t.cfg.Ladder
	}
	log.Info("provisioned ladder", "rungs", len(l.Rungs))
	return l
}

// provisionWait bounds the question to the manager for a stream's ladder.
const provisionWait = 3 * time.Second

// variantsOf returns the rungs of l a source of w x h gets: with l.Passthrough, those shorter than the
// source (which is itself the top rung, at its own size); without, those as tall as the source too.
// None is ever taller.
func variantsOf(l ladder.Ladder, w, h int) []ladder.Variant {
	short := min(w, h)
	var out []ladder.Variant
	for _, v := range l.For(w, h) {
		if v.Name == ladder.SourceName || v.Rung.Height > short || (l.Passthrough && v.Rung.Height == short) {
			continue
		}
		out = append(out, v)
	}
	return out
}

// ffmpegArgs decodes the MPEG-TS on stdin (the source's video) once and writes rung i, video only, as
// MPEG-TS to file descriptor 3+i. Timestamps are copied (-copyts, passthrough frame timing) and every
// rung's keyframes are forced on the source's, so that the renditions line up with the source part for
// part.
func ffmpegArgs(preset string, variants []ladder.Variant, srcFPS float64) []string {
	a := []string{
		"-hide_banner", "-loglevel", "warning", "-nostats",
		// start at once: the input's tracks are declared by its PMT. (-fflags nobuffer would drop what
		// the probe read: the first GOP's video.)
		"-probesize", "65536", "-analyzeduration", "500000",
		"-copyts", "-f", "mpegts", "-i", "pipe:0",
	}
	for i, v := range variants {
		filter, rate := videoFilter(v, srcFPS)
		if rate > 0 {
			// the rate the stream announces (frames keep their times: passthrough)
			a = append(a, "-r:v", strconv.FormatFloat(rate, 'f', -1, 64))
		}
		a = append(a, "-map", "0:v:0", "-an")
		a = append(a,
			"-c:v", "libx264", "-preset", preset, "-tune", "zerolatency", "-profile:v", "high", "-bf", "0",
			"-force_key_frames", "source", "-sc_threshold", "0",
			// the frames keep their times: passthrough timing, and the encoder on the input's 90 kHz clock
			// (its default, 1/frame rate, would round every time onto a grid of its own)
			"-vf", filter, "-fps_mode", "passthrough", "-enc_time_base:v", "-1",
			"-b:v", strconv.Itoa(v.VideoBitrate), "-maxrate", strconv.Itoa(v.PeakRate()),
			"-bufsize", strconv.Itoa(v.PeakRate()),
		)
		// every packet goes out at once (-flush_packets 1), so every PES is a write to the pipe and a
		// wake-up of its reader in the node; -mpegts_copyts keeps the mux delay from being added to
		// every time.
		a = append(a, "-muxdelay", "0.1", "-mpegts_copyts", "1", "-muxpreload", "0", "-flush_packets", "1", "-f", "mpegts",
			"pipe:"+strconv.Itoa(3+i))
	}
	return a
}

// videoFilter scales to the rung's size and, for a rung whose frame rate is capped below the source's
// (srcFPS, 0 when unknown), keeps one frame in k, k the least whole number that brings the rate to the
// cap, and every keyframe: frames keep the source's times (never re-timed onto a grid of another rate),
// so that segments still start on the source's keyframes. rate is the capped rate (0: the source's).
func videoFilter(v ladder.Variant, srcFPS float64) (filter string, rate float64) {
	scale := fmt.Sprintf("scale=%d:%d", v.Width, v.Height)
	if v.FrameRate <= 0 || srcFPS <= 0 || srcFPS <= v.FrameRate {
		return scale, 0
	}
	k := int(math.Ceil(srcFPS/v.FrameRate - 1e-9))
	if k < 2 {
		return scale, 0
	}
	return fmt.Sprintf("select=eq(pict_type\\,I)+not(mod(n\\,%d)),%s", k, scale), srcFPS / float64(k)
}

// stderrTail logs ffmpeg's stderr lines and keeps the last few for the error of a failed run.
type stderrTail struct {
	mu    sync.Mutex
	lines []string
	done  chan struct{}
}

const stderrKept = 5

func newStderrTail(r io.Reader, log *slog.Logger) *stderrTail {
	t := &stderrTail{done: make(chan struct{})}
	go func() {
		defer close(t.done)
		sc := bufio.NewScanner(r)
		n := 0
		for sc.Scan() {
			line := sc.Text()
			n++
			if n <= 20 || n%100 == 0 { // a chatty ffmpeg must not flood the log
				log.Warn("ffmpeg", "line", line)
			}
			t.mu.Lock()
			t.lines = append(t.lines, line)
			if len(t.lines) > stderrKept {
				t.lines = t.lines[1:]
			}
			t.mu.Unlock()
		}
	}()
	return t
}

// err adds the last lines of stderr to ffmpeg's exit error.
func (t *stderrTail) err(exit error) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.lines) == 0 {
		return exit
	}
	return fmt.Errorf("%w (ffmpeg: %s)", exit, strings.Join(t.lines, " | "))
}
