package server

import (
	"bytes"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/bcrypt"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/gen/oapi"
	"github.com/keelhq/keel/internal/password"
	"github.com/keelhq/keel/internal/token"
)

func TestRegister(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	a.mustRegister("taken@example.com", "password123")

	long := strings.Repeat("é", 40) // 40 characters, 80 bytes: over bcrypt's 72
	tests := []struct {
		name        string
		body        string
		contentType string
		status      int
		field       string // for a 400, the field the problem names
		email       string // for a 201, the stored email
	}{
		{name: "ok", body: credentials("ada@example.com", "password123"), status: 201, email: "ada@example.com"},
		{name: "lower-cased", body: credentials("Grace@Example.COM", "password123"), status: 201, email: "grace@example.com"},
		{name: "surrounding spaces", body: credentials("  hopper@example.com ", "password123"), status: 400},
		{name: "UTF-8 local part", body: credentials("ñandú@example.com", "password123"), status: 400},
		{name: "UTF-8 domain", body: credentials("ada@exämple.com", "password123"), status: 400},
		{name: "72-byte password", body: credentials("max@example.com", strings.Repeat("p", 72)), status: 201, email: "max@example.com"},
		{name: "duplicate", body: credentials("taken@example.com", "password123"), status: 409},
		{name: "duplicate in another case", body: credentials("TAKEN@example.com", "password123"), status: 409},
		{name: "not an email", body: credentials("ada", "password123"), status: 400, field: "/email"},
		{name: "display name", body: credentials("Ada <ada@example.com>", "password123"), status: 400, field: "/email"},
		{name: "two addresses", body: credentials("a@example.com, b@example.com", "password123"), status: 400, field: "/email"},
		{name: "control character", body: credentials("ada\u0007@example.com", "password123"), status: 400, field: "/email"},
		{name: "short password", body: credentials("ada2@example.com", "short"), status: 400, field: "/password"},
		{name: "password over 72 characters", body: credentials("ada2@example.com", strings.Repeat("p", 73)), status: 400, field: "/password"},
		{name: "password over 72 bytes", body: credentials("ada2@example.com", long), status: 400, field: "/password"},
		// The byte rule, not the length rule: 72 characters are 73 bytes here.
		{name: "72 characters, 73 bytes", body: credentials("ada2@example.com", strings.Repeat("p", 71)+"é"), status: 400, field: "/password"},
		{name: "missing password", body: `{"email":"ada2@example.com"}`, status: 400, field: "/password"},
		{name: "missing email", body: `{"password":"password123"}`, status: 400, field: "/email"},
		{name: "null email", body: `{"email":null,"password":"password123"}`, status: 400, field: "/email"},
		{name: "number password", body: `{"email":"ada2@example.com","password":12345678}`, status: 400, field: "/password"},
		{name: "unknown field", body: `{"email":"ada2@example.com","password":"password123","admin":true}`, status: 400, field: "/"},
		{name: "array", body: `[]`, status: 400, field: "/"},
		{name: "string", body: `"hello"`, status: 400, field: "/"},
		{name: "malformed JSON", body: `{"email":`, status: 400},
		{name: "empty body", body: ``, status: 400},
		{name: "wrong content type", body: credentials("ada2@example.com", "password123"), contentType: "text/plain", status: 415},
		{name: "form content type", body: "email=a%40b.c&password=password123", contentType: "application/x-www-form-urlencoded", status: 415},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := []string{}
			if tt.contentType != "" {
				hdr = append(hdr, "Content-Type", tt.contentType)
			}
			rec := a.do("POST", "/register", tt.body, hdr...)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			if body := rec.Body.String(); strings.Contains(body, "password123") || strings.Contains(body, "$2a$") {
				t.Errorf("response shows the password or its hash: %s", body)
			}
			switch {
			case tt.status == 201:
				u := decode[oapi.User](t, rec)
				if string(u.Email) != tt.email || u.ID < 1 || u.CreatedAt.IsZero() {
					t.Errorf("user %+v, want email %q", u, tt.email)
				}
			case tt.field != "":
				p := problemOf(t, rec)
				if p.Errors == nil || len(*p.Errors) == 0 || (*p.Errors)[0].Field != tt.field {
					t.Errorf("problem %s does not name field %s", rec.Body, tt.field)
				}
			}
		})
	}
}

