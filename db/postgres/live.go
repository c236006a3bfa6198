package postgres

// Session endings on PostgreSQL: a NOTIFY on keelSessionsEnded inside the
// transaction that ends the sessions (PostgreSQL delivers it to every
// listening replica only when that transaction commits), and a LISTEN on a
// connection of its own, outside the pool, which pgxlisten re-opens when it
// drops. New second factors go the same way, on keelFactorAdded.

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgxlisten"

	"github.com/keelhq/keel/db"
)

// keelSessionsEnded is the channel of session endings; its payload is a
// db.SessionsEnded in JSON. keelFactorAdded is that of new second factors,
// a db.FactorAdded in JSON.
const (
	keelSessionsEnded = "keel_sessions_ended"
	keelFactorAdded   = "keel_factor_added"
)

// relistenDelay is how long the watch waits before reconnecting after its
// connection failed: short, because sockets wait on it (the re-check covers
// the gap).
const relistenDelay = time.Second

// announce sends the NOTIFY in tx.
func (d *DB) announce(ctx context.Context, tx *sql.Tx, e db.SessionsEnded) error {
	payload, err := json.Marshal(e)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, keelSessionsEnded, string(payload))
	return err
}

// announced is nothing: PostgreSQL delivers the NOTIFY on commit, to this
// replica's listener as to the others'.
func (d *DB) announced(db.SessionsEnded) {}

// announceFactor sends the NOTIFY of a new factor in tx.
func (d *DB) announceFactor(ctx context.Context, tx *sql.Tx, e db.FactorAdded) error {
	payload, err := json.Marshal(e)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, keelFactorAdded, string(payload))
	return err
}

// announcedFactor is nothing, as announced.
func (d *DB) announcedFactor(db.FactorAdded) {}

// WatchSessions implements db.Store with LISTEN on a connection of its own.
func (d *DB) WatchSessions(ctx context.Context, w db.SessionWatch) error {
	l := &pgxlisten.Listener{
		Connect: func(ctx context.Context) (*pgx.Conn, error) { return pgx.ConnectConfig(ctx, d.listenConfig) },
		LogError: func(ctx context.Context, err error) {
			if ctx.Err() == nil {
				w.Lost(err)
			}
		},
		ReconnectDelay: relistenDelay,
	}
	h := &watchHandler{w: w, channels: 1}
	l.Handle(keelSessionsEnded, h)
	if w.FactorAdded != nil {
		h.channels++
		l.Handle(keelFactorAdded, h)
	}
	return l.Listen(ctx)
}

// watchHandler turns notifications into w's calls. pgxlisten calls
// HandleBacklog once per channel after it listens on a new connection; the
// watch resyncs once it listens on every channel of that connection, so no
// announcement sent after Resync is missed.
type watchHandler struct {
	w        db.SessionWatch
	channels int
	conn     *pgx.Conn // the connection backlogs were counted on
	seen     int
}

func (h *watchHandler) HandleNotification(_ context.Context, n *pgconn.Notification, _ *pgx.Conn) error {
	if n.Channel == keelFactorAdded {
		var e db.FactorAdded
		if err := json.Unmarshal([]byte(n.Payload), &e); err != nil || e.UserID == 0 {
			return fmt.Errorf("notification %q: not a new factor", n.Payload)
		}
		h.w.FactorAdded(e)
		return nil
	}
	var e db.SessionsEnded
	if err := json.Unmarshal([]byte(n.Payload), &e); err != nil || e.UserID == 0 {
		return fmt.Errorf("notification %q: not a session ending", n.Payload)
	}
	h.w.Ended(e)
	return nil
}

func (h *watchHandler) HandleBacklog(_ context.Context, _ string, conn *pgx.Conn) error {
	if conn != h.conn {
		h.conn, h.seen = conn, 0
	}
	if h.seen++; h.seen == h.channels {
		h.w.Resync()
	}
	return nil
}

// LiveSessions implements db.Store: the ids go in as one text[].
func (d *DB) LiveSessions(ctx context.Context, ids []string) ([]string, error) {
	const batch = 5000 // bounds one query's parameter
	var live []string
	for len(ids) > 0 {
		part := ids[:min(len(ids), batch)]
		ids = ids[len(part):]
		rows, err := d.writer.QueryContext(ctx, `SELECT id FROM sessions WHERE id = ANY($1::text[])`, part)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, err
			}
			live = append(live, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return live, nil
}
