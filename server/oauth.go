package server

// Sign-in with OpenID Connect providers (docs/oidc.md). keel is the
// provider's client: it keeps each flow in the database (so the callback may
// land on any replica), checks the ID token (internal/oidc), finds or
// creates the account under the linking rules (db.Store.SignInWithProvider)
// and hands the app a one-time code bound to the app's own PKCE challenge;
// the app redeems it at POST /oauth/token for the usual token pair. No token
// ever travels in a URL.

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/gen/oapi"
	"github.com/keelhq/keel/internal/oidc"
	"github.com/keelhq/keel/internal/token"
	"github.com/keelhq/keel/internal/validate"
)

const (
	// flowTTL is how long a sign-in may stay at the provider.
	flowTTL = 10 * time.Minute
	// codeTTL is how long the app has to redeem the callback's code.
	codeTTL = time.Minute
	// secretBytes is the entropy of states, nonces, verifiers and codes.
	secretBytes = 32
)

var (
	errNoProvider  = &Error{Status: http.StatusNotFound, Detail: "no sign-in provider of this name"}
	errBadRedirect = &Error{Status: http.StatusBadRequest, Field: "redirect_to",
		Detail: "is not one of the URLs keel may send the browser back to (OAUTH_REDIRECT_URLS)"}
	errNoFlow = &Error{Status: http.StatusBadRequest,
		Detail: "this sign-in is unknown, used or expired (state); start it again"}
	errIdentityTaken = &Error{Status: http.StatusConflict,
		Detail: "this provider account is linked to another keel account; unlink it there first"}
	// errBadCode is every refused code alike: unknown, spent, expired, or
	// with a verifier that does not match its challenge.
	errBadCode = &Error{Status: http.StatusBadRequest, Field: "/code",
		Detail: "is unknown, used or expired, or code_verifier does not match"}
)

// provider is the configured provider name, or errNoProvider.
func (s *Server) provider(name string) (*oidc.Provider, error) {
	if p, ok := s.providers[name]; ok {
		return p, nil
	}
	return nil, errNoProvider
}

// redirectAllowed: redirect_to must be one of OAUTH_REDIRECT_URLS exactly,
// so keel never sends a code to a URL an attacker chose.
func (s *Server) redirectAllowed(to string) bool {
	_, ok := s.redirects[to]
	return ok
}

// startFlow stores a new flow and returns the provider URL to send the
// browser to. link is the signed-in caller linking p (its user and
// session), or nil for a sign-in.
func (s *Server) startFlow(ctx context.Context, p *oidc.Provider, redirectTo, challenge string, link *token.Principal) (string, error) {
	if !s.redirectAllowed(redirectTo) {
		return "", errBadRedirect
	}
	state, nonce, verifier := oidc.Random(secretBytes), oidc.Random(secretBytes), oidc.Random(secretBytes)
	f := db.OAuthFlow{
		StateHash: db.HashToken(state), Provider: p.Name(), Nonce: nonce, Verifier: verifier,
		CodeChallenge: challenge, RedirectTo: redirectTo, ExpiresAt: s.now().Add(flowTTL),
	}
	if link != nil {
		f.LinkUserID, f.LinkSessionID = link.UserID, link.SessionID
	}
	if err := s.store.CreateOAuthFlow(ctx, f); err != nil {
		return "", err
	}
	return p.AuthCodeURL(state, nonce, verifier), nil
}

// OauthAuthorize starts a sign-in: a flow, then the browser to the provider.
func (s *Server) OauthAuthorize(ctx context.Context, req oapi.OauthAuthorizeRequestObject) (oapi.OauthAuthorizeResponseObject, error) {
	p, err := s.provider(req.Provider)
	if err != nil {
		return nil, err
	}
	to, err := s.startFlow(ctx, p, req.Params.RedirectTo, req.Params.CodeChallenge, nil)
	if err != nil {
		return nil, err
	}
	return oapi.OauthAuthorize302Response{Headers: oapi.ToProviderResponseHeaders{Location: to}}, nil
}

