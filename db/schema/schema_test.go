package schema_test

import (
	"database/sql"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite"

	"github.com/keelhq/keel/db/schema"
	"github.com/keelhq/keel/internal/jobs"
)

// TestUpAndStatus: Status reports keel's migrations then River's, none
// applied on an empty database and all of them after Up; Version is keel's
// latest. The migrations here are a stand-in; the adapters' own run in
// their tests.
func TestUpAndStatus(t *testing.T) {
	t.Parallel()
	conn, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "keel.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetMaxOpenConns(1)
	s := schema.Schema{
		Dialect: goose.DialectSQLite3,
		FS: fstest.MapFS{
			"00001_a.sql": {Data: []byte("-- +goose Up\nCREATE TABLE a (id INTEGER);\n")},
			"00002_b.sql": {Data: []byte("-- +goose Up\nCREATE TABLE b (id INTEGER);\n")},
		},
		Jobs: jobs.SQLite(conn),
	}
	status := func(wantApplied bool) {
		t.Helper()
		list, err := s.Status(t.Context(), conn)
		if err != nil {
			t.Fatal(err)
		}
		var keel, river int
		for i, m := range list {
			switch m.Source {
			case "keel":
				keel++
				if river > 0 {
					t.Errorf("migration %d: keel's after River's", i)
				}
			case "river":
				river++
			default:
				t.Errorf("migration %d from %q", i, m.Source)
			}
			if m.Applied != wantApplied {
				t.Errorf("%s %d (%s) applied = %v, want %v", m.Source, m.Version, m.Name, m.Applied, wantApplied)
			}
		}
		if keel != 2 || river == 0 {
			t.Errorf("%d of keel's and %d of River's migrations, want 2 and some", keel, river)
		}
		if list[0].Name != "00001_a.sql" || list[0].Version != 1 {
			t.Errorf("first migration %+v, want 00001_a.sql", list[0])
		}
	}
	status(false)
	if err := s.Up(t.Context(), conn); err != nil {
		t.Fatal(err)
	}
	status(true)
	if v, err := s.Version(t.Context(), conn); err != nil || v != 2 {
		t.Errorf("Version = %d, %v; want 2", v, err)
	}
	if err := s.Up(t.Context(), conn); err != nil {
		t.Errorf("Up again: %v, want nothing to do", err)
	}
}
