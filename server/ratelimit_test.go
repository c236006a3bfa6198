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

// TestRateLimit: AUTH_RATE_LIMIT per operation and client address (an
// IPv6 client by its /64), refused with 429 and Retry-After, refilled with
// time.
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
	for _, path := range []string{"/register", "/login", "/login", "/login", "/login"} {
		codes = append(codes, do("192.0.2.1", path).Code)
	}
	if !slices.Equal(codes, []int{201, 200, 200, 200, 429}) {
		t.Fatalf("statuses %v, want the 4th login refused", codes)
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

// TestRateLimitCrossSite: a web page can make its visitor's browser post
// to /login, but only as a form or text/plain (anything else needs a CORS
// preflight keel refuses). Those requests are refused by the spec (415) and
// spend none of the address's budget, and the budget /login spends is its
// own: the visitors behind that address can still sign in, register and
// reset their password.
func TestRateLimitCrossSite(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, func(c *Config) { c.AuthRateLimit = 3 })
	a.mustRegister("ada@example.com", "password123")
	post := func(path, contentType, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", path, strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("Origin", "https://evil.example")
		req.RemoteAddr = "198.51.100.9:1234"
		return a.serve(req)
	}
	forms := [][2]string{
		{"text/plain", credentials("ada@example.com", "wrong-password")},
		{"application/x-www-form-urlencoded", "email=ada%40example.com&password=wrong-password"},
		{"multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\nada@example.com\r\n--x--\r\n"},
	}
	for i := range 10 {
		f := forms[i%len(forms)]
		a.status(post("/login", f[0], f[1]), 415, "cross-site "+f[0]+" post")
	}
	a.status(post("/login", "application/json", credentials("ada@example.com", "password123")), 200, "the visitor's own login after ten cross-site posts")
	for range 2 {
		a.status(post("/login", "application/json", credentials("ada@example.com", "wrong-password")), 401, "wrong password")
	}
	a.status(post("/login", "application/json", credentials("ada@example.com", "password123")), 429, "login once its budget is spent")
	a.status(post("/register", "application/json", credentials("bob@example.com", "password123")), 201, "register with /login's budget spent")
	a.status(post("/password/forgot", "application/json", jsonBody("email", "ada@example.com")), 202, "forgot with /login's budget spent")
	a.status(post("/password/reset", "application/json", jsonBody("token", "x", "new_password", "new-password-1")), 400, "reset with /login's budget spent")
}

// TestRateLimitPasswordBucket: the operations that check a password share
// one budget per address, so a session's holder gets AUTH_RATE_LIMIT
// guesses a minute in all, not that many at each of login,
// reauthentication, password change, deletion and the verification of the
// address with the password; the others keep theirs.
func TestRateLimitPasswordBucket(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, func(c *Config) { c.AuthRateLimit = 3 })
	a.mustRegister("ada@example.com", "password123")
	tok := a.mustLogin("ada@example.com", "password123") // the first of three
	for range 2 {
		a.status(a.do("POST", "/login", credentials("ada@example.com", "wrong-password")), 401, "wrong password")
	}
	for _, r := range [][3]string{
		{"POST", "/login", credentials("ada@example.com", "wrong-password")},
		{"PUT", "/profile/password", jsonBody("current_password", "wrong-password", "new_password", "password456")},
		{"DELETE", "/profile", jsonBody("password", "wrong-password")},
		{"POST", "/reauthenticate", jsonBody("password", "wrong-password")},
		{"POST", "/email/verify", jsonBody("token", "a-token", "password", "wrong-password")},
	} {
		rec := a.status(a.do(r[0], r[1], r[2], bearer(tok)...), 429, r[0]+" "+r[1]+" with the password budget spent")
		if rec.Header().Get("Retry-After") == "" {
			t.Errorf("%s %s: 429 without Retry-After", r[0], r[1])
		}
	}
	a.status(a.do("POST", "/register", credentials("bob@example.com", "password123")), 201, "register keeps its own budget")
}

// TestRateLimitAuthorizeNavigation: a provider sign-in's start that the
// browser fetched for a page (an <img>, an <iframe>: Sec-Fetch-Dest other
// than document) is refused before it spends the address's budget, so a
// page cannot lock its visitors' network out of provider sign-in.
func TestRateLimitAuthorizeNavigation(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, func(c *Config) { c.AuthRateLimit = 3 })
	get := func(dest string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/oauth/google/authorize?redirect_to=x&code_challenge="+strings.Repeat("a", 43)+"&code_challenge_method=S256", nil)
		if dest != "" {
			req.Header.Set("Sec-Fetch-Dest", dest)
			req.Header.Set("Sec-Fetch-Site", "cross-site")
		}
		req.RemoteAddr = "198.51.100.9:1234"
		return a.serve(req)
	}
	for i := range 10 {
		dest := []string{"image", "iframe", "script", "empty"}[i%4]
		a.status(get(dest), 400, "authorize fetched as "+dest)
	}
	for _, dest := range []string{"document", "", "document"} {
		a.status(get(dest), 404, "a navigation (no provider google here) with Sec-Fetch-Dest "+dest)
	}
	a.status(get("document"), 429, "the fourth navigation of the minute")
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

