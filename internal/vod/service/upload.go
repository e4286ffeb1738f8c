package service

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/nagare-video/nagare/internal/objstore"
	"github.com/nagare-video/nagare/internal/vod/store"
	"github.com/nagare-video/nagare/internal/vod/vodv1"
)

// Header and trailer keys of Upload.
const (
	HeaderUploadID  = "nagare-upload-id"
	HeaderCommitted = "nagare-committed-size"
)

// partTimeout bounds the storing of one part; claimWait is how long a stream continuing an upload waits
// for the stream that wrote it before to end.
const (
	partTimeout = 2 * time.Minute
	claimWait   = 10 * time.Second
)

// Field limits of an upload's metadata.
const (
	MaxTitle       = 512
	MaxDescription = 8 << 10
	MaxFileName    = 255
)

// Upload receives a file, stores it part by part as it arrives and, once the last byte is stored and the
// checksum verified, queues the video for processing.
func (s *Service) Upload(stream grpc.ClientStreamingServer[vodv1.UploadRequest, vodv1.UploadResponse]) error {
	err := s.upload(stream)
	if err != nil {
		s.Metrics.UploadFailed(status.Code(err))
	}
	return err
}

func (s *Service) upload(stream grpc.ClientStreamingServer[vodv1.UploadRequest, vodv1.UploadResponse]) error {
	ctx := stream.Context()
	p := caller(ctx)
	first, err := stream.Recv()
	if err != nil {
		return status.Errorf(codes.InvalidArgument, "reading the first message: %v", err)
	}
	start := first.GetStart()
	if start == nil {
		return status.Error(codes.InvalidArgument, "the first message of an upload must be start")
	}
	var up store.Upload
	if start.UploadId == "" {
		if up, err = s.createUpload(ctx, p, start); err != nil {
			return err
		}
		s.Metrics.UploadStarted()
		s.claim(up.ID) // a new id: nobody else writes it
	} else {
		if !ValidID(start.UploadId) {
			return status.Error(codes.InvalidArgument, "upload_id is not an upload id")
		}
		if !s.claimWait(ctx, start.UploadId, claimWait) {
			return status.Errorf(codes.Aborted, "upload %s is being written by another stream", start.UploadId)
		}
		if up, err = s.resumeUpload(ctx, p, start); err != nil {
			s.release(start.UploadId)
			return err
		}
	}
	defer s.release(up.ID)
	// The id goes out at once: a client that loses the connection later continues with it.
	if err := stream.SendHeader(metadata.Pairs(HeaderUploadID, up.ID, HeaderCommitted, strconv.FormatInt(up.Committed, 10))); err != nil {
		return err
	}
	w, err := s.newPartWriter(ctx, up)
	if err != nil {
		return err
	}
	recvErr := s.receive(stream, w)
	s.ending(up.ID)
	committed, err := w.finish()
	stream.SetTrailer(metadata.Pairs(HeaderCommitted, strconv.FormatInt(committed, 10)))
	if recvErr != nil {
		if err != nil {
			s.log.Warn("upload interrupted, and storing its last part failed", "upload", up.ID, "err", err)
		}
		s.log.Info("upload interrupted", "upload", up.ID, "committed", committed, "size", up.Size, "cause", recvErr)
		return recvErr
	}
	if err != nil {
		return storageStatus(err, "storing the upload")
	}
	if committed < up.Size {
		return stream.SendAndClose(&vodv1.UploadResponse{UploadId: up.ID, CommittedSize: committed})
	}
	v, err := s.completeUpload(ctx, up, w)
	if err != nil {
		return err
	}
	return stream.SendAndClose(&vodv1.UploadResponse{UploadId: up.ID, CommittedSize: committed, Complete: true, Video: s.toProto(v)})
}

