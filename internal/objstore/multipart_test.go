package objstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/objstore"
	"github.com/nagare-video/nagare/internal/testutil"
)

const mib = 1 << 20

func TestS3Multipart(t *testing.T) {
	t.Parallel()
	endpoint, ak, sk := testutil.S3Server(t)
	raw := rawS3(endpoint, ak, sk)
	opts := objstore.PutOptions{ContentType: "video/mp4", CacheControl: "max-age=31536000"}

	for i, tc := range []struct {
		name      string
		size      int64
		threshold int64
		// body wraps the object's data; cancel cancels Put's context.
		body      func(data []byte, cancel context.CancelFunc) io.Reader
		wantParts int // 0: one PutObject
		wantErr   error
		wantMsg   string // a regexp
	}{
		{
			name: "just over the threshold", size: 12*mib + 3, threshold: 12 * mib,
			body: whole, wantParts: 3,
		},
		{
			name: "multiple of the part size", size: 15 * mib, threshold: 1,
			body: whole, wantParts: 3,
		},
		{
			name: "at the threshold", size: 6 * mib, threshold: 6 * mib,
			body: whole,
		},
		{
			name: "reader ends early", size: 12*mib + 3, threshold: 1,
			body: func(data []byte, _ context.CancelFunc) io.Reader {
				return &hookReader{data: data[:8*mib]}
			},
			wantErr: io.ErrUnexpectedEOF, wantMsg: `reading part 2\b`,
		},
		{
			name: "context cancelled mid-upload", size: 12*mib + 3, threshold: 1,
			body: func(data []byte, cancel context.CancelFunc) io.Reader {
				return &hookReader{data: data, at: 7 * mib, hook: func() error { cancel(); return nil }}
			},
			wantErr: context.Canceled, wantMsg: `part \d\b`,
		},
		{
			name: "body longer than size", size: 10 * mib, threshold: 1,
			body: func(data []byte, _ context.CancelFunc) io.Reader {
				return &hookReader{data: append(data, 'x')}
			},
			wantMsg: "longer than",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newS3(t, endpoint, ak, sk, s3Bucket(i))
			s.PartSize = 5 * mib
			s.MultipartThreshold = tc.threshold
			data := seededBytes(tc.size, uint64(i))
			const key = "vod/rec/recording.mp4"

			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			err := s.Put(ctx, key, tc.body(data, cancel), tc.size, opts)

			if tc.wantMsg != "" {
				require.Error(t, err)
				if tc.wantErr != nil {
					require.ErrorIs(t, err, tc.wantErr)
				}
				require.Regexp(t, tc.wantMsg, err.Error())
				require.ErrorContains(t, err, key)
				_, err = s.Head(t.Context(), key)
				require.ErrorIs(t, err, objstore.ErrNotFound)
				uploads, err := raw.ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{Bucket: aws.String(s3Bucket(i))})
				require.NoError(t, err)
				require.Empty(t, uploads.Uploads, "the upload must be aborted")
				return
			}
			require.NoError(t, err)

			got, info := get(t, s, key, nil)
			require.True(t, bytes.Equal(data, got), "round trip differs")
			require.Equal(t, tc.size, info.Size)
			// a range across the boundary of the first and second part
			got, _ = get(t, s, key, &objstore.Range{Start: 5*mib - 100, End: 5*mib + 99})
			require.True(t, bytes.Equal(data[5*mib-100:5*mib+100], got), "ranged read differs")

			head, err := s.Head(t.Context(), key)
			require.NoError(t, err)
			require.Equal(t, tc.size, head.Size)
			require.Equal(t, opts.ContentType, head.ContentType)
			require.Equal(t, opts.CacheControl, head.CacheControl)

			// A multipart object's ETag ends in "-<number of parts>"; a PutObject's has no dash.
			out, err := raw.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String(s3Bucket(i)), Key: aws.String(key)})
			require.NoError(t, err)
			etag := strings.Trim(aws.ToString(out.ETag), `"`)
			if tc.wantParts == 0 {
				require.NotContains(t, etag, "-")
			} else {
				require.True(t, strings.HasSuffix(etag, fmt.Sprintf("-%d", tc.wantParts)), "ETag %s", etag)
			}
		})
	}
}

