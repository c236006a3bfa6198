package jobs

import (
	"context"
	"log/slog"

	"github.com/riverqueue/river"

	"github.com/keelhq/keel/db"
)

// CountUsers is the seed's scheduled job: count the users and log the count.
type CountUsers struct{}

// Kind names the job in River's tables and in keel's metrics.
func (CountUsers) Kind() string { return "count-users" }

type countUsersWorker struct {
	river.WorkerDefaults[CountUsers]
	store db.Store
	log   *slog.Logger
}

func (w *countUsersWorker) Work(ctx context.Context, _ *river.Job[CountUsers]) error {
	n, err := w.store.CountUsers(ctx)
	if err != nil {
		return err
	}
	w.log.LogAttrs(ctx, slog.LevelDebug, "users counted", slog.String("job", CountUsers{}.Kind()), slog.Int64("users", n))
	return nil
}
