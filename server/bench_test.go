package server

// Benchmarks: every route through the real router (Echo, request logging,
// recover, the spec's request validator, the strict handlers), a few through a
// real loopback listener, and the parts on their own: the validator, JWT
// sign/verify, the queries. `make bench` runs them; `make load` is the
// side-by-side load test against go-bare and node-fastify.
//
// Benchmarks check only the status code, never the spec (that check costs
// more than the request). bcrypt runs at cost 4 unless the name says
// otherwise, so that login and register measure keel rather than bcrypt.
//
// The Bare* benchmarks are the floor of the shared harness's go-bare peer,
// in-process: net/http's mux, encoding/json, keel's store and tokens, no
// validation and no logging. Read Get*/Bare* as the overhead keel adds.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/labstack/echo/v4"

	"github.com/keelhq/keel/api"
	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/internal/jsonlog"
	"github.com/keelhq/keel/internal/keys"
	"github.com/keelhq/keel/internal/password"
	"github.com/keelhq/keel/internal/token"
)

// benchAPI is a Server over a fresh SQLite database, logging JSON lines at
// info level (keel's default) to a real file, as the load harness does with
// keel's stdout; logTo "discard" drops the lines after formatting them.
type benchAPI struct {
	b       *testing.B
	srv     *Server
	store   db.Store
	token   string // a valid bearer token for user userID
	user    int64
	session string // the session of token
	email   string
	alg     string // the tokens' algorithm
}

// issuer is an Issuer of tokens the server accepts (its algorithm, its
// secret or keys, its iss and aud) with the given lifetime and clock.
func (a *benchAPI) issuer(ttl time.Duration, now func() time.Time) *token.Issuer {
	if a.alg == "HS256" {
		return token.New([]byte(testSecret), ttl, now, token.WithClaims(testIssuer, token.DefaultAudience))
	}
	return testTokens(a.srv.keys.(*keys.Ring), ttl, now)
}

const benchPassword = "correct horse battery"

// lockedWriter is a buffered log file shared by the handler's goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// benchAlgs are the access tokens' algorithms GET /profile is measured
// with: HS256 under JWT_SECRET (an install that has not switched to signing
// keys) and EdDSA from the key ring (a new install's default).
var benchAlgs = []string{"HS256", keys.EdDSA}

// newBenchAPI is newBenchAPIAlg with EdDSA tokens, as a new install signs.
func newBenchAPI(b *testing.B, logTo string, bcryptCost int) *benchAPI {
	b.Helper()
	return newBenchAPIAlg(b, logTo, bcryptCost, keys.EdDSA)
}

