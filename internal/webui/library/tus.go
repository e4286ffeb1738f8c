package library

import (
	"cmp"
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nagare-video/nagare/internal/vod/vodv1"
)

// The tus protocol as served at /api/v1/vod/uploads: 1.0.0, core + creation + termination.
const (
	tusVersion    = "1.0.0"
	tusExtensions = "creation,termination"
	tusBodyType   = "application/offset+octet-stream"
)

const (
	// maxChunk is the largest chunk the VOD service takes in one message (service.MaxChunk: "at most
	// 1 MiB" in vod.proto; this package speaks only the wire format).
	maxChunk = 1 << 20
	// minProgress is the least a PATCH that ends before the end of the upload must carry. The service
	// keeps an upload's bytes in parts of at least 5 MiB (S3's smallest part, objstore.MinPartSize): of
	// a stream that ends short of the end, a last piece under that is not kept. A smaller PATCH would
	// store nothing and a tus client would send it again and again.
	minProgress = 5 << 20
	// readIdle ends a PATCH whose body sends nothing for that long (what arrived is kept).
	readIdle = time.Minute
	// lockWait is how long a request waits for an older request on the same upload to let go.
	lockWait = 15 * time.Second
	// closeWait bounds waiting for the service to store the last part once a PATCH's body has ended.
	closeWait = 3 * time.Minute
	// writeWait is the time given to write a PATCH's answer, whatever the server's WriteTimeout: a long
	// PATCH may have outlasted it.
	writeWait = 30 * time.Second
)

// errTakenOver: a newer request on the same upload stopped this PATCH.
var errTakenOver = errors.New("a newer request on this upload took over")

// chunks are the buffers PATCHes read their bodies into, one per PATCH at a time: memory per upload is
// one chunk here, whatever the size of the body.
var chunks = sync.Pool{New: func() any { b := make([]byte, maxChunk); return &b }}

// tus checks the protocol version a tus request speaks, then serves it.
func (a *Admin) tus(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if v := r.Header.Get("Tus-Resumable"); v != tusVersion {
			w.Header().Set("Tus-Version", tusVersion)
			a.fail(w, r, failf(http.StatusPreconditionFailed, "Tus-Resumable must be %s, not %q", tusVersion, v))
			return
		}
		h(w, r)
	}
}

// tusOptions answers the discovery request.
func (a *Admin) tusOptions(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Tus-Version", tusVersion)
	h.Set("Tus-Extension", tusExtensions)
	if a.MaxSize > 0 {
		h.Set("Tus-Max-Size", strconv.FormatInt(a.MaxSize, 10))
	}
	w.WriteHeader(http.StatusNoContent)
}

// create starts an upload: an Upload stream that sends only its start, which makes the service record
// the upload and answer its id.
func (a *Admin) create(w http.ResponseWriter, r *http.Request) {
	h := r.Header
	switch {
	case h.Get("Upload-Defer-Length") != "":
		a.fail(w, r, failf(http.StatusBadRequest, "Upload-Defer-Length is not supported: send Upload-Length"))
		return
	case h.Get("Upload-Concat") != "":
		a.fail(w, r, failf(http.StatusBadRequest, "concatenation is not supported"))
		return
	case r.ContentLength != 0:
		a.fail(w, r, failf(http.StatusBadRequest, "creation-with-upload is not supported: create the upload, then PATCH it"))
		return
	}
	size, err := parseSize("Upload-Length", h.Get("Upload-Length"))
	if err != nil {
		a.fail(w, r, failf(http.StatusBadRequest, "%v", err))
		return
	}
	if a.MaxSize > 0 && size > a.MaxSize {
		a.fail(w, r, failf(http.StatusRequestEntityTooLarge, "Upload-Length %d is over the limit of %d bytes", size, a.MaxSize))
		return
	}
	meta, err := parseMetadata(h.Get("Upload-Metadata"))
	if err != nil {
		a.fail(w, r, failf(http.StatusBadRequest, "%v", err))
		return
	}
	start := &vodv1.UploadStart{Size: size, Title: meta["title"], Description: meta["description"],
		FileName: cmp.Or(meta["filename"], meta["name"])}
	if word, ok := meta["visibility"]; ok {
		if start.Visibility, ok = parseVisibility(word); !ok {
			a.fail(w, r, failf(http.StatusBadRequest, "the visibility of Upload-Metadata must be public, unlisted or private, not %q", word))
			return
		}
	}
	ctx, cancel := a.vod.call(r.Context())
	defer cancel()
	up, err := a.vod.c.Upload(ctx)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if err := up.Send(&vodv1.UploadRequest{Data: &vodv1.UploadRequest_Start{Start: start}}); err != nil {
		a.fail(w, r, sendError(up, err))
		return
	}
	res, err := up.CloseAndRecv()
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if res.GetUploadId() == "" {
		a.fail(w, r, failf(http.StatusBadGateway, "the VOD service answered without an upload id"))
		return
	}
	a.log.Info("upload created", "upload", res.GetUploadId(), "size", size)
	w.Header().Set("Location", uploadsPath+"/"+res.GetUploadId())
	w.WriteHeader(http.StatusCreated)
}

