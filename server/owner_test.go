package server

// The proof of the address (issue 23): what is added to an account before
// its address is proved belongs to whoever held it then, so nothing that
// would outlive the owner's proof may be added meanwhile.

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/descope/virtualwebauthn"

	"github.com/keelhq/keel/gen/oapi"
)

// TestEmailUnverifiedAddsNoWayIn: while the account's address is unproved,
// TOTP enrolment and its verification, passkey registration (both steps)
// and starting a link answer 403 urn:keel:problem:email-unverified (the
// redemption of a link code: TestOAuthPreAccountHijackingLinkRace); once
// the address is proved, the same requests go through.
func TestEmailUnverifiedAddsNoWayIn(t *testing.T) {
	t.Parallel()
	a := newOAuthAPI(t)
	a.mustRegisterUnverified("ada@example.com", "password123")
	ada := a.mustLogin("ada@example.com", "password123")

	// Well-formed requests, made for a verified account.
	a.mustRegister("bob@example.com", "password123")
	bobTok := a.mustLogin("bob@example.com", "password123")
	factor := decode[struct{ ID string }](t, a.status(a.do("POST", "/mfa/totp", "", bearer(bobTok)...), http.StatusCreated, "bob's enrolment"))
	o, raw := a.passkeyOptions("/passkeys/register/options", bearer(bobTok)...)
	opts, err := virtualwebauthn.ParseAttestationOptions(raw)
	if err != nil {
		t.Fatal(err)
	}
	d := newDevice()
	d.auth.Options.UserHandle = []byte(opts.UserID)
	answer := virtualwebauthn.CreateAttestationResponse(testRP, d.auth, d.cred, *opts)
	passkey := fmt.Sprintf(`{"flow_id":%q,"name":"phone","credential":%s}`, o.FlowID, answer)

	refused := []struct{ method, path, body string }{
		{"POST", "/mfa/totp", ""},
		{"POST", "/mfa/totp/" + factor.ID + "/verify", `{"code":"123456"}`},
		{"POST", "/passkeys/register/options", ""},
		{"POST", "/passkeys/register", passkey},
		{"POST", "/profile/identities/corp", jsonBody("redirect_to", appURL, "code_challenge", newApp().challenge())},
	}
	for _, r := range refused {
		a.unverifiedRefusal(a.do(r.method, r.path, r.body, bearer(ada)...), r.method+" "+r.path+" before the proof")
	}
	if n := len(decode[[]struct{ ID string }](t, a.do("GET", "/mfa/factors", "", bearer(ada)...))); n != 0 {
		t.Errorf("the unverified account has %d factors, want none", n)
	}

	a.mustVerifyEmail(decode[oapi.User](t, a.do("GET", "/profile", "", bearer(ada)...)))
	a.status(a.do("POST", "/mfa/totp", "", bearer(ada)...), http.StatusCreated, "POST /mfa/totp after the proof")
	a.status(a.do("POST", "/passkeys/register/options", "", bearer(ada)...), http.StatusOK, "POST /passkeys/register/options after the proof")
	a.status(a.do("POST", "/profile/identities/corp", refused[4].body, bearer(ada)...), http.StatusOK, "POST /profile/identities/corp after the proof")
}
