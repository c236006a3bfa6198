package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/gen/oapi"
	"github.com/keelhq/keel/internal/clients"
	"github.com/keelhq/keel/internal/keys"
	"github.com/keelhq/keel/internal/provider"
	"github.com/keelhq/keel/internal/token"
)

// testCodeTTL is the tests' OP_CODE_TTL.
const testCodeTTL = 30 * time.Second

// opAPI is a testAPI that is an OpenID Provider, on a real listener (the
// relying party's libraries speak HTTP to its issuer URL).
type opAPI struct {
	*testAPI
	url  string
	http *http.Client // checks every answer against the spec; follows no redirect
}

// testDeviceInterval is the tests' OP_DEVICE_INTERVAL: x/oauth2 waits it
// out for real between polls.
const testDeviceInterval = time.Second

// newOPAPI starts keel as an OpenID Provider on 127.0.0.1: its signing keys
// with an RS256 key too (keys.Config.Also), its issuer the listener's URL.
func newOPAPI(t *testing.T, change ...func(*provider.Config)) *opAPI {
	t.Helper()
	return newOPAPIWith(t, nil, change...)
}

// newOPAPIWith is newOPAPI whose Server's Config server adjusts (when not
// nil).
func newOPAPIWith(t *testing.T, server func(*Config), change ...func(*provider.Config)) *opAPI {
	t.Helper()
	return newOPAPIOver(t, nil, server, change...)
}

// opStore is every store an OpenID Provider's Server uses, in one.
type opStore interface {
	db.Store
	provider.Store
	provider.DeviceStore
	clients.Store
	keys.Store
}

// newOPAPIOver is newOPAPIWith whose store is wrap's (when not nil) around
// the test's: a test's way to run something around a store call.
func newOPAPIOver(t *testing.T, wrap func(opStore) opStore, server func(*Config), change ...func(*provider.Config)) *opAPI {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + l.Addr().String()
	a := newTestAPIWithProviders(t, nil, func(d *Deps) {
		if wrap != nil {
			d.Store = wrap(d.Store.(opStore))
		}
		ring, err := keys.Open(context.Background(), d.Store.(keys.Store), keys.Config{Alg: keys.EdDSA,
			Also: []string{keys.RS256}, KEK: []byte(testKEK), TokenTTL: testJWTTTL, Leeway: token.Leeway, MaxAge: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		d.Keys, d.Tokens = ring, testTokens(ring, testJWTTTL, d.Now)
		cfg := provider.Config{Issuer: issuer, CodeTTL: testCodeTTL, AccessTTL: testJWTTTL, RefreshTTL: 720 * time.Hour, Insecure: true,
			DeviceInterval: testDeviceInterval}
		for _, f := range change {
			f(&cfg)
		}
		d.Provider, err = provider.New(cfg, provider.Deps{Store: d.Store.(provider.Store), Accounts: d.Store,
			Clients: d.Store.(clients.Store), Keys: ring, Refresh: d.Refresh, Tokens: d.Tokens, Log: d.Log, Now: d.Now})
		if err != nil {
			t.Fatal(err)
		}
	}, func(c *Config) {
		c.Issuer = issuer
		if server != nil {
			server(c)
		}
	})
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: a.srv, ReadHeaderTimeout: 10 * time.Second}}
	srv.Start()
	t.Cleanup(srv.Close)
	c := a.client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &opAPI{testAPI: a, url: issuer, http: c}
}

// addClient registers a client.
func (a *opAPI) addClient(r clients.Registration) (clients.Client, string) {
	a.t.Helper()
	c, secret, err := clients.Register(r, a.clock.Now())
	if err == nil {
		err = a.store.(clients.Store).CreateClient(context.Background(), c)
	}
	if err != nil {
		a.t.Fatal(err)
	}
	return c, secret
}

// get GETs u (absolute, or a path on the issuer) with hdr pairs.
func (a *opAPI) get(u string, hdr ...string) *http.Response {
	a.t.Helper()
	return a.send("GET", u, "", "", hdr...)
}

func (a *opAPI) send(method, u, contentType, body string, hdr ...string) *http.Response {
	a.t.Helper()
	if strings.HasPrefix(u, "/") {
		u = a.url + u
	}
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := a.http.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	a.t.Cleanup(func() { res.Body.Close() })
	return res
}

