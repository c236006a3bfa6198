package server

import (
	"fmt"
	"net"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestRateLimit(t *testing.T) {
	t.Parallel()
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
	t.Parallel()
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

// TestAccountRateLimits: the operations the spec marks x-keel-rate-limit
// share the per-IP limit; forgot is also limited per address.
func TestAccountRateLimits(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, func(c *Config) { c.AuthRateLimit = 3 })
	for i := range 3 {
		a.status(a.do("POST", "/password/reset", jsonBody("token", "x", "new_password", "new-password-1")), 400, "reset "+string(rune('1'+i)))
	}
	rec := a.status(a.do("POST", "/email/verify", jsonBody("token", "x")), 429, "fourth marked request")
	if rec.Header().Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	a.status(a.refresh("x"), 401, "refresh is not marked")

	// The spec's markers are the ones this test knows, and each marked
	// operation is refused once the client's budget is spent.
	want := map[string]bool{"register": true, "login": true, "forgotPassword": true, "resetPassword": true,
		"verifyEmail": true, "resendVerification": true, "changePassword": true, "deleteProfile": true,
		"oauthAuthorize": true, "oauthToken": true, "linkIdentity": true, "passkeyLoginOptions": true, "passkeyLogin": true}
	requests := map[string][2]string{
		"register": {"POST /register", credentials("x@example.com", "password123")}, "login": {"POST /login", credentials("x@example.com", "password123")},
		"forgotPassword": {"POST /password/forgot", jsonBody("email", "x@example.com")}, "resetPassword": {"POST /password/reset", jsonBody("token", "x", "new_password", "new-password-1")},
		"verifyEmail": {"POST /email/verify", jsonBody("token", "x")}, "resendVerification": {"POST /email/verify/resend", ""},
		"changePassword": {"PUT /profile/password", jsonBody("current_password", "password123", "new_password", "password456")}, "deleteProfile": {"DELETE /profile", jsonBody("password", "password123")},
		"oauthAuthorize":      {"GET /oauth/google/authorize?redirect_to=x&code_challenge=x&code_challenge_method=S256", ""},
		"oauthToken":          {"POST /oauth/token", jsonBody("code", "x", "code_verifier", "x")},
		"linkIdentity":        {"POST /profile/identities/google", jsonBody("redirect_to", "x", "code_challenge", "x")},
		"passkeyLoginOptions": {"POST /passkeys/login/options", ""},
		"passkeyLogin":        {"POST /passkeys/login", `{"flow_id":"x","credential":{"id":"x"}}`},
	}
	marked := map[string]bool{}
	for _, op := range a.srv.ops {
		if op.RateLimited {
			marked[op.ID] = true
		}
	}
	if diff := cmp.Diff(want, marked); diff != "" {
		t.Errorf("operations marked x-keel-rate-limit (-want +got):\n%s", diff)
	}
	t.Run("each marked operation", func(t *testing.T) {
		for id := range want {
			t.Run(id, func(t *testing.T) {
				t.Parallel()
				spent := newTestAPI(t, func(c *Config) { c.AuthRateLimit = 1 })
				spent.status(spent.do("POST", "/email/verify", jsonBody("token", "x")), 400, "the one request of the minute")
				method, path, _ := strings.Cut(requests[id][0], " ")
				spent.status(spent.do(method, path, requests[id][1]), 429, id+" once the budget is spent")
			})
		}
	})

	b := newTestAPI(t, func(c *Config) { c.AuthRateLimit = 100 })
	b.status(b.do("POST", "/password/forgot", jsonBody("email", "ada@example.com")), 202, "first forgot")
	b.status(b.do("POST", "/password/forgot", jsonBody("email", "ADA@example.com")), 429, "second forgot for the address")
	b.status(b.do("POST", "/password/forgot", jsonBody("email", "bob@example.com")), 202, "another address")
	b.clock.Add(time.Minute)
	b.status(b.do("POST", "/password/forgot", jsonBody("email", "ada@example.com")), 202, "a minute later")

	// Anyone may register someone else's address and ask for the
	// verification email again and again: one a minute reaches the inbox.
	c := newTestAPI(t, func(c *Config) { c.AuthRateLimit = 100 })
	c.mustRegister("victim@example.com", "password123")
	bearer := "Bearer " + c.mustLogin("victim@example.com", "password123")
	c.status(c.do("POST", "/email/verify/resend", "", "Authorization", bearer), 202, "first resend")
	c.status(c.do("POST", "/email/verify/resend", "", "Authorization", bearer), 429, "second resend within the minute")
	c.clock.Add(time.Minute)
	c.status(c.do("POST", "/email/verify/resend", "", "Authorization", bearer), 202, "a minute later")
}
