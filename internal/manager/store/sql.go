// Package store keeps the stream manager's durable state — scale policies, launch configurations, node
// groups, alarm thresholds, nodes with their lifecycle events, and stream records — in SQL: SQLite (pure
// Go, one file, the embedded default) or MySQL/MariaDB (production), with versioned migrations embedded
// in the binary.
package store

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nagare-video/nagare/internal/sqldb"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Engines.
const (
	SQLite = sqldb.SQLite
	MySQL  = sqldb.MySQL
)

//go:embed migrations
var migrations embed.FS

var schema = sqldb.Migrations{FS: migrations, Dir: "migrations"}

// DefaultCallTimeout is how long a store call may take before it fails with ErrUnavailable.
const DefaultCallTimeout = sqldb.DefaultCallTimeout

// SQL is the store on a SQL database.
type SQL struct {
	// Conn bounds every call by its CallTimeout (DefaultCallTimeout from Open; 0 for none), so that a
	// database that stops answering yields ErrUnavailable instead of hanging its callers.
	*sqldb.Conn
	// Now is the clock; tests replace it.
	Now func() time.Time
}

// Open connects to the database. For SQLite, dsn is a file path (":memory:" for a throw-away store);
// for MySQL, a go-sql-driver DSN such as "user:pass@tcp(127.0.0.1:3306)/nagare".
func Open(ctx context.Context, engine, dsn string) (*SQL, error) {
	db, err := sqldb.Open(ctx, engine, dsn)
	if err != nil {
		return nil, err
	}
	db.Domain = isDomain
	return &SQL{Conn: db, Now: time.Now}, nil
}

// DB exposes the connection pool (for tests). Calls made on it directly have no deadline.
func (s *SQL) DB() *sql.DB { return s.Pool() }

func (s *SQL) call(ctx context.Context, fn func(ctx context.Context) error) error {
	return s.Call(ctx, fn)
}

// isDomain reports whether err is the store's answer about the data rather than a failure to get one.
func isDomain(err error) bool {
	for _, e := range []error{ErrNotFound, ErrExists, ErrInUse, ErrReference, ErrStateConflict, ErrInvalid, ErrUnavailable} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func (s *SQL) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return s.Exec(ctx, query, args...)
}

func one[T any](ctx context.Context, s *SQL, query string, scan func(scanner) (T, error), args ...any) (T, error) {
	return sqldb.One(ctx, s.Conn, query, scan, args...)
}

func list[T any](ctx context.Context, s *SQL, query string, scan func(scanner) (T, error), args ...any) ([]T, error) {
	return sqldb.List(ctx, s.Conn, query, scan, args...)
}

// Migrate applies every pending migration and returns the resulting schema version.
func (s *SQL) Migrate(ctx context.Context) (int64, error) { return s.Conn.Migrate(ctx, schema) }

// MigrationStatus lists each migration with whether it has been applied.
func (s *SQL) MigrationStatus(ctx context.Context) ([]string, error) {
	return s.Conn.MigrationStatus(ctx, schema)
}

func ms(t time.Time) int64 { return sqldb.MS(t) }

func fromMS(v int64) time.Time { return sqldb.FromMS(v) }

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only our own plain structs are encoded
	}
	return string(b)
}

func isDuplicate(err error) bool { return sqldb.IsDuplicate(err) }

func isForeignKey(err error) bool { return sqldb.IsForeignKey(err) }

func (s *SQL) tx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	return s.Tx(ctx, fn)
}

func (s *SQL) forUpdate() string { return s.ForUpdate() }

type scanner = sqldb.Scanner

func notFound(kind, name string) error {
	return fmt.Errorf("%s %q: %w", kind, name, ErrNotFound)
}
