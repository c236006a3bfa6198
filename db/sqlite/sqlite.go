// Package sqlite is keel's SQLite adapter (modernc.org/sqlite, pure Go): the
// zero-setup default. One writer connection, because SQLite allows one writer
// at a time and queueing in Go beats failing with "database is locked", beside
// a pool of read-only connections that WAL lets run alongside it. Its
// migrations and queries are in this folder; sqlc generates gen/db/sqlite.
// The account logic (accounts.go) is the one hand-written copy, from which
// db/twin generates PostgreSQL's; this file holds what is SQLite's own. A
// keel on SQLite is one process, so its rate limit lives in memory
// (internal/ratelimit).
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/db/schema"
	gen "github.com/keelhq/keel/gen/db/sqlite"
	"github.com/keelhq/keel/internal/jobs"
	"github.com/keelhq/keel/internal/ratelimit"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// DB is a SQLite database; it satisfies db.Store.
type DB struct {
	writer, reader *sql.DB
	// write runs statements on the writer connection, read on the reader
	// pool; both hold prepared statements for every query in queries/.
	write, read *gen.Queries
	jobs        jobs.Backend
	limits      ratelimit.Memory
	// places are the sessions' sockets' places (sockets.go).
	places socketPlaces
	// watchers hear of sessions ending (live.go).
	watchers watchers
	// keyWatchers hear of this process's signing-key changes (keys_watch.go).
	keyWatchers keyWatchers
	// eventHook is told of each event recorded (events.go).
	eventHook func(context.Context, *sql.Tx, db.Event) error
}

var _ db.Store = (*DB)(nil)

// Open opens (creating if needed) the SQLite database at path, applies the
// migrations (keel's and River's) and prepares the queries.
func Open(ctx context.Context, path string) (_ *DB, err error) {
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("create database folder: %w", err)
		}
	}
	d := &DB{}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	// _txlock=immediate takes the write lock at BEGIN, so a transaction never
	// has to upgrade a read lock and fail with SQLITE_BUSY halfway through.
	if d.writer, err = sql.Open("sqlite", dsn(path, "_txlock", "immediate")); err != nil {
		return nil, err
	}
	d.writer.SetMaxOpenConns(1)
	d.writer.SetMaxIdleConns(1)
	d.writer.SetConnMaxLifetime(0)
	d.writer.SetConnMaxIdleTime(0)

	d.jobs = jobs.SQLite(d.writer)
	if err := migrations(d.jobs).Up(ctx, d.writer); err != nil {
		return nil, err
	}

	if d.reader, err = sql.Open("sqlite", dsn(path, "_pragma", "query_only(1)")); err != nil {
		return nil, err
	}
	readers := max(4, runtime.GOMAXPROCS(0))
	d.reader.SetMaxOpenConns(readers)
	d.reader.SetMaxIdleConns(readers)
	d.reader.SetConnMaxIdleTime(0)

	if d.write, err = gen.Prepare(ctx, d.writer); err != nil {
		return nil, fmt.Errorf("prepare queries: %w", err)
	}
	if d.read, err = gen.Prepare(ctx, readStatements{d.reader}); err != nil {
		return nil, fmt.Errorf("prepare queries: %w", err)
	}
	return d, nil
}

// readStatements is the reader pool as gen.Prepare sees it: it prepares the
// statements that may read and skips those that only write (INSERT, UPDATE,
// DELETE: 117 of the 193), which a query_only connection never runs. Parsing
// them there was a third of Open's work (start-up, and every test's fresh
// database). A statement gen.Prepare gets as nil runs unprepared, so one
// used on the reader after all still works.
type readStatements struct{ *sql.DB }

func (r readStatements) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	if onlyWrites(query) {
		return nil, nil
	}
	return r.DB.PrepareContext(ctx, query)
}

