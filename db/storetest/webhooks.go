package storetest

// The webhooks' store (webhooks.Store), held to one behaviour on every
// engine: endpoints round-trip and change whole, one delivery per endpoint
// and event however often it is fanned out, a run of failures that disables
// its endpoint once, resends, and deletion taking the deliveries along.

import (
	"database/sql"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/internal/webhooks"
)

// WebhooksStore is what the suite needs: the webhooks' store, and the
// events it fans out.
type WebhooksStore interface {
	webhooks.Store
	db.Events
}

// RunWebhooks runs the webhooks' suite; open returns a store on a new,
// empty, migrated database.
func RunWebhooks(t *testing.T, open func(t *testing.T) WebhooksStore) {
	tests := []struct {
		name string
		test func(t *testing.T, s WebhooksStore)
	}{
		{"an endpoint reads back as created and as changed, times in UTC to the millisecond", webhookEndpointRoundTrip},
		{"a missing endpoint or delivery is ErrNotFound", webhookNotFound},
		{"one delivery per endpoint and event, however many fan-outs", webhookDeliveriesOnce},
		{"failures start a run a success ends; the run disables its endpoint once", webhookFailingDisables},
		{"a resend sets the delivery pending again and counts it, in the after hook's transaction", webhookResend},
		{"deleting an endpoint deletes its deliveries", webhookDeleteCascades},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.test(t, open(t))
		})
	}
}

var webhookT0 = time.Date(2026, 12, 7, 4, 5, 6, 789_654_321, time.FixedZone("CET", 3600))

func testEndpoint(id string) webhooks.Endpoint {
	return webhooks.Endpoint{ID: id, URL: "https://app.example/hooks", Events: []string{"user.created", "user.deleted"},
		Secret: []byte("sealed " + id), CreatedAt: webhookT0}
}

func mustEndpoint(t *testing.T, s WebhooksStore, id string) webhooks.Endpoint {
	t.Helper()
	e := testEndpoint(id)
	if err := s.CreateWebhookEndpoint(t.Context(), e); err != nil {
		t.Fatal(err)
	}
	return e
}

// mustEvent records an event and returns its id (the greatest id there).
func mustEvent(t *testing.T, s WebhooksStore) int64 {
	t.Helper()
	if err := s.RecordEvent(t.Context(), db.Event{Type: "user.created", CreatedAt: webhookT0, UserID: 7, Actor: "system",
		Data: json.RawMessage(`{"method":"admin"}`)}); err != nil {
		t.Fatal(err)
	}
	var id int64
	for i := int64(1); i < 100; i++ {
		if _, err := s.WebhookEvent(t.Context(), i); err == nil {
			id = i
		}
	}
	return id
}

func webhookEndpointRoundTrip(t *testing.T, s WebhooksStore) {
	ctx := t.Context()
	want := mustEndpoint(t, s, "ep_1")
	want.CreatedAt = db.Millis(webhookT0)
	got, err := s.WebhookEndpoint(ctx, "ep_1")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("created (-want +got):\n%s", d)
	}
	changed, err := s.UpdateWebhookEndpoint(ctx, "ep_1", func(e *webhooks.Endpoint) error {
		e.URL, e.Events = "https://other.example/", []string{"session.created"}
		e.PreviousSecret, e.PreviousUntil, e.Secret = e.Secret, webhookT0.Add(time.Hour), []byte("new")
		e.DisabledAt, e.DisabledReason = webhookT0, webhooks.DisabledByAdmin
		e.ID = "ep_other" // not changed
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err = s.WebhookEndpoint(ctx, "ep_1")
	if err != nil {
		t.Fatal(err)
	}
	want.URL, want.Events, want.Secret = "https://other.example/", []string{"session.created"}, []byte("new")
	want.PreviousSecret, want.PreviousUntil = []byte("sealed ep_1"), db.Millis(webhookT0.Add(time.Hour))
	want.DisabledAt, want.DisabledReason = db.Millis(webhookT0), webhooks.DisabledByAdmin
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("changed (-want +got):\n%s", d)
	}
	if changed.ID != "ep_1" {
		t.Errorf("UpdateWebhookEndpoint returned id %q", changed.ID)
	}
	boom := errors.New("boom")
	if _, err := s.UpdateWebhookEndpoint(ctx, "ep_1", func(e *webhooks.Endpoint) error { e.URL = "x"; return boom }); !errors.Is(err, boom) {
		t.Errorf("a change's error: %v", err)
	}
	if got, _ := s.WebhookEndpoint(ctx, "ep_1"); got.URL != "https://other.example/" {
		t.Errorf("a failed change was written: %q", got.URL)
	}
	mustEndpoint(t, s, "ep_2")
	all, err := s.WebhookEndpoints(ctx)
	if err != nil || len(all) != 2 || all[0].ID != "ep_1" || all[1].ID != "ep_2" {
		t.Errorf("WebhookEndpoints = %d endpoints, %v", len(all), err)
	}
	any, err := s.AnyWebhookEndpointTx(ctx, nil, "user.deleted")
	if err != nil || !any {
		t.Errorf("AnyWebhookEndpointTx(user.deleted) = %v, %v; want true (ep_2 is enabled)", any, err)
	}
	if any, err := s.AnyWebhookEndpointTx(ctx, nil, "session.created"); err != nil || any {
		t.Errorf("AnyWebhookEndpointTx(session.created) = %v, %v; want false (no endpoint takes it)", any, err)
	}
}

