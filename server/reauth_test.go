package server

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/descope/virtualwebauthn"

	"github.com/keelhq/keel/gen/oapi"
	"github.com/keelhq/keel/internal/mfa"
)

// testReauthMaxAge is REAUTH_MAX_AGE in these tests: not the default, so
// that the setting is what the gate reads.
const testReauthMaxAge = 2 * time.Minute

func newReauthAPI(t *testing.T) *testAPI {
	t.Helper()
	return newTestAPI(t, func(c *Config) { c.ReauthMaxAge = testReauthMaxAge })
}

// stale moves the clock past REAUTH_MAX_AGE: every session's proof is old.
func (a *testAPI) stale() { a.clock.Add(testReauthMaxAge) }

// wantReauthRequired checks a 403 whose problem type is
// reauthentication-required.
func wantReauthRequired(t *testing.T, rec *httptest.ResponseRecorder, what string) {
	t.Helper()
	if rec.Code != http.StatusForbidden {
		t.Errorf("%s: %d, want 403 reauthentication-required: %s", what, rec.Code, rec.Body)
		return
	}
	if p := problemOf(t, rec); p.Type != reauthRequiredType {
		t.Errorf("%s: problem type %q, want %q", what, p.Type, reauthRequiredType)
	}
}

// reauth is POST /reauthenticate with body.
func (a *testAPI) reauth(token, body string) *httptest.ResponseRecorder {
	a.t.Helper()
	return a.do("POST", "/reauthenticate", body, bearer(token)...)
}

// reauthPasskey proves the token's user again with d (its counter moved on
// one) and returns the answer.
func (a *testAPI) reauthPasskey(token string, d *device) *httptest.ResponseRecorder {
	a.t.Helper()
	o, raw := a.passkeyOptions("/reauthenticate/passkey/options", bearer(token)...)
	opts, err := virtualwebauthn.ParseAssertionOptions(raw)
	if err != nil {
		a.t.Fatal(err)
	}
	d.cred.Counter++
	answer := virtualwebauthn.CreateAssertionResponse(testRP, d.auth, d.cred, *opts)
	return a.reauth(token, fmt.Sprintf(`{"flow_id":%q,"credential":%s}`, o.FlowID, answer))
}

// fresh says whether the token's session may change the account's ways in:
// POST /passkeys/register/options, a gated operation that changes nothing.
func (a *testAPI) fresh(token string) bool {
	a.t.Helper()
	rec := a.do("POST", "/passkeys/register/options", "", bearer(token)...)
	switch {
	case rec.Code == http.StatusOK:
		return true
	case rec.Code == http.StatusForbidden && problemOf(a.t, rec).Type == reauthRequiredType:
		return false
	}
	a.t.Fatalf("POST /passkeys/register/options: %d %s", rec.Code, rec.Body)
	return false
}

