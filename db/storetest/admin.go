package storetest

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"
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
		{"ListUsers pages in id order: rows created or deleted between pages, none repeated, every one there at the start", listUsersPages},
		{"ListUsers finds by email prefix in any ASCII case, by id, by role and by state", listUsersFilters},
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

	// A banned admin keeps nobody out: they cannot sign in to undo it.
	// Ada is the one admin not banned while bob's ban holds, and may go
	// once it has run out.
	now := time.Now()
	mustSetRole(t, s, db.RoleChange{UserID: ada.ID, Role: db.RoleAdmin})
	mustSetRole(t, s, db.RoleChange{UserID: bob.ID, Role: db.RoleAdmin})
	if err := s.BanUser(t.Context(), bob.ID, db.Ban{At: now, Until: now.Add(time.Hour), Reason: "x"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.SetRole(t.Context(), db.RoleChange{UserID: ada.ID, Role: db.RoleUser, KeepAdmin: true, Now: now}, nil); !errors.Is(err, db.ErrLastAdmin) {
		t.Errorf("demoting the last admin not banned, another admin banned: %v, want ErrLastAdmin", err)
	}
	mustSetRole(t, s, db.RoleChange{UserID: ada.ID, Role: db.RoleUser, KeepAdmin: true, Now: now.Add(2 * time.Hour)})
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

// ids lists the ids of users.
func ids(users []db.UserRecord) []int64 {
	out := make([]int64, len(users))
	for i, u := range users {
		out[i] = u.ID
	}
	return out
}

// listUsersPages walks ListUsers's pages of f (each of 5) by their Next,
// creating two users (every other one verified) and deleting one of the
// start's not yet listed between the first pages: each user there at the
// start and not deleted is listed once, in id order, and none twice.
func listUsersPages(t *testing.T, s db.Store) {
	for _, c := range []struct {
		name string
		f    db.UserFilter
	}{
		{"every user: the primary key", db.UserFilter{}},
		{"an email prefix: the email index", db.UserFilter{Query: "u"}},
		{"a state, reading 4 users a page: short pages", db.UserFilter{State: db.StateUnverified, Scan: 4}},
		{"a prefix too common for the email index, a role and a state, reading 7 users a page",
			db.UserFilter{Query: "u", PrefixCap: 1, Role: db.RoleUser, State: db.StateActive, Scan: 7}},
	} {
		run := strings.Fields(c.name)[1] // the emails' own part: the store is the cases' one
		t.Run(c.name, func(t *testing.T) {
			create := func(email string, i int) db.User {
				if i%2 == 0 {
					return verifiedUser(t, s, email)
				}
				return mustCreate(t, s, email)
			}
			var at0 []db.User
			for i := range 23 {
				at0 = append(at0, create(fmt.Sprintf("u%s%02d@example.com", run, i), i))
			}
			seen, gone := map[int64]int{}, map[int64]bool{}
			f, short := c.f, 0
			f.Limit, f.Now = 5, now
			for page := 0; ; page++ {
				if page > 100 {
					t.Fatal("the pages do not end")
				}
				p, err := s.ListUsers(t.Context(), f)
				if err != nil {
					t.Fatal(err)
				}
				for i, r := range p.Users {
					seen[r.ID]++
					if r.ID <= f.After || i > 0 && r.ID <= p.Users[i-1].ID {
						t.Fatalf("page %d out of order after %d: %v", page, f.After, ids(p.Users))
					}
				}
				if p.Next != 0 && len(p.Users) < f.Limit {
					short++
				}
				if len(p.Users) > 0 && p.Next != 0 && p.Next < p.Users[len(p.Users)-1].ID {
					t.Fatalf("page %d: next %d before its last user %d", page, p.Next, p.Users[len(p.Users)-1].ID)
				}
				if p.Next == 0 {
					break
				}
				f.After = p.Next
				if page >= 3 {
					continue
				}
				create(fmt.Sprintf("u%s-new%d-a@example.com", run, page), 0)
				create(fmt.Sprintf("u%s-new%d-b@example.com", run, page), 1)
				for _, u := range at0 {
					if seen[u.ID] == 0 && !gone[u.ID] && u.ID > f.After+3 {
						if err := s.DeleteUser(t.Context(), u.ID); err != nil {
							t.Fatal(err)
						}
						gone[u.ID] = true
						break
					}
				}
			}
			for id, n := range seen {
				if n > 1 {
					t.Errorf("user %d listed %d times", id, n)
				}
			}
			for _, u := range at0 {
				rec, err := s.GetUserRecord(t.Context(), u.ID)
				if err == nil && seen[u.ID] == 0 && !gone[u.ID] && (c.f.State == "" || rec.State(now) == c.f.State) {
					t.Errorf("user %d (%s), there at the start, never listed", u.ID, u.Email)
				}
			}
			if len(gone) == 0 {
				t.Error("no user was deleted between pages: the test tests less than it says")
			}
			if c.f.Scan > 0 && short == 0 {
				t.Error("no page ended short: the test tests less than it says")
			}
		})
	}
}

func listUsersFilters(t *testing.T, s db.Store) {
	ada := verifiedUser(t, s, "Ada@Example.com")
	adam := verifiedUser(t, s, "adam@example.org")
	bob := verifiedUser(t, s, "bob@example.com")
	al := mustCreate(t, s, "al@example.com") // unverified
	at := mustCreate(t, s, "a@example.com")
	odd := mustCreate(t, s, "a[b@example.com")                     // '[' sorts between 'Z' and 'a'
	num := mustCreate(t, s, fmt.Sprintf("%d@example.com", bob.ID)) // an email that starts with bob's id
	mustSetRole(t, s, db.RoleChange{UserID: adam.ID, Role: db.RoleAdmin})
	if err := s.BanUser(t.Context(), bob.ID, db.Ban{At: now, Reason: "spam"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.BanUser(t.Context(), at.ID, db.Ban{At: now.Add(-2 * time.Hour), Until: now.Add(-time.Hour)}, nil); err != nil {
		t.Fatal(err) // run out: not banned
	}
	for _, c := range []struct {
		f    db.UserFilter
		want []int64
		more bool // a page follows
	}{
		{db.UserFilter{}, []int64{ada.ID, adam.ID, bob.ID, al.ID, at.ID, odd.ID, num.ID}, false},
		{db.UserFilter{Query: "ada"}, []int64{ada.ID, adam.ID}, false},
		{db.UserFilter{Query: "ADA"}, []int64{ada.ID, adam.ID}, false},
		{db.UserFilter{Query: "Ada@Example.com"}, []int64{ada.ID}, false},
		{db.UserFilter{Query: "a"}, []int64{ada.ID, adam.ID, al.ID, at.ID, odd.ID}, false},
		{db.UserFilter{Query: "a@"}, []int64{at.ID}, false},
		{db.UserFilter{Query: "a["}, []int64{odd.ID}, false},
		{db.UserFilter{Query: "b"}, []int64{bob.ID}, false},
		{db.UserFilter{Query: "zz"}, nil, false},
		{db.UserFilter{Query: "%"}, nil, false},
		{db.UserFilter{Query: "_da"}, nil, false},
		{db.UserFilter{Query: fmt.Sprint(bob.ID)}, []int64{bob.ID, num.ID}, false},
		{db.UserFilter{Role: db.RoleAdmin}, []int64{adam.ID}, false},
		{db.UserFilter{Role: db.RoleUser, Query: "ada"}, []int64{ada.ID}, false},
		{db.UserFilter{State: db.StateBanned}, []int64{bob.ID}, false},
		{db.UserFilter{State: db.StateUnverified}, []int64{al.ID, at.ID, odd.ID, num.ID}, false},
		{db.UserFilter{State: db.StateActive}, []int64{ada.ID, adam.ID}, false},
		{db.UserFilter{State: db.StateActive, Query: "a", Role: db.RoleAdmin}, []int64{adam.ID}, false},
		{db.UserFilter{Query: "a", After: adam.ID, Limit: 2}, []int64{al.ID, at.ID}, true},
		{db.UserFilter{Query: "a", Role: db.RoleUser, State: db.StateUnverified, Limit: 3}, []int64{al.ID, at.ID, odd.ID}, false},
		{db.UserFilter{Query: "a", Role: db.RoleUser, State: db.StateUnverified, Limit: 2}, []int64{al.ID, at.ID}, true},
	} {
		c.f.Now = now
		if c.f.Limit == 0 {
			c.f.Limit = 100
		}
		// By the email index, then as if the prefix were too common for
		// it (each query's own prefix condition).
		for _, prefixCap := range []int{0, 1} {
			c.f.PrefixCap = prefixCap
			got, err := s.ListUsers(t.Context(), c.f)
			if err != nil || fmt.Sprint(ids(got.Users)) != fmt.Sprint(c.want) || (got.Next != 0) != c.more {
				t.Errorf("ListUsers(%+v) = %v next %d, %v; want %v, a next page %v", c.f, ids(got.Users), got.Next, err, c.want, c.more)
			}
		}
	}
	page, err := s.ListUsers(t.Context(), db.UserFilter{Query: "bob", Limit: 1, Now: now})
	got := page.Users
	if err != nil || len(got) != 1 || got[0].BanReason != "spam" || got[0].State(now) != db.StateBanned || got[0].Email != "bob@example.com" {
		t.Errorf("bob's record: %+v, %v", got, err)
	}
}