// TestAccountRateLimits: each operation the spec marks x-keel-rate-limit
// has its own per-IP budget; forgot is also limited per address.
func TestAccountRateLimits(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, func(c *Config) { c.AuthRateLimit = 3 })
	for i := range 3 {
		a.status(a.do("POST", "/password/reset", jsonBody("token", "x", "new_password", "new-password-1")), 400, "reset "+string(rune('1'+i)))
	}
	rec := a.status(a.do("POST", "/password/reset", jsonBody("token", "x", "new_password", "new-password-1")), 429, "fourth reset")
	if rec.Header().Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	a.status(a.do("POST", "/email/verify", jsonBody("token", "x")), 400, "verify has a budget of its own (the password operations')")
	a.status(a.refresh("x"), 401, "refresh is not marked")

	// The spec's markers are the ones this test knows, and each marked
	// operation is refused once its own budget is spent (the one the
	// password operations share, for them), and only its own.
	challenge := strings.Repeat("a", 43)
	want := map[string]bool{"register": true, "login": true, "forgotPassword": true, "resetPassword": true,
		"verifyEmail": true, "resendVerification": true, "changePassword": true, "deleteProfile": true,
		"oauthAuthorize": true, "oauthToken": true, "linkIdentity": true, "passkeyLoginOptions": true, "passkeyLogin": true, "unlockMFA": true,
		"reauthenticate": true, "reauthenticatePasskeyOptions": true, "registerOAuth2Client": true,
		"getDeviceRequest": true, "answerDeviceRequest": true, "oauth2Authorize": true, "oauth2AuthorizePost": true, "oauth2DeviceAuthorization": true}
	requests := map[string][2]string{
		"register": {"POST /register", credentials("x@example.com", "password123")}, "login": {"POST /login", credentials("x@example.com", "password123")},
		"forgotPassword": {"POST /password/forgot", jsonBody("email", "x@example.com")}, "resetPassword": {"POST /password/reset", jsonBody("token", "x", "new_password", "new-password-1")},
		"verifyEmail": {"POST /email/verify", jsonBody("token", "x")}, "resendVerification": {"POST /email/verify/resend", ""},
		"changePassword": {"PUT /profile/password", jsonBody("current_password", "wrong-password", "new_password", "password456")}, "deleteProfile": {"DELETE /profile", jsonBody("password", "wrong-password")},
		"oauthAuthorize":               {"GET /oauth/google/authorize?redirect_to=x&code_challenge=" + challenge + "&code_challenge_method=S256", ""},
		"oauthToken":                   {"POST /oauth/token", jsonBody("code", "x", "code_verifier", challenge)},
		"linkIdentity":                 {"POST /profile/identities/google", jsonBody("redirect_to", "x", "code_challenge", challenge)},
		"passkeyLoginOptions":          {"POST /passkeys/login/options", ""},
		"passkeyLogin":                 {"POST /passkeys/login", `{"flow_id":"x","credential":{"id":"x"}}`},
		"unlockMFA":                    {"POST /mfa/unlock", jsonBody("token", "x")},
		"reauthenticate":               {"POST /reauthenticate", jsonBody("password", "wrong-password")},
		"reauthenticatePasskeyOptions": {"POST /reauthenticate/passkey/options", ""},
		"registerOAuth2Client":         {"POST /oauth2/register", jsonBody("client_name", "Agent")},
		"getDeviceRequest":             {"GET /oauth2/device/request?user_code=BDFG-HJKL", ""},
		"answerDeviceRequest":          {"POST /oauth2/device/request", `{"user_code":"BDFG-HJKL","approve":false}`},
		"oauth2Authorize":              {"GET /oauth2/authorize?client_id=kc_x", ""},
		"oauth2AuthorizePost":          {"POST /oauth2/authorize", ""},
		"oauth2DeviceAuthorization":    {"POST /oauth2/device_authorization", ""},
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
				// The bearer operations need a session, or they answer 401
				// before the limit; it is made from another address, so
				// register and login are spent for that one only.
				spent.mustRegister("ada@example.com", "password123")
				token := spent.mustLogin("ada@example.com", "password123")
				from := func(method, path, body string) *httptest.ResponseRecorder {
					req := httptest.NewRequest(method, path, strings.NewReader(body))
					req.Header.Set("Authorization", "Bearer "+token)
					if body != "" {
						req.Header.Set("Content-Type", "application/json")
					}
					req.RemoteAddr = "198.51.100.1:1234"
					return spent.serve(req)
				}
				method, path, _ := strings.Cut(requests[id][0], " ")
				if first := from(method, path, requests[id][1]); first.Code == 429 || first.Code == 401 && id != "login" && id != "passkeyLogin" && id != "oauthToken" {
					t.Fatalf("%s, the one request of the minute: %d %s", id, first.Code, first.Body)
				}
				spent.status(from(method, path, requests[id][1]), 429, id+" once its budget is spent")
				other := [2]string{"POST /email/verify", jsonBody("token", "x")}
				if bucketOf(spent, id) == bucketOf(spent, "verifyEmail") { // the password operations share one
					other = requests["resetPassword"]
				}
				method, path, _ = strings.Cut(other[0], " ")
				spent.status(from(method, path, other[1]), 400, "another operation with "+id+"'s budget spent")
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
	c.mustRegisterUnverified("victim@example.com", "password123")
	bearer := "Bearer " + c.mustLogin("victim@example.com", "password123")
	c.status(c.do("POST", "/email/verify/resend", "", "Authorization", bearer), 202, "first resend")
	c.status(c.do("POST", "/email/verify/resend", "", "Authorization", bearer), 429, "second resend within the minute")
	c.clock.Add(time.Minute)
	c.status(c.do("POST", "/email/verify/resend", "", "Authorization", bearer), 202, "a minute later")
}

// bucketOf is the rate-limit bucket the spec gives the operation id.
func bucketOf(a *testAPI, id string) string {
	for _, op := range a.srv.ops {
		if op.ID == id {
			return op.RateBucket
		}
	}
	a.t.Fatalf("no operation %s", id)
	return ""
}
