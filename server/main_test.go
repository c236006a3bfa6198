package server

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/db/postgres"
	"github.com/keelhq/keel/db/sqlite"
	"github.com/keelhq/keel/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// testEngine is the database the server tests run on: SQLite, or
// PostgreSQL with KEEL_TEST_DB=postgres (make test runs both).
func testEngine() string {
	if os.Getenv("KEEL_TEST_DB") == "postgres" {
		return Postgres
	}
	return SQLite
}

// testDB is a fresh database for one test: the store keel uses, and a raw
// connection through which a test changes rows behind keel's back.
type testDB struct {
	store db.Store
	raw   *sql.DB
}

func newTestDB(t testing.TB) testDB {
	t.Helper()
	var (
		d          testDB
		err        error
		driver, dn string
	)
	ctx := context.Background()
	if testEngine() == Postgres {
		dn, driver = pgtest.NewDatabase(t), "pgx"
		d.store, err = postgres.Open(ctx, dn, postgres.Options{})
	} else {
		dn, driver = filepath.Join(t.TempDir(), "keel.db"), "sqlite"
		d.store, err = sqlite.Open(ctx, dn)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.store.Close() })
	if d.raw, err = sql.Open(driver, dn); err != nil {
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
