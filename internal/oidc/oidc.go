// Package oidc is keel's side of sign-in with OpenID Connect providers
// (Google, Microsoft, GitLab, Auth0, Keycloak, Zitadel, ...): discovery from
// each provider's issuer, the authorization URL with state, nonce and PKCE
// (S256), and the code exchange with the ID token's verification (signature,
// iss, aud, exp, nonce). It uses github.com/coreos/go-oidc/v3 and
// golang.org/x/oauth2 and knows nothing of keel's accounts: the server keeps
// the flows and decides who signed in.
package oidc

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Config is one provider's settings (OIDC_<NAME>_*).
type Config struct {
	Name         string // lower case, as in OIDC_PROVIDERS and the URLs
	Issuer       string
	ClientID     string
	ClientSecret string
	Scopes       []string // openid is added when missing
	// TrustedAudiences are the audiences besides ClientID an ID token may
	// name (OIDC_<NAME>_TRUSTED_AUDIENCES); by default none.
	TrustedAudiences []string
	// LinkByEmail lets a sign-in whose email this provider says it verified
	// take the keel account with that email (OIDC_<NAME>_LINK_BY_EMAIL); by
	// default such a sign-in is refused (account_exists).
	LinkByEmail bool
}

// DefaultScopes are what keel asks for when OIDC_<NAME>_SCOPES is not set.
var DefaultScopes = []string{gooidc.ScopeOpenID, "email", "profile"}

// Timeout bounds each request keel makes to a provider (discovery, the code
// exchange, its keys), so a provider that hangs costs a callback at most this.
const Timeout = 10 * time.Second

// Provider is one configured provider, discovered.
type Provider struct {
	name     string
	oauth    oauth2.Config
	verifier *gooidc.IDTokenVerifier
	client   *http.Client
	// audiences are those an ID token may name: the client id and the
	// trusted audiences.
	audiences map[string]bool
	// linkByEmail is Config's LinkByEmail.
	linkByEmail bool
}

// Providers are the configured providers by name.
type Providers map[string]*Provider

