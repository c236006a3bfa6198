package server

// The proof of the address (issue 23): what is added to an account before
// its address is proved belongs to whoever held it then, so nothing that
// would outlive the owner's proof may be added meanwhile.

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keelhq/keel/gen/oapi"
	"github.com/keelhq/keel/internal/ws"
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
	passkey := a.registration(o.FlowID, raw, "phone", newDevice(), testRP)

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

// TestVerifyEmailNeedsTheAccount: a verification link proves the address
// only with the account's password or from a live session of the account.
// With neither it is 400, pointing to the password reset; with a wrong
// password 403; with another account's session the 400 of an unknown
// token; with an ended session 401. None of these spends the token, which
// then verifies with the password.
func TestVerifyEmailNeedsTheAccount(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	a.startJobs()
	a.mustRegisterUnverified("ada@example.com", "password123")
	token := a.waitEmail("ada@example.com", "Confirm", 0)
	a.mustRegister("bob@example.com", "password123")
	bob := a.mustLogin("bob@example.com", "password123")
	ended := a.mustLogin("ada@example.com", "password123")
	a.status(a.do("POST", "/logout", "", bearer(ended)...), http.StatusNoContent, "logout")

	p := problemOf(t, a.status(a.do("POST", "/email/verify", jsonBody("token", token)), http.StatusBadRequest, "the token alone"))
	if p.Detail == nil || !strings.Contains(*p.Detail, "POST /password/forgot") || !strings.Contains(*p.Detail, "sign in") {
		t.Errorf("the token alone: %+v, want a detail saying to sign in, send the password or reset it", p)
	}
	p = problemOf(t, a.status(a.do("POST", "/email/verify", jsonBody("token", token, "password", "wrong-password")), http.StatusForbidden, "a wrong password"))
	if p.Type != "about:blank" || p.Detail == nil || *p.Detail != "the password is wrong" {
		t.Errorf("a wrong password: %+v", p)
	}
	p = problemOf(t, a.status(a.do("POST", "/email/verify", jsonBody("token", token), bearer(bob)...), http.StatusBadRequest, "another account's session"))
	if p.Errors == nil || (*p.Errors)[0].Field != "/token" {
		t.Errorf("another account's session: %+v, want the answer to an unknown token", p)
	}
	a.status(a.do("POST", "/email/verify", jsonBody("token", token), bearer(ended)...), http.StatusUnauthorized, "an ended session")
	a.status(a.do("POST", "/email/verify", jsonBody("token", token), bearer("not-a-token")...), http.StatusUnauthorized, "a bad bearer")

	a.status(a.do("POST", "/email/verify", jsonBody("token", token, "password", "password123")), http.StatusNoContent, "the password")
	if u := decode[oapi.User](t, a.do("GET", "/profile", "", bearer(a.mustLogin("ada@example.com", "password123"))...)); !u.EmailVerified {
		t.Error("not verified after verifying with the password")
	}
	a.status(a.do("POST", "/email/verify", jsonBody("token", token, "password", "password123")), http.StatusBadRequest, "the token again")
}

// TestVerifyEmailNoPassword: an account made by a provider sign-in has no
// password to send: the password is refused (403, saying to set one through
// the reset); a session of the account proves it, and keeps its session and
// identity (trusted from then on).
func TestVerifyEmailNoPassword(t *testing.T) {
	t.Parallel()
	a := newOAuthAPI(t)
	a.startJobs()
	a.user("carol", "carol@example.com", false)
	carol := a.mustSignIn("carol")
	token := a.waitEmail("carol@example.com", "Confirm", 0)
	p := problemOf(t, a.status(a.do("POST", "/email/verify", jsonBody("token", token, "password", "any-password")), http.StatusForbidden, "a password"))
	if p.Detail == nil || !strings.Contains(*p.Detail, "POST /password/forgot") {
		t.Errorf("a password for an account without one: %+v", p)
	}
	a.status(a.do("POST", "/email/verify", jsonBody("token", token), bearer(carol.Token)...), http.StatusNoContent, "the session")
	// The holder who proved both keeps the session and the identity.
	if u := a.profile(carol.Token); !u.EmailVerified {
		t.Error("not verified after verifying from the session")
	}
	if ids := a.identities(carol.Token); len(ids) != 1 {
		t.Errorf("identities %+v, want carol's kept", ids)
	}
}

// The scenarios 1 to 4: a squatter holds an account registered
// with the owner's address, before the owner proves it. Each squatter first
// tries what this release refuses (403 email-unverified); what a squatter
// added before it is made as it was then: the test marks the address
// verified for the while (asBefore), as the rule did not exist.

// asBefore runs add with userID's address marked verified, then unproved
// again: what an account could add before this release.
func (a *oauthAPI) asBefore(userID int64, add func()) {
	a.t.Helper()
	a.db.exec(a.t, "UPDATE users SET email_verified = TRUE WHERE id = %d", userID)
	add()
	a.db.exec(a.t, "UPDATE users SET email_verified = FALSE WHERE id = %d", userID)
}

