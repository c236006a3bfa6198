package sqlite

// db.UserChanges: an operator's changes to accounts (the admin API) and the
// user's own metadata. Twinned to db/postgres/user_changes_gen.go (see
// accounts.go for what a twinned file may use).

import (
	"cmp"
	"context"
	"database/sql"
	"errors"

	"github.com/keelhq/keel/db"
	gen "github.com/keelhq/keel/gen/db/sqlite"
)

// CreateAccount implements db.Store.
func (d *DB) CreateAccount(ctx context.Context, n db.NewAccount, after func(*sql.Tx, db.User) error) (u db.User, err error) {
	err = d.inTx(ctx, func(tx *sql.Tx, q *gen.Queries) error {
		row, err := q.CreateAccount(ctx, gen.CreateAccountParams{Email: n.Email, PasswordHash: n.PasswordHash,
			CreatedAt: db.Millis(n.CreatedAt), EmailVerified: n.EmailVerified, AppMetadata: cmp.Or(n.AppMetadata, "{}")})
		if err != nil {
			return translate(err, nil)
		}
		u = toAccount(gen.GetAccountRow(row))
		if after != nil {
			return after(tx, u)
		}
		return nil
	})
	return u, err
}

// toAccount is the account's row as db.User.
func toAccount(r gen.GetAccountRow) db.User {
	return db.User{ID: r.ID, Email: r.Email, CreatedAt: db.Millis(r.CreatedAt), EmailVerified: r.EmailVerified,
		AppMetadata: r.AppMetadata, UserMetadata: r.UserMetadata}
}

// UpdateUser implements db.Store.
func (d *DB) UpdateUser(ctx context.Context, id int64, ch db.UserChange, after func(*sql.Tx, db.User, db.User) error) (before, now db.User, err error) {
	err = d.inTx(ctx, func(tx *sql.Tx, q *gen.Queries) error {
		n, err := q.LockUser(ctx, id)
		if err := oneRow(n, err, db.ErrNoUser); err != nil {
			return err
		}
		row, err := q.GetAccount(ctx, id)
		if err != nil {
			return err
		}
		before = toAccount(row)
		next := gen.UpdateAccountParams{ID: id, Email: before.Email, EmailVerified: before.EmailVerified,
			AppMetadata: before.AppMetadata, UserMetadata: before.UserMetadata}
		if ch.Email != nil && *ch.Email != before.Email {
			// Whoever proved the old address has proved nothing of the
			// new one: it is trusted only when the change says so, and
			// the links mailed to the old one no longer verify or reset.
			next.Email, next.EmailVerified = *ch.Email, ch.EmailVerified != nil && *ch.EmailVerified
			for _, purpose := range []string{db.PurposeVerifyEmail, db.PurposeResetPassword} {
				if err := q.DeleteOneTimeTokens(ctx, gen.DeleteOneTimeTokensParams{UserID: id, Purpose: purpose}); err != nil {
					return err
				}
			}
		} else if ch.EmailVerified != nil {
			next.EmailVerified = *ch.EmailVerified
		}
		if ch.AppMetadata != nil {
			next.AppMetadata = *ch.AppMetadata
		}
		if ch.UserMetadata != nil {
			next.UserMetadata = *ch.UserMetadata
		}
		updated, err := q.UpdateAccount(ctx, next)
		if err != nil {
			return translate(err, db.ErrNoUser)
		}
		now = toAccount(gen.GetAccountRow(updated))
		if after != nil {
			return after(tx, before, now)
		}
		return nil
	})
	return before, now, err
}

// EndUserSessions implements db.Store.
func (d *DB) EndUserSessions(ctx context.Context, id int64, after func(*sql.Tx) error) (int64, error) {
	var ended int64
	err := d.ending(ctx, func(tx *sql.Tx, q *gen.Queries) (db.SessionsEnded, error) {
		n, err := endAll(ctx, q, id)
		if err != nil {
			return db.SessionsEnded{}, err
		}
		ended = n
		return db.SessionsEnded{UserID: id}, then(tx, after)
	})
	return ended, err
}

// endAll ends every session of the account id under its row lock
// (ErrNoUser), and voids its sign-in codes and link flows, which would
// start sessions after; it returns how many sessions ended.
func endAll(ctx context.Context, q *gen.Queries, id int64) (int64, error) {
	n, err := q.LockUser(ctx, id)
	if err := oneRow(n, err, db.ErrNoUser); err != nil {
		return 0, err
	}
	ended, err := q.EndUserSessions(ctx, id)
	if err != nil {
		return 0, err
	}
	return ended, voidGrants(ctx, q, id)
}

// ResetFactors implements db.Store.
func (d *DB) ResetFactors(ctx context.Context, id int64, passkeys bool, after func(*sql.Tx, db.FactorsReset) error) (r db.FactorsReset, err error) {
	err = d.ending(ctx, func(tx *sql.Tx, q *gen.Queries) (db.SessionsEnded, error) {
		var none db.SessionsEnded
		// Sessions first: a session names the passkey it began with.
		if _, err := endAll(ctx, q, id); err != nil {
			return none, err
		}
		if r.Factors, err = q.ResetUserFactors(ctx, id); err != nil {
			return none, err
		}
		if r.RecoveryCodes, err = q.ResetUserRecoveryCodes(ctx, id); err != nil {
			return none, err
		}
		if passkeys {
			if r.Passkeys, err = q.ResetUserPasskeys(ctx, id); err != nil {
				return none, err
			}
			if err := q.DeleteUserPasskeyCeremonies(ctx, sql.NullInt64{Int64: id, Valid: true}); err != nil {
				return none, err
			}
		}
		if r == (db.FactorsReset{}) {
			// Nothing to reset: undo the sessions' ending too, so that no
			// one is signed out, told or recorded for a change that is none.
			return none, errNothingReset
		}
		if after != nil {
			err = after(tx, r)
		}
		return db.SessionsEnded{UserID: id}, err
	})
	if errors.Is(err, errNothingReset) {
		return db.FactorsReset{}, nil
	}
	return r, err
}

// errNothingReset rolls back a ResetFactors that found nothing to remove.
var errNothingReset = errors.New("nothing to reset")
