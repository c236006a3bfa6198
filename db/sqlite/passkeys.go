package sqlite

// Passkeys (WebAuthn credentials) and their ceremonies, over the generated
// queries: written once, here, and twinned to db/postgres/passkeys_gen.go by
// db/twin, under the same rules as accounts.go (only the fields writer,
// write and read, the gen package and translate).

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/keelhq/keel/db"
	gen "github.com/keelhq/keel/gen/db/sqlite"
)

// CreatePasskeyCeremony implements db.Store.
func (d *DB) CreatePasskeyCeremony(ctx context.Context, c db.PasskeyCeremony) error {
	return d.write.CreatePasskeyCeremony(ctx, gen.CreatePasskeyCeremonyParams{
		ID: c.ID, UserID: sql.NullInt64{Int64: c.UserID, Valid: c.UserID != 0}, Kind: c.Kind, Session: c.Session,
		ExpiresAt: db.Millis(c.ExpiresAt),
	})
}

// TakePasskeyCeremony implements db.Store. An expired ceremony is deleted
// too: it could never be finished.
func (d *DB) TakePasskeyCeremony(ctx context.Context, id string, now time.Time) (db.PasskeyCeremony, error) {
	row, err := d.write.TakePasskeyCeremony(ctx, id)
	if err != nil {
		return db.PasskeyCeremony{}, translate(err, db.ErrNoCeremony)
	}
	if !now.Before(row.ExpiresAt) {
		return db.PasskeyCeremony{}, db.ErrNoCeremony
	}
	return db.PasskeyCeremony{ID: id, UserID: row.UserID.Int64, Kind: row.Kind, Session: row.Session,
		ExpiresAt: db.Millis(row.ExpiresAt)}, nil
}

// CreatePasskey implements db.Store.
func (d *DB) CreatePasskey(ctx context.Context, p db.Passkey, sessionID string, after func(*sql.Tx) error) error {
	return d.inTx(ctx, func(tx *sql.Tx, q *gen.Queries) error {
		n, err := q.LockUser(ctx, p.UserID)
		if err := oneRow(n, err, db.ErrNoUser); err != nil {
			return err
		}
		if err := callerLive(ctx, q, p.UserID, sessionID); err != nil {
			return err
		}
		if err := roomForPasskey(ctx, q, p.UserID); err != nil {
			return err
		}
		if err := keepHandle(ctx, q, p.UserID, p.UserHandle); err != nil {
			return err
		}
		err = q.CreatePasskey(ctx, gen.CreatePasskeyParams{
			ID: p.ID, UserID: p.UserID, CredentialID: p.CredentialID, Name: p.Name, PublicKey: p.PublicKey,
			AttestationType: p.AttestationType, Aaguid: p.AAGUID, Transports: strings.Join(p.Transports, " "),
			SignCount: p.SignCount, UserVerified: p.UserVerified, BackupEligible: p.BackupEligible,
			BackupState: p.BackupState, CreatedAt: db.Millis(p.CreatedAt),
		})
		if errors.Is(translate(err, nil), db.ErrEmailTaken) { // the unique index on credential_id
			return db.ErrPasskeyTaken
		}
		if err != nil {
			return err
		}
		return then(tx, after)
	})
}

func toPasskey(r gen.Passkey) db.Passkey {
	p := db.Passkey{ID: r.ID, UserID: r.UserID, CredentialID: r.CredentialID, Name: r.Name, PublicKey: r.PublicKey,
		AttestationType: r.AttestationType, AAGUID: r.Aaguid, Transports: strings.Fields(r.Transports),
		SignCount: r.SignCount, UserVerified: r.UserVerified, BackupEligible: r.BackupEligible,
		BackupState: r.BackupState, CreatedAt: db.Millis(r.CreatedAt)}
	if r.LastUsedAt.Valid {
		p.LastUsedAt = db.Millis(r.LastUsedAt.Time)
	}
	return p
}

