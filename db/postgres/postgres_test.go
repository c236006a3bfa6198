package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/db/schema"
	"github.com/keelhq/keel/db/storetest"
	gen "github.com/keelhq/keel/gen/db/postgres"
	"github.com/keelhq/keel/internal/clients"
	"github.com/keelhq/keel/internal/keys"
	"github.com/keelhq/keel/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// TestStore holds PostgreSQL to the behaviour every adapter shares.
func TestStore(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) db.Store { return open(t, migrated(t)) })
}

// TestStoreWebhooks holds PostgreSQL to the webhooks' store behaviour.
func TestStoreWebhooks(t *testing.T) {
	t.Parallel()
	storetest.RunWebhooks(t, func(t *testing.T) storetest.WebhooksStore { return open(t, migrated(t)) })
}

// TestStoreAdmins holds the engine to the admin API's store: roles, the
// admin check's read, the listing of users.
func TestStoreAdmins(t *testing.T) {
	t.Parallel()
	storetest.RunAdmins(t, func(t *testing.T) db.Store { return open(t, migrated(t)) })
}

// TestStoreClients holds PostgreSQL to the OAuth client registry's behaviour.
func TestStoreClients(t *testing.T) {
	t.Parallel()
	storetest.RunClients(t, func(t *testing.T) clients.Store { return open(t, migrated(t)) })
}

// TestStoreClientGrants holds PostgreSQL to ending a deleted client's grants
// (its sessions, announced; its consents and pending requests).
func TestStoreClientGrants(t *testing.T) {
	t.Parallel()
	storetest.RunClientGrants(t, func(t *testing.T) storetest.ClientGrantsStore { return open(t, migrated(t)) })
}

// TestStoreKeys holds PostgreSQL to the signing keys' behaviour; another
// handle is a second Open of the same URL, as another replica's.
func TestStoreKeys(t *testing.T) {
	t.Parallel()
	var urls sync.Map // *DB → its URL
	storetest.RunKeys(t, func(t *testing.T) keys.Store {
		u := migrated(t)
		d := open(t, u)
		urls.Store(d, u)
		return d
	}, func(t *testing.T, s keys.Store) keys.Store {
		u, _ := urls.Load(s)
		return open(t, u.(string))
	})
}

// open opens the database at u, closing it when the test ends.
// migrated is a fresh database with every migration applied: a clone of
// one migrated once for the run (pgtest.NewMigratedDatabase).
func migrated(t *testing.T) string {
	t.Helper()
	return pgtest.NewMigratedDatabase(t, "postgres", func(u string) error {
		d, err := Open(context.Background(), u, Options{})
		if err != nil {
			return err
		}
		return d.Close()
	})
}

