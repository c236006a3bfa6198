package server

import (
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/gen/oapi"
	"github.com/keelhq/keel/internal/token"
)

// TestSessions: list, end one, end all, log out; ended sessions are
// refused at once, though their tokens are in the verified-signature cache.
func TestSessions(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	a.mustRegister("ada@example.com", "password123")
	a.mustRegister("bob@example.com", "password123")
	phone := a.mustLoginPair("ada@example.com", "password123", "User-Agent", "phone/1.0")
	a.clock.Add(time.Second)
	laptop := a.mustLoginPair("ada@example.com", "password123", "User-Agent", "laptop/2.0")
	bob := a.mustLoginPair("bob@example.com", "password123")

	list := decode[[]oapi.Session](t, a.status(a.do("GET", "/sessions", "", bearer(laptop.Token)...), 200, "list"))
	if len(list) != 2 || list[0].UserAgent != "laptop/2.0" || !list[0].Current || list[1].UserAgent != "phone/1.0" || list[1].Current ||
		list[0].ID != a.sessionOf(laptop.Token) || list[1].ID != a.sessionOf(phone.Token) {
		t.Fatalf("sessions %+v", list)
	}
	body := a.do("GET", "/sessions", "", bearer(laptop.Token)...).Body.String()
	for _, secret := range []string{phone.RefreshToken, laptop.RefreshToken, db.HashToken(phone.RefreshToken), db.HashToken(laptop.RefreshToken)} {
		if strings.Contains(body, secret) {
			t.Error("GET /sessions shows a refresh token or its hash")
		}
	}

	a.status(a.do("DELETE", "/sessions/"+a.sessionOf(bob.Token), "", bearer(laptop.Token)...), 404, "another user's session")
	a.status(a.do("DELETE", "/sessions/"+token.NewSessionID(), "", bearer(laptop.Token)...), 404, "unknown session")
	a.status(a.do("DELETE", "/sessions/"+strings.Repeat("x", 65), "", bearer(laptop.Token)...), 400, "overlong id")
	if a.profileStatus(bob.Token) != 200 {
		t.Fatal("bob's session was touched")
	}

	if a.profileStatus(phone.Token) != 200 {
		t.Fatal("phone token before revocation")
	}
	a.status(a.do("DELETE", "/sessions/"+a.sessionOf(phone.Token), "", bearer(laptop.Token)...), 204, "end the phone's session")
	if got := a.profileStatus(phone.Token); got != 401 {
		t.Errorf("the ended session's token (cached signature): %d, want 401", got)
	}
	a.status(a.refresh(phone.RefreshToken), 401, "the ended session's refresh token")
	a.status(a.do("GET", "/sessions", "", bearer(phone.Token)...), 401, "list with an ended session")

	t.Run("logout", func(t *testing.T) {
		a := a.forInput(t)
		other := a.mustLoginPair("ada@example.com", "password123")
		a.status(a.do("POST", "/logout", "", bearer(other.Token)...), 204, "logout")
		a.status(a.do("POST", "/logout", "", bearer(other.Token)...), 401, "second logout")
		a.status(a.refresh(other.RefreshToken), 401, "refresh after logout")
		a.status(a.do("POST", "/logout", ""), 401, "logout without a token")
		if a.profileStatus(laptop.Token) != 200 {
			t.Error("logout ended another session")
		}
	})

	t.Run("log out everywhere", func(t *testing.T) {
		a := a.forInput(t)
		other := a.mustLoginPair("ada@example.com", "password123")
		a.status(a.do("DELETE", "/sessions", "", bearer(laptop.Token)...), 204, "end all")
		for _, tok := range []string{laptop.Token, other.Token} {
			if got := a.profileStatus(tok); got != 401 {
				t.Errorf("after ending all: %d", got)
			}
		}
		a.status(a.do("DELETE", "/sessions", "", bearer(laptop.Token)...), 401, "end all again")
		if a.profileStatus(bob.Token) != 200 {
			t.Error("bob's session ended too")
		}
	})
}
