// Package blockcache is a read-through cache of object bytes in memory, in front of an object store: hot
// objects (a VOD library's popular videos) are served from aligned blocks instead of a round trip to
// storage per read, as an origin shield would.
package blockcache

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/nagare-video/nagare/internal/objstore"
)

// Defaults of Config.
const (
	DefaultBlockSize = 1 << 20
	DefaultHeadTTL   = 30 * time.Second
)

// maxHeads bounds the Head results kept: past it, expired ones are dropped, then arbitrary ones.
const maxHeads = 4096

// Source is the object store the cache reads through (objstore.Local or objstore.S3).
type Source interface {
	Get(ctx context.Context, key string, rng *objstore.Range) (io.ReadCloser, objstore.ObjectInfo, error)
	Head(ctx context.Context, key string) (objstore.ObjectInfo, error)
}

// Config sizes a Cache.
type Config struct {
	// Size is the bytes of blocks kept; the least recently used blocks go first. A read of more than
	// Size/4 bytes bypasses the cache (it would evict a quarter of it for one reader), so 0 caches no
	// block, only Head results.
	Size int64
	// BlockSize is the unit of caching and alignment (0: DefaultBlockSize).
	BlockSize int64
	// HeadTTL is how long a Head result is reused (0: DefaultHeadTTL; negative: never). Within it a
	// replaced object is still served as it was; after it, its new version is read afresh.
	HeadTTL time.Duration
	// Now is the clock of HeadTTL (nil: time.Now).
	Now func() time.Time
}

// Stats are the cache's counters since New.
type Stats struct {
	// Hits, Misses and Waits count block reads: found in memory, fetched by this read, or joined a fetch
	// in progress for another read.
	Hits, Misses, Waits int64
	// Fetches are the ranged Gets of the source for missing blocks, FetchedBytes what they read.
	Fetches, FetchedBytes int64
	// Bypasses are the Gets passed straight to the source (too large, or the object changed).
	Bypasses int64
	// HeadHits and HeadMisses count Heads answered from memory or asked of the source.
	HeadHits, HeadMisses int64
	// Evictions counts blocks dropped to stay within Size; Bytes and Blocks are what is kept now.
	Evictions int64
	Bytes     int64
	Blocks    int
}

// HitRatio is the share of block reads served from memory (0 without any).
func (s Stats) HitRatio() float64 {
	n := s.Hits + s.Misses + s.Waits
	if n == 0 {
		return 0
	}
	return float64(s.Hits) / float64(n)
}

// Cache serves Get and Head of a Source from memory where it can. It is safe for concurrent use.
//
// Memory: at most Size bytes of blocks are kept, plus the blocks being fetched, plus evicted blocks that
// a reader still being read holds (each reader holds at most its range, which is at most Size/4).
type Cache struct {
	src       Source
	size      int64
	blockSize int64
	headTTL   time.Duration
	now       func() time.Time

	mu      sync.Mutex
	lru     *list.List // of *block, most recently used first
	blocks  map[blockKey]*list.Element
	bytes   int64
	flights map[blockKey]*flight
	heads   map[string]headEntry
	stats   Stats
}

// blockKey names a block of one version of an object: a replaced object (another size or modification
// time) never finds the blocks of the one it replaced.
type blockKey struct {
	version
	index int64
}

type version struct {
	key     string
	size    int64
	modTime int64 // UnixNano: time.Time is no map key
}

func versionOf(key string, info objstore.ObjectInfo) version {
	return version{key: key, size: info.Size, modTime: info.ModTime.UnixNano()}
}

func (v version) matches(info objstore.ObjectInfo) bool {
	return info.Size == v.size && info.ModTime.UnixNano() == v.modTime
}

type block struct {
	key  blockKey
	data []byte
}

// flight is a block being fetched; done is closed once data or err is set.
type flight struct {
	done chan struct{}
	data []byte
	err  error
	// abandoned: the fetching reader's context ended, which says nothing of the waiters': they fetch
	// again rather than fail.
	abandoned bool
}

