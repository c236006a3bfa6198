package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/keelhq/keel/gen/oapi"
	"github.com/keelhq/keel/internal/clients"
	"github.com/keelhq/keel/internal/provider"
)

// deviceClient registers a public client with the device grant, and the
// x/oauth2 config a device uses with it.
func (a *opAPI) deviceClient(scopes ...string) (clients.Client, oauth2.Config) {
	a.t.Helper()
	c, _ := a.addClient(clients.Registration{Name: "TV", Public: true,
		GrantTypes: []string{clients.GrantDeviceCode, clients.GrantRefreshToken}})
	return c, oauth2.Config{ClientID: c.ID, Scopes: scopes, Endpoint: oauth2.Endpoint{
		DeviceAuthURL: a.url + provider.PathDeviceAuthorization, TokenURL: a.url + provider.PathToken,
		AuthStyle: oauth2.AuthStyleInParams}}
}

// ctx is a context whose x/oauth2 and go-oidc calls go through the
// spec-checking client.
func (a *opAPI) ctx() context.Context {
	return gooidc.ClientContext(context.Background(), a.client())
}

// poll polls the token endpoint once with device code dc, by hand: the
// OAuth error, or "" with the tokens.
func (a *opAPI) poll(clientID, dc string) (string, map[string]any) {
	a.t.Helper()
	res := a.send("POST", provider.PathToken, "application/x-www-form-urlencoded", url.Values{
		"grant_type": {clients.GrantDeviceCode}, "device_code": {dc}, "client_id": {clientID}}.Encode())
	body := readJSON[map[string]any](a.t, res)
	if res.StatusCode == http.StatusOK {
		return "", body
	}
	e, _ := body["error"].(string)
	if res.StatusCode != http.StatusBadRequest || e == "" {
		a.t.Fatalf("poll: %d %v", res.StatusCode, body)
	}
	return e, nil
}

// deviceAnswer enters user code uc with keel token tok and approves or
// denies it.
func (a *opAPI) deviceAnswer(tok, uc string, approve bool) *http.Response {
	a.t.Helper()
	body := `{"user_code":"` + uc + `","approve":` + map[bool]string{true: "true", false: "false"}[approve] + `}`
	return a.send("POST", "/oauth2/device/request", "application/json", body, bearer(tok)...)
}

func wantStatus(t *testing.T, res *http.Response, want int, what string) {
	t.Helper()
	if res.StatusCode != want {
		b, _ := io.ReadAll(res.Body)
		t.Errorf("%s: %d %s, want %d", what, res.StatusCode, b, want)
	}
}

