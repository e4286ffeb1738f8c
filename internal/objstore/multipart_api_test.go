package objstore_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/nagare-video/nagare/internal/objstore"
	"github.com/nagare-video/nagare/internal/testutil"
)

// mpStore is what a resumable upload service needs of a backend, declared here as a consumer would.
type mpStore interface {
	store
	objstore.Multipart
}

// mpBackend is a fresh, empty store seen through two values, as two server processes would see it.
type mpBackend struct {
	s, s2 mpStore
	// pending counts the uploads in progress in the store.
	pending func(t *testing.T) int
	// checksums: the backend reports a checksum for each part.
	checksums bool
	// pathIDs are upload IDs, some leading to the live upload id, that a backend keeping uploads in
	// directories must not take for paths. S3 passes IDs through as opaque strings (versitygw v1.8.0
	// answers some of these with a 500), so its list is empty.
	pathIDs func(id string) []string
}

func TestLocalMultipartAPI(t *testing.T) {
	t.Parallel()
	testMultipartAPI(t, func(t *testing.T) mpBackend {
		root := filepath.Join(t.TempDir(), "root")
		s, err := objstore.NewLocal(root)
		require.NoError(t, err)
		s2, err := objstore.NewLocal(root)
		require.NoError(t, err)
		return mpBackend{
			s: s, s2: s2,
			pending: func(t *testing.T) int {
				entries, err := os.ReadDir(filepath.Join(root, ".multipart"))
				if os.IsNotExist(err) {
					return 0
				}
				require.NoError(t, err)
				return len(entries)
			},
			pathIDs: func(id string) []string {
				return []string{
					".", "..", "../..", "../../root", "/", strings.Repeat("0", 31) + "/",
					"./" + id, "../.multipart/" + id, id + "/", id + "/.", "/" + id, strings.ToUpper(id),
				}
			},
		}
	})
}

func TestS3MultipartAPI(t *testing.T) {
	t.Parallel()
	endpoint, ak, sk := testutil.S3Server(t)
	raw := rawS3(endpoint, ak, sk)
	var n atomic.Int32
	testMultipartAPI(t, func(t *testing.T) mpBackend {
		bucket := fmt.Sprintf("mp-api-%d", n.Add(1))
		return mpBackend{
			s: newS3(t, endpoint, ak, sk, bucket), s2: newS3(t, endpoint, ak, sk, bucket),
			pending: func(t *testing.T) int {
				out, err := raw.ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
				require.NoError(t, err)
				return len(out.Uploads)
			},
			checksums: true,
			pathIDs:   func(string) []string { return nil },
		}
	})
}

