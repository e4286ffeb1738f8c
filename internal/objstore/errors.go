package objstore

import "errors"

var (
	// ErrNotFound reports that no object exists under the key.
	ErrNotFound = errors.New("object not found")
	// ErrInvalidKey reports a key (or list prefix) that fails ValidKey, or that a backend cannot store.
	ErrInvalidKey = errors.New("invalid object key")
	// ErrNoSuchUpload reports a multipart upload ID that is unknown for the key: never created, already
	// completed or aborted, or created for another key.
	ErrNoSuchUpload = errors.New("no such multipart upload")
	// ErrInvalidRange reports a byte range that is malformed or starts past the end of the object.
	ErrInvalidRange = errors.New("invalid byte range")
	// ErrNotPublic reports that a reader without credentials is refused an object (401 or 403).
	ErrNotPublic = errors.New("bucket not readable without credentials")
	// ErrNoCORS reports that the bucket does not let web pages of another origin read an object.
	ErrNoCORS = errors.New("bucket does not allow cross-origin reads")
)
