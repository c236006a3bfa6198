package server

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/keelhq/keel/gen/oapi"
	"github.com/keelhq/keel/internal/claims"
)

// setAppMetadata writes a user's app_metadata straight to the database (the
// admin API's PATCH writes it in service).
func (a *testAPI) setAppMetadata(id int64, appMetadata string) {
	a.t.Helper()
	a.db.exec(a.t, "UPDATE users SET app_metadata = '%s' WHERE id = %d", strings.ReplaceAll(appMetadata, "'", "''"), id)
}

// payload is a JWT's claims, unverified (the tests that read it have it
// from keel's own answer).
func payload(t *testing.T, raw string) map[string]any {
	t.Helper()
	_, c := jwtParts(t, raw)
	return c
}

// fromAppMetadata is what a token carries of app_metadata: roles and the
// listed claims of TestRolesInTokens' setting.
func fromAppMetadata(c map[string]any) map[string]any {
	out := map[string]any{}
	for _, k := range []string{"roles", "tenant", "plan", "secret"} {
		if v, ok := c[k]; ok {
			out[k] = v
		}
	}
	return out
}

// TestRolesInTokens: an access token carries its user's roles
// (app_metadata.roles) and the app_metadata keys JWT_CLAIMS_FROM_APP_METADATA
// lists, and no other key, from the next token issued: a login, or the
// refresh after a change (never the token issued before it). What breaks a
// limit is left out, with a warning, and the refresh still succeeds; keel's
// API takes such tokens as any other.
func TestRolesInTokens(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, func(c *Config) { c.AppMetadataClaims = claims.Names{"tenant", "plan"} })
	u := a.mustRegister("ada@example.com", "correct horse")
	pair := a.mustLoginPair("ada@example.com", "correct horse")
	if got := fromAppMetadata(payload(t, pair.Token)); len(got) != 0 {
		t.Errorf("a token of an account with no app_metadata carries %v", got)
	}

	a.setAppMetadata(u.ID, `{"roles":["editor","billing"],"tenant":"acme","plan":{"tier":2},"secret":"s3"}`)
	want := map[string]any{"roles": []any{"editor", "billing"}, "tenant": "acme", "plan": map[string]any{"tier": float64(2)}}
	if got := fromAppMetadata(payload(t, pair.Token)); len(got) != 0 {
		t.Errorf("the token issued before the change carries %v", got)
	}
	pair = decode[oapi.Token](t, a.status(a.refresh(pair.RefreshToken), http.StatusOK, "refresh"))
	if diff := cmp.Diff(want, fromAppMetadata(payload(t, pair.Token))); diff != "" {
		t.Errorf("after a refresh (-want +got):\n%s", diff)
	}
	if code := a.profileStatus(pair.Token); code != http.StatusOK {
		t.Errorf("GET /profile with it: %d", code)
	}
	login := a.mustLogin("ada@example.com", "correct horse")
	if diff := cmp.Diff(want, fromAppMetadata(payload(t, login))); diff != "" {
		t.Errorf("at a login (-want +got):\n%s", diff)
	}

	// Over the limits: 51 roles, and listed claims over 4 KiB.
	roles, _ := json.Marshal(strings.Fields(strings.Repeat("r ", claims.MaxRoles+1)))
	a.setAppMetadata(u.ID, fmt.Sprintf(`{"roles":%s,"tenant":"acme","plan":"%s"}`, roles, strings.Repeat("p", claims.MaxListedBytes)))
	pair = decode[oapi.Token](t, a.status(a.refresh(pair.RefreshToken), http.StatusOK, "refresh over the limits"))
	if got := fromAppMetadata(payload(t, pair.Token)); len(got) != 0 {
		t.Errorf("over the limits the token carries %v, want none of it", slices.Sorted(maps.Keys(got)))
	}
	logs := a.logs.String()
	for _, field := range []string{`"field":"app_metadata/roles"`, `"field":"app_metadata"`} {
		if !strings.Contains(logs, `"msg":"a claim from app_metadata is left out of the token"`) || !strings.Contains(logs, field) {
			t.Errorf("no warning naming %s in the log", field)
		}
	}
	if strings.Contains(logs, "ppppp") {
		t.Error("the log holds the value left out")
	}
	if code := a.profileStatus(pair.Token); code != http.StatusOK {
		t.Errorf("GET /profile with it: %d", code)
	}

	// Without the setting, roles still go in, and nothing else.
	b := newTestAPI(t)
	v := b.mustRegister("bo@example.com", "correct horse")
	b.setAppMetadata(v.ID, `{"roles":["viewer"],"tenant":"acme"}`)
	if diff := cmp.Diff(map[string]any{"roles": []any{"viewer"}}, fromAppMetadata(payload(t, b.mustLogin("bo@example.com", "correct horse")))); diff != "" {
		t.Errorf("without JWT_CLAIMS_FROM_APP_METADATA (-want +got):\n%s", diff)
	}
}

// TestSignInSessionEndedAtOnce: a provider sign-in's session that ends
// between its redemption and the read of the token's claims (a ban, a
// reset, a sign-out of every session) gets its pair as any sign-in whose
// session ends after it (200, documented), and the pair is refused at once;
// never an undocumented answer.
func TestSignInSessionEndedAtOnce(t *testing.T) {
	t.Parallel()
	before, after := &atomic.Pointer[func()]{}, &atomic.Pointer[func()]{}
	a := newOAuthAPIWith(t, func(d *Deps) { d.Store = redeemAround{Store: d.Store, before: before, after: after} })
	a.user("ada", "ada@example.com", true)
	id := a.profile(a.mustSignIn("ada").Token).ID
	c := newApp()
	code := a.code(a.signIn("corp", "ada", c))
	f := func() {
		if err := a.store.DeleteSessions(context.Background(), id, ""); err != nil {
			t.Error(err)
		}
	}
	after.Store(&f)
	tok := decode[oapi.Token](t, a.status(a.exchange(code, c.verifier), http.StatusOK, "the code whose session ended at once"))
	if got := a.profileStatus(tok.Token); got != http.StatusUnauthorized {
		t.Errorf("its access token: %d, want 401", got)
	}
	if got := a.refresh(tok.RefreshToken).Code; got != http.StatusUnauthorized {
		t.Errorf("its refresh token: %d, want 401", got)
	}
	if after.Load() != nil {
		t.Fatal("the session did not end around the redemption")
	}
}
