package blockcache_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nagare-video/nagare/internal/objstore"
	"github.com/nagare-video/nagare/internal/objstore/blockcache"
)

const (
	testKey   = "vod/v1/video.mp4"
	blockSize = 1 << 10
)

// countingSource is a real objstore.Local that records the calls made to it and fails or holds them on
// demand.
type countingSource struct {
	local *objstore.Local

	mu    sync.Mutex
	gets  []*objstore.Range // a copy of each Get's range (nil: the whole object)
	heads int
	// failAfter > 0 makes the next Get's body fail with errInjected after that many bytes.
	failAfter int
	// getErr fails the next Get before any byte.
	getErr error
	// gate, when set, holds every Get until it is closed.
	gate chan struct{}
}

var errInjected = errors.New("injected storage failure")

func newSource(t *testing.T) *countingSource {
	t.Helper()
	l, err := objstore.NewLocal(t.TempDir())
	require.NoError(t, err)
	return &countingSource{local: l}
}

func (s *countingSource) Get(ctx context.Context, key string, rng *objstore.Range) (io.ReadCloser, objstore.ObjectInfo, error) {
	s.mu.Lock()
	var cp *objstore.Range
	if rng != nil {
		r := *rng
		cp = &r
	}
	s.gets = append(s.gets, cp)
	failAfter, getErr, gate := s.failAfter, s.getErr, s.gate
	s.failAfter, s.getErr = 0, nil
	s.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, objstore.ObjectInfo{}, ctx.Err()
		}
	}
	if getErr != nil {
		return nil, objstore.ObjectInfo{}, getErr
	}
	body, info, err := s.local.Get(ctx, key, rng)
	if err != nil || failAfter == 0 {
		return body, info, err
	}
	return failingBody{io.MultiReader(io.LimitReader(body, int64(failAfter)), errReader{}), body}, info, nil
}

func (s *countingSource) Head(ctx context.Context, key string) (objstore.ObjectInfo, error) {
	s.mu.Lock()
	s.heads++
	s.mu.Unlock()
	return s.local.Head(ctx, key)
}

func (s *countingSource) counts() (gets, heads int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.gets), s.heads
}

func (s *countingSource) lastGet() *objstore.Range {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gets[len(s.gets)-1]
}

