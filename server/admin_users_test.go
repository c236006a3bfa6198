package server

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/gen/oapi"
	"github.com/keelhq/keel/internal/clients"
	"github.com/keelhq/keel/internal/ws"
)

// adminDo is an admin request with the admin's token.
func (a *testAPI) adminDo(tok, method, path, body string) *httptest.ResponseRecorder {
	a.t.Helper()
	return a.do(method, path, body, bearer(tok)...)
}

// TestAdminCreateUser: an admin creates an account (a password or none, the
// verified flag, app_metadata) or invites its owner, whose mailed link sets
// the password and proves the address; each is user.created with its
// method and the admin as actor; a taken address is 409, an invitation with
// a password, metadata over 16 KiB or roles that are not strings 400.
func TestAdminCreateUser(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	root, _ := a.adminAccount("root@example.com")
	actor := db.ActorAdmin(a.userID("root@example.com"))
	create := func(body string) *httptest.ResponseRecorder {
		return a.adminDo(root.Token, "POST", "/admin/users", body)
	}

	u := decode[oapi.AdminUser](t, a.status(create(`{"email":"Ada@Example.com","password":"password123","email_verified":true,"app_metadata":{"plan":"pro","roles":["editor"]}}`), 201, "create"))
	if u.Email != "ada@example.com" || !u.EmailVerified || u.AppMetadata["plan"] != "pro" || u.Role != "user" || len(u.Sessions) != 0 {
		t.Errorf("created %+v", u)
	}
	a.mustLogin("ada@example.com", "password123")

	bare := decode[oapi.AdminUser](t, a.status(create(`{"email":"bob@example.com"}`), 201, "create without a password"))
	if bare.EmailVerified || len(bare.AppMetadata) != 0 {
		t.Errorf("an account with the defaults: %+v", bare)
	}
	a.status(a.do("POST", "/login", credentials("bob@example.com", "anything at all")), 401, "login to an account without a password")

	inv := decode[oapi.AdminUser](t, a.status(create(`{"email":"cy@example.com","invite":true}`), 201, "invite"))
	a.startJobs()
	tok := a.waitEmail("cy@example.com", "You are invited: choose your password", 0)
	a.status(a.do("POST", "/password/reset", jsonBody("token", tok, "new_password", "chosen by cy")), 204, "the invitation's link")
	a.mustLogin("cy@example.com", "chosen by cy")
	if got := decode[oapi.AdminUser](t, a.status(a.adminDo(root.Token, "GET", fmt.Sprint("/admin/users/", inv.ID), ""), 200, "GET")); !got.EmailVerified {
		t.Error("the invited address is not verified after its link was used")
	}

	big := `{"email":"big@example.com","app_metadata":{"x":"` + strings.Repeat("a", db.MaxMetadataBytes) + `"}}`
	for _, tt := range []struct {
		name, body string
		status     int
		field      string
	}{
		{"a taken address, in another case", `{"email":"ADA@example.com"}`, 409, ""},
		{"an invitation with a password", `{"email":"dee@example.com","invite":true,"password":"password123"}`, 400, "/password"},
		{"app_metadata over 16 KiB", big, 400, "/app_metadata"},
		{"roles that are not strings", `{"email":"dee@example.com","app_metadata":{"roles":[1]}}`, 400, "/app_metadata/roles"},
		{"a short password", `{"email":"dee@example.com","password":"short"}`, 400, "/password"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := a.status(create(tt.body), tt.status, tt.name)
			if tt.field != "" {
				if p := problemOf(t, rec); p.Errors == nil || !strings.HasPrefix((*p.Errors)[0].Field, tt.field) {
					t.Errorf("problem %+v, want one naming %s", p, tt.field)
				}
			}
		})
	}
	if _, err := a.store.GetCredentials(context.Background(), "dee@example.com"); err == nil {
		t.Error("a refused request created its account")
	}
	want := []string{
		fmt.Sprintf("user.created %d %s {\"method\":\"admin\"}", u.ID, actor),
		fmt.Sprintf("user.created %d %s {\"method\":\"admin\"}", bare.ID, actor),
		fmt.Sprintf("user.created %d %s {\"method\":\"invite\"}", inv.ID, actor),
	}
	if got := a.eventsOf("user.created"); len(got) < 3 || strings.Join(got[len(got)-3:], "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant, last:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// notifyJobs counts the owner's notices queued so far.
func (a *testAPI) notifyJobs() int {
	a.t.Helper()
	var n int
	if err := a.db.raw.QueryRow(`SELECT count(*) FROM river_job WHERE kind = 'notify'`).Scan(&n); err != nil {
		a.t.Fatal(err)
	}
	return n
}

// TestAdminUpdateUser: an admin changes the address (unverified unless the
// request says verified too, with a verification mail queued), the flag
// and app_metadata (replaced whole; never in the user's GET /profile); each
// change is user.updated naming the fields; another's address is 409, no
// such user 404, an empty change 400.
func TestAdminUpdateUser(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	root, _ := a.adminAccount("root@example.com")
	actor := db.ActorAdmin(a.userID("root@example.com"))
	a.mustRegister("ada@example.com", "password123")
	a.mustRegister("bob@example.com", "password123")
	id := a.userID("ada@example.com")
	path := fmt.Sprint("/admin/users/", id)
	patch := func(body string, want int) oapi.AdminUser {
		t.Helper()
		rec := a.status(a.adminDo(root.Token, "PATCH", path, body), want, "PATCH "+body)
		if want != 200 {
			return oapi.AdminUser{}
		}
		return decode[oapi.AdminUser](t, rec)
	}

	u := patch(`{"app_metadata":{"plan":"pro","roles":["editor"]}}`, 200)
	if u.AppMetadata["plan"] != "pro" || !u.EmailVerified {
		t.Errorf("after app_metadata: %+v", u)
	}
	u = patch(`{"app_metadata":{"plan":"free"}}`, 200)
	if len(u.AppMetadata) != 1 || u.AppMetadata["plan"] != "free" {
		t.Errorf("app_metadata is replaced whole: %+v", u.AppMetadata)
	}
	if body := a.do("GET", "/profile", "", bearer(a.mustLogin("ada@example.com", "password123"))...).Body.String(); strings.Contains(body, "app_metadata") || strings.Contains(body, "free") {
		t.Errorf("the user's own GET /profile shows app_metadata: %s", body)
	}

	queued := func() int {
		var n int
		if err := a.db.raw.QueryRow(`SELECT count(*) FROM river_job WHERE kind = 'verify-email'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := queued()
	u = patch(`{"email":"Ada@New.example.com"}`, 200)
	if u.Email != "ada@new.example.com" || u.EmailVerified {
		t.Errorf("a new address: %+v, want it unverified", u)
	}
	if queued() != before+1 {
		t.Error("no verification mail queued for the new address")
	}
	a.mustLogin("ada@new.example.com", "password123")
	a.status(a.do("POST", "/login", credentials("ada@example.com", "password123")), 401, "login with the old address")
	u = patch(`{"email":"ada@third.example.com","email_verified":true}`, 200)
	if !u.EmailVerified || queued() != before+1 {
		t.Errorf("an address the admin vouches for: %+v (%d verification mails, want %d)", u, queued(), before+1)
	}
	u = patch(`{"email_verified":false}`, 200)
	if u.EmailVerified {
		t.Error("the flag alone did not change")
	}
	patch(`{"email_verified":false}`, 200) // changes nothing: no event

	patch(`{"email":"BOB@example.com"}`, 409)
	patch(`{}`, 400)
	patch(`{"app_metadata":[]}`, 400)
	patch(`{"role":"admin"}`, 400)
	a.status(a.adminDo(root.Token, "PATCH", "/admin/users/999999", `{"email_verified":true}`), 404, "no such user")

	uid := strconv.FormatInt(id, 10)
	want := []string{
		"user.updated " + uid + " " + actor + ` {"fields":["app_metadata"]}`,
		"user.updated " + uid + " " + actor + ` {"fields":["app_metadata"]}`,
		"user.updated " + uid + " " + actor + ` {"fields":["email","email_verified"]}`,
		"user.updated " + uid + " " + actor + ` {"fields":["email","email_verified"]}`,
		"user.updated " + uid + " " + actor + ` {"fields":["email_verified"]}`,
	}
	if got := a.eventsOf("user.updated"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestAdminLogoutUser: an admin ends every session of a user: their access
// and refresh tokens are refused, their sockets close with 4001 within a
// second, another user's stay; session.ended why=admin; no such user 404.
func TestAdminLogoutUser(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	a.startJobs()
	ts := httptest.NewServer(a.srv)
	defer ts.Close()
	root, _ := a.adminAccount("root@example.com")
	a.mustRegister("ada@example.com", "password123")
	a.mustRegister("bob@example.com", "password123")
	p1, p2 := a.mustLoginPair("ada@example.com", "password123"), a.mustLoginPair("ada@example.com", "password123")
	bob := a.mustLogin("bob@example.com", "password123")
	s1 := dialSession(t, wsURL(ts), p1.Token, "ada@example.com")
	bobWS := dialSession(t, wsURL(ts), bob, "bob@example.com")
	id := a.userID("ada@example.com")

	a.status(a.adminDo(root.Token, "POST", fmt.Sprint("/admin/users/", id, "/logout"), ""), 204, "logout")
	closedWith(t, s1, ws.StatusSessionEnded, sessionSocketDeadline)
	stillOpen(t, bobWS, 100*time.Millisecond)
	for _, p := range []oapi.Token{p1, p2} {
		if code := a.profileStatus(p.Token); code != 401 {
			t.Errorf("an ended session's token: %d, want 401", code)
		}
		a.status(a.refresh(p.RefreshToken), 401, "an ended session's refresh")
	}
	if code := a.profileStatus(bob); code != 200 {
		t.Errorf("another user's session: %d, want 200", code)
	}
	a.mustLogin("ada@example.com", "password123") // a logout, not a ban
	a.status(a.adminDo(root.Token, "POST", "/admin/users/999999/logout", ""), 404, "no such user")
	want := fmt.Sprintf("session.ended %d %s {\"all\":true,\"why\":\"admin\"}", id, db.ActorAdmin(a.userID("root@example.com")))
	if got := a.eventsOf("session.ended"); len(got) == 0 || got[len(got)-1] != want {
		t.Errorf("events %q, want last %q", got, want)
	}
}

// TestAdminResetMFA: after checking out of band who asks, an admin removes
// a user's TOTP factor and recovery codes (passkeys too with ?passkeys=true,
// else they stay), every session of the user ends, the owner is mailed and
// mfa.factors_reset recorded; the user signs in with the password alone.
// Destructive: a stale proof is refused and changes nothing.
func TestAdminResetMFA(t *testing.T) {
	t.Parallel()
	a := newReauthAPI(t)
	root, _ := a.adminAccount("root@example.com")
	_, _, pair := a.mfaAccount("ada@example.com")
	id := a.userID("ada@example.com")
	path := fmt.Sprint("/admin/users/", id, "/mfa")
	notices := a.notifyJobs()

	a.stale()
	wantReauthRequired(t, a.adminDo(root.Token, "DELETE", path, ""), "a reset with a stale proof")
	if code := a.profileStatus(pair.Token); code != 200 {
		t.Fatalf("after a refused reset the user's session: %d, want 200", code)
	}
	a.status(a.reauth(root.Token, jsonBody("password", "password123")), 204, "reauthenticate")

	got := decode[oapi.FactorsReset](t, a.status(a.adminDo(root.Token, "DELETE", path, ""), 200, "reset"))
	if got != (oapi.FactorsReset{Factors: 1, RecoveryCodes: 10, Passkeys: 0}) {
		t.Errorf("reset %+v", got)
	}
	if code := a.profileStatus(pair.Token); code != 401 {
		t.Errorf("the user's aal2 session after the reset: %d, want 401 (ended)", code)
	}
	tok := a.mustLogin("ada@example.com", "password123")
	if code := a.profileStatus(tok); code != 200 {
		t.Errorf("a password sign-in after the reset: %d, want 200 (no factor asked)", code)
	}
	if n := a.notifyJobs(); n != notices+1 {
		t.Errorf("%d notices queued, want %d (the owner is told)", n, notices+1)
	}

	// Passkeys stay unless asked for.
	_, bobToken := a.passkeyAccount("bob@example.com")
	bob := a.userID("bob@example.com")
	notices = a.notifyJobs()
	// Nothing to reset (no TOTP factor, passkeys not asked for): nothing
	// happens, no session ends, no mail, no event (a false alarm an admin
	// could repeat at will).
	if got := decode[oapi.FactorsReset](t, a.status(a.adminDo(root.Token, "DELETE", fmt.Sprint("/admin/users/", bob, "/mfa"), ""), 200, "reset without passkeys")); got != (oapi.FactorsReset{}) {
		t.Errorf("a reset of nothing: %+v", got)
	}
	if code := a.profileStatus(bobToken); code != 200 {
		t.Errorf("the session after a reset of nothing: %d, want 200", code)
	}
	if n := a.notifyJobs(); n != notices {
		t.Errorf("%d notices queued after a reset of nothing, want %d", n, notices)
	}
	if u := decode[oapi.AdminUser](t, a.status(a.adminDo(root.Token, "GET", fmt.Sprint("/admin/users/", bob), ""), 200, "GET")); len(u.Passkeys) != 1 {
		t.Errorf("passkeys %+v, want the one kept", u.Passkeys)
	}
	got = decode[oapi.FactorsReset](t, a.status(a.adminDo(root.Token, "DELETE", fmt.Sprint("/admin/users/", bob, "/mfa?passkeys=true"), ""), 200, "reset with passkeys"))
	if got.Passkeys != 1 {
		t.Errorf("reset with passkeys: %+v", got)
	}
	a.status(a.adminDo(root.Token, "DELETE", "/admin/users/999999/mfa", ""), 404, "no such user")

	want := []string{
		fmt.Sprintf(`mfa.factors_reset %d %s {"factors":1,"passkeys":0,"recovery_codes":10}`, id, db.ActorAdmin(a.userID("root@example.com"))),
		fmt.Sprintf(`mfa.factors_reset %d %s {"factors":0,"passkeys":1,"recovery_codes":0}`, bob, db.ActorAdmin(a.userID("root@example.com"))),
	}
	if got := a.eventsOf("mfa.factors_reset"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestAdminDeleteUser: an admin deletes an account as DELETE /profile does:
// its tokens are refused, its sockets close, the address may register
// again; user.deleted is recorded and outlives the account. Destructive: a
// stale proof is refused and deletes nothing; an admin's account 409 (its
// role goes first); no such user 404.
func TestAdminDeleteUser(t *testing.T) {
	t.Parallel()
	a := newReauthAPI(t)
	a.startJobs()
	ts := httptest.NewServer(a.srv)
	defer ts.Close()
	root, _ := a.adminAccount("root@example.com")
	a.mustRegister("ada@example.com", "password123")
	tok := a.mustLogin("ada@example.com", "password123")
	sock := dialSession(t, wsURL(ts), tok, "ada@example.com")
	id := a.userID("ada@example.com")
	path := fmt.Sprint("/admin/users/", id)

	a.stale()
	wantReauthRequired(t, a.adminDo(root.Token, "DELETE", path, ""), "a deletion with a stale proof")
	a.status(a.adminDo(root.Token, "GET", path, ""), 200, "the account after a refused deletion")
	a.status(a.reauth(root.Token, jsonBody("password", "password123")), 204, "reauthenticate")

	rootPath := fmt.Sprint("/admin/users/", a.userID("root@example.com"))
	a.status(a.adminDo(root.Token, "DELETE", rootPath, ""), 409, "delete an admin's account")
	a.status(a.adminDo(root.Token, "GET", rootPath, ""), 200, "the admin's account after the refusal")
	a.status(a.adminDo(root.Token, "DELETE", path, ""), 204, "delete")
	closedWith(t, sock, ws.StatusSessionEnded, sessionSocketDeadline)
	if code := a.profileStatus(tok); code != 401 {
		t.Errorf("the deleted account's token: %d, want 401", code)
	}
	a.status(a.adminDo(root.Token, "GET", path, ""), 404, "GET a deleted account")
	a.status(a.adminDo(root.Token, "DELETE", path, ""), 404, "delete again")
	a.mustRegister("ada@example.com", "password123") // the address is free
	want := fmt.Sprintf("user.deleted %d %s {}", id, db.ActorAdmin(a.userID("root@example.com")))
	if got := a.eventsOf("user.deleted"); len(got) != 1 || got[0] != want {
		t.Errorf("events %q, want [%q]", got, want)
	}
}

// TestAdminUserChangesRefused: every change to users refuses a non-admin
// (403 admin-required) and an admin at aal1 (403 mfa-required), and
// changes nothing for them.
func TestAdminUserChangesRefused(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	_, _, user := a.mfaAccount("user@example.com")
	a.mfaAccount("aal1@example.com")
	a.setRole("aal1@example.com", db.RoleAdmin)
	aal1 := a.mustLogin("aal1@example.com", "password123")
	a.mustRegister("ada@example.com", "password123")
	ada := a.mustLogin("ada@example.com", "password123")
	target := fmt.Sprint("/admin/users/", a.userID("ada@example.com"))
	for _, op := range []struct{ method, path, body string }{
		{"POST", "/admin/users", `{"email":"new@example.com"}`},
		{"PATCH", target, `{"email_verified":false}`},
		{"POST", target + "/logout", ""},
		{"DELETE", target + "/mfa", ""},
		{"DELETE", target, ""},
	} {
		wantProblem(t, a.adminDo(user.Token, op.method, op.path, op.body), 403, adminRequiredType, op.method+" "+op.path+" by a user")
		wantProblem(t, a.adminDo(aal1, op.method, op.path, op.body), 403, mfaRequiredType, op.method+" "+op.path+" by an admin at aal1")
	}
	if code := a.profileStatus(ada); code != 200 {
		t.Errorf("the target's session after the refusals: %d, want 200", code)
	}
	if _, err := a.store.GetCredentials(context.Background(), "new@example.com"); err == nil {
		t.Error("a refused create made its account")
	}
	for _, typ := range []string{"user.updated", "mfa.factors_reset", "user.deleted"} {
		if got := a.eventsOf(typ); len(got) != 0 {
			t.Errorf("events of a refused change: %q", got)
		}
	}
}

// TestAdminUserChangesByMachine: a machine with the admin scope changes
// users too, destructive operations included (a machine has no proof to
// refresh), and is the actor of each event: client:<client_id>.
func TestAdminUserChangesByMachine(t *testing.T) {
	t.Parallel()
	a := newOPAPI(t)
	cron, secret := a.machine("Cron", clients.ScopeAdmin)
	res := a.form("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"admin"}}, basic(cron.ID, secret)...)
	if res.StatusCode != 200 {
		t.Fatalf("client_credentials: %d", res.StatusCode)
	}
	tok := readJSON[map[string]any](t, res)["access_token"].(string)

	u := decode[oapi.AdminUser](t, a.status(a.adminDo(tok, "POST", "/admin/users", `{"email":"ada@example.com","password":"password123","email_verified":true}`), 201, "create"))
	path := fmt.Sprint("/admin/users/", u.ID)
	a.status(a.adminDo(tok, "PATCH", path, `{"app_metadata":{"plan":"pro"}}`), 200, "PATCH")
	a.status(a.adminDo(tok, "POST", path+"/logout", ""), 204, "logout")
	// A factor begun, for the reset to remove (a reset of nothing does nothing).
	a.status(a.do("POST", "/mfa/totp", "", bearer(a.mustLogin("ada@example.com", "password123"))...), 201, "enrol")
	a.status(a.adminDo(tok, "DELETE", path+"/mfa", ""), 200, "reset the factor")
	a.status(a.adminDo(tok, "DELETE", path, ""), 204, "delete")
	actor := db.ActorClient(cron.ID)
	for _, typ := range []string{db.EventUserCreated, db.EventUserUpdated, db.EventSessionEnded, db.EventMFAFactorsReset, db.EventUserDeleted} {
		got := a.eventsOf(typ)
		if len(got) == 0 || !strings.Contains(got[len(got)-1], " "+actor+" ") {
			t.Errorf("%s events %q, want the last by %s", typ, got, actor)
		}
	}
}
