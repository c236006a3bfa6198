package storetest

import (
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/keelhq/keel/db"
)

// RunAdmins runs the suite of the admin API's store (db.Admins): roles, the
// admin check's read, and the listing of users.
func RunAdmins(t *testing.T, open func(t *testing.T) db.Store) {
	tests := []struct {
		name string
		test func(t *testing.T, s db.Store)
	}{
		{"SetRole grants and revokes, by id or email in any letter case; a missing user is ErrNoUser", setRole},
		{"SetRole keeps an admin when asked (ErrLastAdmin), and may leave none when not", lastAdmin},
		{"two admins demoting each other at once: one of them stays an admin", concurrentDemotions},
		{"SetRole's after runs in its transaction, only for a change; its error rolls the change back", setRoleAfter},
		{"GetAdminAccess reads the role, the factor, the level and the last proof", adminAccess},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.test(t, open(t))
		})
	}
}

func mustSetRole(t *testing.T, s db.Store, c db.RoleChange) (db.UserRecord, string) {
	t.Helper()
	u, from, err := s.SetRole(t.Context(), c, nil)
	if err != nil {
		t.Fatalf("SetRole(%+v): %v", c, err)
	}
	return u, from
}

func roleOf(t *testing.T, s db.Store, id int64) string {
	t.Helper()
	r, err := s.GetUserRecord(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return r.Role
}

func setRole(t *testing.T, s db.Store) {
	ada := mustCreate(t, s, "ada@example.com")
	if got := roleOf(t, s, ada.ID); got != db.RoleUser {
		t.Errorf("a new account's role: %q", got)
	}
	u, from := mustSetRole(t, s, db.RoleChange{Email: "ADA@example.COM", Role: db.RoleAdmin})
	if u.ID != ada.ID || u.Role != db.RoleAdmin || from != db.RoleUser || roleOf(t, s, ada.ID) != db.RoleAdmin {
		t.Errorf("grant by email: %+v from %q", u, from)
	}
	u, from = mustSetRole(t, s, db.RoleChange{UserID: ada.ID, Role: db.RoleAdmin})
	if u.Role != db.RoleAdmin || from != db.RoleAdmin {
		t.Errorf("grant again: %+v from %q", u, from)
	}
	u, from = mustSetRole(t, s, db.RoleChange{UserID: ada.ID, Role: db.RoleUser})
	if u.Role != db.RoleUser || from != db.RoleAdmin || roleOf(t, s, ada.ID) != db.RoleUser {
		t.Errorf("revoke by id: %+v from %q", u, from)
	}
	for _, c := range []db.RoleChange{{UserID: ada.ID + 1000, Role: db.RoleAdmin}, {Email: "bob@example.com", Role: db.RoleAdmin}} {
		if _, _, err := s.SetRole(t.Context(), c, nil); !errors.Is(err, db.ErrNoUser) {
			t.Errorf("SetRole(%+v) of no user: %v", c, err)
		}
	}
}

func lastAdmin(t *testing.T, s db.Store) {
	ada, bob := mustCreate(t, s, "ada@example.com"), mustCreate(t, s, "bob@example.com")
	mustSetRole(t, s, db.RoleChange{UserID: ada.ID, Role: db.RoleAdmin})
	if _, _, err := s.SetRole(t.Context(), db.RoleChange{UserID: ada.ID, Role: db.RoleUser, KeepAdmin: true}, nil); !errors.Is(err, db.ErrLastAdmin) {
		t.Errorf("demoting the last admin: %v", err)
	}
	mustSetRole(t, s, db.RoleChange{UserID: bob.ID, Role: db.RoleAdmin, KeepAdmin: true})
	mustSetRole(t, s, db.RoleChange{UserID: ada.ID, Role: db.RoleUser, KeepAdmin: true})
	// A user is no admin to keep: "demoting" one changes nothing.
	mustSetRole(t, s, db.RoleChange{UserID: ada.ID, Role: db.RoleUser, KeepAdmin: true})
	mustSetRole(t, s, db.RoleChange{UserID: bob.ID, Role: db.RoleUser})
	if roleOf(t, s, bob.ID) != db.RoleUser {
		t.Error("without KeepAdmin, the last admin may go")
	}
}

func concurrentDemotions(t *testing.T, s db.Store) {
	for i := range 5 {
		a, b := mustCreate(t, s, fmt.Sprintf("a%d@example.com", i)), mustCreate(t, s, fmt.Sprintf("b%d@example.com", i))
		mustSetRole(t, s, db.RoleChange{UserID: a.ID, Role: db.RoleAdmin})
		mustSetRole(t, s, db.RoleChange{UserID: b.ID, Role: db.RoleAdmin})
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, id := range []int64{a.ID, b.ID} {
			wg.Go(func() {
				_, _, errs[i] = s.SetRole(t.Context(), db.RoleChange{UserID: id, Role: db.RoleUser, KeepAdmin: true}, nil)
			})
		}
		wg.Wait()
		if (errs[0] == nil) == (errs[1] == nil) || !errors.Is(errors.Join(errs...), db.ErrLastAdmin) {
			t.Fatalf("two admins demoted at once: %v, %v; want one ErrLastAdmin", errs[0], errs[1])
		}
		// The one left is demoted without KeepAdmin, for the next round.
		for _, id := range []int64{a.ID, b.ID} {
			mustSetRole(t, s, db.RoleChange{UserID: id, Role: db.RoleUser})
		}
	}
}

func setRoleAfter(t *testing.T, s db.Store) {
	ada := mustCreate(t, s, "ada@example.com")
	calls := 0
	boom := errors.New("boom")
	_, _, err := s.SetRole(t.Context(), db.RoleChange{UserID: ada.ID, Role: db.RoleAdmin}, func(tx *sql.Tx, u db.UserRecord, from string) error {
		calls++
		if u.ID != ada.ID || u.Role != db.RoleAdmin || from != db.RoleUser || tx == nil {
			t.Errorf("after got %+v from %q", u, from)
		}
		return boom
	})
	if !errors.Is(err, boom) || calls != 1 || roleOf(t, s, ada.ID) != db.RoleUser {
		t.Errorf("after's error: %v, %d calls, role %q; want boom, 1, the change rolled back", err, calls, roleOf(t, s, ada.ID))
	}
	_, _, err = s.SetRole(t.Context(), db.RoleChange{UserID: ada.ID, Role: db.RoleUser}, func(*sql.Tx, db.UserRecord, string) error {
		calls++
		return nil
	})
	if err != nil || calls != 1 {
		t.Errorf("no change: %v, after called %d times in all, want 1", err, calls)
	}
}

func adminAccess(t *testing.T, s db.Store) {
	sess := session(t, s, "ada@example.com", "s1", when.Add(time.Hour))
	ada := sess.UserID
	acc, err := s.GetAdminAccess(t.Context(), sess.ID, ada)
	if err != nil || acc.Role != db.RoleUser || acc.User.ID != ada || acc.AAL != db.AAL1 || acc.HasFactor || !acc.AuthTime.IsZero() {
		t.Errorf("a user's access: %+v, %v", acc, err)
	}
	mustSetRole(t, s, db.RoleChange{UserID: ada, Role: db.RoleAdmin})
	verified(t, s, sess, "f1") // raises the session, and is a proof
	acc, err = s.GetAdminAccess(t.Context(), sess.ID, ada)
	if err != nil || acc.Role != db.RoleAdmin || acc.AAL != db.AAL2 || !acc.HasFactor || acc.LevelGen != 1 ||
		!acc.AuthTime.Equal(db.Millis(when.Add(time.Minute))) {
		t.Errorf("an admin's access after a factor: %+v, %v", acc, err)
	}
	if _, err := s.GetAdminAccess(t.Context(), sess.ID, ada+1); !errors.Is(err, db.ErrNoSession) {
		t.Errorf("another user's session: %v", err)
	}
}
