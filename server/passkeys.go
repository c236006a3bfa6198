package server

// Passkeys (tag passkeys): WebAuthn registration for a signed-in user,
// discoverable sign-in with no password, and the user's passkeys. The
// ceremonies themselves (options, verification) are internal/passkey's; a
// ceremony's state is kept in the store between its options and its answer,
// so any replica may finish it, once, within five minutes.

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/gen/oapi"
	"github.com/keelhq/keel/internal/passkey"
	"github.com/keelhq/keel/internal/token"
)

// The authentication methods (RFC 8176) of a passkey sign-in: "swk" for a
// backup-eligible passkey, which a password manager or platform syncs
// between devices (a software-protected key, as far as keel can tell),
// "hwk" for one bound to its authenticator (a security key, a TPM); "user"
// when the authenticator verified the user (PIN or biometric), which with
// possession of the key is two factors, hence "mfa" and aal2.
const (
	amrSoftwareKey = "swk"
	amrHardwareKey = "hwk"
)

var (
	errPasskeysOff = &Error{Status: http.StatusNotFound, Detail: "passkeys are not enabled on this server"}
	// errPasskeyNotVerified is a registration whose credential does not
	// verify (the handler's, since the same library error at sign-in is a 401).
	errPasskeyNotVerified = &Error{Status: http.StatusBadRequest, Field: "/credential",
		Detail: "does not verify: wrong origin, RP ID, type, challenge or signature, or malformed"}
)

// PasskeyRegisterOptions begins a registration for the caller (the
// assurance rule has asked for aal2 when the account has a second factor).
func (s *Server) PasskeyRegisterOptions(ctx context.Context, _ oapi.PasskeyRegisterOptionsRequestObject) (oapi.PasskeyRegisterOptionsResponseObject, error) {
	if s.passkeys == nil {
		return nil, errPasskeysOff
	}
	acc := mustAccess(ctx)
	if err := s.limitEnrolments(ctx, "passkey", acc.User.ID); err != nil {
		return nil, err
	}
	existing, err := s.store.ListPasskeys(ctx, acc.User.ID)
	if err != nil {
		return nil, err
	}
	if len(existing) >= db.MaxPasskeys { // refused before the ceremony; the store holds the cap
		return nil, db.ErrTooManyPasskeys
	}
	handle, err := s.passkeyHandle(ctx, acc.User.ID, existing)
	if err != nil {
		return nil, err
	}
	options, session, err := s.passkeys.BeginRegistration(handle, acc.User.Email, existing)
	if err != nil {
		return nil, err
	}
	flow, err := s.keepCeremony(ctx, acc.User.ID, db.CeremonyRegister, session)
	if err != nil {
		return nil, err
	}
	out, err := toPasskeyOptions(flow, options)
	if err != nil {
		return nil, err
	}
	return oapi.PasskeyRegisterOptions200JSONResponse(out), nil
}

// passkeyHandle is the user handle a registration gives the authenticator:
// the account's; for an account without one, the account id when it has
// passkeys already (registered before handles were random: their
// authenticators hold the id, and one account has one handle), else a new
// random one. The store keeps it when the passkey is stored.
func (s *Server) passkeyHandle(ctx context.Context, userID int64, existing []db.Passkey) ([]byte, error) {
	h, err := s.store.PasskeyHandle(ctx, userID)
	switch {
	case err != nil:
		return nil, err
	case h != nil:
		return h, nil
	case len(existing) > 0:
		return passkey.LegacyHandle(userID), nil
	}
	return passkey.NewHandle(), nil
}

// RegisterPasskey finishes a registration and stores the passkey.
func (s *Server) RegisterPasskey(ctx context.Context, req oapi.RegisterPasskeyRequestObject) (oapi.RegisterPasskeyResponseObject, error) {
	if s.passkeys == nil {
		return nil, errPasskeysOff
	}
	acc := mustAccess(ctx)
	c, err := s.takeCeremony(ctx, req.Body.FlowID, db.CeremonyRegister)
	if err != nil {
		return nil, err
	}
	if c.UserID != acc.User.ID { // another user's flow: as unknown
		return nil, db.ErrNoCeremony
	}
	answer, err := json.Marshal(req.Body.Credential)
	if err != nil {
		return nil, err
	}
	p, err := s.passkeys.FinishRegistration(acc.User.ID, acc.User.Email, c.Session, answer)
	if errors.Is(err, passkey.ErrRefused) {
		s.log.LogAttrs(ctx, slog.LevelInfo, "passkey registration refused", slog.String("reason", err.Error()))
		return nil, errPasskeyNotVerified
	}
	if err != nil {
		return nil, err
	}
	p.ID, p.Name, p.CreatedAt = token.NewSessionID(), req.Body.Name, s.now()
	// db.ErrNoSession: the session ended (a reset) since the bearer check.
	if err := s.store.CreatePasskey(ctx, p, mustPrincipal(ctx).SessionID, s.notice(ctx, s.event(ctx, db.EventPasskeyAdded, acc.User.ID, passkeyData{ID: p.ID, Name: p.Name}))); err != nil {
		return nil, err
	}
	s.noticed(ctx, db.EventPasskeyAdded, acc.User.ID)
	return oapi.RegisterPasskey201JSONResponse(toPasskey(p)), nil
}

