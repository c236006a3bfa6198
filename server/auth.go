package server

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/gen/oapi"
	"github.com/keelhq/keel/internal/password"
	"github.com/keelhq/keel/internal/token"
)

// Register creates an account and, in the same transaction, its event
// (user.created) and the job that emails its verification token. The
// request validator has already checked the body against the spec.
func (s *Server) Register(ctx context.Context, req oapi.RegisterRequestObject) (oapi.RegisterResponseObject, error) {
	hash, err := s.passwords.Hash(ctx, req.Body.Password)
	if err != nil {
		return nil, err
	}
	u, err := s.store.CreateUser(ctx, normalizeEmail(string(req.Body.Email)), string(hash), s.now(),
		func(tx *sql.Tx, u db.User) error {
			if err := s.jobs().VerifyEmailTx(ctx, tx, u.ID); err != nil {
				return err
			}
			return s.store.RecordEventTx(ctx, tx, s.event(ctx, db.EventUserCreated, u.ID, createdData{Method: "register"}))
		})
	if err != nil {
		return nil, err
	}
	return oapi.Register201JSONResponse(toUser(u)), nil
}

// Login exchanges an email and password for an access token and a refresh
// token, and starts a session. An unknown email and a wrong password give the
// same answer in about the same time.
func (s *Server) Login(ctx context.Context, req oapi.LoginRequestObject) (oapi.LoginResponseObject, error) {
	creds, err := s.store.GetCredentials(ctx, normalizeEmail(string(req.Body.Email)))
	var hash []byte // nil: an unknown email, compared against the dummy hash
	reason := failedWrongPassword
	switch {
	case err == nil && creds.PasswordHash != "":
		hash = []byte(creds.PasswordHash)
	case err == nil:
		// An account created by a provider sign-in has no password until
		// it sets one through the reset mail: the same answer as a wrong one.
		reason = failedNoPassword
	case !errors.Is(err, db.ErrNoUser):
		return nil, err
	default:
		reason = failedUnknownEmail
	}
	if err := s.passwords.Check(ctx, hash, req.Body.Password); err != nil {
		if errors.Is(err, password.ErrMismatch) {
			s.signInFailed(ctx, creds.UserID, "password", reason)
		}
		return nil, err
	}
	sess := s.newSignIn(ctx, creds.UserID, db.AAL1, amrPassword, true)
	sess.CheckedHash = creds.PasswordHash
	if password.NeedsRehash(creds.PasswordHash) {
		// A hash an import brought (docs/admin.md, "Moving users"): keel's
		// own takes its place in this sign-in's transaction. When the pool
		// is too busy for it, the next sign-in tries again.
		if h, err := s.passwords.Hash(ctx, req.Body.Password); err == nil {
			sess.Rehash = string(h)
		}
	}
	tok, err := s.startSession(ctx, sess)
	if errors.Is(err, db.ErrSignInStale) {
		// The password was reset or changed while bcrypt compared it: the
		// password checked is no longer the account's. The same answer as a
		// wrong password, which it now is.
		s.log.LogAttrs(ctx, slog.LevelInfo, "login refused: the password changed while it was checked",
			slog.Int64("user", creds.UserID))
		s.signInFailed(ctx, creds.UserID, "password", failedStale)
		return nil, password.ErrMismatch
	}
	if errors.Is(err, db.ErrBanned) { // the password checked out: 403
		s.signInFailed(ctx, creds.UserID, "password", failedBanned)
	}
	if err != nil {
		return nil, err
	}
	return oapi.Login200JSONResponse(tok), nil
}

// The authentication methods (amr) a session starts with: RFC 8176's "pwd"
// for a password login; for a sign-in through an OpenID Connect provider,
// keel's own "urn:keel:amr:fed" (federated): RFC 8176 registers no value
// for it, so keel's is a URI it owns, which no registered or future value
// can collide with (RFC 8176 §6.1), and keel does not pass on the
// provider's own amr, which it cannot vouch for.
const (
	amrPassword = "pwd"
	amrProvider = "urn:keel:amr:fed"
)

