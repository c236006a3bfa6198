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
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/labstack/echo/v4"

	"github.com/keelhq/keel/api"
	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/internal/jsonlog"
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

func newBenchAPI(b *testing.B, logTo string, bcryptCost int) *benchAPI {
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
	a := &benchAPI{b: b, store: store}
	log := slog.New(jsonlog.New(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
	a.srv, _ = newServer(b, cfg, d, log, time.Now, password.New(bcryptCost, runtime.NumCPU(), 64))

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
	if n := bad.Load(); n > 0 {
		b.Fatalf("%d of %d requests did not answer %d", n, b.N, want)
	}
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

func BenchmarkGetProfile(b *testing.B) {
	for _, logTo := range []string{"file", "discard"} {
		b.Run("log="+logTo, func(b *testing.B) {
			a := newBenchAPI(b, logTo, 4)
			benchRoute(b, a.srv, 200, fixed(request{method: "GET", path: "/profile",
				hdr: []string{"Authorization", "Bearer " + a.token}}))
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
	a := newBenchAPI(b, "file", 4)
	benchLoopback(b, a.srv, "/profile", "Authorization", "Bearer "+a.token)
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
