// Package transcode turns a local video file into adaptive HLS, an MP4, a poster and a storyboard with
// ffmpeg.
package transcode

import (
	"context"
	"fmt"
	"image/jpeg"
	"io"
	"log/slog"
	"math"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nagare-video/nagare/internal/vod/ladder"
)

// Names of the files Process writes in its output directory.
const (
	HLSDir         = "hls"
	MasterPlaylist = "hls/index.m3u8"
	MP4File        = "video.mp4"
	PosterFile     = "poster.jpg"
	StoryboardJPEG = "storyboard.jpg"
	StoryboardVTT  = "storyboard.vtt"
)

// Options configures Process. The zero value works with ffmpeg and ffprobe in PATH.
type Options struct {
	FFmpeg, FFprobe string // default "ffmpeg", "ffprobe"
	// Ladder is the renditions to offer; a ladder without rungs is ladder.Default().
	Ladder ladder.Ladder
	// SegmentDuration is the HLS segments' duration, where every rendition has a keyframe; default 4s.
	SegmentDuration time.Duration
	// Threads is the number of threads of the decoder and of each encoder (not a total); 0 lets ffmpeg
	// choose.
	Threads int
	// Preset is libx264's preset; default "veryfast".
	Preset string
	// StallTimeout ends ffmpeg with ErrStalled when its output's time has not advanced for that long;
	// default 5 minutes (writing a large MP4's index at the end advances nothing for a while).
	StallTimeout time.Duration
	Log          *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.FFmpeg == "" {
		o.FFmpeg = "ffmpeg"
	}
	if o.FFprobe == "" {
		o.FFprobe = "ffprobe"
	}
	if len(o.Ladder.Rungs) == 0 {
		o.Ladder = ladder.Default()
	}
	if o.SegmentDuration <= 0 {
		o.SegmentDuration = 4 * time.Second
	}
	if o.Preset == "" {
		o.Preset = "veryfast"
	}
	if o.StallTimeout <= 0 {
		o.StallTimeout = 5 * time.Minute
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return o
}

// Result is what Process made.
type Result struct {
	Info Info
	// Renditions are the HLS renditions, the largest first.
	Renditions []Rendition
	// MP4 says video.mp4 was written (always, when Process succeeds); MP4Remuxed says it is the source's
	// own H.264 (and AAC) copied, not an encode of the top rendition.
	MP4        bool
	MP4Remuxed bool
	// PosterErr says why poster.jpg was not made, StoryboardErr why storyboard.jpg and storyboard.vtt were
	// not; nil when they were. A video plays without them, so their failure is not Process's.
	PosterErr, StoryboardErr error
	// Files is every file written, relative to the output directory, slash-separated, sorted.
	Files []string
}

// Rendition is one HLS rendition.
type Rendition struct {
	Name          string
	Width, Height int
	// Bandwidth is the peak bit rate (HLS's BANDWIDTH: the highest rate of any run of segments lasting
	// half to one and a half target durations); AverageBandwidth is the whole playlist's rate.
	Bandwidth        int
	AverageBandwidth int
	// Codecs is the RFC 6381 list of the rendition's codecs ("avc1.64001f,mp4a.40.2").
	Codecs    string
	FrameRate float64
	// Playlist is the media playlist's path relative to the output directory ("hls/720p/index.m3u8").
	Playlist string
}

// Process transcodes the local file src into outDir:
//
//   - hls/index.m3u8, a multivariant playlist, and hls/<rung>/index.m3u8 with init.mp4 and .m4s
//     segments: one VOD fMP4 rendition per variant of the ladder (never upscaled), all encoded by one
//     ffmpeg that decodes the source once and forces keyframes on the same segment boundaries (with
//     B-frames only when every rendition has the same frame rate: they delay each rendition's start by
//     two of its frames);
//   - video.mp4 (moov first): the source's streams copied when they are H.264 (8-bit 4:2:0) and AAC or
//     no audio, otherwise the top rendition's H.264 and AAC;
//   - poster.jpg, the frame at 10% of the duration (at most 10 s in), the top rendition's size at
//     most 1280 wide;
//   - storyboard.jpg, a grid of thumbnails 160 wide taken every max(1 s, duration/100), 10 a row, and
//     storyboard.vtt, the WebVTT cues that map times to them (storyboard.jpg#xywh=x,y,w,h).
//
// Process owns those names (and .thumbnails, its scratch directory) in outDir: it replaces them, and
// removes them when it fails, so an error never leaves a partial result; src must not be one of them.
// The poster and the storyboard are extras: when ffmpeg cannot make one of them, Process leaves it out,
// says why in Result.PosterErr or Result.StoryboardErr, and succeeds.
// progress, if not nil, gets growing percentages up to 100, from a goroutine of Process's, never after
// Process returns. Cancelling ctx kills ffmpeg and returns ctx's error. A source ffmpeg cannot read to
// its end is an error (ErrIncomplete, or ffmpeg's own).
func Process(ctx context.Context, opts Options, src, outDir string, progress func(percent int)) (Result, error) {
	opts = opts.withDefaults()
	if err := opts.Ladder.Validate(); err != nil {
		return Result{}, err
	}
	abs, err := filepath.Abs(src)
	if err != nil {
		return Result{}, err
	}
	if err := checkNotAnOutput(abs, outDir); err != nil {
		return Result{}, err
	}
	source, err := probe(ctx, opts.FFprobe, abs)
	if err != nil {
		return Result{}, err
	}
	j := &job{opts: opts, src: source, srcPath: abs, outDir: outDir,
		variants: opts.Ladder.For(source.Width, source.Height), progress: progress, lastPct: -1}
	res, err := j.run(ctx)
	if err != nil {
		j.removeOutputs()
		return Result{}, err
	}
	return res, nil
}

// outputs are the names in the output directory that Process replaces.
var outputs = []string{HLSDir, MP4File, PosterFile, StoryboardJPEG, StoryboardVTT, thumbsDir}

// checkNotAnOutput refuses a source that Process would delete before reading it.
func checkNotAnOutput(src, outDir string) error {
	dir, err := filepath.Abs(outDir)
	if err != nil {
		return err
	}
	for _, name := range outputs {
		out := filepath.Join(dir, name)
		if src == out || strings.HasPrefix(src, out+string(filepath.Separator)) {
			return fmt.Errorf("the source %s is where Process writes %s", src, name)
		}
	}
	return nil
}

type job struct {
	opts     Options
	src      source
	srcPath  string
	outDir   string
	variants []ladder.Variant
	progress func(int)
	lastPct  int
}

func (j *job) run(ctx context.Context) (Result, error) {
	j.removeOutputs()
	for _, v := range j.variants {
		if err := os.MkdirAll(filepath.Join(j.outDir, HLSDir, v.Name), 0o755); err != nil {
			return Result{}, err
		}
	}
	j.report(0)
	remux := j.remuxable()
	log := j.opts.Log.With("src", filepath.Base(j.srcPath))
	log.Info("transcoding", "duration", j.src.Duration, "size", fmt.Sprintf("%dx%d", j.src.Width, j.src.Height),
		"video", j.src.VideoCodec, "audio", j.src.AudioCodec, "renditions", len(j.variants), "mp4_remux", remux)
	start := time.Now()
	err := ffmpegRun{
		bin: j.opts.FFmpeg, dir: j.outDir, args: ffmpegArgs(j.transcodeArgs(remux)...), log: log,
		stall: j.opts.StallTimeout, total: j.src.Duration, progress: func(p int) { j.report(min(p, 99)) },
	}.run(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("transcoding: %w", err)
	}

	res := Result{Info: j.src.Info, MP4: true, MP4Remuxed: remux}
	files := []string{MasterPlaylist, MP4File}
	for _, v := range j.variants {
		r, rfiles, err := j.rendition(v)
		if err != nil {
			return Result{}, err
		}
		res.Renditions = append(res.Renditions, r)
		files = append(files, rfiles...)
	}
	if err := writeFile(filepath.Join(j.outDir, MasterPlaylist), masterPlaylist(res.Renditions)); err != nil {
		return Result{}, err
	}
	if err := j.finish(ctx, log, &res, remux); err != nil {
		return Result{}, err
	}
	if res.PosterErr == nil {
		files = append(files, PosterFile)
	}
	if res.StoryboardErr == nil {
		files = append(files, StoryboardJPEG, StoryboardVTT)
	}
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(j.outDir, filepath.FromSlash(f))); err != nil {
			return Result{}, fmt.Errorf("ffmpeg did not write %s: %w", f, err)
		}
	}
	slices.Sort(files)
	res.Files = files
	log.Info("transcoded", "took", time.Since(start).Round(time.Millisecond), "files", len(files))
	j.report(100)
	return res, nil
}

