package sqlite

// The device authorization grant's codes (provider.DeviceStore). Written
// once, here, and twinned to db/postgres/device_gen.go by db/twin; the rules
// are internal/provider's.

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/keelhq/keel/db"
	gen "github.com/keelhq/keel/gen/db/sqlite"
	"github.com/keelhq/keel/internal/provider"
)

var _ provider.DeviceStore = (*DB)(nil)

// CreateDeviceCode implements provider.DeviceStore.
func (d *DB) CreateDeviceCode(ctx context.Context, c provider.DeviceCode) error {
	return d.write.CreateDeviceCode(ctx, gen.CreateDeviceCodeParams{
		DeviceHash: c.DeviceHash, UserHash: c.UserHash, ClientID: c.ClientID, Scopes: strings.Join(c.Scopes, " "),
		IntervalMs: c.Interval.Milliseconds(), CreatedAt: db.Millis(c.CreatedAt), ExpiresAt: db.Millis(c.ExpiresAt),
	})
}

// DeviceCodeByUserCode implements provider.DeviceStore.
func (d *DB) DeviceCodeByUserCode(ctx context.Context, userHash string) (provider.DeviceCode, error) {
	row, err := d.read.GetDeviceCodeByUserCode(ctx, userHash)
	if err != nil {
		return provider.DeviceCode{}, translate(err, provider.ErrNoDeviceCode)
	}
	return toDeviceCode(row), nil
}

func toDeviceCode(r gen.OpDeviceCode) provider.DeviceCode {
	return provider.DeviceCode{
		DeviceHash: r.DeviceHash, UserHash: r.UserHash, ClientID: r.ClientID, Scopes: words(r.Scopes), State: r.State,
		Interval: time.Duration(r.IntervalMs) * time.Millisecond, LastPollAt: timeOrZero(r.LastPollAt),
		UserID: r.UserID.Int64, SessionID: r.SessionID.String, AuthTime: timeOrZero(r.AuthTime), AMR: r.Amr, ACR: r.Acr,
		CreatedAt: db.Millis(r.CreatedAt), ExpiresAt: db.Millis(r.ExpiresAt),
	}
}

// ApproveDeviceCode implements provider.DeviceStore: the code is marked
// first, so a second answer (or an expired code) rolls back before a
// session starts.
func (d *DB) ApproveDeviceCode(ctx context.Context, userHash string, sess db.Session, acr string, now time.Time) error {
	return d.startGrant(ctx, sess, func(q *gen.Queries) error {
		n, err := q.ApproveDeviceCode(ctx, gen.ApproveDeviceCodeParams{
			UserID: sql.NullInt64{Int64: sess.UserID, Valid: true}, SessionID: sql.NullString{String: sess.ID, Valid: true},
			AuthTime: nullTime(sess.AuthTime), Amr: sess.AMR, Acr: acr, UserHash: userHash, Now: db.Millis(now),
		})
		return oneRow(n, err, provider.ErrNoDeviceCode)
	}, func(q *gen.Queries) error { return q.SaveDeviceGrantScopes(ctx, userHash) })
}

// DenyDeviceCode implements provider.DeviceStore.
func (d *DB) DenyDeviceCode(ctx context.Context, userHash string, now time.Time) error {
	n, err := d.write.DenyDeviceCode(ctx, gen.DenyDeviceCodeParams{UserHash: userHash, Now: db.Millis(now)})
	return oneRow(n, err, provider.ErrNoDeviceCode)
}

// PollDeviceCode implements provider.DeviceStore.
func (d *DB) PollDeviceCode(ctx context.Context, deviceHash, clientID string, now time.Time) (provider.DeviceCode, error) {
	var c provider.DeviceCode
	var slow bool
	err := d.inTx(ctx, func(_ *sql.Tx, q *gen.Queries) error {
		row, err := q.GetDeviceCodeForPoll(ctx, deviceHash)
		if err != nil {
			return translate(err, provider.ErrNoDeviceCode)
		}
		if row.ClientID != clientID {
			return provider.ErrNoDeviceCode
		}
		c = toDeviceCode(row)
		now := db.Millis(now)
		slow = !c.LastPollAt.IsZero() && now.Before(c.LastPollAt.Add(c.Interval))
		if slow {
			c.Interval += provider.SlowDownStep
		}
		if c.State == provider.DeviceApproved && !slow {
			return q.DeleteDeviceCode(ctx, deviceHash)
		}
		c.LastPollAt = now
		return q.RecordDevicePoll(ctx, gen.RecordDevicePollParams{
			LastPollAt: nullTime(now), IntervalMs: c.Interval.Milliseconds(), DeviceHash: deviceHash})
	})
	if err != nil {
		return provider.DeviceCode{}, err
	}
	if slow {
		return c, provider.ErrSlowDown
	}
	return c, nil
}

// PruneDeviceCodes implements provider.DeviceStore.
func (d *DB) PruneDeviceCodes(ctx context.Context, now time.Time) (int64, error) {
	return d.write.PruneDeviceCodes(ctx, db.Millis(now))
}
