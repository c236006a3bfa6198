package server

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/gen/oapi"
	"github.com/keelhq/keel/internal/oidc"
	"github.com/keelhq/keel/internal/oidctest"
)

// Sign-in with OpenID Connect providers, end to end: keel's router in
// process, a real OpenID Provider (internal/oidctest) on 127.0.0.1, and the
// browser between them played by the provider's SignIn, which stops at
// keel's callback URL; the test then calls that on keel's router.

const (
	// keelURL is keel's API_URL as the provider knows it: nothing listens
	// there, the tests call the callback on the router themselves.
	keelURL = "http://keel.test"
	// appURL is the one OAUTH_REDIRECT_URLS entry.
	appURL = "https://app.example/done"
	// idpPassword is every provider user's password.
	idpPassword = "correct horse battery"
)

// oauthAPI is a test API with two providers, "corp" and "other", both
// clients of one oidctest provider (a user there has the same subject at
// both), and appURL as the only redirect_to.
type oauthAPI struct {
	*testAPI
	p *oidctest.Provider
	// seen are the states, nonces and codes the test saw, none of which may
	// be in the log; shared with the subtests' copies.
	seen *seen
}

type seen struct {
	mu      sync.Mutex
	secrets []string
}

// trustedAudience is the audience the provider "other" trusts besides its
// client id (OIDC_OTHER_TRUSTED_AUDIENCES).
const trustedAudience = "api-gateway"

func newOAuthAPI(t *testing.T) *oauthAPI {
	t.Helper()
	return newOAuthAPIWith(t, nil)
}

// newOAuthAPIWith is newOAuthAPI whose Server's dependencies deps adjusts.
func newOAuthAPIWith(t *testing.T, deps func(*Deps)) *oauthAPI {
	t.Helper()
	return buildOAuthAPI(t, false, deps)
}

// newOAuthAPILinkingByEmail is newOAuthAPI whose provider "corp" may link
// by email (OIDC_CORP_LINK_BY_EMAIL=true); "other" may not.
func newOAuthAPILinkingByEmail(t *testing.T) *oauthAPI {
	t.Helper()
	return buildOAuthAPI(t, true, nil)
}

// buildOAuthAPI is newOAuthAPIWith, whose "corp" links by email when
// corpLinksByEmail.
func buildOAuthAPI(t *testing.T, corpLinksByEmail bool, deps func(*Deps)) *oauthAPI {
	t.Helper()
	p := oidctest.Start(t, oidc.CallbackURL(keelURL, "corp"))
	p.AllowRedirect(oidc.CallbackURL(keelURL, "other"))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	cfg := func(name string) oidc.Config {
		return oidc.Config{Name: name, Issuer: p.Issuer, ClientID: p.ClientID, ClientSecret: p.ClientSecret,
			LinkByEmail: corpLinksByEmail && name == "corp"}
	}
	other := cfg("other")
	other.TrustedAudiences = []string{trustedAudience}
	ps, err := oidc.Discover(ctx, keelURL, []oidc.Config{cfg("corp"), other}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := &oauthAPI{
		testAPI: newTestAPIWithProviders(t, ps, deps, func(c *Config) { c.RedirectURLs = []string{appURL} }),
		p:       p,
		seen:    &seen{},
	}
	// Runs first among the cleanups, after the test's last request.
	t.Cleanup(func() {
		logs := a.logs.String()
		a.seen.mu.Lock()
		defer a.seen.mu.Unlock()
		for _, s := range append(a.seen.secrets, p.ClientSecret) {
			if s != "" && strings.Contains(logs, s) {
				t.Errorf("a secret (%.8s…) is in the log", s)
			}
		}
	})
	return a
}

// forInput is the API for a subtest.
func (a *oauthAPI) forInput(t *testing.T) *oauthAPI {
	c := *a.testAPI
	c.t = t
	return &oauthAPI{testAPI: &c, p: a.p, seen: a.seen}
}

func (a *oauthAPI) remember(secrets ...string) {
	a.seen.mu.Lock()
	defer a.seen.mu.Unlock()
	a.seen.secrets = append(a.seen.secrets, secrets...)
}

// user adds username at the provider with email and returns its subject.
func (a *oauthAPI) user(username, email string, verified bool) string {
	return a.p.AddUser(oidctest.User{Username: username, Password: idpPassword, Email: email, EmailVerified: verified})
}

// app is one sign-in as the app runs it: its PKCE verifier.
type app struct{ verifier string }

func newApp() app { return app{verifier: oidc.Random(32)} }

func (c app) challenge() string { return oidc.S256(c.verifier) }

// authorizeRec is GET /oauth/{provider}/authorize as the app sends the browser there.
func (a *oauthAPI) authorizeRec(provider, redirectTo string, c app) *httptest.ResponseRecorder {
	a.t.Helper()
	q := url.Values{"redirect_to": {redirectTo}, "code_challenge": {c.challenge()}, "code_challenge_method": {"S256"}}
	return a.do("GET", "/oauth/"+provider+"/authorize?"+q.Encode(), "")
}

// authorize starts a sign-in with provider and returns the provider URL.
func (a *oauthAPI) authorize(provider string, c app) string {
	a.t.Helper()
	rec := a.status(a.authorizeRec(provider, appURL, c), http.StatusFound, "authorize")
	return a.toProvider(rec.Header().Get("Location"))
}

// toProvider checks a provider URL keel made and remembers its secrets.
func (a *oauthAPI) toProvider(location string) string {
	a.t.Helper()
	u, err := url.Parse(location)
	if err != nil || !strings.HasPrefix(location, a.p.Issuer+"/") {
		a.t.Fatalf("not the provider's URL: %q", location)
	}
	q := u.Query()
	if q.Get("state") == "" || q.Get("nonce") == "" || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" {
		a.t.Fatalf("the provider URL lacks state, nonce or PKCE: %s", location)
	}
	a.remember(q.Get("state"), q.Get("nonce"), q.Get("code_challenge"))
	return location
}

// atProvider signs in as username at the provider, in a fresh browser, and
// returns keel's callback URL the provider sends the browser to.
func (a *oauthAPI) atProvider(providerURL, username string) *url.URL {
	a.t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		a.t.Fatal(err)
	}
	cb := a.p.SignIn(a.t, &http.Client{Jar: jar, Timeout: 10 * time.Second}, providerURL, username, idpPassword)
	if !strings.HasPrefix(cb.String(), keelURL+"/oauth/") {
		a.t.Fatalf("the provider sent the browser to %s, not to keel's callback", cb)
	}
	a.remember(cb.Query().Get("code"))
	return cb
}

// callback calls keel's callback URL on the router.
func (a *oauthAPI) callback(cb *url.URL) *httptest.ResponseRecorder {
	a.t.Helper()
	return a.do("GET", cb.RequestURI(), "")
}

