package jobs

import (
	"crypto/rand"
	"encoding/base64"
)

// newOneTimeToken returns a fresh emailed token: 256 random bits, base64url.
// The worker that sends the email makes it, so the plaintext exists only in
// the email, never in River's job args or the database.
func newOneTimeToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}
