package server

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"
)

// TestBodyLimit: a body over BODY_LIMIT gets 413 without being read into
// memory. The body is a stream of 1 MiB that counts the bytes the server
// takes from it, sent through the real router with its length declared and
// with no length (as a chunked body arrives); the server may read the limit
// and a little more (to see that it is passed), never the rest.
func TestBodyLimit(t *testing.T) {
	const limit, size, slack = 1024, 1 << 20, 512
	a := newTestAPI(t, func(c *Config) { c.BodyLimit = limit })
	for _, tt := range []struct {
		name   string
		length int64 // Content-Length; -1 for none
	}{
		{"declared length", size},
		{"unknown length", -1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := a.forInput(t)
			body := &countingReader{r: io.LimitReader(io.MultiReader(strings.NewReader(`{"email":"ada@example.com","password":"`), repeatByte('p')), size)}
			req := httptest.NewRequest("POST", "/register", body)
			req.ContentLength = tt.length
			req.Header.Set("Content-Type", "application/json")
			if rec := a.serve(req); rec.Code != http.StatusRequestEntityTooLarge {
				t.Errorf("status %d, want 413: %s", rec.Code, rec.Body)
			}
			if n := body.n.Load(); n > limit+slack {
				t.Errorf("the server read %d bytes of the body; the limit is %d", n, limit)
			}
		})
	}
	if rec := a.do("GET", "/", ""); rec.Code != 200 {
		t.Errorf("server stopped serving: %d", rec.Code)
	}
}

// countingReader counts the bytes read from r.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// repeatByte is an endless stream of one byte.
type repeatByte byte

func (b repeatByte) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

// TestNestingLimit: nesting past 32 levels is refused before it costs a deep
// recursion, at any size up to the body limit.
func TestNestingLimit(t *testing.T) {
	a := newTestAPI(t)
	for _, body := range []string{
		`{"email":"a@example.com","password":"password123","x":` + strings.Repeat("[", 33) + strings.Repeat("]", 33) + `}`,
		strings.Repeat("[", 65000),
	} {
		rec := a.do("POST", "/register", body)
		if rec.Code != 400 || !strings.Contains(rec.Body.String(), "too deeply") {
			t.Errorf("%d bytes of nesting: %d %s", len(body), rec.Code, rec.Body)
		}
	}
}

func TestRateLimit(t *testing.T) {
	a := newTestAPI(t, func(c *Config) { c.AuthRateLimit = 3 })
	do := func(ip, path string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", path, strings.NewReader(credentials("ada@example.com", "password123")))
		req.Header.Set("Content-Type", "application/json")
		req.RemoteAddr = net.JoinHostPort(ip, "1234")
		return a.serve(req)
	}
	var codes []int
	for _, path := range []string{"/register", "/login", "/login", "/login"} {
		codes = append(codes, do("192.0.2.1", path).Code)
	}
	if !slices.Equal(codes, []int{201, 200, 200, 429}) {
		t.Fatalf("statuses %v, want the 4th refused", codes)
	}
	rec := do("192.0.2.1", "/login")
	if after, _ := strconv.Atoi(rec.Header().Get("Retry-After")); rec.Code != 429 || after < 1 || after > 20 {
		t.Errorf("429 Retry-After %q (status %d), want 1..20 s", rec.Header().Get("Retry-After"), rec.Code)
	}
	if rec := do("192.0.2.2", "/login"); rec.Code != 200 {
		t.Errorf("another address is limited too: %d", rec.Code)
	}
	// IPv6 clients count by /64: rotating addresses inside one does not help.
	for i := 1; i <= 3; i++ {
		do(fmt.Sprintf("2001:db8::%d", i), "/login")
	}
	if rec := do("2001:db8::ffff", "/login"); rec.Code != 429 {
		t.Errorf("fourth address in one IPv6 /64: %d, want 429", rec.Code)
	}
	if rec := do("2001:db8:0:1::1", "/login"); rec.Code != 200 {
		t.Errorf("another /64: %d, want 200", rec.Code)
	}
	if rec := a.do("GET", "/", ""); rec.Code != 200 {
		t.Errorf("GET / is limited: %d", rec.Code)
	}
	a.clock.Add(20 * time.Second) // one token back at 3 a minute
	if rec := do("192.0.2.1", "/login"); rec.Code != 200 {
		t.Errorf("not refilled after 20s: %d", rec.Code)
	}
}

