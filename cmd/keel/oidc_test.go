package main

// Sign-in with an OpenID Connect provider through the real binary: a real
// provider (internal/oidctest) in this process, keel in child processes.
// The flow crosses replicas, outlives nothing it should not (a provider that
// is down creates no account), and a provider keel cannot discover stops it
// at start. Skipped under -short.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keelhq/keel/internal/oidctest"
	"github.com/keelhq/keel/internal/pgtest"
)

// oidcProvider is the provider's name in the process tests' OIDC_PROVIDERS.
const oidcProvider = "corp"

// oidcKeelEnv is the environment of a keel that signs in with p as
// oidcProvider, calls itself apiURL and sends the browser back to redirectTo.
func oidcKeelEnv(p *oidctest.Provider, apiURL, redirectTo string) map[string]string {
	return map[string]string{
		"OIDC_PROVIDERS":          oidcProvider,
		"OIDC_CORP_ISSUER":        p.Issuer,
		"OIDC_CORP_CLIENT_ID":     p.ClientID,
		"OIDC_CORP_CLIENT_SECRET": p.ClientSecret,
		"API_URL":                 apiURL,
		"OAUTH_REDIRECT_URLS":     redirectTo,
	}
}

// front is keel's public address (API_URL) before keel has one: a reverse
// proxy on loopback whose target is set once keel listens, as a load
// balancer in front of the replicas would be.
type front struct {
	URL    string
	target atomic.Pointer[url.URL]
}

func startFront(t *testing.T) *front {
	t.Helper()
	f := &front{}
	srv := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		if to := f.target.Load(); to != nil {
			r.SetURL(to)
		}
	}})
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

// to makes the front forward to p.
func (f *front) to(p *proc) { f.target.Store(&url.URL{Scheme: "http", Host: p.addr}) }

// proc is the front as a keel to send requests to.
func (f *front) proc() *proc { return &proc{addr: strings.TrimPrefix(f.URL, "http://")} }

// pkce is an app's PKCE pair (RFC 7636), made here and not with keel's
// helpers, so a mistake there cannot hide in the test.
func pkce() (verifier, challenge string) {
	verifier = oidcRandom()
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// oidcRandom is 32 random bytes, base64url: a PKCE verifier's 43 characters.
func oidcRandom() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// noRedirects is hc stopping at every redirect, so each one is seen (and
// checked against the spec).
func noRedirects(hc *http.Client) *http.Client {
	c := *hc
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// get sends a GET (with a bearer token unless it is empty) and returns the
// response with its body read.
func get(ctx context.Context, t *testing.T, hc *http.Client, u, bearer string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := hc.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	return res, body
}

// oidcFlow is one sign-in in progress: the app's PKCE pair and where it
// asked to come back to.
type oidcFlow struct {
	verifier, redirectTo string
}

// authorize starts a sign-in on keel and returns the provider's URL keel
// sent the browser to.
func authorize(ctx context.Context, t *testing.T, hc *http.Client, on *proc, redirectTo string) (oidcFlow, string) {
	t.Helper()
	verifier, challenge := pkce()
	q := url.Values{"redirect_to": {redirectTo}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	res, body := get(ctx, t, noRedirects(hc), on.url("/oauth/"+oidcProvider+"/authorize?"+q.Encode()), "")
	if res.StatusCode != http.StatusFound {
		t.Fatalf("authorize on %s: %d %s", on.addr, res.StatusCode, body)
	}
	return oidcFlow{verifier: verifier, redirectTo: redirectTo}, res.Header.Get("Location")
}

// callback delivers the provider's redirect (callback, at API_URL) to the
// replica on, and returns the one-time code keel put on the app's URL.
func callback(ctx context.Context, t *testing.T, hc *http.Client, on *proc, f oidcFlow, cb *url.URL) string {
	t.Helper()
	res, body := get(ctx, t, noRedirects(hc), on.url(cb.Path+"?"+cb.RawQuery), "")
	if res.StatusCode != http.StatusFound {
		t.Fatalf("callback on %s: %d %s", on.addr, res.StatusCode, body)
	}
	to, err := res.Location()
	if err != nil {
		t.Fatal(err)
	}
	// The app's URL as it was, plus code: nothing else, no token.
	q := to.Query()
	code := q.Get("code")
	q.Del("code")
	want, _ := url.Parse(f.redirectTo)
	to.RawQuery, want.RawQuery = q.Encode(), want.Query().Encode()
	if to.String() != want.String() || code == "" {
		t.Fatalf("callback on %s sent the browser to %s, want %s?code=…", on.addr, res.Header.Get("Location"), f.redirectTo)
	}
	return code
}

// oauthTokens is POST /oauth/token's answer.
type oauthTokens struct {
	Token        string `json:"token"`
	RefreshToken string `json:"refresh_token"`
}

// redeem exchanges the callback's code for a token pair on the replica on.
func redeem(ctx context.Context, t *testing.T, hc *http.Client, on *proc, f oidcFlow, code string) oauthTokens {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"code": code, "code_verifier": f.verifier})
	status, body, err := post(ctx, hc, on.url("/oauth/token"), string(b))
	if err != nil || status != http.StatusOK {
		t.Fatalf("POST /oauth/token on %s: %d %v %s", on.addr, status, err, body)
	}
	var tok oauthTokens
	if err := json.Unmarshal(body, &tok); err != nil || tok.Token == "" || tok.RefreshToken == "" {
		t.Fatalf("POST /oauth/token on %s: %s (%v)", on.addr, body, err)
	}
	return tok
}

// profileOf is GET /profile on the replica on, which must answer 200.
func profileOf(ctx context.Context, t *testing.T, hc *http.Client, on *proc, token string) (id int64, email string) {
	t.Helper()
	res, body := get(ctx, t, hc, on.url("/profile"), token)
	var prof struct {
		ID    int64  `json:"id"`
		Email string `json:"email"`
	}
	if res.StatusCode != http.StatusOK || json.Unmarshal(body, &prof) != nil {
		t.Fatalf("GET /profile on %s: %d %s", on.addr, res.StatusCode, body)
	}
	return prof.ID, prof.Email
}

// browser is a plain client with cookies for the provider's pages: not
// spec-checked, the provider is not keel.
func browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 10 * time.Second}
}

