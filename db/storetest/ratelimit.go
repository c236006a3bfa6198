package storetest

import (
	"testing"
	"time"

	"github.com/keelhq/keel/db"
)

// The suite's rate-limit half: PostgreSQL keeps the limit in a table and
// SQLite in memory, and both must admit and refuse alike.

// takeRateToken: a burst of perMinute, then a refusal naming the wait,
// then one token back per interval; keys, and limits on one key, apart.
func takeRateToken(t *testing.T, s db.Store) {
	const perMinute = 6
	interval := time.Minute / perMinute
	t0 := when.UTC().Truncate(time.Second)
	take := func(key string, perMinute int, now time.Time) time.Duration {
		t.Helper()
		wait, err := s.TakeRateToken(t.Context(), key, perMinute, now)
		if err != nil {
			t.Fatalf("TakeRateToken: %v", err)
		}
		return wait
	}
	for i := range perMinute {
		if wait := take("k", perMinute, t0); wait != 0 {
			t.Fatalf("request %d of the burst: wait %v, want admitted", i+1, wait)
		}
	}
	for _, tt := range []struct {
		name string
		at   time.Duration
		want time.Duration
	}{
		{"past the burst: wait one interval", 0, interval},
		{"half an interval on: wait the other half", interval / 2, interval / 2},
		{"one interval on: admitted", interval, 0},
		{"twice in that interval: wait it out", interval, interval},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if wait := take("k", perMinute, t0.Add(tt.at)); wait != tt.want {
				t.Errorf("wait %v, want %v", wait, tt.want)
			}
		})
	}
	t.Run("keys and limits apart", func(t *testing.T) {
		if wait := take("other", perMinute, t0); wait != 0 {
			t.Errorf("another key: wait %v, want admitted", wait)
		}
		if wait := take("k", 1, t0); wait != 0 {
			t.Errorf("another limit on the same key: wait %v, want admitted", wait)
		}
		if wait := take("k", 1, t0); wait != time.Minute {
			t.Errorf("that limit's second request: wait %v, want 1m", wait)
		}
	})
	t.Run("a quiet minute refills the burst, and no more", func(t *testing.T) {
		later := t0.Add(interval + time.Minute)
		n := 0
		for n < 2*perMinute && take("k", perMinute, later) == 0 {
			n++
		}
		if n != perMinute {
			t.Errorf("%d admitted after a quiet minute, want %d", n, perMinute)
		}
	})
}

// pruneRateLimits forgets the keys that have refilled and keeps the ones
// still counting.
func pruneRateLimits(t *testing.T, s db.Store) {
	ctx := t.Context()
	t0 := when.UTC().Truncate(time.Second)
	// At 6 a minute one request counts for 10 s: "old" has refilled by t0.
	if _, err := s.TakeRateToken(ctx, "old", 6, t0.Add(-30*time.Second)); err != nil {
		t.Fatal(err)
	}
	for range 6 {
		if _, err := s.TakeRateToken(ctx, "new", 6, t0); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.PruneRateLimits(ctx, t0); err != nil || n != 1 {
		t.Errorf("PruneRateLimits = %d, %v; want 1 (old)", n, err)
	}
	if wait, err := s.TakeRateToken(ctx, "new", 6, t0); err != nil || wait == 0 {
		t.Errorf("the key still counting, after pruning: wait %v, %v; want it refused still", wait, err)
	}
	if n, err := s.PruneRateLimits(ctx, t0.Add(2*time.Minute)); err != nil || n != 1 {
		t.Errorf("PruneRateLimits two minutes on = %d, %v; want 1 (new)", n, err)
	}
}

// returnRateToken: a token given back admits one request more; giving back
// to a full or unknown key adds nothing beyond the burst, and a key's other
// limits are untouched.
func returnRateToken(t *testing.T, s db.Store) {
	const perMinute = 5
	t0 := when.UTC().Truncate(time.Second)
	ctx := t.Context()
	burst := func(key string) int {
		t.Helper()
		n := 0
		for n < 2*perMinute {
			wait, err := s.TakeRateToken(ctx, key, perMinute, t0)
			if err != nil {
				t.Fatal(err)
			}
			if wait > 0 {
				break
			}
			n++
		}
		return n
	}
	give := func(key string) {
		t.Helper()
		if err := s.ReturnRateToken(ctx, key, perMinute, t0); err != nil {
			t.Fatalf("ReturnRateToken: %v", err)
		}
	}
	if n := burst("k"); n != perMinute {
		t.Fatalf("%d admitted, want %d", n, perMinute)
	}
	give("k")
	if n := burst("k"); n != 1 {
		t.Errorf("after one token given back: %d admitted, want 1", n)
	}
	give("new")
	give("new")
	if n := burst("new"); n != perMinute {
		t.Errorf("tokens given to an unknown key: %d admitted, want the burst, %d", n, perMinute)
	}
	if _, err := s.TakeRateToken(ctx, "once", perMinute, t0); err != nil {
		t.Fatal(err)
	}
	give("once")
	give("once")
	if n := burst("once"); n != perMinute {
		t.Errorf("two given back for one taken: %d admitted, want the burst, %d", n, perMinute)
	}
	if wait, err := s.TakeRateToken(ctx, "k", 1, t0); err != nil || wait != 0 {
		t.Errorf("another limit on k: wait %v, %v; want admitted", wait, err)
	}
}
