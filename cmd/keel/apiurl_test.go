package main

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keelhq/keel/db/sqlite"
)

// TestAPIURLWarning: a PostgreSQL install (replicas, services behind them)
// whose API_URL is unset is warned at start that its tokens name
// http://localhost:<port> as their issuer, where no service behind keel
// finds its keys; with API_URL set, or on SQLite (`make run`), it is not.
func TestAPIURLWarning(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		env  map[string]string
		warn bool
	}{
		{"PostgreSQL, API_URL unset", map[string]string{}, true},
		{"PostgreSQL, API_URL set", map[string]string{"API_URL": "https://api.example.com"}, false},
		{"SQLite, API_URL unset", map[string]string{"DATABASE_URL": "x.db"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"DATABASE_URL": "postgres://keel@127.0.0.1:1/keel", "JWT_SECRET": strings.Repeat("s", 32),
				"KEYS_KEK": strings.Repeat("k", 32)}
			for k, v := range tc.env {
				env[k] = v
			}
			cfg, err := loadConfig(func(k string) string { return env[k] })
			if err != nil {
				t.Fatal(err)
			}
			// The signing keys on SQLite whatever the engine: only the
			// configuration decides the warning.
			st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "keel.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			var out bytes.Buffer
			if _, _, err := openKeys(ctx, cfg, st, slog.New(slog.NewTextHandler(&out, nil))); err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(out.String(), "API_URL is not set"); got != tc.warn {
				t.Errorf("warned %v, want %v:\n%s", got, tc.warn, out.String())
			}
		})
	}
}
