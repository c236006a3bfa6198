package jobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/keelhq/keel/internal/clients"
)

// DefaultDCRIdle is how long a dynamically registered client may go unused
// before PruneClients deletes it, unless Config.DCRIdle says otherwise
// (OP_DCR_IDLE_DAYS' default, 30 days).
const DefaultDCRIdle = 30 * 24 * time.Hour

// PruneClients deletes the clients that registered themselves (RFC 7591)
// and have obtained no token for DCRIdle, with every grant they hold
// (clients.Store.DeleteIdleDynamicClients): registration is open to
// anyone, and a registry that only grows would keep every client an agent
// ever registered and forgot. The operator's clients are never deleted so.
type PruneClients struct{}

// Kind names the job in River's tables and in keel's metrics.
func (PruneClients) Kind() string { return "prune-clients" }

type pruneClientsWorker struct {
	river.WorkerDefaults[PruneClients]
	clients clients.Store
	idle    time.Duration
	now     func() time.Time
	log     *slog.Logger
}

func (w *pruneClientsWorker) Work(ctx context.Context, _ *river.Job[PruneClients]) error {
	n, err := w.clients.DeleteIdleDynamicClients(ctx, w.now().Add(-w.idle))
	if err != nil {
		return err
	}
	level := slog.LevelDebug
	if n > 0 {
		level = slog.LevelInfo // a deletion ends grants: worth a line
	}
	w.log.LogAttrs(ctx, level, "idle dynamic clients deleted", slog.String("job", PruneClients{}.Kind()), slog.Int64("clients", n))
	return nil
}
