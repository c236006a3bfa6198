package postgres

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/keelhq/keel/db"
)

// TakeSocketPlace implements db.Store under the session's row lock, so that
// concurrent takes on every replica count one after the other: the count is
// read by a statement that starts once the lock is held, and so sees every
// place committed before. The session's expired places go first.
func (d *DB) TakeSocketPlace(ctx context.Context, sessionID, id, replica string, max int, now, expires time.Time) (ok bool, err error) {
	tx, err := d.writer.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer func() {
		if err != nil || !ok {
			_ = tx.Rollback()
		}
	}()
	var locked string
	err = tx.QueryRowContext(ctx, `SELECT id FROM sessions WHERE id = $1 FOR UPDATE`, sessionID).Scan(&locked)
	if errors.Is(err, sql.ErrNoRows) {
		return false, db.ErrNoSession
	}
	if err != nil {
		return false, err
	}
	if _, err = tx.ExecContext(ctx, `DELETE FROM ws_sockets WHERE session_id = $1 AND expires_at <= $2`, sessionID, now); err != nil {
		return false, err
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO ws_sockets (id, session_id, replica, expires_at)
		SELECT $1::text, $2::text, $3::text, $4::timestamptz
		WHERE (SELECT count(*) FROM ws_sockets WHERE session_id = $2) < $5::bigint`,
		id, sessionID, replica, expires, max)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil || n == 0 {
		return false, err
	}
	return true, tx.Commit()
}

// RenewSocketPlaces implements db.Store: the ids go in as one text[].
func (d *DB) RenewSocketPlaces(ctx context.Context, ids []string, expires time.Time) error {
	const batch = 5000 // bounds one query's parameter
	for len(ids) > 0 {
		part := ids[:min(len(ids), batch)]
		ids = ids[len(part):]
		if _, err := d.writer.ExecContext(ctx, `UPDATE ws_sockets SET expires_at = $2 WHERE id = ANY($1::text[])`, part, expires); err != nil {
			return err
		}
	}
	return nil
}

// GiveBackSocketPlace implements db.Store.
func (d *DB) GiveBackSocketPlace(ctx context.Context, id string) error {
	_, err := d.writer.ExecContext(ctx, `DELETE FROM ws_sockets WHERE id = $1`, id)
	return err
}
