package jobs

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"time"

	"github.com/keelhq/keel/db"
)

// newOneTimeToken returns a fresh emailed token: 256 random bits, base64url.
// The worker that sends the email makes it, so the plaintext exists only in
// the email, never in River's job args or the database.
func newOneTimeToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// issueOneTimeToken makes a token for the user's address, stores its hash
// with purpose until expires, and returns the plaintext for the mail. A
// retry of the mail's job makes a new one: the old was never delivered, or,
// if it was, stays good until it expires.
func issueOneTimeToken(ctx context.Context, store db.OneTimeTokens, userID int64, email, purpose string, expires time.Time) (string, error) {
	token := newOneTimeToken()
	err := store.CreateOneTimeToken(ctx, db.OneTimeToken{Hash: db.HashToken(token), UserID: userID, Purpose: purpose, Email: email, ExpiresAt: expires})
	return token, err
}
