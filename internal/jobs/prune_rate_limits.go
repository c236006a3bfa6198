package jobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/keelhq/keel/db"
)

// PruneRateLimits deletes the cluster-wide rate limit's expired rows
// (PostgreSQL's auth_rate_limit), which would otherwise keep one row for
// every client ever seen.
type PruneRateLimits struct{}

// Kind names the job in River's tables and in keel's metrics.
func (PruneRateLimits) Kind() string { return "prune-rate-limits" }

type pruneRateLimitsWorker struct {
	river.WorkerDefaults[PruneRateLimits]
	store db.RateLimitPruner
	now   func() time.Time
	log   *slog.Logger
}

func (w *pruneRateLimitsWorker) Work(ctx context.Context, _ *river.Job[PruneRateLimits]) error {
	n, err := w.store.PruneAuthRateLimits(ctx, w.now())
	if err != nil {
		return err
	}
	w.log.LogAttrs(ctx, slog.LevelDebug, "rate limits pruned", slog.String("job", PruneRateLimits{}.Kind()), slog.Int64("rows", n))
	return nil
}
