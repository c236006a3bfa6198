package server

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/gen/oapi"
)

// TestMetadataAnyJSON: what one engine keeps of a JSON object the other
// keeps too, and no JSON a client may send makes a 5xx: a NUL escape
// (\u0000) in a value or a key, and a number below PostgreSQL's numeric
// range, which its jsonb refuses, are kept as sent in user_metadata (and in
// an event's data) on both engines.
func TestMetadataAnyJSON(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	u := a.mustRegister("ada@example.com", "correct horse")
	tok := a.mustLogin("ada@example.com", "correct horse")
	for _, meta := range []string{`{"a":"\u0000"}`, `{"\u0000":1}`, `{"a":1e-1000000}`, `{"a":[0.1e-20000]}`} {
		a.status(a.do("PATCH", "/profile", `{"user_metadata":`+meta+`}`, bearer(tok)...), http.StatusOK, "PATCH /profile "+meta)
		got := decode[oapi.User](t, a.status(a.do("GET", "/profile", "", bearer(tok)...), http.StatusOK, "GET /profile"))
		if string(got.UserMetadata) != meta {
			t.Errorf("user_metadata %s, want %s as sent", got.UserMetadata, meta)
		}
		a.setAppMetadata(u.ID, meta) // the admin API's PATCH and an import write the same column
		if err := a.store.RecordEvent(context.Background(), db.Event{Type: "user.updated", CreatedAt: a.clock.Now(), UserID: u.ID,
			Actor: db.ActorUser(u.ID), Data: json.RawMessage(meta)}); err != nil {
			t.Errorf("an event with data %s: %v", meta, err)
		}
	}
}