// location is a redirect's target, parsed; the test fails on anything else.
func location(t *testing.T, res *http.Response) *url.URL {
	t.Helper()
	if res.StatusCode != http.StatusFound {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("%s %s: status %d, want 302: %s", res.Request.Method, res.Request.URL.Path, res.StatusCode, b)
	}
	u, err := url.Parse(res.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func readJSON[T any](t *testing.T, res *http.Response) T {
	t.Helper()
	var v T
	b, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %T from %q: %v", v, b, err)
	}
	return v
}

// authorize sends the browser to authURL and returns the login step's
// request id.
func (a *opAPI) authorize(authURL string) string {
	a.t.Helper()
	to := location(a.t, a.get(authURL))
	if got := a.url + to.Path; got != a.url+provider.PathLogin {
		a.t.Fatalf("authorize sent the browser to %s, want the login page", to)
	}
	id := to.Query().Get("request_id")
	if id == "" {
		a.t.Fatalf("no request_id in %s", to)
	}
	return id
}

// accept accepts request id with the user's keel access token and follows
// the callback to the client: the code (and state) it got.
func (a *opAPI) accept(id, tok string) url.Values {
	a.t.Helper()
	res := a.send("POST", "/oauth2/requests/"+id+"/accept", "", "", bearer(tok)...)
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		a.t.Fatalf("accept: %d %s", res.StatusCode, b)
	}
	next := readJSON[oapi.LoginStepRedirect](a.t, res)
	return location(a.t, a.get(next.RedirectTo)).Query()
}

// rp is a relying party: x/oauth2 for the code flow and go-oidc for the ID
// token, both given keel's issuer URL alone.
type rp struct {
	ctx      context.Context
	oidc     *gooidc.Provider
	conf     oauth2.Config
	verifier *gooidc.IDTokenVerifier
}

func (a *opAPI) newRP(c clients.Client, secret string, scopes ...string) *rp {
	a.t.Helper()
	ctx := gooidc.ClientContext(context.Background(), a.client())
	p, err := gooidc.NewProvider(ctx, a.url)
	if err != nil {
		a.t.Fatal(err)
	}
	return &rp{ctx: ctx, oidc: p, verifier: p.Verifier(&gooidc.Config{ClientID: c.ID}),
		conf: oauth2.Config{ClientID: c.ID, ClientSecret: secret, Endpoint: p.Endpoint(),
			RedirectURL: c.RedirectURIs[0], Scopes: scopes}}
}

// signIn runs the code flow with PKCE for the user of keel token tok, up to
// the exchange: the tokens, and the nonce asked for.
func (a *opAPI) signIn(r *rp, tok string) (*oauth2.Token, string) {
	a.t.Helper()
	verifier, nonce := oauth2.GenerateVerifier(), "n-"+token.NewSessionID()
	id := a.authorize(r.conf.AuthCodeURL("st-1", oauth2.S256ChallengeOption(verifier), gooidc.Nonce(nonce)))
	got := a.accept(id, tok)
	if got.Get("state") != "st-1" || got.Get("code") == "" {
		a.t.Fatalf("callback to the client: %v", got)
	}
	t, err := r.conf.Exchange(r.ctx, got.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		a.t.Fatalf("exchange: %v", err)
	}
	return t, nonce
}

// jwtParts decodes a JWT's header and claims, unverified.
func jwtParts(t *testing.T, raw string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", raw)
	}
	for i, v := range []*map[string]any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err == nil {
			err = json.Unmarshal(b, v)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return header, claims
}

