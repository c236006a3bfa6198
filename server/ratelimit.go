package server

import (
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"
)

// retryLater is a request refused for now: 429 (rate limit) or 503 (bcrypt
// queue full), sent with Retry-After.
type retryLater struct {
	status int
	after  time.Duration
	detail string
}

func (e *retryLater) Error() string { return e.detail }

// retryAfterSeconds is the Retry-After value: whole seconds, at least 1.
func (e *retryLater) retryAfterSeconds() int {
	return max(1, int(math.Ceil(e.after.Seconds())))
}

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

// wait reports how long ip must wait before its next request; 0 admits it and
// takes a token.
func (l *ipLimiter) wait(ip string) time.Duration {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) > time.Minute {
		l.sweep(now)
	}
	b, ok := l.buckets[ip]
	if !ok {
		b = rate.NewLimiter(rate.Every(l.every), l.burst)
		l.buckets[ip] = b
	}
	r := b.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d
	}
	return 0
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

// limitAuth applies the per-IP limit to the routes that run bcrypt and are
// the targets of credential stuffing: /login and /register.
func (s *Server) limitAuth() echo.MiddlewareFunc {
	if s.cfg.AuthRateLimit <= 0 {
		return func(next echo.HandlerFunc) echo.HandlerFunc { return next }
	}
	l := newIPLimiter(s.cfg.AuthRateLimit, s.now)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if p := c.Path(); p != "/login" && p != "/register" {
				return next(c)
			}
			if d := l.wait(c.RealIP()); d > 0 {
				return &retryLater{status: http.StatusTooManyRequests, after: d,
					detail: "too many attempts from this address; retry after the time in Retry-After"}
			}
			return next(c)
		}
	}
}
