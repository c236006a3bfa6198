// Package oidctest runs a real OpenID Provider on 127.0.0.1 for tests, so that keel's OpenID Connect
// sign-in is tested against the protocol as a provider speaks it, not against a mock that agrees with
// whatever keel expects.
//
// The provider is zitadel/oidc's pkg/op with its example in-memory storage
// (github.com/zitadel/oidc/v3/example/server/storage) and a small username/password login page of our
// own. Each [Start] makes an independent provider: its own listener, signing key, client and users, so
// tests using it can run in parallel.
//
//	p := oidctest.Start(t)                       // issuer http://127.0.0.1:port, stops on t.Cleanup
//	p.AllowRedirect(keelURL + "/auth/oidc/callback")
//	sub := p.AddUser(oidctest.User{Username: "ada", Password: "pw", Email: "ada@example.com", EmailVerified: true})
//	// keel discovers p.Issuer and builds an authorize URL with p.ClientID, state, nonce and PKCE (S256)
//	jar, _ := cookiejar.New(nil)
//	c := &http.Client{Jar: jar}
//	callback := p.SignIn(t, c, authorizeURL, "ada", "pw") // keel's callback URL with code and state, not followed
//	resp, _ := c.Get(callback.String())                   // keel exchanges the code and verifies the ID token
//
// The client is a confidential web client (client_secret_basic or client_secret_post) for the
// authorization code flow, PKCE S256 allowed and checked when the authorize request carried a
// challenge, scopes openid, email and profile. Because keel reads the user from the ID token, the
// provider puts the userinfo claims (email, email_verified, preferred_username, name…) into the ID
// token as well as serving them at the userinfo endpoint.
//
// For refusal tests, [Provider.WrongNonce], [Provider.WrongAudience], [Provider.ExpiredIDToken] and, for
// anything else, [Provider.NextIDToken] make the next ID token lie about a claim while still being
// signed by the provider's key, so a verifier refuses it for the claim and not for the signature;
// [Provider.Stop] takes the provider down (connections refused).
//
// The login page, for a browser (chromedp): the form is form#login, with inputs #username and
// #password and the submit button #sign-in; a refused attempt shows the page again with status 401 and
// the reason in #error.
package oidctest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// Scopes are the scopes the client may ask for.
var Scopes = []string{"openid", "email", "profile"}

// User is an account at the provider.
type User struct {
	Username string
	Password string
	// Subject is the user's sub claim; empty means one derived from Username, so the same username
	// always has the same subject, also across providers.
	Subject       string
	Email         string
	EmailVerified bool
}

// Provider is a running OpenID Provider with one registered client.
type Provider struct {
	// Issuer is the provider's issuer URL, http://127.0.0.1:port, also the base of its discovery
	// document (Issuer + "/.well-known/openid-configuration").
	Issuer string
	// ClientID and ClientSecret identify keel's client; the id is random per provider because
	// nothing should depend on its value.
	ClientID     string
	ClientSecret string

	srv *httptest.Server

	mu        sync.Mutex
	redirects []string
	bySubject map[string]*storage.User
	nextToken []func(claims map[string]any) // changes to the next ID token, see NextIDToken
}

