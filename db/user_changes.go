package db

import (
	"context"
	"database/sql"
	"time"
)

// MaxMetadataBytes is the most an account's app_metadata or user_metadata
// may hold, as compact JSON: each is read with the account (user_metadata
// by every bearer check, app_metadata by every refresh that puts claims in
// tokens), so neither may grow without bound.
const MaxMetadataBytes = 16 << 10

// NewAccount is an account an admin makes (POST /admin/users): unlike a
// registration it may have no password (PasswordHash empty: an invitation,
// or a password set later through the reset mail), an address the admin
// vouches for, and app_metadata (a JSON object, "" for {}).
type NewAccount struct {
	Email         string
	PasswordHash  string
	EmailVerified bool
	AppMetadata   string
	CreatedAt     time.Time
}

// UserChange is a change to an account's own fields; a nil field is left as
// it is. Metadata is a JSON object's compact text, which replaces the old.
type UserChange struct {
	Email         *string
	EmailVerified *bool
	AppMetadata   *string
	UserMetadata  *string
}

// FactorsReset is what ResetFactors removed.
type FactorsReset struct {
	// Factors is how many TOTP factors (verified or not), RecoveryCodes how
	// many unspent recovery codes, Passkeys how many passkeys went.
	Factors, RecoveryCodes, Passkeys int64
}

// UserChanges are an operator's changes to accounts (the admin API,
// docs/admin.md), and the user's own metadata. Each runs after, when not
// nil, in its transaction (to record its event and queue its mail); its
// error rolls the change back.
type UserChanges interface {
	// CreateAccount stores n: ErrEmailTaken when its address has an account
	// in any letter case. after gets the new user.
	CreateAccount(ctx context.Context, n NewAccount, after func(*sql.Tx, User) error) (User, error)
	// UpdateUser applies ch to the account id under its row lock and
	// returns it before and after: ErrNoUser, ErrEmailTaken. A new address
	// is unverified unless ch.EmailVerified says true, and voids the
	// verification and reset links mailed to the old one. after gets the
	// account before and after the change.
	UpdateUser(ctx context.Context, id int64, ch UserChange, after func(tx *sql.Tx, before, after User) error) (User, User, error)
	// EndUserSessions ends every session of the account id (announced: its
	// sockets close; the grants to clients among them end) and voids its
	// provider sign-in codes and link flows not yet redeemed, which would
	// start sessions after it: ErrNoUser. It returns how many sessions ended.
	EndUserSessions(ctx context.Context, id int64, after func(*sql.Tx) error) (int64, error)
	// ResetFactors removes the account id's TOTP factors and recovery codes,
	// and its passkeys (with their ceremonies) when passkeys is true, and
	// ends every session of it as EndUserSessions does: ErrNoUser. after
	// gets what went. With nothing to remove it changes nothing (no session
	// ends, after is not called) and returns zeros.
	ResetFactors(ctx context.Context, id int64, passkeys bool, after func(*sql.Tx, FactorsReset) error) (FactorsReset, error)
}
