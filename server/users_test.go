package server

import (
	"encoding/base64"
	"strconv"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/keelhq/keel/gen/oapi"
)

func TestProfile(t *testing.T) {
	a := newTestAPI(t)
	user := a.mustRegister("ada@example.com", "password123")
	token := a.mustLogin("ada@example.com", "password123")
	secret := a.srv.tokens.secret
	sub := strconv.FormatInt(user.ID, 10)

	// sign makes a token with the given method, key and claims.
	sign := func(m jwt.SigningMethod, key any, c claims) string {
		s, err := jwt.NewWithClaims(m, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	now := a.clock.Now()
	valid := claims{RegisteredClaims: jwt.RegisteredClaims{Issuer: "keel", Subject: sub, IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))},
		SessionID: a.sessionOf(token)}
	with := func(f func(*claims)) claims { c := valid; f(&c); return c }

	bob := a.mustRegister("bob@example.com", "password123")
	bobToken := a.mustLogin("bob@example.com", "password123")
	// Bob's claims, with his live session: a token carrying them but not
	// signed with the secret would be served as Bob were its signature not
	// checked, so each forgery below can only fail for its signature.
	bobClaims := with(func(c *claims) { c.Subject = strconv.FormatInt(bob.ID, 10); c.SessionID = a.sessionOf(bobToken) })
	gone := a.mustRegister("gone@example.com", "password123")
	goneToken := a.mustLogin("gone@example.com", "password123")
	// Use the token once, so that it is in the verified-token cache.
	if rec := a.do("GET", "/profile", "", "Authorization", "Bearer "+goneToken); rec.Code != 200 {
		t.Fatalf("profile before deletion: %d", rec.Code)
	}
	a.db.exec(t, `DELETE FROM users WHERE id = %d`, gone.ID)

	tests := []struct {
		name   string
		auth   string // the Authorization header; none when empty
		status int
	}{
		{"ok", "Bearer " + token, 200},
		{"scheme in lower case", "bearer " + token, 200},
		{"token signed by the test", "Bearer " + sign(jwt.SigningMethodHS256, secret, valid), 200},
		{"missing header", "", 401},
		{"no token", "Bearer", 401},
		{"basic scheme", "Basic YWRhOnBhc3N3b3Jk", 401},
		{"not a JWT", "Bearer not-a-token", 401},
		{"wrong secret", "Bearer " + sign(jwt.SigningMethodHS256, []byte("another-secret-0123456789abcdef012"), valid), 401},
		{"flipped signature", "Bearer " + flipSignature(t, token), 401},
		{"HS512 with the right secret", "Bearer " + sign(jwt.SigningMethodHS512, secret, valid), 401},
		{"alg none", "Bearer " + sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid), 401},
		{"expired", "Bearer " + sign(jwt.SigningMethodHS256, secret, with(func(c *claims) {
			c.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Minute))
		})), 401},
		{"no expiry", "Bearer " + sign(jwt.SigningMethodHS256, secret, with(func(c *claims) { c.ExpiresAt = nil })), 401},
		{"wrong issuer", "Bearer " + sign(jwt.SigningMethodHS256, secret, with(func(c *claims) { c.Issuer = "evil" })), 401},
		{"no subject", "Bearer " + sign(jwt.SigningMethodHS256, secret, with(func(c *claims) { c.Subject = "" })), 401},
		{"subject not a number", "Bearer " + sign(jwt.SigningMethodHS256, secret, with(func(c *claims) { c.Subject = "ada" })), 401},
		{"tampered payload", "Bearer " + tamper(t, token, bobClaims), 401},
		{"tampered expiry", "Bearer " + tamper(t, token, with(func(c *claims) { c.ExpiresAt = jwt.NewNumericDate(now.Add(2 * time.Hour)) })), 401},
		{"no session id", "Bearer " + sign(jwt.SigningMethodHS256, secret, with(func(c *claims) { c.SessionID = "" })), 401},
		{"unknown session", "Bearer " + sign(jwt.SigningMethodHS256, secret, with(func(c *claims) { c.SessionID = newSessionID() })), 401},
		{"another user's session", "Bearer " + sign(jwt.SigningMethodHS256, secret, with(func(c *claims) { c.SessionID = a.sessionOf(bobToken) })), 401},
		{"user no longer exists", "Bearer " + goneToken, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			if tt.auth != "" {
				hdr = []string{"Authorization", tt.auth}
			}
			rec := a.do("GET", "/profile", "", hdr...)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			if tt.status == 200 {
				if got := decode[oapi.User](t, rec); got.ID != user.ID || got.Email != user.Email {
					t.Errorf("profile %+v, want %+v", got, user)
				}
			} else if rec.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}

	t.Run("token expires after JWT_TTL", func(t *testing.T) {
		a.clock.Add(time.Hour + time.Minute)
		if rec := a.do("GET", "/profile", "", "Authorization", "Bearer "+token); rec.Code != 401 {
			t.Errorf("status %d after expiry, want 401", rec.Code)
		}
	})
}

// tamper gives the token the payload c and keeps its signature.
func tamper(t *testing.T, token string, c claims) string {
	t.Helper()
	forged, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SigningString()
	if err != nil {
		t.Fatal(err)
	}
	return forged + "." + splitDots(token)[2]
}

// flipSignature flips one bit of the token's signature, in the decoded MAC
// rather than in its base64 text, whose last character carries padding bits
// a decoder may ignore.
func flipSignature(t *testing.T, token string) string {
	t.Helper()
	parts := splitDots(token)
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	sig[0] ^= 1
	return parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func splitDots(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}