// Start starts a provider on 127.0.0.1 with a random port and registers its stop with t.Cleanup.
// redirectURIs are the client's allowed redirect URIs; more can be allowed later with
// [Provider.AllowRedirect].
func Start(t testing.TB, redirectURIs ...string) *Provider {
	t.Helper()
	// The issuer must be known before the provider is built, and it contains the port, so listen first.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("oidctest: listen: %v", err)
	}
	p := &Provider{
		Issuer:       "http://" + l.Addr().String(),
		ClientID:     "keel-" + randomHex(8),
		ClientSecret: randomHex(24),
		redirects:    slices.Clone(redirectURIs),
		bySubject:    map[string]*storage.User{},
	}
	// A client map of our own rather than storage.RegisterClients: that one writes a package-level map
	// that every storage made by storage.NewStorage shares, a data race between parallel tests.
	clients := map[string]*storage.Client{p.ClientID: storage.WebClient(p.ClientID, p.ClientSecret)}
	st := &opStorage{Storage: storage.NewStorageWithClients(users{p}, clients), p: p}

	var key [32]byte // encrypts the opaque access tokens
	rand.Read(key[:])
	provider, err := op.NewProvider(&op.Config{
		CryptoKey:      key,
		CodeMethodS256: true,
		AuthMethodPost: true,
	}, st, op.StaticIssuer(p.Issuer), op.WithAllowInsecure())
	if err != nil {
		l.Close()
		t.Fatalf("oidctest: new provider: %v", err)
	}

	mux := http.NewServeMux()
	// The example storage's clients send the browser to this path with ?authRequestID=…; the issuer
	// interceptor puts the issuer in the context, which op.AuthCallbackURL needs.
	mux.Handle(loginPath, op.NewIssuerInterceptor(provider.IssuerFromRequest).Handler(&login{
		check:    st.CheckUsernamePassword,
		callback: op.AuthCallbackURL(provider),
	}))
	mux.Handle("/", p.rewriteIDTokens(provider.TokenEndpoint().Relative(), st.SigningKey, provider))
	p.srv = &httptest.Server{
		Listener: l,
		Config:   &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second},
	}
	p.srv.Start()
	t.Cleanup(p.Stop)
	return p
}

// Stop shuts the provider down: its port refuses connections from now on. It waits for requests in
// flight and may be called more than once.
func (p *Provider) Stop() {
	p.srv.Close()
}

// AllowRedirect adds uri to the client's allowed redirect URIs; the comparison is exact, as the
// provider compares them.
func (p *Provider) AllowRedirect(uri string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.redirects = append(p.redirects, uri)
}

// AddUser adds u, or replaces the user with the same username (to change an email between two
// sign-ins), and returns the user's subject.
func (p *Provider) AddUser(u User) (subject string) {
	subject = u.Subject
	if subject == "" {
		sum := sha256.Sum256([]byte(u.Username))
		subject = hex.EncodeToString(sum[:12])
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for sub, old := range p.bySubject {
		if old.Username == u.Username {
			delete(p.bySubject, sub)
		}
	}
	// A new *storage.User every time: the storage reads the fields after we let go of the lock.
	p.bySubject[subject] = &storage.User{
		ID:            subject,
		Username:      u.Username,
		Password:      u.Password,
		FirstName:     u.Username,
		Email:         u.Email,
		EmailVerified: u.EmailVerified,
	}
	return subject
}

// opStorage is the example storage with our client.
type opStorage struct {
	*storage.Storage
	p *Provider
}

// GetClientByClientID wraps the example client so that its redirect URIs can grow after the start.
func (s *opStorage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.Storage.GetClientByClientID(ctx, id)
	if err != nil {
		return nil, err
	}
	return client{Client: c, p: s.p}, nil
}

type client struct {
	op.Client
	p *Provider
}

func (c client) RedirectURIs() []string {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	return slices.Clone(c.p.redirects)
}

// IDTokenUserinfoClaimsAssertion puts email and profile claims into the ID token even though an access
// token is issued too, as most providers do and as keel expects.
func (client) IDTokenUserinfoClaimsAssertion() bool { return true }

// users is the example storage's UserStore over the provider's users.
type users struct{ p *Provider }

func (u users) GetUserByID(id string) *storage.User {
	u.p.mu.Lock()
	defer u.p.mu.Unlock()
	return u.p.bySubject[id]
}

func (u users) GetUserByUsername(username string) *storage.User {
	u.p.mu.Lock()
	defer u.p.mu.Unlock()
	for _, user := range u.p.bySubject {
		if user.Username == username {
			return user
		}
	}
	return nil
}

// ExampleClientID names the example's JWT-profile service account, which keel does not use.
func (users) ExampleClientID() string { return storage.ServiceUserID }

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
