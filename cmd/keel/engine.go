package main

import (
	"context"
	"database/sql"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/db/postgres"
	"github.com/keelhq/keel/db/sqlite"
	"github.com/keelhq/keel/internal/clients"
	"github.com/keelhq/keel/internal/jobs"
	"github.com/keelhq/keel/internal/keys"
	"github.com/keelhq/keel/internal/provider"
	"github.com/keelhq/keel/internal/webhooks"
)

// database is an open store with River's backend, the signing keys and
// the OAuth clients and the OpenID Provider's state on the same database.
type database interface {
	db.Store
	keys.Store
	clients.Store
	provider.Store
	provider.DeviceStore
	webhooks.Store
	Jobs() jobs.Backend
	// SetEventHook has each recorded event handed to the job engine in its
	// transaction (the webhooks' fan-out).
	SetEventHook(func(context.Context, *sql.Tx, db.Event) error)
}

// dbEngine is one database keel runs on: how to open it (applying the
// migrations it lacks), migrate it alone, and list its migrations.
type dbEngine struct {
	open    func(ctx context.Context, cfg config) (database, error)
	migrate func(ctx context.Context, cfg config) (int64, error)
	status  func(ctx context.Context, cfg config) ([]db.Migration, error)
}

// dbEngines is the one place that picks the engine: DATABASE_URL's scheme
// (config.go) names one of these.
var dbEngines = map[string]dbEngine{
	engineSQLite: {
		open: func(ctx context.Context, cfg config) (database, error) {
			d, err := sqlite.Open(ctx, cfg.Database.Path)
			if err != nil {
				return nil, err
			}
			return d, nil
		},
		migrate: func(ctx context.Context, cfg config) (int64, error) { return sqlite.Migrate(ctx, cfg.Database.Path) },
		status: func(ctx context.Context, cfg config) ([]db.Migration, error) {
			return sqlite.Status(ctx, cfg.Database.Path)
		},
	},
	enginePostgres: {
		open: func(ctx context.Context, cfg config) (database, error) {
			d, err := postgres.Open(ctx, cfg.Database.URL, postgres.Options{MaxConns: cfg.DBMaxConns})
			if err != nil {
				return nil, err
			}
			return d, nil
		},
		migrate: func(ctx context.Context, cfg config) (int64, error) { return postgres.Migrate(ctx, cfg.Database.URL) },
		status: func(ctx context.Context, cfg config) ([]db.Migration, error) {
			return postgres.Status(ctx, cfg.Database.URL)
		},
	},
}
