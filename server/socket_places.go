package server

import (
	"context"
	"crypto/rand"
	"log/slog"
	"sync"
	"time"

	"github.com/keelhq/keel/internal/ws"
)

// A session holds at most ws.MaxPerSession sockets in the whole cluster,
// not on each replica: the registry's in-memory count (ws.Registry.Reserve)
// is a fast first check, and a place in the store (db.Store's
// TakeSocketPlace, shared by every replica on PostgreSQL) the rule. A place
// is a lease of placeLeases re-check intervals, renewed at each re-check
// (recheckEvery), so the places of a replica that died without giving
// them back stop counting a few intervals later.

// placeLeases is how many re-check intervals a place's lease outlives its
// last renewal: a renewal missed to a slow query does not free a place a
// socket still holds.
const placeLeases = 3

// socketPlaces are the store places this replica's sockets hold, renewed
// together.
type socketPlaces struct {
	mu   sync.Mutex
	held map[string]struct{}
}

// placeLease is how long a place counts past its last renewal.
func (s *Server) placeLease() time.Duration { return placeLeases * s.recheckInterval() }

// takeSocketPlace claims a store place for a socket of sessionID and
// returns its id, or "" when the session holds ws.MaxPerSession across the
// cluster; db.ErrNoSession when the session has ended.
func (s *Server) takeSocketPlace(ctx context.Context, sessionID string) (string, error) {
	id := rand.Text()
	now := s.now()
	ok, err := s.store.TakeSocketPlace(ctx, sessionID, id, s.replica, ws.MaxPerSession, now, now.Add(s.placeLease()))
	if err != nil || !ok {
		return "", err
	}
	s.places.mu.Lock()
	if s.places.held == nil {
		s.places.held = make(map[string]struct{})
	}
	s.places.held[id] = struct{}{}
	s.places.mu.Unlock()
	return id, nil
}

// giveBackSocketPlace frees the place id of a socket closed or never held.
// Should the store fail, the lease frees it once it is no longer renewed.
func (s *Server) giveBackSocketPlace(id string) {
	s.places.mu.Lock()
	delete(s.places.held, id)
	s.places.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), renewTimeout)
	defer cancel()
	if err := s.store.GiveBackSocketPlace(ctx, id); err != nil {
		s.log.Warn("giving back a socket's place; its lease frees it", slog.Any("err", err))
	}
}

// renewSocketPlaces moves the leases of this replica's places on.
func (s *Server) renewSocketPlaces(ctx context.Context) {
	s.places.mu.Lock()
	ids := make([]string, 0, len(s.places.held))
	for id := range s.places.held {
		ids = append(ids, id)
	}
	s.places.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	if err := s.store.RenewSocketPlaces(ctx, ids, s.now().Add(s.placeLease())); err != nil && ctx.Err() == nil {
		s.log.Warn("renewing the sockets' places", slog.Any("err", err))
	}
}
