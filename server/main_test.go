package server

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/db/postgres"
	"github.com/keelhq/keel/db/sqlite"
	"github.com/keelhq/keel/internal/jobs"
	"github.com/keelhq/keel/internal/pgtest"
	"github.com/keelhq/keel/internal/testutil"
)

// TestMain runs the server's tests on SQLite here and, at the same time, on
// PostgreSQL in a second process of this test binary: one go test run covers
// both engines.
func TestMain(m *testing.M) {
	code := testutil.RunOnBothEngines(m, pgtest.Main)
	testutil.RemoveTemplates()
	os.Exit(code)
}

// migratePostgres makes the PostgreSQL database newTestDB clones.
func migratePostgres(u string) error {
	d, err := postgres.Open(context.Background(), u, postgres.Options{})
	if err != nil {
		return err
	}
	return d.Close()
}

// migrateSQLite makes the SQLite database newTestDB copies: Open applies
// every migration.
func migrateSQLite(path string) error {
	d, err := sqlite.Open(context.Background(), path)
	if err != nil {
		return err
	}
	return d.Close()
}

// testDB is a fresh database for one test: the store keel uses, its job
// backend, and a raw connection through which a test changes rows behind
// keel's back.
type testDB struct {
	store db.Store
	jobs  jobs.Backend
	raw   *sql.DB
}

// newTestDB opens a fresh database on the engine the tests run on: SQLite,
// or PostgreSQL with KEEL_TEST_DB=postgres.
func newTestDB(t testing.TB) testDB {
	t.Helper()
	var (
		d          testDB
		err        error
		driver, dn string
	)
	ctx := context.Background()
	if testutil.OnPostgres() {
		dn, driver = pgtest.NewMigratedDatabase(t, "server", migratePostgres), "pgx"
		var s *postgres.DB
		s, err = postgres.Open(ctx, dn, postgres.Options{})
		if err == nil {
			d.store, d.jobs = s, s.Jobs()
		}
	} else {
		// A copy of a database migrated once for the run: migrating is most
		// of what a fresh one costs.
		dn, driver = testutil.MigratedCopy(t, "sqlite", migrateSQLite), "sqlite"
		var s *sqlite.DB
		s, err = sqlite.Open(ctx, dn)
		if err == nil {
			d.store, d.jobs = s, s.Jobs()
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.store.Close() })
	raw := dn
	if driver == "sqlite" {
		// Waits for the server's writer (the job engine writes while a
		// test runs) as keel's own connections do, instead of failing
		// at once with SQLITE_BUSY.
		raw = "file:" + dn + "?_pragma=busy_timeout(10000)"
	}
	if d.raw, err = sql.Open(driver, raw); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.raw.Close() })
	return d
}

// exec runs a statement on the raw connection; args are formatted in, so
// the one text works on both engines.
func (d testDB) exec(t testing.TB, format string, args ...any) {
	t.Helper()
	if _, err := d.raw.Exec(fmt.Sprintf(format, args...)); err != nil {
		t.Fatal(err)
	}
}