// TestReauthRequired: each operation that changes the account's ways in
// (registering or removing a passkey, enrolling or removing a TOTP factor,
// new recovery codes, linking or unlinking a provider account) answers 403
// reauthentication-required once the session's last proof is older than
// REAUTH_MAX_AGE, and goes through after POST /reauthenticate.
func TestReauthRequired(t *testing.T) {
	t.Parallel()
	a := newOAuthAPIWith(t, nil)
	a.testAPI.srv.cfg.ReauthMaxAge = testReauthMaxAge
	a.user("ada-at-corp", "ada@corp.example", true)

	type request struct {
		method, path, body string
		want               int
	}
	cases := []struct {
		op string
		// setup makes an account (email) and returns a token of it at aal2
		// and the request, prepared while the session was fresh.
		setup func(t *testing.T, email string) (string, request)
	}{
		{"passkeyRegisterOptions", func(t *testing.T, email string) (string, request) {
			a.mustRegister(email, "password123")
			return a.mustLogin(email, "password123"), request{"POST", "/passkeys/register/options", "", 200}
		}},
		{"registerPasskey", func(t *testing.T, email string) (string, request) {
			a.mustRegister(email, "password123")
			tok := a.mustLogin(email, "password123")
			o, raw := a.passkeyOptions("/passkeys/register/options", bearer(tok)...)
			return tok, request{"POST", "/passkeys/register", a.registration(o.FlowID, raw, "key", newDevice(), testRP), 201}
		}},
		{"deletePasskey", func(t *testing.T, email string) (string, request) {
			_, tok := a.passkeyAccount(email)
			id := decode[[]oapi.Passkey](t, a.do("GET", "/passkeys", "", bearer(tok)...))[0].ID
			return tok, request{"DELETE", "/passkeys/" + id, "", 204}
		}},
		{"enrollTOTP", func(t *testing.T, email string) (string, request) {
			a.mustRegister(email, "password123")
			return a.mustLogin(email, "password123"), request{"POST", "/mfa/totp", "", 201}
		}},
		{"deleteMFAFactor", func(t *testing.T, email string) (string, request) {
			_, codes, pair := a.mfaAccount(email)
			id := decode[[]oapi.Factor](t, a.do("GET", "/mfa/factors", "", bearer(pair.Token)...))[0].ID
			return pair.Token, request{"DELETE", "/mfa/factors/" + id, jsonBody("recovery_code", codes[0]), 204}
		}},
		{"regenerateRecoveryCodes", func(t *testing.T, email string) (string, request) {
			_, _, pair := a.mfaAccount(email)
			return pair.Token, request{"POST", "/mfa/recovery-codes", "", 200}
		}},
		{"linkIdentity", func(t *testing.T, email string) (string, request) {
			a.mustRegister(email, "password123")
			c := newApp()
			return a.mustLogin(email, "password123"), request{"POST", "/profile/identities/corp",
				jsonBody("redirect_to", appURL, "code_challenge", c.challenge()), 200}
		}},
		{"deleteIdentity", func(t *testing.T, email string) (string, request) {
			a.mustRegister(email, "password123")
			tok := a.mustLogin(email, "password123")
			c := newApp()
			code := a.code(a.link(tok, "corp", "ada-at-corp", c))
			a.status(a.exchange(code, c.verifier), 200, "link")
			id := a.identities(tok)[0].ID
			return tok, request{"DELETE", fmt.Sprint("/profile/identities/", id), "", 204}
		}},
	}
	gated := map[string]bool{}
	for _, c := range cases {
		gated[c.op] = true
	}
	for id := range needFreshProof {
		if !gated[id] {
			t.Errorf("%s needs a fresh proof but has no case here", id)
		}
	}
	for i, c := range cases {
		t.Run(c.op, func(t *testing.T) { // not parallel: each moves the shared clock
			a := a.forInput(t)
			tok, req := c.setup(t, fmt.Sprintf("user%d@example.com", i))
			a.stale()
			wantReauthRequired(t, a.do(req.method, req.path, req.body, bearer(tok)...), c.op+" after REAUTH_MAX_AGE")
			a.status(a.reauth(tok, jsonBody("password", "password123")), 204, "POST /reauthenticate")
			a.status(a.do(req.method, req.path, req.body, bearer(tok)...), req.want, c.op+" after POST /reauthenticate")
		})
	}
}

