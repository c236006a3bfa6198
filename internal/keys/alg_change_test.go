package keys_test

import (
	"context"
	"testing"
	"time"

	"github.com/keelhq/keel/internal/keys"
)

// TestRingFollowsAnotherAlg: during a rolling change of JWT_ALG, a replica
// still on the old algorithm follows the set the first restarted replica
// made: it publishes and accepts the new key and signs with it, rather than
// refusing the new replicas' tokens and signing on with a retired key
// (which is deleted once its tokens would have expired).
func TestRingFollowsAnotherAlg(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t)
	cfg := keys.Config{Alg: keys.EdDSA, KEK: []byte(kek), TokenTTL: time.Minute, MaxAge: time.Minute}
	old, err := keys.Open(ctx, st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Alg = keys.ES256
	restarted, err := keys.Open(ctx, st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	kid, alg, _ := restarted.Signer()
	if alg != keys.ES256 {
		t.Fatalf("the restarted replica signs %s", alg)
	}
	if got, _, ok := old.PublicKey(ctx, kid); !ok || got != keys.ES256 {
		t.Errorf("the old replica does not take the new key's tokens (%q, %v)", got, ok)
	}
	if got, _, _ := old.Signer(); got != kid {
		t.Errorf("the old replica signs with %s, not the current key %s", got, kid)
	}
}

// TestRingFollowsAnotherAlgNotAlso: the key a replica follows in a rolling
// change of JWT_ALG is the new access-token key, not one kept current for
// another signer (Config.Also), whatever their order.
func TestRingFollowsAnotherAlgNotAlso(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t)
	cfg := keys.Config{Alg: keys.EdDSA, KEK: []byte(kek), TokenTTL: time.Minute, MaxAge: time.Minute, Also: []string{keys.ES256}}
	old, err := keys.Open(ctx, st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Alg = keys.RS256
	restarted, err := keys.Open(ctx, st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	kid, _, _ := restarted.Signer()
	old.PublicKey(ctx, "no-such-kid") // a read of the set
	if got, alg, _ := old.Signer(); got != kid {
		t.Errorf("the old replica signs with its %s key %s, not the new access-token key %s", alg, got, kid)
	}
}