// TestRegisterRace registers one email from many goroutines at once: exactly
// one gets 201, the others 409, none a 5xx or "database is locked".
func TestRegisterRace(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	const n = 16
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { codes <- a.do("POST", "/register", credentials("race@example.com", "password123")).Code })
	}
	wg.Wait()
	close(codes)
	got := map[int]int{}
	for c := range codes {
		got[c]++
	}
	if diff := cmp.Diff(map[int]int{201: 1, 409: n - 1}, got); diff != "" {
		t.Errorf("status counts (-want +got):\n%s", diff)
	}
}

func TestLogin(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	a.mustRegister("ada@example.com", "password123")
	// 71 characters, 72 bytes: bcrypt reads all of it. Sent with one more
	// character it is 72 characters (the spec allows them) and 73 bytes, of
	// which bcrypt would read the first 72 and find a match: only the byte
	// rule keeps that wrong password out.
	full := strings.Repeat("p", 70) + "é"
	a.mustRegister("full@example.com", full)

	tests := []struct {
		name   string
		body   string
		status int
	}{
		{"72-byte password", credentials("full@example.com", full), 200},
		{"72 characters, 73 bytes, bcrypt's first 72 right", credentials("full@example.com", full+"p"), 400},
		{"ok", credentials("ada@example.com", "password123"), 200},
		{"email in another case", credentials("ADA@example.com", "password123"), 200},
		{"wrong password", credentials("ada@example.com", "password124"), 401},
		{"unknown email", credentials("bob@example.com", "password123"), 401},
		{"empty password", credentials("ada@example.com", ""), 400},
		{"password over 72 bytes", credentials("ada@example.com", strings.Repeat("é", 40)), 400},
		{"missing body", "", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := a.do("POST", "/login", tt.body)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			if tt.status == 200 {
				tok := decode[oapi.Token](t, rec)
				if tok.TokenType != oapi.Bearer || tok.ExpiresIn != 900 || tok.Token == "" || tok.RefreshToken == "" || tok.RefreshExpiresIn != 30*24*3600 {
					t.Errorf("token %+v", tok)
				}
			}
		})
	}

	t.Run("unknown email and wrong password cost one bcrypt comparison each", func(t *testing.T) {
		// Record every comparison bcrypt is asked to make, and the hash it
		// compares against.
		var mu sync.Mutex
		var compared [][]byte
		p := a.srv.passwords
		compare := p.Compare
		p.Compare = func(hash, password []byte) error {
			mu.Lock()
			compared = append(compared, hash)
			mu.Unlock()
			return compare(hash, password)
		}
		t.Cleanup(func() { p.Compare = compare })
		ada, err := a.store.GetCredentials(t.Context(), "ada@example.com")
		if err != nil {
			t.Fatal(err)
		}
		dummy := p.Dummy()
		// The dummy must cost what a real hash costs, or the timing differs.
		if cost, err := bcrypt.Cost(dummy); err != nil || cost != 4 {
			t.Fatalf("dummy hash %q: cost %d (%v), want a bcrypt hash at cost 4 (the pool's)", dummy, cost, err)
		}
		for _, tt := range []struct {
			body string
			hash []byte
		}{
			{credentials("bob@example.com", "password123"), dummy},
			{credentials("ada@example.com", "wrong-password"), []byte(ada.PasswordHash)},
		} {
			compared = nil
			a.do("POST", "/login", tt.body)
			if len(compared) != 1 || !bytes.Equal(compared[0], tt.hash) {
				t.Errorf("%s: compared against %q, want once against %q", tt.body, compared, tt.hash)
			}
		}
	})

	t.Run("unknown email and wrong password answer alike", func(t *testing.T) {
		unknown := problemOf(t, a.do("POST", "/login", credentials("bob@example.com", "password123")))
		wrong := problemOf(t, a.do("POST", "/login", credentials("ada@example.com", "wrong-password")))
		unknown.Instance, wrong.Instance = nil, nil
		if diff := cmp.Diff(unknown, wrong); diff != "" {
			t.Errorf("bodies differ (-unknown +wrong):\n%s", diff)
		}
	})
}

