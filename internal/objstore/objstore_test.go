package objstore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"github.com/nagare-video/nagare/internal/objstore"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/nagare-video/nagare/internal/testutil"
)

// store is the contract both backends satisfy, declared here as a consumer would.
type store interface {
	Put(ctx context.Context, key string, r io.Reader, size int64, opts objstore.PutOptions) error
	Get(ctx context.Context, key string, rng *objstore.Range) (io.ReadCloser, objstore.ObjectInfo, error)
	Head(ctx context.Context, key string) (objstore.ObjectInfo, error)
	Delete(ctx context.Context, key string) error
	List(ctx context.Context, prefix string) ([]objstore.ObjectInfo, error)
}

var (
	_ store = (*objstore.Local)(nil)
	_ store = (*objstore.S3)(nil)
)

func TestLocal(t *testing.T) {
	t.Parallel()
	testContract(t, func(t *testing.T) store {
		l, err := objstore.NewLocal(filepath.Join(t.TempDir(), "root"))
		require.NoError(t, err)
		return l
	})
}

func TestS3(t *testing.T) {
	t.Parallel()
	endpoint, ak, sk := testutil.S3Server(t)
	n := 0
	testContract(t, func(t *testing.T) store {
		n++ // subtests run sequentially, so a plain counter names a fresh bucket per subtest
		s, err := objstore.NewS3(t.Context(), objstore.S3Config{
			Endpoint: endpoint, Bucket: fmt.Sprintf("test-%d", n),
			AccessKey: ak, SecretKey: sk, PathStyle: true,
		})
		require.NoError(t, err)
		require.NoError(t, s.CreateBucket(t.Context()))
		require.NoError(t, s.CreateBucket(t.Context()), "CreateBucket must be idempotent")
		return s
	})
}

func put(t *testing.T, s store, key string, data []byte, opts objstore.PutOptions) {
	t.Helper()
	require.NoError(t, s.Put(t.Context(), key, bytes.NewReader(data), int64(len(data)), opts))
}

func get(t *testing.T, s store, key string, rng *objstore.Range) ([]byte, objstore.ObjectInfo) {
	t.Helper()
	rc, info, err := s.Get(t.Context(), key, rng)
	require.NoError(t, err)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	require.NoError(t, err)
	return b, info
}

func randBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}

