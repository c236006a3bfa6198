package server

import (
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/gen/oapi"
	"github.com/keelhq/keel/internal/token"
)

// TestProfile: GET /profile answers the token's user while its session
// lives, and 401 with WWW-Authenticate otherwise. How a forged token fails
// is internal/token's TestForgeries; here one forgery stands for them all.
func TestProfile(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	user := a.mustRegister("ada@example.com", "password123")
	tok := a.mustLogin("ada@example.com", "password123")
	// issue makes a token keel would accept, for any principal.
	issue := func(p token.Principal) string {
		s, err := a.issuer(time.Hour, a.clock.Now).Issue(p)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	forged, err := token.New([]byte("another-secret-0123456789abcdef012"), time.Hour, a.clock.Now).
		Issue(token.Principal{UserID: user.ID, SessionID: a.sessionOf(tok)})
	if err != nil {
		t.Fatal(err)
	}

	a.mustRegister("bob@example.com", "password123")
	bobToken := a.mustLogin("bob@example.com", "password123")
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
		{"ok", "Bearer " + tok, 200},
		{"scheme in lower case", "bearer " + tok, 200},
		{"token signed by the test", "Bearer " + issue(token.Principal{UserID: user.ID, SessionID: a.sessionOf(tok)}), 200},
		{"missing header", "", 401},
		{"no token", "Bearer", 401},
		{"basic scheme", "Basic YWRhOnBhc3N3b3Jk", 401},
		{"not a JWT", "Bearer not-a-token", 401},
		{"wrong secret", "Bearer " + forged, 401},
		{"unknown session", "Bearer " + issue(token.Principal{UserID: user.ID, SessionID: token.NewSessionID()}), 401},
		{"another user's session", "Bearer " + issue(token.Principal{UserID: user.ID, SessionID: a.sessionOf(bobToken)}), 401},
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
		if rec := a.do("GET", "/profile", "", "Authorization", "Bearer "+tok); rec.Code != 401 {
			t.Errorf("status %d after expiry, want 401", rec.Code)
		}
	})
}

// TestChangePassword: the current password is checked (403), the other
// sessions end, the caller's stays.
func TestChangePassword(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	a.startJobs()
	a.mustRegister("ada@example.com", "password123")
	a.status(a.do("POST", "/password/forgot", jsonBody("email", "ada@example.com")), 202, "forgot, before the change")
	mailed := a.waitEmail("ada@example.com", "eset", 0)
	mine := a.mustLoginPair("ada@example.com", "password123")
	other := a.mustLoginPair("ada@example.com", "password123")
	change := func(current, next string) string {
		return jsonBody("current_password", current, "new_password", next)
	}

	a.status(a.do("PUT", "/profile/password", change("wrong-password", "new-password-1"), bearer(mine.Token)...), 403, "wrong current")
	a.status(a.do("PUT", "/profile/password", change("password123", "short"), bearer(mine.Token)...), 400, "short new")
	a.status(a.do("PUT", "/profile/password", change("password123", strings.Repeat("é", 40)), bearer(mine.Token)...), 400, "new over 72 bytes")
	rec := a.status(a.do("PUT", "/profile/password", change(strings.Repeat("é", 40), "new-password-1"), bearer(mine.Token)...), 400, "current over 72 bytes")
	if p := problemOf(t, rec); p.Errors == nil || (*p.Errors)[0].Field != "/current_password" {
		t.Errorf("the problem names %s, want /current_password", rec.Body)
	}
	a.status(a.do("PUT", "/profile/password", change("password123", "new-password-1")), 401, "no token")
	if a.profileStatus(other.Token) != 200 {
		t.Fatal("a refused change ended a session")
	}
	a.status(a.do("PUT", "/profile/password", change("password123", "new-password-1"), bearer(mine.Token)...), 204, "change")
	if a.profileStatus(mine.Token) != 200 {
		t.Error("the caller's session ended")
	}
	if a.profileStatus(other.Token) != 401 {
		t.Error("another session survived the change")
	}
	// The validator's session check too, not only GET /profile's own query.
	a.status(a.do("GET", "/sessions", "", bearer(other.Token)...), 401, "another session on GET /sessions")
	a.status(a.do("POST", "/password/reset", jsonBody("token", mailed, "new_password", "attacker-pass-1")), 400, "a reset link mailed before the change")
	a.status(a.refresh(other.RefreshToken), 401, "another session's refresh")
	a.status(a.refresh(mine.RefreshToken), 200, "own refresh")
	a.status(a.do("POST", "/login", credentials("ada@example.com", "password123")), 401, "old password")
	a.mustLogin("ada@example.com", "new-password-1")
}

// TestDeleteProfile: the password is checked; the account and its sessions
// go; the email may register again.
func TestDeleteProfile(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	a.mustRegister("ada@example.com", "password123")
	pair := a.mustLoginPair("ada@example.com", "password123")
	other := a.mustLoginPair("ada@example.com", "password123")

	a.status(a.do("DELETE", "/profile", jsonBody("password", "wrong-password"), bearer(pair.Token)...), 403, "wrong password")
	a.status(a.do("DELETE", "/profile", `{}`, bearer(pair.Token)...), 400, "no password")
	a.status(a.do("DELETE", "/profile", jsonBody("password", "password123")), 401, "no token")
	a.status(a.do("DELETE", "/profile", jsonBody("password", "password123"), bearer(pair.Token)...), 204, "delete")
	for _, tok := range []string{pair.Token, other.Token} {
		if got := a.profileStatus(tok); got != 401 {
			t.Errorf("token after deletion: %d", got)
		}
	}
	a.status(a.refresh(other.RefreshToken), 401, "refresh after deletion")
	a.status(a.do("POST", "/login", credentials("ada@example.com", "password123")), 401, "login after deletion")
	again := a.mustRegisterUnverified("ada@example.com", "another-password")
	if again.EmailVerified {
		t.Error("a new account starts verified")
	}
	a.mustLogin("ada@example.com", "another-password")
}
