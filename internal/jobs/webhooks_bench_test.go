package jobs_test

// make bench-webhooks (BENCH.md, "Webhooks"): deliveries per second to a
// local receiver, and what an event that has a webhook type adds to the
// transaction that records it.

import (
	"context"
	"database/sql"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/internal/jobs"
)

// BenchmarkWebhookDeliveries records b.N events (user.updated, on its own
// statement) with an endpoint taking them on a local receiver that answers
// 204 at once, and measures until the receiver has every one: the fan-out
// and delivery throughput of one replica at WEBHOOKS_WORKERS=10, reported
// as events/s, at keel's defaults (WEBHOOKS_WORKERS=50; workers poll every second). Both
// engines.
func BenchmarkWebhookDeliveries(b *testing.B) {
	for _, engine := range engines {
		b.Run(engine.name, func(b *testing.B) {
			tdb := engine.open(b)
			s := tdb.store.(hookedStore)
			cfg := webhookConfig(true)
			// keel's defaults: a first retry after 5 s, so polling every second.
			cfg.CountUsersEvery, cfg.Webhooks.RetryMin = time.Hour, jobs.DefaultWebhookRetryMin
			e, err := jobs.New(s, s.Jobs(), withQuiet(cfg))
			if err != nil {
				b.Fatal(err)
			}
			s.SetEventHook(e.EventHook)
			var got atomic.Int64
			r := newReceiver(b, func(int) int { got.Add(1); return http.StatusNoContent })
			addEndpoint(b, s, r.URL, "user.updated")
			ctx := context.Background()
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				if err := s.RecordEvent(ctx, db.Event{Type: "user.updated", CreatedAt: time.Now(), UserID: int64(i + 1), Actor: "system",
					Data: []byte(`{"fields":["user_metadata"]}`)}); err != nil {
					b.Fatal(err)
				}
			}
			if err := e.Start(ctx); err != nil {
				b.Fatal(err)
			}
			defer e.Stop(ctx)
			for got.Load() < int64(b.N) {
				if time.Since(start) > 5*time.Minute {
					b.Fatalf("%d of %d delivered", got.Load(), b.N)
				}
				time.Sleep(5 * time.Millisecond)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
		})
	}
}

// BenchmarkEventInTx is one user.updated event recorded in its own
// transaction (as a request's change records it), with no endpoint
// (hook=off: the event's insert alone), and with an endpoint taking the
// type (hook=on: the endpoint check and the fan-out job's insert in the
// same transaction). The difference is what webhooks add to the request.
func BenchmarkEventInTx(b *testing.B) {
	for _, engine := range engines {
		for _, on := range []bool{false, true} {
			name := engine.name + "/hook=off"
			if on {
				name = engine.name + "/hook=on"
			}
			b.Run(name, func(b *testing.B) {
				tdb := engine.open(b)
				s := tdb.store.(hookedStore)
				e, err := jobs.New(s, s.Jobs(), withQuiet(webhookConfig(true)))
				if err != nil {
					b.Fatal(err)
				}
				s.SetEventHook(e.EventHook)
				if on {
					addEndpoint(b, s, "https://app.example/hooks", "user.updated")
				}
				ctx := context.Background()
				u, err := s.CreateUser(ctx, "bench@example.com", "x", time.Now(), nil)
				if err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				for range b.N {
					// A change with an after hook: a registration's
					// transaction, recording one event.
					if _, err := s.CreateUser(ctx, "u"+strconv.Itoa(b.N)+"-"+strconv.FormatInt(time.Now().UnixNano(), 36)+"@example.com", "x", time.Now(),
						func(tx *sql.Tx, nu db.User) error {
							return s.RecordEventTx(ctx, tx, db.Event{Type: "user.updated", CreatedAt: time.Now(), UserID: u.ID, Actor: "system"})
						}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func withQuiet(cfg jobs.Config) jobs.Config {
	cfg.Log = quiet
	return cfg
}
