// Package jobs is keel's job engine: River, on whichever database keel runs
// (riversqlite for SQLite, riverdatabasesql for PostgreSQL; both over
// *sql.Tx). Jobs are data: a job kind is an args type and a worker, one file
// each (count_users.go, prune_rate_limits.go, prune_clients.go), registered in New. Periodic
// jobs are enqueued by the elected leader only, so on N replicas they run
// once per interval for the whole cluster, on whichever replica fetches them;
// when the leader dies without resigning, another replica is elected within
// River's leader TTL (about 15 s) and carries on.
//
// To add a job kind: write its args (with Kind) and worker in a file of its
// own; register it in New (periodic, or addWorker for one inserted by a
// change); give Engine a method that inserts it (InsertTx in the transaction
// of the change that causes it), as VerifyEmailTx does. The adapters make
// the Backend (River's driver over their database), so River's types stay
// here and in their constructors.
package jobs

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/internal/clients"
	"github.com/keelhq/keel/internal/mail"
	"github.com/keelhq/keel/internal/webhooks"
)

// Config is what the engine needs besides the store.
type Config struct {
	// CountUsersEvery is JOB_INTERVAL, the period of the count-users job.
	CountUsersEvery time.Duration
	// PruneEvery is the period of prune-accounts and prune-rate-limits;
	// 10 minutes when zero.
	PruneEvery time.Duration
	// Now is the clock jobs compare stored times with (and emailed tokens
	// expire by); time.Now when nil.
	Now func() time.Time
	Log *slog.Logger
	// Registry is where the engine's metrics go (the Server's /metrics).
	Registry prometheus.Registerer

	// Mailer sends the account emails (verify_email.go, reset_password.go,
	// invite.go, notify.go).
	Mailer mail.Sender
	// PublicURL is the base of the links in emails (PUBLIC_URL).
	PublicURL string
	// VerifyTTL and ResetTTL are how long emailed tokens work (VERIFY_TTL, RESET_TTL);
	// the unlock link of a locked second factor works as long as a verification link.
	VerifyTTL, ResetTTL time.Duration
	// InviteTTL is how long an invitation's set-password link works
	// (INVITE_TTL); ResetTTL when zero.
	InviteTTL time.Duration

	// Clients is the OAuth client registry prune-clients deletes idle
	// dynamic clients from (every PruneEvery); the store when nil, if it
	// keeps one (both adapters do). DCRIdle is how long such a client may go
	// unused (OP_DCR_IDLE_DAYS); DefaultDCRIdle when zero.
	Clients clients.Store
	DCRIdle time.Duration

	// AuditRetention is how long events are kept (AUDIT_RETENTION):
	// prune-events deletes older ones every PruneEvery, in batches, and
	// prune-webhook-deliveries the finished deliveries of older ones;
	// DefaultAuditRetention when zero.
	AuditRetention time.Duration
	// pruneEventsBatch is the batch of prune-events and
	// prune-webhook-deliveries; pruneEventsBatch when zero (a test's
	// smaller one shows the batches).
	pruneEventsBatch int

	// Webhooks are the outgoing webhooks' settings (webhooks.go); its Store
	// is the store when nil, if it keeps endpoints (both adapters do). No
	// webhooks without a Sealer.
	Webhooks WebhooksConfig
}

// Engine is keel's River client with its workers and periodic jobs.
type Engine struct {
	client *river.Client[*sql.Tx]
	// mu orders Start and Stop when serve runs Start beside the listener:
	// a Stop waits for a Start under way, and a Start after Stop does nothing.
	mu      sync.Mutex
	stopped bool
	// webhooks is the endpoints' store EventHook consults; nil without
	// webhooks.
	webhooks webhooks.Store
}

// kinds collects the workers and periodic jobs New registers.
type kinds struct {
	workers  *river.Workers
	periodic []*river.PeriodicJob
	names    []string      // every kind, for metrics at 0 from the start
	shortest time.Duration // the shortest period, which sets the poll interval
}

// addWorker registers a kind that something inserts.
func addWorker[T river.JobArgs](k *kinds, w river.Worker[T]) {
	river.AddWorker(k.workers, w)
	var args T
	k.names = append(k.names, args.Kind())
}