// back is what a callback sent the app on redirect_to; it fails the test
// unless the callback was a redirect there.
func (a *oauthAPI) back(rec *httptest.ResponseRecorder) url.Values {
	a.t.Helper()
	a.status(rec, http.StatusFound, "callback")
	loc, err := url.Parse(rec.Header().Get("Location"))
	if err != nil {
		a.t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != appURL {
		a.t.Fatalf("the callback sent the browser to %s, not to redirect_to", loc)
	}
	q := loc.Query()
	a.remember(q.Get("code"))
	return q
}

// code is the code on a successful callback's redirect.
func (a *oauthAPI) code(q url.Values) string {
	a.t.Helper()
	if q.Get("code") == "" || q.Has("error") {
		a.t.Fatalf("the app got no code: %v", q)
	}
	return q.Get("code")
}

// refused checks that the app got error code and no code.
func (a *oauthAPI) refused(q url.Values, code string) {
	a.t.Helper()
	if q.Get("error") != code || q.Get("error_description") == "" || q.Has("code") {
		a.t.Errorf("the app got %v, want error=%s with a description and no code", q, code)
	}
}

// signIn runs a whole sign-in as username with provider, up to what the app
// gets back on redirect_to.
func (a *oauthAPI) signIn(provider, username string, c app) url.Values {
	a.t.Helper()
	return a.back(a.callback(a.atProvider(a.authorize(provider, c), username)))
}

// exchange is POST /oauth/token.
func (a *oauthAPI) exchange(code, verifier string) *httptest.ResponseRecorder {
	a.t.Helper()
	return a.do("POST", "/oauth/token", jsonBody("code", code, "code_verifier", verifier))
}

// mustSignIn signs username in with corp and returns the app's token pair.
func (a *oauthAPI) mustSignIn(username string) oapi.Token {
	a.t.Helper()
	c := newApp()
	code := a.code(a.signIn("corp", username, c))
	return decode[oapi.Token](a.t, a.status(a.exchange(code, c.verifier), http.StatusOK, "token"))
}

// profile is GET /profile, which must answer.
func (a *oauthAPI) profile(tok string) oapi.User {
	a.t.Helper()
	return decode[oapi.User](a.t, a.status(a.do("GET", "/profile", "", bearer(tok)...), http.StatusOK, "profile"))
}

// identities is GET /profile/identities, which must answer.
func (a *oauthAPI) identities(tok string) []oapi.Identity {
	a.t.Helper()
	return decode[[]oapi.Identity](a.t, a.status(a.do("GET", "/profile/identities", "", bearer(tok)...), http.StatusOK, "identities"))
}

// rows counts what a sign-in creates, and the flows waiting for a callback.
type rows struct{ users, identities, codes, flows, verifyJobs int }

func (a *oauthAPI) rows() rows {
	a.t.Helper()
	var r rows
	err := a.db.raw.QueryRow(`SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM identities),
		(SELECT count(*) FROM oauth_codes), (SELECT count(*) FROM oauth_flows),
		(SELECT count(*) FROM river_job WHERE kind = 'verify-email')`).
		Scan(&r.users, &r.identities, &r.codes, &r.flows, &r.verifyJobs)
	if err != nil {
		a.t.Fatal(err)
	}
	return r
}

// nothingCreated checks that no user, identity, code or email came since before.
func (a *oauthAPI) nothingCreated(before rows, what string) {
	a.t.Helper()
	after := a.rows()
	before.flows, after.flows = 0, 0
	if after != before {
		a.t.Errorf("%s created something: %+v, before %+v", what, after, before)
	}
}

// signIns is keel_oidc_signins_total by result, for provider.
func (a *oauthAPI) signIns(provider string) map[string]int {
	a.t.Helper()
	body := a.status(a.do("GET", "/metrics", ""), http.StatusOK, "metrics").Body.String()
	out := map[string]int{}
	prefix := fmt.Sprintf(`keel_oidc_signins_total{provider=%q,result="`, provider)
	for _, line := range strings.Split(body, "\n") {
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			var result string
			var n int
			if i := strings.Index(rest, `"} `); i > 0 {
				result = rest[:i]
				_, err := fmt.Sscan(rest[i+3:], &n)
				if err != nil {
					a.t.Fatalf("metrics line %q: %v", line, err)
				}
			}
			out[result] = n
		}
	}
	return out
}

// TestOAuthNewUser: a first sign-in creates an account with the provider's
// email in lower case, verified as the provider says (a verification email
// queued otherwise, as for a registration), without a password, and with
// the identity listed.
func TestOAuthNewUser(t *testing.T) {
	t.Parallel()
	a := newOAuthAPI(t)
	a.mustRegister("someone@example.com", "password123")
	wrongPassword := a.status(a.do("POST", "/login", credentials("someone@example.com", "not-the-password")), 401, "wrong password")

	for _, verified := range []bool{true, false} {
		t.Run(fmt.Sprint("email_verified=", verified), func(t *testing.T) {
			a := a.forInput(t)
			name := fmt.Sprint("ada-", verified)
			sub := a.user(name, "Ada."+name+"@Example.COM", verified)
			email := "ada." + name + "@example.com"
			before := a.rows()

			tok := a.mustSignIn(name)
			// RFC 8176 registers no method for a federated sign-in: keel's
			// own is a URI it owns, never a short name a registration could
			// give another meaning.
			wantClaims(t, tok.Token, "aal1", "urn:keel:amr:fed")
			u := a.profile(tok.Token)
			if u.Email != email || u.EmailVerified != verified {
				t.Errorf("the account is %s, verified %v; want %s, %v", u.Email, u.EmailVerified, email, verified)
			}
			after := a.rows()
			wantJobs := 1
			if verified {
				wantJobs = 0
			}
			if after.users != before.users+1 || after.identities != before.identities+1 || after.verifyJobs != before.verifyJobs+wantJobs {
				t.Errorf("rows %+v, before %+v: want one user, one identity, %d verification email", after, before, wantJobs)
			}

			// No password: every one is wrong, as a wrong one is.
			for _, pw := range []string{"password123", "any password at all"} {
				rec := a.do("POST", "/login", credentials(email, pw))
				if rec.Code != wrongPassword.Code || detailOf(t, rec) != detailOf(t, wrongPassword) {
					t.Errorf("login with %q: %d %s; want as a wrong password: %d %s", pw, rec.Code, rec.Body, wrongPassword.Code, wrongPassword.Body)
				}
			}

			ids := a.identities(tok.Token)
			if len(ids) != 1 || ids[0].Provider != "corp" || ids[0].Subject != sub || ids[0].Email != email || ids[0].ID < 1 {
				t.Errorf("identities %+v, want one: corp, %s, %s", ids, sub, email)
			}
		})
	}
	if got := a.signIns("corp")["new_user"]; got != 2 {
		t.Errorf("keel_oidc_signins_total new_user = %d, want 2", got)
	}
}

// detailOf is a problem's status and detail, the same for every request.
func detailOf(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	p := problemOf(t, rec)
	d := ""
	if p.Detail != nil {
		d = *p.Detail
	}
	return fmt.Sprint(p.Status, " ", p.Title, " ", d)
}

// TestOAuthReturningUser: signing in again, even with another email at the
// provider, is the same account and adds nothing.
func TestOAuthReturningUser(t *testing.T) {
	t.Parallel()
	a := newOAuthAPI(t)
	a.user("ada", "ada@example.com", true)
	first := a.profile(a.mustSignIn("ada").Token)
	before := a.rows()

	a.user("ada", "ada@elsewhere.example", true)
	tok := a.mustSignIn("ada")
	if again := a.profile(tok.Token); again.ID != first.ID {
		t.Errorf("the second sign-in is user %d, the first was %d", again.ID, first.ID)
	}
	after := a.rows()
	if after.users != before.users || after.identities != before.identities {
		t.Errorf("the second sign-in added rows: %+v, before %+v", after, before)
	}
	if ids := a.identities(tok.Token); len(ids) != 1 {
		t.Errorf("identities %+v, want one", ids)
	}
	m := a.signIns("corp")
	if m["new_user"] != 1 || m["returning"] != 1 {
		t.Errorf("keel_oidc_signins_total %v, want new_user 1 and returning 1", m)
	}
}

