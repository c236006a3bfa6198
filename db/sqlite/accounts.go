package sqlite

// The account logic of db.Store over the generated queries. It is written
// once, here: db/twin generates db/postgres/accounts_gen.go from this file
// (go run ./db/twin, part of make generate), so it may use only what both
// adapters have under the same names: the fields writer (the connection
// that writes), write and read (query sets on the writer and the readers),
// the generated gen package, and translate, announce and announced (each
// adapter's own, in its hand-written files).

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/keelhq/keel/db"
	gen "github.com/keelhq/keel/gen/db/sqlite"
)

// inTx runs fn in a transaction on the writer.
func (d *DB) inTx(ctx context.Context, fn func(*sql.Tx, *gen.Queries) error) error {
	tx, err := d.writer.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx, d.write.WithTx(tx)); err != nil {
		return err
	}
	return tx.Commit()
}

// ending runs fn, which ends sessions and says which, in a transaction that
// announces them (db.Store's "Session endings"): announce inside it (on
// PostgreSQL a NOTIFY, sent only if it commits), announced after the commit
// (on SQLite, to this process's watchers). An ending with no UserID ended
// nothing and is not announced.
func (d *DB) ending(ctx context.Context, fn func(*sql.Tx, *gen.Queries) (db.SessionsEnded, error)) error {
	var ended db.SessionsEnded
	err := d.inTx(ctx, func(tx *sql.Tx, q *gen.Queries) error {
		var err error
		if ended, err = fn(tx, q); err != nil || ended.UserID == 0 {
			return err
		}
		return d.announce(ctx, tx, ended)
	})
	if err == nil && ended.UserID != 0 {
		d.announced(ended)
	}
	return err
}

// then runs a store method's after hooks, those that are not nil, in the
// method's transaction tx: the jobs and events the change causes are
// written with it, and the first error rolls it all back.
func then(tx *sql.Tx, after ...func(*sql.Tx) error) error {
	for _, f := range after {
		if f == nil {
			continue
		}
		if err := f(tx); err != nil {
			return err
		}
	}
	return nil
}

// oneRow turns an :execrows result into missing when nothing changed.
func oneRow(n int64, err error, missing error) error {
	if err == nil && n == 0 {
		return missing
	}
	return err
}

// CreateUser implements db.Store.
func (d *DB) CreateUser(ctx context.Context, email, passwordHash string, createdAt time.Time, after func(*sql.Tx, db.User) error) (u db.User, err error) {
	err = d.inTx(ctx, func(tx *sql.Tx, q *gen.Queries) error {
		row, err := q.CreateUser(ctx, gen.CreateUserParams{Email: email, PasswordHash: passwordHash, CreatedAt: db.Millis(createdAt)})
		if err != nil {
			return translate(err, nil)
		}
		u = db.User{ID: row.ID, Email: row.Email, CreatedAt: db.Millis(row.CreatedAt), EmailVerified: row.EmailVerified}
		if after != nil {
			return after(tx, u)
		}
		return nil
	})
	return u, err
}

// GetUser implements db.Store.
func (d *DB) GetUser(ctx context.Context, id int64) (db.User, error) {
	row, err := d.read.GetUser(ctx, id)
	if err != nil {
		return db.User{}, translate(err, db.ErrNoUser)
	}
	return db.User{ID: row.ID, Email: row.Email, CreatedAt: db.Millis(row.CreatedAt), EmailVerified: row.EmailVerified}, nil
}

// GetCredentials implements db.Store.
func (d *DB) GetCredentials(ctx context.Context, email string) (db.Credentials, error) {
	row, err := d.read.GetCredentials(ctx, email)
	if err != nil {
		return db.Credentials{}, translate(err, db.ErrNoUser)
	}
	return db.Credentials{UserID: row.ID, PasswordHash: row.PasswordHash}, nil
}

// DeleteUser implements db.Store; the sessions and tokens go with the
// user (ON DELETE CASCADE).
func (d *DB) DeleteUser(ctx context.Context, id int64, after ...func(*sql.Tx) error) error {
	return d.ending(ctx, func(tx *sql.Tx, q *gen.Queries) (db.SessionsEnded, error) {
		n, err := q.DeleteUser(ctx, id)
		if err := oneRow(n, err, db.ErrNoUser); err != nil {
			return db.SessionsEnded{}, err
		}
		return db.SessionsEnded{UserID: id}, then(tx, after...)
	})
}

