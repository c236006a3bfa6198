package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/internal/password"
	"github.com/keelhq/keel/internal/testutil"
	"github.com/keelhq/keel/internal/token"
)

// adminBenchUsersEnv names how many users BenchmarkAdminListUsers lists
// among (make bench-admin-users: 100000); unset, it is skipped, so that
// make bench's every-benchmark run does not seed them six times.
const adminBenchUsersEnv = "BENCH_ADMIN_USERS"

// seedUsers adds n users to d in one statement (one transaction), with a
// fixed password hash: emails of two letters spread over the alphabet and
// a number (about n/676 per two-letter prefix), one in 1,000 an admin, one
// in 100 banned, one in 3 unverified.
func seedUsers(tb testing.TB, d testDB, n int) {
	tb.Helper()
	const hash = "$2a$04$notarealhashnotarealhashnotarealhashnotarealhashnotrea"
	at := time.Now().UTC().Truncate(time.Millisecond)
	q := `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)
INSERT INTO users (email, password_hash, created_at, email_verified, role, banned_at)
SELECT char(97 + (i * 7919) %% 26) || char(97 + (i / 26) %% 26) || i || '@example.com', '%s', ?,
       i %% 3 <> 0, CASE WHEN i %% 1000 = 0 THEN 'admin' ELSE 'user' END, CASE WHEN i %% 100 = 7 THEN ? END
FROM n`
	if testutil.OnPostgres() {
		q = `INSERT INTO users (email, password_hash, created_at, email_verified, role, banned_at)
SELECT chr(97 + (i * 7919) %% 26) || chr(97 + (i / 26) %% 26) || i || '@example.com', '%s', $1,
       i %% 3 <> 0, CASE WHEN i %% 1000 = 0 THEN 'admin' ELSE 'user' END, CASE WHEN i %% 100 = 7 THEN $2::timestamptz END
FROM generate_series(1, %d) AS i`
		q = fmt.Sprintf(q, hash, n)
	} else {
		q = fmt.Sprintf(q, n, hash)
	}
	start := time.Now()
	if _, err := d.raw.Exec(q, at, at); err != nil {
		tb.Fatal(err)
	}
	if testutil.OnPostgres() {
		// What autovacuum does soon after a bulk load.
		if _, err := d.raw.Exec("ANALYZE users"); err != nil {
			tb.Fatal(err)
		}
	}
	tb.Logf("seeded %d users in %v", n, time.Since(start).Round(time.Millisecond))
}

// emailPlan is the query plan of an email prefix search in the shape of
// SearchUsers (db/*/queries/admin.sql), for the bench's log: it must walk
// the email index.
func emailPlan(tb testing.TB, d testDB) string {
	tb.Helper()
	q := `EXPLAIN QUERY PLAN SELECT u.id FROM users u
WHERE u.id IN (SELECT e.id AS hit FROM users e WHERE e.email >= 'ab' COLLATE NOCASE AND e.email < 'ac' COLLATE NOCASE
               UNION ALL SELECT 0 AS hit)
  AND u.id > 0 ORDER BY u.id LIMIT 51`
	index := "users_email_unique"
	if testutil.OnPostgres() {
		q = `EXPLAIN SELECT u.id FROM users u
WHERE u.id IN (SELECT e.id AS hit FROM users e WHERE lower(e.email) ~>=~ 'ab' AND lower(e.email) ~<~ 'ac'
               UNION ALL SELECT 0 AS hit)
  AND u.id > 0 ORDER BY u.id LIMIT 51`
		index = "users_email_unique" // of text_pattern_ops
	}
	rows, err := d.raw.Query(q)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var plan []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			tb.Fatal(err)
		}
		plan = append(plan, fmt.Sprint(vals[len(vals)-1]))
	}
	text := strings.Join(plan, "\n")
	if !strings.Contains(text, index) {
		tb.Errorf("an email prefix search does not use %s:\n%s", index, text)
	}
	return text
}

