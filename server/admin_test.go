package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/gen/oapi"
	"github.com/keelhq/keel/internal/clients"
)

// setRole gives the account with email the role, as `keel users
// grant-admin` does (the store, no API, no rule on the last admin).
func (a *testAPI) setRole(email, role string) {
	a.t.Helper()
	if _, _, err := a.store.SetRole(context.Background(), db.RoleChange{Email: email, Role: role}, nil); err != nil {
		a.t.Fatalf("set the role of %s to %s: %v", email, role, err)
	}
}

// adminAccount registers email as an admin with a verified TOTP factor and
// returns its aal2 session's pair (its proof is fresh) and the factor's
// secret: what every admin operation needs of a person.
func (a *testAPI) adminAccount(email string) (oapi.Token, string) {
	a.t.Helper()
	secret, _, pair := a.mfaAccount(email)
	a.setRole(email, db.RoleAdmin)
	return pair, secret
}

// wantProblem checks a refusal's status and problem type.
func wantProblem(t *testing.T, rec *httptest.ResponseRecorder, status int, typ, what string) {
	t.Helper()
	if rec.Code != status {
		t.Errorf("%s: %d, want %d %s: %s", what, rec.Code, status, typ, rec.Body)
		return
	}
	if typ == "" {
		return
	}
	if p := problemOf(t, rec); p.Type != typ {
		t.Errorf("%s: problem type %q, want %q", what, p.Type, typ)
	}
}

// userID is the id of the account with email.
func (a *testAPI) userID(email string) int64 {
	a.t.Helper()
	var id int64
	if err := a.db.raw.QueryRow("SELECT id FROM users WHERE email = '" + email + "'").Scan(&id); err != nil {
		a.t.Fatalf("the id of %s: %v", email, err)
	}
	return id
}

// TestAdminWho: the admin API takes an admin person with a verified factor
// at aal2, and refuses everyone else: no token or a bad one (401), a
// non-admin (403 admin-required, whatever their assurance), an admin
// without a factor or at aal1 (403 mfa-required), an admin revoked since
// their token was issued (403 at their next request), an ended session
// (401). A role change, destructive, needs a fresh proof too.
func TestAdminWho(t *testing.T) {
	t.Parallel()
	a := newReauthAPI(t)
	adminPair, _ := a.adminAccount("root@example.com")
	userPair := func() oapi.Token { _, _, p := a.mfaAccount("user@example.com"); return p }()
	a.mustRegister("nofactor@example.com", "password123")
	a.setRole("nofactor@example.com", db.RoleAdmin)
	noFactor := a.mustLogin("nofactor@example.com", "password123")
	a.mfaAccount("aal1@example.com")
	a.setRole("aal1@example.com", db.RoleAdmin)
	aal1 := a.mustLogin("aal1@example.com", "password123")
	target := strconv.FormatInt(a.userID("user@example.com"), 10)
	get := func(tok string) *httptest.ResponseRecorder {
		var hdr []string
		if tok != "" {
			hdr = bearer(tok)
		}
		return a.do("GET", "/admin/users/"+target, "", hdr...)
	}

	a.status(get(adminPair.Token), 200, "an admin at aal2")
	wantProblem(t, get(""), 401, "", "no token")
	wantProblem(t, get("not-a-token"), 401, "", "a bad token")
	wantProblem(t, get(userPair.Token), 403, adminRequiredType, "a user at aal2")
	wantProblem(t, get(a.mustLogin("nofactor@example.com", "password123")), 403, mfaRequiredType, "an admin without a factor")
	wantProblem(t, get(noFactor), 403, mfaRequiredType, "an admin without a factor")
	wantProblem(t, get(aal1), 403, mfaRequiredType, "an admin at aal1")
	a.setRole("user@example.com", db.RoleUser) // nothing changes: still not an admin
	wantProblem(t, get(userPair.Token), 403, adminRequiredType, "a user again")

	// Revoked: the same token is refused at its next request.
	other, _ := a.adminAccount("other@example.com")
	a.status(get(other.Token), 200, "another admin")
	a.setRole("other@example.com", db.RoleUser)
	wantProblem(t, get(other.Token), 403, adminRequiredType, "an admin revoked since the token was issued")

	// A role change is destructive: a stale proof is refused, a fresh one
	// goes through.
	role := func(tok, id, r string) *httptest.ResponseRecorder {
		return a.do("PUT", "/admin/users/"+id+"/role", jsonBody("role", r), bearer(tok)...)
	}
	a.status(role(adminPair.Token, target, "admin"), 200, "a role change with a fresh proof")
	a.stale()
	a.status(get(adminPair.Token), 200, "a read with a stale proof")
	wantReauthRequired(t, role(adminPair.Token, target, "user"), "a role change with a stale proof")
	a.status(a.reauth(adminPair.Token, jsonBody("password", "password123")), 204, "reauthenticate")
	a.status(role(adminPair.Token, target, "user"), 200, "the role change after reauthenticating")

	// An ended session is refused like on any bearer operation.
	a.status(a.do("POST", "/logout", "", bearer(adminPair.Token)...), 204, "logout")
	wantProblem(t, get(adminPair.Token), 401, "", "an ended session")
}