func (s *countingSource) set(f func(s *countingSource)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

// put stores data at key with the given modification time (Local takes the file's).
func (s *countingSource) put(t *testing.T, key string, data []byte, mod time.Time) {
	t.Helper()
	require.NoError(t, s.local.Put(context.Background(), key, bytes.NewReader(data), int64(len(data)), objstore.PutOptions{ContentType: "video/mp4"}))
	require.NoError(t, os.Chtimes(filepath.Join(s.local.Root, filepath.FromSlash(key)), mod, mod))
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errInjected }

type failingBody struct {
	io.Reader
	io.Closer
}

// clock is an injectable time for HeadTTL.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

var mod1 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// read gets rng through c and reads it whole.
func read(t *testing.T, c *blockcache.Cache, key string, rng *objstore.Range) ([]byte, objstore.ObjectInfo) {
	t.Helper()
	body, info, err := c.Get(context.Background(), key, rng)
	require.NoError(t, err)
	defer body.Close()
	got, err := io.ReadAll(body)
	require.NoError(t, err)
	return got, info
}

func setup(t *testing.T, size int, cfg blockcache.Config) (*countingSource, *blockcache.Cache, []byte, *clock) {
	t.Helper()
	src := newSource(t)
	data := randomBytes(size, 1)
	src.put(t, testKey, data, mod1)
	clk := &clock{now: mod1.Add(time.Hour)}
	if cfg.BlockSize == 0 {
		cfg.BlockSize = blockSize
	}
	cfg.Now = clk.Now
	return src, blockcache.New(src, cfg), data, clk
}

func TestRangesAreTheObjectsBytes(t *testing.T) {
	const size = 10*blockSize + 123
	src, c, data, _ := setup(t, size, blockcache.Config{Size: 64 * blockSize})
	cases := []struct {
		name       string
		rng        *objstore.Range
		start, end int // the bytes expected, inclusive
	}{
		{"start", &objstore.Range{Start: 0, End: 99}, 0, 99},
		{"one byte", &objstore.Range{Start: 0, End: 0}, 0, 0},
		{"middle of a block", &objstore.Range{Start: 3000, End: 3050}, 3000, 3050},
		{"one aligned block", &objstore.Range{Start: blockSize, End: 2*blockSize - 1}, blockSize, 2*blockSize - 1},
		{"across blocks", &objstore.Range{Start: 1000, End: 5000}, 1000, 5000},
		{"end", &objstore.Range{Start: size - 10, End: size - 1}, size - 10, size - 1},
		{"past the end, clamped", &objstore.Range{Start: size - 700, End: size + 5000}, size - 700, size - 1},
		{"suffix-like", &objstore.Range{Start: size - 2000, End: 1 << 62}, size - 2000, size - 1},
		{"last byte", &objstore.Range{Start: size - 1, End: size - 1}, size - 1, size - 1},
		{"whole object", nil, 0, size - 1},
	}
	for pass := range 2 {
		gets0, _ := src.counts()
		for _, tc := range cases {
			t.Run(fmt.Sprintf("%s pass %d", tc.name, pass+1), func(t *testing.T) {
				got, info := read(t, c, testKey, tc.rng)
				requireBytes(t, data[tc.start:tc.end+1], got)
				require.Equal(t, int64(size), info.Size)
				require.True(t, info.ModTime.Equal(mod1))
				require.Equal(t, "video/mp4", info.ContentType)
			})
		}
		if gets, _ := src.counts(); pass == 1 {
			require.Equal(t, gets0, gets, "the second pass reads only from memory")
		} else {
			require.Positive(t, gets-gets0)
		}
	}
	_, heads := src.counts()
	require.Equal(t, 1, heads, "one Head within HeadTTL")
	st := c.Stats()
	require.Equal(t, int64(size), st.Bytes, "every block kept")
	require.Equal(t, 11, st.Blocks)
	require.Zero(t, st.Bypasses)
}

func TestInvalidRanges(t *testing.T) {
	const size = 3 * blockSize
	src, c, _, _ := setup(t, size, blockcache.Config{Size: 64 * blockSize})
	for _, rng := range []objstore.Range{{Start: size, End: size + 10}, {Start: 10, End: 9}, {Start: -1, End: 5}} {
		_, _, err := c.Get(context.Background(), testKey, &rng)
		require.ErrorIs(t, err, objstore.ErrInvalidRange, "%+v", rng)
		// the same as the source's answer
		_, _, serr := src.local.Get(context.Background(), testKey, &rng)
		require.ErrorIs(t, serr, objstore.ErrInvalidRange)
	}
	gets, _ := src.counts()
	require.Zero(t, gets)
}

func TestEmptyObject(t *testing.T) {
	src, c, _, _ := setup(t, 0, blockcache.Config{Size: 64 * blockSize})
	got, info := read(t, c, testKey, nil)
	require.Empty(t, got)
	require.Zero(t, info.Size)
	_, _, err := c.Get(context.Background(), testKey, &objstore.Range{Start: 0, End: 0})
	require.ErrorIs(t, err, objstore.ErrInvalidRange)
	gets, _ := src.counts()
	require.Zero(t, gets)
}

// TestMissingRunIsOneGet: the missing blocks between kept ones are read with one Get each run, clamped to
// the object's end.
func TestMissingRunIsOneGet(t *testing.T) {
	const size = 6*blockSize + 10
	src, c, data, _ := setup(t, size, blockcache.Config{Size: 64 * blockSize})
	read(t, c, testKey, &objstore.Range{Start: 2 * blockSize, End: 2*blockSize + 5}) // keeps block 2
	require.Equal(t, &objstore.Range{Start: 2 * blockSize, End: 3*blockSize - 1}, src.lastGet())

	got, _ := read(t, c, testKey, &objstore.Range{Start: 100, End: size + 100})
	requireBytes(t, data[100:], got)
	src.mu.Lock()
	gets := src.gets[1:]
	src.mu.Unlock()
	require.Equal(t, []*objstore.Range{
		{Start: 0, End: 2*blockSize - 1},      // blocks 0 and 1
		{Start: 3 * blockSize, End: size - 1}, // blocks 3 to 6, the last one short
	}, gets)
}

func TestConcurrentMissesAreOneGet(t *testing.T) {
	const size = 4 * blockSize
	src, c, data, _ := setup(t, size, blockcache.Config{Size: 64 * blockSize})
	_, err := c.Head(context.Background(), testKey)
	require.NoError(t, err)
	gate := make(chan struct{})
	src.set(func(s *countingSource) { s.gate = gate })

	const readers = 16
	rng := objstore.Range{Start: blockSize + 10, End: blockSize + 500}
	results := make([][]byte, readers)
	errs := make([]error, readers)
	var wg sync.WaitGroup
	for i := range readers {
		wg.Go(func() {
			body, _, err := c.Get(context.Background(), testKey, &rng)
			if err != nil {
				errs[i] = err
				return
			}
			defer body.Close()
			results[i], errs[i] = io.ReadAll(body)
		})
	}
	require.Eventually(t, func() bool { return c.Stats().Waits == readers-1 }, 5*time.Second, time.Millisecond,
		"every reader but the fetching one waits")
	close(gate)
	wg.Wait()
	for i := range readers {
		require.NoError(t, errs[i])
		requireBytes(t, data[rng.Start:rng.End+1], results[i])
	}
	gets, _ := src.counts()
	require.Equal(t, 1, gets)
	st := c.Stats()
	require.Equal(t, int64(1), st.Misses)
	require.Equal(t, int64(1), st.Fetches)
}

// TestWaiterFetchesWhenTheFetcherGoesAway: a reader whose context ends while it fetches a block does not
// fail the readers waiting for it.
func TestWaiterFetchesWhenTheFetcherGoesAway(t *testing.T) {
	const size = 2 * blockSize
	src, c, data, _ := setup(t, size, blockcache.Config{Size: 64 * blockSize})
	_, err := c.Head(context.Background(), testKey)
	require.NoError(t, err)
	gate := make(chan struct{})
	src.set(func(s *countingSource) { s.gate = gate })

	ctx, cancel := context.WithCancel(context.Background())
	fetcherDone := make(chan error, 1)
	go func() {
		_, _, err := c.Get(ctx, testKey, &objstore.Range{Start: 0, End: 10})
		fetcherDone <- err
	}()
	require.Eventually(t, func() bool { gets, _ := src.counts(); return gets == 1 }, 5*time.Second, time.Millisecond)
	waiterDone := make(chan []byte, 1)
	go func() {
		b, _ := read(t, c, testKey, &objstore.Range{Start: 5, End: 20})
		waiterDone <- b
	}()
	require.Eventually(t, func() bool { return c.Stats().Waits == 1 }, 5*time.Second, time.Millisecond)
	src.set(func(s *countingSource) { s.gate = nil })
	cancel()
	require.ErrorIs(t, <-fetcherDone, context.Canceled)
	requireBytes(t, data[5:21], <-waiterDone)
	close(gate)
	gets, _ := src.counts()
	require.Equal(t, 2, gets, "the waiter fetched the block itself")
}

func TestEvictionIsLRUWithinSize(t *testing.T) {
	const size = 8 * blockSize
	src, c, data, _ := setup(t, size, blockcache.Config{Size: 4 * blockSize})
	blk := func(i int) *objstore.Range {
		return &objstore.Range{Start: int64(i) * blockSize, End: int64(i+1)*blockSize - 1}
	}
	readBlock := func(i int) (fetched bool) {
		gets0, _ := src.counts()
		got, _ := read(t, c, testKey, blk(i))
		requireBytes(t, data[i*blockSize:(i+1)*blockSize], got)
		require.LessOrEqual(t, c.Stats().Bytes, int64(4*blockSize))
		gets, _ := src.counts()
		return gets > gets0
	}
	for i := range 4 {
		require.True(t, readBlock(i))
	}
	require.False(t, readBlock(0)) // 0 is now the most recently used: 1 2 3 0
	require.True(t, readBlock(4))  // evicts 1: 2 3 0 4
	require.True(t, readBlock(5))  // evicts 2: 3 0 4 5
	require.False(t, readBlock(0))
	require.False(t, readBlock(3))
	require.True(t, readBlock(1)) // evicts 4: 5 0 3 1
	require.False(t, readBlock(5))
	require.True(t, readBlock(4)) // evicts 0
	require.True(t, readBlock(0))
	st := c.Stats()
	require.Equal(t, int64(4*blockSize), st.Bytes)
	require.Equal(t, 4, st.Blocks)
	require.Equal(t, int64(5), st.Evictions)
}

func TestReplacedObjectIsReadAgain(t *testing.T) {
	const ttl = 30 * time.Second
	for _, tc := range []struct {
		name string
		size int
		mod  time.Time
	}{
		{"other size", 5*blockSize + 7, mod1},
		{"same size, later modification", 4*blockSize + 3, mod1.Add(time.Second)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, c, old, clk := setup(t, 4*blockSize+3, blockcache.Config{Size: 64 * blockSize, HeadTTL: ttl})
			got, _ := read(t, c, testKey, nil)
			requireBytes(t, old, got)
			gets0, _ := src.counts()

			data := randomBytes(tc.size, 2)
			src.put(t, testKey, data, tc.mod)
			clk.advance(ttl)
			got, info := read(t, c, testKey, nil)
			requireBytes(t, data, got)
			require.Equal(t, int64(tc.size), info.Size)
			require.True(t, info.ModTime.Equal(tc.mod))
			gets, heads := src.counts()
			require.Equal(t, gets0+1, gets)
			require.Equal(t, 2, heads)
			got, _ = read(t, c, testKey, &objstore.Range{Start: 1, End: 2 * blockSize})
			requireBytes(t, data[1:2*blockSize+1], got)
		})
	}
}

