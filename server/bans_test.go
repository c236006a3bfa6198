package server

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/gen/oapi"
	"github.com/keelhq/keel/internal/clients"
	"github.com/keelhq/keel/internal/token"
)

// ban bans the account userID from now until until (zero: until lifted)
// through the store, as POST /admin/users/{id}/ban does, or fails the test.
func (a *testAPI) ban(userID int64, until time.Time) {
	a.t.Helper()
	if err := a.store.BanUser(context.Background(), userID, db.Ban{At: a.clock.Now(), Until: until, Reason: "test"}, nil); err != nil {
		a.t.Fatalf("ban %d: %v", userID, err)
	}
}

// wantBanned checks a 403 whose problem type is account-banned.
func wantBanned(t *testing.T, rec *httptest.ResponseRecorder, what string) {
	t.Helper()
	if rec.Code != http.StatusForbidden {
		t.Errorf("%s: %d, want 403 account-banned: %s", what, rec.Code, rec.Body)
		return
	}
	if p := problemOf(t, rec); p.Type != accountBannedType {
		t.Errorf("%s: problem type %q, want %q", what, p.Type, accountBannedType)
	}
}

// wantNotBanned checks an answer that must not reveal a ban: want, and no
// account-banned problem.
func wantNotBanned(t *testing.T, rec *httptest.ResponseRecorder, want int, what string) {
	t.Helper()
	if rec.Code != want {
		t.Errorf("%s: %d, want %d: %s", what, rec.Code, want, rec.Body)
	}
}