// TestProviderDeviceGrant: the device grant (RFC 8628) end to end with
// x/oauth2's DeviceAuth and DeviceAccessToken: the device gets its codes,
// polls (authorization_pending; slow_down when too soon, and the interval
// grows), the signed-in user sees which client asks and approves through
// keel's API, and the device's next poll gets an access token, a refresh
// token and an ID token that verifies from keel's JWKS and names the grant,
// a keel session for the client. The device code then works no more, nor
// does the user code.
func TestProviderDeviceGrant(t *testing.T) {
	t.Parallel()
	a := newOPAPI(t)
	a.mustRegister("ada@example.com", "correct horse")
	tok := a.mustLogin("ada@example.com", "correct horse")
	c, conf := a.deviceClient(gooidc.ScopeOpenID, "email", gooidc.ScopeOfflineAccess)

	disc := readJSON[oapi.OpenIDConfiguration](t, a.get("/.well-known/openid-configuration"))
	if disc.DeviceAuthorizationEndpoint == nil || *disc.DeviceAuthorizationEndpoint != a.url+provider.PathDeviceAuthorization ||
		disc.GrantTypesSupported == nil || !strings.Contains(strings.Join(*disc.GrantTypesSupported, " "), clients.GrantDeviceCode) {
		t.Errorf("discovery: device endpoint %v, grant types %v", disc.DeviceAuthorizationEndpoint, disc.GrantTypesSupported)
	}

	da, err := conf.DeviceAuth(a.ctx())
	if err != nil {
		t.Fatal(err)
	}
	if da.VerificationURI != a.url+provider.PathDevice || da.VerificationURIComplete != da.VerificationURI+"?user_code="+da.UserCode ||
		da.Interval != 1 || time.Until(da.Expiry) < 9*time.Minute || provider.NormalizeUserCode(da.UserCode) == "" {
		t.Errorf("device authorization: %+v", da)
	}

	// Pending; then polled too soon: slow_down, and the interval grows by
	// 5 s, so a poll one old interval later is still too soon.
	if e, _ := a.poll(c.ID, da.DeviceCode); e != "authorization_pending" {
		t.Errorf("first poll: %q, want authorization_pending", e)
	}
	if e, _ := a.poll(c.ID, da.DeviceCode); e != "slow_down" {
		t.Errorf("poll at once: %q, want slow_down", e)
	}
	a.clock.Add(testDeviceInterval)
	if e, _ := a.poll(c.ID, da.DeviceCode); e != "slow_down" {
		t.Errorf("poll one old interval later: %q, want slow_down", e)
	}
	a.clock.Add(testDeviceInterval + 2*provider.SlowDownStep)
	if e, _ := a.poll(c.ID, da.DeviceCode); e != "authorization_pending" {
		t.Errorf("poll after the grown interval: %q, want authorization_pending", e)
	}

	// The user enters the code as typed (lower case, no dash) and sees
	// who asks.
	typed := strings.ToLower(strings.ReplaceAll(da.UserCode, "-", ""))
	res := a.send("GET", "/oauth2/device/request?user_code="+typed, "", "", bearer(tok)...)
	req := readJSON[oapi.DeviceRequest](t, res)
	if res.StatusCode != http.StatusOK || req.Client.ID != c.ID || req.Client.Name != "TV" ||
		strings.Join(req.Scopes, " ") != "openid email offline_access" {
		t.Errorf("the request as the page reads it: %d %+v", res.StatusCode, req)
	}
	wantStatus(t, a.deviceAnswer(tok, typed, true), http.StatusNoContent, "approve")
	a.clock.Add(time.Minute)

	tokens, err := conf.DeviceAccessToken(a.ctx(), da)
	if err != nil {
		t.Fatal(err)
	}
	if tokens.RefreshToken == "" {
		t.Error("no refresh token with offline_access")
	}
	p, err := gooidc.NewProvider(a.ctx(), a.url)
	if err != nil {
		t.Fatal(err)
	}
	rawID, _ := tokens.Extra("id_token").(string)
	idt, err := p.Verifier(&gooidc.Config{ClientID: c.ID}).Verify(a.ctx(), rawID)
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		SID   string   `json:"sid"`
		ACR   string   `json:"acr"`
		AMR   []string `json:"amr"`
		Email string   `json:"email"`
	}
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if claims.SID == "" || claims.ACR != "aal1" || strings.Join(claims.AMR, " ") != "pwd" || claims.Email != "ada@example.com" {
		t.Errorf("ID token claims: %+v", claims)
	}
	if _, at := jwtParts(t, tokens.AccessToken); at["client_id"] != c.ID || at["sid"] != claims.SID {
		t.Errorf("access token claims: %v", at)
	}
	// The grant is a keel session for the client.
	sessions := readJSON[[]oapi.Session](t, a.send("GET", "/sessions", "", "", bearer(tok)...))
	found := false
	for _, s := range sessions {
		found = found || s.ID == claims.SID && s.Client != nil && s.Client.ID == c.ID
	}
	if !found {
		t.Errorf("GET /sessions lists no session %s for the client: %+v", claims.SID, sessions)
	}
	// The refresh token works.
	if _, err := conf.TokenSource(a.ctx(), &oauth2.Token{RefreshToken: tokens.RefreshToken}).Token(); err != nil {
		t.Errorf("refresh: %v", err)
	}

	// Both codes work once.
	a.clock.Add(time.Minute)
	if e, _ := a.poll(c.ID, da.DeviceCode); e != "access_denied" {
		t.Errorf("the device code again: %q, want access_denied", e)
	}
	wantStatus(t, a.deviceAnswer(tok, da.UserCode, true), http.StatusNotFound, "the user code entered twice")
}