// TestOAuthLinkingRules: a provider sign-in with the email of an existing
// account links to it only when the provider may link by email
// (OIDC_<NAME>_LINK_BY_EMAIL, off by default) and has verified the address;
// otherwise the app gets account_exists and nothing is created. An account
// whose address was unverified is taken over: its password (perhaps a
// squatter's) no longer signs in.
func TestOAuthLinkingRules(t *testing.T) {
	t.Parallel()
	apis := map[bool]*oauthAPI{false: newOAuthAPI(t), true: newOAuthAPILinkingByEmail(t)}
	tests := []struct {
		linkByEmail       bool
		provider, account bool // email verified by
		linked            bool
	}{
		{linkByEmail: false, provider: true, account: true},
		{linkByEmail: false, provider: true, account: false},
		{linkByEmail: false, provider: false, account: true},
		{linkByEmail: false, provider: false, account: false},
		{linkByEmail: true, provider: true, account: true, linked: true},
		{linkByEmail: true, provider: true, account: false, linked: true},
		{linkByEmail: true, provider: false, account: true},
		{linkByEmail: true, provider: false, account: false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("link by email %v, provider %v, account %v", tt.linkByEmail, tt.provider, tt.account), func(t *testing.T) {
			a := apis[tt.linkByEmail].forInput(t)
			name := fmt.Sprintf("u-%v-%v", tt.provider, tt.account)
			email := name + "@example.com"
			register := a.mustRegisterUnverified
			if tt.account {
				register = a.mustRegister
			}
			user := register(email, "password123")
			// The provider's letter case does not matter.
			a.user(name, strings.ToUpper(email), tt.provider)
			before := a.rows()

			c := newApp()
			q := a.signIn("corp", name, c)
			if !tt.linked {
				a.refused(q, "account_exists")
				a.nothingCreated(before, "a refused link")
				return
			}
			tok := decode[oapi.Token](t, a.status(a.exchange(a.code(q), c.verifier), 200, "token"))
			if got := a.profile(tok.Token); got.ID != user.ID || !got.EmailVerified {
				t.Errorf("signed in as user %d (verified %v), want the account %d, verified", got.ID, got.EmailVerified, user.ID)
			}
			if ids := a.identities(tok.Token); len(ids) != 1 || ids[0].Provider != "corp" {
				t.Errorf("identities %+v, want the corp one", ids)
			}
			if after := a.rows(); after.users != before.users {
				t.Errorf("a link created a user: %+v, before %+v", after, before)
			}
			if tt.account {
				a.mustLogin(email, "password123") // the owner's password still works
			} else {
				a.status(a.do("POST", "/login", credentials(email, "password123")), http.StatusUnauthorized, "the unverified account's password")
			}
		})
	}
	for linkByEmail, wantLinked := range map[bool]int{false: 0, true: 2} {
		if m := apis[linkByEmail].signIns("corp"); m["linked"] != wantLinked || m["account_exists"] != 4-wantLinked {
			t.Errorf("link by email %v: keel_oidc_signins_total %v, want linked %d and account_exists %d", linkByEmail, m, wantLinked, 4-wantLinked)
		}
	}
}

// linkRec is POST /profile/identities/{provider} with the given redirect_to.
func (a *oauthAPI) linkRec(tok, provider, redirectTo string, c app) *httptest.ResponseRecorder {
	a.t.Helper()
	return a.do("POST", "/profile/identities/"+provider, jsonBody("redirect_to", redirectTo, "code_challenge", c.challenge()), bearer(tok)...)
}

// link links username at provider to the signed-in user of tok and returns
// what the app gets back.
func (a *oauthAPI) link(tok, provider, username string, c app) url.Values {
	a.t.Helper()
	res := decode[oapi.AuthorizeURL](a.t, a.status(a.linkRec(tok, provider, appURL, c), http.StatusOK, "link"))
	return a.back(a.callback(a.atProvider(a.toProvider(res.AuthorizeURL), username)))
}

// storedLinkCode stores, for the signed-in user of tok, the code of a link
// flow for subject at provider, as a callback would have before link flows
// needed a verified address (a flow begun before an upgrade), and returns it.
func (a *oauthAPI) storedLinkCode(tok, provider, subject, email string, c app) string {
	a.t.Helper()
	p, err := a.srv.tokens.Verify(tok)
	if err != nil {
		a.t.Fatal(err)
	}
	code := oidc.Random(32)
	err = a.store.CreateOAuthCode(a.t.Context(), db.OAuthCode{Hash: db.HashToken(code), UserID: p.UserID, Provider: provider,
		CodeChallenge: c.challenge(), Link: &db.ProviderUser{Provider: provider, Subject: subject, Email: email, EmailVerified: true},
		LinkSessionID: p.SessionID, ExpiresAt: a.clock.Now().Add(time.Minute)})
	if err != nil {
		a.t.Fatal(err)
	}
	return code
}

// unverifiedRefusal checks a 403 email-unverified answer.
func (a *oauthAPI) unverifiedRefusal(rec *httptest.ResponseRecorder, what string) {
	a.t.Helper()
	if p := problemOf(a.t, a.status(rec, http.StatusForbidden, what)); p.Type != emailUnverifiedType {
		a.t.Errorf("%s: problem type %q, want %q", what, p.Type, emailUnverifiedType)
	}
}

// TestOAuthLinkIdentity: a signed-in user links a provider account: the
// callback only leaves a code, and POST /oauth/token with the app's verifier
// links it and signs the same user in; an identity of another user is a 409
// there, linking nothing.
func TestOAuthLinkIdentity(t *testing.T) {
	t.Parallel()
	a := newOAuthAPI(t)
	ada := a.mustRegister("ada@example.com", "password123")
	tok := a.mustLogin("ada@example.com", "password123")
	sub := a.user("ada-at-corp", "ada@corp.example", false) // linking needs no verified email
	a.user("bob", "bob@corp.example", true)
	bob := a.mustSignIn("bob")

	c := newApp()
	before := a.rows()
	q := a.link(tok, "corp", "ada-at-corp", c)
	code := a.code(q)
	if ids := a.identities(tok); len(ids) != 0 {
		t.Errorf("identities after the callback %+v, want none until the app redeems the code", ids)
	}
	if after := a.rows(); after.identities != before.identities || after.codes != before.codes+1 {
		t.Errorf("rows after the callback %+v, before %+v: want a code and no identity", after, before)
	}
	linked := decode[oapi.Token](t, a.status(a.exchange(code, c.verifier), http.StatusOK, "token"))
	if got := a.profile(linked.Token); got.ID != ada.ID {
		t.Errorf("the link's code signed in user %d, want %d", got.ID, ada.ID)
	}
	if ids := a.identities(tok); len(ids) != 1 || ids[0].Provider != "corp" || ids[0].Subject != sub || ids[0].Email != "ada@corp.example" {
		t.Errorf("identities %+v, want corp/%s", ids, sub)
	}

	t.Run("another user's identity", func(t *testing.T) {
		a := a.forInput(t)
		before := a.rows()
		c := newApp()
		code := a.code(a.link(tok, "corp", "bob", c))
		sessions := a.sessionCount(ada.ID)
		p := problemOf(t, a.status(a.exchange(code, c.verifier), http.StatusConflict, "token of a taken identity"))
		if p.Detail == nil || !strings.Contains(*p.Detail, "another keel account") {
			t.Errorf("problem %+v: want a detail that says another account has it", p)
		}
		a.nothingCreated(before, "identity_taken")
		if got := a.sessionCount(ada.ID); got != sessions {
			t.Errorf("ada has %d sessions, want %d: a refused link starts none", got, sessions)
		}
		if ids := a.identities(bob.Token); len(ids) != 1 {
			t.Errorf("bob's identities %+v, want his one", ids)
		}
		if ids := a.identities(tok); len(ids) != 1 || ids[0].Subject != sub {
			t.Errorf("ada's identities %+v, want her one", ids)
		}
		a.status(a.exchange(code, c.verifier), http.StatusBadRequest, "the code again: spent")
	})
	t.Run("refused before the provider", func(t *testing.T) {
		a := a.forInput(t)
		before := a.rows()
		a.status(a.linkRec(tok, "nope", appURL, newApp()), http.StatusNotFound, "unknown provider")
		p := problemOf(t, a.status(a.linkRec(tok, "corp", "https://evil.example/done", newApp()), http.StatusBadRequest, "redirect_to"))
		if p.Errors == nil || (*p.Errors)[0].Field != "/redirect_to" {
			t.Errorf("problem %+v does not name /redirect_to", p)
		}
		a.status(a.linkRec("", "corp", appURL, newApp()), http.StatusUnauthorized, "no bearer")
		if after := a.rows(); after != before {
			t.Errorf("refused links stored something: %+v, before %+v", after, before)
		}
	})
	m := a.signIns("corp")
	if m["link_pending"] != 2 || m["linked"] != 1 || m["identity_taken"] != 1 {
		t.Errorf("keel_oidc_signins_total %v, want link_pending 2, linked 1 and identity_taken 1", m)
	}
}

// sessionCount is how many sessions the user has.
func (a *oauthAPI) sessionCount(userID int64) int {
	a.t.Helper()
	var n int
	if err := a.db.raw.QueryRow(fmt.Sprint(`SELECT count(*) FROM sessions WHERE user_id = `, userID)).Scan(&n); err != nil {
		a.t.Fatal(err)
	}
	return n
}