func open(t *testing.T, u string) *DB {
	t.Helper()
	d, err := Open(t.Context(), u, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// TestLoginUsesIndex: GetCredentials' own statement (from queries/users.sql)
// can be served by the unique index on lower(email). The planner prefers a
// sequential scan of a table this small, so the test forbids one: what it
// proves is that the query's expression matches the index's, which is what
// makes a login an index search on a large table.
func TestLoginUsesIndex(t *testing.T) {
	t.Parallel()
	d := open(t, pgtest.NewDatabase(t))
	query := storetest.Query(t, "queries/users.sql", "GetCredentials", "$1")
	conn, err := d.writer.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), `SET enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.QueryContext(t.Context(), "EXPLAIN "+query, "a@example.com")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, strings.TrimSpace(line))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(plan, "; ")
	// The one index on lower(email), of text_pattern_ops since migration
	// 00022 (the admin listing's prefix range too), serves the equality.
	if !strings.Contains(got, "Index Scan") || !strings.Contains(got, "users_email_unique") || strings.Contains(got, "Seq Scan") {
		t.Errorf("plan of %q: %s; want an index scan on users_email_unique", query, got)
	}
	t.Logf("%s: %s", query, got)
}

// TestOpenConcurrently: replicas starting together on an empty database all
// open it. Migrations (keel's and River's) run once, under the advisory
// lock; without it, River's first migration raced and failed in all but one.
func TestOpenConcurrently(t *testing.T) {
	t.Parallel()
	const replicas = 4
	for round := range 3 {
		t.Run(fmt.Sprint("round ", round), func(t *testing.T) {
			u := pgtest.NewDatabase(t)
			errs := make([]error, replicas)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range replicas {
				wg.Go(func() {
					<-start
					d, err := Open(t.Context(), u, Options{MaxConns: 2})
					if err == nil {
						err = d.Close()
					}
					errs[i] = err
				})
			}
			close(start)
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("replica %d: %v", i, err)
				}
			}
			list, err := Status(t.Context(), u)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range list {
				if !m.Applied {
					t.Errorf("%s migration %d (%s) not applied", m.Source, m.Version, m.Name)
				}
			}
		})
	}
}

// TestTakeRateToken: the cluster-wide AUTH_RATE_LIMIT (GCRA). At 6 a minute
// a client gets a burst of 6, then waits one interval (10 s) per request;
// the clock is injected, so nothing sleeps.
func TestTakeRateToken(t *testing.T) {
	t.Parallel()
	const perMinute = 6
	interval := time.Minute / perMinute
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

	// take asks d for one token at now and reports whether it was admitted,
	// checking that a refusal comes with a wait of at most one interval.
	take := func(t *testing.T, d *DB, key string, now time.Time) bool {
		t.Helper()
		wait, err := d.TakeRateToken(t.Context(), key, perMinute, now)
		if err != nil {
			t.Fatal(err)
		}
		if wait < 0 || wait > interval {
			t.Errorf("wait %v at %v, want between 0 and %v", wait, now.Sub(t0), interval)
		}
		return wait == 0
	}
	// burst takes until refused (at most 2×perMinute) and returns how many were admitted.
	burst := func(t *testing.T, d *DB, key string, now time.Time) int {
		t.Helper()
		n := 0
		for n < 2*perMinute && take(t, d, key, now) {
			n++
		}
		return n
	}

	t.Run("a burst of six, then a wait of one interval", func(t *testing.T) {
		t.Parallel()
		d := open(t, pgtest.NewDatabase(t))
		if n := burst(t, d, "203.0.113.1", t0); n != perMinute {
			t.Fatalf("%d admitted at once, want %d", n, perMinute)
		}
		wait, err := d.TakeRateToken(t.Context(), "203.0.113.1", perMinute, t0)
		if err != nil || wait != interval {
			t.Errorf("the seventh: wait %v, %v; want %v", wait, err, interval)
		}
		if !take(t, d, "198.51.100.7", t0) {
			t.Error("another client was refused: keys must not share a limit")
		}
	})
	t.Run("refills with the clock", func(t *testing.T) {
		t.Parallel()
		d := open(t, pgtest.NewDatabase(t))
		burst(t, d, "k", t0)
		if take(t, d, "k", t0.Add(interval-time.Millisecond)) {
			t.Error("admitted before a token was back")
		}
		if !take(t, d, "k", t0.Add(interval)) {
			t.Error("refused one interval after the burst")
		}
		if take(t, d, "k", t0.Add(interval)) {
			t.Error("admitted twice for one interval")
		}
		// A quiet minute refills the whole burst, and no more.
		if n := burst(t, d, "k", t0.Add(interval+time.Minute)); n != perMinute {
			t.Errorf("%d admitted after a quiet minute, want %d", n, perMinute)
		}
	})
	t.Run("two handles on one database share the limit", func(t *testing.T) {
		t.Parallel()
		u := pgtest.NewDatabase(t)
		a, b := open(t, u), open(t, u)
		for i := range perMinute {
			d := a
			if i%2 == 1 {
				d = b
			}
			if !take(t, d, "k", t0) {
				t.Fatalf("request %d refused", i+1)
			}
		}
		if take(t, a, "k", t0) || take(t, b, "k", t0) {
			t.Error("a replica admitted past the shared limit")
		}
	})
	t.Run("requests at once through two handles: exactly six admitted", func(t *testing.T) {
		t.Parallel()
		u := pgtest.NewDatabase(t)
		handles := []*DB{open(t, u), open(t, u)}
		const requests = 30
		var (
			mu       sync.Mutex
			admitted int
			wg       sync.WaitGroup
		)
		start := make(chan struct{})
		for i := range requests {
			wg.Go(func() {
				<-start
				wait, err := handles[i%2].TakeRateToken(t.Context(), "k", perMinute, t0)
				if err != nil {
					t.Error(err)
					return
				}
				if wait == 0 {
					mu.Lock()
					admitted++
					mu.Unlock()
				}
			})
		}
		close(start)
		wg.Wait()
		if admitted != perMinute {
			t.Errorf("%d of %d concurrent requests admitted, want %d", admitted, requests, perMinute)
		}
	})
}

// TestOpenErrors: each usual reason keel cannot use a PostgreSQL database
// fails Open with a message naming it, and never the password.
func TestOpenErrors(t *testing.T) {
	t.Parallel()
	const secret = "hunter2-not-shown"
	server, err := url.Parse(pgtest.Server(t))
	if err != nil {
		t.Fatal(err)
	}
	realPassword, _ := server.User.Password()
	missingDB := *server
	missingDB.Path = "/keel_no_such_database"

	cases := []struct{ name, url, want string }{
		{"a URL that does not parse", "postgres://keel:" + secret + "@db:notaport/keel", "not a PostgreSQL URL"},
		{"nothing listening", "postgres://keel:" + secret + "@127.0.0.1:" + pgtest.UnusedPort(t) + "/keel?sslmode=disable", "cannot reach the server"},
		{"a wrong password", "", "refused the user or password"}, // pgtest.WrongPassword
		{"no such database", missingDB.String(), "no such database"},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			u := tt.url
			if u == "" {
				u = pgtest.WrongPassword(t, secret)
			}
			d, err := Open(t.Context(), u, Options{})
			if err == nil {
				d.Close()
				t.Fatal("Open succeeded")
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) {
				t.Errorf("error %q, want it to say %q", msg, tt.want)
			}
			for _, p := range []string{secret, realPassword} {
				if p != "" && strings.Contains(msg, p) {
					t.Errorf("error shows the password: %q", msg)
				}
			}
			t.Log(msg)
		})
	}
}

// TestPasskeyHandleUpgrade: an account with a passkey registered before
// handles (the database at the migration before the handle's) is found by
// the handle its authenticator holds, its id, after the upgrade.
func TestPasskeyHandleUpgrade(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	u := pgtest.NewDatabase(t)
	conn, err := sql.Open("pgx", u)
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, conn, schema.Dir(migrationFiles, "migrations"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 11); err != nil { // the handle's is 12
		t.Fatal(err)
	}
	q := gen.New(conn)
	user, err := q.CreateUser(ctx, gen.CreateUserParams{Email: "old@example.com", PasswordHash: "h", CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.CreatePasskey(ctx, gen.CreatePasskeyParams{ID: "old", UserID: user.ID, CredentialID: []byte("cred-old"),
		Name: "old", PublicKey: []byte("cose"), AttestationType: "none", Aaguid: make([]byte, 16), CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	storetest.CheckLegacyPasskey(t, open(t, u), user.ID, "old")
}

// TestStoreProvider holds PostgreSQL to the OpenID Provider's store behaviour.
func TestStoreProvider(t *testing.T) {
	t.Parallel()
	storetest.RunProvider(t, func(t *testing.T) storetest.ProviderStore { return open(t, migrated(t)) })
}

// TestStoreDevice holds PostgreSQL to the device grant's store behaviour.
func TestStoreDevice(t *testing.T) {
	t.Parallel()
	storetest.RunDevice(t, func(t *testing.T) storetest.DeviceStore { return open(t, migrated(t)) })
}
