package clients

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// MaxNameLength bounds a client's name, in characters: it is shown on the
// consent page.
const MaxNameLength = 100

// Registration is what a client is registered with, by the CLI or by RFC
// 7591 dynamic registration.
type Registration struct {
	Name                   string
	Public                 bool // no secret: a browser or native app
	Native                 bool // application type native (else web)
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	// GrantTypes empty is authorization_code and refresh_token; Scopes
	// empty is openid, profile and email, and offline_access with the
	// refresh_token grant.
	GrantTypes []string
	Scopes     []string
	Dynamic    bool // registered by RFC 7591
}

// Register makes the client r describes, with a new id and, for a
// confidential client, a new secret (returned once: only its hash is kept),
// or says why r may not be registered (Validate). The client is not stored.
func Register(r Registration, now time.Time) (Client, string, error) {
	c := Client{
		ID: NewID(), Name: strings.TrimSpace(r.Name), Kind: Confidential, AppType: Web,
		RedirectURIs: r.RedirectURIs, PostLogoutRedirectURIs: r.PostLogoutRedirectURIs,
		GrantTypes: r.GrantTypes, Scopes: r.Scopes, Dynamic: r.Dynamic, CreatedAt: now,
	}
	if r.Public {
		c.Kind = Public
	}
	if r.Native {
		c.AppType = Native
	}
	if len(c.GrantTypes) == 0 {
		c.GrantTypes = []string{GrantAuthorizationCode, GrantRefreshToken}
	}
	if len(c.Scopes) == 0 {
		c.Scopes = []string{ScopeOpenID, ScopeProfile, ScopeEmail}
		if slices.Contains(c.GrantTypes, GrantRefreshToken) {
			c.Scopes = append(c.Scopes, ScopeOfflineAccess)
		}
	}
	var secret string
	if c.Kind == Confidential {
		secret, c.SecretHash = NewSecret()
	}
	if err := c.Validate(); err != nil {
		return Client{}, "", err
	}
	return c, secret, nil
}

// Validate says everything that makes c unfit to register, joined, or
// returns nil:
//   - a name of 1 to MaxNameLength printable characters;
//   - a known kind and application type; a secret hash exactly when
//     confidential;
//   - grants and scopes among Grants and Scopes, each once;
//   - redirect and post-logout URIs as checkURI allows, and at least one
//     redirect URI with the authorization_code grant;
//   - refresh_token only beside a grant that signs a user in (code or
//     device): it refreshes a user's grant;
//   - client_credentials only for a confidential client that did not
//     register itself: it is a token on no user's behalf, earned by the
//     secret alone;
//   - the admin scope only with client_credentials (and so never for a
//     public or dynamic client): it is the operator's machine access.
func (c Client) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if n := utf8.RuneCountInString(c.Name); n == 0 || n > MaxNameLength || strings.TrimSpace(c.Name) != c.Name {
		bad("name: 1 to %d characters, no leading or trailing space", MaxNameLength)
	} else if strings.IndexFunc(c.Name, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		bad("name: printable characters only")
	}
	switch c.Kind {
	case Confidential:
		if len(c.SecretHash) != 64 || strings.Trim(c.SecretHash, "0123456789abcdef") != "" {
			bad("a confidential client has a secret (its SHA-256 in hex)")
		}
	case Public:
		if c.SecretHash != "" {
			bad("a public client has no secret")
		}
	default:
		bad("kind %q: %s or %s", c.Kind, Confidential, Public)
	}
	if c.AppType != Web && c.AppType != Native {
		bad("application type %q: %s or %s", c.AppType, Web, Native)
	}
	checkList := func(what string, got, known []string) {
		for i, g := range got {
			if !slices.Contains(known, g) {
				bad("%s %q: one of %s", what, g, strings.Join(known, ", "))
			} else if slices.Index(got, g) != i {
				bad("%s %q: listed twice", what, g)
			}
		}
	}
	checkList("grant", c.GrantTypes, Grants)
	checkList("scope", c.Scopes, Scopes)
	if len(c.GrantTypes) == 0 {
		bad("no grant")
	}
	for _, u := range c.RedirectURIs {
		if err := checkURI(u, c.AppType); err != nil {
			errs = append(errs, err)
		}
	}
	for _, u := range c.PostLogoutRedirectURIs {
		if err := checkURI(u, c.AppType); err != nil {
			errs = append(errs, fmt.Errorf("post-logout %w", err))
		}
	}
	has := func(grant string) bool { return slices.Contains(c.GrantTypes, grant) }
	if has(GrantAuthorizationCode) && len(c.RedirectURIs) == 0 {
		bad("the authorization_code grant needs a redirect URI")
	}
	if has(GrantRefreshToken) && !has(GrantAuthorizationCode) && !has(GrantDeviceCode) {
		bad("refresh_token refreshes a user's grant: it needs authorization_code or the device grant")
	}
	if has(GrantClientCredentials) {
		if c.Kind != Confidential {
			bad("client_credentials is for confidential clients: a public client has no secret to earn a token with")
		}
		if c.Dynamic {
			bad("client_credentials is never given to a client that registered itself")
		}
	}
	if slices.Contains(c.Scopes, ScopeAdmin) && !has(GrantClientCredentials) {
		bad("the admin scope is only for a client_credentials client (confidential, registered by the operator)")
	}
	return errors.Join(errs...)
}
