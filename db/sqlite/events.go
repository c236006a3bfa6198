package sqlite

// The events table (db.Events) over the generated queries: written once,
// here, and twinned to db/postgres/events_gen.go by db/twin.

import (
	"context"
	"database/sql"
	"encoding/json"
	"math"
	"time"

	"github.com/keelhq/keel/db"
	gen "github.com/keelhq/keel/gen/db/sqlite"
)

var _ db.Events = (*DB)(nil)

// RecordEventTx implements db.Events.
func (d *DB) RecordEventTx(ctx context.Context, tx *sql.Tx, e db.Event) error {
	_, err := d.recordEvent(ctx, tx, d.write.WithTx(tx), e)
	return err
}

// RecordEvent implements db.Events.
func (d *DB) RecordEvent(ctx context.Context, e db.Event) error {
	_, err := d.recordEvent(ctx, nil, d.write, e)
	return err
}

// RecordEventTxID implements db.Events.
func (d *DB) RecordEventTxID(ctx context.Context, tx *sql.Tx, e db.Event) (int64, error) {
	return d.recordEvent(ctx, tx, d.write.WithTx(tx), e)
}

// recordEvent inserts e and hands it, with its id, to the event hook (the
// webhooks' fan-out, SetEventHook) in the same transaction (tx nil: on its
// own), so that an event's webhooks are queued if and only if it commits.
func (d *DB) recordEvent(ctx context.Context, tx *sql.Tx, q *gen.Queries, e db.Event) (int64, error) {
	p := eventParams(e)
	id, err := q.InsertEventReturningID(ctx, gen.InsertEventReturningIDParams(p))
	if err != nil || d.eventHook == nil {
		return id, err
	}
	e.ID, e.CreatedAt, e.Data = id, p.CreatedAt, json.RawMessage(p.Data)
	return id, d.eventHook(ctx, tx, e)
}

// SetEventHook has hook called with each event recorded from now on, in
// the event's transaction (tx nil for RecordEvent): its error rolls the
// change back. Set before the store is used (keel serve sets it at start).
func (d *DB) SetEventHook(hook func(ctx context.Context, tx *sql.Tx, e db.Event) error) {
	d.eventHook = hook
}

func eventParams(e db.Event) gen.InsertEventParams {
	data := string(e.Data)
	if data == "" || data == "null" {
		data = "{}"
	}
	return gen.InsertEventParams{
		Type: e.Type, CreatedAt: db.Millis(e.CreatedAt),
		UserID: sql.NullInt64{Int64: e.UserID, Valid: e.UserID != 0},
		Actor:  e.Actor, Ip: e.IP, UserAgent: e.UserAgent, Data: data,
	}
}

// ListEvents implements db.Events: the filter that leads picks the query,
// and so the index it walks (the user's, the actor's, the type's, or the
// primary key), in that order.
func (d *DB) ListEvents(ctx context.Context, f db.EventFilter) ([]db.Event, error) {
	before := f.Before
	if before <= 0 {
		before = math.MaxInt64
	}
	since := db.Millis(f.Since)
	if f.Since.IsZero() {
		since = time.Unix(0, 0).UTC()
	}
	limit := int64(f.Limit)
	var rows []gen.Event
	var err error
	switch {
	case f.UserID != 0:
		rows, err = d.read.ListEventsByUser(ctx, gen.ListEventsByUserParams{UserID: sql.NullInt64{Int64: f.UserID, Valid: true},
			Before: before, Actor: f.Actor, Type: f.Type, Since: since, Lim: limit})
	case f.Actor != "":
		rows, err = d.read.ListEventsByActor(ctx, gen.ListEventsByActorParams{Actor: f.Actor, Before: before, Type: f.Type, Since: since, Lim: limit})
	case f.Type != "":
		rows, err = d.read.ListEventsByType(ctx, gen.ListEventsByTypeParams{Type: f.Type, Before: before, Since: since, Lim: limit})
	default:
		rows, err = d.read.ListEvents(ctx, gen.ListEventsParams{Before: before, Since: since, Lim: limit})
	}
	if err != nil {
		return nil, err
	}
	out := make([]db.Event, len(rows))
	for i, r := range rows {
		out[i] = db.Event{ID: r.ID, Type: r.Type, CreatedAt: db.Millis(r.CreatedAt), UserID: r.UserID.Int64,
			Actor: r.Actor, IP: r.Ip, UserAgent: r.UserAgent, Data: json.RawMessage(r.Data)}
	}
	return out, nil
}

// PruneEvents implements db.Events.
func (d *DB) PruneEvents(ctx context.Context, cutoff time.Time, batch int) (int64, error) {
	return d.write.PruneEvents(ctx, gen.PruneEventsParams{Before: db.Millis(cutoff), Batch: int64(batch)})
}
