// Package sqldb is the SQL plumbing nagare's stores share: opening SQLite or MySQL/MariaDB with the
// settings the stores rely on, a deadline on every call that turns a silent database into ErrUnavailable,
// embedded goose migrations, and small helpers for rows and engine differences.
package sqldb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Engines.
const (
	SQLite = "sqlite"
	MySQL  = "mysql"
)

// DefaultCallTimeout is how long a call may take before it fails with ErrUnavailable.
const DefaultCallTimeout = 2 * time.Second

// ErrUnavailable is returned when the database does not answer within the call's deadline or cannot be
// reached; the call may be retried later.
var ErrUnavailable = errors.New("store does not answer")

// Timeouts of a MySQL connection, added to a DSN that sets none: they bound what no call's deadline covers
// (the migrations at start-up). readTimeout is long because it bounds every read, a slow ALTER TABLE's too.
const (
	mysqlDialTimeout  = 5 * time.Second
	mysqlReadTimeout  = 30 * time.Second
	mysqlWriteTimeout = 30 * time.Second
)

// Conn is a connection pool with a deadline on every call.
type Conn struct {
	db     *sql.DB
	engine string
	// CallTimeout bounds each call to the database (DefaultCallTimeout from Open; 0 for none), so that a
	// database that stops answering yields ErrUnavailable instead of hanging its callers.
	CallTimeout time.Duration
	// Domain reports whether an error is the store's own answer about the data (not found, exists …),
	// which Call passes through unchanged even when the deadline has passed meanwhile.
	Domain func(error) bool
}

// Open connects to the database. For SQLite, dsn is a file path (":memory:" for a throw-away store);
// for MySQL, a go-sql-driver DSN such as "user:pass@tcp(127.0.0.1:3306)/nagare".
func Open(ctx context.Context, engine, dsn string) (*Conn, error) {
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
	d := &Conn{db: db, engine: engine, CallTimeout: DefaultCallTimeout}
	if err := d.Ping(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connecting to %s store: %w", engine, err)
	}
	return d, nil
}

// mysqlDSN is the user's DSN with the settings the stores rely on, and connection timeouts where it
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
func (d *Conn) Engine() string { return d.engine }

// Close closes the database.
func (d *Conn) Close() error { return d.db.Close() }

// Pool exposes the connection pool (for tests). Calls made on it directly have no deadline.
func (d *Conn) Pool() *sql.DB { return d.db }

// Ping checks that the database answers, within ctx's deadline or CallTimeout, whichever comes first.
func (d *Conn) Ping(ctx context.Context) error {
	return d.Call(ctx, d.db.PingContext)
}

// Call runs fn, which talks to the database, under the store's deadline. It is the one place that bounds
// calls: Exec, One, List and Tx go through it. A call that ran out of time or lost its connection fails
// with ErrUnavailable; one that the caller cancelled keeps ctx's error.
func (d *Conn) Call(ctx context.Context, fn func(ctx context.Context) error) error {
	cctx, cancel := ctx, context.CancelFunc(func() {})
	if d.CallTimeout > 0 {
		cctx, cancel = context.WithTimeout(ctx, d.CallTimeout)
	}
	defer cancel()
	err := fn(cctx)
	if err == nil || errors.Is(ctx.Err(), context.Canceled) || errors.Is(err, ErrUnavailable) ||
		(d.Domain != nil && d.Domain(err)) {
		return err
	}
	if cctx.Err() != nil || isConnection(err) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

// isConnection reports whether err says the database could not be reached or dropped the connection.
func isConnection(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)
}

// Exec runs a statement under the store's deadline.
func (d *Conn) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	var res sql.Result
	err := d.Call(ctx, func(ctx context.Context) error {
		var err error
		res, err = d.db.ExecContext(ctx, query, args...)
		return err
	})
	return res, err
}

// Scanner is a row: *sql.Row or *sql.Rows.
type Scanner interface{ Scan(dest ...any) error }

// One reads one row under the store's deadline; sql.ErrNoRows says there is none.
func One[T any](ctx context.Context, d *Conn, query string, scan func(Scanner) (T, error), args ...any) (T, error) {
	var v T
	err := d.Call(ctx, func(ctx context.Context) error {
		var err error
		v, err = scan(d.db.QueryRowContext(ctx, query, args...))
		return err
	})
	return v, err
}

// List reads every row under the store's deadline.
func List[T any](ctx context.Context, d *Conn, query string, scan func(Scanner) (T, error), args ...any) ([]T, error) {
	var out []T
	err := d.Call(ctx, func(ctx context.Context) error {
		rows, err := d.db.QueryContext(ctx, query, args...)
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

// Tx runs fn in a transaction under the store's deadline, committing if it returns nil. fn must use the
// ctx it is given.
func (d *Conn) Tx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	return d.Call(ctx, func(ctx context.Context) error {
		tx, err := d.db.BeginTx(ctx, nil)
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

// ForUpdate locks the selected row in MySQL; SQLite's single writer makes it unnecessary.
func (d *Conn) ForUpdate() string {
	if d.engine == MySQL {
		return " FOR UPDATE"
	}
	return ""
}

// Migrations are a store's embedded goose migrations: one directory per engine ("<Dir>/sqlite",
// "<Dir>/mysql"), with their own version table so that several stores can share one database.
type Migrations struct {
	FS    fs.FS
	Dir   string
	Table string // "" is goose's default table
}

func (d *Conn) provider(m Migrations) (*goose.Provider, error) {
	dir, err := fs.Sub(m.FS, m.Dir+"/"+d.engine)
	if err != nil {
		return nil, err
	}
	dialect := database.DialectSQLite3
	if d.engine == MySQL {
		dialect = database.DialectMySQL
	}
	if m.Table == "" {
		return goose.NewProvider(dialect, d.db, dir)
	}
	st, err := database.NewStore(dialect, m.Table)
	if err != nil {
		return nil, err
	}
	return goose.NewProvider("", d.db, dir, goose.WithStore(st))
}

// Migrate applies every pending migration and returns the resulting schema version.
func (d *Conn) Migrate(ctx context.Context, m Migrations) (int64, error) {
	p, err := d.provider(m)
	if err != nil {
		return 0, fmt.Errorf("loading migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return 0, fmt.Errorf("migrating %s store: %w", d.engine, err)
	}
	return p.GetDBVersion(ctx)
}

// MigrationStatus lists each migration with whether it has been applied.
func (d *Conn) MigrationStatus(ctx context.Context, m Migrations) ([]string, error) {
	p, err := d.provider(m)
	if err != nil {
		return nil, fmt.Errorf("loading migrations: %w", err)
	}
	st, err := p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	out := make([]string, len(st))
	for i, s := range st {
		out[i] = fmt.Sprintf("%05d %s %s", s.Source.Version, s.State, s.Source.Path)
	}
	return out, nil
}

// MS is t in Unix milliseconds, 0 for the zero time: how the stores keep times.
func MS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// FromMS is the time of Unix milliseconds v, the zero time for 0.
func FromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// IsDuplicate reports a unique-key violation on either engine.
func IsDuplicate(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1062
	}
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// IsForeignKey reports a foreign-key violation on either engine.
func IsForeignKey(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1451 || me.Number == 1452
	}
	return err != nil && strings.Contains(err.Error(), "FOREIGN KEY constraint failed")
}
