package verify

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// retryAfterFailure is how long a failed fetch is remembered: until then
// a token that needs a fetch gets that failure again without a request, so a
// broken keel is not asked once per token.
const retryAfterFailure = time.Second

// maxFetchTime bounds one fetch of the set whatever the HTTP client's
// timeout, so that a hung request never holds every caller waiting on it.
const maxFetchTime = 30 * time.Second

// keySet is the issuer's key set as last fetched. It is fetched again when
// it is older than its max-age, and when a token names a kid it does not
// hold, at most once every refetchInterval; concurrent callers share one
// fetch.
type keySet struct {
	url             string
	client          *http.Client
	now             func() time.Time
	refetchInterval time.Duration
	defaultMaxAge   time.Duration

	mu        sync.Mutex
	keys      map[string]publicKey
	expires   time.Time // when keys are too old to use
	fetchedAt time.Time // when the last fetch, good or not, started
	lastErr   error     // the last fetch's failure; nil after a success
	inflight  *fetch
}

// fetch is one fetch of the set, which several callers may wait for.
type fetch struct {
	done chan struct{}
	err  error
}

// key returns the key named kid, fetching the set first when it is stale,
// or when it lacks kid and the last fetch is older than refetchInterval.
// errUnknownKey says kid is not in a fresh enough set; any other error is a
// failed fetch.
func (s *keySet) key(ctx context.Context, kid string) (publicKey, error) {
	s.mu.Lock()
	now := s.now()
	k, ok := s.keys[kid]
	stale := !now.Before(s.expires)
	sinceFetch := now.Sub(s.fetchedAt)
	switch {
	case !stale && ok:
		s.mu.Unlock()
		return k, nil
	case !stale && sinceFetch < s.refetchInterval:
		s.mu.Unlock()
		return publicKey{}, errUnknownKey
	case s.lastErr != nil && sinceFetch < retryAfterFailure && s.inflight == nil:
		err := s.lastErr
		s.mu.Unlock()
		return publicKey{}, err
	}
	f := s.startLocked(ctx)
	s.mu.Unlock()

	select {
	case <-ctx.Done():
		return publicKey{}, ctx.Err()
	case <-f.done:
	}
	if f.err != nil {
		return publicKey{}, f.err
	}
	s.mu.Lock()
	k, ok = s.keys[kid]
	s.mu.Unlock()
	if !ok {
		return publicKey{}, errUnknownKey
	}
	return k, nil
}

// refresh fetches the set now and waits for it (New's first fetch).
func (s *keySet) refresh(ctx context.Context) error {
	s.mu.Lock()
	f := s.startLocked(ctx)
	s.mu.Unlock()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-f.done:
		return f.err
	}
}

// startLocked starts a fetch, or returns the one under way. The fetch runs
// on its own, unaffected by the cancellation of the caller that started it,
// since others may be waiting for it (maxFetchTime bounds it).
func (s *keySet) startLocked(ctx context.Context) *fetch {
	if s.inflight != nil {
		return s.inflight
	}
	f := &fetch{done: make(chan struct{})}
	s.inflight = f
	started := s.now()
	s.fetchedAt = started
	go func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), maxFetchTime)
		defer cancel()
		keys, maxAge, err := fetchKeys(ctx, s.client, s.url, s.defaultMaxAge)
		s.mu.Lock()
		if err == nil {
			s.keys, s.expires = keys, started.Add(maxAge)
		}
		s.lastErr, s.inflight = err, nil
		f.err = err
		s.mu.Unlock()
		close(f.done)
	}()
	return f
}
