package server

import (
	"bytes"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/gen/oapi"
	"github.com/keelhq/keel/internal/mfa"
)

// The second factor through the real router, on both engines: codes are
// computed from the secret the API returned, by pquerna/otp, as an
// authenticator app would.

// codeAt is the authenticator app's code for secret (base32) at t.
func codeAt(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	code, err := totp.GenerateCode(secret, at)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// claimsOf reads an access token's payload (its signature is the server's
// business; TestProfile covers it).
func claimsOf(t *testing.T, jwt string) (aal string, amr []string) {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		AAL string   `json:"aal"`
		AMR []string `json:"amr"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c.AAL, c.AMR
}

// wantClaims checks an access token's aal and amr.
func wantClaims(t *testing.T, jwt, aal string, amr ...string) {
	t.Helper()
	if gotAAL, gotAMR := claimsOf(t, jwt); gotAAL != aal || !slices.Equal(gotAMR, amr) {
		t.Errorf("token claims aal %q amr %q, want %q %q", gotAAL, gotAMR, aal, amr)
	}
}

// enroll starts a TOTP factor with the access token.
func (a *testAPI) enroll(token string) oapi.TOTPEnrollment {
	a.t.Helper()
	return decode[oapi.TOTPEnrollment](a.t, a.status(a.do("POST", "/mfa/totp", "", bearer(token)...), 201, "POST /mfa/totp"))
}

// verifyFactor confirms factor id with code.
func (a *testAPI) verifyFactor(token, id, code string) *httptest.ResponseRecorder {
	a.t.Helper()
	return a.do("POST", "/mfa/totp/"+id+"/verify", jsonBody("code", code), bearer(token)...)
}

// mfaVerify sends POST /mfa/verify with one field.
func (a *testAPI) mfaVerify(token, field, value string) *httptest.ResponseRecorder {
	a.t.Helper()
	return a.do("POST", "/mfa/verify", jsonBody(field, value), bearer(token)...)
}

// mfaAccount registers email, enrolls and verifies a TOTP factor, and
// returns the secret, the recovery codes and the aal2 pair of that session.
func (a *testAPI) mfaAccount(email string) (secret string, codes []string, pair oapi.Token) {
	a.t.Helper()
	a.mustRegister(email, "password123")
	tok := a.mustLogin(email, "password123")
	e := a.enroll(tok)
	rec := a.status(a.verifyFactor(tok, e.ID, codeAt(a.t, e.Secret, a.clock.Now())), 200, "verify the factor")
	v := decode[oapi.FactorVerified](a.t, rec)
	return e.Secret, v.RecoveryCodes, v.Tokens
}

// wantMFARequired checks a 403 whose problem type is mfa-required.
func wantMFARequired(t *testing.T, rec *httptest.ResponseRecorder, what string) {
	t.Helper()
	if rec.Code != 403 {
		t.Errorf("%s: %d, want 403 mfa-required: %s", what, rec.Code, rec.Body)
		return
	}
	if p := problemOf(t, rec); p.Type != mfaRequiredType {
		t.Errorf("%s: problem type %q, want %q", what, p.Type, mfaRequiredType)
	}
}

// TestMFAEnrollVerifyLogin: enrol → verify (recovery codes, the session at
// aal2) → a new login is aal1 and may only verify, log out and list factors
// → POST /mfa/verify gives the same session's pair at aal2; refresh keeps it.
func TestMFAEnrollVerifyLogin(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	a.mustRegister("ada@example.com", "password123")
	first := a.mustLoginPair("ada@example.com", "password123")
	wantClaims(t, first.Token, "aal1", "pwd")
	a.status(a.do("GET", "/profile", "", bearer(first.Token)...), 200, "profile without a factor")

	e := a.enroll(first.Token)
	if len(e.Secret) != 32 { // 160 bits in base32
		t.Errorf("secret %q: %d characters, want 32 (160 bits)", e.Secret, len(e.Secret))
	}
	u, err := url.Parse(e.OtpauthURI)
	if err != nil || u.Scheme != "otpauth" || u.Host != "totp" || u.Path != "/keel:ada@example.com" ||
		u.Query().Get("secret") != e.Secret || u.Query().Get("issuer") != "keel" || u.Query().Get("period") != "30" ||
		u.Query().Get("digits") != "6" || u.Query().Get("algorithm") != "SHA1" {
		t.Errorf("otpauth_uri %q", e.OtpauthURI)
	}
	list := a.status(a.do("GET", "/mfa/factors", "", bearer(first.Token)...), 200, "list factors")
	if strings.Contains(list.Body.String(), e.Secret) {
		t.Errorf("GET /mfa/factors shows the secret: %s", list.Body)
	}
	if f := decode[[]oapi.Factor](t, list); len(f) != 1 || f[0].ID != e.ID || f[0].Verified || f[0].Type != "totp" {
		t.Errorf("factors before verification: %+v", f)
	}
	// Until it is verified, the factor asks nothing of the account.
	a.status(a.do("GET", "/sessions", "", bearer(first.Token)...), 200, "sessions with an unverified factor")

	a.status(a.verifyFactor(first.Token, e.ID, "000000"), 400, "a wrong code")
	rec := a.status(a.verifyFactor(first.Token, e.ID, codeAt(t, e.Secret, a.clock.Now())), 200, "verify the factor")
	v := decode[oapi.FactorVerified](t, rec)
	if len(v.RecoveryCodes) != 10 {
		t.Errorf("%d recovery codes, want 10", len(v.RecoveryCodes))
	}
	wantClaims(t, v.Tokens.Token, "aal2", "pwd", "otp", "mfa")
	if a.sessionOf(v.Tokens.Token) != a.sessionOf(first.Token) {
		t.Error("the verification's pair is of another session")
	}
	a.status(a.do("GET", "/profile", "", bearer(v.Tokens.Token)...), 200, "profile at aal2")
	a.status(a.do("POST", "/mfa/totp", "", bearer(v.Tokens.Token)...), 409, "a second TOTP factor")

	// A new password login: aal1, and the account has a factor.
	second := a.mustLoginPair("ada@example.com", "password123")
	wantClaims(t, second.Token, "aal1", "pwd")
	wantMFARequired(t, a.do("GET", "/profile", "", bearer(second.Token)...), "GET /profile at aal1")
	if f := decode[[]oapi.Factor](t, a.status(a.do("GET", "/mfa/factors", "", bearer(second.Token)...), 200, "factors at aal1")); len(f) != 1 || !f[0].Verified {
		t.Errorf("factors at aal1: %+v", f)
	}
	sessions := decode[[]oapi.Session](t, a.status(a.do("GET", "/sessions", "", bearer(v.Tokens.Token)...), 200, "sessions"))
	levels := map[string]oapi.AAL{}
	for _, s := range sessions {
		levels[s.ID] = s.Aal
	}
	if levels[a.sessionOf(first.Token)] != "aal2" || levels[a.sessionOf(second.Token)] != "aal1" || len(levels) != 2 {
		t.Errorf("GET /sessions levels %v, want the first aal2 and the second aal1", levels)
	}

	a.clock.Add(mfa.Period) // the next code
	rec = a.status(a.mfaVerify(second.Token, "code", codeAt(t, e.Secret, a.clock.Now())), 200, "POST /mfa/verify")
	up := decode[oapi.Token](t, rec)
	wantClaims(t, up.Token, "aal2", "pwd", "otp", "mfa")
	if a.sessionOf(up.Token) != a.sessionOf(second.Token) {
		t.Error("POST /mfa/verify answered with another session's pair")
	}
	a.status(a.do("GET", "/profile", "", bearer(up.Token)...), 200, "profile after POST /mfa/verify")

	// A refresh keeps the level.
	refreshed := decode[oapi.Token](t, a.status(a.refresh(up.RefreshToken), 200, "refresh at aal2"))
	wantClaims(t, refreshed.Token, "aal2", "pwd", "otp", "mfa")
	a.status(a.do("POST", "/logout", "", bearer(refreshed.Token)...), 204, "logout at aal2")
}

// TestMFAOldRefreshToken: a refresh token minted before the upgrade cannot
// mint aal2 tokens: it is spent, so presenting it ends the session (even
// within REFRESH_REUSE_INTERVAL, which covers only the token just replaced).
func TestMFAOldRefreshToken(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, func(c *Config) { c.RefreshReuseInterval = time.Hour })
	secret, _, _ := a.mfaAccount("ada@example.com")
	login := a.mustLoginPair("ada@example.com", "password123")
	a.clock.Add(mfa.Period)
	up := decode[oapi.Token](t, a.status(a.mfaVerify(login.Token, "code", codeAt(t, secret, a.clock.Now())), 200, "POST /mfa/verify"))
	a.status(a.refresh(login.RefreshToken), 401, "the refresh token of before the upgrade")
	if code := a.profileStatus(up.Token); code != 401 {
		t.Errorf("the session after its old refresh token came back: %d, want 401 (ended)", code)
	}
}

// TestMFAAssuranceGate: an aal1 session of an account with a verified factor
// gets 403 mfa-required from every bearer operation of the spec but POST
// /mfa/verify, POST /logout and GET /mfa/factors; an aal2 session gets none.
func TestMFAAssuranceGate(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	a.mfaAccount("ada@example.com")
	bodies := map[string]string{
		"changePassword":      jsonBody("current_password", "password123", "new_password", "password456"),
		"deleteProfile":       jsonBody("password", "password123"),
		"verifyTOTPFactor":    jsonBody("code", "123456"),
		"verifyMFA":           jsonBody("code", "123456"),
		"linkIdentity":        jsonBody("redirect_to", "https://app.example/done", "code_challenge", strings.Repeat("A", 43)),
		"registerPasskey":     `{"flow_id":"x","name":"phone","credential":{"id":"x"}}`,
		"renamePasskey":       jsonBody("name", "phone"),
		"deleteMFAFactor":     jsonBody("code", "123456"),
		"reauthenticate":      jsonBody("password", "password123"),
		"answerDeviceRequest": `{"user_code":"BDFG-HJKL","approve":false}`,
		"updateProfile":       `{"user_metadata":{}}`,
	}
	// Required query parameters (400 before the gate without them).
	queries := map[string]string{"getDeviceRequest": "?user_code=BDFG-HJKL"}
	// Path parameters the spec would refuse as "x" (400 before the gate).
	refs := map[string]string{"linkIdentity": "google", "deleteIdentity": "1"}
	allowed := map[string]bool{"verifyMFA": true, "logout": true, "listMFAFactors": true}
	var seen []string
	for key, op := range a.srv.ops {
		if !op.Bearer {
			continue
		}
		t.Run(op.ID, func(t *testing.T) {
			body, ok := bodies[op.ID]
			if op.Body && !ok {
				t.Fatalf("%s takes a body: add a valid one to this test", op.ID)
			}
			ref := refs[op.ID]
			if ref == "" {
				ref = "x"
			}
			path := strings.NewReplacer(":id", "x", ":ref", ref).Replace(key.Path) + queries[op.ID]
			tok := a.mustLogin("ada@example.com", "password123")
			rec := a.do(key.Method, path, body, bearer(tok)...)
			if allowed[op.ID] {
				if rec.Code == 403 {
					t.Errorf("%s %s at aal1: 403, want it allowed", key.Method, path)
				}
				return
			}
			wantMFARequired(t, rec, key.Method+" "+path+" at aal1")
			// An aal2 session of an account of its own (the operation may end
			// sessions or the account) is not asked for a second factor.
			_, _, pair := a.mfaAccount(op.ID + "@example.com")
			if rec := a.do(key.Method, path, body, bearer(pair.Token)...); rec.Code == 403 && problemOf(t, rec).Type == mfaRequiredType {
				t.Errorf("%s %s at aal2: 403 mfa-required", key.Method, path)
			}
		})
		seen = append(seen, op.ID)
	}
	if len(seen) < 14 {
		t.Errorf("%d bearer operations seen, want all of them: %v", len(seen), seen)
	}
}

// TestMFAReplay: a code accepted once is refused when presented again
// within its window, for the same or another session; of two verifications
// with one code at once, exactly one succeeds.
func TestMFAReplay(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	secret, _, pair := a.mfaAccount("ada@example.com")
	enrolCode := codeAt(t, secret, a.clock.Now())

	t.Run("the enrolment's code, again", func(t *testing.T) {
		tok := a.mustLogin("ada@example.com", "password123")
		a.status(a.mfaVerify(tok, "code", enrolCode), 400, "the code the enrolment used")
		a.status(a.mfaVerify(pair.Token, "code", enrolCode), 400, "the same code on the session it upgraded")
	})
	a.clock.Add(mfa.Period)
	code := codeAt(t, secret, a.clock.Now())
	t.Run("same session, then another", func(t *testing.T) {
		tok := a.mustLogin("ada@example.com", "password123")
		up := decode[oapi.Token](t, a.status(a.mfaVerify(tok, "code", code), 200, "first use"))
		a.status(a.mfaVerify(up.Token, "code", code), 400, "the same code on the same session")
		other := a.mustLogin("ada@example.com", "password123")
		rec := a.status(a.mfaVerify(other, "code", code), 400, "the same code on another session")
		if p := problemOf(t, rec); p.Errors == nil || (*p.Errors)[0].Field != "/code" {
			t.Errorf("problem %+v, want it to name /code", p)
		}
		// Still inside its window: the clock has not moved.
		wantMFARequired(t, a.do("GET", "/profile", "", bearer(other)...), "the session the replay did not raise")
		if !a.logged("WARN", "presented again", a.sessionUser(other)) {
			t.Error("no warn line naming the account for the replayed code")
		}
	})
	a.clock.Add(time.Minute) // a fresh rate-limit budget and a fresh code
	code = codeAt(t, secret, a.clock.Now())
	t.Run("two sessions at once with one code", func(t *testing.T) {
		toks := []string{a.mustLogin("ada@example.com", "password123"), a.mustLogin("ada@example.com", "password123")}
		codes := make([]int, len(toks))
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, tok := range toks {
			wg.Go(func() {
				<-start
				codes[i] = a.mfaVerify(tok, "code", code).Code
			})
		}
		close(start)
		wg.Wait()
		slices.Sort(codes)
		if !slices.Equal(codes, []int{200, 400}) {
			t.Errorf("two verifications with one code at once: %v, want one 200 and one 400", codes)
		}
	})
}

// TestMFASkew: a code of the step before or after the server's is accepted
// (clock skew), older or newer ones are not.
func TestMFASkew(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		offset time.Duration
		want   int
	}{
		{"two steps old", -2 * mfa.Period, 400},
		{"the previous step", -mfa.Period, 200},
		{"the current step", 0, 200},
		{"the next step", mfa.Period, 200},
		{"two steps ahead", 2 * mfa.Period, 400},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := newTestAPI(t)
			secret, _, _ := a.mfaAccount("ada@example.com")
			a.clock.Add(5 * time.Minute) // well past the enrolment's step
			tok := a.mustLogin("ada@example.com", "password123")
			a.status(a.mfaVerify(tok, "code", codeAt(t, secret, a.clock.Now().Add(tt.offset))), tt.want, tt.name)
		})
	}
}

// TestMFARateLimit: five wrong codes (TOTP or recovery) a minute per
// account, then 429 with Retry-After, for a right code too (it is not
// judged); right codes never count, however many; the limit is per account.
func TestMFARateLimit(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	secret, codes, _ := a.mfaAccount("ada@example.com")
	bobSecret, _, _ := a.mfaAccount("bob@example.com")
	a.clock.Add(time.Minute)
	for i, code := range codes[:7] {
		tok := a.mustLogin("ada@example.com", "password123")
		a.status(a.mfaVerify(tok, "recovery_code", code), 200, fmt.Sprintf("right recovery code %d in a minute", i+1))
	}
	tok := a.mustLogin("ada@example.com", "password123")
	a.status(a.mfaVerify(tok, "code", codeAt(t, secret, a.clock.Now())), 200, "a right TOTP code after seven right recovery codes")
	tok = a.mustLogin("ada@example.com", "password123")
	for i := range 5 {
		a.status(a.mfaVerify(tok, "code", "000000"), 400, fmt.Sprintf("wrong code %d", i+1))
	}
	a.status(a.mfaVerify(tok, "code", "000000"), 429, "a sixth wrong code")
	next := codeAt(t, secret, a.clock.Now().Add(mfa.Period)) // right (a step of skew), and unused
	rec := a.status(a.mfaVerify(tok, "code", next), 429, "the right code after five wrong ones")
	if s, err := strconv.Atoi(rec.Header().Get("Retry-After")); err != nil || s < 1 || s > 60 {
		t.Errorf("Retry-After %q", rec.Header().Get("Retry-After"))
	}
	a.status(a.mfaVerify(tok, "recovery_code", codes[8]), 429, "a recovery code after five wrong codes")
	// The limit is per account.
	bob := a.mustLogin("bob@example.com", "password123")
	a.status(a.mfaVerify(bob, "code", codeAt(t, bobSecret, a.clock.Now())), 200, "another account's code")
	a.clock.Add(time.Minute)
	a.status(a.mfaVerify(tok, "code", codeAt(t, secret, a.clock.Now())), 200, "the right code a minute later")
}

// TestMFARecoveryCodes: a recovery code raises a session once; a new set
// (aal2 only) voids the old one.
func TestMFARecoveryCodes(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, codes, pair := a.mfaAccount("ada@example.com")
	tok := a.mustLogin("ada@example.com", "password123")
	wantMFARequired(t, a.do("POST", "/mfa/recovery-codes", "", bearer(tok)...), "new recovery codes at aal1")
	up := decode[oapi.Token](t, a.status(a.mfaVerify(tok, "recovery_code", strings.ToUpper(codes[0])), 200, "a recovery code"))
	wantClaims(t, up.Token, "aal2", "pwd", "otp", "mfa")
	again := a.mustLogin("ada@example.com", "password123")
	rec := a.status(a.mfaVerify(again, "recovery_code", codes[0]), 400, "a spent recovery code")
	if p := problemOf(t, rec); p.Errors == nil || (*p.Errors)[0].Field != "/recovery_code" {
		t.Errorf("problem %+v, want it to name /recovery_code", p)
	}
	a.status(a.do("POST", "/mfa/verify", `{"code":"123456","recovery_code":"x"}`, bearer(again)...), 400, "both fields")
	a.status(a.do("POST", "/mfa/verify", `{}`, bearer(again)...), 400, "neither field")

	fresh := decode[oapi.RecoveryCodes](t, a.status(a.do("POST", "/mfa/recovery-codes", "", bearer(pair.Token)...), 200, "new recovery codes"))
	if len(fresh.RecoveryCodes) != 10 || slices.Contains(fresh.RecoveryCodes, codes[1]) {
		t.Errorf("new recovery codes %v", fresh.RecoveryCodes)
	}
	a.status(a.mfaVerify(again, "recovery_code", codes[1]), 400, "a code of the old set")
	a.status(a.mfaVerify(again, "recovery_code", fresh.RecoveryCodes[1]), 200, "a code of the new set")
}

// TestMFARemoveFactor: removing a factor needs aal2 (and a code of it);
// removing the last one lowers every session of the account and voids the
// recovery codes; an unknown factor is 404.
func TestMFARemoveFactor(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	secret, codes, pair := a.mfaAccount("ada@example.com")
	pending := a.mustLogin("ada@example.com", "password123")
	factors := decode[[]oapi.Factor](t, a.do("GET", "/mfa/factors", "", bearer(pair.Token)...))
	id := factors[0].ID
	a.clock.Add(mfa.Period) // the next code
	code := jsonBody("code", codeAt(t, secret, a.clock.Now()))
	wantMFARequired(t, a.do("DELETE", "/mfa/factors/"+id, code, bearer(pending)...), "removing the factor at aal1")
	wantMFARequired(t, a.do("PUT", "/profile/password", jsonBody("current_password", "password123", "new_password", "password456"), bearer(pending)...), "changing the password at aal1")
	wantMFARequired(t, a.do("DELETE", "/profile", jsonBody("password", "password123"), bearer(pending)...), "deleting the account at aal1")
	a.status(a.do("DELETE", "/mfa/factors/nope", code, bearer(pair.Token)...), 404, "an unknown factor")

	a.status(a.do("DELETE", "/mfa/factors/"+id, code, bearer(pair.Token)...), 204, "removing the factor at aal2")
	for _, s := range decode[[]oapi.Session](t, a.do("GET", "/sessions", "", bearer(pending)...)) {
		if s.Aal != "aal1" {
			t.Errorf("session %s is %s after the last factor went, want aal1", s.ID, s.Aal)
		}
	}
	a.status(a.do("GET", "/profile", "", bearer(pending)...), 200, "the aal1 session without a factor")
	// The lowered session's aal2 token is of an older level generation;
	// its refreshed one is aal1.
	a.status(a.do("POST", "/mfa/recovery-codes", "", bearer(pair.Token)...), 401, "the aal2 token of a lowered session")
	lowered := decode[oapi.Token](t, a.status(a.refresh(pair.RefreshToken), 200, "refresh the lowered session"))
	wantClaims(t, lowered.Token, "aal1", "pwd")
	wantMFARequired(t, a.do("POST", "/mfa/recovery-codes", "", bearer(lowered.Token)...), "recovery codes for a lowered session")
	a.status(a.mfaVerify(pending, "recovery_code", codes[0]), 400, "a recovery code with no factor")
	a.status(a.do("PUT", "/profile/password", jsonBody("current_password", "password123", "new_password", "password456"), bearer(pending)...), 204, "changing the password without a factor")

	// The account can enrol again; the new factor gives a new set of codes.
	e := a.enroll(pending)
	v := decode[oapi.FactorVerified](t, a.status(a.verifyFactor(pending, e.ID, codeAt(t, e.Secret, a.clock.Now())), 200, "verify a new factor"))
	a.status(a.do("DELETE", "/profile", jsonBody("password", "password456"), bearer(v.Tokens.Token)...), 204, "deleting the account at aal2")
}

// TestMFAEnrollment: an enrolment expires unverified; another user's factor
// is unknown; a new enrolment replaces an unverified one.
func TestMFAEnrollment(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	a.mustRegister("ada@example.com", "password123")
	a.mustRegister("bob@example.com", "password123")
	ada, bob := a.mustLogin("ada@example.com", "password123"), a.mustLogin("bob@example.com", "password123")
	e := a.enroll(ada)
	a.status(a.verifyFactor(bob, e.ID, codeAt(t, e.Secret, a.clock.Now())), 404, "another user's factor")
	a.status(a.do("DELETE", "/mfa/factors/"+e.ID, jsonBody("code", codeAt(t, e.Secret, a.clock.Now())), bearer(bob)...), 404,
		"removing another user's factor")
	a.clock.Add(factorTTL)
	ada = a.mustLogin("ada@example.com", "password123") // a fresh proof for the next enrolments (REAUTH_MAX_AGE)
	a.status(a.verifyFactor(ada, e.ID, codeAt(t, e.Secret, a.clock.Now())), 404, "an expired enrolment")
	if f := decode[[]oapi.Factor](t, a.do("GET", "/mfa/factors", "", bearer(ada)...)); len(f) != 0 {
		t.Errorf("an expired enrolment is listed: %+v", f)
	}
	first := a.enroll(ada)
	second := a.enroll(ada)
	a.status(a.verifyFactor(ada, first.ID, codeAt(t, first.Secret, a.clock.Now())), 404, "an enrolment replaced by a newer one")
	v := decode[oapi.FactorVerified](t, a.status(a.verifyFactor(ada, second.ID, codeAt(t, second.Secret, a.clock.Now())), 200, "the newer enrolment"))
	ada = v.Tokens.Token // the session's level moved on: the token of before gets 401 (TestSessionLevelGeneration)
	a.status(a.verifyFactor(ada, second.ID, codeAt(t, second.Secret, a.clock.Now().Add(mfa.Period))), 409, "verifying it again")
	a.status(a.verifyFactor(ada, second.ID, "12345"), 400, "a code of five digits")
}

// TestMFASecretsAtRest: the database holds TOTP secrets only sealed (another
// key cannot open them) and recovery codes only as keyed hashes; no secret
// or code reaches the log.
func TestMFASecretsAtRest(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	secret, codes, _ := a.mfaAccount("ada@example.com")
	raw, err := mfa.New([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := base32NoPad(secret)
	if err != nil {
		t.Fatal(err)
	}
	var id string
	var sealed []byte
	if err := a.db.raw.QueryRow(`SELECT id, secret FROM mfa_factors`).Scan(&id, &sealed); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, plain) || bytes.Contains(sealed, []byte(secret)) {
		t.Error("mfa_factors.secret holds the TOTP secret in the clear")
	}
	if got, err := raw.Open(id, sealed); err != nil || !bytes.Equal(got, plain) {
		t.Errorf("the server's key does not open the stored secret: %v", err)
	}
	other, _ := mfa.New([]byte("a-leaked-database-has-not-this-key-0123"))
	if _, err := other.Open(id, sealed); err == nil {
		t.Error("another key opens the stored secret")
	}
	rows, err := a.db.raw.Query(`SELECT hash FROM mfa_recovery_codes`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var stored []string
	for rows.Next() {
		var h string
		rows.Scan(&h)
		stored = append(stored, h)
	}
	if len(stored) != 10 {
		t.Errorf("%d recovery code rows, want 10", len(stored))
	}
	for _, c := range codes {
		bare := strings.ReplaceAll(c, "-", "")
		for _, h := range stored {
			if strings.Contains(strings.ToLower(h), bare) || h == db.HashToken(c) {
				t.Errorf("recovery code %s is stored in the clear or unkeyed", c)
			}
		}
	}
	logs := a.logs.String()
	for _, s := range append([]string{secret}, codes...) {
		if strings.Contains(logs, s) {
			t.Errorf("the log holds %q", s)
		}
	}
}

func base32NoPad(s string) ([]byte, error) {
	return base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
}

// TestAMROf: a token's amr says no more than its session's level: otp and
// mfa after a second factor, mfa from a user-verifying passkey, and no mfa
// once the session is lowered to aal1 (AAL2_MAX_AGE, the last factor removed).
func TestAMROf(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ aal, stored, want string }{
		{db.AAL1, "", "pwd"},
		{db.AAL1, "pwd", "pwd"},
		{db.AAL2, "pwd", "pwd otp mfa"},
		{db.AAL2, "swk user mfa", "swk user mfa"},
		{db.AAL1, "swk user mfa", "swk user"},
		{db.AAL2, "hwk", "hwk otp mfa"},
		{db.AAL1, "urn:keel:amr:fed", "urn:keel:amr:fed"},
	} {
		if got := amrOf(db.Session{AAL: tt.aal, AMR: tt.stored}); got != tt.want {
			t.Errorf("amrOf(%s, %q) = %q, want %q", tt.aal, tt.stored, got, tt.want)
		}
	}
}
