package playback

import (
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strconv"
	"sync"

	"github.com/nagare-video/nagare/internal/objstore"
)

// CORS. Players in pages of any origin load the media, as from the live nodes (internal/media/hlshttp);
// no answer allows credentials.
const (
	allowedMethods = "GET, HEAD, OPTIONS"
	// corsAllowHeaders: byte ranges and the revalidation of cached media.
	corsAllowHeaders = "Range, If-Range, If-None-Match, If-Modified-Since"
	// corsExposeHeaders: what players read of an answer beyond the safelisted headers.
	corsExposeHeaders = "Accept-Ranges, Content-Length, Content-Range, ETag"
	corsMaxAge        = "7200"
)

func setCORS(h http.Header) {
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
}

// preflight answers OPTIONS, a CORS preflight or not.
func preflight(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Allow", allowedMethods)
	h.Set("Access-Control-Allow-Methods", allowedMethods)
	h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
	h.Set("Access-Control-Max-Age", corsMaxAge)
	w.WriteHeader(http.StatusNoContent)
}

// maxTextSize bounds a playlist (or storyboard track) read whole to be rewritten. A 10-hour video cut in
// 2-second segments has a rendition playlist of about 1 MB.
const maxTextSize = 8 << 20

// serveObject answers with the object res.key, honouring conditional requests and byte ranges. Head fixes
// the headers; then each byte range is read with one Get of exactly that range and streamed, and a
// request without ranges reads the object with one Get. HEAD reads nothing.
func (h *Handler) serveObject(w http.ResponseWriter, r *http.Request, res resource) {
	info, err := h.Objects.Head(r.Context(), res.key)
	if err != nil {
		h.warnMissing(r, res, err)
		h.fail(w, r, err)
		return
	}
	size := info.Size
	v := objectValidators(res.key, info)
	ctype := res.ctype
	if ctype == "" {
		ctype = info.ContentType
	}
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	hdr := w.Header()
	v.setHeaders(hdr)
	hdr.Set("Cache-Control", res.cache)
	hdr.Set("Accept-Ranges", "bytes")
	hdr.Set("X-Content-Type-Options", "nosniff")
	switch preconditions(r, v) {
	case http.StatusNotModified:
		w.WriteHeader(http.StatusNotModified)
		return
	case http.StatusPreconditionFailed:
		h.fail(w, r, errPrecondition)
		return
	}

	ranges, outcome := []byteRange(nil), rangeIgnored
	// Two Range fields make no valid ranges-specifier: ignored like any malformed one.
	if rh := r.Header.Values("Range"); len(rh) == 1 && ifRange(r, v) {
		ranges, outcome = parseRange(rh[0], size)
	}
	switch {
	case outcome == rangeUnsatisfiable:
		hdr.Set("Content-Range", fmt.Sprintf("bytes */%d", size))
		h.fail(w, r, errUnsatisfied)
	case outcome == rangeIgnored:
		h.sendWhole(w, r, res.key, info, ctype)
	case len(ranges) == 1:
		h.sendRange(w, r, res.key, info, ctype, ranges[0])
	default:
		h.sendMultipart(w, r, res.key, info, ctype, ranges)
	}
}

// get opens key (or rng of it) and checks that it is still the object Head described.
func (h *Handler) get(r *http.Request, key string, head objstore.ObjectInfo, rng *objstore.Range) (io.ReadCloser, error) {
	body, info, err := h.Objects.Get(r.Context(), key, rng)
	if err != nil {
		return nil, err
	}
	if info.Size != head.Size || !info.ModTime.Equal(head.ModTime) {
		body.Close()
		return nil, fmt.Errorf("%w: %q", errChanged, key)
	}
	return body, nil
}

