package sqlite

// The proof of the address (issue 23), over the generated queries: what an
// account held before its address was proved belonged to whoever held the
// account then, who may have been a squatter on someone else's address. When
// the mailbox's owner takes the account over (a password reset, a link by a
// provider allowed to link by email), all of it goes. Like accounts.go it is
// written once: db/twin generates db/postgres/owner_gen.go from it.

import (
	"context"
	"database/sql"
	"time"

	"github.com/keelhq/keel/db"
	gen "github.com/keelhq/keel/gen/db/sqlite"
)

// clearAccount removes every way in but the password from userID's account,
// in the caller's transaction (which has locked the user's row): every
// identity, passkey and passkey ceremony under way, every TOTP factor
// (verified or not) and recovery code; it ends every session and voids the
// sign-in codes and link flows. It says which sessions ended, for the
// caller's transaction to announce (their sockets close).
func clearAccount(ctx context.Context, q *gen.Queries, userID int64) (db.SessionsEnded, error) {
	var none db.SessionsEnded
	// Sessions first: a session may name the passkey or identity it began with.
	if err := q.DeleteSessionsExcept(ctx, gen.DeleteSessionsExceptParams{UserID: userID, Keep: ""}); err != nil {
		return none, err
	}
	for _, del := range []func() error{
		func() error { return q.DeleteUserIdentities(ctx, userID) },
		func() error { return q.DeleteUserPasskeys(ctx, userID) },
		func() error { return q.DeleteUserPasskeyCeremonies(ctx, sql.NullInt64{Int64: userID, Valid: true}) },
		func() error { return q.DeleteUserFactors(ctx, userID) },
		func() error { return q.DeleteRecoveryCodes(ctx, userID) },
		func() error { return voidGrants(ctx, q, userID) },
	} {
		if err := del(); err != nil {
			return none, err
		}
	}
	return db.SessionsEnded{UserID: userID}, nil
}

// takeOver is a link by email into u, whose address was unproved: the
// account is cleared (clearAccount) and its password too, and its address
// marked verified, the provider having proved it.
func takeOver(ctx context.Context, q *gen.Queries, u db.User) (db.SessionsEnded, error) {
	ended, err := clearAccount(ctx, q, u.ID)
	if err != nil {
		return ended, err
	}
	if _, err := q.SetPassword(ctx, gen.SetPasswordParams{ID: u.ID, PasswordHash: ""}); err != nil {
		return ended, err
	}
	_, err = q.MarkEmailVerified(ctx, gen.MarkEmailVerifiedParams{ID: u.ID, Email: u.Email})
	return ended, err
}

// TokenCredentials implements db.Store.
func (d *DB) TokenCredentials(ctx context.Context, hash, purpose string, now time.Time) (db.Credentials, error) {
	row, err := d.read.GetTokenCredentials(ctx, gen.GetTokenCredentialsParams{Hash: hash, Purpose: purpose})
	if err != nil {
		return db.Credentials{}, translate(err, db.ErrNoToken)
	}
	if err := expired(row.ExpiresAt, now); err != nil {
		return db.Credentials{}, err
	}
	return db.Credentials{UserID: row.UserID, PasswordHash: row.PasswordHash}, nil
}
