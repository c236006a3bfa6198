package server

import (
	"strconv"
	"strings"
	"testing"
)

// TestImportIDBound: an imported id is kept only up to 2^53 - 1 (the
// largest integer a JavaScript client reads exactly), so that the ids after
// it have room: a line with id 9223372036854775807 (int64's largest) into an
// empty keel left no id for the next account, and every registration after
// the import failed (500). Such a line is refused with its number; the
// others keep their ids, and registrations go on after them.
func TestImportIDBound(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	file := strings.Join([]string{
		`{"email":"max@example.com","id":9223372036854775807}`,
		`{"email":"over@example.com","id":9007199254740992}`,
		`{"email":"safe@example.com","id":9007199254740991}`,
		`{"email":"small@example.com","id":7}`,
	}, "\n")
	rep := a.importInto(file)
	if len(rep.Failed) != 2 || rep.Failed[0].Line != 1 || rep.Failed[1].Line != 2 ||
		!strings.Contains(rep.Failed[0].Error(), "id:") || !rep.KeptIDs || rep.Created != 2 {
		t.Fatalf("report %+v: want lines 1 and 2 refused for their id, 2 created with ids kept", rep)
	}
	if id := a.userID("safe@example.com"); id != 9007199254740991 {
		t.Errorf("safe@example.com has id %d", id)
	}
	if id := a.userID("small@example.com"); id != 7 {
		t.Errorf("small@example.com has id %d", id)
	}
	u := a.mustRegister("after@example.com", "password123")
	if u.ID <= 9007199254740991 {
		t.Errorf("a registration after the import got id %d, want one past the imported ones", u.ID)
	}
}

// TestImportKeepsNoDeletedID: an import keeps its lines' ids only into a
// keel that never stored an account. Into one whose accounts were all
// deleted, keeping them gave a new person a deleted account's id, and with
// it that account's sub at every relying party and its events in GET
// /profile/activity: the accounts come in with new ids instead.
func TestImportKeepsNoDeletedID(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	gone := a.mustRegister("gone@example.com", "password123")
	a.status(a.do("DELETE", "/profile", jsonBody("password", "password123"), bearer(a.mustLogin("gone@example.com", "password123"))...), 204, "delete")
	line := `{"email":"new@example.com","id":` + strconv.FormatInt(gone.ID, 10) + `}`
	if rep := a.importInto(line); rep.KeptIDs || rep.Created != 1 || len(rep.Failed) != 0 {
		t.Fatalf("report %+v: want the account created without its line's id", rep)
	}
	if id := a.userID("new@example.com"); id == gone.ID {
		t.Errorf("the imported account got id %d, the deleted account's", id)
	}
}