// noSecret fails t if the client secret shows in any of keel's output.
func noSecret(t *testing.T, secret string, ps ...*proc) {
	t.Helper()
	for _, p := range ps {
		if strings.Contains(p.stdout.String()+p.stderr.String(), secret) {
			t.Errorf("keel at %s printed the client secret", p.addr)
		}
	}
}

// TestProcessOIDCAcrossReplicas: two replicas on one PostgreSQL, configured
// alike, with API_URL a front that sends the provider's redirect to replica
// B: the sign-in starts on A, comes back on B, is redeemed on A, and the
// token works on B. A second sign-in, the other way round, finds the same
// account, and a code redeemed on one replica is spent on the other.
func TestProcessOIDCAcrossReplicas(t *testing.T) {
	t.Parallel()
	keelBinary(t) // skips under -short before PostgreSQL is started
	dbURL := pgtest.NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	const app = "https://app.example.com/signed-in"
	prov := oidctest.Start(t)
	fr := startFront(t)
	prov.AllowRedirect(fr.URL + "/oauth/" + oidcProvider + "/callback")
	ada := oidctest.User{Username: "ada", Password: "correct horse", Email: "Ada@Example.com", EmailVerified: true}
	prov.AddUser(ada)

	env := oidcKeelEnv(prov, fr.URL, app)
	env["DATABASE_URL"], env["DB_MAX_CONNS"] = dbURL, "4"
	a, b := launch(t, env), launch(t, env)
	for _, p := range []*proc{a, b} {
		if err := waitListening(p, startTimeout); err != nil {
			t.Fatal(err)
		}
	}
	fr.to(b)
	hc := checkedClient(t, 10*time.Second, nil)

	f, atProvider := authorize(ctx, t, hc, a, app)
	cb := prov.SignIn(t, browser(t), atProvider, ada.Username, ada.Password)
	if got := cb.Scheme + "://" + cb.Host; got != fr.URL {
		t.Fatalf("the provider sent the browser to %s, not API_URL %s", cb, fr.URL)
	}
	// Through the front, as the browser would: it forwards to B.
	code := callback(ctx, t, hc, fr.proc(), f, cb)
	tok := redeem(ctx, t, hc, a, f, code)
	id, email := profileOf(ctx, t, hc, b, tok.Token)
	if email != "ada@example.com" {
		t.Errorf("profile on B: email %q, want the provider's, lower-cased", email)
	}
	if status, body, _ := post(ctx, hc, b.url("/oauth/token"), `{"code":"`+code+`","code_verifier":"`+f.verifier+`"}`); status != http.StatusBadRequest {
		t.Errorf("the code redeemed on A, again on B: %d %s, want 400", status, body)
	}

	// The other way round: start on B, come back on A (directly, with the
	// callback's path and query), redeem on B: the same account.
	f, atProvider = authorize(ctx, t, hc, b, app)
	cb = prov.SignIn(t, browser(t), atProvider, ada.Username, ada.Password)
	code = callback(ctx, t, hc, a, f, cb)
	tok = redeem(ctx, t, hc, b, f, code)
	if id2, _ := profileOf(ctx, t, hc, a, tok.Token); id2 != id {
		t.Errorf("the second sign-in is user %d, the first %d: one provider account, one keel account", id2, id)
	}
	noSecret(t, prov.ClientSecret, a, b)
}