// receive copies the stream's chunks into w until the client half-closes (nil) or something goes wrong.
func (s *Service) receive(stream grpc.ClientStreamingServer[vodv1.UploadRequest, vodv1.UploadResponse], w *partWriter) error {
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if _, ok := status.FromError(err); ok {
				return err
			}
			return status.FromContextError(err).Err()
		}
		chunk, ok := msg.Data.(*vodv1.UploadRequest_Chunk)
		if !ok {
			return status.Error(codes.InvalidArgument, "start may only be the first message of an upload")
		}
		s.Metrics.Received(len(chunk.Chunk))
		err = w.write(chunk.Chunk)
		releaseChunk(chunk.Chunk)
		if err != nil {
			return err
		}
	}
}

func (s *Service) createUpload(ctx context.Context, p principal, st *vodv1.UploadStart) (store.Upload, error) {
	owner := st.Owner
	switch {
	case p.admin && owner == "":
		owner = "admin"
	case !p.admin && owner == "":
		owner = p.owner
	case !p.admin && owner != p.owner:
		return store.Upload{}, status.Errorf(codes.PermissionDenied, "this token uploads for %q only", p.owner)
	}
	if err := s.checkStart(st, owner); err != nil {
		return store.Upload{}, err
	}
	if s.cfg.Quota > 0 {
		used, err := s.store.OwnerUsage(ctx, owner)
		if err != nil {
			return store.Upload{}, storeStatus(err, "reading the owner's usage")
		}
		if used+st.Size > s.cfg.Quota {
			return store.Upload{}, status.Errorf(codes.ResourceExhausted, "quota of %q exceeded: %d bytes used, %d more asked, %d allowed",
				owner, used, st.Size, s.cfg.Quota)
		}
	}
	id := newID()
	key := s.key(id, "source")
	mp, err := s.objects.CreateMultipart(ctx, key, objstore.PutOptions{ContentType: "application/octet-stream"})
	if err != nil {
		return store.Upload{}, storageStatus(err, "starting the upload")
	}
	state, _ := sha256.New().(encoding.BinaryMarshaler).MarshalBinary()
	visibility := store.Visibility(st.Visibility)
	if visibility == 0 {
		visibility = store.Private
	}
	title := st.Title
	if title == "" {
		title = strings.TrimSuffix(path.Base(st.FileName), path.Ext(st.FileName))
	}
	v := store.Video{ID: id, Owner: owner, Title: title, Description: st.Description, Visibility: visibility,
		Source: store.FromUpload, FileName: st.FileName, Size: st.Size, SourceKey: key}
	up := store.Upload{ID: id, ObjectKey: key, MultipartID: mp, Size: st.Size, ExpectedSHA256: strings.ToLower(st.Sha256),
		HashState: state, ExpiresAt: s.store.Now().Add(s.cfg.UploadExpiry)}
	if err := s.store.CreateUpload(ctx, v, up); err != nil {
		_ = s.objects.AbortMultipart(context.WithoutCancel(ctx), key, mp)
		return store.Upload{}, storeStatus(err, "recording the upload")
	}
	s.log.Info("upload started", "upload", id, "owner", owner, "size", st.Size)
	return up, nil
}

// checkStart validates a new upload's metadata.
func (s *Service) checkStart(st *vodv1.UploadStart, owner string) error {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if st.WriteOffset != 0 {
		bad("write_offset must be 0 for a new upload (got %d)", st.WriteOffset)
	}
	if st.Size <= 0 {
		bad("size must be positive (got %d)", st.Size)
	} else if s.cfg.MaxSize > 0 && st.Size > s.cfg.MaxSize {
		bad("size %d exceeds the limit of %d bytes", st.Size, s.cfg.MaxSize)
	}
	if !ValidOwner(owner) {
		bad("owner must be 1 to %d of [A-Za-z0-9._-]", MaxOwner)
	}
	if len(st.Title) > MaxTitle || !utf8.ValidString(st.Title) {
		bad("title must be valid UTF-8 of at most %d bytes", MaxTitle)
	}
	if len(st.Description) > MaxDescription || !utf8.ValidString(st.Description) {
		bad("description must be valid UTF-8 of at most %d bytes", MaxDescription)
	}
	if len(st.FileName) > MaxFileName || !utf8.ValidString(st.FileName) || strings.ContainsAny(st.FileName, "\x00/\\") {
		bad("file_name must be a base name (no / or \\) of at most %d bytes", MaxFileName)
	}
	if st.Sha256 != "" {
		if b, err := hex.DecodeString(st.Sha256); err != nil || len(b) != sha256.Size {
			bad("sha256 must be 64 hex digits")
		}
	}
	if _, ok := vodv1.Visibility_name[int32(st.Visibility)]; !ok {
		bad("unknown visibility %d", st.Visibility)
	}
	if len(problems) > 0 {
		return status.Error(codes.InvalidArgument, strings.Join(problems, "; "))
	}
	return nil
}