// insertSession stores s with q (a transaction's: createSession's, in
// limits.go, which also keeps the account under db.MaxSessions).
func insertSession(ctx context.Context, q *gen.Queries, s db.Session) error {
	return q.CreateSession(ctx, gen.CreateSessionParams{
		ID: s.ID, UserID: s.UserID, CreatedAt: db.Millis(s.CreatedAt), LastUsedAt: db.Millis(s.LastUsedAt),
		UserAgent: s.UserAgent, Generation: s.Generation, RefreshHash: s.RefreshHash,
		RotatedAt: db.Millis(s.RotatedAt), RefreshExpiresAt: db.Millis(s.RefreshExpiresAt),
		Aal: cmp.Or(s.AAL, db.AAL1), Amr: cmp.Or(s.AMR, "pwd"),
		LevelGen: s.LevelGen, LevelAt: sql.NullTime{Time: db.Millis(cmp.Or(s.LevelAt, s.CreatedAt)), Valid: true},
		PasskeyID:  sql.NullString{String: s.PasskeyID, Valid: s.PasskeyID != ""},
		IdentityID: sql.NullInt64{Int64: s.IdentityID, Valid: s.IdentityID != 0},
		AuthTime:   nullTime(s.AuthTime),
		ClientID:   sql.NullString{String: s.ClientID, Valid: s.ClientID != ""},
	})
}

// nullTime is t to the millisecond, or NULL for the zero time.
func nullTime(t time.Time) sql.NullTime {
	return sql.NullTime{Time: db.Millis(t), Valid: !t.IsZero()}
}

// timeOrZero is the time of n to the millisecond, or the zero time for NULL.
func timeOrZero(n sql.NullTime) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return db.Millis(n.Time)
}

// StampAuthTime implements db.Store.
func (d *DB) StampAuthTime(ctx context.Context, pr db.Proof) error {
	return stampAuthTime(ctx, d.write, pr)
}

// stampAuthTime stamps pr's session with q (the writer's, or a transaction's).
func stampAuthTime(ctx context.Context, q *gen.Queries, pr db.Proof) error {
	n, err := q.StampAuthTime(ctx, gen.StampAuthTimeParams{ID: pr.SessionID, UserID: pr.UserID, AuthTime: nullTime(pr.At)})
	return oneRow(n, err, db.ErrNoSession)
}

// GetSessionUser implements db.Store.
func (d *DB) GetSessionUser(ctx context.Context, sessionID string, userID int64) (db.User, error) {
	row, err := d.read.GetSessionUser(ctx, gen.GetSessionUserParams{SessionID: sessionID, UserID: userID})
	if err != nil {
		return db.User{}, translate(err, db.ErrNoSession)
	}
	return db.User{ID: row.ID, Email: row.Email, CreatedAt: db.Millis(row.CreatedAt), EmailVerified: row.EmailVerified}, nil
}

// GetSessionCredentials implements db.Store.
func (d *DB) GetSessionCredentials(ctx context.Context, sessionID string, userID int64) (db.Credentials, error) {
	row, err := d.read.GetSessionCredentials(ctx, gen.GetSessionCredentialsParams{SessionID: sessionID, UserID: userID})
	if err != nil {
		return db.Credentials{}, translate(err, db.ErrNoSession)
	}
	return db.Credentials{UserID: row.ID, PasswordHash: row.PasswordHash}, nil
}

// GetSession implements db.Store.
func (d *DB) GetSession(ctx context.Context, id string) (db.Session, error) {
	row, err := d.read.GetSession(ctx, id)
	if err != nil {
		return db.Session{}, translate(err, db.ErrNoSession)
	}
	return db.Session{ID: row.ID, UserID: row.UserID, CreatedAt: db.Millis(row.CreatedAt), Generation: row.Generation,
		RefreshHash: row.RefreshHash, RotatedAt: db.Millis(row.RotatedAt), RefreshExpiresAt: db.Millis(row.RefreshExpiresAt),
		AAL: row.Aal, AMR: row.Amr, LevelGen: row.LevelGen, LevelAt: levelAt(row.LevelAt, row.CreatedAt),
		HasFactor: row.Factors > 0, AuthTime: timeOrZero(row.AuthTime), ClientID: row.ClientID.String,
		AppMetadata: row.AppMetadata}, nil
}