// TestTrustedProxies: X-Forwarded-For names the client only when the peer
// is a trusted proxy; otherwise a client could pick its own rate-limit bucket.
func TestTrustedProxies(t *testing.T) {
	login := func(a *testAPI, peer, xff string) int {
		req := httptest.NewRequest("POST", "/login", strings.NewReader(credentials("x@example.com", "password123")))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", xff)
		req.RemoteAddr = peer + ":1234"
		return a.serve(req).Code
	}
	_, proxies, _ := net.ParseCIDR("192.0.2.0/24")
	behind := newTestAPI(t, func(c *Config) { c.AuthRateLimit = 1; c.TrustedProxies = []*net.IPNet{proxies} })
	if a, b := login(behind, "192.0.2.10", "203.0.113.1"), login(behind, "192.0.2.10", "203.0.113.2"); a != 401 || b != 401 {
		t.Errorf("two clients behind a trusted proxy: %d, %d; want both served (401)", a, b)
	}
	if c := login(behind, "192.0.2.10", "203.0.113.1"); c != 429 {
		t.Errorf("same client again: %d, want 429", c)
	}
	direct := newTestAPI(t, func(c *Config) { c.AuthRateLimit = 1 })
	if a, b := login(direct, "198.51.100.7", "203.0.113.1"), login(direct, "198.51.100.7", "203.0.113.2"); a != 401 || b != 429 {
		t.Errorf("X-Forwarded-For from an untrusted peer changed the bucket: %d, %d; want 401, 429", a, b)
	}
}

// TestHashPool saturates the bcrypt pool with logins: past HASH_QUEUE they
// get 503 with Retry-After, while GET / and GET /profile keep answering fast.
func TestHashPool(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: real bcrypt work")
	}
	a := newTestAPI(t, func(c *Config) { c.HashWorkers, c.HashQueue = 2, 4 })
	a.mustRegister("ada@example.com", "password123")
	token := a.mustLogin("ada@example.com", "password123")
	// Unknown emails compare against the dummy hash: make it cost 12, so each
	// login holds a worker for ~0.2 s.
	slow, err := bcrypt.GenerateFromPassword([]byte("x"), 12)
	if err != nil {
		t.Fatal(err)
	}
	a.srv.passwords.dummy = func() []byte { return slow }

	ts := httptest.NewServer(a.srv)
	defer ts.Close()
	hc := a.client() // the 503s too must be documented problems
	const logins = 24
	var wg sync.WaitGroup
	codes := make(chan int, logins)
	for range logins {
		wg.Go(func() {
			// Unknown emails: each compares against a cost-12 dummy hash.
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

func TestSecurityHeaders(t *testing.T) {
	a := newTestAPI(t)
	for _, path := range []string{"/", "/nope", "/docs"} {
		h := a.do("GET", path, "").Header()
		for name, want := range map[string]string{
			"X-Content-Type-Options": "nosniff",
			"X-Frame-Options":        "DENY",
			"Referrer-Policy":        "no-referrer",
		} {
			if got := h.Get(name); got != want {
				t.Errorf("%s: %s = %q, want %q", path, name, got, want)
			}
		}
		if h.Get("Content-Security-Policy") == "" || h.Get("Server") != "" || h.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s: CSP %q, Server %q, HSTS without TLS %q", path, h.Get("Content-Security-Policy"), h.Get("Server"), h.Get("Strict-Transport-Security"))
		}
	}
	if got := a.do("POST", "/login", credentials("x@example.com", "password123")).Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("login Cache-Control %q, want no-store", got)
	}
	req := httptest.NewRequest("GET", "https://keel.example/", nil) // httptest sets TLS for https
	if rec := a.serve(req); rec.Header().Get("Strict-Transport-Security") == "" {
		t.Error("no HSTS over TLS")
	}
}

func TestCORS(t *testing.T) {
	// preflight sends a browser's CORS preflight through the contract check.
	preflight := func(a *testAPI, path, origin, method string) *httptest.ResponseRecorder {
		return a.do("OPTIONS", path, "", "Origin", origin, "Access-Control-Request-Method", method)
	}
	off := newTestAPI(t)
	if rec := preflight(off, "/login", "https://app.example", "POST"); rec.Code != 403 || rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("CORS off: preflight %d %q, want a 403 problem", rec.Code, rec.Header().Get("Access-Control-Allow-Origin"))
	}
	if got := off.do("GET", "/", "", "Origin", "https://app.example").Header().Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("CORS on by default: %q", got)
	}
	if rec := off.do("OPTIONS", "/sessions/abc", ""); rec.Code != 204 || rec.Header().Get("Allow") != "DELETE, OPTIONS" {
		t.Errorf("plain OPTIONS: %d Allow %q", rec.Code, rec.Header().Get("Allow"))
	}

	on := newTestAPI(t, func(c *Config) { c.CORSOrigins = []string{"https://app.example"} })
	for _, tt := range []struct{ path, method string }{{"/login", "POST"}, {"/sessions/abc", "DELETE"}, {"/profile/password", "PUT"}} {
		rec := preflight(on, tt.path, "https://app.example", tt.method)
		h := rec.Header()
		if rec.Code != 204 || h.Get("Access-Control-Allow-Origin") != "https://app.example" ||
			!strings.Contains(h.Get("Access-Control-Allow-Methods"), tt.method) || !strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") {
			t.Errorf("preflight %s %s from an allowed origin: %d %v", tt.method, tt.path, rec.Code, h)
		}
	}
	if rec := preflight(on, "/login", "https://evil.example", "POST"); rec.Code != 403 || rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("other origin: %d %q, want a 403 problem", rec.Code, rec.Header().Get("Access-Control-Allow-Origin"))
	}
	if rec := preflight(on, "/nope", "https://app.example", "GET"); rec.Code != 404 {
		t.Errorf("preflight of an unknown path: %d, want 404", rec.Code)
	}
	rec := on.do("GET", "/", "", "Origin", "https://app.example")
	if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "https://app.example" || !strings.Contains(rec.Header().Get("Access-Control-Expose-Headers"), "X-Request-Id") {
		t.Errorf("simple request: %q %v", got, rec.Header())
	}
}