// ListPasskeys implements db.Store.
func (d *DB) ListPasskeys(ctx context.Context, userID int64) ([]db.Passkey, error) {
	rows, err := d.read.ListPasskeys(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := make([]db.Passkey, len(rows))
	for i, r := range rows {
		out[i] = toPasskey(r)
	}
	return out, nil
}

// GetPasskeyByCredential implements db.Store.
func (d *DB) GetPasskeyByCredential(ctx context.Context, credentialID []byte) (db.Passkey, error) {
	row, err := d.read.GetPasskeyByCredentialID(ctx, credentialID)
	if err != nil {
		return db.Passkey{}, translate(err, db.ErrNoPasskey)
	}
	return toPasskey(row), nil
}

// UsePasskey implements db.Store: a compare-and-set on the count read, so of
// two sign-ins with one count (a cloned authenticator, or a replay raced
// past the ceremony) only one is recorded.
func (d *DB) UsePasskey(ctx context.Context, p db.Passkey, signCount int64, userVerified, backupState bool, now time.Time) error {
	n, err := d.write.UsePasskey(ctx, gen.UsePasskeyParams{
		ID: p.ID, OldCount: p.SignCount, BackupEligible: p.BackupEligible, SignCount: signCount,
		UserVerified: userVerified, BackupState: backupState, Now: sql.NullTime{Time: db.Millis(now), Valid: true},
	})
	return oneRow(n, err, db.ErrStale)
}

// RenamePasskey implements db.Store.
func (d *DB) RenamePasskey(ctx context.Context, userID int64, id, name string) (db.Passkey, error) {
	var p db.Passkey
	err := d.inTx(ctx, func(_ *sql.Tx, q *gen.Queries) error {
		n, err := q.RenamePasskey(ctx, gen.RenamePasskeyParams{ID: id, UserID: userID, Name: name})
		if err := oneRow(n, err, db.ErrNoPasskey); err != nil {
			return err
		}
		rows, err := q.ListPasskeys(ctx, userID)
		if err != nil {
			return err
		}
		for _, r := range rows {
			if r.ID == id {
				p = toPasskey(r)
			}
		}
		return nil
	})
	return p, err
}

// DeletePasskey implements db.Store. It locks the user's row first, like
// DeleteIdentity, so of two removals at once the second counts after the
// first has committed and cannot leave the account with no way in.
func (d *DB) DeletePasskey(ctx context.Context, userID int64, id string, after func(*sql.Tx) error) error {
	return d.ending(ctx, func(tx *sql.Tx, q *gen.Queries) (db.SessionsEnded, error) {
		var none db.SessionsEnded
		n, err := q.LockUser(ctx, userID)
		if err := oneRow(n, err, db.ErrNoPasskey); err != nil {
			return none, err
		}
		ways, err := q.CountPasskeyWaysIn(ctx, gen.CountPasskeyWaysInParams{UserID: userID, ID: id})
		if err != nil {
			return none, err
		}
		n, err = q.DeletePasskey(ctx, gen.DeletePasskeyParams{ID: id, UserID: userID})
		if err := oneRow(n, err, db.ErrNoPasskey); err != nil {
			return none, err
		}
		if ways == 0 {
			return none, db.ErrLastWayIn // rolls the delete back
		}
		// The sessions it started end with it: it is no longer a way in.
		ids, err := q.DeleteSessionsByPasskey(ctx, gen.DeleteSessionsByPasskeyParams{UserID: userID, PasskeyID: sql.NullString{String: id, Valid: true}})
		if err != nil {
			return none, err
		}
		return startedBy(userID, ids), then(tx, after)
	})
}

// startedBy is the ending of the sessions ids of userID that a removed
// passkey or identity started (none, a zero value, when there were none).
func startedBy(userID int64, ids []string) db.SessionsEnded {
	if len(ids) == 0 {
		return db.SessionsEnded{}
	}
	return db.SessionsEnded{UserID: userID, Sessions: ids}
}
