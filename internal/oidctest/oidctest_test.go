package oidctest_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/keelhq/keel/internal/oidctest"
)

// callbackURL is keel's callback as the tests pretend it is: nothing listens there, because SignIn
// returns the redirect to it without following it.
const callbackURL = "http://127.0.0.1:1/auth/oidc/callback"

var ada = oidctest.User{Username: "ada", Password: "correct horse", Email: "ada@example.com", EmailVerified: true}

// relyingParty is keel's side of one sign-in, built the way keel builds it with go-oidc and oauth2.
type relyingParty struct {
	ctx                    context.Context
	provider               *oidc.Provider
	config                 oauth2.Config
	idTokenVerifier        *oidc.IDTokenVerifier
	state, nonce, verifier string
	authorizeURL           string
	client                 *http.Client // the browser, with its cookie jar
}

func newRelyingParty(t *testing.T, p *oidctest.Provider) *relyingParty {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	provider, err := oidc.NewProvider(ctx, p.Issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	rp := &relyingParty{
		provider: provider,
		config: oauth2.Config{
			ClientID:     p.ClientID,
			ClientSecret: p.ClientSecret,
			Endpoint:     provider.Endpoint(),
			RedirectURL:  callbackURL,
			Scopes:       oidctest.Scopes,
		},
		state:           random(),
		nonce:           random(),
		verifier:        oauth2.GenerateVerifier(),
		idTokenVerifier: provider.Verifier(&oidc.Config{ClientID: p.ClientID}),
		ctx:             ctx,
	}
	rp.authorizeURL = rp.config.AuthCodeURL(rp.state, oidc.Nonce(rp.nonce), oauth2.S256ChallengeOption(rp.verifier))
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	rp.client = &http.Client{Jar: jar, Timeout: 10 * time.Second}
	return rp
}

// signIn signs ada in and returns the code from the callback, after checking the callback is keel's
// with keel's state.
func (rp *relyingParty) signIn(t *testing.T, p *oidctest.Provider) string {
	t.Helper()
	cb := p.SignIn(t, rp.client, rp.authorizeURL, ada.Username, ada.Password)
	if got := cb.Scheme + "://" + cb.Host + cb.Path; got != callbackURL {
		t.Fatalf("SignIn returned %s, want a redirect to %s", cb, callbackURL)
	}
	q := cb.Query()
	if q.Get("state") != rp.state {
		t.Fatalf("state = %q, want %q", q.Get("state"), rp.state)
	}
	code := q.Get("code")
	if code == "" {
		t.Fatalf("no code in %s", cb)
	}
	return code
}

// exchange trades the code for tokens with the PKCE verifier and returns the raw ID token.
func (rp *relyingParty) exchange(t *testing.T, code string) string {
	t.Helper()
	tok, err := rp.config.Exchange(rp.ctx, code, oauth2.VerifierOption(rp.verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		t.Fatal("no id_token in the token response")
	}
	return raw
}

func TestSignIn(t *testing.T) {
	t.Parallel()
	p := oidctest.Start(t)
	// keel learns its callback URL after the provider started.
	p.AllowRedirect(callbackURL)
	sub := p.AddUser(ada)
	if sub == "" {
		t.Fatal("AddUser returned an empty subject")
	}
	rp := newRelyingParty(t, p)
	code := rp.signIn(t, p)

	// The provider checks PKCE: the code does not go with another verifier.
	if _, err := rp.config.Exchange(rp.ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier())); err == nil {
		t.Fatal("exchange with the wrong PKCE verifier succeeded")
	}

	idToken, err := rp.idTokenVerifier.Verify(rp.ctx, rp.exchange(t, code))
	if err != nil {
		t.Fatalf("verify the ID token: %v", err)
	}
	if idToken.Nonce != rp.nonce {
		t.Errorf("nonce = %q, want %q", idToken.Nonce, rp.nonce)
	}
	if idToken.Subject != sub {
		t.Errorf("sub = %q, want %q (AddUser's)", idToken.Subject, sub)
	}
	var claims struct {
		Email         string `json:"email"`
		EmailVerified bool   `json:"email_verified"`
	}
	if err := idToken.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if claims.Email != ada.Email || !claims.EmailVerified {
		t.Errorf("email, email_verified = %q, %v; want %q, true", claims.Email, claims.EmailVerified, ada.Email)
	}

	// A code is good once.
	if _, err := rp.config.Exchange(rp.ctx, code, oauth2.VerifierOption(rp.verifier)); err == nil {
		t.Error("a second exchange of the same code succeeded")
	}
}

func TestSubjectIsStable(t *testing.T) {
	t.Parallel()
	p := oidctest.Start(t, callbackURL)
	first := p.AddUser(ada)
	changed := ada
	changed.Email, changed.EmailVerified = "ada@example.org", false
	if again := p.AddUser(changed); again != first {
		t.Fatalf("subject changed from %q to %q when the user was replaced", first, again)
	}
	if other := p.AddUser(oidctest.User{Username: "grace", Password: "pw"}); other == first {
		t.Fatal("two users have the same subject")
	}
	if got := p.AddUser(oidctest.User{Username: "linus", Password: "pw", Subject: "given"}); got != "given" {
		t.Fatalf("subject = %q, want the given one", got)
	}

	// The replaced user signs in with the new email.
	rp := newRelyingParty(t, p)
	idToken, err := rp.idTokenVerifier.Verify(rp.ctx, rp.exchange(t, rp.signIn(t, p)))
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Email         string `json:"email"`
		EmailVerified *bool  `json:"email_verified"`
	}
	if err := idToken.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	// The op leaves email_verified out when it is false.
	if idToken.Subject != first || claims.Email != changed.Email || claims.EmailVerified != nil && *claims.EmailVerified {
		t.Errorf("sub, email, email_verified = %q, %q, %v; want %q, %q, false or absent", idToken.Subject, claims.Email, claims.EmailVerified, first, changed.Email)
	}
}

