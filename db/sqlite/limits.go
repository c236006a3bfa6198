package sqlite

// The caps on what one account holds (db/limits.go), over the generated
// queries of limits.sql, and what a write re-checks under the account's
// lock (a sign-in's proof, the caller's session): written once, here, and twinned to
// db/postgres/limits_gen.go by db/twin, under the rules of accounts.go. Each
// check runs in the caller's transaction after its LockUser, so two
// registrations at once are counted one after the other.

import (
	"context"
	"database/sql"

	"github.com/keelhq/keel/db"
	gen "github.com/keelhq/keel/gen/db/sqlite"
)

// roomForPasskey refuses a passkey past db.MaxPasskeys (under the lock).
func roomForPasskey(ctx context.Context, q *gen.Queries, userID int64) error {
	n, err := q.CountPasskeys(ctx, userID)
	if err == nil && n >= db.MaxPasskeys {
		return db.ErrTooManyPasskeys
	}
	return err
}

// roomForIdentity locks the user and refuses an identity past
// db.MaxIdentities.
func roomForIdentity(ctx context.Context, q *gen.Queries, userID int64) error {
	n, err := q.LockUser(ctx, userID)
	if err := oneRow(n, err, db.ErrNoUser); err != nil {
		return err
	}
	count, err := q.CountIdentities(ctx, userID)
	if err == nil && count >= db.MaxIdentities {
		return db.ErrTooManyIdentities
	}
	return err
}

// createSession stores s with q (a transaction's, tx) and ends the user's
// least recently used sessions past db.MaxSessions, announcing each in tx;
// it returns those endings for the caller to hand to announced once tx has
// committed. The user's lock makes two sign-ins at once count one after the
// other, and orders the sign-in after a reset or password change that
// committed while it checked its proof (signInHolds), and after a ban
// (notBanned: the session's CreatedAt is the sign-in's now).
func (d *DB) createSession(ctx context.Context, tx *sql.Tx, q *gen.Queries, s db.Session) ([]db.SessionsEnded, error) {
	n, err := q.LockUser(ctx, s.UserID)
	if err := oneRow(n, err, db.ErrNoUser); err != nil {
		return nil, err
	}
	if err := signInHolds(ctx, q, s); err != nil {
		return nil, err
	}
	if err := notBanned(ctx, q, s.UserID, s.CreatedAt); err != nil {
		return nil, err
	}
	if s.Rehash != "" && s.CheckedHash != "" { // an imported hash, now keel's (db.Session.Rehash)
		if _, err := q.SetPassword(ctx, gen.SetPasswordParams{ID: s.UserID, PasswordHash: s.Rehash}); err != nil {
			return nil, err
		}
	}
	if err := insertSession(ctx, q, s); err != nil {
		return nil, err
	}
	ids, err := q.DeleteSessionsPastCap(ctx, gen.DeleteSessionsPastCapParams{UserID: s.UserID, Keep: db.MaxSessions})
	if err != nil {
		return nil, err
	}
	ended := make([]db.SessionsEnded, len(ids))
	for i, id := range ids {
		ended[i] = db.SessionsEnded{UserID: s.UserID, Session: id}
		if err := d.announce(ctx, tx, ended[i]); err != nil {
			return nil, err
		}
	}
	return ended, nil
}

// signInHolds returns ErrSignInStale when what s's sign-in checked has
// changed since (read under the caller's lock): the password hash a
// password was compared with (a reset, or a link by email that took an
// unproved account over, replaced or cleared it during the bcrypt
// comparison), or the passkey used (the reset of an unproved account
// deleted it). A reset ends every session in the transaction that changes
// the hash, so without this check a squatter's login in flight would get
// the first session of the owner's account; with it, either the sign-in
// commits first and the reset ends its session, or it finds the new hash.
func signInHolds(ctx context.Context, q *gen.Queries, s db.Session) error {
	if s.CheckedHash != "" {
		hash, err := q.GetPasswordHash(ctx, s.UserID)
		if err != nil {
			return translate(err, db.ErrNoUser)
		}
		if hash != s.CheckedHash {
			return db.ErrSignInStale
		}
	}
	if s.PasskeyID != "" {
		n, err := q.HasPasskey(ctx, gen.HasPasskeyParams{ID: s.PasskeyID, UserID: s.UserID})
		if err != nil {
			return err
		}
		if n == 0 {
			return db.ErrSignInStale
		}
	}
	return nil
}

// callerLive returns ErrNoSession when the user's session sessionID, whose
// request adds a way in (a passkey, recovery codes), has ended; under the
// caller's lock. A reset ends every session in the transaction that
// changes the user's row: without this, a request that passed its bearer
// check before the reset committed would add its way in after it, one
// that outlives the reset (a verified account's reset keeps passkeys and
// codes). linkIdentity checks its session the same way.
func callerLive(ctx context.Context, q *gen.Queries, userID int64, sessionID string) error {
	if _, err := q.GetSessionUser(ctx, gen.GetSessionUserParams{SessionID: sessionID, UserID: userID}); err != nil {
		return translate(err, db.ErrNoSession)
	}
	return nil
}

// CreateSession implements db.Store.
func (d *DB) CreateSession(ctx context.Context, s db.Session, after ...func(*sql.Tx) error) error {
	var ended []db.SessionsEnded
	err := d.inTx(ctx, func(tx *sql.Tx, q *gen.Queries) (err error) {
		if ended, err = d.createSession(ctx, tx, q, s); err != nil {
			return err
		}
		return then(tx, after...)
	})
	if err == nil {
		for _, e := range ended {
			d.announced(e)
		}
	}
	return err
}