// newBenchAPIAlg is a benchAPI whose tokens are signed with alg: "HS256"
// is token.New without keys, as cmd/keel builds it with JWT_ALG=HS256 (and
// no published keys); any other is the test key ring's. change alters the
// server's collaborators after that.
func newBenchAPIAlg(b *testing.B, logTo string, bcryptCost int, alg string, change ...func(*Deps)) *benchAPI {
	b.Helper()
	// The load harness's setting: no rate limit (measure keel, not the limiter).
	cfg := testConfig()
	dir := b.TempDir()
	d := newTestDB(b)
	store := d.store
	var w io.Writer = io.Discard
	if logTo == "file" {
		f, err := os.Create(filepath.Join(dir, "keel.log"))
		if err != nil {
			b.Fatal(err)
		}
		// As keel serve writes its log: buffered (cmd/keel also flushes
		// every 100 ms).
		buf := &lockedWriter{w: bufio.NewWriterSize(f, 64<<10)}
		b.Cleanup(func() { buf.w.Flush(); f.Close() })
		w = buf
	}
	a := &benchAPI{b: b, store: store, alg: alg}
	log := slog.New(jsonlog.New(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
	hs256 := func(deps *Deps) {
		if alg == "HS256" {
			deps.Tokens = a.issuer(testJWTTTL, time.Now)
			deps.Keys = nil
		}
	}
	a.srv, _ = newServer(b, cfg, d, log, time.Now, password.New(bcryptCost, runtime.NumCPU(), 64), append([]func(*Deps){hs256}, change...)...)
	if got := a.srv.tokens.Alg(); got != alg {
		b.Fatalf("tokens signed with %s, want %s", got, alg)
	}

	a.email = "bench@example.com"
	hash, err := a.srv.passwords.Hash(context.Background(), benchPassword)
	if err != nil {
		b.Fatal(err)
	}
	row, err := store.CreateUser(context.Background(), a.email, string(hash), time.Now(), nil)
	if err != nil {
		b.Fatal(err)
	}
	a.user = row.ID
	a.session = token.NewSessionID()
	now := time.Now()
	if err := store.CreateSession(context.Background(), db.Session{ID: a.session, UserID: row.ID, CreatedAt: now, LastUsedAt: now,
		Generation: 1, RefreshHash: "bench", RotatedAt: now, RefreshExpiresAt: now.Add(time.Hour)}); err != nil {
		b.Fatal(err)
	}
	if a.token, err = a.srv.tokens.Issue(token.Principal{UserID: row.ID, SessionID: a.session}); err != nil {
		b.Fatal(err)
	}
	return a
}

// request is one prepared request; serve replays it through the router.
type request struct {
	method, path, body string
	hdr                []string // name, value pairs
}

func (r request) build() *http.Request {
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	req := httptest.NewRequest(r.method, r.path, body)
	if r.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(r.hdr); i += 2 {
		req.Header.Set(r.hdr[i], r.hdr[i+1])
	}
	return req
}

// discardRecorder is an http.ResponseWriter that keeps only the status, so
// the benchmark measures the server rather than a growing recorder buffer.
type discardRecorder struct {
	h    http.Header
	code int
}

func (d *discardRecorder) Header() http.Header {
	if d.h == nil {
		d.h = make(http.Header, 4)
	}
	return d.h
}
func (d *discardRecorder) WriteHeader(code int) {
	if d.code == 0 {
		d.code = code
	}
}
func (d *discardRecorder) Write(p []byte) (int, error) {
	if d.code == 0 {
		d.code = http.StatusOK
	}
	return len(p), nil
}

// benchRoute serves the request b.N times through h on all GOMAXPROCS
// goroutines and fails on any status other than want.
func benchRoute(b *testing.B, h http.Handler, want int, next func() *http.Request) {
	b.Helper()
	// One request first, so a wrong status fails fast with its body.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, next())
	if rec.Code != want {
		b.Fatalf("status %d, want %d: %s", rec.Code, want, rec.Body)
	}
	var bad atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuPerOp(b)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w := &discardRecorder{}
			h.ServeHTTP(w, next())
			if w.code != want {
				bad.Add(1)
			}
		}
	})
	b.StopTimer()
	cpu()
	if n := bad.Load(); n > 0 {
		b.Fatalf("%d of %d requests did not answer %d", n, b.N, want)
	}
}