// TestOAuthLinkCSRF: someone signed in starts a link and lures a victim
// through its provider URL. The victim's browser signs in at the provider
// and brings the code to the victim's app, which cannot redeem it without
// the verifier of the challenge the attacker sent: nothing is linked, and
// the victim's provider account stays theirs to sign in with.
func TestOAuthLinkCSRF(t *testing.T) {
	t.Parallel()
	a := newOAuthAPI(t)
	a.mustRegister("mallory@example.com", "password123")
	mallory := a.mustLogin("mallory@example.com", "password123")
	sub := a.user("victim", "victim@example.com", true)

	malloryApp := newApp()
	res := decode[oapi.AuthorizeURL](t, a.status(a.linkRec(mallory, "corp", appURL, malloryApp), http.StatusOK, "link"))
	lure := a.toProvider(res.AuthorizeURL)
	before := a.rows()

	// The victim's browser (its own cookie jar) signs in as the victim.
	code := a.code(a.back(a.callback(a.atProvider(lure, "victim"))))
	if ids := a.identities(mallory); len(ids) != 0 {
		t.Errorf("mallory's identities after the callback %+v, want none", ids)
	}
	victimApp := newApp()
	p := problemOf(t, a.status(a.exchange(code, victimApp.verifier), http.StatusBadRequest, "the victim's app redeems the code"))
	if p.Errors == nil || (*p.Errors)[0].Field != "/code" {
		t.Errorf("problem %+v does not name /code", p)
	}
	a.nothingCreated(before, "a lured link")
	if ids := a.identities(mallory); len(ids) != 0 {
		t.Errorf("mallory's identities %+v, want none", ids)
	}
	// The code was spent: mallory, had she it, could not redeem it either.
	a.status(a.exchange(code, malloryApp.verifier), http.StatusBadRequest, "the attacker's verifier after")

	// The victim signs in with the provider later: their own new account.
	tok := a.mustSignIn("victim")
	if u := a.profile(tok.Token); u.Email != "victim@example.com" {
		t.Errorf("the victim signed in as %s, want their own account", u.Email)
	}
	if ids := a.identities(tok.Token); len(ids) != 1 || ids[0].Subject != sub {
		t.Errorf("the victim's identities %+v, want corp/%s", ids, sub)
	}
	if ids := a.identities(mallory); len(ids) != 0 {
		t.Errorf("mallory's identities %+v, want none", ids)
	}
	m := a.signIns("corp")
	if m["link_pending"] != 1 || m["linked"] != 0 || m["new_user"] != 1 {
		t.Errorf("keel_oidc_signins_total %v, want link_pending 1, linked 0 and new_user 1", m)
	}
}

// TestOAuthPreAccountHijacking: someone signs in through a provider that
// has not verified the address with the victim's email, before the victim
// has an account. The account is created, but the identity is untrusted:
// when the victim proves the mailbox (a password reset, or signing in with
// a provider that verified it and may link by email) the squatter's
// identity and sessions go, and signing in with it again is refused
// (account_exists).
func TestOAuthPreAccountHijacking(t *testing.T) {
	t.Parallel()
	a := newOAuthAPILinkingByEmail(t)
	a.startJobs()

	t.Run("a password reset", func(t *testing.T) {
		a := a.forInput(t)
		const email = "victim@example.com"
		a.user("mallory", email, false)
		squat := a.mustSignIn("mallory")
		if u := a.profile(squat.Token); u.Email != email || u.EmailVerified {
			t.Fatalf("the squatter's account is %s, verified %v; want %s, unverified", u.Email, u.EmailVerified, email)
		}

		a.status(a.do("POST", "/password/forgot", jsonBody("email", email)), http.StatusAccepted, "forgot")
		reset := a.waitEmail(email, "Reset", 0)
		a.status(a.do("POST", "/password/reset", jsonBody("token", reset, "new_password", "victims-password")), http.StatusNoContent, "reset")

		if got := a.profileStatus(squat.Token); got != http.StatusUnauthorized {
			t.Errorf("the squatter's session after the reset: %d, want 401", got)
		}
		a.status(a.refresh(squat.RefreshToken), http.StatusUnauthorized, "the squatter's refresh after the reset")
		before := a.rows()
		a.refused(a.signIn("corp", "mallory", newApp()), "account_exists")
		a.nothingCreated(before, "the squatter's sign-in after the reset")

		victim := a.mustLogin(email, "victims-password")
		if ids := a.identities(victim); len(ids) != 0 {
			t.Errorf("the victim's identities %+v, want none: the squatter's is gone", ids)
		}
	})

	t.Run("a sign-in with a provider that verified the address", func(t *testing.T) {
		a := a.forInput(t)
		const email = "grace@example.com"
		a.user("mallory2", email, false)
		squat := a.mustSignIn("mallory2")

		sub := a.user("grace", email, true)
		c := newApp()
		q := a.signIn("corp", "grace", c)
		victim := decode[oapi.Token](t, a.status(a.exchange(a.code(q), c.verifier), http.StatusOK, "token"))
		if got := a.profileStatus(squat.Token); got != http.StatusUnauthorized {
			t.Errorf("the squatter's session after the link by email: %d, want 401", got)
		}
		a.status(a.refresh(squat.RefreshToken), http.StatusUnauthorized, "the squatter's refresh after the link by email")
		if got := a.profileStatus(victim.Token); got != http.StatusOK {
			t.Errorf("the victim's new session: %d, want 200", got)
		}
		if ids := a.identities(victim.Token); len(ids) != 1 || ids[0].Subject != sub {
			t.Errorf("the victim's identities %+v, want only corp/%s", ids, sub)
		}
		before := a.rows()
		a.refused(a.signIn("corp", "mallory2", newApp()), "account_exists")
		a.nothingCreated(before, "the squatter's sign-in after the link")
	})

	m := a.signIns("corp")
	if m["new_user"] != 2 || m["linked"] != 1 || m["account_exists"] != 2 {
		t.Errorf("keel_oidc_signins_total %v, want new_user 2, linked 1 and account_exists 2", m)
	}
}

// TestOAuthPreAccountHijackingHeldAccess: the squatter of
// TestOAuthPreAccountHijacking cannot link a provider account from the
// profile (403 email-unverified: the address is unproved), and the codes it
// holds when the reset comes (a sign-in's, and a link's from a flow begun
// before links needed a proved address) go with the reset.
func TestOAuthPreAccountHijackingHeldAccess(t *testing.T) {
	t.Parallel()
	a := newOAuthAPI(t)
	a.startJobs()
	// squat signs username in with email unverified and returns its tokens.
	squat := func(a *oauthAPI, username, email string) oapi.Token {
		a.t.Helper()
		a.user(username, email, false)
		return a.mustSignIn(username)
	}
	// reset resets email's password through the emailed link.
	reset := func(a *oauthAPI, email string) {
		a.t.Helper()
		a.status(a.do("POST", "/password/forgot", jsonBody("email", email)), http.StatusAccepted, "forgot")
		tok := a.waitEmail(email, "Reset", 0)
		a.status(a.do("POST", "/password/reset", jsonBody("token", tok, "new_password", "victims-password")), http.StatusNoContent, "reset")
	}

	t.Run("the squatter cannot link a provider account from the profile", func(t *testing.T) {
		a := a.forInput(t)
		const email = "victim1@example.com"
		tok := squat(a, "squatter1", email)
		victimID := a.profile(tok.Token).ID
		a.user("squatter1-own", "squatter1@evil.example", true)
		a.unverifiedRefusal(a.linkRec(tok.Token, "other", appURL, newApp()), "the squatter's link")
		reset(a, email)
		c := newApp()
		if ids := a.identities(a.mustLogin(email, "victims-password")); len(ids) != 0 {
			t.Errorf("the victim's identities after the reset %+v, want none", ids)
		}
		if q := a.signIn("other", "squatter1-own", c); q.Has("code") {
			pair := decode[oapi.Token](t, a.status(a.exchange(q.Get("code"), c.verifier), http.StatusOK, "token"))
			if got := a.profile(pair.Token); got.ID == victimID {
				t.Errorf("the squatter's linked provider account signs in to the victim's account after the reset")
			}
		}
	})

	t.Run("codes the squatter holds at the reset", func(t *testing.T) {
		a := a.forInput(t)
		const email = "victim2@example.com"
		tok := squat(a, "squatter2", email)
		sub := a.user("squatter2-own", "squatter2@evil.example", true)
		lc, sc := newApp(), newApp()
		linkCode := a.storedLinkCode(tok.Token, "other", sub, "squatter2@evil.example", lc)
		signInCode := a.code(a.signIn("corp", "squatter2", sc))
		reset(a, email)
		a.status(a.exchange(signInCode, sc.verifier), http.StatusBadRequest, "a sign-in code from before the reset")
		a.status(a.exchange(linkCode, lc.verifier), http.StatusBadRequest, "a link code from before the reset")
		if ids := a.identities(a.mustLogin(email, "victims-password")); len(ids) != 0 {
			t.Errorf("the victim's identities after the reset %+v, want none", ids)
		}
	})

}

