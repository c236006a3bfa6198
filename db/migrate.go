package db

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"

	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivermigrate"
)

// Migrations is one engine's schema: keel's goose migrations and River's.
type Migrations struct {
	Dialect goose.Dialect
	FS      fs.FS // keel's migrations, NNNNN_name.sql at the root
	Driver  riverdriver.Driver[*sql.Tx]
}

// Up applies keel's migrations the database lacks, then River's. The caller
// serialises concurrent callers (an advisory lock on PostgreSQL, the one
// writer connection on SQLite).
func (m Migrations) Up(ctx context.Context, conn *sql.DB) (version int64, err error) {
	p, err := goose.NewProvider(m.Dialect, conn, m.FS)
	if err != nil {
		return 0, err
	}
	if _, err := p.Up(ctx); err != nil {
		return 0, fmt.Errorf("apply migrations: %w", err)
	}
	rm, err := m.river()
	if err != nil {
		return 0, err
	}
	if _, err := rm.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return 0, fmt.Errorf("apply River's migrations: %w", err)
	}
	return p.GetDBVersion(ctx)
}

// Status lists every migration the binary holds and whether the database has
// it, changing nothing.
func (m Migrations) Status(ctx context.Context, conn *sql.DB) ([]Migration, error) {
	p, err := goose.NewProvider(m.Dialect, conn, m.FS)
	if err != nil {
		return nil, err
	}
	list, err := p.Status(ctx)
	if err != nil {
		return nil, err
	}
	var out []Migration
	for _, s := range list {
		out = append(out, Migration{Source: "keel", Version: s.Source.Version,
			Name: filepath.Base(s.Source.Path), Applied: s.State == goose.StateApplied})
	}
	rm, err := m.river()
	if err != nil {
		return nil, err
	}
	applied := map[int]bool{}
	existing, err := rm.ExistingVersions(ctx)
	if err != nil {
		return nil, fmt.Errorf("read River's migrations: %w", err)
	}
	for _, e := range existing {
		applied[e.Version] = true
	}
	for _, v := range rm.AllVersions() {
		out = append(out, Migration{Source: "river", Version: int64(v.Version), Name: v.Name, Applied: applied[v.Version]})
	}
	return out, nil
}

func (m Migrations) river() (*rivermigrate.Migrator[*sql.Tx], error) {
	// River logs each migration it applies at info; keel says only errors.
	quiet := slog.New(slog.DiscardHandler)
	return rivermigrate.New(m.Driver, &rivermigrate.Config{Logger: quiet})
}