// newSignIn is the session a sign-in starts, at assurance level aal
// (db.AAL1 or db.AAL2), for a user who has shown its authentication methods
// (amr: RFC 8176 values, space-separated); startSession stores it. A
// password or provider sign-in is aal1, and when the account has a verified
// second factor it may do little but verify it (checkAssurance) until POST
// /mfa/verify raises it to aal2; a passkey with user verification is two
// factors in one, and starts at aal2. proved says the sign-in proved the
// user (a password, a user-verifying passkey): the session's auth time is
// now, and it may change the account's ways in for REAUTH_MAX_AGE. The
// caller adds what the store checks again under the account's lock
// (CheckedHash, PasskeyID: db.Store.CreateSession).
func (s *Server) newSignIn(ctx context.Context, userID int64, aal, amr string, proved bool) signIn {
	sess, refresh := s.newSession(ctx, aal, amr, proved)
	sess.UserID = userID
	return signIn{Session: sess, refresh: refresh}
}

// signIn is a session a sign-in is about to store, with its first refresh
// token.
type signIn struct {
	db.Session
	refresh string
}

// startSession stores the session of a sign-in (newSignIn's) and, in the
// same transaction, its event (signin.succeeded), and returns its first
// pair; every sign-in method starts its sessions here.
// db.ErrSignInStale: the proof the sign-in checked changed meanwhile.
func (s *Server) startSession(ctx context.Context, in signIn) (oapi.Token, error) {
	sess := in.Session
	if err := s.store.CreateSession(ctx, sess, s.recordSignIn(ctx, sess, signInMethod(sess.AMR), "")); err != nil {
		return oapi.Token{}, err
	}
	if err := s.readSignIn(ctx, &sess); err != nil {
		return oapi.Token{}, err
	}
	return s.tokenPair(ctx, sess, in.refresh)
}

// newSession is a session to store (startSession's, or the one
// OauthToken's redemption stores), without its UserID, and its first
// refresh token; proved as for startSession.
func (s *Server) newSession(ctx context.Context, aal, amr string, proved bool) (db.Session, string) {
	now := s.now()
	sess := db.Session{
		ID: token.NewSessionID(), CreatedAt: now, LastUsedAt: now,
		UserAgent: userAgent(ctx), Generation: 1, RotatedAt: now, RefreshExpiresAt: s.refreshExpiry(now, now),
		AAL: aal, AMR: amr, LevelAt: now,
	}
	if proved {
		sess.AuthTime = now
	}
	refresh := s.refresh.Refresh(sess.ID, 1)
	sess.RefreshHash = db.HashToken(refresh)
	return sess, refresh
}