// TestAdminGetUser: the user as an admin sees them: role, state, metadata,
// sessions (grants name their client), factors without their secrets,
// passkeys, identities; 404 for no such user.
func TestAdminGetUser(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	pair, _ := a.adminAccount("root@example.com")
	a.passkeyAccount("ada@example.com")
	a.mustRegisterUnverified("new@example.com", "password123")
	ada := a.userID("ada@example.com")
	adaID := strconv.FormatInt(ada, 10)
	a.db.exec(t, `UPDATE users SET app_metadata = '{"roles":["editor"]}', user_metadata = '{"theme":"dark"}' WHERE id = %d`, ada)
	u := decode[oapi.AdminUser](t, a.status(a.do("GET", "/admin/users/"+adaID, "", bearer(pair.Token)...), 200, "GET ada"))
	if u.ID != ada || u.Email != "ada@example.com" || !u.EmailVerified || u.Role != oapi.RoleUser || u.State != oapi.UserStateActive ||
		len(u.Passkeys) != 1 || len(u.Sessions) == 0 || len(u.Factors) != 0 || len(u.Identities) != 0 {
		t.Errorf("ada: %+v", u)
	}
	if roles, _ := u.AppMetadata["roles"].([]any); len(roles) != 1 || roles[0] != "editor" || u.UserMetadata["theme"] != "dark" {
		t.Errorf("ada's metadata: %v %v", u.AppMetadata, u.UserMetadata)
	}

	me := decode[oapi.AdminUser](t, a.status(a.do("GET", "/admin/users/"+strconv.FormatInt(a.userID("root@example.com"), 10), "", bearer(pair.Token)...), 200, "GET root"))
	if me.Role != oapi.RoleAdmin || len(me.Factors) != 1 || !me.Factors[0].Verified {
		t.Errorf("root: %+v", me)
	}
	raw := a.do("GET", "/admin/users/"+strconv.FormatInt(a.userID("root@example.com"), 10), "", bearer(pair.Token)...).Body.String()
	if strings.Contains(raw, "secret") || strings.Contains(raw, "password") || strings.Contains(raw, "hash") {
		t.Errorf("an admin's view shows a secret: %s", raw)
	}

	fresh := decode[oapi.AdminUser](t, a.do("GET", "/admin/users/"+strconv.FormatInt(a.userID("new@example.com"), 10), "", bearer(pair.Token)...))
	if fresh.State != oapi.UserStateUnverified || len(fresh.Sessions) != 0 || fresh.AppMetadata == nil {
		t.Errorf("an unverified account: %+v", fresh)
	}
	// banned_at set by hand (the ban is another operation's): banned,
	// then not once banned_until has passed.
	if _, err := a.db.raw.Exec(`UPDATE users SET banned_at = $1 WHERE id = `+adaID, a.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if u := decode[oapi.AdminUser](t, a.do("GET", "/admin/users/"+adaID, "", bearer(pair.Token)...)); u.State != oapi.UserStateBanned {
		t.Errorf("a banned account: state %q", u.State)
	}
	wantProblem(t, a.do("GET", "/admin/users/999999", "", bearer(pair.Token)...), 404, "", "no such user")
	wantProblem(t, a.do("GET", "/admin/users/x", "", bearer(pair.Token)...), 400, "", "an id that is no number")
}

// TestAdminSetRole: an admin grants and revokes the role through the API
// (the grantee is an admin at their next request, without a new token);
// the last admin cannot be demoted (409); each change is the event
// user.role_changed with its actor, in the change's transaction.
func TestAdminSetRole(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	root, _ := a.adminAccount("root@example.com")
	_, _, bob := a.mfaAccount("bob@example.com")
	rootID, bobID := a.userID("root@example.com"), a.userID("bob@example.com")
	path := func(id int64) string { return "/admin/users/" + strconv.FormatInt(id, 10) + "/role" }
	getBob := func(tok string) int {
		return a.do("GET", "/admin/users/"+strconv.FormatInt(bobID, 10), "", bearer(tok)...).Code
	}

	wantProblem(t, a.do("PUT", path(rootID), jsonBody("role", "user"), bearer(root.Token)...), 409, "", "the last admin demoting themself")
	if got := getBob(bob.Token); got != 403 {
		t.Errorf("bob before the grant: %d", got)
	}
	u := decode[oapi.AdminUser](t, a.status(a.do("PUT", path(bobID), jsonBody("role", "admin"), bearer(root.Token)...), 200, "grant bob"))
	if u.Role != oapi.RoleAdmin || u.ID != bobID {
		t.Errorf("after the grant: %+v", u)
	}
	if got := getBob(bob.Token); got != 200 {
		t.Errorf("bob after the grant, same token: %d", got)
	}
	a.status(a.do("PUT", path(bobID), jsonBody("role", "admin"), bearer(root.Token)...), 200, "grant again: no change")
	a.status(a.do("PUT", path(rootID), jsonBody("role", "user"), bearer(bob.Token)...), 200, "bob demotes root")
	wantProblem(t, a.do("GET", "/admin/users/1", "", bearer(root.Token)...), 403, adminRequiredType, "root, demoted")
	wantProblem(t, a.do("PUT", path(bobID), jsonBody("role", "user"), bearer(bob.Token)...), 409, "", "bob, now the last admin")
	wantProblem(t, a.do("PUT", path(999999), jsonBody("role", "admin"), bearer(bob.Token)...), 404, "", "no such user")
	wantProblem(t, a.do("PUT", path(bobID), jsonBody("role", "owner"), bearer(bob.Token)...), 400, "", "no such role")

	events := a.eventsOf(db.EventRoleChanged)
	want := []string{
		"user.role_changed " + strconv.FormatInt(bobID, 10) + " admin:" + strconv.FormatInt(rootID, 10) + ` {"from":"user","role":"admin"}`,
		"user.role_changed " + strconv.FormatInt(rootID, 10) + " admin:" + strconv.FormatInt(bobID, 10) + ` {"from":"admin","role":"user"}`,
	}
	if strings.Join(events, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(events, "\n"), strings.Join(want, "\n"))
	}
}