// PasskeyLoginOptions begins a discoverable sign-in.
func (s *Server) PasskeyLoginOptions(ctx context.Context, _ oapi.PasskeyLoginOptionsRequestObject) (oapi.PasskeyLoginOptionsResponseObject, error) {
	if s.passkeys == nil {
		return nil, errPasskeysOff
	}
	options, session, err := s.passkeys.BeginLogin()
	if err != nil {
		return nil, err
	}
	flow, err := s.keepCeremony(ctx, 0, db.CeremonyLogin, session)
	if err != nil {
		return nil, err
	}
	out, err := toPasskeyOptions(flow, options)
	if err != nil {
		return nil, err
	}
	return oapi.PasskeyLoginOptions200JSONResponse(out), nil
}

// PasskeyLogin finishes a sign-in, records the passkey's new counter and
// flags, and starts a session: aal2 when the authenticator verified the
// user, aal1 otherwise.
func (s *Server) PasskeyLogin(ctx context.Context, req oapi.PasskeyLoginRequestObject) (oapi.PasskeyLoginResponseObject, error) {
	if s.passkeys == nil {
		return nil, errPasskeysOff
	}
	c, err := s.takeCeremony(ctx, req.Body.FlowID, db.CeremonyLogin)
	if err != nil {
		return nil, err
	}
	answer, err := json.Marshal(req.Body.Credential)
	if err != nil {
		return nil, err
	}
	a, err := s.passkeys.FinishLogin(c.Session, answer, func(handle []byte) (int64, []db.Passkey, error) {
		return s.store.PasskeyAccount(ctx, handle)
	})
	if err := s.passkeyUsed(ctx, "passkey sign-in", a, err); err != nil {
		if errors.Is(err, passkey.ErrRefused) || errors.Is(err, passkey.ErrSignCount) {
			s.signInFailed(ctx, a.Passkey.UserID, "passkey", failedRefused)
		}
		return nil, err
	}
	amr := amrHardwareKey
	if a.Passkey.BackupEligible {
		amr = amrSoftwareKey
	}
	aal := db.AAL1
	if a.UserVerified {
		aal, amr = db.AAL2, amr+" user mfa"
	}
	// Without user verification a passkey is one factor, something the
	// user has: no proof of the user for changing the account's ways in.
	sess := s.newSignIn(ctx, a.Passkey.UserID, aal, amr, a.UserVerified)
	sess.PasskeyID = a.Passkey.ID // removing the passkey ends the session
	tok, err := s.startSession(ctx, sess)
	if errors.Is(err, db.ErrSignInStale) {
		// The passkey went while it was checked (the reset of an account
		// whose address was unproved takes every passkey): refused, as a
		// passkey the account does not hold.
		s.log.LogAttrs(ctx, slog.LevelInfo, "passkey sign-in refused: the passkey was removed while it was checked",
			slog.String("passkey", a.Passkey.ID), slog.Int64("user", a.Passkey.UserID))
		s.signInFailed(ctx, a.Passkey.UserID, "passkey", failedRefused)
		return nil, passkey.ErrRefused
	}
	if errors.Is(err, db.ErrBanned) { // the passkey checked out: 403
		s.signInFailed(ctx, a.Passkey.UserID, "passkey", failedBanned)
	}
	if err != nil {
		return nil, err
	}
	return oapi.PasskeyLogin200JSONResponse(tok), nil
}

