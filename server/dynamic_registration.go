package server

// Dynamic client registration (RFC 7591) at POST /oauth2/register: agents
// and MCP clients register themselves as clients of keel's OpenID Provider
// (docs/provider.md). pkg/op has no handler for it, so keel writes it, over
// the generated strict interface: the request is validated by the spec and
// rate-limited like the other operations marked x-keel-rate-limit, and a
// refusal of keel's own is RFC 7591's JSON error, which the spec documents
// beside the problem+json of a body it refuses. The rules a client is held
// to are internal/clients' (Register with Dynamic set). The handler itself,
// RegisterOAuth2Client, is in provider.go, the file of its spec tag.

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/keelhq/keel/gen/oapi"
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
// is off, or on an install that is no OpenID Provider (one still on HS256),
// where a registered client could sign in to nothing: nothing is there to
// anyone who asks.
var errRegistrationOff = &Error{Status: http.StatusNotFound, Detail: "dynamic client registration is off"}

// registrationOpen reports whether POST /oauth2/register registers: it is
// on, and keel is an OpenID Provider its clients can sign in with.
func (s *Server) registrationOpen() bool { return s.cfg.DynamicRegistration && s.op != nil }

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
