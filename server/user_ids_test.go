package server

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/gen/oapi"
)

// TestUserIDsNeverReused: an account's id is never given to a later
// account, on either engine, even when it was the largest: relying parties
// keep it as the ID token's sub (which OpenID Connect says is never
// reassigned), and events about it outlive it. Deleted, its successor is a
// new id, whose activity shows nothing of the account before.
func TestUserIDsNeverReused(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	ada := a.mustRegister("ada@example.com", "correct horse")
	tok := a.mustLogin("ada@example.com", "correct horse")
	a.status(a.do("DELETE", "/profile", `{"password":"correct horse"}`, bearer(tok)...), http.StatusNoContent, "delete ada")

	bob := a.mustRegister("bob@example.com", "correct horse")
	if bob.ID == ada.ID {
		t.Errorf("a registration after the deletion got the deleted account's id %d", ada.ID)
	}
	btok := a.mustLogin("bob@example.com", "correct horse")
	activity := a.status(a.do("GET", "/profile/activity", "", bearer(btok)...), http.StatusOK, "bob's activity").Body.String()
	if strings.Contains(activity, "user.deleted") {
		t.Errorf("bob's activity shows the deleted account's events: %s", activity)
	}

	// An account an admin makes takes a new id too.
	a.status(a.do("DELETE", "/profile", `{"password":"correct horse"}`, bearer(btok)...), http.StatusNoContent, "delete bob")
	made, err := a.store.CreateAccount(context.Background(), db.NewAccount{Email: "cy@example.com", CreatedAt: a.clock.Now()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, old := range []oapi.User{ada, bob} {
		if made.ID == old.ID {
			t.Errorf("an account made after the deletions got a deleted account's id %d", old.ID)
		}
	}
}