// TestReauthenticateProofs: POST /reauthenticate takes each kind of proof
// (a password, a TOTP code, a recovery code, a user-verifying passkey of the
// user's own) and makes that session, and no other, fresh; a wrong or used
// proof leaves it stale.
func TestReauthenticateProofs(t *testing.T) {
	t.Parallel()
	a := newReauthAPI(t)
	secret, codes, pair := a.mfaAccount("ada@example.com")
	d := newDevice()
	a.mustRegisterPasskey(pair.Token, d)
	tok := pair.Token
	// Another aal2 session of the same user, which the proofs must not touch.
	other := decode[oapi.Token](t, a.status(a.mfaVerify(a.mustLogin("ada@example.com", "password123"), "recovery_code", codes[9]), 200, "POST /mfa/verify")).Token
	a.clock.Add(mfa.Period)
	var proved string // the code proved with

	proofs := []struct {
		name  string
		prove func() *httptest.ResponseRecorder
	}{
		{"password", func() *httptest.ResponseRecorder { return a.reauth(tok, jsonBody("password", "password123")) }},
		{"code", func() *httptest.ResponseRecorder {
			a.clock.Add(mfa.Period) // a code of a step not used before
			proved = codeAt(t, secret, a.clock.Now())
			return a.reauth(tok, jsonBody("code", proved))
		}},
		{"recovery_code", func() *httptest.ResponseRecorder { return a.reauth(tok, jsonBody("recovery_code", codes[1])) }},
		{"passkey", func() *httptest.ResponseRecorder { return a.reauthPasskey(tok, d) }},
	}
	for _, p := range proofs {
		a.stale()
		if a.fresh(tok) || a.fresh(other) {
			t.Fatalf("%s: a session is fresh after REAUTH_MAX_AGE", p.name)
		}
		a.status(p.prove(), 204, "POST /reauthenticate with a "+p.name)
		if !a.fresh(tok) {
			t.Errorf("after a %s: the session is not fresh", p.name)
		}
		if a.fresh(other) {
			t.Errorf("after a %s: another session of the user is fresh", p.name)
		}
	}

	a.stale()
	a.status(a.reauth(tok, jsonBody("password", "wrong-password")), 403, "a wrong password")
	rec := a.status(a.reauth(tok, jsonBody("code", proved)), 400, "a used, old code")
	if p := problemOf(t, rec); p.Errors == nil || (*p.Errors)[0].Field != "/code" {
		t.Errorf("problem %+v, want it to name /code", p)
	}
	rec = a.status(a.reauth(tok, jsonBody("recovery_code", codes[1])), 400, "a spent recovery code")
	if p := problemOf(t, rec); p.Errors == nil || (*p.Errors)[0].Field != "/recovery_code" {
		t.Errorf("problem %+v, want it to name /recovery_code", p)
	}
	if a.fresh(tok) {
		t.Error("a refused proof made the session fresh")
	}
	a.clock.Add(mfa.Period)
	code := codeAt(t, secret, a.clock.Now())
	a.status(a.reauth(tok, jsonBody("code", code)), 204, "a new code")
	a.status(a.reauth(other, jsonBody("code", code)), 400, "the same code from another session")
	a.status(a.mfaVerify(a.mustLogin("ada@example.com", "password123"), "code", code), 400, "the same code at POST /mfa/verify")

	for name, body := range map[string]string{
		"nothing":                `{}`,
		"two proofs":             `{"password":"password123","code":"123456"}`,
		"a flow without answer":  `{"flow_id":"x"}`,
		"a password and a flow":  `{"password":"password123","flow_id":"x"}`,
		"an unknown field":       `{"pin":"1234"}`,
		"a code of five digits":  `{"code":"12345"}`,
		"an unknown flow":        `{"flow_id":"x","credential":{"id":"x"}}`,
		"a password of 73 bytes": jsonBody("password", string(make([]byte, 73))),
	} {
		a.status(a.reauth(tok, body), 400, name)
	}
	wantMFARequired(t, a.reauth(a.mustLogin("ada@example.com", "password123"), jsonBody("password", "password123")),
		"an aal1 session of an account with a factor")
}

// TestReauthenticatePasskey: a passkey proves the user again only with user
// verification, only from the user's own passkeys, and only for the user
// whose flow it is.
func TestReauthenticatePasskey(t *testing.T) {
	t.Parallel()
	a := newReauthAPI(t)
	d, tok := a.passkeyAccount("ada@example.com")
	bobDevice, bob := a.passkeyAccount("bob@example.com")

	o, _ := a.passkeyOptions("/reauthenticate/passkey/options", bearer(tok)...)
	allowed, _ := o.Options["allowCredentials"].([]any)
	if o.Options["userVerification"] != "required" || len(allowed) != 1 {
		t.Errorf("reauthentication options: userVerification %v, allowCredentials %v; want required, the user's one passkey",
			o.Options["userVerification"], o.Options["allowCredentials"])
	}

	a.stale()
	d.auth.Options.UserNotVerified = true
	a.status(a.reauthPasskey(tok, d), 403, "a passkey without user verification")
	if a.fresh(tok) {
		t.Error("a passkey without user verification made the session fresh")
	}
	d.auth.Options.UserNotVerified = false

	// Bob's passkey answering Ada's flow: not among her passkeys.
	a.status(a.reauthPasskey(tok, bobDevice), 403, "another user's passkey")
	// Ada's flow answered from Bob's session: as unknown.
	o, raw := a.passkeyOptions("/reauthenticate/passkey/options", bearer(tok)...)
	opts, err := virtualwebauthn.ParseAssertionOptions(raw)
	if err != nil {
		t.Fatal(err)
	}
	d.cred.Counter++
	answer := virtualwebauthn.CreateAssertionResponse(testRP, d.auth, d.cred, *opts)
	a.status(a.reauth(bob, fmt.Sprintf(`{"flow_id":%q,"credential":%s}`, o.FlowID, answer)), 400, "another user's flow")
	// A sign-in flow is no reauthentication flow.
	flow, lopts := a.loginOptions()
	d.cred.Counter++
	a.status(a.reauth(tok, fmt.Sprintf(`{"flow_id":%q,"credential":%s}`, flow,
		virtualwebauthn.CreateAssertionResponse(testRP, d.auth, d.cred, lopts))), 400, "a sign-in's flow")
	if a.fresh(tok) || a.fresh(bob) {
		t.Error("a refused passkey made a session fresh")
	}
	a.status(a.reauthPasskey(tok, d), 204, "the user's own passkey with user verification")
	if !a.fresh(tok) {
		t.Error("the passkey did not make the session fresh")
	}

	a.mustRegister("nokey@example.com", "password123")
	a.status(a.do("POST", "/reauthenticate/passkey/options", "", bearer(a.mustLogin("nokey@example.com", "password123"))...), 400,
		"options for an account without a passkey")
}