// ownerResets takes the account of email back through the reset mail
// (the skip-th such mail), with the password "owners-password".
func (a *oauthAPI) ownerResets(email string, skip int) {
	a.t.Helper()
	a.status(a.do("POST", "/password/forgot", jsonBody("email", email)), http.StatusAccepted, "forgot")
	reset := a.waitEmail(email, "Reset", skip)
	a.status(a.do("POST", "/password/reset", jsonBody("token", reset, "new_password", "owners-password")), http.StatusNoContent, "reset")
}

// passwordSquatter starts a's jobs (the mails the owner follows), registers
// email with the squatter's password and signs the squatter in.
func passwordSquatter(a *oauthAPI, email string) (victim oapi.User, squat oapi.Token) {
	a.t.Helper()
	a.startJobs()
	victim = a.mustRegisterUnverified(email, "squatters-password")
	return victim, a.mustLoginPair(email, "squatters-password")
}

// squatterGone checks that none of the squatter's sessions works.
func (a *oauthAPI) squatterGone(toks ...oapi.Token) {
	a.t.Helper()
	for _, tok := range toks {
		if got := a.profileStatus(tok.Token); got != http.StatusUnauthorized {
			a.t.Errorf("a squatter's session after the owner's proof: %d, want 401", got)
		}
		a.status(a.refresh(tok.RefreshToken), http.StatusUnauthorized, "a squatter's refresh after the owner's proof")
	}
}

// TestSquatterPasskeyViaProvider, scenario 1: a provider account that has
// not verified victim@ signs in (a new account, an untrusted identity) and
// registers a passkey. The owner resets the password: the identity, the
// sessions and the passkey go; the passkey no longer signs in.
func TestSquatterPasskeyViaProvider(t *testing.T) {
	t.Parallel()
	a := newOAuthAPI(t)
	a.startJobs()
	const email = "victim@example.com"
	a.user("mallory", email, false)
	squat := a.mustSignIn("mallory")
	victimID := a.profile(squat.Token).ID
	a.unverifiedRefusal(a.do("POST", "/passkeys/register/options", "", bearer(squat.Token)...), "the squatter's passkey")
	d := newDevice()
	a.asBefore(victimID, func() { a.mustRegisterPasskey(squat.Token, d) })

	a.ownerResets(email, 0)
	a.squatterGone(squat)
	a.status(a.passkeyLoginAs(d, testRP), http.StatusUnauthorized, "the squatter's passkey after the reset")
	owner := a.mustLogin(email, "owners-password")
	if u := a.profile(owner); u.ID != victimID || !u.EmailVerified {
		t.Errorf("the owner's account is %d, verified %v; want %d, verified", u.ID, u.EmailVerified, victimID)
	}
	if ids := a.identities(owner); len(ids) != 0 {
		t.Errorf("the owner's identities %+v, want none", ids)
	}
	if n := len(decode[[]oapi.Passkey](t, a.do("GET", "/passkeys", "", bearer(owner)...))); n != 0 {
		t.Errorf("the owner's account has %d passkeys, want none", n)
	}
}

// TestSquatterLinkAndPasskey, scenario 2: someone registers victim2@ with a
// password, never verifies it, links their own provider account and
// registers a passkey. The owner's provider sign-in is told account_exists;
// the owner resets the password: neither the linked provider account nor
// the passkey signs in to the account any more, nor the squatter's password,
// and the squatter's socket closes (4001).
func TestSquatterLinkAndPasskey(t *testing.T) {
	t.Parallel()
	a := newOAuthAPI(t)
	const email = "victim2@example.com"
	victim, squat := passwordSquatter(a, email)
	ts := httptest.NewServer(a.srv)
	defer ts.Close()
	socket := dialSession(t, wsURL(ts), squat.Token, email)
	a.user("squatter-own", "squatter@evil.example", true)
	a.unverifiedRefusal(a.linkRec(squat.Token, "other", appURL, newApp()), "the squatter's link")
	a.unverifiedRefusal(a.do("POST", "/passkeys/register/options", "", bearer(squat.Token)...), "the squatter's passkey")
	d := newDevice()
	a.asBefore(victim.ID, func() {
		c := newApp()
		a.status(a.exchange(a.code(a.link(squat.Token, "other", "squatter-own", c)), c.verifier), http.StatusOK, "the squatter's link")
		a.mustRegisterPasskey(squat.Token, d)
	})

	a.user("owner", email, true)
	a.refused(a.signIn("corp", "owner", newApp()), "account_exists")
	a.ownerResets(email, 0)
	closedWith(t, socket, ws.StatusSessionEnded, sessionSocketDeadline)
	a.squatterGone(squat)
	a.status(a.do("POST", "/login", credentials(email, "squatters-password")), http.StatusUnauthorized, "the squatter's password")
	a.status(a.passkeyLoginAs(d, testRP), http.StatusUnauthorized, "the squatter's passkey after the reset")
	c := newApp()
	own := decode[oapi.Token](t, a.status(a.exchange(a.code(a.signIn("other", "squatter-own", c)), c.verifier), http.StatusOK, "token"))
	if u := a.profile(own.Token); u.ID == victim.ID {
		t.Error("the squatter's linked provider account signs in to the owner's account after the reset")
	}
	if ids := a.identities(a.mustLogin(email, "owners-password")); len(ids) != 0 {
		t.Errorf("the owner's identities %+v, want none", ids)
	}
}

