package main

// A real browser (headless Chromium through chromedp) signs in with a real
// provider: the app's page makes the PKCE pair with Web Crypto, the browser
// goes to keel, to the provider's login form, back through keel's callback
// to the page, which redeems the code and reads the profile cross-origin
// (CORS). What a browser does and a Go client does not: cookies, redirects,
// sessionStorage, preflights, secure-context crypto.

import (
	"context"
	"errors"
	"html/template"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/keelhq/keel/internal/oidctest"
)

// appPage is the test's own app: a "Sign in" button that starts the flow,
// and on the way back (?code=) the redemption and the profile, whose email
// it writes into #email; anything that goes wrong goes into #status.
var appPage = template.Must(template.New("app").Parse(`<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>app</title></head>
<body>
<button id="start" type="button">Sign in</button>
<p id="status"></p>
<p id="email"></p>
<script>
const keel = {{.Keel}}, provider = {{.Provider}};
const here = location.origin + location.pathname;
const status = (s) => { document.getElementById("status").textContent = s; };
const b64url = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

document.getElementById("start").addEventListener("click", async () => {
  try {
    const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
    const challenge = b64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
    sessionStorage.setItem("pkce_verifier", verifier);
    const q = new URLSearchParams({redirect_to: here, code_challenge: challenge, code_challenge_method: "S256"});
    location.assign(keel + "/oauth/" + provider + "/authorize?" + q);
  } catch (e) {
    status("start failed: " + e);
  }
});

(async () => {
  const q = new URLSearchParams(location.search);
  if (q.has("error")) { status("refused: " + q.get("error") + ": " + q.get("error_description")); return; }
  if (!q.has("code")) { status("ready"); return; }
  const verifier = sessionStorage.getItem("pkce_verifier");
  sessionStorage.removeItem("pkce_verifier");
  history.replaceState(null, "", here); // the code is spent: out of the address bar
  if (!verifier) { status("no verifier in sessionStorage"); return; }
  const t = await fetch(keel + "/oauth/token", {
    method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({code: q.get("code"), code_verifier: verifier}),
  });
  if (!t.ok) { status("POST /oauth/token: " + t.status + " " + await t.text()); return; }
  const tokens = await t.json();
  const p = await fetch(keel + "/profile", {headers: {Authorization: "Bearer " + tokens.token}});
  if (!p.ok) { status("GET /profile: " + p.status + " " + await p.text()); return; }
  document.getElementById("email").textContent = (await p.json()).email;
  status("signed in");
})().catch((e) => status("failed: " + e));
</script>
</body>
</html>
`))

func TestBrowserOIDCSignIn(t *testing.T) {
	t.Parallel()
	keelBinary(t)
	chromePath := chromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 55*time.Second)
	defer cancel()

	// The app, on an origin of its own; keel's address is known only once
	// it listens, so the page reads it late.
	var (
		mu      sync.Mutex
		keelURL string
		queries []string // what the app's URL was loaded with, each time
	)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/app" {
			http.NotFound(w, r)
			return
		}
		mu.Lock()
		k := keelURL
		queries = append(queries, r.URL.RawQuery)
		mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		appPage.Execute(w, struct{ Keel, Provider string }{k, oidcProvider})
	}))
	t.Cleanup(app.Close)
	appURL := app.URL + "/app"

	prov := oidctest.Start(t)
	ada := oidctest.User{Username: "ada", Password: "correct horse battery", Email: "ada.browser@example.com", EmailVerified: true}
	prov.AddUser(ada)
	fr := startFront(t)
	prov.AllowRedirect(fr.URL + "/oauth/" + oidcProvider + "/callback")
	env := oidcKeelEnv(prov, fr.URL, appURL)
	env["CORS_ORIGINS"] = app.URL
	k := startKeel(t, env)
	fr.to(k)
	mu.Lock()
	keelURL = "http://" + k.addr
	mu.Unlock()

	bctx, report := newBrowser(ctx, t, chromePath, k)
	step := func(name string, timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(bctx, timeout)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, report())
		}
	}
	// loads runs trigger and waits for the page load it causes; redirects
	// on the way are not loads.
	loads := func(trigger chromedp.Action[chromedp.Void]) chromedp.Action[chromedp.Void] {
		return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
			_, err := chromedp.WaitEvent(page.LoadEventFired, nil, trigger)(ctx, t)
			return chromedp.Void{}, err
		}
	}

	ready := `document.getElementById("status") && document.getElementById("status").textContent !== ""`
	step("open the app", 15*time.Second,
		chromedp.Navigate(appURL),
		chromedp.Poll[chromedp.Void](ready),
	)
	// The app's button: Web Crypto, sessionStorage, keel's authorize, the
	// provider's login page.
	step("to the provider's login form", 15*time.Second,
		loads(chromedp.Click(chromedp.ID("start"))),
		chromedp.WaitVisible(chromedp.ID("username")),
	)
	step("sign in at the provider", 15*time.Second,
		chromedp.SendKeys(chromedp.ID("username"), ada.Username),
		chromedp.SendKeys(chromedp.ID("password"), ada.Password),
		// The provider's redirect to API_URL's callback, keel's to the app.
		loads(chromedp.Click(chromedp.ID("sign-in"))),
		chromedp.Poll[chromedp.Void](ready+` && document.getElementById("status").textContent !== "ready"`),
	)
	rctx, cancelRead := context.WithTimeout(bctx, 5*time.Second)
	defer cancelRead()
	status, err1 := chromedp.Run(rctx, chromedp.Text(chromedp.ID("status")))
	email, err2 := chromedp.Run(rctx, chromedp.Text(chromedp.ID("email")))
	where, err3 := chromedp.Run(rctx, chromedp.Location())
	if err := errors.Join(err1, err2, err3); err != nil || status != "signed in" || email != ada.Email {
		t.Fatalf("the app says %q with email %q (%v), want %q\n%s", status, email, err, ada.Email, report())
	}
	if where != appURL {
		t.Errorf("the app's address is %s after the sign-in, want %s (the code cleared)", where, appURL)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(queries) != 2 || queries[0] != "" || !strings.HasPrefix(queries[1], "code=") || strings.Contains(queries[1], "&") {
		t.Errorf("the app was loaded with %q, want once plain and once with only ?code=", queries)
	}
	noSecret(t, prov.ClientSecret, k)
}
