package server

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/keelhq/keel/db"
	gendb "github.com/keelhq/keel/gen/db"
)

// Store is keel's SQLite database: one writer connection, because SQLite allows
// one writer at a time and queueing in Go beats failing with "database is
// locked", beside a pool of read-only connections that WAL lets run alongside it.
type Store struct {
	writer, reader *sql.DB
	// Write runs statements on the writer connection, Read on the reader pool;
	// both hold prepared statements for every query in db/queries.
	Write, Read *gendb.Queries
}

// OpenStore opens (creating if needed) the SQLite database at path, applies the
// embedded migrations and prepares the queries.
func OpenStore(ctx context.Context, path string) (_ *Store, err error) {
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("create database folder: %w", err)
		}
	}
	s := &Store{}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	// _txlock=immediate takes the write lock at BEGIN, so a transaction never
	// has to upgrade a read lock and fail with SQLITE_BUSY halfway through.
	s.writer, err = sql.Open("sqlite", dsn(path, "_txlock=immediate"))
	if err != nil {
		return nil, err
	}
	s.writer.SetMaxOpenConns(1)
	s.writer.SetMaxIdleConns(1)
	s.writer.SetConnMaxLifetime(0)
	s.writer.SetConnMaxIdleTime(0)

	if err := migrate(ctx, s.writer); err != nil {
		return nil, err
	}

	s.reader, err = sql.Open("sqlite", dsn(path, "_pragma=query_only(1)"))
	if err != nil {
		return nil, err
	}
	readers := max(4, runtime.GOMAXPROCS(0))
	s.reader.SetMaxOpenConns(readers)
	s.reader.SetMaxIdleConns(readers)
	s.reader.SetConnMaxIdleTime(0)

	if s.Write, err = gendb.Prepare(ctx, s.writer); err != nil {
		return nil, fmt.Errorf("prepare queries: %w", err)
	}
	if s.Read, err = gendb.Prepare(ctx, s.reader); err != nil {
		return nil, fmt.Errorf("prepare queries: %w", err)
	}
	return s, nil
}

// dsn is the modernc.org/sqlite connection string for path: WAL so readers
// never block the writer, a busy timeout so a brief lock waits instead of
// failing, foreign keys enforced, and synchronous=NORMAL, which in WAL mode
// keeps every commit across a process crash (only a power loss can undo the
// last ones).
func dsn(path string, extra string) string {
	u := url.URL{Scheme: "file", Opaque: path}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	return u.String() + "?" + q.Encode() + "&" + extra
}

// migrate applies the embedded goose migrations that the database lacks.
func migrate(ctx context.Context, conn *sql.DB) error {
	p, err := newMigrator(conn)
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	return nil
}

// MigrationState is one embedded migration and whether the database has it.
type MigrationState struct {
	Version int64
	Name    string
	Applied bool
}

// Migrate opens the database at path, applies the migrations it lacks and
// returns its schema version (keel serve does the same at start).
func Migrate(ctx context.Context, path string) (int64, error) {
	s, err := OpenStore(ctx, path)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	p, err := newMigrator(s.writer)
	if err != nil {
		return 0, err
	}
	return p.GetDBVersion(ctx)
}

// MigrationStatus reports, without changing anything, which embedded
// migrations the database at path has.
func MigrationStatus(ctx context.Context, path string) ([]MigrationState, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	// Not dsn(): its journal_mode(WAL) would change a database that is not
	// in WAL mode yet, and status changes nothing.
	conn, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	p, err := newMigrator(conn)
	if err != nil {
		return nil, err
	}
	list, err := p.Status(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]MigrationState, 0, len(list))
	for _, m := range list {
		out = append(out, MigrationState{
			Version: m.Source.Version,
			Name:    filepath.Base(m.Source.Path),
			Applied: m.State == goose.StateApplied,
		})
	}
	return out, nil
}

func newMigrator(conn *sql.DB) (*goose.Provider, error) {
	fsys, err := fs.Sub(db.Migrations, "migrations")
	if err != nil {
		return nil, err
	}
	return goose.NewProvider(goose.DialectSQLite3, conn, fsys)
}

// Close closes both connection pools and their prepared statements.
func (s *Store) Close() error {
	var errs []error
	for _, q := range []*gendb.Queries{s.Write, s.Read} {
		if q != nil {
			errs = append(errs, q.Close())
		}
	}
	for _, d := range []*sql.DB{s.reader, s.writer} {
		if d != nil {
			errs = append(errs, d.Close())
		}
	}
	return errors.Join(errs...)
}

// isUniqueViolation reports whether err is SQLite refusing a duplicate key.
func isUniqueViolation(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}
