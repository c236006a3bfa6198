package server

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/keelhq/keel/gen/oapi"
	"github.com/keelhq/keel/internal/clients"
	"github.com/keelhq/keel/internal/provider"
)

// TestProviderAuthorizeRefusals: until the client and its redirect URI are
// known good, authorize answers an error page and never redirects; after,
// it redirects with invalid_request for PKCE that is not S256 (keel checks
// it: pkg/op takes plain) and for a public client without PKCE. A native
// client's loopback redirect matches on any port (RFC 8252 §7.3). A
// response_mode other than query is invalid_request, in the query.
func TestProviderAuthorizeRefusals(t *testing.T) {
	t.Parallel()
	a := newOPAPI(t)
	web, _ := a.addClient(clients.Registration{Name: "Web", RedirectURIs: []string{"https://app.example/cb"}})
	cli, _ := a.addClient(clients.Registration{Name: "CLI", Public: true, Native: true, RedirectURIs: []string{"http://127.0.0.1/cb"}})
	query := func(c clients.Client, redirect string, kv ...string) url.Values {
		v := url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {redirect}, "scope": {"openid"}, "state": {"s"}}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				v.Del(kv[i])
			} else {
				v.Set(kv[i], kv[i+1])
			}
		}
		return v
	}
	const challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
	for _, tt := range []struct {
		name  string
		q     url.Values
		error string // the error on the redirect; "" for the error page; "login" for the login step
	}{
		{"unknown client", query(clients.Client{ID: "kc_nope"}, "https://app.example/cb"), ""},
		{"no client", query(web, "https://app.example/cb", "client_id", ""), ""},
		{"unregistered redirect URI", query(web, "https://evil.example/cb"), ""},
		{"redirect URI with more path", query(web, "https://app.example/cb/x"), ""},
		{"native loopback, other path", query(cli, "http://127.0.0.1:5000/cb2", "code_challenge", challenge, "code_challenge_method", "S256"), ""},
		{"native loopback, localhost", query(cli, "http://localhost:5000/cb", "code_challenge", challenge, "code_challenge_method", "S256"), ""},
		{"PKCE plain", query(web, "https://app.example/cb", "code_challenge", challenge, "code_challenge_method", "plain"), "invalid_request"},
		{"PKCE without a method", query(web, "https://app.example/cb", "code_challenge", challenge), "invalid_request"},
		{"PKCE challenge not a SHA-256", query(web, "https://app.example/cb", "code_challenge", "short", "code_challenge_method", "S256"), "invalid_request"},
		{"PKCE challenge not base64url", query(web, "https://app.example/cb", "code_challenge", strings.Repeat("+", 43), "code_challenge_method", "S256"), "invalid_request"},
		{"PKCE method without a challenge", query(web, "https://app.example/cb", "code_challenge_method", "S256"), "invalid_request"},
		{"public client without PKCE", query(cli, "http://127.0.0.1:5000/cb"), "invalid_request"},
		{"a scope the client does not have", query(web, "https://app.example/cb", "scope", "admin"), "invalid_scope"},
		{"native loopback on any port, with PKCE", query(cli, "http://127.0.0.1:5000/cb", "code_challenge", challenge, "code_challenge_method", "S256"), "login"},
		{"confidential client without PKCE", query(web, "https://app.example/cb"), "login"},
		// Discovery lists response_mode query alone: form_post's page and a
		// fragment are not served, and the refusal itself is in the query.
		{"response_mode form_post", query(web, "https://app.example/cb", "response_mode", "form_post"), "invalid_request"},
		{"response_mode fragment", query(web, "https://app.example/cb", "response_mode", "fragment"), "invalid_request"},
		{"response_mode query.jwt", query(web, "https://app.example/cb", "response_mode", "query.jwt"), "invalid_request"},
		{"response_mode query", query(web, "https://app.example/cb", "response_mode", "query"), "login"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := a.get("/oauth2/authorize?" + tt.q.Encode())
			if tt.error == "" {
				b, _ := io.ReadAll(res.Body)
				if res.StatusCode != http.StatusBadRequest || res.Header.Get("Location") != "" {
					t.Errorf("status %d, Location %q, want a 400 page and no redirect: %s", res.StatusCode, res.Header.Get("Location"), b)
				}
				return
			}
			to := location(t, res)
			if tt.error == "login" {
				if to.Path != provider.PathLogin {
					t.Errorf("went to %s, want the login step", to)
				}
				return
			}
			if got := to.Scheme + "://" + to.Host + to.Path; got != tt.q.Get("redirect_uri") ||
				to.Query().Get("error") != tt.error || to.Query().Get("state") != "s" {
				t.Errorf("went to %s, want %s with error=%s&state=s", to, tt.q.Get("redirect_uri"), tt.error)
			}
		})
	}
}