// LinkIdentity starts linking a provider to the signed-in user. The app
// sends the browser to the URL: a navigation cannot carry a bearer header.
// The link is bound to the caller's session: it is made only if that
// session is still there when the app redeems the code (OauthToken).
func (s *Server) LinkIdentity(ctx context.Context, req oapi.LinkIdentityRequestObject) (oapi.LinkIdentityResponseObject, error) {
	p, err := s.provider(req.Ref)
	if err != nil {
		return nil, err
	}
	caller := mustPrincipal(ctx)
	// Refused before the provider when the account is full already (the
	// store refuses the link itself too, under the account's lock).
	linked, err := s.store.ListIdentities(ctx, caller.UserID)
	if err != nil {
		return nil, err
	}
	if len(linked) >= db.MaxIdentities {
		return nil, db.ErrTooManyIdentities
	}
	to, err := s.startFlow(ctx, p, req.Body.RedirectTo, req.Body.CodeChallenge, &caller)
	if errors.Is(err, errBadRedirect) {
		return nil, &Error{Status: http.StatusBadRequest, Field: "/redirect_to", Detail: errBadRedirect.Detail}
	}
	if err != nil {
		return nil, err
	}
	return oapi.LinkIdentity200JSONResponse{AuthorizeURL: to}, nil
}

