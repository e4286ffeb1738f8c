package objstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// Local stores each object as the file Root/<key>. Its content type and cache control live in a sidecar
// Root/<dir>/.<name>.meta.json; keys never have dot-elements, so sidecars and temp files are never listed
// and never collide with an object. Data and sidecar are each replaced atomically (temp file + rename),
// not jointly: a reader racing an overwrite can briefly see new metadata with the old bytes.
type Local struct {
	Root string
}

// NewLocal returns a Local store rooted at root, creating the directory if needed.
func NewLocal(root string) (*Local, error) {
	if root == "" {
		return nil, errors.New("objstore: empty local root")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("resolving local root %q: %w", root, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("creating local root: %w", err)
	}
	return &Local{Root: abs}, nil
}

type localMeta struct {
	ContentType  string `json:"contentType,omitempty"`
	CacheControl string `json:"cacheControl,omitempty"`
}

// path is only called with a validated key: no "..", no leading "/", no backslash, so it stays under Root.
func (l *Local) path(key string) string { return filepath.Join(l.Root, filepath.FromSlash(key)) }

func metaPath(p string) string {
	return filepath.Join(filepath.Dir(p), "."+filepath.Base(p)+".meta.json")
}

// Put writes the object through a temp file in the target directory and renames it into place, so readers
// never see a partial object. r must yield exactly size bytes.
func (l *Local) Put(ctx context.Context, key string, r io.Reader, size int64, opts PutOptions) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if size < 0 {
		return fmt.Errorf("putting %q: negative size %d", key, size)
	}
	p, err := l.makeParent(key)
	if err != nil {
		return fmt.Errorf("putting %q: %w", key, err)
	}
	err = writeAtomic(p, func(f *os.File) error {
		n, err := io.Copy(f, ctxReader{ctx, io.LimitReader(r, size+1)})
		if err != nil {
			return err
		}
		if n != size {
			return fmt.Errorf("got %d bytes, want %d", n, size)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("putting %q: %w", key, err)
	}
	if err := writeMeta(p, opts); err != nil {
		return fmt.Errorf("putting metadata of %q: %w", key, err)
	}
	return nil
}

// makeParent returns the path of key, creating its directory. A local store cannot hold both "a" and "a/b"
// (a file and a directory would share a name): that is ErrInvalidKey.
func (l *Local) makeParent(key string) (string, error) {
	p := l.path(key)
	if fi, err := os.Stat(p); err == nil && fi.IsDir() {
		return "", fmt.Errorf("%w: %q is a prefix of other objects in a local store", ErrInvalidKey, key)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		if errors.Is(err, syscall.ENOTDIR) {
			return "", fmt.Errorf("%w: a prefix of %q is an object in a local store", ErrInvalidKey, key)
		}
		return "", err
	}
	return p, nil
}

// writeMeta replaces the sidecar of the object file p.
func writeMeta(p string, opts PutOptions) error {
	meta, err := json.Marshal(localMeta{ContentType: contentTypeOrDefault(opts.ContentType), CacheControl: opts.CacheControl})
	if err != nil {
		return err
	}
	return writeAtomic(metaPath(p), func(f *os.File) error { _, err := f.Write(meta); return err })
}

func writeAtomic(p string, write func(*os.File) error) (err error) {
	f, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = write(f); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Chmod(0o644); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), p)
}

// Get opens the object, or the inclusive byte range rng of it.
func (l *Local) Get(ctx context.Context, key string, rng *Range) (io.ReadCloser, ObjectInfo, error) {
	if err := checkKey(key); err != nil {
		return nil, ObjectInfo{}, err
	}
	if rng != nil {
		if err := rng.validate(); err != nil {
			return nil, ObjectInfo{}, err
		}
	}
	p := l.path(key)
	f, err := os.Open(p)
	if err != nil {
		return nil, ObjectInfo{}, localErr(key, err)
	}
	info, err := l.info(key, p, f)
	if err != nil {
		f.Close()
		return nil, ObjectInfo{}, err
	}
	off, n := int64(0), info.Size
	if rng != nil {
		if rng.Start >= info.Size {
			f.Close()
			return nil, ObjectInfo{}, fmt.Errorf("%w: %d-%d of %d bytes", ErrInvalidRange, rng.Start, rng.End, info.Size)
		}
		off, n = rng.Start, min(rng.End, info.Size-1)-rng.Start+1
	}
	return sectionReadCloser{io.NewSectionReader(f, off, n), f}, info, nil
}

type sectionReadCloser struct {
	*io.SectionReader
	io.Closer
}

// Head returns the object's size, metadata and modification time.
func (l *Local) Head(ctx context.Context, key string) (ObjectInfo, error) {
	if err := checkKey(key); err != nil {
		return ObjectInfo{}, err
	}
	p := l.path(key)
	f, err := os.Open(p)
	if err != nil {
		return ObjectInfo{}, localErr(key, err)
	}
	defer f.Close()
	return l.info(key, p, f)
}

func (l *Local) info(key, p string, f *os.File) (ObjectInfo, error) {
	fi, err := f.Stat()
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("stat %q: %w", key, err)
	}
	if !fi.Mode().IsRegular() {
		return ObjectInfo{}, fmt.Errorf("%w: %q", ErrNotFound, key)
	}
	info := ObjectInfo{Key: key, Size: fi.Size(), ModTime: fi.ModTime(), ContentType: defaultContentType}
	b, err := os.ReadFile(metaPath(p))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return ObjectInfo{}, fmt.Errorf("reading metadata of %q: %w", key, err)
	default:
		var m localMeta
		if err := json.Unmarshal(b, &m); err != nil {
			return ObjectInfo{}, fmt.Errorf("decoding metadata of %q: %w", key, err)
		}
		info.ContentType, info.CacheControl = contentTypeOrDefault(m.ContentType), m.CacheControl
	}
	return info, nil
}

// Delete removes the object and its sidecar; a missing object is not an error. Emptied directories are
// left in place so a concurrent Put into them cannot lose its directory.
func (l *Local) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	p := l.path(key)
	if fi, err := os.Lstat(p); err == nil && fi.IsDir() {
		return nil // a prefix, not an object
	}
	if err := os.Remove(p); err != nil && !isNotFound(err) {
		return fmt.Errorf("deleting %q: %w", key, err)
	}
	if err := os.Remove(metaPath(p)); err != nil && !isNotFound(err) {
		return fmt.Errorf("deleting metadata of %q: %w", key, err)
	}
	return nil
}

// List returns the objects whose keys start with prefix, sorted by key.
func (l *Local) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	dir := l.Root
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		dir = l.path(prefix[:i])
	}
	var out []ObjectInfo
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir && isNotFound(err) {
				return fs.SkipAll
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") && p != dir {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(l.Root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		fi, err := d.Info()
		if isNotFound(err) {
			return nil // deleted while listing
		}
		if err != nil {
			return err
		}
		out = append(out, ObjectInfo{Key: key, Size: fi.Size(), ModTime: fi.ModTime()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing %q: %w", prefix, err)
	}
	slices.SortFunc(out, func(a, b ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

func isNotFound(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

func localErr(key string, err error) error {
	if isNotFound(err) {
		return fmt.Errorf("%w: %q", ErrNotFound, key)
	}
	return fmt.Errorf("opening %q: %w", key, err)
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