// TestReauthSignIns: a sign-in that proves the user (a password, a passkey
// with user verification) starts a fresh session; a passkey without user
// verification proves nothing; POST /mfa/verify and a password change prove
// the user.
func TestReauthSignIns(t *testing.T) {
	t.Parallel()
	a := newReauthAPI(t)
	d, _ := a.passkeyAccount("ada@example.com")
	if !a.fresh(a.mustLogin("ada@example.com", "password123")) {
		t.Error("a password sign-in is not fresh")
	}
	if !a.fresh(a.mustPasskeyLogin(d).Token) {
		t.Error("a passkey sign-in with user verification is not fresh")
	}
	d.auth.Options.UserNotVerified = true
	noUV := a.mustPasskeyLogin(d).Token
	if a.fresh(noUV) {
		t.Error("a passkey sign-in without user verification is fresh")
	}
	a.status(a.reauth(noUV, jsonBody("password", "password123")), 204, "the password from a passkey session")
	if !a.fresh(noUV) {
		t.Error("POST /reauthenticate did not make the passkey session fresh")
	}

	tok := a.mustLogin("ada@example.com", "password123")
	a.stale()
	a.status(a.do("PUT", "/profile/password", jsonBody("current_password", "password123", "new_password", "password456"), bearer(tok)...), 204, "change the password")
	if !a.fresh(tok) {
		t.Error("a password change did not make the session fresh")
	}

	secret, _, _ := a.mfaAccount("bob@example.com")
	pending := a.mustLogin("bob@example.com", "password123")
	a.stale()
	up := decode[oapi.Token](t, a.status(a.mfaVerify(pending, "code", codeAt(t, secret, a.clock.Now())), 200, "POST /mfa/verify"))
	if !a.fresh(up.Token) {
		t.Error("POST /mfa/verify did not make the session fresh")
	}
}

// TestReauthDeleteFactor: removing a TOTP factor takes a current code from
// it or a recovery code, spent as at POST /mfa/verify, even from a fresh
// aal2 session.
func TestReauthDeleteFactor(t *testing.T) {
	t.Parallel()
	a := newReauthAPI(t)
	secret, codes, pair := a.mfaAccount("ada@example.com")
	id := decode[[]oapi.Factor](t, a.do("GET", "/mfa/factors", "", bearer(pair.Token)...))[0].ID
	del := func(body string) *httptest.ResponseRecorder {
		t.Helper()
		return a.do("DELETE", "/mfa/factors/"+id, body, bearer(pair.Token)...)
	}
	a.status(del(""), 400, "no code")
	a.status(del(`{}`), 400, "an empty body")
	a.status(del(`{"code":"123456","recovery_code":"x"}`), 400, "both")
	a.status(del(jsonBody("code", codeAt(t, secret, a.clock.Now()))), 400, "the code that confirmed the factor")
	a.status(del(jsonBody("recovery_code", "not-a-code")), 400, "a wrong recovery code")
	a.status(del(jsonBody("recovery_code", codes[0])), 204, "a recovery code")
	// The session was lowered with the factor gone: its token is of an older level.
	if n := len(decode[[]oapi.Factor](t, a.do("GET", "/mfa/factors", "", bearer(a.mustLogin("ada@example.com", "password123"))...))); n != 0 {
		t.Errorf("%d factors left", n)
	}

	secret, _, pair = a.mfaAccount("bob@example.com")
	id = decode[[]oapi.Factor](t, a.do("GET", "/mfa/factors", "", bearer(pair.Token)...))[0].ID
	a.clock.Add(mfa.Period)
	a.status(del(jsonBody("code", codeAt(t, secret, a.clock.Now()))), 204, "a current code of the factor")
}

