// Package store keeps the stream manager's durable state — scale policies, launch configurations, node
// groups, alarm thresholds, nodes with their lifecycle events, and stream records — in SQL: SQLite (pure
// Go, one file, the embedded default) or MySQL/MariaDB (production), with versioned migrations embedded
// in the binary.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Engines.
const (
	SQLite = "sqlite"
	MySQL  = "mysql"
)

//go:embed migrations
var migrations embed.FS

// DefaultCallTimeout is how long a store call may take before it fails with ErrUnavailable.
const DefaultCallTimeout = 2 * time.Second

// Timeouts of a MySQL connection, added to a DSN that sets none: they bound what no call's deadline covers
// (the migrations at start-up). readTimeout is long because it bounds every read, a slow ALTER TABLE's too.
const (
	mysqlDialTimeout  = 5 * time.Second
	mysqlReadTimeout  = 30 * time.Second
	mysqlWriteTimeout = 30 * time.Second
)

// SQL is the store on a SQL database.
type SQL struct {
	db     *sql.DB
	engine string
	// Now is the clock; tests replace it.
	Now func() time.Time
	// CallTimeout bounds each call to the database (DefaultCallTimeout from Open; 0 for none), so that a
	// database that stops answering yields ErrUnavailable instead of hanging its callers.
	CallTimeout time.Duration
}

// Open connects to the database. For SQLite, dsn is a file path (":memory:" for a throw-away store);
// for MySQL, a go-sql-driver DSN such as "user:pass@tcp(127.0.0.1:3306)/nagare".
func Open(ctx context.Context, engine, dsn string) (*SQL, error) {
	var db *sql.DB
	var err error
	switch engine {
	case SQLite:
		db, err = sql.Open("sqlite", sqliteDSN(dsn))
		if err == nil {
			// one writer at a time is SQLite's model; one connection also keeps ":memory:" one database
			db.SetMaxOpenConns(1)
		}
	case MySQL:
		full, perr := mysqlDSN(dsn)
		if perr != nil {
			return nil, perr
		}
		db, err = sql.Open("mysql", full)
		if err == nil {
			db.SetMaxOpenConns(16)
			db.SetMaxIdleConns(16)
			db.SetConnMaxLifetime(5 * time.Minute)
		}
	default:
		return nil, fmt.Errorf("unknown store engine %q (sqlite or mysql)", engine)
	}
	if err != nil {
		return nil, fmt.Errorf("opening %s store: %w", engine, err)
	}
	s := &SQL{db: db, engine: engine, Now: time.Now, CallTimeout: DefaultCallTimeout}
	if err := s.Ping(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connecting to %s store: %w", engine, err)
	}
	return s, nil
}

// mysqlDSN is the user's DSN with the settings the store relies on, and connection timeouts where it
// sets none.
func mysqlDSN(dsn string) (string, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return "", fmt.Errorf("mysql dsn: %w", err)
	}
	cfg.ParseTime = false
	cfg.MultiStatements = true
	if cfg.Timeout == 0 {
		cfg.Timeout = mysqlDialTimeout
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = mysqlReadTimeout
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = mysqlWriteTimeout
	}
	return cfg.FormatDSN(), nil
}

func sqliteDSN(path string) string {
	pragmas := "_pragma=foreign_keys(1)&_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"
	if path == ":memory:" {
		return "file::memory:?" + pragmas
	}
	return "file:" + path + "?" + pragmas
}

// Engine returns "sqlite" or "mysql".
func (s *SQL) Engine() string { return s.engine }

// Close closes the database.
func (s *SQL) Close() error { return s.db.Close() }

// DB exposes the connection pool (for tests). Calls made on it directly have no deadline.
func (s *SQL) DB() *sql.DB { return s.db }

// Ping checks that the database answers, within ctx's deadline or CallTimeout, whichever comes first.
func (s *SQL) Ping(ctx context.Context) error {
	return s.call(ctx, s.db.PingContext)
}

