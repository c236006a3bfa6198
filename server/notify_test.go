package server

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/keelhq/keel/gen/oapi"
	"github.com/keelhq/keel/internal/jobs"
)

// TestOwnerNotified: adding or removing a passkey, a provider account or
// the TOTP factor, a new set of recovery codes, a password change and a
// reset each mail the owner what happened and when, and what to do if it
// was not them (never a secret), and log it at info with the account's id.
func TestOwnerNotified(t *testing.T) {
	t.Parallel()
	a := newOAuthAPI(t)
	a.startJobs()
	ada := a.mustRegister("ada@example.com", "password123")
	tok, refresh := a.mustLogin("ada@example.com", "password123"), ""
	var codes []string // the factor's recovery codes
	a.user("ada-at-corp", "ada@corp.example", false)
	steps := []struct {
		event, subject string
		do             func(a *oauthAPI)
	}{
		{jobs.EventPasskeyAdded, "A passkey was added", func(a *oauthAPI) { a.mustRegisterPasskey(tok, newDevice()) }},
		{jobs.EventPasskeyRemoved, "A passkey was removed", func(a *oauthAPI) {
			list := decode[[]oapi.Passkey](a.t, a.status(a.do("GET", "/passkeys", "", bearer(tok)...), 200, "GET /passkeys"))
			a.status(a.do("DELETE", "/passkeys/"+list[0].ID, "", bearer(tok)...), 204, "DELETE the passkey")
		}},
		{jobs.EventIdentityLinked, "A sign-in provider was linked", func(a *oauthAPI) {
			c := newApp()
			a.status(a.exchange(a.code(a.link(tok, "corp", "ada-at-corp", c)), c.verifier), 200, "redeem the link's code")
		}},
		{jobs.EventIdentityUnlinked, "A sign-in provider was unlinked", func(a *oauthAPI) {
			ids := a.identities(tok)
			a.status(a.do("DELETE", fmt.Sprint("/profile/identities/", ids[0].ID), "", bearer(tok)...), 204, "unlink")
		}},
		{jobs.EventTOTPAdded, "A second factor was added", func(a *oauthAPI) {
			e := a.enroll(tok)
			v := decode[oapi.FactorVerified](a.t, a.status(a.verifyFactor(tok, e.ID, codeAt(a.t, e.Secret, a.clock.Now())), 200, "verify the factor"))
			tok, refresh, codes = v.Tokens.Token, v.Tokens.RefreshToken, v.RecoveryCodes
		}},
		{jobs.EventRecoveryCodesReplaced, "New recovery codes", func(a *oauthAPI) {
			codes = decode[oapi.RecoveryCodes](a.t, a.status(a.do("POST", "/mfa/recovery-codes", "", bearer(tok)...), 200, "new recovery codes")).RecoveryCodes
		}},
		{jobs.EventTOTPRemoved, "A second factor was removed", func(a *oauthAPI) {
			fs := decode[[]oapi.Factor](a.t, a.status(a.do("GET", "/mfa/factors", "", bearer(tok)...), 200, "GET /mfa/factors"))
			a.status(a.do("DELETE", "/mfa/factors/"+fs[0].ID, jsonBody("recovery_code", codes[0]), bearer(tok)...), 204, "remove the factor")
			// The session is lowered: its tokens of before are refused, a refresh gives new ones.
			tok = decode[oapi.Token](a.t, a.status(a.refresh(refresh), 200, "refresh")).Token
		}},
		{jobs.EventPasswordChanged, "Your password was changed", func(a *oauthAPI) {
			a.status(a.do("PUT", "/profile/password", jsonBody("current_password", "password123", "new_password", "password456"),
				bearer(tok)...), 204, "change the password")
		}},
		{jobs.EventPasswordReset, "Your password was reset", func(a *oauthAPI) {
			a.status(a.do("POST", "/password/forgot", jsonBody("email", "ada@example.com")), 202, "forgot")
			link := a.waitEmail("ada@example.com", "Reset your password", 0)
			a.status(a.do("POST", "/password/reset", jsonBody("token", link, "new_password", "password789")), 204, "reset")
		}},
	}
	for _, step := range steps {
		t.Run(step.event, func(t *testing.T) {
			a := a.forInput(t)
			step.do(a)
			text := a.waitMail("ada@example.com", step.subject)
			if !strings.Contains(text, "On ") || !strings.Contains(text, " UTC, ") || !strings.Contains(text, "If it was not") ||
				!strings.Contains(text, "reset your password") || strings.Contains(text, "token") {
				t.Errorf("the email says %q: want what happened and when, what to do if it was not the owner, and no token", text)
			}
			if !a.logged("INFO", step.event, ada.ID) {
				t.Errorf("no info line naming the account for %s", step.event)
			}
		})
	}
	if rec := a.do("GET", "/profile", "", bearer(tok)...); rec.Code != http.StatusUnauthorized {
		t.Errorf("after the reset: %d, want 401", rec.Code)
	}
}