func (h *Handler) sendWhole(w http.ResponseWriter, r *http.Request, key string, info objstore.ObjectInfo, ctype string) {
	var body io.ReadCloser
	if r.Method != http.MethodHead {
		var err error
		if body, err = h.get(r, key, info, nil); err != nil {
			h.fail(w, r, err)
			return
		}
		defer body.Close()
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Length", strconv.FormatInt(info.Size, 10))
	w.WriteHeader(http.StatusOK)
	if body != nil {
		h.copy(w, r, key, body, info.Size)
	}
}

func (h *Handler) sendRange(w http.ResponseWriter, r *http.Request, key string, info objstore.ObjectInfo, ctype string, br byteRange) {
	var body io.ReadCloser
	if r.Method != http.MethodHead {
		var err error
		if body, err = h.get(r, key, info, &objstore.Range{Start: br.start, End: br.end}); err != nil {
			h.fail(w, r, err)
			return
		}
		defer body.Close()
	}
	hdr := w.Header()
	hdr.Set("Content-Type", ctype)
	hdr.Set("Content-Range", contentRange(br, info.Size))
	hdr.Set("Content-Length", strconv.FormatInt(br.length(), 10))
	w.WriteHeader(http.StatusPartialContent)
	if body != nil {
		h.copy(w, r, key, body, br.length())
	}
}

// sendMultipart answers with a multipart/byteranges body, its parts in the order asked for. Its length is
// known before any byte is read: the part headers do not depend on the data.
func (h *Handler) sendMultipart(w http.ResponseWriter, r *http.Request, key string, info objstore.ObjectInfo, ctype string, ranges []byteRange) {
	partHeader := func(br byteRange) textproto.MIMEHeader {
		return textproto.MIMEHeader{"Content-Type": {ctype}, "Content-Range": {contentRange(br, info.Size)}}
	}
	var cw countWriter
	mw := multipart.NewWriter(&cw)
	for _, br := range ranges {
		_, _ = mw.CreatePart(partHeader(br))
		cw += countWriter(br.length())
	}
	_ = mw.Close()

	// The first range is opened before the status is sent, so that a store failure is still an error
	// answer; a later failure can only cut the answer short.
	var first io.ReadCloser
	if r.Method != http.MethodHead {
		var err error
		if first, err = h.get(r, key, info, &objstore.Range{Start: ranges[0].start, End: ranges[0].end}); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "multipart/byteranges; boundary="+mw.Boundary())
	hdr.Set("Content-Length", strconv.FormatInt(int64(cw), 10))
	w.WriteHeader(http.StatusPartialContent)
	if first == nil {
		return
	}
	out := multipart.NewWriter(w)
	if err := out.SetBoundary(mw.Boundary()); err != nil {
		panic(err) // a boundary multipart chose itself
	}
	for i, br := range ranges {
		body := first
		if i > 0 {
			var err error
			if body, err = h.get(r, key, info, &objstore.Range{Start: br.start, End: br.end}); err != nil {
				h.abort(r, key, err)
			}
		}
		if !h.writePart(out, partHeader(br), r, key, body, br.length()) {
			return // the client went away
		}
	}
	_ = out.Close()
}

// writePart writes a part of n bytes of body, and closes body. It reports whether the client is still
// there.
func (h *Handler) writePart(out *multipart.Writer, hdr textproto.MIMEHeader, r *http.Request, key string, body io.ReadCloser, n int64) bool {
	defer body.Close()
	part, err := out.CreatePart(hdr)
	return err == nil && h.copy(part, r, key, body, n)
}

func contentRange(br byteRange, size int64) string {
	return fmt.Sprintf("bytes %d-%d/%d", br.start, br.end, size)
}

// countWriter counts the bytes written to it.
type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) {
	*c += countWriter(len(p))
	return len(p), nil
}

// copy streams n bytes of body to w. A store failure after the status was sent can only be reported to
// the client by cutting the answer short: see abort. A client that went away ends the copy silently;
// copy reports whether the client is still there.
func (h *Handler) copy(w io.Writer, r *http.Request, key string, body io.Reader, n int64) bool {
	tw := &trackedWriter{w: w}
	buf := copyBuffers.Get().(*[]byte)
	copied, err := io.CopyBuffer(tw, io.LimitReader(body, n), *buf)
	copyBuffers.Put(buf)
	switch {
	case tw.err != nil:
		return false
	case err == nil && copied < n:
		err = fmt.Errorf("%w: %d of %d bytes", io.ErrUnexpectedEOF, copied, n)
	case err == nil:
		return true
	}
	h.abort(r, key, err)
	return false
}

// abort logs a failure of the store in the middle of an answer and aborts the handler, so that the
// server closes the connection (HTTP/1.1) or resets the stream (HTTP/2) rather than let the client take
// a short body for a whole one.
func (h *Handler) abort(r *http.Request, key string, err error) {
	if r.Context().Err() == nil {
		h.log().Error("vod playback cut short", "path", r.URL.Path, "key", key, "err", err)
	}
	panic(http.ErrAbortHandler)
}

// copyBuffers holds the buffers of copy: one per answer in progress, not one per answer.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// trackedWriter keeps the first error of the writer it wraps, which tells the client's failures from the
// store's in an io.Copy.
type trackedWriter struct {
	w   io.Writer
	err error
}

func (t *trackedWriter) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	if err != nil && t.err == nil {
		t.err = err
	}
	return n, err
}

// serveRewritten answers with the text object res.key of a private video, read whole and rewritten so
// that the URIs in it carry query (the request's signature). Range headers are ignored (200): the
// rewritten body is small and exists only in this answer.
func (h *Handler) serveRewritten(w http.ResponseWriter, r *http.Request, res resource, query string) {
	body, info, err := h.Objects.Get(r.Context(), res.key, nil)
	if err != nil {
		h.warnMissing(r, res, err)
		h.fail(w, r, err)
		return
	}
	defer body.Close()
	if info.Size > maxTextSize {
		h.fail(w, r, fmt.Errorf("%w: %q has %d bytes", errTooLarge, res.key, info.Size))
		return
	}
	text, err := io.ReadAll(io.LimitReader(body, maxTextSize+1))
	switch {
	case err != nil:
		h.fail(w, r, fmt.Errorf("reading %q: %w", res.key, err))
		return
	case len(text) > maxTextSize:
		h.fail(w, r, fmt.Errorf("%w: %q", errTooLarge, res.key))
		return
	}
	text = res.rewrite(text, query)
	v := bodyValidators(text, info.ModTime)
	hdr := w.Header()
	v.setHeaders(hdr)
	hdr.Set("Cache-Control", res.cache)
	hdr.Set("Accept-Ranges", "none")
	hdr.Set("X-Content-Type-Options", "nosniff")
	switch preconditions(r, v) {
	case http.StatusNotModified:
		w.WriteHeader(http.StatusNotModified)
		return
	case http.StatusPreconditionFailed:
		h.fail(w, r, errPrecondition)
		return
	}
	hdr.Set("Content-Type", res.ctype)
	hdr.Set("Content-Length", strconv.Itoa(len(text)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(text)
	}
}