// call runs fn, which talks to the database, under the store's deadline. It is the one place that bounds
// calls: exec, one, list and tx go through it, and every method goes through them. A call that ran out of
// time or lost its connection fails with ErrUnavailable; one that the caller cancelled keeps ctx's error.
func (s *SQL) call(ctx context.Context, fn func(ctx context.Context) error) error {
	cctx, cancel := ctx, context.CancelFunc(func() {})
	if s.CallTimeout > 0 {
		cctx, cancel = context.WithTimeout(ctx, s.CallTimeout)
	}
	defer cancel()
	err := fn(cctx)
	if err == nil || errors.Is(ctx.Err(), context.Canceled) || isDomain(err) {
		return err
	}
	if cctx.Err() != nil || isConnection(err) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
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

// isConnection reports whether err says the database could not be reached or dropped the connection.
func isConnection(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)
}

// exec runs a statement under the store's deadline.
func (s *SQL) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	var res sql.Result
	err := s.call(ctx, func(ctx context.Context) error {
		var err error
		res, err = s.db.ExecContext(ctx, query, args...)
		return err
	})
	return res, err
}

// one reads one row under the store's deadline; sql.ErrNoRows says there is none.
func one[T any](ctx context.Context, s *SQL, query string, scan func(scanner) (T, error), args ...any) (T, error) {
	var v T
	err := s.call(ctx, func(ctx context.Context) error {
		var err error
		v, err = scan(s.db.QueryRowContext(ctx, query, args...))
		return err
	})
	return v, err
}

// list reads every row under the store's deadline.
func list[T any](ctx context.Context, s *SQL, query string, scan func(scanner) (T, error), args ...any) ([]T, error) {
	var out []T
	err := s.call(ctx, func(ctx context.Context) error {
		rows, err := s.db.QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		out = []T{}
		for rows.Next() {
			v, err := scan(rows)
			if err != nil {
				return err
			}
			out = append(out, v)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *SQL) provider() (*goose.Provider, error) {
	dir, err := fs.Sub(migrations, "migrations/"+s.engine)
	if err != nil {
		return nil, err
	}
	dialect := goose.DialectSQLite3
	if s.engine == MySQL {
		dialect = goose.DialectMySQL
	}
	return goose.NewProvider(dialect, s.db, dir)
}

// Migrate applies every pending migration and returns the resulting schema version.
func (s *SQL) Migrate(ctx context.Context) (int64, error) {
	p, err := s.provider()
	if err != nil {
		return 0, fmt.Errorf("loading migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return 0, fmt.Errorf("migrating %s store: %w", s.engine, err)
	}
	return p.GetDBVersion(ctx)
}

// MigrationStatus lists each migration with whether it has been applied.
func (s *SQL) MigrationStatus(ctx context.Context) ([]string, error) {
	p, err := s.provider()
	if err != nil {
		return nil, fmt.Errorf("loading migrations: %w", err)
	}
	st, err := p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	out := make([]string, len(st))
	for i, m := range st {
		out[i] = fmt.Sprintf("%05d %s %s", m.Source.Version, m.State, m.Source.Path)
	}
	return out, nil
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only our own plain structs are encoded
	}
	return string(b)
}

func isDuplicate(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1062
	}
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

func isForeignKey(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1451 || me.Number == 1452
	}
	return err != nil && strings.Contains(err.Error(), "FOREIGN KEY constraint failed")
}

// tx runs fn in a transaction under the store's deadline, committing if it returns nil. fn must use the
// ctx it is given.
func (s *SQL) tx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	return s.call(ctx, func(ctx context.Context) error {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		if err := fn(ctx, tx); err != nil {
			_ = tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		return nil
	})
}

// forUpdate locks the selected row in MySQL; SQLite's single writer makes it unnecessary.
func (s *SQL) forUpdate() string {
	if s.engine == MySQL {
		return " FOR UPDATE"
	}
	return ""
}

type scanner interface{ Scan(dest ...any) error }

func notFound(kind, name string) error {
	return fmt.Errorf("%s %q: %w", kind, name, ErrNotFound)
}