func (j *job) report(pct int) {
	if j.progress != nil && pct > j.lastPct {
		j.lastPct = pct
		j.progress(pct)
	}
}

// remuxable says video.mp4 can be the source's streams copied: what every browser plays.
func (j *job) remuxable() bool {
	return j.src.VideoCodec == "h264" && (j.src.pixFmt == "yuv420p" || j.src.pixFmt == "yuvj420p") &&
		(!j.src.HasAudio || j.src.AudioCodec == "aac")
}

// frameRate is the frame rate of a variant: the rung's cap, never above the source's.
func (j *job) frameRate(v ladder.Variant) (fps float64, filter bool) {
	if v.FrameRate > 0 && (j.src.FrameRate == 0 || v.FrameRate < j.src.FrameRate-0.01) {
		return v.FrameRate, true
	}
	return j.src.FrameRate, false
}

func secs(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) }

// transcodeArgs is the one ffmpeg command that decodes the source once and encodes every rendition
// (and copies the source into video.mp4 when remux).
//
// The poster and the storyboard are not made here, although that would save decoding: ffmpeg reports
// no progress at all before every output has started, and the poster's starts 10% into the video.
func (j *job) transcodeArgs(remux bool) []string {
	n := len(j.variants)
	graph := fmt.Sprintf("[0:%d]split=%d", j.src.videoIndex, n)
	for i := range n {
		graph += fmt.Sprintf("[s%d]", i)
	}
	for i, v := range j.variants {
		graph += fmt.Sprintf(";[s%d]", i)
		if fps, ok := j.frameRate(v); ok {
			graph += "fps=" + strconv.FormatFloat(fps, 'f', -1, 64) + ","
		}
		graph += fmt.Sprintf("scale=%d:%d,setsar=1,format=yuv420p[v%d]", v.Width, v.Height, i)
	}

	var a []string
	if j.opts.Threads > 0 {
		a = append(a, "-threads", strconv.Itoa(j.opts.Threads))
	}
	a = append(a, "-i", "file:"+j.srcPath, "-filter_complex", graph)
	seg := secs(j.opts.SegmentDuration)
	// B-frames delay each rendition's first picture by two of its frames (ffmpeg's fMP4 edit lists start
	// the track that much later): renditions of different frame rates would start at different instants
	bframes := true
	top, _ := j.frameRate(j.variants[0])
	for _, v := range j.variants[1:] {
		if fps, _ := j.frameRate(v); fps != top {
			bframes = false
		}
	}
	for i, v := range j.variants {
		dir := HLSDir + "/" + v.Name
		a = append(a, "-map", fmt.Sprintf("[v%d]", i),
			"-c:v", "libx264", "-preset", j.opts.Preset, "-profile:v", "high",
			"-b:v", strconv.Itoa(v.VideoBitrate), "-maxrate", strconv.Itoa(v.PeakRate()),
			"-bufsize", strconv.Itoa(2*v.PeakRate()),
			// a keyframe on every segment boundary, the same in every rendition, and none that x264
			// would add on a scene cut
			"-force_key_frames", "expr:gte(t,n_forced*"+seg+")", "-sc_threshold", "0",
			// the source's timestamps, not a constant rate made by dropping and duplicating frames
			"-fps_mode", "passthrough")
		if !bframes {
			a = append(a, "-bf", "0")
		}
		if j.opts.Threads > 0 {
			a = append(a, "-threads", strconv.Itoa(j.opts.Threads))
		}
		if j.src.HasAudio {
			a = append(a, j.audioArgs()...)
		}
		a = append(a, "-f", "hls", "-hls_time", seg, "-hls_playlist_type", "vod",
			"-hls_segment_type", "fmp4", "-hls_fmp4_init_filename", "init.mp4",
			"-hls_flags", "independent_segments",
			"-hls_segment_filename", dir+"/seg_%05d.m4s", dir+"/index.m3u8")
	}
	if remux {
		a = append(a, "-map", fmt.Sprintf("0:%d", j.src.videoIndex))
		if j.src.HasAudio {
			a = append(a, "-map", fmt.Sprintf("0:%d", j.src.audioIndex))
		}
		a = append(a, "-c", "copy", "-movflags", "+faststart", "-f", "mp4", MP4File)
	}
	return a
}

