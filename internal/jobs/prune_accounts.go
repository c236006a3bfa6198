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
// otherwise stay forever. The OpenID Provider's expired authorization
// requests go too (a login step nobody finished, a code nobody exchanged).
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
	now := w.now()
	n, err := w.store.PruneAccounts(ctx, now)
	if err != nil {
		return err
	}
	if op, ok := w.store.(authRequests); ok {
		m, err := op.PruneAuthRequests(ctx, now)
		if err != nil {
			return err
		}
		n += m
	}
	if op, ok := w.store.(deviceCodes); ok {
		m, err := op.PruneDeviceCodes(ctx, now)
		if err != nil {
			return err
		}
		n += m
	}
	w.log.LogAttrs(ctx, slog.LevelDebug, "expired sessions and tokens pruned", slog.String("job", PruneAccounts{}.Kind()), slog.Int64("rows", n))
	return nil
}

// authRequests is the part of internal/provider's Store this job prunes
// (both adapters keep it).
type authRequests interface {
	PruneAuthRequests(ctx context.Context, now time.Time) (int64, error)
}

// deviceCodes is the part of internal/provider's DeviceStore this job
// prunes: RFC 8628's user codes are short, so expired ones must not pile up
// and collide.
type deviceCodes interface {
	PruneDeviceCodes(ctx context.Context, now time.Time) (int64, error)
}
