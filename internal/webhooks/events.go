package webhooks

// The webhook types an app subscribes to, and how each is made from the
// events keel records (db.Event, issue 26's names). Most keep their
// recorded name; a few are made from another: a successful sign-in starts a
// session (session.created), and a password reset is a change of password
// (password.changed, data.method "reset"). Recorded events with no webhook
// type (failed sign-ins, role changes, recovery codes...) are never sent.

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keelhq/keel/db"
)

// Types are the webhook types, in the order the docs list them.
var Types = []string{
	"user.created", "user.email_verified", "user.updated", "user.banned", "user.unbanned", "user.deleted",
	"session.created", "session.ended", "password.changed",
	"mfa.factor_added", "mfa.factor_removed", "passkey.added", "passkey.removed",
	"identity.linked", "identity.unlinked",
}

// fromRecorded maps a recorded event type to its webhook type, with the
// fields the mapping adds to data (nil for none).
var fromRecorded = map[string]struct {
	typ   string
	extra map[string]any
}{
	"user.created":        {typ: "user.created"},
	"user.email_verified": {typ: "user.email_verified"},
	"user.updated":        {typ: "user.updated"},
	"user.banned":         {typ: "user.banned"},
	"user.unbanned":       {typ: "user.unbanned"},
	"user.deleted":        {typ: "user.deleted"},
	"signin.succeeded":    {typ: "session.created"},
	"session.ended":       {typ: "session.ended"},
	// A refresh token used twice ends the session (data.why "reuse").
	"session.refresh_reused": {typ: "session.ended"},
	"password.changed":       {typ: "password.changed", extra: map[string]any{"method": "change"}},
	"password.reset":         {typ: "password.changed", extra: map[string]any{"method": "reset"}},
	"mfa.factor_added":       {typ: "mfa.factor_added"},
	"mfa.factor_removed":     {typ: "mfa.factor_removed"},
	"mfa.factors_reset":      {typ: "mfa.factor_removed", extra: map[string]any{"all": true}},
	"passkey.added":          {typ: "passkey.added"},
	"passkey.removed":        {typ: "passkey.removed"},
	"identity.linked":        {typ: "identity.linked"},
	"identity.unlinked":      {typ: "identity.unlinked"},
}

// TypeOf is the webhook type a recorded event is sent as, and whether it is
// sent at all. An account an import brought in (user.created, method
// import) is not: an import of a hundred thousand users is not a hundred
// thousand webhooks, whoever runs it (the import's own report lists them).
func TypeOf(e db.Event) (string, bool) {
	m, ok := fromRecorded[e.Type]
	if ok && e.Type == db.EventUserCreated && len(e.Data) > 0 {
		var d struct{ Method string }
		if json.Unmarshal(e.Data, &d) == nil && d.Method == "import" {
			return "", false
		}
	}
	return m.typ, ok
}

// CheckTypes refuses a subscription that names no type, a type twice, or
// one that is not in Types; it returns the types in Types' order.
func CheckTypes(types []string) ([]string, error) {
	if len(types) == 0 {
		return nil, fmt.Errorf("webhooks: subscribe to at least one event type")
	}
	var out []string
	for _, t := range Types {
		if slices.Contains(types, t) {
			out = append(out, t)
		}
	}
	for _, t := range types {
		if !slices.Contains(Types, t) {
			return nil, fmt.Errorf("webhooks: %q is not an event type (%s)", t, strings.Join(Types, ", "))
		}
	}
	if len(out) != len(types) {
		return nil, fmt.Errorf("webhooks: an event type is named twice")
	}
	return out, nil
}

// Payload is the body of a delivery: {"type","timestamp","data"} (Standard
// Webhooks' shape). data is the recorded event's own fields, plus user_id
// (when about an account), sequence (the event's id in the events table:
// greater for a later event of the same user, so a receiver can order what
// arrives out of order, though not consecutive) and actor (who did it).
func Payload(e db.Event) (typ string, body []byte, err error) {
	m, ok := fromRecorded[e.Type]
	if !ok {
		return "", nil, fmt.Errorf("webhooks: %q is not sent", e.Type)
	}
	data := map[string]any{}
	if len(e.Data) > 0 {
		if err := json.Unmarshal(e.Data, &data); err != nil {
			return "", nil, fmt.Errorf("webhooks: event %d's data: %w", e.ID, err)
		}
		if data == nil {
			data = map[string]any{}
		}
	}
	for k, v := range m.extra {
		data[k] = v
	}
	if e.UserID != 0 {
		data["user_id"] = e.UserID
	}
	data["sequence"] = e.ID
	data["actor"] = e.Actor
	body, err = json.Marshal(struct {
		Type      string         `json:"type"`
		Timestamp string         `json:"timestamp"`
		Data      map[string]any `json:"data"`
	}{m.typ, e.CreatedAt.UTC().Format(time.RFC3339Nano), data})
	return m.typ, body, err
}

// MessageID is the webhook-id of an event's deliveries: the same for every
// attempt and every resend to one endpoint, so a receiver can drop a
// duplicate by it (at-least-once delivery makes duplicates possible).
func MessageID(eventID int64) string { return fmt.Sprintf("msg_%d", eventID) }
