package server

// Dynamic client registration (RFC 7591) at POST /oauth2/register: agents
// and MCP clients register themselves as clients of keel's OpenID Provider
// (docs/provider.md). pkg/op has no handler for it, so keel writes it, over
// the generated strict interface: the request is validated by the spec and
// rate-limited like the other operations marked x-keel-rate-limit, and a
// refusal of keel's own is RFC 7591's JSON error, which the spec documents
// beside the problem+json of a body it refuses. The rules a client is held
// to are internal/clients' (Register with Dynamic set).

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/keelhq/keel/gen/oapi"
	"github.com/keelhq/keel/internal/clients"
)

// The token endpoint's client authentication methods (RFC 7591 §2).
const (
	authNone        = "none"
	authSecretBasic = "client_secret_basic"
	authSecretPost  = "client_secret_post"
)

// RFC 7591 §3.2.2's error codes.
const (
	errInvalidRedirectURI    = "invalid_redirect_uri"
	errInvalidClientMetadata = "invalid_client_metadata"
)

// errRegistrationOff is POST /oauth2/register while OP_DYNAMIC_REGISTRATION
// is off: nothing is there to anyone who asks.
var errRegistrationOff = &Error{Status: http.StatusNotFound, Detail: "dynamic client registration is off"}

// errBadInitialToken is an Authorization header that is not
// OP_DCR_INITIAL_ACCESS_TOKEN (or any, when none is set): refused rather
// than taken for an anonymous registration, so a misconfigured app hears
// that its token is wrong.
var errBadInitialToken = &Error{Status: http.StatusUnauthorized, Detail: "the initial access token is invalid"}

// registrationAuthKey carries the request's Authorization header from
// keepAuthorization to RegisterOAuth2Client.
type registrationAuthKey struct{}

// keepAuthorization is a strict-handler middleware that gives dynamic
// registration the request's Authorization header, where an initial access
// token comes (strict handlers see only the context).
func keepAuthorization(f oapi.StrictHandlerFunc, operationID string) oapi.StrictHandlerFunc {
	if operationID != "RegisterOAuth2Client" {
		return f
	}
	return func(c echo.Context, req any) (any, error) {
		r := c.Request()
		c.SetRequest(r.WithContext(context.WithValue(r.Context(), registrationAuthKey{}, r.Header.Get("Authorization"))))
		return f(c, req)
	}
}

// initialAccess reports whether the request carries the initial access
// token, or says it carries a wrong one. The comparison is of SHA-256
// digests in constant time: neither the time taken nor an early mismatch
// says how much of a guess was right, or how long the token is.
func (s *Server) initialAccess(ctx context.Context) (bool, error) {
	h, _ := ctx.Value(registrationAuthKey{}).(string)
	if h == "" {
		return false, nil
	}
	scheme, tok, ok := strings.Cut(h, " ")
	want := s.cfg.DCRInitialAccessToken
	if !ok || !strings.EqualFold(scheme, "Bearer") || want == "" {
		return false, errBadInitialToken
	}
	got, exp := sha256.Sum256([]byte(tok)), sha256.Sum256([]byte(want))
	if subtle.ConstantTimeCompare(got[:], exp[:]) != 1 {
		return false, errBadInitialToken
	}
	return true, nil
}

// registrationRefused is RFC 7591 §3.2.2's answer.
func registrationRefused(code, description string) oapi.RegisterOAuth2Client400JSONResponse {
	return oapi.RegisterOAuth2Client400JSONResponse{ClientRegistrationRefusedJSONResponse: oapi.ClientRegistrationRefusedJSONResponse{
		Error: oapi.ClientRegistrationErrorError(code), ErrorDescription: description,
	}}
}

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

// deref is *p, or T's zero value when p is nil (a member not sent).
func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// nonNil is l, or an empty list for none: the answer lists [] rather than null.
func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}