func testContract(t *testing.T, newStore func(*testing.T) store) {
	t.Run("round trip", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		data := []byte("hello, segment")
		before := time.Now().Add(-time.Minute)
		put(t, s, "live/abc/seg_1.m4s", data, objstore.PutOptions{ContentType: "video/iso.segment", CacheControl: "max-age=60"})

		got, info := get(t, s, "live/abc/seg_1.m4s", nil)
		require.Equal(t, data, got)
		require.Equal(t, "live/abc/seg_1.m4s", info.Key)
		require.Equal(t, int64(len(data)), info.Size)
		require.Equal(t, "video/iso.segment", info.ContentType)
		require.Equal(t, "max-age=60", info.CacheControl)
		require.True(t, info.ModTime.After(before), "mod time %v", info.ModTime)

		head, err := s.Head(ctx, "live/abc/seg_1.m4s")
		require.NoError(t, err)
		require.Equal(t, info.Size, head.Size)
		require.Equal(t, info.ContentType, head.ContentType)
		require.Equal(t, info.CacheControl, head.CacheControl)

		require.NoError(t, s.Delete(ctx, "live/abc/seg_1.m4s"))
		_, err = s.Head(ctx, "live/abc/seg_1.m4s")
		require.ErrorIs(t, err, objstore.ErrNotFound)
		list, err := s.List(ctx, "")
		require.NoError(t, err)
		require.Empty(t, list)
	})

	t.Run("default metadata", func(t *testing.T) {
		s := newStore(t)
		put(t, s, "plain", []byte("x"), objstore.PutOptions{})
		info, err := s.Head(t.Context(), "plain")
		require.NoError(t, err)
		require.Equal(t, "application/octet-stream", info.ContentType)
		require.Empty(t, info.CacheControl)
	})

	t.Run("empty object", func(t *testing.T) {
		s := newStore(t)
		put(t, s, "empty", nil, objstore.PutOptions{})
		got, info := get(t, s, "empty", nil)
		require.Empty(t, got)
		require.Zero(t, info.Size)
	})

	t.Run("overwrite replaces data and metadata", func(t *testing.T) {
		s := newStore(t)
		put(t, s, "k", []byte("first version, longer"), objstore.PutOptions{ContentType: "text/plain", CacheControl: "no-cache"})
		put(t, s, "k", []byte("second"), objstore.PutOptions{ContentType: "application/json"})
		got, info := get(t, s, "k", nil)
		require.Equal(t, "second", string(got))
		require.Equal(t, int64(6), info.Size)
		require.Equal(t, "application/json", info.ContentType)
		require.Empty(t, info.CacheControl)
	})

	t.Run("unseekable body", func(t *testing.T) {
		s := newStore(t)
		data := randBytes(t, 100_000)
		r := io.MultiReader(bytes.NewReader(data)) // hides io.Seeker
		require.NoError(t, s.Put(t.Context(), "stream", r, int64(len(data)), objstore.PutOptions{}))
		got, _ := get(t, s, "stream", nil)
		require.Equal(t, data, got)
	})

	t.Run("short body fails and stores nothing", func(t *testing.T) {
		s := newStore(t)
		err := s.Put(t.Context(), "short", strings.NewReader("abc"), 10, objstore.PutOptions{})
		require.Error(t, err)
		_, err = s.Head(t.Context(), "short")
		require.ErrorIs(t, err, objstore.ErrNotFound)
	})

	t.Run("missing", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		_, _, err := s.Get(ctx, "no/such/key", nil)
		require.ErrorIs(t, err, objstore.ErrNotFound)
		_, _, err = s.Get(ctx, "no/such/key", &objstore.Range{Start: 0, End: 1})
		require.ErrorIs(t, err, objstore.ErrNotFound)
		_, err = s.Head(ctx, "no/such/key")
		require.ErrorIs(t, err, objstore.ErrNotFound)
		require.NoError(t, s.Delete(ctx, "no/such/key"))
		list, err := s.List(ctx, "no/")
		require.NoError(t, err)
		require.Empty(t, list)
	})

	t.Run("ranges", func(t *testing.T) {
		s := newStore(t)
		data := []byte("0123456789abcdefghijklmnopqrstuvwxyz")
		n := int64(len(data))
		put(t, s, "r", data, objstore.PutOptions{ContentType: "text/plain"})
		for _, tc := range []struct {
			name    string
			rng     objstore.Range
			want    string
			wantErr error
		}{
			{name: "first bytes", rng: objstore.Range{0, 9}, want: "0123456789"},
			{name: "first byte", rng: objstore.Range{0, 0}, want: "0"},
			{name: "middle", rng: objstore.Range{10, 15}, want: "abcdef"},
			{name: "last byte", rng: objstore.Range{n - 1, n - 1}, want: "z"},
			{name: "end clamped", rng: objstore.Range{n - 3, n + 100}, want: "xyz"},
			{name: "start at end", rng: objstore.Range{n, n + 5}, wantErr: objstore.ErrInvalidRange},
			{name: "start past end", rng: objstore.Range{n + 10, n + 20}, wantErr: objstore.ErrInvalidRange},
			{name: "end before start", rng: objstore.Range{5, 4}, wantErr: objstore.ErrInvalidRange},
			{name: "negative start", rng: objstore.Range{-1, 4}, wantErr: objstore.ErrInvalidRange},
		} {
			t.Run(tc.name, func(t *testing.T) {
				rng := tc.rng
				if tc.wantErr != nil {
					_, _, err := s.Get(t.Context(), "r", &rng)
					require.ErrorIs(t, err, tc.wantErr)
					return
				}
				got, info := get(t, s, "r", &rng)
				require.Equal(t, tc.want, string(got))
				require.Equal(t, n, info.Size, "Size is the whole object's")
				require.Equal(t, "text/plain", info.ContentType)
			})
		}
	})

	t.Run("list", func(t *testing.T) {
		s := newStore(t)
		for _, k := range []string{"list/b", "list/a/b", "list/a.txt", "lisx", "other/c"} {
			put(t, s, k, []byte(k), objstore.PutOptions{ContentType: "text/plain"})
		}
		for _, tc := range []struct {
			prefix string
			want   []string
		}{
			{"", []string{"list/a.txt", "list/a/b", "list/b", "lisx", "other/c"}},
			{"list/", []string{"list/a.txt", "list/a/b", "list/b"}},
			{"list/a", []string{"list/a.txt", "list/a/b"}},
			{"lis", []string{"list/a.txt", "list/a/b", "list/b", "lisx"}},
			{"list/a/b", []string{"list/a/b"}},
			{"nothing/", nil},
		} {
			t.Run(tc.prefix, func(t *testing.T) {
				list, err := s.List(t.Context(), tc.prefix)
				require.NoError(t, err)
				var keys []string
				for _, o := range list {
					keys = append(keys, o.Key)
					require.Equal(t, int64(len(o.Key)), o.Size)
					require.False(t, o.ModTime.IsZero())
				}
				require.Equal(t, tc.want, keys)
			})
		}
		_, err := s.List(t.Context(), "../")
		require.ErrorIs(t, err, objstore.ErrInvalidKey)
	})

	t.Run("hostile keys", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		for _, key := range hostileKeys {
			t.Run(fmt.Sprintf("%q", key), func(t *testing.T) {
				require.ErrorIs(t, s.Put(ctx, key, strings.NewReader("x"), 1, objstore.PutOptions{}), objstore.ErrInvalidKey)
				_, _, err := s.Get(ctx, key, nil)
				require.ErrorIs(t, err, objstore.ErrInvalidKey)
				_, err = s.Head(ctx, key)
				require.ErrorIs(t, err, objstore.ErrInvalidKey)
				require.ErrorIs(t, s.Delete(ctx, key), objstore.ErrInvalidKey)
			})
		}
		list, err := s.List(ctx, "")
		require.NoError(t, err)
		require.Empty(t, list)
		if l, ok := s.(*objstore.Local); ok {
			// Root is <tmp>/root: nothing may appear beside it.
			entries, err := os.ReadDir(filepath.Dir(l.Root))
			require.NoError(t, err)
			require.Len(t, entries, 1)
			require.Equal(t, "root", entries[0].Name())
			entries, err = os.ReadDir(l.Root)
			require.NoError(t, err)
			require.Empty(t, entries)
		}
	})

	t.Run("odd but valid keys", func(t *testing.T) {
		s := newStore(t)
		for _, key := range []string{"with space", "ünïcode/ß", "a.b/c.d", "dots./x", "q?x=1&y#z", "%2e%2e/x", longKey} {
			put(t, s, key, []byte(key), objstore.PutOptions{})
			got, _ := get(t, s, key, nil)
			require.Equal(t, key, string(got))
		}
	})

	t.Run("large object", func(t *testing.T) {
		s := newStore(t)
		data := randBytes(t, 5<<20)
		put(t, s, "vod/big.mp4", data, objstore.PutOptions{ContentType: "video/mp4"})
		got, info := get(t, s, "vod/big.mp4", nil)
		require.Equal(t, int64(len(data)), info.Size)
		require.True(t, bytes.Equal(data, got), "5 MiB round trip differs")
		part, _ := get(t, s, "vod/big.mp4", &objstore.Range{Start: 3 << 20, End: 3<<20 + 999})
		require.True(t, bytes.Equal(data[3<<20:3<<20+1000], part))
	})

	t.Run("concurrent puts", func(t *testing.T) {
		s := newStore(t)
		const n = 16
		var g errgroup.Group
		for i := range n {
			g.Go(func() error {
				data := bytes.Repeat([]byte{byte(i)}, 10_000+i)
				return s.Put(t.Context(), fmt.Sprintf("conc/%02d", i), bytes.NewReader(data), int64(len(data)), objstore.PutOptions{})
			})
		}
		require.NoError(t, g.Wait())
		list, err := s.List(t.Context(), "conc/")
		require.NoError(t, err)
		require.Len(t, list, n)
		for i, o := range list {
			require.Equal(t, fmt.Sprintf("conc/%02d", i), o.Key)
			got, _ := get(t, s, o.Key, nil)
			require.Equal(t, bytes.Repeat([]byte{byte(i)}, 10_000+i), got)
		}
	})
}

