package objstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"golang.org/x/sync/errgroup"
)

// S3's limits and our defaults for multipart uploads.
const (
	maxPutObjectSize = 5 << 30
	maxObjectSize    = 5 << 40
	maxPartSize      = 5 << 30
	maxParts         = 10_000

	defaultPartSize           = 16 << 20
	defaultMultipartThreshold = 64 << 20
	// partsInFlight bounds both the concurrent UploadParts and the memory held: one buffer per part.
	partsInFlight = 4

	abortTimeout      = 30 * time.Second
	abortAttempts     = 3
	abortRecheckDelay = 250 * time.Millisecond
)

func (s *S3) multipartThreshold() int64 {
	if s.MultipartThreshold <= 0 {
		return defaultMultipartThreshold
	}
	return min(s.MultipartThreshold, maxPutObjectSize)
}

func (s *S3) partSize(size int64) int64 {
	p := s.PartSize
	if p <= 0 {
		p = defaultPartSize
	}
	p = min(max(p, MinPartSize), maxPartSize)
	return max(p, (size+maxParts-1)/maxParts)
}

// putMultipart uploads size bytes of r in parts, a few at a time. Any failure aborts the upload: parts of
// an upload that is never completed or aborted stay stored, invisible and billed.
func (s *S3) putMultipart(ctx context.Context, key string, r io.Reader, size int64, opts PutOptions) (err error) {
	if size > maxObjectSize {
		return fmt.Errorf("putting %q: size %d exceeds S3's object limit of %d bytes", key, size, int64(maxObjectSize))
	}
	uploadID, err := s.CreateMultipart(ctx, key, opts)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			// On a context of its own: ctx may be the cancelled one that made the upload fail, and the abort
			// must still go out.
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
			defer cancel()
			err = errors.Join(err, s.AbortMultipart(actx, key, uploadID))
		}
	}()

	partSize := s.partSize(size)
	parts := make([]Part, (size+partSize-1)/partSize)
	// The reader takes a buffer from bufs for each part and the upload gives it back, so at most
	// partsInFlight parts are read ahead or in flight. A nil buffer is allocated on first use.
	bufs := make(chan []byte, partsInFlight)
	for range partsInFlight {
		bufs <- nil
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		for i := range parts {
			num := int32(i + 1)
			var buf []byte
			select {
			case buf = <-bufs:
			case <-gctx.Done():
			}
			if err := gctx.Err(); err != nil {
				return fmt.Errorf("putting %q: part %d: %w", key, num, err)
			}
			if buf == nil {
				buf = make([]byte, partSize)
			}
			buf = buf[:min(partSize, size-int64(i)*partSize)]
			if _, err := io.ReadFull(r, buf); err != nil {
				if errors.Is(err, io.EOF) { // nothing left at all: still short of size
					err = io.ErrUnexpectedEOF
				}
				return fmt.Errorf("putting %q: reading part %d: %w", key, num, err)
			}
			g.Go(func() error {
				// A bytes.Reader is sent as it is, without a copy.
				p, err := s.UploadPart(gctx, key, uploadID, num, bytes.NewReader(buf), int64(len(buf)))
				if err != nil {
					// The buffer is not reused: the transport may still hold the body of a failed request.
					return err
				}
				parts[i] = p
				bufs <- buf[:cap(buf)]
				return nil
			})
		}
		// A longer body fails as it does for PutObject, rather than storing a silently truncated object.
		if n, _ := io.ReadFull(r, make([]byte, 1)); n > 0 {
			return fmt.Errorf("putting %q: body longer than %d bytes", key, size)
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return err
	}
	return s.CompleteMultipart(ctx, key, uploadID, parts)
}

// CreateMultipart starts a multipart upload of the object at key with opts' metadata, with CRC32
// checksums as the SDK's transfer manager does: with an algorithm named at creation, S3 checks every part
// and wants each part's checksum again at completion.
func (s *S3) CreateMultipart(ctx context.Context, key string, opts PutOptions) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	in := &s3.CreateMultipartUploadInput{
		Bucket:            aws.String(s.bucket),
		Key:               aws.String(key),
		ContentType:       aws.String(contentTypeOrDefault(opts.ContentType)),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
	}
	if opts.CacheControl != "" {
		in.CacheControl = aws.String(opts.CacheControl)
	}
	out, err := s.client.CreateMultipartUpload(ctx, in)
	if err != nil {
		return "", s3Err("creating multipart upload of", key, err)
	}
	return aws.ToString(out.UploadId), nil
}

// UploadPart stores exactly size bytes of r as part number of the upload. An io.ReadSeeker holding exactly
// size bytes from its offset (a bytes.Reader, a file) is sent as it is; any other reader is read into
// memory first, since the SDK must read a body twice (signature, checksum) and can retry only a seekable one.
func (s *S3) UploadPart(ctx context.Context, key, uploadID string, number int32, r io.Reader, size int64) (Part, error) {
	if err := checkKey(key); err != nil {
		return Part{}, err
	}
	if err := errors.Join(checkUploadID(uploadID), checkPartNumber(number), checkPartSize(size)); err != nil {
		return Part{}, fmt.Errorf("uploading part %d of %q: %w", number, key, err)
	}
	body, err := partBody(ctx, r, size)
	if err != nil {
		return Part{}, fmt.Errorf("uploading part %d of %q: %w", number, key, err)
	}
	out, err := s.client.UploadPart(ctx, &s3.UploadPartInput{
		Bucket:            aws.String(s.bucket),
		Key:               aws.String(key),
		UploadId:          aws.String(uploadID),
		PartNumber:        aws.Int32(number),
		Body:              body,
		ContentLength:     aws.Int64(size),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
	})
	if err != nil {
		return Part{}, multipartErr(fmt.Sprintf("uploading part %d of", number), key, err)
	}
	return Part{Number: number, Size: size, ETag: aws.ToString(out.ETag), Checksum: aws.ToString(out.ChecksumCRC32)}, nil
}

