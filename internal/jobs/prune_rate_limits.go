package jobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/keelhq/keel/db"
)

// PruneRateLimits forgets the rate limit's keys that have refilled
// (PostgreSQL's auth_rate_limit rows, SQLite's buckets in memory), which
// would otherwise keep one for every client ever seen.
type PruneRateLimits struct{}

// Kind names the job in River's tables and in keel's metrics.
func (PruneRateLimits) Kind() string { return "prune-rate-limits" }

type pruneRateLimitsWorker struct {
	river.WorkerDefaults[PruneRateLimits]
	store db.Store
	now   func() time.Time
	log   *slog.Logger
}

func (w *pruneRateLimitsWorker) Work(ctx context.Context, _ *river.Job[PruneRateLimits]) error {
	n, err := w.store.PruneRateLimits(ctx, w.now())
	if err != nil {
		return err
	}
	w.log.LogAttrs(ctx, slog.LevelDebug, "rate limits pruned", slog.String("job", PruneRateLimits{}.Kind()), slog.Int64("rows", n))
	return nil
}