func testMultipartAPI(t *testing.T, newBackend func(*testing.T) mpBackend) {
	const key = "vod/up1/source.mp4"
	opts := objstore.PutOptions{ContentType: "video/mp4", CacheControl: "private, max-age=60"}

	for _, tc := range []struct {
		name string
		run  func(t *testing.T, b mpBackend)
	}{
		{"three parts completed", func(t *testing.T, b mpBackend) {
			s, ctx := b.s, t.Context()
			data := seededBytes(10*mib+1024, 1)
			id := create(t, s, key, opts)
			// out of order, and part 2 through a reader that cannot seek
			p3 := uploadPart(t, s, key, id, 3, data[10*mib:])
			p1 := uploadPart(t, s, key, id, 1, data[:5*mib])
			p2, err := s.UploadPart(ctx, key, id, 2, io.MultiReader(bytes.NewReader(data[5*mib:10*mib])), 5*mib)
			require.NoError(t, err)
			require.Equal(t, objstore.Part{Number: 2, Size: 5 * mib, ETag: p2.ETag, Checksum: p2.Checksum}, p2)
			for _, p := range []objstore.Part{p1, p2, p3} {
				require.NotEmpty(t, p.ETag)
				require.Equal(t, b.checksums, p.Checksum != "", "checksum %q", p.Checksum)
			}

			// in progress: invisible
			_, err = s.Head(ctx, key)
			require.ErrorIs(t, err, objstore.ErrNotFound)
			list, err := s.List(ctx, "")
			require.NoError(t, err)
			require.Empty(t, list)
			require.Equal(t, 1, b.pending(t))

			require.NoError(t, s.CompleteMultipart(ctx, key, id, []objstore.Part{p3, p1, p2}))
			got, info := get(t, s, key, nil)
			require.True(t, bytes.Equal(data, got), "object differs from the parts joined")
			require.Equal(t, int64(len(data)), info.Size)
			require.Equal(t, opts.ContentType, info.ContentType)
			require.Equal(t, opts.CacheControl, info.CacheControl)
			list, err = s.List(ctx, "")
			require.NoError(t, err)
			require.Len(t, list, 1)
			require.Equal(t, key, list[0].Key)
			require.Zero(t, b.pending(t))

			// a completed upload is gone
			_, err = s.UploadPart(ctx, key, id, 1, bytes.NewReader(data[:10]), 10)
			require.ErrorIs(t, err, objstore.ErrNoSuchUpload)
			require.NoError(t, s.AbortMultipart(ctx, key, id))
			got, _ = get(t, s, key, nil)
			require.True(t, bytes.Equal(data, got), "abort after complete must leave the object")
		}},

		{"re-uploading a part replaces it", func(t *testing.T, b mpBackend) {
			s, ctx := b.s, t.Context()
			first, second, tail := seededBytes(5*mib, 2), seededBytes(5*mib, 3), seededBytes(1000, 4)
			id := create(t, s, key, opts)
			old := uploadPart(t, s, key, id, 1, first)
			replaced := uploadPart(t, s, key, id, 1, second)
			require.NotEqual(t, old.ETag, replaced.ETag)
			pt := uploadPart(t, s, key, id, 2, tail)

			require.Error(t, s.CompleteMultipart(ctx, key, id, []objstore.Part{old, pt}), "the replaced part is gone")
			_, err := s.Head(ctx, key)
			require.ErrorIs(t, err, objstore.ErrNotFound)

			require.NoError(t, s.CompleteMultipart(ctx, key, id, []objstore.Part{replaced, pt}))
			got, _ := get(t, s, key, nil)
			require.True(t, bytes.Equal(append(second, tail...), got), "object must hold the second upload of part 1")
		}},

		{"too small middle part fails and stores nothing", func(t *testing.T, b mpBackend) {
			s, ctx := b.s, t.Context()
			big, small, last := seededBytes(5*mib, 5), seededBytes(1024, 6), seededBytes(1024, 7)
			id := create(t, s, key, opts)
			p1 := uploadPart(t, s, key, id, 1, big)
			p2 := uploadPart(t, s, key, id, 2, small)
			p3 := uploadPart(t, s, key, id, 3, last)

			err := s.CompleteMultipart(ctx, key, id, []objstore.Part{p1, p2, p3})
			require.ErrorContains(t, err, "part 2")
			// a part claiming more than is stored: S3 goes by what it stored
			lying := p2
			lying.Size = objstore.MinPartSize
			require.Error(t, s.CompleteMultipart(ctx, key, id, []objstore.Part{p1, lying, p3}))
			_, err = s.Head(ctx, key)
			require.ErrorIs(t, err, objstore.ErrNotFound)
			list, err := s.List(ctx, "")
			require.NoError(t, err)
			require.Empty(t, list)

			// the upload survives a failed completion: fix part 2 and complete
			p2 = uploadPart(t, s, key, id, 2, big)
			require.NoError(t, s.CompleteMultipart(ctx, key, id, []objstore.Part{p1, p2, p3}))
			got, _ := get(t, s, key, nil)
			require.True(t, bytes.Equal(slices.Concat(big, big, last), got))
		}},

		{"abort then upload part", func(t *testing.T, b mpBackend) {
			s, ctx := b.s, t.Context()
			data := seededBytes(1000, 8)
			id := create(t, s, key, opts)
			p1 := uploadPart(t, s, key, id, 1, data)
			require.NoError(t, s.AbortMultipart(ctx, key, id))
			require.Zero(t, b.pending(t))

			_, err := s.UploadPart(ctx, key, id, 2, bytes.NewReader(data), int64(len(data)))
			require.ErrorIs(t, err, objstore.ErrNoSuchUpload)
			require.ErrorIs(t, s.CompleteMultipart(ctx, key, id, []objstore.Part{p1}), objstore.ErrNoSuchUpload)
			_, err = s.Head(ctx, key)
			require.ErrorIs(t, err, objstore.ErrNotFound)
		}},

		{"abort twice and abort of unknown uploads", func(t *testing.T, b mpBackend) {
			s, ctx := b.s, t.Context()
			put(t, s, "kept", []byte("kept"), objstore.PutOptions{})
			id := create(t, s, key, opts)
			uploadPart(t, s, key, id, 1, seededBytes(1000, 9))
			require.NoError(t, s.AbortMultipart(ctx, key, id))
			require.NoError(t, s.AbortMultipart(ctx, key, id))
			require.Zero(t, b.pending(t))

			live := create(t, s, key, opts)
			p1 := uploadPart(t, s, key, live, 1, []byte("live"))
			for _, unknown := range append([]string{"", "nonexistent", "00000000000000000000000000000000"}, b.pathIDs(live)...) {
				require.NoError(t, s.AbortMultipart(ctx, key, unknown), "upload ID %q", unknown)
			}
			got, _ := get(t, s, "kept", nil)
			require.Equal(t, "kept", string(got))
			require.Equal(t, 1, b.pending(t), "only the upload's own ID aborts it")
			require.NoError(t, s.CompleteMultipart(ctx, key, live, []objstore.Part{p1}))
		}},

		{"unknown upload", func(t *testing.T, b mpBackend) {
			s, ctx := b.s, t.Context()
			aborted := create(t, s, key, opts)
			require.NoError(t, s.AbortMultipart(ctx, key, aborted))
			live := create(t, s, key, opts)
			part := uploadPart(t, s, key, live, 1, []byte("abc"))
			for _, id := range append([]string{aborted, "", "nonexistent", "00000000000000000000000000000000"}, b.pathIDs(live)...) {
				t.Run(fmt.Sprintf("%q", id), func(t *testing.T) {
					require.ErrorIs(t, s.CompleteMultipart(ctx, key, id, []objstore.Part{part}), objstore.ErrNoSuchUpload)
					_, err := s.UploadPart(ctx, key, id, 1, bytes.NewReader([]byte("abc")), 3)
					require.ErrorIs(t, err, objstore.ErrNoSuchUpload)
				})
			}
			require.Equal(t, 1, b.pending(t))
			_, err := s.Head(ctx, key)
			require.ErrorIs(t, err, objstore.ErrNotFound)
		}},

		{"upload of another key", func(t *testing.T, b mpBackend) {
			s, ctx := b.s, t.Context()
			const other = "vod/up2/source.mp4"
			data := seededBytes(1000, 10)
			id := create(t, s, key, opts)
			p1 := uploadPart(t, s, key, id, 1, data)
			_, err := s.UploadPart(ctx, other, id, 2, bytes.NewReader(data), int64(len(data)))
			require.ErrorIs(t, err, objstore.ErrNoSuchUpload)
			require.ErrorIs(t, s.CompleteMultipart(ctx, other, id, []objstore.Part{p1}), objstore.ErrNoSuchUpload)
			require.NoError(t, s.AbortMultipart(ctx, other, id), "aborting an upload that does not exist for that key")
			require.Equal(t, 1, b.pending(t), "the upload of key must survive an abort naming another key")
			require.NoError(t, s.CompleteMultipart(ctx, key, id, []objstore.Part{p1}))
			got, _ := get(t, s, key, nil)
			require.Equal(t, data, got)
			_, err = s.Head(ctx, other)
			require.ErrorIs(t, err, objstore.ErrNotFound)
		}},

		{"short or long reader fails and keeps the previous part", func(t *testing.T, b mpBackend) {
			s, ctx := b.s, t.Context()
			data := seededBytes(200, 11)
			id := create(t, s, key, opts)
			good := uploadPart(t, s, key, id, 1, data)
			for _, rc := range []struct {
				name string
				r    io.Reader
			}{
				{"short", bytes.NewReader(data[:100])},
				{"short stream", io.MultiReader(bytes.NewReader(data[:100]))},
				{"empty stream", io.MultiReader()},
				{"long", bytes.NewReader(append(slices.Clone(data), 'x'))},
				{"long stream", io.MultiReader(bytes.NewReader(data), bytes.NewReader([]byte("x")))},
			} {
				t.Run(rc.name, func(t *testing.T) {
					_, err := s.UploadPart(ctx, key, id, 1, rc.r, int64(len(data)))
					require.ErrorContains(t, err, "want 200")
					require.NotErrorIs(t, err, objstore.ErrNoSuchUpload)
				})
			}
			require.NoError(t, s.CompleteMultipart(ctx, key, id, []objstore.Part{good}))
			got, _ := get(t, s, key, nil)
			require.Equal(t, data, got)
		}},

		{"resumed through a new store value", func(t *testing.T, b mpBackend) {
			ctx := t.Context()
			data := seededBytes(10*mib+77, 12)
			id := create(t, b.s, key, opts)
			p1 := uploadPart(t, b.s, key, id, 1, data[:5*mib])
			// another process, hours later: it has only the key, the ID and the parts from the SQL store
			p2 := uploadPart(t, b.s2, key, id, 2, data[5*mib:10*mib])
			p3 := uploadPart(t, b.s2, key, id, 3, data[10*mib:])
			require.NoError(t, b.s2.CompleteMultipart(ctx, key, id, []objstore.Part{p1, p2, p3}))
			got, info := get(t, b.s, key, nil)
			require.True(t, bytes.Equal(data, got), "resumed upload differs")
			require.Equal(t, opts.ContentType, info.ContentType, "metadata given at creation, by the first value")
			require.Equal(t, opts.CacheControl, info.CacheControl)
		}},

		{"parts uploaded concurrently", func(t *testing.T, b mpBackend) {
			ctx := t.Context()
			data := seededBytes(15*mib+1, 13)
			id := create(t, b.s, key, opts)
			parts := make([]objstore.Part, 4)
			var g errgroup.Group
			for i := range parts {
				s := b.s
				if i%2 == 1 {
					s = b.s2
				}
				g.Go(func() error {
					chunk := data[i*5*mib : min((i+1)*5*mib, len(data))]
					p, err := s.UploadPart(ctx, key, id, int32(i+1), bytes.NewReader(chunk), int64(len(chunk)))
					parts[i] = p
					return err
				})
			}
			require.NoError(t, g.Wait())
			require.NoError(t, b.s.CompleteMultipart(ctx, key, id, parts))
			got, _ := get(t, b.s, key, nil)
			require.True(t, bytes.Equal(data, got), "object differs")
		}},

		{"invalid arguments", func(t *testing.T, b mpBackend) {
			s, ctx := b.s, t.Context()
			id := create(t, s, key, opts)
			p1 := uploadPart(t, s, key, id, 1, seededBytes(5*mib, 14))
			p2 := uploadPart(t, s, key, id, 2, seededBytes(10, 15))

			for _, bad := range []string{"", "../escape", ".multipart/x", "a//b"} {
				_, err := s.CreateMultipart(ctx, bad, opts)
				require.ErrorIs(t, err, objstore.ErrInvalidKey)
				_, err = s.UploadPart(ctx, bad, id, 1, bytes.NewReader([]byte("x")), 1)
				require.ErrorIs(t, err, objstore.ErrInvalidKey)
				require.ErrorIs(t, s.CompleteMultipart(ctx, bad, id, []objstore.Part{p1, p2}), objstore.ErrInvalidKey)
				require.ErrorIs(t, s.AbortMultipart(ctx, bad, id), objstore.ErrInvalidKey)
			}
			for _, n := range []int32{0, -1, 10_001} {
				_, err := s.UploadPart(ctx, key, id, n, bytes.NewReader([]byte("x")), 1)
				require.ErrorContains(t, err, "part number")
				p := p2
				p.Number = n
				require.ErrorContains(t, s.CompleteMultipart(ctx, key, id, []objstore.Part{p1, p}), "part number")
			}
			_, err := s.UploadPart(ctx, key, id, 3, bytes.NewReader(nil), -1)
			require.ErrorContains(t, err, "size")
			require.ErrorContains(t, s.CompleteMultipart(ctx, key, id, nil), "no parts")
			require.ErrorContains(t, s.CompleteMultipart(ctx, key, id, []objstore.Part{p1, p1, p2}), "twice")
			missing := objstore.Part{Number: 3, Size: 10, ETag: p2.ETag, Checksum: p2.Checksum}
			require.Error(t, s.CompleteMultipart(ctx, key, id, []objstore.Part{p1, missing}), "part 3 was never uploaded")

			_, err = s.Head(ctx, key)
			require.ErrorIs(t, err, objstore.ErrNotFound)
			require.Equal(t, 1, b.pending(t))
			require.NoError(t, s.CompleteMultipart(ctx, key, id, []objstore.Part{p1, p2}), "the upload survives bad calls")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, newBackend(t))
		})
	}
}

func create(t *testing.T, s mpStore, key string, opts objstore.PutOptions) string {
	t.Helper()
	id, err := s.CreateMultipart(t.Context(), key, opts)
	require.NoError(t, err)
	require.NotEmpty(t, id)
	return id
}

func uploadPart(t *testing.T, s mpStore, key, id string, n int32, data []byte) objstore.Part {
	t.Helper()
	p, err := s.UploadPart(t.Context(), key, id, n, bytes.NewReader(data), int64(len(data)))
	require.NoError(t, err)
	require.Equal(t, n, p.Number)
	require.Equal(t, int64(len(data)), p.Size)
	require.NotEmpty(t, p.ETag)
	return p
}