// TestReauthProvider: keel asks the provider for max_age=0, and a provider
// sign-in is a fresh proof only when the ID token's auth_time says the
// provider authenticated the user during the flow.
func TestReauthProvider(t *testing.T) {
	t.Parallel()
	a := newOAuthAPIWith(t, nil)
	a.testAPI.srv.cfg.ReauthMaxAge = testReauthMaxAge
	a.user("ada", "ada@example.com", true)

	u, err := url.Parse(a.authorize("corp", newApp()))
	if err != nil {
		t.Fatal(err)
	}
	if got := u.Query().Get("max_age"); got != "0" {
		t.Errorf("the authorize URL's max_age = %q, want 0", got)
	}

	if !a.fresh(a.mustSignIn("ada").Token) {
		t.Error("a provider sign-in with a fresh auth_time is not fresh")
	}
	for name, lie := range map[string]func(map[string]any){
		"no auth_time":          func(c map[string]any) { delete(c, "auth_time") },
		"an hour-old auth_time": func(c map[string]any) { c["auth_time"] = time.Now().Add(-time.Hour).Unix() },
		"a string auth_time":    func(c map[string]any) { c["auth_time"] = "now" },
		// Within REAUTH_MAX_AGE, but a session the provider kept from
		// before keel asked: not the proof max_age=0 asked for.
		"an auth_time from before the flow": func(c map[string]any) { c["auth_time"] = time.Now().Add(-time.Minute).Unix() },
	} {
		a.p.NextIDToken(lie)
		tok := a.mustSignIn("ada").Token
		if a.fresh(tok) {
			t.Errorf("a provider sign-in with %s is fresh", name)
		}
		a.status(a.reauth(tok, jsonBody("password", "password123")), 403, "a password the provider-made account does not have")
	}
}

// TestReauthCodeRules: a code at POST /reauthenticate, or in the body of
// DELETE /mfa/factors/{id}, is taken as at POST /mfa/verify: wrong ones
// count towards the factor's lock (403 mfa-locked), a recovery code still
// proves the user and unlocks it, and five wrong codes a minute get 429.
func TestReauthCodeRules(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, func(c *Config) { c.ReauthMaxAge = testReauthMaxAge; c.MFAMaxFailures = 2 })
	secret, codes, pair := a.mfaAccount("ada@example.com")
	id := decode[[]oapi.Factor](t, a.do("GET", "/mfa/factors", "", bearer(pair.Token)...))[0].ID
	wrong := jsonBody("code", "000000")
	if codeAt(t, secret, a.clock.Now()) == "000000" {
		t.Skip("the one time step whose code is 000000")
	}
	a.status(a.reauth(pair.Token, wrong), 400, "a wrong code")
	a.status(a.do("DELETE", "/mfa/factors/"+id, wrong, bearer(pair.Token)...), 400, "a wrong code to remove the factor")
	a.clock.Add(mfa.Period)
	rec := a.reauth(pair.Token, jsonBody("code", codeAt(t, secret, a.clock.Now())))
	if p := problemOf(t, rec); rec.Code != 403 || p.Type != mfaLockedType {
		t.Errorf("a right code once the factor is locked: %d %s, want 403 %s", rec.Code, rec.Body, mfaLockedType)
	}
	a.status(a.reauth(pair.Token, jsonBody("recovery_code", codes[0])), 204, "a recovery code, locked")
	a.status(a.reauth(pair.Token, jsonBody("code", codeAt(t, secret, a.clock.Now()))), 204, "a code, unlocked")

	a.clock.Add(time.Minute)
	for i := range codesPerMinute {
		a.status(a.reauth(pair.Token, jsonBody("recovery_code", fmt.Sprint("wrong-", i))), 400, "a wrong recovery code")
	}
	a.status(a.reauth(pair.Token, jsonBody("recovery_code", codes[1])), 429, "the sixth code of the minute")
}
