package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/descope/virtualwebauthn"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/gen/oapi"
	"github.com/keelhq/keel/internal/passkey"
	"github.com/keelhq/keel/internal/ws"
)

// TestPasskeyNames: a passkey's name is shown back to its owner (GET
// /passkeys, mails), so control and bidirectional formatting characters are
// refused at registration and rename with 400 naming the field: U+202E
// would show "\u202Egnp.exe" as "exe.png". Other Unicode is kept as given.
func TestPasskeyNames(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, tok := a.passkeyAccount("ada@example.com")
	pk := decode[[]oapi.Passkey](t, a.status(a.do("GET", "/passkeys", "", bearer(tok)...), 200, "GET /passkeys"))[0]
	refusedAt := func(rec *httptest.ResponseRecorder, what string) {
		t.Helper()
		a.status(rec, 400, what)
		if p := problemOf(t, rec); p.Errors == nil || (*p.Errors)[0].Field != "/name" {
			t.Errorf("%s: %s, want the field /name named", what, rec.Body)
		}
	}
	for _, name := range []string{"\u202Egnp.exe", "phone\u2066 (work)\u2069", "\u200Fphone", "phone\n2", "phone\x00", "phone\u0085", "phone\u2028"} {
		body, _ := json.Marshal(map[string]string{"name": name})
		refusedAt(a.do("PATCH", "/passkeys/"+pk.ID, string(body), bearer(tok)...), "rename to "+strconv.Quote(name))
		body, _ = json.Marshal(map[string]any{"flow_id": "x", "name": name, "credential": map[string]string{"id": "x"}})
		refusedAt(a.do("POST", "/passkeys/register", string(body), bearer(tok)...), "register as "+strconv.Quote(name))
	}
	for _, name := range []string{"Téléphone d'Adèle", "手机 📱", "טלפון"} {
		body, _ := json.Marshal(map[string]string{"name": name})
		if got := decode[oapi.Passkey](t, a.status(a.do("PATCH", "/passkeys/"+pk.ID, string(body), bearer(tok)...), 200, "rename")); got.Name != name {
			t.Errorf("renamed to %q, got %q", name, got.Name)
		}
	}
}

// finishRegistration answers the registration flow (its options raw) with
// d's new passkey, for the user of tok.
func (a *testAPI) finishRegistration(tok string, d *device, flow, raw string) *httptest.ResponseRecorder {
	a.t.Helper()
	return a.do("POST", "/passkeys/register", a.registration(flow, raw, "key", d, testRP), bearer(tok)...)
}

// TestPasskeyCap: an account holds at most db.MaxPasskeys passkeys. Past
// it, the registration options are refused (409) before any ceremony, and a
// ceremony begun before the account filled up is refused at its end by the
// store; removing one makes room.
func TestPasskeyCap(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, tok := a.passkeyAccount("ada@example.com")
	for range db.MaxPasskeys - 2 {
		a.clock.Add(6 * time.Second) // within the 10 registrations a minute
		a.mustRegisterPasskey(tok, newDevice())
	}
	// Two ceremonies begun with room for one: the second is refused.
	first, second := newDevice(), newDevice()
	o1, raw1 := a.passkeyOptions("/passkeys/register/options", bearer(tok)...)
	o2, raw2 := a.passkeyOptions("/passkeys/register/options", bearer(tok)...)
	a.status(a.finishRegistration(tok, first, o1.FlowID, raw1), 201, "the last passkey there is room for")
	p := problemOf(t, a.status(a.finishRegistration(tok, second, o2.FlowID, raw2), 409, "a passkey past the cap"))
	if p.Detail == nil || !strings.Contains(*p.Detail, "most it may hold") {
		t.Errorf("problem %+v: want a detail that names the cap", p)
	}
	a.status(a.do("POST", "/passkeys/register/options", "", bearer(tok)...), 409, "options with the account full")
	list := decode[[]oapi.Passkey](t, a.status(a.do("GET", "/passkeys", "", bearer(tok)...), 200, "GET /passkeys"))
	if len(list) != db.MaxPasskeys {
		t.Fatalf("%d passkeys, want %d", len(list), db.MaxPasskeys)
	}
	a.status(a.do("DELETE", "/passkeys/"+list[0].ID, "", bearer(tok)...), 204, "remove one")
	a.mustRegisterPasskey(tok, newDevice())
}

