package server

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/keelhq/keel/db"
)

// DefaultRecheckInterval is how often Watch re-checks its sockets' sessions
// when Config.RecheckInterval is zero (WS_RECHECK_INTERVAL).
const DefaultRecheckInterval = 30 * time.Second

// Watch closes this replica's WebSockets whose session ends (4001), and
// those of an account's aal1 sessions once it has a second factor (4004),
// until ctx ends: it hears the store's announcements (db.Store.WatchSessions: a NOTIFY
// from any replica on PostgreSQL, in process on SQLite) and closes each
// ended session's sockets at once; and it asks the database which of its
// sockets' sessions still live every RecheckInterval, and at once whenever
// the watch (re)connects, so a socket outlives a missed announcement by at
// most the interval. cmd/keel runs it beside the HTTP server.
func (s *Server) Watch(ctx context.Context) error {
	every := s.cfg.RecheckInterval
	if every <= 0 {
		every = DefaultRecheckInterval
	}
	resync := make(chan struct{}, 1)
	var loop sync.WaitGroup
	loop.Go(func() { s.recheckEvery(ctx, every, resync) })
	defer loop.Wait()
	return s.store.WatchSessions(ctx, db.SessionWatch{
		Ended: func(e db.SessionsEnded) {
			s.sockets.EndSessions(e.UserID, func(id string) bool { return e.Ends(e.UserID, id) })
		},
		Resync: func() {
			s.watchingOnce.Do(func() { close(s.watching) })
			select {
			case resync <- struct{}{}:
			default: // one is pending already
			}
		},
		FactorAdded: func(e db.FactorAdded) {
			s.sockets.RequireFactor(e.UserID, e.Keep)
		},
		Lost: func(err error) {
			s.log.Warn("not hearing of sessions ending; retrying, then re-checking the sockets", slog.Any("err", err))
		},
	})
}

// Watching is closed once Watch listens for sessions ending: from then on,
// an ending on any replica reaches this one's sockets.
func (s *Server) Watching() <-chan struct{} { return s.watching }

// recheckEvery re-checks the sockets' sessions every interval and on each
// signal of resync, until ctx ends.
func (s *Server) recheckEvery(ctx context.Context, every time.Duration, resync <-chan struct{}) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-resync:
		}
		s.recheck(ctx)
	}
}

// recheck closes the sockets whose session the database no longer has, in
// one query for all of them.
func (s *Server) recheck(ctx context.Context) {
	ids := s.sockets.OwnedSessions()
	if len(ids) == 0 {
		return
	}
	live, err := s.store.LiveSessions(ctx, ids)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("re-checking the sockets' sessions", slog.Any("err", err))
		}
		return
	}
	ended := make(map[string]bool, len(ids))
	for _, id := range ids {
		ended[id] = true
	}
	for _, id := range live {
		delete(ended, id)
	}
	if len(ended) == 0 {
		return
	}
	if n := s.sockets.EndSessionIDs(ended); n > 0 {
		s.log.Info("closed sockets whose session ended unannounced", slog.Int("sockets", n))
	}
}