// RefreshToken rotates the session's refresh token (see token.Refresher.Refresh
// for its format and docs/accounts.md for the rules).
func (s *Server) RefreshToken(ctx context.Context, req oapi.RefreshTokenRequestObject) (oapi.RefreshTokenResponseObject, error) {
	presented := req.Body.RefreshToken
	sid, gen, ok := s.refresh.ParseRefresh(presented)
	if !ok {
		return nil, errBadRefresh
	}
	// Twice at most: a refresh that loses the race for its token looks at
	// the session again and is then a reuse (or, within the reuse interval,
	// gets the winner's pair); once more when another request lowered the
	// session's level first (checkRefresh).
	var userID int64 // the session's, once read: for the event of a reuse
	for range 3 {
		sess, err := s.store.GetSession(ctx, sid)
		if errors.Is(err, db.ErrNoSession) || err == nil && sess.ClientID != "" {
			// A grant's refresh token is its client's, at /oauth2/token: it
			// never buys a token for keel's own API.
			return nil, errBadRefresh
		}
		if err != nil {
			return nil, err
		}
		userID = sess.UserID
		now := s.now()
		if !now.Before(sess.RefreshExpiresAt) {
			return nil, s.endSession(ctx, sid, "refresh token expired", nil)
		}
		if err := s.checkRefresh(ctx, &sess, now); errors.Is(err, db.ErrStale) {
			continue
		} else if err != nil {
			return nil, err
		}
		switch {
		case gen == sess.Generation:
			next := s.refresh.Refresh(sid, gen+1)
			sess.RefreshExpiresAt = s.refreshExpiry(sess.CreatedAt, now)
			_, err := s.store.RotateRefresh(ctx, sid, db.HashToken(presented), db.HashToken(next), now, sess.RefreshExpiresAt)
			if errors.Is(err, db.ErrStale) {
				continue // another refresh of this token won
			}
			if err != nil {
				return nil, err
			}
			tok, err := s.tokenPair(ctx, sess, next)
			if err != nil {
				return nil, err
			}
			return oapi.RefreshToken200JSONResponse(tok), nil
		case gen == sess.Generation-1 && now.Sub(sess.RotatedAt) < s.cfg.RefreshReuseInterval:
			// The token just replaced, soon enough (another tab refreshed
			// first): the current pair, unchanged. Its refresh token is the
			// one the session holds, made under the previous secret if it
			// was made before JWT_SECRET changed.
			current := s.refresh.Rederive(sid, sess.Generation, func(tok string) bool {
				return db.HashToken(tok) == sess.RefreshHash
			})
			tok, err := s.tokenPair(ctx, sess, current)
			if err != nil {
				return nil, err
			}
			return oapi.RefreshToken200JSONResponse(tok), nil
		case gen < sess.Generation:
			// A spent token: it was stolen, or this client lost a race
			// under strict rotation. Either way nobody can tell which
			// holder is legitimate, so the session ends (RFC 9700 §4.14.2).
			return nil, s.endSession(ctx, sid, "refresh token reused", s.reused(ctx, userID, sid))
		default:
			return nil, errBadRefresh
		}
	}
	return nil, s.endSession(ctx, sid, "refresh token reused", s.reused(ctx, userID, sid))
}

// endSession ends a session the refresh flow found dead or compromised and
// returns the refresh error; after, when not nil, records why in the
// ending's transaction.
func (s *Server) endSession(ctx context.Context, sid, why string, after func(*sql.Tx) error) error {
	if err := s.store.EndSession(ctx, sid, after); err != nil {
		return err
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "session ended", slog.String("reason", why))
	return errBadRefresh
}

// tokenPair is the answer to a login or refresh: a new access token for the
// session, and its refresh token.
func (s *Server) tokenPair(ctx context.Context, sess db.Session, refresh string) (oapi.Token, error) {
	access, ttl, err := s.tokens.IssueWith(token.Principal{UserID: sess.UserID, SessionID: sess.ID,
		AAL: cmp.Or(sess.AAL, db.AAL1), AMR: amrOf(sess), Level: sess.LevelGen}, s.tokenLimit(sess),
		// The user's roles and listed claims (docs/tokens.md): what breaks a
		// limit is left out, logged, and costs no sign-in or refresh.
		s.cfg.AppMetadataClaims.ForToken(ctx, s.log, sess.UserID, sess.AppMetadata))
	if err != nil {
		return oapi.Token{}, err
	}
	return oapi.Token{
		Token:            access,
		TokenType:        oapi.Bearer,
		ExpiresIn:        max(1, int64(ttl.Round(time.Second).Seconds())),
		RefreshToken:     refresh,
		RefreshExpiresIn: max(1, int64(sess.RefreshExpiresAt.Sub(s.now()).Round(time.Second).Seconds())), // stored to the ms: round, not floor,
	}, nil
}

// Logout ends the caller's session (session.ended, why logout).
func (s *Server) Logout(ctx context.Context, _ oapi.LogoutRequestObject) (oapi.LogoutResponseObject, error) {
	p := mustPrincipal(ctx)
	if err := s.store.DeleteSession(ctx, p.UserID, p.SessionID, s.loggedOut(ctx, p.UserID, p.SessionID)); err != nil {
		return nil, err
	}
	return oapi.Logout204Response{}, nil
}

