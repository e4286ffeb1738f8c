package ctl

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nagare-video/nagare/internal/vod/vodv1"
)

// headerUploadID is the response header that carries a new upload's id as soon as the server has read
// the start message (the service's HeaderUploadID; ctl speaks only the wire format).
const headerUploadID = "nagare-upload-id"

// maxChunk is the largest chunk the VOD service accepts ("at most 1 MiB" in vod.proto).
const (
	maxChunk = 1 << 20
	minChunk = 16 << 10
)

// An upload retries by itself after a transient failure (a broken connection, the server restarting,
// the previous stream of the upload still ending): up to uploadRetries times in a row without progress,
// waiting retryBackoff, then twice as long each time.
var (
	uploadRetries = 5
	retryBackoff  = 500 * time.Millisecond
	// waitEvery is how often --wait asks how processing goes.
	waitEvery = 500 * time.Millisecond
)

func vodUpload(e *env, args []string) error {
	fs := e.flags()
	title := fs.String("title", "", "the video's `title` (default: the file name without its extension)")
	desc := fs.String("description", "", "free text")
	vis := fs.String("visibility", "", "private (the service's default), unlisted or public")
	owner := fs.String("owner", "", "upload for this `owner` (admin token only; default admin, or the upload token's owner)")
	chunk := byteSize(maxChunk)
	fs.Var(&chunk, "chunk", "send the file in chunks of this `size`, 16KiB to 1MiB")
	wait := fs.Bool("wait", false, "wait until the video is processed, showing how far processing is")
	pos, err := e.parse(fs, args, "FILE")
	if err != nil {
		return err
	}
	if chunk < minChunk || chunk > maxChunk {
		return usagef("%s: --chunk must be between 16KiB and 1MiB, not %s", e.cmd.name, chunk.String())
	}
	start := &vodv1.UploadStart{Title: *title, Description: *desc, Owner: *owner, FileName: filepath.Base(pos[0])}
	if *vis != "" {
		if start.Visibility, err = parseVisibility(e.cmd.name, *vis); err != nil {
			return err
		}
	}
	c, err := e.vodClient()
	if err != nil {
		return err
	}
	u := &uploader{e: e, c: c, path: pos[0], meta: start, chunk: int(chunk)}
	v, err := u.run()
	if err != nil {
		return c.fail(err)
	}
	if *wait {
		if v, err = u.wait(v); err != nil {
			return c.fail(err)
		}
	}
	if e.json {
		return printProto(e, v)
	}
	_, err = fmt.Fprintln(e.stdout, v.Id)
	return err
}

// uploadState is what is kept between runs of `vod upload` for one file, so that a run that was cut off
// can be continued by the next.
type uploadState struct {
	UploadID string    `json:"uploadId"`
	VOD      string    `json:"vod"`
	File     string    `json:"file"`
	Size     int64     `json:"size"`
	SHA256   string    `json:"sha256"`
	Started  time.Time `json:"started"`
}

// uploader sends one file.
type uploader struct {
	e     *env
	c     *vodClient
	path  string
	meta  *vodv1.UploadStart // a new upload's metadata
	chunk int

	f         *os.File
	abs       string
	size      int64
	sum       string
	statePath string // "" when no state can be kept
	stateVOD  string // where the upload of an earlier run went
	id        string // the upload's id, once known
	sent      bool   // this run has sent bytes of the upload
	committed int64  // the most the server has said it stored
	prog      *progress
}

func (u *uploader) say(format string, args ...any) {
	if u.prog != nil {
		u.prog.say(format, args...)
		return
	}
	fmt.Fprintf(u.e.stderr, format+"\n", args...)
}