// partBody returns r if it is an io.ReadSeeker with exactly size bytes left, else size bytes read from r
// into memory. Either way a body of another length is an error, before anything is sent.
func partBody(ctx context.Context, r io.Reader, size int64) (io.ReadSeeker, error) {
	if rs, ok := r.(io.ReadSeeker); ok {
		if left, err := seekerLeft(rs); err == nil {
			if left != size {
				return nil, fmt.Errorf("body has %d bytes, want %d", left, size)
			}
			return rs, nil
		}
		// not really seekable (a pipe behind an *os.File): read it
	}
	var buf bytes.Buffer
	buf.Grow(int(min(size, defaultPartSize)))
	n, err := buf.ReadFrom(ctxReader{ctx, io.LimitReader(r, size+1)})
	if err != nil {
		return nil, fmt.Errorf("reading body: %w", err)
	}
	if n != size {
		return nil, fmt.Errorf("got %d bytes, want %d", n, size)
	}
	return bytes.NewReader(buf.Bytes()), nil
}

func seekerLeft(rs io.Seeker) (int64, error) {
	cur, err := rs.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, err
	}
	end, err := rs.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, err
	}
	if _, err := rs.Seek(cur, io.SeekStart); err != nil {
		return 0, err
	}
	return end - cur, nil
}

// CompleteMultipart joins the parts, in number order, into the object at key. The parts must be those
// UploadPart returned last for their numbers: S3 refuses a replaced part's ETag or checksum.
func (s *S3) CompleteMultipart(ctx context.Context, key, uploadID string, parts []Part) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := checkUploadID(uploadID); err != nil {
		return fmt.Errorf("completing multipart upload of %q: %w", key, err)
	}
	sorted, err := sortParts(parts)
	if err != nil {
		return fmt.Errorf("completing multipart upload of %q: %w", key, err)
	}
	completed := make([]types.CompletedPart, len(sorted))
	for i, p := range sorted {
		completed[i] = types.CompletedPart{PartNumber: aws.Int32(p.Number), ETag: aws.String(p.ETag)}
		if p.Checksum != "" {
			completed[i].ChecksumCRC32 = aws.String(p.Checksum)
		}
	}
	_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          aws.String(s.bucket),
		Key:             aws.String(key),
		UploadId:        aws.String(uploadID),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: completed},
	})
	if err != nil {
		return multipartErr("completing multipart upload of", key, err)
	}
	return nil
}

// AbortMultipart discards the upload and its parts. A part request still in flight can land on the server
// after the abort and bring the upload back (S3 documents that an abort may need repeating), so it looks
// again a moment later and aborts until the upload is gone. An unknown upload is not an error. Callers
// aborting after a cancellation should pass a context that is still live.
func (s *S3) AbortMultipart(ctx context.Context, key, uploadID string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if checkUploadID(uploadID) != nil {
		return nil // cannot exist
	}
	for range abortAttempts {
		_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
			Bucket: aws.String(s.bucket), Key: aws.String(key), UploadId: aws.String(uploadID),
		})
		if err != nil && !isNoSuchUpload(err) {
			return fmt.Errorf("aborting multipart upload of %q: %w", key, err)
		}
		select {
		case <-time.After(abortRecheckDelay):
		case <-ctx.Done():
			return fmt.Errorf("aborting multipart upload of %q: %w", key, ctx.Err())
		}
		_, err = s.client.ListParts(ctx, &s3.ListPartsInput{
			Bucket: aws.String(s.bucket), Key: aws.String(key), UploadId: aws.String(uploadID), MaxParts: aws.Int32(1),
		})
		if isNoSuchUpload(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("checking aborted multipart upload of %q: %w", key, err)
		}
	}
	return fmt.Errorf("aborting multipart upload of %q: parts still present after %d aborts", key, abortAttempts)
}

// checkUploadID refuses an empty upload ID, which the SDK would refuse with a less telling error.
func checkUploadID(uploadID string) error {
	if uploadID == "" {
		return fmt.Errorf("%w: empty upload ID", ErrNoSuchUpload)
	}
	return nil
}

// multipartErr maps S3's NoSuchUpload (an unknown ID, or one created for another key) to ErrNoSuchUpload.
func multipartErr(op, key string, err error) error {
	if isNoSuchUpload(err) {
		return fmt.Errorf("%s %q: %w", op, key, ErrNoSuchUpload)
	}
	return s3Err(op, key, err)
}

func isNoSuchUpload(err error) bool {
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode() == "NoSuchUpload"
}