// TestSessionCap: an account keeps at most db.MaxSessions sessions; a new
// sign-in past it ends the least recently used one (its token is refused at
// once), and the others live on.
func TestSessionCap(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	a.mustRegister("ada@example.com", "password123")
	first := a.mustLoginPair("ada@example.com", "password123")
	a.clock.Add(time.Second)
	second := a.mustLoginPair("ada@example.com", "password123")
	for range db.MaxSessions - 2 {
		a.clock.Add(time.Second)
		a.mustLogin("ada@example.com", "password123")
	}
	// Using the first session makes the second the least recently used.
	a.clock.Add(time.Second)
	first = decode[oapi.Token](t, a.status(a.refresh(first.RefreshToken), 200, "refresh the first session"))
	a.clock.Add(time.Second)
	newest := a.mustLogin("ada@example.com", "password123")
	a.status(a.do("GET", "/profile", "", bearer(second.Token)...), 401, "the least recently used session")
	a.status(a.refresh(second.RefreshToken), 401, "its refresh token")
	for _, tok := range []string{first.Token, newest} {
		a.status(a.do("GET", "/profile", "", bearer(tok)...), 200, "a session kept")
	}
	if list := decode[[]oapi.Session](t, a.status(a.do("GET", "/sessions", "", bearer(newest)...), 200, "GET /sessions")); len(list) != db.MaxSessions {
		t.Errorf("%d sessions, want %d", len(list), db.MaxSessions)
	}

	t.Run("aal2 sessions are kept before aal1 ones", func(t *testing.T) {
		// Someone who has only the password of an account with a second
		// factor signs in past the cap: their sessions wait at aal1 for a
		// code they cannot give, and end before the owner's aal2 session,
		// however long ago that was used.
		a := newTestAPI(t)
		_, _, owner := a.mfaAccount("bob@example.com")
		for range db.MaxSessions + 5 {
			a.clock.Add(time.Second)
			a.mustLogin("bob@example.com", "password123")
		}
		a.status(a.do("GET", "/profile", "", bearer(owner.Token)...), 200, "the owner's aal2 session after the cap's worth of password sign-ins")
	})
}

// TestIdentityCap: an account links at most db.MaxIdentities provider
// accounts. Past it, POST /profile/identities/{provider} is refused (409)
// before the provider, and a link begun before the account filled up is
// refused when its code is redeemed, linking nothing.
func TestIdentityCap(t *testing.T) {
	t.Parallel()
	a := newOAuthAPILinkingByEmail(t) // so a sign-in by email meets the cap, not the default refusal
	a.mustRegister("ada@example.com", "password123")
	tok := a.mustLogin("ada@example.com", "password123")
	linkCode := func(i int) (string, app) {
		a.user(fmt.Sprint("ada-", i), fmt.Sprintf("ada-%d@corp.example", i), true)
		c := newApp()
		return a.code(a.link(tok, "corp", fmt.Sprint("ada-", i), c)), c
	}
	for i := range db.MaxIdentities - 1 {
		code, c := linkCode(i)
		a.status(a.exchange(code, c.verifier), 200, "link")
	}
	// Two links begun with room for one: the second is refused.
	code1, c1 := linkCode(100)
	code2, c2 := linkCode(101)
	a.status(a.exchange(code1, c1.verifier), 200, "the last link there is room for")
	p := problemOf(t, a.status(a.exchange(code2, c2.verifier), 409, "a link past the cap"))
	if p.Detail == nil || !strings.Contains(*p.Detail, "the most it may") {
		t.Errorf("problem %+v: want a detail that names the cap", p)
	}
	if ids := a.identities(tok); len(ids) != db.MaxIdentities {
		t.Fatalf("%d identities, want %d", len(ids), db.MaxIdentities)
	}
	a.status(a.linkRec(tok, "corp", appURL, newApp()), 409, "a link with the account full")
	// Nor is a sign-in with the account's (verified) email linked to it.
	a.user("ada-by-email", "ada@example.com", true)
	a.refused(a.signIn("corp", "ada-by-email", newApp()), "account_exists")
	ids := a.identities(tok)
	a.status(a.do("DELETE", fmt.Sprint("/profile/identities/", ids[0].ID), "", bearer(tok)...), 204, "unlink one")
	code, c := linkCode(102)
	a.status(a.exchange(code, c.verifier), 200, "a link after unlinking one")
}