func (u *uploader) run() (*vodv1.Video, error) {
	f, err := os.Open(u.path)
	if err != nil {
		return nil, fmt.Errorf("opening the file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("opening the file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", u.path)
	}
	if fi.Size() == 0 {
		return nil, fmt.Errorf("%s is empty", u.path)
	}
	u.f, u.size = f, fi.Size()
	if u.abs, err = filepath.Abs(u.path); err != nil {
		return nil, fmt.Errorf("locating the file: %w", err)
	}
	if u.statePath, err = uploadStatePath(u.abs, u.size, fi.ModTime()); err != nil {
		u.say("warning: an interrupted upload cannot be resumed by running the command again: %v", err)
	}
	if st := u.loadState(); st != nil {
		u.id, u.sum, u.stateVOD = st.UploadID, st.SHA256, st.VOD
	}
	if u.sum == "" {
		if u.sum, err = u.hash(); err != nil {
			return nil, err
		}
	}
	u.meta.Size, u.meta.Sha256 = u.size, u.sum

	best, failures := int64(-1), 0
	for {
		v, err := u.attempt()
		if err == nil {
			u.forget()
			return v, nil
		}
		if u.e.base.Err() != nil {
			u.prog.abandon()
			if u.id != "" && u.statePath != "" {
				return nil, fmt.Errorf("interrupted; run the same command again to resume upload %s", u.id)
			}
			return nil, errors.New("interrupted")
		}
		if !retryable(err) {
			u.prog.abandon()
			switch code := codeOf(err); {
			case code == codes.DataLoss, code == codes.InvalidArgument && strings.Contains(err.Error(), "discarded"):
				u.forget() // the service refused the file and kept nothing of it
			}
			return nil, err
		}
		if u.committed > best {
			best, failures = u.committed, 0
		}
		if failures++; failures > uploadRetries {
			u.prog.abandon()
			if u.id != "" && u.statePath != "" {
				return nil, fmt.Errorf("giving up after %d retries without progress (run the same command again to resume upload %s): %w",
					uploadRetries, u.id, u.c.fail(err))
			}
			return nil, fmt.Errorf("giving up after %d retries without progress: %w", uploadRetries, u.c.fail(err))
		}
		pause := retryBackoff << (failures - 1)
		u.say("upload interrupted (%v); retrying in %s (%d/%d)", u.c.fail(err), pause, failures, uploadRetries)
		select {
		case <-time.After(pause):
		case <-u.e.base.Done():
		}
	}
}

// retryable reports whether a failed attempt is worth another: the service or the connection failed for a
// while, or the upload moved on meanwhile (QueryUpload tells where it stands now).
func retryable(err error) bool {
	switch codeOf(err) {
	case codes.Unavailable, codes.Aborted, codes.DeadlineExceeded:
		return true
	case codes.FailedPrecondition:
		return !strings.Contains(err.Error(), "is complete")
	}
	return false
}

// attempt continues the upload from where the server stands, or starts it.
func (u *uploader) attempt() (*vodv1.Video, error) {
	if u.id == "" {
		return u.stream(0)
	}
	ctx, cancel := u.c.call(u.e.base)
	st, err := u.c.api.QueryUpload(ctx, &vodv1.QueryUploadRequest{UploadId: u.id})
	cancel()
	switch {
	case codeOf(err) == codes.NotFound && !u.sent:
		// the upload a previous run left is gone (it expired, or was deleted): start afresh
		if u.stateVOD != u.c.addr {
			u.say("upload %s, begun at %s, is unknown here (%v); starting a new upload", u.id, u.stateVOD, u.c.fail(err))
		} else {
			u.say("upload %s is gone (%v); starting a new upload", u.id, u.c.fail(err))
		}
		u.forget()
		u.id = ""
		return u.stream(0)
	case codeOf(err) == codes.NotFound:
		u.forget()
		return nil, err
	case err != nil:
		return nil, err
	case st.Complete:
		return u.completed()
	}
	u.committed = max(u.committed, st.CommittedSize)
	u.say("resuming upload %s at %d bytes", u.id, st.CommittedSize)
	v, err := u.stream(st.CommittedSize)
	if codeOf(err) == codes.FailedPrecondition && strings.Contains(err.Error(), "is complete") {
		// the stream before this one completed the upload meanwhile
		return u.completed()
	}
	return v, err
}

// completed answers for an upload the server has already completed.
func (u *uploader) completed() (*vodv1.Video, error) {
	u.forget()
	ctx, cancel := u.c.call(u.e.base)
	defer cancel()
	v, err := u.c.api.GetVideo(ctx, &vodv1.GetVideoRequest{Id: u.id})
	if err == nil {
		u.say("upload %s is complete", u.id)
	}
	return v, err
}

// stream sends the file from offset in one Upload stream.
func (u *uploader) stream(offset int64) (*vodv1.Video, error) {
	ctx, wd := newWatchdog(u.e.base, stallLimit)
	defer wd.stop()
	stream, err := u.c.api.Upload(ctx)
	if err != nil {
		return nil, wd.explain(err)
	}
	start := u.meta
	if u.id != "" {
		start = &vodv1.UploadStart{UploadId: u.id, WriteOffset: offset}
	}
	if err := stream.Send(&vodv1.UploadRequest{Data: &vodv1.UploadRequest_Start{Start: start}}); err != nil {
		return nil, wd.explain(sendError(stream, err))
	}
	// The id comes before any byte is sent: once it is on disk, nothing sent is lost to a later run.
	md, _ := stream.Header()
	id := ""
	if ids := md.Get(headerUploadID); len(ids) > 0 {
		id = ids[0]
	}
	if id == "" {
		_, err := stream.CloseAndRecv()
		if err == nil {
			err = status.Error(codes.Internal, "the VOD service answered without an upload id")
		}
		return nil, wd.explain(err)
	}
	wd.alive()
	if u.id == "" {
		u.id = id
		u.saveState()
	}
	if u.prog == nil {
		u.prog = newProgress(u.e.stderr, "uploading "+filepath.Base(u.path), u.size, offset)
	} else {
		u.prog.restart(offset)
	}
	u.sent = true
	buf := make([]byte, u.chunk)
	for off := offset; off < u.size; {
		want := min(int64(len(buf)), u.size-off)
		n, err := u.f.ReadAt(buf[:want], off)
		if int64(n) < want {
			if err == nil || errors.Is(err, io.EOF) {
				err = fmt.Errorf("it is shorter than the %d bytes it had", u.size)
			}
			return nil, fmt.Errorf("reading %s at %d: %w", u.path, off, err)
		}
		if err := stream.Send(&vodv1.UploadRequest{Data: &vodv1.UploadRequest_Chunk{Chunk: buf[:n]}}); err != nil {
			return nil, wd.explain(sendError(stream, err))
		}
		off += int64(n)
		wd.alive()
		u.prog.set(off)
	}
	res, err := stream.CloseAndRecv()
	if err != nil {
		return nil, wd.explain(err)
	}
	u.committed = max(u.committed, res.CommittedSize)
	if !res.Complete {
		return nil, status.Errorf(codes.Aborted, "the VOD service stored %d of %d bytes", res.CommittedSize, u.size)
	}
	u.prog.finish()
	return res.Video, nil
}

// sendError is why Send failed: io.EOF means the server ended the stream, and its status says why.
func sendError(stream grpc.ClientStreamingClient[vodv1.UploadRequest, vodv1.UploadResponse], err error) error {
	if errors.Is(err, io.EOF) {
		if _, rerr := stream.CloseAndRecv(); rerr != nil {
			return rerr
		}
		return status.Error(codes.Internal, "the VOD service ended the upload early")
	}
	return err
}

// hash computes the file's SHA-256, which the service checks the upload against.
func (u *uploader) hash() (string, error) {
	var prog *progress
	if isTerminal(u.e.stderr) {
		prog = newProgress(u.e.stderr, "sha256 "+filepath.Base(u.path), u.size, 0)
	}
	h := sha256.New()
	buf := make([]byte, 1<<20)
	var n int64
	for {
		m, err := u.f.ReadAt(buf, n)
		h.Write(buf[:m])
		n += int64(m)
		prog.set(n)
		if errors.Is(err, io.EOF) || n >= u.size {
			break
		}
		if err != nil {
			prog.abandon()
			return "", fmt.Errorf("reading %s: %w", u.path, err)
		}
		if u.e.base.Err() != nil {
			prog.abandon()
			return "", errors.New("interrupted")
		}
	}
	prog.clear()
	if n != u.size {
		return "", fmt.Errorf("%s changed while it was read", u.path)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// wait polls the video until processing ends.
func (u *uploader) wait(v *vodv1.Video) (*vodv1.Video, error) {
	tty := isTerminal(u.e.stderr)
	shown, failures := int32(-1), 0
	show := func(v *vodv1.Video) {
		p := v.Progress
		if tty {
			if p != shown {
				fmt.Fprintf(u.e.stderr, "\rprocessing %s: %s, %d%%\x1b[K", v.Id, statusText(v.Status), p)
			}
		} else if p/10 > shown/10 || shown < 0 {
			fmt.Fprintf(u.e.stderr, "processing %s: %s, %d%%\n", v.Id, statusText(v.Status), p)
		}
		shown = p
	}
	for v.Status != vodv1.Status_STATUS_READY && v.Status != vodv1.Status_STATUS_FAILED {
		show(v)
		select {
		case <-time.After(waitEvery):
		case <-u.e.base.Done():
			if tty {
				fmt.Fprintln(u.e.stderr)
			}
			return nil, fmt.Errorf("interrupted while video %s is processing (it goes on; see 'nagare ctl vod info %s')", v.Id, v.Id)
		}
		ctx, cancel := u.c.call(u.e.base)
		nv, err := u.c.api.GetVideo(ctx, &vodv1.GetVideoRequest{Id: v.Id})
		cancel()
		if err != nil {
			if failures++; retryable(err) && failures <= uploadRetries && u.e.base.Err() == nil {
				continue
			}
			return nil, err
		}
		v, failures = nv, 0
	}
	if tty && shown >= 0 {
		show(v)
		fmt.Fprintln(u.e.stderr)
	}
	if v.Status == vodv1.Status_STATUS_FAILED {
		return nil, fmt.Errorf("video %s failed processing: %s", v.Id, orDash(v.Failure))
	}
	fmt.Fprintf(u.e.stderr, "video %s is ready\n", v.Id)
	return v, nil
}

// ---- the state kept between runs ----

// cacheDir is where ctl keeps state: NAGARE_CACHE_DIR, else nagare under the user's cache directory
// ($XDG_CACHE_HOME or ~/.cache on Linux).
func cacheDir() (string, error) {
	if d := os.Getenv("NAGARE_CACHE_DIR"); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory for the upload state (set NAGARE_CACHE_DIR): %w", err)
	}
	return filepath.Join(d, "nagare"), nil
}

// uploadStatePath names the state of one version of one file: a file that changes (its size or time)
// is a new upload.
func uploadStatePath(abs string, size int64, mtime time.Time) (string, error) {
	dir, err := cacheDir()
	if err != nil {
		return "", err
	}
	key := sha256.Sum256(fmt.Appendf(nil, "%s\x00%d\x00%d", abs, size, mtime.UnixNano()))
	return filepath.Join(dir, "uploads", hex.EncodeToString(key[:])+".json"), nil
}

// loadState returns the state of an earlier run that can be continued here, or nil.
func (u *uploader) loadState() *uploadState {
	if u.statePath == "" {
		return nil
	}
	b, err := os.ReadFile(u.statePath)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			u.say("warning: ignoring the state of an earlier upload: %v", err)
		}
		return nil
	}
	var st uploadState
	if err := json.Unmarshal(b, &st); err != nil || st.UploadID == "" || len(st.SHA256) != 64 || st.File != u.abs || st.Size != u.size {
		u.say("warning: ignoring the unreadable state of an earlier upload in %s", u.statePath)
		return nil
	}
	// An upload made through another address is asked for all the same: it may be the same service by
	// another name, and a service that does not know the id answers NOT_FOUND (a new upload then starts).
	return &st
}

// saveState records the upload's id so that the next run continues it.
func (u *uploader) saveState() {
	if u.statePath == "" {
		return
	}
	b, _ := json.MarshalIndent(uploadState{UploadID: u.id, VOD: u.c.addr, File: u.abs, Size: u.size, SHA256: u.sum,
		Started: time.Now().UTC()}, "", "  ")
	if err := writeFileAtomic(u.statePath, append(b, '\n')); err != nil {
		u.say("warning: an interrupted upload cannot be resumed by running the command again: %v", err)
		u.statePath = ""
	}
}

// forget removes the state: the upload completed, or is gone.
func (u *uploader) forget() {
	if u.statePath == "" {
		return
	}
	if err := os.Remove(u.statePath); err != nil && !errors.Is(err, os.ErrNotExist) {
		u.say("warning: %v", err)
	}
}

// writeFileAtomic replaces path with b: a reader sees the old content or the new, never half.
func writeFileAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".state-*")
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}
