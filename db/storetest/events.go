package storetest

// The suite's part on events (db.Events): what is recorded reads back, the
// listing's filters and cursor, the retention's batches, and that an
// account's events outlive it.

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/keelhq/keel/db"
)

// record writes e on its own, or fails the test.
func record(t *testing.T, s db.Store, e db.Event) {
	t.Helper()
	if err := s.RecordEvent(t.Context(), e); err != nil {
		t.Fatalf("RecordEvent(%+v): %v", e, err)
	}
}

// listEvents lists the events f selects, or fails the test.
func listEvents(t *testing.T, s db.Store, f db.EventFilter) []db.Event {
	t.Helper()
	es, err := s.ListEvents(t.Context(), f)
	if err != nil {
		t.Fatalf("ListEvents(%+v): %v", f, err)
	}
	return es
}

// eventsReadBack: an event reads back as recorded (its time to the
// millisecond, in UTC; data "{}" when none), newest first; the one recorded
// in a transaction that rolls back is not there, RecordEventTxID's id is
// its own; and the user's events outlive the user.
func eventsReadBack(t *testing.T, s db.Store) {
	ctx := t.Context()
	u := mustCreate(t, s, "events@example.com")
	first := db.Event{Type: "user.created", CreatedAt: when, UserID: u.ID, Actor: db.ActorUser(u.ID), IP: "192.0.2.1",
		UserAgent: "agent", Data: json.RawMessage(`{"method":"register"}`)}
	record(t, s, first)
	record(t, s, db.Event{Type: "signin.failed", CreatedAt: when.Add(time.Second), Actor: db.ActorAnonymous})
	// In a transaction that rolls back: not recorded.
	boom := fmt.Errorf("boom")
	err := s.ChangePassword(ctx, u.ID, "changed", "", func(tx *sql.Tx) error {
		if err := s.RecordEventTx(ctx, tx, db.Event{Type: "password.changed", CreatedAt: when, UserID: u.ID, Actor: "cli"}); err != nil {
			return err
		}
		return boom
	})
	if err != boom {
		t.Fatalf("ChangePassword whose after fails: %v", err)
	}
	var id int64
	err = s.ChangePassword(ctx, u.ID, "changed", "", func(tx *sql.Tx) (err error) {
		id, err = s.RecordEventTxID(ctx, tx, db.Event{Type: "password.changed", CreatedAt: when, UserID: u.ID, Actor: "cli"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	es := listEvents(t, s, db.EventFilter{Limit: 10})
	if len(es) != 3 {
		t.Fatalf("events = %+v, want 3", es)
	}
	if es[0].ID != id || es[0].Type != "password.changed" || string(es[0].Data) != "{}" {
		t.Errorf("newest = %+v, want password.changed with id %d and data {}", es[0], id)
	}
	if es[1].Type != "signin.failed" || es[1].UserID != 0 {
		t.Errorf("second = %+v, want signin.failed of no user", es[1])
	}
	got := es[2]
	want := first
	want.ID, want.CreatedAt = got.ID, db.Millis(when)
	if got.CreatedAt.Location() != time.UTC || !got.CreatedAt.Equal(want.CreatedAt) || got.Type != want.Type || got.UserID != u.ID ||
		got.Actor != want.Actor || got.IP != want.IP || got.UserAgent != want.UserAgent || string(got.Data) != string(want.Data) {
		t.Errorf("oldest = %+v, want %+v", got, want)
	}
	if !(es[0].ID > es[1].ID && es[1].ID > es[2].ID) {
		t.Errorf("ids %d, %d, %d: want newest first", es[0].ID, es[1].ID, es[2].ID)
	}
	// The deleted user's events are still theirs.
	if mine := listEvents(t, s, db.EventFilter{UserID: u.ID, Limit: 10}); len(mine) != 2 {
		t.Errorf("the deleted user's events = %+v, want 2", mine)
	}
}

// eventFilters: each filter alone and together selects the events that
// match all of it, whichever leads the query; Since is inclusive.
func eventFilters(t *testing.T, s db.Store) {
	t0 := db.Millis(when)
	type ev struct {
		typ   string
		user  int64
		actor string
		at    time.Duration
	}
	for _, e := range []ev{
		{"signin.succeeded", 1, "user:1", 0},
		{"signin.failed", 1, "anonymous", time.Minute},
		{"user.banned", 1, "admin:9", 2 * time.Minute},
		{"signin.succeeded", 2, "user:2", 3 * time.Minute},
		{"user.banned", 2, "admin:9", 4 * time.Minute},
		{"signin.succeeded", 1, "user:1", 5 * time.Minute},
	} {
		record(t, s, db.Event{Type: e.typ, UserID: e.user, Actor: e.actor, CreatedAt: t0.Add(e.at)})
	}
	describe := func(es []db.Event) []string {
		out := make([]string, len(es))
		for i, e := range es {
			out[i] = fmt.Sprintf("%s/%d/%s", e.Type, e.UserID, e.Actor)
		}
		return out
	}
	for _, tt := range []struct {
		name string
		f    db.EventFilter
		want []string
	}{
		{"none", db.EventFilter{}, []string{"signin.succeeded/1/user:1", "user.banned/2/admin:9", "signin.succeeded/2/user:2",
			"user.banned/1/admin:9", "signin.failed/1/anonymous", "signin.succeeded/1/user:1"}},
		{"user", db.EventFilter{UserID: 2}, []string{"user.banned/2/admin:9", "signin.succeeded/2/user:2"}},
		{"user and type", db.EventFilter{UserID: 1, Type: "signin.succeeded"}, []string{"signin.succeeded/1/user:1", "signin.succeeded/1/user:1"}},
		{"user and actor", db.EventFilter{UserID: 1, Actor: "admin:9"}, []string{"user.banned/1/admin:9"}},
		{"actor", db.EventFilter{Actor: "admin:9"}, []string{"user.banned/2/admin:9", "user.banned/1/admin:9"}},
		{"actor and type", db.EventFilter{Actor: "user:1", Type: "signin.failed"}, nil},
		{"type", db.EventFilter{Type: "signin.failed"}, []string{"signin.failed/1/anonymous"}},
		{"since, inclusive", db.EventFilter{Since: t0.Add(4 * time.Minute)}, []string{"signin.succeeded/1/user:1", "user.banned/2/admin:9"}},
		{"type since", db.EventFilter{Type: "user.banned", Since: t0.Add(3 * time.Minute)}, []string{"user.banned/2/admin:9"}},
		{"user, actor, type and since", db.EventFilter{UserID: 1, Actor: "user:1", Type: "signin.succeeded", Since: t0.Add(time.Second)},
			[]string{"signin.succeeded/1/user:1"}},
		{"a user with none", db.EventFilter{UserID: 3}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.f.Limit = 100
			if got := describe(listEvents(t, s, tt.f)); !equal(got, tt.want) {
				t.Errorf("ListEvents(%+v) = %q, want %q", tt.f, got, tt.want)
			}
		})
	}
}

// eventPages: a listing page by page, its cursor the last id of each page,
// sees every event that was there when it began, once, and none recorded
// while it went on.
func eventPages(t *testing.T, s db.Store) {
	const n = 23
	for i := range n {
		record(t, s, db.Event{Type: "signin.succeeded", UserID: 7, Actor: "user:7", CreatedAt: when, Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))})
	}
	seen := map[int64]bool{}
	var before int64
	for page := 0; ; page++ {
		es := listEvents(t, s, db.EventFilter{UserID: 7, Before: before, Limit: 5})
		for _, e := range es {
			if seen[e.ID] {
				t.Fatalf("event %d listed twice", e.ID)
			}
			seen[e.ID] = true
		}
		// Events recorded between pages are newer than the cursor.
		record(t, s, db.Event{Type: "signin.succeeded", UserID: 7, Actor: "user:7", CreatedAt: when})
		if len(es) < 5 {
			break
		}
		before = es[len(es)-1].ID
		if page > n {
			t.Fatal("the listing does not end")
		}
	}
	if len(seen) != n {
		t.Errorf("listed %d events, want the %d there when it began", len(seen), n)
	}
}

// pruneEvents: PruneEvents deletes the events made before the cutoff, the
// oldest first, at most a batch a call, and keeps the rest.
func pruneEvents(t *testing.T, s db.Store) {
	t0 := db.Millis(when)
	for i := range 7 {
		record(t, s, db.Event{Type: "old", Actor: "system", CreatedAt: t0.Add(time.Duration(i) * time.Second)})
	}
	record(t, s, db.Event{Type: "new", Actor: "system", CreatedAt: t0.Add(time.Hour)})
	cutoff := t0.Add(time.Minute)
	for _, want := range []int64{3, 3, 1, 0} {
		n, err := s.PruneEvents(t.Context(), cutoff, 3)
		if err != nil || n != want {
			t.Fatalf("PruneEvents = %d, %v; want %d", n, err, want)
		}
	}
	es := listEvents(t, s, db.EventFilter{Limit: 10})
	if len(es) != 1 || es[0].Type != "new" {
		t.Errorf("after pruning: %+v, want only the new event", es)
	}
}