type headEntry struct {
	info    objstore.ObjectInfo
	expires time.Time
}

// errChanged reports an object replaced since the Head a read is based on.
var errChanged = errors.New("object changed while being read")

// New returns a cache over src.
func New(src Source, cfg Config) *Cache {
	if cfg.BlockSize <= 0 {
		cfg.BlockSize = DefaultBlockSize
	}
	if cfg.HeadTTL == 0 {
		cfg.HeadTTL = DefaultHeadTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Cache{
		src: src, size: max(cfg.Size, 0), blockSize: cfg.BlockSize, headTTL: cfg.HeadTTL, now: cfg.Now,
		lru: list.New(), blocks: map[blockKey]*list.Element{}, flights: map[blockKey]*flight{},
		heads: map[string]headEntry{},
	}
}

// Stats returns the counters.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.Bytes, s.Blocks = c.bytes, len(c.blocks)
	return s
}

// Head returns the object's info, from memory if the source was asked less than HeadTTL ago. Failures,
// ErrNotFound included, are not kept.
func (c *Cache) Head(ctx context.Context, key string) (objstore.ObjectInfo, error) {
	now := c.now()
	c.mu.Lock()
	if h, ok := c.heads[key]; ok && now.Before(h.expires) {
		c.stats.HeadHits++
		c.mu.Unlock()
		return h.info, nil
	}
	c.stats.HeadMisses++
	c.mu.Unlock()
	info, err := c.src.Head(ctx, key)
	if err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("blockcache: %w", err)
	}
	if c.headTTL > 0 {
		c.mu.Lock()
		c.keepHead(key, headEntry{info: info, expires: now.Add(c.headTTL)}, now)
		c.mu.Unlock()
	}
	return info, nil
}

// keepHead stores a Head result, within maxHeads. c.mu is held.
func (c *Cache) keepHead(key string, h headEntry, now time.Time) {
	if _, ok := c.heads[key]; !ok && len(c.heads) >= maxHeads {
		for k, old := range c.heads {
			if !now.Before(old.expires) {
				delete(c.heads, k)
			}
		}
		for k := range c.heads {
			if len(c.heads) < maxHeads {
				break
			}
			delete(c.heads, k)
		}
	}
	c.heads[key] = h
}

// forgetHead drops the Head result of key if it still describes v: the source has another version.
func (c *Cache) forgetHead(v version) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h, ok := c.heads[v.key]; ok && v.matches(h.info) {
		delete(c.heads, v.key)
	}
}

// Get returns the object at key, or the inclusive range rng of it, as the source would: the ObjectInfo
// is the whole object's (the one Head returns), ranges past the end are clamped and a range starting at
// or past it is ErrInvalidRange. The bytes come from cached blocks; the missing ones are fetched before
// Get returns, each contiguous run of them with one ranged Get of the source, and a block that other
// reads are already fetching is waited for rather than fetched again. A source failure on the first
// block is Get's error, on a later one the reader's. Reads of more than Size/4 bytes are passed to the
// source.
func (c *Cache) Get(ctx context.Context, key string, rng *objstore.Range) (io.ReadCloser, objstore.ObjectInfo, error) {
	info, err := c.Head(ctx, key)
	if err != nil {
		return nil, objstore.ObjectInfo{}, err
	}
	start, end, err := span(rng, info.Size)
	if err != nil {
		return nil, objstore.ObjectInfo{}, err
	}
	v := versionOf(key, info)
	if end-start+1 > c.size/4 {
		return c.bypass(ctx, v, rng)
	}
	r := &reader{c: c, ctx: ctx, v: v, pos: start, end: end}
	if start <= end {
		if err := r.fill(); err != nil {
			if errors.Is(err, errChanged) {
				// The Head kept is out of date: the source answers for the new object, as it would have.
				return c.bypass(ctx, v, rng)
			}
			return nil, objstore.ObjectInfo{}, err
		}
	}
	return r, info, nil
}