// eventsOf lists the events of typ as "type user_id actor data", oldest
// first.
func (a *testAPI) eventsOf(typ string) []string {
	a.t.Helper()
	var out []string
	all := a.events(0) // newest first
	for i := len(all) - 1; i >= 0; i-- {
		e := all[i]
		if e.Type != typ {
			continue
		}
		b, _ := json.Marshal(dataOf(a.t, e)) // keys sorted: one spelling on both engines
		out = append(out, e.Type+" "+strconv.FormatInt(e.UserID, 10)+" "+e.Actor+" "+string(b))
	}
	return out
}

// TestAdminMachine: a machine's client_credentials token with the admin
// scope calls the admin API (role changes too: a machine has no proof to
// refresh) and is the actor of what it changes; without the scope it is
// refused (403 admin-required); once its client is deleted, or asked for
// another resource server, or at any operation but the admin API's, it is
// no token (401).
func TestAdminMachine(t *testing.T) {
	t.Parallel()
	a := newOPAPI(t)
	cron, cronSecret := a.machine("Cron", clients.ScopeAdmin)
	reports, reportsSecret := a.machine("Reports")
	a.mustRegister("ada@example.com", "password123")
	ada := strconv.FormatInt(a.userID("ada@example.com"), 10)
	machineToken := func(id, secret string, extra ...string) string {
		t.Helper()
		v := url.Values{"grant_type": {"client_credentials"}}
		for i := 0; i+1 < len(extra); i += 2 {
			v.Set(extra[i], extra[i+1])
		}
		res := a.form("/oauth2/token", v, basic(id, secret)...)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("client_credentials for %s: %d", id, res.StatusCode)
		}
		return readJSON[map[string]any](t, res)["access_token"].(string)
	}
	admin := machineToken(cron.ID, cronSecret, "scope", "admin")

	u := decode[oapi.AdminUser](t, a.status(a.do("GET", "/admin/users/"+ada, "", bearer(admin)...), 200, "a machine with the admin scope"))
	if u.Email != "ada@example.com" {
		t.Errorf("the machine read %+v", u)
	}
	a.status(a.do("PUT", "/admin/users/"+ada+"/role", jsonBody("role", "admin"), bearer(admin)...), 200, "a machine changes a role")
	if got := a.eventsOf(db.EventRoleChanged); len(got) != 1 || !strings.Contains(got[0], " client:"+cron.ID+" ") {
		t.Errorf("the machine's role change: %v", got)
	}

	wantProblem(t, a.do("GET", "/admin/users/"+ada, "", bearer(machineToken(cron.ID, cronSecret))...), 403, adminRequiredType,
		"the same machine, a token asked without the scope")
	wantProblem(t, a.do("GET", "/admin/users/"+ada, "", bearer(machineToken(reports.ID, reportsSecret))...), 403, adminRequiredType,
		"a machine without the admin scope")
	wantProblem(t, a.do("GET", "/admin/users/"+ada, "", bearer(machineToken(cron.ID, cronSecret, "scope", "admin", "resource", "https://reports.example.com/"))...),
		401, "", "a token asked for another resource server")
	wantProblem(t, a.do("GET", "/profile", "", bearer(admin)...), 401, "", "the machine's token at GET /profile")
	wantProblem(t, a.do("GET", "/sessions", "", bearer(admin)...), 401, "", "the machine's token at GET /sessions")

	if err := a.store.(clients.Store).DeleteClient(context.Background(), cron.ID); err != nil {
		t.Fatal(err)
	}
	wantProblem(t, a.do("GET", "/admin/users/"+ada, "", bearer(admin)...), 401, "", "the token of a deleted client")
}