// addPeriodic registers a kind the leader inserts every period.
func addPeriodic[T river.JobArgs](k *kinds, w river.Worker[T], every time.Duration) {
	addWorker(k, w)
	var args T
	opts := periodicOpts(every)
	k.periodic = append(k.periodic, river.NewPeriodicJob(river.PeriodicInterval(every),
		func() (river.JobArgs, *river.InsertOpts) { return args, opts }, nil))
	if k.shortest == 0 || every < k.shortest {
		k.shortest = every
	}
}

// periodicOpts: a periodic run that failed is stale by the next period, so
// it is not retried; and one run is inserted per period however many leaders
// the period saw (a new leader's first insert does not double the old one's).
// Unique by period rather than by state: a run left "running" by a replica
// that died must not block the runs after it until River rescues it. River
// counts periods in whole seconds, so shorter ones (tests) go without.
func periodicOpts(every time.Duration) *river.InsertOpts {
	opts := &river.InsertOpts{MaxAttempts: 1}
	if every >= time.Second {
		opts.UniqueOpts = river.UniqueOpts{ByPeriod: every}
	}
	return opts
}

// New builds the engine; Start begins working jobs. Before Start (or without
// it) the engine can still insert jobs.
func New(store db.Store, backend Backend, cfg Config) (*Engine, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	k := &kinds{workers: river.NewWorkers()}
	addPeriodic(k, &countUsersWorker{store: store, log: cfg.Log}, cfg.CountUsersEvery)
	addPeriodic(k, &pruneAccountsWorker{store: store, now: cfg.Now, log: cfg.Log}, cmp.Or(cfg.PruneEvery, 10*time.Minute))
	addPeriodic(k, &pruneRateLimitsWorker{store: store, now: cfg.Now, log: cfg.Log}, cmp.Or(cfg.PruneEvery, 10*time.Minute))
	if cfg.Clients == nil {
		cfg.Clients, _ = store.(clients.Store)
	}
	if cfg.Clients != nil {
		addPeriodic(k, &pruneClientsWorker{clients: cfg.Clients, idle: cmp.Or(cfg.DCRIdle, DefaultDCRIdle), now: cfg.Now, log: cfg.Log},
			cmp.Or(cfg.PruneEvery, 10*time.Minute))
	}
	addPeriodic(k, &pruneEventsWorker{store: store, retention: cmp.Or(cfg.AuditRetention, DefaultAuditRetention),
		batch: cmp.Or(cfg.pruneEventsBatch, pruneEventsBatch), now: cfg.Now, log: cfg.Log}, cmp.Or(cfg.PruneEvery, 10*time.Minute))
	publicURL := strings.TrimSuffix(cfg.PublicURL, "/")
	addWorker(k, &verifyEmailWorker{store: store, mailer: cfg.Mailer, publicURL: publicURL, ttl: cfg.VerifyTTL, now: cfg.Now})
	addWorker(k, &resetPasswordWorker{store: store, mailer: cfg.Mailer, publicURL: publicURL, ttl: cfg.ResetTTL, now: cfg.Now})
	addWorker(k, &inviteWorker{store: store, mailer: cfg.Mailer, publicURL: publicURL, ttl: cmp.Or(cfg.InviteTTL, cfg.ResetTTL), now: cfg.Now})
	addWorker(k, &notifyWorker{store: store, mailer: cfg.Mailer, publicURL: publicURL, unlockTTL: cfg.VerifyTTL, now: cfg.Now})
	queues := map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 4}}
	if cfg.Webhooks.Store == nil {
		cfg.Webhooks.Store, _ = store.(webhooks.Store)
	}
	if cfg.Webhooks.Store != nil {
		// With webhooks off too: the deliveries made while they were on go
		// once they are as old as the events kept.
		addPeriodic(k, &pruneWebhookDeliveriesWorker{store: cfg.Webhooks.Store, retention: cmp.Or(cfg.AuditRetention, DefaultAuditRetention),
			batch: cmp.Or(cfg.pruneEventsBatch, pruneEventsBatch), now: cfg.Now, log: cfg.Log}, cmp.Or(cfg.PruneEvery, 10*time.Minute))
	}
	rescueAfter := jobTimeout + 10*time.Second
	if cfg.Webhooks.Store != nil && cfg.Webhooks.Sealer != nil {
		queues[QueueWebhooks] = addWebhooks(k, cfg)
		// A retry waits for the next poll: poll often enough for the first.
		if rm := cmp.Or(cfg.Webhooks.RetryMin, DefaultWebhookRetryMin); k.shortest == 0 || rm < k.shortest {
			k.shortest = rm
		}
		rescueAfter = max(rescueAfter, webhookJobTimeout(cfg.Webhooks)+10*time.Second)
	} else {
		cfg.Webhooks.Store = nil
	}

	client, err := river.NewClient(backend.driver, &river.Config{
		// River's own logs (leadership changes, retries) at warn and above.
		Logger:  slog.New(levelAtLeast{cfg.Log.Handler(), slog.LevelWarn}),
		Queues:  queues,
		Workers: k.workers,
		// Neither driver can LISTEN, so workers poll: often enough that a
		// job waits a small part of its period, never more than a second.
		FetchPollInterval: pollInterval(k.shortest),
		FetchCooldown:     min(river.FetchCooldownDefault, pollInterval(k.shortest)),
		PeriodicJobs:      k.periodic,
		// A job of a replica that died mid-run stays "running" until the
		// rescuer takes it back; a periodic kind is not inserted again while
		// one runs, so River's default of an hour would stop it cluster-wide
		// for that long. Jobs are short (a count, one email), so a job runs
		// at most JobTimeout and is rescued soon after.
		JobTimeout:           jobTimeout,
		RescueStuckJobsAfter: rescueAfter,
		ReindexerIndexNames:  backend.reindex,
		// Installed as middleware only (not a hook): counts every job worked.
		Middleware: []rivertype.Middleware{newMetrics(backend, cfg.Registry, k.names)},
	})
	if err != nil {
		return nil, err
	}
	return &Engine{client: client, webhooks: cfg.Webhooks.Store}, nil
}

