package provider

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/internal/token"
)

// Introspection (RFC 7662) at PathIntrospect, for resource servers: a
// confidential client (one registered with a secret; a resource server
// needs no other grant than client_credentials) authenticates, by HTTP
// Basic or client_secret in the form, and asks whether a token is active.
// Unauthenticated, or a public client: 401. Any confidential client may
// introspect any token: it holds the token already, and learns only what
// the token says and whether it still counts.
//
//   - A client's access token (code flow, refresh): active while it has
//     not expired and its grant's session lives (DELETE /sessions/{id},
//     logout, reuse detection... end it). pkg/op verifies the token (RS256,
//     keel's issuer, unexpired) and asks SetIntrospectionFromToken.
//   - A machine's (client_credentials): active until its exp while its
//     client exists and may still use the grant.
//   - keel's own access token (aud JWT_AUDIENCE): active while keel's API
//     would take it (server/security.go's sessionLive): its session lives,
//     at the level generation it names, not owing its second factor.
//
// Anything else is {"active": false}, never an error (RFC 7662 §2.2).

// KeelTokens verifies keel's own access tokens (internal/token.Issuer).
type KeelTokens interface {
	VerifyUntil(raw string) (token.Principal, time.Time, error)
}

// claimsKey carries the presented token's claims, read before pkg/op
// verifies it, to SetIntrospectionFromToken, which pkg/op gives only the
// jti and sub: the claims count there only once the signature has passed.
type claimsKey struct{}

// introspect serves PathIntrospect.
func (p *Provider) introspect(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		httphelper.MarshalJSONWithStatus(w, oidc.ErrInvalidRequest().WithDescription("the request is not a valid form"), http.StatusBadRequest)
		return
	}
	// pkg/op authenticates introspection by HTTP Basic only; the token
	// endpoint also takes client_secret in the form, and so does this one.
	if _, _, basic := r.BasicAuth(); !basic && r.PostForm.Get("client_secret") != "" {
		r.SetBasicAuth(url.QueryEscape(r.PostForm.Get("client_id")), url.QueryEscape(r.PostForm.Get("client_secret")))
	}
	if _, authenticated, err := op.ClientIDFromRequest(r, p.op); err != nil || !authenticated {
		w.Header().Set("WWW-Authenticate", `Basic realm="keel"`)
		httphelper.MarshalJSONWithStatus(w, oidc.ErrInvalidClient().WithDescription("a confidential client's authentication is required"), http.StatusUnauthorized)
		return
	}
	raw := r.PostForm.Get("token")
	if resp, ok := p.introspectKeel(r.Context(), raw); ok {
		httphelper.MarshalJSON(w, resp)
		return
	}
	if c, ok := unverifiedClaims(raw); ok {
		r = r.WithContext(context.WithValue(r.Context(), claimsKey{}, c))
	}
	p.op.ServeHTTP(w, r)
}

// unverifiedClaims decodes a JWT's claims without checking anything.
func unverifiedClaims(raw string) (*oidc.AccessTokenClaims, bool) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, false
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, false
	}
	c := new(oidc.AccessTokenClaims)
	if json.Unmarshal(b, c) != nil {
		return nil, false
	}
	return c, true
}

// introspectKeel answers for raw when it is keel's own access token (ok);
// not ok for any other token.
func (p *Provider) introspectKeel(ctx context.Context, raw string) (*oidc.IntrospectionResponse, bool) {
	if p.tokens == nil || raw == "" {
		return nil, false
	}
	pr, exp, err := p.tokens.VerifyUntil(raw)
	if err != nil {
		return nil, false
	}
	inactive := &oidc.IntrospectionResponse{}
	if !p.now().Before(exp) {
		return inactive, true
	}
	acc, err := p.accounts.GetSessionAccess(ctx, pr.SessionID, pr.UserID)
	if err != nil {
		if !errors.Is(err, db.ErrNoSession) {
			p.log.LogAttrs(ctx, slog.LevelError, "introspecting keel's token", slog.String("error", err.Error()))
		}
		return inactive, true
	}
	// keel's API's rule (server/levels.go's checkLevel, mfa.go's
	// checkAssurance): a token of an older level generation no longer
	// speaks for its session, and a session owing its second factor may
	// call only that factor's operations.
	if pr.Level != acc.LevelGen || acc.HasFactor && acc.AAL != db.AAL2 {
		return inactive, true
	}
	c, _ := unverifiedClaims(raw)
	resp := &oidc.IntrospectionResponse{Active: true, Subject: subject(pr.UserID), Expiration: oidc.FromTime(exp),
		Audience: oidc.Audience{p.cfg.KeelAudience}, TokenType: oidc.BearerToken,
		Claims: map[string]any{"sid": pr.SessionID, "aal": acc.AAL}}
	if c != nil {
		resp.Issuer, resp.IssuedAt, resp.Audience = c.Issuer, c.IssuedAt, c.Audience
	}
	return resp, true
}

// SetIntrospectionFromToken implements op.Storage for a client's access
// token pkg/op has verified (id its jti, sub its sub): active while it has
// not expired by keel's clock and its grant lives, or, a machine's, while
// its client may still use client_credentials.
func (s *storage) SetIntrospectionFromToken(ctx context.Context, resp *oidc.IntrospectionResponse, id, sub, _ string) error {
	c, _ := ctx.Value(claimsKey{}).(*oidc.AccessTokenClaims)
	if c == nil || c.JWTID != id || c.Subject != sub || !s.p.now().Before(c.Expiration.AsTime()) {
		return oidc.ErrInvalidRequest()
	}
	if strings.Contains(id, ".") {
		sess, err := s.liveGrant(ctx, sessionOfTokenID(id))
		if err != nil {
			return err
		}
		if subject(sess.UserID) != sub || sess.ClientID != c.ClientID {
			return oidc.ErrInvalidGrant()
		}
		resp.Claims = map[string]any{"sid": sess.ID}
	} else {
		if sub != c.ClientID {
			return oidc.ErrInvalidGrant()
		}
		if _, ok, err := s.machineClient(ctx, sub); err != nil || !ok {
			return cmpErr(err, oidc.ErrInvalidGrant())
		}
	}
	resp.Scope, resp.ClientID, resp.Subject, resp.Audience = c.Scopes, c.ClientID, sub, c.Audience
	resp.Expiration, resp.IssuedAt, resp.Issuer, resp.JWTID = c.Expiration, c.IssuedAt, c.Issuer, c.JWTID
	resp.TokenType = oidc.BearerToken
	return nil
}

// cmpErr is err, or def when err is nil.
func cmpErr(err, def error) error {
	if err != nil {
		return err
	}
	return def
}