// TestProviderTokenRefusals: at the token endpoint, a wrong secret is
// invalid_client; a missing verifier invalid_request; a wrong one, an expired code and a code
// used twice are invalid_grant, and the second use of a code ends the grant
// it issued (RFC 9700 §4.2.4).
func TestProviderTokenRefusals(t *testing.T) {
	t.Parallel()
	a := newOPAPI(t)
	a.mustRegister("ada@example.com", "correct horse")
	tok := a.mustLogin("ada@example.com", "correct horse")
	c, secret := a.addClient(clients.Registration{Name: "Web", RedirectURIs: []string{"https://app.example/cb"}})
	r := a.newRP(c, secret, gooidc.ScopeOpenID, gooidc.ScopeOfflineAccess)
	code := func() (string, string) {
		t.Helper()
		verifier := oauth2.GenerateVerifier()
		got := a.accept(a.authorize(r.conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier))), tok)
		return got.Get("code"), verifier
	}

	t.Run("wrong secret", func(t *testing.T) {
		c2, v := code()
		wrong := r.conf
		wrong.ClientSecret = "not-the-secret"
		if _, err := wrong.Exchange(r.ctx, c2, oauth2.VerifierOption(v)); !isOAuthError(err, "invalid_client") {
			t.Errorf("exchange with a wrong secret: %v, want invalid_client", err)
		}
	})
	t.Run("wrong verifier", func(t *testing.T) {
		c2, _ := code()
		if _, err := r.conf.Exchange(r.ctx, c2, oauth2.VerifierOption(oauth2.GenerateVerifier())); !isOAuthError(err, "invalid_grant") {
			t.Errorf("exchange with a wrong verifier: %v, want invalid_grant", err)
		}
	})
	t.Run("missing verifier", func(t *testing.T) {
		c2, _ := code()
		if _, err := r.conf.Exchange(r.ctx, c2); !isOAuthError(err, "invalid_request") {
			t.Errorf("exchange without a verifier: %v, want invalid_request", err)
		}
	})
	t.Run("code used twice", func(t *testing.T) {
		c2, v := code()
		first, err := r.conf.Exchange(r.ctx, c2, oauth2.VerifierOption(v))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.conf.Exchange(r.ctx, c2, oauth2.VerifierOption(v)); !isOAuthError(err, "invalid_grant") {
			t.Errorf("second exchange: %v, want invalid_grant", err)
		}
		if _, err := r.oidc.UserInfo(r.ctx, oauth2.StaticTokenSource(first)); err == nil {
			t.Error("userinfo with the first exchange's token after the code's reuse: answered, want the grant ended")
		}
		if _, err := r.conf.TokenSource(r.ctx, &oauth2.Token{RefreshToken: first.RefreshToken}).Token(); !isOAuthError(err, "invalid_grant") {
			t.Errorf("refresh after the code's reuse: %v, want invalid_grant", err)
		}
	})
	t.Run("code replayed after it expired", func(t *testing.T) {
		c2, v := code()
		first, err := r.conf.Exchange(r.ctx, c2, oauth2.VerifierOption(v))
		if err != nil {
			t.Fatal(err)
		}
		a.clock.Add(testCodeTTL + time.Second)
		if _, err := r.conf.Exchange(r.ctx, c2, oauth2.VerifierOption(v)); !isOAuthError(err, "invalid_grant") {
			t.Errorf("replay: %v, want invalid_grant", err)
		}
		if _, err := r.conf.TokenSource(r.ctx, &oauth2.Token{RefreshToken: first.RefreshToken}).Token(); !isOAuthError(err, "invalid_grant") {
			t.Errorf("refresh after the late replay: %v, want invalid_grant (the grant ended)", err)
		}
	})
	t.Run("expired code", func(t *testing.T) {
		c2, v := code()
		a.clock.Add(testCodeTTL)
		if _, err := r.conf.Exchange(r.ctx, c2, oauth2.VerifierOption(v)); !isOAuthError(err, "invalid_grant") {
			t.Errorf("exchange of an expired code: %v, want invalid_grant", err)
		}
	})
}