// finish makes at once video.mp4 from the top rendition's streams (unless the source was remuxed), the
// poster from the top rendition and the storyboard from the lowest one (decoding it costs little), each
// with an ffmpeg of its own, so that the poster's input is not read past the poster's frame and so that
// the poster or the storyboard may fail alone. Only the MP4's failure or ctx's end is an error; the
// extras' failures are recorded in res.
func (j *job) finish(ctx context.Context, log *slog.Logger, res *Result, remux bool) error {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	run := func(args ...string) error {
		return ffmpegRun{bin: j.opts.FFmpeg, dir: j.outDir, args: ffmpegArgs(args...), log: log,
			stall: j.opts.StallTimeout}.run(runCtx)
	}
	top, low := res.Renditions[0], res.Renditions[len(res.Renditions)-1]
	var (
		mp4Err error
		wg     sync.WaitGroup
	)
	if !remux {
		wg.Go(func() {
			mp4Err = run("-i", top.Playlist, "-map", "0:v:0", "-map", "0:a:0?", "-c", "copy",
				"-movflags", "+faststart", "-f", "mp4", MP4File)
			if mp4Err != nil {
				cancel() // Process fails: the extras would be thrown away
			}
		})
	}
	wg.Go(func() { res.PosterErr = j.makePoster(run, top) })
	wg.Go(func() { res.StoryboardErr = j.makeStoryboard(run, low) })
	wg.Wait()
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case mp4Err != nil:
		return fmt.Errorf("writing the MP4: %w", mp4Err)
	}
	if res.PosterErr != nil {
		res.PosterErr = fmt.Errorf("making the poster: %w", res.PosterErr)
		j.remove(PosterFile)
	}
	if res.StoryboardErr != nil {
		res.StoryboardErr = fmt.Errorf("making the storyboard: %w", res.StoryboardErr)
		j.remove(StoryboardJPEG, StoryboardVTT)
	}
	return nil
}

