package keys

import (
	"context"
	"time"
)

// A key's states. A key is published in the JWKS in every state but
// revoked, and signs only while current (one current key per algorithm).
const (
	StateNext    = "next"    // published, not yet signing
	StateCurrent = "current" // signs new tokens
	StateRetired = "retired" // signs no more; published until its last token expires
	StateRevoked = "revoked" // withdrawn (a suspected leak): never published nor accepted
)

// Key is one signing key as stored. The private key is sealed (AES-256-GCM
// under a key derived from KEYS_KEK), so the database alone signs nothing.
type Key struct {
	ID     string // the kid
	Alg    string // the JWS algorithm: "EdDSA", "ES256" or "RS256"
	State  string // one of the State constants
	Public []byte // the public key, PKIX DER
	Sealed []byte // the private key, PKCS#8 DER, sealed by Seal
	// CreatedAt is when the key was stored, and so published; ActivatedAt
	// when it became current and RetiredAt when it stopped being current
	// (or was revoked); zero when that has not happened. UTC.
	CreatedAt   time.Time
	ActivatedAt time.Time
	RetiredAt   time.Time
}

// Change is what one ChangeSigningKeys plan does to the set: keys to add,
// keys whose State, ActivatedAt and RetiredAt to update (by ID), and keys
// to delete. The store applies Delete, then Update in its order, then Add,
// so a plan retires a current key before it makes another current. An empty
// Change changes nothing (and bumps no version).
type Change struct {
	Add    []Key
	Update []Key
	Delete []string
}

// Empty reports whether c changes nothing.
func (c Change) Empty() bool { return len(c.Add) == 0 && len(c.Update) == 0 && len(c.Delete) == 0 }

// Store keeps the signing keys; db/sqlite and db/postgres implement it. Every
// change goes through ChangeSigningKeys, so the set's rules (states, one
// current key per algorithm) live once, in this package, and hold under any
// number of replicas and CLI processes changing the set at once.
type Store interface {
	// SigningKeys returns every stored key, oldest first, with the set's
	// version.
	SigningKeys(ctx context.Context) (keys []Key, version int64, err error)
	// SigningKeysVersion returns the set's version: every change that
	// changes something increases it.
	SigningKeysVersion(ctx context.Context) (int64, error)
	// ChangeSigningKeys reads the set under a lock that serialises every
	// change from every process, calls plan with it, and applies the
	// Change plan returns in the same transaction, increasing the version
	// when the Change is not empty. An error from plan rolls back and is
	// returned as it is.
	ChangeSigningKeys(ctx context.Context, plan func(keys []Key) (Change, error)) error
	// WatchSigningKeys calls changed soon after every committed change to
	// the set, by this process or another: on PostgreSQL on a NOTIFY sent in
	// the change's transaction, on SQLite by reading the version every
	// second (the CLI is another process) and at once for this process's
	// own changes. It returns when ctx ends. changed must not block; a
	// spurious call is harmless.
	WatchSigningKeys(ctx context.Context, changed func()) error
}
