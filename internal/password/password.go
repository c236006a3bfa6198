// Package password hashes and checks passwords with bcrypt. Hashing and
// comparison live together so that a wrong password and an unknown email
// cost the same. It also checks the hashes of other systems that an import
// brings (foreign.go), until a sign-in replaces them with keel's own.
//
// bcrypt is deliberately slow, so it runs in a bounded pool: at most
// `workers` at once (about one per CPU, so the rest of the API keeps a share
// of the CPUs), with at most `queue` requests waiting. Past that a request
// fails fast with ErrBusy instead of piling up.
package password

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// MaxBytes is bcrypt's input limit.
const MaxBytes = 72

// MinCost and MaxCost bound the cost New accepts (bcrypt's own bounds).
const (
	MinCost = bcrypt.MinCost
	MaxCost = bcrypt.MaxCost
)

var (
	// ErrTooLong is a password over bcrypt's 72-byte input limit: refused,
	// never silently truncated.
	ErrTooLong = errors.New("password: longer than 72 bytes")
	// ErrBusy is the pool's queue being full.
	ErrBusy = errors.New("password: the hashing queue is full")
	// ErrMismatch is a password that does not match (or a user that does
	// not exist: Check cannot tell them apart, on purpose).
	ErrMismatch = errors.New("password: mismatch")
)

// Pool hashes and checks passwords on a bounded number of workers.
type Pool struct {
	cost    int
	slots   chan struct{}
	queue   int64
	waiting atomic.Int64
	// Compare is this package's Compare: bcrypt, or a foreign hash an
	// import stored (foreign.go). It is a field for tests
	// only: one that wraps it sees which hashes a login compared against,
	// and how often (the timing promise is about comparisons made, not
	// calls of Check). Set it before use; never in production.
	Compare func(hash, password []byte) error
	dummy   func() []byte
}

// New returns a pool hashing at cost with workers at once and queue waiting.
func New(cost, workers, queue int) *Pool {
	p := &Pool{cost: cost, slots: make(chan struct{}, max(workers, 1)), queue: int64(queue),
		Compare: Compare}
	dummy := sync.OnceValue(func() []byte {
		h, err := bcrypt.GenerateFromPassword([]byte("keel-dummy-password-for-timing"), cost)
		if err != nil {
			panic(err) // only a bad cost fails, and the configuration refuses those
		}
		return h
	})
	p.dummy = dummy
	// Made a little after start, off the start-up path, or at first need.
	time.AfterFunc(2*time.Second, func() { dummy() })
	return p
}

// Dummy is the hash an unknown user's password is compared against: a hash
// of a fixed password at the pool's cost, so that the comparison takes as
// long as a real one.
func (p *Pool) Dummy() []byte { return p.dummy() }

// SetDummy replaces the dummy hash, for tests that need a slow comparison.
func (p *Pool) SetDummy(hash []byte) { p.dummy = func() []byte { return hash } }

// QueueDepth is how many requests wait for a bcrypt worker now.
func (p *Pool) QueueDepth() int64 { return p.waiting.Load() }

// run runs fn on a pool worker, waiting for one if the queue has room.
func (p *Pool) run(ctx context.Context, fn func()) error {
	select {
	case p.slots <- struct{}{}: // a worker is free: no queueing
	default:
		if p.waiting.Add(1) > p.queue {
			p.waiting.Add(-1)
			return ErrBusy
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

// Hash returns the bcrypt hash of pw, ErrTooLong or ErrBusy.
func (p *Pool) Hash(ctx context.Context, pw string) (h []byte, err error) {
	if len(pw) > MaxBytes {
		return nil, ErrTooLong
	}
	if perr := p.run(ctx, func() { h, err = bcrypt.GenerateFromPassword([]byte(pw), p.cost) }); perr != nil {
		return nil, perr
	}
	return h, err
}

// Check returns nil when pw matches hash, else ErrMismatch (or ErrTooLong,
// ErrBusy). A nil hash (unknown user) is compared against the dummy hash so
// that the answer takes the same time, and is ErrMismatch. A password bcrypt
// could never have hashed is refused as such.
func (p *Pool) Check(ctx context.Context, hash []byte, pw string) error {
	if len(pw) > MaxBytes {
		return ErrTooLong
	}
	ok := false
	err := p.run(ctx, func() {
		if hash == nil {
			_ = p.Compare(p.dummy(), []byte(pw))
			return
		}
		ok = p.Compare(hash, []byte(pw)) == nil
	})
	switch {
	case err != nil:
		return err
	case !ok:
		return ErrMismatch
	}
	return nil
}
