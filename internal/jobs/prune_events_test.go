package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/internal/jobs"
)

// prune-events runs on both engines and deletes the events older than
// AuditRetention, in batches (here of 2, so that its 5 old events take
// three), and keeps the younger ones, a deleted user's among them.
func TestPruneEvents(t *testing.T) {
	t.Parallel()
	for _, engine := range engines {
		t.Run(engine.name, func(t *testing.T) {
			t.Parallel()
			d := engine.open(t)
			ctx := context.Background()
			now := time.Now()
			const retention = 90 * 24 * time.Hour
			for i, at := range []time.Time{
				now.Add(-retention - 24*time.Hour), now.Add(-retention - time.Hour), now.Add(-retention - time.Minute),
				now.Add(-retention - time.Second), now.Add(-200 * 24 * time.Hour), // old: go
				now.Add(-retention + time.Hour), now.Add(-time.Hour), now, // young: stay
			} {
				if err := d.store.RecordEvent(ctx, db.Event{Type: "signin.succeeded", CreatedAt: at, UserID: int64(i + 1), Actor: "system"}); err != nil {
					t.Fatal(err)
				}
			}
			cfg := jobs.Config{PruneEvery: 300 * time.Millisecond, AuditRetention: retention}
			cfg.SetPruneEventsBatch(2)
			_, reg := startEngine(t, d.store, cfg)
			waitFor(t, 15*time.Second, "prune-events did not run", func() bool { return runs(t, reg, "prune-events") >= 1 })
			left, err := d.store.ListEvents(ctx, db.EventFilter{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			var users []int64
			for _, e := range left {
				users = append(users, e.UserID)
			}
			if len(users) != 3 || users[0] != 8 || users[1] != 7 || users[2] != 6 {
				t.Errorf("events left about users %v, want the three young ones [8 7 6]", users)
			}
		})
	}
}
