// Package jobs is keel's job engine: River, on whichever database keel runs
// (riversqlite for SQLite, riverdatabasesql for PostgreSQL; both over
// *sql.Tx). Jobs are data: a job kind is an args type and a worker, one file
// each (count_users.go), registered in New. Periodic jobs are enqueued by the
// elected leader only, so on N replicas they run once per interval for the
// whole cluster, on whichever replica fetches them; when the leader dies,
// another replica is elected within about 15 s and carries on.
//
// To add a job kind: write its args (with Kind) and worker in a file of its
// own, register the worker in New, and insert it with Client().InsertTx in
// the transaction of the change that causes it.
package jobs

import (
	"context"
	"database/sql"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/internal/mail"
)

// Config is what the engine needs besides the store.
type Config struct {
	// CountUsersEvery is JOB_INTERVAL, the period of the count-users job.
	CountUsersEvery time.Duration
	Log             *slog.Logger
	// Registry is where the engine's metrics go (the Server's /metrics).
	Registry prometheus.Registerer

	// Mailer sends the account emails (verify_email.go, reset_password.go).
	Mailer mail.Sender
	// PublicURL is the base of the links in emails (PUBLIC_URL).
	PublicURL string
	// VerifyTTL and ResetTTL are how long emailed tokens work (VERIFY_TTL, RESET_TTL).
	VerifyTTL, ResetTTL time.Duration
	// Now is the clock tokens expire by; time.Now when nil.
	Now func() time.Time
}

// Engine is keel's River client with its workers and periodic jobs.
type Engine struct {
	client *river.Client[*sql.Tx]
}

// New builds the engine; Start begins working jobs. Before Start (or without
// it) the engine can still insert jobs.
func New(store db.Store, cfg Config) (*Engine, error) {
	m := newMetrics(store, cfg.Registry)
	workers := river.NewWorkers()
	river.AddWorker(workers, &countUsersWorker{store: store, log: cfg.Log})
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	publicURL := strings.TrimSuffix(cfg.PublicURL, "/")
	river.AddWorker(workers, &verifyEmailWorker{store: store, mailer: cfg.Mailer, publicURL: publicURL, ttl: cfg.VerifyTTL, now: now})
	river.AddWorker(workers, &resetPasswordWorker{store: store, mailer: cfg.Mailer, publicURL: publicURL, ttl: cfg.ResetTTL, now: now})

	client, err := river.NewClient(store.JobDriver(), &river.Config{
		// River's own logs (leadership changes, retries) at warn and above.
		Logger:  slog.New(levelAtLeast{cfg.Log.Handler(), slog.LevelWarn}),
		Queues:  map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 4}},
		Workers: workers,
		PeriodicJobs: []*river.PeriodicJob{
			river.NewPeriodicJob(river.PeriodicInterval(cfg.CountUsersEvery),
				func() (river.JobArgs, *river.InsertOpts) { return CountUsers{}, countUsersOpts }, nil),
		},
		// Neither driver can LISTEN, so workers poll: often enough that a
		// job waits a small part of its period, never more than a second.
		FetchPollInterval: pollInterval(cfg.CountUsersEvery),
		FetchCooldown:     min(river.FetchCooldownDefault, pollInterval(cfg.CountUsersEvery)),
		Plugins:           []rivertype.Plugin{m},
	})
	if err != nil {
		return nil, err
	}
	return &Engine{client: client}, nil
}

func pollInterval(period time.Duration) time.Duration {
	return max(river.FetchCooldownMin, min(time.Second, period/5))
}

// Start begins electing a leader, enqueuing periodic jobs and working jobs.
func (e *Engine) Start(ctx context.Context) error { return e.client.Start(ctx) }

// Stop waits for running jobs to finish (or ctx to end) and stops.
func (e *Engine) Stop(ctx context.Context) error { return e.client.Stop(ctx) }

// Client is the River client, for inserting jobs (InsertTx within the
// transaction of the change that causes them).
func (e *Engine) Client() *river.Client[*sql.Tx] { return e.client }

// levelAtLeast drops records below min.
type levelAtLeast struct {
	slog.Handler
	min slog.Level
}

func (h levelAtLeast) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}