// ForgotPassword queues a reset email for the address. The job is queued
// whether or not an account has it (the worker finds out), so the answer
// and its cost are the same either way.
func (s *Server) ForgotPassword(ctx context.Context, req oapi.ForgotPasswordRequestObject) (oapi.ForgotPasswordResponseObject, error) {
	email := normalizeEmail(string(req.Body.Email))
	if err := s.limitEmail(ctx, email); err != nil {
		return nil, err
	}
	if err := s.jobs().ResetPassword(ctx, email); err != nil {
		return nil, err
	}
	return oapi.ForgotPassword202JSONResponse{Status: oapi.AcceptedStatusAccepted}, nil
}

// ResetPassword sets a new password with an emailed token and ends every
// session of the user.
func (s *Server) ResetPassword(ctx context.Context, req oapi.ResetPasswordRequestObject) (oapi.ResetPasswordResponseObject, error) {
	hash, err := s.passwords.Hash(ctx, req.Body.NewPassword)
	if err != nil {
		return nil, passwordField(err, "/new_password")
	}
	userID, err := s.store.ResetPassword(ctx, db.HashToken(req.Body.Token), string(hash), s.now(), func(tx *sql.Tx, userID int64) error {
		return inOrder(s.notice(ctx, s.event(ctx, db.EventPasswordReset, userID, nil)),
			s.recordTx(ctx, s.event(ctx, db.EventSessionEnded, userID, sessionEndedData{Why: "reset", All: true})))(tx)
	})
	if err != nil {
		return nil, err
	}
	s.noticed(ctx, db.EventPasswordReset, userID)
	return oapi.ResetPassword204Response{}, nil
}

// errVerifyNeedsAccount is a verification link sent with neither the
// account's password nor a session of it: the token proves the mailbox, not
// that the one clicking holds the account (a squatter's account, registered
// with the owner's address, would become the owner's "verified" account).
var errVerifyNeedsAccount = &Error{Status: http.StatusBadRequest,
	Detail: "the link proves the address only together with the account: sign in and open it again, or send the account's " +
		"password with the token; without a password or a session, set one through the password reset (POST /password/forgot)"}

// VerifyEmail confirms an address with the token emailed to it, from a live
// session of the token's account or with the account's password. Only a
// verification that succeeds spends the token.
func (s *Server) VerifyEmail(ctx context.Context, req oapi.VerifyEmailRequestObject) (oapi.VerifyEmailResponseObject, error) {
	hash := db.HashToken(req.Body.Token)
	var userID int64
	if acc, signedIn := ctx.Value(accessKey{}).(db.SessionAccess); signedIn {
		userID = acc.User.ID // the store refuses another account's token
	} else {
		if req.Body.Password == nil {
			return nil, errVerifyNeedsAccount
		}
		creds, err := s.store.TokenCredentials(ctx, hash, db.PurposeVerifyEmail, s.now())
		if err != nil {
			return nil, err
		}
		if creds.PasswordHash == "" {
			return nil, errNoPassword
		}
		err = s.passwords.Check(ctx, []byte(creds.PasswordHash), *req.Body.Password)
		if errors.Is(err, password.ErrMismatch) {
			return nil, errWrongPassword
		}
		if err != nil {
			return nil, passwordField(err, "/password")
		}
		userID = creds.UserID
	}
	if err := s.store.VerifyEmail(ctx, hash, userID, s.now(), s.recordTx(ctx, s.event(ctx, db.EventUserEmailVerified, userID, nil))); err != nil {
		return nil, err
	}
	return oapi.VerifyEmail204Response{}, nil
}

// normalizeEmail is the one form of an email keel stores and looks up. The
// validator has already refused surrounding spaces and non-ASCII
// (validate.Email), so lower-casing is all that is left.
func normalizeEmail(email string) string { return strings.ToLower(email) }

// maxUserAgent bounds what a session and an event keep of a request's User-Agent.
const maxUserAgent = 256