// TestHashPool saturates the bcrypt pool with logins: past HASH_QUEUE they
// get 503 with Retry-After, while GET / and GET /profile keep answering fast.
func TestHashPool(t *testing.T) {
	// serial: times GET / during bcrypt saturation against a budget; parallel tests would share the CPUs.
	if testing.Short() {
		t.Skip("slow: real bcrypt work")
	}
	pool := password.New(4, 2, 4)
	a := newTestAPIWith(t, pool)
	a.mustRegister("ada@example.com", "password123")
	token := a.mustLogin("ada@example.com", "password123")
	// Unknown emails compare against the dummy hash: make it cost about
	// 100 ms a comparison in this binary on this machine (the race detector
	// makes bcrypt many times slower), so six logins keep both workers busy
	// while the GETs below run.
	slow, err := bcrypt.GenerateFromPassword([]byte("x"), bcryptCostFor(t, 100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	pool.SetDummy(slow)

	ts := httptest.NewServer(a.srv)
	defer ts.Close()
	hc := a.client() // the 503s too must be documented problems
	const logins = 24
	var wg sync.WaitGroup
	codes := make(chan int, logins)
	for range logins {
		wg.Go(func() {
			// Unknown emails: each compares against the slow dummy hash.
			res, err := hc.Post(ts.URL+"/login", "application/json",
				strings.NewReader(credentials(fmt.Sprintf("u%d@example.com", time.Now().UnixNano()), "password123")))
			if err != nil {
				t.Error(err)
				return
			}
			res.Body.Close()
			if res.StatusCode == 503 && res.Header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
			codes <- res.StatusCode
		})
	}
	time.Sleep(50 * time.Millisecond) // let the pool fill

	// Budgets: without the pool, each GET would wait behind ~24 runnable
	// bcrypt goroutines (~10 ms slices each); with it, behind at most 2. They
	// are generous because this machine is shared: a quiet run shows a median
	// of ~2 ms.
	const medianBudget, worstBudget = 200 * time.Millisecond, 5 * time.Second
	var took []time.Duration
	for i := 0; i < 20; i++ {
		for _, path := range []string{"/", "/profile"} {
			req, _ := http.NewRequest("GET", ts.URL+path, nil)
			req.Header.Set("Authorization", "Bearer "+token)
			start := time.Now()
			res, err := hc.Do(req)
			took = append(took, time.Since(start))
			if err != nil || res.StatusCode != 200 {
				t.Fatalf("GET %s during saturation: %v %v", path, res, err)
			}
			res.Body.Close()
		}
	}
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	if count[503] == 0 || count[401] == 0 || count[401]+count[503] != logins {
		t.Errorf("login statuses %v: want some 401 and some 503", count)
	}
	slices.Sort(took)
	median, worst := took[len(took)/2], took[len(took)-1]
	if median > medianBudget || worst > worstBudget {
		t.Errorf("GET / and /profile during saturation: median %v (budget %v), slowest %v (budget %v)",
			median, medianBudget, worst, worstBudget)
	}
	t.Logf("logins %v; GET / and /profile: median %v, slowest %v", count, median, worst)
}

// bcryptCostFor is the bcrypt cost at which one hash takes about d here,
// timed at cost 6; between 6 and 14.
func bcryptCostFor(t *testing.T, d time.Duration) int {
	t.Helper()
	const probe = 6
	start := time.Now()
	if _, err := bcrypt.GenerateFromPassword([]byte("x"), probe); err != nil {
		t.Fatal(err)
	}
	cost := probe + int(math.Round(math.Log2(float64(d)/float64(time.Since(start)))))
	return max(probe, min(cost, 14))
}

// TestRefreshRotation: a refresh gives a new pair and spends the old
// refresh token; presenting the spent one ends the whole session, the
// refresh token that replaced it and every access token included.
func TestRefreshRotation(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	a.mustRegister("ada@example.com", "password123")
	first := a.mustLoginPair("ada@example.com", "password123")

	second := decode[oapi.Token](t, a.status(a.refresh(first.RefreshToken), 200, "refresh"))
	if second.RefreshToken == first.RefreshToken || second.Token == "" || second.TokenType != oapi.Bearer ||
		second.ExpiresIn != 900 || second.RefreshExpiresIn != 30*24*3600 {
		t.Fatalf("refreshed pair %+v", second)
	}
	if a.sessionOf(second.Token) != a.sessionOf(first.Token) {
		t.Error("a refresh changed the session")
	}
	third := decode[oapi.Token](t, a.status(a.refresh(second.RefreshToken), 200, "second refresh"))
	if a.profileStatus(third.Token) != 200 || a.profileStatus(first.Token) != 200 {
		t.Fatal("the session's access tokens should work before reuse")
	}

	// Reuse of a spent token, two generations back: the session ends.
	p := problemOf(t, a.status(a.refresh(first.RefreshToken), 401, "reuse"))
	if p.Detail == nil || *p.Detail != errBadRefresh.Detail {
		t.Errorf("reuse problem %+v", p)
	}
	a.status(a.refresh(third.RefreshToken), 401, "the replacing token after reuse")
	for _, tok := range []string{first.Token, second.Token, third.Token} {
		if got := a.profileStatus(tok); got != 401 {
			t.Errorf("access token after reuse detection: %d, want 401", got)
		}
	}

	t.Run("refused tokens", func(t *testing.T) {
		a := a.forInput(t)
		live := a.mustLoginPair("ada@example.com", "password123")
		forged := []byte(live.RefreshToken)
		forged[len(forged)-2] ^= 1
		for name, tok := range map[string]string{
			"not base64":            "!!!",
			"random":                strings.Repeat("A", 75),
			"forged MAC":            string(forged),
			"unknown but valid MAC": a.srv.refresh.Refresh(token.NewSessionID(), 1),
		} {
			if rec := a.refresh(tok); rec.Code != 401 {
				t.Errorf("%s: %d, want 401", name, rec.Code)
			}
		}
		// An access token is longer than any refresh token: the spec's
		// maxLength refuses it before keel looks at it.
		a.status(a.refresh(live.Token), 400, "an access token as the refresh token")
		a.status(a.do("POST", "/token/refresh", `{}`), 400, "no token")
		a.status(a.do("POST", "/token/refresh", `{"refresh_token":"x","extra":1}`), 400, "unknown field")
		// A forged token did not end the live session.
		a.status(a.refresh(live.RefreshToken), 200, "live token after forgeries")
	})
}

// TestRefreshConcurrent: many refreshes of one token at once. Strict (the
// default): exactly one gets a pair, the others 401, and, since a loser is
// indistinguishable from a thief, the session ends. With a reuse interval,
// every one gets the same current pair and the session lives.
func TestRefreshConcurrent(t *testing.T) {
	t.Parallel()
	const n = 8
	run := func(a *testAPI, token string) (codes map[int]int, refresh map[string]bool) {
		codes, refresh = map[int]int{}, map[string]bool{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				rec := a.refresh(token)
				mu.Lock()
				defer mu.Unlock()
				codes[rec.Code]++
				if rec.Code == 200 {
					refresh[decode[oapi.Token](a.t, rec).RefreshToken] = true
				}
			})
		}
		wg.Wait()
		return codes, refresh
	}

	t.Run("strict", func(t *testing.T) {
		a := newTestAPI(t)
		a.mustRegister("ada@example.com", "password123")
		pair := a.mustLoginPair("ada@example.com", "password123")
		codes, winners := run(a, pair.RefreshToken)
		if diff := cmp.Diff(map[int]int{200: 1, 401: n - 1}, codes); diff != "" {
			t.Fatalf("status counts (-want +got):\n%s", diff)
		}
		for tok := range winners {
			a.status(a.refresh(tok), 401, "the winner's token after the losers' reuse")
		}
		if a.profileStatus(pair.Token) != 401 {
			t.Error("the session lives on after a lost race")
		}
	})
	t.Run("reuse interval", func(t *testing.T) {
		a := newTestAPI(t, func(c *Config) { c.RefreshReuseInterval = time.Minute })
		a.mustRegister("ada@example.com", "password123")
		pair := a.mustLoginPair("ada@example.com", "password123")
		codes, got := run(a, pair.RefreshToken)
		if diff := cmp.Diff(map[int]int{200: n}, codes); diff != "" {
			t.Fatalf("status counts (-want +got):\n%s", diff)
		}
		if len(got) != 1 {
			t.Fatalf("%d different refresh tokens, want the one current", len(got))
		}
		for tok := range got {
			a.status(a.refresh(tok), 200, "the current token")
		}
	})
}

