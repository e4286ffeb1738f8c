package objstore

import (
	"context"
	"fmt"
	"io"
)

// Store is the method set both backends export.
type Store interface {
	Put(ctx context.Context, key string, r io.Reader, size int64, opts PutOptions) error
	Get(ctx context.Context, key string, rng *Range) (io.ReadCloser, ObjectInfo, error)
	Head(ctx context.Context, key string) (ObjectInfo, error)
	Delete(ctx context.Context, key string) error
	List(ctx context.Context, prefix string) ([]ObjectInfo, error)
}

var (
	_ Store = (*Local)(nil)
	_ Store = (*S3)(nil)
)

// Backends.
const (
	BackendLocal = "local"
	BackendS3    = "s3"
)

// Config chooses and configures a backend.
type Config struct {
	Backend   string // local (default) or s3
	Directory string // local: the root directory
	S3        S3Config
}

// Open returns the configured backend. It does not contact an S3 server.
func Open(ctx context.Context, cfg Config) (Store, error) {
	switch cfg.Backend {
	case "", BackendLocal:
		return NewLocal(cfg.Directory)
	case BackendS3:
		return NewS3(ctx, cfg.S3)
	}
	return nil, fmt.Errorf("objstore: unknown backend %q (local or s3)", cfg.Backend)
}
