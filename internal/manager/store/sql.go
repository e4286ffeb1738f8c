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
	"io/fs"
	"strings"
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

// SQL is the store on a SQL database.
type SQL struct {
	db     *sql.DB
	engine string
	// Now is the clock; tests replace it.
	Now func() time.Time
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
		cfg, perr := mysql.ParseDSN(dsn)
		if perr != nil {
			return nil, fmt.Errorf("mysql dsn: %w", perr)
		}
		cfg.ParseTime = false
		cfg.MultiStatements = true
		db, err = sql.Open("mysql", cfg.FormatDSN())
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
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connecting to %s store: %w", engine, err)
	}
	return &SQL{db: db, engine: engine, Now: time.Now}, nil
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

// DB exposes the connection pool (for health checks and tests).
func (s *SQL) DB() *sql.DB { return s.db }

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

// tx runs fn in a transaction, committing if it returns nil.
func (s *SQL) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
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
