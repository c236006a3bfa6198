package server

import (
	"testing"

	"github.com/keelhq/keel/gen/oapi"
)

// TestAdminListUsersAnyPrefix: GET /admin/users?query= takes any UTF-8
// text as an email prefix and answers the users whose email starts with
// it (none, for a prefix no ASCII email can start with), never a 500: the
// range's upper end was the prefix with its last byte made the next one,
// invalid UTF-8 for a prefix ending in DEL or in a character whose last
// byte is 0xbf ("¿", U+FFFF, U+10FFFF), which PostgreSQL's text refuses.
func TestAdminListUsersAnyPrefix(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	root, _ := a.adminAccount("root@example.com")
	a.mustRegister("ada~@example.com", "password123")
	list := func(query string) oapi.AdminUserPage {
		t.Helper()
		return decode[oapi.AdminUserPage](t, a.status(a.do("GET", "/admin/users?query="+query, "", bearer(root.Token)...), 200, "query "+query))
	}
	for _, q := range []string{"a%7F", "ada~%7F", "%7F", "%C2%BF", "%DF%BF", "%EF%BF%BF", "%F4%8F%BF%BF", "%C3%A9"} {
		if p := list(q); len(p.Users) != 0 {
			t.Errorf("query %s: %+v, want no user", q, p.Users)
		}
	}
	if p := list("ADA~"); len(p.Users) != 1 || p.Users[0].Email != "ada~@example.com" {
		t.Errorf("query ADA~: %+v, want ada~@example.com", p.Users)
	}
}