func TestContentTypeCase(t *testing.T) {
	a := newTestAPI(t)
	rec := a.do("POST", "/register", credentials("ada@example.com", "password123"), "Content-Type", "APPLICATION/JSON; Charset=UTF-8")
	if rec.Code != 201 {
		t.Errorf("upper-case media type: %d %s", rec.Code, rec.Body)
	}
}

func TestInvalidUTF8(t *testing.T) {
	a := newTestAPI(t)
	rec := a.do("POST", "/register", "{\"email\":\"ada@example.com\",\"password\":\"pass\xffword123\"}")
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), "UTF-8") {
		t.Errorf("invalid UTF-8 password: %d %s", rec.Code, rec.Body)
	}
}

// TestTokenTimes: a little clock skew is forgiven; a token from the future
// (nbf or iat) or just past its expiry beyond the leeway is not.
func TestTokenTimes(t *testing.T) {
	a := newTestAPI(t)
	// Claims are whole seconds: start on one, so that a claim is exactly
	// the offset the case names.
	a.clock.t = a.clock.t.Truncate(time.Second)
	u := a.mustRegister("ada@example.com", "password123")
	sid := a.sessionOf(a.mustLogin("ada@example.com", "password123"))
	now := a.clock.Now()
	sign := func(iat, nbf, exp time.Duration) string {
		c := claims{RegisteredClaims: jwt.RegisteredClaims{Issuer: "keel", Subject: strconv.FormatInt(u.ID, 10),
			IssuedAt: jwt.NewNumericDate(now.Add(iat)), ExpiresAt: jwt.NewNumericDate(now.Add(exp))}, SessionID: sid}
		if nbf != 0 {
			c.NotBefore = jwt.NewNumericDate(now.Add(nbf))
		}
		s, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(a.srv.tokens.secret)
		return s
	}
	tests := []struct {
		name          string
		iat, nbf, exp time.Duration
		status        int
	}{
		{"expired 10s ago, within leeway", -time.Hour, 0, -10 * time.Second, 200},
		{"expired 2m ago", -time.Hour, 0, -2 * time.Minute, 401},
		{"not valid for 10s, within leeway", 0, 10 * time.Second, time.Hour, 200},
		{"not valid for 5m", 0, 5 * time.Minute, time.Hour, 401},
		{"issued 5m in the future", 5 * time.Minute, 0, time.Hour, 401},
		// The leeway is 30 s, no more: each claim a second either side of it.
		{"expired 29s ago", -time.Hour, 0, -29 * time.Second, 200},
		{"expired 31s ago", -time.Hour, 0, -31 * time.Second, 401},
		{"not valid for 29s", 0, 29 * time.Second, time.Hour, 200},
		{"not valid for 31s", 0, 31 * time.Second, time.Hour, 401},
		{"issued 29s in the future", 29 * time.Second, 0, time.Hour, 200},
		{"issued 31s in the future", 31 * time.Second, 0, time.Hour, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if rec := a.do("GET", "/profile", "", "Authorization", "Bearer "+sign(tt.iat, tt.nbf, tt.exp)); rec.Code != tt.status {
				t.Errorf("status %d, want %d", rec.Code, tt.status)
			}
		})
	}
}