// TestReplacedWithinHeadTTL: a block the cache lacks, of an object replaced since its Head was kept, is
// answered by the source for the new object, and the next Head asks the source again.
func TestReplacedWithinHeadTTL(t *testing.T) {
	src, c, _, _ := setup(t, 4*blockSize, blockcache.Config{Size: 64 * blockSize})
	read(t, c, testKey, &objstore.Range{Start: 0, End: 10})
	data := randomBytes(6*blockSize, 3)
	mod2 := mod1.Add(time.Minute)
	src.put(t, testKey, data, mod2)

	rng := &objstore.Range{Start: 3 * blockSize, End: 5 * blockSize}
	got, info := read(t, c, testKey, rng)
	requireBytes(t, data[3*blockSize:5*blockSize+1], got)
	require.Equal(t, int64(len(data)), info.Size)
	require.True(t, info.ModTime.Equal(mod2))
	require.Equal(t, rng, src.lastGet(), "passed to the source as asked")
	require.Equal(t, int64(1), c.Stats().Bypasses)

	info, err := c.Head(context.Background(), testKey)
	require.NoError(t, err)
	require.Equal(t, int64(len(data)), info.Size)
	_, heads := src.counts()
	require.Equal(t, 2, heads)
}

func TestHeadIsKeptForTTL(t *testing.T) {
	const ttl = 10 * time.Second
	src, c, _, clk := setup(t, blockSize, blockcache.Config{Size: 64 * blockSize, HeadTTL: ttl})
	ctx := context.Background()
	want, err := src.local.Head(ctx, testKey)
	require.NoError(t, err)
	for range 3 {
		info, err := c.Head(ctx, testKey)
		require.NoError(t, err)
		require.Equal(t, want, info)
	}
	clk.advance(ttl - time.Nanosecond)
	_, err = c.Head(ctx, testKey)
	require.NoError(t, err)
	_, heads := src.counts()
	require.Equal(t, 1, heads)
	clk.advance(time.Nanosecond)
	_, err = c.Head(ctx, testKey)
	require.NoError(t, err)
	_, heads = src.counts()
	require.Equal(t, 2, heads)
	st := c.Stats()
	require.Equal(t, int64(3), st.HeadHits)
	require.Equal(t, int64(2), st.HeadMisses)
}