// passkeyUsed finishes the answer to a ceremony that asserts a passkey (a
// sign-in, or a reauthentication: what, for the log), whose verification
// gave a and err: a refusal is logged (a counter that went backwards at
// warn) and returned as passkey.ErrRefused or ErrSignCount; an accepted one
// records the passkey's new counter and flags.
func (s *Server) passkeyUsed(ctx context.Context, what string, a passkey.Assertion, err error) error {
	switch {
	case errors.Is(err, passkey.ErrSignCount):
		s.log.LogAttrs(ctx, slog.LevelWarn, "passkey refused: its signature counter went backwards (a cloned authenticator?)",
			slog.String("passkey", a.Passkey.ID), slog.Int64("user", a.Passkey.UserID),
			slog.Int64("stored_count", a.Passkey.SignCount), slog.Int64("presented_count", a.SignCount))
		return err
	case errors.Is(err, passkey.ErrRefused):
		s.log.LogAttrs(ctx, slog.LevelInfo, what+" refused", slog.String("reason", err.Error()))
		return err
	case err != nil:
		return err
	}
	// The user-verified flag of the record is latched (it never goes back).
	uv := a.Passkey.UserVerified || a.UserVerified
	err = s.store.UsePasskey(ctx, a.Passkey, a.SignCount, uv, a.BackupState, s.now())
	if errors.Is(err, db.ErrStale) { // another sign-in with this count won, or the passkey is gone
		return passkey.ErrRefused
	}
	return err
}

// ListPasskeys lists the caller's passkeys.
func (s *Server) ListPasskeys(ctx context.Context, _ oapi.ListPasskeysRequestObject) (oapi.ListPasskeysResponseObject, error) {
	p := mustPrincipal(ctx)
	rows, err := s.store.ListPasskeys(ctx, p.UserID)
	if err != nil {
		return nil, err
	}
	out := make(oapi.ListPasskeys200JSONResponse, len(rows))
	for i, r := range rows {
		out[i] = toPasskey(r)
	}
	return out, nil
}

// RenamePasskey renames one of the caller's passkeys.
func (s *Server) RenamePasskey(ctx context.Context, req oapi.RenamePasskeyRequestObject) (oapi.RenamePasskeyResponseObject, error) {
	p := mustPrincipal(ctx)
	pk, err := s.store.RenamePasskey(ctx, p.UserID, req.ID, req.Body.Name)
	if err != nil {
		return nil, err
	}
	return oapi.RenamePasskey200JSONResponse(toPasskey(pk)), nil
}

// DeletePasskey removes one of the caller's passkeys, unless it is the
// account's last way in (409).
func (s *Server) DeletePasskey(ctx context.Context, req oapi.DeletePasskeyRequestObject) (oapi.DeletePasskeyResponseObject, error) {
	p := mustPrincipal(ctx)
	if err := s.store.DeletePasskey(ctx, p.UserID, req.ID, s.notice(ctx, s.event(ctx, db.EventPasskeyRemoved, p.UserID, passkeyData{ID: req.ID}))); err != nil {
		return nil, err
	}
	s.noticed(ctx, db.EventPasskeyRemoved, p.UserID)
	return oapi.DeletePasskey204Response{}, nil
}

// keepCeremony stores a ceremony's session data under a new flow id (the
// store keeps only its hash) and returns the id.
func (s *Server) keepCeremony(ctx context.Context, userID int64, kind string, session []byte) (string, error) {
	flow := token.NewSessionID()
	err := s.store.CreatePasskeyCeremony(ctx, db.PasskeyCeremony{ID: db.HashToken(flow), UserID: userID, Kind: kind,
		Session: session, ExpiresAt: s.now().Add(passkey.TTL)})
	return flow, err
}

// takeCeremony spends the ceremony of flow, which must be of kind.
func (s *Server) takeCeremony(ctx context.Context, flow, kind string) (db.PasskeyCeremony, error) {
	c, err := s.store.TakePasskeyCeremony(ctx, db.HashToken(flow), s.now())
	if err != nil {
		return c, err
	}
	if c.Kind != kind {
		return c, db.ErrNoCeremony
	}
	return c, nil
}

// toPasskeyOptions is the answer to an options request.
func toPasskeyOptions(flow string, options []byte) (oapi.PasskeyOptions, error) {
	out := oapi.PasskeyOptions{FlowID: flow}
	err := json.Unmarshal(options, &out.Options)
	return out, err
}

// toPasskey is the API's view of a passkey: never its key or counter.
func toPasskey(p db.Passkey) oapi.Passkey {
	out := oapi.Passkey{ID: p.ID, Name: p.Name, BackupEligible: p.BackupEligible, BackedUp: p.BackupState,
		CreatedAt: db.Millis(p.CreatedAt)}
	if !p.LastUsedAt.IsZero() {
		t := p.LastUsedAt.UTC()
		out.LastUsedAt = &t
	}
	return out
}
