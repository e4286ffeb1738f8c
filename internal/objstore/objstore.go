// Package objstore stores blobs (segments, recordings, uploads) under validated keys in a local directory
// (Local, the default) or an S3-compatible bucket (S3); both export the same method set.
package objstore

import (
	"fmt"
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

func contentTypeOrDefault(ct string) string {
	if ct == "" {
		return defaultContentType
	}
	return ct
}