// redeemAround is a Store whose RedeemOAuthCode runs before, once, just
// before the redemption, and after, once, after its transaction (it may
// have committed) and before the handler goes on: a test's way to order a
// request against POST /oauth/token's redemption deterministically.
type redeemAround struct {
	db.Store
	before, after *atomic.Pointer[func()]
}

func (s redeemAround) RedeemOAuthCode(ctx context.Context, hash, challenge string, sess db.Session, now time.Time, after func(*sql.Tx, db.OAuthCode) error) (db.OAuthCode, error) {
	if f := s.before.Swap(nil); f != nil {
		(*f)()
	}
	c, err := s.Store.RedeemOAuthCode(ctx, hash, challenge, sess, now, after)
	if f := s.after.Swap(nil); f != nil {
		(*f)()
	}
	return c, err
}

// hijackRace sets up the squatter of TestOAuthPreAccountHijacking, signed
// in to the victim's account through its untrusted identity "mallory", and
// a reset link mailed to the victim. resetAt(first) orders the victim's
// reset just before POST /oauth/token's redemption (first) or just after
// it, and reports whether it ran.
func hijackRace(t *testing.T) (a *oauthAPI, squat oapi.Token, victimID int64, resetAt func(first bool) *bool) {
	before, after := &atomic.Pointer[func()]{}, &atomic.Pointer[func()]{}
	a = newOAuthAPIWith(t, func(d *Deps) { d.Store = redeemAround{Store: d.Store, before: before, after: after} })
	a.startJobs()
	const email = "victim@example.com"
	a.user("mallory", email, false)
	squat = a.mustSignIn("mallory")
	victimID = a.profile(squat.Token).ID
	a.status(a.do("POST", "/password/forgot", jsonBody("email", email)), http.StatusAccepted, "forgot")
	reset := a.waitEmail(email, "Reset", 0)
	return a, squat, victimID, func(first bool) *bool {
		ran := new(bool)
		f := func() {
			*ran = true
			a.status(a.do("POST", "/password/reset", jsonBody("token", reset, "new_password", "victims-password")), http.StatusNoContent, "reset")
		}
		if first {
			before.Store(&f)
		} else {
			after.Store(&f)
		}
		return ran
	}
}

// badCodeOrEnded checks the answer to a code redeemed around the victim's
// reset: the 400 of a bad code, naming /code, or, when the redemption
// committed first, a token pair whose session the reset has ended.
func badCodeOrEnded(a *oauthAPI, rec *httptest.ResponseRecorder) {
	a.t.Helper()
	if rec.Code == http.StatusOK {
		tok := decode[oapi.Token](a.t, rec)
		if got := a.profileStatus(tok.Token); got != http.StatusUnauthorized {
			a.t.Errorf("the session the redemption started, after the reset: %d, want 401", got)
		}
		return
	}
	p := problemOf(a.t, a.status(rec, http.StatusBadRequest, "the squatter's code"))
	if p.Errors == nil || (*p.Errors)[0].Field != "/code" {
		a.t.Errorf("problem %+v: want the answer to a bad code, naming /code", p)
	}
}

// TestOAuthPreAccountHijackingSignInRace: the squatter of
// TestOAuthPreAccountHijacking redeems a sign-in code of its untrusted
// identity as the victim's password reset commits. The code and the
// session it starts are one transaction under the account's row lock, so
// either the reset commits first and voids the code (the 400 of a bad
// code), or the redemption commits first and the reset ends its session
// with the others: either way no session of the squatter's is left in the
// victim's account. With the session made in a transaction after the
// code's, a reset in between would leave the squatter a fresh one.
func TestOAuthPreAccountHijackingSignInRace(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name        string
		resetFirst  bool
		wantStatus  int
		wantSession string
	}{
		{"the reset commits just before the redemption", true, http.StatusBadRequest, "none started"},
		{"the reset commits just after the redemption", false, http.StatusOK, "ended"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, squat, victimID, resetAt := hijackRace(t)
			c := newApp()
			code := a.code(a.signIn("corp", "mallory", c))
			ran := resetAt(tt.resetFirst)
			rec := a.exchange(code, c.verifier)
			if !*ran {
				t.Fatal("the reset did not run around the redemption")
			}
			if rec.Code != tt.wantStatus {
				t.Errorf("POST /oauth/token: %d, want %d", rec.Code, tt.wantStatus)
			}
			badCodeOrEnded(a, rec)
			if n := a.sessionCount(victimID); n != 0 {
				t.Errorf("the victim's account has %d sessions after the reset, want none (the squatter's %s)", n, tt.wantSession)
			}
			if got := a.profileStatus(squat.Token); got != http.StatusUnauthorized {
				t.Errorf("the squatter's first session after the reset: %d, want 401", got)
			}
			if ids := a.identities(a.mustLogin("victim@example.com", "victims-password")); len(ids) != 0 {
				t.Errorf("the victim's identities %+v, want none", ids)
			}
		})
	}
}

// TestOAuthPreAccountHijackingLinkRace: the squatter of
// TestOAuthPreAccountHijacking, still signed in, holds the code of a link
// flow for a provider account of its own (begun before link flows needed a
// proved address), and the victim's password reset commits just before or
// just after POST /oauth/token redeems it. The code, the link and the
// session are one transaction under the account's row lock: a reset first
// voids the code (the 400 of a bad code); a redemption first finds the
// address unproved (403 email-unverified, the code spent). Either way
// nothing is linked, no session starts, and the squatter's provider account
// does not sign in to the victim's account.
func TestOAuthPreAccountHijackingLinkRace(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name       string
		resetFirst bool
		wantStatus int
		wantLinked int
	}{
		{"the reset commits just before the redemption", true, http.StatusBadRequest, 0},
		{"the reset commits just after the redemption", false, http.StatusForbidden, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, squat, victimID, resetAt := hijackRace(t)
			sub := a.user("mallory-own", "mallory@evil.example", true)
			c := newApp()
			code := a.storedLinkCode(squat.Token, "other", sub, "mallory@evil.example", c)
			ran := resetAt(tt.resetFirst)
			rec := a.exchange(code, c.verifier)
			if !*ran {
				t.Fatal("the reset did not run around the redemption")
			}
			if rec.Code != tt.wantStatus {
				t.Errorf("POST /oauth/token: %d, want %d", rec.Code, tt.wantStatus)
			}
			if rec.Code == http.StatusForbidden {
				a.unverifiedRefusal(rec, "the link code of an unverified account")
				a.status(a.exchange(code, c.verifier), http.StatusBadRequest, "the refused code again")
			} else {
				badCodeOrEnded(a, rec)
			}
			if n := a.sessionCount(victimID); n != 0 {
				t.Errorf("the victim's account has %d sessions after the reset, want none", n)
			}
			if got := a.profileStatus(squat.Token); got != http.StatusUnauthorized {
				t.Errorf("the squatter's session after the reset: %d, want 401", got)
			}
			if ids := a.identities(a.mustLogin("victim@example.com", "victims-password")); len(ids) != 0 {
				t.Errorf("the victim's identities %+v, want none: the squatter's link refused or dropped", ids)
			}
			// The squatter's provider account is nobody's: signing in with
			// it makes an account of its own, not the victim's.
			c = newApp()
			own := decode[oapi.Token](t, a.status(a.exchange(a.code(a.signIn("other", "mallory-own", c)), c.verifier), http.StatusOK, "token"))
			if u := a.profile(own.Token); u.ID == victimID || u.Email != "mallory@evil.example" {
				t.Errorf("the squatter's provider account signs in to %d (%s), want its own new account", u.ID, u.Email)
			}
			if m := a.signIns("other"); m["linked"] != tt.wantLinked {
				t.Errorf("keel_oidc_signins_total %v, want linked %d", m, tt.wantLinked)
			}
		})
	}
}

