package server

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/gen/oapi"
)

// userPage gets one page of GET /admin/users with query.
func (a *testAPI) userPage(tok, query string) oapi.AdminUserPage {
	a.t.Helper()
	return decode[oapi.AdminUserPage](a.t, a.status(a.do("GET", "/admin/users"+query, "", bearer(tok)...), 200, "GET /admin/users"+query))
}

// emailsOf lists a page's emails in its order.
func emailsOf(p oapi.AdminUserPage) string {
	var out []string
	for _, u := range p.Users {
		out = append(out, u.Email)
	}
	return strings.Join(out, " ")
}

// TestAdminListUsers: GET /admin/users lists users in id order, found by
// an email prefix in any ASCII case, by id, by role and by state (alone and
// together), each with its role and state; its refusals: a non-admin, an
// admin at aal1 or without a factor, a cursor keel did not give (or gave
// for another listing), a bad limit, role or state.
func TestAdminListUsers(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	root, _ := a.adminAccount("root@example.com")
	a.mustRegister("ada@example.com", "password123")
	a.mustRegister("adam@example.org", "password123")
	bob := a.mustRegister("bob@example.com", "password123")
	a.mustRegisterUnverified("al@example.com", "password123")
	a.setRole("adam@example.org", db.RoleAdmin)
	if _, err := a.db.raw.Exec(fmt.Sprintf(`UPDATE users SET banned_at = $1, ban_reason = 'spam' WHERE id = %d`, bob.ID), a.clock.Now()); err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct{ query, want string }{
		{"", "root@example.com ada@example.com adam@example.org bob@example.com al@example.com"},
		{"?query=ada", "ada@example.com adam@example.org"},
		{"?query=ADA", "ada@example.com adam@example.org"},
		{"?query=" + url.QueryEscape("Ada@Example.COM"), "ada@example.com"},
		{"?query=a", "ada@example.com adam@example.org al@example.com"},
		{"?query=" + url.QueryEscape("%"), ""},
		{"?query=" + fmtID(bob.ID), "bob@example.com"},
		{"?role=admin", "root@example.com adam@example.org"},
		{"?role=user&query=ada", "ada@example.com"},
		{"?state=banned", "bob@example.com"},
		{"?state=unverified", "al@example.com"},
		{"?state=active&role=user", "ada@example.com"},
		{"?state=active&role=admin&query=ad", "adam@example.org"},
		{"?state=banned&query=a", ""},
	} {
		if got := emailsOf(a.userPage(root.Token, tt.query)); got != tt.want {
			t.Errorf("GET /admin/users%s:\n got %s\nwant %s", tt.query, got, tt.want)
		}
	}
	b := a.userPage(root.Token, "?query=bob").Users[0]
	if b.ID != bob.ID || b.State != oapi.UserStateBanned || b.Role != oapi.RoleUser || !b.EmailVerified || b.CreatedAt.IsZero() {
		t.Errorf("bob in the listing: %+v", b)
	}
	if p := a.userPage(root.Token, "?limit=2"); emailsOf(p) != "root@example.com ada@example.com" || p.NextCursor == nil {
		t.Errorf("a first page of 2: %s, next %v", emailsOf(p), p.NextCursor)
	} else if p := a.userPage(root.Token, "?limit=3&cursor="+*p.NextCursor); emailsOf(p) != "adam@example.org bob@example.com al@example.com" || p.NextCursor != nil {
		t.Errorf("the last page: %s, next %v, want no next cursor", emailsOf(p), p.NextCursor)
	}

	t.Run("refusals", func(t *testing.T) {
		a := a.in(t)
		_, _, user := a.mfaAccount("user@example.com")
		a.mustRegister("nofactor@example.com", "password123")
		a.setRole("nofactor@example.com", db.RoleAdmin)
		a.mfaAccount("aal1@example.com")
		a.setRole("aal1@example.com", db.RoleAdmin)
		wantProblem(t, a.do("GET", "/admin/users", ""), 401, "", "no token")
		wantProblem(t, a.do("GET", "/admin/users", "", bearer(user.Token)...), 403, adminRequiredType, "a user at aal2")
		wantProblem(t, a.do("GET", "/admin/users", "", bearer(a.mustLogin("nofactor@example.com", "password123"))...), 403, mfaRequiredType, "an admin without a factor")
		wantProblem(t, a.do("GET", "/admin/users", "", bearer(a.mustLogin("aal1@example.com", "password123"))...), 403, mfaRequiredType, "an admin at aal1")
		for _, q := range []string{
			"?cursor=bm90LWEtY3Vyc29y", "?cursor=%21%21", "?cursor=" + encodeCursorOf(userCursor, 0),
			"?cursor=" + encodeCursor(3), // an events listing's cursor
			"?limit=0", "?limit=201", "?limit=x", "?role=boss", "?state=gone", "?query=",
		} {
			rec := a.do("GET", "/admin/users"+q, "", bearer(root.Token)...)
			wantProblem(t, rec, 400, "", "GET /admin/users"+q)
			if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("GET /admin/users%s: Content-Type %q, want problem+json", q, ct)
			}
		}
	})
}