// TestProcessOIDCSignIn: the same walk on one keel process on SQLite, the
// provider's redirect followed through API_URL as a browser would; the
// account is then a keel account like any other (its email is taken).
func TestProcessOIDCSignIn(t *testing.T) {
	t.Parallel()
	keelBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	const app = "http://127.0.0.1:3000/signed-in?from=keel"
	prov := oidctest.Start(t)
	fr := startFront(t)
	prov.AllowRedirect(fr.URL + "/oauth/" + oidcProvider + "/callback")
	grace := oidctest.User{Username: "grace", Password: "hopper", Email: "grace@example.com", EmailVerified: true}
	prov.AddUser(grace)
	k := startKeel(t, oidcKeelEnv(prov, fr.URL+"/", app)) // API_URL's trailing slash is dropped
	fr.to(k)
	hc := checkedClient(t, 10*time.Second, nil)

	f, atProvider := authorize(ctx, t, hc, k, app)
	cb := prov.SignIn(t, browser(t), atProvider, grace.Username, grace.Password)
	code := callback(ctx, t, hc, fr.proc(), f, cb)
	// A wrong verifier spends the code: the right one cannot retry it.
	if status, body, _ := post(ctx, hc, k.url("/oauth/token"), `{"code":"`+code+`","code_verifier":"`+oidcRandom()+`"}`); status != http.StatusBadRequest {
		t.Fatalf("a wrong verifier: %d %s, want 400", status, body)
	}
	if status, _, _ := post(ctx, hc, k.url("/oauth/token"), `{"code":"`+code+`","code_verifier":"`+f.verifier+`"}`); status != http.StatusBadRequest {
		t.Fatalf("the right verifier after a wrong one: %d, want 400 (the code is spent)", status)
	}

	f, atProvider = authorize(ctx, t, hc, k, app)
	cb = prov.SignIn(t, browser(t), atProvider, grace.Username, grace.Password)
	code = callback(ctx, t, hc, fr.proc(), f, cb)
	tok := redeem(ctx, t, hc, k, f, code)
	if _, email := profileOf(ctx, t, hc, k, tok.Token); email != grace.Email {
		t.Errorf("profile email %q, want %q", email, grace.Email)
	}
	if status, body, _ := post(ctx, hc, k.url("/register"), creds(grace.Email, "password123")); status != http.StatusConflict {
		t.Errorf("registering the signed-in email: %d %s, want 409", status, body)
	}
	noSecret(t, prov.ClientSecret, k)
}

// TestProcessOIDCProviderDown: the provider goes down between the user's
// sign-in there and keel's code exchange: the callback is a 502 problem
// that shows nothing internal, and no account is created (the email can
// still register).
func TestProcessOIDCProviderDown(t *testing.T) {
	t.Parallel()
	keelBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	const app = "https://app.example.com/signed-in"
	const apiURL = "https://api.keel.example" // nothing listens: the callback is delivered by hand
	prov := oidctest.Start(t, apiURL+"/oauth/"+oidcProvider+"/callback")
	linus := oidctest.User{Username: "linus", Password: "penguin", Email: "linus@example.com", EmailVerified: true}
	prov.AddUser(linus)
	k := startKeel(t, oidcKeelEnv(prov, apiURL, app))
	hc := checkedClient(t, 20*time.Second, nil)

	_, atProvider := authorize(ctx, t, hc, k, app)
	cb := prov.SignIn(t, browser(t), atProvider, linus.Username, linus.Password)
	if got := cb.Scheme + "://" + cb.Host + cb.Path; got != apiURL+"/oauth/"+oidcProvider+"/callback" {
		t.Fatalf("the provider sent the browser to %s", cb)
	}
	prov.Stop()

	start := time.Now()
	res, body := get(ctx, t, noRedirects(hc), k.url(cb.Path+"?"+cb.RawQuery), "")
	if res.StatusCode != http.StatusBadGateway || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/problem+json") {
		t.Fatalf("callback with the provider down: %d %s %s, want a 502 problem", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("a provider that refuses connections took %v to report", d)
	}
	for _, internal := range []string{prov.Issuer, strings.TrimPrefix(prov.Issuer, "http://"), "refused", "dial", prov.ClientSecret} {
		if strings.Contains(string(body), internal) {
			t.Errorf("the 502 shows %q: %s", internal, body)
		}
	}
	if status, body, _ := post(ctx, hc, k.url("/register"), creds(linus.Email, "password123")); status != http.StatusCreated {
		t.Errorf("registering the email after the failed sign-in: %d %s, want 201 (no account was created)", status, body)
	}
	noSecret(t, prov.ClientSecret, k)
}