// TestRefreshReuseInterval: within the interval the token just replaced
// gets the current pair; after it, it is a reuse; an older one always is.
func TestRefreshReuseInterval(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, func(c *Config) { c.RefreshReuseInterval = 10 * time.Second })
	a.mustRegister("ada@example.com", "password123")
	first := a.mustLoginPair("ada@example.com", "password123")
	second := decode[oapi.Token](t, a.status(a.refresh(first.RefreshToken), 200, "refresh"))

	a.clock.Add(5 * time.Second)
	again := decode[oapi.Token](t, a.status(a.refresh(first.RefreshToken), 200, "within the interval"))
	if again.RefreshToken != second.RefreshToken {
		t.Error("within the interval the answer is not the current refresh token")
	}
	a.clock.Add(6 * time.Second)
	a.status(a.refresh(first.RefreshToken), 401, "after the interval")
	a.status(a.refresh(second.RefreshToken), 401, "the current token after reuse")

	t.Run("older than the one just replaced", func(t *testing.T) {
		a := a.forInput(t)
		p1 := a.mustLoginPair("ada@example.com", "password123")
		p2 := decode[oapi.Token](t, a.status(a.refresh(p1.RefreshToken), 200, "refresh"))
		a.status(a.refresh(p2.RefreshToken), 200, "refresh")
		a.status(a.refresh(p1.RefreshToken), 401, "two generations back")
		a.status(a.refresh(p2.RefreshToken), 401, "session ended")
	})
}