// TestProviderCodeFlow: a Go relying party (x/oauth2, go-oidc) signs in
// with keel: the code flow with PKCE, the login step through keel's API,
// the ID token verified from keel's JWKS, userinfo, refresh with rotation,
// the grant listed as a session, and its tokens refused by keel's own API.
func TestProviderCodeFlow(t *testing.T) {
	t.Parallel()
	a := newOPAPI(t)
	a.mustRegister("ada@example.com", "correct horse")
	tok := a.mustLogin("ada@example.com", "correct horse")
	c, secret := a.addClient(clients.Registration{Name: "Dashboard", RedirectURIs: []string{"https://app.example/cb"}})
	r := a.newRP(c, secret, gooidc.ScopeOpenID, "email", gooidc.ScopeOfflineAccess)

	// The login page reads what the client asks.
	verifier := oauth2.GenerateVerifier()
	id := a.authorize(r.conf.AuthCodeURL("st-1", oauth2.S256ChallengeOption(verifier), gooidc.Nonce("n-1")))
	info := readJSON[oapi.OAuth2Request](t, a.get("/oauth2/requests/"+id))
	if info.Client.ID != c.ID || info.Client.Name != "Dashboard" || strings.Join(info.Scopes, " ") != "openid email offline_access" {
		t.Errorf("the request as the login page reads it: %+v", info)
	}
	if info.Consented != nil {
		t.Errorf("consented without a sign-in: %v, want absent", *info.Consented)
	}
	if info := readJSON[oapi.OAuth2Request](t, a.get("/oauth2/requests/"+id, bearer(tok)...)); info.Consented == nil || *info.Consented {
		t.Errorf("consented before the first accept: %v, want false", info.Consented)
	}
	got := a.accept(id, tok)
	tokens, err := r.conf.Exchange(r.ctx, got.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	// The client's use is recorded (idle dynamic clients are deleted).
	if stored, err := a.store.(clients.Store).GetClient(context.Background(), c.ID); err != nil ||
		!stored.LastUsedAt.Equal(a.clock.Now().UTC().Truncate(time.Millisecond)) {
		t.Errorf("the client's last use: %v, %v; want now", stored.LastUsedAt, err)
	}

	// The next request of the client for these scopes is consented to.
	again := a.authorize(r.conf.AuthCodeURL("st-2", oauth2.S256ChallengeOption(verifier)))
	if info := readJSON[oapi.OAuth2Request](t, a.get("/oauth2/requests/"+again, bearer(tok)...)); info.Consented == nil || !*info.Consented {
		t.Errorf("consented after an accept: %v, want true", info.Consented)
	}

	// The ID token verifies from keel's JWKS, and says who and how.
	rawID, _ := tokens.Extra("id_token").(string)
	idt, err := r.verifier.Verify(r.ctx, rawID)
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Nonce         string   `json:"nonce"`
		SID           string   `json:"sid"`
		AMR           []string `json:"amr"`
		ACR           string   `json:"acr"`
		AuthTime      int64    `json:"auth_time"`
		Email         string   `json:"email"`
		EmailVerified bool     `json:"email_verified"`
	}
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if claims.Nonce != "n-1" || claims.SID == "" || claims.ACR != "aal1" || strings.Join(claims.AMR, " ") != "pwd" ||
		claims.AuthTime == 0 || claims.Email != "ada@example.com" || !claims.EmailVerified {
		t.Errorf("ID token claims: %+v", claims)
	}
	if h, _ := jwtParts(t, rawID); h["alg"] != "RS256" {
		t.Errorf("ID token alg %v, want RS256", h["alg"])
	}

	// The access token: RS256, for the client, with its scope and grant.
	h, at := jwtParts(t, tokens.AccessToken)
	if h["alg"] != "RS256" || at["client_id"] != c.ID || at["scope"] != "openid email offline_access" || at["sid"] != claims.SID ||
		!audience(at["aud"], c.ID) {
		t.Errorf("access token header %v, claims %v", h, at)
	}

	// keel's own API refuses the client's tokens.
	for name, raw := range map[string]string{"access token": tokens.AccessToken, "ID token": rawID} {
		if code := a.do("GET", "/profile", "", bearer(raw)...).Code; code != http.StatusUnauthorized {
			t.Errorf("the client's %s at GET /profile: %d, want 401", name, code)
		}
	}
	if code := a.refresh(tokens.RefreshToken).Code; code != http.StatusUnauthorized {
		t.Errorf("the client's refresh token at POST /token/refresh: %d, want 401", code)
	}

	// userinfo answers from the grant's user.
	ui, err := r.oidc.UserInfo(r.ctx, oauth2.StaticTokenSource(tokens))
	if err != nil {
		t.Fatal(err)
	}
	if ui.Subject != idt.Subject || ui.Email != "ada@example.com" || !ui.EmailVerified {
		t.Errorf("userinfo: %+v", ui)
	}

	// The grant is a session of the user's, named for its client.
	sessions := decode[[]oapi.Session](t, a.do("GET", "/sessions", "", bearer(tok)...))
	var grant *oapi.Session
	for i := range sessions {
		if sessions[i].ID == claims.SID {
			grant = &sessions[i]
		}
	}
	if grant == nil || grant.Client == nil || grant.Client.Name != "Dashboard" || grant.Current {
		t.Errorf("GET /sessions: %+v, want the grant %s with its client", sessions, claims.SID)
	}

	// Refresh rotates the refresh token.
	old := tokens.RefreshToken
	next, err := r.conf.TokenSource(r.ctx, &oauth2.Token{RefreshToken: old}).Token()
	if err != nil {
		t.Fatal(err)
	}
	if next.RefreshToken == "" || next.RefreshToken == old || next.AccessToken == tokens.AccessToken {
		t.Fatalf("refresh did not rotate: %+v", next)
	}

	// Ending the login page's own session leaves the grant.
	a.status(a.do("POST", "/logout", "", bearer(tok)...), http.StatusNoContent, "logout")
	if _, err := r.oidc.UserInfo(r.ctx, oauth2.StaticTokenSource(next)); err != nil {
		t.Errorf("userinfo after the page's own logout: %v", err)
	}

	// The spent refresh token again: a reuse, which ends the grant.
	if _, err := r.conf.TokenSource(r.ctx, &oauth2.Token{RefreshToken: old}).Token(); !isOAuthError(err, "invalid_grant") {
		t.Errorf("reused refresh token: %v, want invalid_grant", err)
	}
	if _, err := r.conf.TokenSource(r.ctx, &oauth2.Token{RefreshToken: next.RefreshToken}).Token(); !isOAuthError(err, "invalid_grant") {
		t.Errorf("the current refresh token after a reuse: %v, want invalid_grant (the grant ended)", err)
	}
	if _, err := r.oidc.UserInfo(r.ctx, oauth2.StaticTokenSource(next)); err == nil {
		t.Error("userinfo after the grant ended: answered")
	}
}

