package server

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/keelhq/keel/internal/clients"
)

// TestProviderGrantScopes: a grant keeps the scopes it was given (RFC 6749
// §6: a refresh never exceeds the original grant). A later sign-in of the
// same user to the same client that consents to more widens the remembered
// consent, not the earlier grant: its refresh and its userinfo stay within
// what it was given.
func TestProviderGrantScopes(t *testing.T) {
	t.Parallel()
	a := newOPAPI(t)
	a.mustRegister("ada@example.com", "correct horse")
	tok := a.mustLogin("ada@example.com", "correct horse")
	c, secret := a.addClient(clients.Registration{Name: "Dashboard", RedirectURIs: []string{"https://app.example/cb"}})
	narrow := a.newRP(c, secret, gooidc.ScopeOpenID, gooidc.ScopeOfflineAccess)
	first, _ := a.signIn(narrow, tok)
	wide := a.newRP(c, secret, gooidc.ScopeOpenID, "email", gooidc.ScopeOfflineAccess)
	a.signIn(wide, tok)

	// The first grant's access token: userinfo tells no address.
	ui, err := narrow.oidc.UserInfo(narrow.ctx, oauth2.StaticTokenSource(first))
	if err != nil {
		t.Fatal(err)
	}
	if ui.Email != "" {
		t.Errorf("userinfo of the first grant after a wider sign-in: email %q, want none", ui.Email)
	}
	// Its refresh: the scope of the first grant, not the consent's.
	next, err := narrow.conf.TokenSource(narrow.ctx, &oauth2.Token{RefreshToken: first.RefreshToken}).Token()
	if err != nil {
		t.Fatal(err)
	}
	if _, at := jwtParts(t, next.AccessToken); at["scope"] != "openid offline_access" {
		t.Errorf("refreshed access token's scope %q, want %q", at["scope"], "openid offline_access")
	}
	if rawID, _ := next.Extra("id_token").(string); rawID != "" {
		if _, claims := jwtParts(t, rawID); claims["email"] != nil {
			t.Errorf("refreshed ID token carries email %v", claims["email"])
		}
	}
	// Asking more at the refresh is refused (invalid_scope).
	_, err = oauth2Refresh(narrow, next.RefreshToken, "openid email offline_access")
	if !isOAuthError(err, "invalid_scope") {
		t.Errorf("refresh asking for email: %v, want invalid_scope", err)
	}
}

// oauth2Refresh refreshes tok asking for scope.
func oauth2Refresh(r *rp, tok, scope string) (*oauth2.Token, error) {
	return r.conf.Exchange(r.ctx, "", oauth2.SetAuthURLParam("grant_type", "refresh_token"),
		oauth2.SetAuthURLParam("refresh_token", tok), oauth2.SetAuthURLParam("scope", scope))
}

// TestProviderGrantEndsWithPassword: a password change ends the user's
// grants as it ends their other sessions (docs/provider.md, Grants are
// sessions): userinfo and the refresh stop.
func TestProviderGrantEndsWithPassword(t *testing.T) {
	t.Parallel()
	a := newOPAPI(t)
	a.mustRegister("ada@example.com", "correct horse")
	tok := a.mustLogin("ada@example.com", "correct horse")
	c, secret := a.addClient(clients.Registration{Name: "Dashboard", RedirectURIs: []string{"https://app.example/cb"}})
	r := a.newRP(c, secret, gooidc.ScopeOpenID, gooidc.ScopeOfflineAccess)
	tokens, _ := a.signIn(r, tok)
	a.status(a.do("PUT", "/profile/password", jsonBody("current_password", "correct horse", "new_password", "battery staple"), bearer(tok)...), 204, "change the password")
	if _, err := r.oidc.UserInfo(r.ctx, oauth2.StaticTokenSource(tokens)); err == nil {
		t.Error("userinfo after a password change: answered")
	}
	if _, err := r.conf.TokenSource(r.ctx, &oauth2.Token{RefreshToken: tokens.RefreshToken}).Token(); !isOAuthError(err, "invalid_grant") {
		t.Errorf("refresh after a password change: %v, want invalid_grant", err)
	}
}

// TestProviderAuthorizeRateLimit: each authorization request stores a row
// before anyone signs in, so authorize (GET and POST, one budget) is
// limited per address like keel's own sign-in starts: AUTH_RATE_LIMIT a
// minute, then 429; the device authorization endpoint too, on its own.
func TestProviderAuthorizeRateLimit(t *testing.T) {
	t.Parallel()
	a := newOPAPIWith(t, func(c *Config) { c.AuthRateLimit = 2 })
	c, _ := a.addClient(clients.Registration{Name: "Web", RedirectURIs: []string{"https://app.example/cb"}})
	q := url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {"https://app.example/cb"}, "scope": {"openid"}}
	location(t, a.get("/oauth2/authorize?"+q.Encode()))
	location(t, a.send("POST", "/oauth2/authorize", "application/x-www-form-urlencoded", q.Encode()))
	if res := a.get("/oauth2/authorize?" + q.Encode()); res.StatusCode != http.StatusTooManyRequests {
		t.Errorf("the third authorize of the minute: %d, want 429", res.StatusCode)
	}
	a.clock.Add(time.Minute)
	location(t, a.get("/oauth2/authorize?"+q.Encode()))

	// The device authorization endpoint stores a device code for anyone
	// who knows a public client's id: its own budget.
	dev, _ := a.addClient(clients.Registration{Name: "CLI", Public: true, GrantTypes: []string{clients.GrantDeviceCode}})
	form := url.Values{"client_id": {dev.ID}, "scope": {"openid"}}.Encode()
	for i := range 2 {
		if res := a.send("POST", "/oauth2/device_authorization", "application/x-www-form-urlencoded", form); res.StatusCode != http.StatusOK {
			t.Fatalf("device authorization %d: %d", i+1, res.StatusCode)
		}
	}
	if res := a.send("POST", "/oauth2/device_authorization", "application/x-www-form-urlencoded", form); res.StatusCode != http.StatusTooManyRequests {
		t.Errorf("the third device authorization of the minute: %d, want 429", res.StatusCode)
	}
}