// TestExpiry: access tokens die after JWT_TTL, refresh tokens after
// REFRESH_TTL (counted from the last refresh), by the injected clock.
func TestExpiry(t *testing.T) {
	t.Parallel()
	// REFRESH_TTL alone: a session's absolute lifetime (SESSION_MAX_AGE,
	// TestSessionMaxAge) set beyond the 58 days this session is refreshed for.
	a := newTestAPI(t, func(c *Config) { c.SessionMaxAge = 365 * 24 * time.Hour })
	a.mustRegister("ada@example.com", "password123")
	pair := a.mustLoginPair("ada@example.com", "password123")
	a.clock.Add(16 * time.Minute)
	if got := a.profileStatus(pair.Token); got != 401 {
		t.Errorf("access token after JWT_TTL: %d", got)
	}
	a.clock.Add(29 * 24 * time.Hour)
	pair = decode[oapi.Token](t, a.status(a.refresh(pair.RefreshToken), 200, "refresh after 29 days"))
	a.clock.Add(29 * 24 * time.Hour) // 58 days after login, 29 after the refresh
	pair = decode[oapi.Token](t, a.status(a.refresh(pair.RefreshToken), 200, "refresh 29 days after the last"))
	a.clock.Add(30*24*time.Hour + time.Second)
	a.status(a.refresh(pair.RefreshToken), 401, "refresh after REFRESH_TTL")
	if got := a.profileStatus(pair.Token); got != 401 {
		t.Errorf("access token of an expired session: %d", got)
	}
}