// onlyWrites reports whether query's first keyword, past sqlc's "-- name:"
// comment lines, is INSERT, UPDATE, DELETE or REPLACE.
func onlyWrites(query string) bool {
	for {
		query = strings.TrimLeft(query, " \t\r\n")
		if !strings.HasPrefix(query, "--") {
			break
		}
		_, rest, ok := strings.Cut(query, "\n")
		if !ok {
			return false
		}
		query = rest
	}
	verb := query
	if i := strings.IndexAny(query, " \t\r\n("); i >= 0 {
		verb = query[:i]
	}
	switch strings.ToUpper(verb) {
	case "INSERT", "UPDATE", "DELETE", "REPLACE":
		return true
	}
	return false
}

// dsn is the modernc.org/sqlite connection string for path: WAL so readers
// never block the writer, a busy timeout so a brief lock waits instead of
// failing, foreign keys enforced, and synchronous=NORMAL, which in WAL mode
// keeps every commit across a process crash (only a power loss can undo the
// last ones). extra is one more name and value.
func dsn(path string, extra ...string) string {
	u := url.URL{Scheme: "file", Opaque: path}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	for i := 0; i+1 < len(extra); i += 2 {
		q.Add(extra[i], extra[i+1])
	}
	return u.String() + "?" + q.Encode()
}

// migrations are keel's and River's, River's through backend (River's driver
// on the writer connection).
func migrations(backend jobs.Backend) schema.Schema {
	return schema.Schema{Dialect: goose.DialectSQLite3, FS: schema.Dir(migrationFiles, "migrations"), Jobs: backend}
}

// Migrate opens the database at path, applies the migrations it lacks and
// returns keel's schema version (keel serve does the same at start).
func Migrate(ctx context.Context, path string) (int64, error) {
	d, err := Open(ctx, path)
	if err != nil {
		return 0, err
	}
	defer d.Close()
	return migrations(d.jobs).Version(ctx, d.writer)
}

// Status reports, without changing anything, which migrations the database
// at path has.
func Status(ctx context.Context, path string) ([]db.Migration, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	// Not dsn(): its journal_mode(WAL) would change a database that is not
	// in WAL mode yet, and status changes nothing.
	u := url.URL{Scheme: "file", Opaque: path, RawQuery: "_pragma=busy_timeout(10000)"}
	conn, err := sql.Open("sqlite", u.String())
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.SetMaxOpenConns(1)
	return migrations(jobs.SQLite(conn)).Status(ctx, conn)
}

// Close closes both connection pools and their prepared statements.
func (d *DB) Close() error {
	var errs []error
	for _, q := range []*gen.Queries{d.write, d.read} {
		if q != nil {
			errs = append(errs, q.Close())
		}
	}
	for _, c := range []*sql.DB{d.reader, d.writer} {
		if c != nil {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}

// Jobs is River's driver on the writer connection, for the job engine
// (jobs.New).
func (d *DB) Jobs() jobs.Backend { return d.jobs }

// TakeRateToken implements db.Store in memory: keel on SQLite is one
// process, so the limit has nobody to share with.
func (d *DB) TakeRateToken(_ context.Context, key string, perMinute int, now time.Time) (time.Duration, error) {
	return d.limits.Take(key, perMinute, now), nil
}

// ReturnRateToken implements db.Store.
func (d *DB) ReturnRateToken(_ context.Context, key string, perMinute int, now time.Time) error {
	d.limits.Give(key, perMinute, now)
	return nil
}

// PruneRateLimits implements db.Store.
func (d *DB) PruneRateLimits(_ context.Context, now time.Time) (int64, error) {
	return d.limits.Prune(now), nil
}

// translate turns SQLite's errors into db's: no row into missing (the
// error that names what the caller looked for), a unique violation into
// db.ErrEmailTaken (the only unique key a caller can hit).
func translate(err, missing error) error {
	var e *sqlite.Error
	switch {
	case errors.Is(err, sql.ErrNoRows) && missing != nil:
		return missing
	case errors.As(err, &e) && e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE:
		return db.ErrEmailTaken
	}
	return err
}
