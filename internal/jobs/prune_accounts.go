package jobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/keelhq/keel/db"
)

// PruneAccounts deletes expired sessions and one-time tokens, which nothing
// else removes: a session nobody logs out of, and a token nobody uses, would
// otherwise stay forever.
type PruneAccounts struct{}

// Kind names the job in River's tables and in keel's metrics.
func (PruneAccounts) Kind() string { return "prune-accounts" }

type pruneAccountsWorker struct {
	river.WorkerDefaults[PruneAccounts]
	store db.Store
	now   func() time.Time
	log   *slog.Logger
}

func (w *pruneAccountsWorker) Work(ctx context.Context, _ *river.Job[PruneAccounts]) error {
	n, err := w.store.PruneAccounts(ctx, w.now())
	if err != nil {
		return err
	}
	w.log.LogAttrs(ctx, slog.LevelDebug, "expired sessions and tokens pruned", slog.String("job", PruneAccounts{}.Kind()), slog.Int64("rows", n))
	return nil
}
