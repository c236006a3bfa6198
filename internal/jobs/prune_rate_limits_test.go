package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/keelhq/keel/internal/jobs"
)

// prune-rate-limits runs on both engines and forgets the keys whose limit
// has refilled, keeping the others: at 6 a minute a request counts for
// 10 s, so the key last seen 30 s ago is forgotten and the current one is
// not (it still refuses after a burst). 30 s, not more: SQLite's buckets
// also sweep themselves each minute, which would leave the job nothing to do.
func TestPruneRateLimits(t *testing.T) {
	t.Parallel()
	for _, engine := range engines {
		t.Run(engine.name, func(t *testing.T) {
			t.Parallel()
			d := engine.open(t)
			ctx := context.Background()
			now := time.Now()
			if _, err := d.store.TakeRateToken(ctx, "old", 6, now.Add(-30*time.Second)); err != nil {
				t.Fatal(err)
			}
			for range 6 {
				if _, err := d.store.TakeRateToken(ctx, "new", 6, now); err != nil {
					t.Fatal(err)
				}
			}
			_, reg := startEngine(t, d.store, jobs.Config{PruneEvery: 300 * time.Millisecond})
			waitFor(t, 15*time.Second, "prune-rate-limits did not run", func() bool { return runs(t, reg, "prune-rate-limits") >= 1 })
			// Nothing is left to prune but "new", which is still counting.
			if n, err := d.store.PruneRateLimits(ctx, time.Now()); err != nil || n != 0 {
				t.Errorf("PruneRateLimits after the job: %d, %v; want 0 (the job pruned the old key)", n, err)
			}
			if wait, err := d.store.TakeRateToken(ctx, "new", 6, now); err != nil || wait == 0 {
				t.Errorf("the current key after pruning: wait %v, %v; want it kept and refusing", wait, err)
			}
		})
	}
}
