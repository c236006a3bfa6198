package server

import (
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/gen/oapi"
)

// TestAdminBan: POST /admin/users/{id}/ban bans a user: every session of
// theirs ends at once (the socket closes with 4001, the token gets 401),
// the right password gets 403 account-banned, and the events user.banned
// and session.ended (why ban) name the admin; DELETE lifts it
// (user.unbanned, once). Refused: no token (401), a non-admin (403
// admin-required), a stale proof for the ban (403
// reauthentication-required; the unban, which takes nothing away, goes
// through), the admin themselves (409), an end in the past (400), no such
// user (404). A ban that has run out refuses nothing.
func TestAdminBan(t *testing.T) {
	t.Parallel()
	a := newReauthAPI(t)
	ts := httptest.NewServer(a.srv)
	t.Cleanup(ts.Close)
	root, _ := a.adminAccount("root@example.com")
	_, _, bob := a.mfaAccount("bob@example.com")
	a.mustRegister("ada@example.com", "correct horse")
	ada := a.mustLoginPair("ada@example.com", "correct horse")
	socket := dialSession(t, wsURL(ts), ada.Token, "ada@example.com")
	rootID, adaID := a.userID("root@example.com"), a.userID("ada@example.com")
	path := func(id int64) string { return "/admin/users/" + strconv.FormatInt(id, 10) + "/ban" }
	ban := func(tok string, id int64, body string) *httptest.ResponseRecorder {
		var hdr []string
		if tok != "" {
			hdr = bearer(tok)
		}
		return a.do("POST", path(id), body, hdr...)
	}
	until := a.clock.Now().Add(time.Hour).UTC().Truncate(time.Second)
	body := `{"reason":"spam","until":"` + until.Format(time.RFC3339) + `"}`

	wantProblem(t, ban("", adaID, body), 401, "", "no token")
	wantProblem(t, ban(bob.Token, adaID, body), 403, adminRequiredType, "a user")
	wantProblem(t, a.do("DELETE", path(adaID), "", bearer(bob.Token)...), 403, adminRequiredType, "a user lifting a ban")
	wantProblem(t, ban(root.Token, rootID, body), 409, "", "the admin themselves")
	wantProblem(t, ban(root.Token, adaID, `{"reason":"spam","until":"2000-01-01T00:00:00Z"}`), 400, "", "an end in the past")
	wantProblem(t, ban(root.Token, adaID, `{"until":"`+until.Format(time.RFC3339)+`"}`), 400, "", "no reason")
	wantProblem(t, ban(root.Token, 999999, body), 404, "", "no such user")
	a.status(a.do("GET", "/profile", "", bearer(ada.Token)...), 200, "ada before the ban")

	u := decode[oapi.AdminUser](t, a.status(ban(root.Token, adaID, body), 200, "ban ada"))
	if u.State != oapi.UserStateBanned || u.Ban == nil || u.Ban.Reason != "spam" || u.Ban.Until == nil || !u.Ban.Until.Equal(until) ||
		len(u.Sessions) != 0 {
		t.Errorf("ada banned: %+v (ban %+v)", u, u.Ban)
	}
	closedWith(t, socket, 4001, 5*time.Second)
	wantProblem(t, a.do("GET", "/profile", "", bearer(ada.Token)...), 401, "", "ada's token after the ban")
	wantProblem(t, a.refresh(ada.RefreshToken), 401, "", "ada's refresh token after the ban")
	wantProblem(t, a.do("POST", "/login", credentials("ada@example.com", "wrong horse")), 401, "", "ada's wrong password")
	wantProblem(t, a.do("POST", "/login", credentials("ada@example.com", "correct horse")), 403, accountBannedType, "ada's password")

	actor := " admin:" + strconv.FormatInt(rootID, 10) + " "
	id := strconv.FormatInt(adaID, 10)
	wantEvents(t, a.eventsOf(db.EventUserBanned), "user.banned "+id+actor+`{"reason":"spam","until":"`+until.Format(time.RFC3339)+`"}`)
	wantEvents(t, a.eventsOf(db.EventSessionEnded), "session.ended "+id+actor+`{"all":true,"why":"ban"}`)

	// The ban is destructive; lifting it is not.
	a.stale()
	wantReauthRequired(t, ban(root.Token, adaID, body), "a ban with a stale proof")
	u = decode[oapi.AdminUser](t, a.status(a.do("DELETE", path(adaID), "", bearer(root.Token)...), 200, "lift the ban"))
	if u.State != oapi.UserStateActive || u.Ban != nil {
		t.Errorf("ada after the unban: %+v", u)
	}
	a.status(a.do("DELETE", path(adaID), "", bearer(root.Token)...), 200, "lift it again")
	wantProblem(t, a.do("DELETE", path(999999), "", bearer(root.Token)...), 404, "", "no such user")
	wantEvents(t, a.eventsOf(db.EventUserUnbanned), "user.unbanned "+id+actor+`{}`)
	a.mustLogin("ada@example.com", "correct horse")

	// A ban that has run out refuses nothing, and shows as such.
	a.status(a.reauth(root.Token, jsonBody("password", "password123")), 204, "reauthenticate")
	a.status(ban(root.Token, adaID, `{"reason":"cool off","until":"`+a.clock.Now().Add(time.Minute).UTC().Format(time.RFC3339Nano)+`"}`), 200, "a short ban")
	wantProblem(t, a.do("POST", "/login", credentials("ada@example.com", "correct horse")), 403, accountBannedType, "during the short ban")
	a.clock.Add(time.Minute)
	a.mustLogin("ada@example.com", "correct horse")
	if u := decode[oapi.AdminUser](t, a.do("GET", "/admin/users/"+id, "", bearer(root.Token)...)); u.State != oapi.UserStateActive || u.Ban == nil {
		t.Errorf("ada after the short ban ran out: %+v", u)
	}
}

// wantEvents checks the events a.events listed.
func wantEvents(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
