package server

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/gen/oapi"
	"github.com/keelhq/keel/internal/contract"
	"github.com/keelhq/keel/internal/jobs"
	"github.com/keelhq/keel/internal/jsonlog"
	"github.com/keelhq/keel/internal/keys"
	"github.com/keelhq/keel/internal/mail"
	"github.com/keelhq/keel/internal/mfa"
	"github.com/keelhq/keel/internal/oidc"
	"github.com/keelhq/keel/internal/passkey"
	"github.com/keelhq/keel/internal/password"
	"github.com/keelhq/keel/internal/testutil"
	"github.com/keelhq/keel/internal/token"
)

// spec is the contract every response in these tests is checked against.
var spec = func() *contract.Validator {
	v, err := contract.New()
	if err != nil {
		panic(err)
	}
	return v
}()

// syncBuffer is shared with the logger under test.
type syncBuffer = testutil.SyncBuffer

// clock is a settable time source for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testPasskeyConfig is the relying party of the tests' servers: the one
// virtualwebauthn's testRP signs for.
var testPasskeyConfig = passkey.Config{RPID: "example.com", RPName: "keel", Origins: []string{"https://app.example.com"}}

// testSecret signs the tests' tokens.
const testSecret = "test-secret-0123456789abcdef0123456789"

// The settings cmd/keel defaults to, which the tests' job engine and tokens use.
const (
	testJWTTTL    = 15 * time.Minute
	testVerifyTTL = 24 * time.Hour
	testResetTTL  = 30 * time.Minute
	testPublicURL = "http://localhost:8080"
)

// testConfig is cmd/keel's defaults with no rate limit: tests send many
// requests from one address (TestRateLimit turns it on).
func testConfig() Config {
	return Config{BodyLimit: 64 << 10, AuthRateLimit: 0, RefreshTTL: 720 * time.Hour, Issuer: testIssuer}
}

// testIssuer is the tests' API_URL, the iss of their tokens; testKEK their
// KEYS_KEK.
const (
	testIssuer = "http://keel.test"
	testKEK    = "test-kek-0123456789abcdef0123456789abcdef"
)

