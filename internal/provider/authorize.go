package provider

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"slices"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/keelhq/keel/internal/clients"
)

// authorizer is pkg/op's provider with keel's own validation of
// authorization requests (op.AuthorizeValidator), which replaces pkg/op's:
// the client's redirect URI under clients.RedirectAllowed's rules (RFC 8252
// loopback ports, nothing else), PKCE with S256 only (pkg/op would take
// plain), PKCE required of public clients, response_mode query alone, and
// only the scopes the client is registered for.
type authorizer struct {
	*op.Provider
	p *Provider
}

// ValidateAuthRequest implements op.AuthorizeValidator. Until the redirect
// URI is known to be the client's, every error disables the redirect: the
// browser gets an error page, never a trip to an unregistered URI.
func (a *authorizer) ValidateAuthRequest(ctx context.Context, req *oidc.AuthRequest, _ op.Storage, verifier *op.IDTokenHintVerifier) (string, error) {
	c, err := a.p.clients.GetClient(ctx, req.ClientID)
	if errors.Is(err, clients.ErrNoClient) {
		return "", oidc.ErrInvalidRequestRedirectURI().WithDescription("unknown client_id")
	}
	if err != nil {
		return "", oidc.ErrInvalidRequestRedirectURI().WithDescription("the client could not be read").WithParent(err)
	}
	if !c.RedirectAllowed(req.RedirectURI) {
		return "", oidc.ErrInvalidRequestRedirectURI().WithDescription("redirect_uri is not one the client registered")
	}
	if req.ResponseMode != "" && req.ResponseMode != oidc.ResponseModeQuery {
		// Discovery lists query alone: form_post's page would be an
		// undocumented 200 that keel's CSP stops, and a fragment is for the
		// implicit flows. The refusal itself goes in the query.
		req.ResponseMode = ""
		return "", oidc.ErrInvalidRequest().WithDescription("only response_mode=query is supported")
	}
	if req.ResponseType != oidc.ResponseTypeCode {
		return "", oidc.ErrInvalidRequest().WithDescription("only response_type=code is supported")
	}
	if !slices.Contains(c.GrantTypes, clients.GrantAuthorizationCode) {
		return "", oidc.ErrUnauthorizedClient().WithDescription("the client may not use the authorization code grant")
	}
	switch {
	case req.CodeChallenge != "" && req.CodeChallengeMethod != oidc.CodeChallengeMethodS256:
		return "", oidc.ErrInvalidRequest().WithDescription("code_challenge_method must be S256")
	case req.CodeChallenge != "" && !s256Challenge(req.CodeChallenge):
		// No verifier hashes to anything else: the exchange could only fail.
		return "", oidc.ErrInvalidRequest().WithDescription("code_challenge must be the S256 of the verifier: 43 base64url characters")
	case req.CodeChallenge == "" && req.CodeChallengeMethod != "":
		return "", oidc.ErrInvalidRequest().WithDescription("code_challenge_method without code_challenge")
	case req.CodeChallenge == "" && c.Kind == clients.Public:
		return "", oidc.ErrInvalidRequest().WithDescription("PKCE (code_challenge with S256) is required")
	}
	if err, ok := ctx.Value(resourceErrKey{}).(*oidc.Error); ok {
		return "", err
	}
	if slices.Contains(req.Prompt, oidc.PromptNone) && len(req.Prompt) > 1 {
		return "", oidc.ErrInvalidRequest().WithDescription("prompt=none must be alone")
	}
	req.Scopes = slices.DeleteFunc(req.Scopes, func(s string) bool {
		return !slices.Contains(Scopes, s) || !slices.Contains(c.Scopes, s)
	})
	if len(req.Scopes) == 0 {
		return "", oidc.ErrInvalidScope().WithDescription("none of the scopes asked for is the client's")
	}
	return op.ValidateAuthReqIDTokenHint(ctx, req.IDTokenHint, verifier)
}

// s256Challenge reports whether c can be an S256 code challenge: a SHA-256
// in unpadded base64url, 43 characters (RFC 7636 §4.2).
func s256Challenge(c string) bool {
	b, err := base64.RawURLEncoding.DecodeString(c)
	return err == nil && len(c) == 43 && len(b) == sha256.Size
}
