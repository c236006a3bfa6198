package provider

import (
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/keelhq/keel/internal/clients"
)

// The client_credentials grant (RFC 6749 §4.4): a machine (a cron job, a
// back office service) obtains a token for itself with its secret alone.
// Only a confidential client the operator registered with the grant may
// (internal/clients' rules: never a public client, which has no secret to
// earn a token with, never one that registered itself). The token's sub is
// the client id, it carries no user's claims and names no session: it
// lives until its exp (JWT_TTL), or until the client is deleted
// (introspection then says inactive). Its scopes are those asked for among
// the client's machine scopes (admin, when registered with it); none asked
// for, none given.

var _ op.ClientCredentialsStorage = (*storage)(nil)

// userScopes are the scopes that speak for a user: never on a machine's
// token.
var userScopes = []string{clients.ScopeOpenID, clients.ScopeProfile, clients.ScopeEmail, clients.ScopeOfflineAccess}

// machineRequest is a client_credentials token request (op.TokenRequest).
type machineRequest struct {
	clientID string
	scopes   []string
	resource string
}

func (r *machineRequest) GetSubject() string     { return r.clientID }
func (r *machineRequest) GetClientID() string    { return r.clientID }
func (r *machineRequest) GetAudience() []string  { return audience(r.clientID, r.resource) }
func (r *machineRequest) GetScopes() []string    { return r.scopes }
func (r *machineRequest) GetAMR() []string       { return nil }
func (r *machineRequest) GetAuthTime() time.Time { return time.Time{} }

// machineClient returns the client id when it may use client_credentials:
// confidential, registered by the operator with the grant.
func (s *storage) machineClient(ctx context.Context, id string) (clients.Client, bool, error) {
	c, err := s.p.clients.GetClient(ctx, id)
	if errors.Is(err, clients.ErrNoClient) {
		return clients.Client{}, false, nil
	}
	if err != nil {
		return clients.Client{}, false, err
	}
	return c, c.Kind == clients.Confidential && !c.Dynamic && slices.Contains(c.GrantTypes, clients.GrantClientCredentials), nil
}

// ClientCredentials implements op.ClientCredentialsStorage: the client
// authenticated by its secret (a public client has none: invalid_client,
// RFC 6749 §5.2); a confidential client without the grant is pkg/op's
// unauthorized_client.
func (s *storage) ClientCredentials(ctx context.Context, id, secret string) (op.Client, error) {
	c, err := s.p.clients.GetClient(ctx, id)
	if err != nil && !errors.Is(err, clients.ErrNoClient) {
		return nil, oidc.ErrServerError().WithParent(err)
	}
	if err != nil || !c.CheckSecret(secret) {
		return nil, errors.New("client authentication failed")
	}
	return client{c: c, p: s.p}, nil
}

// ClientCredentialsTokenRequest implements op.ClientCredentialsStorage: the
// scopes asked for, each one the client is registered for and none a
// user's (invalid_scope otherwise).
func (s *storage) ClientCredentialsTokenRequest(ctx context.Context, id string, scopes []string) (op.TokenRequest, error) {
	c, ok, err := s.machineClient(ctx, id)
	if err != nil {
		return nil, oidc.ErrServerError().WithParent(err)
	}
	if !ok {
		return nil, oidc.ErrUnauthorizedClient().WithDescription("the client is not registered for client_credentials")
	}
	for _, sc := range scopes {
		if slices.Contains(userScopes, sc) || !slices.Contains(c.Scopes, sc) {
			return nil, oidc.ErrInvalidScope().WithDescription("scope %q is not the client's to ask for with client_credentials", sc)
		}
	}
	return &machineRequest{clientID: id, scopes: scopes, resource: resourceOf(ctx)}, nil
}

// machineToken is CreateAccessToken for a client_credentials request: a
// jti of its own (no session: no "." in it, so revocation and userinfo find
// no grant), for JWT_TTL.
func (s *storage) machineToken(ctx context.Context, req *machineRequest) (string, time.Time, error) {
	now := s.p.now()
	s.used(ctx, req, now)
	return rand.Text(), now.Add(s.p.cfg.AccessTTL), nil
}