// TestProviderLoginStep: the login step's rules. A session owing its second
// factor cannot accept, nor an aal1 one a request for aal2; prompt=login and
// max_age need a proof of the user made since the client asked, or that
// recent; prompt=none turns those refusals into login_required for the
// client; a request is accepted once, and lives OP_REQUEST_TTL; reject
// sends the client its error.
func TestProviderLoginStep(t *testing.T) {
	t.Parallel()
	a := newOPAPI(t)
	a.mustRegister("ada@example.com", "correct horse")
	_, _, aal2 := a.mfaAccount("bob@example.com")
	c, _ := a.addClient(clients.Registration{Name: "Web", RedirectURIs: []string{"https://app.example/cb"}})
	start := func(kv ...string) string {
		t.Helper()
		v := url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {"https://app.example/cb"},
			"scope": {"openid"}, "state": {"s"}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return a.authorize(a.url + "/oauth2/authorize?" + v.Encode())
	}
	accept := func(id, tok string) *http.Response {
		return a.send("POST", "/oauth2/requests/"+id+"/accept", "", "", bearer(tok)...)
	}
	wantProblem := func(res *http.Response, status int, typ, what string) {
		t.Helper()
		p := readJSON[oapi.Problem](t, res)
		if res.StatusCode != status || typ != "" && p.Type != typ {
			t.Errorf("%s: %d %s, want %d %s", what, res.StatusCode, p.Type, status, typ)
		}
	}
	ok := func(res *http.Response, what string) {
		t.Helper()
		if res.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(res.Body)
			t.Errorf("%s: %d %s, want 200", what, res.StatusCode, b)
		}
	}
	redirectError := func(res *http.Response, want, what string) {
		t.Helper()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d", what, res.StatusCode)
		}
		to, _ := url.Parse(readJSON[oapi.LoginStepRedirect](t, res).RedirectTo)
		if to.Host != "app.example" || to.Query().Get("error") != want || to.Query().Get("state") != "s" {
			t.Errorf("%s: redirect_to %s, want the client with error=%s", what, to, want)
		}
	}

	wantProblem(a.get("/oauth2/requests/nope"), http.StatusNotFound, "", "an unknown request")

	// The second factor.
	pending := a.mustLogin("bob@example.com", "password123")
	wantProblem(accept(start(), pending), http.StatusForbidden, mfaRequiredType, "a session owing its second factor")
	ada := a.mustLogin("ada@example.com", "correct horse")
	id := start("acr_values", "aal2")
	if info := readJSON[oapi.OAuth2Request](t, a.get("/oauth2/requests/"+id)); len(info.AcrValues) != 1 || info.AcrValues[0] != "aal2" {
		t.Errorf("the request's acr_values: %v", info.AcrValues)
	}
	wantProblem(accept(id, ada), http.StatusForbidden, mfaRequiredType, "acr_values=aal2 with an aal1 session")
	if got := location(t, a.get(readJSON[oapi.LoginStepRedirect](t, accept(id, aal2.Token)).RedirectTo)); got.Query().Get("code") == "" {
		t.Errorf("acr_values=aal2 with an aal2 session: %s", got)
	}

	// A fresh proof.
	a.clock.Add(2 * time.Second)
	id = start("prompt", "login")
	wantProblem(accept(id, ada), http.StatusForbidden, reauthRequiredType, "prompt=login with an older sign-in")
	a.clock.Add(time.Second)
	fresh := a.mustLogin("ada@example.com", "correct horse")
	ok(accept(id, fresh), "prompt=login after signing in again")
	a.clock.Add(2 * time.Minute)
	wantProblem(accept(start("max_age", "60"), fresh), http.StatusForbidden, reauthRequiredType, "max_age=60 with a sign-in 2 minutes old")
	ok(accept(start("max_age", "600"), fresh), "max_age=600 with a sign-in 2 minutes old")
	redirectError(accept(start("prompt", "none", "max_age", "60"), fresh), "login_required", "prompt=none with a stale sign-in")
	redirectError(accept(start("prompt", "none", "acr_values", "aal2"), fresh), "login_required", "prompt=none, aal2 asked, aal1 session")

	// Once, while it lives.
	id = start()
	ok(accept(id, fresh), "accept")
	wantProblem(accept(id, fresh), http.StatusNotFound, "", "a second accept")
	wantProblem(a.get("/oauth2/requests/"+id), http.StatusNotFound, "", "an accepted request")
	id = start()
	a.clock.Add(provider.DefaultRequestTTL)
	wantProblem(accept(id, fresh), http.StatusNotFound, "", "an expired request")

	// Reject.
	id = start()
	res := a.send("POST", "/oauth2/requests/"+id+"/reject", "application/json", `{"error":"access_denied"}`)
	redirectError(res, "access_denied", "reject")
	wantProblem(a.get("/oauth2/requests/"+id), http.StatusNotFound, "", "a rejected request")
	wantProblem(a.send("POST", "/oauth2/requests/"+start()+"/reject", "application/json", `{"error":"server_error"}`),
		http.StatusBadRequest, "", "reject with an error the page may not send")
}