// longKey is objstore.MaxKeyLen bytes of objstore.MaxElemLen-byte elements.
var longKey = (strings.Repeat(strings.Repeat("k", objstore.MaxElemLen-1)+"/", 6))[:objstore.MaxKeyLen-1] + "z"

var hostileKeys = []string{
	"",
	"/etc/passwd",
	"../escape",
	"a/../../escape",
	"a/..",
	"..",
	".",
	"./a",
	"a/./b",
	".hidden",
	"a/.x.meta.json",
	"a//b",
	"a/",
	`..\escape`,
	`a\b`,
	"a\x00b",
	"a\nb",
	"a\x7fb",
	"\xff\xfe",
	"a..b",
	longKey + "z",
	strings.Repeat("e", objstore.MaxElemLen+1),
}

func TestLocalPrefixConflict(t *testing.T) {
	t.Parallel()
	l, err := objstore.NewLocal(t.TempDir())
	require.NoError(t, err)
	put(t, l, "a/b", []byte("x"), objstore.PutOptions{})
	// A local store cannot hold both "a" and "a/b": a file and a directory would share a name.
	require.ErrorIs(t, l.Put(t.Context(), "a", strings.NewReader("x"), 1, objstore.PutOptions{}), objstore.ErrInvalidKey)
	require.ErrorIs(t, l.Put(t.Context(), "a/b/c", strings.NewReader("x"), 1, objstore.PutOptions{}), objstore.ErrInvalidKey)
	_, err = l.Head(t.Context(), "a")
	require.ErrorIs(t, err, objstore.ErrNotFound)
	_, err = l.Head(t.Context(), "a/b/c")
	require.ErrorIs(t, err, objstore.ErrNotFound)
	require.NoError(t, l.Delete(t.Context(), "a"))
	got, _ := get(t, l, "a/b", nil)
	require.Equal(t, "x", string(got))
}

func TestS3MissingBucketIsNotNotFound(t *testing.T) {
	t.Parallel()
	endpoint, ak, sk := testutil.S3Server(t)
	s, err := objstore.NewS3(t.Context(), objstore.S3Config{Endpoint: endpoint, Bucket: "absent", AccessKey: ak, SecretKey: sk, PathStyle: true})
	require.NoError(t, err)
	_, _, err = s.Get(t.Context(), "k", nil)
	require.Error(t, err)
	require.NotErrorIs(t, err, objstore.ErrNotFound)
}

func FuzzValidKey(f *testing.F) {
	for _, k := range append([]string{"a", "vod/1/seg.m4s", "a.b", "ünï/ß", longKey}, hostileKeys...) {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if !objstore.ValidKey(key) {
			return
		}
		require.NotContains(t, key, "..")
		require.NotContains(t, key, "\x00")
		require.NotContains(t, key, `\`)
		require.False(t, strings.HasPrefix(key, "/"))
		require.LessOrEqual(t, len(key), objstore.MaxKeyLen)
		require.True(t, filepath.IsLocal(key), "key %q must stay under the root", key)
	})
}
