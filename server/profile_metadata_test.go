package server

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/gen/oapi"
)

// recordedEvents are the events about userID, oldest first, as "type actor
// data" lines, read behind keel's back.
func (a *testAPI) recordedEvents(userID int64) []string {
	a.t.Helper()
	rows, err := a.db.raw.Query(fmt.Sprintf("SELECT type, actor, data FROM events WHERE user_id = %d ORDER BY id", userID))
	if err != nil {
		a.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var typ, actor, data string
		if err := rows.Scan(&typ, &actor, &data); err != nil {
			a.t.Fatal(err)
		}
		// Compact: PostgreSQL's text keeps what keel wrote, but say so.
		var v any
		if err := json.Unmarshal([]byte(data), &v); err != nil {
			a.t.Fatalf("event data %q: %v", data, err)
		}
		b, _ := json.Marshal(v)
		out = append(out, typ+" "+actor+" "+string(b))
	}
	if err := rows.Err(); err != nil {
		a.t.Fatal(err)
	}
	return out
}

// The user keeps their own user_metadata: PATCH /profile replaces it (the
// JSON as sent, large integers too), GET /profile shows it, every change is
// a user.updated event naming the field (not its value), and what is not a
// JSON object of at most 16 KiB, or app_metadata, is refused.
func TestProfileMetadata(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	u := a.mustRegister("ada@example.com", "correct horse")
	tok := a.mustLogin("ada@example.com", "correct horse")

	profile := func() string {
		t.Helper()
		got := decode[oapi.User](t, a.status(a.do("GET", "/profile", "", bearer(tok)...), 200, "GET /profile"))
		return string(got.UserMetadata)
	}
	if got := profile(); got != "{}" {
		t.Fatalf("a new account's user_metadata %s, want {}", got)
	}

	const first = `{"theme":"dark","id":12345678901234567890,"nested":{"a":[1,2,{"b":null}]}}`
	rec := a.status(a.do("PATCH", "/profile", `{"user_metadata": {"theme": "dark", "id": 12345678901234567890, "nested": {"a": [1, 2, {"b": null}]}}}`, bearer(tok)...), 200, "PATCH /profile")
	if got := decode[oapi.User](t, rec); string(got.UserMetadata) != first || got.ID != u.ID || got.Email != u.Email {
		t.Errorf("PATCH answered %+v (user_metadata %s), want user_metadata %s", got, got.UserMetadata, first)
	}
	if got := profile(); got != first {
		t.Errorf("GET /profile's user_metadata %s, want %s", got, first)
	}
	// A write replaces the whole object; the same object again changes nothing.
	a.status(a.do("PATCH", "/profile", `{"user_metadata":{"locale":"de-CH"}}`, bearer(tok)...), 200, "replace")
	a.status(a.do("PATCH", "/profile", `{"user_metadata":{"locale":"de-CH"}}`, bearer(tok)...), 200, "the same again")
	if got := profile(); got != `{"locale":"de-CH"}` {
		t.Errorf("after the replacement %s, want only the new keys", got)
	}
	actor := db.ActorUser(u.ID)
	// updates are the user.updated events (register and sign-in record theirs).
	updates := func() []string {
		var out []string
		for _, e := range a.recordedEvents(u.ID) {
			if strings.HasPrefix(e, "user.updated ") {
				out = append(out, e)
			}
		}
		return out
	}
	want := []string{
		"user.updated " + actor + ` {"fields":["user_metadata"]}`,
		"user.updated " + actor + ` {"fields":["user_metadata"]}`,
	}
	if got := updates(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	big := `{"user_metadata":{"x":"` + strings.Repeat("a", db.MaxMetadataBytes) + `"}}`
	justUnder := `{"user_metadata":{"x":"` + strings.Repeat("a", db.MaxMetadataBytes-len(`{"x":""}`)) + `"}}`
	for _, tt := range []struct {
		name, body, field string
	}{
		{"an array", `{"user_metadata":[1]}`, "/user_metadata"},
		{"a string", `{"user_metadata":"x"}`, "/user_metadata"},
		{"null", `{"user_metadata":null}`, "/user_metadata"},
		{"over 16 KiB", big, "/user_metadata"},
		{"app_metadata, which only admins write", `{"user_metadata":{},"app_metadata":{"roles":["admin"]}}`, "/"},
		{"nothing", `{}`, "/user_metadata"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := a.status(a.do("PATCH", "/profile", tt.body, bearer(tok)...), 400, tt.name)
			if p := problemOf(t, rec); p.Errors == nil || (*p.Errors)[0].Field != tt.field {
				t.Errorf("problem %+v (%+v), want one naming %s", p, *p.Errors, tt.field)
			}
		})
	}
	if got := profile(); got != `{"locale":"de-CH"}` {
		t.Errorf("after the refusals %s, want it unchanged", got)
	}
	a.status(a.do("PATCH", "/profile", justUnder, bearer(tok)...), 200, "exactly 16 KiB")
	a.status(a.do("PATCH", "/profile", `{"user_metadata":{}}`), 401, "no token")
	if n := len(updates()); n != 3 {
		t.Errorf("%d user.updated events, want 3 (the refusals record nothing)", n)
	}
}