// TestProviderRevoke: revoking a grant's refresh token (RFC 7009) ends the
// grant; RP-initiated logout with the ID token ends the session its sid
// names; without a hint, logout ends nothing.
func TestProviderRevoke(t *testing.T) {
	t.Parallel()
	a := newOPAPI(t)
	a.mustRegister("ada@example.com", "correct horse")
	tok := a.mustLogin("ada@example.com", "correct horse")
	c, secret := a.addClient(clients.Registration{Name: "CLI", RedirectURIs: []string{"https://app.example/cb"},
		PostLogoutRedirectURIs: []string{"https://app.example/bye"}})
	r := a.newRP(c, secret, gooidc.ScopeOpenID, gooidc.ScopeOfflineAccess)

	tokens, _ := a.signIn(r, tok)
	form := url.Values{"token": {tokens.RefreshToken}, "token_type_hint": {"refresh_token"}}.Encode()
	res := a.send("POST", "/oauth2/revoke", "application/x-www-form-urlencoded", form,
		"Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(c.ID+":"+secret)))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d", res.StatusCode)
	}
	if _, err := r.conf.TokenSource(r.ctx, &oauth2.Token{RefreshToken: tokens.RefreshToken}).Token(); !isOAuthError(err, "invalid_grant") {
		t.Errorf("refresh after revocation: %v, want invalid_grant", err)
	}

	// RP-initiated logout: without a hint nothing ends; with it, the grant.
	tokens, _ = a.signIn(r, tok)
	rawID, _ := tokens.Extra("id_token").(string)
	bye := location(t, a.get("/oauth2/end_session?"+url.Values{"client_id": {c.ID},
		"post_logout_redirect_uri": {"https://app.example/bye"}, "state": {"s"}}.Encode()))
	if bye.Host != "app.example" || bye.Path != "/bye" || bye.Query().Get("state") != "s" {
		t.Errorf("logout without a hint went to %s", bye)
	}
	if _, err := r.oidc.UserInfo(r.ctx, oauth2.StaticTokenSource(tokens)); err != nil {
		t.Errorf("userinfo after a logout without a hint: %v", err)
	}
	location(t, a.get("/oauth2/end_session?"+url.Values{"id_token_hint": {rawID}}.Encode()))
	if _, err := r.oidc.UserInfo(r.ctx, oauth2.StaticTokenSource(tokens)); err == nil {
		t.Error("userinfo after RP-initiated logout: answered")
	}

	// DELETE /sessions/{sid} from the user's profile ends a grant too.
	tokens, _ = a.signIn(r, tok)
	rawID, _ = tokens.Extra("id_token").(string)
	_, claims := jwtParts(t, rawID)
	a.status(a.do("DELETE", "/sessions/"+claims["sid"].(string), "", bearer(tok)...), http.StatusNoContent, "end the grant's session")
	if _, err := r.oidc.UserInfo(r.ctx, oauth2.StaticTokenSource(tokens)); err == nil {
		t.Error("userinfo after DELETE /sessions/{sid}: answered")
	}
	if _, err := r.conf.TokenSource(r.ctx, &oauth2.Token{RefreshToken: tokens.RefreshToken}).Token(); !isOAuthError(err, "invalid_grant") {
		t.Errorf("refresh after DELETE /sessions/{sid}: %v, want invalid_grant", err)
	}

	// A native client's post-logout URI: its loopback IP on any port, never
	// localhost or another loopback address for it (pkg/op alone would).
	cli, _ := a.addClient(clients.Registration{Name: "CLI", Public: true, Native: true,
		RedirectURIs: []string{"http://127.0.0.1/cb"}, PostLogoutRedirectURIs: []string{"http://127.0.0.1/bye"}})
	for uri, ok := range map[string]bool{"http://127.0.0.1:4000/bye": true, "http://localhost:4000/bye": false,
		"http://127.0.0.2:4000/bye": false, "https://127.0.0.1:4000/bye": false} {
		res := a.get("/oauth2/end_session?" + url.Values{"client_id": {cli.ID}, "post_logout_redirect_uri": {uri}}.Encode())
		if got := res.StatusCode == http.StatusFound && res.Header.Get("Location") == uri; got != ok {
			t.Errorf("post_logout_redirect_uri %s: %d to %q, want allowed %v", uri, res.StatusCode, res.Header.Get("Location"), ok)
		}
	}
	if code := a.profileStatus(tok); code != http.StatusOK {
		t.Errorf("the login page's own session after the client's logout: %d, want 200", code)
	}
}

