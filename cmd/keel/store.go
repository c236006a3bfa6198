package main

import (
	"context"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/db/postgres"
	"github.com/keelhq/keel/db/sqlite"
	"github.com/keelhq/keel/server"
)

// openStore opens the database DATABASE_URL names with its adapter,
// applying the migrations it lacks.
func openStore(ctx context.Context, cfg server.Config) (db.Store, error) {
	if cfg.Database.Engine == server.Postgres {
		return postgres.Open(ctx, cfg.Database.URL, postgres.Options{MaxConns: cfg.DBMaxConns})
	}
	return sqlite.Open(ctx, cfg.Database.Path)
}

// migrateUp applies the migrations the database lacks and returns keel's
// schema version.
func migrateUp(ctx context.Context, cfg server.Config) (int64, error) {
	if cfg.Database.Engine == server.Postgres {
		return postgres.Migrate(ctx, cfg.Database.URL)
	}
	return sqlite.Migrate(ctx, cfg.Database.Path)
}

// migrationStatus lists the migrations and which the database has.
func migrationStatus(ctx context.Context, cfg server.Config) ([]db.Migration, error) {
	if cfg.Database.Engine == server.Postgres {
		return postgres.Status(ctx, cfg.Database.URL)
	}
	return sqlite.Status(ctx, cfg.Database.Path)
}
