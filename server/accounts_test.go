package server

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/gen/oapi"
)

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

// TestRefreshRotation: a refresh gives a new pair and spends the old
// refresh token; presenting the spent one ends the whole session, the
// refresh token that replaced it and every access token included.
func TestRefreshRotation(t *testing.T) {
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
	if p.Detail == nil || *p.Detail != errBadRefresh.reason {
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
			"access token":          live.Token,
			"unknown but valid MAC": a.srv.tokens.refresh(newSessionID(), 1),
		} {
			if rec := a.refresh(tok); rec.Code != 401 {
				t.Errorf("%s: %d, want 401", name, rec.Code)
			}
		}
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
	a := newTestAPI(t)
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

// TestSessions: list, end one, end all, log out; ended sessions are
// refused at once, though their tokens are in the verified-signature cache.
func TestSessions(t *testing.T) {
	a := newTestAPI(t)
	a.mustRegister("ada@example.com", "password123")
	a.mustRegister("bob@example.com", "password123")
	phone := a.mustLoginPair("ada@example.com", "password123", "User-Agent", "phone/1.0")
	a.clock.Add(time.Second)
	laptop := a.mustLoginPair("ada@example.com", "password123", "User-Agent", "laptop/2.0")
	bob := a.mustLoginPair("bob@example.com", "password123")

	list := decode[[]oapi.Session](t, a.status(a.do("GET", "/sessions", "", bearer(laptop.Token)...), 200, "list"))
	if len(list) != 2 || list[0].UserAgent != "laptop/2.0" || !list[0].Current || list[1].UserAgent != "phone/1.0" || list[1].Current ||
		list[0].ID != a.sessionOf(laptop.Token) || list[1].ID != a.sessionOf(phone.Token) {
		t.Fatalf("sessions %+v", list)
	}
	body := a.do("GET", "/sessions", "", bearer(laptop.Token)...).Body.String()
	for _, secret := range []string{phone.RefreshToken, laptop.RefreshToken, db.HashToken(phone.RefreshToken), db.HashToken(laptop.RefreshToken)} {
		if strings.Contains(body, secret) {
			t.Error("GET /sessions shows a refresh token or its hash")
		}
	}

	a.status(a.do("DELETE", "/sessions/"+a.sessionOf(bob.Token), "", bearer(laptop.Token)...), 404, "another user's session")
	a.status(a.do("DELETE", "/sessions/"+newSessionID(), "", bearer(laptop.Token)...), 404, "unknown session")
	a.status(a.do("DELETE", "/sessions/"+strings.Repeat("x", 65), "", bearer(laptop.Token)...), 400, "overlong id")
	if a.profileStatus(bob.Token) != 200 {
		t.Fatal("bob's session was touched")
	}

	if a.profileStatus(phone.Token) != 200 {
		t.Fatal("phone token before revocation")
	}
	a.status(a.do("DELETE", "/sessions/"+a.sessionOf(phone.Token), "", bearer(laptop.Token)...), 204, "end the phone's session")
	if got := a.profileStatus(phone.Token); got != 401 {
		t.Errorf("the ended session's token (cached signature): %d, want 401", got)
	}
	a.status(a.refresh(phone.RefreshToken), 401, "the ended session's refresh token")
	a.status(a.do("GET", "/sessions", "", bearer(phone.Token)...), 401, "list with an ended session")

	t.Run("logout", func(t *testing.T) {
		a := a.forInput(t)
		other := a.mustLoginPair("ada@example.com", "password123")
		a.status(a.do("POST", "/logout", "", bearer(other.Token)...), 204, "logout")
		a.status(a.do("POST", "/logout", "", bearer(other.Token)...), 401, "second logout")
		a.status(a.refresh(other.RefreshToken), 401, "refresh after logout")
		a.status(a.do("POST", "/logout", ""), 401, "logout without a token")
		if a.profileStatus(laptop.Token) != 200 {
			t.Error("logout ended another session")
		}
	})

	t.Run("log out everywhere", func(t *testing.T) {
		a := a.forInput(t)
		other := a.mustLoginPair("ada@example.com", "password123")
		a.status(a.do("DELETE", "/sessions", "", bearer(laptop.Token)...), 204, "end all")
		for _, tok := range []string{laptop.Token, other.Token} {
			if got := a.profileStatus(tok); got != 401 {
				t.Errorf("after ending all: %d", got)
			}
		}
		a.status(a.do("DELETE", "/sessions", "", bearer(laptop.Token)...), 401, "end all again")
		if a.profileStatus(bob.Token) != 200 {
			t.Error("bob's session ended too")
		}
	})
}

// TestChangePassword: the current password is checked (403), the other
// sessions end, the caller's stays.
func TestChangePassword(t *testing.T) {
	a := newTestAPI(t)
	a.startJobs()
	a.mustRegister("ada@example.com", "password123")
	a.status(a.do("POST", "/password/forgot", jsonBody("email", "ada@example.com")), 202, "forgot, before the change")
	mailed := a.waitEmail("ada@example.com", "eset", 0)
	mine := a.mustLoginPair("ada@example.com", "password123")
	other := a.mustLoginPair("ada@example.com", "password123")
	change := func(current, next string) string {
		return jsonBody("current_password", current, "new_password", next)
	}

	a.status(a.do("PUT", "/profile/password", change("wrong-password", "new-password-1"), bearer(mine.Token)...), 403, "wrong current")
	a.status(a.do("PUT", "/profile/password", change("password123", "short"), bearer(mine.Token)...), 400, "short new")
	a.status(a.do("PUT", "/profile/password", change("password123", strings.Repeat("é", 40)), bearer(mine.Token)...), 400, "new over 72 bytes")
	rec := a.status(a.do("PUT", "/profile/password", change(strings.Repeat("é", 40), "new-password-1"), bearer(mine.Token)...), 400, "current over 72 bytes")
	if p := problemOf(t, rec); p.Errors == nil || (*p.Errors)[0].Field != "/current_password" {
		t.Errorf("the problem names %s, want /current_password", rec.Body)
	}
	a.status(a.do("PUT", "/profile/password", change("password123", "new-password-1")), 401, "no token")
	if a.profileStatus(other.Token) != 200 {
		t.Fatal("a refused change ended a session")
	}
	a.status(a.do("PUT", "/profile/password", change("password123", "new-password-1"), bearer(mine.Token)...), 204, "change")
	if a.profileStatus(mine.Token) != 200 {
		t.Error("the caller's session ended")
	}
	if a.profileStatus(other.Token) != 401 {
		t.Error("another session survived the change")
	}
	// The validator's session check too, not only GET /profile's own query.
	a.status(a.do("GET", "/sessions", "", bearer(other.Token)...), 401, "another session on GET /sessions")
	a.status(a.do("POST", "/password/reset", jsonBody("token", mailed, "new_password", "attacker-pass-1")), 400, "a reset link mailed before the change")
	a.status(a.refresh(other.RefreshToken), 401, "another session's refresh")
	a.status(a.refresh(mine.RefreshToken), 200, "own refresh")
	a.status(a.do("POST", "/login", credentials("ada@example.com", "password123")), 401, "old password")
	a.mustLogin("ada@example.com", "new-password-1")
}

// TestDeleteProfile: the password is checked; the account and its sessions
// go; the email may register again.
func TestDeleteProfile(t *testing.T) {
	a := newTestAPI(t)
	a.mustRegister("ada@example.com", "password123")
	pair := a.mustLoginPair("ada@example.com", "password123")
	other := a.mustLoginPair("ada@example.com", "password123")

	a.status(a.do("DELETE", "/profile", jsonBody("password", "wrong-password"), bearer(pair.Token)...), 403, "wrong password")
	a.status(a.do("DELETE", "/profile", `{}`, bearer(pair.Token)...), 400, "no password")
	a.status(a.do("DELETE", "/profile", jsonBody("password", "password123")), 401, "no token")
	a.status(a.do("DELETE", "/profile", jsonBody("password", "password123"), bearer(pair.Token)...), 204, "delete")
	for _, tok := range []string{pair.Token, other.Token} {
		if got := a.profileStatus(tok); got != 401 {
			t.Errorf("token after deletion: %d", got)
		}
	}
	a.status(a.refresh(other.RefreshToken), 401, "refresh after deletion")
	a.status(a.do("POST", "/login", credentials("ada@example.com", "password123")), 401, "login after deletion")
	again := a.mustRegister("ada@example.com", "another-password")
	if again.EmailVerified {
		t.Error("a new account starts verified")
	}
	a.mustLogin("ada@example.com", "another-password")
}

// TestEmailVerification, end to end: registration queues the email (in its
// transaction), the worker makes the token and the console mailer logs it;
// the token verifies once, until VERIFY_TTL.
func TestEmailVerification(t *testing.T) {
	a := newTestAPI(t)
	a.startJobs()
	a.mustRegister("ada@example.com", "password123")
	tok := a.mustLogin("ada@example.com", "password123")
	if decode[oapi.User](t, a.do("GET", "/profile", "", bearer(tok)...)).EmailVerified {
		t.Fatal("verified before verifying")
	}
	token := a.waitEmail("ada@example.com", "Confirm", 0)

	a.status(a.do("POST", "/email/verify", jsonBody("token", "not-a-token")), 400, "unknown token")
	a.status(a.do("POST", "/email/verify", jsonBody("token", token)), 204, "verify")
	if !decode[oapi.User](t, a.do("GET", "/profile", "", bearer(tok)...)).EmailVerified {
		t.Error("not verified after verifying")
	}
	p := problemOf(t, a.status(a.do("POST", "/email/verify", jsonBody("token", token)), 400, "used token"))
	if p.Errors == nil || (*p.Errors)[0].Field != "/token" {
		t.Errorf("problem %+v does not name /token", p)
	}

	t.Run("resend and expiry", func(t *testing.T) {
		a := a.forInput(t)
		a.mustRegister("bob@example.com", "password123")
		bob := a.mustLogin("bob@example.com", "password123")
		a.waitEmail("bob@example.com", "Confirm", 0)
		a.status(a.do("POST", "/email/verify/resend", "", bearer(bob)...), 202, "resend")
		a.status(a.do("POST", "/email/verify/resend", ""), 401, "resend without a token")
		second := a.waitEmail("bob@example.com", "Confirm", 1)
		a.clock.Add(24*time.Hour + time.Second)
		a.status(a.do("POST", "/email/verify", jsonBody("token", second)), 400, "expired token")
	})

	t.Run("a token works until VERIFY_TTL", func(t *testing.T) {
		a := a.forInput(t)
		a.mustRegister("cy@example.com", "password123")
		token := a.waitEmail("cy@example.com", "Confirm", 0)
		a.clock.Add(a.srv.cfg.VerifyTTL - time.Minute)
		a.status(a.do("POST", "/email/verify", jsonBody("token", token)), 204, "a minute before VERIFY_TTL")
	})
}

// TestPasswordReset, end to end: forgot answers alike for any address and
// queues the same work; the emailed token resets once, until RESET_TTL, and
// ends every session.
func TestPasswordReset(t *testing.T) {
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
		a.clock.Add(a.srv.cfg.ResetTTL - 2*time.Minute) // the first has a minute left
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

// TestAccountRateLimits: the operations the spec marks x-keel-rate-limit
// share the per-IP limit; forgot is also limited per address.
func TestAccountRateLimits(t *testing.T) {
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
		"verifyEmail": true, "resendVerification": true, "changePassword": true, "deleteProfile": true}
	requests := map[string][2]string{
		"register": {"POST /register", credentials("x@example.com", "password123")}, "login": {"POST /login", credentials("x@example.com", "password123")},
		"forgotPassword": {"POST /password/forgot", jsonBody("email", "x@example.com")}, "resetPassword": {"POST /password/reset", jsonBody("token", "x", "new_password", "new-password-1")},
		"verifyEmail": {"POST /email/verify", jsonBody("token", "x")}, "resendVerification": {"POST /email/verify/resend", ""},
		"changePassword": {"PUT /profile/password", jsonBody("current_password", "password123", "new_password", "password456")}, "deleteProfile": {"DELETE /profile", jsonBody("password", "password123")},
	}
	marked := map[string]bool{}
	for _, op := range a.srv.ops {
		if op.rateLimited {
			marked[op.route.Operation.OperationID] = true
		}
	}
	if diff := cmp.Diff(want, marked); diff != "" {
		t.Errorf("operations marked x-keel-rate-limit (-want +got):\n%s", diff)
	}
	for id := range want {
		spent := newTestAPI(t, func(c *Config) { c.AuthRateLimit = 1 })
		spent.status(spent.do("POST", "/email/verify", jsonBody("token", "x")), 400, "the one request of the minute")
		method, path, _ := strings.Cut(requests[id][0], " ")
		spent.status(spent.do(method, path, requests[id][1]), 429, id+" once the budget is spent")
	}

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