// testRing opens the signing keys of a test's database (EdDSA, as a new
// install), not running: no test here waits on a rotation.
func testRing(tb testing.TB, store db.Store) *keys.Ring {
	tb.Helper()
	st, ok := store.(keys.Store)
	if !ok {
		tb.Fatalf("%T keeps no signing keys", store)
	}
	r, err := keys.Open(context.Background(), st, keys.Config{Alg: keys.EdDSA, KEK: []byte(testKEK),
		TokenTTL: testJWTTTL, Leeway: token.Leeway, MaxAge: time.Minute})
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// testTokens is an Issuer as cmd/keel builds one, over ring, with the
// given lifetime and clock.
func testTokens(ring *keys.Ring, ttl time.Duration, now func() time.Time) *token.Issuer {
	return token.New([]byte(testSecret), ttl, now, token.WithKeys(ring), token.WithClaims(testIssuer, token.DefaultAudience))
}

// issuer is testTokens over the test's own keys.
func (a *testAPI) issuer(ttl time.Duration, now func() time.Time) *token.Issuer {
	return testTokens(a.srv.keys.(*keys.Ring), ttl, now)
}

// testPasswords is the bcrypt pool at bcrypt's cheapest cost, so tests spend
// their time on keel rather than on hashing; workers and queue are
// cmd/keel's defaults.
func testPasswords() *password.Pool { return password.New(4, runtime.NumCPU(), 64) }

// testAPI is a Server over a fresh database (see newTestDB).
type testAPI struct {
	t     *testing.T
	srv   *Server
	db    testDB
	store db.Store
	clock *clock
	logs  *syncBuffer
	// broken is set by a test that breaks the server on purpose (closes its
	// database), where a 500 is the right answer.
	broken bool
	// jobs is the job engine, not started: emails wait in the queue until a
	// test calls startJobs.
	jobs *jobs.Engine
}

func newTestAPI(t *testing.T, change ...func(*Config)) *testAPI {
	t.Helper()
	return newTestAPIWith(t, testPasswords(), change...)
}

// newTestAPIWith is newTestAPI with the given bcrypt pool.
func newTestAPIWith(t *testing.T, passwords *password.Pool, change ...func(*Config)) *testAPI {
	t.Helper()
	return buildTestAPI(t, passwords, nil, nil, change...)
}

// newTestAPIWithProviders is newTestAPI whose Server signs in with
// providers (see oidc.Discover); deps, when not nil, adjusts the rest of its
// dependencies (its Store, say, which the test's own store field is not).
func newTestAPIWithProviders(t *testing.T, providers oidc.Providers, deps func(*Deps), change ...func(*Config)) *testAPI {
	t.Helper()
	return buildTestAPI(t, testPasswords(), providers, deps, change...)
}

// buildTestAPI is a testAPI with the given bcrypt pool and providers (nil:
// none); deps, when not nil, adjusts the Server's dependencies.
func buildTestAPI(t *testing.T, passwords *password.Pool, providers oidc.Providers, deps func(*Deps), change ...func(*Config)) *testAPI {
	t.Helper()
	cfg := testConfig()
	for _, f := range change {
		f(&cfg)
	}
	d := newTestDB(t)
	a := &testAPI{
		t:     t,
		db:    d,
		store: d.store,
		clock: &clock{t: time.Now()},
		logs:  &syncBuffer{},
	}
	log := slog.New(jsonlog.New(a.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a.srv, a.jobs = newServer(t, cfg, d, log, a.clock.Now, passwords, func(d *Deps) {
		d.Providers = providers
		if deps != nil {
			deps(d)
		}
	})
	return a
}

// newServer builds a Server over d for a test or benchmark, with a real job
// engine on d (the console mailer writing to log, emailed tokens expiring by
// now), not started; change adjusts its dependencies.
func newServer(tb testing.TB, cfg Config, d testDB, log *slog.Logger, now func() time.Time, passwords *password.Pool, change ...func(*Deps)) (*Server, *jobs.Engine) {
	tb.Helper()
	mfaKeys, err := mfa.New([]byte(testSecret))
	if err != nil {
		tb.Fatal(err)
	}
	rp, err := passkey.New(testPasskeyConfig)
	if err != nil {
		tb.Fatal(err)
	}
	ring := testRing(tb, d.store)
	deps := Deps{
		Passkeys:  rp,
		Log:       log,
		Store:     d.store,
		Tokens:    testTokens(ring, testJWTTTL, now),
		Keys:      ring,
		Refresh:   token.NewRefresher([]byte(testSecret)),
		Passwords: passwords,
		Now:       now,
		MFA:       mfaKeys,
	}
	for _, f := range change {
		f(&deps)
	}
	srv := New(cfg, deps)
	tb.Cleanup(func() { srv.Close(context.Background()) })
	// The watch that closes sockets of ended sessions, listening before the
	// test begins (a NOTIFY sent earlier would reach nobody).
	watchCtx, stopWatch := context.WithCancel(context.Background())
	watched := make(chan struct{})
	go func() { defer close(watched); srv.Watch(watchCtx) }()
	tb.Cleanup(func() { stopWatch(); <-watched })
	select {
	case <-srv.Watching():
	case <-time.After(10 * time.Second):
		tb.Fatal("the session watch did not start listening")
	}
	e, err := jobs.New(d.store, d.jobs, jobs.Config{
		// Webhooks' 20 ms first retry makes the engine poll for jobs as
		// often as it does (50 ms); no test here needs the periodic count.
		CountUsersEvery: time.Hour,
		Log:             log,
		Registry:        srv.Registry(),
		Mailer:          mail.Console{Log: log, From: "keel@example.com"},
		PublicURL:       testPublicURL,
		VerifyTTL:       testVerifyTTL,
		ResetTTL:        testResetTTL,
		Now:             now,
		// Webhooks as keel serve has them, retried fast.
		Webhooks: jobs.WebhooksConfig{Sealer: mfaKeys, AllowPrivate: cfg.WebhooksAllowPrivate, Timeout: 2 * time.Second,
			RetryMin: 20 * time.Millisecond, RetryFor: time.Minute},
	})
	if err != nil {
		tb.Fatal(err)
	}
	srv.UseJobs(e)
	if h, ok := d.store.(interface {
		SetEventHook(func(context.Context, *sql.Tx, db.Event) error)
	}); ok {
		h.SetEventHook(e.EventHook)
	}
	return srv, e
}

// startJobs starts the job engine, so queued emails are sent (to the log).
func (a *testAPI) startJobs() {
	a.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	if err := a.jobs.Start(ctx); err != nil {
		a.t.Fatal(err)
	}
	a.t.Cleanup(func() {
		stopCtx, stop := context.WithTimeout(context.Background(), 5*time.Second)
		defer stop()
		_ = a.jobs.Stop(stopCtx)
		cancel()
	})
}

var emailToken = regexp.MustCompile(`token=([A-Za-z0-9_-]{43})`)

// waitEmail waits for the console mailer's email to `to` whose subject
// holds `subject`, skipping the first `skip` such emails, and returns the
// token in it.
func (a *testAPI) waitEmail(to, subject string, skip int) string {
	a.t.Helper()
	// Long enough for a job engine starved of CPU by the tests around it: a
	// passing test never waits it out.
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		n := 0
		for _, line := range strings.Split(a.logs.String(), "\n") {
			var rec struct{ Msg, To, Subject, Text string }
			if json.Unmarshal([]byte(line), &rec) != nil || !strings.HasPrefix(rec.Msg, "email") || rec.To != to || !strings.Contains(rec.Subject, subject) {
				continue
			}
			if n++; n > skip {
				if m := emailToken.FindStringSubmatch(rec.Text); m != nil {
					return m[1]
				}
				a.t.Fatalf("email without a token: %s", line)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	a.t.Fatalf("no email %q to %s after %d in the log:\n%s", subject, to, skip, a.logs.String())
	return ""
}

// do sends a request through the real router, checks the response against
// the spec, and returns it. hdr is a list of name, value pairs.
func (a *testAPI) do(method, path, body string, hdr ...string) *httptest.ResponseRecorder {
	a.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return a.serve(req)
}

// serve is do for a request the test builds itself (a peer address, a body
// of unknown length, a reader that counts what the server consumed).
func (a *testAPI) serve(req *http.Request) *httptest.ResponseRecorder {
	a.t.Helper()
	rec := httptest.NewRecorder()
	a.srv.ServeHTTP(rec, req)
	a.check(req, rec)
	return rec
}

// check checks a response the test got some other way against the spec.
func (a *testAPI) check(req *http.Request, rec *httptest.ResponseRecorder) {
	a.t.Helper()
	check := spec.Check
	if a.broken {
		check = spec.CheckServerFault
	}
	if err := check(req, rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
		a.t.Errorf("contract: %v", err)
	}
}

// client is an http.Client whose every response is checked against the
// spec, for tests that need a real listener (httptest.NewServer).
func (a *testAPI) client() *http.Client {
	return &http.Client{Transport: &contract.Transport{V: spec, Fail: a.t.Errorf}}
}

// mustRegister registers email with password and proves the address, as
// its owner would with the mailed link, and fails the test otherwise: an
// ordinary user, who may add factors, passkeys and provider accounts.
func (a *testAPI) mustRegister(email, password string) oapi.User {
	a.t.Helper()
	u := a.mustRegisterUnverified(email, password)
	a.mustVerifyEmail(u)
	u.EmailVerified = true
	return u
}

// mustRegisterUnverified registers email with password and fails the test
// otherwise; the address stays unproved.
func (a *testAPI) mustRegisterUnverified(email, password string) oapi.User {
	a.t.Helper()
	rec := a.do("POST", "/register", credentials(email, password))
	if rec.Code != http.StatusCreated {
		a.t.Fatalf("register %s: %d %s", email, rec.Code, rec.Body)
	}
	return decode[oapi.User](a.t, rec)
}

// mustVerifyEmail proves u's address through the store's verification of a
// token (what the mailed link spends), without waiting for the mail.
func (a *testAPI) mustVerifyEmail(u oapi.User) {
	a.t.Helper()
	tok := token.NewSessionID()
	ctx := context.Background()
	err := a.store.CreateOneTimeToken(ctx, db.OneTimeToken{Hash: db.HashToken(tok), UserID: u.ID,
		Purpose: db.PurposeVerifyEmail, Email: u.Email, ExpiresAt: a.clock.Now().Add(time.Hour)})
	if err == nil {
		err = a.store.VerifyEmail(ctx, db.HashToken(tok), u.ID, a.clock.Now())
	}
	if err != nil {
		a.t.Fatalf("verify %s: %v", u.Email, err)
	}
}

// mustLogin logs in and returns the access token.
func (a *testAPI) mustLogin(email, password string) string {
	a.t.Helper()
	return a.mustLoginPair(email, password).Token
}

// mustLoginPair logs in and returns the whole answer.
func (a *testAPI) mustLoginPair(email, password string, hdr ...string) oapi.Token {
	a.t.Helper()
	rec := a.do("POST", "/login", credentials(email, password), hdr...)
	if rec.Code != http.StatusOK {
		a.t.Fatalf("login %s: %d %s", email, rec.Code, rec.Body)
	}
	return decode[oapi.Token](a.t, rec)
}

// sessionOf is the session id an access token names.
func (a *testAPI) sessionOf(token string) string {
	a.t.Helper()
	p, err := a.srv.tokens.Verify(token)
	if err != nil {
		a.t.Fatal(err)
	}
	return p.SessionID
}

func credentials(email, password string) string {
	b, _ := json.Marshal(map[string]string{"email": email, "password": password})
	return string(b)
}

func decode[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("decode %T from %q: %v", v, rec.Body, err)
	}
	return v
}

// problemOf decodes a problem+json answer.
func problemOf(t *testing.T, rec *httptest.ResponseRecorder) oapi.Problem {
	t.Helper()
	return decode[oapi.Problem](t, rec)
}

func bearer(token string) []string { return []string{"Authorization", "Bearer " + token} }

func jsonBody(kv ...string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func (a *testAPI) refresh(token string) *httptest.ResponseRecorder {
	a.t.Helper()
	return a.do("POST", "/token/refresh", jsonBody("refresh_token", token))
}

// status checks a response's status and returns it for more checks.
func (a *testAPI) status(rec *httptest.ResponseRecorder, want int, what string) *httptest.ResponseRecorder {
	a.t.Helper()
	if rec.Code != want {
		a.t.Fatalf("%s: status %d, want %d: %s", what, rec.Code, want, rec.Body)
	}
	return rec
}

// profileStatus is the status GET /profile gives the access token. GET
// /profile checks the session in its own query, every other bearer operation
// in the validator: GET /sessions must agree, so each test that sees a
// session end (or live) sees it through both paths.
func (a *testAPI) profileStatus(token string) int {
	a.t.Helper()
	profile := a.do("GET", "/profile", "", bearer(token)...).Code
	if sessions := a.do("GET", "/sessions", "", bearer(token)...).Code; (sessions == 200) != (profile == 200) {
		a.t.Errorf("GET /profile says %d but GET /sessions says %d for the same token", profile, sessions)
	}
	return profile
}

// loadAPI is a test API for concurrency: bcrypt cost 4, no rate limit, and a
// bcrypt queue deep enough that no request is turned away with 503.
func loadAPI(t *testing.T) *testAPI {
	return newTestAPIWith(t, password.New(4, runtime.NumCPU(), 1<<12))
}
