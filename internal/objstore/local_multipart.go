package objstore

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Local keeps an upload in progress in Root/.multipart/<uploadID>/: upload.json (the key and metadata
// given at creation) and one file per part, part-00001 … part-10000. A dot-name is never listed and never
// a key. The upload exists exactly as long as its upload.json does; the rest is removed after it.
const (
	localMultipartDir = ".multipart"
	localUploadFile   = "upload.json"
	localUploadIDLen  = 32 // hex digits: 128 random bits
)

type localUpload struct {
	Key          string `json:"key"`
	ContentType  string `json:"contentType,omitempty"`
	CacheControl string `json:"cacheControl,omitempty"`
}

// CreateMultipart starts an upload of the object at key. The upload directory is prepared under a temp
// name and renamed into place, so an upload ID names either a complete upload or nothing.
func (l *Local) CreateMultipart(ctx context.Context, key string, opts PutOptions) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	meta, err := json.Marshal(localUpload{Key: key, ContentType: contentTypeOrDefault(opts.ContentType), CacheControl: opts.CacheControl})
	if err != nil {
		return "", fmt.Errorf("creating multipart upload of %q: %w", key, err)
	}
	id := newLocalUploadID()
	base := filepath.Join(l.Root, localMultipartDir)
	if err := os.MkdirAll(base, 0o755); err != nil {
		return "", fmt.Errorf("creating multipart upload of %q: %w", key, err)
	}
	tmp, err := os.MkdirTemp(base, ".new-*")
	if err != nil {
		return "", fmt.Errorf("creating multipart upload of %q: %w", key, err)
	}
	err = writeAtomic(filepath.Join(tmp, localUploadFile), func(f *os.File) error { _, err := f.Write(meta); return err })
	if err == nil {
		err = os.Rename(tmp, l.uploadDir(id))
	}
	if err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("creating multipart upload of %q: %w", key, err)
	}
	return id, nil
}

func newLocalUploadID() string {
	b := make([]byte, localUploadIDLen/2)
	_, _ = rand.Read(b) // never fails (crypto/rand since Go 1.24)
	return hex.EncodeToString(b)
}