// jobTimeout bounds every job: longer than an SMTP exchange (its timeout is
// 15 s), short enough that a crashed replica's job is rescued within about
// half a minute.
const jobTimeout = 20 * time.Second

// minPoll is the shortest poll: each poll is a query per queue, and no job
// here needs a finer step than a twentieth of a second. Below it, an engine
// idles at hundreds of queries a second (every 4 ms with tests' 20 ms first
// retry: 5 % of the server tests' CPU).
const minPoll = 50 * time.Millisecond

func pollInterval(period time.Duration) time.Duration {
	return max(minPoll, min(time.Second, period/5))
}

// Start begins electing a leader, enqueuing periodic jobs and working jobs.
// It returns once River's services are up (a few ms to a few tens of ms), or
// at once after Stop.
func (e *Engine) Start(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		return nil
	}
	return e.client.Start(ctx)
}

// cancelGrace is how long Stop waits for jobs to return once it has
// cancelled their contexts: a worker that ignores its context must not hold
// the process up.
const cancelGrace = 2 * time.Second

// Stop lets running jobs finish until ctx ends, then cancels them and waits
// at most cancelGrace more. River takes back the jobs it abandons. Stop on a
// stopped (or never started) engine returns at once, so a deferred Stop after
// the shutdown sequence's costs nothing.
func (e *Engine) Stop(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stopped = true
	err := e.client.Stop(ctx)
	if err == nil {
		return nil
	}
	cancelCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cancelGrace)
	defer cancel()
	return errors.Join(err, e.client.StopAndCancel(cancelCtx))
}

// VerifyEmailTx has the user's address confirmed by email, in tx: the
// registering user's transaction, so that no email goes out for an account
// that was rolled back, and none is lost to a crash after the commit.
func (e *Engine) VerifyEmailTx(ctx context.Context, tx *sql.Tx, userID int64) error {
	_, err := e.client.InsertTx(ctx, tx, VerifyEmail{UserID: userID}, nil)
	return err
}

// VerifyEmail has the user's address confirmed by email (again: POST
// /email/verify/resend).
func (e *Engine) VerifyEmail(ctx context.Context, userID int64) error {
	_, err := e.client.Insert(ctx, VerifyEmail{UserID: userID}, nil)
	return err
}

// ResetPassword emails a reset link to the account with email, if there is
// one (the worker finds out, so the caller's answer says nothing of it).
func (e *Engine) ResetPassword(ctx context.Context, email string) error {
	_, err := e.client.Insert(ctx, ResetPassword{Email: email}, nil)
	return err
}

// levelAtLeast drops records below min.
type levelAtLeast struct {
	slog.Handler
	min slog.Level
}

func (h levelAtLeast) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}
