package main

// A real browser registers a passkey and signs in with it: headless Chromium
// with its DevTools virtual authenticator (the WebAuthn domain: CTAP2, an
// internal transport, resident keys, user verification, presence simulated),
// a small page on http://localhost:PORT (RP ID localhost, the one host where
// WebAuthn allows plain HTTP) calling keel cross-origin (CORS_ORIGINS). What
// the software authenticator of the server tests cannot show: that the
// options keel returns are ones a browser takes, and what it answers is one
// keel verifies.

import (
	"context"
	"encoding/json"
	"html/template"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// passkeyPage logs in to the account the test registered, adds a passkey with
// navigator.credentials.create, then signs in with navigator.credentials.get
// alone, and writes what keel's token says into #status.
var passkeyPage = template.Must(template.New("passkeys").Parse(`<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>passkeys</title></head>
<body>
<button id="go" type="button">Register and sign in</button>
<p id="status">ready</p>
<script>
const keel = {{.Keel}};
const status = (s) => { document.getElementById("status").textContent = s; };
// base64url <-> ArrayBuffer: keel's options and answers carry binary as base64url.
const toBuf = (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4)), (c) => c.charCodeAt(0)).buffer;
const toB64 = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

async function call(method, path, body, token) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = "Bearer " + token;
  const r = await fetch(keel + path, {method, headers, body: body === undefined ? undefined : JSON.stringify(body)});
  const text = await r.text();
  if (!r.ok) throw new Error(method + " " + path + ": " + r.status + " " + text);
  return text ? JSON.parse(text) : null;
}

document.getElementById("go").addEventListener("click", async () => {
  try {
    // The test has registered the account and proved its address (a
    // passkey needs a proved address).
    const account = {email: "ada.passkey@example.com", password: "correct horse battery"};
    const {token} = await call("POST", "/login", account);

    // Registration.
    const reg = await call("POST", "/passkeys/register/options", undefined, token);
    const o = reg.options;
    const created = await navigator.credentials.create({publicKey: {
      ...o,
      challenge: toBuf(o.challenge),
      user: {...o.user, id: toBuf(o.user.id)},
      excludeCredentials: (o.excludeCredentials || []).map((c) => ({...c, id: toBuf(c.id)})),
    }});
    await call("POST", "/passkeys/register", {flow_id: reg.flow_id, name: "Chromium", credential: {
      id: created.id, rawId: toB64(created.rawId), type: created.type,
      authenticatorAttachment: created.authenticatorAttachment,
      clientExtensionResults: created.getClientExtensionResults(),
      response: {
        clientDataJSON: toB64(created.response.clientDataJSON),
        attestationObject: toB64(created.response.attestationObject),
        transports: created.response.getTransports ? created.response.getTransports() : [],
      },
    }}, token);

    // Sign-in: no email, no password.
    const login = await call("POST", "/passkeys/login/options");
    const l = login.options;
    const got = await navigator.credentials.get({publicKey: {
      ...l,
      challenge: toBuf(l.challenge),
      allowCredentials: (l.allowCredentials || []).map((c) => ({...c, id: toBuf(c.id)})),
    }});
    const tokens = await call("POST", "/passkeys/login", {flow_id: login.flow_id, credential: {
      id: got.id, rawId: toB64(got.rawId), type: got.type,
      authenticatorAttachment: got.authenticatorAttachment,
      clientExtensionResults: got.getClientExtensionResults(),
      response: {
        clientDataJSON: toB64(got.response.clientDataJSON),
        authenticatorData: toB64(got.response.authenticatorData),
        signature: toB64(got.response.signature),
        userHandle: got.response.userHandle ? toB64(got.response.userHandle) : null,
      },
    }});
    const profile = await call("GET", "/profile", undefined, tokens.token);
    const claims = JSON.parse(atob(tokens.token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    status("signed in " + profile.email + " " + claims.aal + " " + claims.amr.join(","));
  } catch (e) {
    status("failed: " + e);
  }
});
</script>
</body>
</html>
`))

func TestBrowserPasskey(t *testing.T) {
	t.Parallel()
	keelBinary(t)
	chromePath := chromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 55*time.Second)
	defer cancel()

	// The page on http://localhost:PORT; keel's address is known only once
	// it listens, so the page reads it late.
	var (
		mu      sync.Mutex
		keelURL string
	)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	app := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/app" {
			http.NotFound(w, r)
			return
		}
		mu.Lock()
		k := keelURL
		mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		passkeyPage.Execute(w, struct{ Keel string }{k})
	}))
	app.Listener.Close()
	app.Listener = ln
	app.Start()
	t.Cleanup(app.Close)
	origin := "http://localhost:" + strings.TrimPrefix(app.URL, "http://127.0.0.1:")

	k := startKeel(t, map[string]string{
		"WEBAUTHN_RP_ID":   "localhost",
		"WEBAUTHN_ORIGINS": origin,
		"CORS_ORIGINS":     origin,
	})
	mu.Lock()
	keelURL = "http://" + k.addr
	mu.Unlock()

	// The account, registered and its address proved as its owner would
	// (the verification mail's token, from keel's console mailer).
	hc := checkedClient(t, 10*time.Second, nil)
	const email, password = "ada.passkey@example.com", "correct horse battery"
	if code, body, err := post(ctx, hc, k.url("/register"), creds(email, password)); err != nil || code != http.StatusCreated {
		t.Fatalf("register: %d %v %s", code, err, body)
	}
	code, body, err := post(ctx, hc, k.url("/login"), creds(email, password))
	var p struct{ Token string }
	if json.Unmarshal(body, &p); err != nil || code != http.StatusOK {
		t.Fatalf("login: %d %v %s", code, err, body)
	}
	verifyEmail(ctx, t, hc, []*proc{k}, email, p.Token)

	bctx, report := newBrowser(ctx, t, chromePath, k)

	// The virtual authenticator: a platform authenticator (CTAP2, internal)
	// with resident keys and user verification, presence simulated.
	if _, err := chromedp.Call(bctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatalf("WebAuthn.enable: %v", err)
	}
	auth, err := chromedp.Call(bctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol: webauthn.AuthenticatorProtocolCtap2, Transport: webauthn.AuthenticatorTransportInternal,
			HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
		}})
	if err != nil {
		t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}

	sctx, cancelSteps := context.WithTimeout(bctx, 30*time.Second)
	defer cancelSteps()
	if err := chromedp.Do(sctx,
		chromedp.Navigate(origin+"/app"),
		chromedp.WaitVisible(chromedp.ID("go")),
		chromedp.Click(chromedp.ID("go")),
		chromedp.Poll[chromedp.Void](`document.getElementById("status").textContent !== "ready"`),
	); err != nil {
		t.Fatalf("the page: %v\n%s", err, report())
	}
	status, err := chromedp.Run(sctx, chromedp.Text(chromedp.ID("status")))
	if want := "signed in ada.passkey@example.com aal2 hwk,user,mfa"; err != nil || status != want {
		t.Fatalf("the page says %q (%v), want %q\n%s", status, err, want, report())
	}
	creds, err := chromedp.Call(bctx, webauthn.GetCredentials, webauthn.GetCredentialsParams(auth))
	if err != nil || len(creds.Credentials) != 1 || !creds.Credentials[0].IsResidentCredential || creds.Credentials[0].RpID != "localhost" {
		t.Errorf("the authenticator holds %+v (%v), want one resident credential for localhost", creds, err)
	}
}
