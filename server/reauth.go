package server

// Reauthentication (tag reauth): a fresh proof of the signed-in user, which
// the operations that change the account's ways in need (needFreshProof, by
// checkAssurance in mfa.go). A session's proof is its auth time: stamped at a
// sign-in that proved the user, by POST /mfa/verify and a password change,
// and here. The checks are those of the sign-in methods themselves: the
// password pool, the per-account code limit with the factor's compare-and-set
// (a code works once) and spent recovery codes, and a passkey ceremony kept
// in the store like the others, for the user's own passkeys, with user
// verification required.

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/gen/oapi"
	"github.com/keelhq/keel/internal/passkey"
)

var (
	errOneProof = &Error{Status: http.StatusBadRequest,
		Detail: "send exactly one of password, code, recovery_code, or flow_id with credential"}
	errNoPasskeyToProve = &Error{Status: http.StatusBadRequest, Detail: "the account has no passkey"}
	// errProofRefused is a refused passkey from a signed-in user: 403, as a
	// wrong password is (the token is fine; a client must not log out).
	errProofRefused = &Error{Status: http.StatusForbidden, Detail: "the passkey was not accepted"}
)

// Reauthenticate checks one proof of the caller (a password, a TOTP or
// recovery code, or a user-verifying passkey of theirs) and stamps the
// session's auth time.
func (s *Server) Reauthenticate(ctx context.Context, req oapi.ReauthenticateRequestObject) (oapi.ReauthenticateResponseObject, error) {
	p, acc := mustPrincipal(ctx), mustAccess(ctx)
	b := req.Body
	proofs := 0
	for _, given := range []bool{b.Password != nil, b.Code != nil, b.RecoveryCode != nil, b.FlowID != nil || b.Credential != nil} {
		if given {
			proofs++
		}
	}
	if proofs != 1 || (b.FlowID == nil) != (b.Credential == nil) {
		return nil, errOneProof
	}
	var err error
	switch {
	case b.Password != nil:
		if _, err = s.checkPassword(ctx, *b.Password); err == nil {
			err = s.store.StampAuthTime(ctx, db.Proof{SessionID: p.SessionID, UserID: p.UserID, At: s.now()})
		}
	case b.FlowID != nil:
		err = s.reauthWithPasskey(ctx, acc, p.SessionID, *b.FlowID, b.Credential)
	case !acc.HasFactor: // a code, of a factor there is not
		err = errNoFactorToVerify
	case b.RecoveryCode != nil: // a code: taken as at POST /mfa/verify (server/codes.go)
		err = s.proveWithRecoveryCode(ctx, p, *b.RecoveryCode)
	default:
		err = s.useTOTPCode(ctx, p.UserID, *b.Code, func(f db.Factor, step int64) error {
			return s.store.ProveWithFactorCode(ctx, f.ID, step, db.Proof{SessionID: p.SessionID, UserID: p.UserID, At: s.now()})
		})
	}
	if err != nil {
		return nil, err
	}
	return oapi.Reauthenticate204Response{}, nil
}

// ReauthenticatePasskeyOptions begins a passkey assertion for the caller's
// own passkeys, user verification required; POST /reauthenticate finishes it.
func (s *Server) ReauthenticatePasskeyOptions(ctx context.Context, _ oapi.ReauthenticatePasskeyOptionsRequestObject) (oapi.ReauthenticatePasskeyOptionsResponseObject, error) {
	if s.passkeys == nil {
		return nil, errPasskeysOff
	}
	u := mustAccess(ctx).User
	mine, err := s.store.ListPasskeys(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	if len(mine) == 0 {
		return nil, errNoPasskeyToProve
	}
	handle, err := s.passkeyHandle(ctx, u.ID, mine)
	if err != nil {
		return nil, err
	}
	options, session, err := s.passkeys.BeginReauth(handle, u.Email, mine)
	if err != nil {
		return nil, err
	}
	flow, err := s.keepCeremony(ctx, u.ID, db.CeremonyReauth, session)
	if err != nil {
		return nil, err
	}
	out, err := toPasskeyOptions(flow, options)
	if err != nil {
		return nil, err
	}
	return oapi.ReauthenticatePasskeyOptions200JSONResponse(out), nil
}

// reauthWithPasskey finishes the caller's reauthentication ceremony of flow
// with credential, records the passkey's new counter and flags as a sign-in
// does, and stamps the session (sessionID) of the caller (acc).
func (s *Server) reauthWithPasskey(ctx context.Context, acc db.SessionAccess, sessionID, flow string, credential *oapi.PublicKeyCredential) error {
	if s.passkeys == nil {
		return errPasskeysOff
	}
	u := acc.User
	c, err := s.takeCeremony(ctx, flow, db.CeremonyReauth)
	if err != nil {
		return err
	}
	if c.UserID != u.ID { // another user's flow: as unknown
		return db.ErrNoCeremony
	}
	mine, err := s.store.ListPasskeys(ctx, u.ID)
	if err != nil {
		return err
	}
	answer, err := json.Marshal(credential)
	if err != nil {
		return err
	}
	a, err := s.passkeys.FinishReauth(u.Email, mine, c.Session, answer)
	err = s.passkeyUsed(ctx, "passkey reauthentication", a, err)
	if errors.Is(err, passkey.ErrRefused) || errors.Is(err, passkey.ErrSignCount) {
		return errProofRefused
	}
	if err != nil {
		return err
	}
	return s.store.StampAuthTime(ctx, db.Proof{SessionID: sessionID, UserID: u.ID, At: s.now()})
}