// OauthCallback finishes a flow at the provider's redirect. From the moment
// the flow is known, every refusal goes back to the app as error and
// error_description on its redirect_to (RFC 6749 §4.1.2.1), except a
// provider that cannot be reached (502: nothing was refused, try again).
func (s *Server) OauthCallback(ctx context.Context, req oapi.OauthCallbackRequestObject) (oapi.OauthCallbackResponseObject, error) {
	p, err := s.provider(req.Provider)
	if err != nil {
		return nil, err
	}
	if req.Params.State == nil {
		s.metrics.signIn(p.Name(), "bad_state")
		return nil, errNoFlow
	}
	flow, err := s.store.TakeOAuthFlow(ctx, db.HashToken(*req.Params.State), s.now())
	if errors.Is(err, db.ErrNoFlow) || (err == nil && flow.Provider != p.Name()) {
		s.metrics.signIn(p.Name(), "bad_state")
		return nil, errNoFlow
	}
	if err != nil {
		return nil, err
	}
	back := func(result string, q url.Values) (oapi.OauthCallbackResponseObject, error) {
		s.metrics.signIn(p.Name(), result)
		return oapi.OauthCallback302Response{Headers: oapi.ToAppResponseHeaders{Location: withQuery(flow.RedirectTo, q)}}, nil
	}
	refuse := func(result, code, description string) (oapi.OauthCallbackResponseObject, error) {
		s.log.LogAttrs(ctx, slog.LevelInfo, "sign-in refused", slog.String("provider", p.Name()), slog.String("error", code))
		return back(result, url.Values{"error": {code}, "error_description": {description}})
	}
	switch {
	case req.Params.Error != nil && *req.Params.Error == "":
		return refuse("provider_error", "invalid_request", "the provider sent an empty error")
	case req.Params.Error != nil:
		// Only a registered code goes on, and never the provider's own
		// description: anyone may send a browser here with any text.
		code, desc := oidc.ProviderError(*req.Params.Error)
		return refuse("provider_error", code, desc)
	case req.Params.Code == nil || *req.Params.Code == "":
		return refuse("provider_error", "invalid_request", "the provider sent neither a code nor an error")
	}
	who, err := p.Exchange(ctx, *req.Params.Code, flow.Verifier, flow.Nonce)
	var refusal *oidc.Refusal
	switch {
	case errors.As(err, &refusal):
		s.log.LogAttrs(ctx, slog.LevelWarn, "ID token refused", slog.String("provider", p.Name()), slog.Any("err", err))
		return refuse("invalid_token", refusal.Code, refusal.Description)
	case err != nil:
		s.metrics.signIn(p.Name(), "provider_down")
		return nil, err // oidc.ErrUnavailable: 502
	}
	email := strings.ToLower(who.Email)
	if validate.Email(email) != nil {
		return refuse("email_required", "email_required", "the provider gave no usable email address; allow keel to see it")
	}
	user := db.ProviderUser{Provider: p.Name(), Subject: who.Subject, Email: email, EmailVerified: who.EmailVerified, LinkByEmail: p.LinkByEmail()}
	code := oidc.Random(secretBytes)
	grant := db.OAuthCode{Hash: db.HashToken(code), Provider: p.Name(), CodeChallenge: flow.CodeChallenge, ExpiresAt: s.now().Add(codeTTL),
		AuthTime: freshAuthTime(who.AuthTime, flow.ExpiresAt.Add(-flowTTL), s.now())}
	if grant.AuthTime.IsZero() {
		s.log.LogAttrs(ctx, slog.LevelInfo, "provider sign-in without a fresh auth_time: no proof for changing ways in",
			slog.String("provider", p.Name()))
	}
	result := "link_pending"
	var u db.User
	if flow.LinkUserID != 0 {
		// Linked only when the app redeems the code with its verifier
		// (OauthToken): a victim lured through someone else's link URL
		// brings the code to their own app, which cannot redeem it.
		grant.UserID, grant.Link, grant.LinkSessionID = flow.LinkUserID, &user, flow.LinkSessionID
		err = s.store.CreateOAuthCode(ctx, grant)
	} else {
		u, result, err = s.store.SignInWithProvider(ctx, user, grant, s.now(), func(tx *sql.Tx, u db.User, how string) error {
			switch {
			case how == db.SignInLinked: // by its verified email
				return s.notice(ctx, s.event(ctx, db.EventIdentityLinked, u.ID, identityData{Provider: user.Provider, By: "email"}))(tx)
			case how != db.SignInNewUser:
				return nil
			case !u.EmailVerified:
				if err := s.jobs().VerifyEmailTx(ctx, tx, u.ID); err != nil { // as for a registration
					return err
				}
			}
			return s.store.RecordEventTx(ctx, tx, s.event(ctx, db.EventUserCreated, u.ID, createdData{Method: "provider", Provider: user.Provider}))
		})
	}
	switch {
	// An account that links as many identities as it may is not linked to
	// by email either: the user unlinks one from the profile first.
	case errors.Is(err, db.ErrAccountExists), errors.Is(err, db.ErrTooManyIdentities):
		return refuse("account_exists", "account_exists",
			"an account with this email exists; sign in to it and link this provider from the profile")
	case errors.Is(err, db.ErrIdentityTaken): // two first sign-ins at once, after the store's retry
		return refuse("identity_taken", "identity_taken", "this provider account is linked to another keel account")
	case errors.Is(err, db.ErrBanned): // only now, the ID token having checked out
		s.signInFailed(ctx, u.ID, "provider", failedBanned)
		return refuse("account_banned", "account_banned", "this account is banned; contact the service's operator")
	case err != nil:
		return nil, err
	}
	if result == db.SignInLinked {
		s.noticed(ctx, db.EventIdentityLinked, u.ID)
	}
	return back(result, url.Values{"code": {code}})
}

// authTimeSkew is how far a provider's clock may be from keel's for its
// auth_time to count: a little, since an auth_time minutes before the flow
// began is a session the provider kept, not the proof keel asked for.
const authTimeSkew = 30 * time.Second

// freshAuthTime is the session's proof from a provider sign-in: the ID
// token's auth_time (at) when the provider authenticated the user after the
// flow began (keel asked for max_age=0), give or take authTimeSkew, and not
// after now; otherwise the zero time (the sign-in proves nothing fresh).
func freshAuthTime(at, began, now time.Time) time.Time {
	if at.IsZero() || at.Before(began.Add(-authTimeSkew)) || at.After(now.Add(authTimeSkew)) {
		return time.Time{}
	}
	if at.After(now) {
		return now
	}
	return at
}

// withQuery is to with q added to its query (to is an exact entry of
// OAUTH_REDIRECT_URLS, so it parses).
func withQuery(to string, q url.Values) string {
	u, err := url.Parse(to)
	if err != nil {
		return to
	}
	old := u.Query()
	for k, v := range q {
		old[k] = v
	}
	u.RawQuery = old.Encode()
	return u.String()
}

