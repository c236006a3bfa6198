package verify

import (
	"net/http"
	"time"
)

// Defaults of the options.
const (
	// DefaultAudience is the aud a keel access token carries unless keel's
	// JWT_AUDIENCE says otherwise.
	DefaultAudience = "keel"
	// DefaultLeeway is the clock skew allowed when checking exp and iat.
	DefaultLeeway = 30 * time.Second
	// DefaultRefetchInterval is the shortest time between two fetches of the
	// key set caused by tokens naming a kid it does not hold.
	DefaultRefetchInterval = time.Minute
	// DefaultMaxAge is how long a key set is kept when its response has no
	// Cache-Control max-age (keel always sends one).
	DefaultMaxAge = 5 * time.Minute
	// minMaxAge is the least a key set is kept, whatever max-age says
	// (max-age=0, no-cache), so that verifying never costs a fetch per token.
	minMaxAge = time.Second
)

type config struct {
	audience        string
	leeway          time.Duration
	client          *http.Client
	refetchInterval time.Duration
	maxAge          time.Duration
	now             func() time.Time
}

func defaults() config {
	return config{
		audience:        DefaultAudience,
		leeway:          DefaultLeeway,
		client:          &http.Client{Timeout: 10 * time.Second},
		refetchInterval: DefaultRefetchInterval,
		maxAge:          DefaultMaxAge,
		now:             time.Now,
	}
}

// An Option changes one of New's defaults.
type Option func(*config)

// WithAudience sets the aud a token must contain: keel's JWT_AUDIENCE
// (DefaultAudience unless set).
func WithAudience(aud string) Option { return func(c *config) { c.audience = aud } }

// WithLeeway sets the clock skew allowed between keel and this service when
// checking exp and iat (DefaultLeeway). Keep it small: an expired token is
// accepted for that long.
func WithLeeway(d time.Duration) Option {
	return func(c *config) { c.leeway = max(d, 0) }
}

// WithHTTPClient sets the client that fetches the discovery document and the
// key set (by default one with a 10-second timeout). A fetch of the key set
// takes 30 seconds at most, whatever the client's timeout.
func WithHTTPClient(client *http.Client) Option {
	return func(c *config) {
		if client != nil {
			c.client = client
		}
	}
}

// WithRefetchInterval sets the shortest time between two fetches of the key
// set caused by a token naming an unknown kid (DefaultRefetchInterval).
func WithRefetchInterval(d time.Duration) Option {
	return func(c *config) { c.refetchInterval = max(d, 0) }
}

// WithDefaultMaxAge sets how long a key set is kept when its response says
// no Cache-Control max-age (DefaultMaxAge). A max-age in the response wins.
func WithDefaultMaxAge(d time.Duration) Option {
	return func(c *config) { c.maxAge = max(d, minMaxAge) }
}

// WithClock sets the clock that exp, iat and the cache's ages are read
// from (time.Now), for tests.
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now != nil {
			c.now = now
		}
	}
}
