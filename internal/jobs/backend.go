package jobs

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"

	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/keelhq/keel/db"
)

// Backend is a River driver over keel's database, made by the adapter that
// opened it (db/sqlite, db/postgres), so that River's types stay in this
// package and the adapters' constructors.
type Backend struct {
	driver riverdriver.Driver[*sql.Tx]
	// reindex is River's ReindexerIndexNames: nil for River's default
	// indexes (PostgreSQL's).
	reindex []string
}

// SQLite is River's SQLite driver on the writer connection: River writes,
// and SQLite wants its writers in one line.
func SQLite(writer *sql.DB) Backend {
	// River's reindexer names PostgreSQL's indexes, which SQLite's schema
	// lacks (it warned every midnight); SQLite needs no REINDEX.
	return Backend{driver: riversqlite.New(writer), reindex: []string{}}
}

// Postgres is River's database/sql driver over the pool. It polls for jobs
// (database/sql cannot LISTEN), which suits keel's few, periodic jobs.
func Postgres(pool *sql.DB) Backend {
	return Backend{driver: riverdatabasesql.New(pool)}
}

// Migrate applies River's migrations the database lacks. The caller
// serialises concurrent callers (an advisory lock on PostgreSQL, the one
// writer connection on SQLite).
func (b Backend) Migrate(ctx context.Context) error {
	m, err := b.migrator()
	if err != nil {
		return err
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("apply River's migrations: %w", err)
	}
	return nil
}

// Status lists River's migrations and whether the database has each,
// changing nothing.
func (b Backend) Status(ctx context.Context) ([]db.Migration, error) {
	m, err := b.migrator()
	if err != nil {
		return nil, err
	}
	existing, err := m.ExistingVersions(ctx)
	if err != nil {
		return nil, fmt.Errorf("read River's migrations: %w", err)
	}
	applied := map[int]bool{}
	for _, e := range existing {
		applied[e.Version] = true
	}
	var out []db.Migration
	for _, v := range m.AllVersions() {
		out = append(out, db.Migration{Source: "river", Version: int64(v.Version), Name: v.Name, Applied: applied[v.Version]})
	}
	return out, nil
}

func (b Backend) migrator() (*rivermigrate.Migrator[*sql.Tx], error) {
	// River logs each migration it applies at info; keel says only errors.
	quiet := slog.New(slog.DiscardHandler)
	return rivermigrate.New(b.driver, &rivermigrate.Config{Logger: quiet})
}