// TestOAuthPreAccountHijackingVerifyEmail: the squatter of
// TestOAuthPreAccountHijacking signs up through a provider that has not
// verified the victim's address, so keel mails the victim a verification
// link. The link alone proves nothing (400, saying to use the password
// reset; the token unspent): the account is not the victim's, and a
// verified account would be the squatter's to keep. The reset the victim
// then makes ends the squatter: its identity goes, with its sessions and
// the codes it holds, and its next sign-in is account_exists (it could
// link nothing from the profile meanwhile: 403 email-unverified). An
// account with no untrusted identity keeps its sessions when verified from
// one of them, and may link from then on.
func TestOAuthPreAccountHijackingVerifyEmail(t *testing.T) {
	t.Parallel()
	a := newOAuthAPI(t)
	a.startJobs()

	t.Run("the verification mail alone proves nothing; the reset ends the squatter", func(t *testing.T) {
		a := a.forInput(t)
		const email = "victim@example.com"
		a.user("mallory", email, false)
		squat := a.mustSignIn("mallory")
		victimID := a.profile(squat.Token).ID
		// What the squatter holds when the victim follows the link: a
		// second session and a sign-in code not yet redeemed; a link of its
		// own provider account is refused.
		a.user("mallory-own", "mallory@evil.example", true)
		a.unverifiedRefusal(a.linkRec(squat.Token, "other", appURL, newApp()), "the squatter's link")
		second := a.mustSignIn("mallory")
		sc := newApp()
		signInCode := a.code(a.signIn("corp", "mallory", sc))

		// The victim follows the link the squatter's sign-up mailed them:
		// with no session and no password, it says to use the reset.
		verify := a.waitEmail(email, "Confirm", 0)
		p := problemOf(t, a.status(a.do("POST", "/email/verify", jsonBody("token", verify)), http.StatusBadRequest, "verify email alone"))
		if p.Detail == nil || !strings.Contains(*p.Detail, "POST /password/forgot") {
			t.Errorf("problem %+v does not point to the password reset", p)
		}
		if u := a.profile(squat.Token); u.EmailVerified {
			t.Error("the link alone verified the squatter's account")
		}

		a.status(a.do("POST", "/password/forgot", jsonBody("email", email)), http.StatusAccepted, "forgot")
		reset := a.waitEmail(email, "Reset", 0)
		a.status(a.do("POST", "/password/reset", jsonBody("token", reset, "new_password", "victims-password")), http.StatusNoContent, "reset")

		for _, tok := range []oapi.Token{squat, second} {
			if got := a.profileStatus(tok.Token); got != http.StatusUnauthorized {
				t.Errorf("a squatter's session after the reset: %d, want 401", got)
			}
			a.status(a.refresh(tok.RefreshToken), http.StatusUnauthorized, "a squatter's refresh after the reset")
		}
		a.status(a.exchange(signInCode, sc.verifier), http.StatusBadRequest, "a sign-in code from before the reset")
		before := a.rows()
		a.refused(a.signIn("corp", "mallory", newApp()), "account_exists")
		a.nothingCreated(before, "the squatter's sign-in after the reset")
		// Its own provider account is nobody's: signing in with it makes
		// the squatter an account of its own, not the victim's.
		c := newApp()
		own := decode[oapi.Token](t, a.status(a.exchange(a.code(a.signIn("other", "mallory-own", c)), c.verifier), http.StatusOK, "token"))
		if u := a.profile(own.Token); u.ID == victimID || u.Email != "mallory@evil.example" {
			t.Errorf("the squatter's linked provider account signs in to %d (%s), want its own new account", u.ID, u.Email)
		}

		victim := a.mustLogin(email, "victims-password")
		if u := a.profile(victim); u.ID != victimID || !u.EmailVerified {
			t.Errorf("the victim's account is %d, verified %v; want %d, verified", u.ID, u.EmailVerified, victimID)
		}
		if ids := a.identities(victim); len(ids) != 0 {
			t.Errorf("the victim's identities %+v, want none", ids)
		}
	})

	t.Run("an account with no untrusted identity keeps its sessions", func(t *testing.T) {
		a := a.forInput(t)
		const email = "ada@example.com"
		a.mustRegisterUnverified(email, "password123")
		tok := a.mustLogin(email, "password123")
		other := a.mustLogin(email, "password123")
		a.user("ada-at-corp", "ada@corp.example", false)
		a.unverifiedRefusal(a.linkRec(tok, "corp", appURL, newApp()), "a link before the verification")

		verify := a.waitEmail(email, "Confirm", 0)
		a.status(a.do("POST", "/email/verify", jsonBody("token", verify), bearer(tok)...), http.StatusNoContent, "verify email")
		for _, tok := range []string{tok, other} {
			if got := a.profileStatus(tok); got != http.StatusOK {
				t.Errorf("a session after the verification: %d, want 200", got)
			}
		}
		if u := a.profile(tok); !u.EmailVerified {
			t.Error("not verified after verifying")
		}
		// A link from the profile of a verified account is trusted,
		// whatever the provider says of its address.
		c := newApp()
		a.status(a.exchange(a.code(a.link(tok, "corp", "ada-at-corp", c)), c.verifier), http.StatusOK, "link")
		if ids := a.identities(tok); len(ids) != 1 || ids[0].Provider != "corp" {
			t.Errorf("identities %+v, want the corp one kept", ids)
		}
	})
}

// TestOAuthDeleteIdentity: unlinking is refused for the account's last way
// in, and only the user's own identities can be unlinked.
func TestOAuthDeleteIdentity(t *testing.T) {
	t.Parallel()
	a := newOAuthAPI(t)
	del := func(tok string, id int64) *httptest.ResponseRecorder {
		return a.do("DELETE", fmt.Sprint("/profile/identities/", id), "", bearer(tok)...)
	}

	// carol has no password and one identity, then two.
	a.user("carol", "carol@example.com", true)
	carol := a.mustSignIn("carol").Token
	ids := a.identities(carol)
	if len(ids) != 1 {
		t.Fatalf("identities %+v", ids)
	}
	a.status(del(carol, ids[0].ID), http.StatusConflict, "the last way in")
	c := newApp()
	viaOther := decode[oapi.Token](t, a.status(a.exchange(a.code(a.link(carol, "other", "carol", c)), c.verifier), http.StatusOK, "token"))
	if ids = a.identities(carol); len(ids) != 2 || ids[1].Provider != "other" {
		t.Fatalf("identities after linking other: %+v", ids)
	}

	// ada has a password and one identity.
	a.mustRegister("ada@example.com", "password123")
	ada := a.mustLogin("ada@example.com", "password123")
	a.user("ada", "ada@corp.example", true)
	c = newApp()
	a.status(a.exchange(a.code(a.link(ada, "corp", "ada", c)), c.verifier), http.StatusOK, "token")
	adas := a.identities(ada)
	if len(adas) != 1 {
		t.Fatalf("ada's identities %+v", adas)
	}

	a.status(del(ada, ids[0].ID), http.StatusNotFound, "another user's identity")
	a.status(del(ada, ids[0].ID+1000), http.StatusNotFound, "no such identity")
	if got := a.identities(carol); len(got) != 2 {
		t.Errorf("carol's identities after ada's attempt: %+v", got)
	}

	a.status(del(carol, ids[0].ID), http.StatusNoContent, "one of two identities")
	// Carol's first session, which that identity started, ended with it
	// (TestRemovalEndsSessions); the link's session is the other identity's.
	a.status(del(carol, ids[1].ID), http.StatusUnauthorized, "the unlinked identity's session")
	carol = viaOther.Token
	a.status(del(carol, ids[1].ID), http.StatusConflict, "the last one left")
	a.status(del(carol, ids[0].ID), http.StatusNotFound, "already unlinked")
	a.status(del(ada, adas[0].ID), http.StatusNoContent, "an account with a password")
	if got := a.identities(ada); len(got) != 0 {
		t.Errorf("ada's identities after unlinking: %+v", got)
	}
	a.mustLogin("ada@example.com", "password123")
	a.status(a.do("DELETE", fmt.Sprint("/profile/identities/", adas[0].ID), ""), http.StatusUnauthorized, "no bearer")
}

