package server

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/internal/validate"
)

// TestAdminGateEveryOperation walks every admin operation of the spec
// (tag admin, adminAuth) and sends it, with a valid request, from each
// caller the admin API refuses: no token (401), a user at aal2 (403
// admin-required), an admin without a factor and an admin at aal1 (403
// mfa-required), a machine whose token lacks the admin scope (403
// admin-required), an admin revoked since their token was issued (403
// admin-required), an admin whose session ended (401); a destructive one
// from an admin whose proof is stale (403 reauthentication-required). A
// fresh admin's request goes past the gate (the control: the request was
// valid, and the gate refused the others). A new admin operation with a
// body fails the test until it is given one here.
func TestAdminGateEveryOperation(t *testing.T) {
	t.Parallel()
	a := newOPAPIWith(t, func(c *Config) { c.ReauthMaxAge = testReauthMaxAge })
	bodies := map[string]string{
		"adminCreateUser":    `{"email":"gate@example.com"}`,
		"adminUpdateUser":    `{"email_verified":true}`,
		"adminSetRole":       `{"role":"user"}`,
		"adminBanUser":       `{"reason":"gate"}`,
		"adminCreateWebhook": `{"url":"https://hooks.example.com/keel","events":["user.created"]}`,
		"adminUpdateWebhook": `{"enabled":false}`,
	}
	// Path parameters: no such user, endpoint or delivery (404 past the gate).
	params := map[string]string{":id": "999999", ":delivery_id": "999999"}
	webhookID := "ep_" + strings.Repeat("0", 24)

	root, _ := a.adminAccount("root@example.com")
	_, _, user := a.mfaAccount("user@example.com")
	a.mustRegister("nofactor@example.com", "password123")
	a.setRole("nofactor@example.com", db.RoleAdmin)
	noFactor := a.mustLogin("nofactor@example.com", "password123")
	a.mfaAccount("aal1@example.com")
	a.setRole("aal1@example.com", db.RoleAdmin)
	aal1 := a.mustLogin("aal1@example.com", "password123")
	revoked, _ := a.adminAccount("revoked@example.com")
	a.setRole("revoked@example.com", db.RoleUser)
	ended, _ := a.adminAccount("ended@example.com")
	a.status(a.do("POST", "/logout", "", bearer(ended.Token)...), 204, "the ended admin's logout")
	reports, secret := a.machine("Reports")
	res := a.form("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, basic(reports.ID, secret)...)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("client_credentials: %d", res.StatusCode)
	}
	machine := readJSON[map[string]any](t, res)["access_token"].(string)

	type call struct {
		name, token string
		status      int
		typ         string
	}
	refusals := []call{
		{"no token", "", 401, ""},
		{"a user at aal2", user.Token, 403, adminRequiredType},
		{"an admin without a factor", noFactor, 403, mfaRequiredType},
		{"an admin at aal1", aal1, 403, mfaRequiredType},
		{"a machine without the admin scope", machine, 403, adminRequiredType},
		{"an admin revoked since", revoked.Token, 403, adminRequiredType},
		{"an admin whose session ended", ended.Token, 401, ""},
	}
	route := regexp.MustCompile(`:[a-z_]+`)
	var keys []string
	for k, op := range a.srv.ops {
		if op.Admin {
			keys = append(keys, k.Method+" "+k.Path)
		}
	}
	sort.Strings(keys) // one order on every run
	if len(keys) < 10 {
		t.Fatalf("only %d admin operations found", len(keys))
	}
	send := func(method, path, body, token string) (*httptest.ResponseRecorder, string) {
		var hdr []string
		if token != "" {
			hdr = bearer(token)
		}
		return a.do(method, path, body, hdr...), method + " " + path
	}
	var destructive [][3]string
	var destructiveIDs []string
	for _, k := range keys {
		method, tmpl, _ := strings.Cut(k, " ")
		op := a.srv.ops[validate.Key{Method: method, Path: tmpl}]
		body, ok := bodies[op.ID]
		if op.Body && !ok {
			t.Errorf("%s takes a body: give it a valid one in this test", op.ID)
			continue
		}
		path := route.ReplaceAllStringFunc(tmpl, func(p string) string {
			if p == ":id" && strings.HasPrefix(tmpl, "/admin/webhooks/") {
				return webhookID
			}
			return params[p]
		})
		for _, c := range refusals {
			rec, what := send(method, path, body, c.token)
			wantProblem(t, rec, c.status, c.typ, what+", "+c.name)
		}
		rec, what := send(method, path, body, root.Token)
		if rec.Code == 400 || rec.Code == 401 || rec.Code == 403 {
			t.Errorf("%s by a fresh admin: %d (the request must pass the gate): %s", what, rec.Code, rec.Body)
		}
		if op.Destructive {
			destructive = append(destructive, [3]string{method, path, body})
			destructiveIDs = append(destructiveIDs, op.ID)
		}
	}
	// The operations that change who can get into an account, or remove
	// it: a new address marked verified (adminUpdateUser) and a reset
	// mailed there is a way in, as a role is a way to every account.
	slices.Sort(destructiveIDs)
	if want := []string{"adminBanUser", "adminDeleteUser", "adminResetMFA", "adminSetRole", "adminUpdateUser"}; !slices.Equal(destructiveIDs, want) {
		t.Errorf("operations marked x-keel-admin: destructive %v, want %v", destructiveIDs, want)
	}
	a.stale()
	for _, d := range destructive {
		rec, what := send(d[0], d[1], d[2], root.Token)
		wantReauthRequired(t, rec, what+" with a stale proof")
	}
}