// span checks rng against an object of size bytes as the backends do, and returns the first and last
// byte to read (last < first for a whole empty object).
func span(rng *objstore.Range, size int64) (int64, int64, error) {
	if rng == nil {
		return 0, size - 1, nil
	}
	if rng.Start < 0 || rng.End < rng.Start || rng.Start >= size {
		return 0, 0, fmt.Errorf("blockcache: %w: %d-%d of %d bytes", objstore.ErrInvalidRange, rng.Start, rng.End, size)
	}
	return rng.Start, min(rng.End, size-1), nil
}

// bypass reads from the source directly; v is the version the cache knew.
func (c *Cache) bypass(ctx context.Context, v version, rng *objstore.Range) (io.ReadCloser, objstore.ObjectInfo, error) {
	c.mu.Lock()
	c.stats.Bypasses++
	c.mu.Unlock()
	body, info, err := c.src.Get(ctx, v.key, rng)
	if err != nil {
		if errors.Is(err, objstore.ErrNotFound) || errors.Is(err, objstore.ErrInvalidRange) {
			c.forgetHead(v)
		}
		return nil, objstore.ObjectInfo{}, fmt.Errorf("blockcache: %w", err)
	}
	if !v.matches(info) {
		c.forgetHead(v)
	}
	return body, info, nil
}

// block returns block idx of v, from memory, from another read's fetch, or fetched now together with the
// missing blocks after it up to last: then more holds those that were read, and failed the error of the
// one after them, if the fetch failed before last. err is block idx's failure.
func (c *Cache) block(ctx context.Context, v version, idx, last int64) (data []byte, more [][]byte, failed, err error) {
	k := blockKey{v, idx}
	for {
		c.mu.Lock()
		if e, ok := c.blocks[k]; ok {
			c.lru.MoveToFront(e)
			c.stats.Hits++
			c.mu.Unlock()
			return e.Value.(*block).data, nil, nil, nil
		}
		if f, ok := c.flights[k]; ok {
			c.stats.Waits++
			c.mu.Unlock()
			select {
			case <-f.done:
			case <-ctx.Done():
				return nil, nil, nil, ctx.Err()
			}
			if f.abandoned && ctx.Err() == nil {
				continue
			}
			return f.data, nil, nil, f.err
		}
		// Claim idx and the blocks after it that are neither kept nor being fetched.
		run := []*flight{{done: make(chan struct{})}}
		c.flights[k] = run[0]
		for i := idx + 1; i <= last; i++ {
			ki := blockKey{v, i}
			if _, ok := c.blocks[ki]; ok {
				break
			}
			if _, ok := c.flights[ki]; ok {
				break
			}
			f := &flight{done: make(chan struct{})}
			c.flights[ki] = f
			run = append(run, f)
		}
		c.stats.Misses += int64(len(run))
		c.mu.Unlock()
		blocks, err := c.fetch(ctx, v, idx, run)
		if len(blocks) == 0 {
			return nil, nil, nil, err
		}
		return blocks[0], blocks[1:], err, nil
	}
}