// TestProviderDeviceRefusals: a denied code is access_denied and cannot be
// approved after; an expired one expired_token; a session owing its second
// factor cannot approve; a client without the grant gets no code; entering
// user codes is rate-limited per address and per session, wrong ones
// included.
func TestProviderDeviceRefusals(t *testing.T) {
	t.Parallel()
	a := newOPAPIWith(t, func(c *Config) { c.AuthRateLimit = 4 })
	a.mustRegister("ada@example.com", "correct horse")
	tok := a.mustLogin("ada@example.com", "correct horse")
	c, conf := a.deviceClient(gooidc.ScopeOpenID)
	codes := func() *oauth2.DeviceAuthResponse {
		t.Helper()
		da, err := conf.DeviceAuth(a.ctx())
		if err != nil {
			t.Fatal(err)
		}
		return da
	}

	t.Run("denied", func(t *testing.T) {
		da := codes()
		wantStatus(t, a.deviceAnswer(tok, da.UserCode, false), http.StatusNoContent, "deny")
		if e, _ := a.poll(c.ID, da.DeviceCode); e != "access_denied" {
			t.Errorf("poll of a denied code: %q, want access_denied", e)
		}
		wantStatus(t, a.deviceAnswer(tok, da.UserCode, true), http.StatusNotFound, "approving a denied code")
	})
	t.Run("expired", func(t *testing.T) {
		da := codes()
		a.clock.Add(provider.DefaultDeviceCodeTTL)
		if e, _ := a.poll(c.ID, da.DeviceCode); e != "expired_token" {
			t.Errorf("poll of an expired code: %q, want expired_token", e)
		}
		wantStatus(t, a.deviceAnswer(tok, da.UserCode, true), http.StatusNotFound, "approving an expired code")
	})
	t.Run("a session owing its second factor", func(t *testing.T) {
		a.mfaAccount("bob@example.com")
		pending := a.mustLogin("bob@example.com", "password123")
		da := codes()
		res := a.deviceAnswer(pending, da.UserCode, true)
		if p := readJSON[oapi.Problem](t, res); res.StatusCode != http.StatusForbidden || p.Type != mfaRequiredType {
			t.Errorf("approve owing the second factor: %d %s", res.StatusCode, p.Type)
		}
		if e, _ := a.poll(c.ID, da.DeviceCode); e != "authorization_pending" {
			t.Errorf("poll after a refused approval: %q, want authorization_pending", e)
		}
	})
	t.Run("a client deleted since", func(t *testing.T) {
		gone, gconf := a.deviceClient(gooidc.ScopeOpenID)
		da, err := gconf.DeviceAuth(a.ctx())
		if err != nil {
			t.Fatal(err)
		}
		if err := a.store.(clients.Store).DeleteClient(context.Background(), gone.ID); err != nil {
			t.Fatal(err)
		}
		wantStatus(t, a.send("GET", "/oauth2/device/request?user_code="+da.UserCode, "", "", bearer(tok)...), http.StatusNotFound, "reading a deleted client's code")
		wantStatus(t, a.deviceAnswer(tok, da.UserCode, true), http.StatusNotFound, "approving a deleted client's code")
		for _, s := range readJSON[[]oapi.Session](t, a.send("GET", "/sessions", "", "", bearer(tok)...)) {
			if s.Client != nil && s.Client.ID == gone.ID {
				t.Errorf("a grant to the deleted client started: %+v", s)
			}
		}
	})
	t.Run("a client without the grant", func(t *testing.T) {
		web, _ := a.addClient(clients.Registration{Name: "Web", Public: true, RedirectURIs: []string{"https://app.example/cb"}})
		conf := conf
		conf.ClientID = web.ID
		_, err := conf.DeviceAuth(a.ctx())
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.ErrorCode != "unauthorized_client" {
			t.Errorf("device authorization of a client without the grant: %v, want unauthorized_client", err)
		}
	})
	t.Run("no scope of the client's", func(t *testing.T) {
		conf := conf
		conf.Scopes = []string{"admin"}
		_, err := conf.DeviceAuth(a.ctx())
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.ErrorCode != "invalid_scope" {
			t.Errorf("device authorization without a scope of the client's: %v, want invalid_scope", err)
		}
	})
}

