package provider

import (
	"context"
	"crypto/rand"
	"errors"
	"strconv"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/internal/clients"
)

// storage is what pkg/op asks of keel (op.Storage): this file holds the
// authorization requests and their codes, clients and health; tokens.go the
// tokens, userinfo.go the claims, keys.go the keys.
type storage struct{ p *Provider }

var (
	_ op.Storage                        = (*storage)(nil)
	_ op.CanSetUserinfoFromRequest      = (*storage)(nil)
	_ op.CanGetPrivateClaimsFromRequest = (*storage)(nil)
	_ op.CanTerminateSessionFromRequest = (*storage)(nil)
)

// authRequest is a stored request as pkg/op sees it (op.AuthRequest).
type authRequest struct{ AuthRequest }

func (r *authRequest) GetID() string          { return r.ID }
func (r *authRequest) GetACR() string         { return r.ACR }
func (r *authRequest) GetAMR() []string       { return strings.Fields(r.AMR) }
func (r *authRequest) GetAudience() []string  { return audience(r.ClientID, r.Resource) }
func (r *authRequest) GetAuthTime() time.Time { return r.AuthTime }
func (r *authRequest) GetClientID() string    { return r.ClientID }
func (r *authRequest) GetNonce() string       { return r.Nonce }
func (r *authRequest) GetRedirectURI() string { return r.RedirectURI }
func (r *authRequest) GetScopes() []string    { return r.Scopes }
func (r *authRequest) GetState() string       { return r.State }
func (r *authRequest) Done() bool             { return r.AuthRequest.Done }
func (r *authRequest) GetSubject() string     { return subject(r.UserID) }
func (r *authRequest) GetResponseType() oidc.ResponseType {
	return oidc.ResponseType(r.ResponseType)
}
func (r *authRequest) GetResponseMode() oidc.ResponseMode {
	return oidc.ResponseMode(r.ResponseMode)
}
func (r *authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	if r.CodeChallenge == "" {
		return nil
	}
	return &oidc.CodeChallenge{Challenge: r.CodeChallenge, Method: oidc.CodeChallengeMethodS256}
}

// subject is a user's sub: keel's user id, in decimal, as in keel's own
// access tokens.
func subject(userID int64) string {
	if userID == 0 {
		return ""
	}
	return strconv.FormatInt(userID, 10)
}

// CreateAuthRequest implements op.Storage: a validated request
// (authorize.go) is stored for the login step, for OP_REQUEST_TTL.
func (s *storage) CreateAuthRequest(ctx context.Context, req *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	now := s.p.now()
	r := AuthRequest{
		ID: rand.Text(), ClientID: req.ClientID, RedirectURI: req.RedirectURI, Scopes: req.Scopes,
		State: req.State, Nonce: req.Nonce, ResponseType: string(req.ResponseType),
		ResponseMode: string(req.ResponseMode), CodeChallenge: req.CodeChallenge, MaxAge: -1,
		Prompt: req.Prompt, ACRValues: req.ACRValues, Resource: resourceOf(ctx),
		CreatedAt: now, ExpiresAt: now.Add(s.p.cfg.RequestTTL),
	}
	if req.MaxAge != nil {
		r.MaxAge = int64(*req.MaxAge)
	}
	if err := s.p.store.CreateAuthRequest(ctx, r); err != nil {
		return nil, err
	}
	return &authRequest{r}, nil
}

// AuthRequestByID implements op.Storage (the callback reads the request the
// login step accepted).
func (s *storage) AuthRequestByID(ctx context.Context, id string) (op.AuthRequest, error) {
	r, err := s.p.store.GetAuthRequest(ctx, id)
	if errors.Is(err, ErrNoRequest) || err == nil && !s.p.now().Before(r.ExpiresAt) {
		return nil, oidc.ErrInvalidRequest().WithDescription("unknown or expired authorization request")
	}
	if err != nil {
		return nil, err
	}
	return &authRequest{r}, nil
}

// AuthRequestByCode implements op.Storage. A code exchanged already is a
// stolen or replayed one: its grant ends (RFC 9700 §4.2.4), whoever holds
// the tokens it gave.
func (s *storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	r, err := s.p.store.AuthRequestByCode(ctx, db.HashToken(code))
	if err != nil {
		return nil, err
	}
	if r.CodeUsed {
		s.p.endGrant(ctx, r.SessionID, "authorization code used twice")
		return nil, errors.New("code used")
	}
	if !s.p.now().Before(r.CodeExpiresAt) {
		return nil, errors.New("code expired")
	}
	if res := resourceOf(ctx); res != "" && res != r.Resource {
		return nil, errors.New("resource is not the one authorized")
	}
	return &authRequest{r}, nil
}

// SaveAuthCode implements op.Storage: only the code's SHA-256 is kept, for
// OP_CODE_TTL.
func (s *storage) SaveAuthCode(ctx context.Context, id, code string) error {
	// The request is kept OP_REQUEST_TTL past the code's expiry: a replay of
	// the spent code in that time still ends its grant.
	exp := s.p.now().Add(s.p.cfg.CodeTTL)
	err := s.p.store.SaveAuthCode(ctx, id, db.HashToken(code), exp, exp.Add(s.p.cfg.RequestTTL))
	if errors.Is(err, ErrNoRequest) {
		return oidc.ErrInvalidRequest().WithDescription("the authorization request has a code already")
	}
	return err
}

// DeleteAuthRequest implements op.Storage: pkg/op calls it once the code's
// tokens are made. The code is marked spent rather than forgotten, so its
// second use is seen; of two exchanges at once, the loser ends the grant.
func (s *storage) DeleteAuthRequest(ctx context.Context, id string) error {
	err := s.p.store.SpendAuthCode(ctx, id)
	if errors.Is(err, ErrCodeSpent) {
		if r, gerr := s.p.store.GetAuthRequest(ctx, id); gerr == nil {
			s.p.endGrant(ctx, r.SessionID, "authorization code used twice")
		}
		return oidc.ErrInvalidGrant().WithDescription("code used")
	}
	if errors.Is(err, ErrNoRequest) {
		return oidc.ErrInvalidGrant().WithDescription("unknown code")
	}
	return err
}

// GetClientByClientID implements op.Storage.
func (s *storage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.p.clients.GetClient(ctx, id)
	if errors.Is(err, clients.ErrNoClient) {
		return nil, oidc.ErrInvalidClient().WithDescription("unknown client")
	}
	if err != nil {
		return nil, err
	}
	return client{c: c, p: s.p}, nil
}

// AuthorizeClientIDSecret implements op.Storage: the secret's hash, compared
// in constant time (clients.Client.CheckSecret).
func (s *storage) AuthorizeClientIDSecret(ctx context.Context, id, secret string) error {
	c, err := s.p.clients.GetClient(ctx, id)
	if err != nil && !errors.Is(err, clients.ErrNoClient) {
		return err
	}
	if err != nil || !c.CheckSecret(secret) {
		return oidc.ErrInvalidClient().WithDescription("client authentication failed")
	}
	return nil
}

// Health implements op.Storage; keel has its own probes.
func (s *storage) Health(context.Context) error { return nil }

// ValidateJWTProfileScopes and GetKeyByIDAndClientID are for the JWT
// profile grant, which keel does not offer.
func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, oidc.ErrUnsupportedGrantType()
}

func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, oidc.ErrUnsupportedGrantType()
}
