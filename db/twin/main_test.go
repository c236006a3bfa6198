package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTwinIsCurrent: the committed db/postgres/accounts_gen.go is what twin
// makes of db/sqlite/accounts.go, so go test catches a twin left stale
// even before make check-generated does.
func TestTwinIsCurrent(t *testing.T) {
	root := filepath.Join("..", "..")
	for _, name := range sources {
		src, err := os.ReadFile(filepath.Join(root, source(name)))
		if err != nil {
			t.Fatal(err)
		}
		want, err := twin(name, src)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(root, target(name)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run go run ./db/twin (make generate) and commit it", target(name))
		}
		checkTwin(t, want, name)
	}
}

func checkTwin(t *testing.T, want []byte, name string) {
	t.Helper()
	if !bytes.HasPrefix(want, []byte(header(name))) || !bytes.Contains(want, []byte("package postgres\n")) ||
		!bytes.Contains(want, []byte(`"github.com/keelhq/keel/gen/db/postgres"`)) || bytes.Contains(want, []byte("gen/db/sqlite")) {
		t.Errorf("the twin is not PostgreSQL's:\n%.400s", want)
	}
}

// TestTwinRefusesAnUnexpectedSource: a source whose package clause or gen
// import is not there exactly once is an error, not a twin of the wrong engine.
func TestTwinRefusesAnUnexpectedSource(t *testing.T) {
	for _, tt := range []struct{ name, src string }{
		{"another package", "package lite\n\nimport gen \"github.com/keelhq/keel/gen/db/sqlite\"\n"},
		{"no gen import", "package sqlite\n"},
		{"two gen imports", "package sqlite\n\nimport gen \"github.com/keelhq/keel/gen/db/sqlite\"\n// gen \"github.com/keelhq/keel/gen/db/sqlite\"\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if out, err := twin("accounts", []byte(tt.src)); err == nil {
				t.Errorf("twin succeeded:\n%s", out)
			} else if !strings.Contains(err.Error(), "want once") {
				t.Errorf("error %q, want it to say which rewrite failed", err)
			}
		})
	}
}
