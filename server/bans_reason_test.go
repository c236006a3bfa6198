package server

import (
	"strconv"
	"testing"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/gen/oapi"
)

// TestBanReasonAdminsOnly: a ban's reason is for admins (the audit trail,
// GET /admin/users/{id}), never its user: once the ban is lifted, the
// user's GET /profile/activity lists user.banned with its until but not
// its reason. A reason with a NUL is refused (400 naming it), nothing
// banned or recorded: PostgreSQL's text refuses a NUL, and it was a 500
// there.
func TestBanReasonAdminsOnly(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	root, _ := a.adminAccount("root@example.com")
	a.mustRegister("ada@example.com", "correct horse")
	path := "/admin/users/" + strconv.FormatInt(a.userID("ada@example.com"), 10) + "/ban"

	rec := a.do("POST", path, `{"reason":"spam\u0000"}`, bearer(root.Token)...)
	wantProblem(t, rec, 400, "", "a reason with a NUL")
	if p := decode[oapi.Problem](t, rec); p.Errors == nil || (*p.Errors)[0].Field != "/reason" {
		t.Errorf("a reason with a NUL: %s, want /reason named", rec.Body)
	}
	if got := a.eventsOf(db.EventUserBanned); len(got) != 0 {
		t.Errorf("a refused ban recorded %v", got)
	}
	a.mustLogin("ada@example.com", "correct horse") // not banned

	a.status(a.do("POST", path, `{"reason":"chargeback fraud, ticket 4312"}`, bearer(root.Token)...), 200, "ban ada")
	a.status(a.do("DELETE", path, "", bearer(root.Token)...), 200, "lift the ban")
	ada := a.mustLogin("ada@example.com", "correct horse")

	page := decode[oapi.ActivityPage](t, a.status(a.do("GET", "/profile/activity", "", bearer(ada)...), 200, "ada's activity"))
	var banned *oapi.Activity
	for i, e := range page.Events {
		if e.Type == db.EventUserBanned {
			banned = &page.Events[i]
		}
	}
	if banned == nil {
		t.Fatalf("ada's activity has no user.banned: %+v", page.Events)
	}
	if _, ok := banned.Data["reason"]; ok {
		t.Errorf("ada is shown the ban's reason: %v", banned.Data)
	}
	if _, ok := banned.Data["until"]; !ok {
		t.Errorf("ada's user.banned lost its until: %v", banned.Data)
	}
	audit := decode[oapi.AuditPage](t, a.status(a.do("GET", "/admin/audit?type=user.banned", "", bearer(root.Token)...), 200, "the audit"))
	if len(audit.Events) != 1 || audit.Events[0].Data["reason"] != "chargeback fraud, ticket 4312" {
		t.Errorf("the audit trail's user.banned: %+v", audit.Events)
	}
}
