package keys_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keelhq/keel/db/sqlite"
	"github.com/keelhq/keel/internal/keys"
)

// pausingStore is the real store whose next SigningKeys, once armed, reads
// the set and then waits for release before it answers: a slow read.
type pausingStore struct {
	*sqlite.DB
	armed   atomic.Bool
	held    chan struct{}
	release chan struct{}
}

func (p *pausingStore) SigningKeys(ctx context.Context) ([]keys.Key, int64, error) {
	k, v, err := p.DB.SigningKeys(ctx)
	if p.armed.CompareAndSwap(true, false) {
		close(p.held)
		<-p.release
	}
	return k, v, err
}

// TestRingNeverGoesBack: a slow read of the set (an unknown kid's lookup)
// that ends after a later read has been applied does not put the older set
// back: a key revoked in between stays refused, rather than accepted again
// until the next timed re-read (the watch has already reported that version).
func TestRingNeverGoesBack(t *testing.T) {
	t.Parallel()
	st := &pausingStore{DB: openStore(t), held: make(chan struct{}), release: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, err := keys.Open(ctx, st, keys.Config{Alg: keys.EdDSA, KEK: []byte(kek), TokenTTL: time.Minute,
		MaxAge: time.Hour, Reload: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	admin, err := keys.NewAdmin(st.DB, []byte(kek), keys.EdDSA, nil)
	if err != nil {
		t.Fatal(err)
	}
	next, err := admin.Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// A lookup of an unknown kid reads the set (next published) and stalls.
	st.armed.Store(true)
	lookup := make(chan struct{})
	go func() { defer close(lookup); r.PublicKey(ctx, "no-such-kid") }()
	<-st.held
	if _, err := admin.Revoke(ctx, next.ID); err != nil {
		t.Fatal(err)
	}
	// Meanwhile the watch hears of the revocation and reads the set again.
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for deadline := time.Now().Add(time.Second); r.Published(next.ID) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	close(st.release)
	<-lookup
	waitFor(t, func() bool { return !r.Published(next.ID) }, "the revoked key withdrawn after the slow read")
	time.Sleep(1500 * time.Millisecond) // a watch tick or two
	if r.Published(next.ID) {
		t.Error("the revoked key is published again")
	}
}
