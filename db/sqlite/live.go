package sqlite

// Session endings on SQLite: a keel on SQLite is one process, so its
// announcements go to this process's watchers, in process, after the
// transaction that ended the sessions commits.

import (
	"context"
	"database/sql"
	"encoding/json"
	"sync"

	"github.com/keelhq/keel/db"
)

// watchers are the running WatchSessions calls.
type watchers struct {
	mu   sync.Mutex
	next int
	all  map[int]db.SessionWatch
}

// announce is nothing inside the transaction: announced tells the watchers
// once it has committed.
func (d *DB) announce(context.Context, *sql.Tx, db.SessionsEnded) error { return nil }

// announced tells every watcher, on the caller's goroutine (a watcher does
// not block).
func (d *DB) announced(e db.SessionsEnded) {
	d.watchers.mu.Lock()
	defer d.watchers.mu.Unlock()
	for _, w := range d.watchers.all {
		w.Ended(e)
	}
}

// announceFactor is nothing inside the transaction: announcedFactor tells
// the watchers once it has committed.
func (d *DB) announceFactor(context.Context, *sql.Tx, db.FactorAdded) error { return nil }

// announcedFactor tells every watcher that hears of factors.
func (d *DB) announcedFactor(e db.FactorAdded) {
	d.watchers.mu.Lock()
	defer d.watchers.mu.Unlock()
	for _, w := range d.watchers.all {
		if w.FactorAdded != nil {
			w.FactorAdded(e)
		}
	}
}

// WatchSessions implements db.Store. Nothing is missed in process: Resync
// runs once, when the watch begins, and Lost never.
func (d *DB) WatchSessions(ctx context.Context, w db.SessionWatch) error {
	d.watchers.mu.Lock()
	if d.watchers.all == nil {
		d.watchers.all = make(map[int]db.SessionWatch)
	}
	id := d.watchers.next
	d.watchers.next++
	d.watchers.all[id] = w
	d.watchers.mu.Unlock()
	defer func() {
		d.watchers.mu.Lock()
		delete(d.watchers.all, id)
		d.watchers.mu.Unlock()
	}()
	w.Resync()
	<-ctx.Done()
	return ctx.Err()
}

// liveBatch bounds the ids LiveSessions sends in one query.
const liveBatch = 5000

// LiveSessions implements db.Store: the ids go in as one JSON array.
func (d *DB) LiveSessions(ctx context.Context, ids []string) ([]string, error) {
	var live []string
	for len(ids) > 0 {
		batch := ids[:min(len(ids), liveBatch)]
		ids = ids[len(batch):]
		arg, err := json.Marshal(batch)
		if err != nil {
			return nil, err
		}
		rows, err := d.reader.QueryContext(ctx, `SELECT id FROM sessions WHERE id IN (SELECT value FROM json_each(?))`, string(arg))
		if err != nil {
			return nil, err
		}
		if live, err = appendIDs(live, rows); err != nil {
			return nil, err
		}
	}
	return live, nil
}

// appendIDs appends the one text column of rows to ids and closes rows.
func appendIDs(ids []string, rows *sql.Rows) ([]string, error) {
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
