package server

// How every operation takes a second-factor code (POST /mfa/verify, and any
// other that asks for one): the rules against guessing live here once, so
// each operation only says what a right code does (use).

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"

	"github.com/keelhq/keel/db"
)

const (
	// mfaLockedType is the problem type of a TOTP code refused because the
	// factor is locked (documented in the spec's MFALocked response).
	mfaLockedType = "urn:keel:problem:mfa-locked"
	// defaultMFAMaxFailures is MFA_MAX_FAILURES's default.
	defaultMFAMaxFailures = 10
)

var errMFALocked = &Error{Status: http.StatusForbidden, Type: mfaLockedType, Title: "Second factor locked",
	Detail: "too many wrong codes: use a recovery code, or the unlock link mailed to the account's address"}

// limitCodes counts one code against the account's codesPerMinute wrong
// codes a minute (the store's count: PostgreSQL's is every replica's), or
// refuses it with 429. It counts before the code is judged, so that codes
// tried at once cannot pass the limit; giveBack returns the count when the
// code was right, so right codes never count.
func (s *Server) limitCodes(ctx context.Context, userID int64) (giveBack func(), err error) {
	key := "mfa:" + strconv.FormatInt(userID, 10)
	d, err := s.store.TakeRateToken(ctx, key, codesPerMinute, s.now())
	if err != nil {
		return nil, err
	}
	if d > 0 {
		return nil, tooManyRequests("codes for this account", d)
	}
	return func() {
		if err := s.store.ReturnRateToken(ctx, key, codesPerMinute, s.now()); err != nil {
			s.log.LogAttrs(ctx, slog.LevelError, "giving back a right code's rate-limit token", slog.Any("err", err))
		}
	}, nil
}

// maxFailures is MFA_MAX_FAILURES: the default when unset (0), as every
// other bound of Config, so that a Config built without it still locks;
// negative (MFA_MAX_FAILURES=0) counts without locking.
func (s *Server) maxFailures() int64 {
	switch n := s.cfg.MFAMaxFailures; {
	case n == 0:
		return defaultMFAMaxFailures
	case n < 0:
		return math.MaxInt64
	default:
		return int64(n)
	}
}

// useTOTPCode takes a TOTP code from the account's verified factor, the one
// way every operation does: the code counts against the account's five
// wrong codes a minute (429) and its MFA_MAX_FAILURES wrong codes in a row
// (403 mfa-locked once they are spent), both counted in the database before
// the code's judgement is acted on, so guesses at once pass neither. A right
// code is handed to use with its time step; use must spend the step through
// the store (UseFactorCode, or another method that takes the step), in the
// transaction of what the operation does, which sets the failures back to
// 0; then the minute's count is given back. A replay (a step not after the
// factor's last one, or use's db.ErrCodeUsed) is logged at warn and counts
// as a wrong code. The wrong code that locks the factor queues the mail with
// its owner's unlock link in the count's transaction (judged first, in
// memory, so that the count knows), and is logged at warn.
func (s *Server) useTOTPCode(ctx context.Context, userID int64, code string, use func(f db.Factor, step int64) error) error {
	giveBack, err := s.limitCodes(ctx, userID)
	if err != nil {
		return err
	}
	f, err := s.verifiedFactor(ctx, userID)
	if err != nil {
		giveBack()
		return err
	}
	step, judged := s.matchCode(f, code, s.now())
	if judged == nil && step <= f.LastStep {
		judged = db.ErrCodeUsed // a replay, refused before it is used
	}
	var locked func(*sql.Tx) error
	if errors.Is(judged, errWrongCode) || errors.Is(judged, db.ErrCodeUsed) {
		// Queued only if this count is the one that locks the factor.
		locked = s.notice(ctx, s.event(ctx, db.EventMFALocked, userID, nil))
	}
	failures, err := s.store.CountFactorAttempt(ctx, f.ID, s.maxFailures(), locked)
	switch {
	case errors.Is(err, db.ErrFactorLocked):
		giveBack() // refused, whatever the code
		return errMFALocked
	case errors.Is(err, db.ErrNoFactor):
		giveBack()
		return errNoFactorToVerify // removed since
	case err != nil:
		return err
	}
	if locked != nil && failures == s.maxFailures() {
		s.noticed(ctx, db.EventMFALocked, userID) // at warn
	}
	if err = judged; err == nil {
		if err = use(f, step); err == nil {
			giveBack()
			return nil
		}
	}
	if errors.Is(err, db.ErrCodeUsed) {
		s.log.LogAttrs(ctx, slog.LevelWarn, "a TOTP code accepted before was presented again (a replay?)",
			slog.Int64("user_id", userID))
		err = errWrongCode
	}
	return err
}

// useRecoveryCode takes a recovery code: it counts against the account's
// five wrong codes a minute like a TOTP code (given back when right). use
// spends its hash through the store (UseRecoveryCode, or another method that
// takes a recovery code), which also unlocks a locked factor. A set made
// before MFA_KEY (or JWT_SECRET) changed is stored under the previous key's
// hashes: on "not found" the code is tried under those, one attempt still.
func (s *Server) useRecoveryCode(ctx context.Context, userID int64, code string, use func(hash string) error) error {
	giveBack, err := s.limitCodes(ctx, userID)
	if err != nil {
		return err
	}
	for _, hash := range s.mfa.RecoveryCodeHashes(userID, code) {
		if err = use(hash); !errors.Is(err, db.ErrCodeUsed) {
			break
		}
	}
	switch {
	case err == nil:
		giveBack()
		return nil
	case errors.Is(err, db.ErrCodeUsed):
		return errWrongRecoveryCode
	}
	return err
}
