// Package ratelimit is keel's in-process token buckets: the rate limit of a
// keel that is one process (SQLite), where a map in memory is the whole
// truth. PostgreSQL keeps its limit in the database instead (GCRA in one
// statement, db/postgres), shared by every replica. Both sit behind
// db.Store's TakeRateToken and PruneRateLimits.
package ratelimit

import (
	"cmp"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Memory is a token bucket per key and limit: perMinute requests a minute,
// with a burst of as many. One Memory serves several limits at once (keel's
// per-client AUTH_RATE_LIMIT, its one email a minute per address and its
// five TOTP codes a minute per account), so a bucket belongs to a
// (perMinute, key) pair, and each namespace of keys (the text before a key's
// first colon: keel's "ip:", "email:" and "mfa:") is bounded on its own: a
// flood of one limit's keys (a botnet's addresses, many IPv6 networks) can
// make that limit forget, never another (an account's TOTP attempts).
// Buckets that have refilled are dropped now and then, so memory stays
// bounded by the keys of the last minute. The zero Memory is ready to use;
// it must not be copied. Not Echo's RateLimiterMemoryStore: it holds one
// rate per store, and keel keeps three limits in one, with Prune for the
// prune-rate-limits job.
type Memory struct {
	mu        sync.Mutex
	spaces    map[string]map[bucketKey]*rate.Limiter // namespace → its buckets
	lastSweep time.Time
	// max is the bound on each namespace's buckets (maxBuckets when 0);
	// tests lower it.
	max int
}

type bucketKey struct {
	perMinute int
	key       string
}

// maxBuckets bounds each namespace of a Memory (~200 bytes a bucket)
// against a flood of keys; past it, full buckets are swept at once, and if
// that is not enough the namespace's older state is dropped wholesale:
// forgetting a limit admits a few requests too many, which beats running out
// of memory.
const maxBuckets = 100_000

// Take admits one request from key under a limit of perMinute a minute and
// returns 0, or refuses it and returns how long key must wait. now is the
// caller's clock. A perMinute of 0 or less is no limit.
func (m *Memory) Take(key string, perMinute int, now time.Time) time.Duration {
	if perMinute <= 0 {
		return 0
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.spaces == nil {
		m.spaces = map[string]map[bucketKey]*rate.Limiter{}
	}
	ns, _, found := strings.Cut(key, ":")
	if !found {
		ns = ""
	}
	buckets := m.spaces[ns]
	if buckets == nil {
		buckets = map[bucketKey]*rate.Limiter{}
		m.spaces[ns] = buckets
	}
	limit := cmp.Or(m.max, maxBuckets)
	if now.Sub(m.lastSweep) > time.Minute || len(buckets) >= limit {
		m.sweep(now)
		if len(buckets) >= limit {
			clear(buckets)
		}
	}
	k := bucketKey{perMinute, key}
	b, ok := buckets[k]
	if !ok {
		b = rate.NewLimiter(rate.Every(time.Minute/time.Duration(perMinute)), perMinute)
		buckets[k] = b
	}
	r := b.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		// Refused: the request takes nothing, so waiting d is enough.
		r.CancelAt(now)
		return d
	}
	return 0
}

// Give returns to key the token a Take under the same perMinute took, for a
// request that turned out not to count (keel's right TOTP codes: only wrong
// ones are limited). A bucket never holds more than its burst, so giving to
// a full (or absent) bucket does nothing. Taking before the outcome is
// known and giving back after, rather than taking only on a failure, is
// what keeps concurrent failures within the limit: each one has taken its
// token before it is judged.
func (m *Memory) Give(key string, perMinute int, now time.Time) {
	if perMinute <= 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	ns, _, found := strings.Cut(key, ":")
	if !found {
		ns = ""
	}
	buckets := m.spaces[ns]
	k := bucketKey{perMinute, key}
	b, ok := buckets[k]
	if !ok {
		return
	}
	if b.TokensAt(now)+1 >= float64(b.Burst()) {
		delete(buckets, k) // full again: the same as no bucket
		return
	}
	b.ReserveN(now, -1) // a negative reservation adds a token
}

// Prune drops the buckets that are full at now (they behave exactly like
// new ones) and returns how many.
func (m *Memory) Prune(now time.Time) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sweep(now)
}

// Len is how many buckets m holds.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, buckets := range m.spaces {
		n += len(buckets)
	}
	return n
}

func (m *Memory) sweep(now time.Time) int64 {
	var n int64
	for _, buckets := range m.spaces {
		for k, b := range buckets {
			if b.TokensAt(now) >= float64(b.Burst()) {
				delete(buckets, k)
				n++
			}
		}
	}
	m.lastSweep = now
	return n
}