// TestProcessOIDCDiscoveryFails: a provider keel cannot discover at start
// (nothing listening, a document naming another issuer, no document) stops
// it at once, with a non-zero exit and a message naming the provider and
// its issuer, and never the client secret. Where the issuer is a server of
// the test's, keel asks once and exits within seconds of the answer: no
// retrying, no waiting for a timeout.
func TestProcessOIDCDiscoveryFails(t *testing.T) {
	t.Parallel()
	keelBinary(t)
	const secret = "discovery-secret-never-shown-5c1e"

	elsewhere := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/openid-configuration" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"issuer":"https://someone-else.example.com","authorization_endpoint":"https://someone-else.example.com/authorize",`+
			`"token_endpoint":"https://someone-else.example.com/token","jwks_uri":"https://someone-else.example.com/keys",`+
			`"id_token_signing_alg_values_supported":["RS256"]}`)
	})
	real := oidctest.Start(t)
	realURL, _ := url.Parse(real.Issuer)

	for _, tt := range []struct {
		name    string
		handler http.Handler // the issuer's server; nil is a closed port
		path    string       // the issuer's path on it
		host    string       // the issuer's host, 127.0.0.1 unless set
	}{
		{name: "nothing listens (a closed port)"},
		{name: "the document names another issuer", handler: elsewhere},
		// The real provider's document names http://127.0.0.1:port.
		{name: "a real provider under another name", handler: httputil.NewSingleHostReverseProxy(realURL), host: "localhost"},
		{name: "no discovery document", handler: http.NotFoundHandler(), path: "/realms/keel"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			issuer := "http://127.0.0.1:" + pgtest.UnusedPort(t)
			var asked atomic.Int64
			var askedAt atomic.Pointer[time.Time]
			if tt.handler != nil {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					now := time.Now()
					askedAt.Store(&now)
					asked.Add(1)
					tt.handler.ServeHTTP(w, r)
				}))
				t.Cleanup(srv.Close)
				issuer = srv.URL + tt.path
				if tt.host != "" {
					issuer = strings.Replace(issuer, "127.0.0.1", tt.host, 1)
				}
			}
			p := launch(t, map[string]string{
				"OIDC_PROVIDERS":              "corp-sso",
				"OIDC_CORP_SSO_ISSUER":        issuer,
				"OIDC_CORP_SSO_CLIENT_ID":     "keel",
				"OIDC_CORP_SSO_CLIENT_SECRET": secret,
				"API_URL":                     "https://api.example.com",
				"OAUTH_REDIRECT_URLS":         "https://app.example.com/signed-in",
			})
			code := p.wait(30 * time.Second)
			exited := time.Now()
			out, errOut := p.stdout.String(), p.stderr.String()
			if code == 0 || code == -1 {
				t.Errorf("exit code %d (%v), want a non-zero exit", code, p.waitErr)
			}
			if tt.handler != nil {
				// oidc.Timeout is 10 s: only an answer that never comes may
				// take that long.
				if n := asked.Load(); n != 1 {
					t.Errorf("keel asked the issuer %d times, want once", n)
				} else if d := exited.Sub(*askedAt.Load()); d > 5*time.Second {
					t.Errorf("keel exited %v after the issuer answered", d)
				}
			}
			if !strings.HasPrefix(errOut, "keel: ") || !strings.Contains(errOut, `"corp-sso"`) || !strings.Contains(errOut, issuer) {
				t.Errorf("stderr does not name the provider and its issuer %s:\n%s", issuer, errOut)
			}
			if strings.Contains(out+errOut, secret) {
				t.Errorf("the client secret is in keel's output:\nstdout:\n%s\nstderr:\n%s", out, errOut)
			}
			for _, bad := range []string{"panic", "goroutine ", `"msg":"listening"`} {
				if strings.Contains(out+errOut, bad) {
					t.Errorf("output holds %q:\nstdout:\n%s\nstderr:\n%s", bad, out, errOut)
				}
			}
			t.Logf("exit %d: %s", code, strings.TrimSpace(errOut))
		})
	}
}
