package keys_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keelhq/keel/internal/keys"
)

const otherKEK = "another-kek-0123456789abcdef0123456789ab"

// TestWrongKEKChangesNothing: a `keel keys` run or a replica with another
// KEYS_KEK makes no key and makes none current (it would seal a key no
// replica of the right KEYS_KEK can open: once current, those replicas stop
// following the set and no longer start), and says why; with the right
// one, the same changes work.
func TestWrongKEKChangesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t)
	r, err := keys.Open(ctx, st, keys.Config{Alg: keys.EdDSA, KEK: []byte(kek), TokenTTL: time.Minute, MaxAge: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := r.Signer()
	right, err := keys.NewAdmin(st, []byte(kek), keys.EdDSA, nil)
	if err != nil {
		t.Fatal(err)
	}
	wrong, err := keys.NewAdmin(st, []byte(otherKEK), keys.EdDSA, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wrong.Rotate(ctx); !errors.Is(err, keys.ErrSealed) {
		t.Errorf("rotate with another KEYS_KEK: %v, want ErrSealed", err)
	}
	next, err := right.Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, before, _ := st.SigningKeys(ctx)
	if _, err := wrong.Revoke(ctx, first); !errors.Is(err, keys.ErrSealed) {
		t.Errorf("revoke of the current key with another KEYS_KEK (the next key signs): %v, want ErrSealed", err)
	}
	if _, err := keys.Open(ctx, st, keys.Config{Alg: keys.ES256, KEK: []byte(otherKEK), TokenTTL: time.Minute}); !errors.Is(err, keys.ErrSealed) {
		t.Errorf("a start with another JWT_ALG and KEYS_KEK: %v, want ErrSealed", err)
	}
	if _, after, _ := st.SigningKeys(ctx); after != before {
		t.Errorf("the set changed (version %d to %d)", before, after)
	}
	if _, err := right.Revoke(ctx, next.ID); err != nil {
		t.Fatal(err)
	}

	// A next key sealed elsewhere (another install's) never becomes current.
	elsewhere := openStore(t)
	foreign, err := keys.NewAdmin(elsewhere, []byte(otherKEK), keys.EdDSA, nil)
	if err != nil {
		t.Fatal(err)
	}
	alien, err := foreign.Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.ChangeSigningKeys(ctx, func([]keys.Key) (keys.Change, error) {
		return keys.Change{Add: []keys.Key{alien}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Open(ctx, elsewhere, keys.Config{Alg: keys.EdDSA, KEK: []byte(kek), TokenTTL: time.Minute}); !errors.Is(err, keys.ErrSealed) {
		t.Errorf("a first start whose next key is another KEYS_KEK's: %v, want ErrSealed", err)
	}
	var now atomicTime
	now.set(time.Now().Add(time.Hour))
	rc, cancel := context.WithCancel(ctx)
	r2, err := keys.Open(rc, st, keys.Config{Alg: keys.EdDSA, KEK: []byte(kek), TokenTTL: time.Minute, MaxAge: time.Minute, Now: now.get})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); r2.Run(rc) }()
	time.Sleep(1500 * time.Millisecond) // a tick or two of the schedule
	cancel()
	<-done
	if kid, _, _ := r2.Signer(); kid != first {
		t.Errorf("the schedule made %s current, a key this KEYS_KEK cannot open", kid)
	}

	if _, err := right.Revoke(ctx, alien.ID); err != nil {
		t.Errorf("revoke of the foreign key: %v", err)
	}
	if _, err := right.Rotate(ctx); err != nil {
		t.Errorf("rotate with the right KEYS_KEK: %v", err)
	}

	// A lost KEYS_KEK's way out: under a new one, revoking every key works,
	// and keel starts with a fresh key.
	lost := openStore(t)
	if _, err := keys.Open(ctx, lost, keys.Config{Alg: keys.EdDSA, KEK: []byte(kek), TokenTTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	stored, _, _ := lost.SigningKeys(ctx)
	renewed, err := keys.NewAdmin(lost, []byte(otherKEK), keys.EdDSA, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := renewed.Revoke(ctx, stored[0].ID); err != nil {
		t.Errorf("revoking the only key under a new KEYS_KEK: %v", err)
	}
	if _, err := keys.Open(ctx, lost, keys.Config{Alg: keys.EdDSA, KEK: []byte(otherKEK), TokenTTL: time.Minute}); err != nil {
		t.Errorf("a start under the new KEYS_KEK: %v", err)
	}
}
