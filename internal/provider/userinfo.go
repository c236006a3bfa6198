package provider

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/keelhq/keel/db"
)

// setUser fills userinfo with the claims of userID the scopes allow: sub
// always, email and email_verified for the email scope.
func (s *storage) setUser(ctx context.Context, userinfo *oidc.UserInfo, userID string, scopes []string) error {
	id, err := strconv.ParseInt(userID, 10, 64)
	if err != nil {
		return oidc.ErrInvalidRequest()
	}
	u, err := s.p.accounts.GetUser(ctx, id)
	if errors.Is(err, db.ErrNoUser) {
		return oidc.ErrInvalidGrant().WithDescription("the user is gone")
	}
	if err != nil {
		return err
	}
	userinfo.Subject = userID
	if slices.Contains(scopes, oidc.ScopeEmail) {
		userinfo.Email = u.Email
		userinfo.EmailVerified = oidc.Bool(u.EmailVerified)
	}
	return nil
}

// SetUserinfoFromScopes implements op.Storage (the ID token's claims).
func (s *storage) SetUserinfoFromScopes(ctx context.Context, userinfo *oidc.UserInfo, userID, _ string, scopes []string) error {
	return s.setUser(ctx, userinfo, userID, scopes)
}

// SetUserinfoFromRequest implements op.CanSetUserinfoFromRequest: the ID
// token names its grant's session (sid, OpenID Connect Front-Channel
// Logout §3), which RP-initiated logout ends, and carries its user's roles
// and listed claims (claims.go).
func (s *storage) SetUserinfoFromRequest(ctx context.Context, userinfo *oidc.UserInfo, req op.IDTokenRequest, _ []string) error {
	tr, _ := req.(op.TokenRequest)
	if sid := sessionOf(ctx, tr); sid != "" {
		userinfo.AppendClaims("sid", sid)
	}
	if _, ok := req.(*op.DeviceAuthorizationState); ok {
		// pkg/op takes acr from an authorization request only.
		if acr := deviceGrantOf(ctx).acr; acr != "" {
			userinfo.AppendClaims("acr", acr)
		}
	}
	claims, err := s.claimsOfRequest(ctx, tr)
	if err != nil {
		return err
	}
	for k, v := range claims {
		userinfo.AppendClaims(k, v)
	}
	return nil
}

// SetUserinfoFromToken implements op.Storage (/oauth2/userinfo): the user
// of a live grant, within the scopes the grant was given, with their roles
// and listed claims as app_metadata holds them now (claims.go).
func (s *storage) SetUserinfoFromToken(ctx context.Context, userinfo *oidc.UserInfo, id, sub, _ string) error {
	sess, err := s.liveGrant(ctx, sessionOfTokenID(id))
	if err != nil {
		return err
	}
	if subject(sess.UserID) != sub {
		return oidc.ErrInvalidGrant()
	}
	scopes, err := s.p.store.GrantScopes(ctx, sess.ID)
	if err != nil {
		return err
	}
	if err := s.setUser(ctx, userinfo, sub, scopes); err != nil {
		return err
	}
	for k, v := range s.p.cfg.AppMetadataClaims.ForToken(ctx, s.p.log, sess.UserID, sess.AppMetadata) {
		userinfo.AppendClaims(k, v)
	}
	return nil
}

// GetPrivateClaimsFromScopes implements op.Storage; keel's claims come from
// the request (GetPrivateClaimsFromRequest).
func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

// GetPrivateClaimsFromRequest implements op.CanGetPrivateClaimsFromRequest:
// an access token carries its scope (RFC 9068 §2.2.3), its grant's sid, and
// its user's roles and listed claims (claims.go).
func (s *storage) GetPrivateClaimsFromRequest(ctx context.Context, req op.TokenRequest, _ []string) (map[string]any, error) {
	claims, err := s.claimsOfRequest(ctx, req)
	if err != nil {
		return nil, err
	}
	if claims == nil {
		claims = map[string]any{}
	}
	claims["scope"] = strings.Join(req.GetScopes(), " ")
	if sid := sessionOf(ctx, req); sid != "" {
		claims["sid"] = sid
	}
	return claims, nil
}
