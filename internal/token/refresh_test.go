package token

import (
	"encoding/base64"
	"testing"
)

const otherSecret = "another-secret-0123456789abcdef012"

// TestRefresh: a refresh token names its session and generation, and only
// one derived with the secret parses.
func TestRefresh(t *testing.T) {
	t.Parallel()
	r := NewRefresher([]byte(testSecret))
	sid := NewSessionID()
	tok := r.Refresh(sid, 3)
	if len(tok) != 75 {
		t.Errorf("refresh token of %d characters, want 75", len(tok))
	}
	if got, gen, ok := r.ParseRefresh(tok); !ok || got != sid || gen != 3 {
		t.Errorf("ParseRefresh: %q %d %v; want %q 3 true", got, gen, ok, sid)
	}
	if r.Refresh(sid, 4) == tok || r.Refresh(NewSessionID(), 3) == tok {
		t.Error("refresh tokens of another generation or session are equal")
	}
	b, _ := base64.RawURLEncoding.DecodeString(tok)
	b[len(b)-1] ^= 1
	for name, bad := range map[string]string{
		"empty":             "",
		"not base64":        "!!!",
		"short":             tok[:40],
		"flipped MAC":       base64.RawURLEncoding.EncodeToString(b),
		"another secret":    NewRefresher([]byte(otherSecret)).Refresh(sid, 3),
		"generation 0":      r.Refresh(sid, 0),
		"generation > 2^62": r.Refresh(sid, 1<<62+1),
	} {
		if _, _, ok := r.ParseRefresh(bad); ok {
			t.Errorf("%s: parsed", name)
		}
	}
}

// TestRefreshPreviousSecret: after the secret changes, with the old one
// kept as previous, tokens of either secret parse, new ones are made under
// the new secret only, and Rederive gives back the token the session holds,
// whichever secret made it.
func TestRefreshPreviousSecret(t *testing.T) {
	t.Parallel()
	before := NewRefresher([]byte(otherSecret))
	after := NewRefresher([]byte(testSecret), []byte(otherSecret))
	alone := NewRefresher([]byte(testSecret))
	sid := NewSessionID()
	old := before.Refresh(sid, 2)
	if got, gen, ok := after.ParseRefresh(old); !ok || got != sid || gen != 2 {
		t.Errorf("a token of the previous secret: %q %d %v; want %q 2 true", got, gen, ok, sid)
	}
	if _, _, ok := alone.ParseRefresh(old); ok {
		t.Error("a token of the old secret parsed without it as previous")
	}
	if after.Refresh(sid, 2) != alone.Refresh(sid, 2) {
		t.Error("a new token is not the new secret's")
	}
	if _, _, ok := before.ParseRefresh(after.Refresh(sid, 3)); ok {
		t.Error("a new token parsed under the previous secret alone: not made under the new one")
	}
	holds := func(want string) func(string) bool { return func(tok string) bool { return tok == want } }
	if got := after.Rederive(sid, 2, holds(old)); got != old {
		t.Error("Rederive did not give back the session's token of the previous secret")
	}
	if got := after.Rederive(sid, 3, holds(alone.Refresh(sid, 3))); got != alone.Refresh(sid, 3) {
		t.Error("Rederive did not give back the session's token of the current secret")
	}
	if got := after.Rederive(sid, 3, holds("")); got != alone.Refresh(sid, 3) {
		t.Error("Rederive of a token the session does not hold is not the current secret's")
	}
}