func (s *Service) resumeUpload(ctx context.Context, p principal, st *vodv1.UploadStart) (store.Upload, error) {
	up, err := s.ownUpload(ctx, p, st.UploadId)
	if err != nil {
		return up, err
	}
	if st.WriteOffset != up.Committed {
		return up, status.Errorf(codes.FailedPrecondition, "write_offset %d does not match the upload: %d bytes are committed; continue from %d",
			st.WriteOffset, up.Committed, up.Committed)
	}
	return up, nil
}

// ownUpload reads the upload with the caller's rights checked: another owner's is NOT_FOUND.
func (s *Service) ownUpload(ctx context.Context, p principal, id string) (store.Upload, error) {
	v, err := s.store.Video(ctx, id)
	if err == nil && !p.canSee(v.Owner) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Upload{}, storeStatus(err, "upload "+id)
	}
	up, err := s.store.Upload(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return up, status.Errorf(codes.FailedPrecondition, "upload %s is complete (video status %s)", id, v.Status)
	}
	if err != nil {
		return up, storeStatus(err, "upload "+id)
	}
	return up, nil
}

// QueryUpload says how much of an upload is stored. When the stream writing it has just stopped (a broken
// connection) and still stores its last part, it waits for that (up to 10 s), so that the size it returns
// is the one to continue from.
func (s *Service) QueryUpload(ctx context.Context, req *vodv1.QueryUploadRequest) (*vodv1.UploadStatus, error) {
	if !ValidID(req.UploadId) {
		return nil, status.Error(codes.InvalidArgument, "upload_id is not an upload id")
	}
	p := caller(ctx)
	v, err := s.store.Video(ctx, req.UploadId)
	if err == nil && !p.canSee(v.Owner) {
		err = store.ErrNotFound
	}
	if err != nil {
		return nil, storeStatus(err, "upload "+req.UploadId)
	}
	// A stream that just broke may still be storing its last part: answer once it is done.
	s.waitEnded(ctx, v.ID, claimWait)
	up, err := s.store.Upload(ctx, req.UploadId)
	if errors.Is(err, store.ErrNotFound) {
		return &vodv1.UploadStatus{UploadId: v.ID, Size: v.Size, CommittedSize: v.Size, Complete: true}, nil
	}
	if err != nil {
		return nil, storeStatus(err, "upload "+req.UploadId)
	}
	return &vodv1.UploadStatus{UploadId: up.ID, Size: up.Size, CommittedSize: up.Committed, ExpiresAt: timestamp(up.ExpiresAt)}, nil
}

// completeUpload checks the whole file's checksum, joins the parts into the source object and hands the
// video to processing. On a mismatch nothing is kept.
func (s *Service) completeUpload(ctx context.Context, up store.Upload, w *partWriter) (store.Video, error) {
	sum := hex.EncodeToString(w.hash.Sum(nil))
	if up.ExpectedSHA256 != "" && sum != up.ExpectedSHA256 {
		s.discard(ctx, up)
		return store.Video{}, status.Errorf(codes.DataLoss, "sha256 mismatch: the client said %s, the server received %s; nothing was kept",
			up.ExpectedSHA256, sum)
	}
	if err := s.objects.CompleteMultipart(ctx, up.ObjectKey, up.MultipartID, w.parts); err != nil {
		return store.Video{}, storageStatus(err, "completing the upload")
	}
	v, err := s.store.CompleteUpload(ctx, up.ID, sum)
	if err != nil {
		return store.Video{}, storeStatus(err, "completing the upload")
	}
	s.log.Info("upload complete", "upload", up.ID, "size", up.Size, "sha256", sum)
	s.Metrics.UploadCompleted()
	if s.Processing != nil {
		s.Processing()
	}
	return v, nil
}

