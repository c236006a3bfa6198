package pgtest

import (
	"database/sql"
	"os"
	"testing"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// TestNewDatabase: each call is a database of its own that takes a login
// with the URL's password.
func TestNewDatabase(t *testing.T) {
	t.Parallel()
	a, b := NewDatabase(t), NewDatabase(t)
	if a == b {
		t.Fatalf("two databases share the URL %s", a)
	}
	for _, u := range []string{a, b} {
		conn, err := sql.Open("pgx", u)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if err := conn.PingContext(t.Context()); err != nil {
			t.Errorf("ping %s: %v", u, err)
		}
	}
}

// TestWrongPassword: the server checks passwords on TCP, so the wrong one
// is refused; the cases that show it run rather than skip.
func TestWrongPassword(t *testing.T) {
	t.Parallel()
	conn, err := sql.Open("pgx", WrongPassword(t, "not-the-password"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.PingContext(t.Context()); err == nil {
		t.Error("a wrong password was let in")
	}
}
