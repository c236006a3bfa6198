package sqlite

// The admin API's reading of accounts and their roles (db.Admins) over the
// generated queries: written once, here, and twinned to
// db/postgres/admin_gen.go by db/twin.

import (
	"context"
	"database/sql"
	"encoding/json"
	"strconv"

	"github.com/keelhq/keel/db"
	gen "github.com/keelhq/keel/gen/db/sqlite"
)

var _ db.Admins = (*DB)(nil)

// GetAdminAccess implements db.Admins.
func (d *DB) GetAdminAccess(ctx context.Context, sessionID string, userID int64) (db.AdminAccess, error) {
	row, err := d.read.GetAdminAccess(ctx, gen.GetAdminAccessParams{SessionID: sessionID, UserID: userID})
	if err != nil {
		return db.AdminAccess{}, translate(err, db.ErrNoSession)
	}
	return db.AdminAccess{
		SessionAccess: db.SessionAccess{
			User: db.User{ID: row.ID, Email: row.Email, CreatedAt: db.Millis(row.CreatedAt), EmailVerified: row.EmailVerified},
			AAL:  row.Aal, HasFactor: row.Factors > 0, LevelGen: row.LevelGen, AuthTime: timeOrZero(row.AuthTime),
		},
		Role: row.Role,
	}, nil
}

// GetUserRecord implements db.Admins.
func (d *DB) GetUserRecord(ctx context.Context, id int64) (db.UserRecord, error) {
	row, err := d.read.GetUserRecord(ctx, id)
	if err != nil {
		return db.UserRecord{}, translate(err, db.ErrNoUser)
	}
	return toUserRecord(row), nil
}

// toUserRecord converts a users row; the other queries' rows, of the same
// columns, convert to its type.
func toUserRecord(r gen.GetUserRecordRow) db.UserRecord {
	return db.UserRecord{
		User: db.User{ID: r.ID, Email: r.Email, CreatedAt: db.Millis(r.CreatedAt), EmailVerified: r.EmailVerified},
		Role: r.Role, AppMetadata: json.RawMessage(r.AppMetadata), UserMetadata: json.RawMessage(r.UserMetadata),
		BannedAt: timeOrZero(r.BannedAt), BannedUntil: timeOrZero(r.BannedUntil),
		BanReason: r.BanReason.String, ExternalID: r.ExternalID.String,
	}
}

// SetRole implements db.Admins. The admins are locked first, so that of
// two changes at once that would each leave one admin, the second counts
// after the first.
func (d *DB) SetRole(ctx context.Context, c db.RoleChange, after func(*sql.Tx, db.UserRecord, string) error) (u db.UserRecord, from string, err error) {
	err = d.inTx(ctx, func(tx *sql.Tx, q *gen.Queries) error {
		admins, err := q.LockAdmins(ctx)
		if err != nil {
			return err
		}
		var row gen.GetUserRecordRow
		if c.UserID != 0 {
			row, err = q.GetUserRecord(ctx, c.UserID)
		} else {
			var r gen.GetUserRecordByEmailRow
			r, err = q.GetUserRecordByEmail(ctx, c.Email)
			row = gen.GetUserRecordRow(r)
		}
		if err != nil {
			return translate(err, db.ErrNoUser)
		}
		u = toUserRecord(row)
		from = u.Role
		if from == c.Role {
			return nil
		}
		if c.KeepAdmin && from == db.RoleAdmin && len(admins) <= 1 {
			return db.ErrLastAdmin
		}
		n, err := q.SetUserRole(ctx, gen.SetUserRoleParams{Role: c.Role, ID: u.ID})
		if err := oneRow(n, err, db.ErrNoUser); err != nil {
			return err
		}
		u.Role = c.Role
		if after == nil {
			return nil
		}
		return after(tx, u, from)
	})
	return u, from, err
}

// ListUsers implements db.Admins: by the primary key alone without a
// query, else by the email prefix's range or the id (SearchUsers).
func (d *DB) ListUsers(ctx context.Context, f db.UserFilter) ([]db.UserRecord, error) {
	now, size := nullTime(f.Now), int64(f.Limit)
	var out []db.UserRecord
	if f.Query == "" {
		rows, err := d.read.ListUsers(ctx, gen.ListUsersParams{After: f.After, Role: f.Role, State: f.State, Now: now, PageSize: size})
		for _, r := range rows {
			out = append(out, toUserRecord(gen.GetUserRecordRow(r)))
		}
		return out, err
	}
	lo, hi := db.EmailPrefixRange(f.Query)
	id, _ := strconv.ParseInt(f.Query, 10, 64)
	if hi == "" && id == 0 {
		return nil, nil
	}
	rows, err := d.read.SearchUsers(ctx, gen.SearchUsersParams{After: f.After, Lo: lo, Hi: hi, QueryID: id,
		Role: f.Role, State: f.State, Now: now, PageSize: size})
	for _, r := range rows {
		out = append(out, toUserRecord(gen.GetUserRecordRow(r)))
	}
	return out, err
}