// fetch reads the blocks of run, claimed by the caller and starting at block first, with one ranged Get,
// and settles every flight of it: each block read whole is kept and handed to its waiters, the others
// fail. It returns the blocks read, in order, and the error that ended the fetch before the run's end.
func (c *Cache) fetch(ctx context.Context, v version, first int64, run []*flight) (blocks [][]byte, err error) {
	settled := 0
	settle := func(buf []byte, err error) {
		k, f := blockKey{v, first + int64(settled)}, run[settled]
		settled++
		c.mu.Lock()
		delete(c.flights, k)
		if err == nil {
			c.keep(k, buf)
		}
		c.mu.Unlock()
		f.data, f.err, f.abandoned = buf, err, err != nil && ctx.Err() != nil
		close(f.done)
	}
	// Whatever happens (a panic in the source), no waiter is left waiting.
	defer func() {
		for settled < len(run) {
			settle(nil, fmt.Errorf("blockcache: fetch of %q abandoned", v.key))
		}
	}()

	bs := c.blockSize
	start := first * bs
	end := min((first+int64(len(run)))*bs, v.size) - 1
	body, info, err := c.src.Get(ctx, v.key, &objstore.Range{Start: start, End: end})
	switch {
	case err != nil:
		if errors.Is(err, objstore.ErrNotFound) || errors.Is(err, objstore.ErrInvalidRange) {
			c.forgetHead(v)
		}
		err = fmt.Errorf("blockcache: %w", err)
	case !v.matches(info):
		body.Close()
		c.forgetHead(v)
		err = fmt.Errorf("blockcache: %q: %w", v.key, errChanged)
	default:
		defer body.Close()
	}
	var read int64
	for i := range run {
		if err != nil {
			settle(nil, err)
			continue
		}
		off := start + int64(i)*bs
		buf := make([]byte, min(bs, v.size-off))
		n, rerr := io.ReadFull(body, buf)
		read += int64(n)
		if rerr != nil {
			err = fmt.Errorf("blockcache: reading %q at %d: %w", v.key, off+int64(n), rerr)
			settle(nil, err)
			continue
		}
		blocks = append(blocks, buf)
		settle(buf, nil)
	}
	c.mu.Lock()
	c.stats.Fetches++
	c.stats.FetchedBytes += read
	c.mu.Unlock()
	return blocks, err
}

// keep adds a block as the most recently used and evicts the least recently used ones beyond Size. A
// block larger than Size is not kept. c.mu is held.
func (c *Cache) keep(k blockKey, data []byte) {
	n := int64(len(data))
	if n > c.size {
		return
	}
	if _, ok := c.blocks[k]; ok {
		return
	}
	c.blocks[k] = c.lru.PushFront(&block{key: k, data: data})
	c.bytes += n
	for c.bytes > c.size {
		e := c.lru.Back()
		b := e.Value.(*block)
		c.lru.Remove(e)
		delete(c.blocks, b.key)
		c.bytes -= int64(len(b.data))
		c.stats.Evictions++
	}
}

// reader walks the blocks of a range, fetching the missing ones as it reaches them.
type reader struct {
	c        *Cache
	ctx      context.Context
	v        version
	pos, end int64  // the next byte to return and the last one
	cur      []byte // the rest of the current block within the range, from pos
	// ahead are the blocks after the current one that its fetch read too, and aheadErr the failure of
	// the one after them.
	ahead    [][]byte
	aheadErr error
	err      error // sticky
}

func (r *reader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if len(r.cur) == 0 {
		switch {
		case r.err != nil:
			return 0, r.err
		case r.pos > r.end:
			return 0, io.EOF
		}
		if err := r.fill(); err != nil {
			r.err = err
			return 0, err
		}
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	r.pos += int64(n)
	return n, nil
}

// fill points cur at the block holding pos, which is the start of a block but for the range's first.
func (r *reader) fill() error {
	bs := r.c.blockSize
	idx := r.pos / bs
	var data []byte
	switch {
	case len(r.ahead) > 0:
		data, r.ahead = r.ahead[0], r.ahead[1:]
	case r.aheadErr != nil:
		return r.aheadErr
	default:
		var err error
		if data, r.ahead, r.aheadErr, err = r.c.block(r.ctx, r.v, idx, r.end/bs); err != nil {
			return err
		}
	}
	off, stop := r.pos-idx*bs, min(int64(len(data)), r.end-idx*bs+1)
	if off >= stop {
		return fmt.Errorf("blockcache: block %d of %q has %d bytes: %w", idx, r.v.key, len(data), io.ErrUnexpectedEOF)
	}
	r.cur = data[off:stop]
	return nil
}

// Close releases the reader's blocks; reading after it fails.
func (r *reader) Close() error {
	r.cur, r.ahead, r.err = nil, nil, errClosed
	return nil
}

var errClosed = errors.New("blockcache: read after close")