// levelAt is when a session's level last changed: a session from before
// the column was added counts from its start.
func levelAt(at sql.NullTime, created time.Time) time.Time {
	if at.Valid {
		return db.Millis(at.Time)
	}
	return db.Millis(created)
}

// RotateRefresh implements db.Store.
func (d *DB) RotateRefresh(ctx context.Context, id, oldHash, newHash string, now, expiresAt time.Time) (int64, error) {
	g, err := d.write.RotateRefresh(ctx, gen.RotateRefreshParams{
		ID: id, OldHash: oldHash, NewHash: newHash, Now: db.Millis(now), ExpiresAt: db.Millis(expiresAt)})
	if err != nil {
		// No row: another refresh rotated the hash first, or the session ended.
		return 0, translate(err, db.ErrStale)
	}
	return g, nil
}

// ListSessions implements db.Store.
func (d *DB) ListSessions(ctx context.Context, userID int64) ([]db.Session, error) {
	rows, err := d.read.ListSessions(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := make([]db.Session, len(rows))
	for i, r := range rows {
		out[i] = db.Session{ID: r.ID, UserID: userID, CreatedAt: db.Millis(r.CreatedAt), LastUsedAt: db.Millis(r.LastUsedAt),
			UserAgent: r.UserAgent, RefreshExpiresAt: db.Millis(r.RefreshExpiresAt), AAL: r.Aal, AMR: r.Amr,
			ClientID: r.ClientID.String}
	}
	return out, nil
}

// DeleteSession implements db.Store.
func (d *DB) DeleteSession(ctx context.Context, userID int64, id string, after ...func(*sql.Tx) error) error {
	return d.ending(ctx, func(tx *sql.Tx, q *gen.Queries) (db.SessionsEnded, error) {
		n, err := q.DeleteSession(ctx, gen.DeleteSessionParams{ID: id, UserID: userID})
		if err := oneRow(n, err, db.ErrNoSession); err != nil {
			return db.SessionsEnded{}, err
		}
		return db.SessionsEnded{UserID: userID, Session: id}, then(tx, after...)
	})
}

// EndSession implements db.Store; it reads the session's user first, for
// the announcement.
func (d *DB) EndSession(ctx context.Context, id string, after ...func(*sql.Tx) error) error {
	return d.ending(ctx, func(tx *sql.Tx, q *gen.Queries) (db.SessionsEnded, error) {
		row, err := q.GetSession(ctx, id)
		if err := translate(err, db.ErrNoSession); errors.Is(err, db.ErrNoSession) {
			return db.SessionsEnded{}, nil // already gone: nothing to end, nothing to record
		} else if err != nil {
			return db.SessionsEnded{}, err
		}
		if err := q.DeleteSessionByID(ctx, id); err != nil {
			return db.SessionsEnded{}, err
		}
		return db.SessionsEnded{UserID: row.UserID, Session: id}, then(tx, after...)
	})
}

// DeleteSessions implements db.Store.
func (d *DB) DeleteSessions(ctx context.Context, userID int64, keep string, after ...func(*sql.Tx) error) error {
	return d.ending(ctx, func(tx *sql.Tx, q *gen.Queries) (db.SessionsEnded, error) {
		if err := q.DeleteSessionsExcept(ctx, gen.DeleteSessionsExceptParams{UserID: userID, Keep: keep}); err != nil {
			return db.SessionsEnded{}, err
		}
		return db.SessionsEnded{UserID: userID, Keep: keep}, then(tx, after...)
	})
}

// ChangePassword implements db.Store.
func (d *DB) ChangePassword(ctx context.Context, userID int64, passwordHash, keep string, after func(*sql.Tx) error) error {
	return d.ending(ctx, func(tx *sql.Tx, q *gen.Queries) (db.SessionsEnded, error) {
		var none db.SessionsEnded
		if keep != "" {
			// A session that ended (a logout, a revocation) since its
			// password was checked must not change the password.
			if _, err := q.GetSessionCredentials(ctx, gen.GetSessionCredentialsParams{SessionID: keep, UserID: userID}); err != nil {
				return none, translate(err, db.ErrNoSession)
			}
		}
		n, err := q.SetPassword(ctx, gen.SetPasswordParams{ID: userID, PasswordHash: passwordHash})
		if err := oneRow(n, err, db.ErrNoUser); err != nil {
			return none, err
		}
		if err := q.DeleteSessionsExcept(ctx, gen.DeleteSessionsExceptParams{UserID: userID, Keep: keep}); err != nil {
			return none, err
		}
		// A reset link mailed before the change must not undo it.
		if err := q.DeleteOneTimeTokens(ctx, gen.DeleteOneTimeTokensParams{UserID: userID, Purpose: db.PurposeResetPassword}); err != nil {
			return none, err
		}
		return db.SessionsEnded{UserID: userID, Keep: keep}, then(tx, after)
	})
}

// CreateOneTimeToken implements db.Store.
func (d *DB) CreateOneTimeToken(ctx context.Context, t db.OneTimeToken) error {
	return d.write.CreateOneTimeToken(ctx, gen.CreateOneTimeTokenParams{
		Hash: t.Hash, UserID: t.UserID, Purpose: t.Purpose, Email: t.Email, ExpiresAt: db.Millis(t.ExpiresAt)})
}

// take spends a one-time token inside a transaction, or returns
// db.ErrNoToken. The row is deleted whatever its expiry; an expired token's
// error rolls the deletion back, so it answers the same however often it is
// tried, until PruneAccounts takes it.
func take(ctx context.Context, q *gen.Queries, hash, purpose string, now time.Time) (gen.TakeOneTimeTokenRow, error) {
	row, err := q.TakeOneTimeToken(ctx, gen.TakeOneTimeTokenParams{Hash: hash, Purpose: purpose})
	if err != nil {
		return row, translate(err, db.ErrNoToken)
	}
	if !now.Before(row.ExpiresAt) {
		return row, db.ErrNoToken
	}
	return row, nil
}

// VerifyEmail implements db.Store. A token of another user's is rolled
// back with the transaction: not spent.
func (d *DB) VerifyEmail(ctx context.Context, hash string, userID int64, now time.Time, after ...func(*sql.Tx) error) error {
	return d.ending(ctx, func(tx *sql.Tx, q *gen.Queries) (db.SessionsEnded, error) {
		var none db.SessionsEnded
		row, err := take(ctx, q, hash, db.PurposeVerifyEmail, now)
		if err != nil {
			return none, err
		}
		if row.UserID != userID {
			return none, db.ErrNoToken
		}
		// An address changed since the email was sent stays unverified.
		n, err := q.MarkEmailVerified(ctx, gen.MarkEmailVerifiedParams{ID: row.UserID, Email: row.Email})
		if err != nil || n == 0 {
			return none, err
		}
		// The mailbox's owner has proved the address, and the server has
		// checked that they hold the account (its password or a session of
		// it): its identities, an untrusted one that created it included,
		// are theirs. Nothing was added while the address was unproved
		// (server/mfa.go's needVerifiedEmail), so nothing is dropped.
		if err := q.TrustIdentities(ctx, row.UserID); err != nil {
			return none, err
		}
		return none, then(tx, after...)
	})
}

// ResetPassword implements db.Store.
func (d *DB) ResetPassword(ctx context.Context, hash, passwordHash string, now time.Time, after func(*sql.Tx, int64) error) (int64, error) {
	var userID int64
	err := d.ending(ctx, func(tx *sql.Tx, q *gen.Queries) (ended db.SessionsEnded, err error) {
		if ended, err = resetPassword(ctx, q, hash, passwordHash, now, &userID); err != nil || after == nil {
			return ended, err
		}
		return ended, after(tx, userID)
	})
	return userID, err
}

// resetPassword is ResetPassword's change, in its transaction q; it sets
// *userID to the token's user.
func resetPassword(ctx context.Context, q *gen.Queries, hash, passwordHash string, now time.Time, userID *int64) (db.SessionsEnded, error) {
	var none db.SessionsEnded
	row, err := take(ctx, q, hash, db.PurposeResetPassword, now)
	if err != nil {
		return none, err
	}
	*userID = row.UserID
	// The user's tokens go with the user, so a token found has its user.
	// Updating the row first locks it: the address's state read next
	// is the one this reset acts on.
	n, err := q.SetPassword(ctx, gen.SetPasswordParams{ID: row.UserID, PasswordHash: passwordHash})
	if err := oneRow(n, err, db.ErrNoToken); err != nil {
		return none, err
	}
	// Every other reset link sent before is void now.
	if err := q.DeleteOneTimeTokens(ctx, gen.DeleteOneTimeTokensParams{UserID: row.UserID, Purpose: db.PurposeResetPassword}); err != nil {
		return none, err
	}
	user, err := q.GetUser(ctx, row.UserID)
	if err != nil {
		return none, err
	}
	if !user.EmailVerified {
		// Whatever was added before the address was proved was whoever
		// held the account then's, perhaps a squatter's: it all goes,
		// and the reset proves the address (unless it changed since
		// the mail was sent).
		ended, err := clearAccount(ctx, q, row.UserID)
		if err != nil {
			return none, err
		}
		_, err = q.MarkEmailVerified(ctx, gen.MarkEmailVerifiedParams{ID: row.UserID, Email: row.Email})
		return ended, err
	}
	// The mailbox's owner has proved the address: an identity that
	// created the account with it unproved was not theirs to keep, and
	// no code or link flow from before the reset may open a session.
	if _, err := q.DeleteUntrustedIdentities(ctx, row.UserID); err != nil {
		return none, err
	}
	if err := voidGrants(ctx, q, row.UserID); err != nil {
		return none, err
	}
	err = q.DeleteSessionsExcept(ctx, gen.DeleteSessionsExceptParams{UserID: row.UserID, Keep: ""})
	return db.SessionsEnded{UserID: row.UserID}, err
}

// expiredSessionsBatch is how many expired sessions one transaction of
// PruneAccounts deletes, with their events: a mass expiry (a shortened
// REFRESH_TTL) never holds SQLite's one writer, or many PostgreSQL rows,
// for long.
const expiredSessionsBatch = 500

// PruneAccounts implements db.Store; unverified second factors and passkey
// ceremonies past their expiry go too. Each expired session's ending is
// recorded (session.ended, why expired, actor system) in the transaction
// that deletes it, so a webhook receiver hears of it, up to the job's
// interval after the expiry.
func (d *DB) PruneAccounts(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	for {
		var ended int
		err := d.inTx(ctx, func(tx *sql.Tx, q *gen.Queries) error {
			rows, err := q.DeleteExpiredSessions(ctx, gen.DeleteExpiredSessionsParams{Now: db.Millis(now), Batch: expiredSessionsBatch})
			if err != nil {
				return err
			}
			ended = len(rows)
			for _, r := range rows {
				data, err := json.Marshal(map[string]string{
					"why": "expired", "session": r.ID, "expired_at": r.RefreshExpiresAt.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
				})
				if err != nil {
					return err
				}
				if _, err := d.recordEvent(ctx, tx, q, db.Event{Type: db.EventSessionEnded, CreatedAt: now, UserID: r.UserID,
					Actor: db.ActorSystem, Data: data}); err != nil {
					return err
				}
			}
			return nil
		})
		n += int64(ended)
		if err != nil {
			return n, err
		}
		if ended < expiredSessionsBatch {
			break
		}
	}
	err := d.inTx(ctx, func(_ *sql.Tx, q *gen.Queries) error {
		t, err := q.DeleteExpiredTokens(ctx, db.Millis(now))
		if err != nil {
			return err
		}
		f, err := q.DeleteExpiredOAuthFlows(ctx, db.Millis(now))
		if err != nil {
			return err
		}
		c, err := q.DeleteExpiredOAuthCodes(ctx, db.Millis(now))
		if err != nil {
			return err
		}
		e, err := q.DeleteExpiredFactors(ctx, db.Millis(now))
		if err != nil {
			return err
		}
		p, err := q.DeleteExpiredPasskeyCeremonies(ctx, db.Millis(now))
		n += t + f + c + e + p
		return err
	})
	return n, err
}

// CountUsers implements db.Store.
func (d *DB) CountUsers(ctx context.Context) (int64, error) { return d.read.CountUsers(ctx) }

// CountUsersBefore implements db.Store.
func (d *DB) CountUsersBefore(ctx context.Context, t time.Time) (int64, error) {
	return d.read.CountUsersBefore(ctx, db.Millis(t))
}

// Ping implements db.Store.
func (d *DB) Ping(ctx context.Context) error { return d.read.Ping(ctx) }
