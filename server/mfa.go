package server

// The second factor (tag mfa): TOTP enrolment and verification, recovery
// codes, and the assurance rules every bearer request passes
// (checkAssurance, from sessionLive). TOTP itself, the sealing of secrets and
// the hashing of recovery codes are internal/mfa's; the compare-and-set of
// a factor's last accepted time step, which refuses a code seen before on
// any replica, is the store's.

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/gen/oapi"
	"github.com/keelhq/keel/internal/mfa"
	"github.com/keelhq/keel/internal/token"
)

const (
	// factorTTL is how long an enrolled factor may wait for its first code.
	factorTTL = 15 * time.Minute
	// codesPerMinute is how many wrong codes (TOTP or recovery) one account
	// may try a minute, on any replica: a guesser gets five of a million a
	// minute (limitCodes). Right codes do not count.
	codesPerMinute = 5
	// mfaRequiredType is the problem type of a refusal for want of a second
	// factor (documented in the spec's MFARequired response).
	mfaRequiredType = "urn:keel:problem:mfa-required"
	// emailUnverifiedType is the problem type of a refusal for want of a
	// proved address (the spec's EmailUnverified response).
	emailUnverifiedType = "urn:keel:problem:email-unverified"
	// defaultIssuer names keel in authenticator apps when MFA_ISSUER is unset.
	defaultIssuer = "keel"
	// reauthRequiredType is the problem type of a refusal for want of a
	// fresh proof (documented in the spec's MFAOrReauthenticationRequired).
	reauthRequiredType = "urn:keel:problem:reauthentication-required"
	// DefaultReauthMaxAge is REAUTH_MAX_AGE's default (Config.ReauthMaxAge).
	DefaultReauthMaxAge = 10 * time.Minute
)

var (
	// errReauthRequired is an operation of needFreshProof from a session
	// whose last proof of its user is older than REAUTH_MAX_AGE, or none.
	errReauthRequired = &Error{Status: http.StatusForbidden, Type: reauthRequiredType, Title: "Reauthentication required",
		Detail: "prove it is you again first (POST /reauthenticate)"}
	// errMFARequired is any operation but the few an aal1 session of an
	// account with a verified factor may call.
	errMFARequired = &Error{Status: http.StatusForbidden, Type: mfaRequiredType, Title: "Second factor required",
		Detail: "verify a second factor first (POST /mfa/verify)"}
	// errAAL2Required is an operation that needs an aal2 session whatever
	// the account has.
	errAAL2Required = &Error{Status: http.StatusForbidden, Type: mfaRequiredType, Title: "Second factor required",
		Detail: "this operation needs a session verified with a second factor"}
	// errEmailUnverified is a way in added to an account whose address is
	// unproved (needVerifiedEmail).
	errEmailUnverified = &Error{Status: http.StatusForbidden, Type: emailUnverifiedType, Title: "Email address not verified",
		Detail: "verify the account's email address first (POST /email/verify with the mailed token)"}
	errWrongCode         = &Error{Status: http.StatusBadRequest, Field: "/code", Detail: "is wrong, expired or used already"}
	errWrongRecoveryCode = &Error{Status: http.StatusBadRequest, Field: "/recovery_code", Detail: "is wrong or used already"}
	errNoFactorToVerify  = &Error{Status: http.StatusBadRequest, Detail: "the account has no verified second factor"}
)

// pendingMayCall are the operations an aal1 session of an account with a
// verified factor may call: verify it, leave, or see which factors there are.
var pendingMayCall = map[string]bool{"verifyMFA": true, "logout": true, "listMFAFactors": true}

// needAAL2 are the operations only an aal2 session may call, whether or not
// the account has a factor now.
var needAAL2 = map[string]bool{"regenerateRecoveryCodes": true}

// needVerifiedEmail are the operations that add a way in (a factor, a
// passkey, a provider account): not while the account's address is unproved.
// Whoever holds such an account may be a squatter on someone else's address,
// and what they add would survive the owner's proof of it. The redemption of
// a link flow's code (POST /oauth/token) is refused by the store the same
// way (db.ErrEmailUnverified), under the account's row lock.
var needVerifiedEmail = map[string]bool{
	"enrollTOTP": true, "verifyTOTPFactor": true,
	"passkeyRegisterOptions": true, "registerPasskey": true,
	"linkIdentity": true,
}