// TestOAuthUnlinkVoidsCodes: a sign-in code held while its provider
// account is unlinked no longer redeems: POST /oauth/token answers the 400
// of a bad code and starts no session. Before, it gave a session naming an
// identity that no longer existed, which no later unlink could end.
func TestOAuthUnlinkVoidsCodes(t *testing.T) {
	t.Parallel()
	a := newOAuthAPI(t)
	ada := a.mustRegister("ada@example.com", "password123")
	pwd := a.mustLogin("ada@example.com", "password123")
	a.user("ada-at-corp", "ada@corp.example", true)
	c := newApp()
	a.status(a.exchange(a.code(a.link(pwd, "corp", "ada-at-corp", c)), c.verifier), http.StatusOK, "link")
	ids := a.identities(pwd)
	if len(ids) != 1 {
		t.Fatalf("identities %+v, want the one linked", ids)
	}
	held := newApp()
	code := a.code(a.signIn("corp", "ada-at-corp", held))
	a.status(a.do("DELETE", fmt.Sprint("/profile/identities/", ids[0].ID), "", bearer(pwd)...), http.StatusNoContent, "unlink")
	sessions := a.sessionCount(ada.ID)
	p := problemOf(t, a.status(a.exchange(code, held.verifier), http.StatusBadRequest, "the unlinked identity's code"))
	if p.Errors == nil || (*p.Errors)[0].Field != "/code" {
		t.Errorf("problem %+v: want the answer to a bad code, naming /code", p)
	}
	if got := a.sessionCount(ada.ID); got != sessions {
		t.Errorf("ada has %d sessions, want %d: the code started none", got, sessions)
	}
}

// withPath is cb with its path replaced.
func withPath(cb *url.URL, path string) *url.URL {
	u := *cb
	u.Path = path
	return &u
}

// TestOAuthCallbackRefused: every refusal of a callback, none of which
// creates anything. With a flow, the app is told on redirect_to; without
// one, 400.
func TestOAuthCallbackRefused(t *testing.T) {
	t.Parallel()
	a := newOAuthAPI(t)
	a.user("ada", "ada@example.com", true)
	a.user("noemail", "", true)
	stateOf := func(providerURL string) string {
		u, _ := url.Parse(providerURL)
		return u.Query().Get("state")
	}

	// Cases with a flow: the app is told why on redirect_to.
	toApp := []struct {
		name, error string
		lie         func() // at the provider, before the sign-in
		user        string // "" is ada
	}{
		{name: "wrong nonce", error: "invalid_token", lie: a.p.WrongNonce},
		{name: "wrong audience", error: "invalid_token", lie: a.p.WrongAudience},
		// keel's client id among others it does not trust: a token issued
		// for several parties, or for another client (azp), is not keel's.
		{name: "another audience too", error: "invalid_token", lie: func() {
			a.p.NextIDToken(func(c map[string]any) { c["aud"] = []string{a.p.ClientID, "another-app"} })
		}},
		{name: "azp of another client", error: "invalid_token", lie: func() {
			a.p.NextIDToken(func(c map[string]any) { c["azp"] = "another-app" })
		}},
		{name: "expired ID token", error: "invalid_token", lie: a.p.ExpiredIDToken},
		{name: "no email", error: "email_required", lie: func() { a.p.NextIDToken(func(c map[string]any) { delete(c, "email") }) }},
		{name: "empty email", error: "email_required", user: "noemail"},
		{name: "not an email", error: "email_required", lie: func() { a.p.NextIDToken(func(c map[string]any) { c["email"] = "ada" }) }},
		{name: "no subject", error: "invalid_token", lie: func() { a.p.NextIDToken(func(c map[string]any) { c["sub"] = "" }) }},
	}
	for _, tt := range toApp {
		t.Run(tt.name, func(t *testing.T) {
			a := a.forInput(t)
			before := a.rows()
			user := tt.user
			if user == "" {
				user = "ada"
			}
			if tt.lie != nil {
				tt.lie()
			}
			a.refused(a.signIn("corp", user, newApp()), tt.error)
			a.nothingCreated(before, tt.name)
		})
	}

	t.Run("provider error", func(t *testing.T) {
		// A registered OAuth error code is passed on, an unregistered one
		// (keel's own account_exists among them: anyone can send the
		// browser here with any query) becomes server_error, and the
		// description is always keel's, never the text the query carried.
		a := a.forInput(t)
		before := a.rows()
		for code, want := range map[string]string{
			"access_denied":        "access_denied",
			"interaction_required": "interaction_required",
			"account_exists":       "server_error",
			"<b>made up</b>":       "server_error",
		} {
			state := stateOf(a.authorize("corp", newApp()))
			q := url.Values{"error": {code}, "error_description": {"call +1 555 0100 to unlock your account"}, "state": {state}}
			got := a.back(a.do("GET", "/oauth/corp/callback?"+q.Encode(), ""))
			a.refused(got, want)
			if d := got.Get("error_description"); strings.Contains(d, "555") {
				t.Errorf("%s: error_description %q is the provider's text, want keel's own", code, d)
			}
			a.status(a.do("GET", "/oauth/corp/callback?"+q.Encode(), ""), http.StatusBadRequest, "the same state again")
		}
		a.nothingCreated(before, "a provider error")
	})

	t.Run("neither code nor error", func(t *testing.T) {
		a := a.forInput(t)
		before := a.rows()
		state := stateOf(a.authorize("corp", newApp()))
		a.refused(a.back(a.do("GET", "/oauth/corp/callback?state="+url.QueryEscape(state), "")), "invalid_request")
		a.nothingCreated(before, "a callback without a code")
	})

	// Cases without a flow keel can use: 400 (404 for an unknown provider).
	t.Run("no flow", func(t *testing.T) {
		a := a.forInput(t)
		before := a.rows()
		a.status(a.do("GET", "/oauth/corp/callback?code=x", ""), http.StatusBadRequest, "no state")
		a.status(a.do("GET", "/oauth/corp/callback?state=not-a-state&code=x", ""), http.StatusBadRequest, "unknown state")
		// A real state of another flow, sent with a code of this one.
		cb := a.atProvider(a.authorize("corp", newApp()), "ada")
		forged := *cb
		q := cb.Query()
		q.Set("state", oidc.Random(32))
		forged.RawQuery = q.Encode()
		a.status(a.callback(&forged), http.StatusBadRequest, "wrong state")
		a.nothingCreated(before, "a wrong state")
	})

	t.Run("reused state", func(t *testing.T) {
		a := a.forInput(t)
		cb := a.atProvider(a.authorize("corp", newApp()), "ada")
		a.code(a.back(a.callback(cb)))
		before := a.rows()
		a.status(a.callback(cb), http.StatusBadRequest, "the callback again")
		a.nothingCreated(before, "a reused state")
	})

	t.Run("expired state", func(t *testing.T) {
		a := a.forInput(t)
		cb := a.atProvider(a.authorize("corp", newApp()), "ada")
		a.clock.Add(10*time.Minute - time.Second)
		a.code(a.back(a.callback(cb)))
		before := a.rows()
		cb = a.atProvider(a.authorize("corp", newApp()), "ada")
		a.clock.Add(10*time.Minute + time.Second)
		a.status(a.callback(cb), http.StatusBadRequest, "after ten minutes")
		a.nothingCreated(before, "an expired state")
	})

	t.Run("code of another flow", func(t *testing.T) {
		// A provider code injected into another flow (its state): keel's
		// PKCE verifier for that flow does not match the code's challenge.
		a := a.forInput(t)
		before := a.rows()
		stolen := a.atProvider(a.authorize("corp", newApp()), "ada")
		victim := a.atProvider(a.authorize("corp", newApp()), "ada")
		q := victim.Query()
		q.Set("code", stolen.Query().Get("code"))
		victim.RawQuery = q.Encode()
		a.refused(a.back(a.callback(victim)), "invalid_grant")
		a.nothingCreated(before, "an injected code")
	})

	t.Run("state of another provider", func(t *testing.T) {
		a := a.forInput(t)
		before := a.rows()
		cb := a.atProvider(a.authorize("other", newApp()), "ada")
		a.status(a.callback(withPath(cb, "/oauth/corp/callback")), http.StatusBadRequest, "other's state at corp")
		a.status(a.callback(cb), http.StatusBadRequest, "then at other: the flow is spent")
		a.nothingCreated(before, "another provider's state")
	})

	t.Run("unknown provider", func(t *testing.T) {
		a := a.forInput(t)
		before := a.rows()
		cb := a.atProvider(a.authorize("corp", newApp()), "ada")
		a.status(a.callback(withPath(cb, "/oauth/nope/callback")), http.StatusNotFound, "callback")
		a.status(a.authorizeRec("nope", appURL, newApp()), http.StatusNotFound, "authorize")
		a.nothingCreated(before, "an unknown provider")
		// The flow was not touched: it still works.
		a.code(a.back(a.callback(cb)))
	})

	t.Run("redirect_to not allowed", func(t *testing.T) {
		a := a.forInput(t)
		before := a.rows()
		for _, to := range []string{"https://evil.example/done", appURL + "/", appURL + "?x=1", "HTTPS://app.example/done"} {
			p := problemOf(t, a.status(a.authorizeRec("corp", to, newApp()), http.StatusBadRequest, to))
			if p.Errors == nil || (*p.Errors)[0].Field != "redirect_to" {
				t.Errorf("%s: problem %+v does not name redirect_to", to, p)
			}
		}
		if after := a.rows(); after != before {
			t.Errorf("refused authorizations stored something: %+v, before %+v", after, before)
		}
	})

	m := a.signIns("corp")
	for result, want := range map[string]int{
		"invalid_token": 7, "email_required": 3, "provider_error": 5, "bad_state": 10, "new_user": 1, "returning": 2,
	} {
		if m[result] != want {
			t.Errorf("keel_oidc_signins_total{result=%q} = %d, want %d (all: %v)", result, m[result], want, m)
		}
	}
}

