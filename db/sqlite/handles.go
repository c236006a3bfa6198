package sqlite

// The WebAuthn user handle of an account's passkeys, over the generated
// queries of handles.sql: written once, here, and twinned to
// db/postgres/handles_gen.go by db/twin, under the rules of accounts.go.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"

	"github.com/keelhq/keel/db"
	gen "github.com/keelhq/keel/gen/db/sqlite"
)

// PasskeyHandle implements db.Store.
func (d *DB) PasskeyHandle(ctx context.Context, userID int64) ([]byte, error) {
	h, err := d.read.GetPasskeyHandle(ctx, userID)
	if err != nil {
		return nil, translate(err, db.ErrNoUser)
	}
	return h, nil
}

// PasskeyAccount implements db.Store.
func (d *DB) PasskeyAccount(ctx context.Context, handle []byte) (int64, []db.Passkey, error) {
	id, err := d.read.GetPasskeyHandleUser(ctx, handle)
	if errors.Is(err, sql.ErrNoRows) && len(handle) == 8 {
		// An account whose passkeys predate handles: its id, big endian.
		id, err = d.read.GetLegacyHandleUser(ctx, int64(binary.BigEndian.Uint64(handle)))
	}
	if err != nil {
		return 0, nil, translate(err, db.ErrNoPasskey)
	}
	list, err := d.ListPasskeys(ctx, id)
	if err == nil && len(list) == 0 {
		err = db.ErrNoPasskey
	}
	return id, list, err
}

// keepHandle gives the account the handle a passkey was registered with,
// when it has none yet (its first registration), in CreatePasskey's
// transaction under the account's lock. A registration begun with another
// handle than the account's (two first registrations at once, each with a
// new handle) is refused like an expired ceremony: its authenticator would
// name no account. A passkey without a handle (nil) leaves the account as
// it is.
func keepHandle(ctx context.Context, q *gen.Queries, userID int64, handle []byte) error {
	if handle == nil {
		return nil
	}
	stored, err := q.GetPasskeyHandle(ctx, userID)
	switch {
	case err != nil:
		return translate(err, db.ErrNoUser)
	case stored == nil:
		_, err = q.SetPasskeyHandle(ctx, gen.SetPasskeyHandleParams{Handle: handle, ID: userID})
		return err
	case !bytes.Equal(stored, handle):
		return db.ErrNoCeremony
	}
	return nil
}