// TestEmailVerification, end to end: registration queues the email (in its
// transaction), the worker makes the token and the console mailer logs it;
// the token verifies once, until VERIFY_TTL.
func TestEmailVerification(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	a.startJobs()
	a.mustRegisterUnverified("ada@example.com", "password123")
	tok := a.mustLogin("ada@example.com", "password123")
	if decode[oapi.User](t, a.do("GET", "/profile", "", bearer(tok)...)).EmailVerified {
		t.Fatal("verified before verifying")
	}
	token := a.waitEmail("ada@example.com", "Confirm", 0)

	a.status(a.do("POST", "/email/verify", jsonBody("token", "not-a-token"), bearer(tok)...), 400, "unknown token")
	a.status(a.do("POST", "/email/verify", jsonBody("token", token), bearer(tok)...), 204, "verify")
	if !decode[oapi.User](t, a.do("GET", "/profile", "", bearer(tok)...)).EmailVerified {
		t.Error("not verified after verifying")
	}
	p := problemOf(t, a.status(a.do("POST", "/email/verify", jsonBody("token", token), bearer(tok)...), 400, "used token"))
	if p.Errors == nil || (*p.Errors)[0].Field != "/token" {
		t.Errorf("problem %+v does not name /token", p)
	}

	t.Run("resend and expiry", func(t *testing.T) {
		a := a.forInput(t)
		a.mustRegisterUnverified("bob@example.com", "password123")
		bob := a.mustLogin("bob@example.com", "password123")
		a.waitEmail("bob@example.com", "Confirm", 0)
		a.status(a.do("POST", "/email/verify/resend", "", bearer(bob)...), 202, "resend")
		a.status(a.do("POST", "/email/verify/resend", ""), 401, "resend without a token")
		second := a.waitEmail("bob@example.com", "Confirm", 1)
		a.clock.Add(24*time.Hour + time.Second)
		a.status(a.do("POST", "/email/verify", jsonBody("token", second, "password", "password123")), 400, "expired token")
	})

	t.Run("a token works until VERIFY_TTL", func(t *testing.T) {
		a := a.forInput(t)
		a.mustRegisterUnverified("cy@example.com", "password123")
		token := a.waitEmail("cy@example.com", "Confirm", 0)
		a.clock.Add(testVerifyTTL - time.Minute)
		a.status(a.do("POST", "/email/verify", jsonBody("token", token, "password", "password123")), 204, "a minute before VERIFY_TTL")
	})
}

// TestPasswordReset, end to end: forgot answers alike for any address and
// queues the same work; the emailed token resets once, until RESET_TTL, and
// ends every session.
func TestPasswordReset(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	a.startJobs()
	a.mustRegister("ada@example.com", "password123")
	s1 := a.mustLoginPair("ada@example.com", "password123")
	s2 := a.mustLoginPair("ada@example.com", "password123")

	known := a.status(a.do("POST", "/password/forgot", jsonBody("email", "ADA@example.com")), 202, "forgot, known")
	unknown := a.status(a.do("POST", "/password/forgot", jsonBody("email", "nobody@example.com")), 202, "forgot, unknown")
	if known.Body.String() != unknown.Body.String() {
		t.Errorf("answers differ: %s vs %s", known.Body, unknown.Body)
	}
	var jobs int
	if err := a.db.raw.QueryRow(`SELECT count(*) FROM river_job WHERE kind = 'reset-password'`).Scan(&jobs); err != nil || jobs != 2 {
		t.Errorf("reset jobs queued: %d (%v), want one per request, known or not", jobs, err)
	}
	token := a.waitEmail("ada@example.com", "Reset", 0)

	reset := func(token, password string) string { return jsonBody("token", token, "new_password", password) }
	a.status(a.do("POST", "/password/reset", reset(token, "short")), 400, "short password")
	a.status(a.do("POST", "/password/reset", reset("unknown-token", "new-password-1")), 400, "unknown token")
	a.status(a.do("POST", "/password/reset", reset(token, "new-password-1")), 204, "reset")
	a.status(a.do("POST", "/password/reset", reset(token, "new-password-2")), 400, "used token")
	for _, s := range []oapi.Token{s1, s2} {
		if got := a.profileStatus(s.Token); got != 401 {
			t.Errorf("session after reset: %d", got)
		}
		a.status(a.refresh(s.RefreshToken), 401, "refresh after reset")
	}
	a.status(a.do("POST", "/login", credentials("ada@example.com", "password123")), 401, "old password")
	a.mustLogin("ada@example.com", "new-password-1")

	t.Run("expired", func(t *testing.T) {
		a := a.forInput(t)
		a.status(a.do("POST", "/password/forgot", jsonBody("email", "ada@example.com")), 202, "forgot")
		token := a.waitEmail("ada@example.com", "Reset", 1)
		a.clock.Add(31 * time.Minute)
		a.status(a.do("POST", "/password/reset", reset(token, "new-password-3")), 400, "expired token")
		a.mustLogin("ada@example.com", "new-password-1")
	})

	t.Run("a reset voids the other links, which work until RESET_TTL", func(t *testing.T) {
		a := a.forInput(t)
		a.status(a.do("POST", "/password/forgot", jsonBody("email", "ada@example.com")), 202, "forgot")
		first := a.waitEmail("ada@example.com", "Reset", 2)
		a.clock.Add(time.Minute) // past the per-email limit
		a.status(a.do("POST", "/password/forgot", jsonBody("email", "ada@example.com")), 202, "forgot again")
		second := a.waitEmail("ada@example.com", "Reset", 3)
		a.clock.Add(testResetTTL - 2*time.Minute) // the first has a minute left
		a.status(a.do("POST", "/password/reset", reset(second, "new-password-4")), 204, "reset before RESET_TTL")
		a.status(a.do("POST", "/password/reset", reset(first, "new-password-5")), 400, "another link after a reset")
		a.mustLogin("ada@example.com", "new-password-4")
	})

	// Only the console mailer's lines may hold a token; no log line holds a
	// refresh token's hash.
	secrets := []string{s1.Token, s1.RefreshToken, s2.RefreshToken, token, db.HashToken(s1.RefreshToken), db.HashToken(token)}
	for _, line := range strings.Split(a.logs.String(), "\n") {
		if strings.Contains(line, `"msg":"email (console mailer`) {
			continue
		}
		for _, s := range secrets {
			if strings.Contains(line, s) {
				t.Errorf("a log line holds a secret: %s", line)
			}
		}
	}
}

