package server

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/gen/oapi"
	"github.com/keelhq/keel/internal/token"
)

// levelOf is an access token's lvl claim (0 when absent).
func levelOf(t *testing.T, jwt string) int64 {
	t.Helper()
	parts := strings.Split(jwt, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Level int64 `json:"lvl"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c.Level
}

// wantBadBearer checks the ordinary bad-token answer: 401, after which a
// client refreshes.
func wantBadBearer(t *testing.T, a *testAPI, token, what string) {
	t.Helper()
	rec := a.do("GET", "/profile", "", bearer(token)...)
	if rec.Code != 401 || !strings.Contains(rec.Body.String(), errBadBearer.Detail) {
		t.Errorf("%s: %d %s, want 401 %q", what, rec.Code, rec.Body, errBadBearer.Detail)
	}
}

// TestSessionLevelGeneration: access tokens carry their session's level
// generation (lvl); a raise to aal2 (a factor confirmed, a code, a recovery
// code) or a lowering (the last factor removed) moves it on, and a token of
// an older generation gets 401 while the new pair works.
func TestSessionLevelGeneration(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	a.mustRegister("ada@example.com", "password123")
	first := a.mustLoginPair("ada@example.com", "password123")
	if l := levelOf(t, first.Token); l != 0 {
		t.Errorf("a new session's token: lvl %d, want 0", l)
	}
	e := a.enroll(first.Token)
	confirmed := decode[oapi.FactorVerified](t, a.status(a.verifyFactor(first.Token, e.ID, codeAt(t, e.Secret, a.clock.Now())), 200, "confirm the factor"))
	if l := levelOf(t, confirmed.Tokens.Token); l != 1 {
		t.Errorf("after the factor: lvl %d, want 1", l)
	}
	wantBadBearer(t, a, first.Token, "the aal1 token of before the factor")
	a.status(a.do("GET", "/profile", "", bearer(confirmed.Tokens.Token)...), 200, "the new aal2 token")

	pending := a.mustLoginPair("ada@example.com", "password123")
	up := decode[oapi.Token](t, a.status(a.mfaVerify(pending.Token, "code", codeAt(t, e.Secret, a.clock.Now().Add(30*time.Second))), 200, "a code"))
	wantBadBearer(t, a, pending.Token, "the aal1 token of before the code")
	a.status(a.do("GET", "/profile", "", bearer(up.Token)...), 200, "the token after the code")

	recovering := a.mustLoginPair("ada@example.com", "password123")
	rup := decode[oapi.Token](t, a.status(a.mfaVerify(recovering.Token, "recovery_code", confirmed.RecoveryCodes[0]), 200, "a recovery code"))
	wantBadBearer(t, a, recovering.Token, "the aal1 token of before the recovery code")
	a.status(a.do("GET", "/profile", "", bearer(rup.Token)...), 200, "the token after the recovery code")

	a.status(a.do("DELETE", "/mfa/factors/"+e.ID, jsonBody("recovery_code", confirmed.RecoveryCodes[1]), bearer(up.Token)...), 204, "remove the factor")
	for _, tok := range []string{confirmed.Tokens.Token, up.Token, rup.Token} {
		wantBadBearer(t, a, tok, "an aal2 token after the last factor went")
	}
	again := decode[oapi.Token](t, a.status(a.refresh(up.RefreshToken), 200, "refresh the lowered session"))
	wantClaims(t, again.Token, "aal1", "pwd")
	a.status(a.do("GET", "/profile", "", bearer(again.Token)...), 200, "the lowered session's new token")
}

// TestAAL2MaxAge: an aal2 session is aal1 again AAL2_MAX_AGE after its
// second factor: its aal2 token gets 401, the refreshed token is aal1 and
// asks for a code, and a code raises it again for another AAL2_MAX_AGE.
func TestAAL2MaxAge(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, func(c *Config) { c.AAL2MaxAge = 10 * time.Minute }) // shorter than JWT_TTL
	secret, _, pair := a.mfaAccount("ada@example.com")
	a.clock.Add(10*time.Minute - time.Second)
	a.status(a.do("GET", "/profile", "", bearer(pair.Token)...), 200, "aal2 just before AAL2_MAX_AGE")
	pair = decode[oapi.Token](t, a.status(a.refresh(pair.RefreshToken), 200, "a refresh keeps aal2"))
	wantClaims(t, pair.Token, "aal2", "pwd", "otp", "mfa")

	if pair.ExpiresIn != 1 {
		t.Errorf("expires_in %d a second before AAL2_MAX_AGE, want 1: no aal2 token outlives it", pair.ExpiresIn)
	}
	a.clock.Add(time.Second + token.Leeway)
	wantBadBearer(t, a, pair.Token, "the aal2 token at AAL2_MAX_AGE (and the clock leeway)")
	low := decode[oapi.Token](t, a.status(a.refresh(pair.RefreshToken), 200, "refresh the lowered session"))
	wantClaims(t, low.Token, "aal1", "pwd")
	if sess, err := a.store.GetSession(t.Context(), a.sessionOf(low.Token)); err != nil || sess.AAL != db.AAL1 {
		t.Errorf("the session past AAL2_MAX_AGE: %+v %v, want aal1", sess.AAL, err)
	}
	wantMFARequired(t, a.do("GET", "/profile", "", bearer(low.Token)...), "the lowered session")
	up := decode[oapi.Token](t, a.status(a.mfaVerify(low.Token, "code", codeAt(t, secret, a.clock.Now())), 200, "a code raises it again"))
	a.status(a.do("GET", "/profile", "", bearer(up.Token)...), 200, "aal2 again")

	// A session whose token expired meanwhile is lowered by its refresh.
	a.clock.Add(time.Hour)
	low = decode[oapi.Token](t, a.status(a.refresh(up.RefreshToken), 200, "refresh past AAL2_MAX_AGE"))
	wantClaims(t, low.Token, "aal1", "pwd")
}

// TestSessionMaxAge: every session ends SESSION_MAX_AGE after its login,
// however often it was refreshed: its refresh and its access tokens get 401.
func TestSessionMaxAge(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, func(c *Config) { c.SessionMaxAge = 2 * time.Hour })
	a.mustRegister("ada@example.com", "password123")
	pair := a.mustLoginPair("ada@example.com", "password123")
	if pair.RefreshExpiresIn != int64((2 * time.Hour).Seconds()) {
		t.Errorf("refresh_expires_in %d, want SESSION_MAX_AGE's %d", pair.RefreshExpiresIn, int64((2 * time.Hour).Seconds()))
	}
	for range 3 {
		a.clock.Add(39 * time.Minute)
		pair = decode[oapi.Token](t, a.status(a.refresh(pair.RefreshToken), 200, "refresh within SESSION_MAX_AGE"))
	}
	if pair.RefreshExpiresIn != int64((3*time.Minute).Seconds()) || pair.ExpiresIn != int64((3*time.Minute).Seconds()) {
		t.Errorf("refresh_expires_in %d, expires_in %d after 117 minutes, want the 180 seconds left", pair.RefreshExpiresIn, pair.ExpiresIn)
	}
	a.status(a.do("GET", "/profile", "", bearer(pair.Token)...), 200, "within SESSION_MAX_AGE")
	sid := a.sessionOf(pair.Token)
	a.clock.Add(3 * time.Minute)
	a.status(a.refresh(pair.RefreshToken), 401, "refresh at SESSION_MAX_AGE")
	a.clock.Add(token.Leeway)
	wantBadBearer(t, a, pair.Token, "an access token at SESSION_MAX_AGE (and the clock leeway)")
	if _, err := a.store.GetSession(t.Context(), sid); err != db.ErrNoSession {
		t.Errorf("the session after SESSION_MAX_AGE: %v, want it ended", err)
	}
}

// TestMFAPendingTTL: a session waiting for its second factor is not
// refreshed, and ends MFA_PENDING_TTL after its login unless a code raises it.
func TestMFAPendingTTL(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, func(c *Config) { c.MFAPendingTTL = 5 * time.Minute })
	secret, _, _ := a.mfaAccount("ada@example.com")
	pending := a.mustLoginPair("ada@example.com", "password123")
	if pending.ExpiresIn != int64((5 * time.Minute).Seconds()) {
		t.Errorf("expires_in %d of a session waiting for its second factor, want MFA_PENDING_TTL's 300", pending.ExpiresIn)
	}
	a.status(a.refresh(pending.RefreshToken), 401, "refresh a session waiting for its second factor")
	a.clock.Add(5*time.Minute - time.Second)
	wantMFARequired(t, a.do("GET", "/profile", "", bearer(pending.Token)...), "waiting, within MFA_PENDING_TTL")
	up := decode[oapi.Token](t, a.status(a.mfaVerify(pending.Token, "code", codeAt(t, secret, a.clock.Now())), 200, "a code within MFA_PENDING_TTL"))
	a.clock.Add(6 * time.Minute)
	a.status(a.do("GET", "/profile", "", bearer(up.Token)...), 200, "a raised session outlives MFA_PENDING_TTL")

	late := a.mustLoginPair("ada@example.com", "password123")
	sid := a.sessionOf(late.Token)
	a.clock.Add(5 * time.Minute)
	a.status(a.refresh(late.RefreshToken), 401, "refresh at MFA_PENDING_TTL")
	a.clock.Add(token.Leeway)
	for _, op := range []struct{ method, path, body string }{
		{"GET", "/mfa/factors", ""},
		{"POST", "/mfa/verify", jsonBody("code", codeAt(t, secret, a.clock.Now()))},
	} {
		rec := a.do(op.method, op.path, op.body, bearer(late.Token)...)
		if rec.Code != 401 || !strings.Contains(rec.Body.String(), errBadBearer.Detail) {
			t.Errorf("%s %s at MFA_PENDING_TTL (and the clock leeway): %d %s, want 401 %q", op.method, op.path, rec.Code, rec.Body, errBadBearer.Detail)
		}
	}
	if _, err := a.store.GetSession(t.Context(), sid); err != db.ErrNoSession {
		t.Errorf("the session after MFA_PENDING_TTL: %v, want it ended", err)
	}
}
