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
	minPartSize      = 5 << 20
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
	p = min(max(p, minPartSize), maxPartSize)
	return max(p, (size+maxParts-1)/maxParts)
}

// putMultipart uploads size bytes of r in parts, a few at a time. Any failure aborts the upload: parts of
// an upload that is never completed or aborted stay stored, invisible and billed.
func (s *S3) putMultipart(ctx context.Context, key string, r io.Reader, size int64, opts PutOptions) (err error) {
	if size > maxObjectSize {
		return fmt.Errorf("putting %q: size %d exceeds S3's object limit of %d bytes", key, size, int64(maxObjectSize))
	}
	// CRC32 as the SDK's transfer manager does: with an algorithm named at creation, AWS checks every part
	// and wants each part's checksum again at completion.
	in := &s3.CreateMultipartUploadInput{
		Bucket:            aws.String(s.bucket),
		Key:               aws.String(key),
		ContentType:       aws.String(contentTypeOrDefault(opts.ContentType)),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
	}
	if opts.CacheControl != "" {
		in.CacheControl = aws.String(opts.CacheControl)
	}
	created, err := s.client.CreateMultipartUpload(ctx, in)
	if err != nil {
		return s3Err("putting", key, err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, s.abortMultipart(ctx, key, created.UploadId))
		}
	}()

	partSize := s.partSize(size)
	parts := make([]types.CompletedPart, (size+partSize-1)/partSize)
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
				out, err := s.client.UploadPart(gctx, &s3.UploadPartInput{
					Bucket:            aws.String(s.bucket),
					Key:               aws.String(key),
					UploadId:          created.UploadId,
					PartNumber:        aws.Int32(num),
					Body:              bytes.NewReader(buf),
					ContentLength:     aws.Int64(int64(len(buf))),
					ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
				})
				if err != nil {
					// The buffer is not reused: the transport may still hold the body of a failed request.
					return fmt.Errorf("putting %q: uploading part %d: %w", key, num, err)
				}
				parts[i] = types.CompletedPart{PartNumber: aws.Int32(num), ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32}
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

	_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          aws.String(s.bucket),
		Key:             aws.String(key),
		UploadId:        created.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		return fmt.Errorf("putting %q: completing multipart upload: %w", key, err)
	}
	return nil
}

// abortMultipart runs on a context of its own: the caller's may be the cancelled one that made the upload
// fail, and the abort must still go out. A part request cut off by that cancellation can still land on the
// server after the abort, which brings the upload back (S3 documents that an abort may need repeating), so
// it looks again a moment later and aborts until the upload is gone.
func (s *S3) abortMultipart(ctx context.Context, key string, uploadID *string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
	defer cancel()
	for range abortAttempts {
		_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
			Bucket: aws.String(s.bucket), Key: aws.String(key), UploadId: uploadID,
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
			Bucket: aws.String(s.bucket), Key: aws.String(key), UploadId: uploadID, MaxParts: aws.Int32(1),
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

func isNoSuchUpload(err error) bool {
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode() == "NoSuchUpload"
}
