package postgres

// Session endings on PostgreSQL: a NOTIFY on keelSessionsEnded inside the
// transaction that ends the sessions (PostgreSQL delivers it to every
// listening replica only when that transaction commits), and a LISTEN on a
// connection of its own, outside the pool, which pgxlisten re-opens when it
// drops.

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

// keelSessionsEnded is the channel; its payload is a db.SessionsEnded in JSON.
const keelSessionsEnded = "keel_sessions_ended"

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
	l.Handle(keelSessionsEnded, watchHandler(w))
	return l.Listen(ctx)
}

// watchHandler turns notifications into w's calls; pgxlisten calls
// HandleBacklog once it listens on a new connection.
type watchHandler db.SessionWatch

func (h watchHandler) HandleNotification(_ context.Context, n *pgconn.Notification, _ *pgx.Conn) error {
	var e db.SessionsEnded
	if err := json.Unmarshal([]byte(n.Payload), &e); err != nil || e.UserID == 0 {
		return fmt.Errorf("notification %q: not a session ending", n.Payload)
	}
	h.Ended(e)
	return nil
}

func (h watchHandler) HandleBacklog(context.Context, string, *pgx.Conn) error {
	h.Resync()
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
