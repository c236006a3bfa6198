package server

// Telling an account's owner about changes to how it is signed in to: a
// mail through the job engine (internal/jobs' notify kind), fed by the
// change's event (server/events.go): notice records the event and queues
// the mail from it in the transaction of the change (the store method's
// after hook), so that no mail goes out for a change rolled back, none is
// lost to a crash after the commit, and none goes out without its event;
// and a log line once it has committed. A change its owner did not make
// does not go unnoticed.

import (
	"context"
	"database/sql"
	"log/slog"

	"github.com/keelhq/keel/db"
)

// notice is a store method's after hook for a change the account's owner
// is told about: it records e, the change's event (of a type
// jobs.Notices), and queues the owner's mail from it, carrying its id, both
// in the change's transaction. Its error (the event or the job could not be
// inserted) rolls the change back, and the request answers 500, as a
// registration does.
func (s *Server) notice(ctx context.Context, e db.Event) func(*sql.Tx) error {
	return func(tx *sql.Tx) error {
		id, err := s.store.RecordEventTxID(ctx, tx, e)
		if err != nil {
			return err
		}
		return s.jobs().NotifyTx(ctx, tx, id, e)
	}
}

// noticed logs the event of type typ about the account userID, committed
// with its mail queued: at info, at warn for a lock.
func (s *Server) noticed(ctx context.Context, typ string, userID int64) {
	level, msg := slog.LevelInfo, "account changed: "+typ
	if typ == db.EventMFALocked {
		level, msg = slog.LevelWarn, "second factor locked: too many wrong TOTP codes in a row"
	}
	s.log.LogAttrs(ctx, level, msg, slog.Int64("user_id", userID), slog.String("event", typ))
}
