package db

import (
	"context"
	"errors"
	"time"
)

// TransferUser is one account as keel users export reads it and keel users
// import writes it (internal/transfer): the account with everything it
// signs in with.
type TransferUser struct {
	// ID is the account's id; on import, 0 lets the store give one.
	ID            int64
	Email         string
	EmailVerified bool
	// PasswordHash is keel's bcrypt or a foreign hash (internal/password),
	// "" for an account without a password.
	PasswordHash string
	CreatedAt    time.Time
	// ExternalID names the account in the system it came from ("" none).
	ExternalID string
	// AppMetadata and UserMetadata are JSON objects.
	AppMetadata, UserMetadata string
	// PasskeyHandle is the account's WebAuthn user handle (nil: none).
	PasskeyHandle []byte
	Identities    []TransferIdentity
	Passkeys      []Passkey
	// Factors are the verified TOTP factors, each Secret sealed under
	// keel's key for the factor's ID (internal/mfa).
	Factors []Factor
}

// TransferIdentity is a provider account linked to a TransferUser.
type TransferIdentity struct {
	Provider, Subject, Email string
	Trusted                  bool
	CreatedAt                time.Time
}

// ErrIDTaken is an imported account id that is another account's.
var ErrIDTaken = errors.New("db: the account id is another account's")

// ErrHandleTaken is an imported passkey user handle that names another
// account already.
var ErrHandleTaken = errors.New("db: passkey user handle belongs to another account")

// Transfer moves accounts out of and into keel.
type Transfer interface {
	// ExportUsers returns up to limit accounts whose id is over after, in id
	// order, with their identities, passkeys and verified factors.
	ExportUsers(ctx context.Context, after int64, limit int) ([]TransferUser, error)
	// ImportUsers stores each of us with all it holds, and e for each
	// (its user id filled in), in one transaction: each account all of it
	// or nothing. An account whose ExternalID is already an account's
	// changes nothing (that account's id, Created false). An account
	// refused for what another holds (IsImportRefusal: ErrEmailTaken,
	// ErrPasskeyTaken, ErrIdentityTaken, ErrHandleTaken, ErrIDTaken) has
	// its error in its result and the others go on; any other error stores
	// nothing of the batch.
	ImportUsers(ctx context.Context, us []TransferUser, e Event) ([]ImportResult, error)
	// IDsNeverGiven reports that no account was ever stored (none there,
	// none deleted): only then may an import keep the ids its lines give.
	IDsNeverGiven(ctx context.Context) (bool, error)
}

// ImportResult is what ImportUsers did with one account.
type ImportResult struct {
	ID      int64
	Created bool
	Err     error // an import refusal (IsImportRefusal), or nil
}

// IsImportRefusal reports whether err refuses one imported account for
// something another account holds already.
func IsImportRefusal(err error) bool {
	for _, e := range []error{ErrEmailTaken, ErrPasskeyTaken, ErrIdentityTaken, ErrHandleTaken, ErrIDTaken} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
