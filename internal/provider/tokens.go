package provider

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/keelhq/keel/db"
)

// A grant is a keel session with its ClientID set: its refresh tokens are
// keel's (token.Refresher, the session id and generation under JWT_SECRET's
// MAC), rotated and checked for reuse as keel's own (docs/accounts.md), and
// the grant ends when the session does. The access tokens are JWTs signed
// RS256, their jti the session id and a random suffix, so userinfo and
// revocation find the grant.

// refreshRequest is a grant being refreshed (op.RefreshTokenRequest).
type refreshRequest struct {
	sess      db.Session
	scopes    []string
	resource  string // named again at the refresh (resource.go)
	presented string
	// grace: the token just replaced, presented again within
	// REFRESH_REUSE_INTERVAL (another tab refreshed first): the current
	// refresh token is given again, not a new one.
	grace bool
}

func (r *refreshRequest) GetAMR() []string                 { return strings.Fields(r.sess.AMR) }
func (r *refreshRequest) GetAudience() []string            { return audience(r.sess.ClientID, r.resource) }
func (r *refreshRequest) GetAuthTime() time.Time           { return r.sess.AuthTime }
func (r *refreshRequest) GetClientID() string              { return r.sess.ClientID }
func (r *refreshRequest) GetScopes() []string              { return r.scopes }
func (r *refreshRequest) GetSubject() string               { return subject(r.sess.UserID) }
func (r *refreshRequest) SetCurrentScopes(scopes []string) { r.scopes = scopes }

// sessionOf is the grant's session id of a token request (a device
// code's is in ctx: deviceGrant).
func sessionOf(ctx context.Context, req op.TokenRequest) string {
	switch r := req.(type) {
	case *authRequest:
		return r.SessionID
	case *refreshRequest:
		return r.sess.ID
	case *op.DeviceAuthorizationState:
		return deviceGrantOf(ctx).sid
	}
	return ""
}

// used records that the client of req obtained a token at now
// (clients.Store.TouchClient): a dynamically registered client unused for
// OP_DCR_IDLE_DAYS is deleted, so its use must be seen. A failure to record
// it costs the client no token; it is logged.
func (s *storage) used(ctx context.Context, req op.TokenRequest, now time.Time) {
	c, ok := req.(interface{ GetClientID() string })
	if !ok {
		return
	}
	if err := s.p.clients.TouchClient(ctx, c.GetClientID(), now); err != nil {
		s.p.log.LogAttrs(ctx, slog.LevelWarn, "recording a client's use", slog.String("error", err.Error()))
	}
}

// tokenID is an access token's jti: the grant's session, and a random part.
func tokenID(sid string) string { return sid + "." + rand.Text()[:10] }

// sessionOfTokenID is the grant's session of a jti made by tokenID.
func sessionOfTokenID(id string) string {
	sid, _, _ := strings.Cut(id, ".")
	return sid
}

// liveGrant returns the grant's session sid, or invalid_grant when it has
// ended or is not a grant.
func (s *storage) liveGrant(ctx context.Context, sid string) (db.Session, error) {
	sess, err := s.p.accounts.GetSession(ctx, sid)
	if errors.Is(err, db.ErrNoSession) || err == nil && sess.ClientID == "" {
		return db.Session{}, oidc.ErrInvalidGrant().WithDescription("the grant has ended")
	}
	return sess, err
}

// CreateAccessToken implements op.Storage: an access token without a
// refresh token (no offline_access), while the grant lives; or a machine's
// (machines.go).
func (s *storage) CreateAccessToken(ctx context.Context, req op.TokenRequest) (string, time.Time, error) {
	if m, ok := req.(*machineRequest); ok {
		return s.machineToken(ctx, m)
	}
	sid := sessionOf(ctx, req)
	if _, err := s.liveGrant(ctx, sid); err != nil {
		return "", time.Time{}, err
	}
	now := s.p.now()
	s.used(ctx, req, now)
	return tokenID(sid), now.Add(s.p.cfg.AccessTTL), nil
}

// CreateAccessAndRefreshTokens implements op.Storage: at the code's
// exchange, the grant's first refresh token; at a refresh, the next one,
// rotated in one conditional statement (db.Sessions.RotateRefresh) so of two
// refreshes of one token one wins and the other is a reuse.
func (s *storage) CreateAccessAndRefreshTokens(ctx context.Context, req op.TokenRequest, current string) (string, string, time.Time, error) {
	now := s.p.now()
	exp := now.Add(s.p.cfg.AccessTTL)
	switch r := req.(type) {
	case *authRequest, *op.DeviceAuthorizationState:
		// The grant's first tokens, at the code's exchange or the
		// device's poll.
		sess, err := s.liveGrant(ctx, sessionOf(ctx, r))
		if err != nil {
			return "", "", time.Time{}, err
		}
		if sess.Generation != 1 {
			return "", "", time.Time{}, oidc.ErrInvalidGrant()
		}
		first := s.p.refresh.Rederive(sess.ID, 1, func(tok string) bool { return db.HashToken(tok) == sess.RefreshHash })
		s.used(ctx, req, now)
		return tokenID(sess.ID), first, exp, nil
	case *refreshRequest:
		sess := r.sess
		if r.grace {
			tok := s.p.refresh.Rederive(sess.ID, sess.Generation, func(tok string) bool { return db.HashToken(tok) == sess.RefreshHash })
			s.used(ctx, req, now)
			return tokenID(sess.ID), tok, exp, nil
		}
		next := s.p.refresh.Refresh(sess.ID, sess.Generation+1)
		_, err := s.p.accounts.RotateRefresh(ctx, sess.ID, db.HashToken(r.presented), db.HashToken(next), now,
			s.p.refreshExpiry(sess.CreatedAt, now))
		if errors.Is(err, db.ErrStale) {
			// Another refresh of this token won: this one is a reuse.
			s.p.endGrant(ctx, sess.ID, "refresh token reused")
			return "", "", time.Time{}, oidc.ErrInvalidGrant().WithDescription("refresh token reused")
		}
		if err != nil {
			return "", "", time.Time{}, err
		}
		s.used(ctx, req, now)
		return tokenID(sess.ID), next, exp, nil
	}
	return "", "", time.Time{}, oidc.ErrUnsupportedGrantType()
}

