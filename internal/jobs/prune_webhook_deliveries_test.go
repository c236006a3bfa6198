package jobs_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/keelhq/keel/internal/jobs"
	"github.com/keelhq/keel/internal/webhooks"
)

// prune-webhook-deliveries runs on both engines (webhooks off: no sealer)
// and deletes the finished deliveries of events older than AuditRetention,
// in batches (here of 2, so that its 4 old ones take three), and keeps the
// younger ones and an old one still pending.
func TestPruneWebhookDeliveries(t *testing.T) {
	t.Parallel()
	for _, engine := range engines {
		t.Run(engine.name, func(t *testing.T) {
			t.Parallel()
			s := engine.open(t).store.(hookedStore)
			ctx := context.Background()
			ep, _ := addEndpoint(t, s, "https://hooks.example.com/keel", "user.created")
			now := time.Now()
			const retention = 90 * 24 * time.Hour
			old, young := now.Add(-retention-time.Hour), now.Add(-retention+time.Hour)
			deliveries := []struct {
				at    time.Time
				state string
				stays bool
			}{
				{old, webhooks.StateDelivered, false},
				{old.Add(-200 * 24 * time.Hour), webhooks.StateDelivered, false},
				{old, webhooks.StateFailed, false},
				{now.Add(-retention - time.Second), webhooks.StateDelivered, false},
				{old, webhooks.StatePending, true}, // retries under way
				{young, webhooks.StateDelivered, true},
				{young, webhooks.StateFailed, true},
				{now, webhooks.StateDelivered, true},
			}
			var want []int64
			for i, d := range deliveries {
				eventID := int64(i + 1)
				if err := s.CreateWebhookDeliveries(ctx, []webhooks.Delivery{{EndpointID: ep.ID, EventID: eventID, Type: "user.created", Body: []byte(`{}`), EventAt: d.at}}, nil); err != nil {
					t.Fatal(err)
				}
				ds, err := s.WebhookDeliveries(ctx, ep.ID, "", 0, 1)
				if err != nil || len(ds) != 1 || ds[0].EventID != eventID {
					t.Fatalf("the delivery of event %d: %+v, %v", eventID, ds, err)
				}
				switch d.state {
				case webhooks.StateDelivered:
					_, err = s.WebhookAttempted(ctx, webhooks.Attempt{DeliveryID: ds[0].ID, EndpointID: ep.ID, At: now, Status: 200})
				case webhooks.StateFailed:
					err = s.FailWebhookDelivery(ctx, ds[0].ID, "gave up")
				}
				if err != nil {
					t.Fatal(err)
				}
				if d.stays {
					want = append(want, eventID)
				}
			}
			cfg := jobs.Config{PruneEvery: 300 * time.Millisecond, AuditRetention: retention}
			cfg.SetPruneEventsBatch(2)
			_, reg := startEngine(t, s, cfg)
			waitFor(t, 15*time.Second, "prune-webhook-deliveries did not run", func() bool { return runs(t, reg, "prune-webhook-deliveries") >= 1 })
			left, err := s.WebhookDeliveries(ctx, ep.ID, "", 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, d := range left {
				got = append(got, d.EventID)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("deliveries left of events %v, want %v (the young ones and the pending one)", got, want)
			}
		})
	}
}
