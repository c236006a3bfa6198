package server

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/gen/oapi"
	"github.com/keelhq/keel/internal/contract"
	"github.com/keelhq/keel/internal/testutil"
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

// testConfig is LoadConfig's defaults with a test secret and bcrypt's
// cheapest cost, so tests spend their time on keel rather than on hashing.
func testConfig(t *testing.T) Config {
	t.Helper()
	cfg, err := LoadConfig(func(name string) string {
		switch name {
		case "JWT_SECRET":
			return "test-secret-0123456789abcdef0123456789"
		case "BCRYPT_COST":
			return "4"
		case "AUTH_RATE_LIMIT":
			return "0" // tests send many requests from one address; TestRateLimit turns it on
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

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
}

func newTestAPI(t *testing.T, change ...func(*Config)) *testAPI {
	t.Helper()
	cfg := testConfig(t)
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
	a.srv = New(cfg, NewLogger(a.logs, "json", slog.LevelDebug), d.store, Options{Now: a.clock.Now})
	t.Cleanup(func() { a.srv.Close(context.Background()) })
	return a
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
	rec := httptest.NewRecorder()
	a.srv.ServeHTTP(rec, req)
	check := spec.Check
	if a.broken {
		check = spec.CheckServerFault
	}
	if err := check(req, rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
		a.t.Errorf("contract: %v", err)
	}
	return rec
}

// mustRegister registers email with password and fails the test otherwise.
func (a *testAPI) mustRegister(email, password string) oapi.User {
	a.t.Helper()
	rec := a.do("POST", "/register", credentials(email, password))
	if rec.Code != http.StatusCreated {
		a.t.Fatalf("register %s: %d %s", email, rec.Code, rec.Body)
	}
	return decode[oapi.User](a.t, rec)
}

// mustLogin logs in and returns the token.
func (a *testAPI) mustLogin(email, password string) string {
	a.t.Helper()
	rec := a.do("POST", "/login", credentials(email, password))
	if rec.Code != http.StatusOK {
		a.t.Fatalf("login %s: %d %s", email, rec.Code, rec.Body)
	}
	return decode[oapi.Token](a.t, rec).Token
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
