package provider

import (
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/keelhq/keel/internal/clients"
)

// client is a registered client (internal/clients) as pkg/op sees it.
// Redirect URIs are matched by keel (authorize.go, clients.RedirectAllowed)
// before pkg/op looks.
type client struct {
	c clients.Client
	p *Provider
}

var _ op.Client = client{}

func (c client) GetID() string                    { return c.c.ID }
func (c client) RedirectURIs() []string           { return c.c.RedirectURIs }
func (c client) PostLogoutRedirectURIs() []string { return c.c.PostLogoutRedirectURIs }

// ApplicationType: pkg/op takes a web client for a confidential one (the
// device grant's token endpoint refuses a web client that does not
// authenticate), so a public client that is not native is a user-agent
// one, which changes nothing else: keel matches redirect URIs itself.
func (c client) ApplicationType() op.ApplicationType {
	switch {
	case c.c.AppType == clients.Native:
		return op.ApplicationTypeNative
	case c.c.Kind == clients.Public:
		return op.ApplicationTypeUserAgent
	}
	return op.ApplicationTypeWeb
}

// AuthMethod: a public client has no secret, and proves itself by PKCE; a
// confidential one sends its secret by HTTP Basic or in the form.
func (c client) AuthMethod() oidc.AuthMethod {
	if c.c.Kind == clients.Public {
		return oidc.AuthMethodNone
	}
	return oidc.AuthMethodBasic
}

func (c client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}

func (c client) GrantTypes() []oidc.GrantType {
	out := make([]oidc.GrantType, 0, len(c.c.GrantTypes))
	for _, g := range c.c.GrantTypes {
		out = append(out, oidc.GrantType(g))
	}
	return out
}

func (c client) LoginURL(id string) string            { return c.p.loginURL(id) }
func (c client) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeJWT }
func (c client) IDTokenLifetime() time.Duration       { return c.p.cfg.AccessTTL }
func (c client) DevMode() bool                        { return false }
func (c client) IsScopeAllowed(scope string) bool     { return slices.Contains(c.c.Scopes, scope) }
func (c client) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c client) ClockSkew() time.Duration             { return 0 }
func (c client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
