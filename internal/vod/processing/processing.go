// Package processing runs the VOD jobs: each completed upload is probed and transcoded into adaptive HLS,
// an MP4, a poster and a storyboard, which are stored beside the upload; a job survives restarts.
package processing

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nagare-video/nagare/internal/objstore"
	"github.com/nagare-video/nagare/internal/vod/store"
	"github.com/nagare-video/nagare/internal/vod/transcode"
	"github.com/nagare-video/nagare/internal/vod/vodmetrics"
)

// Objects is what processing needs of object storage.
type Objects interface {
	Get(ctx context.Context, key string, rng *objstore.Range) (io.ReadCloser, objstore.ObjectInfo, error)
	Put(ctx context.Context, key string, r io.Reader, size int64, opts objstore.PutOptions) error
}

// Worker claims jobs from the store and processes them, Concurrency at a time.
type Worker struct {
	Store     *store.SQL
	Objects   Objects
	Transcode transcode.Options
	// Prefix starts the keys of a video's objects: <Prefix>/<id>/...
	Prefix string
	// WorkDir holds each job's files while it runs (default: the system's temp directory).
	WorkDir     string
	Concurrency int
	// MaxAttempts bounds the tries of a job that fails for a reason that may pass (storage down, ffmpeg
	// killed); a file that is not a video fails at once.
	MaxAttempts int
	// Lease is how long a claimed job stays this worker's without renewal: a worker that dies with the
	// process loses its jobs to another (or to itself after a restart) when it runs out.
	Lease time.Duration
	// Backoff is the wait before the first retry, doubled for each later one.
	Backoff time.Duration
	Poll    time.Duration
	Log     *slog.Logger
	// ID names this worker in the jobs it holds.
	ID string
	// Metrics counts the jobs' outcomes (nil: not counted).
	Metrics *vodmetrics.Metrics

	once sync.Once
	wake chan struct{}
}

func (w *Worker) init() {
	w.once.Do(func() {
		w.wake = make(chan struct{}, 1)
		if w.Concurrency <= 0 {
			w.Concurrency = 1
		}
		if w.MaxAttempts <= 0 {
			w.MaxAttempts = 3
		}
		if w.Lease <= 0 {
			w.Lease = 2 * time.Minute
		}
		if w.Backoff <= 0 {
			w.Backoff = 10 * time.Second
		}
		if w.Poll <= 0 {
			w.Poll = 5 * time.Second
		}
		if w.Prefix == "" {
			w.Prefix = "vod"
		}
		if w.ID == "" {
			host, _ := os.Hostname()
			w.ID = fmt.Sprintf("%s-%d", host, os.Getpid())
		}
	})
}

// Wake makes an idle worker look for jobs now (an upload completed).
func (w *Worker) Wake() {
	w.init()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run processes jobs until ctx ends. A job running then is put back in the queue for the next start.
func (w *Worker) Run(ctx context.Context) error {
	w.init()
	var wg sync.WaitGroup
	for range w.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.loop(ctx)
		}()
	}
	wg.Wait()
	return nil
}

func (w *Worker) loop(ctx context.Context) {
	t := time.NewTicker(w.Poll)
	defer t.Stop()
	for ctx.Err() == nil {
		job, ok, err := w.Store.ClaimJob(ctx, w.ID, w.Lease)
		if err != nil && ctx.Err() == nil {
			w.Log.Warn("claiming a job", "err", err)
		}
		if ok {
			w.run(ctx, job)
			continue
		}
		select {
		case <-ctx.Done():
		case <-w.wake:
		case <-t.C:
		}
	}
}

