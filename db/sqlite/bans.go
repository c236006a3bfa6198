package sqlite

// Bans (db.Bans) over the generated queries of bans.sql, and the check
// every sign-in makes under the account's lock (notBanned): written once,
// here, and twinned to db/postgres/bans_gen.go by db/twin, under the rules
// of accounts.go.

import (
	"context"
	"database/sql"
	"time"

	"github.com/keelhq/keel/db"
	gen "github.com/keelhq/keel/gen/db/sqlite"
)

// toBan is the ban a users row holds.
func toBan(row gen.GetBanRow) db.Ban {
	if !row.BannedAt.Valid {
		return db.Ban{}
	}
	return db.Ban{At: db.Millis(row.BannedAt.Time), Until: timeOrZero(row.BannedUntil), Reason: row.BanReason.String}
}

// notBanned returns db.ErrBanned when the account userID is under a ban
// active at now, read with q: in the transaction that starts a session or
// stores a sign-in's code, after its LockUser, so a ban that commits while
// the sign-in checked its credential is seen (BanUser updates the same row
// and ends the sessions in one transaction: either it commits first and
// this refuses, or it waits and ends the session this starts).
func notBanned(ctx context.Context, q *gen.Queries, userID int64, now time.Time) error {
	row, err := q.GetBan(ctx, userID)
	if err != nil {
		return translate(err, db.ErrNoUser)
	}
	if toBan(row).Active(now) {
		return db.ErrBanned
	}
	return nil
}

// BanUser implements db.Store.
func (d *DB) BanUser(ctx context.Context, userID int64, b db.Ban, after func(*sql.Tx, []string) error) error {
	return d.ending(ctx, func(tx *sql.Tx, q *gen.Queries) (db.SessionsEnded, error) {
		var none db.SessionsEnded
		n, err := q.SetBan(ctx, gen.SetBanParams{ID: userID, BannedAt: nullTime(b.At), BannedUntil: nullTime(b.Until),
			BanReason: sql.NullString{String: b.Reason, Valid: true}})
		if err := oneRow(n, err, db.ErrNoUser); err != nil {
			return none, err
		}
		ids, err := q.DeleteUserSessions(ctx, userID)
		if err != nil {
			return none, err
		}
		// No code or link flow from before the ban may open a session
		// later (createSession would refuse it too, while the ban lasts).
		if err := voidGrants(ctx, q, userID); err != nil {
			return none, err
		}
		if after != nil {
			err = after(tx, ids)
		}
		return db.SessionsEnded{UserID: userID}, err
	})
}

// UnbanUser implements db.Store.
func (d *DB) UnbanUser(ctx context.Context, userID int64, after func(*sql.Tx) error) (lifted bool, err error) {
	err = d.inTx(ctx, func(tx *sql.Tx, q *gen.Queries) error {
		n, err := q.ClearBan(ctx, userID)
		if err != nil {
			return err
		}
		if n == 0 { // no ban, or no user
			_, err := q.GetBan(ctx, userID)
			return translate(err, db.ErrNoUser)
		}
		lifted = true
		return then(tx, after)
	})
	return lifted, err
}

// GetBan implements db.Store.
func (d *DB) GetBan(ctx context.Context, userID int64) (db.Ban, error) {
	row, err := d.read.GetBan(ctx, userID)
	if err != nil {
		return db.Ban{}, translate(err, db.ErrNoUser)
	}
	return toBan(row), nil
}