func webhookNotFound(t *testing.T, s WebhooksStore) {
	ctx := t.Context()
	if any, err := s.AnyWebhookEndpointTx(ctx, nil, "user.created"); err != nil || any {
		t.Errorf("AnyWebhookEndpointTx on none = %v, %v", any, err)
	}
	if _, err := s.WebhookEndpoint(ctx, "ep_x"); !errors.Is(err, webhooks.ErrNotFound) {
		t.Errorf("WebhookEndpoint: %v", err)
	}
	if _, err := s.UpdateWebhookEndpoint(ctx, "ep_x", func(*webhooks.Endpoint) error { return nil }); !errors.Is(err, webhooks.ErrNotFound) {
		t.Errorf("UpdateWebhookEndpoint: %v", err)
	}
	if err := s.DeleteWebhookEndpoint(ctx, "ep_x"); !errors.Is(err, webhooks.ErrNotFound) {
		t.Errorf("DeleteWebhookEndpoint: %v", err)
	}
	if _, err := s.WebhookDelivery(ctx, 42); !errors.Is(err, webhooks.ErrNotFound) {
		t.Errorf("WebhookDelivery: %v", err)
	}
	if _, err := s.WebhookEvent(ctx, 42); !errors.Is(err, webhooks.ErrNotFound) {
		t.Errorf("WebhookEvent: %v", err)
	}
	if _, err := s.ResendWebhookDelivery(ctx, "ep_x", 42, nil); !errors.Is(err, webhooks.ErrNotFound) {
		t.Errorf("ResendWebhookDelivery: %v", err)
	}
}