// run processes one job under its lease and records the outcome.
func (w *Worker) run(ctx context.Context, job store.Job) {
	log := w.Log.With("video", job.VideoID, "attempt", job.Attempts)
	jctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go w.renew(jctx, cancel, job.VideoID)

	log.Info("processing")
	started := time.Now()
	media, err := w.process(jctx, job.VideoID, log)
	took := time.Since(started)
	bg := context.WithoutCancel(ctx)
	switch {
	case err == nil:
		if err := w.Store.EndJob(bg, job.VideoID, w.ID, store.JobDone, "", time.Time{}); err != nil {
			log.Warn("ending the job", "err", err)
		}
		w.Metrics.Processed(vodmetrics.OutcomeReady, took, media)
		log.Info("video ready", "took", took.Round(time.Millisecond))
	case ctx.Err() != nil:
		// shutting down: the job goes back to the queue, to be resumed at the next start
		if err := w.Store.EndJob(bg, job.VideoID, w.ID, store.JobQueued, "interrupted by shutdown", time.Now()); err != nil {
			log.Warn("requeueing the job", "err", err)
		}
		log.Info("processing interrupted by shutdown; requeued")
	case errors.Is(context.Cause(jctx), errLeaseLost):
		log.Warn("processing abandoned: the job's lease was lost to another worker")
	case permanent(err) || job.Attempts >= w.MaxAttempts:
		w.fail(bg, job.VideoID, err, log)
		w.Metrics.Processed(vodmetrics.OutcomeFailed, took, media)
	default:
		w.Metrics.Processed(vodmetrics.OutcomeRetry, took, media)
		retry := time.Now().Add(w.Backoff << (job.Attempts - 1))
		if err := w.Store.EndJob(bg, job.VideoID, w.ID, store.JobFailed, err.Error(), retry); err != nil {
			log.Warn("requeueing the job", "err", err)
		}
		log.Warn("processing failed; will retry", "err", err, "retryAt", retry.Format(time.RFC3339))
	}
}

var errLeaseLost = errors.New("lease lost")

// renew keeps the job's lease while it runs; losing it cancels the job.
func (w *Worker) renew(ctx context.Context, cancel context.CancelCauseFunc, id string) {
	t := time.NewTicker(w.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := w.Store.RenewJob(ctx, id, w.ID, w.Lease); errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
			cancel(errLeaseLost)
			return
		} else if err != nil && ctx.Err() == nil {
			w.Log.Warn("renewing a job's lease", "video", id, "err", err)
		}
	}
}

// permanent reports failures that another attempt cannot mend.
func permanent(err error) bool {
	return errors.Is(err, transcode.ErrNotVideo) || errors.Is(err, transcode.ErrIncomplete) || errors.Is(err, errGone)
}

var errGone = errors.New("the video was deleted")

func (w *Worker) fail(ctx context.Context, id string, cause error, log *slog.Logger) {
	reason := cause.Error()
	if _, err := w.Store.UpdateVideo(ctx, id, "failed: "+reason, func(v *store.Video) error {
		v.Status, v.Failure = store.Failed, reason
		return nil
	}); err != nil && !errors.Is(err, store.ErrNotFound) {
		log.Warn("marking the video failed", "err", err)
	}
	if err := w.Store.EndJob(ctx, id, w.ID, store.JobFailed, reason, time.Time{}); err != nil && !errors.Is(err, store.ErrNotFound) {
		log.Warn("ending the job", "err", err)
	}
	log.Warn("processing failed", "reason", reason)
}

// process downloads the upload, transcodes it and stores the results, then marks the video ready. It
// returns the media's duration once probed.
func (w *Worker) process(ctx context.Context, id string, log *slog.Logger) (time.Duration, error) {
	v, err := w.Store.Video(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return 0, errGone
	}
	if err != nil {
		return 0, err
	}
	dir, err := os.MkdirTemp(w.WorkDir, "nagare-vod-")
	if err != nil {
		return 0, fmt.Errorf("making a work directory: %w", err)
	}
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, "source")
	if err := w.download(ctx, v.SourceKey, src); err != nil {
		return 0, err
	}
	info, err := transcode.Probe(ctx, w.Transcode.FFprobe, src)
	if err != nil {
		return 0, scrub(err, dir)
	}
	return info.Duration, w.render(ctx, id, info, src, dir, log)
}

