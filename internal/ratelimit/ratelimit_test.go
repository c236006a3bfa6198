package ratelimit

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// burst takes from m until refused (at most 2×perMinute) and returns how
// many were admitted.
func burst(m *Memory, key string, perMinute int, now time.Time) int {
	n := 0
	for n < 2*perMinute && m.Take(key, perMinute, now) == 0 {
		n++
	}
	return n
}

// TestTake: a burst of perMinute, then a refusal that names the wait until
// the next token, then one token back per interval, and a quiet minute
// refills the burst and no more. The clock is injected: nothing sleeps.
func TestTake(t *testing.T) {
	const perMinute = 6
	interval := time.Minute / perMinute
	var m Memory
	if n := burst(&m, "k", perMinute, t0); n != perMinute {
		t.Fatalf("%d admitted at once, want %d", n, perMinute)
	}
	if wait := m.Take("k", perMinute, t0); wait != interval {
		t.Errorf("the seventh: wait %v, want %v", wait, interval)
	}
	if wait := m.Take("k", perMinute, t0.Add(interval/2)); wait != interval/2 {
		t.Errorf("half an interval on: wait %v, want %v", wait, interval/2)
	}
	if wait := m.Take("k", perMinute, t0.Add(interval)); wait != 0 {
		t.Errorf("one interval after the burst: wait %v, want admitted", wait)
	}
	if wait := m.Take("k", perMinute, t0.Add(interval)); wait == 0 {
		t.Error("admitted twice for one interval")
	}
	if n := burst(&m, "k", perMinute, t0.Add(interval+time.Minute)); n != perMinute {
		t.Errorf("%d admitted after a quiet minute, want %d", n, perMinute)
	}
}

// TestKeysAndLimitsAreSeparate: keys do not share a bucket, and neither do
// two limits on one key (keel counts a client and an email address in one
// Memory, each under its own limit).
func TestKeysAndLimitsAreSeparate(t *testing.T) {
	var m Memory
	burst(&m, "a", 3, t0)
	for _, tt := range []struct {
		name      string
		key       string
		perMinute int
	}{
		{"another key", "b", 3},
		{"another limit on the same key", "a", 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if wait := m.Take(tt.key, tt.perMinute, t0); wait != 0 {
				t.Errorf("Take(%q, %d): wait %v, want admitted", tt.key, tt.perMinute, wait)
			}
		})
	}
}

// TestNoLimit: perMinute 0 (AUTH_RATE_LIMIT=0) admits everything and keeps
// no bucket.
func TestNoLimit(t *testing.T) {
	var m Memory
	for range 100 {
		if wait := m.Take("k", 0, t0); wait != 0 {
			t.Fatalf("wait %v under no limit", wait)
		}
	}
	if n := m.Len(); n != 0 {
		t.Errorf("%d buckets kept under no limit", n)
	}
}

// TestPrune drops the buckets that have refilled (they act as new ones)
// and keeps those still counting.
func TestPrune(t *testing.T) {
	var m Memory
	m.Take("old", 6, t0.Add(-30*time.Second)) // refilled 10 s later
	m.Take("new", 6, t0)
	if n := m.Prune(t0); n != 1 {
		t.Errorf("Prune = %d, want 1 (the refilled bucket)", n)
	}
	if n := m.Len(); n != 1 {
		t.Errorf("%d buckets left, want 1", n)
	}
	// The kept bucket still counts the request it took.
	if n := burst(&m, "new", 6, t0); n != 5 {
		t.Errorf("%d admitted after pruning, want the 5 left of the burst", n)
	}
	if n := m.Prune(t0.Add(time.Minute)); n != 1 {
		t.Errorf("Prune a minute later = %d, want 1", n)
	}
}

// TestBounded: a flood of keys never holds more than the bound; full
// buckets go first, and if all are still counting they go wholesale.
func TestBounded(t *testing.T) {
	m := Memory{max: 100}
	for i := range 1000 {
		m.Take(fmt.Sprint("client", i), 6, t0)
		if n := m.Len(); n > 100 {
			t.Fatalf("%d buckets after %d keys, bound 100", n, i+1)
		}
	}
	// Sweeps every minute even below the bound.
	m.Take("late", 6, t0.Add(2*time.Minute))
	if n := m.Len(); n != 1 {
		t.Errorf("%d buckets after a sweep two minutes on, want only the new one", n)
	}
}

// TestBoundedPerNamespace: a flood of one namespace's keys (client
// networks) past the bound makes that namespace forget, never another: an
// account's spent TOTP attempts stay spent.
func TestBoundedPerNamespace(t *testing.T) {
	m := Memory{max: 100}
	for range 5 {
		if d := m.Take("mfa:42", 5, t0); d != 0 {
			t.Fatalf("attempt refused early: %v", d)
		}
	}
	for i := range 1000 {
		m.Take(fmt.Sprintf("ip:2001:db8:%x::/64", i), 6, t0)
	}
	if d := m.Take("mfa:42", 5, t0); d == 0 {
		t.Error("a flood of client keys reset the account's TOTP limit")
	}
	if n := m.Len(); n > 2*100 {
		t.Errorf("%d buckets, bound 100 a namespace", n)
	}
}

// TestConcurrent: of many requests at once exactly the burst is admitted
// (run with -race).
func TestConcurrent(t *testing.T) {
	var (
		m        Memory
		mu       sync.Mutex
		admitted int
		wg       sync.WaitGroup
	)
	for range 50 {
		wg.Go(func() {
			if m.Take("k", 6, t0) == 0 {
				mu.Lock()
				admitted++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if admitted != 6 {
		t.Errorf("%d of 50 concurrent requests admitted, want 6", admitted)
	}
}

// TestGive: a token given back admits one more request, at once; giving
// to a full or unknown bucket adds nothing beyond the burst.
func TestGive(t *testing.T) {
	var m Memory
	if n := burst(&m, "k", 5, t0); n != 5 {
		t.Fatalf("%d admitted, want 5", n)
	}
	m.Give("k", 5, t0)
	if wait := m.Take("k", 5, t0); wait != 0 {
		t.Errorf("after a token given back: wait %v, want admitted", wait)
	}
	if wait := m.Take("k", 5, t0); wait == 0 {
		t.Error("one token given back admitted two")
	}
	m.Give("new", 5, t0)
	m.Give("new", 5, t0)
	if n := burst(&m, "new", 5, t0); n != 5 {
		t.Errorf("tokens given to an unknown key: %d admitted, want the burst of 5", n)
	}
	m.Take("once", 5, t0)
	m.Give("once", 5, t0)
	m.Give("once", 5, t0)
	if n := burst(&m, "once", 5, t0); n != 5 {
		t.Errorf("two given back for one taken: %d admitted, want the burst of 5", n)
	}
	if wait := m.Take("k", 6, t0); wait != 0 {
		t.Errorf("another limit on k: wait %v, want admitted", wait)
	}
}
