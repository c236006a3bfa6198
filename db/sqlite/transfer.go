package sqlite

// Moving accounts out of and into keel (db.Transfer, keel users export and
// import) over the generated queries of transfer.sql: written once, here,
// and twinned to db/postgres/transfer_gen.go by db/twin, under the rules of
// accounts.go.

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"strings"

	"github.com/keelhq/keel/db"
	gen "github.com/keelhq/keel/gen/db/sqlite"
)

var _ db.Transfer = (*DB)(nil)

// ExportUsers implements db.Transfer: a page of accounts, then what they
// hold by the range of their ids (four statements a page).
func (d *DB) ExportUsers(ctx context.Context, after int64, limit int) ([]db.TransferUser, error) {
	rows, err := d.read.ExportUsers(ctx, gen.ExportUsersParams{After: after, Lim: int64(limit)})
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	out := make([]db.TransferUser, len(rows))
	at := make(map[int64]*db.TransferUser, len(rows))
	for i, r := range rows {
		out[i] = db.TransferUser{ID: r.ID, Email: r.Email, EmailVerified: r.EmailVerified, PasswordHash: r.PasswordHash,
			CreatedAt: db.Millis(r.CreatedAt), ExternalID: r.ExternalID.String, AppMetadata: r.AppMetadata,
			UserMetadata: r.UserMetadata, PasskeyHandle: r.PasskeyHandle}
		at[r.ID] = &out[i]
	}
	span := struct{ first, last int64 }{rows[0].ID, rows[len(rows)-1].ID}
	ids, err := d.read.ExportIdentities(ctx, gen.ExportIdentitiesParams{First: span.first, Last: span.last})
	if err != nil {
		return nil, err
	}
	for _, r := range ids {
		u := at[r.UserID]
		u.Identities = append(u.Identities, db.TransferIdentity{Provider: r.Provider, Subject: r.Subject, Email: r.Email,
			Trusted: r.Trusted, CreatedAt: db.Millis(r.CreatedAt)})
	}
	keys, err := d.read.ExportPasskeys(ctx, gen.ExportPasskeysParams{First: span.first, Last: span.last})
	if err != nil {
		return nil, err
	}
	for _, r := range keys {
		u := at[r.UserID]
		u.Passkeys = append(u.Passkeys, toPasskey(r))
	}
	factors, err := d.read.ExportFactors(ctx, gen.ExportFactorsParams{First: span.first, Last: span.last})
	if err != nil {
		return nil, err
	}
	for _, r := range factors {
		u := at[r.UserID]
		u.Factors = append(u.Factors, db.Factor{ID: r.ID, UserID: r.UserID, Kind: r.Kind, Secret: r.Secret,
			Verified: true, LastStep: r.LastStep, CreatedAt: db.Millis(r.CreatedAt)})
	}
	return out, nil
}