// render makes and stores the renditions of the probed src, then marks the video ready.
func (w *Worker) render(ctx context.Context, id string, info transcode.Info, src, dir string, log *slog.Logger) error {
	log.Info("probed", "duration", info.Duration, "size", fmt.Sprintf("%dx%d", info.Width, info.Height),
		"video", info.VideoCodec, "audio", info.AudioCodec)
	if _, err := w.Store.UpdateVideo(ctx, id, "", func(v *store.Video) error {
		v.Duration, v.Width, v.Height, v.VideoCodec, v.AudioCodec = info.Duration, info.Width, info.Height, info.VideoCodec, info.AudioCodec
		return nil
	}); err != nil {
		return err
	}
	opts := w.Transcode
	opts.Log = log
	out := filepath.Join(dir, "out")
	res, err := transcode.Process(ctx, opts, src, out, func(pct int) {
		// 90 % for the transcode, the rest for storing
		if err := w.Store.SetProgress(ctx, id, pct*9/10); err != nil && ctx.Err() == nil {
			log.Debug("recording progress", "err", err)
		}
	})
	if err != nil {
		return scrub(err, dir)
	}
	for i, f := range res.Files {
		if err := w.upload(ctx, filepath.Join(out, filepath.FromSlash(f)), w.key(id, f)); err != nil {
			return err
		}
		_ = w.Store.SetProgress(ctx, id, 90+10*(i+1)/len(res.Files))
	}
	renditions := make([]store.Rendition, len(res.Renditions))
	for i, r := range res.Renditions {
		renditions[i] = store.Rendition{Name: r.Name, Width: r.Width, Height: r.Height, Bandwidth: int64(r.Bandwidth)}
	}
	msg := fmt.Sprintf("ready: %d renditions", len(renditions))
	// the video plays without its extras: their failure is the operator's to see, not the video's
	if res.PosterErr != nil {
		log.Warn("the video has no poster", "err", scrub(res.PosterErr, dir))
		msg += ", no poster"
	}
	if res.StoryboardErr != nil {
		log.Warn("the video has no storyboard", "err", scrub(res.StoryboardErr, dir))
		msg += ", no storyboard"
	}
	_, err = w.Store.UpdateVideo(ctx, id, msg, func(v *store.Video) error {
		if v.Status != store.Processing {
			return fmt.Errorf("video is %s, no longer processing: %w", v.Status, errGone)
		}
		v.Status, v.Progress, v.Failure, v.Renditions = store.Ready, 100, "", renditions
		v.HLSKey = w.key(id, transcode.MasterPlaylist)
		if res.MP4 {
			v.MP4Key = w.key(id, transcode.MP4File)
		}
		// the keys say what exists: playback and PlaybackURLs offer only those
		v.PosterKey, v.StoryboardKey, v.StoryboardVTTKey = "", "", ""
		if res.PosterErr == nil {
			v.PosterKey = w.key(id, transcode.PosterFile)
		}
		if res.StoryboardErr == nil {
			v.StoryboardKey = w.key(id, transcode.StoryboardJPEG)
			v.StoryboardVTTKey = w.key(id, transcode.StoryboardVTT)
		}
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return errGone
	}
	return err
}

func (w *Worker) key(id, file string) string { return w.Prefix + "/" + id + "/" + file }

func (w *Worker) download(ctx context.Context, key, dst string) error {
	rc, _, err := w.Objects.Get(ctx, key, nil)
	if err != nil {
		return fmt.Errorf("reading the upload: %w", err)
	}
	defer rc.Close()
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, rc); err != nil {
		f.Close()
		return fmt.Errorf("reading the upload: %w", err)
	}
	return f.Close()
}

// contentTypes of what processing stores, by extension.
var contentTypes = map[string]string{
	".m3u8": "application/vnd.apple.mpegurl", ".m4s": "video/iso.segment", ".mp4": "video/mp4",
	".jpg": "image/jpeg", ".vtt": "text/vtt",
}

func (w *Worker) upload(ctx context.Context, file, key string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	ext := strings.ToLower(path.Ext(key))
	cache := "max-age=31536000, immutable"
	if ext == ".m3u8" || ext == ".vtt" {
		cache = "max-age=60"
	}
	if err := w.Objects.Put(ctx, key, f, fi.Size(), objstore.PutOptions{ContentType: contentTypes[ext], CacheControl: cache}); err != nil {
		return fmt.Errorf("storing %s: %w", key, err)
	}
	return nil
}

// scrubbed is an error whose text no longer names the worker's directory: failure reasons reach clients.
type scrubbed struct {
	err error
	dir string
}

func scrub(err error, dir string) error { return scrubbed{err, dir} }

func (s scrubbed) Error() string {
	msg := strings.ReplaceAll(s.err.Error(), "file:"+s.dir+string(filepath.Separator)+"source", "the upload")
	msg = strings.ReplaceAll(msg, s.dir+string(filepath.Separator)+"source", "the upload")
	return strings.ReplaceAll(msg, s.dir, "<work dir>")
}

func (s scrubbed) Unwrap() error { return s.err }