func TestNotFoundIsNotKept(t *testing.T) {
	src, c, _, _ := setup(t, blockSize, blockcache.Config{Size: 64 * blockSize})
	ctx := context.Background()
	const missing = "vod/v2/video.mp4"
	_, err := c.Head(ctx, missing)
	require.ErrorIs(t, err, objstore.ErrNotFound)
	_, _, err = c.Get(ctx, missing, &objstore.Range{Start: 0, End: 10})
	require.ErrorIs(t, err, objstore.ErrNotFound)

	data := randomBytes(100, 4)
	src.put(t, missing, data, mod1)
	got, info := read(t, c, missing, nil)
	requireBytes(t, data, got)
	require.Equal(t, int64(100), info.Size)
	_, heads := src.counts()
	require.Equal(t, 3, heads, "every lookup of the missing object asked the source")

	// An object deleted while its Head is kept: the source's ErrNotFound, and the Head is dropped.
	require.NoError(t, src.local.Delete(ctx, testKey))
	_, _, err = c.Get(ctx, testKey, &objstore.Range{Start: 0, End: 10})
	require.ErrorIs(t, err, objstore.ErrNotFound)
	_, err = c.Head(ctx, testKey)
	require.ErrorIs(t, err, objstore.ErrNotFound)
}

func TestSourceErrorReachesTheReader(t *testing.T) {
	const size = 4 * blockSize
	src, c, data, _ := setup(t, size, blockcache.Config{Size: 64 * blockSize})
	ctx := context.Background()

	// Before the first block is whole: Get's error.
	src.set(func(s *countingSource) { s.failAfter = blockSize / 2 })
	_, _, err := c.Get(ctx, testKey, &objstore.Range{Start: 0, End: 3 * blockSize})
	require.ErrorIs(t, err, errInjected)
	src.set(func(s *countingSource) { s.getErr = errInjected })
	_, _, err = c.Get(ctx, testKey, &objstore.Range{Start: 0, End: 10})
	require.ErrorIs(t, err, errInjected)
	require.Zero(t, c.Stats().Blocks, "no failed block kept")

	// In the middle of a run: the reader's error, after the bytes of the blocks read whole.
	src.set(func(s *countingSource) { s.failAfter = 2*blockSize + blockSize/2 })
	body, _, err := c.Get(ctx, testKey, &objstore.Range{Start: 10, End: 3*blockSize - 1})
	require.NoError(t, err)
	got, err := io.ReadAll(body)
	require.ErrorIs(t, err, errInjected)
	requireBytes(t, data[10:2*blockSize], got)
	require.NoError(t, body.Close())
	require.Equal(t, 2, c.Stats().Blocks, "blocks 0 and 1 kept, 2 not")

	gets0, _ := src.counts()
	got, _ = read(t, c, testKey, &objstore.Range{Start: 0, End: size - 1})
	requireBytes(t, data, got)
	gets, _ := src.counts()
	require.Equal(t, gets0+1, gets)
	require.Equal(t, &objstore.Range{Start: 2 * blockSize, End: size - 1}, src.lastGet(), "only the blocks not kept")
}