// TestAdminListUsersPages: a walk of GET /admin/users's pages, users
// registered and deleted between them, lists every user there when it
// began (and not deleted before its page) that its filters select exactly
// once, in id order: by the primary key, by the email index, and with
// filters no index serves, whose pages read 4 users each (short pages,
// even empty ones, with a next_cursor).
func TestAdminListUsersPages(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, func(c *Config) { c.AdminUsersScan = 4 })
	root, _ := a.adminAccount("root@example.com")
	for i := range 12 {
		if i%3 == 0 {
			a.mustRegister(fmt.Sprintf("u%02d@example.com", i), "password123")
		} else {
			a.mustRegisterUnverified(fmt.Sprintf("u%02d@example.com", i), "password123")
		}
	}
	for _, c := range []struct {
		name, query string
		want        func(oapi.AdminUserSummary) bool
		short       bool // some pages end short
	}{
		{"every user", "", func(oapi.AdminUserSummary) bool { return true }, false},
		{"an email prefix", "&query=u", func(u oapi.AdminUserSummary) bool { return strings.HasPrefix(u.Email, "u") }, false},
		{"a state", "&state=active", func(u oapi.AdminUserSummary) bool { return u.State == oapi.UserStateActive }, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := a.in(t)
			var start []oapi.AdminUserSummary
			for _, u := range a.userPage(root.Token, "?limit=200").Users {
				if c.want(u) {
					start = append(start, u)
				}
			}
			seen, gone := map[int64]int{}, map[int64]bool{}
			next, last, short := "", int64(0), 0
			for page := 0; ; page++ {
				if page > 100 {
					t.Fatal("the pages do not end")
				}
				p := a.userPage(root.Token, "?limit=3"+c.query+next)
				for _, u := range p.Users {
					if seen[u.ID]++; seen[u.ID] > 1 {
						t.Errorf("user %d (%s) on two pages", u.ID, u.Email)
					}
					if u.ID <= last || !c.want(u) {
						t.Errorf("user %d (%s, %s) after %d: want id order, and only users the filters select", u.ID, u.Email, u.State, last)
					}
					last = u.ID
				}
				if p.NextCursor == nil {
					break
				}
				if len(p.Users) < 3 {
					short++
				}
				next = "&cursor=" + *p.NextCursor
				if page >= 3 {
					continue
				}
				// Between pages: two new users, and one of the start's
				// not yet listed deleted.
				a.mustRegister(fmt.Sprintf("u-%s-new%d-a@example.com", strings.Fields(c.name)[1], page), "password123")
				a.mustRegisterUnverified(fmt.Sprintf("u-%s-new%d-b@example.com", strings.Fields(c.name)[1], page), "password123")
				for _, u := range start {
					if seen[u.ID] == 0 && !gone[u.ID] && u.ID > last+2 {
						if err := a.store.DeleteUser(t.Context(), u.ID); err != nil {
							t.Fatal(err)
						}
						gone[u.ID] = true
						break
					}
				}
			}
			for _, u := range start {
				if seen[u.ID] == 0 && !gone[u.ID] {
					t.Errorf("user %d (%s), there when the listing began, on no page", u.ID, u.Email)
				}
			}
			if len(gone) == 0 {
				t.Error("no user was deleted between pages: the test tests less than it says")
			}
			if c.short != (short > 0) {
				t.Errorf("%d pages ended short with a next page, want some: %v", short, c.short)
			}
		})
	}
}
