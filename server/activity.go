package server

// Reading events back: the pages of a listing (GET /profile/activity, GET
// /admin/audit) and the owner's subset of an event (toActivity). The
// operations themselves live in the file of their tag.

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/gen/oapi"
)

// eventPage reads one page of the events f selects (f.Limit is the
// request's limit) and the cursor of the next page, nil on the last: it
// reads one event more than the page holds to know.
func (s *Server) eventPage(ctx context.Context, f db.EventFilter, limit *int) ([]db.Event, *string, error) {
	size := pageSize(limit)
	f.Limit = size + 1
	es, err := s.store.ListEvents(ctx, f)
	if err != nil || len(es) <= size {
		return es, nil, err
	}
	es = es[:size]
	next := encodeCursor(es[size-1].ID)
	return es, &next, nil
}

// toActivity is the owner's view of an event about them: who did it only
// as a kind (never an admin's or a client's id), and the address and
// User-Agent only of what they or someone not signed in did (not of an
// admin's request).
func toActivity(e db.Event, owner int64) (oapi.Activity, error) {
	kind, _, _ := strings.Cut(e.Actor, ":")
	a := oapi.Activity{ID: e.ID, Type: e.Type, CreatedAt: e.CreatedAt.UTC(), Actor: oapi.ActivityActor(kind)}
	if !a.Actor.Valid() {
		a.Actor = oapi.ActivityActorSystem
	}
	if e.Actor == db.ActorUser(owner) || e.Actor == db.ActorAnonymous {
		if e.IP != "" {
			a.IP = &e.IP
		}
		if e.UserAgent != "" {
			a.UserAgent = &e.UserAgent
		}
	}
	if err := json.Unmarshal(eventData(e), &a.Data); err != nil {
		return a, err
	}
	for _, k := range adminOnlyData[e.Type] {
		delete(a.Data, k)
	}
	return a, nil
}

// adminOnlyData are the fields of an event's data that its owner is not
// shown: a ban's reason is the operator's to tell (the spec's BanRequest,
// docs/admin.md), and a user whose ban ran out or was lifted read it in
// their activity.
var adminOnlyData = map[string][]string{
	db.EventUserBanned: {"reason"},
}

// eventData is e's data, "{}" when it has none.
func eventData(e db.Event) json.RawMessage {
	if len(e.Data) == 0 {
		return json.RawMessage("{}")
	}
	return e.Data
}

// toAuditEvent is an admin's view of an event: all of it.
func toAuditEvent(e db.Event) (oapi.AuditEvent, error) {
	a := oapi.AuditEvent{ID: e.ID, Type: e.Type, CreatedAt: e.CreatedAt.UTC(), Actor: e.Actor, IP: e.IP, UserAgent: e.UserAgent}
	if e.UserID != 0 {
		a.UserID = &e.UserID
	}
	err := json.Unmarshal(eventData(e), &a.Data)
	return a, err
}