// discard removes an upload and its video entirely.
func (s *Service) discard(ctx context.Context, up store.Upload) {
	ctx = context.WithoutCancel(ctx)
	if err := s.objects.AbortMultipart(ctx, up.ObjectKey, up.MultipartID); err != nil {
		s.log.Warn("aborting a refused upload", "upload", up.ID, "err", err)
	}
	if err := s.store.DeleteVideo(ctx, up.ID); err != nil {
		s.log.Warn("removing a refused upload", "upload", up.ID, "err", err)
	}
}

// partWriter cuts an upload's bytes into parts and stores them, a few concurrently, committing each to the
// store in order together with the SHA-256 state after it.
type partWriter struct {
	s *Service
	// ctx is not cancelled when the client goes: bytes that arrived are stored all the same.
	ctx    context.Context
	up     store.Upload
	hash   hash.Hash
	parts  []objstore.Part
	offset int64 // bytes received (committed + in flight + buf)

	buf  []byte
	bufs chan []byte // free part buffers

	inflight chan *pendingPart // parts being stored, in order
	done     chan struct{}     // the committer has ended
	failed   chan struct{}     // closed at the committer's first error, which is err
	err      error             // the committer's first error; read after failed or done
	sniffed  bool
	// discarded: the upload was refused and removed; nothing more is stored.
	discarded bool
}

type pendingPart struct {
	part   objstore.Part
	data   []byte
	from   int64
	state  []byte
	result chan error
}

func (s *Service) newPartWriter(ctx context.Context, up store.Upload) (*partWriter, error) {
	h := sha256.New()
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(up.HashState); err != nil {
		return nil, status.Errorf(codes.Internal, "upload %s: restoring its checksum state: %v", up.ID, err)
	}
	w := &partWriter{s: s, ctx: context.WithoutCancel(ctx), up: up, hash: h, parts: append([]objstore.Part(nil), up.Parts...), offset: up.Committed,
		bufs: make(chan []byte, s.cfg.PartsInFlight+1), inflight: make(chan *pendingPart, s.cfg.PartsInFlight),
		done: make(chan struct{}), failed: make(chan struct{}), sniffed: up.Committed > 0}
	for range s.cfg.PartsInFlight + 1 {
		w.bufs <- nil
	}
	w.buf = w.take()
	go w.commit()
	return w, nil
}

func (w *partWriter) take() []byte {
	b := <-w.bufs
	if b == nil {
		b = w.s.partBuf()
	}
	return b[:0]
}

// write adds a chunk; a full buffer becomes a part.
func (w *partWriter) write(chunk []byte) error {
	if len(chunk) == 0 {
		return nil
	}
	if len(chunk) > MaxChunk {
		return status.Errorf(codes.InvalidArgument, "a chunk of %d bytes is over the %d-byte limit", len(chunk), MaxChunk)
	}
	if w.offset+int64(len(chunk)) > w.up.Size {
		return status.Errorf(codes.InvalidArgument, "chunk past the declared size: %d bytes declared, this chunk ends at %d",
			w.up.Size, w.offset+int64(len(chunk)))
	}
	select {
	case <-w.failed:
		return storageStatus(w.err, "storing the upload")
	default:
	}
	for len(chunk) > 0 {
		n := min(len(chunk), cap(w.buf)-len(w.buf))
		w.buf = append(w.buf, chunk[:n]...)
		w.hash.Write(chunk[:n])
		chunk = chunk[n:]
		w.offset += int64(n)
		if !w.sniffed && (len(w.buf) >= sniffLen || w.offset == w.up.Size) {
			w.sniffed = true
			if err := sniff(w.buf); err != nil {
				w.discarded = true
				w.s.discard(w.ctx, w.up)
				return status.Errorf(codes.InvalidArgument, "%v; the upload was discarded", err)
			}
		}
		if len(w.buf) == cap(w.buf) || w.offset == w.up.Size {
			if err := w.cut(); err != nil {
				return err
			}
		}
	}
	return nil
}

