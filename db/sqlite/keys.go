package sqlite

// Signing keys (keys.Store) over the generated queries: written once, here,
// and twinned to db/postgres/keys_gen.go by db/twin, under the same rules as
// accounts.go. What differs by engine is in keys_watch.go: how a change is
// announced and heard of. The set's rules (states, what a rotation does) are
// internal/keys'; the database holds the one it can hold on its own, at most
// one current key per algorithm, as a unique index.

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/keelhq/keel/db"
	gen "github.com/keelhq/keel/gen/db/sqlite"
	"github.com/keelhq/keel/internal/keys"
)

var _ keys.Store = (*DB)(nil)

// SigningKeys implements keys.Store. The version is read before and after
// the keys and the read is retried until both agree: every change increases
// the version in its transaction, so keys read between two equal versions
// are that version's set, on either engine's pooled reads without a
// snapshot transaction.
func (d *DB) SigningKeys(ctx context.Context) ([]keys.Key, int64, error) {
	for {
		before, err := d.read.GetSigningKeysVersion(ctx)
		if err != nil {
			return nil, 0, err
		}
		rows, err := d.read.ListSigningKeys(ctx)
		if err != nil {
			return nil, 0, err
		}
		after, err := d.read.GetSigningKeysVersion(ctx)
		if err != nil {
			return nil, 0, err
		}
		if before == after {
			return toKeys(rows), after, nil
		}
	}
}

// SigningKeysVersion implements keys.Store.
func (d *DB) SigningKeysVersion(ctx context.Context) (int64, error) {
	return d.read.GetSigningKeysVersion(ctx)
}

// ChangeSigningKeys implements keys.Store: the set's lock first (see
// LockSigningKeys in each engine's queries/keys.sql), then the keys as the
// last change left them, the plan, and its Change. A non-empty Change
// increases the version and is announced (announceKeys in the transaction,
// announcedKeys once it has committed). A second current key of one
// algorithm, a kid taken or a key to update or delete that is not there
// fails the whole Change.
func (d *DB) ChangeSigningKeys(ctx context.Context, plan func([]keys.Key) (keys.Change, error)) error {
	changed := false
	err := d.inTx(ctx, func(tx *sql.Tx, q *gen.Queries) error {
		if _, err := q.LockSigningKeys(ctx); err != nil {
			return err
		}
		rows, err := q.ListSigningKeys(ctx)
		if err != nil {
			return err
		}
		c, err := plan(toKeys(rows))
		if err != nil || c.Empty() {
			return err
		}
		if err := applyKeyChange(ctx, q, c); err != nil {
			return err
		}
		version, err := q.BumpSigningKeysVersion(ctx)
		if err != nil {
			return err
		}
		changed = true
		return d.announceKeys(ctx, tx, version)
	})
	if err == nil && changed {
		d.announcedKeys()
	}
	return err
}

// applyKeyChange writes c as keys.Change says: Delete, then Update in its
// order, then Add, so a plan that retires a current key before it makes
// another current holds the unique index at every statement.
func applyKeyChange(ctx context.Context, q *gen.Queries, c keys.Change) error {
	for _, id := range c.Delete {
		n, err := q.DeleteSigningKey(ctx, id)
		if err := oneRow(n, err, errNoKey(id)); err != nil {
			return fmt.Errorf("delete signing key %s: %w", id, err)
		}
	}
	for _, k := range c.Update {
		n, err := q.UpdateSigningKey(ctx, gen.UpdateSigningKeyParams{
			ID: k.ID, State: k.State, ActivatedAt: nullTime(k.ActivatedAt), RetiredAt: nullTime(k.RetiredAt),
		})
		if err := oneRow(n, err, errNoKey(k.ID)); err != nil {
			return fmt.Errorf("update signing key %s to %s: %w", k.ID, k.State, err)
		}
	}
	for _, k := range c.Add {
		err := q.AddSigningKey(ctx, gen.AddSigningKeyParams{
			ID: k.ID, Alg: k.Alg, State: k.State, PublicKey: k.Public, SealedKey: k.Sealed,
			CreatedAt: db.Millis(k.CreatedAt), ActivatedAt: nullTime(k.ActivatedAt), RetiredAt: nullTime(k.RetiredAt),
		})
		if err != nil {
			return fmt.Errorf("add signing key %s (%s, %s): %w", k.ID, k.Alg, k.State, err)
		}
	}
	return nil
}

// errNoKey is the error of a Change that names a key the set does not hold.
func errNoKey(id string) error { return fmt.Errorf("no signing key %q", id) }

// toKeys converts rows, times in UTC and a NULL time as the zero time.
func toKeys(rows []gen.SigningKey) []keys.Key {
	out := make([]keys.Key, len(rows))
	for i, r := range rows {
		out[i] = keys.Key{ID: r.ID, Alg: r.Alg, State: r.State, Public: r.PublicKey, Sealed: r.SealedKey,
			CreatedAt: db.Millis(r.CreatedAt), ActivatedAt: timeOrZero(r.ActivatedAt), RetiredAt: timeOrZero(r.RetiredAt)}
	}
	return out
}