// makePoster writes poster.jpg from the top rendition. The position is an output option because seeking
// in an fMP4 HLS input fails in ffmpeg 5.1 (no frame comes out).
func (j *job) makePoster(run func(...string) error, top Rendition) error {
	w, h := posterSize(top.Width, top.Height)
	if err := run("-i", top.Playlist, "-map", "0:v:0", "-ss", secs(j.posterTime()),
		"-vf", fmt.Sprintf("scale=%d:%d,setsar=1", w, h), "-fps_mode", "passthrough", "-q:v", "3",
		"-frames:v", "1", "-update", "1", "-f", "image2", PosterFile); err != nil {
		return err
	}
	return checkJPEG(filepath.Join(j.outDir, PosterFile))
}

// makeStoryboard has ffmpeg write the thumbnails of the lowest rendition, then lays them out in
// storyboard.jpg and writes storyboard.vtt.
func (j *job) makeStoryboard(run func(...string) error, low Rendition) error {
	dir := filepath.Join(j.outDir, thumbsDir)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	sb := j.storyboard()
	if err := run("-i", low.Playlist, "-map", "0:v:0", "-vf", sb.thumbnailFilter(), "-fps_mode", "passthrough",
		"-f", "image2", thumbsDir+"/%05d.png"); err != nil {
		return err
	}
	if err := sb.assemble(dir, filepath.Join(j.outDir, StoryboardJPEG)); err != nil {
		return err
	}
	return writeFile(filepath.Join(j.outDir, StoryboardVTT), sb.vtt())
}

