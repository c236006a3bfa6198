package server

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/keelhq/keel/gen/oapi"
	"github.com/keelhq/keel/internal/clients"
)

// basic is an HTTP Basic Authorization header for a client.
func basic(id, secret string) []string {
	return []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))}
}

// form posts a form to a protocol endpoint.
func (a *opAPI) form(path string, v url.Values, hdr ...string) *http.Response {
	a.t.Helper()
	return a.send("POST", path, "application/x-www-form-urlencoded", v.Encode(), hdr...)
}

// introspect asks /oauth2/introspect about tok as the client of hdr, and
// fails the test unless it answers 200.
func (a *opAPI) introspect(tok string, hdr ...string) map[string]any {
	a.t.Helper()
	res := a.form("/oauth2/introspect", url.Values{"token": {tok}}, hdr...)
	if res.StatusCode != http.StatusOK {
		a.t.Fatalf("introspect: %d", res.StatusCode)
	}
	return readJSON[map[string]any](a.t, res)
}

// machine registers a confidential client_credentials client with scopes.
func (a *opAPI) machine(name string, scopes ...string) (clients.Client, string) {
	return a.addClient(clients.Registration{Name: name, GrantTypes: []string{clients.GrantClientCredentials}, Scopes: scopes})
}

// TestProviderClientCredentials: a confidential client registered for
// client_credentials gets a token for itself (sub the client, no user's
// claims, RS256, its scope, aud the client or the resource), which
// introspection says is active while the client exists and until its exp,
// and which keel's own API refuses. A public client, a wrong secret, a
// client without the grant and a scope the client may not have are refused.
func TestProviderClientCredentials(t *testing.T) {
	t.Parallel()
	a := newOPAPI(t)
	cron, cronSecret := a.machine("Cron", clients.ScopeAdmin)
	rs, rsSecret := a.machine("Resource server")

	doc := decode[oapi.OpenIDConfiguration](t, a.do("GET", "/.well-known/openid-configuration", ""))
	if doc.GrantTypesSupported == nil || !slices.Contains(*doc.GrantTypesSupported, "client_credentials") ||
		doc.IntrospectionEndpoint == nil || *doc.IntrospectionEndpoint != a.url+"/oauth2/introspect" {
		t.Errorf("discovery: grant types %v, introspection %v", doc.GrantTypesSupported, doc.IntrospectionEndpoint)
	}

	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, a.client())
	conf := clientcredentials.Config{ClientID: cron.ID, ClientSecret: cronSecret, TokenURL: a.url + "/oauth2/token",
		Scopes: []string{clients.ScopeAdmin}}
	tok, err := conf.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken != "" {
		t.Error("client_credentials gave a refresh token")
	}
	h, claims := jwtParts(t, tok.AccessToken)
	if h["alg"] != "RS256" || claims["sub"] != cron.ID || claims["client_id"] != cron.ID || claims["scope"] != "admin" ||
		!audience(claims["aud"], cron.ID) || claims["iss"] != a.url {
		t.Errorf("the machine's token: header %v, claims %v", h, claims)
	}
	for _, user := range []string{"sid", "email", "amr", "acr", "auth_time"} {
		if _, ok := claims[user]; ok {
			t.Errorf("the machine's token claims %s: %v", user, claims)
		}
	}

	// A resource server introspects it: active, the client's.
	got := a.introspect(tok.AccessToken, basic(rs.ID, rsSecret)...)
	if got["active"] != true || got["sub"] != cron.ID || got["client_id"] != cron.ID || got["scope"] != "admin" {
		t.Errorf("introspection of the machine's token: %v", got)
	}
	// keel's API refuses it until the admin routes (a later issue) take it.
	if code := a.profileStatus(tok.AccessToken); code != http.StatusUnauthorized {
		t.Errorf("the machine's token at GET /profile: %d, want 401", code)
	}
	if res := a.get("/oauth2/userinfo", bearer(tok.AccessToken)...); res.StatusCode == http.StatusOK {
		t.Error("the machine's token at userinfo: 200")
	}

	// A resource (RFC 8707) goes into aud; no scope asked for, none given.
	conf.Scopes, conf.EndpointParams = nil, url.Values{"resource": {"https://mcp.example/"}}
	tok2, err := conf.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, c := jwtParts(t, tok2.AccessToken); !audience(c["aud"], "https://mcp.example/") || !audience(c["aud"], cron.ID) || c["scope"] != "" {
		t.Errorf("with a resource and no scope: %v", c)
	}

	public, _ := a.addClient(clients.Registration{Name: "SPA", Public: true, RedirectURIs: []string{"https://spa.example/cb"}})
	web, webSecret := a.addClient(clients.Registration{Name: "Web", RedirectURIs: []string{"https://app.example/cb"}})
	cc := func(v url.Values) url.Values { v.Set("grant_type", "client_credentials"); return v }
	for _, tc := range []struct {
		name   string
		form   url.Values
		hdr    []string
		status int
		code   string
	}{
		{"a public client", cc(url.Values{"client_id": {public.ID}}), nil, 401, "invalid_client"},
		{"a public client with a made-up secret", cc(url.Values{}), basic(public.ID, "x"), 401, "invalid_client"},
		{"a wrong secret", cc(url.Values{}), basic(cron.ID, cronSecret+"x"), 401, "invalid_client"},
		{"a wrong secret in the form", cc(url.Values{"client_id": {cron.ID}, "client_secret": {"nope"}}), nil, 401, "invalid_client"},
		{"an unknown client", cc(url.Values{}), basic("kc_nobody", "x"), 401, "invalid_client"},
		{"a client without the grant", cc(url.Values{}), basic(web.ID, webSecret), 400, "unauthorized_client"},
		{"admin, not registered with it", cc(url.Values{"scope": {"admin"}}), basic(rs.ID, rsSecret), 400, "invalid_scope"},
		{"a user's scope", cc(url.Values{"scope": {"openid"}}), basic(cron.ID, cronSecret), 400, "invalid_scope"},
	} {
		res := a.form("/oauth2/token", tc.form, tc.hdr...)
		body := readJSON[map[string]any](t, res)
		if res.StatusCode != tc.status || body["error"] != tc.code || body["access_token"] != nil {
			t.Errorf("%s: %d %v, want %d %s", tc.name, res.StatusCode, body, tc.status, tc.code)
		}
	}

	// Past its exp (keel's clock), and once its client is gone, inactive.
	a.clock.Add(testJWTTTL)
	if got := a.introspect(tok.AccessToken, basic(rs.ID, rsSecret)...); got["active"] != false || len(got) != 1 {
		t.Errorf("introspection of an expired machine token: %v", got)
	}
	a.clock.Add(-testJWTTTL)
	if err := a.store.(clients.Store).DeleteClient(context.Background(), cron.ID); err != nil {
		t.Fatal(err)
	}
	if got := a.introspect(tok.AccessToken, basic(rs.ID, rsSecret)...); got["active"] != false {
		t.Errorf("introspection of a deleted client's token: %v", got)
	}
}

