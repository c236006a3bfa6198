// Package admin is who may call keel's admin API (docs/admin.md, "Who is an
// admin"), written once and without HTTP: the rule a person passes on every
// admin request and the rule a machine's token passes. server/admin.go
// applies them to each request with what the database says at that moment
// (a revoked admin is refused at their next request); the store (db.Admins)
// keeps the role in users.role, never in app_metadata, which the app reads
// and an admin writes.
package admin

import (
	"errors"
	"slices"
	"time"

	"github.com/keelhq/keel/db"
)

// Scope is the client_credentials scope a machine's token needs for the
// admin API (a client registered with it: keel clients create --scope admin).
const Scope = "admin"

// The refusals of the rules below; the HTTP layer maps each to its problem.
var (
	// ErrNotAdmin is a person without the admin role, or a machine whose
	// token lacks the admin scope.
	ErrNotAdmin = errors.New("admin: the caller is not an admin")
	// ErrSecondFactor is an admin person without a verified second factor,
	// or whose session is not aal2.
	ErrSecondFactor = errors.New("admin: an admin needs a verified second factor and an aal2 session")
	// ErrFreshProof is a destructive operation from a session whose last
	// proof of its user is older than REAUTH_MAX_AGE, or none.
	ErrFreshProof = errors.New("admin: a destructive admin operation needs a fresh proof")
)

// Person is what the database says, on this request, of a person calling
// an admin operation.
type Person struct {
	Role string
	// HasFactor: the account has a verified second factor.
	HasFactor bool
	// AAL2: the session was raised by a second factor (and is still).
	AAL2 bool
	// AuthTime is the session's last proof of its user; zero when never.
	AuthTime time.Time
}

// CheckPerson is the rule a person passes at now: the admin role, a
// verified second factor and an aal2 session (a password alone, stolen or
// guessed, never reaches the admin API), and for a destructive operation a
// proof of the user younger than maxAge (a session left open cannot ban,
// delete or promote).
func CheckPerson(p Person, destructive bool, now time.Time, maxAge time.Duration) error {
	switch {
	case p.Role != db.RoleAdmin:
		return ErrNotAdmin
	case !p.HasFactor || !p.AAL2:
		return ErrSecondFactor
	case destructive && (p.AuthTime.IsZero() || now.Sub(p.AuthTime) >= maxAge):
		return ErrFreshProof
	}
	return nil
}

// CheckMachine is the rule a machine's token passes (its signature, its
// client's life and its other claims are the provider's to check): the
// admin scope. A machine has no second factor and no proof to refresh: its
// secret is its one credential, and its tokens live JWT_TTL.
func CheckMachine(scopes []string) error {
	if !slices.Contains(scopes, Scope) {
		return ErrNotAdmin
	}
	return nil
}