// TestEnrolmentRateLimit: an account may begin 10 passkey registrations and
// 10 TOTP enrolments a minute, each its own budget; the 11th gets 429 with
// Retry-After, another account is not affected, and time refills it.
func TestEnrolmentRateLimit(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	a.mustRegister("ada@example.com", "password123")
	ada := a.mustLogin("ada@example.com", "password123")
	a.mustRegister("bob@example.com", "password123")
	bob := a.mustLogin("bob@example.com", "password123")
	for _, op := range []string{"/passkeys/register/options", "/mfa/totp"} {
		want := 200
		if op == "/mfa/totp" {
			want = 201
		}
		for i := range 10 {
			a.status(a.do("POST", op, "", bearer(ada)...), want, fmt.Sprint(op, " ", i+1))
		}
		rec := a.status(a.do("POST", op, "", bearer(ada)...), 429, op+" the 11th in a minute")
		if after, _ := strconv.Atoi(rec.Header().Get("Retry-After")); after < 1 || after > 6 {
			t.Errorf("%s: Retry-After %q, want 1..6 s", op, rec.Header().Get("Retry-After"))
		}
		a.status(a.do("POST", op, "", bearer(bob)...), want, op+" for another account")
	}
	a.clock.Add(6 * time.Second)
	a.status(a.do("POST", "/passkeys/register/options", "", bearer(ada)...), 200, "a registration 6 s later")
	a.status(a.do("POST", "/mfa/totp", "", bearer(ada)...), 201, "an enrolment 6 s later")
}

// TestSocketsPerSession: a session holds at most ws.MaxPerSession sockets
// (on a replica); the next handshake is refused with 429 problem+json before
// the upgrade, another session of the same account is not affected, and a
// socket that closes gives its place back.
func TestSocketsPerSession(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	ts := httptest.NewServer(a.srv)
	defer ts.Close()
	a.mustRegister("ada@example.com", "password123")
	tok := a.mustLogin("ada@example.com", "password123")
	var socks []*websocket.Conn
	for range ws.MaxPerSession {
		socks = append(socks, dialSession(t, wsURL(ts), tok, "ada@example.com"))
	}
	rec := handshake(a, "bearer, "+tok)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("the %dth socket: %d %s, want 429 problem+json", ws.MaxPerSession+1, rec.Code, rec.Body)
	}
	other := a.mustLogin("ada@example.com", "password123")
	dialSession(t, wsURL(ts), other, "ada@example.com").Close(websocket.StatusNormalClosure, "")
	socks[0].Close(websocket.StatusNormalClosure, "")
	// The place is given back once the server has removed the socket.
	redial(t, wsURL(ts), tok)
}