func TestWrongNonce(t *testing.T) {
	t.Parallel()
	p := oidctest.Start(t, callbackURL)
	p.AddUser(ada)
	rp := newRelyingParty(t, p)
	code := rp.signIn(t, p)
	p.WrongNonce()
	// Signed by the provider and for this client, so only the nonce check can refuse it.
	idToken, err := rp.idTokenVerifier.Verify(rp.ctx, rp.exchange(t, code))
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if idToken.Nonce == rp.nonce || idToken.Nonce == "" {
		t.Fatalf("nonce = %q, want another than %q", idToken.Nonce, rp.nonce)
	}

	// The lie was for one token only.
	rp = newRelyingParty(t, p)
	idToken, err = rp.idTokenVerifier.Verify(rp.ctx, rp.exchange(t, rp.signIn(t, p)))
	if err != nil {
		t.Fatal(err)
	}
	if idToken.Nonce != rp.nonce {
		t.Fatalf("nonce of the token after = %q, want %q", idToken.Nonce, rp.nonce)
	}
}

func TestWrongAudience(t *testing.T) {
	t.Parallel()
	p := oidctest.Start(t, callbackURL)
	p.AddUser(ada)
	rp := newRelyingParty(t, p)
	code := rp.signIn(t, p)
	p.WrongAudience()
	raw := rp.exchange(t, code)
	_, err := rp.idTokenVerifier.Verify(rp.ctx, raw)
	if err == nil || !strings.Contains(err.Error(), "audience") {
		t.Fatalf("verify = %v, want an error about the audience", err)
	}
	// Without the audience check it passes: the signature, issuer, expiry and nonce are right.
	lenient := rp.provider.Verifier(&oidc.Config{SkipClientIDCheck: true})
	idToken, err := lenient.Verify(rp.ctx, raw)
	if err != nil {
		t.Fatalf("verify without the audience check: %v", err)
	}
	if idToken.Nonce != rp.nonce {
		t.Errorf("nonce = %q, want %q", idToken.Nonce, rp.nonce)
	}
}

func TestExpiredIDToken(t *testing.T) {
	t.Parallel()
	p := oidctest.Start(t, callbackURL)
	p.AddUser(ada)
	rp := newRelyingParty(t, p)
	code := rp.signIn(t, p)
	p.ExpiredIDToken()
	raw := rp.exchange(t, code)
	var expired *oidc.TokenExpiredError
	if _, err := rp.idTokenVerifier.Verify(rp.ctx, raw); !errors.As(err, &expired) {
		t.Fatalf("verify = %v, want a TokenExpiredError", err)
	}
	lenient := rp.provider.Verifier(&oidc.Config{ClientID: p.ClientID, SkipExpiryCheck: true})
	if _, err := lenient.Verify(rp.ctx, raw); err != nil {
		t.Fatalf("verify without the expiry check: %v", err)
	}
}

