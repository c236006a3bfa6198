// Package schema applies and reports an engine's migrations: keel's own
// (goose, embedded in each adapter beside its queries), then River's
// (jobs.Backend). It is shared by db/sqlite and db/postgres so that the
// order and the report are written once; it lives outside the root db
// package, which imports only the standard library.
package schema

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/pressly/goose/v3"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/internal/jobs"
)

// Schema is one engine's migrations on one database.
type Schema struct {
	Dialect goose.Dialect
	// FS holds keel's migrations, NNNNN_name.sql at its root.
	FS   fs.FS
	Jobs jobs.Backend
}

// Dir is the folder dir of an adapter's embedded files, which is there at
// compile time (a missing one panics).
func Dir(files fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(files, dir)
	if err != nil {
		panic(err)
	}
	return sub
}

// Up applies keel's migrations the database at conn lacks, then River's.
// The caller serialises concurrent callers (an advisory lock on
// PostgreSQL, the one writer connection on SQLite).
func (s Schema) Up(ctx context.Context, conn *sql.DB) error {
	p, err := goose.NewProvider(s.Dialect, conn, s.FS)
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	return s.Jobs.Migrate(ctx)
}

// Version is keel's schema version in the database at conn.
func (s Schema) Version(ctx context.Context, conn *sql.DB) (int64, error) {
	p, err := goose.NewProvider(s.Dialect, conn, s.FS)
	if err != nil {
		return 0, err
	}
	return p.GetDBVersion(ctx)
}

// Status lists every migration the binary holds, keel's then River's, and
// whether the database at conn has it, changing nothing.
func (s Schema) Status(ctx context.Context, conn *sql.DB) ([]db.Migration, error) {
	p, err := goose.NewProvider(s.Dialect, conn, s.FS)
	if err != nil {
		return nil, err
	}
	list, err := p.Status(ctx)
	if err != nil {
		return nil, err
	}
	var out []db.Migration
	for _, m := range list {
		out = append(out, db.Migration{Source: "keel", Version: m.Source.Version,
			Name: filepath.Base(m.Source.Path), Applied: m.State == goose.StateApplied})
	}
	river, err := s.Jobs.Status(ctx)
	if err != nil {
		return nil, err
	}
	return append(out, river...), nil
}