// needFreshProof are the operations that change the account's ways in
// (ASVS 5 V7.5.1, NIST SP 800-63B §6.1.2.1): they need a proof of the
// session's user newer than REAUTH_MAX_AGE, so a stolen session or an
// unattended browser cannot add a way in, or take the owner's away.
var needFreshProof = map[string]bool{
	"passkeyRegisterOptions": true, "registerPasskey": true, "deletePasskey": true,
	"enrollTOTP": true, "deleteMFAFactor": true, "regenerateRecoveryCodes": true,
	"linkIdentity": true, "deleteIdentity": true,
}

// checkAssurance is the assurance rule of every bearer operation, at now:
// needVerifiedEmail needs a proved address whatever the session; an aal1
// session of an account with a verified factor may call only pendingMayCall
// (so changing the password, deleting the account or removing a factor need
// aal2 when there is a factor), needAAL2 needs aal2, and needFreshProof
// needs the session's last proof of its user (AuthTime) to be younger than
// maxAge.
func checkAssurance(acc db.SessionAccess, operationID string, now time.Time, maxAge time.Duration) error {
	switch {
	case needVerifiedEmail[operationID] && !acc.User.EmailVerified:
		return errEmailUnverified
	case acc.AAL == db.AAL2:
	case needAAL2[operationID]:
		return errAAL2Required
	case acc.HasFactor && !pendingMayCall[operationID]:
		return errMFARequired
	}
	if needFreshProof[operationID] && (acc.AuthTime.IsZero() || now.Sub(acc.AuthTime) >= maxAge) {
		return errReauthRequired
	}
	return nil
}

// reauthMaxAge is REAUTH_MAX_AGE.
func (s *Server) reauthMaxAge() time.Duration { return cmp.Or(s.cfg.ReauthMaxAge, DefaultReauthMaxAge) }

type accessKey struct{}

// mustAccess is what sessionLive read for a bearer operation.
func mustAccess(ctx context.Context) db.SessionAccess {
	acc, ok := ctx.Value(accessKey{}).(db.SessionAccess)
	if !ok {
		panic("bearer operation reached without its session check")
	}
	return acc
}

// amrOf is the session's authentication methods (RFC 8176) for its tokens:
// its first factor's, then otp and mfa when a second factor raised it (a
// passkey sign-in with user verification has "mfa" from the start). A
// session lowered to aal1 since (AAL2_MAX_AGE, its account's last factor
// removed) claims no "mfa": its tokens must not say more than its level.
func amrOf(sess db.Session) string {
	amr := cmp.Or(sess.AMR, amrPassword)
	methods := strings.Fields(amr)
	switch {
	case sess.AAL == db.AAL2 && !slices.Contains(methods, "mfa"):
		amr += " otp mfa"
	case sess.AAL != db.AAL2 && slices.Contains(methods, "mfa"):
		amr = strings.Join(slices.DeleteFunc(methods, func(m string) bool { return m == "mfa" }), " ")
	}
	return amr
}

// EnrollTOTP starts a TOTP factor: a new secret, shown this once and stored
// sealed, unverified until VerifyTOTPFactor.
func (s *Server) EnrollTOTP(ctx context.Context, _ oapi.EnrollTOTPRequestObject) (oapi.EnrollTOTPResponseObject, error) {
	acc := mustAccess(ctx)
	if acc.HasFactor {
		return nil, db.ErrFactorExists
	}
	if err := s.limitEnrolments(ctx, "totp", acc.User.ID); err != nil {
		return nil, err
	}
	secret := mfa.NewSecret()
	uri, err := mfa.URI(cmp.Or(s.cfg.MFAIssuer, defaultIssuer), acc.User.Email, secret)
	if err != nil {
		return nil, err
	}
	now := s.now()
	f := db.Factor{ID: token.NewSessionID(), UserID: acc.User.ID, Kind: db.FactorTOTP, CreatedAt: now, ExpiresAt: now.Add(factorTTL)}
	f.Secret = s.mfa.Seal(f.ID, secret)
	if err := s.store.CreateFactor(ctx, f); err != nil {
		return nil, err
	}
	return oapi.EnrollTOTP201JSONResponse{ID: f.ID, Secret: mfa.Encode(secret), OtpauthURI: uri}, nil
}