// TestOAuthTrustedAudiences: an ID token that names keel's client id and an
// audience the provider's OIDC_<NAME>_TRUSTED_AUDIENCES lists signs in; one
// that also names an audience not listed, or whose azp is another client,
// is refused there too.
func TestOAuthTrustedAudiences(t *testing.T) {
	t.Parallel()
	a := newOAuthAPI(t)
	a.user("ada", "ada@example.com", true)
	for _, tt := range []struct {
		name  string
		aud   []string
		azp   string
		error string // "" signs in
	}{
		{name: "client id and a trusted audience", aud: []string{a.p.ClientID, trustedAudience}, azp: a.p.ClientID},
		{name: "trusted audience, no azp", aud: []string{a.p.ClientID, trustedAudience}},
		{name: "and one not trusted", aud: []string{a.p.ClientID, trustedAudience, "another-app"}, azp: a.p.ClientID, error: "invalid_token"},
		{name: "trusted audience, azp another", aud: []string{a.p.ClientID, trustedAudience}, azp: trustedAudience, error: "invalid_token"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := a.forInput(t)
			a.p.NextIDToken(func(c map[string]any) {
				c["aud"] = tt.aud
				delete(c, "azp")
				if tt.azp != "" {
					c["azp"] = tt.azp
				}
			})
			got := a.signIn("other", "ada", newApp())
			if tt.error != "" {
				a.refused(got, tt.error)
				return
			}
			a.code(got)
		})
	}
	// corp trusts no other audience: the same token is refused there.
	a.p.NextIDToken(func(c map[string]any) { c["aud"] = []string{a.p.ClientID, trustedAudience} })
	a.refused(a.signIn("corp", "ada", newApp()), "invalid_token")
}

// TestOAuthProviderDown: a provider that cannot be reached at the callback
// is a 502, and nothing is created.
func TestOAuthProviderDown(t *testing.T) {
	t.Parallel()
	a := newOAuthAPI(t)
	a.user("ada", "ada@example.com", true)
	before := a.rows()
	cb := a.atProvider(a.authorize("corp", newApp()), "ada")
	a.p.Stop()
	p := problemOf(t, a.status(a.callback(cb), http.StatusBadGateway, "callback"))
	if p.Detail == nil || strings.Contains(*p.Detail, "127.0.0.1") {
		t.Errorf("problem %+v: want a detail that does not show the provider's error", p)
	}
	a.nothingCreated(before, "a provider down")
	if m := a.signIns("corp"); m["provider_down"] != 1 {
		t.Errorf("keel_oidc_signins_total %v, want provider_down 1", m)
	}
}

// TestOAuthToken: the callback's code works once, for a minute, with the
// verifier of the app's challenge, and starts a session like a login's.
func TestOAuthToken(t *testing.T) {
	t.Parallel()
	a := newOAuthAPI(t)
	a.user("ada", "ada@example.com", true)
	refusedCode := func(rec *httptest.ResponseRecorder, what string) {
		t.Helper()
		p := problemOf(t, a.status(rec, http.StatusBadRequest, what))
		if p.Errors == nil || (*p.Errors)[0].Field != "/code" {
			t.Errorf("%s: problem %+v does not name /code", what, p)
		}
	}

	t.Run("wrong verifier spends the code", func(t *testing.T) {
		a := a.forInput(t)
		c := newApp()
		code := a.code(a.signIn("corp", "ada", c))
		refusedCode(a.exchange(code, newApp().verifier), "wrong verifier")
		refusedCode(a.exchange(code, c.verifier), "the right verifier after a wrong one")
	})
	t.Run("reused code", func(t *testing.T) {
		a := a.forInput(t)
		c := newApp()
		code := a.code(a.signIn("corp", "ada", c))
		a.status(a.exchange(code, c.verifier), http.StatusOK, "first")
		refusedCode(a.exchange(code, c.verifier), "second")
	})
	t.Run("unknown code", func(t *testing.T) {
		a := a.forInput(t)
		refusedCode(a.exchange(oidc.Random(32), newApp().verifier), "unknown")
	})
	t.Run("expired code", func(t *testing.T) {
		a := a.forInput(t)
		c := newApp()
		code := a.code(a.signIn("corp", "ada", c))
		a.clock.Add(61 * time.Second)
		refusedCode(a.exchange(code, c.verifier), "after a minute")
		code = a.code(a.signIn("corp", "ada", c))
		a.clock.Add(59 * time.Second)
		a.status(a.exchange(code, c.verifier), http.StatusOK, "within the minute")
	})
	t.Run("the session", func(t *testing.T) {
		a := a.forInput(t)
		pair := a.mustSignIn("ada")
		other := a.mustSignIn("ada")
		sessions := decode[[]oapi.Session](t, a.status(a.do("GET", "/sessions", "", bearer(pair.Token)...), http.StatusOK, "sessions"))
		current := 0
		for _, s := range sessions {
			if s.Current {
				current++
				if s.ID != a.sessionOf(pair.Token) {
					t.Errorf("current session %s, want the token's %s", s.ID, a.sessionOf(pair.Token))
				}
			}
		}
		if len(sessions) < 2 || current != 1 {
			t.Errorf("sessions %+v: want both sign-ins', one of them current", sessions)
		}
		next := decode[oapi.Token](t, a.status(a.refresh(pair.RefreshToken), http.StatusOK, "refresh"))
		a.status(a.do("POST", "/logout", "", bearer(next.Token)...), http.StatusNoContent, "logout")
		if got := a.profileStatus(next.Token); got != http.StatusUnauthorized {
			t.Errorf("profile after logout: %d", got)
		}
		a.status(a.refresh(next.RefreshToken), http.StatusUnauthorized, "refresh after logout")
		if got := a.profileStatus(other.Token); got != http.StatusOK {
			t.Errorf("the other sign-in's session after logout: %d", got)
		}
	})
}