// TestProviderIntrospection: a client's access token is active while its
// grant lives (DELETE /sessions/{id} ends it), keel's own token while its
// session lives (logout ends it); only a confidential client may ask.
func TestProviderIntrospection(t *testing.T) {
	t.Parallel()
	a := newOPAPI(t)
	u := a.mustRegister("ada@example.com", "correct horse")
	tok := a.mustLogin("ada@example.com", "correct horse")
	rs, rsSecret := a.machine("Resource server")
	auth := basic(rs.ID, rsSecret)
	c, secret := a.addClient(clients.Registration{Name: "Dashboard", RedirectURIs: []string{"https://app.example/cb"}})
	r := a.newRP(c, secret, gooidc.ScopeOpenID, gooidc.ScopeOfflineAccess)
	tokens, _ := a.signIn(r, tok)
	_, at := jwtParts(t, tokens.AccessToken)
	sid, _ := at["sid"].(string)
	user := strconv.FormatInt(u.ID, 10)

	got := a.introspect(tokens.AccessToken, auth...)
	if got["active"] != true || got["sub"] != user || got["client_id"] != c.ID || got["sid"] != sid ||
		got["scope"] != "openid offline_access" || !audience(got["aud"], c.ID) || got["exp"] == nil {
		t.Errorf("introspection of a client's token: %v", got)
	}
	// client_secret in the form authenticates too.
	res := a.form("/oauth2/introspect", url.Values{"token": {tokens.AccessToken}, "client_id": {rs.ID}, "client_secret": {rsSecret}})
	if got := readJSON[map[string]any](t, res); got["active"] != true {
		t.Errorf("introspection with client_secret_post: %d %v", res.StatusCode, got)
	}
	// The ID token and nonsense are no access tokens.
	rawID, _ := tokens.Extra("id_token").(string)
	for name, raw := range map[string]string{"ID token": rawID, "nonsense": "abc", "empty": "", "refresh token": tokens.RefreshToken} {
		if got := a.introspect(raw, auth...); got["active"] != false || len(got) != 1 {
			t.Errorf("introspection of the %s: %v", name, got)
		}
	}

	// keel's own token: active while its session lives.
	_, own := jwtParts(t, tok)
	got = a.introspect(tok, auth...)
	if got["active"] != true || got["sub"] != user || got["sid"] != own["sid"] || got["aal"] != "aal1" || !audience(got["aud"], "keel") {
		t.Errorf("introspection of keel's own token: %v", got)
	}

	// Ending the grant's session ends its tokens.
	a.status(a.do("DELETE", "/sessions/"+sid, "", bearer(tok)...), http.StatusNoContent, "end the grant")
	if got := a.introspect(tokens.AccessToken, auth...); got["active"] != false || len(got) != 1 {
		t.Errorf("introspection after DELETE /sessions/{id}: %v", got)
	}
	a.status(a.do("POST", "/logout", "", bearer(tok)...), http.StatusNoContent, "logout")
	if got := a.introspect(tok, auth...); got["active"] != false || len(got) != 1 {
		t.Errorf("introspection of keel's token after logout: %v", got)
	}

	// As keel's API: a session's token of an older level, and a session
	// owing its second factor, are inactive; the aal2 session's token is.
	a.mustRegister("bob@example.com", "password123")
	before := a.mustLogin("bob@example.com", "password123")
	e := a.enroll(before)
	v := decode[oapi.FactorVerified](t, a.status(a.verifyFactor(before, e.ID, codeAt(t, e.Secret, a.clock.Now())), 200, "verify the factor"))
	pending := a.mustLogin("bob@example.com", "password123")
	for name, tc := range map[string]struct {
		tok    string
		active bool
	}{"aal2": {v.Tokens.Token, true}, "older level": {before, false}, "owing its second factor": {pending, false}} {
		got := a.introspect(tc.tok, auth...)
		if got["active"] != tc.active || tc.active && got["aal"] != "aal2" {
			t.Errorf("introspection of keel's token, %s: %v", name, got)
		}
	}

	// Only a confidential client may ask.
	public, _ := a.addClient(clients.Registration{Name: "SPA", Public: true, RedirectURIs: []string{"https://spa.example/cb"}})
	tok = a.mustLogin("ada@example.com", "correct horse")
	for name, tc := range map[string]struct {
		form url.Values
		hdr  []string
	}{
		"no authentication":           {url.Values{"token": {tok}}, nil},
		"a public client's id":        {url.Values{"token": {tok}, "client_id": {public.ID}}, nil},
		"a public client, any secret": {url.Values{"token": {tok}}, basic(public.ID, "x")},
		"a wrong secret":              {url.Values{"token": {tok}}, basic(rs.ID, rsSecret+"x")},
		"a wrong secret in the form":  {url.Values{"token": {tok}, "client_id": {rs.ID}, "client_secret": {"x"}}, nil},
		"a bearer token":              {url.Values{"token": {tok}}, bearer(tok)},
	} {
		res := a.form("/oauth2/introspect", tc.form, tc.hdr...)
		body := readJSON[map[string]any](t, res)
		if res.StatusCode != http.StatusUnauthorized || body["error"] != "invalid_client" || body["active"] != nil ||
			!strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Basic") {
			t.Errorf("%s: %d %v", name, res.StatusCode, body)
		}
	}
}