// VerifyTOTPFactor confirms an enrolled factor with a code from it, gives
// the account a new set of recovery codes and raises the session to aal2.
func (s *Server) VerifyTOTPFactor(ctx context.Context, req oapi.VerifyTOTPFactorRequestObject) (oapi.VerifyTOTPFactorResponseObject, error) {
	p := mustPrincipal(ctx)
	// The factor is not the account's yet: its code counts against the
	// minute's wrong codes, not towards a lock.
	giveBack, err := s.limitCodes(ctx, p.UserID)
	if err != nil {
		return nil, err
	}
	f, err := s.store.GetFactor(ctx, p.UserID, req.ID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	switch {
	case f.Verified:
		return nil, db.ErrFactorExists
	case !now.Before(f.ExpiresAt):
		return nil, db.ErrNoFactor
	}
	step, err := s.matchCode(f, req.Body.Code, now)
	if err != nil {
		return nil, err
	}
	codes := mfa.NewRecoveryCodes()
	hashes := make([]string, len(codes))
	for i, c := range codes {
		hashes[i] = s.mfa.HashRecoveryCode(p.UserID, c)
	}
	tok, err := s.upgrade(ctx, p, func(up db.Upgrade) error {
		return s.store.ConfirmFactor(ctx, f.ID, step, hashes, up, s.notice(ctx, s.event(ctx, db.EventMFAFactorAdded, p.UserID, factorData{ID: f.ID, Kind: f.Kind})))
	})
	if err != nil {
		return nil, err
	}
	giveBack()
	s.noticed(ctx, db.EventMFAFactorAdded, p.UserID)
	return oapi.VerifyTOTPFactor200JSONResponse{RecoveryCodes: codes, Tokens: tok}, nil
}

// VerifyMFA raises the caller's session to aal2 with a TOTP code or a
// recovery code, and returns its new pair.
func (s *Server) VerifyMFA(ctx context.Context, req oapi.VerifyMFARequestObject) (oapi.VerifyMFAResponseObject, error) {
	p, acc := mustPrincipal(ctx), mustAccess(ctx)
	code, recovery := req.Body.Code, req.Body.RecoveryCode
	if (code == nil) == (recovery == nil) { // the spec's min/maxProperties say so too
		return nil, &Error{Status: http.StatusBadRequest, Detail: "send exactly one of code and recovery_code"}
	}
	if !acc.HasFactor {
		return nil, errNoFactorToVerify
	}
	var (
		tok oapi.Token
		err error
	)
	// The second step of a sign-in: signin.succeeded with the code's
	// method, in the transaction that raises the session.
	method := "totp"
	if code != nil {
		err = s.useTOTPCode(ctx, p.UserID, *code, func(f db.Factor, step int64) (err error) {
			tok, err = s.upgrade(ctx, p, func(up db.Upgrade) error {
				return s.store.UseFactorCode(ctx, f.ID, step, up, s.recordSignIn(ctx, db.Session{ID: p.SessionID, UserID: p.UserID, AAL: db.AAL2}, method, ""))
			})
			return err
		})
	} else {
		method = "recovery"
		err = s.useRecoveryCode(ctx, p.UserID, *recovery, func(hash string) (err error) {
			tok, err = s.upgrade(ctx, p, func(up db.Upgrade) error {
				return s.store.UseRecoveryCode(ctx, hash, up, s.recordSignIn(ctx, db.Session{ID: p.SessionID, UserID: p.UserID, AAL: db.AAL2}, method, ""))
			})
			return err
		})
	}
	switch {
	case errors.Is(err, errWrongCode), errors.Is(err, errWrongRecoveryCode):
		s.signInFailed(ctx, p.UserID, method, failedWrongCode)
	case errors.Is(err, errMFALocked):
		s.signInFailed(ctx, p.UserID, method, failedLocked)
	}
	if err != nil {
		return nil, err
	}
	return oapi.VerifyMFA200JSONResponse(tok), nil
}

// ListMFAFactors lists the caller's factors, never their secrets.
func (s *Server) ListMFAFactors(ctx context.Context, _ oapi.ListMFAFactorsRequestObject) (oapi.ListMFAFactorsResponseObject, error) {
	p := mustPrincipal(ctx)
	rows, err := s.store.ListFactors(ctx, p.UserID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := make(oapi.ListMFAFactors200JSONResponse, 0, len(rows))
	for _, f := range rows {
		if f.Verified || now.Before(f.ExpiresAt) {
			out = append(out, toFactor(f))
		}
	}
	return out, nil
}

// DeleteMFAFactor removes one of the caller's factors (the assurance rule
// has asked for aal2 when the account has a verified one, and for a fresh
// proof) with a current code from it or a recovery code: whoever holds the
// session must also hold the factor, or the account's recovery codes. The
// code is taken as any other (proveWithCode), then the factor goes.
func (s *Server) DeleteMFAFactor(ctx context.Context, req oapi.DeleteMFAFactorRequestObject) (oapi.DeleteMFAFactorResponseObject, error) {
	p := mustPrincipal(ctx)
	code, recovery := req.Body.Code, req.Body.RecoveryCode
	if (code == nil) == (recovery == nil) { // the spec's min/maxProperties say so too
		return nil, &Error{Status: http.StatusBadRequest, Detail: "send exactly one of code and recovery_code"}
	}
	f, err := s.store.GetFactor(ctx, p.UserID, req.ID) // 404 before a code is spent
	if err != nil {
		return nil, err
	}
	if code != nil {
		err = s.proveWithCode(ctx, p, f, *code)
	} else {
		err = s.proveWithRecoveryCode(ctx, p, *recovery)
	}
	if err != nil {
		return nil, err
	}
	var after func(*sql.Tx) error
	if f.Verified { // an enrolment that was never finished changes nothing
		after = s.notice(ctx, s.event(ctx, db.EventMFAFactorRemoved, p.UserID, factorData{ID: f.ID, Kind: f.Kind}))
	}
	if err := s.store.DeleteFactor(ctx, p.UserID, req.ID, after); err != nil {
		return nil, err
	}
	if after != nil {
		s.noticed(ctx, db.EventMFAFactorRemoved, p.UserID)
	}
	return oapi.DeleteMFAFactor204Response{}, nil
}

// RegenerateRecoveryCodes gives an aal2 session a new set of recovery codes
// and voids the old one.
func (s *Server) RegenerateRecoveryCodes(ctx context.Context, _ oapi.RegenerateRecoveryCodesRequestObject) (oapi.RegenerateRecoveryCodesResponseObject, error) {
	p := mustPrincipal(ctx)
	codes := mfa.NewRecoveryCodes()
	hashes := make([]string, len(codes))
	for i, c := range codes {
		hashes[i] = s.mfa.HashRecoveryCode(p.UserID, c)
	}
	// db.ErrNoSession: the session ended (a reset) since the bearer check.
	if err := s.store.ReplaceRecoveryCodes(ctx, p.UserID, p.SessionID, hashes, s.notice(ctx, s.event(ctx, db.EventMFARecoveryCodesRegenerated, p.UserID, nil))); err != nil {
		return nil, err
	}
	s.noticed(ctx, db.EventMFARecoveryCodesRegenerated, p.UserID)
	return oapi.RegenerateRecoveryCodes200JSONResponse{RecoveryCodes: codes}, nil
}

// proveWithCode spends a TOTP code of the caller's factor f as a proof of
// the caller and stamps the session's auth time; the factor's
// compare-and-set of its time step makes a code work once. A verified
// factor's code is taken as every operation takes one (useTOTPCode: the
// minute's limit and the lock); an enrolment's, which has no lock, as at its
// confirmation: under the minute's limit, from its own secret.
func (s *Server) proveWithCode(ctx context.Context, p token.Principal, f db.Factor, code string) error {
	prove := func(f db.Factor, step int64) error {
		return s.store.ProveWithFactorCode(ctx, f.ID, step, db.Proof{SessionID: p.SessionID, UserID: p.UserID, At: s.now()})
	}
	if f.Verified {
		return s.useTOTPCode(ctx, p.UserID, code, prove)
	}
	giveBack, err := s.limitCodes(ctx, p.UserID)
	if err != nil {
		return err
	}
	step, err := s.matchCode(f, code, s.now())
	if err == nil {
		err = prove(f, step)
	}
	if err == nil {
		giveBack()
	}
	return err
}

// proveWithRecoveryCode spends a recovery code of the caller's as a proof
// (useRecoveryCode: the minute's limit; it unlocks a locked factor) and
// stamps the session's auth time.
func (s *Server) proveWithRecoveryCode(ctx context.Context, p token.Principal, code string) error {
	return s.useRecoveryCode(ctx, p.UserID, code, func(hash string) error {
		return s.store.ProveWithRecoveryCode(ctx, hash, db.Proof{SessionID: p.SessionID, UserID: p.UserID, At: s.now()})
	})
}

// verifiedFactor is the user's verified TOTP factor.
func (s *Server) verifiedFactor(ctx context.Context, userID int64) (db.Factor, error) {
	factors, err := s.store.ListFactors(ctx, userID)
	if err != nil {
		return db.Factor{}, err
	}
	for _, f := range factors {
		if f.Verified && f.Kind == db.FactorTOTP {
			return f, nil
		}
	}
	return db.Factor{}, errNoFactorToVerify // removed since the session check
}

// matchCode finds the time step of code from the factor's secret, within a
// step of now; whether that step was used already is the store's to say.
func (s *Server) matchCode(f db.Factor, code string, now time.Time) (int64, error) {
	secret, err := s.mfa.Open(f.ID, f.Secret)
	if err != nil {
		return 0, err // MFA_KEY (or JWT_SECRET) changed since the enrolment: a 500, logged
	}
	step, ok := mfa.Match(secret, strings.TrimSpace(code), now)
	if !ok {
		return 0, errWrongCode
	}
	return step, nil
}

// upgrade raises the caller's session to aal2 through apply (which also
// spends the code, in the same transaction) and returns the session's new
// pair. The refresh token moves on two generations, so the one the client
// held before the upgrade is spent and never mints aal2 tokens. A refresh
// that moved the session between the read and apply makes it read again.
func (s *Server) upgrade(ctx context.Context, p token.Principal, apply func(db.Upgrade) error) (oapi.Token, error) {
	for range 3 {
		sess, err := s.store.GetSession(ctx, p.SessionID)
		if err != nil {
			return oapi.Token{}, err
		}
		now := s.now()
		next := s.refresh.Refresh(sess.ID, sess.Generation+2)
		up := db.Upgrade{SessionID: sess.ID, UserID: p.UserID, Generation: sess.Generation, RefreshHash: db.HashToken(next),
			Now: now, RefreshExpiresAt: s.refreshExpiry(sess.CreatedAt, now)}
		err = apply(up)
		if errors.Is(err, db.ErrStale) {
			continue
		}
		if err != nil {
			return oapi.Token{}, err
		}
		sess.AAL, sess.Generation, sess.RefreshExpiresAt = db.AAL2, sess.Generation+2, up.RefreshExpiresAt
		sess.LevelGen, sess.LevelAt = sess.LevelGen+1, now
		return s.tokenPair(ctx, sess, next)
	}
	return oapi.Token{}, errSessionEnded
}

// toFactor is the API's view of a factor: never its secret.
func toFactor(f db.Factor) oapi.Factor {
	return oapi.Factor{ID: f.ID, Type: oapi.FactorType(f.Kind), Verified: f.Verified, CreatedAt: f.CreatedAt.UTC()}
}

// UnlockMFA unlocks the factor of the account the mailed unlock token names
// (sent when wrong codes locked it).
func (s *Server) UnlockMFA(ctx context.Context, req oapi.UnlockMFARequestObject) (oapi.UnlockMFAResponseObject, error) {
	userID, err := s.store.UnlockFactor(ctx, db.HashToken(req.Body.Token), s.now())
	if err != nil {
		return nil, err
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "second factor unlocked with the mailed link", slog.Int64("user_id", userID))
	return oapi.UnlockMFA204Response{}, nil
}
