package server

import (
	"strconv"
	"testing"

	"github.com/keelhq/keel/gen/oapi"
)

// TestDateTimeInRange: a date-time a client sends must fall, in UTC, in
// the years 0000 to 9999, the times JSON can carry: an offset carried
// 9999-12-31T23:59:59-23:59 into year 10000, and a ban until then was a
// 500 (its event could not be written). Refused with 400 naming the field,
// in a body and in a query; the last second of 9999 is taken.
func TestDateTimeInRange(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	root, _ := a.adminAccount("root@example.com")
	a.mustRegister("ada@example.com", "correct horse")
	ban := "/admin/users/" + strconv.FormatInt(a.userID("ada@example.com"), 10) + "/ban"
	for _, c := range []struct{ method, path, body, field string }{
		{"POST", ban, `{"reason":"x","until":"9999-12-31T23:59:59-23:59"}`, "/until"},
		{"GET", "/admin/audit?since=0000-01-01T00:00:00%2B00:01", "", "since"},
		{"GET", "/admin/audit?since=9999-12-31T23:00:00-01:00", "", "since"},
	} {
		rec := a.do(c.method, c.path, c.body, bearer(root.Token)...)
		wantProblem(t, rec, 400, "", c.method+" "+c.path+" "+c.body)
		if rec.Code == 400 {
			if p := decode[oapi.Problem](t, rec); p.Errors == nil || (*p.Errors)[0].Field != c.field {
				t.Errorf("%s %s: %s, want %s named", c.method, c.path, rec.Body, c.field)
			}
		}
	}
	a.status(a.do("GET", "/admin/audit?since=0000-01-01T00:00:00Z", "", bearer(root.Token)...), 200, "since the first instant of year 0")
	u := decode[oapi.AdminUser](t, a.status(a.do("POST", ban, `{"reason":"x","until":"9999-12-31T23:59:59Z"}`, bearer(root.Token)...), 200, "a ban until the last second of 9999"))
	if u.Ban == nil || u.Ban.Until == nil || u.Ban.Until.Year() != 9999 {
		t.Errorf("the ban until 9999: %+v", u.Ban)
	}
	a.status(a.do("GET", "/admin/users/"+strconv.FormatInt(u.ID, 10), "", bearer(root.Token)...), 200, "the banned user")
}