// validLocalUploadID keeps a caller's upload ID from naming any path but an upload directory.
func validLocalUploadID(id string) bool {
	if len(id) != localUploadIDLen {
		return false
	}
	for _, c := range id {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func (l *Local) uploadDir(id string) string { return filepath.Join(l.Root, localMultipartDir, id) }

func partFile(dir string, number int32) string {
	return filepath.Join(dir, fmt.Sprintf("part-%05d", number))
}

// loadUpload returns the directory and record of the upload, or ErrNoSuchUpload when the ID is malformed,
// unknown, or was created for another key (as S3 does).
func (l *Local) loadUpload(key, id string) (string, localUpload, error) {
	if !validLocalUploadID(id) {
		return "", localUpload{}, fmt.Errorf("%w: malformed upload ID %q", ErrNoSuchUpload, id)
	}
	dir := l.uploadDir(id)
	b, err := os.ReadFile(filepath.Join(dir, localUploadFile))
	if isNotFound(err) {
		return "", localUpload{}, fmt.Errorf("%w: %s", ErrNoSuchUpload, id)
	}
	if err != nil {
		return "", localUpload{}, err
	}
	var u localUpload
	if err := json.Unmarshal(b, &u); err != nil {
		return "", localUpload{}, fmt.Errorf("decoding upload %s: %w", id, err)
	}
	if u.Key != key {
		return "", localUpload{}, fmt.Errorf("%w: %s is an upload of another key", ErrNoSuchUpload, id)
	}
	return dir, u, nil
}

// UploadPart stores exactly size bytes of r as part number, through a temp file renamed into place, so a
// replaced part is either the old or the new one. Its ETag is the quoted MD5 of its bytes, as S3's.
func (l *Local) UploadPart(ctx context.Context, key, uploadID string, number int32, r io.Reader, size int64) (Part, error) {
	if err := checkKey(key); err != nil {
		return Part{}, err
	}
	if err := errors.Join(checkPartNumber(number), checkPartSize(size)); err != nil {
		return Part{}, fmt.Errorf("uploading part %d of %q: %w", number, key, err)
	}
	dir, _, err := l.loadUpload(key, uploadID)
	if err != nil {
		return Part{}, fmt.Errorf("uploading part %d of %q: %w", number, key, err)
	}
	h := md5.New()
	err = writeAtomic(partFile(dir, number), func(f *os.File) error {
		n, err := io.Copy(io.MultiWriter(f, h), ctxReader{ctx, io.LimitReader(r, size+1)})
		if err != nil {
			return err
		}
		if n != size {
			return fmt.Errorf("got %d bytes, want %d", n, size)
		}
		return nil
	})
	if err != nil {
		if _, statErr := os.Stat(filepath.Join(dir, localUploadFile)); isNotFound(statErr) {
			err = fmt.Errorf("%w: %s (aborted or completed meanwhile)", ErrNoSuchUpload, uploadID)
		}
		return Part{}, fmt.Errorf("uploading part %d of %q: %w", number, key, err)
	}
	return Part{Number: number, Size: size, ETag: md5ETag(h.Sum(nil))}, nil
}

func md5ETag(sum []byte) string { return `"` + hex.EncodeToString(sum) + `"` }

// CompleteMultipart concatenates the parts into a temp file beside the object and renames it into place,
// then writes the metadata sidecar as Put does and removes the upload. Each part must still be the one
// UploadPart returned: same size and ETag (as S3 checks).
func (l *Local) CompleteMultipart(ctx context.Context, key, uploadID string, parts []Part) error {
	if err := checkKey(key); err != nil {
		return err
	}
	sorted, err := sortParts(parts)
	if err != nil {
		return fmt.Errorf("completing multipart upload of %q: %w", key, err)
	}
	dir, u, err := l.loadUpload(key, uploadID)
	if err != nil {
		return fmt.Errorf("completing multipart upload of %q: %w", key, err)
	}
	// Sizes first, before anything is written: S3 checks the minimum on the sizes it stored.
	for _, p := range sorted {
		fi, err := os.Stat(partFile(dir, p.Number))
		if isNotFound(err) {
			return fmt.Errorf("completing multipart upload of %q: part %d was not uploaded", key, p.Number)
		}
		if err != nil {
			return fmt.Errorf("completing multipart upload of %q: %w", key, err)
		}
		if fi.Size() != p.Size {
			return fmt.Errorf("completing multipart upload of %q: part %d has %d bytes stored, not %d", key, p.Number, fi.Size(), p.Size)
		}
	}
	p, err := l.makeParent(key)
	if err != nil {
		return fmt.Errorf("completing multipart upload of %q: %w", key, err)
	}
	err = writeAtomic(p, func(f *os.File) error {
		for _, part := range sorted {
			if err := appendPart(ctx, f, partFile(dir, part.Number), part); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("completing multipart upload of %q: %w", key, err)
	}
	if err := writeMeta(p, PutOptions{ContentType: u.ContentType, CacheControl: u.CacheControl}); err != nil {
		return fmt.Errorf("completing multipart upload of %q: writing metadata: %w", key, err)
	}
	if err := removeUpload(dir); err != nil {
		return fmt.Errorf("completed %q, but removing its upload: %w", key, err)
	}
	return nil
}

// appendPart copies the part file to w, checking that it is still the part the caller uploaded.
func appendPart(ctx context.Context, w io.Writer, name string, part Part) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("part %d: %w", part.Number, err)
	}
	defer f.Close()
	h := md5.New()
	n, err := io.Copy(io.MultiWriter(w, h), ctxReader{ctx, f})
	if err != nil {
		return fmt.Errorf("part %d: %w", part.Number, err)
	}
	if n != part.Size {
		return fmt.Errorf("part %d has %d bytes stored, not %d", part.Number, n, part.Size)
	}
	if etag := md5ETag(h.Sum(nil)); etag != part.ETag {
		return fmt.Errorf("part %d: ETag %s does not match the stored part's %s (uploaded again since?)", part.Number, part.ETag, etag)
	}
	return nil
}

// AbortMultipart removes the upload and its parts. An unknown upload, or one created for another key (as
// S3 answers it), is not an error and removes nothing.
func (l *Local) AbortMultipart(ctx context.Context, key, uploadID string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if !validLocalUploadID(uploadID) {
		return nil
	}
	dir, _, err := l.loadUpload(key, uploadID)
	switch {
	case errors.Is(err, ErrNoSuchUpload):
		// Without upload.json, what is left is the rest of a removal that was cut short, if anything; with
		// it, the upload is of another key and stays.
		dir = l.uploadDir(uploadID)
		if _, statErr := os.Stat(filepath.Join(dir, localUploadFile)); isNotFound(statErr) {
			if err := os.RemoveAll(dir); err != nil {
				return fmt.Errorf("aborting multipart upload of %q: %w", key, err)
			}
		}
		return nil
	case err != nil:
		return fmt.Errorf("aborting multipart upload of %q: %w", key, err)
	}
	if err := removeUpload(dir); err != nil {
		return fmt.Errorf("aborting multipart upload of %q: %w", key, err)
	}
	return nil
}

// removeUpload removes upload.json first, which ends the upload for every other call, then the parts.
func removeUpload(dir string) error {
	if err := os.Remove(filepath.Join(dir, localUploadFile)); err != nil && !isNotFound(err) {
		return err
	}
	return os.RemoveAll(dir)
}