// TestSquatterTOTP, scenario 3: the squatter enrolls TOTP and holds the
// recovery codes. After the owner's reset the owner's login is not stopped
// for a factor they never had: the factor and the codes are gone.
func TestSquatterTOTP(t *testing.T) {
	t.Parallel()
	a := newOAuthAPI(t)
	const email = "victim3@example.com"
	victim, squat := passwordSquatter(a, email)
	a.unverifiedRefusal(a.do("POST", "/mfa/totp", "", bearer(squat.Token)...), "the squatter's enrolment")
	var codes []string
	a.asBefore(victim.ID, func() {
		e := a.enroll(squat.Token)
		codes = decode[oapi.FactorVerified](t, a.status(a.verifyFactor(squat.Token, e.ID, codeAt(t, e.Secret, a.clock.Now())), 200, "the squatter's factor")).RecoveryCodes
	})

	a.ownerResets(email, 0)
	owner := a.mustLogin(email, "owners-password")
	a.status(a.do("GET", "/profile", "", bearer(owner)...), http.StatusOK, "the owner's profile after the reset")
	if fs := decode[[]oapi.Factor](t, a.do("GET", "/mfa/factors", "", bearer(owner)...)); len(fs) != 0 {
		t.Errorf("the owner's factors %+v, want none", fs)
	}
	a.status(a.mfaVerify(owner, "recovery_code", codes[0]), http.StatusBadRequest, "the squatter's recovery code")
}

// TestSquatterPassword, scenario 4: a password squatter registers; the
// owner clicks the verification mail keel sent to their inbox, which proves
// nothing alone (400, pointing to the reset; the token unspent), and their
// Google sign-in (email_verified true) is told account_exists. The owner
// resets: the squatter's password and sessions are gone, and the owner's
// Google sign-in answers account_exists (linking by email off) or, where
// the provider may link by email, links into the cleaned account; such a
// provider's sign-in before any reset takes the account over just the same.
// Either way the squatter's socket closes (4001).
func TestSquatterPassword(t *testing.T) {
	t.Parallel()
	for _, linkByEmail := range []bool{false, true} {
		for _, reset := range []bool{true, false} {
			if !reset && !linkByEmail {
				continue
			}
			t.Run(fmt.Sprintf("link by email %v, reset %v", linkByEmail, reset), func(t *testing.T) {
				t.Parallel()
				a := newOAuthAPI(t)
				if linkByEmail {
					a = newOAuthAPILinkingByEmail(t)
				}
				const email = "victim4@example.com"
				victim, squat := passwordSquatter(a, email)
				ts := httptest.NewServer(a.srv)
				defer ts.Close()
				socket := dialSession(t, wsURL(ts), squat.Token, email)
				a.user("owner", email, true)

				verify := a.waitEmail(email, "Confirm", 0)
				p := problemOf(t, a.status(a.do("POST", "/email/verify", jsonBody("token", verify)), http.StatusBadRequest, "the owner's click"))
				if p.Detail == nil || !strings.Contains(*p.Detail, "POST /password/forgot") {
					t.Errorf("problem %+v does not point to the password reset", p)
				}
				if a.profile(squat.Token).EmailVerified {
					t.Fatal("the owner's click verified the squatter's account")
				}
				if reset {
					if !linkByEmail {
						a.refused(a.signIn("corp", "owner", newApp()), "account_exists")
					}
					a.ownerResets(email, 0)
					closedWith(t, socket, ws.StatusSessionEnded, sessionSocketDeadline)
					a.squatterGone(squat)
					a.status(a.do("POST", "/login", credentials(email, "squatters-password")), http.StatusUnauthorized, "the squatter's password")
					a.mustLogin(email, "owners-password")
				}
				if !linkByEmail {
					a.refused(a.signIn("corp", "owner", newApp()), "account_exists")
					return
				}
				c := newApp()
				tok := decode[oapi.Token](t, a.status(a.exchange(a.code(a.signIn("corp", "owner", c)), c.verifier), http.StatusOK, "the owner's sign-in"))
				if u := a.profile(tok.Token); u.ID != victim.ID || !u.EmailVerified {
					t.Errorf("the owner signed in to %d, verified %v; want %d, verified", u.ID, u.EmailVerified, victim.ID)
				}
				if !reset {
					closedWith(t, socket, ws.StatusSessionEnded, sessionSocketDeadline)
				}
				a.squatterGone(squat)
				a.status(a.do("POST", "/login", credentials(email, "squatters-password")), http.StatusUnauthorized, "the squatter's password")
				// The verification link keel mailed the owner is spent by
				// nobody; it still works from the owner's session.
				a.status(a.do("POST", "/email/verify", jsonBody("token", verify), bearer(tok.Token)...), http.StatusNoContent, "the link from the owner's session")
			})
		}
	}
}
