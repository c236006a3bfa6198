package sqlite

// The admin API's reading of accounts and their roles (db.Admins) over the
// generated queries: written once, here, and twinned to
// db/postgres/admin_gen.go by db/twin.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"time"

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
		if c.KeepAdmin && from == db.RoleAdmin && !otherAdmin(admins, u.ID, c.Now) {
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

// otherAdmin reports whether an admin other than id is not banned at now:
// one who can still sign in and use the admin API.
func otherAdmin(admins []gen.LockAdminsRow, id int64, now time.Time) bool {
	for _, a := range admins {
		if a.ID != id && !(db.Ban{At: timeOrZero(a.BannedAt), Until: timeOrZero(a.BannedUntil)}).Active(now) {
			return true
		}
	}
	return false
}

// ListUsers implements db.Admins with the query whose index serves f
// (queries/admin.sql): a query few emails match, the email index; the
// admins, users_role; the banned, users_banned; else the primary key, in
// whose order a page reads at most f.Scan users (UserScanEnd) when it has
// a filter, and ends short when they hold too few matches.
func (d *DB) ListUsers(ctx context.Context, f db.UserFilter) (db.UserPage, error) {
	now, size := nullTime(f.Now), int64(f.Limit)+1 // one more: is there a next page?
	var (
		lo, hi string
		id     int64
		rows   []gen.GetUserRecordRow
		err    error
	)
	if f.Query != "" {
		lo, hi = db.EmailPrefixRange(f.Query)
		id, _ = strconv.ParseInt(f.Query, 10, 64)
		if hi == "" {
			if id == 0 {
				return db.UserPage{}, nil // no email starts with 0xff bytes
			}
			lo, hi = "", "" // the id alone: an empty range (never a NUL, which PostgreSQL's text refuses)
		}
		sparse := f.PrefixCap
		if sparse <= 0 {
			sparse = db.DefaultPrefixCap
		}
		n, err := d.read.CountEmailPrefix(ctx, gen.CountEmailPrefixParams{Lo: lo, Hi: hi, Cap: int64(sparse)})
		if err != nil {
			return db.UserPage{}, err
		}
		if n < int64(sparse) {
			rows, err = convertRows(d.read.SearchUsers(ctx, gen.SearchUsersParams{Lo: lo, Hi: hi, QueryID: id, After: f.After,
				Role: f.Role, State: f.State, Now: now, PageSize: size}))
			return userPage(rows, err, f.Limit, 0)
		}
	}
	var scanEnd int64 // where the scan stopped short of the end; 0: it did not
	switch {
	case f.Role == db.RoleAdmin:
		rows, err = convertRows(d.read.ListAdmins(ctx, gen.ListAdminsParams{After: f.After, State: f.State, Now: now,
			Lo: lo, Hi: hi, QueryID: id, PageSize: size}))
	case f.State == db.StateBanned:
		rows, err = convertRows(d.read.ListBanned(ctx, gen.ListBannedParams{After: f.After, Now: now, Role: f.Role,
			Lo: lo, Hi: hi, QueryID: id, PageSize: size}))
	default:
		upto := int64(math.MaxInt64)
		if f.Query != "" || f.Role != "" || f.State != "" { // else every user matches: the page is full soon
			scan := f.Scan
			if scan <= 0 {
				scan = db.DefaultUserScan
			}
			end, err := d.read.UserScanEnd(ctx, gen.UserScanEndParams{After: f.After, Skip: int64(scan - 1)})
			switch {
			case err == nil:
				upto, scanEnd = end, end
			case !errors.Is(err, sql.ErrNoRows):
				return db.UserPage{}, err
			}
		}
		rows, err = convertRows(d.read.ListUsers(ctx, gen.ListUsersParams{After: f.After, Upto: upto, Role: f.Role, State: f.State, Now: now,
			Lo: lo, Hi: hi, QueryID: id, PageSize: size}))
	}
	return userPage(rows, err, f.Limit, scanEnd)
}

// userPage is a page of at most limit of rows (read with one more, which
// tells whether a page follows); scanEnd, when not 0, is where a read that
// did not reach the end stopped: the next page goes on from there.
func userPage(rows []gen.GetUserRecordRow, err error, limit int, scanEnd int64) (db.UserPage, error) {
	users, err := toUserRecords(rows, err)
	if err != nil {
		return db.UserPage{}, err
	}
	if len(users) > limit {
		return db.UserPage{Users: users[:limit], Next: users[limit-1].ID}, nil
	}
	return db.UserPage{Users: users, Next: scanEnd}, nil
}

func toUserRecords(rows []gen.GetUserRecordRow, err error) ([]db.UserRecord, error) {
	out := make([]db.UserRecord, len(rows))
	for i, r := range rows {
		out[i] = toUserRecord(r)
	}
	return out, err
}

// convertRows turns the rows of a query of the users columns into
// GetUserRecord's type.
func convertRows[R gen.ListUsersRow | gen.ListAdminsRow | gen.ListBannedRow | gen.SearchUsersRow](rows []R, err error) ([]gen.GetUserRecordRow, error) {
	out := make([]gen.GetUserRecordRow, len(rows))
	for i, r := range rows {
		out[i] = gen.GetUserRecordRow(r)
	}
	return out, err
}