// ImportUsers implements db.Transfer: one transaction for the batch, a
// savepoint for each account, so that a batch costs one commit and a
// refused account leaves nothing of itself behind. What another account
// holds is looked up first, so that the error names it (a unique index
// alone says only that some value was taken).
func (d *DB) ImportUsers(ctx context.Context, us []db.TransferUser, e db.Event) ([]db.ImportResult, error) {
	out := make([]db.ImportResult, len(us))
	err := d.inTx(ctx, func(tx *sql.Tx, q *gen.Queries) error {
		for i, u := range us {
			if _, err := tx.ExecContext(ctx, "SAVEPOINT import_account"); err != nil {
				return err
			}
			id, created, err := d.importUser(ctx, tx, q, u, e)
			if err != nil {
				if !db.IsImportRefusal(err) {
					return err
				}
				if _, err := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT import_account"); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, "RELEASE SAVEPOINT import_account"); err != nil {
				return err
			}
			out[i] = db.ImportResult{ID: id, Created: created, Err: err}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// IDsNeverGiven implements db.Transfer.
func (d *DB) IDsNeverGiven(ctx context.Context) (bool, error) { return d.read.IDsNeverGiven(ctx) }

// importUser stores u (ImportUsers' account) with q, in tx.
func (d *DB) importUser(ctx context.Context, tx *sql.Tx, q *gen.Queries, u db.TransferUser, e db.Event) (id int64, created bool, err error) {
	external := sql.NullString{String: u.ExternalID, Valid: u.ExternalID != ""}
	if external.Valid {
		existing, err := q.GetUserByExternalID(ctx, external)
		if err == nil {
			return existing, false, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return 0, false, err
		}
	}
	if err := importFree(ctx, q, u); err != nil {
		return 0, false, err
	}
	if u.ID != 0 {
		id, err = q.ImportUserWithID(ctx, gen.ImportUserWithIDParams{ID: u.ID, Email: u.Email,
			PasswordHash: u.PasswordHash, CreatedAt: db.Millis(u.CreatedAt), EmailVerified: u.EmailVerified,
			ExternalID: external, AppMetadata: u.AppMetadata, UserMetadata: u.UserMetadata, PasskeyHandle: u.PasskeyHandle})
		if err == nil {
			err = q.ResyncUserIDs(ctx)
		}
	} else {
		id, err = q.ImportUser(ctx, gen.ImportUserParams{Email: u.Email,
			PasswordHash: u.PasswordHash, CreatedAt: db.Millis(u.CreatedAt), EmailVerified: u.EmailVerified,
			ExternalID: external, AppMetadata: u.AppMetadata, UserMetadata: u.UserMetadata, PasskeyHandle: u.PasskeyHandle})
	}
	if err != nil {
		return 0, false, translate(err, nil)
	}
	for _, i := range u.Identities {
		err := q.CreateIdentity(ctx, gen.CreateIdentityParams{UserID: id, Provider: i.Provider, Subject: i.Subject,
			Email: i.Email, Trusted: i.Trusted, CreatedAt: db.Millis(i.CreatedAt)})
		if errors.Is(translate(err, nil), db.ErrEmailTaken) { // the unique (provider, subject)
			return 0, false, db.ErrIdentityTaken
		}
		if err != nil {
			return 0, false, err
		}
	}
	for _, p := range u.Passkeys {
		err := q.ImportPasskey(ctx, gen.ImportPasskeyParams{
			ID: p.ID, UserID: id, CredentialID: p.CredentialID, Name: p.Name, PublicKey: p.PublicKey,
			AttestationType: p.AttestationType, Aaguid: p.AAGUID, Transports: strings.Join(p.Transports, " "),
			SignCount: p.SignCount, UserVerified: p.UserVerified, BackupEligible: p.BackupEligible,
			BackupState: p.BackupState, CreatedAt: db.Millis(p.CreatedAt),
			LastUsedAt: sql.NullTime{Time: db.Millis(p.LastUsedAt), Valid: !p.LastUsedAt.IsZero()},
		})
		if errors.Is(translate(err, nil), db.ErrEmailTaken) { // the unique credential_id (or id)
			return 0, false, db.ErrPasskeyTaken
		}
		if err != nil {
			return 0, false, err
		}
	}
	for _, f := range u.Factors {
		if err := q.ImportFactor(ctx, gen.ImportFactorParams{ID: f.ID, UserID: id, Kind: f.Kind, Secret: f.Secret,
			LastStep: f.LastStep, CreatedAt: db.Millis(f.CreatedAt)}); err != nil {
			return 0, false, err
		}
	}
	e.UserID = id
	return id, true, d.RecordEventTx(ctx, tx, e)
}

// importFree returns the error that names what of u another account holds
// already: its id, email, passkey user handle (a stored one, or the id of
// an account whose passkeys predate handles), a passkey or an identity.
func importFree(ctx context.Context, q *gen.Queries, u db.TransferUser) error {
	if u.ID != 0 {
		if _, err := q.GetUser(ctx, u.ID); err == nil {
			return db.ErrIDTaken
		} else if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
	}
	if _, err := q.GetCredentials(ctx, u.Email); err == nil {
		return db.ErrEmailTaken
	} else if !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if u.PasskeyHandle != nil {
		if _, err := q.GetPasskeyHandleUser(ctx, u.PasskeyHandle); err == nil {
			return db.ErrHandleTaken
		} else if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if len(u.PasskeyHandle) == 8 {
			legacy, err := q.GetLegacyHandleUser(ctx, int64(binary.BigEndian.Uint64(u.PasskeyHandle)))
			if err == nil {
				n, err := q.CountPasskeys(ctx, legacy)
				if err != nil {
					return err
				}
				if n > 0 {
					return db.ErrHandleTaken
				}
			} else if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
	}
	for _, p := range u.Passkeys {
		if _, err := q.GetPasskeyByCredentialID(ctx, p.CredentialID); err == nil {
			return db.ErrPasskeyTaken
		} else if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
	}
	return nil
}
