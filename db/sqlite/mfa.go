package sqlite

// The second-factor logic of db.Store over the generated queries: written
// once, here, and twinned to db/postgres/mfa_gen.go by db/twin, under the
// same rules as accounts.go (only the fields writer, write and read, the gen
// package, translate, and announceFactor and announcedFactor, each
// adapter's own in live.go).

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/keelhq/keel/db"
	gen "github.com/keelhq/keel/gen/db/sqlite"
)

// GetSessionAccess implements db.Store.
func (d *DB) GetSessionAccess(ctx context.Context, sessionID string, userID int64) (db.SessionAccess, error) {
	row, err := d.read.GetSessionAccess(ctx, gen.GetSessionAccessParams{SessionID: sessionID, UserID: userID})
	if err != nil {
		return db.SessionAccess{}, translate(err, db.ErrNoSession)
	}
	return db.SessionAccess{
		User: db.User{ID: row.ID, Email: row.Email, CreatedAt: db.Millis(row.CreatedAt), EmailVerified: row.EmailVerified,
			UserMetadata: row.UserMetadata},
		AAL: row.Aal, HasFactor: row.Factors > 0,
		LevelGen: row.LevelGen,
	}, nil
}

// CreateFactor implements db.Store.
func (d *DB) CreateFactor(ctx context.Context, f db.Factor) error {
	return d.inTx(ctx, func(_ *sql.Tx, q *gen.Queries) error {
		if err := q.DeletePendingFactors(ctx, f.UserID); err != nil {
			return err
		}
		return q.CreateFactor(ctx, gen.CreateFactorParams{ID: f.ID, UserID: f.UserID, Kind: f.Kind, Secret: f.Secret,
			CreatedAt: db.Millis(f.CreatedAt), ExpiresAt: db.Millis(f.ExpiresAt)})
	})
}

func toFactor(r gen.MfaFactor) db.Factor {
	return db.Factor{ID: r.ID, UserID: r.UserID, Kind: r.Kind, Secret: r.Secret, Verified: r.Verified,
		LastStep: r.LastStep, CreatedAt: db.Millis(r.CreatedAt), ExpiresAt: db.Millis(r.ExpiresAt), Failures: r.Failures}
}

// GetFactor implements db.Store.
func (d *DB) GetFactor(ctx context.Context, userID int64, id string) (db.Factor, error) {
	row, err := d.read.GetFactor(ctx, gen.GetFactorParams{ID: id, UserID: userID})
	if err != nil {
		return db.Factor{}, translate(err, db.ErrNoFactor)
	}
	return toFactor(row), nil
}