// audience reports whether a JWT's aud (a string or a list) holds want.
func audience(aud any, want string) bool {
	switch v := aud.(type) {
	case string:
		return v == want
	case []any:
		for _, a := range v {
			if a == want {
				return true
			}
		}
	}
	return false
}

// isOAuthError reports whether err is the token endpoint's error code.
func isOAuthError(err error, code string) bool {
	var re *oauth2.RetrieveError
	return errors.As(err, &re) && re.ErrorCode == code
}

// TestProviderWithdrawConsent: the profile lists the apps the user let in,
// and withdrawing one's consent ends the user's grants to it at once (its
// refresh and userinfo stop), not the user's own session.
func TestProviderWithdrawConsent(t *testing.T) {
	t.Parallel()
	a := newOPAPI(t)
	a.mustRegister("ada@example.com", "correct horse")
	tok := a.mustLogin("ada@example.com", "correct horse")
	c, secret := a.addClient(clients.Registration{Name: "Dashboard", RedirectURIs: []string{"https://app.example/cb"}})
	r := a.newRP(c, secret, gooidc.ScopeOpenID, gooidc.ScopeOfflineAccess)
	tokens, _ := a.signIn(r, tok)

	list := decode[[]oapi.OAuth2Consent](t, a.status(a.do("GET", "/profile/consents", "", bearer(tok)...), http.StatusOK, "list consents"))
	if len(list) != 1 || list[0].Client.ID != c.ID || list[0].Client.Name != "Dashboard" ||
		strings.Join(list[0].Scopes, " ") != "openid offline_access" {
		t.Errorf("consents: %+v", list)
	}
	a.status(a.do("DELETE", "/profile/consents/"+c.ID, "", bearer(tok)...), http.StatusNoContent, "withdraw")
	// userinfo first: a refresh would find no consent and end the grant itself.
	if _, err := r.oidc.UserInfo(r.ctx, oauth2.StaticTokenSource(tokens)); err == nil {
		t.Error("userinfo after the consent was withdrawn: answered")
	}
	if _, err := r.conf.TokenSource(r.ctx, &oauth2.Token{RefreshToken: tokens.RefreshToken}).Token(); !isOAuthError(err, "invalid_grant") {
		t.Errorf("refresh after the consent was withdrawn: %v, want invalid_grant", err)
	}
	if list := decode[[]oapi.OAuth2Consent](t, a.do("GET", "/profile/consents", "", bearer(tok)...)); len(list) != 0 {
		t.Errorf("consents after the withdrawal: %+v", list)
	}
	a.status(a.do("DELETE", "/profile/consents/"+c.ID, "", bearer(tok)...), http.StatusNotFound, "withdraw again")
	if code := a.profileStatus(tok); code != http.StatusOK {
		t.Errorf("the user's own session after the withdrawal: %d, want 200", code)
	}
}
