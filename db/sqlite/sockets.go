package sqlite

import (
	"context"
	"sync"
	"time"

	"github.com/keelhq/keel/db"
)

// socketPlaces are the places of sessions' sockets (db.Store's
// TakeSocketPlace), in memory: keel on SQLite is one process, so its count
// is the whole cluster's, and a crash takes the places with it.
type socketPlaces struct {
	mu sync.Mutex
	// expires holds each session's places and their leases' ends;
	// sessionOf finds a place's session.
	expires   map[string]map[string]time.Time
	sessionOf map[string]string
}

// TakeSocketPlace implements db.Store; the session's expired places go
// first. An ended session's socket, if one slips in past the check, gives
// its place back when the ending closes it.
func (d *DB) TakeSocketPlace(ctx context.Context, sessionID, id, _ string, max int, now, expires time.Time) (bool, error) {
	if live, err := d.LiveSessions(ctx, []string{sessionID}); err != nil {
		return false, err
	} else if len(live) == 0 {
		return false, db.ErrNoSession
	}
	p := &d.places
	p.mu.Lock()
	defer p.mu.Unlock()
	held := p.expires[sessionID]
	for place, end := range held {
		if !end.After(now) {
			delete(held, place)
			delete(p.sessionOf, place)
		}
	}
	if len(held) >= max {
		return false, nil
	}
	if held == nil {
		if p.expires == nil {
			p.expires, p.sessionOf = map[string]map[string]time.Time{}, map[string]string{}
		}
		held = map[string]time.Time{}
		p.expires[sessionID] = held
	}
	held[id] = expires
	p.sessionOf[id] = sessionID
	return true, nil
}

// RenewSocketPlaces implements db.Store.
func (d *DB) RenewSocketPlaces(_ context.Context, ids []string, expires time.Time) error {
	p := &d.places
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range ids {
		if held := p.expires[p.sessionOf[id]]; held != nil {
			if _, ok := held[id]; ok {
				held[id] = expires
			}
		}
	}
	return nil
}

// GiveBackSocketPlace implements db.Store.
func (d *DB) GiveBackSocketPlace(_ context.Context, id string) error {
	p := &d.places
	p.mu.Lock()
	defer p.mu.Unlock()
	sessionID, ok := p.sessionOf[id]
	if !ok {
		return nil
	}
	delete(p.sessionOf, id)
	delete(p.expires[sessionID], id)
	if len(p.expires[sessionID]) == 0 {
		delete(p.expires, sessionID)
	}
	return nil
}