// ListFactors implements db.Store.
func (d *DB) ListFactors(ctx context.Context, userID int64) ([]db.Factor, error) {
	rows, err := d.read.ListFactors(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := make([]db.Factor, len(rows))
	for i, r := range rows {
		out[i] = toFactor(r)
	}
	return out, nil
}

// takeStep is the compare-and-set of a factor's last accepted time step.
func takeStep(ctx context.Context, q *gen.Queries, id string, step int64) error {
	n, err := q.TakeFactorStep(ctx, gen.TakeFactorStepParams{ID: id, Step: step})
	return oneRow(n, err, db.ErrCodeUsed)
}

// upgrade raises the session to aal2 with its new refresh token, or
// returns db.ErrStale when another refresh or upgrade moved it first.
func upgrade(ctx context.Context, q *gen.Queries, up db.Upgrade) error {
	n, err := q.UpgradeSession(ctx, gen.UpgradeSessionParams{
		ID: up.SessionID, UserID: up.UserID, Generation: up.Generation, RefreshHash: up.RefreshHash,
		Now: db.Millis(up.Now), ExpiresAt: db.Millis(up.RefreshExpiresAt)})
	return oneRow(n, err, db.ErrStale)
}

// replaceCodes voids the user's recovery codes and stores hashes.
func replaceCodes(ctx context.Context, q *gen.Queries, userID int64, hashes []string) error {
	if err := q.DeleteRecoveryCodes(ctx, userID); err != nil {
		return err
	}
	for _, h := range hashes {
		if err := q.CreateRecoveryCode(ctx, gen.CreateRecoveryCodeParams{Hash: h, UserID: userID}); err != nil {
			return err
		}
	}
	return nil
}

// ConfirmFactor implements db.Store.
func (d *DB) ConfirmFactor(ctx context.Context, id string, step int64, recoveryHashes []string, up db.Upgrade, after func(*sql.Tx) error) error {
	added := db.FactorAdded{UserID: up.UserID, Keep: up.SessionID}
	err := d.inTx(ctx, func(tx *sql.Tx, q *gen.Queries) error {
		if err := takeStep(ctx, q, id, step); err != nil {
			return err
		}
		if n, err := q.CountVerifiedFactors(ctx, up.UserID); err != nil || n > 0 {
			return cmpErr(err, db.ErrFactorExists)
		}
		n, err := q.MarkFactorVerified(ctx, id)
		if err := oneRow(n, err, db.ErrFactorExists); err != nil {
			return err // verified already
		}
		if err := replaceCodes(ctx, q, up.UserID, recoveryHashes); err != nil {
			return err
		}
		if err := upgrade(ctx, q, up); err != nil {
			return err
		}
		if err := then(tx, after); err != nil {
			return err
		}
		return d.announceFactor(ctx, tx, added)
	})
	if err == nil {
		d.announcedFactor(added)
	}
	// The only unique key a factor can hit is one verified factor of a kind
	// per account (two enrolments confirmed at once), which translate, made
	// for users' emails, calls ErrEmailTaken.
	if errors.Is(err, db.ErrEmailTaken) {
		return db.ErrFactorExists
	}
	return err
}

// cmpErr is err, or instead when err is nil.
func cmpErr(err, instead error) error {
	if err != nil {
		return err
	}
	return instead
}

// UseFactorCode implements db.Store.
func (d *DB) UseFactorCode(ctx context.Context, id string, step int64, up db.Upgrade, after ...func(*sql.Tx) error) error {
	return d.inTx(ctx, func(tx *sql.Tx, q *gen.Queries) error {
		if err := takeStep(ctx, q, id, step); err != nil {
			return err
		}
		if err := upgrade(ctx, q, up); err != nil {
			return err
		}
		return then(tx, after...)
	})
}

// UseRecoveryCode implements db.Store.
func (d *DB) UseRecoveryCode(ctx context.Context, hash string, up db.Upgrade, after ...func(*sql.Tx) error) error {
	return d.inTx(ctx, func(tx *sql.Tx, q *gen.Queries) error {
		if err := takeRecoveryCode(ctx, q, up.UserID, hash); err != nil {
			return err
		}
		if err := upgrade(ctx, q, up); err != nil {
			return err
		}
		return then(tx, after...)
	})
}

// takeRecoveryCode spends the user's recovery code with hash (ErrCodeUsed
// when unknown or spent) and unlocks the account's factor: a recovery code
// is the owner's way past a lock that wrong TOTP codes set.
func takeRecoveryCode(ctx context.Context, q *gen.Queries, userID int64, hash string) error {
	n, err := q.TakeRecoveryCode(ctx, gen.TakeRecoveryCodeParams{UserID: userID, Hash: hash})
	if err := oneRow(n, err, db.ErrCodeUsed); err != nil {
		return err
	}
	return q.ResetFactorFailures(ctx, userID)
}

// CountFactorAttempt implements db.Store.
func (d *DB) CountFactorAttempt(ctx context.Context, id string, maxFailures int64, locked func(*sql.Tx) error) (int64, error) {
	var failures int64
	err := d.inTx(ctx, func(tx *sql.Tx, q *gen.Queries) error {
		n, err := q.CountFactorAttempt(ctx, gen.CountFactorAttemptParams{ID: id, MaxFailures: maxFailures})
		if !errors.Is(err, sql.ErrNoRows) {
			failures = n
			if err != nil || n < maxFailures {
				return err
			}
			return then(tx, locked) // this count locks the factor
		}
		// Not counted: locked, or no such verified factor.
		if _, err := q.GetFactorFailures(ctx, id); err != nil {
			return translate(err, db.ErrNoFactor)
		}
		return db.ErrFactorLocked
	})
	return failures, err
}

// UnlockFactor implements db.Store.
func (d *DB) UnlockFactor(ctx context.Context, hash string, now time.Time) (int64, error) {
	var userID int64
	err := d.inTx(ctx, func(_ *sql.Tx, q *gen.Queries) error {
		row, err := take(ctx, q, hash, db.PurposeUnlockMFA, now)
		if err != nil {
			return err
		}
		userID = row.UserID
		return q.ResetFactorFailures(ctx, row.UserID)
	})
	return userID, err
}

// DeleteFactor implements db.Store.
func (d *DB) DeleteFactor(ctx context.Context, userID int64, id string, after func(*sql.Tx) error) error {
	return d.inTx(ctx, func(tx *sql.Tx, q *gen.Queries) error {
		n, err := q.DeleteFactor(ctx, gen.DeleteFactorParams{ID: id, UserID: userID})
		if err := oneRow(n, err, db.ErrNoFactor); err != nil {
			return err
		}
		if err := then(tx, after); err != nil {
			return err
		}
		left, err := q.CountVerifiedFactors(ctx, userID)
		if err != nil || left > 0 {
			return err
		}
		// No second factor any more: no recovery either, and no session
		// can claim one.
		if err := q.DeleteRecoveryCodes(ctx, userID); err != nil {
			return err
		}
		return q.LowerSessions(ctx, userID)
	})
}

// LowerSession implements db.Store.
func (d *DB) LowerSession(ctx context.Context, id string, levelGen int64, now time.Time) error {
	n, err := d.write.LowerSession(ctx, gen.LowerSessionParams{ID: id, LevelGen: levelGen, Now: sql.NullTime{Time: db.Millis(now), Valid: true}})
	return oneRow(n, err, db.ErrStale)
}

// ReplaceRecoveryCodes implements db.Store.
func (d *DB) ReplaceRecoveryCodes(ctx context.Context, userID int64, sessionID string, hashes []string, after func(*sql.Tx) error) error {
	return d.inTx(ctx, func(tx *sql.Tx, q *gen.Queries) error {
		n, err := q.LockUser(ctx, userID)
		if err := oneRow(n, err, db.ErrNoUser); err != nil {
			return err
		}
		if err := callerLive(ctx, q, userID, sessionID); err != nil {
			return err
		}
		if err := replaceCodes(ctx, q, userID, hashes); err != nil {
			return err
		}
		return then(tx, after)
	})
}

// ResealFactorSecrets implements db.Store.
func (d *DB) ResealFactorSecrets(ctx context.Context, batch int, reseal func(id string, sealed []byte) ([]byte, error)) (int, error) {
	total, after := 0, ""
	for {
		var rows []gen.ListFactorSecretsRow
		n := 0
		err := d.inTx(ctx, func(_ *sql.Tx, q *gen.Queries) error {
			var err error
			if rows, err = q.ListFactorSecrets(ctx, gen.ListFactorSecretsParams{After: after, Batch: int64(batch)}); err != nil {
				return err
			}
			for _, r := range rows {
				resealed, err := reseal(r.ID, r.Secret)
				if err != nil {
					return err
				}
				if resealed == nil {
					continue
				}
				done, err := q.SetFactorSecret(ctx, gen.SetFactorSecretParams{Resealed: resealed, ID: r.ID, Sealed: r.Secret})
				if err != nil {
					return err
				}
				n += int(done)
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		total += n
		if len(rows) == 0 {
			return total, nil
		}
		after = rows[len(rows)-1].ID
	}
}

// CountRecoveryCodes implements db.Store.
func (d *DB) CountRecoveryCodes(ctx context.Context, userID int64) (int64, error) {
	return d.read.CountRecoveryCodes(ctx, userID)
}

// ProveWithFactorCode implements db.Store.
func (d *DB) ProveWithFactorCode(ctx context.Context, id string, step int64, pr db.Proof) error {
	return d.inTx(ctx, func(_ *sql.Tx, q *gen.Queries) error {
		if err := takeStep(ctx, q, id, step); err != nil {
			return err
		}
		return stampAuthTime(ctx, q, pr)
	})
}

// ProveWithRecoveryCode implements db.Store.
func (d *DB) ProveWithRecoveryCode(ctx context.Context, hash string, pr db.Proof) error {
	return d.inTx(ctx, func(_ *sql.Tx, q *gen.Queries) error {
		if err := takeRecoveryCode(ctx, q, pr.UserID, hash); err != nil {
			return err
		}
		return stampAuthTime(ctx, q, pr)
	})
}
