package server

// Telling an account's owner about changes to how it is signed in to: a
// mail through the job engine (internal/jobs' notify kind), queued in the
// transaction of the change (the store method's after hook), so that no
// mail goes out for a change rolled back and none is lost to a crash after
// the commit; and a log line once it has committed. A change its owner did
// not make does not go unnoticed.

import (
	"context"
	"database/sql"
	"log/slog"

	"github.com/keelhq/keel/internal/jobs"
)

// notice is a store method's after hook: it queues the mail to the owner of
// the account about event (a jobs.Event* name), which happens now, in the
// change's transaction. Its error (the job could not be inserted) rolls the
// change back, and the request answers 500, as a registration does.
func (s *Server) notice(ctx context.Context, userID int64, event string) func(*sql.Tx) error {
	at := s.now()
	return func(tx *sql.Tx) error { return s.jobs().NotifyTx(ctx, tx, userID, event, at) }
}

// noticed logs event, committed with its mail queued, with the account id:
// at info, at warn for a lock.
func (s *Server) noticed(ctx context.Context, userID int64, event string) {
	level, msg := slog.LevelInfo, "account changed: "+event
	if event == jobs.EventMFALocked {
		level, msg = slog.LevelWarn, "second factor locked: too many wrong TOTP codes in a row"
	}
	s.log.LogAttrs(ctx, level, msg, slog.Int64("user_id", userID), slog.String("event", event))
}
