package sqlite

// Hearing of signing-key changes on SQLite. The CLI (keel keys rotate,
// revoke) is another process on the same file, with no channel to the
// server's, so every watch reads the set's version each keysPollInterval;
// this process's own changes wake its watches at once, after they commit.

import (
	"context"
	"database/sql"
	"sync"
	"time"
)

// keysPollInterval is how often a watch reads the version: every replica (on
// SQLite, every process) hears of a change within a second.
const keysPollInterval = time.Second

// keyWatchers are the running WatchSigningKeys calls, each woken through its
// channel (of one slot: a wake pending is as good as two).
type keyWatchers struct {
	mu   sync.Mutex
	next int
	all  map[int]chan struct{}
}

// announceKeys is nothing inside the transaction: announcedKeys wakes the
// watches once it has committed.
func (d *DB) announceKeys(context.Context, *sql.Tx, int64) error { return nil }

// announcedKeys wakes every watch of this process, without blocking.
func (d *DB) announcedKeys() {
	d.keyWatchers.mu.Lock()
	defer d.keyWatchers.mu.Unlock()
	for _, wake := range d.keyWatchers.all {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
}

// WatchSigningKeys implements keys.Store. It calls changed once when it
// begins (a change made before it could not be heard of), then whenever the
// version it reads differs from the last it saw: each keysPollInterval, and
// at once when this process changed the set. A failed read is retried at the
// next tick.
func (d *DB) WatchSigningKeys(ctx context.Context, changed func()) error {
	wake := make(chan struct{}, 1)
	d.keyWatchers.mu.Lock()
	if d.keyWatchers.all == nil {
		d.keyWatchers.all = make(map[int]chan struct{})
	}
	id := d.keyWatchers.next
	d.keyWatchers.next++
	d.keyWatchers.all[id] = wake
	d.keyWatchers.mu.Unlock()
	defer func() {
		d.keyWatchers.mu.Lock()
		delete(d.keyWatchers.all, id)
		d.keyWatchers.mu.Unlock()
	}()

	last, err := d.SigningKeysVersion(ctx)
	if err != nil {
		last = -1 // the first read that succeeds differs
	}
	changed()
	tick := time.NewTicker(keysPollInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		case <-wake:
		}
		v, err := d.SigningKeysVersion(ctx)
		if err != nil || v == last {
			continue
		}
		last = v
		changed()
	}
}
