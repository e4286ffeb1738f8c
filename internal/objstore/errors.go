package objstore

import "errors"

var (
	// ErrNotFound reports that no object exists under the key.
	ErrNotFound = errors.New("object not found")
	// ErrInvalidKey reports a key (or list prefix) that fails ValidKey, or that a backend cannot store.
	ErrInvalidKey = errors.New("invalid object key")
	// ErrInvalidRange reports a byte range that is malformed or starts past the end of the object.
	ErrInvalidRange = errors.New("invalid byte range")
)
