package provider

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/internal/clients"
	"github.com/keelhq/keel/internal/token"
)

// The login step. Authorize sends the browser to OP_LOGIN_URL with the
// request's id; the page (keel's, or the app's own) reads what the client
// asks (Request), signs the user in through keel's API and accepts the
// request with the user's session (Accept), or rejects it (Reject). Either
// answers the URL the browser goes to next.

// Errors of the login step, which the HTTP layer maps to its answers.
var (
	// ErrAAL2Required: the client asked acr_values=aal2 and the session is
	// aal1: the page has the user verify a second factor, then accepts.
	ErrAAL2Required = errors.New("provider: the client asks for aal2")
	// ErrFreshProofRequired: the client asked max_age or prompt=login, and
	// the session's last proof of its user is older: the page has the user
	// sign in again (or reauthenticate), then accepts.
	ErrFreshProofRequired = errors.New("provider: the client asks for a fresh sign-in")
)

// RejectErrors are the errors a page may reject a request with.
var RejectErrors = []string{"access_denied", "login_required", "consent_required", "interaction_required"}

// RequestInfo is what the login page shows of a request.
type RequestInfo struct {
	ID         string
	ClientID   string
	ClientName string
	// Unverified: the client registered itself (RFC 7591); the page says so.
	Unverified bool
	Scopes     []string
	ACRValues  []string
	Prompt     []string
	MaxAge     int64 // -1: none asked
	// Consented: the user gave the client these scopes before (known only
	// once the page says who, so Request leaves it false).
	ExpiresAt time.Time
}

// pending returns the request id while the login step may still act on it.
func (p *Provider) pending(ctx context.Context, id string) (AuthRequest, error) {
	r, err := p.store.GetAuthRequest(ctx, id)
	if err != nil {
		return AuthRequest{}, err
	}
	if r.Done || !p.now().Before(r.ExpiresAt) {
		return AuthRequest{}, ErrNoRequest
	}
	return r, nil
}

// Request returns what the login page shows of request id; ErrNoRequest
// when it is unknown, expired or accepted already.
func (p *Provider) Request(ctx context.Context, id string) (RequestInfo, error) {
	r, err := p.pending(ctx, id)
	if err != nil {
		return RequestInfo{}, err
	}
	c, err := p.clients.GetClient(ctx, r.ClientID)
	if errors.Is(err, clients.ErrNoClient) {
		return RequestInfo{}, ErrNoRequest // deleted since
	}
	if err != nil {
		return RequestInfo{}, err
	}
	return RequestInfo{ID: r.ID, ClientID: c.ID, ClientName: c.Name, Unverified: c.Dynamic, Scopes: r.Scopes,
		ACRValues: r.ACRValues, Prompt: r.Prompt, MaxAge: r.MaxAge, ExpiresAt: r.ExpiresAt}, nil
}

// Caller is the signed-in user accepting a request, as keel's bearer check
// found their session.
type Caller struct {
	UserID   int64
	AAL      string    // db.AAL1 or db.AAL2
	AMR      string    // the session's amr claim (RFC 8176, space-separated)
	AuthTime time.Time // the session's last proof of its user
	// UserAgent is the browser's, recorded on the grant's session.
	UserAgent string
}

// Accept accepts request id for the caller: a new keel session starts for
// the client (the grant: its id is the ID token's sid; its auth time, amr
// and level are the caller's), the user's consent to the scopes is
// remembered, and the answer is the callback URL where pkg/op issues the
// code. acr_values=aal2 needs an aal2 session (ErrAAL2Required); max_age
// and prompt=login a proof of the user that recent, or made since the client
// asked (ErrFreshProofRequired); for prompt=none either is instead the
// client's redirect with login_required. ErrNoRequest: unknown, expired or
// accepted already.
func (p *Provider) Accept(ctx context.Context, id string, c Caller) (string, error) {
	r, err := p.pending(ctx, id)
	if err != nil {
		return "", err
	}
	now := p.now()
	if err := p.satisfied(r, c, now); err != nil {
		if slices.Contains(r.Prompt, oidc.PromptNone) {
			return p.reject(ctx, r, "login_required")
		}
		return "", err
	}
	sess, consent, err := p.newGrant(ctx, c, r.ClientID, r.Scopes, now)
	if err != nil {
		return "", err
	}
	if err := p.store.AcceptAuthRequest(ctx, id, sess, c.AAL, now); err != nil {
		return "", err
	}
	if err := p.store.SaveConsent(ctx, c.UserID, r.ClientID, consent, now); err != nil {
		return "", err
	}
	return p.cfg.Issuer + PathCallback + "?" + url.Values{"id": {id}}.Encode(), nil
}

// newGrant is the session that starts a grant of the caller's to clientID
// (its auth time, amr and level the caller's), and the user's consent to
// the client with scopes added: the login step's accept and the device
// grant's approval share it.
func (p *Provider) newGrant(ctx context.Context, c Caller, clientID string, scopes []string, now time.Time) (db.Session, []string, error) {
	sess := db.Session{
		ID: token.NewSessionID(), UserID: c.UserID, CreatedAt: now, LastUsedAt: now, UserAgent: c.UserAgent,
		Generation: 1, RotatedAt: now, RefreshExpiresAt: p.refreshExpiry(now, now),
		AAL: c.AAL, AMR: c.AMR, LevelAt: now, AuthTime: c.AuthTime, ClientID: clientID,
	}
	sess.RefreshHash = db.HashToken(p.refresh.Refresh(sess.ID, 1))
	consent, err := p.store.Consent(ctx, c.UserID, clientID)
	if err != nil {
		return db.Session{}, nil, err
	}
	for _, s := range scopes {
		if !slices.Contains(consent, s) {
			consent = append(consent, s)
		}
	}
	return sess, consent, nil
}

// satisfied checks the caller's session against what the client asked.
func (p *Provider) satisfied(r AuthRequest, c Caller, now time.Time) error {
	if slices.Contains(r.ACRValues, db.AAL2) && c.AAL != db.AAL2 {
		return ErrAAL2Required
	}
	provedSince := !c.AuthTime.IsZero() && !c.AuthTime.Before(r.CreatedAt)
	if slices.Contains(r.Prompt, oidc.PromptLogin) && !provedSince {
		return ErrFreshProofRequired
	}
	if r.MaxAge >= 0 && !provedSince && (c.AuthTime.IsZero() || now.Sub(c.AuthTime) > time.Duration(r.MaxAge)*time.Second) {
		return ErrFreshProofRequired
	}
	return nil
}

// Reject ends request id with error code (one of RejectErrors) and
// returns the client's redirect that tells it so; ErrNoRequest as for
// Accept.
func (p *Provider) Reject(ctx context.Context, id, code string) (string, error) {
	r, err := p.pending(ctx, id)
	if err != nil {
		return "", err
	}
	return p.reject(ctx, r, code)
}

func (p *Provider) reject(ctx context.Context, r AuthRequest, code string) (string, error) {
	if err := p.store.DeleteAuthRequest(ctx, r.ID); err != nil {
		return "", err
	}
	u, err := url.Parse(r.RedirectURI)
	if err != nil {
		return "", err
	}
	q := u.Query()
	q.Set("error", code)
	if r.State != "" {
		q.Set("state", r.State)
	}
	q.Set("iss", p.cfg.Issuer) // RFC 9207
	u.RawQuery = q.Encode()
	return u.String(), nil
}
