package server

import (
	"context"
	"errors"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/gen/oapi"
	"github.com/keelhq/keel/internal/password"
	"github.com/keelhq/keel/internal/token"
)

// GetProfile returns the user the bearer token was issued to: the bearer
// check's one query (sessionLive) has read it with the session, so GET
// /profile costs no second round trip.
func (s *Server) GetProfile(ctx context.Context, _ oapi.GetProfileRequestObject) (oapi.GetProfileResponseObject, error) {
	return oapi.GetProfile200JSONResponse(toUser(mustAccess(ctx).User)), nil
}

// DeleteProfile deletes the account, its sessions and its tokens, after
// checking the password; its event (user.deleted) outlives it.
func (s *Server) DeleteProfile(ctx context.Context, req oapi.DeleteProfileRequestObject) (oapi.DeleteProfileResponseObject, error) {
	p, err := s.checkPassword(ctx, req.Body.Password)
	if err != nil {
		return nil, err
	}
	if err := s.store.DeleteUser(ctx, p.UserID, s.recordTx(ctx, s.event(ctx, db.EventUserDeleted, p.UserID, nil))); err != nil {
		return nil, err
	}
	return oapi.DeleteProfile204Response{}, nil
}

// ChangePassword sets a new password, ends every other session and voids
// the reset links already mailed. The current password it checks is a
// proof of the user: the session's auth time is now.
func (s *Server) ChangePassword(ctx context.Context, req oapi.ChangePasswordRequestObject) (oapi.ChangePasswordResponseObject, error) {
	p, err := s.checkPassword(ctx, req.Body.CurrentPassword)
	if err != nil {
		return nil, passwordField(err, "/current_password")
	}
	hash, err := s.passwords.Hash(ctx, req.Body.NewPassword)
	if err != nil {
		return nil, passwordField(err, "/new_password")
	}
	// Every other session of the account ends with the change.
	ended := sessionEndedData{Why: "password", All: true, Except: p.SessionID}
	if err := s.store.ChangePassword(ctx, p.UserID, string(hash), p.SessionID, inOrder(s.notice(ctx, s.event(ctx, db.EventPasswordChanged, p.UserID, nil)),
		s.recordTx(ctx, s.event(ctx, db.EventSessionEnded, p.UserID, ended)))); err != nil {
		return nil, err
	}
	s.noticed(ctx, db.EventPasswordChanged, p.UserID)
	if err := s.store.StampAuthTime(ctx, db.Proof{SessionID: p.SessionID, UserID: p.UserID, At: s.now()}); err != nil {
		return nil, err
	}
	return oapi.ChangePassword204Response{}, nil
}

// checkPassword checks the signed-in user's password: a wrong one is 403
// (the caller is authenticated; the password is what is wrong).
func (s *Server) checkPassword(ctx context.Context, pw string) (token.Principal, error) {
	p := mustPrincipal(ctx)
	creds, err := s.store.GetSessionCredentials(ctx, p.SessionID, p.UserID)
	if err != nil {
		return p, err
	}
	if creds.PasswordHash == "" {
		// Created by a provider sign-in: nothing to check against, and
		// nothing a guess could match.
		return p, errNoPassword
	}
	err = s.passwords.Check(ctx, []byte(creds.PasswordHash), pw)
	if errors.Is(err, password.ErrMismatch) {
		return p, errWrongPassword
	}
	return p, err
}

// ResendVerification queues the verification email again, unless the
// address is verified already.
func (s *Server) ResendVerification(ctx context.Context, _ oapi.ResendVerificationRequestObject) (oapi.ResendVerificationResponseObject, error) {
	u := mustAccess(ctx).User
	if !u.EmailVerified {
		// Anyone may register someone else's address: without this, a loop
		// on resend would mail-bomb it.
		if err := s.limitEmail(ctx, u.Email); err != nil {
			return nil, err
		}
		if err := s.jobs().VerifyEmail(ctx, u.ID); err != nil {
			return nil, err
		}
	}
	return oapi.ResendVerification202JSONResponse{Status: oapi.AcceptedStatusAccepted}, nil
}

// UpdateProfile replaces the user's own metadata, recorded as user.updated
// in the change's transaction.
func (s *Server) UpdateProfile(ctx context.Context, req oapi.UpdateProfileRequestObject) (oapi.UpdateProfileResponseObject, error) {
	p := mustPrincipal(ctx)
	meta, err := metadata(req.Body.UserMetadata, "/user_metadata")
	if err != nil {
		return nil, err
	}
	_, u, err := s.store.UpdateUser(ctx, p.UserID, db.UserChange{UserMetadata: &meta}, s.recordUpdate(ctx))
	if err != nil {
		return nil, err
	}
	return oapi.UpdateProfile200JSONResponse(toUser(u)), nil
}

// ListActivity lists the caller's events, newest first, a page at a time.
func (s *Server) ListActivity(ctx context.Context, req oapi.ListActivityRequestObject) (oapi.ListActivityResponseObject, error) {
	p := mustPrincipal(ctx)
	before, err := decodeCursor(req.Params.Cursor)
	if err != nil {
		return nil, err
	}
	es, next, err := s.eventPage(ctx, db.EventFilter{UserID: p.UserID, Before: before}, req.Params.Limit)
	if err != nil {
		return nil, err
	}
	out := oapi.ActivityPage{Events: make([]oapi.Activity, len(es)), NextCursor: next}
	for i, e := range es {
		if out.Events[i], err = toActivity(e, p.UserID); err != nil {
			return nil, err
		}
	}
	return oapi.ListActivity200JSONResponse(out), nil
}

// toUser is the API's view of a user: never the password hash.
func toUser(u db.User) oapi.User {
	return oapi.User{ID: u.ID, Email: u.Email, CreatedAt: u.CreatedAt.UTC(), EmailVerified: u.EmailVerified,
		UserMetadata: metadataOf(u.UserMetadata)}
}
