package main

// keel's own sign-in page (GET /oauth2/login, the default OP_LOGIN_URL) in a
// real browser: headless Chromium signs users in to a Go relying party
// (golang.org/x/oauth2 + coreos/go-oidc) through the page, with a password
// and a TOTP code, with a passkey (the DevTools virtual authenticator), and
// cancels. What the server tests cannot show: that the page's script runs
// under keel's CSP, drives keel's API as an app's page would, and that the
// browser ends at the relying party with a code it can redeem.

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/pquerna/otp/totp"
	"golang.org/x/oauth2"
)

// registerPasskey adds a passkey to the account of token from the page
// the browser is on (keel's origin, the RP ID's), with the authenticator's
// navigator.credentials.create.
const registerPasskey = `(async (token) => {
  const toBuf = (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4)), (c) => c.charCodeAt(0)).buffer;
  const toB64 = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  const call = async (path, body) => {
    const r = await fetch(path, {method: "POST", headers: {"Content-Type": "application/json", Authorization: "Bearer " + token},
      body: body === undefined ? undefined : JSON.stringify(body)});
    if (!r.ok) throw new Error(path + ": " + r.status + " " + await r.text());
    return r.status === 204 ? null : r.json();
  };
  const reg = await call("/passkeys/register/options");
  const o = reg.options;
  const created = await navigator.credentials.create({publicKey: {...o, challenge: toBuf(o.challenge),
    user: {...o.user, id: toBuf(o.user.id)},
    excludeCredentials: (o.excludeCredentials || []).map((c) => ({...c, id: toBuf(c.id)}))}});
  await call("/passkeys/register", {flow_id: reg.flow_id, name: "Chromium", credential: {
    id: created.id, rawId: toB64(created.rawId), type: created.type,
    authenticatorAttachment: created.authenticatorAttachment,
    clientExtensionResults: created.getClientExtensionResults(),
    response: {clientDataJSON: toB64(created.response.clientDataJSON),
      attestationObject: toB64(created.response.attestationObject),
      transports: created.response.getTransports ? created.response.getTransports() : []}}});
  return "registered";
})(TOKEN)`

