// Package postgres is keel's PostgreSQL adapter (pgx through database/sql):
// any number of keel replicas on one database. Migrations run under an
// advisory lock, so replicas starting together on an empty database apply
// them once while the others wait. Its migrations and queries are in this
// folder; sqlc generates gen/db/postgres, and db/twin generates the account
// logic (accounts_gen.go) from SQLite's. This file holds what is
// PostgreSQL's own: connecting, the migration lock, the rate limit kept in
// the database for every replica, and its errors.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/db/schema"
	gen "github.com/keelhq/keel/gen/db/postgres"
	"github.com/keelhq/keel/internal/jobs"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// DB is a PostgreSQL database; it satisfies db.Store.
type DB struct {
	// writer is the pool; write and read are one query set on it, under
	// SQLite's names (which has a writer apart from its readers), so that
	// the account logic is the same code on both.
	writer      *sql.DB
	write, read *gen.Queries
	jobs        jobs.Backend
	// listenConfig opens the connection that listens for session endings
	// (live.go), outside the pool.
	listenConfig *pgx.ConnConfig
	// eventHook is told of each event recorded (events_gen.go).
	eventHook func(context.Context, *sql.Tx, db.Event) error
}

var _ db.Store = (*DB)(nil)

// Options tune the connection pool.
type Options struct {
	// MaxConns bounds the pool (DB_MAX_CONNS); 10 when zero.
	MaxConns int
}

// connectTimeout bounds each attempt to reach the server, so an address
// that drops packets stops keel at start instead of hanging it.
const connectTimeout = 10 * time.Second

// Open connects to the database at url (postgres:// or postgresql://),
// checks that it answers, applies the migrations (keel's and River's, under
// one advisory lock) and prepares the queries.
func Open(ctx context.Context, url string, opts Options) (_ *DB, err error) {
	pool, err := connect(ctx, url, opts)
	if err != nil {
		return nil, err
	}
	d := &DB{writer: pool, jobs: jobs.Postgres(pool)}
	// connect has parsed url already: this cannot fail.
	if d.listenConfig, err = pgx.ParseConfig(url); err != nil {
		return nil, err
	}
	if d.listenConfig.ConnectTimeout == 0 {
		d.listenConfig.ConnectTimeout = connectTimeout
	}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	if err := migrate(ctx, pool, d.jobs); err != nil {
		return nil, err
	}
	if d.write, err = gen.Prepare(ctx, pool); err != nil {
		return nil, fmt.Errorf("prepare queries: %w", err)
	}
	d.read = d.write
	return d, nil
}

// connect opens the pool and checks the server answers. Its errors say what
// is wrong (a bad URL, no server, a wrong password, no such database) and
// never hold the password.
func connect(ctx context.Context, url string, opts Options) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		// pgx's message quotes the URL with the password masked.
		return nil, fmt.Errorf("not a PostgreSQL URL: %w", err)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = connectTimeout
	}
	pool := stdlib.OpenDB(*cfg)
	n := opts.MaxConns
	if n <= 0 {
		n = 10
	}
	pool.SetMaxOpenConns(n)
	pool.SetMaxIdleConns(n)
	pool.SetConnMaxIdleTime(5 * time.Minute)
	pingCtx, cancel := context.WithTimeout(ctx, connectTimeout+time.Second)
	defer cancel()
	if err := pool.PingContext(pingCtx); err != nil {
		pool.Close()
		return nil, explain(err)
	}
	return pool, nil
}

// explain names the usual reasons a connection fails.
func explain(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "28P01", "28000":
			return fmt.Errorf("the server refused the user or password: %s", pe.Message)
		case "3D000":
			return fmt.Errorf("no such database: %s", pe.Message)
		}
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return fmt.Errorf("cannot reach the server: %w", err)
	}
	return err
}

// migrationLock is the advisory lock key under which replicas migrate: one
// at a time, the others wait, then find nothing left to do.
const migrationLock = 0x6b65656c // "keel"