func TestLargeReadsBypass(t *testing.T) {
	const size = 20 * blockSize
	src, c, data, _ := setup(t, size, blockcache.Config{Size: 16 * blockSize})
	rng := &objstore.Range{Start: 100, End: 100 + 4*blockSize} // over Size/4
	got, info := read(t, c, testKey, rng)
	requireBytes(t, data[100:101+4*blockSize], got)
	require.Equal(t, int64(size), info.Size)
	require.Equal(t, rng, src.lastGet())

	got, _ = read(t, c, testKey, nil) // larger than Size
	requireBytes(t, data, got)
	require.Nil(t, src.lastGet())

	st := c.Stats()
	require.Equal(t, int64(2), st.Bypasses)
	require.Zero(t, st.Blocks)

	got, _ = read(t, c, testKey, &objstore.Range{Start: 100, End: 100 + 4*blockSize - 1}) // Size/4 exactly
	requireBytes(t, data[100:100+4*blockSize], got)
	require.Equal(t, 5, c.Stats().Blocks)
}

func TestZeroSizeCachesNoBlock(t *testing.T) {
	src, c, data, _ := setup(t, 3*blockSize, blockcache.Config{})
	for range 2 {
		got, _ := read(t, c, testKey, &objstore.Range{Start: 0, End: 0})
		requireBytes(t, data[:1], got)
	}
	gets, heads := src.counts()
	require.Equal(t, 2, gets)
	require.Equal(t, 1, heads)
	require.Zero(t, c.Stats().Blocks)
}

