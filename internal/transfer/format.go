// Package transfer moves accounts out of and into keel: `keel users export`
// writes one account a line (NDJSON, Line) and `keel users import` reads
// that format, with the password hashes of other systems (internal/password
// checks them, and keel rehashes at each user's first sign-in). It holds the
// line format, the checks of a line, and the sealing of TOTP secrets for
// the trip; the store (db.Transfer) writes each line in a transaction of its
// own, so a bad line imports nothing of itself and stops no other.
package transfer

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"time"
)

// Line is one account in the file: docs/admin.md ("Moving users") documents
// every field. Binary values are base64url without padding (Bytes).
type Line struct {
	// ID is the account's id in keel: kept when importing into a keel
	// without accounts, ignored otherwise.
	ID            int64  `json:"id,omitempty"`
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
	// PasswordHash is keel's bcrypt or a foreign hash; with PasswordSalt,
	// a Firebase scrypt hash (standard or URL base64, as Firebase's CLI and
	// Admin SDK write them), read under the project's parameters given as
	// flags.
	PasswordHash string `json:"password_hash,omitempty"`
	PasswordSalt string `json:"password_salt,omitempty"`
	// CreatedAt defaults to the time of the import.
	CreatedAt    *time.Time      `json:"created_at,omitempty"`
	ExternalID   *string         `json:"external_id,omitempty"`
	AppMetadata  json.RawMessage `json:"app_metadata,omitempty"`
	UserMetadata json.RawMessage `json:"user_metadata,omitempty"`
	// PasskeyUserHandle is the account's WebAuthn user handle: what its
	// passkeys' authenticators return at a discoverable sign-in.
	PasskeyUserHandle Bytes      `json:"passkey_user_handle,omitempty"`
	Identities        []Identity `json:"identities,omitempty"`
	Passkeys          []Passkey  `json:"passkeys,omitempty"`
	TOTP              []TOTP     `json:"totp,omitempty"`
}

// Identity is a provider account linked to the account.
type Identity struct {
	Provider  string     `json:"provider"`
	Subject   string     `json:"subject"`
	Email     string     `json:"email"`
	Trusted   bool       `json:"trusted"`
	CreatedAt *time.Time `json:"created_at,omitempty"`
}

// Passkey is a WebAuthn credential of the account.
type Passkey struct {
	ID              string     `json:"id,omitempty"`
	CredentialID    Bytes      `json:"credential_id"`
	PublicKey       Bytes      `json:"public_key"`
	Name            string     `json:"name,omitempty"`
	AttestationType string     `json:"attestation_type,omitempty"`
	AAGUID          Bytes      `json:"aaguid,omitempty"`
	Transports      []string   `json:"transports,omitempty"`
	SignCount       int64      `json:"sign_count"`
	UserVerified    bool       `json:"user_verified"`
	BackupEligible  bool       `json:"backup_eligible"`
	BackupState     bool       `json:"backup_state"`
	CreatedAt       *time.Time `json:"created_at,omitempty"`
	LastUsedAt      *time.Time `json:"last_used_at,omitempty"`
}

// TOTP is a verified TOTP factor: its secret sealed under the key of
// --totp-key-file for the factor's ID (ExportKey).
type TOTP struct {
	ID        string     `json:"id"`
	Secret    Bytes      `json:"secret"`
	LastStep  int64      `json:"last_step"`
	CreatedAt *time.Time `json:"created_at,omitempty"`
}

// Bytes is binary data in JSON as base64url without padding (WebAuthn's
// own encoding); standard base64, padded or not, is read too.
type Bytes []byte

// MarshalJSON implements json.Marshaler.
func (b Bytes) MarshalJSON() ([]byte, error) {
	return json.Marshal(base64.RawURLEncoding.EncodeToString(b))
}

// UnmarshalJSON implements json.Unmarshaler.
func (b *Bytes) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	out, err := DecodeBase64(s)
	if err != nil {
		return err
	}
	*b = out
	return nil
}

// DecodeBase64 reads base64url or standard base64, padded or not.
func DecodeBase64(s string) ([]byte, error) {
	s = string(bytes.TrimRight([]byte(s), "="))
	if b, err := base64.RawURLEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.DecodeString(s)
}