// TestParameterNotItsType: a path or query value that does not parse as its
// type is 400 naming the parameter and what it must be, never the body
// (there is none): "the request body is not valid JSON" was the answer.
func TestParameterNotItsType(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	root, _ := a.adminAccount("root@example.com")
	for _, tt := range []struct{ path, field, reason string }{
		{"/admin/users/abc", "id", "must be a whole number"},
		{"/admin/users?limit=abc", "limit", "must be a whole number"},
		{"/admin/audit?user=1.5", "user", "must be a whole number"},
		{"/profile/activity?limit=9999999999999999999999", "limit", "must be a whole number"},
	} {
		rec := a.do("GET", tt.path, "", bearer(root.Token)...)
		wantProblem(t, rec, 400, "", "GET "+tt.path)
		p := problemOf(t, rec)
		if p.Errors == nil || len(*p.Errors) != 1 || (*p.Errors)[0].Field != tt.field || (*p.Errors)[0].Reason != tt.reason {
			t.Errorf("GET %s: %s, want the field %q: %q", tt.path, rec.Body, tt.field, tt.reason)
		}
	}
	rec := a.do("DELETE", "/admin/users/6/mfa?passkeys=maybe", "", bearer(root.Token)...)
	if p := problemOf(t, rec); rec.Code != 400 || p.Errors == nil || (*p.Errors)[0].Field != "passkeys" || (*p.Errors)[0].Reason != "must be true or false" {
		t.Errorf("DELETE ...?passkeys=maybe: %d %s", rec.Code, rec.Body)
	}
}
