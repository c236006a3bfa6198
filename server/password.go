package server

import (
	"context"
	"errors"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// passwords hashes and checks passwords with bcrypt. Hashing and comparison
// live together so that a wrong password and an unknown email cost the same.
type passwords struct {
	cost int
	// dummy is a hash of a random password at the configured cost, compared
	// against when the email is unknown so that login takes the same time
	// either way. It is made once, off the start-up path.
	dummy func() []byte
}

func newPasswords(cost int) *passwords {
	p := &passwords{cost: cost}
	p.dummy = sync.OnceValue(func() []byte {
		h, err := bcrypt.GenerateFromPassword([]byte("keel-dummy-password-for-timing"), cost)
		if err != nil {
			panic(err) // only a bad cost fails, and LoadConfig refuses those
		}
		return h
	})
	go p.dummy()
	return p
}

// maxPasswordBytes is bcrypt's input limit.
const maxPasswordBytes = 72

// errPasswordTooLong is a password over bcrypt's 72-byte input limit: refused,
// never silently truncated.
var errPasswordTooLong = &fieldError{field: "/password", reason: "must be at most 72 bytes in UTF-8 (bcrypt reads no more)"}

// hash returns the bcrypt hash of password.
func (p *passwords) hash(_ context.Context, password string) ([]byte, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), p.cost)
	if errors.Is(err, bcrypt.ErrPasswordTooLong) {
		return nil, errPasswordTooLong
	}
	return h, err
}

// check returns nil when password matches hash, else errBadCredentials. A nil
// hash (unknown user) is compared against the dummy hash so that the answer
// takes the same time. A password bcrypt could never have hashed is refused
// as such.
func (p *passwords) check(_ context.Context, hash []byte, password string) error {
	if len(password) > maxPasswordBytes {
		return errPasswordTooLong
	}
	if hash == nil {
		_ = bcrypt.CompareHashAndPassword(p.dummy(), []byte(password))
		return errBadCredentials
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil {
		return errBadCredentials
	}
	return nil
}