// Names are the providers' names, sorted.
func (ps Providers) Names() []string {
	names := make([]string, 0, len(ps))
	for n := range ps {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// CallbackURL is where a provider sends the browser back to keel, given
// keel's public base URL (API_URL): what to register with the provider.
func CallbackURL(apiURL, provider string) string {
	return strings.TrimSuffix(apiURL, "/") + "/oauth/" + url.PathEscape(provider) + "/callback"
}

// Discover reads each provider's discovery document from its issuer and
// returns the providers; an unreachable issuer, or one whose document names
// another issuer, is an error that names the provider. client nil is a
// client with Timeout.
func Discover(ctx context.Context, apiURL string, cfgs []Config, client *http.Client) (Providers, error) {
	if client == nil {
		client = &http.Client{Timeout: Timeout}
	}
	ps := make(Providers, len(cfgs))
	for _, c := range cfgs {
		dctx, cancel := context.WithTimeout(gooidc.ClientContext(ctx, client), Timeout)
		p, err := gooidc.NewProvider(dctx, c.Issuer)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("OIDC provider %q: discovery from %s failed: %w", c.Name, c.Issuer, err)
		}
		scopes := c.Scopes
		if len(scopes) == 0 {
			scopes = DefaultScopes
		}
		if !contains(scopes, gooidc.ScopeOpenID) {
			scopes = append([]string{gooidc.ScopeOpenID}, scopes...)
		}
		audiences := map[string]bool{c.ClientID: true}
		for _, a := range c.TrustedAudiences {
			audiences[a] = true
		}
		ps[c.Name] = &Provider{
			name: c.Name,
			oauth: oauth2.Config{
				ClientID: c.ClientID, ClientSecret: c.ClientSecret, Endpoint: p.Endpoint(),
				RedirectURL: CallbackURL(apiURL, c.Name), Scopes: scopes,
			},
			// The key set outlives ctx: keys are fetched (and refetched
			// when the provider rotates them) while keel serves.
			verifier:    p.VerifierContext(gooidc.ClientContext(context.Background(), client), &gooidc.Config{ClientID: c.ClientID}),
			client:      client,
			audiences:   audiences,
			linkByEmail: c.LinkByEmail,
		}
	}
	return ps, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Name is the provider's name.
func (p *Provider) Name() string { return p.name }

// LinkByEmail says whether a sign-in whose email this provider verified may
// take the keel account with that email (OIDC_<NAME>_LINK_BY_EMAIL).
func (p *Provider) LinkByEmail() bool { return p.linkByEmail }

// AuthCodeURL is the provider's authorization URL for a flow: keel's state,
// the nonce the ID token must carry, keel's own PKCE challenge (S256) for
// verifier, and max_age=0: the provider is to authenticate the user again
// and say when in the ID token's auth_time (OIDC Core §3.1.2.1), which makes
// the sign-in a fresh proof of the user (User.AuthTime).
func (p *Provider) AuthCodeURL(state, nonce, verifier string) string {
	return p.oauth.AuthCodeURL(state, gooidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier),
		oauth2.SetAuthURLParam("max_age", "0"))
}

// ErrUnavailable is a provider that did not answer, or answered with a
// server error: nobody refused anything, the sign-in may be tried again.
var ErrUnavailable = errors.New("oidc: the provider could not be reached")

// Refusal is a sign-in the provider or the ID token's checks refused, with
// an OAuth error code (RFC 6749 §4.1.2.1, or keel's own) for the app.
type Refusal struct {
	Code        string
	Description string
	// Err is the underlying error, for the log; never shown to the client.
	Err error
}

func (r *Refusal) Error() string { return "oidc: refused: " + r.Code + ": " + r.Description }
func (r *Refusal) Unwrap() error { return r.Err }

// User is who a verified ID token names.
type User struct {
	Subject       string
	Email         string // as the provider gave it; "" when it gave none
	EmailVerified bool
	// AuthTime is the ID token's auth_time: when the provider
	// authenticated the user (zero when the token has none, or not a
	// number). Whether it is fresh enough to count is the caller's to say.
	AuthTime time.Time
}

// maxSubject bounds the sub keel stores (OIDC Core §2 says at most 255 ASCII characters).
const maxSubject = 255

// Exchange redeems the provider's code with keel's PKCE verifier and
// verifies the ID token it returns, its nonce included. A provider that
// cannot be reached is ErrUnavailable; every other failure is a *Refusal.
func (p *Provider) Exchange(ctx context.Context, code, verifier, nonce string) (User, error) {
	ctx, cancel := context.WithTimeout(context.WithValue(ctx, oauth2.HTTPClient, p.client), Timeout)
	defer cancel()
	tok, err := p.oauth.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < 500 {
			// The provider refused the code (spent, expired, not for this
			// client, or the verifier does not match).
			return User{}, &Refusal{Code: "invalid_grant", Description: "the provider refused the authorization code", Err: err}
		}
		return User{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return User{}, &Refusal{Code: "invalid_token", Description: "the provider returned no ID token"}
	}
	idt, err := p.verifier.Verify(gooidc.ClientContext(ctx, p.client), raw)
	if err != nil {
		return User{}, &Refusal{Code: "invalid_token", Description: "the ID token failed verification", Err: err}
	}
	// The nonce ties the ID token to this flow: a token minted for another
	// sign-in (a replay, an injected code) fails here.
	if idt.Nonce != nonce {
		return User{}, &Refusal{Code: "invalid_token", Description: "the ID token is not for this sign-in (nonce)"}
	}
	if idt.Subject == "" || len(idt.Subject) > maxSubject {
		return User{}, &Refusal{Code: "invalid_token", Description: "the ID token has no usable subject"}
	}
	var claims struct {
		Email         string          `json:"email"`
		EmailVerified json.RawMessage `json:"email_verified"`
		AZP           *string         `json:"azp"`
		AuthTime      json.RawMessage `json:"auth_time"`
	}
	if err := idt.Claims(&claims); err != nil {
		return User{}, &Refusal{Code: "invalid_token", Description: "the ID token's claims are malformed", Err: err}
	}
	// go-oidc checked that aud names keel's client id; it may name others
	// too. A token issued to several parties (OIDC Core §3.1.3.7 items 3-5)
	// is accepted only when each other party is one the operator trusts,
	// and only if the party it was issued to (azp), when named, is keel:
	// otherwise a token another client obtained for its user could sign
	// that user in here.
	for _, aud := range idt.Audience {
		if !p.audiences[aud] {
			return User{}, &Refusal{Code: "invalid_token", Description: "the ID token is also for an audience keel does not trust (aud)"}
		}
	}
	if claims.AZP != nil && *claims.AZP != p.oauth.ClientID {
		return User{}, &Refusal{Code: "invalid_token", Description: "the ID token was issued to another client (azp)"}
	}
	return User{Subject: idt.Subject, Email: claims.Email, EmailVerified: isTrue(claims.EmailVerified),
		AuthTime: unixTime(claims.AuthTime)}, nil
}

// unixTime reads a NumericDate claim (seconds since the epoch, RFC 7519
// §2), or returns the zero time for anything else.
func unixTime(raw json.RawMessage) time.Time {
	var n json.Number
	if json.Unmarshal(raw, &n) != nil {
		return time.Time{}
	}
	f, err := n.Float64()
	if err != nil || f <= 0 || f > 1<<40 {
		return time.Time{}
	}
	return time.Unix(int64(f), 0).UTC()
}

// isTrue reads email_verified, which some providers send as the string
// "true" rather than a boolean; anything else is false.
func isTrue(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s == "true" || s == `"true"`
}

// Random returns n random bytes, base64url-encoded: states, nonces,
// verifiers and codes (32 bytes give 43 characters, a valid PKCE verifier).
func Random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand's contract since Go 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}

// S256 is the PKCE challenge of verifier: BASE64URL(SHA256(verifier)).
func S256(verifier string) string { return oauth2.S256ChallengeFromVerifier(verifier) }
