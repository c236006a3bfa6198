package server

// The provider tag's operations (keel as an OpenID Provider,
// docs/provider.md) that keel serves through the generated interface.

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/keelhq/keel/gen/oapi"
	"github.com/keelhq/keel/internal/clients"
)

// RegisterOAuth2Client registers a client that asked for itself (RFC 7591).
func (s *Server) RegisterOAuth2Client(ctx context.Context, req oapi.RegisterOAuth2ClientRequestObject) (oapi.RegisterOAuth2ClientResponseObject, error) {
	if !s.cfg.DynamicRegistration {
		return nil, errRegistrationOff
	}
	trusted, err := s.initialAccess(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Body
	reg := clients.Registration{
		Name: deref(m.ClientName), Public: true, Dynamic: true,
		RedirectURIs: deref(m.RedirectUris), PostLogoutRedirectURIs: deref(m.PostLogoutRedirectUris),
		GrantTypes: deref(m.GrantTypes), Scopes: strings.Fields(deref(m.Scope)),
	}
	if reg.Name == "" {
		return registrationRefused(errInvalidClientMetadata, "client_name is required: the login step shows it"), nil
	}
	// Without a method a client is public, the only kind open to anyone;
	// with the initial access token, RFC 7591's default.
	method := deref(m.TokenEndpointAuthMethod)
	if method == "" {
		method = authNone
		if trusted {
			method = authSecretBasic
		}
	}
	switch method {
	case authNone:
	case authSecretBasic, authSecretPost:
		if !trusted {
			return registrationRefused(errInvalidClientMetadata,
				"a confidential client ("+method+") needs the initial access token; register a public one (none) with PKCE"), nil
		}
		reg.Public = false
	default:
		return registrationRefused(errInvalidClientMetadata,
			"token_endpoint_auth_method: none, or with the initial access token client_secret_basic or client_secret_post"), nil
	}
	switch deref(m.ApplicationType) {
	case "", clients.Web:
	case clients.Native:
		reg.Native = true
	default:
		return registrationRefused(errInvalidClientMetadata, "application_type: web or native"), nil
	}
	if rt := deref(m.ResponseTypes); slices.ContainsFunc(rt, func(t string) bool { return t != "code" }) {
		return registrationRefused(errInvalidClientMetadata, "response_types: code only"), nil
	}
	c, secret, err := clients.Register(reg, s.now())
	if err != nil {
		code := errInvalidClientMetadata
		if errors.Is(err, clients.ErrRedirectURI) {
			code = errInvalidRedirectURI
		}
		return registrationRefused(code, strings.ReplaceAll(err.Error(), "\n", "; ")), nil
	}
	if err := s.clients.CreateClient(ctx, c); err != nil {
		return nil, err
	}
	out := oapi.RegisterOAuth2Client201JSONResponse{
		ClientID: c.ID, ClientIDIssuedAt: c.CreatedAt.Unix(), ClientName: c.Name,
		RedirectUris: nonNil(c.RedirectURIs), GrantTypes: c.GrantTypes, ResponseTypes: []string{},
		Scope:                   strings.Join(c.Scopes, " "),
		TokenEndpointAuthMethod: oapi.ClientRegistrationTokenEndpointAuthMethod(method),
		ApplicationType:         oapi.ClientRegistrationApplicationType(c.AppType),
	}
	if slices.Contains(c.GrantTypes, clients.GrantAuthorizationCode) {
		out.ResponseTypes = []string{"code"}
	}
	if len(c.PostLogoutRedirectURIs) > 0 {
		out.PostLogoutRedirectUris = &c.PostLogoutRedirectURIs
	}
	if secret != "" {
		never := int64(0)
		out.ClientSecret, out.ClientSecretExpiresAt = &secret, &never
	}
	return out, nil
}
