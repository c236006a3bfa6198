package webhooks

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keelhq/keel/db"
)

// TestPayload: a recorded event becomes {"type","timestamp","data"} with
// its own fields, what the mapping adds, user_id, sequence and actor.
func TestPayload(t *testing.T) {
	e := db.Event{ID: 42, Type: "password.reset", CreatedAt: time.Date(2026, 12, 7, 6, 0, 0, 123_000_000, time.UTC),
		UserID: 7, Actor: "user:7", IP: "192.0.2.1", UserAgent: "ua", Data: json.RawMessage(`{"x":"y"}`)}
	typ, body, err := Payload(e)
	if err != nil || typ != "password.changed" {
		t.Fatalf("Payload = %q, %v", typ, err)
	}
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"type": "password.changed", "timestamp": "2026-12-07T06:00:00.123Z",
		"data": map[string]any{"x": "y", "method": "reset", "user_id": 7.0, "sequence": 42.0, "actor": "user:7"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("payload (-want +got):\n%s", d)
	}
	if _, _, err := Payload(db.Event{Type: "signin.failed"}); err == nil {
		t.Error("signin.failed has a payload")
	}
	for recorded, m := range fromRecorded {
		if _, err := CheckTypes([]string{m.typ}); err != nil {
			t.Errorf("%s maps to %s, which is not in Types", recorded, m.typ)
		}
	}
	if got, err := CheckTypes([]string{"user.deleted", "user.created"}); err != nil || got[0] != "user.created" {
		t.Errorf("CheckTypes = %v, %v", got, err)
	}
	for _, bad := range [][]string{nil, {"user.created", "user.created"}, {"signin.failed"}} {
		if _, err := CheckTypes(bad); err == nil {
			t.Errorf("CheckTypes(%q) took it", bad)
		}
	}
}
