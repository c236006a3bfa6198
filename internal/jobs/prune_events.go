package jobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/keelhq/keel/db"
)

// DefaultAuditRetention is how long events are kept unless
// Config.AuditRetention says otherwise (AUDIT_RETENTION's default, 90 days).
const DefaultAuditRetention = 90 * 24 * time.Hour

// pruneEventsBatch is how many events one statement of prune-events
// deletes: each batch is its own short transaction, so that a backlog (the
// first run after the retention was shortened, say) never holds SQLite's
// one writer, or a PostgreSQL lock on many rows, for long.
const pruneEventsBatch = 1000

// PruneEvents deletes the events older than the retention (AUDIT_RETENTION):
// the events table is the audit trail, and an account's events outlive the
// account, so nothing else would ever remove them. Nothing else deletes an
// event; no API updates or deletes one.
type PruneEvents struct{}

// Kind names the job in River's tables and in keel's metrics.
func (PruneEvents) Kind() string { return "prune-events" }

type pruneEventsWorker struct {
	river.WorkerDefaults[PruneEvents]
	store     db.Events
	retention time.Duration
	batch     int
	now       func() time.Time
	log       *slog.Logger
}

func (w *pruneEventsWorker) Work(ctx context.Context, _ *river.Job[PruneEvents]) error {
	cutoff := w.now().Add(-w.retention)
	total, err := inBatches(ctx, w.batch, func(batch int) (int64, error) { return w.store.PruneEvents(ctx, cutoff, batch) })
	if err != nil {
		return err
	}
	w.log.LogAttrs(ctx, slog.LevelDebug, "events past the retention deleted", slog.String("job", PruneEvents{}.Kind()),
		slog.Int64("events", total), slog.Time("before", cutoff))
	return nil
}

// inBatches calls prune (which deletes at most batch rows, each call its own
// transaction) until a call deletes fewer, and returns how many it deleted
// in all. The job's timeout ends it early: the next run goes on.
func inBatches(ctx context.Context, batch int, prune func(batch int) (int64, error)) (int64, error) {
	var total int64
	for {
		n, err := prune(batch)
		total += n
		if err != nil || n < int64(batch) {
			return total, err
		}
		if err := ctx.Err(); err != nil {
			return total, err
		}
	}
}