// cpuPerOp starts counting the process's CPU time (user and system, every
// thread: the collector's and the job engine's too); the function it
// returns reports it per operation as cpu-ns/op. On this shared 2-core
// machine ns/op (wall clock) moves with the neighbours' load; the CPU time
// an operation costs moves far less.
func cpuPerOp(b *testing.B) func() {
	start := cpuTime()
	return func() { b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op") }
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// fixed returns copies of one request, parsed once: a shallow copy with its
// own header map and a fresh body, about what net/http's server allocates per
// request, so the figures are the server's rather than httptest's parser.
func fixed(r request) func() *http.Request {
	tmpl := r.build()
	return func() *http.Request { return copyRequest(tmpl, r.body) }
}

func copyRequest(tmpl *http.Request, body string) *http.Request {
	req := new(http.Request)
	*req = *tmpl
	req.Header = tmpl.Header.Clone()
	if body != "" {
		req.Body = io.NopCloser(strings.NewReader(body))
	}
	return req
}

// Every route, through the real router.

func BenchmarkGetHealth(b *testing.B) {
	for _, logTo := range []string{"file", "discard"} {
		b.Run("log="+logTo, func(b *testing.B) {
			a := newBenchAPI(b, logTo, 4)
			benchRoute(b, a.srv, 200, fixed(request{method: "GET", path: "/"}))
		})
	}
}

// BenchmarkGetProfile is the bearer check's route with each access-token
// algorithm: one token replayed, so after the first request every
// verification is a hit of the verified-token cache (as for a client's
// repeated requests); BenchmarkTokenVerify has the misses.
func BenchmarkGetProfile(b *testing.B) {
	for _, logTo := range []string{"file", "discard"} {
		for _, alg := range benchAlgs {
			b.Run("log="+logTo+"/alg="+alg, func(b *testing.B) {
				a := newBenchAPIAlg(b, logTo, 4, alg)
				benchRoute(b, a.srv, 200, fixed(request{method: "GET", path: "/profile",
					hdr: []string{"Authorization", "Bearer " + a.token}}))
			})
		}
	}
}

// BenchmarkGetProfileUncached is GET /profile where no request's token is
// in the verified-token cache: one session's tokens, each with its own exp,
// more of them than the cache holds, in turn. It is the worst case, more
// clients in rotation than the cache's bound, each request paying the
// whole verification (Ed25519's against HMAC's).
func BenchmarkGetProfileUncached(b *testing.B) {
	for _, alg := range benchAlgs {
		b.Run("alg="+alg, func(b *testing.B) {
			a := newBenchAPIAlg(b, "file", 4, alg)
			p := token.Principal{UserID: a.user, SessionID: a.session}
			reqs := make([]func() *http.Request, 2*benchVerifiedMax)
			start := time.Now()
			for i := range reqs {
				// Issued i seconds ago and lasting hours: a distinct
				// iat and exp each, all still valid.
				iat := start.Add(-time.Duration(i) * time.Second)
				tok, err := a.issuer(4*time.Hour, func() time.Time { return iat }).Issue(p)
				if err != nil {
					b.Fatal(err)
				}
				reqs[i] = fixed(request{method: "GET", path: "/profile", hdr: []string{"Authorization", "Bearer " + tok}})
			}
			var next atomic.Uint64
			benchRoute(b, a.srv, 200, func() *http.Request { return reqs[next.Add(1)%uint64(len(reqs))]() })
		})
	}
}

// BenchmarkGetProfileUnauthorized is the 401 path: the validator's security
// check fails and handleError writes a problem.
func BenchmarkGetProfileUnauthorized(b *testing.B) {
	a := newBenchAPI(b, "file", 4)
	benchRoute(b, a.srv, 401, fixed(request{method: "GET", path: "/profile"}))
}

func BenchmarkPostLogin(b *testing.B) {
	for _, cost := range []int{4, 10} {
		b.Run("bcrypt="+strconv.Itoa(cost), func(b *testing.B) {
			a := newBenchAPI(b, "file", cost)
			benchRoute(b, a.srv, 200, fixed(request{method: "POST", path: "/login",
				body: credentials(a.email, benchPassword)}))
		})
	}
}

var benchEmailSeq atomic.Int64

func uniqueEmail() string {
	return fmt.Sprintf("user-%d-%d@example.com", time.Now().UnixNano(), benchEmailSeq.Add(1))
}

// BenchmarkPostRegister registers a new email each time; the writes queue on
// the one writer connection, as under load.
func BenchmarkPostRegister(b *testing.B) {
	a := newBenchAPI(b, "file", 4)
	tmpl := request{method: "POST", path: "/register", body: credentials("x@example.com", benchPassword)}.build()
	benchRoute(b, a.srv, 201, func() *http.Request {
		body := credentials(uniqueEmail(), benchPassword)
		req := copyRequest(tmpl, body)
		req.ContentLength = int64(len(body))
		return req
	})
}

func BenchmarkGetOpenAPIJSON(b *testing.B) {
	a := newBenchAPI(b, "file", 4)
	benchRoute(b, a.srv, 200, fixed(request{method: "GET", path: "/openapi.json"}))
}

func BenchmarkGetDocs(b *testing.B) {
	a := newBenchAPI(b, "file", 4)
	benchRoute(b, a.srv, 200, fixed(request{method: "GET", path: "/docs"}))
}

// Through a real loopback listener: net/http's server and client included,
// keep-alive connections, as wrk drives keel.

func loopback(b *testing.B, h http.Handler) (*httptest.Server, *http.Client) {
	b.Helper()
	ts := httptest.NewServer(h)
	b.Cleanup(ts.Close)
	tr := &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}
	b.Cleanup(tr.CloseIdleConnections)
	return ts, &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func benchLoopback(b *testing.B, h http.Handler, path string, hdr ...string) {
	ts, client := loopback(b, h)
	get := func() (int, error) {
		req, _ := http.NewRequest("GET", ts.URL+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		res, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode, nil
	}
	if code, err := get(); err != nil || code != 200 {
		b.Fatalf("GET %s: %d %v", path, code, err)
	}
	var bad atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(8) // 16 clients on 2 cores: enough to keep the server busy
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if code, err := get(); err != nil || code != 200 {
				bad.Add(1)
			}
		}
	})
	b.StopTimer()
	if n := bad.Load(); n > 0 {
		b.Fatalf("%d of %d requests failed", n, b.N)
	}
}