// TestBanPassword: a banned account's right password gets 403
// account-banned and no session; a wrong one, and an unknown email, get the
// 401 they always get, so the ban is never revealed without the password;
// the sessions the ban ended answer 401, their refresh tokens too; a
// password reset completes but starts no session, and the new password is
// refused like the old; once the ban runs out the password signs in again.
func TestBanPassword(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	u := a.mustRegister("ada@example.com", "correct horse")
	held := a.mustLoginPair("ada@example.com", "correct horse")
	until := a.clock.Now().Add(time.Hour)
	a.ban(u.ID, until)

	wantNotBanned(t, a.do("POST", "/login", credentials("ada@example.com", "wrong horse")), http.StatusUnauthorized, "a wrong password")
	wantNotBanned(t, a.do("POST", "/login", credentials("bob@example.com", "correct horse")), http.StatusUnauthorized, "an unknown email")
	wantBanned(t, a.do("POST", "/login", credentials("ada@example.com", "correct horse")), "the right password")
	if n, err := a.store.ListSessions(context.Background(), u.ID); err != nil || len(n) != 0 {
		t.Errorf("sessions after the refused logins: %d, %v; want none", len(n), err)
	}
	if got := a.profileStatus(held.Token); got != http.StatusUnauthorized {
		t.Errorf("a token of a session the ban ended: %d, want 401", got)
	}
	wantNotBanned(t, a.refresh(held.RefreshToken), http.StatusUnauthorized, "the refresh token of a session the ban ended")

	// A reset completes (it never starts a session) and the ban still
	// refuses the new password.
	reset := token.NewSessionID()
	if err := a.store.CreateOneTimeToken(context.Background(), db.OneTimeToken{Hash: db.HashToken(reset), UserID: u.ID,
		Purpose: db.PurposeResetPassword, Email: u.Email, ExpiresAt: a.clock.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	a.status(a.do("POST", "/password/reset", jsonBody("token", reset, "new_password", "battery staple")), http.StatusNoContent, "reset")
	wantBanned(t, a.do("POST", "/login", credentials("ada@example.com", "battery staple")), "the new password")

	a.clock.Add(time.Hour) // the ban's end
	a.mustLogin("ada@example.com", "battery staple")
}

// TestBanSecondFactor: a session waiting for its second factor when the
// ban comes has ended: its TOTP and recovery codes get 401, like any ended
// session's; a new password sign-in is refused before the second step.
func TestBanSecondFactor(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	secret, codes, _ := a.mfaAccount("ada@example.com")
	pending := a.mustLogin("ada@example.com", "password123")
	u, err := a.store.GetCredentials(context.Background(), "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	a.ban(u.UserID, time.Time{})
	a.clock.Add(30 * time.Second) // a code of a step not used yet
	wantNotBanned(t, a.mfaVerify(pending, "code", codeAt(t, secret, a.clock.Now())), http.StatusUnauthorized, "a TOTP code of an ended session")
	wantNotBanned(t, a.mfaVerify(pending, "recovery_code", codes[0]), http.StatusUnauthorized, "a recovery code of an ended session")
	wantBanned(t, a.do("POST", "/login", credentials("ada@example.com", "password123")), "the right password")
}

// TestBanPasskey: a banned account's passkey, accepted, gets 403
// account-banned and no session; an unknown passkey gets the 401 it
// always gets.
func TestBanPasskey(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	d, tok := a.passkeyAccount("ada@example.com")
	p, err := a.srv.tokens.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	a.ban(p.UserID, time.Time{})
	wantNotBanned(t, a.passkeyLoginAs(newDevice(), testRP), http.StatusUnauthorized, "an unknown passkey")
	wantBanned(t, a.passkeyLoginAs(d, testRP), "the account's passkey")
	if n, err := a.store.ListSessions(context.Background(), p.UserID); err != nil || len(n) != 0 {
		t.Errorf("sessions after the refused sign-in: %d, %v; want none", len(n), err)
	}
}

// TestBanSocket: the sockets of a banned account's sessions close with
// 4001 (their sessions ended), and a new handshake with the old token is
// refused (401).
func TestBanSocket(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	ts := httptest.NewServer(a.srv)
	t.Cleanup(ts.Close)
	u := a.mustRegister("ada@example.com", "correct horse")
	tok := a.mustLogin("ada@example.com", "correct horse")
	c := dialSession(t, wsURL(ts), tok, "ada@example.com")
	a.ban(u.ID, time.Time{})
	closedWith(t, c, 4001, 5*time.Second)
	if rec := handshake(a, "bearer, "+tok); rec.Code != http.StatusUnauthorized {
		t.Errorf("a handshake with the ended session's token: %d, want 401", rec.Code)
	}
}

// createAround is a Store whose CreateSession runs before, once, just
// before it, and after, once, just after it: a test's way to order a ban
// against a sign-in's session deterministically.
type createAround struct {
	db.Store
	before, after *atomic.Pointer[func()]
}

func (s createAround) CreateSession(ctx context.Context, sess db.Session, after ...func(*sql.Tx) error) error {
	if f := s.before.Swap(nil); f != nil {
		(*f)()
	}
	err := s.Store.CreateSession(ctx, sess, after...)
	if f := s.after.Swap(nil); f != nil {
		(*f)()
	}
	return err
}

// TestBanRacesSignIn: a ban that commits while a sign-in checks its
// password leaves it no session: committed before the session's
// transaction, the sign-in finds it under the account's lock (403); after,
// the ban ends the session the sign-in started (its token, or the sign-in
// reading the session back, gets 401).
func TestBanRacesSignIn(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name      string
		banFirst  bool
		wantLogin int
	}{
		{"the ban commits just before the session", true, http.StatusForbidden},
		{"the ban commits just after the session", false, http.StatusOK}, // or 401
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			before, after := &atomic.Pointer[func()]{}, &atomic.Pointer[func()]{}
			a := buildTestAPI(t, testPasswords(), nil, func(d *Deps) {
				d.Store = createAround{Store: d.Store, before: before, after: after}
			})
			u := a.mustRegister("ada@example.com", "correct horse")
			ran := false
			f := func() { ran = true; a.ban(u.ID, time.Time{}) }
			if tt.banFirst {
				before.Store(&f)
			} else {
				after.Store(&f)
			}
			rec := a.do("POST", "/login", credentials("ada@example.com", "correct horse"))
			if !ran {
				t.Fatal("the ban did not run around the sign-in")
			}
			switch {
			case !tt.banFirst && rec.Code == http.StatusUnauthorized:
				// The sign-in read its session back after the ban ended it.
			case rec.Code != tt.wantLogin:
				t.Fatalf("login: %d, want %d: %s", rec.Code, tt.wantLogin, rec.Body)
			case rec.Code == http.StatusOK:
				if got := a.profileStatus(decode[oapi.Token](t, rec).Token); got != http.StatusUnauthorized {
					t.Errorf("the session the sign-in started, after the ban: %d, want 401", got)
				}
			default:
				wantBanned(t, rec, "login")
			}
			if n, err := a.store.ListSessions(context.Background(), u.ID); err != nil || len(n) != 0 {
				t.Errorf("sessions after the race: %d, %v; want none", len(n), err)
			}
		})
	}
}

// TestBanProviderSignIn: a banned account's provider sign-in comes back to
// the app with error=account_banned (only once the provider's ID token has
// checked out) and no code; a code the app held from before the ban was
// voided by it (400, as any bad code); once lifted, the sign-in works.
func TestBanProviderSignIn(t *testing.T) {
	t.Parallel()
	a := newOAuthAPI(t)
	a.user("ada", "ada@example.com", true)
	first := a.mustSignIn("ada")
	id := a.profile(first.Token).ID
	held := newApp()
	heldCode := a.code(a.signIn("corp", "ada", held))

	a.ban(id, time.Time{})
	before := a.rows()
	a.refused(a.signIn("corp", "ada", newApp()), "account_banned")
	a.nothingCreated(before, "a banned account's sign-in")
	if m := a.signIns("corp"); m["account_banned"] != 1 {
		t.Errorf("keel_oidc_signins_total %v, want account_banned 1", m)
	}
	wantNotBanned(t, a.exchange(heldCode, held.verifier), http.StatusBadRequest, "a code from before the ban")
	if got := a.profileStatus(first.Token); got != http.StatusUnauthorized {
		t.Errorf("a session the ban ended: %d, want 401", got)
	}

	if _, err := a.store.UnbanUser(context.Background(), id, nil); err != nil {
		t.Fatal(err)
	}
	a.mustSignIn("ada")
}