// TokenRequestByRefreshToken implements op.Storage, with keel's rules for a
// refresh token (server/auth.go's RefreshToken): the session must be a
// grant (a keel session's token is not a client's), live and unexpired;
// a spent token ends the grant (RFC 9700 §4.14.2), unless it is the one just
// replaced within REFRESH_REUSE_INTERVAL. The scopes are those the grant
// was given.
func (s *storage) TokenRequestByRefreshToken(ctx context.Context, tok string) (op.RefreshTokenRequest, error) {
	sid, gen, ok := s.p.refresh.ParseRefresh(tok)
	if !ok {
		return nil, op.ErrInvalidRefreshToken
	}
	sess, err := s.p.accounts.GetSession(ctx, sid)
	if errors.Is(err, db.ErrNoSession) || err == nil && sess.ClientID == "" {
		return nil, op.ErrInvalidRefreshToken
	}
	if err != nil {
		return nil, err
	}
	now := s.p.now()
	r := &refreshRequest{sess: sess, presented: tok, resource: resourceOf(ctx)}
	switch {
	case !now.Before(sess.RefreshExpiresAt):
		s.p.endGrant(ctx, sid, "refresh token expired")
		return nil, op.ErrInvalidRefreshToken
	case gen == sess.Generation && db.HashToken(tok) == sess.RefreshHash:
	case gen == sess.Generation-1 && now.Sub(sess.RotatedAt) < s.p.cfg.RefreshReuseInterval:
		r.grace = true
	case gen < sess.Generation:
		s.p.endGrant(ctx, sid, "refresh token reused")
		return nil, op.ErrInvalidRefreshToken
	default:
		return nil, op.ErrInvalidRefreshToken
	}
	// The grant's own scopes, not the user's consent to the client, which a
	// later sign-in may have widened (RFC 6749 §6); withdrawing the consent
	// ends the grant.
	scopes, err := s.p.store.GrantScopes(ctx, sid)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(scopes, oidc.ScopeOfflineAccess) {
		s.p.endGrant(ctx, sid, "no offline_access")
		return nil, op.ErrInvalidRefreshToken
	}
	r.scopes = scopes
	return r, nil
}

// GetRefreshTokenInfo implements op.Storage for revocation: the grant of a
// refresh token of clientID's.
func (s *storage) GetRefreshTokenInfo(ctx context.Context, clientID, tok string) (string, string, error) {
	sid, _, ok := s.p.refresh.ParseRefresh(tok)
	if !ok {
		return "", "", op.ErrInvalidRefreshToken
	}
	sess, err := s.p.accounts.GetSession(ctx, sid)
	if errors.Is(err, db.ErrNoSession) || err == nil && sess.ClientID != clientID {
		return "", "", op.ErrInvalidRefreshToken
	}
	if err != nil {
		return "", "", err
	}
	return subject(sess.UserID), sid + ".", nil
}

// RevokeToken implements op.Storage (RFC 7009): revoking a grant's refresh
// token, or one of its access tokens, ends the grant. A token that is not
// the client's, or not keel's, is no error (RFC 7009 §2.2).
func (s *storage) RevokeToken(ctx context.Context, id, _, clientID string) *oidc.Error {
	sid := sessionOfTokenID(id)
	if sid == "" || !strings.Contains(id, ".") {
		return nil
	}
	sess, err := s.p.accounts.GetSession(ctx, sid)
	if err != nil || sess.ClientID != clientID {
		return nil
	}
	s.p.endGrant(ctx, sid, "revoked by the client")
	return nil
}

// TerminateSession implements op.Storage; end_session goes through
// TerminateSessionFromRequest instead.
func (s *storage) TerminateSession(context.Context, string, string) error { return nil }

// TerminateSessionFromRequest implements op.CanTerminateSessionFromRequest
// (RP-initiated logout): the grant named by the id_token_hint's sid ends,
// when it is the hint's client's; without a hint nothing ends, and the
// browser only goes to the (registered) post-logout URI.
func (s *storage) TerminateSessionFromRequest(ctx context.Context, req *op.EndSessionRequest) (string, error) {
	if req.IDTokenHintClaims == nil {
		return req.RedirectURI, nil
	}
	sid, _ := req.IDTokenHintClaims.Claims["sid"].(string)
	if sid == "" {
		return req.RedirectURI, nil
	}
	sess, err := s.p.accounts.GetSession(ctx, sid)
	if errors.Is(err, db.ErrNoSession) {
		return req.RedirectURI, nil
	}
	if err != nil {
		return "", err
	}
	if sess.ClientID != "" && sess.ClientID == req.IDTokenHintClaims.GetAuthorizedParty() && subject(sess.UserID) == req.IDTokenHintClaims.GetSubject() {
		s.p.endGrant(ctx, sid, "RP-initiated logout")
	}
	return req.RedirectURI, nil
}