func BenchmarkLoopbackGetHealth(b *testing.B) {
	a := newBenchAPI(b, "file", 4)
	benchLoopback(b, a.srv, "/")
}

func BenchmarkLoopbackGetProfile(b *testing.B) {
	for _, alg := range benchAlgs {
		b.Run("alg="+alg, func(b *testing.B) {
			a := newBenchAPIAlg(b, "file", 4, alg)
			benchLoopback(b, a.srv, "/profile", "Authorization", "Bearer "+a.token)
		})
	}
}

// BenchmarkWebSocketGreeting is one connect → greeting → close over loopback,
// as the harness's ws-bench does, from GOMAXPROCS×4 clients at once.
func BenchmarkWebSocketGreeting(b *testing.B) {
	a := newBenchAPI(b, "file", 4)
	ts := httptest.NewServer(a.srv)
	b.Cleanup(ts.Close)
	url := "ws" + strings.TrimPrefix(ts.URL, "http") + "/ws"
	greet := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, _, err := websocket.Dial(ctx, url, nil)
		if err != nil {
			return err
		}
		defer c.CloseNow()
		typ, msg, err := c.Read(ctx)
		if err != nil {
			return err
		}
		if typ != websocket.MessageText || string(msg) != greeting {
			return fmt.Errorf("greeting %q", msg)
		}
		return c.Close(websocket.StatusNormalClosure, "")
	}
	if err := greet(); err != nil {
		b.Fatal(err)
	}
	var bad atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if greet() != nil {
				bad.Add(1)
			}
		}
	})
	b.StopTimer()
	if n := bad.Load(); n > 0 {
		b.Fatalf("%d of %d greetings failed", n, b.N)
	}
}

// The floor: the go-bare peer's handlers over keel's store and tokens.

func bareMux(a *benchAPI) http.Handler {
	writeJSON := func(w http.ResponseWriter, code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(v)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /profile", func(w http.ResponseWriter, r *http.Request) {
		raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		var p token.Principal
		if ok {
			var err error
			p, err = a.srv.tokens.Verify(raw)
			ok = err == nil
		}
		if !ok {
			writeJSON(w, 401, map[string]string{"error": "unauthorized"})
			return
		}
		row, err := a.store.GetSessionUser(r.Context(), p.SessionID, p.UserID)
		if err != nil {
			writeJSON(w, 401, map[string]string{"error": "unauthorized"})
			return
		}
		writeJSON(w, 200, toUser(row))
	})
	return mux
}

func BenchmarkBareGetHealth(b *testing.B) {
	a := newBenchAPI(b, "discard", 4)
	benchRoute(b, bareMux(a), 200, fixed(request{method: "GET", path: "/"}))
}

func BenchmarkBareGetProfile(b *testing.B) {
	a := newBenchAPI(b, "discard", 4)
	benchRoute(b, bareMux(a), 200, fixed(request{method: "GET", path: "/profile",
		hdr: []string{"Authorization", "Bearer " + a.token}}))
}

func BenchmarkBareLoopbackGetProfile(b *testing.B) {
	a := newBenchAPI(b, "discard", 4)
	benchLoopback(b, bareMux(a), "/profile", "Authorization", "Bearer "+a.token)
}

// The parts on their own.

