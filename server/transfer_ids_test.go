package server

import (
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
