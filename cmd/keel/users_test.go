package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/internal/pgtest"
)

// TestUsersExportImport: `keel users export OUT` writes one account a line
// to a file only its owner reads (0600) and says how many, and that TOTP
// factors are left out without --totp-key-file; `keel users import IN`
// into an empty keel keeps the ids, prints each refused line with its
// number and exits with an error that counts them; a second run changes
// nothing; the Firebase flags go together; --help lists both. On both
// engines.
func TestUsersExportImport(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			from, to := filepath.Join(t.TempDir(), "from.db"), filepath.Join(t.TempDir(), "to.db")
			if engine == "postgres" {
				from, to = pgtest.NewDatabase(t), pgtest.NewDatabase(t)
			}
			testUsersTransfer(t, from, to)
		})
	}
}

func testUsersTransfer(t *testing.T, from, to string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	secret := strings.Repeat("s", 32)
	keel := func(url string, args ...string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, args, func(k string) string {
			return map[string]string{"DATABASE_URL": url, "JWT_SECRET": secret}[k]
		}, &out)
		return out.String(), err
	}
	cfg, err := loadConfig(func(k string) string { return map[string]string{"DATABASE_URL": from, "JWT_SECRET": secret}[k] })
	if err != nil {
		t.Fatal(err)
	}
	store, err := dbEngines[cfg.Database.Engine].open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	const hash = "$2a$04$7WSn1a8q8vj7o1p7eYl9ZeI7yU2qJj6b5o0o2m7hQ3Zr5p8q9kJ6e"
	for _, email := range []string{"ada@example.com", "bob@example.com", "cy@example.com"} {
		if _, err := store.CreateUser(ctx, email, hash, time.Now(), nil); err != nil {
			t.Fatal(err)
		}
	}
	store.Close()

	file := filepath.Join(t.TempDir(), "users.ndjson")
	out, err := keel(from, "users", "export", file)
	if err != nil || !strings.Contains(out, "exported 3 accounts") {
		t.Fatalf("export: %q, %v", out, err)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the export file's mode: %v (%v), want 0600", fi.Mode(), err)
	}
	// Over a file that was there, readable to all: made 0600 too.
	if err := os.Chmod(file, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := keel(from, "users", "export", file); err != nil || !strings.Contains(out, "exported 3 accounts") {
		t.Fatalf("export over the file: %q, %v", out, err)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the export file's mode, exported over one of 0644: %v (%v), want 0600", fi.Mode(), err)
	}
	b, err := os.ReadFile(file)
	if err != nil || bytes.Count(b, []byte("\n")) != 3 || !bytes.Contains(b, []byte(hash)) {
		t.Fatalf("the file: %s (%v)", b, err)
	}
	// A bad line between them: line 2.
	lines := strings.SplitAfter(string(b), "\n")
	bad := `{"email":"dan@example.com","password_hash":"$argon2id$v=19$m=999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"}` + "\n"
	withBad := filepath.Join(t.TempDir(), "with-bad.ndjson")
	if err := os.WriteFile(withBad, []byte(lines[0]+bad+strings.Join(lines[1:], "")), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = keel(to, "users", "import", withBad)
	if err == nil || !strings.Contains(err.Error(), "1 lines refused") {
		t.Errorf("import with a bad line: %v, want an error counting it", err)
	}
	if !strings.Contains(out, "refused line 2: password_hash: argon2 m=999999 is over the cap") ||
		!strings.Contains(out, "imported 3 accounts with their ids kept") {
		t.Errorf("import's report: %q", out)
	}
	// Again, without external ids: every account's email is taken now.
	if out, err = keel(to, "users", "import", file); err == nil || !strings.Contains(out, "refused line 1: email: another account has it") {
		t.Errorf("import again: %q, %v", out, err)
	}
	if _, err := keel(to, "users", "import", "--firebase-rounds", "8", file); err == nil || !strings.Contains(err.Error(), "go together") {
		t.Errorf("a Firebase flag alone: %v", err)
	}
	if _, err := keel(to, "users", "frobnicate"); err == nil || !strings.Contains(err.Error(), "keel users export") {
		t.Errorf("an unknown users command: %v", err)
	}
	var help bytes.Buffer
	if err := run(ctx, []string{"--help"}, func(string) string { return "" }, &help); err != nil ||
		!strings.Contains(help.String(), "keel users export") || !strings.Contains(help.String(), "keel users import") {
		t.Errorf("--help does not list keel users export and import: %v", err)
	}
}
