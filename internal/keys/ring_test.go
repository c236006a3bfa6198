package keys_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keelhq/keel/db/sqlite"
	"github.com/keelhq/keel/internal/keys"
)

const kek = "ring-test-kek-0123456789abcdef0123456789"

func openStore(t *testing.T) *sqlite.DB {
	t.Helper()
	d, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "keel.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// TestRingSealsKeys: the stored key opens only with its KEYS_KEK (another
// stops the start with an error saying so), the database holds no private
// key in the clear, and the JWKS holds no private member.
func TestRingSealsKeys(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	ctx := context.Background()
	for _, alg := range keys.Algs {
		t.Run(alg, func(t *testing.T) {
			r, err := keys.Open(ctx, st, keys.Config{Alg: alg, KEK: []byte(kek), TokenTTL: time.Minute, MaxAge: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			kid, got, priv := r.Signer()
			if got != alg || kid == "" {
				t.Fatalf("signer %s %s", kid, got)
			}
			der, err := x509.MarshalPKCS8PrivateKey(priv)
			if err != nil {
				t.Fatal(err)
			}
			stored, _, err := st.SigningKeys(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range stored {
				if bytes.Contains(k.Sealed, der) || bytes.Contains(k.Public, der) {
					t.Errorf("key %s stored in the clear", k.ID)
				}
			}
			for _, member := range []string{`"d"`, `"p"`, `"q"`, `"dp"`, `"dq"`, `"qi"`} {
				if strings.Contains(string(r.JWKS()), member) {
					t.Errorf("the JWKS holds the private member %s: %s", member, r.JWKS())
				}
			}
			_, err = keys.Open(ctx, st, keys.Config{Alg: alg, KEK: []byte(strings.Repeat("x", 32)), TokenTTL: time.Minute})
			if err == nil || !strings.Contains(err.Error(), "KEYS_KEK") {
				t.Errorf("another KEYS_KEK: %v, want an error naming KEYS_KEK", err)
			}
		})
	}
}

// TestRingFollowsTheSchedule: a running Ring promotes a next key once it
// has been published for MaxAge, by its clock.
func TestRingFollowsTheSchedule(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var now atomicTime
	now.set(time.Now())
	cfg := keys.Config{Alg: keys.EdDSA, KEK: []byte(kek), TokenTTL: time.Minute, MaxAge: time.Hour, Now: now.get}
	r, err := keys.Open(ctx, st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	defer func() { cancel(); <-done }()
	first, _, _ := r.Signer()
	admin, err := keys.NewAdmin(st, []byte(kek), keys.EdDSA, now.get)
	if err != nil {
		t.Fatal(err)
	}
	next, err := admin.Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return r.Published(next.ID) }, "the next key published")
	time.Sleep(1500 * time.Millisecond) // a tick or two
	if kid, _, _ := r.Signer(); kid != first {
		t.Fatalf("the next key signs before MaxAge")
	}
	now.set(now.get().Add(time.Hour + 3*time.Second))
	waitFor(t, func() bool { kid, _, _ := r.Signer(); return kid == next.ID }, "the next key signs after MaxAge")
	if !r.Published(first) {
		t.Error("the retired key is no longer published")
	}
}

func waitFor(t *testing.T, ok func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// atomicTime is a settable clock.
type atomicTime struct{ v atomic.Value }

func (a *atomicTime) get() time.Time  { return a.v.Load().(time.Time) }
func (a *atomicTime) set(t time.Time) { a.v.Store(t) }

// TestRingRotatesOnSchedule: with RotateEvery, a running Ring adds a next
// key once the current one has signed that long, and the next key signs
// MaxAge later: nobody runs `keel keys rotate`.
func TestRingRotatesOnSchedule(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var now atomicTime
	now.set(time.Now())
	r, err := keys.Open(ctx, st, keys.Config{Alg: keys.ES256, KEK: []byte(kek), TokenTTL: time.Minute,
		MaxAge: time.Minute, RotateEvery: 24 * time.Hour, Now: now.get})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	defer func() { cancel(); <-done }()
	first, _, _ := r.Signer()
	count := func() int {
		stored, _, err := st.SigningKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return len(stored)
	}
	now.set(now.get().Add(23 * time.Hour))
	time.Sleep(1500 * time.Millisecond)
	if n := count(); n != 1 {
		t.Fatalf("%d keys before KEYS_ROTATE_EVERY", n)
	}
	now.set(now.get().Add(time.Hour))
	waitFor(t, func() bool { return count() == 2 }, "a next key after KEYS_ROTATE_EVERY")
	if kid, _, _ := r.Signer(); kid != first {
		t.Fatal("the scheduled key signs at once")
	}
	now.set(now.get().Add(time.Minute + 3*time.Second))
	waitFor(t, func() bool { kid, _, _ := r.Signer(); return kid != first }, "the scheduled key signs after MaxAge")
}

// TestRingAlso: an algorithm in Also (the OpenID Provider's RS256) gets a
// current key of its own beside JWT_ALG's, published in the same JWKS and
// rotated by the same `keel keys rotate`.
func TestRingAlso(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	ctx := context.Background()
	r, err := keys.Open(ctx, st, keys.Config{Alg: keys.EdDSA, Also: []string{keys.RS256}, KEK: []byte(kek),
		TokenTTL: time.Minute, MaxAge: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	kid, priv, ok := r.SignerFor(keys.RS256)
	if !ok || kid == "" || priv == nil {
		t.Fatal("no RS256 signer")
	}
	if _, _, ok := r.SignerFor(keys.ES256); ok {
		t.Error("an ES256 signer nobody asked for")
	}
	if own, alg, _ := r.Signer(); own == kid || alg != keys.EdDSA {
		t.Errorf("access tokens signed by %s (%s)", own, alg)
	}
	if !strings.Contains(string(r.JWKS()), kid) || !strings.Contains(string(r.JWKS()), `"RS256"`) {
		t.Errorf("JWKS %s lacks the RS256 key", r.JWKS())
	}
	admin, err := keys.NewAdmin(st, []byte(kek), keys.EdDSA, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	stored, _, err := st.SigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	next := map[string]bool{}
	for _, k := range stored {
		if k.State == keys.StateNext {
			next[k.Alg] = true
		}
	}
	if !next[keys.EdDSA] || !next[keys.RS256] {
		t.Errorf("rotate made next keys for %v, want EdDSA and RS256", next)
	}
}