// TestRegisterParallelDistinct registers many distinct emails at once: every
// one gets 201 with its own id (the single writer connection queues them
// instead of failing with "database is locked"), and every one can log in.
func TestRegisterParallelDistinct(t *testing.T) {
	t.Parallel()
	a := loadAPI(t)
	const n = 64
	users := make([]oapi.User, n)
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			rec := a.do("POST", "/register", credentials(fmt.Sprintf("user%02d@example.com", i), "password123"))
			codes[i] = rec.Code
			if rec.Code == http.StatusCreated {
				users[i] = decode[oapi.User](t, rec)
			}
		})
	}
	wg.Wait()
	ids := map[int64]bool{}
	for i, c := range codes {
		if c != http.StatusCreated {
			t.Errorf("user%02d: %d", i, c)
			continue
		}
		if want := fmt.Sprintf("user%02d@example.com", i); string(users[i].Email) != want || ids[users[i].ID] {
			t.Errorf("user%02d: got %+v (duplicate id or wrong email)", i, users[i])
		}
		ids[users[i].ID] = true
	}
	for i := range n {
		a.mustLogin(fmt.Sprintf("user%02d@example.com", i), "password123")
	}
	checkLogs(t, a)
}

// TestRegisterRaceAnyCase extends TestRegisterRace: the same address written
// in different cases, registered at once, still makes exactly
// one account.
func TestRegisterRaceAnyCase(t *testing.T) {
	t.Parallel()
	a := loadAPI(t)
	variants := []string{"race@example.com", "RACE@example.com", "Race@Example.com", "race@EXAMPLE.COM", "rAcE@eXaMpLe.CoM"}
	const rounds = 4
	codes := make(chan int, len(variants)*rounds)
	var wg sync.WaitGroup
	for range rounds {
		for _, v := range variants {
			wg.Go(func() { codes <- a.do("POST", "/register", credentials(v, "password123")).Code })
		}
	}
	wg.Wait()
	close(codes)
	got := map[int]int{}
	for c := range codes {
		got[c]++
	}
	if diff := cmp.Diff(map[int]int{201: 1, 409: len(variants)*rounds - 1}, got); diff != "" {
		t.Errorf("status counts (-want +got):\n%s", diff)
	}
	checkLogs(t, a)
}
