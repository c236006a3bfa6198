// Package db is keel's storage seen from the HTTP handlers and the jobs: the
// small Store interface, the rows it returns, and the errors every adapter
// translates its database's own errors into. The adapters live beside it,
// one package per engine, each with its migrations and queries:
//
//	db/sqlite    SQLite (modernc, pure Go): the zero-setup default
//	db/postgres  PostgreSQL (pgx): any number of replicas on one database
//
// sqlc generates each adapter's typed queries into gen/db/<engine>.
package db

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/riverqueue/river/riverdriver"
)

// User is an account as the API shows it: never the password hash.
type User struct {
	ID        int64
	Email     string
	CreatedAt time.Time // UTC, millisecond precision on every engine
}

// Credentials are what login compares a password against.
type Credentials struct {
	UserID       int64
	PasswordHash string
}

// Errors the adapters return in place of their engines' own.
var (
	// ErrNotFound is a row that is not there.
	ErrNotFound = errors.New("db: not found")
	// ErrEmailTaken is a second account for an email, in any letter case.
	ErrEmailTaken = errors.New("db: email already registered")
)

// Store is what keel needs of a database. Both adapters satisfy it, and one
// test suite (db/storetest) holds them to the same behaviour.
type Store interface {
	// CreateUser stores a new account. Emails are unique regardless of
	// letter case (ErrEmailTaken); createdAt is kept to the millisecond.
	CreateUser(ctx context.Context, email, passwordHash string, createdAt time.Time) (User, error)
	// GetUser returns the account with id, or ErrNotFound.
	GetUser(ctx context.Context, id int64) (User, error)
	// GetCredentials returns the password hash of the account with email,
	// matched regardless of letter case, or ErrNotFound.
	GetCredentials(ctx context.Context, email string) (Credentials, error)
	// CountUsers returns the number of accounts.
	CountUsers(ctx context.Context) (int64, error)
	// Ping checks that the database answers a query.
	Ping(ctx context.Context) error

	// JobDriver is River's driver over this database, whose tables the
	// adapter's migrations have made.
	JobDriver() riverdriver.Driver[*sql.Tx]

	// Close releases the database.
	Close() error
}

// RateLimiter is a Store that keeps AUTH_RATE_LIMIT for every replica at once
// (PostgreSQL). Without it, each process limits on its own.
type RateLimiter interface {
	// TakeAuthToken admits one request from key under a limit of perMinute a
	// minute (with a burst of as many) and returns 0, or refuses it and
	// returns how long key must wait; now is the caller's clock.
	TakeAuthToken(ctx context.Context, key string, perMinute int, now time.Time) (time.Duration, error)
}

// RateLimitPruner is a RateLimiter whose state is rows that outlive their use
// (PostgreSQL): the prune-rate-limits job deletes them. A store without it
// has nothing to prune, and the job is not registered.
type RateLimitPruner interface {
	// PruneAuthRateLimits deletes the keys that would be admitted as if new
	// at now and returns how many it deleted.
	PruneAuthRateLimits(ctx context.Context, now time.Time) (int64, error)
}

// Migration is one migration the binary holds and whether the database has it:
// keel's own (goose, in db/<engine>/migrations) or River's.
type Migration struct {
	Source  string // "keel" or "river"
	Version int64
	Name    string
	Applied bool
}

// Millis is t in UTC to the millisecond: the precision every engine keeps.
func Millis(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }
