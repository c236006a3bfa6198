package server

import (
	"context"
	"errors"
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
	every := s.recheckInterval()
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
			// Off the watch's goroutine, which must not wait on queries.
			go s.requireFactor(ctx, e)
		},
		Lost: func(err error) {
			s.log.Warn("not hearing of sessions ending; retrying, then re-checking the sockets", slog.Any("err", err))
		},
	})
}

// requireFactor closes the sockets of e's account whose sessions have not
// shown its new second factor. A socket knows the level its session had
// when it last checked; one at aal2 then may have been lowered since (the
// account's last factor removed, which sockets do not hear of), so those
// are asked of the database, a query each (an account holds few).
func (s *Server) requireFactor(ctx context.Context, e db.FactorAdded) {
	lowered := map[string]bool{}
	for _, id := range s.sockets.SessionsOf(e.UserID) {
		if id == e.Keep {
			continue
		}
		sess, err := s.store.GetSession(ctx, id)
		if err == nil && sess.AAL != db.AAL2 {
			lowered[id] = true
		} else if err != nil && !errors.Is(err, db.ErrNoSession) {
			s.log.LogAttrs(ctx, slog.LevelWarn, "reading a socket's session level", slog.Any("err", err))
		}
	}
	s.sockets.RequireFactor(e.UserID, e.Keep, lowered)
}

// Watching is closed once Watch listens for sessions ending: from then on,
// an ending on any replica reaches this one's sockets.
func (s *Server) Watching() <-chan struct{} { return s.watching }

// recheckInterval is Config.RecheckInterval, or its default.
func (s *Server) recheckInterval() time.Duration {
	if s.cfg.RecheckInterval > 0 {
		return s.cfg.RecheckInterval
	}
	return DefaultRecheckInterval
}

// recheckEvery renews the sockets' places (socket_places.go) and re-checks
// their sessions every interval and on each signal of resync, until ctx
// ends.
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
		s.renewSocketPlaces(ctx)
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