// TestProviderMalformed: nothing a client sends to a protocol endpoint gets
// a 5xx (the contract check refuses any 500): malformed query strings and
// forms, unknown grants, garbage tokens and hints, unknown clients, forms
// over the body limit.
func TestProviderMalformed(t *testing.T) {
	t.Parallel()
	a := newOPAPI(t)
	c, secret := a.addClient(clients.Registration{Name: "Web", RedirectURIs: []string{"https://app.example/cb"}})
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(c.ID+":"+secret))
	const form = "application/x-www-form-urlencoded"
	big := "token=" + strings.Repeat("a", 2<<20)
	for _, tt := range []struct {
		method, path, contentType, body string
		hdr                             []string
	}{
		{"GET", "/oauth2/authorize?%zz", "", "", nil},
		{"GET", "/oauth2/authorize", "", "", nil},
		{"POST", "/oauth2/authorize", form, "%zz", nil},
		{"POST", "/oauth2/authorize", "application/json", `{"client_id":"x"}`, nil},
		{"GET", "/oauth2/authorize/callback", "", "", nil},
		{"GET", "/oauth2/authorize/callback?id=%zz", "", "", nil},
		{"GET", "/oauth2/authorize/callback?id=nope", "", "", nil},
		{"POST", "/oauth2/token", form, "%zz", nil},
		{"POST", "/oauth2/token", "", "", nil},
		{"POST", "/oauth2/token", form, "grant_type=password&username=a&password=b", []string{"Authorization", basic}},
		{"POST", "/oauth2/token", form, "grant_type=authorization_code&code=nope&code_verifier=x&redirect_uri=https%3A%2F%2Fapp.example%2Fcb", []string{"Authorization", basic}},
		{"POST", "/oauth2/token", form, "grant_type=refresh_token&refresh_token=nope", []string{"Authorization", basic}},
		{"POST", "/oauth2/token", form, "grant_type=refresh_token&refresh_token=nope&client_id=kc_nope&client_secret=x", nil},
		{"POST", "/oauth2/token", form, "grant_type=client_credentials", []string{"Authorization", basic}},
		{"POST", "/oauth2/revoke", form, "%zz", nil},
		{"POST", "/oauth2/revoke", form, "token=nope", []string{"Authorization", basic}},
		{"POST", "/oauth2/revoke", form, "token=nope&token_type_hint=access_token", []string{"Authorization", basic}},
		{"POST", "/oauth2/revoke", form, "token=nope&client_id=kc_nope", nil},
		{"GET", "/oauth2/userinfo", "", "", nil},
		{"GET", "/oauth2/userinfo", "", "", []string{"Authorization", "Bearer nope"}},
		{"POST", "/oauth2/userinfo", form, "%zz", nil},
		{"GET", "/oauth2/end_session?%zz", "", "", nil},
		{"GET", "/oauth2/end_session?id_token_hint=nope", "", "", nil},
		{"GET", "/oauth2/end_session?client_id=kc_nope", "", "", nil},
		{"GET", "/oauth2/end_session?client_id=" + c.ID + "&post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F", "", "", nil},
		{"POST", "/oauth2/end_session", form, "%zz", nil},
		// A client_id that is not text (a NUL, an invalid byte): no client,
		// never asked of PostgreSQL, whose text refuses it (a 500 there).
		{"GET", "/oauth2/end_session?client_id=%00", "", "", nil},
		{"GET", "/oauth2/end_session?client_id=%FF", "", "", nil},
		{"POST", "/oauth2/token", form, "grant_type=client_credentials&client_id=%00&client_secret=x", nil},
		{"POST", "/oauth2/token", form, "grant_type=client_credentials&client_id=kc%FF&client_secret=x", nil},
		{"POST", "/oauth2/token", form, "grant_type=client_credentials", []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("kc\x00:x"))}},
		{"POST", "/oauth2/device_authorization", form, "client_id=%00", nil},
		{"POST", "/oauth2/device_authorization", form, "client_id=%FF&scope=openid", nil},
		{"POST", "/oauth2/introspect", form, "token=x&client_id=%00&client_secret=x", nil},
		{"POST", "/oauth2/revoke", form, "token=x&client_id=%FF", nil},
		// A form over keel's body limit: 413, documented on each.
		{"POST", "/oauth2/authorize", form, big, nil},
		{"POST", "/oauth2/token", form, big, []string{"Authorization", basic}},
		{"POST", "/oauth2/revoke", form, big, []string{"Authorization", basic}},
		{"POST", "/oauth2/introspect", form, big, []string{"Authorization", basic}},
		{"POST", "/oauth2/userinfo", form, big, nil},
		{"POST", "/oauth2/end_session", form, big, nil},
		{"POST", "/oauth2/device_authorization", form, big, nil},
	} {
		t.Run(tt.method+" "+tt.path+" "+tt.body[:min(len(tt.body), 40)], func(t *testing.T) {
			res := a.send(tt.method, tt.path, tt.contentType, tt.body, tt.hdr...)
			if res.StatusCode >= 500 || res.StatusCode < 300 && res.StatusCode != http.StatusOK {
				b, _ := io.ReadAll(res.Body)
				t.Errorf("status %d: %s", res.StatusCode, b)
			}
		})
	}
}