// banAroundGrant is an OpenID Provider's store whose AcceptAuthRequest and
// ApproveDeviceCode run ban, once, just before they start the grant: a ban
// that commits after the request's bearer check.
type banAroundGrant struct {
	opStore
	ban *atomic.Pointer[func()]
}

func (s banAroundGrant) AcceptAuthRequest(ctx context.Context, id string, sess db.Session, acr string, now time.Time) error {
	if f := s.ban.Swap(nil); f != nil {
		(*f)()
	}
	return s.opStore.AcceptAuthRequest(ctx, id, sess, acr, now)
}

func (s banAroundGrant) ApproveDeviceCode(ctx context.Context, userHash string, sess db.Session, acr string, now time.Time) error {
	if f := s.ban.Swap(nil); f != nil {
		(*f)()
	}
	return s.opStore.ApproveDeviceCode(ctx, userHash, sess, acr, now)
}

// TestBanLoginStep: keel as an OpenID Provider. A ban ends the account's
// grants to clients (the client's refresh token is refused, and a code
// issued before it is refused at the exchange); the login
// step and device approval refuse a banned user: with a token of a session
// the ban ended, 401; with a ban that commits after the bearer check, 403
// account-banned and no grant; keel's sign-in page's password sign-in gets
// 403 account-banned.
func TestBanLoginStep(t *testing.T) {
	t.Parallel()
	banNext := &atomic.Pointer[func()]{}
	a := newOPAPIOver(t, func(s opStore) opStore { return banAroundGrant{opStore: s, ban: banNext} }, nil)
	u := a.mustRegister("ada@example.com", "correct horse")
	c, secret := a.addClient(clients.Registration{Name: "Dashboard", RedirectURIs: []string{"https://app.example/cb"}})
	r := a.newRP(c, secret, gooidc.ScopeOpenID, gooidc.ScopeOfflineAccess)
	_, dev := a.deviceClient(gooidc.ScopeOpenID)

	// A ban between the bearer check and the grant.
	tok := a.mustLogin("ada@example.com", "correct horse")
	banNow := func() { a.ban(u.ID, time.Time{}) }
	banNext.Store(&banNow)
	id := a.authorize(r.conf.AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	wantResProblem(t, a.send("POST", "/oauth2/requests/"+id+"/accept", "", "", bearer(tok)...), accountBannedType, "accept as the ban commits")
	if _, err := a.store.UnbanUser(context.Background(), u.ID, nil); err != nil {
		t.Fatal(err)
	}
	tok = a.mustLogin("ada@example.com", "correct horse")
	da, err := dev.DeviceAuth(a.ctx())
	if err != nil {
		t.Fatal(err)
	}
	banNext.Store(&banNow)
	wantResProblem(t, a.deviceAnswer(tok, da.UserCode, true), accountBannedType, "device approval as the ban commits")
	if n, err := a.store.ListSessions(context.Background(), u.ID); err != nil || len(n) != 0 {
		t.Errorf("sessions after the refused grants: %d, %v; want none", len(n), err)
	}

	// A grant from before the ban ends with it.
	if _, err := a.store.UnbanUser(context.Background(), u.ID, nil); err != nil {
		t.Fatal(err)
	}
	tok = a.mustLogin("ada@example.com", "correct horse")
	grant, _ := a.signIn(r, tok)
	verifier := oauth2.GenerateVerifier()
	pending := a.accept(a.authorize(r.conf.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier))), tok)
	a.ban(u.ID, time.Time{})
	if _, err := r.conf.TokenSource(r.ctx, &oauth2.Token{RefreshToken: grant.RefreshToken}).Token(); !isOAuthError(err, "invalid_grant") {
		t.Errorf("the client's refresh after the ban: %v, want invalid_grant", err)
	}
	if _, err := r.conf.Exchange(r.ctx, pending.Get("code"), oauth2.VerifierOption(verifier)); !isOAuthError(err, "invalid_grant") {
		t.Errorf("a code issued before the ban, exchanged after: %v, want invalid_grant", err)
	}
	id = a.authorize(r.conf.AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	wantStatus(t, a.send("POST", "/oauth2/requests/"+id+"/accept", "", "", bearer(tok)...), http.StatusUnauthorized, "accept with a session the ban ended")
	wantStatus(t, a.deviceAnswer(tok, da.UserCode, true), http.StatusUnauthorized, "device approval with a session the ban ended")
	// keel's sign-in page signs in with POST /login first.
	wantResProblem(t, a.send("POST", "/login", "application/json", credentials("ada@example.com", "correct horse")), accountBannedType, "the sign-in page's login")
}

// wantResProblem checks a 403 problem of type typ.
func wantResProblem(t *testing.T, res *http.Response, typ, what string) {
	t.Helper()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("%s: %d %s, want 403 %s", what, res.StatusCode, b, typ)
		return
	}
	var p struct{ Type string }
	if err := json.Unmarshal(b, &p); err != nil || p.Type != typ {
		t.Errorf("%s: problem %s (%v), want type %s", what, b, err, typ)
	}
}