// head says how much of an upload is stored: the offset to continue from.
func (a *Admin) head(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	unlock, err := a.lock(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	defer unlock()
	ctx, cancel := a.vod.call(r.Context())
	st, err := a.vod.c.QueryUpload(ctx, &vodv1.QueryUploadRequest{UploadId: id})
	cancel()
	if err != nil {
		a.fail(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Upload-Offset", strconv.FormatInt(st.GetCommittedSize(), 10))
	h.Set("Upload-Length", strconv.FormatInt(st.GetSize(), 10))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// patch streams the body into an Upload stream that continues the upload at Upload-Offset, and answers
// the size the service then has stored.
func (a *Admin) patch(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != tusBodyType {
		a.fail(w, r, failf(http.StatusUnsupportedMediaType, "the body of a PATCH must be %s", tusBodyType))
		return
	}
	off, err := parseSize("Upload-Offset", r.Header.Get("Upload-Offset"))
	if err != nil {
		a.fail(w, r, failf(http.StatusBadRequest, "%v", err))
		return
	}
	l, err := a.acquire(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	defer a.release(id, l)
	ctx, cancel := a.vod.call(r.Context())
	st, err := a.vod.c.QueryUpload(ctx, &vodv1.QueryUploadRequest{UploadId: id})
	cancel()
	if err != nil {
		a.fail(w, r, err)
		return
	}
	left, n := st.GetSize()-off, r.ContentLength
	switch {
	case off != st.GetCommittedSize():
		a.fail(w, r, failf(http.StatusConflict, "Upload-Offset %d does not match the upload: %d bytes are stored; continue from there",
			off, st.GetCommittedSize()))
		return
	case n > left:
		a.fail(w, r, failf(http.StatusRequestEntityTooLarge, "the body of %d bytes goes past Upload-Length: %d bytes are left", n, left))
		return
	case n == 0:
		w.Header().Set("Upload-Offset", strconv.FormatInt(off, 10))
		w.WriteHeader(http.StatusNoContent)
		return
	case n > 0 && n < left && n < minProgress:
		a.fail(w, r, failf(http.StatusBadRequest, "a PATCH that ends before the end of the upload must carry at least %d bytes, not %d "+
			"(uploads are stored in parts of that size; leave tus-js-client's chunkSize unset)", minProgress, n))
		return
	}
	a.log.Debug("upload PATCH", "upload", id, "offset", off, "length", n)
	res, sent, bodyErr, err := a.stream(w, r, l, id, off)
	rc := http.NewResponseController(w)
	if bodyErr != nil || err != nil {
		// the body may not have been read to its end: the connection is not worth waiting for the rest
		w.Header().Set("Connection", "close")
		_ = rc.SetReadDeadline(time.Now())
	} else {
		_ = rc.SetReadDeadline(time.Time{})
	}
	_ = rc.SetWriteDeadline(time.Now().Add(writeWait))
	if bodyErr != nil {
		a.log.Info("upload PATCH ended early", "upload", id, "offset", off, "sent", sent, "committed", res.GetCommittedSize(), "cause", bodyErr)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	committed := res.GetCommittedSize()
	w.Header().Set("Upload-Offset", strconv.FormatInt(committed, 10))
	switch {
	case errors.Is(bodyErr, errTakenOver):
		a.fail(w, r, failf(http.StatusConflict, "%v; %d bytes are stored", bodyErr, committed))
	case errors.Is(bodyErr, os.ErrDeadlineExceeded):
		a.fail(w, r, failf(http.StatusRequestTimeout, "the body sent nothing for %s; %d bytes are stored: continue from there", readIdle, committed))
	case bodyErr != nil:
		a.fail(w, r, failf(http.StatusBadRequest, "the body broke off after %d bytes (%v); %d bytes are stored: continue from there",
			sent, bodyErr, committed))
	case !res.GetComplete() && committed == off && sent > 0:
		a.fail(w, r, failf(http.StatusBadRequest, "the %d bytes sent were too few to store: a PATCH that ends before the end of the upload "+
			"must carry at least %d bytes", sent, minProgress))
	default:
		if res.GetComplete() {
			a.log.Info("upload complete", "upload", id, "size", committed)
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

// stream sends r's body to the service in an Upload stream that continues upload id at off. The stream
// outlives the request: when the body breaks off, the stream is half-closed rather than cancelled, so the
// service stores what it can of what arrived and says how much (res), and the client continues from there.
// bodyErr is why the body ended early; err is the service's refusal.
func (a *Admin) stream(w http.ResponseWriter, r *http.Request, l *uploadLock, id string, off int64) (res *vodv1.UploadResponse, sent int64, bodyErr, err error) {
	ctx, cancel := context.WithCancel(a.vod.outgoing(context.WithoutCancel(r.Context())))
	defer cancel()
	up, err := a.vod.c.Upload(ctx)
	if err != nil {
		return nil, 0, nil, err
	}
	start := &vodv1.UploadStart{UploadId: id, WriteOffset: off}
	if err := up.Send(&vodv1.UploadRequest{Data: &vodv1.UploadRequest_Start{Start: start}}); err != nil {
		return nil, 0, nil, sendError(up, err)
	}
	buf := chunks.Get().(*[]byte)
	// The chunk is reused once Send returns, which has marshalled it (as `nagare ctl vod upload` does).
	defer chunks.Put(buf)
	rc := http.NewResponseController(w)
	for {
		if !l.arm(rc, readIdle) {
			bodyErr = errTakenOver
			break
		}
		n, rerr := fill(r.Body, *buf)
		if n > 0 {
			if err := up.Send(&vodv1.UploadRequest{Data: &vodv1.UploadRequest_Chunk{Chunk: (*buf)[:n]}}); err != nil {
				l.disarm()
				return nil, sent, nil, sendError(up, err)
			}
			sent += int64(n)
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			bodyErr = rerr
			if l.stopped() {
				bodyErr = errTakenOver
			}
			break
		}
	}
	l.disarm()
	t := time.AfterFunc(closeWait, cancel)
	defer t.Stop()
	res, err = up.CloseAndRecv()
	return res, sent, bodyErr, err
}

// fill reads into buf until it is full or the body ends (io.EOF) or fails.
func fill(body io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := body.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// sendError is why Send failed: io.EOF means the service ended the stream, and its status says why.
func sendError(up grpc.ClientStreamingClient[vodv1.UploadRequest, vodv1.UploadResponse], err error) error {
	if !errors.Is(err, io.EOF) {
		return err
	}
	if _, rerr := up.CloseAndRecv(); rerr != nil {
		return rerr
	}
	return status.Error(codes.Internal, "the VOD service ended the upload early")
}

// terminate removes an upload (tus termination): the video it makes, with everything stored of it.
func (a *Admin) terminate(w http.ResponseWriter, r *http.Request) { a.delete(w, r) }

// override serves tus-js-client's overridePatchMethod: a POST that says it is a PATCH (or a DELETE).
func (a *Admin) override(w http.ResponseWriter, r *http.Request) {
	switch strings.ToUpper(r.Header.Get("X-HTTP-Method-Override")) {
	case http.MethodPatch:
		a.patch(w, r)
	case http.MethodDelete:
		a.terminate(w, r)
	default:
		notAllowed("OPTIONS, HEAD, PATCH, DELETE")(w, r)
	}
}

// uploadLock marks an upload as being worked on by one request of this handler. A tus client sends one
// request at a time per upload, so a PATCH still running when another request for its upload comes is one
// the client has given up on (its connection broke without the server noticing yet): the newer request
// asks it to stop (tusd does the same), which ends its body reads at once; it half-closes its stream and
// the service keeps what arrived.
type uploadLock struct {
	done chan struct{}

	mu   sync.Mutex
	stop bool
	rc   *http.ResponseController // of the PATCH while it reads its body
}

// arm lets the PATCH read its body for up to idle more, unless it was asked to stop.
func (l *uploadLock) arm(rc *http.ResponseController, idle time.Duration) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stop {
		return false
	}
	l.rc = rc
	_ = rc.SetReadDeadline(time.Now().Add(idle))
	return true
}

// disarm: the PATCH no longer reads its body.
func (l *uploadLock) disarm() {
	l.mu.Lock()
	l.rc = nil
	l.mu.Unlock()
}

func (l *uploadLock) stopped() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stop
}

// requestStop asks the holder to let go: a read of its body fails at once.
func (l *uploadLock) requestStop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stop = true
	if l.rc != nil {
		_ = l.rc.SetReadDeadline(time.Now())
	}
}

// acquire makes the request the only one of this handler working on upload id, asking the request holding
// it to let go and waiting up to lockWait for that (423 Locked otherwise: tus clients retry).
func (a *Admin) acquire(ctx context.Context, id string) (*uploadLock, error) {
	timer := time.NewTimer(lockWait)
	defer timer.Stop()
	for {
		a.mu.Lock()
		held := a.locks[id]
		if held == nil {
			l := &uploadLock{done: make(chan struct{})}
			a.locks[id] = l
			a.mu.Unlock()
			return l, nil
		}
		a.mu.Unlock()
		held.requestStop()
		select {
		case <-held.done:
		case <-timer.C:
			return nil, failf(http.StatusLocked, "upload %s is busy with another request; retry shortly", id)
		case <-ctx.Done():
			return nil, failf(http.StatusServiceUnavailable, "gave up waiting for upload %s: %v", id, ctx.Err())
		}
	}
}

func (a *Admin) release(id string, l *uploadLock) {
	a.mu.Lock()
	if a.locks[id] == l {
		delete(a.locks, id)
	}
	a.mu.Unlock()
	close(l.done)
}

// lock is acquire for a request that does not read a body; it returns the release.
func (a *Admin) lock(ctx context.Context, id string) (func(), error) {
	l, err := a.acquire(ctx, id)
	if err != nil {
		return nil, err
	}
	return func() { a.release(id, l) }, nil
}