// TestProviderResource: a resource indicator (RFC 8707) at authorize puts
// the resource in the access token's aud beside the client; the exchange
// may name it again but no other; a refresh names it again; keel refuses a
// resource that is not an absolute URI, has a fragment, comes twice or is
// keel's own issuer (invalid_target, on the client's redirect).
func TestProviderResource(t *testing.T) {
	t.Parallel()
	a := newOPAPI(t)
	a.mustRegister("ada@example.com", "correct horse")
	tok := a.mustLogin("ada@example.com", "correct horse")
	c, secret := a.addClient(clients.Registration{Name: "Agent", RedirectURIs: []string{"https://app.example/cb"}})
	r := a.newRP(c, secret, gooidc.ScopeOpenID, gooidc.ScopeOfflineAccess)
	const mcp = "https://mcp.example.com"
	code := func(resource ...string) (string, string) {
		t.Helper()
		verifier := oauth2.GenerateVerifier()
		opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
		for _, res := range resource {
			opts = append(opts, oauth2.SetAuthURLParam("resource", res))
		}
		got := a.accept(a.authorize(r.conf.AuthCodeURL("s", opts...)), tok)
		return got.Get("code"), verifier
	}
	aud := func(raw string) []string {
		_, claims := jwtParts(t, raw)
		var out []string
		switch v := claims["aud"].(type) {
		case string:
			out = []string{v}
		case []any:
			for _, x := range v {
				out = append(out, x.(string))
			}
		}
		return out
	}

	c1, v := code(mcp)
	tokens, err := r.conf.Exchange(r.ctx, c1, oauth2.VerifierOption(v), oauth2.SetAuthURLParam("resource", mcp))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(aud(tokens.AccessToken), " "); got != c.ID+" "+mcp {
		t.Errorf("the access token's aud: %s, want the client and the resource", got)
	}
	if _, err := r.verifier.Verify(r.ctx, tokens.Extra("id_token").(string)); err != nil {
		t.Errorf("the ID token with a resource: %v", err)
	}
	// A refresh names the resource again, or gets a token for the client alone.
	refresh := func(rt string, kv ...string) map[string]any {
		t.Helper()
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
		for i := 0; i+1 < len(kv); i += 2 {
			form.Set(kv[i], kv[i+1])
		}
		res := a.send("POST", "/oauth2/token", "application/x-www-form-urlencoded", form.Encode(),
			"Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(c.ID+":"+secret)))
		return readJSON[map[string]any](t, res)
	}
	next := refresh(tokens.RefreshToken, "resource", mcp)
	if got := strings.Join(aud(next["access_token"].(string)), " "); got != c.ID+" "+mcp {
		t.Errorf("the refreshed access token's aud: %s, want the client and the resource", got)
	}
	plain := refresh(next["refresh_token"].(string))
	if got := strings.Join(aud(plain["access_token"].(string)), " "); got != c.ID {
		t.Errorf("a refresh without a resource: aud %s, want the client alone", got)
	}

	// The exchange may not name another resource.
	c2, v2 := code(mcp)
	if _, err := r.conf.Exchange(r.ctx, c2, oauth2.VerifierOption(v2), oauth2.SetAuthURLParam("resource", "https://other.example.com")); !isOAuthError(err, "invalid_grant") {
		t.Errorf("exchange naming another resource: %v, want invalid_grant", err)
	}

	for name, q := range map[string]url.Values{
		"relative":      {"resource": {"/api"}},
		"fragment":      {"resource": {"https://mcp.example.com/#x"}},
		"two":           {"resource": {mcp, "https://other.example.com"}},
		"keel's issuer": {"resource": {a.url}},
	} {
		q.Set("response_type", "code")
		q.Set("client_id", c.ID)
		q.Set("redirect_uri", "https://app.example/cb")
		q.Set("scope", "openid")
		q.Set("state", "s")
		to := location(t, a.get("/oauth2/authorize?"+q.Encode()))
		if to.Host != "app.example" || to.Query().Get("error") != "invalid_target" {
			t.Errorf("resource %s: went to %s, want the client with invalid_target", name, to)
		}
	}
}

// TestProviderPublicClient: a public native client (a CLI) signs in with
// PKCE alone, its redirect on whatever loopback port it got, and
// refreshes without a secret.
func TestProviderPublicClient(t *testing.T) {
	t.Parallel()
	a := newOPAPI(t)
	a.mustRegister("ada@example.com", "correct horse")
	tok := a.mustLogin("ada@example.com", "correct horse")
	c, _ := a.addClient(clients.Registration{Name: "CLI", Public: true, Native: true, RedirectURIs: []string{"http://127.0.0.1/cb"}})
	r := a.newRP(c, "", gooidc.ScopeOpenID, gooidc.ScopeOfflineAccess)
	r.conf.RedirectURL = "http://127.0.0.1:53682/cb"
	r.conf.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	tokens, _ := a.signIn(r, tok)
	if _, err := r.verifier.Verify(r.ctx, tokens.Extra("id_token").(string)); err != nil {
		t.Errorf("the public client's ID token: %v", err)
	}
	if _, err := r.conf.TokenSource(r.ctx, &oauth2.Token{RefreshToken: tokens.RefreshToken}).Token(); err != nil {
		t.Errorf("the public client's refresh: %v", err)
	}
}

// TestProviderOff: an install without the provider (one still on HS256)
// answers its endpoints 404 and lists none in discovery.
func TestProviderOff(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	for _, path := range []string{"/oauth2/authorize?client_id=x", "/oauth2/userinfo", "/oauth2/end_session"} {
		a.status(a.do("GET", path, ""), http.StatusNotFound, path)
	}
	a.status(a.do("POST", "/oauth2/requests/x/reject", `{"error":"access_denied"}`), http.StatusNotFound, "reject")
	doc := decode[oapi.OpenIDConfiguration](t, a.do("GET", "/.well-known/openid-configuration", ""))
	if doc.AuthorizationEndpoint != nil || doc.TokenEndpoint != nil {
		t.Errorf("discovery without the provider: %+v", doc)
	}
}

// TestProviderRefreshReuseInterval: as keel's own refresh, the refresh
// token just replaced presented again within REFRESH_REUSE_INTERVAL (a
// second tab, a retried request) gets the current refresh token again and
// ends nothing; after it, the same presentation is a reuse and ends the
// grant.
func TestProviderRefreshReuseInterval(t *testing.T) {
	t.Parallel()
	a := newOPAPI(t, func(c *provider.Config) { c.RefreshReuseInterval = 10 * time.Second })
	a.mustRegister("ada@example.com", "correct horse")
	tok := a.mustLogin("ada@example.com", "correct horse")
	c, secret := a.addClient(clients.Registration{Name: "Web", RedirectURIs: []string{"https://app.example/cb"}})
	r := a.newRP(c, secret, gooidc.ScopeOpenID, gooidc.ScopeOfflineAccess)
	tokens, _ := a.signIn(r, tok)
	refresh := func(rt string) (*oauth2.Token, error) {
		return r.conf.TokenSource(r.ctx, &oauth2.Token{RefreshToken: rt}).Token()
	}
	next, err := refresh(tokens.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	again, err := refresh(tokens.RefreshToken)
	if err != nil || again.RefreshToken != next.RefreshToken {
		t.Fatalf("the replaced token within the interval: %v, refresh token the current one %v", err, err == nil && again.RefreshToken == next.RefreshToken)
	}
	third, err := refresh(next.RefreshToken)
	if err != nil {
		t.Fatalf("the current token after a grace: %v", err)
	}
	a.clock.Add(11 * time.Second)
	if _, err := refresh(next.RefreshToken); !isOAuthError(err, "invalid_grant") {
		t.Errorf("the replaced token after the interval: %v, want invalid_grant", err)
	}
	if _, err := refresh(third.RefreshToken); !isOAuthError(err, "invalid_grant") {
		t.Errorf("the current token after a reuse: %v, want invalid_grant (the grant ended)", err)
	}
}