// TestPasskeyHandle: an account's passkeys carry one random 32-byte user
// handle, made at its first registration (not its id, which would tell the
// authenticator, and anyone who sees it, how many accounts there are); a
// discoverable sign-in finds the account by it. An account whose passkeys
// predate handles keeps its id as theirs, so they go on signing in.
func TestPasskeyHandle(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	handleOf := func(tok string) []byte {
		t.Helper()
		_, raw := a.passkeyOptions("/passkeys/register/options", bearer(tok)...)
		opts, err := virtualwebauthn.ParseAttestationOptions(raw)
		if err != nil {
			t.Fatal(err)
		}
		return []byte(opts.UserID)
	}
	adaDevice, ada := a.passkeyAccount("ada@example.com")
	adaID := decode[oapi.User](t, a.status(a.do("GET", "/profile", "", bearer(ada)...), 200, "GET /profile")).ID
	handle := handleOf(ada)
	if len(handle) != 32 || bytes.Equal(handle, passkey.LegacyHandle(adaID)) || !bytes.Equal(adaDevice.auth.Options.UserHandle, handle) {
		t.Fatalf("Ada's handle %x (her device holds %x), want 32 random bytes", handle, adaDevice.auth.Options.UserHandle)
	}
	a.mustRegisterPasskey(ada, newDevice())
	if h := handleOf(ada); !bytes.Equal(h, handle) {
		t.Errorf("a later registration's handle %x, want the account's %x", h, handle)
	}
	a.mustPasskeyLogin(adaDevice)
	_, bob := a.passkeyAccount("bob@example.com")
	if h := handleOf(bob); bytes.Equal(h, handle) || len(h) != 32 {
		t.Errorf("Bob's handle %x, want his own", h)
	}

	t.Run("a handle of another account", func(t *testing.T) {
		stolen := *adaDevice
		stolen.auth.Options.UserHandle = handleOf(bob)
		a.status(a.passkeyLoginAs(&stolen, testRP), 401, "Ada's passkey answering with Bob's handle")
		stolen.auth.Options.UserHandle = passkey.LegacyHandle(adaID)
		a.status(a.passkeyLoginAs(&stolen, testRP), 401, "Ada's passkey answering with her id")
	})
	t.Run("two first registrations at once", func(t *testing.T) {
		a.mustRegister("carol@example.com", "password123")
		carol := a.mustLogin("carol@example.com", "password123")
		first, second := newDevice(), newDevice()
		o1, raw1 := a.passkeyOptions("/passkeys/register/options", bearer(carol)...)
		o2, raw2 := a.passkeyOptions("/passkeys/register/options", bearer(carol)...)
		a.status(a.finishRegistration(carol, first, o1.FlowID, raw1), 201, "the first")
		// The second's authenticator holds another new handle, which names
		// no account: refused as a spent flow, to start again.
		p := problemOf(t, a.status(a.finishRegistration(carol, second, o2.FlowID, raw2), 400, "the second, begun with another new handle"))
		if p.Errors == nil || (*p.Errors)[0].Field != "/flow_id" {
			t.Errorf("problem %+v, want /flow_id named", p)
		}
		a.mustPasskeyLogin(first)
		a.mustRegisterPasskey(carol, second)
		a.mustPasskeyLogin(second)
	})
	t.Run("a passkey registered before handles, after the upgrade", func(t *testing.T) {
		// As keel stored it before: no handle on the account, and the
		// authenticator holds the account id.
		dora := a.mustRegister("dora@example.com", "password123")
		old := newDevice()
		old.auth.Options.UserHandle = passkey.LegacyHandle(dora.ID)
		if err := a.store.CreatePasskey(context.Background(), db.Passkey{ID: "old", UserID: dora.ID, Name: "old",
			CredentialID: old.cred.ID, PublicKey: old.cred.Key.AttestationData(), AttestationType: "none",
			AAGUID: old.auth.Aaguid[:], UserVerified: true, CreatedAt: a.clock.Now()},
			a.sessionOf(a.mustLogin("dora@example.com", "password123")), nil); err != nil {
			t.Fatal(err)
		}
		tok := a.mustPasskeyLogin(old).Token
		if h := handleOf(tok); !bytes.Equal(h, passkey.LegacyHandle(dora.ID)) {
			t.Errorf("the next registration's handle %x, want the account id the old passkey holds", h)
		}
		next := newDevice()
		a.mustRegisterPasskey(tok, next)
		a.mustPasskeyLogin(next)
		a.mustPasskeyLogin(old)
	})
}