// checkJPEG says whether name is a JPEG image: ffmpeg ends without an error when the poster's instant
// has no frame, and writes nothing.
func checkJPEG(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("ffmpeg did not write it: %w", err)
	}
	defer f.Close()
	if _, err := jpeg.DecodeConfig(f); err != nil {
		return fmt.Errorf("%s is no JPEG: %w", filepath.Base(name), err)
	}
	return nil
}

func (j *job) audioArgs() []string {
	a := []string{"-map", fmt.Sprintf("0:%d", j.src.audioIndex), "-c:a", "aac",
		"-b:a", strconv.Itoa(j.opts.Ladder.AudioBitrate), "-ac", "2"}
	if j.src.sampleRate > 48000 {
		a = append(a, "-ar", "48000")
	}
	return a
}

// posterTime is 10% into the video, at most 10 s.
func (j *job) posterTime() time.Duration {
	return min(j.src.videoDuration/10, 10*time.Second)
}

// posterSize is the top rendition's size, at most 1280 wide.
func posterSize(w, h int) (int, int) {
	if w > 1280 {
		h = max(int(math.Round(float64(h)*1280/float64(w)/2))*2, 2)
		w = 1280
	}
	return w, h
}

// removeOutputs removes what Process writes, from an earlier attempt or a failed one.
func (j *job) removeOutputs() { j.remove(outputs...) }

// remove removes names of the output directory.
func (j *job) remove(names ...string) {
	for _, name := range names {
		if err := os.RemoveAll(filepath.Join(j.outDir, name)); err != nil {
			j.opts.Log.Warn("removing an output", "name", name, "error", err)
		}
	}
}

// rendition reads back a rendition's media playlist and init segment, checks that it covers the source
// and measures its bit rates.
func (j *job) rendition(v ladder.Variant) (Rendition, []string, error) {
	dir := HLSDir + "/" + v.Name
	pl, err := readMediaPlaylist(filepath.Join(j.outDir, filepath.FromSlash(dir)), "index.m3u8")
	if err != nil {
		return Rendition{}, nil, fmt.Errorf("rendition %s: %w", v.Name, err)
	}
	// ffmpeg reads a truncated file to its end without an error
	if want := j.src.videoDuration; pl.duration() < want*9/10-500*time.Millisecond {
		return Rendition{}, nil, fmt.Errorf("%w: rendition %s lasts %s of %s", ErrIncomplete, v.Name,
			pl.duration().Round(time.Millisecond), want.Round(time.Millisecond))
	}
	codecs, err := codecsOf(filepath.Join(j.outDir, filepath.FromSlash(dir), pl.init))
	if err != nil {
		return Rendition{}, nil, fmt.Errorf("rendition %s: %w", v.Name, err)
	}
	fps, _ := j.frameRate(v)
	r := Rendition{
		Name: v.Name, Width: v.Width, Height: v.Height, Codecs: codecs, FrameRate: fps,
		Playlist: dir + "/index.m3u8",
	}
	r.Bandwidth, r.AverageBandwidth = pl.bandwidth()
	files := []string{r.Playlist, path.Join(dir, pl.init)}
	for _, s := range pl.segments {
		files = append(files, path.Join(dir, s.uri))
	}
	return r, files, nil
}

func writeFile(name string, data []byte) error {
	if err := os.WriteFile(name, data, 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", filepath.Base(name), err)
	}
	return nil
}