// TestBrowserLoginPage: keel's own page completes the code flow for a Go
// relying party: (a) a password then a TOTP code, with acr_values=aal2, to
// an ID token with acr aal2; (b) a passkey alone, to acr aal2 with hwk in
// amr; (c) Cancel sends the browser back with access_denied; (d) prompt=none
// comes back with login_required, the page showing nothing; (e) a client
// that registered itself is shown as unverified. Also a recovery code in
// place of the TOTP code. The page's own session ends once it has answered:
// the grant is the user's only new one.
func TestBrowserLoginPage(t *testing.T) {
	t.Parallel()
	keelBinary(t)
	chromePath := chromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	// keel behind a front whose address is known before keel starts, so
	// API_URL (the issuer) can be http://localhost:PORT: the one host where
	// WebAuthn allows plain HTTP, and the page's origin.
	f := startFront(t)
	issuer := "http://localhost:" + strings.TrimPrefix(f.URL, "http://127.0.0.1:")

	// The relying party: its callback hands what it gets to the test.
	got := make(chan url.Values, 1)
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r)
			return
		}
		got <- r.URL.Query()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(`<!DOCTYPE html><title>rp</title><p id="done">back at the app</p>`))
	}))
	t.Cleanup(rp.Close)

	// The client, registered by the operator before keel starts.
	env := map[string]string{
		"DATABASE_URL": filepath.Join(t.TempDir(), "keel.db"), "JWT_SECRET": testSecret, "KEYS_KEK": testKEK,
	}
	var out bytes.Buffer
	if err := run(ctx, []string{"clients", "create", "--name", "Go RP", "--native", "--redirect-uri", "http://127.0.0.1/callback"},
		func(k string) string { return env[k] }, &out); err != nil {
		t.Fatalf("keel clients create: %v\n%s", err, out.String())
	}
	id := regexp.MustCompile(`(?m)^client_id: +(\S+)$`).FindStringSubmatch(out.String())
	secret := regexp.MustCompile(`(?m)^client_secret: +(\S+)$`).FindStringSubmatch(out.String())
	if id == nil || secret == nil {
		t.Fatalf("keel clients create:\n%s", out.String())
	}

	env["API_URL"] = issuer
	env["WEBAUTHN_RP_ID"] = "localhost"
	env["WEBAUTHN_ORIGINS"] = issuer
	env["OP_DYNAMIC_REGISTRATION"] = "true"
	k := startKeel(t, env)
	f.to(k)

	hc := checkedClient(t, 10*time.Second, nil)
	signUp := func(email, password string) string {
		t.Helper()
		if code, body, err := post(ctx, hc, k.url("/register"), creds(email, password)); err != nil || code != http.StatusCreated {
			t.Fatalf("register %s: %d %v %s", email, code, err, body)
		}
		code, body, err := post(ctx, hc, k.url("/login"), creds(email, password))
		var p struct{ Token string }
		if err != nil || code != http.StatusOK || json.Unmarshal(body, &p) != nil {
			t.Fatalf("login %s: %d %v %s", email, code, err, body)
		}
		verifyEmail(ctx, t, hc, []*proc{k}, email, p.Token)
		return p.Token
	}

	// Ada has a TOTP factor, enrolled through the API with the previous
	// step's code, so the code she types at the page (the current step's)
	// is one keel has not seen.
	const adaEmail, adaPassword = "ada.page@example.com", "correct horse battery"
	adaToken := signUp(adaEmail, adaPassword)
	code, body := postOn(ctx, t, hc, k, "/mfa/totp", adaToken, "")
	var enrol struct{ ID, Secret string }
	if code != http.StatusCreated || json.Unmarshal(body, &enrol) != nil {
		t.Fatalf("POST /mfa/totp: %d %s", code, body)
	}
	prev, err := totp.GenerateCode(enrol.Secret, time.Now().Add(-30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	code, body = postOn(ctx, t, hc, k, "/mfa/totp/"+enrol.ID+"/verify", adaToken, `{"code":"`+prev+`"}`)
	var verified struct {
		Tokens        struct{ Token string }
		RecoveryCodes []string `json:"recovery_codes"`
	}
	if code != http.StatusOK || json.Unmarshal(body, &verified) != nil || verified.Tokens.Token == "" {
		t.Fatalf("verify the TOTP factor: %d %s", code, body)
	}
	adaToken = verified.Tokens.Token

	const bobEmail, bobPassword = "bob.page@example.com", "correct horse battery"
	bobToken := signUp(bobEmail, bobPassword)

	provider, err := gooidc.NewProvider(gooidc.ClientContext(ctx, hc), issuer)
	if err != nil {
		t.Fatal(err)
	}
	conf := oauth2.Config{ClientID: id[1], ClientSecret: secret[1], Endpoint: provider.Endpoint(),
		RedirectURL: rp.URL + "/callback", Scopes: []string{gooidc.ScopeOpenID, "email"}}
	verifier := provider.Verifier(&gooidc.Config{ClientID: id[1]})

	bctx, report := newBrowser(ctx, t, chromePath, k)
	if _, err := chromedp.Call(bctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatalf("WebAuthn.enable: %v", err)
	}
	if _, err := chromedp.Call(bctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol: webauthn.AuthenticatorProtocolCtap2, Transport: webauthn.AuthenticatorTransportInternal,
			HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
		}}); err != nil {
		t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}

	// authorize sends the browser to authorize for c, and wait for what
	// comes next.
	authorize := func(c oauth2.Config, wait chromedp.Action[chromedp.Void], extra ...oauth2.AuthCodeOption) (state, nonce, pkce string) {
		t.Helper()
		state, nonce, pkce = oidcRandom(), oidcRandom(), oauth2.GenerateVerifier()
		u := c.AuthCodeURL(state, append(extra, oauth2.S256ChallengeOption(pkce), gooidc.Nonce(nonce))...)
		actx, cancel := context.WithTimeout(bctx, 30*time.Second)
		defer cancel()
		err := chromedp.Do(actx, chromedp.Navigate(u), wait)
		if err != nil && strings.Contains(err.Error(), "net::ERR_ABORTED") {
			// The page navigated on before it finished loading (prompt=none
			// sends the browser straight back): what follows checks where
			// it went.
			err = nil
		}
		if err != nil {
			t.Fatalf("authorize to keel's page: %v\n%s", err, report())
		}
		return state, nonce, pkce
	}
	// start sends the browser to keel's page for the Go RP.
	start := func(extra ...oauth2.AuthCodeOption) (state, nonce, pkce string) {
		t.Helper()
		state, nonce, pkce = authorize(conf, chromedp.WaitVisible(chromedp.ID("email")), extra...)
		name, err := chromedp.Run(bctx, chromedp.Text(chromedp.ID("client-name")))
		scopes, err2 := chromedp.Run(bctx, chromedp.Text(chromedp.ID("scopes")))
		unverified, err3 := chromedp.Run(bctx, chromedp.Evaluate[bool](`document.getElementById("unverified").hidden`))
		if err != nil || err2 != nil || err3 != nil || name != "Go RP" || !strings.Contains(scopes, "email address") || !unverified {
			t.Errorf("the page shows client %q, scopes %q, the unverified warning %v (%v, %v, %v)", name, scopes, !unverified, err, err2, err3)
		}
		return state, nonce, pkce
	}
	// back waits for the relying party's callback.
	back := func(state string) url.Values {
		t.Helper()
		select {
		case q := <-got:
			if q.Get("state") != state {
				t.Errorf("callback state %q, want %q", q.Get("state"), state)
			}
			return q
		case <-time.After(30 * time.Second):
			t.Fatalf("the relying party got no callback\n%s", report())
			return nil
		}
	}
	// signedIn redeems the code and verifies the ID token.
	type claims struct {
		Subject, Nonce, ACR, SID string
		AMR                      []string
	}
	signedIn := func(q url.Values, nonce, pkce string) claims {
		t.Helper()
		tok, err := conf.Exchange(gooidc.ClientContext(ctx, hc), q.Get("code"), oauth2.VerifierOption(pkce))
		if err != nil {
			t.Fatalf("exchange the code (%v): %v", q, err)
		}
		raw, _ := tok.Extra("id_token").(string)
		idt, err := verifier.Verify(ctx, raw)
		if err != nil {
			t.Fatalf("verify the ID token: %v", err)
		}
		var c struct {
			Nonce string   `json:"nonce"`
			ACR   string   `json:"acr"`
			SID   string   `json:"sid"`
			AMR   []string `json:"amr"`
		}
		if err := idt.Claims(&c); err != nil || c.Nonce != nonce {
			t.Errorf("ID token nonce %q (%v), want %q", c.Nonce, err, nonce)
		}
		return claims{Subject: idt.Subject, Nonce: c.Nonce, ACR: c.ACR, SID: c.SID, AMR: c.AMR}
	}
	steps := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(bctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, report())
		}
	}

	// (a) Password, then the second factor the client asked for.
	state, nonce, pkce := start(oauth2.SetAuthURLParam("acr_values", "aal2"))
	steps("password",
		chromedp.SendKeys(chromedp.ID("email"), adaEmail),
		chromedp.SendKeys(chromedp.ID("password"), adaPassword),
		chromedp.Click(chromedp.ID("sign-in")),
		chromedp.WaitVisible(chromedp.ID("code")),
	)
	now, err := totp.GenerateCode(enrol.Secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	steps("TOTP code", chromedp.SendKeys(chromedp.ID("code"), now), chromedp.Click(chromedp.ID("verify")))
	ada := signedIn(back(state), nonce, pkce)
	if ada.ACR != "aal2" || ada.SID == "" {
		t.Errorf("password and TOTP: ID token %+v, want acr aal2", ada)
	}
	// The page ended its own session: Ada's sessions are the grant and the
	// one the test enrolled with.
	var sessions []struct {
		ID     string
		Client *struct{ Name string }
	}
	res, body := get(ctx, t, hc, k.url("/sessions"), adaToken)
	if res.StatusCode != http.StatusOK || json.Unmarshal(body, &sessions) != nil {
		t.Fatalf("GET /sessions: %d %s", res.StatusCode, body)
	}
	if len(sessions) != 2 {
		t.Errorf("Ada's sessions after the page: %+v, want the grant and the test's own", sessions)
	}
	for _, s := range sessions {
		if s.ID == ada.SID && (s.Client == nil || s.Client.Name != "Go RP") {
			t.Errorf("the grant %s is not listed as Go RP's: %+v", ada.SID, s)
		}
	}

	// (a') A recovery code in place of the app's code.
	state, nonce, pkce = start()
	steps("recovery code",
		chromedp.SendKeys(chromedp.ID("email"), adaEmail),
		chromedp.SendKeys(chromedp.ID("password"), adaPassword),
		chromedp.Click(chromedp.ID("sign-in")),
		chromedp.WaitVisible(chromedp.ID("code")),
		chromedp.Click(chromedp.ID("use-recovery")),
		chromedp.WaitVisible(chromedp.ID("recovery-code")),
		chromedp.SendKeys(chromedp.ID("recovery-code"), verified.RecoveryCodes[0]),
		chromedp.Click(chromedp.ID("verify")),
	)
	if again := signedIn(back(state), nonce, pkce); again.ACR != "aal2" || again.Subject != ada.Subject {
		t.Errorf("password and recovery code: ID token %+v, want Ada's at aal2", again)
	}

	// (b) A passkey: Bob registers one with the browser's authenticator,
	// then signs in with it alone.
	steps("open keel's origin", chromedp.Navigate(issuer+"/oauth2/login"), chromedp.WaitVisible(chromedp.ID("title")))
	tokJS, _ := json.Marshal(bobToken)
	if r, err := chromedp.Run(bctx, chromedp.Evaluate[string](strings.Replace(registerPasskey, "TOKEN", string(tokJS), 1),
		chromedp.EvalAwaitPromise)); err != nil || r != "registered" {
		t.Fatalf("register Bob's passkey: %q %v\n%s", r, err, report())
	}
	state, nonce, pkce = start()
	steps("passkey", chromedp.WaitVisible(chromedp.ID("passkey")), chromedp.Click(chromedp.ID("passkey")))
	bob := signedIn(back(state), nonce, pkce)
	if bob.ACR != "aal2" || !strings.Contains(strings.Join(bob.AMR, " "), "hwk") || bob.Subject == ada.Subject {
		t.Errorf("passkey: ID token %+v, want Bob's, acr aal2, amr with hwk", bob)
	}

	// (c) Cancel: the client hears access_denied.
	state, _, _ = start()
	steps("cancel", chromedp.Click(chromedp.ID("cancel")))
	if q := back(state); q.Get("error") != "access_denied" || q.Get("code") != "" {
		t.Errorf("cancel: the client got %v, want error=access_denied", q)
	}

	// (d) prompt=none: the page holds no session, so it shows nothing and
	// the client hears login_required.
	state, _, _ = authorize(conf, chromedp.Poll[chromedp.Void](`true`), oauth2.SetAuthURLParam("prompt", "none"))
	if q := back(state); q.Get("error") != "login_required" || q.Get("code") != "" {
		t.Errorf("prompt=none: the client got %v, want error=login_required", q)
	}

	// (e) A client that registered itself is shown as unverified.
	code, body = postOn(ctx, t, hc, k, "/oauth2/register", "", `{"client_name":"Agent X","application_type":"native",`+
		`"redirect_uris":["http://127.0.0.1/callback"],"token_endpoint_auth_method":"none"}`)
	var dyn struct {
		ClientID string `json:"client_id"`
	}
	if code != http.StatusCreated || json.Unmarshal(body, &dyn) != nil {
		t.Fatalf("POST /oauth2/register: %d %s", code, body)
	}
	agent := conf
	agent.ClientID, agent.ClientSecret = dyn.ClientID, ""
	state, _, _ = authorize(agent, chromedp.WaitVisible(chromedp.ID("unverified")))
	if name, err := chromedp.Run(bctx, chromedp.Text(chromedp.ID("client-name"))); err != nil || name != "Agent X" {
		t.Errorf("the page names the dynamic client %q (%v)", name, err)
	}
	steps("cancel the agent", chromedp.Click(chromedp.ID("cancel")))
	if q := back(state); q.Get("error") != "access_denied" {
		t.Errorf("cancel: the agent got %v", q)
	}
}