// cut hands the buffer to the committer as the next part.
func (w *partWriter) cut() error {
	state, err := w.hash.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return status.Errorf(codes.Internal, "saving the checksum state: %v", err)
	}
	p := &pendingPart{data: w.buf, from: w.offset - int64(len(w.buf)), state: state, result: make(chan error, 1)}
	w.buf = nil
	select {
	case w.inflight <- p:
	case <-w.failed:
		return storageStatus(w.err, "storing the upload")
	}
	go func() { p.result <- w.store(p) }()
	select {
	case w.buf = <-w.bufs:
		if w.buf == nil {
			w.buf = w.s.partBuf()
		}
		w.buf = w.buf[:0]
	case <-w.failed:
		return storageStatus(w.err, "storing the upload")
	}
	return nil
}

// store uploads one part. Its number follows from its offset: every part but the last is PartSize long
// (or, after an interruption, whatever was committed: numbering continues after the committed parts).
func (w *partWriter) store(p *pendingPart) error {
	p.part.Number = w.numberOf(p.from)
	ctx, cancel := context.WithTimeout(w.ctx, partTimeout)
	defer cancel()
	part, err := w.s.objects.UploadPart(ctx, w.up.ObjectKey, w.up.MultipartID, p.part.Number, bytes.NewReader(p.data), int64(len(p.data)))
	p.part = part
	return err
}

// numberOf numbers the part starting at byte from: committed parts keep theirs; parts of this stream
// follow them in steps of PartSize.
func (w *partWriter) numberOf(from int64) int32 {
	base := int32(len(w.up.Parts))
	return base + 1 + int32((from-w.up.Committed)/w.s.cfg.PartSize)
}

// commit records the parts in order as they are stored, and recycles their buffers.
func (w *partWriter) commit() {
	defer close(w.done)
	for p := range w.inflight {
		err := <-p.result
		if err == nil {
			expires := w.s.store.Now().Add(w.s.cfg.UploadExpiry)
			err = w.s.store.CommitPart(w.ctx, w.up.ID, p.from, p.part, p.state, expires)
		}
		if err != nil {
			w.err = err
			close(w.failed) // the writer stops cutting parts and returns the error
			// drain: the parts still in flight are not committed
			for q := range w.inflight {
				<-q.result
			}
			return
		}
		w.parts = append(w.parts, p.part)
		w.bufs <- p.data[:0]
	}
}

// finish stores what can still be stored and returns the committed size: the buffer becomes a part when it
// may be one (at least MinPartSize), whether the stream ended cleanly or broke, since those bytes did arrive.
func (w *partWriter) finish() (int64, error) {
	stored := true
	select {
	case <-w.failed: // storage failed: nothing more is stored by this stream
		stored = false
	default:
	}
	var err error
	if stored && !w.discarded && len(w.buf) >= objstore.MinPartSize {
		err = w.cut()
	}
	close(w.inflight)
	<-w.done
	w.recycle()
	if err == nil {
		err = w.err
	}
	return w.committed(), err
}

// recycle gives the stream's part buffers back to the service for the next upload (buffers of parts that
// failed in flight are left to the collector: the transport may still hold them).
func (w *partWriter) recycle() {
	if w.buf != nil {
		w.s.putPartBuf(w.buf)
		w.buf = nil
	}
	for {
		select {
		case b := <-w.bufs:
			if b != nil {
				w.s.putPartBuf(b)
			}
		default:
			return
		}
	}
}

func (w *partWriter) committed() int64 {
	var n int64
	for _, p := range w.parts {
		n += p.Size
	}
	return n
}
