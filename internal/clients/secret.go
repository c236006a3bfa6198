package clients

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
)

// IDPrefix begins every client id. It is not a digit, so a client id never
// reads as a user's (a `sub` is a user id in decimal), and it is not a
// JWT_AUDIENCE keel would pick, so a client's tokens never name keel's own
// API as their audience.
const IDPrefix = "kc_"

// NewID returns a new client id: IDPrefix and 128 random bits in base64url
// without padding (22 characters).
func NewID() string {
	return IDPrefix + base64.RawURLEncoding.EncodeToString(random(16))
}

// NewSecret returns a new client secret, 256 random bits in base64url
// without padding (43 characters), and its hash to store. The secret is
// shown once and never stored: a leaked database holds no usable secret.
func NewSecret() (secret, hash string) {
	secret = base64.RawURLEncoding.EncodeToString(random(32))
	return secret, HashSecret(secret)
}

// HashSecret is the stored form of a secret: its SHA-256 in lower-case hex.
// A fast hash suffices, unlike a password's: the secret has 256 random bits,
// so there is nothing to guess.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// CheckSecret reports whether secret is c's. A public client has none, and
// an empty secret is never right. The hashes are compared in constant time,
// so the time taken says nothing of how much of a guess was right.
func (c Client) CheckSecret(secret string) bool {
	if c.Kind != Confidential || c.SecretHash == "" || secret == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(HashSecret(secret)), []byte(c.SecretHash)) == 1
}

// random returns n bytes from the system's generator (crypto/rand.Read
// never fails; it crashes the program rather than return weak bytes).
func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