// BenchmarkValidator is keel's request-validator middleware alone, in an Echo
// with no other middleware and a handler that does nothing ("middleware"),
// and kin-openapi under it: gorillamux's route lookup ("findRoute") and
// openapi3filter.ValidateRequest with the bearer check ("validateRequest").
func BenchmarkValidator(b *testing.B) {
	a := newBenchAPI(b, "discard", 4)
	cases := []struct {
		name string
		req  request
	}{
		{"GET_health", request{method: "GET", path: "/"}},
		{"GET_profile", request{method: "GET", path: "/profile", hdr: []string{"Authorization", "Bearer " + a.token}}},
		{"POST_register", request{method: "POST", path: "/register", body: credentials("ada@example.com", benchPassword)}},
	}

	e := echo.New()
	e.Use(a.srv.validateRequests)
	noop := func(c echo.Context) error { return c.NoContent(http.StatusNoContent) }
	e.GET("/", noop)
	e.GET("/profile", noop)
	e.POST("/register", noop)

	spec, err := api.Load()
	if err != nil {
		b.Fatal(err)
	}
	router, err := gorillamux.NewRouter(spec)
	if err != nil {
		b.Fatal(err)
	}
	opts := &openapi3filter.Options{AuthenticationFunc: func(_ context.Context, in *openapi3filter.AuthenticationInput) error {
		raw, ok := bearerToken(in.RequestValidationInput.Request.Header.Get("Authorization"))
		if !ok {
			return errors.New("no token")
		}
		_, err := a.srv.tokens.Verify(raw)
		return err
	}}

	for _, tc := range cases {
		b.Run("middleware/"+tc.name, func(b *testing.B) {
			benchRoute(b, e, http.StatusNoContent, fixed(tc.req))
		})
		b.Run("findRoute/"+tc.name, func(b *testing.B) {
			req := tc.req.build()
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := router.FindRoute(req); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("validateRequest/"+tc.name, func(b *testing.B) {
			route, params, err := router.FindRoute(tc.req.build())
			if err != nil {
				b.Fatal(err)
			}
			next := fixed(tc.req)
			b.ReportAllocs()
			for b.Loop() {
				in := &openapi3filter.RequestValidationInput{Request: next(), PathParams: params, Route: route, Options: opts}
				if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTokenVerify is the access token's check alone, with each
// algorithm, as GET /profile's bearer check calls it: "hit" replays one
// token (the verified-token cache answers), "miss" verifies a different
// token each time (parsing, JSON, the signature: HMAC-SHA256 against
// Ed25519), cycling through more tokens than the cache holds, so none is
// still cached when it comes round again.
func BenchmarkTokenVerify(b *testing.B) {
	for _, alg := range benchAlgs {
		a := newBenchAPIAlg(b, "discard", 4, alg)
		b.Run("alg="+alg+"/cache=hit", func(b *testing.B) {
			b.ReportAllocs()
			defer cpuPerOp(b)()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if p, err := a.srv.tokens.Verify(a.token); err != nil || p.UserID != a.user {
						b.Error(p, err)
						return
					}
				}
			})
		})
		// Distinct principals make distinct tokens (both algorithms sign
		// deterministically); twice the cache's bound, which it clears
		// when full, so every lookup misses.
		toks := make([]string, 2*benchVerifiedMax)
		for i := range toks {
			var err error
			if toks[i], err = a.srv.tokens.Issue(token.Principal{UserID: int64(i + 1), SessionID: a.session}); err != nil {
				b.Fatal(err)
			}
		}
		b.Run("alg="+alg+"/cache=miss", func(b *testing.B) {
			var next atomic.Uint64
			b.ReportAllocs()
			defer cpuPerOp(b)()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := next.Add(1) % uint64(len(toks))
					if p, err := a.srv.tokens.Verify(toks[i]); err != nil || p.UserID != int64(i+1) {
						b.Error(p, err)
						return
					}
				}
			})
		})
	}
}

// benchVerifiedMax is internal/token's bound on its verified-token cache
// (maxVerified).
const benchVerifiedMax = 4096

// BenchmarkLogRequestLine is the one slog JSON line logRequests writes per
// request, to a file (a write(2) each) and to io.Discard.
func BenchmarkLogRequestLine(b *testing.B) {
	for _, logTo := range []string{"file", "discard"} {
		b.Run("log="+logTo, func(b *testing.B) {
			var w io.Writer = io.Discard
			if logTo == "file" {
				f, err := os.Create(filepath.Join(b.TempDir(), "log"))
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { f.Close() })
				w = f
			}
			log := slog.New(jsonlog.New(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
			ctx := context.Background()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					log.LogAttrs(ctx, slog.LevelInfo, "request",
						slog.String("method", "GET"), slog.String("route", "/profile"),
						slog.Int("status", 200), slog.Float64("latency_ms", 0.123),
						slog.String("request_id", newRequestID()))
				}
			})
		})
	}
}

func BenchmarkQueries(b *testing.B) {
	a := newBenchAPI(b, "discard", 4)
	ctx := context.Background()
	b.Run("GetUser", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := a.store.GetUser(ctx, a.user); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("GetSessionUser", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := a.store.GetSessionUser(ctx, a.session, a.user); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("GetCredentials", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := a.store.GetCredentials(ctx, a.email); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("CreateUser", func(b *testing.B) {
		now := time.Now().UTC().Truncate(time.Millisecond)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_, err := a.store.CreateUser(ctx, uniqueEmail(), "$2a$04$notarealhashnotarealhashnotarealhashnotarealhashnotrea", now, nil)
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	// After CreateUser, so it counts a table of some thousands of rows.
	b.Run("CountUsers", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := a.store.CountUsers(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}