// TestProviderDeviceRateLimit: entering user codes is rate-limited per
// address and per session (RFC 8628 §5.1), wrong codes included: a session
// that spent its budget is refused from a new address, and a new session
// from the spent address.
func TestProviderDeviceRateLimit(t *testing.T) {
	t.Parallel()
	a := newOPAPIWith(t, func(c *Config) { c.AuthRateLimit = 3 })
	a.mustRegister("ada@example.com", "correct horse")
	tok := a.mustLogin("ada@example.com", "correct horse")
	other := a.mustLogin("ada@example.com", "correct horse")
	enter := func(tok, addr, code string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/oauth2/device/request?user_code="+code, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.RemoteAddr = addr + ":1234"
		return a.serve(req)
	}
	for i, code := range []string{"BBBB-BBBB", "nonsense", "CCCC-CCCC"} {
		if rec := enter(tok, "198.51.100.1", code); rec.Code != http.StatusNotFound {
			t.Fatalf("wrong code %d: %d %s, want 404", i, rec.Code, rec.Body)
		}
	}
	if rec := enter(tok, "198.51.100.2", "DDDD-DDDD"); rec.Code != http.StatusTooManyRequests {
		t.Errorf("the session from another address: %d, want 429", rec.Code)
	}
	if rec := enter(other, "198.51.100.1", "DDDD-DDDD"); rec.Code != http.StatusTooManyRequests {
		t.Errorf("another session from the address: %d, want 429", rec.Code)
	}
	if rec := enter(other, "198.51.100.3", "DDDD-DDDD"); rec.Code != http.StatusNotFound {
		t.Errorf("another session from another address: %d, want 404", rec.Code)
	}
}

// TestDevicePage: keel's page for the device grant (the default
// OP_DEVICE_URL) and its script are served under keel's CSP, with no inline
// script and nothing from another origin; the page calls only keel's
// public API and never answers a code on opening; 404 without the provider.
func TestDevicePage(t *testing.T) {
	t.Parallel()
	a := newOPAPI(t)
	for path, want := range map[string]string{
		"/oauth2/device?user_code=BDFG-HJKL": `src="login/device.js"`,
		"/oauth2/login/device.js":            "/oauth2/device/request",
	} {
		rec := a.do("GET", path, "")
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), want) ||
			!strings.Contains(rec.Header().Get("Content-Security-Policy"), "default-src 'self'") {
			t.Errorf("%s: %d, CSP %q; body has %q: %v", path, rec.Code, rec.Header().Get("Content-Security-Policy"),
				want, strings.Contains(rec.Body.String(), want))
		}
	}
	page := a.do("GET", "/oauth2/device", "").Body.String()
	for _, bad := range []*regexp.Regexp{
		regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`),
		regexp.MustCompile(`\son[a-z]+\s*=`),
		regexp.MustCompile(`(?:src|href)="(?:https?:)?//`),
	} {
		if m := bad.FindString(page); m != "" {
			t.Errorf("the page holds %q: the CSP forbids it, or it needs the network", m)
		}
	}
	// The script answers a code only from the Allow and Deny buttons.
	js := a.do("GET", "/oauth2/login/device.js", "").Body.String()
	if n := strings.Count(js, "answer(true)"); n != 1 || !strings.Contains(js, `$("approve").addEventListener("click", handle(() => answer(true)))`) {
		t.Errorf("the script allows a code %d times, or not from the Allow button", n)
	}
	off := newTestAPI(t)
	off.status(off.do("GET", "/oauth2/device", ""), http.StatusNotFound, "the page without the provider")
}
