package server

import (
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/keelhq/keel/gen/oapi"
	"github.com/keelhq/keel/internal/ws"
)

// TestRemovalEndsSessions: removing a passkey or a provider account ends
// the sessions it started (a passkey sign-in's; a provider sign-in's and
// the link's own): their access and refresh tokens get 401 and their
// sockets close with 4001 within a second, while the password session and
// the other way's sessions stay.
func TestRemovalEndsSessions(t *testing.T) {
	t.Parallel()
	a := newOAuthAPI(t)
	ts := httptest.NewServer(a.srv)
	defer ts.Close()
	d, pwd := a.passkeyAccount("ada@example.com")
	a.user("ada-at-corp", "ada@corp.example", true)
	c := newApp()
	linked := decode[oapi.Token](t, a.status(a.exchange(a.code(a.link(pwd, "corp", "ada-at-corp", c)), c.verifier), 200, "link"))
	viaIdentity := a.mustSignIn("ada-at-corp")
	viaPasskey := a.mustPasskeyLogin(d)
	identityWS := dialSession(t, wsURL(ts), viaIdentity.Token, "ada@example.com")
	passkeyWS := dialSession(t, wsURL(ts), viaPasskey.Token, "ada@example.com")

	keys := decode[[]oapi.Passkey](t, a.status(a.do("GET", "/passkeys", "", bearer(pwd)...), 200, "passkeys"))
	a.status(a.do("DELETE", "/passkeys/"+keys[0].ID, "", bearer(pwd)...), 204, "remove the passkey")
	closedWith(t, passkeyWS, ws.StatusSessionEnded, sessionSocketDeadline)
	if got := a.profileStatus(viaPasskey.Token); got != 401 {
		t.Errorf("the passkey's session after its removal: %d, want 401", got)
	}
	a.status(a.refresh(viaPasskey.RefreshToken), 401, "refresh the passkey's session")
	for _, tok := range []string{pwd, viaIdentity.Token, linked.Token} {
		if got := a.profileStatus(tok); got != 200 {
			t.Errorf("another session after the passkey's removal: %d, want 200", got)
		}
	}

	ids := a.identities(pwd)
	a.status(a.do("DELETE", "/profile/identities/"+strconv.FormatInt(ids[0].ID, 10), "", bearer(pwd)...), 204, "unlink the provider account")
	closedWith(t, identityWS, ws.StatusSessionEnded, sessionSocketDeadline)
	for _, p := range []oapi.Token{viaIdentity, linked} {
		if got := a.profileStatus(p.Token); got != 401 {
			t.Errorf("a session of the provider account after the unlink: %d, want 401", got)
		}
		a.status(a.refresh(p.RefreshToken), 401, "refresh a session of the unlinked provider account")
	}
	a.status(a.do("GET", "/profile", "", bearer(pwd)...), 200, "the password session")
}
