package server

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// passwords hashes and checks passwords with bcrypt. Hashing and comparison
// live together so that a wrong password and an unknown email cost the same.
//
// bcrypt is deliberately slow, so it runs in a bounded pool: at most `workers`
// at once (about one per CPU, so the rest of the API keeps a share of the
// CPUs), with at most `queue` requests waiting. Past that a request fails fast
// with errBusy (503 with Retry-After) instead of piling up.
type passwords struct {
	cost    int
	slots   chan struct{}
	queue   int64
	waiting atomic.Int64
	// compare is bcrypt.CompareHashAndPassword. It is a field so that a test
	// can see which hashes a login compared against, and how often: the
	// timing promise is about comparisons made, not calls of check.
	compare func(hash, password []byte) error
	// dummy is a hash of a fixed password at the configured cost, compared
	// against when the email is unknown so that login takes the same time
	// either way.
	dummy func() []byte
}

func newPasswords(cost, workers, queue int) *passwords {
	p := &passwords{cost: cost, slots: make(chan struct{}, max(workers, 1)), queue: int64(queue),
		compare: bcrypt.CompareHashAndPassword}
	dummy := sync.OnceValue(func() []byte {
		h, err := bcrypt.GenerateFromPassword([]byte("keel-dummy-password-for-timing"), cost)
		if err != nil {
			panic(err) // only a bad cost fails, and LoadConfig refuses those
		}
		return h
	})
	p.dummy = dummy
	// Made a little after start, off the start-up path, or at first need.
	time.AfterFunc(2*time.Second, func() { dummy() })
	return p
}

// maxPasswordBytes is bcrypt's input limit.
const maxPasswordBytes = 72

var (
	// errPasswordTooLong is a password over bcrypt's 72-byte input limit:
	// refused, never silently truncated.
	errPasswordTooLong = &fieldError{field: "/password", reason: "must be at most 72 bytes in UTF-8 (bcrypt reads no more)"}
	// errBusy is the pool's queue being full.
	errBusy = &retryLater{status: http.StatusServiceUnavailable, after: time.Second,
		detail: "the server is busy checking passwords; retry after the time in Retry-After"}
)

// QueueDepth is how many requests wait for a bcrypt worker now.
func (p *passwords) QueueDepth() int64 { return p.waiting.Load() }

// run runs fn on a pool worker, waiting for one if the queue has room.
func (p *passwords) run(ctx context.Context, fn func()) error {
	select {
	case p.slots <- struct{}{}: // a worker is free: no queueing
	default:
		if p.waiting.Add(1) > p.queue {
			p.waiting.Add(-1)
			return errBusy
		}
		select {
		case p.slots <- struct{}{}:
			p.waiting.Add(-1)
		case <-ctx.Done():
			p.waiting.Add(-1)
			return ctx.Err()
		}
	}
	defer func() { <-p.slots }()
	fn()
	return nil
}

// hash returns the bcrypt hash of password.
func (p *passwords) hash(ctx context.Context, password string) (h []byte, err error) {
	if len(password) > maxPasswordBytes {
		return nil, errPasswordTooLong
	}
	if perr := p.run(ctx, func() { h, err = bcrypt.GenerateFromPassword([]byte(password), p.cost) }); perr != nil {
		return nil, perr
	}
	return h, err
}

// check returns nil when password matches hash, else errBadCredentials. A nil
// hash (unknown user) is compared against the dummy hash so that the answer
// takes the same time. A password bcrypt could never have hashed is refused
// as such.
func (p *passwords) check(ctx context.Context, hash []byte, password string) error {
	if len(password) > maxPasswordBytes {
		return errPasswordTooLong
	}
	ok := false
	err := p.run(ctx, func() {
		if hash == nil {
			_ = p.compare(p.dummy(), []byte(password))
			return
		}
		ok = p.compare(hash, []byte(password)) == nil
	})
	switch {
	case err != nil:
		return err
	case !ok:
		return errBadCredentials
	}
	return nil
}