// TestNextIDToken changes a claim of its own choosing, and checks that the changes wait for a token
// that is actually issued.
func TestNextIDToken(t *testing.T) {
	t.Parallel()
	p := oidctest.Start(t, callbackURL)
	p.AddUser(ada)
	rp := newRelyingParty(t, p)
	code := rp.signIn(t, p)
	p.NextIDToken(func(c map[string]any) { c["iss"] = "https://elsewhere.example" })
	if _, err := rp.config.Exchange(rp.ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier())); err == nil {
		t.Fatal("exchange with the wrong PKCE verifier succeeded")
	}
	_, err := rp.idTokenVerifier.Verify(rp.ctx, rp.exchange(t, code))
	if err == nil || !strings.Contains(err.Error(), "different provider") {
		t.Fatalf("verify = %v, want an error about the issuer", err)
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	p := oidctest.Start(t, callbackURL)
	p.AddUser(ada)

	t.Run("wrong password", func(t *testing.T) {
		t.Parallel()
		rp := newRelyingParty(t, p)
		_, err := p.TrySignIn(rp.ctx, rp.client, rp.authorizeURL, ada.Username, "wrong")
		if err == nil || !strings.Contains(err.Error(), "refused") {
			t.Fatalf("TrySignIn = %v, want a refusal", err)
		}
	})
	t.Run("redirect URI not allowed", func(t *testing.T) {
		t.Parallel()
		rp := newRelyingParty(t, p)
		rp.config.RedirectURL = "http://127.0.0.1:1/elsewhere"
		u := rp.config.AuthCodeURL(rp.state, oidc.Nonce(rp.nonce), oauth2.S256ChallengeOption(rp.verifier))
		if got, err := p.TrySignIn(rp.ctx, rp.client, u, ada.Username, ada.Password); err == nil {
			t.Fatalf("TrySignIn = %s, want the provider to refuse the redirect URI", got)
		}
	})
}

// TestSignInThroughRedirect starts the dance at a URL that redirects to the provider, as keel's own
// start endpoint will.
func TestSignInThroughRedirect(t *testing.T) {
	t.Parallel()
	p := oidctest.Start(t, callbackURL)
	p.AddUser(ada)
	rp := newRelyingParty(t, p)
	start := http.NewServeMux()
	start.HandleFunc("/start", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, rp.authorizeURL, http.StatusFound)
	})
	keel := startServer(t, start)
	cb := p.SignIn(t, rp.client, keel+"/start", ada.Username, ada.Password)
	if cb.Query().Get("state") != rp.state || cb.Query().Get("code") == "" {
		t.Fatalf("SignIn returned %s, want keel's callback with code and state", cb)
	}
}

func TestStop(t *testing.T) {
	t.Parallel()
	p := oidctest.Start(t, callbackURL)
	p.AddUser(ada)
	rp := newRelyingParty(t, p)
	code := rp.signIn(t, p)
	p.Stop()
	if _, err := rp.config.Exchange(rp.ctx, code, oauth2.VerifierOption(rp.verifier)); err == nil {
		t.Error("exchange with a stopped provider succeeded")
	}
	if _, err := oidc.NewProvider(rp.ctx, p.Issuer); err == nil {
		t.Error("discovery of a stopped provider succeeded")
	}
	if _, err := http.Get(p.Issuer + "/.well-known/openid-configuration"); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("GET after Stop = %v, want connection refused", err)
	}
}

// TestLoginPage checks what a browser test relies on: the form's ids and where it posts.
func TestLoginPage(t *testing.T) {
	t.Parallel()
	p := oidctest.Start(t, callbackURL)
	rp := newRelyingParty(t, p)
	// Follow the redirects from the authorize endpoint to the login page, as a browser does.
	resp, err := rp.client.Get(rp.authorizeURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("login page: %s, %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	page := string(body)
	for _, want := range []string{`<form id="login" method="post"`, `id="username" name="username"`, `id="password" name="password" type="password"`, `<button id="sign-in" type="submit">`} {
		if !strings.Contains(page, want) {
			t.Errorf("the login page lacks %s:\n%s", want, page)
		}
	}
	if u, _ := url.Parse(p.Issuer); resp.Request.URL.Host != u.Host {
		t.Errorf("login page served by %s, want the provider %s", resp.Request.URL.Host, u.Host)
	}
}

// startServer stands in for keel: another origin than the provider's.
func startServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func random() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}
