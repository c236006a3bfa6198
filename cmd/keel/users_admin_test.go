package main

import (
	"bytes"
	"database/sql"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/internal/pgtest"
)

// TestUsersRoleCommand: `keel users grant-admin` and `revoke-admin` set the
// account's role (found by its email in any letter case), record the event
// user.role_changed with the actor cli, may revoke the last admin (the
// operator at the database can always grant again), and say so when nothing
// changes; an unknown email or other arguments are refused. On SQLite, and
// on PostgreSQL when it is there.
func TestUsersRoleCommand(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{engineSQLite, enginePostgres} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"JWT_SECRET": testSecret}
			if engine == enginePostgres {
				env["DATABASE_URL"] = pgtest.NewDatabase(t)
			} else {
				env["DATABASE_URL"] = filepath.Join(t.TempDir(), "keel.db")
			}
			testUsersRoleCommand(t, env)
		})
	}
}

func testUsersRoleCommand(t *testing.T, env map[string]string) {
	getenv := func(k string) string { return env[k] }
	keel := func(args ...string) (string, error) {
		t.Helper()
		var out bytes.Buffer
		err := run(t.Context(), append([]string{"users"}, args...), getenv, &out)
		return out.String(), err
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		t.Fatal(err)
	}
	st, err := dbEngines[cfg.Database.Engine].open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u, err := st.CreateUser(t.Context(), "ada@example.com", "", time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	role := func() string {
		t.Helper()
		r, err := st.GetUserRecord(t.Context(), u.ID)
		if err != nil {
			t.Fatal(err)
		}
		return r.Role
	}

	for _, c := range []struct {
		args     []string
		role     string
		out, err string
	}{
		{[]string{"grant-admin", "Ada@Example.com"}, db.RoleAdmin, "is an admin now", ""},
		{[]string{"grant-admin", "ada@example.com"}, db.RoleAdmin, "is an admin already: nothing changed", ""},
		{[]string{"revoke-admin", "ada@example.com"}, db.RoleUser, "is no longer an admin", ""},
		{[]string{"revoke-admin", "ada@example.com"}, db.RoleUser, "is a user already", ""},
		{[]string{"grant-admin", "bob@example.com"}, db.RoleUser, "", `no account with the email "bob@example.com"`},
		{[]string{"grant-admin"}, db.RoleUser, "", "usage:"},
		{[]string{"make-admin", "ada@example.com"}, db.RoleUser, "", "usage:"},
		{[]string{"grant-admin", "ada@example.com", "bob@example.com"}, db.RoleUser, "", "usage:"},
	} {
		out, err := keel(c.args...)
		what := strings.Join(c.args, " ")
		switch {
		case c.err == "" && err != nil:
			t.Errorf("keel users %s: %v", what, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("keel users %s: error %v, want one with %q", what, err, c.err)
		case !strings.Contains(out, c.out):
			t.Errorf("keel users %s said %q, want %q", what, out, c.out)
		}
		if got := role(); got != c.role {
			t.Errorf("after keel users %s: role %q, want %q", what, got, c.role)
		}
	}
	driver, dsn := "sqlite", env["DATABASE_URL"]
	if cfg.Database.Engine == enginePostgres {
		driver = "pgx"
	}
	conn, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var n int
	if err := conn.QueryRow("SELECT count(*) FROM events WHERE type = 'user.role_changed' AND actor = 'cli' AND user_id = " +
		strconv.FormatInt(u.ID, 10)).Scan(&n); err != nil || n != 2 {
		t.Errorf("the changes' events: %d (%v), want 2 (grant, revoke)", n, err)
	}
}