func TestReadAfterClose(t *testing.T) {
	_, c, _, _ := setup(t, 3*blockSize, blockcache.Config{Size: 64 * blockSize})
	body, _, err := c.Get(context.Background(), testKey, &objstore.Range{Start: 0, End: 2 * blockSize})
	require.NoError(t, err)
	require.NoError(t, body.Close())
	_, err = body.Read(make([]byte, 10))
	require.Error(t, err)
	require.NotErrorIs(t, err, io.EOF)
}

// TestConcurrentReadersRace runs many readers over random ranges of a cache smaller than the object, for
// the race detector and to check that every answer is the object's bytes.
func TestConcurrentReadersRace(t *testing.T) {
	const size = 32*blockSize + 17
	_, c, data, _ := setup(t, size, blockcache.Config{Size: 8 * blockSize})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 9))
			for range 200 {
				start := r.Int64N(size)
				end := min(start+r.Int64N(2*blockSize), size+100)
				body, _, err := c.Get(context.Background(), testKey, &objstore.Range{Start: start, End: end})
				if !assertNoError(t, err) {
					return
				}
				got, err := io.ReadAll(body)
				body.Close()
				if !assertNoError(t, err) || !bytes.Equal(data[start:min(end+1, size)], got) {
					t.Errorf("range %d-%d: wrong bytes", start, end)
					return
				}
			}
		})
	}
	wg.Wait()
	st := c.Stats()
	require.LessOrEqual(t, st.Bytes, int64(8*blockSize))
	require.Positive(t, st.Hits)
	require.Positive(t, st.Evictions)
}

func assertNoError(t *testing.T, err error) bool {
	if err != nil {
		t.Error(err)
		return false
	}
	return true
}

// requireBytes compares byte slices without printing them whole.
func requireBytes(t *testing.T, want, got []byte) {
	t.Helper()
	if bytes.Equal(want, got) {
		return
	}
	i := 0
	for i < min(len(want), len(got)) && want[i] == got[i] {
		i++
	}
	t.Fatalf("got %d bytes, want %d: they differ from byte %d on", len(got), len(want), i)
}
