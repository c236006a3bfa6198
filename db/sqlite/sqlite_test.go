package sqlite

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/db/schema"
	"github.com/keelhq/keel/db/storetest"
	gen "github.com/keelhq/keel/gen/db/sqlite"
	"github.com/keelhq/keel/internal/clients"
	"github.com/keelhq/keel/internal/keys"
	"github.com/keelhq/keel/internal/testutil"
)

// TestStore holds SQLite to the behaviour every adapter shares.
func TestStore(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) db.Store { return open(t) })
}

// TestStoreWebhooks holds SQLite to the webhooks' store behaviour.
func TestStoreWebhooks(t *testing.T) {
	t.Parallel()
	storetest.RunWebhooks(t, func(t *testing.T) storetest.WebhooksStore { return open(t) })
}

// TestStoreAdmins holds the engine to the admin API's store: roles, the
// admin check's read, the listing of users.
func TestStoreAdmins(t *testing.T) {
	t.Parallel()
	storetest.RunAdmins(t, func(t *testing.T) db.Store { return open(t) })
}

// TestStoreClients holds SQLite to the OAuth client registry's behaviour.
func TestStoreClients(t *testing.T) {
	t.Parallel()
	storetest.RunClients(t, func(t *testing.T) clients.Store { return open(t) })
}

// TestStoreClientGrants holds SQLite to ending a deleted client's grants
// (its sessions, announced; its consents and pending requests).
func TestStoreClientGrants(t *testing.T) {
	t.Parallel()
	storetest.RunClientGrants(t, func(t *testing.T) storetest.ClientGrantsStore { return open(t) })
}

// TestStoreKeys holds SQLite to the signing keys' behaviour; another
// handle is the same file opened again, as the CLI does.
func TestStoreKeys(t *testing.T) {
	t.Parallel()
	var paths sync.Map // *DB → its file
	storetest.RunKeys(t, func(t *testing.T) keys.Store {
		path := testutil.MigratedCopy(t, "sqlite", migrateTemplate)
		d := openPath(t, path)
		paths.Store(d, path)
		return d
	}, func(t *testing.T, s keys.Store) keys.Store {
		path, _ := paths.Load(s)
		return openPath(t, path.(string))
	})
}

// open is a fresh database in the test's temporary folder: a copy of one
// migrated once for the whole run (testutil.MigratedCopy).
func open(t *testing.T) *DB {
	t.Helper()
	return openPath(t, testutil.MigratedCopy(t, "sqlite", migrateTemplate))
}

// migrateTemplate makes the database open copies: Open applies every
// migration.
func migrateTemplate(path string) error {
	d, err := Open(context.Background(), path)
	if err != nil {
		return err
	}
	return d.Close()
}

func TestMain(m *testing.M) {
	code := m.Run()
	testutil.RemoveTemplates()
	os.Exit(code)
}

// openPath opens the database at path, closing it when the test ends.
func openPath(t *testing.T, path string) *DB {
	t.Helper()
	d, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// TestOpenErrors: a file that is not a database, or a path through a regular
// file, fails Open with an error instead of a panic or a half-open store.
func TestOpenErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt.db")
	if err := os.WriteFile(corrupt, []byte(strings.Repeat("not a database ", 500)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, path, want string }{
		{"corrupt file", corrupt, "not a database"},
		{"path under a regular file", filepath.Join(corrupt, "keel.db"), "not a directory"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Open(t.Context(), tt.path)
			if err == nil {
				d.Close()
				t.Fatalf("Open(%s) succeeded", tt.path)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open(%s): %v; want it to say %q", tt.path, err, tt.want)
			}
		})
	}
}

// TestLoginUsesIndex: GetCredentials' own statement (from queries/users.sql)
// is an index search, not a scan of every user, at any table size.
func TestLoginUsesIndex(t *testing.T) {
	t.Parallel()
	d := open(t)
	query := storetest.Query(t, "queries/users.sql", "GetCredentials", "?")
	rows, err := d.reader.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+query, "a@example.com")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(plan, "; ")
	if !strings.Contains(got, "USING INDEX users_email_unique") || strings.Contains(got, "SCAN users") {
		t.Errorf("plan of %q: %s; want a search using users_email_unique", query, got)
	}
	t.Logf("%s: %s", query, got)
}

// TestPasskeyHandleUpgrade: an account with a passkey registered before
// handles (the database at the migration before the handle's) is found by
// the handle its authenticator holds, its id, after the upgrade.
func TestPasskeyHandleUpgrade(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "keel.db")
	conn, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, conn, schema.Dir(migrationFiles, "migrations"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 12); err != nil { // the handle's is 13
		t.Fatal(err)
	}
	q := gen.New(conn)
	// By hand: today's CreateUser reads a table of a later migration.
	var id int64
	if err := conn.QueryRowContext(ctx, "INSERT INTO users (email, password_hash, created_at) VALUES (?, ?, ?) RETURNING id",
		"old@example.com", "h", time.Now()).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if err := q.CreatePasskey(ctx, gen.CreatePasskeyParams{ID: "old", UserID: id, CredentialID: []byte("cred-old"),
		Name: "old", PublicKey: []byte("cose"), AttestationType: "none", Aaguid: make([]byte, 16), CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	d, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	storetest.CheckLegacyPasskey(t, d, id, "old")
}

// TestStoreProvider holds SQLite to the OpenID Provider's store behaviour.
func TestStoreProvider(t *testing.T) {
	t.Parallel()
	storetest.RunProvider(t, func(t *testing.T) storetest.ProviderStore { return open(t) })
}

// TestStoreDevice holds SQLite to the device grant's store behaviour.
func TestStoreDevice(t *testing.T) {
	t.Parallel()
	storetest.RunDevice(t, func(t *testing.T) storetest.DeviceStore { return open(t) })
}

// TestOnlyWrites: the reader skips preparing exactly the statements that
// only write; a SELECT (or a WITH, which may read) is prepared whatever its
// layout, since one left unprepared would be parsed again on every call.
func TestOnlyWrites(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		query string
		want  bool
	}{
		{"-- name: GetUser :one\nSELECT id FROM users WHERE id = ?", false},
		{"-- name: CreateUser :one\nINSERT INTO users (email) VALUES (?) RETURNING id", true},
		{"-- name: Touch :exec\n-- a second comment line\nUPDATE\n  sessions SET seen = ?", true},
		{"-- name: Drop :execrows\ndelete from sessions where id = ?", true},
		{"REPLACE INTO kv (k, v) VALUES (?, ?)", true},
		{"WITH x AS (SELECT 1) SELECT * FROM x", false},
		{"SELECT(1)", false},
		{"  \n\tSELECT 1", false},
		{"-- only a comment", false},
		{"", false},
	} {
		if got := onlyWrites(tt.query); got != tt.want {
			t.Errorf("onlyWrites(%q) = %v, want %v", tt.query, got, tt.want)
		}
	}
}
