package server

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"

	"github.com/keelhq/keel/internal/claims"
	"github.com/keelhq/keel/internal/clients"
	"github.com/keelhq/keel/internal/provider"
)

// TestProviderRolesInTokens: as an OpenID Provider, keel puts the user's
// roles and the listed app_metadata claims in the ID token and the access
// token of the code flow, and in userinfo; a change shows in the grant's
// tokens from its next refresh (userinfo at once); an unlisted key never.
func TestProviderRolesInTokens(t *testing.T) {
	t.Parallel()
	names := claims.Names{"tenant"}
	a := newOPAPIWith(t, func(c *Config) { c.AppMetadataClaims = names },
		func(c *provider.Config) { c.AppMetadataClaims = names })
	u := a.mustRegister("ada@example.com", "correct horse")
	a.setAppMetadata(u.ID, `{"roles":["editor"],"tenant":{"id":7},"secret":"s3"}`)
	tok := a.mustLogin("ada@example.com", "correct horse")
	c, secret := a.addClient(clients.Registration{Name: "Dashboard", RedirectURIs: []string{"https://app.example/cb"}})
	r := a.newRP(c, secret, gooidc.ScopeOpenID, "email", gooidc.ScopeOfflineAccess)
	tokens, _ := a.signIn(r, tok)

	want := map[string]any{"roles": []any{"editor"}, "tenant": map[string]any{"id": float64(7)}}
	idToken := func(tokens *oauth2.Token) map[string]any {
		t.Helper()
		raw, _ := tokens.Extra("id_token").(string)
		idt, err := r.verifier.Verify(r.ctx, raw)
		if err != nil {
			t.Fatal(err)
		}
		var c map[string]any
		if err := idt.Claims(&c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	userinfo := func(tokens *oauth2.Token) map[string]any {
		t.Helper()
		ui, err := r.oidc.UserInfo(r.ctx, oauth2.StaticTokenSource(tokens))
		if err != nil {
			t.Fatal(err)
		}
		var c map[string]any
		if err := ui.Claims(&c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	for name, got := range map[string]map[string]any{
		"ID token":     idToken(tokens),
		"access token": payload(t, tokens.AccessToken),
		"userinfo":     userinfo(tokens),
	} {
		if diff := cmp.Diff(want, fromAppMetadata(got)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}

	a.setAppMetadata(u.ID, `{"roles":["viewer"]}`)
	want = map[string]any{"roles": []any{"viewer"}}
	if diff := cmp.Diff(want, fromAppMetadata(userinfo(tokens))); diff != "" {
		t.Errorf("userinfo after the change (-want +got):\n%s", diff)
	}
	next, err := r.conf.TokenSource(r.ctx, &oauth2.Token{RefreshToken: tokens.RefreshToken}).Token()
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]map[string]any{
		"refreshed ID token":     idToken(next),
		"refreshed access token": payload(t, next.AccessToken),
	} {
		if diff := cmp.Diff(want, fromAppMetadata(got)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
}

// TestProviderDeviceRolesInTokens: the device grant's first tokens carry
// the user's roles and listed claims as the code flow's do.
func TestProviderDeviceRolesInTokens(t *testing.T) {
	t.Parallel()
	names := claims.Names{"tenant"}
	a := newOPAPIWith(t, nil, func(c *provider.Config) { c.AppMetadataClaims = names })
	u := a.mustRegister("ada@example.com", "correct horse")
	a.setAppMetadata(u.ID, `{"roles":["editor"],"tenant":"acme","secret":"s3"}`)
	tok := a.mustLogin("ada@example.com", "correct horse")
	c, _ := a.deviceClient(gooidc.ScopeOpenID)
	res := a.send("POST", provider.PathDeviceAuthorization, "application/x-www-form-urlencoded",
		url.Values{"client_id": {c.ID}, "scope": {gooidc.ScopeOpenID}}.Encode())
	da := readJSON[map[string]any](t, res)
	uc, _ := da["user_code"].(string)
	dc, _ := da["device_code"].(string)
	wantStatus(t, a.deviceAnswer(tok, uc, true), http.StatusNoContent, "approve")
	a.clock.Add(time.Minute)
	e, tokens := a.poll(c.ID, dc)
	if e != "" {
		t.Fatalf("poll: %s", e)
	}
	want := map[string]any{"roles": []any{"editor"}, "tenant": "acme"}
	at, _ := tokens["access_token"].(string)
	id, _ := tokens["id_token"].(string)
	for name, raw := range map[string]string{"access token": at, "ID token": id} {
		if diff := cmp.Diff(want, fromAppMetadata(payload(t, raw))); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
}