// OauthToken redeems the callback's code, with the verifier of the app's
// challenge, for a token pair: a session like a password login's. A link
// flow's code links its identity here, once the verifier has matched. The
// code, the link and the session are one transaction (RedeemOAuthCode): a
// password reset that takes the account from a squatter either voids the
// code first or ends the session it started.
func (s *Server) OauthToken(ctx context.Context, req oapi.OauthTokenRequestObject) (oapi.OauthTokenResponseObject, error) {
	// The session's auth time is the code's, set by the store: the
	// provider's, when the callback found it fresh (freshAuthTime).
	sess, refresh := s.newSession(ctx, db.AAL1, amrProvider, false)
	// A wrong verifier (someone else's app, or a code intercepted on the
	// way) spends the code all the same: it cannot retry.
	grant, err := s.store.RedeemOAuthCode(ctx, db.HashToken(req.Body.Code), oidc.S256(req.Body.CodeVerifier), sess, s.now(),
		func(tx *sql.Tx, c db.OAuthCode) error {
			if c.Link == nil {
				sess.UserID = c.UserID
				return s.recordSignIn(ctx, sess, "provider", c.Provider)(tx)
			}
			return s.notice(ctx, s.event(ctx, db.EventIdentityLinked, c.UserID, identityData{Provider: c.Provider}))(tx)
		})
	switch {
	case errors.Is(err, db.ErrNoToken):
		return nil, errBadCode
	case errors.Is(err, db.ErrIdentityTaken):
		s.metrics.signIn(grant.Provider, "identity_taken")
		return nil, errIdentityTaken
	case errors.Is(err, db.ErrNoUser): // the account was deleted meanwhile
		return nil, errBadCode
	case errors.Is(err, db.ErrNoSession):
		// The session that started the link has ended since (a logout, or
		// a password reset that took the account from a squatter): the
		// code is as good as voided.
		return nil, errBadCode
	case err != nil:
		return nil, err
	}
	if grant.Link != nil {
		s.metrics.signIn(grant.Provider, "linked")
		s.noticed(ctx, db.EventIdentityLinked, grant.UserID)
	}
	sess.UserID, sess.AuthTime = grant.UserID, grant.AuthTime
	if err := s.readSignIn(ctx, &sess); err != nil {
		return nil, err
	}
	tok, err := s.tokenPair(ctx, sess, refresh)
	if err != nil {
		return nil, err
	}
	return oapi.OauthToken200JSONResponse(tok), nil
}

// ListIdentities lists the provider accounts linked to the caller.
func (s *Server) ListIdentities(ctx context.Context, _ oapi.ListIdentitiesRequestObject) (oapi.ListIdentitiesResponseObject, error) {
	rows, err := s.store.ListIdentities(ctx, mustPrincipal(ctx).UserID)
	if err != nil {
		return nil, err
	}
	out := make(oapi.ListIdentities200JSONResponse, len(rows))
	for i, r := range rows {
		out[i] = toIdentity(r)
	}
	return out, nil
}

// toIdentity is the API's view of a linked provider account.
func toIdentity(r db.Identity) oapi.Identity {
	return oapi.Identity{ID: r.ID, Provider: r.Provider, Subject: r.Subject, Email: r.Email, CreatedAt: r.CreatedAt.UTC()}
}

// DeleteIdentity unlinks one of the caller's identities, unless it is the
// account's last way in.
func (s *Server) DeleteIdentity(ctx context.Context, req oapi.DeleteIdentityRequestObject) (oapi.DeleteIdentityResponseObject, error) {
	p := mustPrincipal(ctx)
	if err := s.store.DeleteIdentity(ctx, p.UserID, req.Ref, s.notice(ctx, s.event(ctx, db.EventIdentityUnlinked, p.UserID, identityData{ID: req.Ref}))); err != nil {
		return nil, err
	}
	s.noticed(ctx, db.EventIdentityUnlinked, p.UserID)
	return oapi.DeleteIdentity204Response{}, nil
}
