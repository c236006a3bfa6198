package jobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/keelhq/keel/internal/webhooks"
)

// PruneWebhookDeliveries deletes the finished webhook deliveries (delivered,
// or failed) of events older than the retention (AUDIT_RETENTION). Each
// delivery keeps its payload, the user's address among it, so that a resend
// sends the same bytes: without this job every event would stay in
// webhook_deliveries, once per endpoint, long after prune-events removed it
// from the audit trail. A pending delivery stays until its retries end.
type PruneWebhookDeliveries struct{}

// Kind names the job in River's tables and in keel's metrics.
func (PruneWebhookDeliveries) Kind() string { return "prune-webhook-deliveries" }

type pruneWebhookDeliveriesWorker struct {
	river.WorkerDefaults[PruneWebhookDeliveries]
	store     webhooks.Store
	retention time.Duration
	batch     int
	now       func() time.Time
	log       *slog.Logger
}

// Work deletes in batches, each its own short transaction, as prune-events
// does.
func (w *pruneWebhookDeliveriesWorker) Work(ctx context.Context, _ *river.Job[PruneWebhookDeliveries]) error {
	cutoff := w.now().Add(-w.retention)
	total, err := inBatches(ctx, w.batch, func(batch int) (int64, error) { return w.store.PruneWebhookDeliveries(ctx, cutoff, batch) })
	if err != nil {
		return err
	}
	w.log.LogAttrs(ctx, slog.LevelDebug, "webhook deliveries past the retention deleted", slog.String("job", PruneWebhookDeliveries{}.Kind()),
		slog.Int64("deliveries", total), slog.Time("before", cutoff))
	return nil
}