func webhookDeliveriesOnce(t *testing.T, s WebhooksStore) {
	ctx := t.Context()
	mustEndpoint(t, s, "ep_1")
	mustEndpoint(t, s, "ep_2")
	ev := mustEvent(t, s)
	e, err := s.WebhookEvent(ctx, ev)
	if err != nil || e.Type != "user.created" || e.UserID != 7 || string(e.Data) != `{"method":"admin"}` || !e.CreatedAt.Equal(db.Millis(webhookT0)) {
		t.Fatalf("WebhookEvent = %+v, %v", e, err)
	}
	ds := []webhooks.Delivery{
		{EndpointID: "ep_1", EventID: ev, Type: "user.created", Body: []byte(`{"a":1}`), EventAt: webhookT0},
		{EndpointID: "ep_2", EventID: ev, Type: "user.created", Body: []byte(`{"a":1}`), EventAt: webhookT0},
	}
	var first, second []webhooks.Delivery
	if err := s.CreateWebhookDeliveries(ctx, ds, func(_ *sql.Tx, c []webhooks.Delivery) error { first = c; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateWebhookDeliveries(ctx, ds, func(_ *sql.Tx, c []webhooks.Delivery) error { second = c; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(first) != 2 || first[0].ID == 0 || len(second) != 0 {
		t.Fatalf("created %d then %d; want 2 then 0", len(first), len(second))
	}
	// An after hook's error stores nothing.
	ev2 := mustEvent(t, s)
	boom := errors.New("boom")
	ds[0].EventID = ev2
	if err := s.CreateWebhookDeliveries(ctx, ds[:1], func(*sql.Tx, []webhooks.Delivery) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("after's error: %v", err)
	}
	if got, _ := s.WebhookDeliveries(ctx, "ep_1", "", 0, 10); len(got) != 1 {
		t.Errorf("ep_1 has %d deliveries after a rolled-back fan-out, want 1", len(got))
	}
	got, err := s.WebhookDelivery(ctx, first[0].ID)
	if err != nil || got.State != webhooks.StatePending || string(got.Body) != `{"a":1}` || !got.EventAt.Equal(db.Millis(webhookT0)) {
		t.Errorf("WebhookDelivery = %+v, %v", got, err)
	}
}

func webhookFailingDisables(t *testing.T, s WebhooksStore) {
	ctx := t.Context()
	mustEndpoint(t, s, "ep_1")
	ev := mustEvent(t, s)
	var d webhooks.Delivery
	if err := s.CreateWebhookDeliveries(ctx, []webhooks.Delivery{{EndpointID: "ep_1", EventID: ev, Type: "user.created", Body: []byte("{}"), EventAt: webhookT0}},
		func(_ *sql.Tx, c []webhooks.Delivery) error { d = c[0]; return nil }); err != nil {
		t.Fatal(err)
	}
	attempt := func(at time.Duration, fail bool, disableBefore time.Duration) bool {
		t.Helper()
		a := webhooks.Attempt{DeliveryID: d.ID, EndpointID: "ep_1", At: webhookT0.Add(at), Status: 200}
		if fail {
			a.Status, a.Error, a.DisableBefore = 500, "the endpoint answered 500", webhookT0.Add(disableBefore)
		}
		disabled, err := s.WebhookAttempted(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		return disabled
	}
	if attempt(0, true, -time.Hour) {
		t.Fatal("the first failure disabled the endpoint")
	}
	ep, _ := s.WebhookEndpoint(ctx, "ep_1")
	if !ep.FailingSince.Equal(db.Millis(webhookT0)) {
		t.Errorf("failing since %v, want %v", ep.FailingSince, webhookT0)
	}
	attempt(time.Minute, false, 0)
	if ep, _ := s.WebhookEndpoint(ctx, "ep_1"); !ep.FailingSince.IsZero() {
		t.Errorf("a success left failing_since %v", ep.FailingSince)
	}
	got, _ := s.WebhookDelivery(ctx, d.ID)
	if got.State != webhooks.StateDelivered || got.Attempts != 2 || got.LastStatus != 200 || got.DeliveredAt.IsZero() {
		t.Errorf("delivery after a success: %+v", got)
	}
	// A new run from 2 min: not disabled at 3 min (before 1 min), disabled
	// at 4 min (before 2 min), and only once.
	attempt(2*time.Minute, true, time.Minute)
	if attempt(3*time.Minute, true, time.Minute) {
		t.Error("disabled by a run younger than the limit")
	}
	if !attempt(4*time.Minute, true, 2*time.Minute) {
		t.Error("not disabled by a run as old as the limit")
	}
	if attempt(5*time.Minute, true, 3*time.Minute) {
		t.Error("disabled twice")
	}
	ep, _ = s.WebhookEndpoint(ctx, "ep_1")
	if ep.Enabled() || ep.DisabledReason != webhooks.DisabledFailing {
		t.Errorf("endpoint %+v: want disabled for failing", ep)
	}
	if err := s.FailWebhookDelivery(ctx, d.ID, "given up"); err != nil {
		t.Fatal(err)
	}
	failed, err := s.WebhookDeliveries(ctx, "ep_1", webhooks.StateFailed, 0, 10)
	if err != nil || len(failed) != 1 || failed[0].LastError != "given up" {
		t.Errorf("failed deliveries %+v, %v", failed, err)
	}
}

func webhookResend(t *testing.T, s WebhooksStore) {
	ctx := t.Context()
	mustEndpoint(t, s, "ep_1")
	mustEndpoint(t, s, "ep_2")
	ev := mustEvent(t, s)
	var d webhooks.Delivery
	if err := s.CreateWebhookDeliveries(ctx, []webhooks.Delivery{{EndpointID: "ep_1", EventID: ev, Type: "user.created", Body: []byte("{}"), EventAt: webhookT0}},
		func(_ *sql.Tx, c []webhooks.Delivery) error { d = c[0]; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.FailWebhookDelivery(ctx, d.ID, "given up"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ResendWebhookDelivery(ctx, "ep_2", d.ID, nil); !errors.Is(err, webhooks.ErrNotFound) {
		t.Errorf("resend through another endpoint: %v", err)
	}
	boom := errors.New("boom")
	if _, err := s.ResendWebhookDelivery(ctx, "ep_1", d.ID, func(*sql.Tx, webhooks.Delivery) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("after's error: %v", err)
	}
	if got, _ := s.WebhookDelivery(ctx, d.ID); got.State != webhooks.StateFailed || got.Resends != 0 {
		t.Errorf("a rolled-back resend changed the delivery: %+v", got)
	}
	got, err := s.ResendWebhookDelivery(ctx, "ep_1", d.ID, nil)
	if err != nil || got.State != webhooks.StatePending || got.Resends != 1 {
		t.Errorf("resend = %+v, %v", got, err)
	}
}

func webhookDeleteCascades(t *testing.T, s WebhooksStore) {
	ctx := t.Context()
	mustEndpoint(t, s, "ep_1")
	ev := mustEvent(t, s)
	var d webhooks.Delivery
	if err := s.CreateWebhookDeliveries(ctx, []webhooks.Delivery{{EndpointID: "ep_1", EventID: ev, Type: "user.created", Body: []byte("{}"), EventAt: webhookT0}},
		func(_ *sql.Tx, c []webhooks.Delivery) error { d = c[0]; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteWebhookEndpoint(ctx, "ep_1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WebhookDelivery(ctx, d.ID); !errors.Is(err, webhooks.ErrNotFound) {
		t.Errorf("the deleted endpoint's delivery: %v", err)
	}
}
