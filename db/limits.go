package db

import "errors"

// What one account may hold at most. The store enforces them, under the
// account's row lock, so two registrations at once cannot pass a cap: each
// is a bound on what an attacker holding a session (or a script gone wrong)
// can pile onto an account, rows every sign-in, listing and mail walks.
const (
	// MaxPasskeys is the most passkeys an account may hold.
	MaxPasskeys = 20
	// MaxIdentities is the most provider accounts an account may link.
	MaxIdentities = 10
	// MaxSessions is the most sessions an account keeps: a new one past it
	// ends the least recently used (announced like every ending, so its
	// sockets close).
	MaxSessions = 100
)

var (
	// ErrTooManyPasskeys is a passkey past MaxPasskeys.
	ErrTooManyPasskeys = errors.New("db: the account holds as many passkeys as it may")
	// ErrTooManyIdentities is a linked identity past MaxIdentities.
	ErrTooManyIdentities = errors.New("db: the account links as many identities as it may")
)