// migrate applies keel's and River's migrations (River's through backend, its
// driver over pool) while holding the advisory lock on a connection of its own.
func migrate(ctx context.Context, pool *sql.DB, backend jobs.Backend) error {
	conn, err := pool.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return fmt.Errorf("take the migration lock: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLock)
	return migrations(backend).Up(ctx, pool)
}

// migrations are keel's and River's, River's through backend (River's driver
// over the pool).
func migrations(backend jobs.Backend) schema.Schema {
	return schema.Schema{Dialect: goose.DialectPostgres, FS: schema.Dir(migrationFiles, "migrations"), Jobs: backend}
}

// Migrate connects, applies the migrations the database lacks and returns
// keel's schema version (keel serve does the same at start).
func Migrate(ctx context.Context, url string) (int64, error) {
	pool, err := connect(ctx, url, Options{MaxConns: 2})
	if err != nil {
		return 0, err
	}
	defer pool.Close()
	backend := jobs.Postgres(pool)
	if err := migrate(ctx, pool, backend); err != nil {
		return 0, err
	}
	return migrations(backend).Version(ctx, pool)
}

// Status reports, without changing anything, which migrations the database
// at url has.
func Status(ctx context.Context, url string) ([]db.Migration, error) {
	pool, err := connect(ctx, url, Options{MaxConns: 2})
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	return migrations(jobs.Postgres(pool)).Status(ctx, pool)
}

// Close closes the pool and its prepared statements.
func (d *DB) Close() error {
	var errs []error
	if d.write != nil {
		errs = append(errs, d.write.Close())
	}
	if d.writer != nil {
		errs = append(errs, d.writer.Close())
	}
	return errors.Join(errs...)
}

// Jobs is River's driver over the pool, for the job engine (jobs.New).
func (d *DB) Jobs() jobs.Backend { return d.jobs }

// TakeRateToken implements db.Store with GCRA in one statement, so that
// every replica counts against the same limit: a key's row holds its
// theoretical arrival time (tat); a request is admitted when tat is at most
// burst-1 intervals ahead of now, and moves tat one interval on.
func (d *DB) TakeRateToken(ctx context.Context, key string, perMinute int, now time.Time) (time.Duration, error) {
	if perMinute <= 0 {
		return 0, nil // no limit
	}
	interval := time.Minute / time.Duration(perMinute)
	tolerance := interval * time.Duration(perMinute-1)
	waitMs, err := d.write.TakeRateToken(ctx, gen.TakeRateTokenParams{
		// A key counts under each limit apart, as in SQLite's buckets.
		Key:         strconv.Itoa(perMinute) + "/" + key,
		Now:         now,
		IntervalMs:  interval.Milliseconds(),
		ToleranceMs: tolerance.Milliseconds(),
	})
	if errors.Is(err, sql.ErrNoRows) {
		// Refused, and the row changed under us: wait one interval.
		return interval, nil
	}
	if err != nil {
		return 0, err
	}
	return time.Duration(min(waitMs, math.MaxInt64/int64(time.Millisecond))) * time.Millisecond, nil
}

// ReturnRateToken implements db.Store: it moves the key's tat one interval
// back. A tat that falls behind now is a full bucket, as TakeRateToken
// starts from greatest(tat, now), so nothing is given beyond the burst.
func (d *DB) ReturnRateToken(ctx context.Context, key string, perMinute int, _ time.Time) error {
	if perMinute <= 0 {
		return nil
	}
	return d.write.ReturnRateToken(ctx, gen.ReturnRateTokenParams{
		Key:        strconv.Itoa(perMinute) + "/" + key,
		IntervalMs: (time.Minute / time.Duration(perMinute)).Milliseconds(),
	})
}

// PruneRateLimits implements db.Store.
func (d *DB) PruneRateLimits(ctx context.Context, now time.Time) (int64, error) {
	return d.write.PruneRateLimits(ctx, now)
}

// translate turns PostgreSQL's errors into db's: no row into missing (the
// error that names what the caller looked for), a unique violation into
// db.ErrEmailTaken (the only unique key a caller can hit).
func translate(err, missing error) error {
	var pe *pgconn.PgError
	switch {
	case errors.Is(err, sql.ErrNoRows) && missing != nil:
		return missing
	case errors.As(err, &pe) && pe.Code == "23505": // unique_violation
		return db.ErrEmailTaken
	}
	return err
}
