package sqlite

// The events table (db.Events) over the generated queries: written once,
// here, and twinned to db/postgres/events_gen.go by db/twin.

import (
	"context"
	"database/sql"

	"github.com/keelhq/keel/db"
	gen "github.com/keelhq/keel/gen/db/sqlite"
)

var _ db.Events = (*DB)(nil)

// RecordEventTx implements db.Events.
func (d *DB) RecordEventTx(ctx context.Context, tx *sql.Tx, e db.Event) error {
	return recordEvent(ctx, d.write.WithTx(tx), e)
}

// RecordEvent implements db.Events.
func (d *DB) RecordEvent(ctx context.Context, e db.Event) error {
	return recordEvent(ctx, d.write, e)
}

func recordEvent(ctx context.Context, q *gen.Queries, e db.Event) error {
	data := string(e.Data)
	if data == "" || data == "null" {
		data = "{}"
	}
	return q.InsertEvent(ctx, gen.InsertEventParams{
		Type: e.Type, CreatedAt: db.Millis(e.CreatedAt),
		UserID: sql.NullInt64{Int64: e.UserID, Valid: e.UserID != 0},
		Actor:  e.Actor, Ip: e.IP, UserAgent: e.UserAgent, Data: data,
	})
}
