package server

import (
	"net/http"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/keelhq/keel/gen/oapi"
	"github.com/keelhq/keel/internal/clients"
)

// TestDynamicRegistrationSignIn: an agent finds registration_endpoint in
// both discovery documents, registers itself as a public native client
// (RFC 7591), and signs a user in with the code flow and PKCE on a loopback
// port it chose; the login step shows it unverified; its use is recorded,
// and once it has gone unused past the idle bound, deleting it ends the
// grant: its refresh token is refused and the session is gone.
func TestDynamicRegistrationSignIn(t *testing.T) {
	t.Parallel()
	a := newOPAPIWith(t, dcrOn)
	a.mustRegister("ada@example.com", "correct horse")
	tok := a.mustLogin("ada@example.com", "correct horse")

	var endpoint string
	for _, doc := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
		got := readJSON[oapi.OpenIDConfiguration](t, a.get(doc))
		if got.RegistrationEndpoint == nil || *got.RegistrationEndpoint != a.url+"/oauth2/register" {
			t.Fatalf("%s: registration_endpoint %v, want %s/oauth2/register", doc, got.RegistrationEndpoint, a.url)
		}
		endpoint = *got.RegistrationEndpoint
	}
	res := a.send("POST", endpoint, "application/json", `{"client_name":"Agent","redirect_uris":["http://127.0.0.1/callback"],
		"application_type":"native","token_endpoint_auth_method":"none","scope":"openid email offline_access"}`)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("registration: %d", res.StatusCode)
	}
	reg := readJSON[oapi.ClientRegistration](t, res)

	r := a.newRP(clients.Client{ID: reg.ClientID, RedirectURIs: reg.RedirectUris}, "", gooidc.ScopeOpenID, "email", gooidc.ScopeOfflineAccess)
	r.conf.RedirectURL = "http://127.0.0.1:49152/callback" // the port the agent listens on
	r.conf.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	verifier := oauth2.GenerateVerifier()
	id := a.authorize(r.conf.AuthCodeURL("st-1", oauth2.S256ChallengeOption(verifier), gooidc.Nonce("n-1")))
	info := readJSON[oapi.OAuth2Request](t, a.get("/oauth2/requests/"+id))
	if info.Client.ID != reg.ClientID || info.Client.Name != "Agent" || info.Client.Unverified == nil || !*info.Client.Unverified {
		t.Errorf("the login step's client %+v, want Agent, unverified", info.Client)
	}
	got := a.accept(id, tok)
	tokens, err := r.conf.Exchange(r.ctx, got.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	idToken, err := r.verifier.Verify(r.ctx, tokens.Extra("id_token").(string))
	if err != nil || idToken.Nonce != "n-1" {
		t.Fatalf("the ID token: %v (nonce %q)", err, idToken.Nonce)
	}
	var claims struct {
		SID string `json:"sid"`
	}
	if err := idToken.Claims(&claims); err != nil || claims.SID == "" {
		t.Fatalf("sid: %q, %v", claims.SID, err)
	}

	registry := a.registryOf()
	c, err := registry.GetClient(t.Context(), reg.ClientID)
	if err != nil || c.LastUsedAt.IsZero() {
		t.Fatalf("the client's last use: %v, %v; want it recorded", c.LastUsedAt, err)
	}
	// Still in use within the bound: kept.
	if n, err := registry.DeleteIdleDynamicClients(t.Context(), c.LastUsedAt.Add(-time.Second)); err != nil || n != 0 {
		t.Fatalf("pruning a client in use: %d, %v", n, err)
	}
	// Past it: deleted, and its grant ends with it.
	if n, err := registry.DeleteIdleDynamicClients(t.Context(), a.clock.Now().Add(31*24*time.Hour)); err != nil || n != 1 {
		t.Fatalf("pruning the idle client: %d, %v; want 1", n, err)
	}
	if _, err := r.conf.TokenSource(r.ctx, &oauth2.Token{RefreshToken: tokens.RefreshToken}).Token(); err == nil {
		t.Error("the deleted client's refresh token still refreshes")
	}
	if _, err := a.store.GetSession(t.Context(), claims.SID); err == nil {
		t.Error("the deleted client's grant session lives on")
	}
}
