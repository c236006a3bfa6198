package token_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/keelhq/keel/db/sqlite"
	"github.com/keelhq/keel/internal/keys"
	"github.com/keelhq/keel/internal/token"
)

// TestHS256WindowCloses: on an install with keys, an HS256 token is accepted
// while WithHS256Until allows it and refused after, even one verified (and
// so cached) inside the window whose exp is later: JWT_SECRET's holder
// could mint one with any exp while HS256 was accepted.
func TestHS256WindowCloses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "keel.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ring, err := keys.Open(ctx, st, keys.Config{Alg: keys.EdDSA, KEK: []byte("hs256-window-kek-0123456789abcdef01234"),
		TokenTTL: time.Minute, MaxAge: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	const secret = "hs256-window-secret-0123456789abcdef0123"
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	until := now.Add(time.Minute)
	iss := token.New([]byte(secret), time.Minute, clock, token.WithKeys(ring),
		token.WithClaims("https://api.example.com", token.DefaultAudience), token.WithHS256Until(until))

	j := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iss": "https://api.example.com", "aud": token.DefaultAudience, "sub": "7", "sid": token.NewSessionID(),
		"iat": now.Unix(), "exp": now.Add(24 * time.Hour).Unix(),
	})
	j.Header["typ"] = token.Type
	raw, err := j.SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := iss.Verify(raw); err != nil {
		t.Fatalf("an HS256 token inside the window: %v", err)
	}
	now = until.Add(time.Second)
	if _, err := iss.Verify(raw); err == nil {
		t.Error("an HS256 token verified inside the window is accepted after it (from the verified-token cache)")
	}
}
