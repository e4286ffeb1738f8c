// Package objstore stores blobs (segments, recordings, uploads) under validated keys in a local directory
// (Local, the default) or an S3-compatible bucket (S3); both export the same method set.
package objstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxKeyLen is the longest key accepted, in bytes (the S3 limit).
const MaxKeyLen = 1024

// MaxElemLen is the longest "/"-separated key element, in bytes: Local stores an element as a file name
// and needs room below NAME_MAX (255) for its ".<name>.meta.json" sidecar and ".<name>.tmp-*" temp files.
const MaxElemLen = 200

// defaultContentType is stored when PutOptions.ContentType is empty, so both backends report the same.
const defaultContentType = "application/octet-stream"

// PutOptions carries the HTTP metadata stored with an object.
type PutOptions struct {
	ContentType  string // empty means application/octet-stream
	CacheControl string
}

// Range is an inclusive byte range [Start, End]. An End past the object's end is clamped to the last byte
// (as in HTTP); a Start at or past the end, a negative Start or End < Start is ErrInvalidRange.
type Range struct {
	Start, End int64
}

func (r *Range) validate() error {
	if r.Start < 0 || r.End < r.Start {
		return fmt.Errorf("%w: %d-%d", ErrInvalidRange, r.Start, r.End)
	}
	return nil
}

// ObjectInfo describes a stored object. Size is always the whole object's size, also for a ranged Get.
// List fills only Key, Size and ModTime.
type ObjectInfo struct {
	Key          string
	Size         int64
	ContentType  string
	CacheControl string
	ModTime      time.Time
}

// ValidKey reports whether key is acceptable to every backend: non-empty, at most MaxKeyLen bytes, valid
// UTF-8, no "..", no backslash, no NUL or other control character, and "/"-separated elements that are
// non-empty, at most MaxElemLen bytes and do not start with "." (this excludes "." and a leading "/", and
// reserves dot-names for Local's sidecars and temp files).
func ValidKey(key string) bool {
	if key == "" || len(key) > MaxKeyLen || !utf8.ValidString(key) || strings.Contains(key, "..") {
		return false
	}
	for _, c := range key {
		if c < 0x20 || c == 0x7f || c == '\\' || (c >= 0x80 && c < 0xa0) {
			return false
		}
	}
	for elem := range strings.SplitSeq(key, "/") {
		if elem == "" || elem[0] == '.' || len(elem) > MaxElemLen {
			return false
		}
	}
	return true
}

func checkKey(key string) error {
	if !ValidKey(key) {
		return fmt.Errorf("%w: %q", ErrInvalidKey, key)
	}
	return nil
}

// checkPrefix accepts "" and any prefix of a valid key ("vod/", "vod/12").
func checkPrefix(prefix string) error {
	if prefix == "" || ValidKey(prefix+"x") {
		return nil
	}
	return fmt.Errorf("%w: prefix %q", ErrInvalidKey, prefix)
}

// MinPartSize is the smallest part a multipart upload may have, except its last part (S3's limit; Local
// enforces it too, so that code tested against Local does not fail on S3).
const MinPartSize = 5 << 20

// Part is one stored part of a multipart upload, as CompleteMultipart needs it back.
type Part struct {
	Number int32 // 1..10000
	Size   int64
	ETag   string
	// Checksum is the backend's checksum of the part (S3: CRC32 base64, as the SDK reports it; Local: "").
	Checksum string
}

// Multipart is a resumable multipart upload. It keeps no state in the value: the uploadID and the parts
// are all a later call needs, so an upload can be continued by another process with a new store value.
// Parts that are neither completed nor aborted stay stored (and on S3 billed) until aborted.
type Multipart interface {
	// CreateMultipart starts an upload of the object at key, which will carry opts' metadata.
	CreateMultipart(ctx context.Context, key string, opts PutOptions) (uploadID string, err error)
	// UploadPart stores exactly size bytes of r as part number (1..10000); uploading the same number again
	// replaces it. r must end after size bytes: a shorter or longer reader fails and stores nothing.
	UploadPart(ctx context.Context, key, uploadID string, number int32, r io.Reader, size int64) (Part, error)
	// CompleteMultipart joins the parts (in Number order) into the object at key, atomically: readers see
	// either nothing or the whole object. Every part but the last must hold at least MinPartSize bytes. A
	// failed Complete leaves the upload in place, to be fixed and completed again or aborted.
	CompleteMultipart(ctx context.Context, key, uploadID string, parts []Part) error
	// AbortMultipart discards the upload and its parts; an upload that does not exist (already
	// aborted/completed) is not an error.
	AbortMultipart(ctx context.Context, key, uploadID string) error
}

var (
	_ Multipart = (*Local)(nil)
	_ Multipart = (*S3)(nil)
)

func checkPartNumber(number int32) error {
	if number < 1 || number > maxParts {
		return fmt.Errorf("part number %d out of range 1..%d", number, maxParts)
	}
	return nil
}

func checkPartSize(size int64) error {
	if size < 0 || size > maxPartSize {
		return fmt.Errorf("part size %d out of range 0..%d", size, int64(maxPartSize))
	}
	return nil
}

// sortParts returns a copy of parts sorted by number, after checking what both backends require of a
// completion: at least one part, numbers in range and distinct, and every part but the last at least
// MinPartSize bytes (S3 checks the sizes it stored; Local checks them again against its part files).
func sortParts(parts []Part) ([]Part, error) {
	if len(parts) == 0 {
		return nil, errors.New("no parts")
	}
	sorted := slices.SortedFunc(slices.Values(parts), func(a, b Part) int { return cmp.Compare(a.Number, b.Number) })
	for i, p := range sorted {
		if err := checkPartNumber(p.Number); err != nil {
			return nil, err
		}
		if i > 0 && p.Number == sorted[i-1].Number {
			return nil, fmt.Errorf("part %d listed twice", p.Number)
		}
		if i < len(sorted)-1 && p.Size < MinPartSize {
			return nil, fmt.Errorf("part %d has %d bytes, less than the %d required of all parts but the last",
				p.Number, p.Size, MinPartSize)
		}
	}
	return sorted, nil
}

func contentTypeOrDefault(ct string) string {
	if ct == "" {
		return defaultContentType
	}
	return ct
}
