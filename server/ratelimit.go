package server

import (
	"context"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"

	"github.com/keelhq/keel/db"
)

// ipLimiter is a token bucket per client IP: perMinute requests a minute, with
// a burst of the same size. Buckets that have refilled are dropped now and
// then, so memory stays bounded by the clients of the last minute.
type ipLimiter struct {
	every time.Duration
	burst int
	now   func() time.Time

	mu        sync.Mutex
	buckets   map[string]*rate.Limiter
	lastSweep time.Time
}

func newIPLimiter(perMinute int, now func() time.Time) *ipLimiter {
	return &ipLimiter{
		every:   time.Minute / time.Duration(perMinute),
		burst:   perMinute,
		now:     now,
		buckets: map[string]*rate.Limiter{},
	}
}

// take admits one request from key and returns 0, or refuses it and returns
// how long key must wait.
func (l *ipLimiter) take(_ context.Context, key string) (time.Duration, error) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) > time.Minute || len(l.buckets) >= maxBuckets {
		l.sweep(now)
		if len(l.buckets) >= maxBuckets {
			clear(l.buckets)
		}
	}
	b, ok := l.buckets[key]
	if !ok {
		b = rate.NewLimiter(rate.Every(l.every), l.burst)
		l.buckets[key] = b
	}
	r := b.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d, nil
	}
	return 0, nil
}

// sweep drops full buckets: they behave exactly like new ones.
func (l *ipLimiter) sweep(now time.Time) {
	for ip, b := range l.buckets {
		if b.TokensAt(now) >= float64(l.burst) {
			delete(l.buckets, ip)
		}
	}
	l.lastSweep = now
}

// maxBuckets bounds the limiter's memory (~200 bytes a bucket) against a
// flood of addresses; past it, full buckets are swept at once, and if that is
// not enough the oldest state is dropped wholesale.
const maxBuckets = 100_000

// clientKey is the bucket a client address counts against: the address for
// IPv4, its /64 network for IPv6, where one subscriber typically holds a
// whole /64 and could otherwise rotate addresses to dodge the limit.
func clientKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Is4() || a.Is4In6() {
		return ip
	}
	p, err := a.Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
}

// authLimiter admits or refuses one request from a client key.
type authLimiter interface {
	take(ctx context.Context, key string) (time.Duration, error)
}

// storeLimiter is the limit kept in the database (PostgreSQL), the same for
// every replica.
type storeLimiter struct {
	rl        db.RateLimiter
	perMinute int
	now       func() time.Time
}

func (l storeLimiter) take(ctx context.Context, key string) (time.Duration, error) {
	return l.rl.TakeAuthToken(ctx, key, l.perMinute, l.now())
}

// limitAuth applies the per-IP limit to the operations the spec marks with
// x-keel-rate-limit. On a store that keeps the limit for the whole cluster
// (PostgreSQL) it counts there; otherwise in this process.
func (s *Server) limitAuth() echo.MiddlewareFunc {
	if s.cfg.AuthRateLimit <= 0 {
		return func(next echo.HandlerFunc) echo.HandlerFunc { return next }
	}
	var l authLimiter = newIPLimiter(s.cfg.AuthRateLimit, s.now)
	if rl, ok := s.store.(db.RateLimiter); ok {
		l = storeLimiter{rl, s.cfg.AuthRateLimit, s.now}
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if op := s.ops[opKey{c.Request().Method, c.Path()}]; op == nil || !op.rateLimited {
				return next(c)
			}
			d, err := l.take(c.Request().Context(), clientKey(c.RealIP()))
			if err != nil {
				return err
			}
			if d > 0 {
				return &retryLater{status: http.StatusTooManyRequests, after: d,
					detail: "too many attempts from this address; retry after the time in Retry-After"}
			}
			return next(c)
		}
	}
}

// emailsPerMinute is how many emails (reset or verification) one address may
// be sent a minute: the per-IP limit alone would let a botnet flood one inbox.
const emailsPerMinute = 1

// newEmailLimiter is the per-address limit of POST /password/forgot and
// POST /email/verify/resend, on whenever AUTH_RATE_LIMIT is. Keys are SHA-256
// hashes: the rate-limit table holds no address in the clear (though a
// dictionary of known addresses would match them).
func (s *Server) newEmailLimiter() authLimiter {
	if s.cfg.AuthRateLimit <= 0 {
		return nil
	}
	if rl, ok := s.store.(db.RateLimiter); ok {
		return storeLimiter{rl, emailsPerMinute, s.now}
	}
	return newIPLimiter(emailsPerMinute, s.now)
}

// limitEmail admits one email to address, or refuses it with 429.
// Known and unknown addresses count alike, so the answer says nothing of
// which exist.
func (s *Server) limitEmail(ctx context.Context, address string) error {
	if s.emailLimit == nil {
		return nil
	}
	d, err := s.emailLimit.take(ctx, "email:"+db.HashToken(address))
	if err != nil {
		return err
	}
	if d > 0 {
		return &retryLater{status: http.StatusTooManyRequests, after: d,
			detail: "too many emails for this address; retry after the time in Retry-After"}
	}
	return nil
}
