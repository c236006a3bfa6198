package main

import (
	"bytes"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/keelhq/keel/internal/clients"
	"github.com/keelhq/keel/internal/pgtest"
)

// TestClientsCommand: `keel clients create` registers a client and prints
// its id and, for a confidential client, its secret once (the database
// holds only its hash); `list` shows the clients and never a secret or a
// hash; `delete` removes one; a refused registration says why and stores
// nothing. On SQLite, and on PostgreSQL when it is there.
func TestClientsCommand(t *testing.T) {
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
			testClientsCommand(t, env)
		})
	}
}

func testClientsCommand(t *testing.T, env map[string]string) {
	getenv := func(k string) string { return env[k] }
	keel := func(args ...string) (string, error) {
		t.Helper()
		var out bytes.Buffer
		err := run(t.Context(), append([]string{"clients"}, args...), getenv, &out)
		return out.String(), err
	}
	mustKeel := func(args ...string) string {
		t.Helper()
		out, err := keel(args...)
		if err != nil {
			t.Fatalf("keel clients %s: %v", strings.Join(args, " "), err)
		}
		return out
	}
	stored := func() []clients.Client {
		t.Helper()
		cfg, err := loadConfig(getenv)
		if err != nil {
			t.Fatal(err)
		}
		st, err := dbEngines[cfg.Database.Engine].open(t.Context(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		list, err := st.ListClients(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return list
	}

	if out := mustKeel("list"); !strings.Contains(out, "no clients in") {
		t.Errorf("list of none:\n%s", out)
	}
	out := mustKeel("create", "--name", "Dashboard", "--redirect-uri", "https://dash.example/cb",
		"--redirect-uri", "https://dash.example/cb2", "--post-logout-uri", "https://dash.example/", "--grant", "authorization_code,refresh_token",
		"--grant", "client_credentials", "--scope", "openid profile", "--scope", "admin")
	id := regexp.MustCompile(`(?m)^client_id: +(kc_[A-Za-z0-9_-]{22})$`).FindStringSubmatch(out)
	secret := regexp.MustCompile(`(?m)^client_secret: +([A-Za-z0-9_-]{43})$`).FindStringSubmatch(out)
	if id == nil || secret == nil || !strings.Contains(out, "not shown again") {
		t.Fatalf("create of a confidential client: want its id, its secret and the warning that it is not shown again:\n%s", out)
	}
	pub := mustKeel("create", "--name", "CLI", "--public", "--native", "--redirect-uri", "http://127.0.0.1/cb")
	pubID := regexp.MustCompile(`(?m)^client_id: +(kc_\S+)$`).FindStringSubmatch(pub)
	if pubID == nil || strings.Contains(pub, "client_secret:") {
		t.Fatalf("create of a public client: want its id and no secret:\n%s", pub)
	}

	list := stored()
	if len(list) != 2 || list[0].ID != id[1] || list[1].ID != pubID[1] {
		t.Fatalf("stored: %+v", list)
	}
	dash, cli := list[0], list[1]
	if !dash.CheckSecret(secret[1]) || dash.SecretHash != clients.HashSecret(secret[1]) || dash.Kind != clients.Confidential || dash.AppType != clients.Web {
		t.Errorf("the dashboard as stored: %+v; want confidential web with the printed secret's hash", dash)
	}
	if got := strings.Join(dash.GrantTypes, " ") + "|" + strings.Join(dash.Scopes, " ") + "|" + strings.Join(dash.RedirectURIs, " ") + "|" + strings.Join(dash.PostLogoutRedirectURIs, " "); got !=
		"authorization_code refresh_token client_credentials|openid profile admin|https://dash.example/cb https://dash.example/cb2|https://dash.example/" {
		t.Errorf("the dashboard's lists as stored: %s", got)
	}
	if cli.Kind != clients.Public || cli.AppType != clients.Native || cli.SecretHash != "" || !cli.RedirectAllowed("http://127.0.0.1:49152/cb") {
		t.Errorf("the CLI as stored: %+v; want public native without a secret", cli)
	}

	out = mustKeel("list")
	for _, want := range []string{id[1], pubID[1], `"Dashboard"`, `"CLI"`, "confidential web", "public native", "https://dash.example/cb2", "NAME"} {
		if !strings.Contains(out, want) {
			t.Errorf("list: want %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, secret[1]) || strings.Contains(out, dash.SecretHash) {
		t.Errorf("list shows the secret or its hash:\n%s", out)
	}

	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"no subcommand", nil, "usage"},
		{"another subcommand", []string{"rotate"}, "usage"},
		{"list with an argument", []string{"list", "x"}, "usage"},
		{"delete without an id", []string{"delete"}, "usage"},
		{"no name", []string{"create", "--redirect-uri", "https://a.example/cb"}, "--name is required"},
		{"an unknown flag", []string{"create", "--name", "A", "--secret", "x"}, "-secret"},
		{"an argument after the flags", []string{"create", "--name", "A", "extra"}, `unexpected "extra"`},
		{"an http redirect for a web client", []string{"create", "--name", "A", "--redirect-uri", "http://a.example/cb"}, "https"},
		{"localhost for a native client", []string{"create", "--name", "A", "--public", "--native", "--redirect-uri", "http://localhost:8080/cb"}, "not localhost"},
		{"client_credentials for a public client", []string{"create", "--name", "A", "--public", "--grant", "client_credentials"}, "confidential"},
		{"an unknown scope", []string{"create", "--name", "A", "--redirect-uri", "https://a.example/cb", "--scope", "openid phone"}, `"phone"`},
		{"delete a missing client", []string{"delete", "kc_missing"}, `no client "kc_missing"`},
	} {
		out, err := keel(tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(out, "client_id") {
			t.Errorf("%s: %v (output %q); want an error saying %q and no client", tt.name, err, out, tt.want)
		}
	}
	if n := len(stored()); n != 2 {
		t.Errorf("%d clients after the refusals, want 2", n)
	}

	if out := mustKeel("delete", id[1]); !strings.Contains(out, "deleted "+id[1]) {
		t.Errorf("delete: %s", out)
	}
	if list := stored(); len(list) != 1 || list[0].ID != pubID[1] {
		t.Errorf("after delete: %+v", list)
	}
	if _, err := keel("delete", id[1]); err == nil {
		t.Error("a second delete succeeded")
	}
}