// TestS3MultipartGrowsPartSize puts an object too large for 10,000 parts of PartSize and checks the size
// of the first part on the server, stopping the upload before any more data is needed.
func TestS3MultipartGrowsPartSize(t *testing.T) {
	t.Parallel()
	endpoint, ak, sk := testutil.S3Server(t)
	raw := rawS3(endpoint, ak, sk)
	s := newS3(t, endpoint, ak, sk, "grow")
	s.PartSize = 5 * mib
	s.MultipartThreshold = 1
	size := int64(10_000*5*mib + 1)
	bucket := aws.String("grow")

	errStop := errors.New("stop")
	var firstPart int64
	r := &hookReader{data: make([]byte, 6*mib), at: 6 * mib, hook: func() error {
		// Called on the uploader's goroutine: wait for part 1 to be stored, note its size, stop.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for ctx.Err() == nil {
			uploads, err := raw.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: bucket})
			if err == nil && len(uploads.Uploads) == 1 {
				parts, err := raw.ListParts(ctx, &s3.ListPartsInput{Bucket: bucket, Key: uploads.Uploads[0].Key, UploadId: uploads.Uploads[0].UploadId})
				if err == nil && len(parts.Parts) == 1 {
					firstPart = aws.ToInt64(parts.Parts[0].Size)
					break
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		return errStop
	}}
	err := s.Put(t.Context(), "huge", r, size, objstore.PutOptions{})
	require.ErrorIs(t, err, errStop)
	require.Equal(t, int64(5*mib+1), firstPart, "part size must grow to fit 10,000 parts")
	uploads, err := raw.ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{Bucket: bucket})
	require.NoError(t, err)
	require.Empty(t, uploads.Uploads)
}

func newS3(t *testing.T, endpoint, ak, sk, bucket string) *objstore.S3 {
	t.Helper()
	s, err := objstore.NewS3(t.Context(), objstore.S3Config{Endpoint: endpoint, Bucket: bucket, AccessKey: ak, SecretKey: sk, PathStyle: true})
	require.NoError(t, err)
	require.NoError(t, s.CreateBucket(t.Context()))
	return s
}

func s3Bucket(i int) string { return fmt.Sprintf("multipart-%d", i) }

// rawS3 is a plain client for what objstore does not expose: pending uploads, their parts, ETags.
func rawS3(endpoint, ak, sk string) *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(endpoint),
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider(ak, sk, ""),
		UsePathStyle: true,
	})
}

func seededBytes(n int64, seed uint64) []byte {
	b := make([]byte, n)
	_, _ = rand.NewChaCha8([32]byte{byte(seed)}).Read(b)
	return b
}

// whole serves the data through a plain io.Reader, as a streamed recording would arrive.
func whole(data []byte, _ context.CancelFunc) io.Reader {
	return &hookReader{data: data}
}

// hookReader serves data, calling hook once when at bytes have been read; a hook error ends the stream.
type hookReader struct {
	data   []byte
	off    int64
	at     int64
	hook   func() error
	hooked bool
}

func (r *hookReader) Read(p []byte) (int, error) {
	if r.hook != nil && !r.hooked && r.off >= r.at {
		r.hooked = true
		if err := r.hook(); err != nil {
			return 0, err
		}
	}
	if r.off >= int64(len(r.data)) {
		return 0, io.EOF
	}
	if r.hook != nil && !r.hooked {
		p = p[:min(int64(len(p)), r.at-r.off)]
	}
	n := copy(p, r.data[r.off:])
	r.off += int64(n)
	return n, nil
}
