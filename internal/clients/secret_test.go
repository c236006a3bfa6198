package clients

import (
	"regexp"
	"testing"
)

// TestNewID: kc_ and 22 base64url characters (128 bits), never twice.
func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	re := regexp.MustCompile(`^kc_[A-Za-z0-9_-]{22}$`)
	for range 1000 {
		id := NewID()
		if !re.MatchString(id) || seen[id] {
			t.Fatalf("NewID() = %q (seen before: %v), want kc_ and 22 new base64url characters", id, seen[id])
		}
		seen[id] = true
	}
}

// TestSecret: a secret is 256 bits in base64url, stored as its SHA-256 in
// hex; only the secret itself checks, and only for a confidential client.
func TestSecret(t *testing.T) {
	secret, hash := NewSecret()
	if !regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`).MatchString(secret) {
		t.Fatalf("secret %q: want 43 base64url characters (256 bits)", secret)
	}
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(hash) || hash != HashSecret(secret) {
		t.Fatalf("hash %q: want HashSecret(secret), 64 hex digits", hash)
	}
	if got := HashSecret("abc"); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf("HashSecret(abc) = %s, want SHA-256 in hex", got)
	}
	if other, _ := NewSecret(); other == secret {
		t.Fatal("two secrets alike")
	}
	c := Client{Kind: Confidential, SecretHash: hash}
	for _, tt := range []struct {
		name   string
		c      Client
		secret string
		want   bool
	}{
		{"the secret", c, secret, true},
		{"another secret", c, secret[:42] + "x", false},
		{"the hash itself", c, hash, false},
		{"empty", c, "", false},
		{"a public client", Client{Kind: Public, SecretHash: hash}, secret, false},
		{"no hash", Client{Kind: Confidential}, "", false},
	} {
		if got := tt.c.CheckSecret(tt.secret); got != tt.want {
			t.Errorf("%s: CheckSecret = %v, want %v", tt.name, got, tt.want)
		}
	}
}