// BenchmarkAdminListUsers is GET /admin/users over 100,000 users through
// the real router, as an admin person (the admin check's query included),
// on the engine the tests run on (KEEL_TEST_DB=postgres for PostgreSQL):
// the p95 of each kind of listing, in ms (the goal: under 50). make
// bench-admin-users runs it on both engines.
func BenchmarkAdminListUsers(b *testing.B) {
	n, err := strconv.Atoi(os.Getenv(adminBenchUsersEnv))
	if err != nil || n < 1000 {
		b.Skipf("%s=100000 (at least 1000) runs it: make bench-admin-users", adminBenchUsersEnv)
	}
	d := newTestDB(b)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, _ := newServer(b, testConfig(), d, log, time.Now, password.New(4, runtime.NumCPU(), 64))
	seedUsers(b, d, n)
	b.Logf("the plan of an email prefix search:\n%s", emailPlan(b, d))

	// An admin person at aal2 with a verified factor, made in the store.
	ctx, now := context.Background(), time.Now()
	u, err := d.store.CreateUser(ctx, "root@admin.example", "x", now, nil)
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := d.store.SetRole(ctx, db.RoleChange{UserID: u.ID, Role: db.RoleAdmin}, nil); err != nil {
		b.Fatal(err)
	}
	if err := d.store.CreateFactor(ctx, db.Factor{ID: "bench", UserID: u.ID, Kind: "totp", Secret: []byte("x"), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		b.Fatal(err)
	}
	d.exec(b, "UPDATE mfa_factors SET verified = TRUE WHERE id = 'bench'")
	sid := token.NewSessionID()
	if err := d.store.CreateSession(ctx, db.Session{ID: sid, UserID: u.ID, CreatedAt: now, LastUsedAt: now, Generation: 1,
		RefreshHash: "bench", RotatedAt: now, RefreshExpiresAt: now.Add(time.Hour), AAL: db.AAL2, LevelAt: now}); err != nil {
		b.Fatal(err)
	}
	tok, err := srv.tokens.Issue(token.Principal{UserID: u.ID, SessionID: sid, AAL: db.AAL2})
	if err != nil {
		b.Fatal(err)
	}
	get := func(query string) (time.Duration, int, string) {
		req := httptest.NewRequest("GET", "/admin/users?"+query, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		start := time.Now()
		srv.ServeHTTP(rec, req)
		return time.Since(start), rec.Code, rec.Body.String()
	}
	// A cursor half way through, from a page that ends there.
	_, code, body := get("limit=200&cursor=" + url.QueryEscape(encodeCursorOf(userCursor, int64(n/2))))
	if code != http.StatusOK || !strings.Contains(body, `"next_cursor"`) {
		b.Fatalf("a page half way: %d %s", code, body)
	}
	deep := "cursor=" + url.QueryEscape(encodeCursorOf(userCursor, int64(n/2)))
	for _, c := range []struct{ name, query, before string }{
		{"first-page", "", ""},
		{"half-way", deep, ""},
		{"prefix-2", "query=ab", ""},
		{"prefix-2-deep", "query=ab&" + deep, ""},
		{"prefix-1", "query=q", ""},
		{"prefix-none", "query=zzz9", ""},
		{"id", "query=77777", ""},
		{"role-admin", "role=admin", ""},
		{"state-banned", "state=banned", ""},
		{"state-banned-prefix", "state=banned&query=ab", ""},
		{"admin-banned", "role=admin&state=banned", ""},
		{"unverified-prefix-1", "state=unverified&query=m", ""},
		{"limit-200", "limit=200", ""},
		// The worst case, last (it changes the users): a filter no index
		// serves that no user matches reads db.DefaultUserScan users, and
		// the page ends there, empty, with a next_cursor.
		{"no-match", "state=unverified", "UPDATE users SET email_verified = TRUE"},
	} {
		if c.before != "" {
			d.exec(b, "%s", c.before)
		}
		b.Run(c.name, func(b *testing.B) {
			_, code, body := get(c.query)
			if code != http.StatusOK {
				b.Fatalf("%s: %d %s", c.query, code, body)
			}
			var times []time.Duration
			for b.Loop() {
				d, code, _ := get(c.query)
				if code != http.StatusOK {
					b.Fatalf("%s: %d", c.query, code)
				}
				times = append(times, d)
			}
			slices.Sort(times)
			p95 := times[len(times)*95/100]
			b.ReportMetric(float64(p95.Microseconds())/1000, "p95-ms")
			b.ReportMetric(float64(strings.Count(body, `"id":`)), "users/page")
			if p95 > 50*time.Millisecond {
				b.Errorf("%s: p95 %v, over 50 ms", c.query, p95)
			}
		})
	}
}
