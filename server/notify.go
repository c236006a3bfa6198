package server

// Telling an account's owner about changes to how it is signed in to: a
// mail through the job engine (internal/jobs' notify kind) and a log line,
// so that a change its owner did not make does not go unnoticed.

import (
	"context"
	"log/slog"

	"github.com/keelhq/keel/internal/jobs"
)

// notify mails the owner of the account about event (a jobs.Event* name),
// which happened now, and logs it with the account id: at info, at warn for
// a lock. The change is made already, so a job that cannot be queued is
// logged rather than failing the request that made it.
func (s *Server) notify(ctx context.Context, userID int64, event string) {
	level, msg := slog.LevelInfo, "account changed: "+event
	if event == jobs.EventMFALocked {
		level, msg = slog.LevelWarn, "second factor locked: too many wrong TOTP codes in a row"
	}
	s.log.LogAttrs(ctx, level, msg, slog.Int64("user_id", userID), slog.String("event", event))
	if err := s.jobs().Notify(ctx, userID, event, s.now()); err != nil {
		s.log.LogAttrs(ctx, slog.LevelError, "the owner's notice could not be queued",
			slog.Int64("user_id", userID), slog.String("event", event), slog.Any("err", err))
	}
}
