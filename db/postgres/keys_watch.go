package postgres

// Hearing of signing-key changes on PostgreSQL: a NOTIFY on keelKeysChanged
// in the transaction that changes the set (delivered to every listening
// replica, this one included, only when it commits), heard on a LISTEN
// connection of its own that pgxlisten re-opens when it drops.

import (
	"context"
	"database/sql"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgxlisten"
)

// keelKeysChanged is the channel of signing-key changes; its payload is the
// set's new version, in decimal.
const keelKeysChanged = "keel_keys_changed"

// announceKeys sends the NOTIFY in tx.
func (d *DB) announceKeys(ctx context.Context, tx *sql.Tx, version int64) error {
	_, err := tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, keelKeysChanged, strconv.FormatInt(version, 10))
	return err
}

// announcedKeys is nothing: PostgreSQL delivers the NOTIFY on commit, to
// this replica's listener as to the others'.
func (d *DB) announcedKeys() {}

// WatchSigningKeys implements keys.Store with LISTEN on a connection of its
// own. changed is called on every notification, and once each time the
// watch listens on a new connection (at the start and after a reconnect),
// since a change may have been missed while it did not listen. A lost
// connection is re-opened after relistenDelay; the Ring's timed re-read
// covers that gap.
func (d *DB) WatchSigningKeys(ctx context.Context, changed func()) error {
	l := &pgxlisten.Listener{
		Connect:        func(ctx context.Context) (*pgx.Conn, error) { return pgx.ConnectConfig(ctx, d.listenConfig) },
		LogError:       func(context.Context, error) {}, // it reconnects; the resync says the rest
		ReconnectDelay: relistenDelay,
	}
	l.Handle(keelKeysChanged, keysHandler(changed))
	return l.Listen(ctx)
}

// keysHandler turns a notification, and a new connection's backlog, into a
// call of changed.
type keysHandler func()

func (h keysHandler) HandleNotification(context.Context, *pgconn.Notification, *pgx.Conn) error {
	h()
	return nil
}

func (h keysHandler) HandleBacklog(context.Context, string, *pgx.Conn) error {
	h()
	return nil
}
